// ES module entry point of `@x0x/node/testing`: re-exports the CommonJS
// build, so the agents a testnet starts are instances of the same classes as
// those of `import '@x0x/node'` (see index.mjs for why require()). The name
// list is checked against src/testnet.ts by test/unit/esm-wrapper.test.ts.
import { createRequire } from 'node:module';

const cjs = createRequire(import.meta.url)('../cjs/testnet.js');

export const {
  createTestnet,
  DEFAULT_TESTNET_TIMEOUT_MS,
  MAX_TESTNET_AGENTS,
  Testnet,
} = cjs;
