// PresenceManager and CoordinatorManager over the recording fake binding:
// how they turn incoming records into events, lists and counters. The fake
// book applies the same replay and expiry rules as the Rust one (without
// cryptography); signatures are covered by the Rust tests and the network tests.
import '../helpers/use-fake-binding.js';

import { describe, expect, it } from 'vitest';

import { Agent, COORDINATORS_TOPIC, type PresenceEvent } from '../../src/index.js';
import { FakeAgent } from '../helpers/fake-binding.js';

function lastNative(): FakeAgent {
  const agent = FakeAgent.created.at(-1);
  if (!agent) throw new Error('no native agent was created');
  return agent;
}

const OTHER = 'ab'.repeat(32);

function fakeRecord(kind: number, body: object, timestamp: number, expiresAt: number): Buffer {
  const b = Buffer.from(JSON.stringify(body)).toString('base64');
  return Buffer.from(JSON.stringify({ kind, signer: OTHER, body: b, timestamp, expiresAt }));
}

function beacon(state: 'online' | 'offline', timestamp: number): Buffer {
  // 0x01: a beacon in the clear (src/presence-seal.ts).
  return Buffer.concat([Buffer.of(1), fakeRecord(1, { state, addrs: ['10.0.0.2:1'] }, timestamp, timestamp + 60_000)]);
}

async function nextEvent(events: AsyncIterator<PresenceEvent>): Promise<PresenceEvent> {
  const { value, done } = await events.next();
  if (done) throw new Error('presence events ended');
  return value;
}

describe('PresenceManager', () => {
  it('reports online, ignores replays and goes offline on an offline beacon', async () => {
    await using agent = await Agent.builder().withConfig({ presenceBeaconTtl: 60_000 }).build();
    const events = agent.presence.events();
    await agent.joinNetwork();
    const native = lastNative();
    expect(native.calls.some((c) => c.startsWith('flood '))).toBe(true);
    const flood = native.floodStreams[0]!;
    const now = Date.now();
    flood.push({ type: 'payload', payload: beacon('online', now) });
    expect(await nextEvent(events)).toMatchObject({ type: 'agent-online', agentId: OTHER });
    expect(agent.presence.getOnlineAgents()).toMatchObject([{ agentId: OTHER, addrs: ['10.0.0.2:1'] }]);
    flood.push({ type: 'payload', payload: beacon('online', now) }); // replay
    flood.push({ type: 'payload', payload: beacon('offline', now + 1) });
    expect(await nextEvent(events)).toMatchObject({ type: 'agent-offline', agentId: OTHER });
    expect(agent.presence.getOnlineAgents()).toEqual([]);
    expect(agent.presence.stats()).toMatchObject({ beaconsReceived: 2, replaysDropped: 1, online: 0 });
  });

  it('counts sealed beacons it cannot open and ignores clear ones when it holds a key', async () => {
    await using agent = await Agent.builder().withConfig({ presenceGroupKey: new Uint8Array(32).fill(7) }).build();
    await agent.joinNetwork();
    const flood = lastNative().floodStreams[0]!;
    flood.push({ type: 'payload', payload: beacon('online', Date.now()) });
    flood.push({ type: 'payload', payload: Buffer.concat([Buffer.of(2), Buffer.alloc(64, 1)]) });
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(agent.presence.stats()).toMatchObject({ plaintextIgnored: 1, decryptFailures: 1, beaconsReceived: 0 });
    expect(agent.presence.getOnlineAgents()).toEqual([]);
  });

  it('sends an offline beacon when the agent closes', async () => {
    const agent = await Agent.builder().build();
    await agent.joinNetwork();
    const native = lastNative();
    const before = native.calls.filter((c) => c.startsWith('flood ')).length;
    await agent.close();
    const floods = native.calls.filter((c) => c.startsWith('flood '));
    expect(floods.length).toBe(before + 1);
    // The goodbye goes out before the native close.
    expect(native.calls.lastIndexOf(floods.at(-1)!)).toBeLessThan(native.calls.indexOf('close'));
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
