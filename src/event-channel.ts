/**
 * A bounded, single-consumer queue of events produced in JavaScript, shaped
 * as a {@link PullSource} so it plugs into the same iterator and lifecycle
 * machinery as the native streams.
 *
 * @internal
 * @module
 */

import type { PullSource } from './async-queue.js';

/** Events held for a consumer that does not keep up; older ones are dropped. */
const CAPACITY = 10_000;

/** @internal */
export class EventChannel<T> implements PullSource<T> {
  readonly #queue: T[] = [];
  #waiter: ((item: T | null) => void) | undefined;
  #closed = false;
  /** Events dropped because the consumer fell more than CAPACITY behind. */
  dropped = 0;

  push(item: T): void {
    if (this.#closed) return;
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      waiter(item);
      return;
    }
    if (this.#queue.length >= CAPACITY) {
      this.#queue.shift();
      this.dropped += 1;
    }
    this.#queue.push(item);
  }

  next(): Promise<T | null> {
    if (this.#queue.length > 0) return Promise.resolve(this.#queue.shift() as T);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.(null);
  }
}
