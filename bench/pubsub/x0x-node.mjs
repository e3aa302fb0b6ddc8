// One x0x agent of the benchmark, over the built package (dist/).
import { createRequire } from 'node:module';

import { Agent } from '../../dist/esm/index.mjs';

import { serve } from './node-runtime.mjs';

// Test hooks (not part of the package API): the core's lower-layer counters.
const testing = createRequire(import.meta.url)('../../test/helpers/hooks.cjs');

/** @type {import('../../dist/cjs/index.js').Agent | undefined} */
let agent;
let subscription;
/** The loop that feeds delivered messages to the runtime; ends with the agent. */
let pump;

serve({
  async start({ bootstrap, config }) {
    let builder = Agent.builder();
    if (config !== undefined) builder = builder.withConfig(config);
    if (bootstrap !== undefined && bootstrap.length > 0) builder = builder.withBootstrapPeers(bootstrap);
    agent = await builder.build();
    return { id: agent.agentId, addrs: agent.listenAddrs };
  },

  async connect() {
    // Bootstrap peers were given to the builder; HyParView does the rest.
    await agent.joinNetwork();
  },

  async subscribe(topic, onPayload) {
    subscription = await agent.subscribe(topic);
    pump = (async () => {
      for await (const msg of subscription) onPayload(msg.payload);
    })();
  },

  async publish(topic, bytes) {
    await agent.publish(topic, bytes);
  },

  /**
   * Payload copies this node received: the EAGER frames Plumtree took in
   * (pushes and IWANT answers; each carries one envelope). Exact, and
   * comparable with gossipsub's count before its seen-cache. Own publishes
   * never come back as EAGER frames.
   */
  transmissions() {
    if (agent === undefined || agent.closed) return null;
    return testing.diagnostics(agent)['plumtree.eagerIn'] ?? null;
  },

  /** The core's pub/sub counters, shown when a case loses messages. */
  stats() {
    return agent === undefined || agent.closed ? null : agent.pubsub.stats();
  },

  /** Transport, Plumtree and ant-quic counters; the driver prints their change over a case. */
  counters() {
    return agent === undefined || agent.closed ? null : testing.diagnostics(agent);
  },

  async close() {
    if (agent !== undefined && !agent.closed) await agent.close();
    await pump;
  },
});
