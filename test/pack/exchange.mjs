// Two agents exchange one message. Run inside an app that installed the
// packed tarball; prints "addon <file>" for each addon file loaded, then
// "ok <node version>" on success.
import { createRequire } from 'node:module';

import { Agent } from '@x0x/node';

const a = await Agent.builder().build();
const b = await Agent.builder().withBootstrapPeers(a.listenAddrs).build();
await b.joinNetwork();
const sub = await a.subscribe('pack-check');
const it = sub[Symbol.asyncIterator]();
let got = null;
for (let i = 0; i < 100 && !got; i++) {
  await b.publish('pack-check', `hello ${i}`);
  got = await Promise.race([it.next(), new Promise((r) => setTimeout(() => r(null), 200))]);
}
if (!got || got.value.from !== b.agentId) throw new Error('no message from b');
await a.close();
await b.close();
// A require()d addon sits in the CommonJS module cache under its file name
// (ESM shares that cache); one opened with process.dlopen does not.
for (const file of Object.keys(createRequire(import.meta.url).cache)) if (file.endsWith('.node')) console.log(`addon ${file}`);
console.log(`ok ${process.version}`);
