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
 *   `registerX0xMetrics({})` with no agent).
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
