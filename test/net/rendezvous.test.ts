// Rendezvous across processes: each agent in its own Node process, real QUIC
// on 127.0.0.1. The looker-up and the registered agent block each other, so a
// successful lookup can only have come through the shard's holders.
import { describe, expect, it } from 'vitest';

import { explainFailure, pollUntil, spawnAgent, useNetHarness, type AgentConfig, type AgentProcess } from './harness.js';

useNetHarness();

/** Bound of adverts and beacons reaching everyone (generous: the machine is shared). */
const SPREAD_TIMEOUT_MS = 60_000;
/** Lookups that must miss, or hit a dead holder, wait this long. */
const SHORT_TIMEOUT_MS = 3_000;

/** Starts `n` agents, the first `coordinators` of them advertising as coordinators, all joined through the first two. */
async function network(n: number, coordinators: number, config: AgentConfig = {}): Promise<AgentProcess[]> {
  const agents: AgentProcess[] = [];
  for (let i = 0; i < n; i++) {
    const bootstrap = agents.slice(0, 2).map((a) => a.addr);
    const agent = await spawnAgent({ name: `r${i}`, bootstrap, config: { ...config, coordinator: i < coordinators } });
    await agent.join();
    agents.push(agent);
  }
  return agents;
}

async function untilEveryoneKnows(agents: readonly AgentProcess[], cmd: 'coordinators' | 'onlineAgents', count: number): Promise<void> {
  for (const a of agents) {
    await explainFailure(agents, () =>
      pollUntil(
        () => a.call(cmd, {}),
        (list) => list.length === count,
        { timeoutMs: SPREAD_TIMEOUT_MS, what: `${a.name} knows ${count} ${cmd}` },
      ),
    );
  }
}

const byId = (list: ReadonlyArray<{ agentId: string }>): string[] => list.map((h) => h.agentId).sort();

describe('rendezvous', () => {
  it('8 agents: a non-neighbour finds a registered agent through the holders, then null after unregister', async () => {
    const agents = await network(8, 3, { rendezvousReplicas: 2 });
    const coordinators = agents.slice(0, 3);
    const [registrant, asker, forger] = [agents[5]!, agents[7]!, agents[6]!];
    await registrant.blockPeer(asker.agentId);
    await asker.blockPeer(registrant.agentId);
    await untilEveryoneKnows(agents, 'coordinators', 3);

    // Every agent computes the same two holders out of the three coordinators.
    const holders = await registrant.rendezvousHolders(registrant.agentId);
    expect(holders).toHaveLength(2);
    expect(byId(await asker.rendezvousHolders(registrant.agentId))).toStrictEqual(byId(holders));
    expect(byId(coordinators)).toEqual(expect.arrayContaining(byId(holders)));

    const registered = await registrant.rendezvousRegister();
    expect(registered.error).toBeUndefined();
    expect(registered.registration?.holders.map((h) => h.outcome)).toStrictEqual(['stored', 'stored']);
    expect(byId(registered.registration!.holders)).toStrictEqual(byId(holders));

    const before = await asker.rendezvousStats();
    const found = await asker.rendezvousLookup(registrant.agentId);
    expect(found).toStrictEqual({ found: { agentId: registrant.agentId, addrs: [registrant.addr] } });
    expect((await asker.connectedPeers()).map((p) => p.peerId)).not.toContain(registrant.agentId);
    // One request per holder, whatever the network's size.
    expect((await asker.rendezvousStats()).requestsSent - before.requestsSent).toBe(2);
    const served = await Promise.all(coordinators.map((c) => c.rendezvousStats()));
    expect(served.reduce((n, s) => n + s.lookupsServed, 0)).toBe(2);
    expect(served.reduce((n, s) => n + s.recordsHeld, 0)).toBe(2);

    // A registration signed by another agent, claiming the registrant's key.
    const genuine = await registrant.ownAddrRecord();
    const forged = await forger.storeAddrRecord(registrant.agentId, genuine, ['198.51.100.7:9']);
    expect(forged.map((h) => h.outcome)).toStrictEqual(['invalid', 'invalid']);
    const afterForgery = await Promise.all(coordinators.map((c) => c.rendezvousStats()));
    expect(afterForgery.reduce((n, s) => n + s.invalidRejected, 0)).toBe(2);
    expect((await asker.rendezvousLookup(registrant.agentId)).found?.addrs).toStrictEqual([registrant.addr]);
    // Nor may an agent register or unregister anyone but itself: the calls
    // take no agent id at all.
    expect((await forger.rendezvousRegister({ agentId: registrant.agentId })).error?.code).toBe('ERR_INVALID_ARG_TYPE');
    expect((await forger.rendezvousUnregister({ agentId: registrant.agentId })).error?.code).toBe('ERR_INVALID_ARG_TYPE');

    const withdrawn = await registrant.rendezvousUnregister();
    expect(withdrawn.registration?.holders.map((h) => h.outcome)).toStrictEqual(['stored', 'stored']);
    expect(await asker.rendezvousLookup(registrant.agentId)).toStrictEqual({ found: null });
    // The older, genuinely signed record replayed after the unregister is refused.
    const replay = await forger.storeAddrRecord(registrant.agentId, genuine);
    expect(replay.map((h) => h.outcome)).toStrictEqual(['stale', 'stale']);
    expect(await asker.rendezvousLookup(registrant.agentId)).toStrictEqual({ found: null });
  });

  it('a lookup still succeeds with one of two holders killed; with every holder gone, register fails with a code', async () => {
    const agents = await network(5, 2, { rendezvousReplicas: 2 });
    const [registrant, asker] = [agents[3]!, agents[4]!];
    await untilEveryoneKnows(agents, 'coordinators', 2);
    expect((await registrant.rendezvousRegister()).registration?.holders.map((h) => h.outcome)).toStrictEqual(['stored', 'stored']);

    await agents[0]!.kill('SIGKILL');
    const found = await asker.rendezvousLookup(registrant.agentId, { timeoutMs: SHORT_TIMEOUT_MS });
    expect(found.found?.addrs).toStrictEqual([registrant.addr]);

    await agents[1]!.kill('SIGKILL');
    const failed = await registrant.rendezvousRegister({ timeoutMs: SHORT_TIMEOUT_MS });
    expect(failed.error?.code).toBe('ERR_X0X_RENDEZVOUS');
    expect(failed.error?.message).toContain('unreachable');
    expect(await asker.rendezvousLookup(registrant.agentId, { timeoutMs: SHORT_TIMEOUT_MS })).toStrictEqual({ found: null });
  });

  it('with no coordinator, the agents seen online hold the records', async () => {
    const agents = await network(4, 0);
    const [registrant, asker] = [agents[1]!, agents[3]!];
    await untilEveryoneKnows(agents, 'onlineAgents', 3);
    const holders = await registrant.rendezvousHolders(registrant.agentId);
    expect(holders).toHaveLength(3);
    expect(byId(await asker.rendezvousHolders(registrant.agentId))).toStrictEqual(byId(holders));

    const registered = await registrant.rendezvousRegister();
    expect(registered.registration?.holders.every((h) => h.outcome === 'stored')).toBe(true);
    expect((await asker.rendezvousLookup(registrant.agentId)).found?.addrs).toStrictEqual([registrant.addr]);
    const unknown = agents[2]!.agentId;
    expect(await asker.rendezvousLookup(unknown, { timeoutMs: SHORT_TIMEOUT_MS })).toStrictEqual({ found: null });
  });
});
