// Cross-process network harness: each agent runs in its own Node process
// (test/net/agent-child.mjs, over the built package in dist/) and is driven
// over IPC, so every message in a test crosses real QUIC on 127.0.0.1.
//
//   useNetHarness()                   hooks: logs on failure, kill children after each test
//   spawnAgent({bootstrap, config})   -> AgentProcess, built (not joined): agentId, addr
//   startNetwork(n, {bootstrapCount}) -> { agents }, all started and joined
//   agent.join() / subscribe(topic) -> handle / unsubscribe(handle) / publish(topic, payload) -> id
//   agent.stats() / connectedPeers() / activeView() / blockPeer(id) / close() / kill() / pause() / resume()
//   agent.messages, agent.waitForMessages(count | predicate, {where, timeoutMs}), agent.exited
//   waitUntilMeshed(subscribers, topic, {publishers}) -> handles   overlay warm-up with probes
//   flushTopic(...)                   the same probes, as a fence after real messages
//
// Rules the helpers keep so tests can neither hang nor flake on a busy box:
// - every wait is bounded and fails with a message saying what it waited for;
// - waits are event-driven (they re-check on each event from the children),
//   never fixed sleeps; only pollUntil polls, for state with no events;
// - every child is registered and `stopAll()` SIGKILLs whatever is still alive;
// - child output is buffered and printed only when a test fails or a child
//   exits unexpectedly.
import { fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import * as path from 'node:path';

import { afterAll, afterEach, beforeEach } from 'vitest';

const CHILD_SCRIPT = path.join(__dirname, 'agent-child.mjs');
/** The test addon's path, as `npm run build:test-addon` writes it. */
const { testAddonPath } = createRequire(__filename)('../../native/build.cjs') as { testAddonPath(): string };

/** Default bound of one IPC command (a join to a dead address takes a couple of seconds). */
const CALL_TIMEOUT_MS = 30_000;
/** Default bound of a wait for messages. */
const WAIT_TIMEOUT_MS = 20_000;
/** Default bound of the overlay warm-up in {@link waitUntilMeshed}. */
const MESH_TIMEOUT_MS = 30_000;
/** How long one probe round waits for its probes before the publishers send another. */
const PROBE_ROUND_MS = 500;
/** Payloads starting with this are warm-up probes, kept out of `AgentProcess.messages`. */
export const PROBE_PREFIX = '__x0x_probe__:';
/** Child output kept per agent (the tail), to print on failure. */
const LOG_LIMIT_CHARS = 64 * 1024;

/** Gossip settings passed to `AgentBuilder.withConfig()` in the child. */
export type AgentConfig = Readonly<Record<string, number | boolean | string | null>>;

/** What `publish` sends: UTF-8 text, `n` zero or random bytes (built in the child), or raw bytes. */
export type PayloadSpec =
  | { readonly text: string }
  | { readonly zeros: number }
  | { readonly random: number }
  | { readonly bytesB64: string };

/** `AgentBuilder` settings of a child agent. */
export interface StartOptions {
  /** @defaultValue the builder's default, `"127.0.0.1:0"` */
  readonly bindAddr?: string;
  /** Bootstrap peers for `join()`. @defaultValue none */
  readonly bootstrap?: readonly string[];
  /** Gossip settings. @defaultValue `GossipConfig.DEFAULTS` */
  readonly config?: AgentConfig;
  /** Identity file (`withKeyFile`): a restarted agent keeps its id. @defaultValue a fresh keypair */
  readonly keyFile?: string;
  /** `withAnnounceAddrs`. @defaultValue none */
  readonly announceAddrs?: readonly string[];
}

/** Options of {@link spawnAgent}. */
export interface SpawnOptions extends StartOptions {
  /** Shown in logs and errors. @defaultValue `"agent<n>"` */
  readonly name?: string;
  /**
   * Run the child on the test addon (`npm run build:test-addon`), which has
   * the frame hooks (`sealFrame`, `resealFrame`, `publishRaw`); without it
   * the child loads the shipped addon, like every user. @defaultValue false
   */
  readonly hooks?: boolean;
  /**
   * Network namespace to run the child in (see `test/net/netns.ts`): the
   * child is `ip netns exec <ns> node agent-child.mjs`, which keeps the IPC
   * channel (its fd is inherited through the exec). @defaultValue the host's
   */
  readonly netns?: string;
}

/** The same fields as `PubSubStats` of the public API. */
export interface Stats {
  readonly published: number;
  readonly delivered: number;
  readonly duplicatesDropped: number;
  readonly invalidDropped: number;
  readonly oversizedDropped: number;
  readonly staleDropped: number;
  readonly laggedDropped: number;
  readonly cacheSize: number;
}

/** A peer with an open QUIC connection, as `connectedPeers()` reports it (`path` only for connections). */
export interface Peer {
  readonly peerId: string;
  readonly addr: string;
  readonly path?: 'direct' | 'holepunched' | 'relayed';
}

/** `agent.transport.stats()`: connections opened, by how. */
export interface TransportStats {
  readonly direct: number;
  readonly holepunched: number;
  readonly relayed: number;
  readonly holepunchedByCoordination: number;
}

/** Membership counters, as `agent.membership.stats()` reports them. */
export interface MembershipStats {
  readonly activeViewSize: number;
  readonly passiveViewSize: number;
  readonly probesSent: number;
  readonly suspicions: number;
  readonly confirmedFailures: number;
  readonly gracefulLeaves: number;
  readonly refills: number;
}

/** A membership event of the child's agent. */
export interface MembershipEventInfo {
  readonly type: 'peer-joined' | 'peer-suspected' | 'peer-left';
  readonly peerId: string;
  readonly addr: string;
  readonly reason?: 'graceful' | 'failed' | 'demoted';
  readonly at: number;
}

/** The package's size limits, as the child's build of it reports them. */
export interface Limits {
  readonly maxPayloadBytes: number;
  readonly maxTopicBytes: number;
}

/** An error as the child reported it. */
export interface ErrorInfo {
  readonly code: string;
  readonly message: string;
}

/** What the `close` command reports: the agent closed, and a publish after close failed like this. */
export interface CloseResult {
  readonly closed: boolean;
  readonly publishAfterClose: { readonly code: string | null; readonly message: string };
}

/** The child's commands: arguments and result of each. */
export interface Commands {
  start: { args: StartOptions; result: { agentId: string; addrs: string[]; advertised: string[]; limits: Limits } };
  advertisedAddrs: { args: Record<string, never>; result: string[] };
  transportStats: { args: Record<string, never>; result: TransportStats };
  tryBuild: {
    args: { bindAddr?: string; bootstrap?: string[]; announceAddrs?: string[]; join?: boolean };
    result: { ok: boolean; error?: ErrorInfo & { address: string | null } };
  };
  join: { args: Record<string, never>; result: null };
  subscribe: { args: { topic: string }; result: number };
  unsubscribe: { args: { handle: number }; result: null };
  publish: { args: { topic: string; payload: PayloadSpec }; result: string };
  publishMany: { args: { topic: string; payload: PayloadSpec; count: number }; result: string[] };
  stats: { args: Record<string, never>; result: Stats };
  diagnostics: { args: Record<string, never>; result: Record<string, number> };
  connectedPeers: { args: Record<string, never>; result: Peer[] };
  activeView: { args: Record<string, never>; result: string[] };
  activePeers: { args: Record<string, never>; result: Peer[] };
  waitForPeers: { args: { count: number; timeoutMs: number }; result: { view?: Peer[]; error?: ErrorInfo } };
  waitForTopicPeers: {
    args: { topic: string; count: number; timeoutMs: number };
    result: { peers?: string[]; error?: ErrorInfo };
  };
  passivePeers: { args: Record<string, never>; result: Peer[] };
  membershipStats: { args: Record<string, never>; result: MembershipStats };
  membershipJoin: { args: { peers: string[] }; result: null };
  sealFrame: { args: { topic: string; payloadB64: string }; result: string };
  resealFrame: { args: { topic: string; frameB64: string }; result: string };
  publishRaw: { args: { topic: string; frameB64: string }; result: null };
  blockPeer: { args: { peerId: string }; result: null };
  unblockPeer: { args: { peerId: string }; result: null };
  close: { args: Record<string, never>; result: CloseResult };
  // Records (test/net/records.test.ts): presence and coordinator adverts.
  onlineAgents: { args: Record<string, never>; result: OnlineAgentInfo[] };
  presenceStats: { args: Record<string, never>; result: PresenceStatsInfo };
  advertiseAsCoordinator: { args: Record<string, never>; result: AdvertInfo };
  coordinators: { args: Record<string, never>; result: AdvertInfo[] };
  coordinatorStats: { args: Record<string, never>; result: RecordStatsInfo };
  injectAdvert: { args: { variant: ForgedAdvertVariant; victim?: AdvertInfo }; result: string };
  joinPeers: { args: { addrs: string[] }; result: null };
  reconcile: { args: Record<string, never>; result: ReconciliationStats };
  antiEntropyStats: { args: Record<string, never>; result: AntiEntropyStats };
  findAgent: { args: { agentId: string; timeoutMs?: number; abortAfterStart?: boolean }; result: FindResult };
  discoveryStats: { args: Record<string, never>; result: DiscoveryStats };
  setAdvertise: { args: { on: boolean }; result: null };
  rendezvousRegister: { args: { agentId?: string; addrs?: string[]; timeoutMs?: number }; result: RendezvousCallResult };
  rendezvousUnregister: { args: { agentId?: string; timeoutMs?: number }; result: RendezvousCallResult };
  rendezvousLookup: { args: { agentId: string; timeoutMs?: number }; result: FindResult };
  rendezvousHolders: { args: { agentId: string }; result: HolderInfo[] };
  rendezvousStats: { args: Record<string, never>; result: RendezvousStats };
  ownAddrRecord: { args: Record<string, never>; result: string };
  storeAddrRecord: { args: { agentId: string; recordB64: string; forgeAddrs?: string[] }; result: HolderOutcomeInfo[] };
}

/** A rendezvous holder as `holdersFor` lists it. */
export interface HolderInfo {
  readonly agentId: string;
  readonly addrs: string[];
}

/** One holder's answer to a store. */
export interface HolderOutcomeInfo {
  readonly agentId: string;
  readonly outcome: string;
}

/** What `rendezvous.register`/`unregister` returned, or the error it threw. */
export interface RendezvousCallResult {
  readonly registration?: { readonly shard: number; readonly addrs: string[]; readonly holders: HolderOutcomeInfo[] };
  readonly error?: ErrorInfo;
}

/** The same fields as `RendezvousStats` of the public API. */
export interface RendezvousStats {
  readonly recordsHeld: number;
  readonly storesAccepted: number;
  readonly invalidRejected: number;
  readonly staleRejected: number;
  readonly fullRejected: number;
  readonly lookupsServed: number;
  readonly requestsSent: number;
  readonly answersReceived: number;
  readonly malformedDropped: number;
}

/** `agent.presence.getOnlineAgents()` entry. */
export interface OnlineAgentInfo {
  readonly agentId: string;
  readonly addrs: readonly string[];
  readonly lastSeen: number;
}

/** `agent.presence.stats()`. */
export interface PresenceStatsInfo {
  readonly beaconsSent: number;
  readonly beaconsReceived: number;
  readonly replaysDropped: number;
  readonly invalidDropped: number;
  readonly decryptFailures: number;
  readonly plaintextIgnored: number;
  readonly online: number;
  readonly relayRateLimited: number;
  readonly relayInvalid: number;
}

/** A coordinator advert over IPC (bytes as base64), with its signature re-checked in the child. */
export interface AdvertInfo {
  readonly peerId: string;
  readonly addrs: readonly string[];
  readonly timestamp: number;
  readonly expiresAt: number;
  readonly signatureB64: string;
  readonly publicKeyB64: string;
  /** `verifyCoordinatorAdvert(advert)` in the child. */
  readonly verified: boolean;
  /** The same check after changing one address: must be false. */
  readonly tamperedVerified: boolean;
}

/** `agent.coordinators.stats()`. */
export interface RecordStatsInfo {
  readonly accepted: number;
  readonly rejected: Readonly<Record<string, number>>;
}

/**
 * Forged adverts the child can publish on `x0x.coordinators`:
 * `claims-victim`: signed by the child, claiming the victim's peer id;
 * `stolen-key`: the victim's id and public key, the child's signature;
 * `tampered-addr`: the victim's genuine advert with an address changed (and a newer timestamp);
 * `expired`: a correctly signed advert of the child's own whose expiry has passed.
 */
export type ForgedAdvertVariant = 'claims-victim' | 'stolen-key' | 'tampered-addr' | 'expired';

/** A presence event of the child's agent. */
export interface PresenceEventInfo {
  readonly type: 'agent-online' | 'agent-offline';
  readonly agentId: string;
  readonly at: number;
}

/** `agent.antiEntropy.reconcile()` as the child reports it. */
export interface ReconciliationStats {
  readonly messagesRecovered: number;
  readonly peersContacted: number;
  readonly differencesFound: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly durationMs: number;
  readonly peers: readonly {
    readonly peerId: string;
    readonly estimatedDifference: number;
    readonly differencesFound: number;
    readonly messagesRecovered: number;
    readonly messagesPushed: number;
  }[];
}

/** `agent.antiEntropy.stats()` as the child reports it. */
export interface AntiEntropyStats {
  readonly rounds: number;
  readonly messagesRecovered: number;
  readonly messagesPushed: number;
  readonly differencesFound: number;
  readonly malformedFrames: number;
  readonly failedSessions: number;
  readonly storeSize: number;
}

/** What `findAgent` reported: the addresses found (or null), or the error it failed with. */
export interface FindResult {
  readonly found: { readonly agentId: string; readonly addrs: string[] } | null;
  readonly error?: ErrorInfo;
}

/** The same fields as `DiscoveryStats` of the public API. */
export interface DiscoveryStats {
  readonly queriesStarted: number;
  readonly queriesHandled: number;
  readonly queriesForwarded: number;
  readonly duplicatesDropped: number;
  readonly repliesSent: number;
  readonly repliesRelayed: number;
  readonly answersAccepted: number;
  readonly malformedDropped: number;
  readonly badRecordsDropped: number;
  readonly unroutableReplies: number;
  readonly overloadedDropped: number;
  readonly seenSent: number;
  readonly revisitsRedirected: number;
}

export type Command = keyof Commands;

/** A message one of the child's subscriptions delivered. */
export interface ReceivedMessage {
  /** Which subscription (the value `subscribe()` returned) delivered it. */
  readonly handle: number;
  readonly topic: string;
  /** Agent id of the publisher, as the receiver saw it. */
  readonly from: string;
  /** Message id. */
  readonly id: string;
  readonly publishedAt: number;
  readonly receivedAt: number;
  readonly payloadLen: number;
  /** sha256 of the payload, lowercase hex. */
  readonly payloadSha: string;
  /** The payload, when small enough to travel over IPC (4 KiB). */
  readonly payload?: Buffer;
  /** The payload as UTF-8, when `payload` is present. */
  readonly text?: string;
}

/** A subscription's loop ended (unsubscribe, agent close, or an error). */
export interface SubscriptionEnd {
  readonly handle: number;
  readonly error?: ErrorInfo;
}

/** A connection event of the child's transport. */
export interface ConnectionEventInfo {
  readonly type: 'connected' | 'disconnected';
  readonly peerId: string;
  readonly addr?: string;
  readonly path?: 'direct' | 'holepunched' | 'relayed';
  readonly at: number;
}

/** How a child process ended. */
export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A failed command: `code` is the child's error code (e.g. `ERR_X0X_JOIN_FAILED`) or a harness code. */
export class ChildCallError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'ChildCallError';
    this.code = code;
  }
}

/** Options of the waits. */
export interface WaitOptions {
  /** @defaultValue 20 s */
  readonly timeoutMs?: number;
}

/** Options of {@link AgentProcess.waitForMessages}. */
export interface WaitForMessagesOptions extends WaitOptions {
  /** Only messages for which this is true count (and are returned). @defaultValue all */
  readonly where?: (message: ReceivedMessage) => boolean;
}

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
  readonly cmd: string;
}

type ChildToParent =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: ErrorInfo }
  | ({ event: 'message'; payloadB64?: string } & Omit<ReceivedMessage, 'payload' | 'text'>)
  | ({ event: 'subscriptionEnd' } & SubscriptionEnd)
  | ({ event: 'connection' } & ConnectionEventInfo)
  | ({ event: 'membership' } & MembershipEventInfo)
  | ({ event: 'presence' } & PresenceEventInfo);

/** Every child not yet reaped by {@link stopAll}. */
const running = new Set<AgentProcess>();
/** Children whose output belongs to the current test (printed if it fails). */
const logged = new Set<AgentProcess>();
let spawnCount = 0;

/**
 * One agent in a child process. Created by {@link spawnAgent}, which has
 * already built the agent (not joined) when it resolves.
 */
export class AgentProcess {
  readonly name: string;
  /** Everything the child's subscriptions delivered, probes excluded, in arrival order. */
  readonly messages: ReceivedMessage[] = [];
  /** Warm-up probes the child received (see {@link waitUntilMeshed}). */
  readonly probes: ReceivedMessage[] = [];
  /** Subscriptions whose loop ended. */
  readonly subscriptionEnds: SubscriptionEnd[] = [];
  /** Connection events of the child's transport. */
  readonly connections: ConnectionEventInfo[] = [];
  /** Membership events of the child's agent, in order. */
  readonly membershipEvents: MembershipEventInfo[] = [];
  /** Presence events of the child's agent (`agent.presence.events()`, opened at start). */
  readonly presence: PresenceEventInfo[] = [];
  /** Resolves when the process has exited, however it ended. */
  readonly exited: Promise<ExitInfo>;

  #agentId: string | undefined;
  #addrs: readonly string[] = [];
  #advertised: readonly string[] = [];
  #limits: Limits | undefined;
  #exit: ExitInfo | undefined;
  #log = '';
  #expectingExit = false;
  #nextId = 1;
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, Pending>();
  /** Fires 'change' on every event and on exit; waits re-check then. */
  readonly changes = new EventEmitter();

  /** Use {@link spawnAgent}. @internal */
  constructor(name: string, hooks = false, netns?: string) {
    this.name = name;
    this.changes.setMaxListeners(0);
    this.#child = fork(CHILD_SCRIPT, [], {
      ...(hooks ? { env: { ...process.env, X0X_NATIVE_LIBRARY_PATH: testAddonPath() } } : {}),
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // Not the test runner's flags: the child is a plain Node program. In
      // a namespace, `ip netns exec` execs Node in place (same pid, so
      // kill() still reaches the agent).
      ...(netns === undefined
        ? { execArgv: [] }
        : { execPath: 'ip', execArgv: ['netns', 'exec', netns, process.execPath] }),
      serialization: 'json',
    });
    const append = (chunk: Buffer): void => {
      this.#log = (this.#log + chunk.toString('utf8')).slice(-LOG_LIMIT_CHARS);
    };
    this.#child.stdout?.on('data', append);
    this.#child.stderr?.on('data', append);
    this.#child.on('message', (message: ChildToParent) => this.#onMessage(message));
    this.exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        const why = `${this.name} exited (code ${code}, signal ${signal})`;
        for (const [id, pending] of this.#pending) {
          clearTimeout(pending.timer);
          pending.reject(new ChildCallError('ERR_HARNESS_CHILD_EXITED', `${pending.cmd}: ${why}`));
          this.#pending.delete(id);
        }
        if (!this.#expectingExit) {
          console.error(`[harness] ${why} unexpectedly; its output:\n${this.log || '(none)'}`);
        }
        this.changes.emit('change');
        resolve({ code, signal });
      });
    });
    // A failed spawn also emits 'exit'; this only keeps 'error' from throwing.
    this.#child.on('error', (err) => append(Buffer.from(`[harness] child process error: ${err.message}\n`)));
  }

  /** The agent id; set once `start` has replied. */
  get agentId(): string {
    if (this.#agentId === undefined) throw new Error(`${this.name} has not started`);
    return this.#agentId;
  }

  /** The first listen address, `"127.0.0.1:port"`. */
  get addr(): string {
    const addr = this.#addrs[0];
    if (addr === undefined) throw new Error(`${this.name} has not started`);
    return addr;
  }

  /** `MAX_PAYLOAD_BYTES` and `MAX_TOPIC_BYTES` of the child's package. */
  get limits(): Limits {
    if (this.#limits === undefined) throw new Error(`${this.name} has not started`);
    return this.#limits;
  }

  /** Every listen address. */
  get addrs(): readonly string[] {
    return this.#addrs;
  }

  /** `agent.advertisedAddrs` when `start` replied. */
  get advertised(): readonly string[] {
    return this.#advertised;
  }

  /** `agent.advertisedAddrs` now. */
  advertisedAddrs(): Promise<string[]> {
    return this.call('advertisedAddrs', {});
  }

  /** `agent.transport.stats()`. */
  transportStats(): Promise<TransportStats> {
    return this.call('transportStats', {});
  }

  /** Builds (and with `join`, joins and closes) a second agent in this child; reports its error. */
  tryBuild(args: Commands['tryBuild']['args']): Promise<Commands['tryBuild']['result']> {
    return this.call('tryBuild', args, { timeoutMs: 60_000 });
  }

  /** The child's stdout and stderr so far (the tail). */
  get log(): string {
    return this.#log;
  }

  /** How the process ended, once it has. */
  get exitInfo(): ExitInfo | undefined {
    return this.#exit;
  }

  /** The child's process id. */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /**
   * Sends one command and resolves with its result.
   * @throws {@link ChildCallError} with the child's error code, `ERR_HARNESS_TIMEOUT`
   *   or `ERR_HARNESS_CHILD_EXITED`
   */
  call<C extends Command>(
    cmd: C,
    args: Commands[C]['args'],
    options: WaitOptions = {},
  ): Promise<Commands[C]['result']> {
    if (this.#exit !== undefined || !this.#child.connected) {
      return Promise.reject(new ChildCallError('ERR_HARNESS_CHILD_EXITED', `${cmd}: ${this.name} is gone`));
    }
    const timeoutMs = options.timeoutMs ?? CALL_TIMEOUT_MS;
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new ChildCallError('ERR_HARNESS_TIMEOUT', `${this.name}: ${cmd} got no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer, cmd });
      this.#child.send({ id, cmd, args }, (err) => {
        if (err === null || !this.#pending.delete(id)) return;
        clearTimeout(timer);
        reject(new ChildCallError('ERR_HARNESS_SEND', `${this.name}: cannot send ${cmd}: ${err.message}`));
      });
    });
  }

  /** Builds the agent in the child. Called by {@link spawnAgent}. */
  async start(options: StartOptions = {}): Promise<void> {
    const { agentId, addrs, advertised, limits } = await this.call('start', options);
    this.#agentId = agentId;
    this.#addrs = addrs;
    this.#advertised = advertised;
    this.#limits = limits;
  }

  /** `agent.joinNetwork()`. */
  join(options: WaitOptions = {}): Promise<null> {
    return this.call('join', {}, options);
  }

  /** `agent.subscribe(topic)`; the child pumps the subscription into {@link messages}. Returns its handle. */
  subscribe(topic: string): Promise<number> {
    return this.call('subscribe', { topic });
  }

  /** `subscription.unsubscribe()` for the handle `subscribe()` returned. */
  unsubscribe(handle: number): Promise<null> {
    return this.call('unsubscribe', { handle });
  }

  /** `agent.publish(topic, payload)`; resolves with the message id. */
  publish(topic: string, payload: PayloadSpec): Promise<string> {
    return this.call('publish', { topic, payload });
  }

  /** `count` publishes of `payload` back to back, each awaited; resolves with their ids. */
  publishMany(topic: string, payload: PayloadSpec, count: number): Promise<string[]> {
    // A burst of large payloads takes a while on a loaded machine.
    return this.call('publishMany', { topic, payload, count }, { timeoutMs: 180_000 });
  }

  /** `agent.pubsubStats()`. */
  stats(): Promise<Stats> {
    return this.call('stats', {});
  }

  /** The core's lower-layer counters (test hook `diagnostics`), by name. */
  diagnostics(): Promise<Record<string, number>> {
    return this.call('diagnostics', {});
  }

  /** `agent.connectedPeers()`. */
  connectedPeers(): Promise<Peer[]> {
    return this.call('connectedPeers', {});
  }

  /** Ids of `agent.membership.activeView()`. */
  activeView(): Promise<string[]> {
    return this.call('activeView', {});
  }

  /** `agent.transport.blockPeer(peerId)`. */
  activePeers(): Promise<Peer[]> {
    return this.call('activePeers', {});
  }

  passivePeers(): Promise<Peer[]> {
    return this.call('passivePeers', {});
  }

  membershipStats(): Promise<MembershipStats> {
    return this.call('membershipStats', {});
  }

  /** `agent.pubsub.waitForTopicPeers(topic, count)` in the child, bounded by `timeoutMs`. */
  waitForTopicPeers(topic: string, count: number, timeoutMs: number): Promise<{ peers?: string[]; error?: ErrorInfo }> {
    return this.call('waitForTopicPeers', { topic, count, timeoutMs }, { timeoutMs: timeoutMs + CALL_TIMEOUT_MS });
  }

  /** `agent.membership.join(peers)` in the child. */
  membershipJoin(peers: string[]): Promise<null> {
    return this.call('membershipJoin', { peers });
  }

  /** A signed frame for `topic`, built but not published (test hook). */
  async sealFrame(topic: string, payload: Uint8Array): Promise<Buffer> {
    return Buffer.from(await this.call('sealFrame', { topic, payloadB64: Buffer.from(payload).toString('base64') }), 'base64');
  }

  /** One of the child's frames signed again: same message id, other bytes (test hook). */
  async resealFrame(topic: string, frame: Uint8Array): Promise<Buffer> {
    return Buffer.from(await this.call('resealFrame', { topic, frameB64: Buffer.from(frame).toString('base64') }), 'base64');
  }

  /** Gossips `frame` as it is (test hook). */
  publishRaw(topic: string, frame: Uint8Array): Promise<null> {
    return this.call('publishRaw', { topic, frameB64: Buffer.from(frame).toString('base64') });
  }

  blockPeer(peerId: string): Promise<null> {
    return this.call('blockPeer', { peerId });
  }

  /**
   * `agent.discovery.findAgent(agentId, { timeoutMs })`. With
   * `abortAfterStart` the child aborts the call's signal right after starting
   * it and reports the error.
   */
  findAgent(agentId: string, options: { timeoutMs?: number; abortAfterStart?: boolean } = {}): Promise<FindResult> {
    const bound = (options.timeoutMs ?? 30_000) + CALL_TIMEOUT_MS;
    return this.call('findAgent', { agentId, ...options }, { timeoutMs: bound });
  }

  /** `agent.discovery.stats()`. */
  discoveryStats(): Promise<DiscoveryStats> {
    return this.call('discoveryStats', {});
  }

  /** `agent.rendezvous.register(addrs, { timeoutMs })`, or `register(agentId, addrs, …)` (the removed id parameter, refused) when `agentId` is given; errors are reported, not thrown. */
  rendezvousRegister(options: { agentId?: string; addrs?: string[]; timeoutMs?: number } = {}): Promise<RendezvousCallResult> {
    return this.call('rendezvousRegister', options, { timeoutMs: (options.timeoutMs ?? 10_000) + CALL_TIMEOUT_MS });
  }

  /** `agent.rendezvous.unregister({ timeoutMs })`, or `unregister(agentId, …)` (the removed id parameter, refused) when `agentId` is given; errors are reported, not thrown. */
  rendezvousUnregister(options: { agentId?: string; timeoutMs?: number } = {}): Promise<RendezvousCallResult> {
    return this.call('rendezvousUnregister', options, { timeoutMs: (options.timeoutMs ?? 10_000) + CALL_TIMEOUT_MS });
  }

  /** `agent.rendezvous.lookup(agentId, { timeoutMs })`. */
  rendezvousLookup(agentId: string, options: { timeoutMs?: number } = {}): Promise<FindResult> {
    return this.call('rendezvousLookup', { agentId, ...options }, { timeoutMs: (options.timeoutMs ?? 10_000) + CALL_TIMEOUT_MS });
  }

  /** `agent.rendezvous.holdersFor(agentId)`. */
  rendezvousHolders(agentId: string): Promise<HolderInfo[]> {
    return this.call('rendezvousHolders', { agentId });
  }

  /** `agent.rendezvous.stats()`. */
  rendezvousStats(): Promise<RendezvousStats> {
    return this.call('rendezvousStats', {});
  }

  /** This agent's own signed address record, base64 (test hook). */
  ownAddrRecord(): Promise<string> {
    return this.call('ownAddrRecord', {});
  }

  /**
   * Sends an address record to `agentId`'s rendezvous holders (test hook):
   * `recordB64` as given, or with `forgeAddrs` a forgery carrying the key of
   * `recordB64`'s agent but signed by this agent.
   */
  storeAddrRecord(agentId: string, recordB64: string, forgeAddrs?: string[]): Promise<HolderOutcomeInfo[]> {
    return this.call('storeAddrRecord', { agentId, recordB64, ...(forgeAddrs === undefined ? {} : { forgeAddrs }) }, { timeoutMs: 10_000 + CALL_TIMEOUT_MS });
  }

  /** `agent.discovery.advertiseSelf()` / `stopAdvertising()`. */
  setAdvertise(on: boolean): Promise<null> {
    return this.call('setAdvertise', { on });
  }

  /** `agent.transport.unblockPeer(peerId)`. */
  unblockPeer(peerId: string): Promise<null> {
    return this.call('unblockPeer', { peerId });
  }

  /**
   * `agent.close()`, then a publish on the closed agent (reported in the
   * result). The child drops the IPC channel after replying and is expected
   * to exit by itself: await {@link exited}.
   */
  close(): Promise<CloseResult> {
    this.#expectingExit = true;
    return this.call('close', {});
  }

  /**
   * Stops the child (SIGSTOP): its sockets stay open but it reads, answers
   * and acknowledges nothing, the way a peer that stalls looks from outside.
   * {@link resume} undoes it; `stopAll()` still kills it.
   */
  pause(): void {
    this.#child.kill('SIGSTOP');
  }

  /** Lets a {@link pause}d child run again (SIGCONT). */
  resume(): void {
    this.#child.kill('SIGCONT');
  }

  /** Sends a signal (SIGKILL by default) and resolves when the process is gone. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<ExitInfo> {
    this.#expectingExit = true;
    if (this.#exit === undefined) this.#child.kill(signal);
    return this.exited;
  }

  /** Messages of one subscription handle. */
  messagesOf(handle: number): ReceivedMessage[] {
    return this.messages.filter((m) => m.handle === handle);
  }

  /**
   * Resolves with the (filtered) messages once `until` holds: a count of
   * messages, or a predicate over them. Re-checked on every event.
   * @throws Error naming the agent and what arrived, after `timeoutMs`
   */
  async waitForMessages(
    until: number | ((messages: readonly ReceivedMessage[]) => boolean),
    options: WaitForMessagesOptions = {},
  ): Promise<ReceivedMessage[]> {
    const { where } = options;
    const select = (): ReceivedMessage[] => (where ? this.messages.filter(where) : [...this.messages]);
    const done = typeof until === 'number' ? (ms: readonly ReceivedMessage[]) => ms.length >= until : until;
    let selected = select();
    await waitFor(
      () => done((selected = select())),
      [this],
      {
        timeoutMs: options.timeoutMs ?? WAIT_TIMEOUT_MS,
        what: () =>
          `${this.name} to receive ${typeof until === 'number' ? `${until} message(s)` : 'the expected messages'}` +
          ` (has ${selected.length}: ${selected.map(describeMessage).join(', ') || 'none'})`,
      },
    );
    return selected;
  }

  #onMessage(message: ChildToParent): void {
    if ('id' in message && !('event' in message)) {
      const pending = this.#pending.get(message.id);
      if (pending === undefined) return; // timed out already
      this.#pending.delete(message.id);
      clearTimeout(pending.timer);
      if (message.ok) pending.resolve(message.result);
      else pending.reject(new ChildCallError(message.error.code, `${this.name}: ${pending.cmd}: ${message.error.message}`));
      return;
    }
    switch (message.event) {
      case 'message': {
        const { event: _event, payloadB64, ...rest } = message;
        const payload = payloadB64 === undefined ? undefined : Buffer.from(payloadB64, 'base64');
        const received: ReceivedMessage =
          payload === undefined ? rest : { ...rest, payload, text: payload.toString('utf8') };
        if (received.text?.startsWith(PROBE_PREFIX)) this.probes.push(received);
        else this.messages.push(received);
        break;
      }
      case 'subscriptionEnd': {
        const { event: _event, ...rest } = message;
        this.subscriptionEnds.push(rest);
        break;
      }
      case 'connection': {
        const { event: _event, ...rest } = message;
        this.connections.push(rest);
        break;
      }
      case 'membership': {
        const { event: _event, ...rest } = message;
        this.membershipEvents.push(rest);
        break;
      }
      case 'presence': {
        const { event: _event, ...rest } = message;
        this.presence.push(rest);
        break;
      }
    }
    this.changes.emit('change');
  }
}

function describeMessage(m: ReceivedMessage): string {
  const body = m.text !== undefined ? JSON.stringify(m.text.slice(0, 40)) : `${m.payloadLen} bytes`;
  return `[h${m.handle} ${m.topic} ${body} from ${m.from.slice(0, 8)} id ${m.id.slice(0, 8)}]`;
}

/**
 * Waits until `check()` holds, re-checking whenever one of `sources` reports
 * an event or exits.
 * @throws Error `"timed out after N ms waiting for <what>"`
 */
export function waitFor(
  check: () => boolean,
  sources: readonly AgentProcess[],
  options: { readonly timeoutMs: number; readonly what: string | (() => string) },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      for (const source of sources) source.changes.off('change', onChange);
      if (err) reject(err);
      else resolve();
    };
    const onChange = (): void => {
      let ok: boolean;
      try {
        ok = check();
      } catch (err) {
        finish(err as Error);
        return;
      }
      if (ok) {
        finish();
        return;
      }
      // Nothing more will come from a process that is gone.
      const gone = sources.find((source) => source.exitInfo !== undefined);
      if (gone !== undefined) {
        const what = typeof options.what === 'function' ? options.what() : options.what;
        finish(new Error(`${gone.name} exited (${JSON.stringify(gone.exitInfo)}) while waiting for ${what}`));
      }
    };
    const timer = setTimeout(() => {
      const what = typeof options.what === 'function' ? options.what() : options.what;
      finish(new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}`));
    }, options.timeoutMs);
    for (const source of sources) source.changes.on('change', onChange);
    onChange();
  });
}

/**
 * Runs `wait`; if it fails, adds what each agent's anti-entropy, connections
 * and coordinator book looked like, so a record that never spread says
 * which path (Plumtree's offer to a new peer, or an anti-entropy round) broke.
 */
export async function explainFailure<T>(agents: readonly AgentProcess[], wait: () => Promise<T>): Promise<T> {
  try {
    return await wait();
  } catch (error) {
    const states = await Promise.all(
      agents.map(async (x) => {
        const [antiEntropy, peers, coordinators] = await Promise.all([
          x.call('antiEntropyStats', {}),
          x.connectedPeers(),
          x.call('coordinatorStats', {}),
        ]).catch((e: unknown) => [String(e)]);
        return `${x.name}: ${JSON.stringify({ antiEntropy, peers, coordinators })}`;
      }),
    );
    throw new Error(`${(error as Error).message}\n${states.join('\n')}`, { cause: error });
  }
}

/**
 * For state the children do not report as events (views, peers): calls
 * `read` every `intervalMs` until `ok` holds for its result, which it returns.
 * @throws Error naming `what` and the last result, after `timeoutMs`
 */
export async function pollUntil<T>(
  read: () => Promise<T>,
  ok: (value: T) => boolean,
  options: { readonly timeoutMs: number; readonly intervalMs?: number; readonly what: string },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() >= deadline) {
      throw new Error(
        `timed out after ${options.timeoutMs} ms waiting for ${options.what}; last seen: ${JSON.stringify(value)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 200));
  }
}

/** Like {@link waitFor}, but resolves `false` instead of failing when `ms` pass. */
async function settle(check: () => boolean, sources: readonly AgentProcess[], ms: number): Promise<boolean> {
  try {
    await waitFor(check, sources, { timeoutMs: ms, what: '' });
    return true;
  } catch {
    return check();
  }
}

/**
 * Forks a child, builds its agent (not joined yet) and resolves once
 * `agentId` and `addr` are known. The child is registered for
 * {@link stopAll}.
 */
export async function spawnAgent(options: SpawnOptions = {}): Promise<AgentProcess> {
  const { name = `agent${spawnCount}`, hooks = false, netns, ...start } = options;
  spawnCount += 1;
  const agent = new AgentProcess(name, hooks, netns);
  running.add(agent);
  logged.add(agent);
  await agent.start(start);
  return agent;
}

/** Options of {@link startNetwork}. */
export interface NetworkOptions {
  /** Agents that start without bootstrap peers and serve as the others' seeds (1 or 2). @defaultValue 1 */
  readonly bootstrapCount?: 1 | 2;
  /** Gossip settings of every agent. */
  readonly config?: AgentConfig;
  /** Run every agent on the test addon (see {@link SpawnOptions.hooks}). @defaultValue false */
  readonly hooks?: boolean;
}

/** Agents started and joined by {@link startNetwork}. */
export interface Network {
  readonly agents: readonly AgentProcess[];
  /** Addresses the non-bootstrap agents joined through. */
  readonly bootstrapAddrs: readonly string[];
  /** Kills every agent of this network that is still running. */
  stopAll(): Promise<void>;
}

/**
 * Starts `n` agents in `n` processes: agent 0 is the seed; with
 * `bootstrapCount: 2`, agent 1 joins through it and becomes a second seed;
 * the rest start with the seed address(es) and join one after the other.
 */
export async function startNetwork(n: number, options: NetworkOptions = {}): Promise<Network> {
  const { bootstrapCount = 1, config, hooks = false } = options;
  if (n < bootstrapCount) throw new RangeError(`startNetwork(${n}) needs at least ${bootstrapCount} agents`);
  const withConfig = { hooks, ...(config === undefined ? {} : { config }) };
  const seed = await spawnAgent({ name: 'agent0', ...withConfig });
  const seeds = [seed];
  if (bootstrapCount === 2) {
    const second = await spawnAgent({ name: 'agent1', bootstrap: [seed.addr], ...withConfig });
    await second.join();
    seeds.push(second);
  }
  const bootstrapAddrs = seeds.map((s) => s.addr);
  const rest = await Promise.all(
    Array.from({ length: n - seeds.length }, (_, i) =>
      spawnAgent({ name: `agent${seeds.length + i}`, bootstrap: bootstrapAddrs, ...withConfig }),
    ),
  );
  for (const agent of rest) await agent.join();
  const agents = [...seeds, ...rest];
  return { agents, bootstrapAddrs, stopAll: () => killAll(agents) };
}

async function killAll(agents: Iterable<AgentProcess>): Promise<void> {
  await Promise.all([...agents].map((agent) => agent.kill('SIGKILL')));
}

/** SIGKILLs every child that is still running. */
export async function stopAll(): Promise<void> {
  const agents = [...running];
  running.clear();
  await killAll(agents);
}

/** Prints the output of every child spawned during the current test (or since the file started). */
export function dumpLogs(): void {
  for (const agent of logged) {
    const exit = agent.exitInfo;
    const state = exit ? `exited code ${exit.code} signal ${exit.signal}` : 'running';
    const id = (() => {
      try {
        return agent.agentId.slice(0, 16);
      } catch {
        return 'not started';
      }
    })();
    console.error(`----- ${agent.name} (${id}, pid ${agent.pid}, ${state}) -----\n${agent.log || '(no output)'}`);
  }
}

/** Options of {@link useNetHarness}. */
export interface HarnessOptions {
  /**
   * When children are killed: after each test, or once after the file (for a
   * network started in `beforeAll` and shared by the tests).
   * @defaultValue `"each"`
   */
  readonly stop?: 'each' | 'all';
}

/**
 * Installs the hooks of a test file: the output of the test's children is
 * printed when it fails, and every child is killed after each test (or after
 * the file, with `stop: 'all'`).
 */
export function useNetHarness(options: HarnessOptions = {}): void {
  beforeEach(({ onTestFailed }) => {
    if (options.stop !== 'all') logged.clear();
    onTestFailed(() => dumpLogs());
  });
  if (options.stop === 'all') {
    afterAll(stopAll);
  } else {
    afterEach(stopAll);
  }
}

/** Options of {@link waitUntilMeshed}. */
export interface MeshOptions extends WaitOptions {
  /** Agents that publish probes; each subscriber must see a probe from each. @defaultValue the first agent */
  readonly publishers?: readonly AgentProcess[];
}

/**
 * Overlay warm-up for one topic: every agent in `subscribers` subscribes, then
 * each publisher publishes probe messages, a round at a time, until every
 * subscriber has seen a probe from every publisher. Probes go to
 * `AgentProcess.probes`, never to `messages`, so a test's real messages
 * (each published exactly once, after this) are counted without them.
 *
 * @returns the subscription handles, in the order of `subscribers`
 * @throws Error after `timeoutMs` (default 30 s) naming who saw nothing from whom
 */
export async function waitUntilMeshed(
  subscribers: readonly AgentProcess[],
  topic: string,
  options: MeshOptions = {},
): Promise<number[]> {
  const handles = await Promise.all(subscribers.map((agent) => agent.subscribe(topic)));
  await flushTopic(subscribers, handles, topic, options);
  return handles;
}

/**
 * Publishes probes on `topic` from each publisher, a round at a time, until
 * each subscription handle saw a probe from each publisher sent by this
 * call. Used for the warm-up, and after real messages as a fence: once a
 * later probe arrived, earlier traffic had its chance too.
 */
export async function flushTopic(
  subscribers: readonly AgentProcess[],
  handles: readonly number[],
  topic: string,
  options: MeshOptions = {},
): Promise<void> {
  const publishers = options.publishers ?? subscribers.slice(0, 1);
  const timeoutMs = options.timeoutMs ?? MESH_TIMEOUT_MS;
  const tag = `${PROBE_PREFIX}${topic}:${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}:`;
  const missing = (): string[] => {
    const gaps: string[] = [];
    subscribers.forEach((sub, i) => {
      for (const pub of publishers) {
        const seen = sub.probes.some(
          (p) => p.handle === handles[i] && p.from === pub.agentId && p.text?.startsWith(tag) === true,
        );
        if (!seen) gaps.push(`${sub.name} from ${pub.name}`);
      }
    });
    return gaps;
  };
  const everyone = [...new Set([...subscribers, ...publishers])];
  const deadline = Date.now() + timeoutMs;
  for (let round = 0; missing().length > 0; round += 1) {
    const gone = everyone.find((agent) => agent.exitInfo !== undefined);
    if (gone !== undefined) {
      throw new Error(`${gone.name} exited while probing the overlay of ${JSON.stringify(topic)}`);
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for the overlay of ${JSON.stringify(topic)}: ` +
          `no probe reached ${missing().join('; ')}`,
      );
    }
    await Promise.all(publishers.map((pub) => pub.publish(topic, { text: `${tag}${pub.name}:${round}` })));
    await settle(() => missing().length === 0, everyone, Math.min(PROBE_ROUND_MS, Math.max(0, deadline - Date.now())));
  }
}

/** sha256 of `bytes`, lowercase hex, as `ReceivedMessage.payloadSha` carries it. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Counts how often each message id occurs. */
export function countById(messages: readonly ReceivedMessage[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of messages) counts.set(m.id, (counts.get(m.id) ?? 0) + 1);
  return counts;
}
