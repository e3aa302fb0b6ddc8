// agent.metrics() over a real two-agent loopback network: the text parses as
// Prometheus exposition, and its counters move with what the agents did.
import { describe, expect, it } from 'vitest';

import type { Agent } from '../../src/agent.js';
import { ClosedError } from '../../src/errors.js';
import { DELIVERY_LATENCY_BOUNDS_MS } from '../../src/histogram.js';
import type { Message } from '../../src/subscription.js';
import { createTestnet } from '../../src/testnet.js';
import { histogramBuckets, parseExposition, sampleValue, type ParsedFamily } from '../helpers/prometheus-parser.js';

const LATENCY = 'x0x_pubsub_delivery_latency_seconds';

async function scrape(agent: Agent): Promise<Map<string, ParsedFamily>> {
  return parseExposition(await agent.metrics());
}

describe('agent.metrics()', () => {
  it('parses strictly, and counters rise after a publish and a delivery', async () => {
    await using net = await createTestnet(2);
    const [publisher, subscriber] = net.agents as [Agent, Agent];

    const before = { pub: await scrape(publisher), sub: await scrape(subscriber) };
    expect(sampleValue(before.pub, 'x0x_membership_view_peers', { view: 'active' })).toBe(1);
    expect(sampleValue(before.pub, 'x0x_transport_connected_peers')).toBe(1);
    for (const family of before.pub.values()) {
      expect(family.name).toMatch(/^x0x_/);
      if (family.type === 'counter') expect(family.name).toMatch(/_total$/);
    }

    const sub = await subscriber.subscribe('metrics.test', { signal: AbortSignal.timeout(20_000) });
    const PAYLOAD = 20_000;
    const id = await publisher.publish('metrics.test', new Uint8Array(PAYLOAD).fill(7));
    for await (const msg of sub) {
      expect(msg.id).toBe(id);
      break;
    }

    const after = { pub: await scrape(publisher), sub: await scrape(subscriber) };
    const delta = (which: 'pub' | 'sub', name: string, labels?: Record<string, string>): number =>
      sampleValue(after[which], name, labels) - sampleValue(before[which], name, labels);
    expect(delta('pub', 'x0x_pubsub_published_total')).toBe(1);
    expect(delta('sub', 'x0x_pubsub_delivered_total')).toBe(1);
    expect(delta('pub', 'x0x_transport_frames_total', { direction: 'out' })).toBeGreaterThan(0);
    expect(delta('sub', 'x0x_transport_frames_total', { direction: 'in' })).toBeGreaterThan(0);
    // The message's frame alone carries the payload; headers are not counted.
    expect(delta('pub', 'x0x_transport_bytes_total', { direction: 'out' })).toBeGreaterThanOrEqual(PAYLOAD);
    expect(delta('sub', 'x0x_transport_bytes_total', { direction: 'in' })).toBeGreaterThanOrEqual(PAYLOAD);
    // The same figures the stats() objects report, not a second count.
    expect(sampleValue(after.sub, 'x0x_pubsub_delivered_total')).toBe(subscriber.pubsub.stats().delivered);
    expect(sampleValue(after.pub, 'x0x_pubsub_published_total')).toBe(publisher.pubsub.stats().published);
  });

  it('histograms the delivery latency of messages from other agents, and counts connections by method', async () => {
    await using net = await createTestnet(2);
    const [publisher, subscriber] = net.agents as [Agent, Agent];
    const N = 25;
    const topic = 'metrics.latency';
    const signal = AbortSignal.timeout(30_000);

    // Connections: the testnet's join over loopback QUIC opened direct ones.
    for (const agent of [publisher, subscriber]) {
      const m = await scrape(agent);
      const stats = agent.transport.stats();
      expect(sampleValue(m, 'x0x_transport_connections_opened_total', { method: 'direct' })).toBeGreaterThanOrEqual(1);
      for (const method of ['direct', 'holepunched', 'relayed'] as const) {
        expect(sampleValue(m, 'x0x_transport_connections_opened_total', { method }), method).toBe(stats[method]);
      }
      // Nothing delivered yet: an empty histogram, every bucket present.
      expect(histogramBuckets(m, LATENCY)).toStrictEqual([
        ...DELIVERY_LATENCY_BOUNDS_MS.map((ms): [number, number] => [ms / 1000, 0]),
        [Infinity, 0],
      ]);
      expect(sampleValue(m, `${LATENCY}_count`)).toBe(0);
      expect(sampleValue(m, `${LATENCY}_sum`)).toBe(0);
    }

    const remote = await subscriber.subscribe(topic, { signal });
    // The publisher reads its own messages too: they are delivered, but never crossed the network.
    const own = await publisher.subscribe(topic, { signal });
    await publisher.pubsub.waitForTopicPeers(topic, 1, { signal });
    const before = { pub: await scrape(publisher), sub: await scrape(subscriber) };
    for (let i = 0; i < N; i += 1) await publisher.publish(topic, `m${i}`);
    const read = async (sub: AsyncIterable<Message>): Promise<Message[]> => {
      const got: Message[] = [];
      for await (const msg of sub) if (got.push(msg) === N) break;
      return got;
    };
    const [received, ownReceived] = await Promise.all([read(remote), read(own)]);
    expect(new Set(received.map((m) => m.id)).size).toBe(N);
    expect(ownReceived.length).toBe(N);

    const after = { pub: await scrape(publisher), sub: await scrape(subscriber) };
    const delta = (which: 'pub' | 'sub', name: string): number =>
      sampleValue(after[which], name) - sampleValue(before[which], name);
    expect(delta('sub', 'x0x_pubsub_delivered_total')).toBe(N);
    expect(delta('pub', 'x0x_pubsub_delivered_total')).toBe(N);
    expect(sampleValue(after.sub, `${LATENCY}_count`)).toBe(N);
    expect(sampleValue(after.pub, `${LATENCY}_count`)).toBe(0);

    // The buckets are exactly those of the messages this reader saw,
    // receivedAt - publishedAt clamped at 0, cumulative and ending at +Inf = count.
    const latencies = received.map((m) => Math.max(0, m.receivedAt - m.publishedAt));
    const expected = DELIVERY_LATENCY_BOUNDS_MS.map((ms): [number, number] => [
      ms / 1000,
      latencies.filter((l) => l <= ms).length,
    ]);
    const buckets = histogramBuckets(after.sub, LATENCY);
    expect(buckets).toStrictEqual([...expected, [Infinity, N]]);
    for (let i = 1; i < buckets.length; i += 1) {
      expect((buckets[i] as [number, number])[1]).toBeGreaterThanOrEqual((buckets[i - 1] as [number, number])[1]);
    }
    expect(sampleValue(after.sub, `${LATENCY}_bucket`, { le: '+Inf' })).toBe(sampleValue(after.sub, `${LATENCY}_count`));
    expect(sampleValue(after.sub, `${LATENCY}_sum`)).toBeCloseTo(latencies.reduce((a, b) => a + b, 0) / 1000, 9);
    expect(after.sub.get(LATENCY)?.type).toBe('histogram');
  });

  // What the metrics are read from, over the real addon: one shape for all.
  it("every manager's stats() answers synchronously with a plain object of numbers", async () => {
    await using net = await createTestnet(2);
    const [agent] = net.agents as [Agent, Agent];
    const managers = {
      transport: agent.transport,
      pubsub: agent.pubsub,
      membership: agent.membership,
      presence: agent.presence,
      coordinators: agent.coordinators,
      antiEntropy: agent.antiEntropy,
      discovery: agent.discovery,
      rendezvous: agent.rendezvous,
    };
    /** Dotted paths of the leaves that are not finite numbers, and of objects that are not plain. */
    const odd = (value: unknown, at: string): string[] => {
      if (typeof value === 'number') return Number.isFinite(value) ? [] : [at];
      if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return [at];
      return Object.entries(value).flatMap(([k, v]) => odd(v, `${at}.${k}`));
    };
    for (const [name, manager] of Object.entries(managers)) {
      const stats: unknown = manager.stats();
      expect(typeof (stats as { then?: unknown } | null)?.then, `${name}.stats() is no promise`).toBe('undefined');
      expect(odd(stats, name)).toStrictEqual([]);
      expect(Object.keys(stats as object).length, name).toBeGreaterThan(0);
    }
  });

  it('rejects with ClosedError once the agent is closed', async () => {
    const net = await createTestnet(1);
    const [agent] = net.agents as [Agent];
    await net.close();
    await expect(agent.metrics()).rejects.toBeInstanceOf(ClosedError);
  });
});
