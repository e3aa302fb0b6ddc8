/**
 * Coordinator adverts: publicly reachable agents announce themselves so that
 * others (rendezvous, NAT traversal) can find them.
 *
 * An advert is a signed record ({@link RecordKind}.coordinator) published on
 * the well-known topic {@link COORDINATORS_TOPIC}. It carries the
 * coordinator's ML-DSA-65 public key and signature, so every receiver checks
 * it on its own, whoever relayed it: the key must hash to `peerId` and sign
 * the fields. Adverts with a bad signature, a signer that does not match
 * `peerId`, tampered fields, an expiry in the past or a timestamp not newer
 * than the coordinator's last advert are rejected and counted
 * ({@link CoordinatorManager.stats}); they never reach
 * {@link CoordinatorManager.getCoordinators}.
 *
 * A coordinator re-advertises every `coordinatorAdvertTtl / 2`; an advert
 * not renewed by its expiry drops out of the list.
 *
 * @module
 */

import type { AgentCore } from './agent-core.js';
import type { GossipConfig } from './config.js';
import { callNative, callNativeSync, NetworkError } from './errors.js';
import type { AgentId } from './identity.js';
import { loadBinding, type NativeMessage } from './native.js';
import { RecordKeeper, RecordKind, Ticker, type RecordStats, type VerifiedRecord } from './records.js';

/** The pub/sub topic coordinator adverts travel on. */
export const COORDINATORS_TOPIC = 'x0x.coordinators';

/** A verified coordinator advert. */
export interface CoordinatorAdvert {
  /** The coordinator's agent id; `publicKey` hashes to it. */
  readonly peerId: AgentId;
  /** Addresses (`"ip:port"`) it can be dialled on. */
  readonly addrs: readonly string[];
  /** Coordinator's clock when it signed the advert, ms since the epoch. */
  readonly timestamp: number;
  /** When the advert stops being valid, ms since the epoch. */
  readonly expiresAt: number;
  /** ML-DSA-65 signature over the other fields (see `x0x_core::records`). */
  readonly signature: Uint8Array;
  /** The coordinator's ML-DSA-65 public key, so anyone can re-check `signature`. */
  readonly publicKey: Uint8Array;
}

function encodeAddrs(addrs: readonly string[]): Buffer {
  return Buffer.from(JSON.stringify({ addrs }), 'utf8');
}

function decodeAddrs(body: Uint8Array): string[] | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(body).toString('utf8')) as { addrs?: unknown };
    const addrs = parsed.addrs;
    if (Array.isArray(addrs) && addrs.every((a) => typeof a === 'string')) return addrs as string[];
  } catch {
    // Signed but unreadable: the signer's problem, not a reason to crash.
  }
  return undefined;
}

function toAdvert(r: VerifiedRecord): CoordinatorAdvert | undefined {
  const addrs = decodeAddrs(r.body);
  if (addrs === undefined) return undefined;
  return Object.freeze({
    peerId: r.signer,
    addrs: Object.freeze(addrs),
    timestamp: r.timestamp,
    expiresAt: r.expiresAt,
    signature: new Uint8Array(r.signature),
    publicKey: new Uint8Array(r.publicKey),
  });
}

/**
 * Re-checks an advert's signature from its fields alone: `publicKey` must
 * hash to `peerId` and have signed `addrs`, `timestamp` and `expiresAt`.
 * Changing any field makes it fail. (Expiry is not checked here.)
 */
export function verifyCoordinatorAdvert(advert: CoordinatorAdvert): boolean {
  const { verifyRecord } = loadBinding();
  try {
    return verifyRecord(
      RecordKind.coordinator,
      advert.peerId,
      advert.timestamp,
      advert.expiresAt,
      encodeAddrs(advert.addrs),
      Buffer.from(advert.publicKey),
      Buffer.from(advert.signature),
    );
  } catch {
    // A malformed peer id or a non-integer time cannot be a valid advert.
    return false;
  }
}

let create: (core: AgentCore, config: GossipConfig) => CoordinatorManager;

/**
 * Coordinator adverts of one agent, reachable as `agent.coordinators`. It
 * listens on {@link COORDINATORS_TOPIC} from `joinNetwork()` on.
 */
export class CoordinatorManager {
  static {
    create = (core, config) => new CoordinatorManager(core, config);
  }

  readonly #core: AgentCore;
  readonly #ttl: number;
  readonly #advertise: boolean;
  #keeper: RecordKeeper | undefined;
  #listening: Promise<void> | undefined;
  #ticker: Ticker | undefined;

  private constructor(core: AgentCore, config: GossipConfig) {
    this.#core = core;
    this.#ttl = config.coordinatorAdvertTtl;
    this.#advertise = config.coordinator;
  }

  get #book(): RecordKeeper {
    this.#keeper ??= new RecordKeeper(RecordKind.coordinator);
    return this.#keeper;
  }

  /** @internal Starts listening; called by `joinNetwork()`. Idempotent. */
  async start(): Promise<void> {
    this.#listening ??= this.#listen();
    await this.#listening;
    if (this.#advertise) await this.advertiseAsCoordinator();
  }

  async #listen(): Promise<void> {
    const native = this.#core.use();
    const source = await callNative(() => native.subscribe(COORDINATORS_TOPIC));
    if (this.#core.closed) {
      source.close();
      return;
    }
    const self = native.agentId;
    void this.#pump(this.#core.openStream(source, { map: (m: NativeMessage) => m }), self);
  }

  async #pump(messages: AsyncIterable<NativeMessage>, self: AgentId): Promise<void> {
    try {
      for await (const message of messages) {
        // Our own adverts went into the book when we published them.
        if (message.from !== self) this.#book.offer(message.payload);
      }
    } catch {
      // The stream ends with the agent.
    }
  }

  /**
   * Announces this agent as a coordinator at its listen addresses, now and
   * every `coordinatorAdvertTtl / 2` until the agent closes. Call it only on
   * publicly reachable nodes. Idempotent (a second call just re-advertises).
   *
   * @returns the advert as published
   * @throws {@link ClosedError} once the agent is closed
   */
  async advertiseAsCoordinator(): Promise<CoordinatorAdvert> {
    this.#core.use();
    this.#listening ??= this.#listen();
    await this.#listening;
    const advert = await this.#publish();
    this.#ticker ??= new Ticker(Math.max(500, Math.floor(this.#ttl / 2)), async () => {
      if (!this.#core.closed) await this.#publish();
    });
    return advert;
  }

  async #publish(): Promise<CoordinatorAdvert> {
    const native = this.#core.use();
    const now = Date.now();
    const addrs = callNativeSync(() => native.advertisedAddrs());
    const bytes = callNativeSync(() =>
      native.signRecord(RecordKind.coordinator, encodeAddrs(addrs), now, now + this.#ttl),
    );
    // Through our own book, so we list ourselves and the advert is checked
    // exactly as peers will check it.
    const record = this.#book.offer(bytes, now);
    const advert = typeof record === 'string' ? undefined : toAdvert(record);
    if (advert === undefined) {
      throw new NetworkError(`own coordinator advert was rejected (${String(record)})`);
    }
    await callNative(() => native.publish(COORDINATORS_TOPIC, bytes));
    return advert;
  }

  /**
   * The coordinators whose adverts are verified and unexpired, newest advert
   * per coordinator (this agent included, if it advertises).
   */
  getCoordinators(): CoordinatorAdvert[] {
    if (this.#keeper === undefined) return [];
    const out: CoordinatorAdvert[] = [];
    for (const record of this.#keeper.current()) {
      const advert = toAdvert(record);
      if (advert !== undefined) out.push(advert);
    }
    return out.sort((a, b) => a.peerId.localeCompare(b.peerId));
  }

  /** Adverts accepted and rejected (by reason). */
  stats(): RecordStats {
    return this.#book.stats();
  }

  /** @internal Stops re-advertising; the subscription ends with the agent. */
  stop(): void {
    this.#ticker?.stop();
  }
}

/** @internal */
export function createCoordinators(core: AgentCore, config: GossipConfig): CoordinatorManager {
  return create(core, config);
}
