// agent.metrics() over a real two-agent loopback network: the text parses as
// Prometheus exposition, and its counters move with what the agents did.
import { describe, expect, it } from 'vitest';

import type { Agent } from '../../src/agent.js';
import { ClosedError } from '../../src/errors.js';
import { createTestnet } from '../../src/testnet.js';
import { parseExposition, sampleValue, type ParsedFamily } from '../helpers/prometheus-parser.js';

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
    const id = await publisher.publish('metrics.test', 'counted');
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
    // The same figures the stats() objects report, not a second count.
    expect(sampleValue(after.sub, 'x0x_pubsub_delivered_total')).toBe(subscriber.pubsub.stats().delivered);
    expect(sampleValue(after.pub, 'x0x_pubsub_published_total')).toBe(publisher.pubsub.stats().published);
  });

  it('rejects with ClosedError once the agent is closed', async () => {
    const net = await createTestnet(1);
    const [agent] = net.agents as [Agent];
    await net.close();
    await expect(agent.metrics()).rejects.toBeInstanceOf(ClosedError);
  });
});
