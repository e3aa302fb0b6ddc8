// agent.discovery over the recording stand-in for the addon: validation
// before the boundary, result mapping, abort. FOAF itself is tested across
// processes in test/net/discovery.test.ts.
import '../helpers/use-fake-binding.js';

import { describe, expect, it } from 'vitest';

import { AbortError, Agent, ClosedError, InvalidConfigError } from '../../src/index.js';
import { FakeAgent } from '../helpers/fake-binding.js';

function lastNative(): FakeAgent {
  const agent = FakeAgent.created.at(-1);
  if (!agent) throw new Error('no native agent was created');
  return agent;
}

const TARGET = 'ab'.repeat(32);

describe('agent.discovery', () => {
  it('passes the id and the default 30 s timeout, and maps the record', async () => {
    const agent = await Agent.builder().build();
    const native = lastNative();
    native.findAnswer = { agentId: TARGET, addrs: ['127.0.0.1:5000'], issuedAt: 1, expiresAt: 2 };
    const found = await agent.discovery.findAgent(TARGET);
    expect(found).toStrictEqual({ agentId: TARGET, addrs: ['127.0.0.1:5000'], issuedAt: 1, expiresAt: 2 });
    expect(native.calls).toContain(`findAgent:${TARGET}:30000`);
    native.findAnswer = null;
    expect(await agent.discovery.findAgent(TARGET, { timeoutMs: 5 })).toBeNull();
    await agent.close();
  });

  it('validates the id and timeoutMs before the boundary', async () => {
    const agent = await Agent.builder().build();
    await expect(agent.discovery.findAgent('nope')).rejects.toThrow(TypeError);
    for (const timeoutMs of [0, 120_001, 1.5, Number.NaN]) {
      const err = await agent.discovery.findAgent(TARGET, { timeoutMs }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidConfigError);
      expect((err as InvalidConfigError).field).toBe('timeoutMs');
    }
    expect(lastNative().calls.some((c) => c.startsWith('findAgent'))).toBe(false);
    await agent.close();
  });

  it('rejects with AbortError when the signal aborts during the wait', async () => {
    const agent = await Agent.builder().build();
    const controller = new AbortController();
    const pending = agent.discovery.findAgent(TARGET, { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(AbortError);
    await expect(agent.discovery.findAgent(TARGET, { signal: controller.signal })).rejects.toBeInstanceOf(AbortError);
    await agent.close();
  });

  it('switches advertising and refuses calls after close', async () => {
    const agent = await Agent.builder().build();
    const native = lastNative();
    agent.discovery.stopAdvertising();
    expect(native.advertising).toBe(false);
    agent.discovery.advertiseSelf();
    expect(native.advertising).toBe(true);
    expect(agent.discovery.stats().queriesForwarded).toBe(3);
    await agent.close();
    expect(() => agent.discovery.stats()).toThrow(ClosedError);
    await expect(agent.discovery.findAgent(TARGET)).rejects.toBeInstanceOf(ClosedError);
  });

  it('exposes the shard function as agent.rendezvous', async () => {
    const agent = await Agent.builder().build();
    expect(agent.rendezvous.shardId('00'.repeat(32))).toBe(61660);
    expect(agent.rendezvous.shardCount).toBe(65536);
    await agent.close();
  });
});
