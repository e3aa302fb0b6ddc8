/**
 * What `agent.metrics()` reports: the counters, gauges and histograms the
 * managers already keep, renamed to Prometheus conventions
 * (`x0x_<subsystem>_…`, counters as `_total`, one family with a `reason`,
 * `direction` or `method` label where the stats split one quantity several
 * ways).
 *
 * Nothing here is measured anew: every sample is a field of a `stats()`
 * object, the pub/sub manager's delivery latency histogram, the transport's
 * connection counts, or one of the native transport diagnostics listed in
 * {@link TRANSPORT_DIAGNOSTICS}. A diagnostic the addon does not report is
 * left out rather than shown as 0, because those names are not a stable set.
 *
 * @module
 */

import type { Agent } from './agent.js';
import type { AntiEntropyStats } from './anti-entropy.js';
import { coreOf } from './core-registry.js';
import type { DiscoveryStats } from './discovery.js';
import { callNativeSync } from './errors.js';
import type { MembershipStats } from './membership.js';
import type { HistogramSample, MetricFamily, MetricSample, ScalarFamily } from './prometheus.js';
import type { PresenceStats } from './presence.js';
import type { PubSubStats } from './pubsub.js';
import type { RecordStats } from './records.js';
import type { RendezvousStats } from './rendezvous.js';
import type { TransportStats } from './transport.js';

/** Every figure `agent.metrics()` reads, taken at one moment. */
export interface AgentStatsSnapshot {
  readonly pubsub: PubSubStats;
  /** `pubsub.deliveryLatency()`: seconds from publish to delivery, of messages from other agents. */
  readonly deliveryLatency: HistogramSample;
  readonly membership: MembershipStats;
  readonly antiEntropy: AntiEntropyStats;
  readonly presence: PresenceStats;
  readonly coordinators: RecordStats;
  readonly discovery: DiscoveryStats;
  readonly rendezvous: RendezvousStats;
  /** Peers with an open QUIC connection. */
  readonly connectedPeers: number;
  /** `transport.stats()`: connections opened since start, by how each was made. */
  readonly connections: TransportStats;
  /** The addon's diagnostic counters by name (`transport.framesIn`, …). */
  readonly diagnostics: Readonly<Record<string, number>>;
}

/** One native diagnostic exported as a transport metric. */
export interface TransportDiagnostic {
  /** Its name in the addon's `diagnostics()`. */
  readonly diagnostic: string;
  readonly name: string;
  readonly type: ScalarType;
  readonly help: string;
  /** The label it carries in a family it shares with other diagnostics. */
  readonly label?: readonly [name: string, value: string];
}

type ScalarType = ScalarFamily['type'];

function diag(
  diagnostic: string,
  name: string,
  type: ScalarType,
  help: string,
  label?: readonly [string, string],
): TransportDiagnostic {
  return label === undefined ? { diagnostic, name, type, help } : { diagnostic, name, type, help, label };
}

const FRAMES = 'x0x_transport_frames_total';
const FRAMES_HELP = 'Frames received and handed to the dispatcher, or sent successfully.';
const BYTES = 'x0x_transport_bytes_total';
const BYTES_HELP = 'Bytes of the frames counted in x0x_transport_frames_total (QUIC and UDP headers not included).';

/**
 * The native diagnostics exported as transport metrics. Plumtree's and
 * ant-quic's internal counters stay out: they explain lost messages to a
 * developer, but are not a stable vocabulary to alert on.
 */
export const TRANSPORT_DIAGNOSTICS: readonly TransportDiagnostic[] = [
  diag('transport.framesIn', FRAMES, 'counter', FRAMES_HELP, ['direction', 'in']),
  diag('transport.framesOut', FRAMES, 'counter', FRAMES_HELP, ['direction', 'out']),
  diag('transport.bytesIn', BYTES, 'counter', BYTES_HELP, ['direction', 'in']),
  diag('transport.bytesOut', BYTES, 'counter', BYTES_HELP, ['direction', 'out']),
  diag(
    'transport.framesRejected',
    'x0x_transport_frames_rejected_total',
    'counter',
    'Received frames dropped as malformed or oversized.',
  ),
  diag('transport.sendFailures', 'x0x_transport_send_failures_total', 'counter', 'Frame sends that failed.'),
  diag(
    'transport.stuckSends',
    'x0x_transport_stuck_sends_total',
    'counter',
    'Writes that did not finish in time; each closed its connection.',
  ),
  diag(
    'transport.publishesPastLagging',
    'x0x_transport_publishes_past_lagging_peers_total',
    'counter',
    'Local publishes that went ahead of peers that had taken no frame for 2 s while frames were queued for them.',
  ),
  diag('transport.disconnects', 'x0x_transport_disconnects_total', 'counter', 'Connections that went down.'),
  diag(
    'transport.replaced',
    'x0x_transport_connections_replaced_total',
    'counter',
    'Connections replaced by a newer connection to the same peer.',
  ),
  diag(
    'tasks.panicked',
    'x0x_tasks_panicked_total',
    'counter',
    'Panics caught in the agent\'s tasks: a bug in x0x; one in a loop of the agent makes it refuse further calls.',
  ),
  diag('transport.addrPeers', 'x0x_transport_address_peers', 'gauge', 'Peers with a known or claimed address (capped).'),
  diag(
    'transport.backlogBytes',
    'x0x_transport_send_backlog_bytes',
    'gauge',
    'Pub/sub bytes queued or being written, over all peers.',
  ),
];

/** Prefix of the per-reason close counters among the diagnostics. */
const CLOSED_PREFIX = 'transport.closed.';

type Family = ScalarFamily & { samples: MetricSample[] };

function one(name: string, type: ScalarType, help: string, value: number): Family {
  return { name, type, help, samples: [{ value }] };
}

function counter(name: string, help: string, value: number): Family {
  return one(name, 'counter', help, value);
}

function gauge(name: string, help: string, value: number): Family {
  return one(name, 'gauge', help, value);
}

function split(
  name: string,
  type: ScalarType,
  help: string,
  label: string,
  values: Readonly<Record<string, number>>,
): Family {
  return {
    name,
    type,
    help,
    samples: Object.entries(values).map(([key, value]) => ({ labels: { [label]: key }, value })),
  };
}

function pubsubFamilies(s: PubSubStats, latency: HistogramSample): MetricFamily[] {
  return [
    counter('x0x_pubsub_published_total', 'Messages this agent published.', s.published),
    counter(
      'x0x_pubsub_delivered_total',
      'Deliveries to local subscriptions (one message to two subscriptions counts two).',
      s.delivered,
    ),
    split('x0x_pubsub_dropped_total', 'counter', 'Received messages dropped, by reason.', 'reason', {
      duplicate: s.duplicatesDropped,
      invalid: s.invalidDropped,
      oversized: s.oversizedDropped,
      stale: s.staleDropped,
      lagged: s.laggedDropped,
    }),
    gauge('x0x_pubsub_dedup_cache_ids', 'Message ids held in the de-duplication cache.', s.cacheSize),
    {
      // Buckets: DELIVERY_LATENCY_BOUNDS_MS (histogram.ts), 1 ms to 10 s.
      name: 'x0x_pubsub_delivery_latency_seconds',
      type: 'histogram',
      help:
        "Seconds from publish (the publisher's clock) to delivery (this agent's clock) of messages from other " +
        'agents, one per message a subscription handed to its reader; clock skew that makes it negative counts as 0.',
      samples: [latency],
    },
  ];
}

function membershipFamilies(s: MembershipStats): Family[] {
  return [
    split('x0x_membership_view_peers', 'gauge', 'Peers in the HyParView views.', 'view', {
      active: s.activeViewSize,
      passive: s.passiveViewSize,
    }),
    counter('x0x_membership_probes_sent_total', 'SWIM probes (direct and indirect) sent.', s.probesSent),
    counter('x0x_membership_suspicions_total', 'Active peers SWIM suspected.', s.suspicions),
    split('x0x_membership_peers_left_total', 'counter', 'Active peers lost, by how they left.', 'reason', {
      failed: s.confirmedFailures,
      graceful: s.gracefulLeaves,
    }),
    counter('x0x_membership_refills_total', 'Passive peers promoted to replace failed ones.', s.refills),
  ];
}

function antiEntropyFamilies(s: AntiEntropyStats): Family[] {
  return [
    counter('x0x_anti_entropy_rounds_total', 'Anti-entropy rounds completed.', s.rounds),
    counter(
      'x0x_anti_entropy_messages_recovered_total',
      'Messages recovered by anti-entropy and delivered for the first time.',
      s.messagesRecovered,
    ),
    counter('x0x_anti_entropy_messages_pushed_total', 'Messages pushed to peers that lacked them.', s.messagesPushed),
    counter(
      'x0x_anti_entropy_differences_found_total',
      'Message ids found held by only one side.',
      s.differencesFound,
    ),
    split('x0x_anti_entropy_bytes_total', 'counter', 'Anti-entropy bytes, by direction.', 'direction', {
      sent: s.bytesSent,
      received: s.bytesReceived,
    }),
    counter(
      'x0x_anti_entropy_malformed_frames_total',
      'Anti-entropy frames dropped as malformed, oversized or unsolicited.',
      s.malformedFrames,
    ),
    counter(
      'x0x_anti_entropy_failed_sessions_total',
      'Sessions abandoned because a peer did not answer or broke the protocol.',
      s.failedSessions,
    ),
    gauge('x0x_anti_entropy_store_messages', 'Messages held for peers.', s.storeSize),
  ];
}

function presenceFamilies(s: PresenceStats): Family[] {
  return [
    counter('x0x_presence_beacons_sent_total', 'Presence beacons this agent flooded.', s.beaconsSent),
    counter('x0x_presence_beacons_received_total', 'Beacons of other agents accepted.', s.beaconsReceived),
    split('x0x_presence_beacons_dropped_total', 'counter', 'Beacons dropped, by reason.', 'reason', {
      replay: s.replaysDropped,
      invalid: s.invalidDropped,
      undecryptable: s.decryptFailures,
      plaintext: s.plaintextIgnored,
      full: s.fullDropped,
    }),
    split('x0x_presence_relay_dropped_total', 'counter', 'Flood frames this agent refused to relay, by reason.', 'reason', {
      rate_limited: s.relayRateLimited,
      invalid: s.relayInvalid,
    }),
    gauge('x0x_presence_online_agents', 'Agents seen online now.', s.online),
  ];
}

function coordinatorFamilies(s: RecordStats): Family[] {
  return [
    counter('x0x_coordinator_adverts_accepted_total', 'Coordinator adverts accepted.', s.accepted),
    split(
      'x0x_coordinator_adverts_rejected_total',
      'counter',
      'Coordinator adverts rejected, by reason.',
      'reason',
      s.rejected,
    ),
  ];
}

function discoveryFamilies(s: DiscoveryStats): Family[] {
  return [
    counter('x0x_discovery_queries_started_total', 'FOAF queries this agent started.', s.queriesStarted),
    counter('x0x_discovery_queries_handled_total', "Other agents' FOAF queries handled.", s.queriesHandled),
    counter('x0x_discovery_queries_forwarded_total', 'FOAF query frames sent or forwarded.', s.queriesForwarded),
    split('x0x_discovery_replies_total', 'counter', 'FOAF answers, by what this agent did with them.', 'kind', {
      sent: s.repliesSent,
      relayed: s.repliesRelayed,
      accepted: s.answersAccepted,
    }),
    split('x0x_discovery_dropped_total', 'counter', 'FOAF frames dropped, by reason.', 'reason', {
      duplicate: s.duplicatesDropped,
      malformed: s.malformedDropped,
      bad_record: s.badRecordsDropped,
      unroutable: s.unroutableReplies,
      overloaded: s.overloadedDropped,
    }),
  ];
}

function rendezvousFamilies(s: RendezvousStats): Family[] {
  return [
    gauge('x0x_rendezvous_records_held', 'Rendezvous records this agent holds for others.', s.recordsHeld),
    counter('x0x_rendezvous_stores_accepted_total', 'Records accepted as a holder.', s.storesAccepted),
    split('x0x_rendezvous_stores_rejected_total', 'counter', 'Records refused as a holder, by reason.', 'reason', {
      invalid: s.invalidRejected,
      stale: s.staleRejected,
      full: s.fullRejected,
    }),
    counter('x0x_rendezvous_lookups_served_total', 'Lookups answered as a holder.', s.lookupsServed),
    counter('x0x_rendezvous_requests_sent_total', 'Requests sent to holders.', s.requestsSent),
    counter('x0x_rendezvous_answers_received_total', "Holders' answers that arrived in time.", s.answersReceived),
    counter(
      'x0x_rendezvous_malformed_dropped_total',
      'Rendezvous frames that did not decode, and answers nobody waited for.',
      s.malformedDropped,
    ),
  ];
}

function transportFamilies(
  connectedPeers: number,
  connections: TransportStats,
  diagnostics: Readonly<Record<string, number>>,
): Family[] {
  const families = new Map<string, Family>();
  const add = (name: string, type: ScalarType, help: string, sample: MetricSample): void => {
    let family = families.get(name);
    if (family === undefined) {
      family = { name, type, help, samples: [] };
      families.set(name, family);
    }
    family.samples.push(sample);
  };
  add('x0x_transport_connected_peers', 'gauge', 'Peers with an open QUIC connection.', { value: connectedPeers });
  const opened = split(
    'x0x_transport_connections_opened_total',
    'counter',
    'QUIC connections opened since start, by how each was made.',
    'method',
    { direct: connections.direct, holepunched: connections.holepunched, relayed: connections.relayed },
  );
  families.set(opened.name, opened);
  for (const d of TRANSPORT_DIAGNOSTICS) {
    const value = diagnostics[d.diagnostic];
    if (value === undefined) continue;
    add(d.name, d.type, d.help, d.label === undefined ? { value } : { labels: { [d.label[0]]: d.label[1] }, value });
  }
  for (const [key, value] of Object.entries(diagnostics)) {
    if (!key.startsWith(CLOSED_PREFIX)) continue;
    add('x0x_transport_connections_closed_total', 'counter', 'Closed QUIC connections, by close reason.', {
      labels: { reason: key.slice(CLOSED_PREFIX.length) },
      value,
    });
  }
  return [...families.values()];
}

/**
 * The metric families of one agent, in a fixed order (by subsystem).
 *
 * @internal
 */
export function agentMetricFamilies(s: AgentStatsSnapshot): MetricFamily[] {
  return [
    ...pubsubFamilies(s.pubsub, s.deliveryLatency),
    ...membershipFamilies(s.membership),
    ...antiEntropyFamilies(s.antiEntropy),
    ...presenceFamilies(s.presence),
    ...coordinatorFamilies(s.coordinators),
    ...discoveryFamilies(s.discovery),
    ...rendezvousFamilies(s.rendezvous),
    ...transportFamilies(s.connectedPeers, s.connections, s.diagnostics),
  ];
}

/**
 * Reads every figure of `agent` now and returns its metric families: what
 * `agent.metrics()` formats, and what `@x0x/node/prom-client` hands to a
 * prom-client registry, so the two never disagree on a name or a value.
 *
 * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
 * @internal
 */
export async function collectAgentMetricFamilies(agent: Agent): Promise<MetricFamily[]> {
  const native = coreOf(agent).use();
  const membership = agent.membership.stats();
  const peers = await agent.transport.connectedPeers();
  return agentMetricFamilies({
    pubsub: agent.pubsub.stats(),
    deliveryLatency: agent.pubsub.deliveryLatency(),
    membership,
    antiEntropy: agent.antiEntropy.stats(),
    presence: agent.presence.stats(),
    coordinators: agent.coordinators.stats(),
    discovery: agent.discovery.stats(),
    rendezvous: agent.rendezvous.stats(),
    connectedPeers: peers.length,
    connections: agent.transport.stats(),
    diagnostics: callNativeSync(() => native.diagnostics()),
  });
}
