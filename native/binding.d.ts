/**
 * Contract of the compiled addon (`crates/x0x-napi`). The TypeScript facade in
 * `src/` is the only consumer; users never see these names.
 *
 * Every rejection/throw from the addon is a plain `Error` whose `code`
 * property is a stable `ERR_X0X_*` code (with the variant's fields, `size`
 * and `limit` or `field`, as properties; see crates/x0x-napi/src/errors.rs).
 * `src/errors.ts` turns those into typed `X0xError` subclasses by `code`,
 * never by parsing the message.
 */

/** Numbers are milliseconds where they are durations. Already validated by TS. */
export interface NativeConfig {
  activeViewSize: number;
  passiveViewSize: number;
  probeIntervalMs: number;
  suspectTimeoutMs: number;
  messageCacheSize: number;
  messageCacheTtlMs: number;
  antiEntropyIntervalMs: number;
  /** Hops a FOAF query may travel, 1..=10. */
  foafTtl: number;
  /** Neighbours each FOAF hop forwards to, 1..=16. */
  foafFanout: number;
  /** Messages one subscription buffers for a slow reader, 1..=1000000. */
  subscriptionBuffer: number;
}

export interface NativeAgentOptions {
  /** "ip:port", e.g. "127.0.0.1:0". */
  bindAddr: string;
  config: NativeConfig;
  /** Directory for the per-agent bootstrap cache; omitted = in-memory cache. */
  dataDir?: string;
  /** "ip:port" addresses to advertise instead of the ones found; ERR_X0X_BAD_ADDRESS for port 0 or a wildcard host. */
  announceAddrs?: string[];
  /** Ask the router for a port mapping (UPnP); omitted = off. */
  upnp?: boolean;
}

export declare class NativeKeypair {
  static generate(): NativeKeypair;
  /** Throws ERR_X0X_BAD_KEY. */
  static fromBytes(bytes: Buffer): NativeKeypair;
  /** Throws ERR_X0X_KEY_FILE (missing, unreadable or corrupt file). */
  static load(path: string): NativeKeypair;
  /** Writes with mode 0600; throws ERR_X0X_KEY_FILE. */
  save(path: string): void;
  toBytes(): Buffer;
  /** 32-byte agent id, lowercase hex. */
  get agentId(): string;
  get publicKey(): Buffer;
  /** Signs a record (x0x_core::records) with this key, without an agent. */
  signRecord(kind: number, body: Buffer, timestamp: number, expiresAt: number): Buffer;
}

export interface NativeMessage {
  topic: string;
  payload: Buffer;
  /** Verified publisher agent id, hex. */
  from: string;
  /** BLAKE3 message id, hex. */
  id: string;
  /** Publisher's clock, ms since epoch. */
  publishedAt: number;
  /** Local clock at delivery, ms since epoch. */
  receivedAt: number;
}

/**
 * What every event stream hands out in place of the events a slow reader
 * lost (the variant `Lagged { missed }` of each Rust event enum).
 */
export interface NativeLagged {
  type: 'lagged';
  /** Events dropped, oldest first, before the reader got to them. */
  missed: number;
}

/**
 * The members of every event stream class (Rust `event_stream::EventStream`
 * behind the class `event_stream_class!` declares): `next()` resolves the
 * next event, a {@link NativeLagged} after events were dropped for a slow
 * reader, or null once the stream is closed or its agent is; `close()` ends
 * the stream, a pending `next()` included, and is idempotent.
 */
export interface NativeEventStream<T> {
  next(): Promise<T | null>;
  close(): void;
}

/** A connection change, or a lag report; Rust `NativeConnectionEvent`. */
export type NativeConnectionEvent =
  | {
      type: 'connected';
      peerId: string;
      /** "ip:port" when known. */
      addr?: string;
      /** How the connection was made. */
      path: NativeConnectionPath;
      /** ms since epoch. */
      at: number;
    }
  | {
      type: 'disconnected';
      peerId: string;
      /** "ip:port" when known. */
      addr?: string;
      /** ms since epoch. */
      at: number;
    }
  | NativeLagged;

export interface NativePeer {
  peerId: string;
  addr: string;
}

/** How a connection was made, as ant-quic reports it. */
export type NativeConnectionPath = 'direct' | 'holepunched' | 'relayed';

/** A live connection; Rust `NativeConnection`. */
export interface NativeConnection {
  peerId: string;
  addr: string;
  path: NativeConnectionPath;
}

/** Connections opened since start, by how each was made. */
export interface NativeConnectionCounts {
  direct: number;
  holepunched: number;
  relayed: number;
  /** Of holepunched, those ant-quic's coordination made on this side. */
  holepunchedByCoordination: number;
}

export interface NativePubSubStats {
  published: number;
  delivered: number;
  duplicatesDropped: number;
  invalidDropped: number;
  oversizedDropped: number;
  staleDropped: number;
  laggedDropped: number;
  cacheSize: number;
}

export interface NativeMembershipStats {
  activeViewSize: number;
  passiveViewSize: number;
  probesSent: number;
  suspicions: number;
  confirmedFailures: number;
  gracefulLeaves: number;
  refills: number;
}

/** Rust `NativeLeaveReason`. */
export type NativeLeaveReason = 'graceful' | 'failed' | 'demoted';

/** A membership change, or a lag report; Rust `NativeMembershipEvent`. */
export type NativeMembershipEvent =
  | { type: 'peer-joined' | 'peer-suspected'; peerId: string; addr?: string; at: number }
  | { type: 'peer-left'; peerId: string; addr?: string; reason: NativeLeaveReason; at: number }
  | NativeLagged;

/** A flooded payload, or a lag report; Rust `NativeFlood`. */
export type NativeFlood = { type: 'payload'; payload: Buffer } | NativeLagged;

/** A rendezvous holder to ask. Unparsable addresses are skipped. */
export interface NativeHolder {
  agentId: string;
  addrs: string[];
}

export interface NativeHolderReply {
  agentId: string;
  outcome: 'stored' | 'invalid' | 'stale' | 'full' | 'unreachable';
}

export interface NativeLookup {
  /** Absent when no holder had a live registration. */
  record?: NativeAddrRecord;
  /** Holders that answered in time. */
  answered: number;
  /** Answers whose record failed verification. */
  rejected: number;
}

export interface NativeRendezvousStats {
  recordsHeld: number;
  storesAccepted: number;
  invalidRejected: number;
  staleRejected: number;
  fullRejected: number;
  lookupsServed: number;
  requestsSent: number;
  answersReceived: number;
  malformedDropped: number;
}

/** A verified, signed address record (FOAF answer). */
export interface NativeAddrRecord {
  agentId: string;
  /** "ip:port" each. */
  addrs: string[];
  /** Issuer clock, ms since epoch. */
  issuedAt: number;
  /** ms since epoch. */
  expiresAt: number;
}

/** FOAF counters of one agent. */
export interface NativeFoafStats {
  queriesStarted: number;
  queriesHandled: number;
  queriesForwarded: number;
  duplicatesDropped: number;
  repliesSent: number;
  repliesRelayed: number;
  answersAccepted: number;
  malformedDropped: number;
  badRecordsDropped: number;
  unroutableReplies: number;
  overloadedDropped: number;
  seenSent: number;
  revisitsRedirected: number;
}

/** A stream of membership events; its members are {@link NativeEventStream}'s. */
export declare class NativeMembershipEvents {}
export interface NativeMembershipEvents extends NativeEventStream<NativeMembershipEvent> {}

export declare class NativeSubscription {
  /**
   * Waits for a message, then settles call `id` (see NativeCallPort) with it
   * and every message already buffered, at most `max` (at least 1): a
   * `NativeMessage[]`, or null once unsubscribed or closed. One pending call
   * at a time.
   */
  nextBatchCall(max: number, id: number): void;
  /** Stops delivery; a pending and every later call settle with null. Idempotent. */
  close(): void;
  /** Messages dropped because the subscription's buffer (subscriptionBuffer) was full. */
  dropped(): number;
}

/**
 * How the per-message calls (`publishCall`, `publishWithinCall`,
 * `nextBatchCall`) settle: each takes an id and returns at once, and the
 * agent's runtime later calls `settle(id, outcome)` on Node's thread, exactly
 * once per call, with the value or with a coded `Error`. It does not keep
 * Node running; src/native-calls.ts does while a call is pending.
 */
export declare class NativeCallPort {
  constructor(settle: (id: number, outcome: unknown) => void);
}

/** A stream of connection events; its members are {@link NativeEventStream}'s. */
export declare class NativeConnectionEvents {}
export interface NativeConnectionEvents extends NativeEventStream<NativeConnectionEvent> {}

export declare class NativeAgent {
  /** Binds the QUIC endpoint and starts the agent's own runtime. */
  static create(options: NativeAgentOptions, keypair: NativeKeypair, calls: NativeCallPort): Promise<NativeAgent>;
  get agentId(): string;
  /** Bound addresses, "ip:port", as bound (a wildcard stays a wildcard). */
  listenAddrs(): string[];
  /** What the agent advertises in its signed records, now. */
  advertisedAddrs(): string[];
  /** Live connections with how each was made. */
  connections(): Promise<NativeConnection[]>;
  /** Connections opened since start, by how each was made. */
  connectionCounts(): NativeConnectionCounts;
  /** Dials each seed and runs the HyParView JOIN. Rejects ERR_X0X_BAD_ADDRESS / ERR_X0X_JOIN_FAILED. */
  join(seeds: string[]): Promise<void>;
  subscribe(topic: string): Promise<NativeSubscription>;
  /** Connected subscribers of `topic` once there are `n`, or after `timeoutMs` with fewer. */
  waitForTopicPeers(topic: string, n: number, timeoutMs: number): Promise<string[]>;
  /**
   * Publishes; settles call `id` with the message id (hex), or with
   * ERR_X0X_PAYLOAD_TOO_LARGE / ERR_X0X_INVALID_TOPIC / ERR_X0X_CLOSED.
   */
  publishCall(topic: string, payload: Buffer, id: number): void;
  /** Publishes if the outbound backlog drains within maxWaitMs; settles call `id` with the id, or null when it did not (nothing sent). */
  publishWithinCall(topic: string, payload: Buffer, maxWaitMs: number, id: number): void;
  connectionEvents(): NativeConnectionEvents;
  connectedPeers(): Promise<NativePeer[]>;
  /** Active view with last known addresses (waits for the view lock). */
  activePeers(): Promise<NativePeer[]>;
  passivePeers(): Promise<NativePeer[]>;
  membershipEvents(): NativeMembershipEvents;
  membershipStats(): NativeMembershipStats;
  /** Runs one anti-entropy round now (after any round in progress). */
  reconcile(): Promise<NativeReconciliationStats>;
  antiEntropyStats(): NativeAntiEntropyStats;
  pubsubStats(): NativePubSubStats;
  /** Diagnostic: counters of the layers under pub/sub (transport, Plumtree, ant-quic), by name; not a stable set. */
  diagnostics(): Record<string, number>;
  /** Refuses all traffic with a peer. Throws ERR_X0X_INVALID_ARGUMENT for a malformed id. */
  blockPeer(peerId: string): Promise<void>;
  unblockPeer(peerId: string): void;
  isRunning(): boolean;
  /** Signs a record (x0x_core::records) with the agent's key. Throws ERR_X0X_PAYLOAD_TOO_LARGE for a body over 4096 bytes. */
  signRecord(kind: number, body: Buffer, timestamp: number, expiresAt: number): Buffer;
  /** Floods a payload (at most 16 KiB) to the network without naming this agent; resolves with the neighbours reached. */
  flood(payload: Buffer): Promise<number>;
  /** Payloads flooded by other agents, from now on. */
  floodPayloads(): NativeFloodPayloads;
  floodStats(): NativeFloodStats;
  /** Presence for this agent (x0x_core::presence), idle until start(). Throws ERR_X0X_INVALID_CONFIG (beaconTtlMs outside 1000..86400000) or ERR_X0X_INVALID_ARGUMENT (a group key that is not 64 hex characters). */
  presence(config: NativePresenceConfig): NativePresence;
  /** Coordinator adverts for this agent (x0x_core::coordinators), idle until start(). Throws ERR_X0X_INVALID_CONFIG (advertTtlMs outside 1000..604800000). */
  coordinators(config: NativeCoordinatorConfig): NativeCoordinators;
  /** Rendezvous for this agent (x0x_core::rendezvous): holders from `coordinators`' adverts or, with none, `presence`'s online agents. Throws ERR_X0X_INVALID_CONFIG (recordTtlMs outside 10000..86400000, replicas outside 1..16). */
  rendezvous(config: NativeRendezvousConfig, coordinators: NativeCoordinators, presence: NativePresence): NativeRendezvous;
  /** FOAF lookup; resolves null when nothing answered within timeoutMs. Rejects ERR_X0X_INVALID_ARGUMENT for a malformed id. */
  findAgent(agentId: string, timeoutMs: number): Promise<NativeAddrRecord | null>;
  /** Whether this agent answers FOAF queries for itself (on by default). */
  setAdvertise(on: boolean): void;
  /** This agent's own signed address record. */
  ownRecord(): Buffer;
  foafStats(): NativeFoafStats;
  /** Signs this agent's address record (an empty list = unregistration). Throws ERR_X0X_BAD_ADDRESS, ERR_X0X_INVALID_CONFIG (ttlMs outside 1..86400000, more than 16 addresses). */
  signAddrRecord(addrs: string[], ttlMs: number): Buffer;
  /** Sends a signed address record to every holder at once; one reply per distinct holder. */
  rendezvousStore(holders: NativeHolder[], record: Buffer, timeoutMs: number): Promise<NativeHolderReply[]>;
  /** Asks every holder for an agent's record; the newest valid one wins (no record if none, or unregistered). */
  rendezvousLookup(holders: NativeHolder[], agentId: string, timeoutMs: number): Promise<NativeLookup>;
  rendezvousStats(): NativeRendezvousStats;
  /** Idempotent. Frees the socket and ends every task of this agent. */
  close(): Promise<void>;
}

/** Presence settings; Rust `NativePresenceConfig`. */
export interface NativePresenceConfig {
  /** Beacon lifetime in ms; beacons go out every half of it. */
  beaconTtlMs: number;
  /** Group key, 64 hex characters; absent for beacons in the clear. */
  groupKey?: string;
}

/** An agent online now; Rust `NativeOnlineAgent`. */
export interface NativeOnlineAgent {
  /** Hex agent id. */
  agentId: string;
  /** "ip:port" addresses from its newest beacon. */
  addrs: string[];
  /** Local clock when its newest beacon arrived, ms since epoch. */
  lastSeen: number;
}

/** Presence counters; Rust `NativePresenceStats` (x0x_core::PresenceStats). */
export interface NativePresenceStats {
  beaconsSent: number;
  beaconsReceived: number;
  replaysDropped: number;
  invalidDropped: number;
  decryptFailures: number;
  plaintextIgnored: number;
  fullDropped: number;
  online: number;
  relayRateLimited: number;
  relayInvalid: number;
}

/** A presence change, or a lag report; Rust `NativePresenceEvent`. */
export type NativePresenceEvent =
  | { type: 'agent-online' | 'agent-offline'; agentId: string; at: number }
  | NativeLagged;

/** A stream of presence events; its members are {@link NativeEventStream}'s. */
export declare class NativePresenceEvents {}
export interface NativePresenceEvents extends NativeEventStream<NativePresenceEvent> {}

/** Presence of one agent: schedule, sealing and acceptance run in the core. */
export declare class NativePresence {
  /** Starts beaconing; resolves once the first beacon went out. Idempotent. Rejects ERR_X0X_CLOSED. */
  start(): Promise<void>;
  /** Floods a fresh beacon now. Rejects ERR_X0X_CLOSED once stopped or closed. */
  broadcast(): Promise<void>;
  /** Stops beaconing and floods the offline beacon (if beacons went out); never rejects. */
  stop(): Promise<void>;
  /** Agents online now, by id (expired ones are dropped first). */
  onlineAgents(): NativeOnlineAgent[];
  /** Presence changes from now on. */
  events(): NativePresenceEvents;
  /** Counters; after close, the relay counters keep their last reading. */
  stats(): NativePresenceStats;
}

/** Coordinator settings; Rust `NativeCoordinatorConfig`. */
export interface NativeCoordinatorConfig {
  /** Advert lifetime in ms; adverts go out every half of it. */
  advertTtlMs: number;
  /** Advertise from start() on. */
  advertise: boolean;
}

/** A verified coordinator advert; Rust `NativeCoordinatorAdvert`. */
export interface NativeCoordinatorAdvert {
  peerId: string;
  /** "ip:port" each. */
  addrs: string[];
  timestamp: number;
  expiresAt: number;
  signature: Buffer;
  publicKey: Buffer;
}

/** Coordinator advert counters; `rejected` lists every reason (the record rejections, then "full"). */
export interface NativeCoordinatorStats {
  accepted: number;
  rejected: NativeRejectionCount[];
}

/** Coordinator adverts of one agent: body, schedule and acceptance run in the core. */
export declare class NativeCoordinators {
  /** Subscribes to x0x.coordinators and, if configured, advertises. Idempotent. Rejects ERR_X0X_CLOSED. */
  start(): Promise<void>;
  /** Advertises now and every TTL/2; resolves with the advert published. Rejects ERR_X0X_CLOSED once stopped or closed. */
  advertise(): Promise<NativeCoordinatorAdvert>;
  /** Verified, unexpired adverts, by coordinator id. */
  list(): NativeCoordinatorAdvert[];
  stats(): NativeCoordinatorStats;
  /** Stops advertising and listening. Idempotent. */
  stop(): void;
}

/** Rendezvous settings; Rust `NativeRendezvousConfig`. */
export interface NativeRendezvousConfig {
  /** Registration lifetime in ms; renewed every half of it. */
  recordTtlMs: number;
  /** Holders per shard. */
  replicas: number;
}

/** A registration or unregistration; Rust `NativeRegistration`. */
export interface NativeRegistration {
  agentId: string;
  shard: number;
  /** "ip:port" each; empty for an unregistration. */
  addrs: string[];
  /** ms since epoch. */
  expiresAt: number;
  holders: NativeHolderReply[];
}

/** Rendezvous of one agent: ranking, renewal and lookups run in the core. */
export declare class NativeRendezvous {
  /** Holders of agentId's shard as this agent sees the network. Throws ERR_X0X_CLOSED, or InvalidArg for a malformed id. */
  holdersFor(agentId: string): NativeHolder[];
  /** Registers at addrs (null: the advertised addresses, afresh at each renewal) and renews every TTL/2. Rejects ERR_X0X_RENDEZVOUS when no holder stored it, ERR_X0X_BAD_ADDRESS, ERR_X0X_INVALID_CONFIG (more than 16 addresses), ERR_X0X_CLOSED. */
  register(addrs: string[] | null, timeoutMs: number): Promise<NativeRegistration>;
  /** Withdraws the registration and stops renewing. Same rejections as register. */
  unregister(timeoutMs: number): Promise<NativeRegistration>;
  /** The newest valid registration any holder returned, or null. Rejects ERR_X0X_CLOSED. */
  lookup(agentId: string, timeoutMs: number): Promise<NativeAddrRecord | null>;
  /** Throws ERR_X0X_CLOSED once the agent is closed. */
  stats(): NativeRendezvousStats;
  /** Stops renewing. Idempotent. */
  stop(): void;
}

/** The `count` heaviest holders of `shard` (0..65535) among candidates; duplicates count once. */
export declare function rankHolders(shard: number, candidates: NativeHolder[], count: number): NativeHolder[];

/** True when advert.publicKey hashes to advert.peerId and signed its addresses and times. */
export declare function verifyCoordinatorAdvert(advert: NativeCoordinatorAdvert): boolean;

/** A verified signed record. */
export interface NativeRecord {
  kind: number;
  /** Signer agent id, hex; the public key hashes to it. */
  signer: string;
  timestamp: number;
  expiresAt: number;
  body: Buffer;
  publicKey: Buffer;
  signature: Buffer;
}

/** Exactly one field is set. */
export interface NativeOffer {
  record?: NativeRecord;
  rejection?: 'malformed' | 'wrong-kind' | 'signer-mismatch' | 'bad-signature' | 'expired' | 'from-future' | 'replayed';
}

export interface NativeRejectionCount {
  reason: string;
  count: number;
}

export interface NativeFloodStats {
  sent: number;
  received: number;
  duplicates: number;
  oversized: number;
  /** New frames dropped because their neighbour's budget was spent. */
  rateLimited: number;
  /** Records in the clear that failed verification; not forwarded. */
  invalid: number;
}

/** The newest valid record of one kind per signer; replay and expiry bookkeeping. */
export declare class NativeRecordBook {
  constructor(kind: number, maxSkewMs: number);
  /** Never throws on bad bytes: the rejection is returned and counted. */
  offer(bytes: Buffer, nowMs: number): NativeOffer;
  /** Forgets a signer's record, keeping its replay protection. */
  remove(signer: string): boolean;
  /** Drops and returns the records expired at nowMs. */
  expire(nowMs: number): NativeRecord[];
  records(): NativeRecord[];
  accepted(): number;
  rejections(): NativeRejectionCount[];
}

/** A stream of flooded payloads; its members are {@link NativeEventStream}'s. */
export declare class NativeFloodPayloads {}
export interface NativeFloodPayloads extends NativeEventStream<NativeFlood> {}

/** True when publicKey hashes to signer and signed these record fields. */
export declare function verifyRecord(
  kind: number,
  signer: string,
  timestamp: number,
  expiresAt: number,
  body: Buffer,
  publicKey: Buffer,
  signature: Buffer,
): boolean;

/** Every `code` a native error can carry, one per Rust `CoreError` variant. */
export declare function errorCodes(): string[];

/** Largest payload accepted by publish(), bytes. */
export declare const MAX_PAYLOAD_BYTES: number;
/** Longest topic accepted, UTF-8 bytes. */
export declare const MAX_TOPIC_BYTES: number;

export interface NativePeerReconciliation {
  peerId: string;
  estimatedDifference: number;
  differencesFound: number;
  messagesRecovered: number;
  messagesPushed: number;
}

export interface NativeReconciliationStats {
  messagesRecovered: number;
  peersContacted: number;
  differencesFound: number;
  bytesSent: number;
  bytesReceived: number;
  durationMs: number;
  /** Most divergent first: the order peers were reconciled in. */
  peers: NativePeerReconciliation[];
}

export interface NativeAntiEntropyStats {
  rounds: number;
  messagesRecovered: number;
  messagesPushed: number;
  differencesFound: number;
  bytesSent: number;
  bytesReceived: number;
  malformedFrames: number;
  failedSessions: number;
  storeSize: number;
}

/** What Rust logs, process-wide (crates/x0x-napi/src/logging). */
export interface NativeLogFilter {
  /** The `debug` package's `createDebug.names`. */
  debugNames: string[];
  /** Its `createDebug.skips`. */
  debugSkips: string[];
  /** Most verbose level of any open agent's logger; omitted = no logger. */
  loggerLevel?: 'error' | 'warn' | 'info' | 'debug' | 'trace';
}

export interface NativeLogField {
  name: string;
  value: string | number | boolean;
}

/** One Rust `tracing` event. */
export interface NativeLogRecord {
  level: 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** The `debug` namespace, e.g. "x0x:membership" (mapping in logging/namespace.rs). */
  namespace: string;
  /** The tracing target, usually a Rust module path. */
  target: string;
  message: string;
  /** In the order the event names them. */
  fields: NativeLogField[];
}

export interface NativeLogBatch {
  records: NativeLogRecord[];
  /** Records dropped since the last batch because the bounded queue was full. */
  dropped: number;
}

/** Sets what Rust logs; the first call installs the bridge as the global tracing subscriber. */
export declare function setLogFilter(filter: NativeLogFilter): void;

/**
 * Sets the function that receives record batches on the JS thread (a weak
 * threadsafe function: it never keeps the process alive). Replaces an
 * earlier one. It must not throw.
 */
export declare function setLogSink(deliver: (batch: NativeLogBatch) => void): void;
