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
      // All nodes share 127.0.0.1: without this, libp2p's per-host inbound
      // rate limit (5 connections/s) refuses part of the dials at N = 30.
      // The box the benchmark runs on may be far busier than a real host:
      // longer handshakes, and no connection dropped for one slow ping.
      connectionManager: {
        allow: ['/ip4/127.0.0.1'],
        inboundConnectionThreshold: 1_000,
        dialTimeout: 60_000,
        addressDialTimeout: 60_000,
        inboundUpgradeTimeout: 60_000,
      },
      connectionMonitor: { abortConnectionOnPingFailure: false },
      services: { identify: identify({ timeout: 60_000 }), pubsub: gossipsub() },
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

  /** Dials each address; one success is enough (the others are extra routes). */
  async connect(addrs) {
    const errors = [];
    for (const addr of addrs) {
      try {
        await node.dial(multiaddr(addr));
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length === addrs.length) throw errors[0];
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
