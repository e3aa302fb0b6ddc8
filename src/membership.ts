/**
 * Who this agent is connected to in the overlay, and when that changes.
 *
 * HyParView keeps a small *active view* (the peers gossip flows through) and
 * a larger *passive view* (reserve peers used to heal). SWIM probes the
 * active peers; one that stops answering is first suspected, then declared
 * failed, evicted and replaced from the passive view. saorsa-gossip emits no
 * events, so the core derives them from view changes and SWIM verdicts.
 *
 * @module
 */

import { throwIfAborted, raceAbort } from './abort.js';
import type { AgentCore } from './agent-core.js';
import { checkSignalOptions, invalidArgType } from './arg-errors.js';
import type { GossipConfig } from './config.js';
import { checkPeerAddress, resolvePeerAddresses } from './address.js';
import { callNative, callNativeSync, ClosedError, InvalidConfigError } from './errors.js';
import type { LaggedEvent } from './events.js';
import type { NativeLagged, NativeMembershipEvent } from './native.js';
import type { AbortOptions } from './pubsub.js';
import type { PeerInfo } from './transport.js';

/** Why a peer left the active view. */
export type LeaveReason = 'graceful' | 'failed' | 'demoted';

/**
 * A change in this agent's active view, or a {@link LaggedEvent} when the
 * reader fell behind and older changes were dropped.
 */
export type MembershipEvent =
  | LaggedEvent
  | {
      /** The peer entered the active view. */
      readonly type: 'peer-joined';
      /** The peer, with the address it is connected at (`addr` is `""` when none is known). */
      readonly peer: PeerInfo;
      /** Local clock when the change was seen, ms since the epoch. */
      readonly at: number;
    }
  | {
      /**
       * SWIM suspects the active peer: it missed its probes. A `peer-left`
       * (`failed`) follows unless it answers within `suspectTimeout`.
       */
      readonly type: 'peer-suspected';
      /** The peer, with the address it is connected at (`addr` is `""` when none is known). */
      readonly peer: PeerInfo;
      /** Local clock when the change was seen, ms since the epoch. */
      readonly at: number;
    }
  | {
      /** The peer left the active view; `reason` says why. */
      readonly type: 'peer-left';
      /** The peer, with the address it was connected at (`addr` is `""` when none was known). */
      readonly peer: PeerInfo;
      /**
       * `graceful`: the peer closed and said goodbye; `failed`: SWIM declared
       * it dead; `demoted`: HyParView moved it to the passive view.
       */
      readonly reason: LeaveReason;
      /** Local clock when the change was seen, ms since the epoch. */
      readonly at: number;
    };

/** Membership counters and view sizes. */
export interface MembershipStats {
  /** Peers in the active view. */
  readonly activeViewSize: number;
  /** Peers in the passive view. */
  readonly passiveViewSize: number;
  /** SWIM probes (direct and indirect) sent. */
  readonly probesSent: number;
  /** Active peers SWIM suspected. */
  readonly suspicions: number;
  /** Active peers declared dead and evicted. */
  readonly confirmedFailures: number;
  /** Active peers that left with a goodbye. */
  readonly gracefulLeaves: number;
  /** Passive peers promoted to replace failed ones. */
  readonly refills: number;
}

function toEvent(e: Exclude<NativeMembershipEvent, NativeLagged>): Exclude<MembershipEvent, LaggedEvent> {
  const peer: PeerInfo = { peerId: e.peerId, addr: e.addr ?? '' };
  if (e.type === 'peer-left') return { type: 'peer-left', peer, reason: e.reason, at: e.at };
  return { type: e.type, peer, at: e.at };
}

let create: (core: AgentCore, config: GossipConfig) => MembershipManager;

/**
 * The membership side of one agent, reachable as `agent.membership`. Every
 * method fails with `ClosedError` once the agent is closed.
 */
export class MembershipManager {
  static {
    create = (core, config) => new MembershipManager(core, config);
  }

  readonly #core: AgentCore;
  readonly #activeViewSize: number;

  private constructor(core: AgentCore, config: GossipConfig) {
    this.#core = core;
    this.#activeViewSize = config.activeViewSize;
  }

  /**
   * Joins the overlay through the given bootstrap peers (`"ip:port"` or
   * `"host.name:port"`; names are resolved now, to every address they
   * have): each is dialled and HyParView's JOIN runs through the first that
   * answers. What `agent.joinNetwork()` uses.
   *
   * Aborting stops the wait; the native join cannot be cancelled.
   *
   * @param bootstrapPeers - each `"ip:port"`, `"[ipv6]:port"` or `"host.name:port"`; an empty
   *   list resolves at once (this agent is the first node)
   * @param options - `signal` stops waiting for the join
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `options` is given but is not an object (`null`
   *   included), or `options.signal` is not an `AbortSignal`
   * @throws {@link BadAddressError} (`ERR_X0X_BAD_ADDRESS`) when an address is malformed or a host
   *   name cannot be resolved (its `address` names the entry)
   * @throws {@link JoinFailedError} (`ERR_X0X_JOIN_FAILED`) when no bootstrap peer could be reached
   * @throws {@link AbortError} (`ERR_X0X_ABORTED`) when `options.signal` aborts first
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  async join(bootstrapPeers: readonly string[], options?: AbortOptions): Promise<void> {
    const native = this.#core.use();
    const given = bootstrapPeers.map((addr) => checkPeerAddress(addr, 'bootstrap peer'));
    const { signal } = checkSignalOptions(options);
    throwIfAborted(signal);
    if (given.length === 0) return;
    // Names are resolved at each join, so a seed whose address changed is
    // found again on the next one.
    const seeds = await raceAbort(resolvePeerAddresses(given, 'bootstrap peer'), signal);
    await raceAbort(
      callNative(() => native.join(seeds)),
      signal,
    );
  }

  /**
   * The active view: peers gossip flows through directly, with their last
   * known addresses.
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  async activeView(): Promise<PeerInfo[]> {
    const native = this.#core.use();
    return callNative(() => native.activePeers());
  }

  /**
   * The passive view: known peers kept in reserve for healing.
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  async passiveView(): Promise<PeerInfo[]> {
    const native = this.#core.use();
    return callNative(() => native.passivePeers());
  }

  /**
   * Membership events from now on, until the agent closes, the loop is left
   * or `options.signal` aborts.
   *
   * Each call is its own stream, buffered separately; a reader that falls
   * behind gets a {@link LaggedEvent} in place of what it lost.
   *
   * @param options - aborting `signal` ends the stream
   * @example
   * ```ts
   * for await (const e of agent.membership.events()) {
   *   if (e.type === 'peer-left') console.log(e.peer.peerId, 'left:', e.reason);
   *   if (e.type === 'lagged') console.warn(`missed ${e.missed} events`);
   * }
   * ```
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `options` is given but is not an object (`null`
   *   included), or `options.signal` is not an `AbortSignal`
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  events(options?: AbortOptions): AsyncIterableIterator<MembershipEvent> {
    return this.#core.openEvents((native) => native.membershipEvents(), toEvent, options);
  }

  /**
   * Resolves once the active view holds at least `count` peers: a readiness
   * promise, so code that needs neighbours (tests, a first publish) waits
   * for them instead of sleeping. Re-checks the view on every `peer-joined`
   * event, and after events were lost (`lagged`); pass `AbortSignal.timeout(ms)` to bound the wait.
   *
   * @param count - integer from 1 to this agent's `activeViewSize` (its
   *   `GossipConfig`): the active view never holds more
   * @param options - `signal` bounds the wait
   * @returns the active view at that moment
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `options` is given but is not an object (`null`
   *   included), or `options.signal` is not an `AbortSignal`
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `count` is not a number
   * @throws {@link InvalidConfigError} (`ERR_X0X_INVALID_CONFIG`, field `count`) when `count` is
   *   not an integer from 1 to `activeViewSize`
   * @throws {@link AbortError} (`ERR_X0X_ABORTED`) when `options.signal` aborts first
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) when the agent is or gets closed first
   * @example
   * ```ts
   * await agent.joinNetwork();
   * await agent.membership.waitForPeers(2, { signal: AbortSignal.timeout(10_000) });
   * ```
   */
  async waitForPeers(count: number, options?: AbortOptions): Promise<PeerInfo[]> {
    this.#core.use();
    if (typeof count !== 'number') throw invalidArgType(`count must be a number (got ${typeof count})`);
    const max = this.#activeViewSize;
    if (!Number.isInteger(count) || count < 1 || count > max) {
      throw new InvalidConfigError(
        `count must be an integer from 1 to ${max}, this agent's activeViewSize (got ${String(count)})`,
        { field: 'count' },
      );
    }
    const { signal } = checkSignalOptions(options);
    throwIfAborted(signal);
    // Listen before the first look, so a join in between is not missed.
    const events = this.events({ signal });
    try {
      let view = await this.activeView();
      if (view.length >= count) return view;
      for await (const e of events) {
        // A lagged stream may have lost the join that filled the view.
        if (e.type !== 'peer-joined' && e.type !== 'lagged') continue;
        view = await this.activeView();
        if (view.length >= count) return view;
      }
      throwIfAborted(signal);
      throw new ClosedError();
    } finally {
      await events.return?.();
    }
  }

  /**
   * View sizes and failure-detection counters, synchronously like every
   * manager's `stats()`. The view sizes are those of the agent's last look
   * at its views (once a probe period, and at once on a membership change):
   * the views its membership events have described so far.
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  stats(): MembershipStats {
    const native = this.#core.use();
    return callNativeSync(() => native.membershipStats());
  }
}

/** @internal */
export function createMembership(core: AgentCore, config: GossipConfig): MembershipManager {
  return create(core, config);
}

