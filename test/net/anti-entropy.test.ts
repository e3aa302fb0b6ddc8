// Anti-entropy across processes: agents in separate Node processes over real
// QUIC repair what gossip could not deliver: a partition that heals, an
// agent restarted with the same identity, and the most divergent peer is
// reconciled first.
//
// "Recovered" is checked against deliveries: once gossip has settled inside
// an island (or the agent is down), nothing else is published, so every
// message (real or warm-up probe) an agent delivers afterwards reached it by
// anti-entropy, and its `messagesRecovered` must grow by exactly that count.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  countById,
  spawnAgent,
  useNetHarness,
  waitFor,
  waitUntilMeshed,
  type AgentProcess,
  type ReceivedMessage,
} from './harness.js';

useNetHarness();

const TOPIC = 'ae';
/** Short, so two rounds pass quickly; every wait below is still event-driven. */
const INTERVAL_MS = 2_000;
/** Bound of a repair wait (generous: the machine is shared by parallel builds). */
const REPAIR_TIMEOUT_MS = 90_000;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'x0x-ae-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Deliveries so far, real messages and probes. */
const deliveries = (a: AgentProcess): number => a.messages.length + a.probes.length;

/** A seed and `n - 1` agents joined through it only: an island no other island can reach. */
async function island(name: string, n: number, config: Record<string, number>): Promise<AgentProcess[]> {
  const seed = await spawnAgent({ name: `${name}0`, config });
  const rest = await Promise.all(
    Array.from({ length: n - 1 }, (_, i) => spawnAgent({ name: `${name}${i + 1}`, bootstrap: [seed.addr], config })),
  );
  for (const agent of rest) await agent.join();
  return [seed, ...rest];
}

async function publishTexts(from: AgentProcess, texts: readonly string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const text of texts) ids.push(await from.publish(TOPIC, { text }));
  return ids;
}

const hasAll = (ids: readonly string[]) => (messages: readonly ReceivedMessage[]) => {
  const got = new Set(messages.map((m) => m.id));
  return ids.every((id) => got.has(id));
};

function expectEachOnce(agent: AgentProcess, ids: readonly string[]): void {
  const counts = countById(agent.messages);
  expect(Object.fromEntries(counts), `${agent.name}: every message exactly once, nothing else`).toEqual(
    Object.fromEntries(ids.map((id) => [id, 1])),
  );
}

describe('anti-entropy over real QUIC between processes', () => {
  it('heals a partition: two islands of 4 that published 50 each converge to all 100, each once', async () => {
    const config = { antiEntropyInterval: INTERVAL_MS };
    const [left, right] = await Promise.all([island('L', 4, config), island('R', 4, config)]);
    const everyone = [...left, ...right];
    // Warm each island up; the probes stay on their side like everything else.
    await Promise.all([
      waitUntilMeshed(left, TOPIC, { publishers: [left[0]!] }),
      waitUntilMeshed(right, TOPIC, { publishers: [right[0]!] }),
    ]);

    const leftIds = await publishTexts(left[1]!, Array.from({ length: 50 }, (_, i) => `left #${i}`));
    const rightIds = await publishTexts(right[1]!, Array.from({ length: 50 }, (_, i) => `right #${i}`));
    await Promise.all([
      ...left.map((a) => a.waitForMessages(hasAll(leftIds), { timeoutMs: REPAIR_TIMEOUT_MS })),
      ...right.map((a) => a.waitForMessages(hasAll(rightIds), { timeoutMs: REPAIR_TIMEOUT_MS })),
    ]);
    // The partition is real: no connection crosses, and nothing crossed.
    for (const a of left) {
      const peers = (await a.connectedPeers()).map((p) => p.peerId);
      expect(peers.some((p) => right.some((r) => r.agentId === p)), `${a.name} reaches the other island`).toBe(false);
      expect(a.messages.some((m) => rightIds.includes(m.id))).toBe(false);
    }
    // Anything in flight inside an island is settled: every agent holds
    // exactly what its island published, once, before the heal.
    for (const a of left) expectEachOnce(a, leftIds);
    for (const a of right) expectEachOnce(a, rightIds);

    const before = new Map(
      await Promise.all(
        everyone.map(async (a) => [a, { delivered: deliveries(a), stats: await a.call('antiEntropyStats', {}) }] as const),
      ),
    );

    // Heal: one agent of the left island joins the right island's seed.
    await left[3]!.call('joinPeers', { addrs: [right[0]!.addr] });

    const all = [...leftIds, ...rightIds];
    await Promise.all(everyone.map((a) => a.waitForMessages(hasAll(all), { timeoutMs: REPAIR_TIMEOUT_MS })));
    const roundsAtRepair = await Promise.all(everyone.map((a) => a.call('antiEntropyStats', {})));

    // Fence: one more round on every agent, one after the other, so anything
    // still in flight lands before the counts are compared.
    for (const a of everyone) await a.call('reconcile', {});

    everyone.forEach((a, i) => {
      expectEachOnce(a, all);
      const was = before.get(a)!;
      // Within two reconcile intervals: at most two background rounds of
      // each agent after the heal, plus one that may have been running.
      expect(roundsAtRepair[i]!.rounds - was.stats.rounds, `${a.name}: rounds until repaired`).toBeLessThanOrEqual(3);
    });
    for (const a of everyone) {
      const was = before.get(a)!;
      const stats = await a.call('antiEntropyStats', {});
      // Since saorsa-gossip 0.5.90 Plumtree also offers its cached messages
      // to a new neighbour, so the heal runs through gossip and anti-entropy
      // at once: anti-entropy recovers at most what was missing (the
      // restarted-agent test below has it repair alone).
      expect(stats.messagesRecovered - was.stats.messagesRecovered, `${a.name}: recovered at most what it was missing`).toBeLessThanOrEqual(
        deliveries(a) - was.delivered,
      );
      expect(deliveries(a) - was.delivered, `${a.name} was missing at least the other island's 50`).toBeGreaterThanOrEqual(50);
      expect(stats.malformedFrames).toBe(0);
    }
  });

  it('an agent killed and restarted with the same identity recovers what it missed', async () => {
    const config = { antiEntropyInterval: INTERVAL_MS };
    const keyFile = path.join(dir, 'k.key');
    const seed = await spawnAgent({ name: 'S', config });
    const p = await spawnAgent({ name: 'P', bootstrap: [seed.addr], config });
    const k = await spawnAgent({ name: 'K', bootstrap: [seed.addr], config, keyFile });
    await p.join();
    await k.join();
    await waitUntilMeshed([seed, p, k], TOPIC, { publishers: [p] });
    const early = await publishTexts(p, ['before the crash']);
    await k.waitForMessages(hasAll(early), { timeoutMs: REPAIR_TIMEOUT_MS });

    await k.kill();
    const missed = await publishTexts(p, Array.from({ length: 20 }, (_, i) => `while K was down #${i}`));
    await seed.waitForMessages(hasAll(missed), { timeoutMs: REPAIR_TIMEOUT_MS });

    const k2 = await spawnAgent({ name: 'K2', bootstrap: [seed.addr], config, keyFile });
    expect(k2.agentId, 'same identity from the key file').toBe(k.agentId);
    await k2.subscribe(TOPIC);
    await k2.join();
    await k2.waitForMessages(hasAll([...early, ...missed]), { timeoutMs: REPAIR_TIMEOUT_MS });
    await k2.call('reconcile', {});

    // The new process never saw any of them, so it delivers each once.
    expectEachOnce(k2, [...early, ...missed]);
    const stats = await k2.call('antiEntropyStats', {});
    expect(stats.messagesRecovered, 'every delivery of the restarted agent is a recovery').toBe(deliveries(k2));
  });

  it('reconciles with the most divergent peer first', async () => {
    // Background rounds off (one hour): only the round below runs.
    const config = { antiEntropyInterval: 3_600_000 };
    const [far, near] = await Promise.all([
      spawnAgent({ name: 'far', config }),
      spawnAgent({ name: 'near', config }),
    ]);
    // They never talk to each other, so neither repairs the other's gap.
    await far.blockPeer(near.agentId);
    await near.blockPeer(far.agentId);
    await Promise.all([far.subscribe(TOPIC), near.subscribe(TOPIC)]);
    // Alone, each publishes into its own store: 30 on one side, 5 on the other.
    const farIds = await publishTexts(far, Array.from({ length: 30 }, (_, i) => `far #${i}`));
    const nearIds = await publishTexts(near, Array.from({ length: 5 }, (_, i) => `near #${i}`));

    const a = await spawnAgent({ name: 'A', bootstrap: [near.addr, far.addr], config });
    await a.subscribe(TOPIC);
    await a.join();
    await waitFor(() => a.connections.filter((c) => c.type === 'connected').length >= 2, [a], {
      timeoutMs: REPAIR_TIMEOUT_MS,
      what: 'A connected to both peers',
    });

    const round = await a.call('reconcile', {});
    const order = round.peers.map((p) => p.peerId);
    expect(order).toContain(far.agentId);
    expect(order).toContain(near.agentId);
    // The sessions a new connection starts (ae_sync) may have repaired part
    // of either gap before this round, so which peer is further behind now
    // is not fixed; the round takes them in the order of what it estimated.
    const estimates = round.peers.map((p) => p.estimatedDifference);
    expect(estimates, 'most divergent first').toStrictEqual([...estimates].sort((x, y) => y - x));
    const farReport = round.peers.find((p) => p.peerId === far.agentId)!;
    const nearReport = round.peers.find((p) => p.peerId === near.agentId)!;
    // Plumtree (0.5.90) also offers far's and near's own publishes to A, the
    // new topic peer, so some may reach A by gossip before or during the
    // round. Whatever anti-entropy recovered, it recovered once, and far's
    // turn, first, found its gap at least as large as what it recovered.
    expect(farReport.differencesFound).toBeGreaterThanOrEqual(farReport.messagesRecovered);
    expect(farReport.messagesRecovered + nearReport.messagesRecovered).toBe(round.messagesRecovered);
    expect(round.messagesRecovered).toBeLessThanOrEqual(35);
    expect(round.peersContacted).toBe(2);
    expect(round.bytesSent).toBeGreaterThan(0);
    expect(round.bytesReceived).toBeGreaterThan(0);

    await a.waitForMessages(hasAll([...farIds, ...nearIds]), { timeoutMs: REPAIR_TIMEOUT_MS });
    expectEachOnce(a, [...farIds, ...nearIds]);
  });
});
