/**
 * Turns a native pull stream into an async iterator.
 *
 * Native streams (subscriptions, connection events) expose only `next()`,
 * which resolves `null` at the end, and `close()`. Pulling keeps backpressure
 * on the consumer and keeps napi's experimental async-iterator support out of
 * the binding; this module adds the JS protocol on top: `for await`, early
 * `return()` that closes the native side, and `AbortSignal` support.
 *
 * @internal
 * @module
 */

import { AbortError, fromNative } from './errors.js';

/** The native side of a stream. */
export interface PullSource<T> {
  /** Resolves the next item, or `null` once the stream has ended. */
  next(): Promise<T | null>;
  /**
   * Resolves the next item with those already waiting behind it, at most
   * `max` (at least one), or `null` once the stream has ended. When present
   * it is used instead of `next()`, so a busy stream crosses into native code
   * once per batch.
   */
  nextBatch?(max: number): Promise<T[] | null>;
  /** Ends the stream; a pending and every later `next()` resolve `null`. Idempotent. */
  close(): void;
}

/** Options of {@link toAsyncIterator}. */
export interface PullOptions<T, U> {
  /** Converts each native item to its public shape. */
  readonly map: (item: T) => U;
  /**
   * Aborting rejects the pending (or, if none, the next) `next()` with
   * {@link AbortError} and closes the native stream; later calls report done.
   */
  readonly signal?: AbortSignal | undefined;
  /** Called once, when the stream ends, is returned or is aborted. */
  readonly onFinish?: (() => void) | undefined;
}

/** An async iterator whose `return()` is always present, to close the stream. */
export interface ClosableAsyncIterator<U> extends AsyncIterableIterator<U, undefined> {
  return(): Promise<IteratorResult<U, undefined>>;
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * Most items one native pull takes. Large enough that a flood of messages
 * costs a crossing per few hundred; small enough that a batch taken just
 * before an unsubscribe or an abort (and then discarded) stays small.
 */
export const PULL_BATCH = 256;

class PullIterator<T, U> implements ClosableAsyncIterator<U> {
  readonly #source: PullSource<T>;
  readonly #map: (item: T) => U;
  readonly #signal: AbortSignal | undefined;
  readonly #onFinish: (() => void) | undefined;
  #finished = false;
  /** An abort that no `next()` has reported yet. */
  #unreportedAbort: AbortError | undefined;
  /** Rejects the pull that is waiting on the native side, if any. */
  #interrupt: ((err: AbortError) => void) | undefined;
  /** Serialises pulls: the native `next()` is not required to support overlap. */
  #tail: Promise<unknown> = Promise.resolve();
  /** Items a batch pull brought that no `next()` has taken yet. */
  #buffered: T[] = [];
  #bufferedAt = 0;

  constructor(source: PullSource<T>, options: PullOptions<T, U>) {
    this.#source = source;
    this.#map = options.map;
    this.#signal = options.signal;
    this.#onFinish = options.onFinish;
    if (this.#signal?.aborted) this.#abort();
    else this.#signal?.addEventListener('abort', this.#abort, { once: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<U, undefined>> {
    const result = this.#tail.then(() => this.#pull());
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  async return(): Promise<IteratorResult<U, undefined>> {
    // The consumer is leaving; an abort it has not seen no longer matters.
    this.#unreportedAbort = undefined;
    const closeError = this.#finish();
    if (closeError) throw closeError;
    return DONE;
  }

  async #pull(): Promise<IteratorResult<U, undefined>> {
    const aborted = this.#unreportedAbort;
    if (aborted) {
      this.#unreportedAbort = undefined;
      throw aborted;
    }
    if (this.#finished) return DONE;
    if (this.#bufferedAt < this.#buffered.length) {
      const value = this.#buffered[this.#bufferedAt]!;
      this.#bufferedAt += 1;
      return { done: false, value: this.#map(value) };
    }
    let item: T | null;
    try {
      item = await new Promise<T | null>((resolve, reject) => {
        this.#interrupt = reject;
        this.#pullNative().then(resolve, reject);
      });
    } catch (err) {
      if (err === this.#unreportedAbort) this.#unreportedAbort = undefined;
      // Otherwise a native failure, after which the stream cannot be trusted
      // to deliver more.
      this.#finish();
      throw fromNative(err);
    } finally {
      this.#interrupt = undefined;
    }
    if (item === null) {
      this.#finish();
      return DONE;
    }
    return { done: false, value: this.#map(item) };
  }

  /** One native pull: the first item it brought; the rest are buffered. */
  async #pullNative(): Promise<T | null> {
    if (this.#source.nextBatch === undefined) return this.#source.next();
    const batch = await this.#source.nextBatch(PULL_BATCH);
    if (batch === null || batch.length === 0) return null;
    // Aborted or returned while the pull ran: nothing more is handed out.
    if (this.#finished) return batch[0]!;
    this.#buffered = batch;
    this.#bufferedAt = 1;
    return batch[0]!;
  }

  readonly #abort = (): void => {
    if (this.#finished) return;
    const err = new AbortError(undefined, { cause: this.#signal?.reason });
    // Close errors are dropped: the stream is being abandoned and the caller
    // must see the AbortError it asked for.
    this.#finish();
    // Recorded even when a pull is waiting: if its native item won the race,
    // the abort is reported by the following next() instead of being lost.
    this.#unreportedAbort = err;
    this.#interrupt?.(err);
  };

  /** Ends the stream once; returns the native close() failure, if any. */
  #finish(): Error | undefined {
    if (this.#finished) return undefined;
    this.#finished = true;
    // Items taken from the native side but not handed out go with the stream.
    this.#buffered = [];
    this.#bufferedAt = 0;
    this.#signal?.removeEventListener('abort', this.#abort);
    let closeError: Error | undefined;
    try {
      this.#source.close();
    } catch (err) {
      closeError = fromNative(err);
    }
    this.#onFinish?.();
    return closeError;
  }
}

/**
 * Wraps a native pull stream as an `AsyncIterableIterator`.
 *
 * - `next()` hands out one item at a time; it pulls from the native side
 *   a batch at a time when the source has `nextBatch`, else one item at a
 *   time. `null` ends the iteration.
 * - `return()` (called by `break` in `for await`) closes the native stream.
 * - Aborting `options.signal` closes the native stream and rejects the
 *   pending `next()` with {@link AbortError}.
 */
export function toAsyncIterator<T, U>(
  source: PullSource<T>,
  options: PullOptions<T, U>,
): ClosableAsyncIterator<U> {
  return new PullIterator(source, options);
}
