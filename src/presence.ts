/**
 * Presence: which agents are online right now, and when that changes.
 *
 * Every agent floods a signed beacon (a record of kind
 * {@link RecordKind}.presence listing its addresses) when it joins and then
 * every `presenceBeaconTtl / 2`; on seeing a newcomer it also beacons once
 * soon (spaced at least 1 s apart), so a newcomer learns who is online within
 * about a second rather than a beacon period. Each beacon is valid for
 * `presenceBeaconTtl`; an agent whose newest beacon has expired goes offline
 * (`agent-offline`), and a graceful `close()` floods an explicit offline
 * beacon so others see `agent-offline` at once. Beacons that replay an old
 * timestamp (or claim one more than 60 s ahead), fail verification or cannot
 * be read are dropped and counted ({@link PresenceManager.stats}).
 *
 * The protocol (schedule, sealing, beacon bodies, acceptance rules) lives
 * in the core (`crates/x0x-core/src/presence/`); this module is its facade.
 *
 * **What is hidden.** Beacons do not travel by pub/sub: both the x0x
 * envelope and saorsa-gossip's Plumtree frames name their publisher. They are
 * flooded hop by hop instead (`x0x_core` flood frames), and a flood frame
 * carries nothing but the beacon. With `presenceGroupKey` set, the beacon
 * (signer id, public key, addresses, timestamps) is sealed with
 * ChaCha20-Poly1305 under a key derived from the group key, its body padded
 * to 128-byte blocks: an agent without the key sees only opaque frames of
 * similar size, relays them, and counts them as `decryptFailures`.
 * What stays visible: a direct neighbour sees the IP address and QUIC
 * identity of the peer that handed it a frame (the last hop, not
 * necessarily the origin; but the first copy of a new beacon most likely
 * comes from its origin or a near neighbour), and everyone sees that a
 * sealed beacon exists and roughly when. Without a group key beacons are
 * signed but readable by every agent.
 *
 * @module
 */

import type { AgentCore } from './agent-core.js';
import type { AbortOptions } from './pubsub.js';
import type { GossipConfig } from './config.js';
import { callNative, callNativeSync } from './errors.js';
import type { LaggedEvent } from './events.js';
import type { AgentId } from './identity.js';
import type { NativeLagged, NativePresence, NativePresenceEvent } from './native.js';

/** An agent currently online. */
export interface OnlineAgent {
  /** The agent's id, as its beacon's signature proves. */
  readonly agentId: AgentId;
  /** Addresses (`"ip:port"`) from its newest beacon. */
  readonly addrs: readonly string[];
  /** Local clock when its newest beacon arrived, ms since the epoch. */
  readonly lastSeen: number;
}

/** An agent came online or went offline. */
export interface PresenceChange {
  /**
   * `agent-online`: a first valid beacon arrived (or one after the agent had
   * gone offline); `agent-offline`: its newest beacon expired, or it flooded
   * an offline beacon while closing.
   */
  readonly type: 'agent-online' | 'agent-offline';
  /** The agent that came online or went offline. */
  readonly agentId: AgentId;
  /** Local clock, ms since the epoch. */
  readonly at: number;
}

/**
 * What `presence.events()` yields: a {@link PresenceChange}, or a
 * {@link LaggedEvent} when the reader fell behind and older changes were
 * dropped.
 */
export type PresenceEvent = PresenceChange | LaggedEvent;

/** Presence counters since the agent started. */
export interface PresenceStats {
  /** Beacons this agent flooded (offline beacon included). */
  readonly beaconsSent: number;
  /** Beacons of other agents that verified and were accepted. */
  readonly beaconsReceived: number;
  /** Beacons with a timestamp not newer than the signer's last one, or too far ahead. */
  readonly replaysDropped: number;
  /** Beacons that were malformed, expired, or failed signature or signer checks. */
  readonly invalidDropped: number;
  /** Sealed beacons this agent could not open (no group key, or another one). */
  readonly decryptFailures: number;
  /** Beacons in the clear, ignored because this agent only accepts sealed ones. */
  readonly plaintextIgnored: number;
  /**
   * Beacons of agents new to this one, refused because it already tracks
   * as many agents as it may (16,384): sybils cannot grow its memory
   * without bound.
   */
  readonly fullDropped: number;
  /** Agents online now. */
  readonly online: number;
  /**
   * Flood frames (beacons of any agent, on their way through this one)
   * dropped because the neighbour that sent them was past its budget of
   * new frames (64 at once, 16 a second); they are neither delivered nor
   * forwarded.
   */
  readonly relayRateLimited: number;
  /**
   * Beacons in the clear dropped before delivery and forwarding because
   * their signature failed, they had expired or were dated more than 60 s
   * ahead. Counted by the relay (the core), before the beacon reaches
   * this agent's own checks, so these are not in `invalidDropped`.
   */
  readonly relayInvalid: number;
}

function toEvent(e: Exclude<NativePresenceEvent, NativeLagged>): PresenceChange {
  return Object.freeze({ type: e.type, agentId: e.agentId, at: e.at });
}

let create: (core: AgentCore, config: GossipConfig) => PresenceManager;

/**
 * Presence of one agent, reachable as `agent.presence`. Beacons start with
 * `joinNetwork()`. Every method fails with `ClosedError` once the agent is
 * closed.
 */
export class PresenceManager {
  static {
    create = (core, config) => new PresenceManager(core, config);
  }

  readonly #core: AgentCore;
  readonly #native: NativePresence;

  private constructor(core: AgentCore, config: GossipConfig) {
    this.#core = core;
    this.#native = callNativeSync(() =>
      core.native.presence({
        beaconTtlMs: config.presenceBeaconTtl,
        ...(config.presenceGroupKey === null ? {} : { groupKey: config.presenceGroupKey }),
      }),
    );
    // Stop beaconing and say goodbye before the agent closes; never rejects.
    core.beforeClose(() => this.#native.stop());
  }

  /** @internal The native handle, for rendezvous to take its holders from. */
  get handle(): NativePresence {
    return this.#native;
  }

  /** @internal Starts listening and beaconing; called by `joinNetwork()`. Idempotent. */
  async start(): Promise<void> {
    this.#core.use();
    await callNative(() => this.#native.start());
  }

  /**
   * Floods a fresh beacon now (the background task also does, every
   * `presenceBeaconTtl / 2`).
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  async broadcastPresence(): Promise<void> {
    this.#core.use();
    await callNative(() => this.#native.broadcast());
  }

  /**
   * Agents whose newest beacon is valid, with addresses and last-seen time,
   * by id.
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  getOnlineAgents(): OnlineAgent[] {
    this.#core.use();
    return this.#native
      .onlineAgents()
      .map((a) => Object.freeze({ agentId: a.agentId, addrs: Object.freeze(a.addrs), lastSeen: a.lastSeen }));
  }

  /**
   * Presence changes from now on, until the agent closes, the loop is left or
   * `options.signal` aborts. Each call is its own stream; a reader that falls
   * behind gets a {@link LaggedEvent} in place of what it lost.
   *
   * @param options - aborting `signal` ends the stream
   * @example
   * ```ts
   * for await (const e of agent.presence.events()) {
   *   if (e.type === 'lagged') continue; // e.missed changes were dropped
   *   console.log(e.agentId, e.type === 'agent-online' ? 'is online' : 'went offline');
   * }
   * ```
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `options` is given but is not an object (`null`
   *   included), or `options.signal` is not an `AbortSignal`
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  events(options?: AbortOptions): AsyncIterableIterator<PresenceEvent> {
    return this.#core.openEvents(() => this.#native.events(), toEvent, options);
  }

  /**
   * Beacon counters since the agent started.
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  stats(): PresenceStats {
    this.#core.use();
    return { ...this.#native.stats() };
  }
}

/** @internal */
export function createPresence(core: AgentCore, config: GossipConfig): PresenceManager {
  return create(core, config);
}
