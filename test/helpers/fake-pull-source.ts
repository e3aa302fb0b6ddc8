import type { PullSource } from '../../src/async-queue.js';
import type { FakeCallPort } from './fake-binding.js';

/**
 * An in-process stand-in for a native pull stream (NativeSubscription,
 * NativeConnectionEvents) that follows the binding contract: next() and
 * nextBatch() resolve null once closed, close() is idempotent and also ends a
 * pending pull.
 */
export class FakePullSource<T> implements Required<PullSource<T>> {
  closeCalls = 0;
  /** Native pulls, by `next()` or `nextBatch()`. */
  nextCalls = 0;
  /** How many of them were `nextBatch()`. */
  batchCalls = 0;
  /** What `dropped()` reports (subscriptions only). */
  droppedCount = 0;
  maxConcurrentNext = 0;
  #buffered: T[] = [];
  #waiting: Array<{ resolve: (item: T | null) => void; reject: (err: unknown) => void }> = [];
  #closed = false;
  #ended = false;
  #failWith: unknown;
  readonly #port: FakeCallPort | undefined;

  /** `port`: the call port a subscription settles `nextBatchCall` through. */
  constructor(port?: FakeCallPort) {
    this.#port = port;
  }

  dropped(): number {
    return this.droppedCount;
  }

  get pendingNext(): number {
    return this.#waiting.length;
  }

  /** Delivers an item to a waiting next(), or buffers it. */
  push(item: T): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter.resolve(item);
    else this.#buffered.push(item);
  }

  /** Ends the stream from the producer's side (e.g. the agent closed). */
  end(): void {
    this.#ended = true;
    for (const waiter of this.#waiting.splice(0)) waiter.resolve(null);
  }

  /** Makes the next (or pending) next() reject, as a failing native call would. */
  fail(err: unknown): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter.reject(err);
    else this.#failWith = err;
  }

  /** Like the native `nextBatch`: what is buffered (at most `max`), else waits for one item. */
  nextBatch(max: number): Promise<T[] | null> {
    this.batchCalls += 1;
    if (this.#failWith === undefined && this.#buffered.length > 0) {
      this.nextCalls += 1;
      return Promise.resolve(this.#buffered.splice(0, Math.max(1, max)));
    }
    return this.next().then((item) => (item === null ? null : [item]));
  }

  /** Like the native subscription's `nextBatchCall`: `nextBatch`, settled through the port. */
  nextBatchCall(max: number, id: number): void {
    if (this.#port === undefined) throw new Error('nextBatchCall on a fake source with no call port');
    this.#port.settleSoon(id, this.nextBatch(max));
  }

  next(): Promise<T | null> {
    this.nextCalls += 1;
    if (this.#failWith !== undefined) {
      const err = this.#failWith;
      this.#failWith = undefined;
      return Promise.reject(err);
    }
    if (this.#buffered.length > 0) return Promise.resolve(this.#buffered.shift() as T);
    if (this.#closed || this.#ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.maxConcurrentNext = Math.max(this.maxConcurrentNext, this.#waiting.length);
    });
  }

  close(): void {
    this.closeCalls += 1;
    this.#closed = true;
    this.#buffered = [];
    for (const waiter of this.#waiting.splice(0)) waiter.resolve(null);
  }
}
