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
 * {@link CoordinatorManager.getCoordinators}. So are adverts of new
 * coordinators while 1024 are listed (`rejected.full`).
 *
 * A coordinator re-advertises every `coordinatorAdvertTtl / 2`; an advert
 * not renewed by its expiry drops out of the list.
 *
 * The protocol (advert body, schedule, acceptance rules) lives in the core
 * (`crates/x0x-core/src/coordinators/`); this module is its facade.
 *
 * @module
 */

import type { AgentCore } from './agent-core.js';
import type { GossipConfig } from './config.js';
import { callNative, callNativeSync } from './errors.js';
import type { AgentId } from './identity.js';
import { loadBinding, type NativeCoordinatorAdvert, type NativeCoordinators } from './native.js';
import { toRecordStats, type RecordStats } from './records.js';

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

function toAdvert(a: NativeCoordinatorAdvert): CoordinatorAdvert {
  return Object.freeze({
    peerId: a.peerId,
    addrs: Object.freeze([...a.addrs]),
    timestamp: a.timestamp,
    expiresAt: a.expiresAt,
    signature: new Uint8Array(a.signature),
    publicKey: new Uint8Array(a.publicKey),
  });
}

/**
 * Re-checks an advert's signature from its fields alone: `publicKey` must
 * hash to `peerId` and have signed `addrs`, `timestamp` and `expiresAt`.
 * Changing any field makes it fail. (Expiry is not checked here.)
 *
 * @param advert - an advert, e.g. from `getCoordinators()` or received elsewhere
 * @returns `true` when the signature verifies; `false` otherwise, also for
 *   fields of the wrong type (it never throws for a bad advert)
 */
export function verifyCoordinatorAdvert(advert: CoordinatorAdvert): boolean {
  const { verifyCoordinatorAdvert: verify } = loadBinding();
  try {
    return verify({
      peerId: advert.peerId,
      addrs: [...advert.addrs],
      timestamp: advert.timestamp,
      expiresAt: advert.expiresAt,
      signature: Buffer.from(advert.signature),
      publicKey: Buffer.from(advert.publicKey),
    });
  } catch {
    // Fields of the wrong type cannot be a valid advert.
    return false;
  }
}

let create: (core: AgentCore, config: GossipConfig) => CoordinatorManager;

/**
 * Coordinator adverts of one agent, reachable as `agent.coordinators`. It
 * listens on {@link COORDINATORS_TOPIC} from `joinNetwork()` on. Every
 * method fails with `ClosedError` once the agent is closed.
 */
export class CoordinatorManager {
  static {
    create = (core, config) => new CoordinatorManager(core, config);
  }

  readonly #core: AgentCore;
  readonly #native: NativeCoordinators;

  private constructor(core: AgentCore, config: GossipConfig) {
    this.#core = core;
    this.#native = callNativeSync(() =>
      core.native.coordinators({ advertTtlMs: config.coordinatorAdvertTtl, advertise: config.coordinator }),
    );
  }

  /** @internal The native handle, for rendezvous to take its holders from. */
  get handle(): NativeCoordinators {
    return this.#native;
  }

  /** @internal Starts listening (and advertising, if configured); called by `joinNetwork()`. Idempotent. */
  async start(): Promise<void> {
    this.#core.use();
    await callNative(() => this.#native.start());
  }

  /**
   * Announces this agent as a coordinator at its advertised addresses, now
   * and every `coordinatorAdvertTtl / 2` until the agent closes. Call it
   * only on publicly reachable nodes. Idempotent (a second call just
   * re-advertises).
   *
   * @returns the advert as published
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  async advertiseAsCoordinator(): Promise<CoordinatorAdvert> {
    this.#core.use();
    return toAdvert(await callNative(() => this.#native.advertise()));
  }

  /**
   * The coordinators whose adverts are verified and unexpired, newest advert
   * per coordinator, by id (this agent included, if it advertises).
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  getCoordinators(): CoordinatorAdvert[] {
    this.#core.use();
    return this.#native.list().map(toAdvert);
  }

  /**
   * Adverts accepted and rejected (by reason).
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  stats(): RecordStats {
    this.#core.use();
    return toRecordStats(this.#native.stats());
  }

  /** @internal Stops advertising and listening; called by `close()`. */
  stop(): void {
    this.#native.stop();
  }
}

/** @internal */
export function createCoordinators(core: AgentCore, config: GossipConfig): CoordinatorManager {
  return create(core, config);
}
