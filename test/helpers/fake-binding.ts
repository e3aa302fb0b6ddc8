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
  NativeFoafStats,
  NativeMembershipEvent,
  NativeMembershipEvents,
  NativeMembershipStats,
  NativeMessage,
  NativePeer,
  NativePubSubStats,
} from '../../native/binding.js';
import { FakePullSource } from './fake-pull-source.js';

export const FAKE_LIMITS = { MAX_PAYLOAD_BYTES: 64, MAX_TOPIC_BYTES: 16 } as const;

class FakeKeypair {
  constructor(readonly seed: string) {}

  static generate(): FakeKeypair {
    return new FakeKeypair(Math.random().toString(16).slice(2).padEnd(8, '0').slice(0, 8));
  }

  static fromBytes(bytes: Buffer): FakeKeypair {
    const text = bytes.toString('utf8');
    if (!/^[0-9a-f]{8}$/.test(text)) throw new Error('ERR_X0X_BAD_KEY: not a keypair');
    return new FakeKeypair(text);
  }

  static load(file: string): FakeKeypair {
    if (!existsSync(file)) throw new Error(`ERR_X0X_KEY_FILE: ${file} does not exist`);
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
}

class FakeAgent {
  static created: FakeAgent[] = [];
  readonly calls: string[] = [];
  readonly subscriptions: FakePullSource<NativeMessage>[] = [];
  readonly events: FakePullSource<NativeConnectionEvent>[] = [];
  readonly membershipStreams: FakePullSource<NativeMembershipEvent>[] = [];
  /** Set to make the next join() wait for `release`. */
  joinGate: Promise<void> | undefined;
  closed = false;

  private constructor(
    readonly options: NativeAgentOptions,
    readonly keypair: FakeKeypair,
  ) {}

  static async create(options: NativeAgentOptions, keypair: FakeKeypair): Promise<FakeAgent> {
    if (options.bindAddr.endsWith(':1')) throw new Error('ERR_X0X_BAD_ADDRESS: port 1 is privileged');
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
    if (seeds.includes('10.0.0.1:9')) throw new Error('ERR_X0X_JOIN_FAILED: nobody answered');
  }

  async subscribe(topic: string): Promise<FakePullSource<NativeMessage>> {
    this.calls.push(`subscribe ${topic}`);
    const source = new FakePullSource<NativeMessage>();
    this.subscriptions.push(source);
    return source;
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

  activeView(): string[] {
    return ['aa'.repeat(32)];
  }

  passiveView(): string[] {
    return [];
  }

  pubsubStats(): NativePubSubStats {
    return { published: 1, delivered: 2, duplicatesDropped: 3, invalidDropped: 4, oversizedDropped: 6, staleDropped: 7, cacheSize: 5 };
  }

  async activePeers(): Promise<NativePeer[]> {
    return [{ peerId: 'aa'.repeat(32), addr: '127.0.0.1:40001' }];
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

  sealFrame(_topic: string, payload: Buffer): Buffer {
    return payload;
  }

  async publishRaw(topic: string): Promise<void> {
    this.calls.push(`publishRaw:${topic}`);
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

  foafStats(): NativeFoafStats {
    return {
      queriesStarted: 1, queriesHandled: 2, queriesForwarded: 3, duplicatesDropped: 4, repliesSent: 5, repliesRelayed: 6,
      answersAccepted: 7, malformedDropped: 8, badRecordsDropped: 9, unroutableReplies: 10, overloadedDropped: 11,
    };
  }

  async close(): Promise<void> {
    this.calls.push('close');
    this.closed = true;
    for (const source of [...this.subscriptions, ...this.events, ...this.membershipStreams]) source.end();
  }
}

/** A class's static side and prototype, without its constructor (napi classes here have none usable from JS). */
type Statics<C> = { [K in keyof C]: C[K] };

const checked = {
  NativeKeypair: FakeKeypair,
  NativeAgent: FakeAgent,
  NativeSubscription: FakePullSource,
  NativeConnectionEvents: FakePullSource,
  NativeMembershipEvents: FakePullSource,
  ...FAKE_LIMITS,
} satisfies {
  [K in keyof NativeBinding]: NativeBinding[K] extends abstract new (...args: never) => unknown
    ? Statics<NativeBinding[K]>
    : NativeBinding[K];
};

export const fakeBinding = checked as unknown as NativeBinding;

export { FakeAgent, FakeKeypair };

/** Makes `require('<root>/native/index.cjs')` return the fake. Call before importing src/agent.ts. */
export function installFakeBinding(): void {
  const file = path.join(__dirname, '..', '..', 'native', 'index.cjs');
  const mod = new Module(file);
  mod.filename = file;
  mod.loaded = true;
  mod.exports = fakeBinding;
  createRequire(__filename).cache[file] = mod;
}
