// A coordinator node: a publicly reachable agent that advertises itself, so
// others can use it for rendezvous (see README, "Presence and coordinators").
//
//   X0X_BIND=0.0.0.0:9000 X0X_KEY_FILE=/var/lib/x0x/coordinator.key node examples/coordinator.mjs
//
// The same as `npx x0x node --coordinator --bind 0.0.0.0:9000 --key FILE`,
// written out. Give other agents this machine's public address and port as a
// bootstrap peer. Open the UDP port in your firewall: QUIC runs over UDP.
import { Agent } from '@x0x/node';

const agent = await Agent.builder()
  .withBindAddress(process.env.X0X_BIND ?? '0.0.0.0:9000')
  .withKeyFile(process.env.X0X_KEY_FILE ?? './coordinator.key')
  .withBootstrapPeers((process.env.X0X_BOOTSTRAP ?? '').split(',').filter(Boolean))
  // Advertised at joinNetwork(), re-sent every coordinatorAdvertTtl / 2.
  .withConfig({ coordinator: true })
  .build();

const stopped = new Promise((resolve) => {
  process.once('SIGINT', resolve);
  process.once('SIGTERM', resolve);
});

let logging;
try {
  console.log(`id ${agent.agentId}`);
  for (const addr of agent.listenAddrs) console.log(`listen ${addr}`);
  await agent.joinNetwork({ signal: AbortSignal.timeout(30_000) });
  console.log('ready: advertising as coordinator');

  logging = (async () => {
    for await (const e of agent.membership.events()) {
      console.log(`${e.type} ${e.peer.peerId.slice(0, 8)} ${e.type === 'peer-left' ? e.reason : e.peer.addr}`);
    }
  })();

  await stopped;
} finally {
  await agent.close();
  await logging; // the event loop ends when the agent closes
}
