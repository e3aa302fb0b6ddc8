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
 * `register` signs this agent's address record, sends it straight to the
 * holders over QUIC and renews it every `rendezvousTtl / 2`; `lookup` asks
 * the same holders and takes the newest record that verifies against the
 * target's own key. A lookup therefore costs
 * one request and at most one reply per holder, whatever the network's size.
 * `unregister` sends a newer, signed record with no addresses. Only the agent
 * a record describes can sign it, so nobody can register, move or unregister
 * another agent; holders check every record and count the ones they refuse.
 *
 * The protocol (holder ranking, renewal, the wire format and the holders'
 * store) lives in the core (`crates/x0x-core/src/rendezvous/`); this module
 * is its facade. {@link shardId} stays here as a pure helper, usable where
 * the addon cannot load; the agent itself takes shards from the core.
 *
 * @module
 */

import { createRequire } from 'node:module';

import type * as Blake3 from '@noble/hashes/blake3.js' with { 'resolution-mode': 'import' };

import { checkTimeoutMs, raceAbort, throwIfAborted } from './abort.js';
import type { AgentCore } from './agent-core.js';
import { badAgentId, checkSignalOptions, invalidArgType, received } from './arg-errors.js';
import type { GossipConfig } from './config.js';
import type { CoordinatorManager } from './coordinators.js';
import type { AgentAddresses } from './discovery.js';
import { callNative, callNativeSync, InvalidConfigError } from './errors.js';
import { isAgentId, type AgentId } from './identity.js';
import { loadBinding, type NativeRegistration, type NativeRendezvous } from './native.js';
import type { PresenceManager } from './presence.js';
import type { AbortOptions } from './pubsub.js';

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

function checkAgentId(agentId: unknown): asserts agentId is AgentId {
  if (!isAgentId(agentId)) throw badAgentId('agentId', agentId);
}

/**
 * The rendezvous shard of an agent id, from 0 to 65535. A pure helper that
 * needs no native code; `test/vectors/rendezvous-shards.json` ties it to
 * the core's `shard_id`.
 * @param agentId - 64 lowercase hex characters
 * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `agentId` is not a string; (`ERR_INVALID_ARG_VALUE`)
 *   when it is not 64 lowercase hex characters
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

function toHolder(h: { agentId: string; addrs: string[] }): RendezvousHolder {
  return Object.freeze({ agentId: h.agentId, addrs: Object.freeze([...h.addrs]) });
}

/**
 * The `count` holders of `shard` among `candidates`: highest rendezvous-hash
 * weight first (ties, which need a BLAKE3 collision, fall to the smaller id).
 * Duplicate candidates count once. Computed by the core, as the agent does.
 * @param shard - from 0 to 65535, e.g. from {@link shardId}
 * @param candidates - the agents that may hold (usually the coordinators known)
 * @param count - how many holders to pick, as `rendezvousReplicas` does; fewer
 *   come back when there are fewer candidates
 * @returns the holders, highest weight first
 * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `shard` or `count` is not a number or a candidate id not a
 *   string; (`ERR_INVALID_ARG_VALUE`) when a candidate id is not 64 lowercase hex characters
 * @throws {@link InvalidConfigError} (`ERR_X0X_INVALID_CONFIG`, field `shard` or `count`) when `shard`
 *   is not an integer from 0 to 65535, or `count` not a non-negative integer
 */
export function rankHolders(shard: number, candidates: readonly RendezvousHolder[], count: number): RendezvousHolder[] {
  if (typeof shard !== 'number') throw invalidArgType(`shard must be a number (got ${typeof shard})`);
  if (typeof count !== 'number') throw invalidArgType(`count must be a number (got ${typeof count})`);
  if (!Number.isInteger(shard) || shard < 0 || shard >= SHARD_COUNT) {
    throw new InvalidConfigError(`shard must be an integer from 0 to 65535 (got ${String(shard)})`, { field: 'shard' });
  }
  if (!Number.isInteger(count) || count < 0) {
    throw new InvalidConfigError(`count must be a non-negative integer (got ${String(count)})`, { field: 'count' });
  }
  for (const c of candidates) checkAgentId(c.agentId);
  const native = candidates.map((h) => ({ agentId: h.agentId, addrs: [...h.addrs] }));
  const capped = Math.min(count, native.length);
  return callNativeSync(() => loadBinding().rankHolders(shard, native, capped)).map(toHolder);
}

/** Options of the rendezvous calls. */
export interface RendezvousOptions extends AbortOptions {
  /**
   * How long to wait for the holders, in milliseconds. Integer from 1 to 120000.
   * @defaultValue 10000
   */
  readonly timeoutMs?: number;
}

/**
 * What one holder did with a registration or unregistration:
 * - `stored`: it holds the record now;
 * - `invalid`: it refused the record as malformed, wrongly signed, expired,
 *   or asking to be kept more than a day;
 * - `stale`: it holds a record of this agent issued at the same time or
 *   later, and kept that one;
 * - `full`: it holds as many records as it keeps, or as many as it keeps
 *   relayed through the peer that asked, and refused this one;
 * - `unreachable`: no valid answer within `timeoutMs` (not reachable, or too slow).
 */
export type HolderOutcome = 'stored' | 'invalid' | 'stale' | 'full' | 'unreachable';

/** The result of {@link RendezvousManager.register} or {@link RendezvousManager.unregister}. */
export interface Registration {
  /** The registered agent (always this agent). */
  readonly agentId: AgentId;
  /** Its rendezvous shard, from 0 to 65535 (`shardId(agentId)`). */
  readonly shard: number;
  /** Addresses registered; empty after an unregistration. */
  readonly addrs: readonly string[];
  /** When holders forget the record unless it is renewed, ms since the epoch. */
  readonly expiresAt: number;
  /** Each holder asked, with what it answered. */
  readonly holders: readonly {
    /** The holder's agent id. */
    readonly agentId: AgentId;
    /** What it did with the record; at least one `stored`, or the call would have thrown. */
    readonly outcome: HolderOutcome;
  }[];
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

function toRegistration(r: NativeRegistration): Registration {
  return Object.freeze({
    agentId: r.agentId,
    shard: r.shard,
    addrs: Object.freeze([...r.addrs]),
    expiresAt: r.expiresAt,
    holders: Object.freeze(r.holders.map((h) => Object.freeze({ agentId: h.agentId, outcome: h.outcome as HolderOutcome }))),
  });
}

let create: (core: AgentCore, config: GossipConfig, coordinators: CoordinatorManager, presence: PresenceManager) => RendezvousManager;

/**
 * Rendezvous of one agent, reachable as `agent.rendezvous`. Every method
 * fails with `ClosedError` once the agent is closed (the exported
 * `shardId()` function needs no agent).
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
  readonly #native: NativeRendezvous;

  private constructor(core: AgentCore, config: GossipConfig, coordinators: CoordinatorManager, presence: PresenceManager) {
    this.#core = core;
    this.#native = callNativeSync(() =>
      core.native.rendezvous(
        { recordTtlMs: config.rendezvousTtl, replicas: config.rendezvousReplicas },
        coordinators.handle,
        presence.handle,
      ),
    );
  }

  /** Number of shards, 65536. */
  get shardCount(): number {
    return SHARD_COUNT;
  }

  /**
   * The shard of `agentId`, as the exported `shardId()` function computes
   * it; that function also works without an open agent.
   * @param agentId - 64 lowercase hex characters
   * @returns an integer from 0 to 65535
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `agentId` is not a string; (`ERR_INVALID_ARG_VALUE`)
   *   when it is not 64 lowercase hex characters
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  shardId(agentId: AgentId): number {
    this.#core.use();
    return shardId(agentId);
  }

  /**
   * The holders `agentId`'s record goes to and is looked up at, as this
   * agent sees the network now.
   * @param agentId - any agent's id, 64 lowercase hex characters
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `agentId` is not a string; (`ERR_INVALID_ARG_VALUE`)
   *   when it is not 64 lowercase hex characters
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  holdersFor(agentId: AgentId): RendezvousHolder[] {
    this.#core.use();
    checkAgentId(agentId);
    return callNativeSync(() => this.#native.holdersFor(agentId)).map(toHolder);
  }

  /**
   * Registers this agent at its shard's holders, so that any agent can
   * {@link lookup} it, and renews the registration every `rendezvousTtl / 2`
   * until {@link unregister} or `close()`.
   *
   * @param addrs - addresses (`"ip:port"`) to publish; by default this agent's advertised addresses
   *   (`agent.advertisedAddrs`), taken afresh at each renewal
   * @param options - `timeoutMs` bounds the wait for the holders' answers, `signal` gives up early
   * @returns what each holder answered
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `addrs` is not an array (an agent id, which `register()`
   *   no longer takes, included), or `options` is given but is not an object (`null` included), or
   *   `options.signal` is not an `AbortSignal`
   * @throws {@link RendezvousError} (`ERR_X0X_RENDEZVOUS`) when no holder stored the record
   *   (none known or none reachable)
   * @throws {@link BadAddressError} (`ERR_X0X_BAD_ADDRESS`) when an address is not `ip:port`
   * @throws {@link InvalidConfigError} (`ERR_X0X_INVALID_CONFIG`) when `timeoutMs` is out of range or more than 16 addresses are given
   * @throws {@link AbortError} (`ERR_X0X_ABORTED`) when `options.signal` aborts first
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   * @example
   * ```ts
   * await agent.rendezvous.register();
   * // elsewhere, on any agent of the network:
   * const where = await other.rendezvous.lookup(id); // { addrs: [...] } or null
   * ```
   */
  register(addrs?: readonly string[], options?: RendezvousOptions): Promise<Registration>;
  /**
   * Registers this agent at its advertised addresses; same as
   * `register(undefined, options)`, with the same errors.
   * @param options - `timeoutMs` bounds the wait for the holders' answers, `signal` gives up early
   */
  register(options?: RendezvousOptions): Promise<Registration>;
  async register(
    addrsOrOptions?: readonly string[] | RendezvousOptions,
    maybeOptions?: RendezvousOptions,
  ): Promise<Registration> {
    this.#core.use();
    let addrs: readonly string[] | undefined;
    let given: RendezvousOptions | undefined;
    // With a second argument, or an array or nothing first, the first is `addrs`.
    if (maybeOptions !== undefined || addrsOrOptions === undefined || Array.isArray(addrsOrOptions)) {
      if (addrsOrOptions !== undefined && !Array.isArray(addrsOrOptions)) {
        throw invalidArgType(
          `The "addrs" argument must be an array of "ip:port" strings. ${received(addrsOrOptions)}${noId('register', addrsOrOptions)}`,
        );
      }
      addrs = addrsOrOptions as readonly string[] | undefined;
      given = maybeOptions;
    } else {
      if (typeof addrsOrOptions === 'string') {
        throw invalidArgType(
          `The "addrs" argument must be an array of "ip:port" strings or an options object. ${received(addrsOrOptions)}${noId('register', addrsOrOptions)}`,
        );
      }
      given = addrsOrOptions as RendezvousOptions;
    }
    const { signal, timeoutMs } = this.#checkOptions(given);
    throwIfAborted(signal);
    const list = addrs === undefined ? null : [...addrs];
    const r = await raceAbort(callNative(() => this.#native.register(list, timeoutMs)), signal);
    return toRegistration(r);
  }

  /**
   * Withdraws this agent's registration: holders keep a signed "no
   * addresses" record in its place, so lookups answer `null` and an older
   * registration cannot be replayed. Stops the renewal.
   *
   * @param options - `timeoutMs` bounds the wait for the holders' answers, `signal` gives up early
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `options` is given but is not an object (`null`, or an
   *   agent id, which `unregister()` no longer takes, included), or `options.signal` is not an `AbortSignal`
   * @throws the same errors as {@link register}
   */
  async unregister(options?: RendezvousOptions): Promise<Registration> {
    this.#core.use();
    if (typeof options === 'string') {
      throw invalidArgType(`The "options" argument must be of type object. ${received(options)}${noId('unregister', options)}`);
    }
    const { signal, timeoutMs } = this.#checkOptions(options);
    throwIfAborted(signal);
    const r = await raceAbort(callNative(() => this.#native.unregister(timeoutMs)), signal);
    return toRegistration(r);
  }

  /**
   * Finds where `agentId` can be reached by asking its shard's holders.
   *
   * @param agentId - the agent to find, 64 lowercase hex characters
   * @param options - `timeoutMs` bounds the wait for the holders' answers, `signal` gives up early
   * @returns its addresses, verified against its own signature, or `null`
   *   when no holder has a live registration (never registered, expired or
   *   unregistered) or none answered within `timeoutMs`
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `options` is given but is not an object (`null`
   *   included), or `options.signal` is not an `AbortSignal`
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `agentId` is not a string; (`ERR_INVALID_ARG_VALUE`)
   *   when it is not 64 lowercase hex characters
   * @throws {@link InvalidConfigError} (`ERR_X0X_INVALID_CONFIG`) when `timeoutMs` is out of range
   * @throws {@link AbortError} (`ERR_X0X_ABORTED`) when `options.signal` aborts first
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  async lookup(agentId: AgentId, options?: RendezvousOptions): Promise<AgentAddresses | null> {
    this.#core.use();
    checkAgentId(agentId);
    const { signal, timeoutMs } = this.#checkOptions(options);
    throwIfAborted(signal);
    const r = await raceAbort(callNative(() => this.#native.lookup(agentId, timeoutMs)), signal);
    return r === null || r === undefined
      ? null
      : Object.freeze({ agentId: r.agentId, addrs: Object.freeze([...r.addrs]), issuedAt: r.issuedAt, expiresAt: r.expiresAt });
  }

  /**
   * Rendezvous counters since the agent started, as holder and as client.
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  stats(): RendezvousStats {
    this.#core.use();
    return { ...callNativeSync(() => this.#native.stats()) };
  }

  /** @internal Stops renewing; called by `close()`. */
  stop(): void {
    this.#native.stop();
  }

  /** Checks a call's options; resolves the timeout. */
  #checkOptions(options: RendezvousOptions | undefined): { signal: AbortSignal | undefined; timeoutMs: number } {
    const { signal, timeoutMs } = checkSignalOptions(options);
    return { signal, timeoutMs: checkTimeoutMs(timeoutMs, DEFAULT_RENDEZVOUS_TIMEOUT_MS, MAX_RENDEZVOUS_TIMEOUT_MS) };
  }
}

/** The hint added when an agent id is passed where none is taken any more. */
function noId(what: string, value: unknown): string {
  return typeof value === 'string'
    ? `; ${what}() takes no agent id: an agent can only ${what} itself (the id parameter was removed)`
    : '';
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
