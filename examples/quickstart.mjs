import { Agent } from '@x0x/node';

// The first agent starts a network; it binds 127.0.0.1 on a free port.
const seed = await Agent.builder().build();
// A second agent joins through it.
const peer = await Agent.builder().withBootstrapPeers(seed.listenAddrs).build();

try {
  await peer.joinNetwork({ signal: AbortSignal.timeout(10_000) });
  // Readiness: resolves once the peer holds an overlay link (to the seed).
  await peer.membership.waitForPeers(1, { signal: AbortSignal.timeout(10_000) });

  // The signal also bounds the wait for a message below.
  const sub = await seed.subscribe('greetings', { signal: AbortSignal.timeout(10_000) });

  // Delivery is best effort, so publish until the message is seen.
  const send = () => peer.publish('greetings', JSON.stringify({ text: 'hello' })).catch(console.error);
  send();
  const again = setInterval(send, 500);
  try {
    for await (const msg of sub) {
      const body = JSON.parse(new TextDecoder().decode(msg.payload));
      console.log(`${msg.from.slice(0, 12)} says ${body.text}`);
      break; // leaving the loop unsubscribes
    }
  } finally {
    clearInterval(again);
  }
} finally {
  await peer.close();
  await seed.close();
}
