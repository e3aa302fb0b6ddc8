/**
 * `AbortSignal` helpers for native calls that cannot themselves be cancelled.
 *
 * @internal
 * @module
 */

import { AbortError, InvalidConfigError } from './errors.js';

/** The error an abort of `signal` is reported with. */
export function abortError(signal: AbortSignal): AbortError {
  return new AbortError(undefined, { cause: signal.reason });
}

/** @throws {@link AbortError} (`ERR_X0X_ABORTED`) when `signal` has already aborted */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/**
 * Settles like `work`, unless `signal` aborts first, in which case it rejects
 * with {@link AbortError} at once. `work` itself keeps running: its later
 * outcome is observed (so a rejection is never unhandled) and dropped.
 */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      work.catch(() => undefined);
      reject(abortError(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * Resolves a call's `timeoutMs` option: `defaultMs` when omitted, else an
 * integer from 1 to `maxMs`.
 * @throws {@link InvalidConfigError} (`ERR_X0X_INVALID_CONFIG`, field `timeoutMs`) otherwise
 */
export function checkTimeoutMs(timeoutMs: unknown, defaultMs: number, maxMs: number): number {
  if (timeoutMs === undefined) return defaultMs;
  if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > maxMs) {
    throw new InvalidConfigError(`timeoutMs must be an integer from 1 to ${maxMs} ms (got ${String(timeoutMs)})`, {
      field: 'timeoutMs',
    });
  }
  return timeoutMs;
}
