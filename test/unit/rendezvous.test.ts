// agent.rendezvous over the recording stand-in for the addon: holder ranking,
// validation before the boundary, the "only yourself" rule, renewal and
// result mapping. Rendezvous itself is tested across processes in
// test/net/rendezvous.test.ts.
import '../helpers/use-fake-binding.js';

import { randomBytes } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { Agent, ClosedError, InvalidConfigError, rankHolders, RendezvousError, type RendezvousHolder } from '../../src/index.js';
import { FakeAgent } from '../helpers/fake-binding.js';

function lastNative(): FakeAgent {
  const agent = FakeAgent.created.at(-1);
  if (!agent) throw new Error('no native agent was created');
  return agent;
}

const holder = (): RendezvousHolder => ({ agentId: randomBytes(32).toString('hex'), addrs: ['127.0.0.1:1'] });

describe('rankHolders', () => {
  it('picks the same holders whatever the order of the candidates, without duplicates', () => {
    const candidates = Array.from({ length: 20 }, holder);
    const top = rankHolders(1234, candidates, 3);
    expect(top).toHaveLength(3);
    expect(rankHolders(1234, [...candidates].reverse(), 3)).toStrictEqual(top);
    expect(rankHolders(1234, [...candidates, ...candidates], 20)).toHaveLength(20);
    expect(rankHolders(1234, candidates.slice(0, 2), 3)).toHaveLength(2);
    expect(rankHolders(1234, [], 3)).toStrictEqual([]);
  });

  it('moves at most one holder of a shard when one candidate joins', () => {
    const candidates = Array.from({ length: 30 }, holder);
    for (let shard = 0; shard < 200; shard++) {
      const before = rankHolders(shard, candidates, 3).map((h) => h.agentId);
      const newcomer = holder();
      const after = rankHolders(shard, [...candidates, newcomer], 3).map((h) => h.agentId);
      const moved = after.filter((id) => !before.includes(id));
      expect(moved.length).toBeLessThanOrEqual(1);
      if (moved.length === 1) expect(moved[0]).toBe(newcomer.agentId);
    }
  });

  it('spreads shards over the candidates', () => {
    const candidates = Array.from({ length: 10 }, holder);
    const firsts = new Map<string, number>();
    for (let shard = 0; shard < 2_000; shard++) {
      const id = rankHolders(shard, candidates, 1)[0]!.agentId;
      firsts.set(id, (firsts.get(id) ?? 0) + 1);
    }
    // Expected 200 each; a candidate ranking first for under 100 or over 300
    // shards would mean the weight ignores the shard or the candidate.
    expect(firsts.size).toBe(10);
    for (const n of firsts.values()) {
      expect(n).toBeGreaterThan(100);
      expect(n).toBeLessThan(300);
    }
  });
});

describe('agent.rendezvous', () => {
  it('registers only this agent, at its listen addresses by default, and maps each holder outcome', async () => {
    const agent = await Agent.builder().withConfig({ rendezvousTtl: 20_000 }).build();
    const native = lastNative();
    const r = await agent.rendezvous.register(agent.agentId);
    expect(native.calls).toContain('signAddrRecord:127.0.0.1:40000:20000');
    expect(r.addrs).toStrictEqual(['127.0.0.1:40000']);
    expect(r.shard).toBe(agent.rendezvous.shardId(agent.agentId));
    // No coordinator and nobody online: this agent is its own only holder.
    expect(r.holders).toStrictEqual([{ agentId: agent.agentId, outcome: 'stored' }]);

    const other = 'cd'.repeat(32);
    const err = await agent.rendezvous.register(other).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RendezvousError);
    expect((err as RendezvousError).code).toBe('ERR_X0X_RENDEZVOUS');
    await expect(agent.rendezvous.unregister(other)).rejects.toBeInstanceOf(RendezvousError);

    const gone = await agent.rendezvous.unregister(agent.agentId, { timeoutMs: 7 });
    expect(gone.addrs).toStrictEqual([]);
    expect(native.calls).toContain('signAddrRecord::20000');
    expect(native.calls).toContain('rendezvousStore:record::7');
    await agent.close();
  });

  it('fails with ERR_X0X_RENDEZVOUS when no holder stores the record', async () => {
    const agent = await Agent.builder().build();
    lastNative().storeOutcome = 'unreachable';
    const err = await agent.rendezvous.register(agent.agentId, ['10.0.0.1:5']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RendezvousError);
    expect((err as Error).message).toContain('unreachable');
    await agent.close();
  });

  it('validates ids and timeoutMs before the boundary, maps lookups, and refuses calls after close', async () => {
    const agent = await Agent.builder().build();
    const native = lastNative();
    const target = 'ab'.repeat(32);
    await expect(agent.rendezvous.lookup('nope')).rejects.toThrow(TypeError);
    for (const timeoutMs of [0, 120_001, 1.5]) {
      const err = await agent.rendezvous.lookup(target, { timeoutMs }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidConfigError);
      expect((err as InvalidConfigError).field).toBe('timeoutMs');
    }
    expect(native.calls.some((c) => c.startsWith('rendezvousLookup'))).toBe(false);

    expect(await agent.rendezvous.lookup(target)).toBeNull();
    expect(native.calls).toContain(`rendezvousLookup:${target}:10000`);
    native.lookupAnswer = { record: { agentId: target, addrs: ['127.0.0.1:9'], issuedAt: 1, expiresAt: 2 }, answered: 1, rejected: 0 };
    expect(await agent.rendezvous.lookup(target)).toStrictEqual({ agentId: target, addrs: ['127.0.0.1:9'], issuedAt: 1, expiresAt: 2 });
    expect(agent.rendezvous.stats().lookupsServed).toBe(6);

    await agent.close();
    expect(() => agent.rendezvous.stats()).toThrow(ClosedError);
    await expect(agent.rendezvous.lookup(target)).rejects.toBeInstanceOf(ClosedError);
    await expect(agent.rendezvous.register(agent.agentId)).rejects.toBeInstanceOf(ClosedError);
    expect(agent.rendezvous.shardId(target)).toBe(agent.rendezvous.shardId(target));
  });
});
