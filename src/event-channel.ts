/**
 * A bounded, single-consumer queue of events produced in JavaScript, shaped
 * as a {@link PullSource} so it plugs into the same iterator and lifecycle
 * machinery as the native streams.
 *
 * The queue is a fixed ring: `push` and `next` are O(1). When the consumer
 * falls `capacity` events behind, the oldest event is overwritten and counted;
 * the consumer's next pull then yields one `lagged(missed)` item before the
 * oldest event still held, so a slow reader learns it missed events instead
 * of losing them silently.
 *
 * @internal
 * @module
 */

import type { PullSource } from './async-queue.js';

/** Events held for a consumer that does not keep up; older ones are dropped. */
const CAPACITY = 10_000;

/** @internal */
export class EventChannel<T> implements PullSource<T> {
  readonly #ring: Array<T | undefined>;
  readonly #lagged: (missed: number) => T;
  /** Index of the oldest held event. */
  #head = 0;
  /** Events held. */
  #size = 0;
  /** Events overwritten since the consumer last heard of a lag. */
  #missed = 0;
  #waiter: ((item: T | null) => void) | undefined;
  #closed = false;
  /** Events dropped because the consumer fell more than `capacity` behind. */
  dropped = 0;

  /**
   * @param lagged - the item that reports `missed` dropped events to the consumer
   * @param capacity - events held before the oldest is dropped
   */
  constructor(lagged: (missed: number) => T, capacity = CAPACITY) {
    this.#lagged = lagged;
    this.#ring = new Array<T | undefined>(capacity);
  }

  push(item: T): void {
    if (this.#closed) return;
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      waiter(item);
      return;
    }
    const capacity = this.#ring.length;
    if (this.#size === capacity) {
      // Overwrite the oldest.
      this.#ring[this.#head] = item;
      this.#head = (this.#head + 1) % capacity;
      this.#missed += 1;
      this.dropped += 1;
      return;
    }
    this.#ring[(this.#head + this.#size) % capacity] = item;
    this.#size += 1;
  }

  next(): Promise<T | null> {
    if (this.#missed > 0) {
      const missed = this.#missed;
      this.#missed = 0;
      return Promise.resolve(this.#lagged(missed));
    }
    if (this.#size > 0) {
      const item = this.#ring[this.#head] as T;
      this.#ring[this.#head] = undefined;
      this.#head = (this.#head + 1) % this.#ring.length;
      this.#size -= 1;
      return Promise.resolve(item);
    }
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  close(): void {
    this.#closed = true;
    this.#ring.fill(undefined);
    this.#size = 0;
    this.#missed = 0;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.(null);
  }
}
