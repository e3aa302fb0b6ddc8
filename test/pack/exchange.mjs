// Two agents exchange one message. Run inside an app that installed the
// packed tarball; prints "ok <node version>" on success.
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
console.log(`ok ${process.version}`);
