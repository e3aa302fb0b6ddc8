// The Prometheus formatter and the agent metric set, without the addon:
// what a scrape of `agent.metrics()` looks like for known stats, and how the
// delivery latency histogram buckets what it observes.
import { describe, expect, it } from 'vitest';

import { DELIVERY_LATENCY_BOUNDS_MS, MillisecondsHistogram } from '../../src/histogram.js';
import { agentMetricFamilies, type AgentStatsSnapshot } from '../../src/metrics.js';
import { formatExposition, PROMETHEUS_CONTENT_TYPE, type HistogramFamily } from '../../src/prometheus.js';
import { ExpositionError, histogramBuckets, parseExposition, sampleValue } from '../helpers/prometheus-parser.js';

/** Distinct values everywhere, so a field wired to the wrong metric shows. */
function snapshot(diagnostics: Record<string, number> = {}): AgentStatsSnapshot {
  return {
    pubsub: {
      published: 1,
      delivered: 2,
      duplicatesDropped: 3,
      invalidDropped: 4,
      oversizedDropped: 5,
      staleDropped: 6,
      laggedDropped: 7,
      cacheSize: 8,
    },
    deliveryLatency: {
      buckets: [
        { le: 0.001, count: 64 },
        { le: 0.01, count: 65 },
      ],
      count: 67,
      sum: 0.5,
    },
    membership: {
      activeViewSize: 9,
      passiveViewSize: 10,
      probesSent: 11,
      suspicions: 12,
      confirmedFailures: 13,
      gracefulLeaves: 14,
      refills: 15,
    },
    antiEntropy: {
      rounds: 16,
      messagesRecovered: 17,
      messagesPushed: 18,
      differencesFound: 19,
      bytesSent: 20,
      bytesReceived: 21,
      malformedFrames: 22,
      failedSessions: 23,
      storeSize: 24,
    },
    presence: {
      beaconsSent: 25,
      beaconsReceived: 26,
      replaysDropped: 27,
      invalidDropped: 28,
      decryptFailures: 29,
      plaintextIgnored: 30,
      fullDropped: 62,
      online: 31,
      relayRateLimited: 48,
      relayInvalid: 49,
    },
    coordinators: {
      accepted: 32,
      rejected: {
        malformed: 33,
        'wrong-kind': 34,
        'signer-mismatch': 35,
        'bad-signature': 36,
        expired: 37,
        'from-future': 38,
        replayed: 39,
        'too-long': 63,
        full: 61,
      },
    },
    discovery: {
      queriesStarted: 40,
      queriesHandled: 41,
      queriesForwarded: 42,
      duplicatesDropped: 43,
      repliesSent: 44,
      repliesRelayed: 45,
      answersAccepted: 46,
      malformedDropped: 47,
      badRecordsDropped: 48,
      unroutableReplies: 49,
      overloadedDropped: 50,
      seenSent: 70,
      revisitsRedirected: 71,
    },
    rendezvous: {
      recordsHeld: 51,
      storesAccepted: 52,
      invalidRejected: 53,
      staleRejected: 54,
      fullRejected: 55,
      lookupsServed: 56,
      requestsSent: 57,
      answersReceived: 58,
      malformedDropped: 59,
    },
    connectedPeers: 60,
    connections: { direct: 72, holepunched: 73, relayed: 74, holepunchedByCoordination: 75 },
    diagnostics,
  };
}

describe('formatExposition', () => {
  it('writes HELP, TYPE and samples that a strict parser reads back', () => {
    const text = formatExposition([
      { name: 'x0x_a_total', help: 'A count.', type: 'counter', samples: [{ value: 3 }] },
      {
        name: 'x0x_b',
        help: 'Back\\slash and\nnewline.',
        type: 'gauge',
        samples: [
          { labels: { kind: 'quote " and \\ and \n' }, value: 1.5 },
          { labels: { kind: 'plain' }, value: NaN },
        ],
      },
    ]);
    expect(text).toBe(
      [
        '# HELP x0x_a_total A count.',
        '# TYPE x0x_a_total counter',
        'x0x_a_total 3',
        '# HELP x0x_b Back\\\\slash and\\nnewline.',
        '# TYPE x0x_b gauge',
        'x0x_b{kind="quote \\" and \\\\ and \\n"} 1.5',
        'x0x_b{kind="plain"} NaN',
        '',
      ].join('\n'),
    );
    const parsed = parseExposition(text);
    expect(parsed.get('x0x_b')?.help).toBe('Back\\slash and\nnewline.');
    expect(sampleValue(parsed, 'x0x_b', { kind: 'quote " and \\ and \n' })).toBe(1.5);
    expect(sampleValue(parsed, 'x0x_a_total')).toBe(3);
  });

  it('refuses output a Prometheus server would reject', () => {
    const bad = (family: Parameters<typeof formatExposition>[0][number]) => () => formatExposition([family]);
    expect(bad({ name: 'x0x_count', help: '', type: 'counter', samples: [] })).toThrow(TypeError);
    expect(bad({ name: '0x0', help: '', type: 'gauge', samples: [] })).toThrow(TypeError);
    expect(bad({ name: 'x0x_c_total', help: '', type: 'counter', samples: [{ value: -1 }] })).toThrow(TypeError);
    expect(bad({ name: 'x0x_g', help: '', type: 'gauge', samples: [{ labels: { __x: 'a' }, value: 1 }] })).toThrow(
      TypeError,
    );
    expect(bad({ name: 'x0x_g', help: '', type: 'gauge', samples: [{ labels: { 'a-b': 'a' }, value: 1 }] })).toThrow(
      TypeError,
    );
    const twice = { name: 'x0x_g', help: '', type: 'gauge', samples: [] } as const;
    expect(() => formatExposition([twice, twice])).toThrow(TypeError);
  });

  it('writes a histogram as cumulative buckets, +Inf, _sum and _count per series', () => {
    const family: HistogramFamily = {
      name: 'x0x_h_seconds',
      help: 'A histogram.',
      type: 'histogram',
      samples: [
        {
          labels: { kind: 'a' },
          buckets: [
            { le: 0.001, count: 1 },
            { le: 2.5, count: 3 },
          ],
          count: 4,
          sum: 12.25,
        },
      ],
    };
    const text = formatExposition([family]);
    expect(text).toBe(
      [
        '# HELP x0x_h_seconds A histogram.',
        '# TYPE x0x_h_seconds histogram',
        'x0x_h_seconds_bucket{kind="a",le="0.001"} 1',
        'x0x_h_seconds_bucket{kind="a",le="2.5"} 3',
        'x0x_h_seconds_bucket{kind="a",le="+Inf"} 4',
        'x0x_h_seconds_sum{kind="a"} 12.25',
        'x0x_h_seconds_count{kind="a"} 4',
        '',
      ].join('\n'),
    );
    const parsed = parseExposition(text);
    expect(histogramBuckets(parsed, 'x0x_h_seconds', { kind: 'a' })).toStrictEqual([
      [0.001, 1],
      [2.5, 3],
      [Infinity, 4],
    ]);
    expect(sampleValue(parsed, 'x0x_h_seconds_count', { kind: 'a' })).toBe(4);
  });

  it('refuses a histogram a Prometheus server would misread', () => {
    const histogram = (sample: HistogramFamily['samples'][number], name = 'x0x_h'): (() => string) => () =>
      formatExposition([{ name, help: '', type: 'histogram', samples: [sample] }]);
    const ok = { buckets: [{ le: 1, count: 1 }], count: 1, sum: 1 };
    expect(histogram(ok)()).toContain('x0x_h_bucket{le="+Inf"} 1');
    expect(histogram({ ...ok, labels: { le: '1' } })).toThrow(TypeError);
    expect(histogram({ ...ok, buckets: [{ le: 2, count: 0 }, { le: 1, count: 1 }] })).toThrow(TypeError);
    expect(histogram({ ...ok, buckets: [{ le: 1, count: 1 }, { le: 1, count: 1 }] })).toThrow(TypeError);
    expect(histogram({ ...ok, buckets: [{ le: 1, count: 1 }, { le: 2, count: 0 }] })).toThrow(TypeError);
    expect(histogram({ ...ok, buckets: [{ le: Infinity, count: 1 }] })).toThrow(TypeError);
    expect(histogram({ ...ok, count: 0 })).toThrow(TypeError);
    expect(histogram({ ...ok, sum: NaN })).toThrow(TypeError);
    expect(histogram(ok, 'x0x-h')).toThrow(TypeError);
    // Its sample names are taken: a gauge of one of them is a second definition.
    expect(() =>
      formatExposition([
        { name: 'x0x_h', help: '', type: 'histogram', samples: [ok] },
        { name: 'x0x_h_count', help: '', type: 'gauge', samples: [] },
      ]),
    ).toThrow(TypeError);
  });

  it('names the content type of exposition format 0.0.4', () => {
    expect(PROMETHEUS_CONTENT_TYPE).toBe('text/plain; version=0.0.4; charset=utf-8');
  });
});

describe('the parser used by the tests is strict', () => {
  it.each([
    ['a sample before its TYPE', 'x0x_a 1\n'],
    ['a repeated sample', '# TYPE x0x_a gauge\nx0x_a 1\nx0x_a 2\n'],
    ['a counter not named *_total', '# TYPE x0x_a counter\nx0x_a 1\n'],
    ['a negative counter', '# TYPE x0x_a_total counter\nx0x_a_total -1\n'],
    ['a bad value', '# TYPE x0x_a gauge\nx0x_a one\n'],
    ['a bad escape', '# TYPE x0x_a gauge\nx0x_a{l="\\t"} 1\n'],
    ['no final newline', '# TYPE x0x_a gauge\nx0x_a 1'],
    ['a repeated TYPE', '# TYPE x0x_a gauge\n# TYPE x0x_a gauge\n'],
    ['a histogram without +Inf', '# TYPE x0x_h histogram\nx0x_h_bucket{le="1"} 1\nx0x_h_sum 1\nx0x_h_count 1\n'],
    [
      'a histogram whose +Inf is not its count',
      '# TYPE x0x_h histogram\nx0x_h_bucket{le="+Inf"} 2\nx0x_h_sum 1\nx0x_h_count 1\n',
    ],
    [
      'histogram buckets that decrease',
      '# TYPE x0x_h histogram\nx0x_h_bucket{le="1"} 2\nx0x_h_bucket{le="+Inf"} 1\nx0x_h_sum 1\nx0x_h_count 1\n',
    ],
    ['a histogram bucket without le', '# TYPE x0x_h histogram\nx0x_h_bucket 1\nx0x_h_sum 1\nx0x_h_count 1\n'],
    ['a histogram without _sum', '# TYPE x0x_h histogram\nx0x_h_bucket{le="+Inf"} 1\nx0x_h_count 1\n'],
    ['a histogram sample without a suffix', '# TYPE x0x_h histogram\nx0x_h 1\n'],
  ])('rejects %s', (_, text) => {
    expect(() => parseExposition(text)).toThrow(ExpositionError);
  });
});

describe('agent metric families', () => {
  it('carries every stats() field under its x0x_* name, and nothing else but the diagnostics', () => {
    const m = parseExposition(formatExposition(agentMetricFamilies(snapshot())));
    const expected: [string, Record<string, string>, number][] = [
      ['x0x_pubsub_published_total', {}, 1],
      ['x0x_pubsub_delivered_total', {}, 2],
      ['x0x_pubsub_dropped_total', { reason: 'duplicate' }, 3],
      ['x0x_pubsub_dropped_total', { reason: 'invalid' }, 4],
      ['x0x_pubsub_dropped_total', { reason: 'oversized' }, 5],
      ['x0x_pubsub_dropped_total', { reason: 'stale' }, 6],
      ['x0x_pubsub_dropped_total', { reason: 'lagged' }, 7],
      ['x0x_pubsub_dedup_cache_ids', {}, 8],
      ['x0x_membership_view_peers', { view: 'active' }, 9],
      ['x0x_membership_view_peers', { view: 'passive' }, 10],
      ['x0x_membership_probes_sent_total', {}, 11],
      ['x0x_membership_suspicions_total', {}, 12],
      ['x0x_membership_peers_left_total', { reason: 'failed' }, 13],
      ['x0x_membership_peers_left_total', { reason: 'graceful' }, 14],
      ['x0x_membership_refills_total', {}, 15],
      ['x0x_anti_entropy_rounds_total', {}, 16],
      ['x0x_anti_entropy_messages_recovered_total', {}, 17],
      ['x0x_anti_entropy_messages_pushed_total', {}, 18],
      ['x0x_anti_entropy_differences_found_total', {}, 19],
      ['x0x_anti_entropy_bytes_total', { direction: 'sent' }, 20],
      ['x0x_anti_entropy_bytes_total', { direction: 'received' }, 21],
      ['x0x_anti_entropy_malformed_frames_total', {}, 22],
      ['x0x_anti_entropy_failed_sessions_total', {}, 23],
      ['x0x_anti_entropy_store_messages', {}, 24],
      ['x0x_presence_beacons_sent_total', {}, 25],
      ['x0x_presence_beacons_received_total', {}, 26],
      ['x0x_presence_beacons_dropped_total', { reason: 'replay' }, 27],
      ['x0x_presence_beacons_dropped_total', { reason: 'invalid' }, 28],
      ['x0x_presence_beacons_dropped_total', { reason: 'undecryptable' }, 29],
      ['x0x_presence_beacons_dropped_total', { reason: 'plaintext' }, 30],
      ['x0x_presence_beacons_dropped_total', { reason: 'full' }, 62],
      ['x0x_presence_online_agents', {}, 31],
      ['x0x_presence_relay_dropped_total', { reason: 'rate_limited' }, 48],
      ['x0x_presence_relay_dropped_total', { reason: 'invalid' }, 49],
      ['x0x_coordinator_adverts_accepted_total', {}, 32],
      ['x0x_coordinator_adverts_rejected_total', { reason: 'malformed' }, 33],
      ['x0x_coordinator_adverts_rejected_total', { reason: 'replayed' }, 39],
      ['x0x_coordinator_adverts_rejected_total', { reason: 'full' }, 61],
      ['x0x_discovery_queries_started_total', {}, 40],
      ['x0x_discovery_queries_handled_total', {}, 41],
      ['x0x_discovery_queries_forwarded_total', {}, 42],
      ['x0x_discovery_dropped_total', { reason: 'duplicate' }, 43],
      ['x0x_discovery_replies_total', { kind: 'sent' }, 44],
      ['x0x_discovery_replies_total', { kind: 'relayed' }, 45],
      ['x0x_discovery_replies_total', { kind: 'accepted' }, 46],
      ['x0x_discovery_dropped_total', { reason: 'malformed' }, 47],
      ['x0x_discovery_dropped_total', { reason: 'bad_record' }, 48],
      ['x0x_discovery_dropped_total', { reason: 'unroutable' }, 49],
      ['x0x_discovery_dropped_total', { reason: 'overloaded' }, 50],
      ['x0x_rendezvous_records_held', {}, 51],
      ['x0x_rendezvous_stores_accepted_total', {}, 52],
      ['x0x_rendezvous_stores_rejected_total', { reason: 'invalid' }, 53],
      ['x0x_rendezvous_stores_rejected_total', { reason: 'stale' }, 54],
      ['x0x_rendezvous_stores_rejected_total', { reason: 'full' }, 55],
      ['x0x_rendezvous_lookups_served_total', {}, 56],
      ['x0x_rendezvous_requests_sent_total', {}, 57],
      ['x0x_rendezvous_answers_received_total', {}, 58],
      ['x0x_rendezvous_malformed_dropped_total', {}, 59],
      ['x0x_transport_connected_peers', {}, 60],
      ['x0x_transport_connections_opened_total', { method: 'direct' }, 72],
      ['x0x_transport_connections_opened_total', { method: 'holepunched' }, 73],
      ['x0x_transport_connections_opened_total', { method: 'relayed' }, 74],
      ['x0x_pubsub_delivery_latency_seconds_bucket', { le: '0.001' }, 64],
      ['x0x_pubsub_delivery_latency_seconds_bucket', { le: '0.01' }, 65],
      ['x0x_pubsub_delivery_latency_seconds_bucket', { le: '+Inf' }, 67],
      ['x0x_pubsub_delivery_latency_seconds_sum', {}, 0.5],
      ['x0x_pubsub_delivery_latency_seconds_count', {}, 67],
    ];
    for (const [name, labels, value] of expected) expect(sampleValue(m, name, labels), name).toBe(value);
    expect(m.get('x0x_pubsub_delivery_latency_seconds')?.type).toBe('histogram');
    expect(m.get('x0x_transport_connections_opened_total')?.type).toBe('counter');
    const samples = [...m.values()].reduce((n, f) => n + f.samples.length, 0);
    // Those listed above plus the six coordinator reasons not listed one by one
    // (holepunchedByCoordination, a part of holepunched, is not exported).
    expect(samples).toBe(expected.length + 6);
    for (const family of m.values()) {
      expect(family.name).toMatch(/^x0x_/);
      expect(family.help.length, family.name).toBeGreaterThan(0);
    }
  });

  it('adds the known transport diagnostics that are present, and close reasons as labels', () => {
    const m = parseExposition(
      formatExposition(
        agentMetricFamilies(
          snapshot({
            'transport.framesIn': 100,
            'transport.framesOut': 101,
            'transport.sendFailures': 102,
            'transport.closed.TimedOut': 103,
            'transport.closed.ApplicationClosed': 104,
            'plumtree.eagerIn': 999,
          }),
        ),
      ),
    );
    expect(sampleValue(m, 'x0x_transport_frames_total', { direction: 'in' })).toBe(100);
    expect(sampleValue(m, 'x0x_transport_frames_total', { direction: 'out' })).toBe(101);
    expect(sampleValue(m, 'x0x_transport_send_failures_total')).toBe(102);
    expect(sampleValue(m, 'x0x_transport_connections_closed_total', { reason: 'TimedOut' })).toBe(103);
    expect(sampleValue(m, 'x0x_transport_connections_closed_total', { reason: 'ApplicationClosed' })).toBe(104);
    // Absent diagnostics are left out, not reported as 0; internal ones never appear.
    expect(m.has('x0x_transport_disconnects_total')).toBe(false);
    expect([...m.values()].some((f) => f.samples.some((s) => s.value === 999))).toBe(false);
  });
});

describe('the delivery latency histogram', () => {
  it('has fixed bounds from 1 ms to 10 s, reported in seconds', () => {
    expect(DELIVERY_LATENCY_BOUNDS_MS).toStrictEqual([1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000]);
    const les = new MillisecondsHistogram(DELIVERY_LATENCY_BOUNDS_MS).snapshot().buckets.map((b) => b.le);
    expect(les).toStrictEqual([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
    expect(() => new MillisecondsHistogram([1, 1])).toThrow(TypeError);
    expect(() => new MillisecondsHistogram([1, Infinity])).toThrow(TypeError);
  });

  it('counts a value at a bound in that bucket, just above it in the next, beyond the last in +Inf', () => {
    const h = new MillisecondsHistogram([1, 10]);
    for (const ms of [0, 1, 1.5, 10, 10.001, 60_000]) h.observe(ms);
    const s = h.snapshot();
    expect(s.buckets).toStrictEqual([
      { le: 0.001, count: 2 },
      { le: 0.01, count: 4 },
    ]);
    expect(s.count).toBe(6);
    expect(s.sum).toBeCloseTo((0 + 1 + 1.5 + 10 + 10.001 + 60_000) / 1000, 9);
  });

  it('clamps negative differences (clock skew) and NaN at 0', () => {
    const h = new MillisecondsHistogram([1, 10]);
    h.observe(-250);
    h.observe(Number.NaN);
    h.observe(5);
    const s = h.snapshot();
    expect(s.buckets).toStrictEqual([
      { le: 0.001, count: 2 },
      { le: 0.01, count: 3 },
    ]);
    expect(s.sum).toBe(0.005);
    expect(s.count).toBe(3);
  });

  it('hands out snapshots that later observations do not change, and formats them', () => {
    const h = new MillisecondsHistogram(DELIVERY_LATENCY_BOUNDS_MS);
    h.observe(3);
    const first = h.snapshot();
    h.observe(20_000);
    expect(first.count).toBe(1);
    expect(h.snapshot().count).toBe(2);
    const text = formatExposition([{ name: 'x0x_l_seconds', help: 'L.', type: 'histogram', samples: [h.snapshot()] }]);
    const parsed = parseExposition(text);
    expect(sampleValue(parsed, 'x0x_l_seconds_bucket', { le: '0.0025' })).toBe(0);
    expect(sampleValue(parsed, 'x0x_l_seconds_bucket', { le: '0.005' })).toBe(1);
    expect(sampleValue(parsed, 'x0x_l_seconds_bucket', { le: '10' })).toBe(1);
    expect(sampleValue(parsed, 'x0x_l_seconds_bucket', { le: '+Inf' })).toBe(2);
    expect(sampleValue(parsed, 'x0x_l_seconds_sum')).toBe(20.003);
  });
});
