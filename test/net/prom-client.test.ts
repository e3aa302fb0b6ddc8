// @x0x/node/prom-client over a real two-agent loopback network: both agents
// in one application registry, the same families and values as
// agent.metrics(), and nothing left behind once they leave.
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import { Counter, Gauge, Histogram, Registry, type OpenMetricsContentType } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';

import type { Agent } from '../../src/agent.js';
import { ClosedError, InvalidConfigError } from '../../src/errors.js';
import { registerX0xMetrics } from '../../src/prom-client.js';
import { createTestnet } from '../../src/testnet.js';
import { histogramBuckets, parseExposition, sampleValue, type ParsedFamily } from '../helpers/prometheus-parser.js';

const ROOT = path.join(__dirname, '..', '..');

/**
 * prom-client separates families with a blank line, which the exposition
 * format allows (empty lines are ignored); the strict parser, written for
 * x0x's own output, does not, so they are dropped first.
 */
async function scrape(registry: Registry): Promise<Map<string, ParsedFamily>> {
  const text = await registry.metrics();
  return parseExposition(text.split('\n').filter((line, i, all) => line !== '' || i === all.length - 1).join('\n'));
}

function x0xNames(families: Map<string, ParsedFamily>): string[] {
  return [...families.keys()].filter((name) => name.startsWith('x0x_')).sort();
}

describe('@x0x/node/prom-client', () => {
  it('registers two agents into one registry with the values agent.metrics() reports', async () => {
    await using net = await createTestnet(2);
    const [publisher, subscriber] = net.agents as [Agent, Agent];
    const registry = new Registry();
    // An application metric of its own, which must survive the x0x ones.
    new Counter({ name: 'app_requests_total', help: 'Requests.', registers: [registry] });
    const labels = { service: 'test' };
    const pubReg = await registerX0xMetrics(publisher, { registry, labels });
    const subReg = await registerX0xMetrics(subscriber, { registry, labels });
    expect(pubReg.labels).toStrictEqual({ service: 'test', agent: publisher.agentId });

    const sub = await subscriber.subscribe('prom.test', { signal: AbortSignal.timeout(20_000) });
    const id = await publisher.publish('prom.test', 'counted');
    for await (const msg of sub) {
      expect(msg.id).toBe(id);
      break;
    }

    const [fromRegistry, ownPub, ownSub] = await Promise.all([
      scrape(registry),
      publisher.metrics().then(parseExposition),
      subscriber.metrics().then(parseExposition),
    ]);
    // One source of truth: the same families, of the same types and help.
    expect(x0xNames(fromRegistry)).toStrictEqual(x0xNames(ownPub));
    for (const name of x0xNames(ownPub)) {
      const family = fromRegistry.get(name) as ParsedFamily;
      expect(family.type, name).toBe(ownPub.get(name)?.type);
      expect(family.help, name).toBe(ownPub.get(name)?.help);
    }
    expect(fromRegistry.get('x0x_pubsub_published_total')?.type).toBe('counter');
    expect(fromRegistry.get('x0x_membership_view_peers')?.type).toBe('gauge');
    expect(registry.getSingleMetric('x0x_pubsub_published_total')).toBeInstanceOf(Counter);
    expect(registry.getSingleMetric('x0x_membership_view_peers')).toBeInstanceOf(Gauge);

    const of = (agent: Agent, extra: Record<string, string> = {}): Record<string, string> => ({
      agent: agent.agentId,
      service: 'test',
      ...extra,
    });
    // The counters moved, and match agent.metrics() of the same moment
    // (these two stay still once the message is in).
    expect(sampleValue(fromRegistry, 'x0x_pubsub_published_total', of(publisher))).toBe(1);
    expect(sampleValue(fromRegistry, 'x0x_pubsub_delivered_total', of(subscriber))).toBe(1);
    for (const [agent, own] of [
      [publisher, ownPub],
      [subscriber, ownSub],
    ] as const) {
      for (const name of ['x0x_pubsub_published_total', 'x0x_pubsub_delivered_total']) {
        expect(sampleValue(fromRegistry, name, of(agent)), name).toBe(sampleValue(own, name));
      }
      expect(sampleValue(fromRegistry, 'x0x_membership_view_peers', of(agent, { view: 'active' }))).toBe(
        sampleValue(own, 'x0x_membership_view_peers', { view: 'active' }),
      );
      expect(sampleValue(fromRegistry, 'x0x_pubsub_dropped_total', of(agent, { reason: 'duplicate' }))).toBe(
        sampleValue(own, 'x0x_pubsub_dropped_total', { reason: 'duplicate' }),
      );
    }
    expect(sampleValue(fromRegistry, 'x0x_transport_frames_total', of(publisher, { direction: 'out' }))).toBeGreaterThan(0);

    // The delivery latency histogram: a prom-client Histogram with the
    // buckets, sum and count of agent.metrics(), per agent.
    const LATENCY = 'x0x_pubsub_delivery_latency_seconds';
    expect(fromRegistry.get(LATENCY)?.type).toBe('histogram');
    expect(registry.getSingleMetric(LATENCY)).toBeInstanceOf(Histogram);
    for (const [agent, own, delivered] of [
      [publisher, ownPub, 0],
      [subscriber, ownSub, 1],
    ] as const) {
      const buckets = histogramBuckets(fromRegistry, LATENCY, of(agent));
      expect(buckets).toStrictEqual(histogramBuckets(own, LATENCY));
      expect(buckets.at(-1)).toStrictEqual([Infinity, delivered]);
      expect(sampleValue(fromRegistry, `${LATENCY}_count`, of(agent))).toBe(delivered);
      expect(sampleValue(fromRegistry, `${LATENCY}_sum`, of(agent))).toBe(sampleValue(own, `${LATENCY}_sum`));
      for (const method of ['direct', 'holepunched', 'relayed']) {
        const name = 'x0x_transport_connections_opened_total';
        expect(sampleValue(fromRegistry, name, of(agent, { method })), method).toBe(sampleValue(own, name, { method }));
      }
      expect(
        sampleValue(fromRegistry, 'x0x_transport_connections_opened_total', of(agent, { method: 'direct' })),
      ).toBeGreaterThanOrEqual(1);
    }
    // The JSON view of the registry carries the same copy.
    const json = (await registry.getMetricsAsJSON()).find((m) => m.name === LATENCY);
    const count = json?.values.find(
      (v) => (v as { metricName?: string }).metricName === `${LATENCY}_count` && v.labels['agent'] === subscriber.agentId,
    );
    expect(count?.value).toBe(1);
    // resetMetrics() cannot make the copy drift: the next scrape reads the agent again.
    registry.resetMetrics();
    expect(sampleValue(await scrape(registry), `${LATENCY}_count`, of(subscriber))).toBe(1);

    // A duplicate, or other label names, are refused and change nothing.
    await expect(registerX0xMetrics(publisher, { registry, labels })).rejects.toMatchObject({
      code: 'ERR_X0X_INVALID_CONFIG',
      field: 'labels',
    });
    await expect(registerX0xMetrics(publisher, { registry })).rejects.toBeInstanceOf(InvalidConfigError);
    await expect(registerX0xMetrics(publisher, { registry, labels: { reason: 'x' } })).rejects.toBeInstanceOf(
      InvalidConfigError,
    );
    // le is the histogram's bucket label, in any registry.
    await expect(registerX0xMetrics(publisher, { registry: new Registry(), labels: { le: 'x' } })).rejects.toMatchObject({
      code: 'ERR_X0X_INVALID_CONFIG',
      field: 'labels',
    });
    await expect(registerX0xMetrics(publisher, { registry: new Registry(), agentLabel: 'le' })).rejects.toMatchObject({
      code: 'ERR_X0X_INVALID_CONFIG',
      field: 'agentLabel',
    });

    pubReg.unregister();
    pubReg.unregister();
    expect(pubReg.active).toBe(false);
    const afterPub = await scrape(registry);
    const agents = new Set(afterPub.get('x0x_pubsub_published_total')?.samples.map((s) => s.labels['agent']));
    expect([...agents]).toStrictEqual([subscriber.agentId]);

    // Closing the last agent takes the rest out: only the app's metric remains.
    await subscriber.close();
    expect(subReg.active).toBe(false);
    expect(registry.getMetricsAsArray().map((m) => m.name)).toStrictEqual(['app_requests_total']);
    expect(x0xNames(await scrape(registry))).toStrictEqual([]);
  });

  it('applies a prefix, keeps registries apart, reads once a scrape, survives clear(), rejects a closed agent', async () => {
    await using net = await createTestnet(1);
    const [agent] = net.agents as [Agent];
    const a = new Registry();
    const b = new Registry();
    const inA = await registerX0xMetrics(agent, { registry: a, prefix: 'app_', agentLabel: false });
    using inB = await registerX0xMetrics(agent, { registry: b });
    const scrapedA = await scrape(a);
    expect(scrapedA.get('app_x0x_pubsub_published_total')?.type).toBe('counter');
    expect(scrapedA.get('app_x0x_pubsub_published_total')?.samples).toStrictEqual([
      { name: 'app_x0x_pubsub_published_total', labels: {}, value: 0 },
    ]);
    expect(sampleValue(scrapedA, 'app_x0x_pubsub_delivery_latency_seconds_count')).toBe(0);
    expect(x0xNames(scrapedA)).toStrictEqual([]);
    expect(x0xNames(await scrape(b)).length).toBeGreaterThan(10);
    // One read of the agent per scrape, however many families it has.
    const stats = vi.spyOn(agent.membership, 'stats');
    await b.metrics();
    expect(stats).toHaveBeenCalledTimes(1);
    stats.mockRestore();
    inA.unregister();
    expect(a.getMetricsAsArray()).toStrictEqual([]);
    // registry.clear() drops them; the next registration puts them back.
    b.clear();
    expect(x0xNames(await scrape(b))).toStrictEqual([]);
    // Same label names, another value: a second member of the same group.
    using again = await registerX0xMetrics(agent, { registry: b, agentLabel: false, labels: { agent: 'alias' } });
    const restored = await scrape(b);
    expect(x0xNames(restored)).toStrictEqual(x0xNames(parseExposition(await agent.metrics())));
    const series = restored.get('x0x_pubsub_published_total')?.samples.map((sample) => sample.labels['agent']);
    expect(series?.sort()).toStrictEqual([agent.agentId, 'alias'].sort());
    inB.unregister();
    expect(again.active).toBe(true);
    expect(x0xNames(await scrape(b)).length).toBeGreaterThan(10);

    // OpenMetrics renames counters while it scrapes; removal still finds them.
    const open = new Registry<OpenMetricsContentType>();
    open.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    const inOpen = await registerX0xMetrics(agent, { registry: open });
    const openText = await open.metrics();
    expect(openText).toContain('# TYPE x0x_pubsub_published counter');
    expect(openText).toContain(`x0x_pubsub_published_total{agent="${agent.agentId}"} 0`);
    expect(openText).toContain('# TYPE x0x_pubsub_delivery_latency_seconds histogram');
    expect(openText).toContain(`x0x_pubsub_delivery_latency_seconds_bucket{agent="${agent.agentId}",le="+Inf"} 0`);
    inOpen.unregister();
    expect(open.getMetricsAsArray()).toStrictEqual([]);

    await expect(registerX0xMetrics(agent, { registry: a, prefix: 'bad-prefix' })).rejects.toMatchObject({
      code: 'ERR_X0X_INVALID_CONFIG',
      field: 'prefix',
    });
    // An option of the wrong type is a bad option like a bad value, named by
    // its field; only options that are not an object at all are a TypeError.
    const wrongTypes: [unknown, string][] = [
      [{ registry: {} }, 'registry'],
      [{ registry: a, prefix: 5 }, 'prefix'],
      [{ registry: a, agentLabel: true }, 'agentLabel'],
      [{ registry: a, labels: 'app' }, 'labels'],
      [{ registry: a, labels: { app: 1 } }, 'labels'],
    ];
    for (const [options, field] of wrongTypes) {
      await expect(registerX0xMetrics(agent, options as never)).rejects.toMatchObject({ code: 'ERR_X0X_INVALID_CONFIG', field });
    }
    await expect(registerX0xMetrics(agent, 'app' as never)).rejects.toBeInstanceOf(TypeError);
    await net.close();
    expect(again.active).toBe(false);
    expect(b.getMetricsAsArray()).toStrictEqual([]);
    await expect(registerX0xMetrics(agent, { registry: a })).rejects.toBeInstanceOf(ClosedError);
    expect(a.getMetricsAsArray()).toStrictEqual([]);
  });

  it('adds a family x0x starts reporting later, from the next scrape on', async () => {
    await using net = await createTestnet(2);
    const [first, second] = net.agents as [Agent, Agent];
    const registry = new Registry();
    await registerX0xMetrics(second, { registry });
    const CLOSED = 'x0x_transport_connections_closed_total';
    expect((await scrape(registry)).has(CLOSED)).toBe(false);
    await first.close();
    // The family exists once the first connection closed, for some reason.
    const deadline = Date.now() + 20_000;
    while (!parseExposition(await second.metrics()).has(CLOSED)) {
      if (Date.now() > deadline) throw new Error(`${CLOSED} never appeared`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await scrape(registry); // sees the family, registers it
    const [fromRegistry, own] = await Promise.all([scrape(registry), second.metrics().then(parseExposition)]);
    expect(fromRegistry.get(CLOSED)?.type).toBe('counter');
    const total = (family: ParsedFamily | undefined): number =>
      (family?.samples ?? []).reduce((sum, sample) => sum + sample.value, 0);
    expect(total(fromRegistry.get(CLOSED))).toBe(total(own.get(CLOSED)));
    expect(total(fromRegistry.get(CLOSED))).toBeGreaterThan(0);
  });

  it('throws ERR_X0X_PEER_DEPENDENCY_MISSING where prom-client is not installed', () => {
    // The built entry point, copied outside this package so no node_modules
    // above it holds prom-client.
    const built = path.join(ROOT, 'dist', 'cjs', 'prom-client.js');
    if (!existsSync(built)) throw new Error(`${built} is missing: run \`npm run build:ts\` first (npm test does)`);
    const dir = mkdtempSync(path.join(tmpdir(), 'x0x-no-prom-'));
    try {
      cpSync(path.join(ROOT, 'dist', 'cjs'), path.join(dir, 'cjs'), { recursive: true });
      const load = createRequire(path.join(dir, 'cjs', 'index.js'));
      let thrown: unknown;
      try {
        load('./prom-client.js');
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toMatchObject({
        code: 'ERR_X0X_PEER_DEPENDENCY_MISSING',
        name: 'PeerDependencyMissingError',
        dependency: 'prom-client',
      });
      expect((thrown as Error).message).toContain('npm install prom-client');
      // The copy's own classes: the error is one of the package's.
      const { PeerDependencyMissingError, X0xError } = load('./errors.js') as typeof import('../../src/errors.js');
      expect(thrown).toBeInstanceOf(PeerDependencyMissingError);
      expect(thrown).toBeInstanceOf(X0xError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
