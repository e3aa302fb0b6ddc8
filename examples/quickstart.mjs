import { Agent } from '@x0x/node';

// The first agent starts a network; it binds 127.0.0.1 on a free port.
const seed = await Agent.builder().build();
// A second agent joins through it.
const peer = await Agent.builder().withBootstrapPeers(seed.listenAddrs).build();

try {
  await peer.joinNetwork({ signal: AbortSignal.timeout(10_000) });

  // The signal also bounds the wait for a message below.
  const sub = await seed.subscribe('greetings', { signal: AbortSignal.timeout(10_000) });

  // Readiness: resolves once one connected peer (the seed) subscribes to the
  // topic, so the publish below is sent to it.
  await peer.pubsub.waitForTopicPeers('greetings', 1, { signal: AbortSignal.timeout(10_000) });
  await peer.publish('greetings', JSON.stringify({ text: 'hello' }));

  for await (const msg of sub) {
    const body = JSON.parse(new TextDecoder().decode(msg.payload));
    console.log(`${msg.from.slice(0, 12)} says ${body.text}`);
    break; // leaving the loop unsubscribes
  }
} finally {
  await peer.close();
  await seed.close();
}
