// A stand-in for the native addon, typed against native/binding.d.ts, so the
// TypeScript facade can be tested before (and without) the Rust build. It
// records what crosses the boundary; it does no networking. Installed into
// the CommonJS module cache under native/index.cjs, where src/native.ts looks.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import * as path from 'node:path';

import type { NativeBinding } from '../../src/native.js';
import type {
  NativeAddrRecord,
  NativeAgentOptions,
  NativeConnectionEvent,
  NativeCoordinatorAdvert,
  NativeCoordinatorConfig,
  NativeCoordinatorStats,
  NativeFoafStats,
  NativeHolder,
  NativeHolderReply,
  NativeLookup,
  NativeRendezvousStats,
  NativeMembershipEvent,
  NativeMembershipEvents,
  NativeMembershipStats,
  NativeFlood,
  NativeFloodStats,
  NativeLogBatch,
  NativeLogFilter,
  NativeReconciliationStats,
  NativeAntiEntropyStats,
  NativeMessage,
  NativeOffer,
  NativeOnlineAgent,
  NativePeer,
  NativePresenceConfig,
  NativePresenceEvent,
  NativePresenceStats,
  NativePubSubStats,
  NativeRecord,
  NativeRegistration,
  NativeRejectionCount,
  NativeRendezvousConfig,
} from '../../native/binding.js';
import { FakePullSource } from './fake-pull-source.js';

export const FAKE_LIMITS = { MAX_PAYLOAD_BYTES: 64, MAX_TOPIC_BYTES: 16 } as const;

/** An error shaped as the addon throws it: the code in `code`, not in the message. */
function nativeError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

class FakeKeypair {
  constructor(readonly seed: string) {}

  static generate(): FakeKeypair {
    return new FakeKeypair(Math.random().toString(16).slice(2).padEnd(8, '0').slice(0, 8));
  }

  static fromBytes(bytes: Buffer): FakeKeypair {
    const text = bytes.toString('utf8');
    if (!/^[0-9a-f]{8}$/.test(text)) throw nativeError('ERR_X0X_BAD_KEY', 'not a keypair');
    return new FakeKeypair(text);
  }

  static load(file: string): FakeKeypair {
    if (!existsSync(file)) throw nativeError('ERR_X0X_KEY_FILE', `${file} does not exist`);
    return FakeKeypair.fromBytes(readFileSync(file));
  }

  save(file: string): void {
    writeFileSync(file, this.seed, { mode: 0o600 });
  }

  toBytes(): Buffer {
    return Buffer.from(this.seed, 'utf8');
  }

  get agentId(): string {
    return this.seed.repeat(8);
  }

  get publicKey(): Buffer {
    return Buffer.from(`pk-${this.seed}`);
  }

  signRecord(kind: number, body: Buffer, timestamp: number, expiresAt: number): Buffer {
    return fakeRecord(kind, this.agentId, body, timestamp, expiresAt);
  }
}

/** Fake records are JSON; no cryptography, just the bookkeeping rules. */
function fakeRecord(kind: number, signer: string, body: Buffer, timestamp: number, expiresAt: number): Buffer {
  return Buffer.from(JSON.stringify({ kind, signer, body: body.toString('base64'), timestamp, expiresAt }));
}

class FakeRecordBook {
  readonly #current = new Map<string, NativeRecord>();
  readonly #last = new Map<string, number>();
  readonly #rejections = new Map<string, number>();
  #accepted = 0;

  constructor(
    readonly kind: number,
    readonly maxSkewMs: number,
  ) {}

  offer(bytes: Buffer, nowMs: number): NativeOffer {
    const reject = (rejection: NonNullable<NativeOffer['rejection']>): NativeOffer => {
      this.#rejections.set(rejection, (this.#rejections.get(rejection) ?? 0) + 1);
      return { rejection };
    };
    let r: { kind: number; signer: string; body: string; timestamp: number; expiresAt: number };
    try {
      r = JSON.parse(bytes.toString('utf8')) as typeof r;
    } catch {
      return reject('malformed');
    }
    if (r.kind !== this.kind) return reject('wrong-kind');
    if (r.expiresAt <= nowMs) return reject('expired');
    if (r.timestamp > nowMs + this.maxSkewMs) return reject('from-future');
    if ((this.#last.get(r.signer) ?? -1) >= r.timestamp) return reject('replayed');
    const record: NativeRecord = {
      kind: r.kind,
      signer: r.signer,
      timestamp: r.timestamp,
      expiresAt: r.expiresAt,
      body: Buffer.from(r.body, 'base64'),
      publicKey: Buffer.alloc(0),
      signature: Buffer.alloc(0),
    };
    this.#accepted += 1;
    this.#last.set(r.signer, r.timestamp);
    this.#current.set(r.signer, record);
    return { record };
  }

  remove(signer: string): boolean {
    return this.#current.delete(signer);
  }

  expire(nowMs: number): NativeRecord[] {
    const gone = [...this.#current.values()].filter((r) => r.expiresAt <= nowMs);
    for (const r of gone) this.#current.delete(r.signer);
    return gone;
  }

  records(): NativeRecord[] {
    return [...this.#current.values()];
  }

  accepted(): number {
    return this.#accepted;
  }

  rejections(): NativeRejectionCount[] {
    return [...this.#rejections].map(([reason, count]) => ({ reason, count }));
  }
}

function fakeVerifyRecord(): boolean {
  return true;
}

/**
 * Presence as the binding exposes it: it records calls and hands out what a
 * test sets. The protocol itself is tested in Rust and across the network.
 */
class FakePresence {
  readonly streams: FakePullSource<NativePresenceEvent>[] = [];
  /** What onlineAgents() returns, set by a test. */
  online: NativeOnlineAgent[] = [];

  constructor(
    readonly config: NativePresenceConfig,
    readonly calls: string[],
  ) {}

  async start(): Promise<void> {
    this.calls.push('presence.start');
  }

  async broadcast(): Promise<void> {
    this.calls.push('presence.broadcast');
  }

  async stop(): Promise<void> {
    this.calls.push('presence.stop');
  }

  onlineAgents(): NativeOnlineAgent[] {
    return this.online.map((a) => ({ ...a, addrs: [...a.addrs] }));
  }

  events(): FakePullSource<NativePresenceEvent> {
    const source = new FakePullSource<NativePresenceEvent>();
    this.streams.push(source);
    return source;
  }

  stats(): NativePresenceStats {
    return {
      beaconsSent: 0, beaconsReceived: 0, replaysDropped: 0, invalidDropped: 0, decryptFailures: 0,
      plaintextIgnored: 0, fullDropped: 0, online: this.online.length, relayRateLimited: 0, relayInvalid: 0,
    };
  }
}

/** Coordinator adverts as the binding exposes them: calls recorded, lists set by a test. */
class FakeCoordinators {
  /** What list() returns, set by a test. */
  adverts: NativeCoordinatorAdvert[] = [];
  /** What stats() returns, set by a test. */
  counters: NativeCoordinatorStats = { accepted: 0, rejected: [] };

  constructor(
    readonly config: NativeCoordinatorConfig,
    readonly calls: string[],
  ) {}

  async start(): Promise<void> {
    this.calls.push('coordinators.start');
  }

  async advertise(): Promise<NativeCoordinatorAdvert> {
    this.calls.push('coordinators.advertise');
    return { peerId: 'ab'.repeat(32), addrs: ['127.0.0.1:40000'], timestamp: 1, expiresAt: 2, signature: Buffer.from([1]), publicKey: Buffer.from([2]) };
  }

  list(): NativeCoordinatorAdvert[] {
    return this.adverts;
  }

  stats(): NativeCoordinatorStats {
    return this.counters;
  }

  stop(): void {
    this.calls.push('coordinators.stop');
  }
}

/** Rendezvous as the binding exposes it: calls recorded, answers set by a test. */
class FakeRendezvous {
  /** What holdersFor() returns. */
  holders: NativeHolder[] = [];
  /** What register()/unregister() reject with, if set. */
  failure: Error | undefined;
  /** What lookup() resolves with; a never-settling promise when undefined. */
  lookupAnswer: NativeAddrRecord | null | undefined = null;

  constructor(
    readonly config: NativeRendezvousConfig,
    readonly coordinators: FakeCoordinators,
    readonly presence: FakePresence,
    readonly calls: string[],
  ) {}

  holdersFor(agentId: string): NativeHolder[] {
    this.calls.push(`rendezvous.holdersFor:${agentId}`);
    return this.holders;
  }

  #registration(addrs: string[]): NativeRegistration {
    return { agentId: 'ab'.repeat(32), shard: 7, addrs, expiresAt: 9, holders: [{ agentId: 'cd'.repeat(32), outcome: 'stored' }] };
  }

  async register(addrs: string[] | null, timeoutMs: number): Promise<NativeRegistration> {
    this.calls.push(`rendezvous.register:${addrs === null ? 'advertised' : addrs.join(',')}:${timeoutMs}`);
    if (this.failure) throw this.failure;
    return this.#registration(addrs ?? ['127.0.0.1:40000']);
  }

  async unregister(timeoutMs: number): Promise<NativeRegistration> {
    this.calls.push(`rendezvous.unregister:${timeoutMs}`);
    if (this.failure) throw this.failure;
    return this.#registration([]);
  }

  async lookup(agentId: string, timeoutMs: number): Promise<NativeAddrRecord | null> {
    this.calls.push(`rendezvous.lookup:${agentId}:${timeoutMs}`);
    if (this.lookupAnswer === undefined) return new Promise(() => undefined);
    return this.lookupAnswer;
  }

  stats(): NativeRendezvousStats {
    return {
      recordsHeld: 1, storesAccepted: 2, invalidRejected: 3, staleRejected: 4, fullRejected: 5,
      lookupsServed: 6, requestsSent: 7, answersReceived: 8, malformedDropped: 9,
    };
  }

  stop(): void {
    this.calls.push('rendezvous.stop');
  }
}

class FakeAgent {
  static created: FakeAgent[] = [];
  readonly calls: string[] = [];
  readonly subscriptions: FakePullSource<NativeMessage>[] = [];
  readonly events: FakePullSource<NativeConnectionEvent>[] = [];
  readonly membershipStreams: FakePullSource<NativeMembershipEvent>[] = [];
  readonly floodStreams: FakePullSource<NativeFlood>[] = [];
  /** Set to make the next join() wait for `release`. */
  joinGate: Promise<void> | undefined;
  closed = false;

  private constructor(
    readonly options: NativeAgentOptions,
    readonly keypair: FakeKeypair,
  ) {}

  static async create(options: NativeAgentOptions, keypair: FakeKeypair): Promise<FakeAgent> {
    if (options.bindAddr.endsWith(':1')) throw nativeError('ERR_X0X_BAD_ADDRESS', 'port 1 is privileged');
    const agent = new FakeAgent(options, keypair);
    FakeAgent.created.push(agent);
    return agent;
  }

  get agentId(): string {
    return this.keypair.agentId;
  }

  listenAddrs(): string[] {
    this.calls.push('listenAddrs');
    return [this.options.bindAddr.replace(/:0$/, ':40000')];
  }

  async join(seeds: string[]): Promise<void> {
    this.calls.push(`join ${seeds.join(',')}`);
    await this.joinGate;
    if (seeds.includes('10.0.0.1:9')) throw nativeError('ERR_X0X_JOIN_FAILED', 'nobody answered');
  }

  async subscribe(topic: string): Promise<FakePullSource<NativeMessage>> {
    this.calls.push(`subscribe ${topic}`);
    const source = new FakePullSource<NativeMessage>();
    this.subscriptions.push(source);
    return source;
  }

  /** Subscribers `waitForTopicPeers` reports, set by a test. */
  topicPeers: string[] = [];

  async waitForTopicPeers(topic: string, n: number, timeoutMs: number): Promise<string[]> {
    this.calls.push(`waitForTopicPeers ${topic} ${n} ${timeoutMs}`);
    // Like the native slice: short of `n`, it answers only at its timeout.
    if (this.topicPeers.length < n) await new Promise((resolve) => setTimeout(resolve, timeoutMs));
    return this.topicPeers;
  }

  async publishWithin(topic: string, payload: Buffer, _maxWaitMs: number): Promise<string | null> {
    return this.publish(topic, payload);
  }

  async publish(topic: string, payload: Buffer): Promise<string> {
    this.calls.push(`publish ${topic} ${payload.byteLength}`);
    const message: NativeMessage = {
      topic,
      payload,
      from: this.agentId,
      id: 'ee'.repeat(32),
      publishedAt: 1,
      receivedAt: 2,
    };
    for (const sub of this.subscriptions) sub.push(message);
    return message.id;
  }

  connectionEvents(): FakePullSource<NativeConnectionEvent> {
    const source = new FakePullSource<NativeConnectionEvent>();
    this.events.push(source);
    return source;
  }

  async connectedPeers(): Promise<{ peerId: string; addr: string }[]> {
    return [];
  }

  advertisedAddrs(): string[] {
    this.calls.push('advertisedAddrs');
    return this.listenAddrs();
  }

  async connections(): Promise<{ peerId: string; addr: string; path: 'direct' | 'holepunched' | 'relayed' }[]> {
    return [];
  }

  connectionCounts(): { direct: number; holepunched: number; relayed: number; holepunchedByCoordination: number } {
    return { direct: 0, holepunched: 0, relayed: 0, holepunchedByCoordination: 0 };
  }

  pubsubStats(): NativePubSubStats {
    return { published: 1, delivered: 2, duplicatesDropped: 3, invalidDropped: 4, oversizedDropped: 6, staleDropped: 7, laggedDropped: 8, cacheSize: 5 };
  }

  /** What activePeers() resolves with. */
  active: NativePeer[] = [{ peerId: 'aa'.repeat(32), addr: '127.0.0.1:40001' }];

  diagnostics(): Record<string, number> {
    return { 'transport.framesIn': 1 };
  }

  async activePeers(): Promise<NativePeer[]> {
    return this.active;
  }

  async passivePeers(): Promise<NativePeer[]> {
    return [];
  }

  membershipEvents(): NativeMembershipEvents {
    const source = new FakePullSource<NativeMembershipEvent>();
    this.membershipStreams.push(source);
    return source;
  }

  async membershipStats(): Promise<NativeMembershipStats> {
    return { activeViewSize: 1, passiveViewSize: 0, probesSent: 2, suspicions: 0, confirmedFailures: 0, gracefulLeaves: 0, refills: 0 };
  }

  async reconcile(): Promise<NativeReconciliationStats> {
    this.calls.push('reconcile');
    return {
      messagesRecovered: 3,
      peersContacted: 1,
      differencesFound: 3,
      bytesSent: 100,
      bytesReceived: 200,
      durationMs: 5,
      peers: [{ peerId: 'aa'.repeat(32), estimatedDifference: 3, differencesFound: 3, messagesRecovered: 3, messagesPushed: 0 }],
    };
  }

  antiEntropyStats(): NativeAntiEntropyStats {
    return {
      rounds: 1,
      messagesRecovered: 3,
      messagesPushed: 0,
      differencesFound: 3,
      bytesSent: 100,
      bytesReceived: 200,
      malformedFrames: 0,
      failedSessions: 0,
      storeSize: 3,
    };
  }

  async blockPeer(peerId: string): Promise<void> {
    this.calls.push(`blockPeer:${peerId}`);
  }

  unblockPeer(peerId: string): void {
    this.calls.push(`unblockPeer:${peerId}`);
  }

  isRunning(): boolean {
    return !this.closed;
  }

  signRecord(kind: number, body: Buffer, timestamp: number, expiresAt: number): Buffer {
    return this.keypair.signRecord(kind, body, timestamp, expiresAt);
  }

  async flood(payload: Buffer): Promise<number> {
    this.calls.push(`flood ${payload.byteLength}`);
    return 0;
  }

  floodPayloads(): FakePullSource<NativeFlood> {
    const source = new FakePullSource<NativeFlood>();
    this.floodStreams.push(source);
    return source;
  }

  presences: FakePresence[] = [];

  presence(config: NativePresenceConfig): FakePresence {
    const presence = new FakePresence(config, this.calls);
    this.presences.push(presence);
    return presence;
  }

  coordinatorBooks: FakeCoordinators[] = [];

  coordinators(config: NativeCoordinatorConfig): FakeCoordinators {
    const c = new FakeCoordinators(config, this.calls);
    this.coordinatorBooks.push(c);
    return c;
  }

  rendezvousClients: FakeRendezvous[] = [];

  rendezvous(config: NativeRendezvousConfig, coordinators: FakeCoordinators, presence: FakePresence): FakeRendezvous {
    const r = new FakeRendezvous(config, coordinators, presence, this.calls);
    this.rendezvousClients.push(r);
    return r;
  }

  floodStats(): NativeFloodStats {
    return { sent: 0, received: 0, duplicates: 0, oversized: 0, rateLimited: 0, invalid: 0 };
  }

  /** What the next findAgent() resolves with; a never-settling promise when unset. */
  findAnswer: NativeAddrRecord | null | undefined;
  advertising = true;

  async findAgent(agentId: string, timeoutMs: number): Promise<NativeAddrRecord | null> {
    this.calls.push(`findAgent:${agentId}:${timeoutMs}`);
    if (this.findAnswer === undefined) return new Promise(() => undefined);
    return this.findAnswer;
  }

  setAdvertise(on: boolean): void {
    this.calls.push(`setAdvertise:${on}`);
    this.advertising = on;
  }

  ownRecord(): Buffer {
    return Buffer.from('record');
  }

  /** Holders of the last rendezvousStore/rendezvousLookup call. */
  lastHolders: NativeHolder[] = [];
  /** Outcome every holder reports to rendezvousStore. */
  storeOutcome: NativeHolderReply['outcome'] = 'stored';
  /** What rendezvousLookup resolves with. */
  lookupAnswer: NativeLookup = { answered: 0, rejected: 0 };

  signAddrRecord(addrs: string[], ttlMs: number): Buffer {
    this.calls.push(`signAddrRecord:${addrs.join(',')}:${ttlMs}`);
    return Buffer.from(`record:${addrs.join(',')}`);
  }

  async rendezvousStore(holders: NativeHolder[], record: Buffer, timeoutMs: number): Promise<NativeHolderReply[]> {
    this.calls.push(`rendezvousStore:${record.toString()}:${timeoutMs}`);
    this.lastHolders = holders;
    return holders.map((h) => ({ agentId: h.agentId, outcome: this.storeOutcome }));
  }

  async rendezvousLookup(holders: NativeHolder[], agentId: string, timeoutMs: number): Promise<NativeLookup> {
    this.calls.push(`rendezvousLookup:${agentId}:${timeoutMs}`);
    this.lastHolders = holders;
    return this.lookupAnswer;
  }

  rendezvousStats(): NativeRendezvousStats {
    return {
      recordsHeld: 1, storesAccepted: 2, invalidRejected: 3, staleRejected: 4, fullRejected: 5,
      lookupsServed: 6, requestsSent: 7, answersReceived: 8, malformedDropped: 9,
    };
  }

  foafStats(): NativeFoafStats {
    return {
      queriesStarted: 1, queriesHandled: 2, queriesForwarded: 3, duplicatesDropped: 4, repliesSent: 5, repliesRelayed: 6,
      answersAccepted: 7, malformedDropped: 8, badRecordsDropped: 9, unroutableReplies: 10, overloadedDropped: 11,
      seenSent: 12, revisitsRedirected: 13,
    };
  }

  async close(): Promise<void> {
    this.calls.push('close');
    this.closed = true;
    for (const source of [...this.subscriptions, ...this.events, ...this.membershipStreams, ...this.floodStreams,
      ...this.presences.flatMap((p) => p.streams)]) {
      source.end();
    }
  }
}

/** What the facade told the Rust log bridge: every filter, and the latest sink. */
export const fakeLog: {
  filters: NativeLogFilter[];
  sink: ((batch: NativeLogBatch) => void) | undefined;
} = { filters: [], sink: undefined };

/** A class's static side and prototype, without its constructor (napi classes here have none usable from JS). */
type Statics<C> = { [K in keyof C]: C[K] };

const checked = {
  NativeKeypair: FakeKeypair,
  NativeAgent: FakeAgent,
  NativeSubscription: FakePullSource,
  NativeConnectionEvents: FakePullSource,
  NativeMembershipEvents: FakePullSource,
  NativeRecordBook: FakeRecordBook,
  NativeFloodPayloads: FakePullSource,
  NativePresence: FakePresence,
  NativePresenceEvents: FakePullSource,
  NativeCoordinators: FakeCoordinators,
  NativeRendezvous: FakeRendezvous,
  verifyRecord: fakeVerifyRecord,
  verifyCoordinatorAdvert: (): boolean => true,
  rankHolders: (_shard: number, candidates: NativeHolder[], count: number): NativeHolder[] => candidates.slice(0, count),
  errorCodes: (): string[] => [],
  setLogFilter: (filter: NativeLogFilter): void => {
    fakeLog.filters.push(filter);
  },
  setLogSink: (deliver: (batch: NativeLogBatch) => void): void => {
    fakeLog.sink = deliver;
  },
  ...FAKE_LIMITS,
} satisfies {
  [K in keyof NativeBinding]: NativeBinding[K] extends abstract new (...args: never) => unknown
    ? Statics<NativeBinding[K]>
    : NativeBinding[K];
};

export const fakeBinding = checked as unknown as NativeBinding;

export { FakeAgent, FakeCoordinators, FakeKeypair, FakePresence, FakeRendezvous };

/** Makes `require('<root>/native/index.cjs')` return the fake. Call before importing src/agent.ts. */
export function installFakeBinding(): void {
  const file = path.join(__dirname, '..', '..', 'native', 'index.cjs');
  const mod = new Module(file);
  mod.filename = file;
  mod.loaded = true;
  mod.exports = fakeBinding;
  createRequire(__filename).cache[file] = mod;
}
