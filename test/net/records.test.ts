// Signed records across processes: presence beacons (online/offline, group
// key sealing, cadence) and coordinator adverts (listing, forgeries, expiry).
// Every agent runs in its own Node process over real QUIC on 127.0.0.1.
import { randomBytes } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import {
  pollUntil,
  spawnAgent,
  startNetwork,
  useNetHarness,
  waitFor,
  type AdvertInfo,
  type AgentConfig,
  type AgentProcess,
  type ForgedAdvertVariant,
} from './harness.js';

useNetHarness();

/** Generous bound of every wait: the box is shared by several builds. */
const WAIT_MS = 45_000;

/** Agents `agent` currently believes online, replayed from its presence events. */
function onlineSet(agent: AgentProcess): Set<string> {
  const online = new Set<string>();
  for (const e of agent.presence) {
    if (e.type === 'agent-online') online.add(e.agentId);
    else online.delete(e.agentId);
  }
  return online;
}

function sameSet(a: Iterable<string>, b: Iterable<string>): boolean {
  const x = new Set(a);
  const y = new Set(b);
  return x.size === y.size && [...x].every((v) => y.has(v));
}

/** Waits until every agent in `agents` sees exactly the others online. */
async function waitAllSeeEachOther(agents: readonly AgentProcess[]): Promise<void> {
  await waitFor(
    () => agents.every((a) => sameSet(onlineSet(a), agents.filter((b) => b !== a).map((b) => b.agentId))),
    agents,
    {
      timeoutMs: WAIT_MS,
      what: () => `everyone online: ${agents.map((a) => `${a.name} sees ${onlineSet(a).size}`).join(', ')}`,
    },
  );
}

/** Spawns agents with per-agent configs; the first is the seed, all join. */
async function startMixed(configs: readonly AgentConfig[]): Promise<AgentProcess[]> {
  const [first, ...rest] = configs;
  const seed = await spawnAgent({ name: 'agent0', config: first ?? {} });
  await seed.join();
  const others: AgentProcess[] = [];
  for (const [i, config] of rest.entries()) {
    const agent = await spawnAgent({ name: `agent${i + 1}`, bootstrap: [seed.addr], config });
    await agent.join();
    others.push(agent);
  }
  return [seed, ...others];
}

describe('presence beacons', () => {
  it('6 agents see each other online; a killed agent goes offline after the TTL', async () => {
    const { agents } = await startNetwork(6, { config: { presenceBeaconTtl: 4_000 } });
    // startNetwork does not join the seed; joining is what starts its beacons.
    await agents[0]!.join();
    await waitAllSeeEachOther(agents);

    const victim = agents[5]!;
    const survivors = agents.slice(0, 5);
    const killedAt = Date.now();
    await victim.kill('SIGKILL');
    await waitFor(
      () => survivors.every((a) => !onlineSet(a).has(victim.agentId)),
      survivors,
      { timeoutMs: WAIT_MS, what: `${victim.name} offline everywhere after SIGKILL` },
    );
    for (const a of survivors) {
      const offline = a.presence.find((e) => e.type === 'agent-offline' && e.agentId === victim.agentId);
      // No goodbye was sent: the offline verdict can only come from expiry.
      expect(offline!.at, `${a.name} waited for the beacon to expire`).toBeGreaterThanOrEqual(killedAt);
      const online = await a.call('onlineAgents', {});
      expect(online.map((o) => o.agentId).sort()).toEqual(
        survivors.filter((b) => b !== a).map((b) => b.agentId).sort(),
      );
      expect(online.every((o) => o.addrs.length > 0 && o.lastSeen > 0)).toBe(true);
    }
  });

  it('a graceful close is seen as offline at once, long before the TTL', async () => {
    // A 10-minute TTL: only the explicit offline beacon can explain an
    // offline event within the wait bound.
    const { agents } = await startNetwork(3, { config: { presenceBeaconTtl: 600_000 } });
    await agents[0]!.join();
    await waitAllSeeEachOther(agents);
    const leaving = agents[2]!;
    const rest = agents.slice(0, 2);
    await leaving.close();
    await waitFor(
      () => rest.every((a) => a.presence.some((e) => e.type === 'agent-offline' && e.agentId === leaving.agentId)),
      rest,
      { timeoutMs: WAIT_MS, what: `agent-offline for ${leaving.name} after close` },
    );
    await leaving.exited;
    for (const a of rest) {
      expect((await a.call('onlineAgents', {})).map((o) => o.agentId)).not.toContain(leaving.agentId);
    }
  });

  it('only agents sharing a group key see each other; the others count decryption failures', async () => {
    const k1 = randomBytes(32).toString('hex');
    const k2 = randomBytes(32).toString('hex');
    const ttl = { presenceBeaconTtl: 4_000 };
    const [a, b, none, other] = await startMixed([
      { ...ttl, presenceGroupKey: k1 },
      { ...ttl, presenceGroupKey: k1 },
      ttl,
      { ...ttl, presenceGroupKey: k2 },
    ]);
    const all = [a!, b!, none!, other!];
    await waitAllSeeEachOther([a!, b!]);
    // Let every agent's beacons reach every other several times over.
    await pollUntil(
      () => Promise.all(all.map((x) => x.call('presenceStats', {}))),
      ([sa, sb, sn, so]) =>
        sa!.decryptFailures >= 2 && sa!.plaintextIgnored >= 2 &&
        sb!.decryptFailures >= 2 && sb!.plaintextIgnored >= 2 &&
        sn!.decryptFailures >= 6 &&
        so!.decryptFailures >= 4 && so!.plaintextIgnored >= 2,
      { timeoutMs: WAIT_MS, what: 'each kind of foreign beacon received a few times' },
    );
    expect((await a!.call('onlineAgents', {})).map((o) => o.agentId)).toEqual([b!.agentId]);
    expect((await b!.call('onlineAgents', {})).map((o) => o.agentId)).toEqual([a!.agentId]);
    expect(await none!.call('onlineAgents', {})).toEqual([]);
    expect(await other!.call('onlineAgents', {})).toEqual([]);
    expect(none!.presence).toEqual([]);
    expect(other!.presence).toEqual([]);
    expect(onlineSet(a!)).toEqual(new Set([b!.agentId]));
    const sn = await none!.call('presenceStats', {});
    expect(sn.beaconsReceived).toBe(0);
  });

  it('beacons go out about every TTL/2 (4 s TTL: about one per 2 s over 20 s)', async () => {
    const { agents } = await startNetwork(2, { config: { presenceBeaconTtl: 4_000 } });
    const [sender, receiver] = agents as [AgentProcess, AgentProcess];
    await sender.join();
    await waitAllSeeEachOther(agents);
    const s0 = await sender.call('presenceStats', {});
    const r0 = await receiver.call('presenceStats', {});
    const t0 = Date.now();
    // The measurement window itself, not a synchronisation.
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    const s1 = await sender.call('presenceStats', {});
    const r1 = await receiver.call('presenceStats', {});
    const expected = (Date.now() - t0) / 2_000;
    const sent = s1.beaconsSent - s0.beaconsSent;
    const received = r1.beaconsReceived - r0.beaconsReceived;
    // Tolerant of timer jitter on a loaded box, but catches a wrong period
    // (every TTL would give ~5, every TTL/4 ~20).
    expect(sent).toBeGreaterThanOrEqual(Math.floor(expected * 0.7));
    expect(sent).toBeLessThanOrEqual(Math.ceil(expected * 1.3));
    expect(received).toBeGreaterThanOrEqual(Math.floor(expected * 0.7));
    expect(received).toBeLessThanOrEqual(sent + 1);
    expect(r1.replaysDropped + r1.invalidDropped).toBe(0);
  });
});

describe('coordinator adverts', () => {
  it('all 6 agents list exactly the 2 coordinators; forgeries never appear; adverts vanish after the TTL', async () => {
    const ttl = { coordinatorAdvertTtl: 6_000 };
    const agents = await startMixed([ttl, { ...ttl, coordinator: true }, ttl, ttl, ttl, ttl]);
    const [, byFlag, byCall, forger] = agents as [AgentProcess, AgentProcess, AgentProcess, AgentProcess];
    const advertised = await byCall.call('advertiseAsCoordinator', {});
    expect(advertised).toMatchObject({ peerId: byCall.agentId, addrs: [byCall.addr], verified: true });
    const coordinatorIds = [byFlag.agentId, byCall.agentId].sort();

    const lists = async (from: readonly AgentProcess[]): Promise<AdvertInfo[][]> =>
      Promise.all(from.map((a) => a.call('coordinators', {})));
    const exactlyCoordinators = (ls: AdvertInfo[][], ids: readonly string[]): boolean =>
      ls.every((l) => sameSet(l.map((c) => c.peerId), ids) && l.length === ids.length);

    const first = await pollUntil(() => lists(agents), (ls) => exactlyCoordinators(ls, coordinatorIds), {
      timeoutMs: WAIT_MS,
      what: 'every agent lists both coordinators',
    });
    for (const list of first) {
      for (const c of list) {
        expect(c.verified, 'signature verifies against peerId').toBe(true);
        expect(c.tamperedVerified, 'a changed address breaks the signature').toBe(false);
        expect(c.expiresAt).toBeGreaterThan(c.timestamp);
        const owner = agents.find((a) => a.agentId === c.peerId)!;
        expect(c.addrs).toEqual([owner.addr]);
      }
    }

    // Forgeries, injected on x0x.coordinators by a non-coordinator, again
    // each round until every other agent has counted them (pub/sub gives no
    // delivery receipt).
    const observers = agents.filter((a) => a !== forger);
    const variants: ForgedAdvertVariant[] = ['claims-victim', 'stolen-key', 'tampered-addr', 'expired'];
    await pollUntil(
      async () => {
        const victims = await forger.call('coordinators', {});
        const victimOf = (v: ForgedAdvertVariant): AdvertInfo =>
          victims.find((c) => c.peerId === (v === 'tampered-addr' ? byCall.agentId : byFlag.agentId))!;
        for (const variant of variants) await forger.call('injectAdvert', { variant, victim: victimOf(variant) });
        return Promise.all(observers.map((a) => a.call('coordinatorStats', {})));
      },
      (stats) =>
        stats.every(
          (s) =>
            (s.rejected['signer-mismatch'] ?? 0) >= 1 &&
            (s.rejected['bad-signature'] ?? 0) >= 2 &&
            (s.rejected['expired'] ?? 0) >= 1,
        ),
      { timeoutMs: WAIT_MS, intervalMs: 1_000, what: 'every observer rejected each kind of forgery' },
    );
    const afterForgery = await lists(agents);
    expect(exactlyCoordinators(afterForgery, coordinatorIds)).toBe(true);
    for (const list of afterForgery) {
      for (const c of list) {
        expect(c.addrs).not.toContain('198.51.100.7:9');
        expect(c.verified).toBe(true);
      }
    }

    // Kill one coordinator: its advert expires everywhere, the other's is renewed.
    const firstSeenByCall = first[0]!.find((c) => c.peerId === byCall.agentId)!.timestamp;
    await byFlag.kill('SIGKILL');
    const alive = agents.filter((a) => a !== byFlag);
    const final = await pollUntil(() => lists(alive), (ls) => exactlyCoordinators(ls, [byCall.agentId]), {
      timeoutMs: WAIT_MS,
      what: `${byFlag.name}'s advert expired everywhere`,
    });
    for (const list of final) {
      expect(list[0]!.timestamp, 'the live coordinator re-advertised').toBeGreaterThan(firstSeenByCall);
      expect(list[0]!.expiresAt).toBeGreaterThan(Date.now() - 1_000);
    }
  });
});
