/**
 * Rendezvous: finding any agent in the network without knowing where it is.
 *
 * Agent ids are spread over 65,536 shards. `shardId(id)` is the first two
 * bytes of `BLAKE3("saorsa-rendezvous" || idBytes)` read little-endian
 * (`hash[0] | hash[1] << 8`), the same value as saorsa-gossip-rendezvous's
 * `calculate_shard` and x0x-core's `shard_id`;
 * `test/vectors/rendezvous-shards.json` holds vectors both sides check.
 *
 * The holders of a shard are the `rendezvousReplicas` known coordinators with
 * the highest rendezvous-hash weight `BLAKE3("x0x-rendezvous-holder" ||
 * shard (u16 LE) || coordinatorId)`, so every agent that knows the same
 * coordinators computes the same holders, and a coordinator coming or going
 * moves only the shards it ranks for. With no coordinator known, the agents
 * this one sees online through presence beacons (itself included) stand in.
 *
 * `register` signs this agent's address record and sends it straight to the
 * holders over QUIC; `lookup` asks the same holders and takes the newest
 * record that verifies against the target's own key. A lookup therefore costs
 * one request and at most one reply per holder, whatever the network's size.
 * `unregister` sends a newer, signed record with no addresses. Only the agent
 * a record describes can sign it, so nobody can register, move or unregister
 * another agent; holders check every record and count the ones they refuse.
 *
 * @module
 */

import { createRequire } from 'node:module';

import type * as Blake3 from '@noble/hashes/blake3.js' with { 'resolution-mode': 'import' };

import { checkTimeoutMs, raceAbort, throwIfAborted } from './abort.js';
import type { AgentCore } from './agent-core.js';
import type { GossipConfig } from './config.js';
import type { CoordinatorManager } from './coordinators.js';
import type { AgentAddresses } from './discovery.js';
import { callNative, callNativeSync, RendezvousError } from './errors.js';
import { isAgentId, type AgentId } from './identity.js';
import type { NativeAgent, NativeHolder } from './native.js';
import type { PresenceManager } from './presence.js';
import type { AbortOptions } from './pubsub.js';
import { Ticker } from './records.js';

// @noble/hashes 2 ships ES modules only and this build is CommonJS; Node
// 20.19+ and 22.12+ load an ES module through require().
const { blake3 } = createRequire(__filename)('@noble/hashes/blake3.js') as typeof Blake3;

/** Number of rendezvous shards. */
export const SHARD_COUNT = 65_536;
/** Default wait of register, lookup and unregister, in milliseconds. */
export const DEFAULT_RENDEZVOUS_TIMEOUT_MS = 10_000;
/** Longest wait they accept, in milliseconds. */
export const MAX_RENDEZVOUS_TIMEOUT_MS = 120_000;

const DOMAIN = new TextEncoder().encode('saorsa-rendezvous');
const HOLDER_DOMAIN = new TextEncoder().encode('x0x-rendezvous-holder');

function checkAgentId(agentId: unknown): asserts agentId is AgentId {
  if (!isAgentId(agentId)) {
    throw new TypeError(`agentId must be a 64-character lowercase hex agent id (got ${String(agentId)})`);
  }
}

/**
 * The rendezvous shard of an agent id, from 0 to 65535.
 * @throws TypeError when `agentId` is not a 64-character lowercase hex id
 * @example
 * ```ts
 * shardId('00'.repeat(32)); // 61660
 * ```
 */
export function shardId(agentId: AgentId): number {
  checkAgentId(agentId);
  const input = new Uint8Array(DOMAIN.length + 32);
  input.set(DOMAIN);
  input.set(Buffer.from(agentId, 'hex'), DOMAIN.length);
  const hash = blake3(input);
  return (hash[0] ?? 0) | ((hash[1] ?? 0) << 8);
}

/** An agent that keeps rendezvous records, and where to dial it. */
export interface RendezvousHolder {
  /** The holder's agent id. */
  readonly agentId: AgentId;
  /** Addresses (`"ip:port"`) to dial it on. */
  readonly addrs: readonly string[];
}

/**
 * The `count` holders of `shard` among `candidates`: highest rendezvous-hash
 * weight first (ties, which need a BLAKE3 collision, fall to the smaller id).
 * Duplicate candidates count once.
 */
export function rankHolders(shard: number, candidates: readonly RendezvousHolder[], count: number): RendezvousHolder[] {
  const input = new Uint8Array(HOLDER_DOMAIN.length + 2 + 32);
  input.set(HOLDER_DOMAIN);
  input[HOLDER_DOMAIN.length] = shard & 0xff;
  input[HOLDER_DOMAIN.length + 1] = (shard >> 8) & 0xff;
  const weighed = new Map<AgentId, { holder: RendezvousHolder; weight: string }>();
  for (const holder of candidates) {
    if (weighed.has(holder.agentId)) continue;
    input.set(Buffer.from(holder.agentId, 'hex'), HOLDER_DOMAIN.length + 2);
    weighed.set(holder.agentId, { holder, weight: Buffer.from(blake3(input)).toString('hex') });
  }
  return [...weighed.values()]
    .sort((a, b) => (a.weight === b.weight ? a.holder.agentId.localeCompare(b.holder.agentId) : a.weight < b.weight ? 1 : -1))
    .slice(0, count)
    .map((w) => w.holder);
}

/** Options of the rendezvous calls. */
export interface RendezvousOptions extends AbortOptions {
  /**
   * How long to wait for the holders, in milliseconds. Integer from 1 to 120000.
   * @defaultValue 10000
   */
  readonly timeoutMs?: number;
}

/** What one holder did with a registration or unregistration. */
export type HolderOutcome = 'stored' | 'invalid' | 'stale' | 'full' | 'unreachable';

/** The result of {@link RendezvousManager.register} or {@link RendezvousManager.unregister}. */
export interface Registration {
  /** The registered agent (always this agent). */
  readonly agentId: AgentId;
  /** Its shard. */
  readonly shard: number;
  /** Addresses registered; empty after an unregistration. */
  readonly addrs: readonly string[];
  /** When holders forget the record unless it is renewed, ms since the epoch. */
  readonly expiresAt: number;
  /** Each holder asked, with what it answered. */
  readonly holders: readonly { readonly agentId: AgentId; readonly outcome: HolderOutcome }[];
}

/** Rendezvous counters of one agent, as holder and as client. */
export interface RendezvousStats {
  /** Records (registrations and unregistrations) this agent holds for others. */
  readonly recordsHeld: number;
  /** Records this agent accepted as a holder. */
  readonly storesAccepted: number;
  /** Records refused: malformed, not signed by the agent they describe, or expired. */
  readonly invalidRejected: number;
  /** Records refused as older than the one held (e.g. replayed after an unregistration). */
  readonly staleRejected: number;
  /** Records refused because this holder was full. */
  readonly fullRejected: number;
  /** Lookups this agent answered as a holder. */
  readonly lookupsServed: number;
  /** Requests this agent sent to holders (each register, unregister or lookup sends one per holder). */
  readonly requestsSent: number;
  /** Holders' answers that arrived in time. */
  readonly answersReceived: number;
  /** Frames that did not decode, and answers nobody was waiting for. */
  readonly malformedDropped: number;
}

function toNative(holders: readonly RendezvousHolder[]): NativeHolder[] {
  return holders.map((h) => ({ agentId: h.agentId, addrs: [...h.addrs] }));
}

let create: (core: AgentCore, config: GossipConfig, coordinators: CoordinatorManager, presence: PresenceManager) => RendezvousManager;

/**
 * Rendezvous of one agent, reachable as `agent.rendezvous`. Every method but
 * the shard function fails with `ClosedError` once the agent is closed.
 *
 * Every agent holds records for the shards it ranks for; holding needs no
 * call. Only coordinators (or, with none known, the agents seen online) are
 * asked to hold, so plain agents rarely do.
 */
export class RendezvousManager {
  static {
    create = (core, config, coordinators, presence) => new RendezvousManager(core, config, coordinators, presence);
  }

  readonly #core: AgentCore;
  readonly #ttl: number;
  readonly #replicas: number;
  readonly #coordinators: CoordinatorManager;
  readonly #presence: PresenceManager;
  #renewal: Ticker | undefined;

  private constructor(core: AgentCore, config: GossipConfig, coordinators: CoordinatorManager, presence: PresenceManager) {
    this.#core = core;
    this.#ttl = config.rendezvousTtl;
    this.#replicas = config.rendezvousReplicas;
    this.#coordinators = coordinators;
    this.#presence = presence;
  }

  /** Number of shards, 65536. */
  get shardCount(): number {
    return SHARD_COUNT;
  }

  /** {@inheritDoc shardId} */
  shardId(agentId: AgentId): number {
    return shardId(agentId);
  }

  /**
   * The holders `agentId`'s record goes to and is looked up at, as this
   * agent sees the network now.
   * @throws TypeError when `agentId` is not a 64-character hex id
   * @throws {@link ClosedError} once the agent is closed
   */
  holdersFor(agentId: AgentId): RendezvousHolder[] {
    checkAgentId(agentId);
    const native = this.#core.use();
    return rankHolders(shardId(agentId), this.#candidates(native), this.#replicas);
  }

  #candidates(native: NativeAgent): RendezvousHolder[] {
    const coordinators = this.#coordinators.getCoordinators();
    if (coordinators.length > 0) return coordinators.map((c) => ({ agentId: c.peerId, addrs: c.addrs }));
    const online: RendezvousHolder[] = this.#presence.getOnlineAgents().map((a) => ({ agentId: a.agentId, addrs: a.addrs }));
    online.push({ agentId: native.agentId, addrs: callNativeSync(() => native.advertisedAddrs()) });
    return online;
  }

  /**
   * Registers this agent at its shard's holders, so that any agent can
   * {@link lookup} it, and renews the registration every `rendezvousTtl / 2`
   * until {@link unregister} or `close()`.
   *
   * @param agentId - must be this agent's own id: nobody can register another agent
   * @param addrs - addresses (`"ip:port"`) to publish; by default this agent's advertised addresses
   *   (`agent.advertisedAddrs`), taken afresh at each renewal
   * @returns what each holder answered
   * @throws {@link RendezvousError} (`ERR_X0X_RENDEZVOUS`) when `agentId` is not this
   *   agent's, or when no holder stored the record (none known or none reachable)
   * @throws {@link BadAddressError} when an address is not `ip:port`
   * @throws {@link InvalidConfigError} when `timeoutMs` is out of range or more than 16 addresses are given
   * @throws {@link AbortError} when `options.signal` aborts first
   * @throws {@link ClosedError} once the agent is closed
   * @example
   * ```ts
   * await agent.rendezvous.register(agent.agentId);
   * // elsewhere, on any agent of the network:
   * const where = await other.rendezvous.lookup(id); // { addrs: [...] } or null
   * ```
   */
  async register(agentId: AgentId, addrs?: readonly string[], options: RendezvousOptions = {}): Promise<Registration> {
    const native = this.#self(agentId, 'register');
    const timeoutMs = checkTimeoutMs(options.timeoutMs, DEFAULT_RENDEZVOUS_TIMEOUT_MS, MAX_RENDEZVOUS_TIMEOUT_MS);
    // Without explicit addresses each renewal takes the advertised ones
    // afresh: the address peers observe (a NAT's mapping) is learned later.
    const given = addrs === undefined ? undefined : [...addrs];
    const list = (): string[] => given ?? callNativeSync(() => native.advertisedAddrs());
    const registration = await this.#store(native, list(), timeoutMs, options.signal);
    this.#renewal?.stop();
    this.#renewal = new Ticker(Math.max(1_000, Math.floor(this.#ttl / 2)), async () => {
      if (!this.#core.closed) await this.#store(native, list(), timeoutMs, undefined);
    });
    return registration;
  }

  /**
   * Withdraws this agent's registration: holders keep a signed "no
   * addresses" record in its place, so lookups answer `null` and an older
   * registration cannot be replayed. Stops the renewal.
   *
   * @param agentId - must be this agent's own id
   * @throws the same errors as {@link register}
   */
  async unregister(agentId: AgentId, options: RendezvousOptions = {}): Promise<Registration> {
    const native = this.#self(agentId, 'unregister');
    const timeoutMs = checkTimeoutMs(options.timeoutMs, DEFAULT_RENDEZVOUS_TIMEOUT_MS, MAX_RENDEZVOUS_TIMEOUT_MS);
    this.#renewal?.stop();
    this.#renewal = undefined;
    return this.#store(native, [], timeoutMs, options.signal);
  }

  /**
   * Finds where `agentId` can be reached by asking its shard's holders.
   *
   * @returns its addresses, verified against its own signature, or `null`
   *   when no holder has a live registration (never registered, expired or
   *   unregistered) or none answered within `timeoutMs`
   * @throws TypeError when `agentId` is not a 64-character hex id
   * @throws {@link InvalidConfigError} when `timeoutMs` is out of range
   * @throws {@link AbortError} when `options.signal` aborts first
   * @throws {@link ClosedError} once the agent is closed
   */
  async lookup(agentId: AgentId, options: RendezvousOptions = {}): Promise<AgentAddresses | null> {
    checkAgentId(agentId);
    const timeoutMs = checkTimeoutMs(options.timeoutMs, DEFAULT_RENDEZVOUS_TIMEOUT_MS, MAX_RENDEZVOUS_TIMEOUT_MS);
    const native = this.#core.use();
    throwIfAborted(options.signal);
    const holders = rankHolders(shardId(agentId), this.#candidates(native), this.#replicas);
    if (holders.length === 0) return null;
    const found = await raceAbort(
      callNative(() => native.rendezvousLookup(toNative(holders), agentId, timeoutMs)),
      options.signal,
    );
    const r = found.record;
    return r === undefined
      ? null
      : Object.freeze({ agentId: r.agentId, addrs: Object.freeze([...r.addrs]), issuedAt: r.issuedAt, expiresAt: r.expiresAt });
  }

  /**
   * Rendezvous counters.
   * @throws {@link ClosedError} once the agent is closed
   */
  stats(): RendezvousStats {
    const native = this.#core.use();
    return callNativeSync(() => native.rendezvousStats());
  }

  /** @internal Stops renewing; called by `close()`. */
  stop(): void {
    this.#renewal?.stop();
    this.#renewal = undefined;
  }

  #self(agentId: AgentId, what: string): NativeAgent {
    checkAgentId(agentId);
    const native = this.#core.use();
    if (agentId !== native.agentId) {
      throw new RendezvousError(`an agent can only ${what} itself: ${agentId} is not this agent (${native.agentId})`);
    }
    return native;
  }

  async #store(native: NativeAgent, addrs: string[], timeoutMs: number, signal: AbortSignal | undefined): Promise<Registration> {
    throwIfAborted(signal);
    const holders = rankHolders(shardId(native.agentId), this.#candidates(native), this.#replicas);
    const record = callNativeSync(() => native.signAddrRecord(addrs, this.#ttl));
    const replies = await raceAbort(
      callNative(() => native.rendezvousStore(toNative(holders), record, timeoutMs)),
      signal,
    );
    const outcomes = replies.map((r) => Object.freeze({ agentId: r.agentId, outcome: r.outcome }));
    if (!outcomes.some((o) => o.outcome === 'stored')) {
      const why = outcomes.length === 0 ? 'no holder is known' : outcomes.map((o) => `${o.agentId.slice(0, 8)}: ${o.outcome}`).join(', ');
      throw new RendezvousError(`no rendezvous holder stored the record (${why})`);
    }
    return Object.freeze({
      agentId: native.agentId,
      shard: shardId(native.agentId),
      addrs: Object.freeze([...addrs]),
      expiresAt: Date.now() + this.#ttl,
      holders: Object.freeze(outcomes),
    });
  }
}

/** @internal */
export function createRendezvous(
  core: AgentCore,
  config: GossipConfig,
  coordinators: CoordinatorManager,
  presence: PresenceManager,
): RendezvousManager {
  return create(core, config, coordinators, presence);
}
