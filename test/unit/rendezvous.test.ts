// agent.rendezvous over the recording stand-in for the addon: what the
// facade adds (config, validation before the boundary, AbortSignal, result
// and error mapping, lifecycle).
// Ranking, renewal and lookups run in the core (crates/x0x-core/src/
// rendezvous, with deterministic tests) and are tested across processes in
// test/net/rendezvous.test.ts.
import '../helpers/use-fake-binding.js';

import { readFileSync } from 'node:fs';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { AbortError, Agent, ClosedError, InvalidConfigError, rankHolders, RendezvousError } from '../../src/index.js';
import { FakeAgent, fakeFunctions, type FakeRendezvous } from '../helpers/fake-binding.js';

const VECTORS = (
  JSON.parse(readFileSync(path.join(__dirname, '..', 'vectors', 'rendezvous-shards.json'), 'utf8')) as {
    vectors: { agentId: string; shard: number }[];
  }
).vectors;

function lastNative(): FakeAgent {
  const agent = FakeAgent.created.at(-1);
  if (!agent) throw new Error('no native agent was created');
  return agent;
}

function client(): FakeRendezvous {
  return lastNative().rendezvousClients[0]!;
}

const OTHER = 'cd'.repeat(32);

describe('agent.rendezvous', () => {
  it("hands the core its config with this agent's coordinators and presence", async () => {
    await using agent = await Agent.builder().withConfig({ rendezvousTtl: 20_000, rendezvousReplicas: 2 }).build();
    const native = lastNative();
    expect(client().config).toStrictEqual({ recordTtlMs: 20_000, replicas: 2 });
    expect(client().coordinators).toBe(native.coordinatorBooks[0]);
    expect(client().presence).toBe(native.presences[0]);
    expect(agent.rendezvous.shardCount).toBe(65_536);
  });

  it('answers shardId from the shared vectors, without the core', async () => {
    await using agent = await Agent.builder().build();
    const before = client().calls.length;
    for (const v of VECTORS) expect(agent.rendezvous.shardId(v.agentId), v.agentId).toBe(v.shard);
    expect(client().calls.slice(before)).toStrictEqual([]);
  });

  it('rankHolders checks its arguments before the core and never asks for more holders than candidates', () => {
    const a = { agentId: 'aa'.repeat(32), addrs: ['10.0.0.1:1'] };
    const b = { agentId: 'bb'.repeat(32), addrs: ['10.0.0.2:1'] };
    const calls = fakeFunctions.calls.length;
    for (const shard of [-1, 65_536, 1.5]) {
      expect(() => rankHolders(shard, [a], 1)).toThrow(expect.objectContaining({ code: 'ERR_X0X_INVALID_CONFIG', field: 'shard' }));
    }
    expect(() => rankHolders(0, [a], -1)).toThrow(expect.objectContaining({ code: 'ERR_X0X_INVALID_CONFIG', field: 'count' }));
    expect(() => rankHolders('0' as never, [a], 1)).toThrow(TypeError);
    expect(() => rankHolders(0, [a], '1' as never)).toThrow(TypeError);
    expect(() => rankHolders(0, [{ agentId: 'nope', addrs: [] }], 1)).toThrow(TypeError);
    expect(fakeFunctions.calls.length).toBe(calls);

    fakeFunctions.ranked = [b];
    const ranked = rankHolders(7, [a, b], 5);
    expect(fakeFunctions.calls.at(-1)).toStrictEqual({ name: 'rankHolders', args: [7, [a, b], 2] });
    expect(ranked).toStrictEqual([b]);
    expect(Object.isFrozen(ranked[0]) && Object.isFrozen(ranked[0]!.addrs)).toBe(true);
  });

  it('registers and unregisters itself, and refuses an agent id (the removed parameter) before the core', async () => {
    await using agent = await Agent.builder().build();
    const r = await agent.rendezvous.register();
    expect(client().calls).toContain('rendezvous.register:advertised:10000');
    expect(r).toStrictEqual({ agentId: 'ab'.repeat(32), shard: 7, addrs: ['127.0.0.1:40000'], expiresAt: 9, holders: [{ agentId: OTHER, outcome: 'stored' }] });
    expect(Object.isFrozen(r) && Object.isFrozen(r.addrs) && Object.isFrozen(r.holders) && Object.isFrozen(r.holders[0])).toBe(true);
    expect(r.addrs).not.toBe(client().registration.addrs);
    await agent.rendezvous.register(['10.0.0.1:5'], { timeoutMs: 7 });
    expect(client().calls).toContain('rendezvous.register:10.0.0.1:5:7');
    await agent.rendezvous.register({ timeoutMs: 8 });
    expect(client().calls).toContain('rendezvous.register:advertised:8');
    await agent.rendezvous.register(undefined, { timeoutMs: 9 });
    expect(client().calls).toContain('rendezvous.register:advertised:9');

    // Its own id or another: the id parameter is gone, and saying so beats
    // treating the id as a list of addresses or as options.
    const before = client().calls.length;
    const noId = expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: expect.stringMatching(/takes no agent id/) });
    // The types refuse it too.
    // @ts-expect-error -- register() takes no agent id
    await expect(agent.rendezvous.register(agent.agentId)).rejects.toEqual(noId);
    // @ts-expect-error -- unregister() takes no agent id
    await expect(agent.rendezvous.unregister(agent.agentId)).rejects.toEqual(noId);
    for (const id of [agent.agentId, OTHER, 'nope']) {
      await expect(agent.rendezvous.register(id as never)).rejects.toEqual(noId);
      await expect(agent.rendezvous.register(id as never, ['10.0.0.1:6'] as never)).rejects.toEqual(noId);
      await expect(agent.rendezvous.unregister(id as never)).rejects.toEqual(noId);
    }
    // Two arguments: the first is the addresses, whatever it looks like.
    await expect(agent.rendezvous.register({ timeoutMs: 1 } as never, { timeoutMs: 2 })).rejects.toEqual(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE', message: expect.stringMatching(/^The "addrs" argument must be an array/) }),
    );
    expect(client().calls).toHaveLength(before);

    await agent.rendezvous.unregister({ timeoutMs: 7 });
    await agent.rendezvous.unregister();
    expect(client().calls.filter((c) => c.startsWith('rendezvous.unregister'))).toStrictEqual(['rendezvous.unregister:7', 'rendezvous.unregister:10000']);
  });

  it("turns the core's coded refusal into RendezvousError", async () => {
    await using agent = await Agent.builder().build();
    client().failure = Object.assign(new Error('no rendezvous holder stored the record (cdcdcdcd: unreachable)'), { code: 'ERR_X0X_RENDEZVOUS' });
    const err = await agent.rendezvous.register().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RendezvousError);
    expect((err as Error).message).toContain('unreachable');
  });

  it('validates ids and timeoutMs before the boundary, honours AbortSignal, and maps lookups', async () => {
    await using agent = await Agent.builder().build();
    await expect(agent.rendezvous.lookup('nope')).rejects.toThrow(TypeError);
    expect(() => agent.rendezvous.holdersFor('nope')).toThrow(TypeError);
    for (const timeoutMs of [0, 120_001, 1.5]) {
      for (const call of [() => agent.rendezvous.lookup(OTHER, { timeoutMs }), () => agent.rendezvous.register({ timeoutMs })]) {
        const err = await call().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(InvalidConfigError);
        expect((err as InvalidConfigError).field).toBe('timeoutMs');
      }
    }
    expect(client().calls.some((c) => c.startsWith('rendezvous.lookup') || c.startsWith('rendezvous.register'))).toBe(false);

    expect(await agent.rendezvous.lookup(OTHER)).toBeNull();
    client().lookupAnswer = { agentId: OTHER, addrs: ['127.0.0.1:9'], issuedAt: 1, expiresAt: 2 };
    const found = await agent.rendezvous.lookup(OTHER, { timeoutMs: 5 });
    expect(found).toStrictEqual({ agentId: OTHER, addrs: ['127.0.0.1:9'], issuedAt: 1, expiresAt: 2 });
    expect(Object.isFrozen(found)).toBe(true);
    expect(client().calls).toContain(`rendezvous.lookup:${OTHER}:5`);

    client().lookupAnswer = undefined;
    const controller = new AbortController();
    const pending = agent.rendezvous.lookup(OTHER, { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(AbortError);
    await expect(agent.rendezvous.register({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);

    client().holders = [{ agentId: OTHER, addrs: ['10.0.0.3:1'] }];
    const [holder] = agent.rendezvous.holdersFor(OTHER);
    expect(holder).toStrictEqual({ agentId: OTHER, addrs: ['10.0.0.3:1'] });
    expect(Object.isFrozen(holder) && Object.isFrozen(holder!.addrs)).toBe(true);
  });

  it('stops renewing at close and refuses calls afterwards', async () => {
    const agent = await Agent.builder().build();
    const native = lastNative();
    await agent.close();
    expect(native.calls.indexOf('rendezvous.stop')).toBeLessThan(native.calls.indexOf('close'));
    expect(() => agent.rendezvous.stats()).toThrow(ClosedError);
    expect(() => agent.rendezvous.holdersFor(OTHER)).toThrow(ClosedError);
    await expect(agent.rendezvous.lookup(OTHER)).rejects.toBeInstanceOf(ClosedError);
    await expect(agent.rendezvous.register()).rejects.toBeInstanceOf(ClosedError);
    await expect(agent.rendezvous.unregister()).rejects.toBeInstanceOf(ClosedError);
  });
});
