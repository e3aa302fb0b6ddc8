import { getEventListeners } from 'node:events';

import { describe, expect, it, vi } from 'vitest';

import { toAsyncIterator } from '../../src/async-queue.js';
import { AbortError, ClosedError } from '../../src/errors.js';
import { FakePullSource } from '../helpers/fake-pull-source.js';

const double = (n: number): number => n * 2;

/** Lets queued promise reactions run, so a pull reaches the fake source. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('toAsyncIterator', () => {
  it('yields mapped items in order and ends when the source returns null', async () => {
    const source = new FakePullSource<number>();
    const onFinish = vi.fn();
    const iterator = toAsyncIterator(source, { map: double, onFinish });
    source.push(1);
    source.push(2);
    source.push(3);
    source.end();
    const seen: number[] = [];
    for await (const n of iterator) seen.push(n);
    expect(seen).toStrictEqual([2, 4, 6]);
    expect(onFinish).toHaveBeenCalledTimes(1);
    await expect(iterator.next()).resolves.toStrictEqual({ done: true, value: undefined });
  });

  it('closes the native stream when a for-await loop breaks', async () => {
    const source = new FakePullSource<number>();
    const onFinish = vi.fn();
    const iterator = toAsyncIterator(source, { map: double, onFinish });
    source.push(1);
    source.push(2);
    for await (const n of iterator) {
      expect(n).toBe(2);
      break;
    }
    expect(source.closeCalls).toBe(1);
    expect(onFinish).toHaveBeenCalledTimes(1);
    await expect(iterator.next()).resolves.toMatchObject({ done: true });
    // No pull reaches a closed source.
    expect(source.nextCalls).toBe(1);
  });

  it('return() ends a pending next() with done and is idempotent', async () => {
    const source = new FakePullSource<number>();
    const iterator = toAsyncIterator(source, { map: double });
    const pending = iterator.next();
    await settle();
    expect(source.pendingNext).toBe(1);
    await expect(iterator.return()).resolves.toStrictEqual({ done: true, value: undefined });
    await expect(pending).resolves.toMatchObject({ done: true });
    await iterator.return();
    expect(source.closeCalls).toBe(1);
  });

  it('abort rejects the pending next() with AbortError at once and closes the stream', async () => {
    const source = new FakePullSource<number>();
    const controller = new AbortController();
    const onFinish = vi.fn();
    const iterator = toAsyncIterator(source, { map: double, signal: controller.signal, onFinish });
    const pending = iterator.next();
    await settle();
    const reason = new Error('stop');
    controller.abort(reason);
    const err = await pending.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).code).toBe('ERR_X0X_ABORTED');
    expect((err as AbortError).name).toBe('AbortError');
    expect((err as AbortError).cause).toBe(reason);
    expect(source.closeCalls).toBe(1);
    expect(onFinish).toHaveBeenCalledTimes(1);
    // Reported once; afterwards the iterator is simply done.
    await expect(iterator.next()).resolves.toMatchObject({ done: true });
  });

  it('an abort while idle is reported by the next next()', async () => {
    const source = new FakePullSource<number>();
    const controller = new AbortController();
    const iterator = toAsyncIterator(source, { map: double, signal: controller.signal });
    source.push(1);
    await expect(iterator.next()).resolves.toStrictEqual({ done: false, value: 2 });
    controller.abort();
    expect(source.closeCalls).toBe(1);
    await expect(iterator.next()).rejects.toBeInstanceOf(AbortError);
    await expect(iterator.next()).resolves.toMatchObject({ done: true });
  });

  it('ends a for-await loop with AbortError', async () => {
    const source = new FakePullSource<number>();
    const controller = new AbortController();
    const iterator = toAsyncIterator(source, { map: double, signal: controller.signal });
    source.push(1);
    const seen: number[] = [];
    const loop = (async () => {
      for await (const n of iterator) {
        seen.push(n);
        controller.abort();
      }
    })();
    await expect(loop).rejects.toBeInstanceOf(AbortError);
    expect(seen).toStrictEqual([2]);
  });

  it('with an already aborted signal, never pulls and rejects the first next()', async () => {
    const source = new FakePullSource<number>();
    const onFinish = vi.fn();
    const iterator = toAsyncIterator(source, {
      map: double,
      signal: AbortSignal.abort(),
      onFinish,
    });
    expect(source.closeCalls).toBe(1);
    expect(onFinish).toHaveBeenCalledTimes(1);
    await expect(iterator.next()).rejects.toBeInstanceOf(AbortError);
    expect(source.nextCalls).toBe(0);
  });

  it('return() after an unreported abort drops it', async () => {
    const controller = new AbortController();
    const iterator = toAsyncIterator(new FakePullSource<number>(), { map: double, signal: controller.signal });
    controller.abort();
    await iterator.return();
    await expect(iterator.next()).resolves.toMatchObject({ done: true });
  });

  it('removes its abort listener when the stream ends', async () => {
    const source = new FakePullSource<number>();
    const controller = new AbortController();
    const iterator = toAsyncIterator(source, { map: double, signal: controller.signal });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    source.end();
    await expect(iterator.next()).resolves.toMatchObject({ done: true });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    // A late abort has nothing left to do.
    controller.abort();
    await expect(iterator.next()).resolves.toMatchObject({ done: true });
  });

  it('turns a native rejection into a typed error and closes the stream', async () => {
    const source = new FakePullSource<number>();
    const iterator = toAsyncIterator(source, { map: double });
    source.fail(Object.assign(new Error('agent is closed'), { code: 'ERR_X0X_CLOSED' }));
    await expect(iterator.next()).rejects.toBeInstanceOf(ClosedError);
    expect(source.closeCalls).toBe(1);
    await expect(iterator.next()).resolves.toMatchObject({ done: true });
  });

  it('never has two native next() calls in flight', async () => {
    const source = new FakePullSource<number>();
    const iterator = toAsyncIterator(source, { map: double });
    const results = [iterator.next(), iterator.next(), iterator.next()];
    await settle();
    expect(source.pendingNext).toBe(1);
    for (const n of [1, 2, 3]) {
      source.push(n);
      await settle();
    }
    await expect(Promise.all(results)).resolves.toStrictEqual([
      { done: false, value: 2 },
      { done: false, value: 4 },
      { done: false, value: 6 },
    ]);
    expect(source.maxConcurrentNext).toBe(1);
  });

  it('takes what is waiting in one native pull and hands it out in order', async () => {
    const source = new FakePullSource<number>();
    const iterator = toAsyncIterator(source, { map: double });
    for (let n = 1; n <= 300; n++) source.push(n);
    const seen: number[] = [];
    for (let i = 0; i < 300; i++) {
      const r = await iterator.next();
      if (r.done !== true) seen.push(r.value);
    }
    expect(seen).toStrictEqual(Array.from({ length: 300 }, (_, i) => (i + 1) * 2));
    // PULL_BATCH (256) then the remaining 44: two crossings for 300 items.
    expect(source.batchCalls).toBe(2);
    expect(source.nextCalls).toBe(2);
  });

  it('hands out nothing a batch brought once the loop has left', async () => {
    const source = new FakePullSource<number>();
    const iterator = toAsyncIterator(source, { map: double });
    for (const n of [1, 2, 3]) source.push(n);
    await expect(iterator.next()).resolves.toStrictEqual({ done: false, value: 2 });
    await iterator.return();
    await expect(iterator.next()).resolves.toStrictEqual({ done: true, value: undefined });
    expect(source.closeCalls).toBe(1);
  });

  it('an abort drops what a batch brought and is reported by the next next()', async () => {
    const source = new FakePullSource<number>();
    const controller = new AbortController();
    const iterator = toAsyncIterator(source, { map: double, signal: controller.signal });
    for (const n of [1, 2, 3]) source.push(n);
    await expect(iterator.next()).resolves.toStrictEqual({ done: false, value: 2 });
    controller.abort();
    await expect(iterator.next()).rejects.toBeInstanceOf(AbortError);
    await expect(iterator.next()).resolves.toMatchObject({ done: true });
  });

  it('is its own async iterator', () => {
    const iterator = toAsyncIterator(new FakePullSource<number>(), { map: double });
    expect(iterator[Symbol.asyncIterator]()).toBe(iterator);
  });
});
