// FOAF discovery across processes: each agent in its own Node process, real
// QUIC on 127.0.0.1. Overlay shapes (line, star, ring) are forced with
// blockPeer: every agent refuses all traffic with the agents that are not its
// neighbours in the shape, so queries can only travel along its edges.
import { randomBytes } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { pollUntil, spawnAgent, useNetHarness, type AgentConfig, type AgentProcess } from './harness.js';

useNetHarness();

/** Bound of overlay formation (generous: the machine is shared). */
const FORM_TIMEOUT_MS = 60_000;
/** How long a lookup that must fail waits before resolving null. */
const MISS_TIMEOUT_MS = 5_000;

/**
 * Starts `n` agents whose overlay is exactly the given edges: non-neighbours
 * block each other, each agent joins through its lower-numbered neighbours,
 * and the call returns once every edge has a live connection.
 */
async function topology(
  n: number,
  edges: ReadonlyArray<readonly [number, number]>,
  config: (i: number) => AgentConfig = () => ({}),
): Promise<AgentProcess[]> {
  const neighbours = Array.from({ length: n }, () => new Set<number>());
  for (const [a, b] of edges) {
    neighbours[a]!.add(b);
    neighbours[b]!.add(a);
  }
  const agents: AgentProcess[] = [];
  for (let i = 0; i < n; i++) {
    const bootstrap = [...neighbours[i]!].filter((j) => j < i).map((j) => agents[j]!.addr);
    agents.push(await spawnAgent({ name: `n${i}`, bootstrap, config: config(i) }));
  }
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (i !== j && !neighbours[i]!.has(j)) await agents[i]!.blockPeer(agents[j]!.agentId);
    }
  }
  for (let i = 1; i < n; i++) await agents[i]!.join();
  for (let i = 0; i < n; i++) {
    const want = [...neighbours[i]!].map((j) => agents[j]!.agentId);
    await pollUntil(
      () => agents[i]!.connectedPeers(),
      (peers) => want.every((id) => peers.some((p) => p.peerId === id)),
      { timeoutMs: FORM_TIMEOUT_MS, what: `n${i} connected to its neighbours` },
    );
  }
  return agents;
}

const line = (n: number): Array<[number, number]> => Array.from({ length: n - 1 }, (_, i) => [i, i + 1]);
const unknownId = (): string => randomBytes(32).toString('hex');

describe('FOAF discovery', () => {
  it('on a line A-B-C-D-E finds D at 3 hops with its addresses, but not E at 4', async () => {
    const [a, b, , d, e] = await topology(5, line(5));
    const found = await a!.findAgent(d!.agentId);
    expect(found.error).toBeUndefined();
    expect(found.found).toStrictEqual({ agentId: d!.agentId, addrs: [d!.addr] });

    const far = await a!.findAgent(e!.agentId, { timeoutMs: MISS_TIMEOUT_MS });
    expect(far).toStrictEqual({ found: null });
    // E is reachable, only too far from A: from B it is 3 hops.
    const fromB = await b!.findAgent(e!.agentId);
    expect(fromB.found).toStrictEqual({ agentId: e!.agentId, addrs: [e!.addr] });
    // A's query died at C (one hop left, and C's neighbour D is not the
    // target): E never handled it.
    expect((await e!.discoveryStats()).queriesHandled).toBe(1);
  });

  it('on a star the hub forwards a query to at most foafFanout leaves', async () => {
    const leaves = 6;
    const fanout = 2;
    const edges = Array.from({ length: leaves }, (_, i): [number, number] => [0, i + 1]);
    const agents = await topology(leaves + 1, edges, (i) => (i === 0 ? { foafFanout: fanout } : {}));
    const [hub, asker, ...others] = agents;
    const got = await asker!.findAgent(unknownId(), { timeoutMs: MISS_TIMEOUT_MS });
    expect(got).toStrictEqual({ found: null });
    // The hub's forwards may still be in flight until the leaves count them.
    const reached = await pollUntil(
      async () => (await Promise.all(others.map((o) => o.discoveryStats()))).map((s) => s.queriesHandled),
      (counts) => counts.reduce((x, y) => x + y, 0) >= fanout,
      { timeoutMs: FORM_TIMEOUT_MS, what: 'the leaves to count the hub forwards' },
    );
    expect(reached.reduce((x, y) => x + y, 0)).toBe(fanout);
    const hubStats = await hub!.discoveryStats();
    expect(hubStats.queriesHandled).toBe(1);
    expect(hubStats.queriesForwarded).toBe(fanout);
    expect((await asker!.discoveryStats()).queriesForwarded).toBe(1);
    for (const o of others) expect((await o.discoveryStats()).queriesForwarded, `${o.name} sends back to nobody`).toBe(0);
  });

  it('on a ring a query is handled at most once per node and never comes back to the asker', async () => {
    // TTL 4: with 3, C and D (at hop 2, one hop left) would send to the
    // target only, and the loop would never close.
    const agents = await topology(5, [[0, 1], [1, 2], [2, 3], [3, 4], [4, 0]], () => ({ foafTtl: 4 }));
    const got = await agents[0]!.findAgent(unknownId(), { timeoutMs: MISS_TIMEOUT_MS });
    expect(got).toStrictEqual({ found: null });
    // TTL 4 over a 5-ring: B and E handle it at hop 1, C and D at hop 2, and
    // C and D also get it from each other. Whichever copy is second (one or
    // two of them, depending on arrival order) is a duplicate.
    const stats = await pollUntil(
      () => Promise.all(agents.map((x) => x.discoveryStats())),
      (s) => s.reduce((n, x) => n + x.queriesHandled, 0) >= 4 && s.reduce((n, x) => n + x.duplicatesDropped, 0) >= 1,
      { timeoutMs: FORM_TIMEOUT_MS, what: 'the query to reach every node and the loop to close' },
    );
    expect(stats.map((s) => s.queriesHandled)).toStrictEqual([0, 1, 1, 1, 1]);
    const dups = stats.reduce((n, x) => n + x.duplicatesDropped, 0);
    expect(dups).toBeGreaterThanOrEqual(1);
    expect(dups).toBeLessThanOrEqual(2);
  });

  it('honours timeoutMs and AbortSignal, and an agent that stops advertising is not found', async () => {
    const [a, b] = await topology(2, [[0, 1]]);
    expect(await a!.findAgent(unknownId(), { timeoutMs: 1_000 })).toStrictEqual({ found: null });
    // The child aborts right after starting a 120 s lookup: the call must end
    // with AbortError long before the harness's bound of 120 s + 30 s.
    const aborted = await a!.findAgent(unknownId(), { timeoutMs: 120_000, abortAfterStart: true });
    expect(aborted.error?.code).toBe('ERR_X0X_ABORTED');

    expect((await a!.findAgent(b!.agentId)).found?.addrs).toStrictEqual([b!.addr]);
    await b!.setAdvertise(false);
    expect(await a!.findAgent(b!.agentId, { timeoutMs: MISS_TIMEOUT_MS })).toStrictEqual({ found: null });
    expect((await b!.discoveryStats()).repliesSent).toBe(1);
    await b!.setAdvertise(true);
    expect((await a!.findAgent(b!.agentId)).found?.agentId).toBe(b!.agentId);
  });
});
