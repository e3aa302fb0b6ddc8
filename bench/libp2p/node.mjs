// One js-libp2p node of the benchmark: libp2p 3 + gossipsub with its default
// options (StrictSign: every message signed by its publisher and verified by
// every receiver), over TCP + Noise + Yamux, or over QUIC.
// It sits in bench/libp2p so that its imports resolve to that package's
// node_modules, never to the library's.
import { gossipsub } from '@libp2p/gossipsub';
import { identify } from '@libp2p/identify';
import { noise } from '@libp2p/noise';
import { tcp } from '@libp2p/tcp';
import { yamux } from '@libp2p/yamux';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';

import { serve } from '../pubsub/node-runtime.mjs';

const transport = process.env.X0X_BENCH_LIBP2P_TRANSPORT ?? 'tcp';

/** @type {any} */
let node;
let pubsub;
let received = 0;
let benchTopic = '';

serve({
  async start() {
    const stack =
      transport === 'quic'
        ? {
            addresses: { listen: ['/ip4/127.0.0.1/udp/0/quic-v1'] },
            // Imported only here: its native addon must not break the TCP leg.
            transports: [(await import('@chainsafe/libp2p-quic')).quic()],
          }
        : {
            addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
            transports: [tcp()],
            connectionEncrypters: [noise()],
            streamMuxers: [yamux()],
          };
    node = await createLibp2p({
      ...stack,
      services: { identify: identify(), pubsub: gossipsub() },
    });
    pubsub = node.services.pubsub;
    // Count every message copy that arrives, duplicates included, before
    // gossipsub's seen-cache drops them.
    const handle = pubsub.handleReceivedMessage.bind(pubsub);
    pubsub.handleReceivedMessage = (from, rpcMsg) => {
      if (rpcMsg.topic === benchTopic) received += 1;
      return handle(from, rpcMsg);
    };
    return { id: node.peerId.toString(), addrs: node.getMultiaddrs().map((a) => a.toString()) };
  },

  async connect(addrs) {
    for (const addr of addrs) await node.dial(multiaddr(addr));
  },

  async subscribe(topic, onPayload) {
    benchTopic = topic;
    pubsub.addEventListener('message', (evt) => {
      if (evt.detail.topic === topic) onPayload(evt.detail.data);
    });
    pubsub.subscribe(topic);
  },

  async publish(topic, bytes) {
    await pubsub.publish(topic, bytes);
  },

  transmissions() {
    return received;
  },

  async close() {
    if (node !== undefined) await node.stop();
  },
});
