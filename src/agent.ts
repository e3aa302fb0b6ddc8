/**
 * The agent: one node of the x0x gossip network, and the builder that
 * configures it.
 *
 * @module
 */

import './polyfills.js';

import { throwIfAborted } from './abort.js';
import { checkPeerAddress, checkSocketAddress } from './address.js';
import { AgentCore } from './agent-core.js';
import { checkOptions, checkSignalOptions, invalidArgType } from './arg-errors.js';
import { registerCore } from './core-registry.js';
import { GossipConfig, type GossipConfigInput } from './config.js';
import { createCoordinators, type CoordinatorManager } from './coordinators.js';
import { createPresence, type PresenceManager } from './presence.js';
import { AlreadyBuiltError, BadAddressError, callNative, InvalidConfigError } from './errors.js';
import { AgentKeypair, nativeKeypairOf, type AgentId } from './identity.js';
import { loadOrCreateKeyFile } from './key-file.js';
import { loadBinding, type NativeAgentOptions } from './native.js';
import { callPort } from './native-calls.js';
import { createRuntime, type GossipRuntime } from './runtime.js';
import type { Subscription } from './subscription.js';
import { createPubSub, type AbortOptions, type PubSubManager, type PubSubStats } from './pubsub.js';
import { createMembership, type MembershipManager } from './membership.js';
import { createAntiEntropy, type AntiEntropyManager } from './anti-entropy.js';
import { createTransport, type ConnectedPeer, type TransportAdapter } from './transport.js';
import { createDiscovery, type DiscoveryManager } from './discovery.js';
import { createRendezvous, type RendezvousManager } from './rendezvous.js';
import { collectAgentMetricFamilies } from './metrics.js';
import { logAgentEvents } from './event-log.js';
import { AgentLog, isLogLevel, type LogLevel, type Logger, type LoggerOptions } from './logging.js';
import { attachNativeLog } from './native-log.js';
import { formatExposition } from './prometheus.js';

export type { AbortOptions, PubSubStats } from './pubsub.js';

const DEFAULT_BIND_ADDRESS = '127.0.0.1:0';

let createAgent: (
  core: AgentCore,
  config: GossipConfig,
  bootstrap: readonly string[],
  log: AgentLog,
  detachLog: () => void,
) => Agent;

/**
 * One node of the x0x network.
 *
 * Create it with {@link Agent.builder}. The agent is running as soon as
 * `build()` resolves; {@link Agent.joinNetwork} connects it to the builder's
 * bootstrap peers. {@link Agent.close} releases the socket and ends every
 * subscription and event iterator; afterwards every method fails with
 * `ClosedError`.
 *
 * @example
 * ```ts
 * await using agent = await Agent.builder().withBootstrapPeers(['127.0.0.1:9000']).build();
 * await agent.joinNetwork();
 * const sub = await agent.subscribe('news');
 * await agent.publish('news', 'hello');
 * ```
 */
export class Agent implements AsyncDisposable {
  static {
    createAgent = (core, config, bootstrap, log, detachLog) => new Agent(core, config, bootstrap, log, detachLog);
  }

  /** This agent's id, derived from its keypair. */
  readonly agentId: AgentId;
  /** The validated gossip settings the agent was built with. */
  readonly config: GossipConfig;
  /** The QUIC transport underneath: addresses, connections and their events. */
  readonly transport: TransportAdapter;
  /** The gossip runtime as a start/stop service. */
  readonly runtime: GossipRuntime;
  /** Publish/subscribe: subscriptions, publishing and delivery counters. */
  readonly pubsub: PubSubManager;
  /** HyParView views, SWIM failure detection and membership events. */
  readonly membership: MembershipManager;
  /** Presence beacons: which agents are online, and events when that changes. */
  readonly presence: PresenceManager;
  /** Coordinator adverts: publicly reachable agents others can use. */
  readonly coordinators: CoordinatorManager;
  /** Repair of missed messages by IBLT reconciliation with neighbours. */
  readonly antiEntropy: AntiEntropyManager;
  /** Finding agents nearby by FOAF random walks; this agent answers for itself by default. */
  readonly discovery: DiscoveryManager;
  /** Rendezvous: register this agent, look any agent up by id. */
  readonly rendezvous: RendezvousManager;

  readonly #core: AgentCore;
  readonly #bootstrap: readonly string[];
  readonly #log: AgentLog;
  readonly #detachLog: () => void;
  #closing: Promise<void> | undefined;

  private constructor(
    core: AgentCore,
    config: GossipConfig,
    bootstrap: readonly string[],
    log: AgentLog,
    detachLog: () => void,
  ) {
    this.#core = core;
    this.#log = log;
    this.#detachLog = detachLog;
    registerCore(this, core);
    this.#bootstrap = bootstrap;
    this.agentId = core.native.agentId;
    this.config = config;
    this.transport = createTransport(core);
    this.runtime = createRuntime(core, () => this.close());
    this.pubsub = createPubSub(core);
    this.membership = createMembership(core, config);
    this.presence = createPresence(core, config);
    this.coordinators = createCoordinators(core, config);
    this.antiEntropy = createAntiEntropy(core);
    this.discovery = createDiscovery(core);
    this.rendezvous = createRendezvous(core, config, this.coordinators, this.presence);
  }

  /** Starts configuring a new agent. */
  static builder(): AgentBuilder {
    return new AgentBuilder();
  }

  /**
   * Addresses the agent is bound to, as `"ip:port"`, exactly as bound (a
   * wildcard stays `0.0.0.0:port`). Same as `agent.transport.listenAddrs`.
   * To tell another machine where to reach this agent, use
   * {@link Agent.advertisedAddrs}.
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  get listenAddrs(): string[] {
    return this.transport.listenAddrs;
  }

  /**
   * Addresses this agent tells others to dial, as `"ip:port"`: the
   * announce addresses, the specific bind address, or for a wildcard bind
   * the machine's non-loopback interface addresses plus the address peers
   * observe it at. Every signed record it makes carries this list; hand one
   * to other agents as a bootstrap peer. Same as
   * `agent.transport.advertisedAddrs`, which details the rules.
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  get advertisedAddrs(): string[] {
    return this.transport.advertisedAddrs;
  }

  /** True once {@link Agent.close} has been called. */
  get closed(): boolean {
    return this.#core.closed;
  }

  /**
   * Joins the network through the builder's bootstrap peers. With none, this
   * agent is the first node and the call resolves at once.
   *
   * Aborting stops the wait; the native join cannot be cancelled and may
   * still complete in the background.
   *
   * Once joined, the agent starts its presence beacons and, with the
   * config's `coordinator` set, its coordinator adverts.
   *
   * @param options - `signal` stops waiting for the join
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `options` is given but is not an object (`null`
   *   included), or `options.signal` is not an `AbortSignal`
   * @throws {@link JoinFailedError} (`ERR_X0X_JOIN_FAILED`) when no bootstrap peer completed the join
   * @throws {@link BadAddressError} (`ERR_X0X_BAD_ADDRESS`) when a bootstrap peer cannot be dialled
   * @throws {@link AbortError} (`ERR_X0X_ABORTED`) when `options.signal` aborts first
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  async joinNetwork(options?: AbortOptions): Promise<void> {
    this.#core.use();
    const { signal } = checkSignalOptions(options);
    throwIfAborted(signal);
    const seeds = this.#bootstrap.length;
    this.#log.emit('debug', 'x0x:agent', 'joining', { seeds });
    try {
      await this.membership.join(this.#bootstrap, { signal });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      this.#log.emit('error', 'x0x:agent', 'join failed', { seeds, code: typeof code === 'string' ? code : 'unknown' });
      throw err;
    }
    this.#log.emit('info', 'x0x:agent', seeds === 0 ? 'started a new network' : 'joined', { seeds });
    // Records start once there is a network to tell (the config's
    // `coordinator` flag advertises here).
    await this.coordinators.start();
    await this.presence.start();
  }

  /**
   * Subscribes to a topic. Messages published on it from now on arrive on
   * the returned {@link Subscription}; anti-entropy may also deliver ones
   * published shortly before, while a neighbour still holds them (within
   * `messageCacheTtl`).
   *
   * @param topic - non-empty, at most `MAX_TOPIC_BYTES` UTF-8 bytes
   * @param options - aborting `signal` ends the subscription, also after this call resolved
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `options` is given but is not an object (`null`
   *   included), or `options.signal` is not an `AbortSignal`
   * @throws {@link InvalidTopicError} (`ERR_X0X_INVALID_TOPIC`) when the topic is empty or too long
   * @throws {@link AbortError} (`ERR_X0X_ABORTED`) when `options.signal` has aborted
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  subscribe(topic: string, options?: AbortOptions): Promise<Subscription> {
    return this.pubsub.subscribe(topic, options);
  }

  /**
   * Publishes a message to every subscriber of `topic` across the network.
   * Same as `agent.pubsub.publish()`.
   *
   * @param topic - non-empty, at most `MAX_TOPIC_BYTES` UTF-8 bytes
   * @param data - the payload; strings are UTF-8 encoded; at most `MAX_PAYLOAD_BYTES` bytes
   * @param options - `signal` gives up while backpressure still holds the message back; once
   *   sent, aborting does not recall it
   * @returns the message id (BLAKE3, 64 lowercase hex characters), as subscribers see it in `Message.id`
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `options` is given but is not an object (`null`
   *   included), or `options.signal` is not an `AbortSignal`
   * @throws {@link InvalidTopicError} (`ERR_X0X_INVALID_TOPIC`) when the topic is empty or too long
   * @throws {@link PayloadTooLargeError} (`ERR_X0X_PAYLOAD_TOO_LARGE`) when the payload exceeds `MAX_PAYLOAD_BYTES`
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `data` is neither a `Uint8Array` nor a string
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   * @throws {@link AbortError} (`ERR_X0X_ABORTED`) when `options.signal` aborted before the message was sent
   */
  publish(topic: string, data: Uint8Array | string, options?: AbortOptions): Promise<string> {
    return this.pubsub.publish(topic, data, options);
  }

  /**
   * Peers with an open connection right now. Same as `agent.transport.connectedPeers()`.
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  connectedPeers(): Promise<ConnectedPeer[]> {
    return this.transport.connectedPeers();
  }

  /**
   * Counters of the publish/subscribe layer.
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  pubsubStats(): PubSubStats {
    return this.pubsub.stats();
  }

  /**
   * The agent's counters and gauges in the Prometheus text exposition format
   * (version 0.0.4; serve it with `PROMETHEUS_CONTENT_TYPE`). Every sample is
   * a figure the managers' `stats()` already report, renamed `x0x_*`, plus
   * the connected-peer count and the transport frame counters, so two
   * scrapes can be compared like any Prometheus counters.
   *
   * @example
   * ```ts
   * import { createServer } from 'node:http';
   * import { PROMETHEUS_CONTENT_TYPE } from '@x0x/node';
   *
   * createServer(async (req, res) => {
   *   res.setHeader('Content-Type', PROMETHEUS_CONTENT_TYPE);
   *   res.end(await agent.metrics());
   * }).listen(9464, '127.0.0.1');
   * ```
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  async metrics(): Promise<string> {
    return formatExposition(await collectAgentMetricFamilies(this));
  }

  /**
   * Ends every subscription and event iterator, then closes the socket and
   * stops the runtime. Idempotent: every call returns the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#closeOnce();
    return this.#closing;
  }

  async #closeOnce(): Promise<void> {
    this.#log.emit('debug', 'x0x:agent', 'closing', { agentId: this.agentId });
    this.coordinators.stop();
    this.rendezvous.stop();
    try {
      await this.#core.close();
      this.#log.emit('info', 'x0x:agent', 'closed', { agentId: this.agentId });
    } finally {
      // After "closed", so it stays the last record this agent's logger gets.
      this.#detachLog();
    }
  }

  /** Same as {@link Agent.close}; lets `await using` close the agent. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

type KeySource =
  | { readonly kind: 'generate' }
  | { readonly kind: 'keypair'; readonly keypair: AgentKeypair }
  | { readonly kind: 'file'; readonly path: string };

/**
 * Configures and creates an {@link Agent}. Every `with*` method validates its
 * argument at once and returns the builder; {@link AgentBuilder.build} can be
 * called once.
 *
 * @example
 * ```ts
 * const agent = await Agent.builder()
 *   .withKeyFile('./agent.key')
 *   .withBindAddress('0.0.0.0:9000')
 *   .withConfig({ activeViewSize: 8 })
 *   .build();
 * ```
 */
export class AgentBuilder {
  #keySource: KeySource = { kind: 'generate' };
  #bindAddress = DEFAULT_BIND_ADDRESS;
  #bootstrap: readonly string[] = [];
  #config = new GossipConfig();
  #dataDir: string | undefined;
  #announce: readonly string[] = [];
  #upnp = false;
  #logger: Logger | undefined;
  #loggerLevel: LogLevel = 'debug';
  #built = false;

  /**
   * A builder with every default: a fresh keypair, bound to `127.0.0.1:0`,
   * no bootstrap peers, `GossipConfig.DEFAULTS`. Same as `Agent.builder()`.
   */
  // Written out only to carry that comment into the API reference.
  constructor() {}

  /**
   * Uses this keypair as the agent's identity (replaces an earlier
   * {@link AgentBuilder.withKeyFile}). Without either, a fresh keypair is
   * generated and the agent id changes on every start.
   * @param keypair - from {@link AgentKeypair.generate} or {@link AgentKeypair.fromBytes}
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `keypair` is not an `AgentKeypair`
   * @throws {@link AlreadyBuiltError} (`ERR_X0X_ALREADY_BUILT`) after `build()`
   */
  withKeypair(keypair: AgentKeypair): this {
    this.#assertUnbuilt();
    if (!(keypair instanceof AgentKeypair)) {
      throw invalidArgType('withKeypair() expects an AgentKeypair');
    }
    this.#keySource = { kind: 'keypair', keypair };
    return this;
  }

  /**
   * Keeps the identity in a file: `build()` loads it if the file exists, and
   * otherwise generates a keypair and saves it there (mode 0600). A corrupt
   * file is an error, never overwritten. Replaces an earlier
   * {@link AgentBuilder.withKeypair}.
   *
   * @param path - file path; its directory must exist. Nothing is read or
   *   written until `build()`, which reports a bad file as `KeyFileError`.
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `path` is not a string
   * @throws {@link InvalidConfigError} (`ERR_X0X_INVALID_CONFIG`, field `keyFile`) when `path` is empty
   * @throws {@link AlreadyBuiltError} (`ERR_X0X_ALREADY_BUILT`) after `build()`
   */
  withKeyFile(path: string): this {
    this.#assertUnbuilt();
    if (typeof path !== 'string') throw invalidArgType('withKeyFile() expects a file path string');
    if (path.length === 0) {
      throw new InvalidConfigError('keyFile must be a non-empty file path', { field: 'keyFile' });
    }
    this.#keySource = { kind: 'file', path };
    return this;
  }

  /**
   * The local address to bind the QUIC endpoint to. Port 0 picks a free port.
   * @param addr - `"ip:port"` or `"[ipv6]:port"`
   * @defaultValue `"127.0.0.1:0"`
   * @throws {@link BadAddressError} (`ERR_X0X_BAD_ADDRESS`) when `addr` is not a literal `ip:port`
   * @throws {@link AlreadyBuiltError} (`ERR_X0X_ALREADY_BUILT`) after `build()`
   */
  withBindAddress(addr: string): this {
    this.#assertUnbuilt();
    this.#bindAddress = checkSocketAddress(addr, 'bind address', true);
    return this;
  }

  /**
   * Peers that {@link Agent.joinNetwork} dials; replaces an earlier list.
   * Host names are resolved at each join, to every address they have.
   * @param addrs - each `"ip:port"`, `"[ipv6]:port"` or `"host.name:port"`, port 1 to 65535
   * @defaultValue `[]` (this agent starts a new network)
   * @throws {@link BadAddressError} (`ERR_X0X_BAD_ADDRESS`) when an entry is none of these (its `address` names it);
   *   a name that does not resolve fails `joinNetwork()` the same way
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `addrs` is not an array
   * @throws {@link AlreadyBuiltError} (`ERR_X0X_ALREADY_BUILT`) after `build()`
   */
  withBootstrapPeers(addrs: readonly string[]): this {
    this.#assertUnbuilt();
    if (!Array.isArray(addrs)) {
      throw invalidArgType('withBootstrapPeers() expects an array of "ip:port" or "host:port" strings');
    }
    this.#bootstrap = Object.freeze(addrs.map((addr: unknown) => checkPeerAddress(addr, 'bootstrap peer')));
    return this;
  }

  /**
   * Addresses to advertise instead of the ones the agent finds (see
   * {@link Agent.advertisedAddrs}): for a node behind a port forward, or
   * with a public address its interfaces do not show. Replaces an earlier
   * list; an empty list restores the default.
   * @param addrs - each a literal `"ip:port"` another machine can dial: no
   *   wildcard host, port 1 to 65535; at most 16
   * @defaultValue `[]` (found from the bind address, interfaces and peers)
   * @throws {@link BadAddressError} (`ERR_X0X_BAD_ADDRESS`) when an entry is not such an address (its `address` names it)
   * @throws {@link InvalidConfigError} (`ERR_X0X_INVALID_CONFIG`, field `announceAddrs`) when more than 16 are given
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `addrs` is not an array
   * @throws {@link AlreadyBuiltError} (`ERR_X0X_ALREADY_BUILT`) after `build()`
   */
  withAnnounceAddrs(addrs: readonly string[]): this {
    this.#assertUnbuilt();
    if (!Array.isArray(addrs)) {
      throw invalidArgType('withAnnounceAddrs() expects an array of "ip:port" strings');
    }
    if (addrs.length > 16) {
      throw new InvalidConfigError(`announceAddrs takes at most 16 addresses (got ${addrs.length})`, {
        field: 'announceAddrs',
      });
    }
    this.#announce = Object.freeze(
      addrs.map((addr: unknown) => {
        const ok = checkSocketAddress(addr, 'announce address', false);
        const host = ok.startsWith('[') ? ok.slice(1, ok.lastIndexOf(']')) : ok.slice(0, ok.lastIndexOf(':'));
        if (host === '0.0.0.0' || /^[0:]+$/.test(host)) {
          throw new BadAddressError(`announce address must name a host others can dial, not a wildcard (got ${JSON.stringify(ok)})`, {
            address: ok,
          });
        }
        return ok;
      }),
    );
    return this;
  }

  /**
   * Lets ant-quic ask the router for a port mapping (UPnP IGD), so peers
   * outside a home NAT can dial in. Off by default: it opens a port on the
   * user's router, which an application should only do when asked to.
   * @param on - `true` to ask the router
   * @defaultValue `false`
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `on` is not a boolean
   * @throws {@link AlreadyBuiltError} (`ERR_X0X_ALREADY_BUILT`) after `build()`
   */
  withUpnp(on: boolean): this {
    this.#assertUnbuilt();
    if (typeof on !== 'boolean') throw invalidArgType(`withUpnp() expects true or false (got ${typeof on})`);
    this.#upnp = on;
    return this;
  }

  /**
   * Gossip settings: a {@link GossipConfig} or the fields to change from the
   * defaults. Replaces an earlier config whole; fields are not merged.
   * @param config - a `GossipConfig`, or its fields as `new GossipConfig()` takes them
   * @defaultValue `GossipConfig.DEFAULTS`
   * @throws {@link InvalidConfigError} (`ERR_X0X_INVALID_CONFIG`) on an unknown field or a value out of
   *   range (its `field` names it)
   * @throws {@link AlreadyBuiltError} (`ERR_X0X_ALREADY_BUILT`) after `build()`
   */
  withConfig(config: GossipConfig | Partial<GossipConfigInput>): this {
    this.#assertUnbuilt();
    this.#config = config instanceof GossipConfig ? config : new GossipConfig(config);
    return this;
  }

  /**
   * Directory where the agent persists its bootstrap cache (peers seen
   * before), so a restart can rejoin without the original seeds.
   * @param dir - a directory path; checked when the agent starts, not here
   * @defaultValue none: the cache lives in memory only
   * @throws {@link InvalidConfigError} (`ERR_X0X_INVALID_CONFIG`, field `dataDir`) when `dir` is an empty string
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `dir` is not a string
   * @throws {@link AlreadyBuiltError} (`ERR_X0X_ALREADY_BUILT`) after `build()`
   */
  withDataDir(dir: string): this {
    this.#assertUnbuilt();
    if (typeof dir !== 'string') throw invalidArgType('withDataDir() expects a directory path string');
    if (dir.length === 0) {
      throw new InvalidConfigError('dataDir must be a non-empty directory path', { field: 'dataDir' });
    }
    this.#dataDir = dir;
    return this;
  }

  /**
   * Sends log records to `logger` as well as to the `debug` package
   * (`DEBUG=x0x:*`): the agent's own (lifecycle, membership and connection
   * events) and, while the agent is open, the Rust core's `tracing` events
   * up to `options.level`. Rust records are process-wide: with several
   * agents in one process, each logger gets the Rust records of all of
   * them. Without a logger and with `DEBUG` off, no record is made at all.
   * @param logger - called synchronously with each {@link LogRecord}; what it throws is ignored
   * @param options - `level`: the most verbose level `logger` receives, for the TypeScript
   *   and the Rust records alike (default `debug`); `debug` output is not filtered by it
   * @defaultValue none: records go to `debug` only, which is silent unless `DEBUG` names them
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `options` is given but is not an object (`null` included)
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `logger` is not a function
   * @throws {@link InvalidConfigError} (`ERR_X0X_INVALID_CONFIG`, field `level`) when `options.level`
   *   is not a {@link LogLevel}
   * @throws {@link AlreadyBuiltError} (`ERR_X0X_ALREADY_BUILT`) after `build()`
   */
  withLogger(logger: Logger, options?: LoggerOptions): this {
    this.#assertUnbuilt();
    if (typeof logger !== 'function') throw invalidArgType('withLogger() expects a function taking a log record');
    const level = checkOptions(options).level ?? 'debug';
    if (!isLogLevel(level)) {
      throw new InvalidConfigError(`level must be error, warn, info, debug or trace (got ${String(level)})`, {
        field: 'level',
      });
    }
    this.#logger = logger;
    this.#loggerLevel = level;
    return this;
  }

  /**
   * Creates the agent: resolves the keypair, binds the socket and starts the
   * gossip runtime. Can be called once per builder.
   *
   * @throws {@link KeyFileError} (`ERR_X0X_KEY_FILE`) when the key file cannot be read or written
   * @throws {@link BadAddressError} (`ERR_X0X_BAD_ADDRESS`) when the bind address cannot be bound
   * @throws {@link NativeMissingError} (`ERR_X0X_NATIVE_MISSING`) when the addon cannot be loaded
   * @throws {@link AlreadyBuiltError} (`ERR_X0X_ALREADY_BUILT`) when `build()` was already called on
   *   this builder (also when that first call failed: build a new builder)
   */
  async build(): Promise<Agent> {
    this.#assertUnbuilt();
    this.#built = true;
    const keypair = await this.#resolveKeypair();
    const options: NativeAgentOptions = {
      bindAddr: this.#bindAddress,
      config: this.#config.toNative(),
      ...(this.#dataDir === undefined ? {} : { dataDir: this.#dataDir }),
      ...(this.#announce.length === 0 ? {} : { announceAddrs: [...this.#announce] }),
      upnp: this.#upnp,
    };
    const binding = loadBinding();
    const log = new AgentLog(this.#logger, this.#loggerLevel);
    // Before create, so the Rust records of binding and starting are kept.
    const detachLog = attachNativeLog(log.logger);
    let native;
    try {
      native = await callNative(() =>
        binding.NativeAgent.create(options, nativeKeypairOf(keypair), callPort(binding)),
      );
    } catch (err) {
      detachLog();
      throw err;
    }
    const agent = createAgent(new AgentCore(native), this.#config, this.#bootstrap, log, detachLog);
    log.emit('info', 'x0x:agent', 'started', { agentId: agent.agentId, addrs: agent.listenAddrs.join(',') });
    logAgentEvents(agent, log);
    return agent;
  }

  #assertUnbuilt(): void {
    if (this.#built) {
      throw new AlreadyBuiltError();
    }
  }

  async #resolveKeypair(): Promise<AgentKeypair> {
    const source = this.#keySource;
    switch (source.kind) {
      case 'keypair':
        return source.keypair;
      case 'generate':
        return AgentKeypair.generate();
      case 'file':
        return (await loadOrCreateKeyFile(source.path)).keypair;
    }
  }
}
