/**
 * Agent identity: a post-quantum (ML-DSA-65) keypair and the agent id derived
 * from its public key.
 *
 * @module
 */

import { invalidArgType } from './arg-errors.js';
import { callNativeSync, InvalidConfigError } from './errors.js';
import { loadBinding, type NativeKeypair } from './native.js';

/**
 * An agent id: 32 bytes as 64 lowercase hex characters, derived from the
 * agent's public key. The same id names the agent on the transport, so it is
 * also the agent's peer id.
 */
export type AgentId = string;

const AGENT_ID = /^[0-9a-f]{64}$/;

/**
 * True when `value` is a well-formed {@link AgentId} (64 lowercase hex
 * characters). It checks the form only: any such string names some
 * possible agent, online or not.
 * @param value - anything, e.g. user input or a field of a parsed message
 */
export function isAgentId(value: unknown): value is AgentId {
  return typeof value === 'string' && AGENT_ID.test(value);
}

/** A view over the Buffer's memory, typed as the plain `Uint8Array` callers expect. */
function toUint8Array(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

function assertPath(path: unknown, method: string): asserts path is string {
  if (typeof path !== 'string') throw invalidArgType(`AgentKeypair.${method}() expects a file path string`);
  if (path.length === 0) throw new InvalidConfigError('path must be a non-empty file path', { field: 'path' });
}

let unwrap: (keypair: AgentKeypair) => NativeKeypair;

/**
 * The keypair that gives an agent its identity.
 *
 * The secret key never leaves the native side except through
 * {@link AgentKeypair.toBytes} and {@link AgentKeypair.save}; treat both
 * outputs as secrets.
 *
 * @example
 * ```ts
 * const keypair = AgentKeypair.generate();
 * keypair.save('./agent.key');
 * const same = AgentKeypair.load('./agent.key');
 * same.agentId === keypair.agentId; // true
 * ```
 */
export class AgentKeypair {
  static {
    unwrap = (keypair) => keypair.#native;
  }

  readonly #native: NativeKeypair;
  #agentId: AgentId | undefined;

  private constructor(native: NativeKeypair) {
    this.#native = native;
  }

  /**
   * Creates a fresh random keypair.
   * @throws {@link NativeMissingError} (`ERR_X0X_NATIVE_MISSING`) when the addon cannot be loaded
   */
  static generate(): AgentKeypair {
    return new AgentKeypair(callNativeSync(() => loadBinding().NativeKeypair.generate()));
  }

  /**
   * Reads a keypair written by {@link AgentKeypair.save}.
   * @param path - file path
   * @throws {@link KeyFileError} (`ERR_X0X_KEY_FILE`) when the file is missing, unreadable or corrupt
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `path` is not a string
   * @throws {@link InvalidConfigError} (`ERR_X0X_INVALID_CONFIG`, field `path`) when `path` is empty
   * @throws {@link NativeMissingError} (`ERR_X0X_NATIVE_MISSING`) when the addon cannot be loaded
   */
  static load(path: string): AgentKeypair {
    assertPath(path, 'load');
    return new AgentKeypair(callNativeSync(() => loadBinding().NativeKeypair.load(path)));
  }

  /**
   * Rebuilds a keypair from the output of {@link AgentKeypair.toBytes}.
   * @param bytes - the serialised keypair
   * @throws {@link BadKeyError} (`ERR_X0X_BAD_KEY`) when the bytes do not decode to a keypair
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `bytes` is not a `Uint8Array`
   * @throws {@link NativeMissingError} (`ERR_X0X_NATIVE_MISSING`) when the addon cannot be loaded
   */
  static fromBytes(bytes: Uint8Array): AgentKeypair {
    if (!(bytes instanceof Uint8Array)) {
      throw invalidArgType('AgentKeypair.fromBytes() expects a Uint8Array');
    }
    // A Buffer view shares the caller's memory; the native side copies what it keeps.
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return new AgentKeypair(callNativeSync(() => loadBinding().NativeKeypair.fromBytes(buffer)));
  }

  /**
   * Writes the keypair (including the secret key) to `path`, readable by the
   * owner only (mode 0600).
   * @param path - file path; the parent directory must exist
   * @throws {@link KeyFileError} (`ERR_X0X_KEY_FILE`) when the file cannot be written
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `path` is not a string
   * @throws {@link InvalidConfigError} (`ERR_X0X_INVALID_CONFIG`, field `path`) when `path` is empty
   */
  save(path: string): void {
    assertPath(path, 'save');
    callNativeSync(() => this.#native.save(path));
  }

  /** This keypair's agent id, derived from the public key (read once, then cached). */
  get agentId(): AgentId {
    this.#agentId ??= this.#native.agentId;
    return this.#agentId;
  }

  /**
   * The ML-DSA-65 public key (1,952 bytes); a fresh copy on every read, so
   * callers may mutate it.
   */
  get publicKey(): Uint8Array {
    return new Uint8Array(this.#native.publicKey);
  }

  /**
   * The serialised keypair, secret key included; accepted by
   * {@link AgentKeypair.fromBytes}. A fresh buffer on every call: zero it
   * when done if the process's memory matters.
   */
  toBytes(): Uint8Array {
    return toUint8Array(callNativeSync(() => this.#native.toBytes()));
  }
}

/**
 * The native keypair behind `keypair`, for `AgentBuilder`.
 *
 * @internal
 */
export function nativeKeypairOf(keypair: AgentKeypair): NativeKeypair {
  return unwrap(keypair);
}
