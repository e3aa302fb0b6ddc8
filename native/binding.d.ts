/**
 * Contract of the compiled addon (`crates/x0x-napi`). The TypeScript facade in
 * `src/` is the only consumer; users never see these names.
 *
 * Every rejection/throw from the addon is a plain `Error` whose message starts
 * with a stable code and a colon, e.g. `"ERR_X0X_CLOSED: agent is closed"`.
 * `src/errors.ts` turns those into typed `X0xError` subclasses.
 */

/** Numbers are milliseconds where they are durations. Already validated by TS. */
export interface NativeConfig {
  activeViewSize: number;
  passiveViewSize: number;
  probeIntervalMs: number;
  suspectTimeoutMs: number;
  messageCacheSize: number;
  messageCacheTtlMs: number;
  /** Hops a FOAF query may travel, 1..=10. */
  foafTtl: number;
  /** Neighbours each FOAF hop forwards to, 1..=16. */
  foafFanout: number;
}

export interface NativeAgentOptions {
  /** "ip:port", e.g. "127.0.0.1:0". */
  bindAddr: string;
  config: NativeConfig;
  /** Directory for the per-agent bootstrap cache; omitted = in-memory cache. */
  dataDir?: string;
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

export interface NativeConnectionEvent {
  type: 'connected' | 'disconnected';
  peerId: string;
  /** "ip:port" when known. */
  addr?: string;
  /** ms since epoch. */
  at: number;
}

export interface NativePeer {
  peerId: string;
  addr: string;
}

export interface NativePubSubStats {
  published: number;
  delivered: number;
  duplicatesDropped: number;
  invalidDropped: number;
  oversizedDropped: number;
  staleDropped: number;
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

export interface NativeMembershipEvent {
  type: 'peer-joined' | 'peer-suspected' | 'peer-left';
  peerId: string;
  addr?: string;
  /** For peer-left: 'graceful' | 'failed' | 'demoted'. */
  reason?: string;
  at: number;
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
}

export declare class NativeMembershipEvents {
  next(): Promise<NativeMembershipEvent | null>;
  close(): void;
}

export declare class NativeSubscription {
  /** Resolves null once unsubscribed or the agent closed. */
  next(): Promise<NativeMessage | null>;
  /** Stops delivery; pending and later next() resolve null. Idempotent. */
  close(): void;
}

export declare class NativeConnectionEvents {
  next(): Promise<NativeConnectionEvent | null>;
  close(): void;
}

export declare class NativeAgent {
  /** Binds the QUIC endpoint and starts the agent's own runtime. */
  static create(options: NativeAgentOptions, keypair: NativeKeypair): Promise<NativeAgent>;
  get agentId(): string;
  /** Bound addresses, "ip:port" (wildcard hosts normalised to 127.0.0.1). */
  listenAddrs(): string[];
  /** Dials each seed and runs the HyParView JOIN. Rejects ERR_X0X_BAD_ADDRESS / ERR_X0X_JOIN_FAILED. */
  join(seeds: string[]): Promise<void>;
  subscribe(topic: string): Promise<NativeSubscription>;
  /** Resolves with the message id (hex). Rejects ERR_X0X_PAYLOAD_TOO_LARGE / ERR_X0X_INVALID_TOPIC. */
  publish(topic: string, payload: Buffer): Promise<string>;
  connectionEvents(): NativeConnectionEvents;
  connectedPeers(): Promise<NativePeer[]>;
  activeView(): string[];
  passiveView(): string[];
  /** Active view with last known addresses (waits for the view lock). */
  activePeers(): Promise<NativePeer[]>;
  passivePeers(): Promise<NativePeer[]>;
  membershipEvents(): NativeMembershipEvents;
  membershipStats(): Promise<NativeMembershipStats>;
  /** Diagnostic: a signed envelope for `topic`, not published. */
  sealFrame(topic: string, payload: Buffer): Buffer;
  /** Diagnostic: gossips bytes as they are, without an envelope. */
  publishRaw(topic: string, frame: Buffer): Promise<void>;
  pubsubStats(): NativePubSubStats;
  /** Refuses all traffic with a peer. Throws ERR_X0X_INVALID_ARGUMENT for a malformed id. */
  blockPeer(peerId: string): Promise<void>;
  unblockPeer(peerId: string): void;
  isRunning(): boolean;
  /** FOAF lookup; resolves null when nothing answered within timeoutMs. Rejects ERR_X0X_INVALID_ARGUMENT for a malformed id. */
  findAgent(agentId: string, timeoutMs: number): Promise<NativeAddrRecord | null>;
  /** Whether this agent answers FOAF queries for itself (on by default). */
  setAdvertise(on: boolean): void;
  /** This agent's own signed address record. */
  ownRecord(): Buffer;
  foafStats(): NativeFoafStats;
  /** Idempotent. Frees the socket and ends every task of this agent. */
  close(): Promise<void>;
}

/** Largest payload accepted by publish(), bytes. */
export declare const MAX_PAYLOAD_BYTES: number;
/** Longest topic accepted, UTF-8 bytes. */
export declare const MAX_TOPIC_BYTES: number;
