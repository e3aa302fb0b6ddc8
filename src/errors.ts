/**
 * The error hierarchy of x0x.
 *
 * Every failure the package reports on purpose is an {@link X0xError} with a
 * stable `code`; branch on `code` or on the subclass, never on `message`.
 * Programmer errors stay `TypeError`s, as in Node's own APIs, and carry the
 * code Node gives the same mistake (`arg-errors.ts` makes them):
 *
 * - `ERR_INVALID_ARG_TYPE`: an argument of the wrong JavaScript type (a
 *   number where a string belongs, a non-array, a non-function, an object
 *   that is not an x0x `Agent` or `AgentKeypair`).
 * - `ERR_INVALID_ARG_VALUE`: an agent id string that is not 64 lowercase hex
 *   characters.
 * - `ERR_INVALID_STATE`: a `Subscription` iterated a second time.
 *
 * A value of the right type but out of range is an `ERR_X0X_*` error
 * ({@link InvalidConfigError}, {@link InvalidTopicError},
 * {@link BadAddressError}), never one of these.
 *
 * The native addon cannot throw JS classes; it throws plain `Error`s whose
 * `code` property is the stable code, with the fields of that failure as
 * properties (`size` and `limit`, `field`). {@link fromNative} is the one place
 * that turns such an error into a class, reading `code`, never the message.
 *
 * @module
 */

/**
 * Every code an {@link X0xError} can carry.
 *
 * - `ERR_X0X_INVALID_CONFIG`: an option is unknown, of the wrong type or out of range ({@link InvalidConfigError}).
 * - `ERR_X0X_CLOSED`: the agent (or the stream) was closed before or during the call ({@link ClosedError}).
 * - `ERR_X0X_PAYLOAD_TOO_LARGE`: a published payload exceeds `MAX_PAYLOAD_BYTES` ({@link PayloadTooLargeError}).
 * - `ERR_X0X_INVALID_TOPIC`: a topic is empty, not a string, malformed UTF-16 or longer than `MAX_TOPIC_BYTES` ({@link InvalidTopicError}).
 * - `ERR_X0X_BAD_ADDRESS`: an address is not `"ip:port"` or cannot be bound or dialled ({@link BadAddressError}).
 * - `ERR_X0X_JOIN_FAILED`: no bootstrap peer accepted the join ({@link JoinFailedError}).
 * - `ERR_X0X_KEY_FILE`: a key file is missing, unreadable, unwritable or corrupt ({@link KeyFileError}).
 * - `ERR_X0X_BAD_KEY`: key bytes do not decode to a keypair ({@link BadKeyError}).
 * - `ERR_X0X_ABORTED`: an `AbortSignal` fired ({@link AbortError}).
 * - `ERR_X0X_NATIVE_MISSING`: the compiled addon for this platform cannot be found or loaded ({@link NativeMissingError}).
 * - `ERR_X0X_RENDEZVOUS`: a rendezvous registration was refused: not this agent's own id, or no holder stored it ({@link RendezvousError}).
 * - `ERR_X0X_ALREADY_BUILT`: an `AgentBuilder` was used after `build()` ({@link AlreadyBuiltError}).
 * - `ERR_X0X_PEER_DEPENDENCY_MISSING`: an optional entry point needs a package the application has not installed ({@link PeerDependencyMissingError}).
 * - `ERR_X0X_INTERNAL`: a bug in x0x: native code panicked; the panic was caught at the boundary, and an agent whose own task panicked refuses further calls ({@link InternalError}).
 * - `ERR_X0X_NETWORK`: any other failure reported by the native core ({@link NetworkError}).
 *
 * Programmer errors are not `X0xError`s: they are `TypeError`s with Node's
 * codes `ERR_INVALID_ARG_TYPE`, `ERR_INVALID_ARG_VALUE` and
 * `ERR_INVALID_STATE` (see `ProgrammerErrorCode`).
 */
export type X0xErrorCode =
  | 'ERR_X0X_INVALID_CONFIG'
  | 'ERR_X0X_CLOSED'
  | 'ERR_X0X_PAYLOAD_TOO_LARGE'
  | 'ERR_X0X_INVALID_TOPIC'
  | 'ERR_X0X_BAD_ADDRESS'
  | 'ERR_X0X_JOIN_FAILED'
  | 'ERR_X0X_KEY_FILE'
  | 'ERR_X0X_BAD_KEY'
  | 'ERR_X0X_ABORTED'
  | 'ERR_X0X_NATIVE_MISSING'
  | 'ERR_X0X_RENDEZVOUS'
  | 'ERR_X0X_ALREADY_BUILT'
  | 'ERR_X0X_PEER_DEPENDENCY_MISSING'
  | 'ERR_X0X_INTERNAL'
  | 'ERR_X0X_NETWORK';

/** Base class of every error x0x reports on purpose. */
export class X0xError extends Error {
  /** Stable, machine-readable identifier of the failure. */
  readonly code: X0xErrorCode;

  /**
   * For x0x's own subclasses; an application that wraps an x0x failure
   * should rethrow it (or set it as `cause`) rather than make a new one.
   *
   * @param code - the stable code, see {@link X0xErrorCode}
   * @param message - human-readable detail, without the code prefix
   * @param options - standard `ErrorOptions`; `cause` keeps the underlying error
   */
  constructor(code: X0xErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = 'X0xError';
  }
}

/**
 * `ERR_X0X_INVALID_CONFIG`: a setting is unusable: a `GossipConfig` field or
 * a field of an options object that is unknown, of the wrong type or out of
 * range, or a builder setting or method argument of the right type but out
 * of range (`withDataDir('')`, `waitForPeers(0)`). A method argument of the
 * wrong JavaScript type is a `TypeError` with code `ERR_INVALID_ARG_TYPE`
 * instead.
 */
export class InvalidConfigError extends X0xError {
  declare readonly code: 'ERR_X0X_INVALID_CONFIG';
  /**
   * Name of the offending option, e.g. `"activeViewSize"`; `undefined` when
   * the whole value was unusable (not an object, not JSON) or the native side
   * reported the error.
   */
  readonly field: string | undefined;

  /**
   * Made by x0x's validation; public so tests and wrappers can make one
   * that `isX0xError` and `instanceof` recognise.
   *
   * @param message - names the field, the value and the allowed range
   * @param options - `field` names the option; `cause` keeps a parse error
   */
  constructor(message: string, options?: ErrorOptions & { field?: string | undefined }) {
    super('ERR_X0X_INVALID_CONFIG', message, options);
    this.name = 'InvalidConfigError';
    this.field = options?.field;
  }
}

/**
 * `ERR_X0X_CLOSED`: the agent was closed, so the call cannot run. Every method
 * of a closed `Agent` and of its managers fails with this error before it
 * checks its arguments (async methods reject, sync ones throw), except
 * `close()` and `runtime.shutdown()`, which resolve again.
 */
export class ClosedError extends X0xError {
  declare readonly code: 'ERR_X0X_CLOSED';

  /**
   * Made by every call on a closed agent or stream.
   *
   * @param message - what was closed; defaults to `"agent is closed"`
   * @param options - standard `ErrorOptions`
   */
  constructor(message = 'agent is closed', options?: ErrorOptions) {
    super('ERR_X0X_CLOSED', message, options);
    this.name = 'ClosedError';
  }
}

/** `ERR_X0X_PAYLOAD_TOO_LARGE`: a payload is bigger than `MAX_PAYLOAD_BYTES`. */
export class PayloadTooLargeError extends X0xError {
  declare readonly code: 'ERR_X0X_PAYLOAD_TOO_LARGE';
  /** Payload size in bytes; `undefined` when reported by the native side without figures. */
  readonly size: number | undefined;
  /** Largest accepted size in bytes; `undefined` when reported by the native side without figures. */
  readonly limit: number | undefined;

  /**
   * Made by `publish` and by the native side when a payload is too big.
   *
   * @param message - human-readable detail
   * @param options - `size` and `limit` in bytes when known
   */
  constructor(
    message: string,
    options?: ErrorOptions & { size?: number | undefined; limit?: number | undefined },
  ) {
    super('ERR_X0X_PAYLOAD_TOO_LARGE', message, options);
    this.name = 'PayloadTooLargeError';
    this.size = options?.size;
    this.limit = options?.limit;
  }
}

/**
 * `ERR_X0X_INVALID_TOPIC`: a topic is not a non-empty, well-formed string of
 * at most `MAX_TOPIC_BYTES` UTF-8 bytes.
 */
export class InvalidTopicError extends X0xError {
  declare readonly code: 'ERR_X0X_INVALID_TOPIC';

  /**
   * Made by every call that takes a topic (checked in TypeScript, and again
   * by the native side).
   *
   * @param message - names the rule the topic broke
   * @param options - standard `ErrorOptions`; `cause` keeps the underlying error
   */
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_X0X_INVALID_TOPIC', message, options);
    this.name = 'InvalidTopicError';
  }
}

/**
 * `ERR_X0X_BAD_ADDRESS`: an address is not `"ip:port"` (IPv6 as
 * `"[::1]:port"`), or the native side could not bind or dial it.
 */
export class BadAddressError extends X0xError {
  declare readonly code: 'ERR_X0X_BAD_ADDRESS';
  /** The value at fault, as given (e.g. `"nosuch.invalid:5483"`), when the check was made in TypeScript. */
  readonly address?: string;

  /**
   * Made by address checks (TypeScript) and by failed binds and dials (native).
   *
   * @param message - the address and what is wrong with it
   * @param options - `address` is the value at fault; `cause` keeps a resolver error
   */
  constructor(message: string, options?: ErrorOptions & { readonly address?: string }) {
    super('ERR_X0X_BAD_ADDRESS', message, options);
    this.name = 'BadAddressError';
    if (options?.address !== undefined) this.address = options.address;
  }
}

/** `ERR_X0X_JOIN_FAILED`: none of the bootstrap peers completed the join. */
export class JoinFailedError extends X0xError {
  declare readonly code: 'ERR_X0X_JOIN_FAILED';

  /**
   * Made by `joinNetwork()` when no bootstrap peer completed the join.
   *
   * @param message - what was tried and why it failed
   * @param options - standard `ErrorOptions`; `cause` keeps the underlying error
   */
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_X0X_JOIN_FAILED', message, options);
    this.name = 'JoinFailedError';
  }
}

/** `ERR_X0X_KEY_FILE`: a key file is missing, unreadable, unwritable or corrupt. */
export class KeyFileError extends X0xError {
  declare readonly code: 'ERR_X0X_KEY_FILE';

  /**
   * Made when a key file cannot be read, written or decoded.
   *
   * @param message - the path and the failure
   * @param options - standard `ErrorOptions`; `cause` keeps the underlying error
   */
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_X0X_KEY_FILE', message, options);
    this.name = 'KeyFileError';
  }
}

/** `ERR_X0X_BAD_KEY`: bytes given to `AgentKeypair.fromBytes` are not a keypair. */
export class BadKeyError extends X0xError {
  declare readonly code: 'ERR_X0X_BAD_KEY';

  /**
   * Made when bytes do not decode to an ML-DSA-65 keypair.
   *
   * @param message - what is wrong with the bytes
   * @param options - standard `ErrorOptions`; `cause` keeps the underlying error
   */
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_X0X_BAD_KEY', message, options);
    this.name = 'BadKeyError';
  }
}

/**
 * `ERR_X0X_ABORTED`: the caller's `AbortSignal` fired. `name` is
 * `"AbortError"` so code that checks `err.name === 'AbortError'` (the DOM and
 * Node convention) recognises it; `cause` is the signal's `reason`.
 */
export class AbortError extends X0xError {
  declare readonly code: 'ERR_X0X_ABORTED';

  /**
   * Made when an `AbortSignal` fires; `cause` should be the signal's `reason`.
   *
   * @param message - what was aborted; defaults to `"the operation was aborted"`
   * @param options - standard `ErrorOptions`; `cause` keeps the underlying error
   */
  constructor(message = 'the operation was aborted', options?: ErrorOptions) {
    super('ERR_X0X_ABORTED', message, options);
    this.name = 'AbortError';
  }
}

/**
 * `ERR_X0X_NATIVE_MISSING`: no compiled addon for this platform was found, or
 * it failed to load. The message lists the paths tried and the fix
 * (`npm run build:native`).
 */
export class NativeMissingError extends X0xError {
  declare readonly code: 'ERR_X0X_NATIVE_MISSING';

  /**
   * Made by the loader when no addon for this platform loads.
   *
   * @param message - the paths tried and the fix
   * @param options - standard `ErrorOptions`; `cause` keeps the underlying error
   */
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_X0X_NATIVE_MISSING', message, options);
    this.name = 'NativeMissingError';
  }
}

/**
 * `ERR_X0X_RENDEZVOUS`: a rendezvous registration or unregistration was
 * refused: the id is not this agent's own (only an agent can register
 * itself), or no holder stored the record (none known, none reachable, or
 * every holder refused it).
 */
export class RendezvousError extends X0xError {
  declare readonly code: 'ERR_X0X_RENDEZVOUS';

  /**
   * Made by rendezvous `register`/`unregister` when they are refused.
   *
   * @param message - why, holder by holder when holders answered
   * @param options - standard `ErrorOptions`; `cause` keeps the underlying error
   */
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_X0X_RENDEZVOUS', message, options);
    this.name = 'RendezvousError';
  }
}

/**
 * `ERR_X0X_ALREADY_BUILT`: an `AgentBuilder` builds one agent; `build()` or
 * any `with…` call after the first `build()` fails with this error. Call
 * `Agent.builder()` again for another agent.
 */
export class AlreadyBuiltError extends X0xError {
  declare readonly code: 'ERR_X0X_ALREADY_BUILT';

  /**
   * Made by an `AgentBuilder` used after its `build()`.
   *
   * @param message - defaults to one that says to call `Agent.builder()` again
   * @param options - standard `ErrorOptions`; `cause` keeps the underlying error
   */
  constructor(message = 'this AgentBuilder was already built; call Agent.builder() for another agent', options?: ErrorOptions) {
    super('ERR_X0X_ALREADY_BUILT', message, options);
    this.name = 'AlreadyBuiltError';
  }
}

/**
 * `ERR_X0X_PEER_DEPENDENCY_MISSING`: an optional entry point of the package
 * was loaded, but the optional peer dependency it adapts to cannot be found
 * (`@x0x/node/prom-client` without `prom-client`). Install that package
 * next to `@x0x/node`; the main entry point never needs it.
 */
export class PeerDependencyMissingError extends X0xError {
  declare readonly code: 'ERR_X0X_PEER_DEPENDENCY_MISSING';
  /** The package to install, e.g. `"prom-client"`. */
  readonly dependency: string;

  /**
   * Made when an optional entry point is loaded without its peer dependency.
   *
   * @param dependency - the package name
   * @param message - names the entry point and the fix
   * @param options - `cause` keeps the resolver's error
   */
  constructor(dependency: string, message: string, options?: ErrorOptions) {
    super('ERR_X0X_PEER_DEPENDENCY_MISSING', message, options);
    this.name = 'PeerDependencyMissingError';
    this.dependency = dependency;
  }
}

/**
 * `ERR_X0X_NETWORK`: a failure of the native core that has no code of its own
 * (socket errors, internal faults, codes newer than this package). The message
 * is the native one, unchanged, so nothing is lost.
 */
export class NetworkError extends X0xError {
  declare readonly code: 'ERR_X0X_NETWORK';

  /**
   * Made from a native failure that has no code of its own.
   *
   * @param message - the native message, unchanged
   * @param options - standard `ErrorOptions`; `cause` keeps the underlying error
   */
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_X0X_NETWORK', message, options);
    this.name = 'NetworkError';
  }
}

/**
 * `ERR_X0X_INTERNAL`: a bug in x0x. Native code panicked and the panic was
 * caught where it would have crossed into Node (it would otherwise abort
 * the process). When the panic was in one of an agent's own tasks, that
 * agent refuses every later call with this error; close it and build a new
 * one. Please report it, with the message.
 */
export class InternalError extends X0xError {
  declare readonly code: 'ERR_X0X_INTERNAL';

  /**
   * Made when native code panicked.
   *
   * @param message - the panic message
   * @param options - standard `ErrorOptions`; `cause` keeps the underlying error
   */
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_X0X_INTERNAL', message, options);
    this.name = 'InternalError';
  }
}

/**
 * True when `err` is an {@link X0xError}, optionally with the given code.
 * Works across the ESM and CommonJS entry points, which share one class.
 *
 * @param err - a caught value
 * @param code - when given, `err.code` must also equal it
 *
 * @example
 * ```ts
 * if (isX0xError(err, 'ERR_X0X_CLOSED')) return;
 * ```
 */
export function isX0xError(err: unknown, code?: X0xErrorCode): err is X0xError {
  return err instanceof X0xError && (code === undefined || err.code === code);
}

/** What a native error carries besides its message; see `crates/x0x-napi/src/errors.rs`. */
interface NativeFields {
  readonly size?: number | undefined;
  readonly limit?: number | undefined;
  readonly field?: string | undefined;
}

type Construct = (message: string, options: ErrorOptions & NativeFields) => X0xError;

/** The one table from native code to class. `ERR_X0X_NETWORK` doubles as the fallback. */
const FROM_CODE: { readonly [C in X0xErrorCode]: Construct } = {
  ERR_X0X_INVALID_CONFIG: (m, o) => new InvalidConfigError(m, o),
  ERR_X0X_CLOSED: (m, o) => new ClosedError(m, o),
  ERR_X0X_PAYLOAD_TOO_LARGE: (m, o) => new PayloadTooLargeError(m, o),
  ERR_X0X_INVALID_TOPIC: (m, o) => new InvalidTopicError(m, o),
  ERR_X0X_BAD_ADDRESS: (m, o) => new BadAddressError(m, o),
  ERR_X0X_JOIN_FAILED: (m, o) => new JoinFailedError(m, o),
  ERR_X0X_KEY_FILE: (m, o) => new KeyFileError(m, o),
  ERR_X0X_BAD_KEY: (m, o) => new BadKeyError(m, o),
  ERR_X0X_ABORTED: (m, o) => new AbortError(m, o),
  ERR_X0X_NATIVE_MISSING: (m, o) => new NativeMissingError(m, o),
  ERR_X0X_RENDEZVOUS: (m, o) => new RendezvousError(m, o),
  ERR_X0X_ALREADY_BUILT: (m, o) => new AlreadyBuiltError(m, o),
  // Raised in TypeScript only; the entry keeps the table total.
  ERR_X0X_PEER_DEPENDENCY_MISSING: (m, o) => new PeerDependencyMissingError('unknown', m, o),
  ERR_X0X_INTERNAL: (m, o) => new InternalError(m, o),
  ERR_X0X_NETWORK: (m, o) => new NetworkError(m, o),
};

/**
 * The codes the native addon raises, one per Rust `CoreError` variant (its
 * `errorCodes()` export lists the same set; a test compares the two). The
 * others (`ABORTED`, `NATIVE_MISSING`, `ALREADY_BUILT`,
 * `PEER_DEPENDENCY_MISSING`) are raised in TypeScript or by the loader.
 *
 * @internal
 */
export const NATIVE_ERROR_CODES: readonly X0xErrorCode[] = [
  'ERR_X0X_CLOSED',
  'ERR_X0X_BAD_KEY',
  'ERR_X0X_KEY_FILE',
  'ERR_X0X_BAD_ADDRESS',
  'ERR_X0X_JOIN_FAILED',
  'ERR_X0X_INVALID_TOPIC',
  'ERR_X0X_PAYLOAD_TOO_LARGE',
  'ERR_X0X_INVALID_CONFIG',
  'ERR_X0X_NETWORK',
  'ERR_X0X_RENDEZVOUS',
  'ERR_X0X_INTERNAL',
];

function isKnownCode(code: unknown): code is X0xErrorCode {
  return typeof code === 'string' && Object.hasOwn(FROM_CODE, code);
}

function numberField(value: unknown): number | undefined {
  return typeof value === 'number' ? value : undefined;
}

/**
 * Turns whatever the native addon threw into an {@link X0xError}.
 *
 * A known `code` property selects the subclass, and the fields the native
 * side attached (`size`, `limit`, `field`) are copied onto it; anything else
 * (an unknown code, no code, a non-Error value) becomes a
 * {@link NetworkError} with the original message. The message is never
 * parsed. The original error is kept as `cause`. An `X0xError` is returned
 * unchanged.
 *
 * @internal
 */
export function fromNative(err: unknown): X0xError {
  if (err instanceof X0xError) return err;
  const text = err instanceof Error ? err.message : String(err);
  const raw = typeof err === 'object' && err !== null ? (err as Record<string, unknown>) : {};
  const code = raw['code'];
  if (isKnownCode(code)) {
    return FROM_CODE[code](text, {
      cause: err,
      size: numberField(raw['size']),
      limit: numberField(raw['limit']),
      field: typeof raw['field'] === 'string' ? raw['field'] : undefined,
    });
  }
  // napi-rs reports a panic it caught at the boundary (and its own
  // unexpected failures) with this status, never an x0x code.
  if (code === 'GenericFailure') return new InternalError(text, { cause: err });
  return new NetworkError(text, { cause: err });
}

/**
 * Awaits a native call and rethrows its failure through {@link fromNative}.
 * Synchronous throws from `fn` are converted too.
 *
 * @internal
 */
export async function callNative<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw fromNative(err);
  }
}

/**
 * Runs a synchronous native call and rethrows its failure through
 * {@link fromNative}.
 *
 * @internal
 */
export function callNativeSync<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromNative(err);
  }
}
