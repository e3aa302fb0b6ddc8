// A stand-in for the native addon, typed against native/binding.d.ts, so the
// TypeScript facade can be tested before (and without) the Rust build. It
// records what crosses the boundary and answers with what a test set; it
// holds no protocol rule (no dedup, replay window, signature check, delivery
// routing or key validation), so a unit test over it can only pass on what
// the facade itself does. What Rust decides is tested in Rust and in
// test/net. Installed into the CommonJS module cache under native/index.cjs,
// where src/native.ts looks.
import { createRequire, Module } from 'node:module';
import * as path from 'node:path';

import type { NativeBinding } from '../../src/native.js';
import type {
  NativeAddrRecord,
  NativeAgentOptions,
  NativeAntiEntropyStats,
  NativeConnection,
  NativeConnectionCounts,
  NativeConnectionEvent,
  NativeCoordinatorAdvert,
  NativeCoordinatorConfig,
  NativeCoordinatorStats,
  NativeFoafStats,
  NativeHolder,
  NativeRendezvousStats,
  NativeMembershipEvent,
  NativeMembershipEvents,
  NativeMembershipStats,
  NativeFlood,
  NativeLogBatch,
  NativeLogFilter,
  NativeMessage,
  NativeOnlineAgent,
  NativePeer,
  NativePresenceConfig,
  NativePresenceEvent,
  NativePresenceStats,
  NativePubSubStats,
  NativeReconciliationStats,
  NativeRecordBook,
  NativeRegistration,
  NativeRendezvousConfig,
} from '../../native/binding.js';
import { FakePullSource } from './fake-pull-source.js';

export const FAKE_LIMITS = { MAX_PAYLOAD_BYTES: 64, MAX_TOPIC_BYTES: 16 } as const;

/** An error shaped as the addon throws it: the code in `code`, not in the message. */
export function nativeError(code: string, message: string, fields: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { code, ...fields });
}

/**
 * For binding entry points the facade never calls: a unit test that reaches
 * one is testing something only the real addon can answer.
 */
function notFaked(name: string): never {
  throw new Error(`the fake binding does not fake ${name}: no facade code calls it; test it against the real addon`);
}

/** Throws and clears a failure a test armed, so it hits one call only. */
function fire(holder: { failure: Error | undefined }): void {
  const failure = holder.failure;
  if (failure === undefined) return;
  holder.failure = undefined;
  throw failure;
}

let nextId = 0;
/** A fresh, well-formed agent id; the fake derives nothing from keys. */
function freshAgentId(): string {
  nextId += 1;
  return nextId.toString(16).padStart(64, 'a');
}

class FakeKeypair {
  /** Every static and instance call, in order, as `name[:argument]`. */
  static readonly calls: string[] = [];
  /** What the next load(), fromBytes() or save() throws. */
  static failure: Error | undefined;

  readonly agentId = freshAgentId();
  /** What publicKey returns: the same Buffer each time, so a test can see whether the facade copies it. */
  readonly publicKeyBuffer = Buffer.from([1, 2, 3, 4]);
  /** What toBytes() returns. */
  readonly bytes = Buffer.from([9, 8, 7, 6, 5]);
  /** The Buffer fromBytes() was given, when this keypair came from it. */
  givenBytes: Buffer | undefined;

  /** Every keypair made, in order. */
  static readonly created: FakeKeypair[] = [];

  constructor() {
    FakeKeypair.created.push(this);
  }

  static generate(): FakeKeypair {
    FakeKeypair.calls.push('generate');
    return new FakeKeypair();
  }

  static fromBytes(bytes: Buffer): FakeKeypair {
    FakeKeypair.calls.push(`fromBytes:${bytes.byteLength}`);
    fire(FakeKeypair);
    const keypair = new FakeKeypair();
    keypair.givenBytes = bytes;
    return keypair;
  }

  static load(file: string): FakeKeypair {
    FakeKeypair.calls.push(`load:${file}`);
    fire(FakeKeypair);
    return new FakeKeypair();
  }

  save(file: string): void {
    FakeKeypair.calls.push(`save:${file}`);
    fire(FakeKeypair);
  }

  toBytes(): Buffer {
    return this.bytes;
  }

  get publicKey(): Buffer {
    return this.publicKeyBuffer;
  }

  signRecord(): Buffer {
    return notFaked('NativeKeypair.signRecord');
  }
}

/** No facade module keeps a record book of its own; the binding exports one, so the type needs it. */
class UnusedRecordBook implements NativeRecordBook {
  offer(): never {
    return notFaked('NativeRecordBook.offer');
  }

  remove(): never {
    return notFaked('NativeRecordBook.remove');
  }

  expire(): never {
    return notFaked('NativeRecordBook.expire');
  }

  records(): never {
    return notFaked('NativeRecordBook.records');
  }

  accepted(): never {
    return notFaked('NativeRecordBook.accepted');
  }

  rejections(): never {
    return notFaked('NativeRecordBook.rejections');
  }
}

/** Presence as the binding exposes it: calls recorded, answers set by a test. */
class FakePresence {
  readonly streams: FakePullSource<NativePresenceEvent>[] = [];
  /** What onlineAgents() returns. */
  online: NativeOnlineAgent[] = [];
  /** What stats() returns. */
  counters: NativePresenceStats = {
    beaconsSent: 0, beaconsReceived: 0, replaysDropped: 0, invalidDropped: 0, decryptFailures: 0,
    plaintextIgnored: 0, fullDropped: 0, online: 0, relayRateLimited: 0, relayInvalid: 0,
  };

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
    return this.online;
  }

  events(): FakePullSource<NativePresenceEvent> {
    const source = new FakePullSource<NativePresenceEvent>();
    this.streams.push(source);
    return source;
  }

  stats(): NativePresenceStats {
    return this.counters;
  }
}

/** Coordinator adverts as the binding exposes them: calls recorded, answers set by a test. */
class FakeCoordinators {
  /** What list() returns. */
  adverts: NativeCoordinatorAdvert[] = [];
  /** What stats() returns. */
  counters: NativeCoordinatorStats = { accepted: 0, rejected: [] };
  /** What advertise() resolves with. */
  advert: NativeCoordinatorAdvert = {
    peerId: 'ab'.repeat(32), addrs: ['127.0.0.1:40000'], timestamp: 1, expiresAt: 2,
    signature: Buffer.from([1]), publicKey: Buffer.from([2]),
  };

  constructor(
    readonly config: NativeCoordinatorConfig,
    readonly calls: string[],
  ) {}

  async start(): Promise<void> {
    this.calls.push('coordinators.start');
  }

  async advertise(): Promise<NativeCoordinatorAdvert> {
    this.calls.push('coordinators.advertise');
    return this.advert;
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
  /** What register()/unregister() resolve with. */
  registration: NativeRegistration = {
    agentId: 'ab'.repeat(32), shard: 7, addrs: ['127.0.0.1:40000'], expiresAt: 9,
    holders: [{ agentId: 'cd'.repeat(32), outcome: 'stored' }],
  };
  /** What lookup() resolves with; a never-settling promise when undefined. */
  lookupAnswer: NativeAddrRecord | null | undefined = null;
  /** What stats() returns. */
  counters: NativeRendezvousStats = {
    recordsHeld: 0, storesAccepted: 0, invalidRejected: 0, staleRejected: 0, fullRejected: 0,
    lookupsServed: 0, requestsSent: 0, answersReceived: 0, malformedDropped: 0,
  };

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

  async register(addrs: string[] | null, timeoutMs: number): Promise<NativeRegistration> {
    this.calls.push(`rendezvous.register:${addrs === null ? 'advertised' : addrs.join(',')}:${timeoutMs}`);
    if (this.failure) throw this.failure;
    return this.registration;
  }

  async unregister(timeoutMs: number): Promise<NativeRegistration> {
    this.calls.push(`rendezvous.unregister:${timeoutMs}`);
    if (this.failure) throw this.failure;
    return this.registration;
  }

  async lookup(agentId: string, timeoutMs: number): Promise<NativeAddrRecord | null> {
    this.calls.push(`rendezvous.lookup:${agentId}:${timeoutMs}`);
    if (this.lookupAnswer === undefined) return new Promise(() => undefined);
    return this.lookupAnswer;
  }

  stats(): NativeRendezvousStats {
    return this.counters;
  }

  stop(): void {
    this.calls.push('rendezvous.stop');
  }
}

/** Like the native call port: settles a call later, on a later turn, with its value or an `Error`. */
export class FakeCallPort {
  readonly #settle: (id: number, outcome: unknown) => void;

  constructor(settle: (id: number, outcome: unknown) => void) {
    this.#settle = settle;
  }

  /** Settles call `id` with what `outcome` settles with. */
  settleSoon(id: number, outcome: Promise<unknown>): void {
    outcome.then(
      (value) => this.#settle(id, value),
      (err: unknown) => this.#settle(id, err instanceof Error ? err : new Error(String(err))),
    );
  }
}

class FakeAgent {
  static created: FakeAgent[] = [];
  /** What the next create() rejects with. */
  static failure: Error | undefined;
  readonly calls: string[] = [];
  readonly subscriptions: FakePullSource<NativeMessage>[] = [];
  readonly events: FakePullSource<NativeConnectionEvent>[] = [];
  readonly membershipStreams: FakePullSource<NativeMembershipEvent>[] = [];
  /** Each payload handed to publish() or publishWithin(), in order. */
  readonly payloads: Buffer[] = [];
  /** Set to make the next join() wait for it. */
  joinGate: Promise<void> | undefined;
  /** What the next join() rejects with. */
  joinFailure: Error | undefined;
  /** What publish() (and publishWithin(), once its answers run out) resolves with. */
  publishId = 'ee'.repeat(32);
  /** What successive publishWithin() calls resolve with; null: the backlog did not drain in time. */
  publishWithinAnswers: (string | null)[] = [];
  /** What successive waitForTopicPeers() calls resolve with; once used up, a wait that never settles. */
  topicPeerAnswers: string[][] = [];
  /** What listenAddrs() and advertisedAddrs() return. */
  listen = ['127.0.0.1:40000'];
  advertised = ['192.0.2.1:40000'];
  /** What connections() resolves with. */
  connected: NativeConnection[] = [];
  /** What activePeers() resolves with. */
  active: NativePeer[] = [];
  /** What isRunning() returns. */
  running = true;
  /** What the next findAgent() resolves with; a never-settling promise when unset. */
  findAnswer: NativeAddrRecord | null | undefined;
  /** What the stats calls return; zeros unless a test sets them. */
  pubsubCounters: NativePubSubStats = {
    published: 0, delivered: 0, duplicatesDropped: 0, invalidDropped: 0, oversizedDropped: 0,
    staleDropped: 0, laggedDropped: 0, cacheSize: 0,
  };
  reconciliation: NativeReconciliationStats = {
    messagesRecovered: 0, peersContacted: 0, differencesFound: 0, bytesSent: 0, bytesReceived: 0, durationMs: 0, peers: [],
  };
  antiEntropyCounters: NativeAntiEntropyStats = {
    rounds: 0, messagesRecovered: 0, messagesPushed: 0, differencesFound: 0, bytesSent: 0, bytesReceived: 0,
    malformedFrames: 0, failedSessions: 0, storeSize: 0,
  };
  membershipCounters: NativeMembershipStats = {
    activeViewSize: 0, passiveViewSize: 0, probesSent: 0, suspicions: 0, confirmedFailures: 0, gracefulLeaves: 0, refills: 0,
  };
  connectionCounters: NativeConnectionCounts = { direct: 0, holepunched: 0, relayed: 0, holepunchedByCoordination: 0 };
  foafCounters: NativeFoafStats = {
    queriesStarted: 0, queriesHandled: 0, queriesForwarded: 0, duplicatesDropped: 0, repliesSent: 0, repliesRelayed: 0,
    answersAccepted: 0, malformedDropped: 0, badRecordsDropped: 0, unroutableReplies: 0, overloadedDropped: 0,
    seenSent: 0, revisitsRedirected: 0,
  };
  diagnosticCounters: Record<string, number> = {};
  presences: FakePresence[] = [];
  coordinatorBooks: FakeCoordinators[] = [];
  rendezvousClients: FakeRendezvous[] = [];

  private constructor(
    readonly options: NativeAgentOptions,
    readonly keypair: FakeKeypair,
    readonly port: FakeCallPort,
  ) {}

  static async create(options: NativeAgentOptions, keypair: FakeKeypair, port: FakeCallPort): Promise<FakeAgent> {
    fire(FakeAgent);
    const agent = new FakeAgent(options, keypair, port);
    FakeAgent.created.push(agent);
    return agent;
  }

  get agentId(): string {
    return this.keypair.agentId;
  }

  listenAddrs(): string[] {
    this.calls.push('listenAddrs');
    return this.listen;
  }

  advertisedAddrs(): string[] {
    this.calls.push('advertisedAddrs');
    return this.advertised;
  }

  async join(seeds: string[]): Promise<void> {
    this.calls.push(`join ${seeds.join(',')}`);
    await this.joinGate;
    const failure = this.joinFailure;
    this.joinFailure = undefined;
    if (failure) throw failure;
  }

  async subscribe(topic: string): Promise<FakePullSource<NativeMessage>> {
    this.calls.push(`subscribe ${topic}`);
    const source = new FakePullSource<NativeMessage>(this.port);
    this.subscriptions.push(source);
    return source;
  }

  async waitForTopicPeers(topic: string, n: number, timeoutMs: number): Promise<string[]> {
    this.calls.push(`waitForTopicPeers ${topic} ${n} ${timeoutMs}`);
    const answer = this.topicPeerAnswers.shift();
    return answer ?? new Promise(() => undefined);
  }

  publishCall(topic: string, payload: Buffer, id: number): void {
    this.calls.push(`publish ${topic} ${payload.byteLength}`);
    this.payloads.push(payload);
    this.port.settleSoon(id, Promise.resolve(this.publishId));
  }

  publishWithinCall(topic: string, payload: Buffer, maxWaitMs: number, id: number): void {
    this.calls.push(`publishWithin ${topic} ${payload.byteLength} ${maxWaitMs}`);
    this.payloads.push(payload);
    const answer = this.publishWithinAnswers.shift();
    this.port.settleSoon(id, Promise.resolve(answer === undefined ? this.publishId : answer));
  }

  connectionEvents(): FakePullSource<NativeConnectionEvent> {
    const source = new FakePullSource<NativeConnectionEvent>();
    this.events.push(source);
    return source;
  }

  connectedPeers(): never {
    return notFaked('NativeAgent.connectedPeers');
  }

  async connections(): Promise<NativeConnection[]> {
    return this.connected;
  }

  connectionCounts(): NativeConnectionCounts {
    return this.connectionCounters;
  }

  pubsubStats(): NativePubSubStats {
    return this.pubsubCounters;
  }

  diagnostics(): Record<string, number> {
    return this.diagnosticCounters;
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

  membershipStats(): NativeMembershipStats {
    return this.membershipCounters;
  }

  async reconcile(): Promise<NativeReconciliationStats> {
    this.calls.push('reconcile');
    return this.reconciliation;
  }

  antiEntropyStats(): NativeAntiEntropyStats {
    return this.antiEntropyCounters;
  }

  async blockPeer(peerId: string): Promise<void> {
    this.calls.push(`blockPeer:${peerId}`);
  }

  unblockPeer(peerId: string): void {
    this.calls.push(`unblockPeer:${peerId}`);
  }

  isRunning(): boolean {
    return this.running;
  }

  signRecord(): never {
    return notFaked('NativeAgent.signRecord');
  }

  flood(): never {
    return notFaked('NativeAgent.flood');
  }

  floodPayloads(): FakePullSource<NativeFlood> {
    return notFaked('NativeAgent.floodPayloads');
  }

  floodStats(): never {
    return notFaked('NativeAgent.floodStats');
  }

  presence(config: NativePresenceConfig): FakePresence {
    const presence = new FakePresence(config, this.calls);
    this.presences.push(presence);
    return presence;
  }

  coordinators(config: NativeCoordinatorConfig): FakeCoordinators {
    const c = new FakeCoordinators(config, this.calls);
    this.coordinatorBooks.push(c);
    return c;
  }

  rendezvous(config: NativeRendezvousConfig, coordinators: FakeCoordinators, presence: FakePresence): FakeRendezvous {
    const r = new FakeRendezvous(config, coordinators, presence, this.calls);
    this.rendezvousClients.push(r);
    return r;
  }

  async findAgent(agentId: string, timeoutMs: number): Promise<NativeAddrRecord | null> {
    this.calls.push(`findAgent:${agentId}:${timeoutMs}`);
    if (this.findAnswer === undefined) return new Promise(() => undefined);
    return this.findAnswer;
  }

  setAdvertise(on: boolean): void {
    this.calls.push(`setAdvertise:${on}`);
  }

  foafStats(): NativeFoafStats {
    return this.foafCounters;
  }

  // Test hooks (test/helpers/hooks.cjs), only ever used against the test addon.
  ownRecord(): never {
    return notFaked('NativeAgent.ownRecord');
  }

  signAddrRecord(): never {
    return notFaked('NativeAgent.signAddrRecord');
  }

  rendezvousStore(): never {
    return notFaked('NativeAgent.rendezvousStore');
  }

  rendezvousLookup(): never {
    return notFaked('NativeAgent.rendezvousLookup');
  }

  rendezvousStats(): never {
    return notFaked('NativeAgent.rendezvousStats');
  }

  async close(): Promise<void> {
    // Ends no stream: the facade must end its own iterators before this.
    this.calls.push('close');
  }
}

/** What the facade told the Rust log bridge: every filter, and the latest sink. */
export const fakeLog: {
  filters: NativeLogFilter[];
  sink: ((batch: NativeLogBatch) => void) | undefined;
} = { filters: [], sink: undefined };

/** Calls to the binding's free functions, as `name:arguments`, and their answers. */
export const fakeFunctions: {
  calls: { name: string; args: unknown[] }[];
  /** What rankHolders() returns. */
  ranked: NativeHolder[];
} = { calls: [], ranked: [] };

/** A class's static side and prototype, without its constructor (napi classes here have none usable from JS). */
type Statics<C> = { [K in keyof C]: C[K] };

const checked = {
  NativeKeypair: FakeKeypair,
  NativeAgent: FakeAgent,
  NativeSubscription: FakePullSource,
  NativeCallPort: FakeCallPort,
  NativeConnectionEvents: FakePullSource,
  NativeMembershipEvents: FakePullSource,
  NativeRecordBook: UnusedRecordBook,
  NativeFloodPayloads: FakePullSource,
  NativePresence: FakePresence,
  NativePresenceEvents: FakePullSource,
  NativeCoordinators: FakeCoordinators,
  NativeRendezvous: FakeRendezvous,
  verifyRecord: (): boolean => notFaked('verifyRecord'),
  verifyCoordinatorAdvert: (): boolean => notFaked('verifyCoordinatorAdvert'),
  rankHolders: (shard: number, candidates: NativeHolder[], count: number): NativeHolder[] => {
    fakeFunctions.calls.push({ name: 'rankHolders', args: [shard, candidates, count] });
    return fakeFunctions.ranked;
  },
  errorCodes: (): string[] => notFaked('errorCodes'),
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
