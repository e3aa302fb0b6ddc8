// PresenceManager and CoordinatorManager over the recording fake binding.
// Presence: what the facade adds (config, lifecycle, event mapping). The
// coordinator manager: how it turns incoming records into lists and
// counters; the fake book applies the same replay and expiry rules as the
// Rust one (without cryptography); signatures are covered by the Rust tests
// and the network tests.
import '../helpers/use-fake-binding.js';

import { describe, expect, it } from 'vitest';

import { Agent, ClosedError, COORDINATORS_TOPIC, type PresenceEvent } from '../../src/index.js';
import { FakeAgent } from '../helpers/fake-binding.js';

function lastNative(): FakeAgent {
  const agent = FakeAgent.created.at(-1);
  if (!agent) throw new Error('no native agent was created');
  return agent;
}

const OTHER = 'ab'.repeat(32);

async function nextEvent(events: AsyncIterator<PresenceEvent>): Promise<PresenceEvent> {
  const { value, done } = await events.next();
  if (done) throw new Error('presence events ended');
  return value;
}

// Presence runs in the core (crates/x0x-core/src/presence, with its own
// deterministic tests); these check only what the facade adds.
describe('PresenceManager', () => {
  it('hands the core its config: the TTL, and the group key as hex or none', async () => {
    await using plain = await Agent.builder().withConfig({ presenceBeaconTtl: 60_000 }).build();
    expect(lastNative().presences[0]!.config).toStrictEqual({ beaconTtlMs: 60_000 });
    await using keyed = await Agent.builder().withConfig({ presenceGroupKey: new Uint8Array(32).fill(7) }).build();
    expect(lastNative().presences[0]!.config.groupKey).toBe('07'.repeat(32));
    expect([plain.presence, keyed.presence].every((p) => p !== undefined)).toBe(true);
  });

  it('starts with joinNetwork and stops (saying goodbye) before the native close', async () => {
    const agent = await Agent.builder().build();
    const native = lastNative();
    expect(native.calls).not.toContain('presence.start');
    await agent.joinNetwork();
    expect(native.calls.indexOf('presence.start')).toBeGreaterThan(native.calls.findIndex((c) => c.startsWith('join')));
    await agent.close();
    expect(native.calls.indexOf('presence.stop')).toBeGreaterThanOrEqual(0);
    expect(native.calls.indexOf('presence.stop')).toBeLessThan(native.calls.indexOf('close'));
  });

  it('turns core events into frozen presence events, lag included, and ends them at close', async () => {
    const agent = await Agent.builder().build();
    const events = agent.presence.events();
    const source = lastNative().presences[0]!.streams[0]!;
    source.push({ type: 'agent-online', agentId: OTHER, at: 5 });
    source.push({ type: 'lagged', missed: 3 });
    source.push({ type: 'agent-offline', agentId: OTHER, at: 9 });
    const online = await nextEvent(events);
    expect(online).toStrictEqual({ type: 'agent-online', agentId: OTHER, at: 5 });
    expect(Object.isFrozen(online)).toBe(true);
    expect(await nextEvent(events)).toStrictEqual({ type: 'lagged', missed: 3 });
    expect(await nextEvent(events)).toStrictEqual({ type: 'agent-offline', agentId: OTHER, at: 9 });
    await agent.close();
    expect(await events.next()).toMatchObject({ done: true });
  });

  it('returns frozen online agents, and refuses new work once closed', async () => {
    const agent = await Agent.builder().build();
    lastNative().presences[0]!.online = [{ agentId: OTHER, addrs: ['10.0.0.2:1'], lastSeen: 7 }];
    const [listed] = agent.presence.getOnlineAgents();
    expect(listed).toStrictEqual({ agentId: OTHER, addrs: ['10.0.0.2:1'], lastSeen: 7 });
    expect(Object.isFrozen(listed) && Object.isFrozen(listed!.addrs)).toBe(true);
    await agent.close();
    expect(() => agent.presence.events()).toThrow(ClosedError);
    await expect(agent.presence.broadcastPresence()).rejects.toThrow(ClosedError);
    expect(lastNative().calls).not.toContain('presence.broadcast');
    // Counters stay readable after close.
    expect(agent.presence.stats().online).toBe(1);
  });
});

describe('CoordinatorManager', () => {
  it('lists its own advert when configured as coordinator and publishes it on the well-known topic', async () => {
    await using agent = await Agent.builder().withConfig({ coordinator: true, coordinatorAdvertTtl: 10_000 }).build();
    await agent.joinNetwork();
    const native = lastNative();
    expect(native.calls).toContain(`subscribe ${COORDINATORS_TOPIC}`);
    expect(native.calls.some((c) => c.startsWith(`publish ${COORDINATORS_TOPIC}`))).toBe(true);
    const [own] = agent.coordinators.getCoordinators();
    expect(own).toMatchObject({ peerId: agent.agentId, addrs: ['127.0.0.1:40000'] });
    expect(own!.expiresAt - own!.timestamp).toBe(10_000);
  });

  it('does not advertise unless asked', async () => {
    await using agent = await Agent.builder().build();
    await agent.joinNetwork();
    expect(lastNative().calls.some((c) => c.startsWith(`publish ${COORDINATORS_TOPIC}`))).toBe(false);
    expect(agent.coordinators.getCoordinators()).toEqual([]);
  });
});
