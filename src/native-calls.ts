/**
 * Promises for the native calls that settle through a call port: a publish,
 * and a subscription's next batch, the calls made once per message.
 *
 * Such a call takes an id and returns at once; the agent's own runtime does
 * the work and settles the id later through one `NativeCallPort`, the same
 * for every agent of the process (see `crates/x0x-napi/src/calls.rs` for why
 * this is cheaper than a native `async fn`). This module turns that into a
 * promise, and keeps Node running while a call is pending, as a pending
 * native promise would. That matters across `close()`: the last calls of a
 * closing agent settle after its runtime stopped, when nothing else may be
 * left on the event loop.
 *
 * @internal
 * @module
 */

import type { PullSource } from './async-queue.js';
import type { NativeBinding, NativeCallPort, NativeMessage, NativeSubscription } from './native.js';

interface Pending {
  resolve(value: unknown): void;
  reject(reason: unknown): void;
}

const pending = new Map<number, Pending>();
let lastId = 0;
let port: NativeCallPort | undefined;
/** Ref'd exactly while a call is pending; the port's own callback is weak. */
let keepAlive: ReturnType<typeof setInterval> | undefined;

/** Called by the native side, on Node's thread: `outcome` is the value or a coded `Error`. */
function settle(id: number, outcome: unknown): void {
  const call = pending.get(id);
  if (call === undefined) return;
  pending.delete(id);
  if (pending.size === 0) keepAlive?.unref();
  if (outcome instanceof Error) call.reject(outcome);
  else call.resolve(outcome);
}

/** The process's call port, made on first use. */
export function callPort(binding: Pick<NativeBinding, 'NativeCallPort'>): NativeCallPort {
  port ??= new binding.NativeCallPort(settle);
  return port;
}

/**
 * Starts a port call: `start` hands `id` to the native method, which settles
 * it later. A synchronous throw from `start` rejects the promise.
 */
export function portCall<T>(start: (id: number) => void): Promise<T> {
  // u32 ids: wrapping after 4 billion calls is safe, since at most a few
  // thousand are ever pending at once.
  lastId = (lastId + 1) >>> 0;
  const id = lastId;
  return new Promise<T>((resolve, reject) => {
    start(id);
    pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
    if (pending.size === 1) {
      keepAlive ??= setInterval(() => undefined, 2 ** 31 - 1);
      keepAlive.ref();
    }
  });
}

/** A native subscription as a pull source, read through the port. */
export function subscriptionSource(sub: NativeSubscription): PullSource<NativeMessage> {
  const nextBatch = (max: number): Promise<NativeMessage[] | null> =>
    portCall<NativeMessage[] | null>((id) => sub.nextBatchCall(max, id));
  return {
    nextBatch,
    next: () => nextBatch(1).then((batch) => batch?.[0] ?? null),
    close: () => sub.close(),
  };
}

