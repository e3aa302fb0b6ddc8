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
    const record = { agentId: TARGET, addrs: ['127.0.0.1:5000'], issuedAt: 1, expiresAt: 2 };
    native.findAnswer = record;
    const found = await agent.discovery.findAgent(TARGET);
    expect(found).toStrictEqual({ agentId: TARGET, addrs: ['127.0.0.1:5000'], issuedAt: 1, expiresAt: 2 });
    // A frozen copy: nothing the caller does reaches what the core handed over.
    expect(Object.isFrozen(found) && Object.isFrozen(found!.addrs)).toBe(true);
    expect(found!.addrs).not.toBe(record.addrs);
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
    agent.discovery.advertiseSelf();
    expect(native.calls.filter((c) => c.startsWith('setAdvertise'))).toStrictEqual(['setAdvertise:false', 'setAdvertise:true']);
    await agent.close();
    expect(() => agent.discovery.stats()).toThrow(ClosedError);
    expect(() => agent.discovery.stopAdvertising()).toThrow(ClosedError);
    await expect(agent.discovery.findAgent(TARGET)).rejects.toBeInstanceOf(ClosedError);
    expect(native.calls.filter((c) => c.startsWith('setAdvertise') || c.startsWith('findAgent'))).toHaveLength(2);
  });
});
