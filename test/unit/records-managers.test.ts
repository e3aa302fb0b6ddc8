// PresenceManager and CoordinatorManager over the recording fake binding:
// what the facades add (config, lifecycle, mapping). Both protocols run in
// the core (crates/x0x-core/src/presence, src/coordinators, with their own
// deterministic tests) and are tested across processes in test/net.
import '../helpers/use-fake-binding.js';

import { describe, expect, it } from 'vitest';

import { Agent, ClosedError, type PresenceEvent } from '../../src/index.js';
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
    const plain = await Agent.builder().withConfig({ presenceBeaconTtl: 60_000 }).build();
    expect(lastNative().presences[0]!.config).toStrictEqual({ beaconTtlMs: 60_000 });
    const keyed = await Agent.builder().withConfig({ presenceGroupKey: new Uint8Array(32).fill(7) }).build();
    expect(lastNative().presences[0]!.config.groupKey).toBe('07'.repeat(32));
    await Promise.all([plain.close(), keyed.close()]);
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

  it('returns frozen online agents and counters as copies, and refuses every call once closed', async () => {
    const agent = await Agent.builder().build();
    const presence = lastNative().presences[0]!;
    presence.online = [{ agentId: OTHER, addrs: ['10.0.0.2:1'], lastSeen: 7 }];
    const [listed] = agent.presence.getOnlineAgents();
    expect(listed).toStrictEqual({ agentId: OTHER, addrs: ['10.0.0.2:1'], lastSeen: 7 });
    expect(Object.isFrozen(listed) && Object.isFrozen(listed!.addrs)).toBe(true);
    presence.counters = { ...presence.counters, online: 1 };
    const stats = agent.presence.stats();
    expect(stats).toStrictEqual(presence.counters);
    expect(stats).not.toBe(presence.counters);
    await agent.close();
    expect(() => agent.presence.events()).toThrow(ClosedError);
    await expect(agent.presence.broadcastPresence()).rejects.toThrow(ClosedError);
    expect(lastNative().calls).not.toContain('presence.broadcast');
    expect(() => agent.presence.stats()).toThrow(ClosedError);
    expect(() => agent.presence.getOnlineAgents()).toThrow(ClosedError);
  });
});

describe('CoordinatorManager', () => {
  it('hands the core its config and starts with joinNetwork, advertising only when configured', async () => {
    await using agent = await Agent.builder().withConfig({ coordinator: true, coordinatorAdvertTtl: 10_000 }).build();
    const native = lastNative();
    expect(native.coordinatorBooks[0]!.config).toStrictEqual({ advertTtlMs: 10_000, advertise: true });
    expect(native.calls).not.toContain('coordinators.start');
    await agent.joinNetwork();
    expect(native.calls.indexOf('coordinators.start')).toBeGreaterThan(native.calls.findIndex((c) => c.startsWith('join')));
    const plain = await Agent.builder().build();
    expect(lastNative().coordinatorBooks[0]!.config).toStrictEqual({ advertTtlMs: 86_400_000, advertise: false });
    await plain.close();
  });

  it('returns frozen adverts with their own byte copies, and every rejection reason in stats', async () => {
    await using agent = await Agent.builder().build();
    const book = lastNative().coordinatorBooks[0]!;
    const signature = Buffer.from([1, 2, 3]);
    book.adverts = [{ peerId: OTHER, addrs: ['10.0.0.2:1'], timestamp: 5, expiresAt: 9, signature, publicKey: Buffer.from([4]) }];
    book.counters = { accepted: 3, rejected: [{ reason: 'replayed', count: 2 }, { reason: 'full', count: 1 }] };
    const [advert] = agent.coordinators.getCoordinators();
    expect(advert).toMatchObject({ peerId: OTHER, addrs: ['10.0.0.2:1'], timestamp: 5, expiresAt: 9 });
    expect(Object.isFrozen(advert) && Object.isFrozen(advert!.addrs)).toBe(true);
    signature[0] = 9;
    expect(advert!.signature[0]).toBe(1);
    expect(agent.coordinators.stats()).toStrictEqual({
      accepted: 3,
      rejected: {
        malformed: 0, 'wrong-kind': 0, 'signer-mismatch': 0, 'bad-signature': 0,
        expired: 0, 'from-future': 0, replayed: 2, 'too-long': 0, full: 1,
      },
    });
  });

  it('stops advertising at close and refuses to advertise afterwards, without calling the core', async () => {
    const agent = await Agent.builder().build();
    const native = lastNative();
    await agent.coordinators.advertiseAsCoordinator();
    await agent.close();
    expect(native.calls.indexOf('coordinators.stop')).toBeLessThan(native.calls.indexOf('close'));
    await expect(agent.coordinators.advertiseAsCoordinator()).rejects.toThrow(ClosedError);
    expect(native.calls.filter((c) => c === 'coordinators.advertise')).toHaveLength(1);
  });
});
