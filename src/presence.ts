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
import { EventChannel } from './event-channel.js';
import { lagged, type LaggedEvent } from './events.js';
import type { AgentId } from './identity.js';
import type { NativeAgent, NativeFlood } from './native.js';
import { BODY_BLOCK, deriveBeaconKey, openBeacon, sealBeacon, type BeaconKey } from './presence-seal.js';
import { RecordKeeper, RecordKind, Ticker, type VerifiedRecord } from './records.js';

/** An agent currently online. */
export interface OnlineAgent {
  readonly agentId: AgentId;
  /** Addresses (`"ip:port"`) from its newest beacon. */
  readonly addrs: readonly string[];
  /** Local clock when its newest beacon arrived, ms since the epoch. */
  readonly lastSeen: number;
}

/** An agent came online or went offline. */
export interface PresenceChange {
  readonly type: 'agent-online' | 'agent-offline';
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

type BeaconState = 'online' | 'offline';

/** Least time between two beacons sent in answer to newcomers. */
const ANSWER_SPACING_MS = 1_000;

function encodeBody(state: BeaconState, addrs: readonly string[]): Buffer {
  const json = JSON.stringify({ state, addrs });
  // Trailing spaces are valid JSON whitespace; padding hides the exact length.
  const padded = Math.ceil((json.length + 1) / BODY_BLOCK) * BODY_BLOCK;
  return Buffer.from(json.padEnd(padded, ' '), 'utf8');
}

function decodeBody(body: Uint8Array): { state: BeaconState; addrs: string[] } | undefined {
  try {
    const v = JSON.parse(Buffer.from(body).toString('utf8')) as { state?: unknown; addrs?: unknown };
    if ((v.state === 'online' || v.state === 'offline') && Array.isArray(v.addrs) && v.addrs.every((a) => typeof a === 'string')) {
      return { state: v.state, addrs: v.addrs as string[] };
    }
  } catch {
    // Falls through: signed but unreadable.
  }
  return undefined;
}

let create: (core: AgentCore, config: GossipConfig) => PresenceManager;

/**
 * Presence of one agent, reachable as `agent.presence`. Beacons start with
 * `joinNetwork()`.
 */
export class PresenceManager {
  static {
    create = (core, config) => new PresenceManager(core, config);
  }

  readonly #core: AgentCore;
  readonly #ttl: number;
  readonly #key: BeaconKey | undefined;
  readonly #online = new Map<AgentId, OnlineAgent>();
  readonly #channels = new Set<EventChannel<PresenceEvent>>();
  #keeper: RecordKeeper | undefined;
  #started = false;
  #tickers: Ticker[] = [];
  #lastTimestamp = 0;
  #answerTimer: NodeJS.Timeout | undefined;
  #lastAnswer = 0;
  #sent = 0;
  #decryptFailures = 0;
  #plaintextIgnored = 0;
  #lastRelay = { relayRateLimited: 0, relayInvalid: 0 };
  #malformed = 0;

  private constructor(core: AgentCore, config: GossipConfig) {
    this.#core = core;
    this.#ttl = config.presenceBeaconTtl;
    this.#key = config.presenceGroupKey === null ? undefined : deriveBeaconKey(config.presenceGroupKey);
    core.beforeClose((native) => this.#stop(native));
  }

  get #book(): RecordKeeper {
    this.#keeper ??= new RecordKeeper(RecordKind.presence);
    return this.#keeper;
  }

  /** @internal Starts listening and beaconing; called by `joinNetwork()`. Idempotent. */
  async start(): Promise<void> {
    if (this.#started) return;
    const native = this.#core.use();
    this.#started = true;
    const source = callNativeSync(() => native.floodPayloads());
    void this.#pump(this.#core.openStream(source, { map: (item: NativeFlood) => item }));
    this.#tickers.push(
      new Ticker(Math.max(250, Math.floor(this.#ttl / 2)), () => this.broadcastPresence()),
      new Ticker(Math.min(1_000, Math.max(100, Math.floor(this.#ttl / 8))), () => this.#sweep()),
    );
    await this.broadcastPresence();
  }

  async #pump(frames: AsyncIterable<NativeFlood>): Promise<void> {
    try {
      for await (const item of frames) {
        // A lag costs beacons only: every agent repeats its beacon each
        // round, so the next round brings the state back.
        if (item.type === 'payload') this.#receive(item.payload);
      }
    } catch {
      // The stream ends with the agent.
    }
  }

  #receive(frame: Buffer): void {
    const opened = openBeacon(frame, this.#key);
    switch (opened.kind) {
      case 'undecryptable':
        this.#decryptFailures += 1;
        return;
      case 'plaintext':
        this.#plaintextIgnored += 1;
        return;
      case 'malformed':
        this.#malformed += 1;
        return;
      case 'record':
        break;
    }
    const now = Date.now();
    const record = this.#book.offer(opened.record, now);
    if (typeof record === 'string') return;
    const body = decodeBody(record.body);
    if (body === undefined || body.state === 'offline') {
      this.#book.remove(record.signer);
      this.#setOffline(record.signer, now);
      if (body === undefined) this.#malformed += 1;
      return;
    }
    const known = this.#online.has(record.signer);
    this.#online.set(record.signer, Object.freeze({ agentId: record.signer, addrs: Object.freeze(body.addrs), lastSeen: now }));
    if (!known) {
      this.#emit({ type: 'agent-online', agentId: record.signer, at: now });
      this.#answerSoon();
    }
  }

  /**
   * A newcomer's first beacon reaches agents that are already online, but
   * theirs would reach it only a beacon period later (minutes, by default).
   * So on seeing a new agent, beacon once soon: coalesced and spaced, so a
   * burst of joins costs one beacon per agent per spacing period.
   */
  #answerSoon(): void {
    if (this.#answerTimer !== undefined || this.#tickers.length === 0) return;
    const spacing = Math.max(0, this.#lastAnswer + ANSWER_SPACING_MS - Date.now());
    // Jitter keeps every agent from answering the same newcomer at once.
    this.#answerTimer = setTimeout(() => {
      this.#answerTimer = undefined;
      this.#lastAnswer = Date.now();
      this.broadcastPresence().catch(() => undefined);
    }, spacing + Math.floor(Math.random() * 250));
    this.#answerTimer.unref();
  }

  #sweep(): void {
    const now = Date.now();
    for (const record of this.#book.expire(now) as VerifiedRecord[]) this.#setOffline(record.signer, now);
  }

  #setOffline(agentId: AgentId, at: number): void {
    if (this.#online.delete(agentId)) this.#emit({ type: 'agent-offline', agentId, at });
  }

  #emit(event: PresenceEvent): void {
    const frozen = Object.freeze(event);
    for (const channel of this.#channels) channel.push(frozen);
  }

  async #flood(native: NativeAgent, state: BeaconState): Promise<void> {
    // Strictly increasing, or receivers would take a quick second beacon for a replay.
    const now = Math.max(Date.now(), this.#lastTimestamp + 1);
    this.#lastTimestamp = now;
    const addrs = callNativeSync(() => native.advertisedAddrs());
    const record = callNativeSync(() =>
      native.signRecord(RecordKind.presence, encodeBody(state, addrs), now, now + this.#ttl),
    );
    this.#sent += 1;
    await callNative(() => native.flood(sealBeacon(record, this.#key)));
  }

  /**
   * Floods a fresh beacon now (the background task also does, every
   * `presenceBeaconTtl / 2`).
   * @throws {@link ClosedError} once the agent is closed
   */
  async broadcastPresence(): Promise<void> {
    await this.#flood(this.#core.use(), 'online');
  }

  /** Agents whose newest beacon is valid, with addresses and last-seen time. */
  getOnlineAgents(): OnlineAgent[] {
    this.#sweep();
    return [...this.#online.values()].sort((a, b) => a.agentId.localeCompare(b.agentId));
  }

  /**
   * Presence changes from now on, until the agent closes, the loop is left or
   * `options.signal` aborts.
   *
   * @example
   * ```ts
   * for await (const e of agent.presence.events()) {
   *   if (e.type === 'lagged') continue; // e.missed changes were dropped
   *   console.log(e.agentId, e.type === 'agent-online' ? 'is online' : 'went offline');
   * }
   * ```
   * @throws {@link ClosedError} once the agent is closed
   */
  events(options: AbortOptions = {}): AsyncIterableIterator<PresenceEvent> {
    this.#core.use();
    const channel = new EventChannel<PresenceEvent>(lagged);
    this.#channels.add(channel);
    return this.#core.openStream(channel, { map: (e: PresenceEvent) => e, signal: options.signal }, () =>
      this.#channels.delete(channel),
    );
  }

  /** Beacon counters. */
  stats(): PresenceStats {
    const { accepted, rejected } = this.#book.stats();
    return {
      beaconsSent: this.#sent,
      beaconsReceived: accepted,
      replaysDropped: rejected.replayed + rejected['from-future'],
      invalidDropped:
        this.#malformed +
        rejected.malformed +
        rejected['wrong-kind'] +
        rejected['signer-mismatch'] +
        rejected['bad-signature'] +
        rejected.expired,
      decryptFailures: this.#decryptFailures,
      plaintextIgnored: this.#plaintextIgnored,
      online: this.#online.size,
      ...this.#relayStats(),
    };
  }

  /** The core's flood counters; after close, their last reading. */
  #relayStats(): { relayRateLimited: number; relayInvalid: number } {
    if (!this.#core.closed) {
      const s = callNativeSync(() => this.#core.native.floodStats());
      this.#lastRelay = { relayRateLimited: s.rateLimited, relayInvalid: s.invalid };
    }
    return this.#lastRelay;
  }

  /** Runs as the agent closes: stop beaconing and say goodbye. */
  async #stop(native: NativeAgent): Promise<void> {
    for (const t of this.#tickers) t.stop();
    this.#tickers = [];
    clearTimeout(this.#answerTimer);
    if (!this.#started) return;
    // Best effort: a close must not fail because the goodbye could not go out.
    await this.#flood(native, 'offline').catch(() => undefined);
  }
}

/** @internal */
export function createPresence(core: AgentCore, config: GossipConfig): PresenceManager {
  return create(core, config);
}
