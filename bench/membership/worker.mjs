// Hosts several x0x agents in one process (each its own QUIC endpoint) for
// bench/membership/run.mjs, driven over IPC. Membership events are forwarded
// as they happen: { event, agent, type, peer, reason?, at }.
import { Agent } from '../../dist/esm/index.mjs';

/** @type {Agent[]} */
const agents = [];

const commands = {
  async start({ count, config }) {
    for (let i = 0; i < count; i += 1) {
      const agent = await Agent.builder().withConfig(config).build();
      agents.push(agent);
      const index = agents.length - 1;
      void (async () => {
        try {
          for await (const e of agent.membership.events()) {
            process.send?.({ event: 'membership', agent: index, type: e.type, peer: e.peer.peerId, reason: e.reason, at: e.at });
          }
        } catch {
          // ends with the agent
        }
      })();
    }
    return agents.map((a) => ({ id: a.agentId, addr: a.listenAddrs[0] }));
  },
  async join({ bootstrap }) {
    // One after the other, as a real network grows.
    for (const a of agents) {
      const peers = bootstrap.filter((b) => b !== a.listenAddrs[0]);
      if (peers.length > 0) await a.membership.join(peers);
    }
    return null;
  },
  async views() {
    return Promise.all(agents.map(async (a) => (await a.membership.activeView()).map((p) => p.peerId)));
  },
  async stats() {
    const stats = await Promise.all(agents.map((a) => a.membership.stats()));
    return { stats, rss: process.memoryUsage().rss };
  },
  async close() {
    await Promise.all(agents.map((a) => a.close()));
    return null;
  },
};

process.on('message', async ({ id, cmd, args }) => {
  try {
    const result = await commands[cmd](args ?? {});
    process.send?.({ id, ok: true, result });
  } catch (err) {
    process.send?.({ id, ok: false, error: String(err?.stack ?? err) });
  }
  if (cmd === 'close') process.disconnect();
});
