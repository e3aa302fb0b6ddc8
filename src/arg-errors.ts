/**
 * Coded programmer errors: a bad argument, or a call the object's state
 * refuses, reported as Node's own APIs report them.
 *
 * They are not `X0xError`s: they say the calling code is wrong, not
 * that the network or a file failed, so they keep the built-in class
 * (`instanceof TypeError` goes on working) and carry the code Node gives the
 * same mistake, which applications already match on.
 *
 * @module
 */

/**
 * The Node.js codes x0x gives a programmer error, each on a `TypeError`:
 *
 * - `ERR_INVALID_ARG_TYPE`: an argument is of the wrong JavaScript type
 *   (`withUpnp('yes')`, `withKeyFile(42)`, `AgentKeypair.fromBytes([1, 2])`,
 *   `registerX0xMetrics({})` with no agent). An options argument follows
 *   Node's rule: `undefined` means "not given", while `null`, an array or
 *   any other non-object is this error (`The "options" argument must be of
 *   type object. Received null`), and so is an `options.signal` that is
 *   neither `undefined` nor an `AbortSignal`.
 * - `ERR_INVALID_ARG_VALUE`: an argument is of the right type but no usable
 *   value, where no `ERR_X0X_*` code names the fault (an agent id string that
 *   is not 64 lowercase hex characters).
 * - `ERR_INVALID_STATE`: the object cannot do this now (a `Subscription`
 *   iterated a second time), as Node reports a locked `ReadableStream`.
 *
 * A number out of range is `ERR_X0X_INVALID_CONFIG`, whose `field` names it.
 */
export type ProgrammerErrorCode = 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE' | 'ERR_INVALID_STATE';

/**
 * A `TypeError` carrying one of Node's codes.
 *
 * @internal
 */
export type CodedTypeError<C extends ProgrammerErrorCode> = TypeError & { readonly code: C };

function coded<C extends ProgrammerErrorCode>(code: C, message: string): CodedTypeError<C> {
  const err = new TypeError(message);
  // Read-only and enumerable, as on Node's own errors: shown by
  // `util.inspect`, and never rewritten by a handler that passes it on.
  Object.defineProperty(err, 'code', { value: code, enumerable: true, writable: false, configurable: true });
  return err as CodedTypeError<C>;
}

/**
 * `ERR_INVALID_ARG_TYPE`: `message` names the argument, the type expected
 * and, where it helps, the type got.
 *
 * @internal
 */
export function invalidArgType(message: string): CodedTypeError<'ERR_INVALID_ARG_TYPE'> {
  return coded('ERR_INVALID_ARG_TYPE', message);
}

/**
 * `ERR_INVALID_ARG_VALUE`: `message` names the argument, the rule it broke
 * and the value got.
 *
 * @internal
 */
export function invalidArgValue(message: string): CodedTypeError<'ERR_INVALID_ARG_VALUE'> {
  return coded('ERR_INVALID_ARG_VALUE', message);
}

/**
 * `ERR_INVALID_STATE`: `message` says what the object is doing and what to
 * do instead.
 *
 * @internal
 */
export function invalidState(message: string): CodedTypeError<'ERR_INVALID_STATE'> {
  return coded('ERR_INVALID_STATE', message);
}

/**
 * Refuses a value that is not an agent id: a non-string as
 * `ERR_INVALID_ARG_TYPE`, a string that is not 64 lowercase hex characters as
 * `ERR_INVALID_ARG_VALUE`, with the same message, which names the argument.
 *
 * @param name - the argument's name, e.g. `"agentId"`
 * @param value - the value got
 * @internal
 */
export function badAgentId(
  name: string,
  value: unknown,
): CodedTypeError<'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE'> {
  const message = `${name} must be a 64-character lowercase hex agent id (got ${String(value)})`;
  return typeof value === 'string' ? invalidArgValue(message) : invalidArgType(message);
}

/**
 * How Node's `ERR_INVALID_ARG_TYPE` messages end: `Received null`,
 * `Received type string ('abc')`, `Received an instance of Array`.
 *
 * @param value - the value got
 * @internal
 */
export function received(value: unknown): string {
  if (value === null || value === undefined) return `Received ${String(value)}`;
  if (typeof value === 'function') {
    const name = (value as { name?: unknown }).name;
    return typeof name === 'string' && name !== '' ? `Received function ${name}` : 'Received function';
  }
  if (typeof value === 'object') {
    const ctor: unknown = (value as { constructor?: unknown }).constructor;
    const name = typeof ctor === 'function' ? (ctor as { name?: unknown }).name : undefined;
    return typeof name === 'string' && name !== '' ? `Received an instance of ${name}` : 'Received an object';
  }
  let shown = typeof value === 'string' ? `'${value}'` : typeof value === 'bigint' ? `${value}n` : String(value);
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return `Received type ${typeof value} (${shown})`;
}

/**
 * An options argument as Node's own APIs take it: `undefined` (not given)
 * becomes `{}` (hence `Partial`: every options type's fields are optional); an object that is neither an array nor a function is
 * returned as it is; anything else, `null` included, is refused.
 *
 * @param value - what the caller passed
 * @param name - the argument's name in the message, `"options"` unless told
 * @throws TypeError (`ERR_INVALID_ARG_TYPE`) naming the argument, e.g.
 *   `The "options" argument must be of type object. Received null`
 * @internal
 */
export function checkOptions<T extends object>(value: T | undefined, name = 'options'): Partial<T> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidArgType(`The "${name}" argument must be of type object. ${received(value)}`);
  }
  return value;
}

/**
 * {@link checkOptions} for options carrying a `signal`, which must be
 * `undefined` or an `AbortSignal` (recognised as Node does, by its `aborted`
 * property, so one from another realm passes).
 *
 * @param value - what the caller passed
 * @param name - the argument's name in the message, `"options"` unless told
 * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `value` is not an object, or
 *   `The "options.signal" property must be an instance of AbortSignal. Received …`
 * @internal
 */
export function checkSignalOptions<T extends { readonly signal?: AbortSignal | undefined }>(
  value: T | undefined,
  name = 'options',
): Partial<T> {
  const options = checkOptions(value, name);
  const signal: unknown = options.signal;
  if (signal !== undefined && (typeof signal !== 'object' || signal === null || !('aborted' in signal))) {
    throw invalidArgType(`The "${name}.signal" property must be an instance of AbortSignal. ${received(signal)}`);
  }
  return options;
}
