// ES module entry point of `@x0x/node/prom-client`: re-exports the CommonJS
// build, so registrations see the same Agent class and error classes as
// `import '@x0x/node'` (see index.mjs for why require(): a missing
// prom-client then rejects the import with PeerDependencyMissingError, also
// on Node 20). The name list is checked against src/prom-client.ts by
// test/unit/esm-wrapper.test.ts.
import { createRequire } from 'node:module';

const cjs = createRequire(import.meta.url)('../cjs/prom-client.js');

export const {
  registerX0xMetrics,
} = cjs;
