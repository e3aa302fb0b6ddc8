// CommonJS twin of exchange.mjs: proves `require` works on the packed package.
const { Agent, GossipConfig } = require('@x0x/node');

(async () => {
  const a = await Agent.builder().withConfig(new GossipConfig({ activeViewSize: 8 })).build();
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
  for (const file of Object.keys(require.cache)) if (file.endsWith('.node')) console.log(`addon ${file}`);
  console.log(`ok ${process.version}`);
})().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
