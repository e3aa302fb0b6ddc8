/**
 * Lifecycle of one native agent, shared by `Agent`, `TransportAdapter` and
 * `GossipRuntime` so all three agree on whether the agent is closed.
 *
 * @internal
 * @module
 */

import { checkSignalOptions } from './arg-errors.js';
import {
  toAsyncIterator,
  type ClosableAsyncIterator,
  type PullOptions,
  type PullSource,
} from './async-queue.js';
import { callNative, callNativeSync, ClosedError } from './errors.js';
import { lagged, type LaggedEvent } from './events.js';
import type { NativeAgent, NativeLagged } from './native.js';

/** @internal */
export class AgentCore {
  readonly #native: NativeAgent;
  #closing: Promise<void> | undefined;
  /** Closers of the streams still open, so close() can end them all. */
  readonly #streams = new Set<() => void>();
  /** Work that must reach the network before the agent closes (goodbyes). */
  readonly #beforeClose: ((native: NativeAgent) => Promise<void>)[] = [];

  constructor(native: NativeAgent) {
    this.#native = native;
  }

  /** True once close() has been called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * The native agent, for a call about to be made.
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once close() has been called
   */
  use(): NativeAgent {
    if (this.#closing) throw new ClosedError();
    return this.#native;
  }

  /** The native agent, for reads that stay valid after close (e.g. the agent id). */
  get native(): NativeAgent {
    return this.#native;
  }

  /**
   * Wraps a native stream as an iterator that close() will end.
   */
  openStream<T, U>(
    source: PullSource<T>,
    options: Omit<PullOptions<T, U>, 'onFinish'>,
    onEnd?: () => void,
  ): ClosableAsyncIterator<U> {
    const end = (): void => {
      // A failing native close() is not reported here: the agent close that
      // follows releases the stream regardless.
      iterator.return().catch(() => undefined);
    };
    this.#streams.add(end);
    // Constructed after `end` exists: an already aborted signal finishes the
    // iterator (and so runs onFinish) inside this call.
    const iterator = toAsyncIterator(source, {
      ...options,
      onFinish: () => {
        this.#streams.delete(end);
        onEnd?.();
      },
    });
    return iterator;
  }

  /**
   * Opens one of the agent's native event streams (transport, membership,
   * presence) as the iterator its manager's `events()` returns: the checks
   * every `events()` makes in the same order (closed first, then
   * `options`), native failures as `X0xError`s, the native lag report as a
   * {@link LaggedEvent}, and `map` for every other event.
   *
   * @param open - makes the native stream; given the agent, for streams that
   *   hang off it
   * @param map - converts each native event other than a lag report
   * @param options - aborting `signal` ends the stream
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once close() has been called
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `options` is given but is not an object (`null`
   *   included), or `options.signal` is not an `AbortSignal`
   */
  openEvents<N extends { readonly type: string }, E>(
    open: (native: NativeAgent) => PullSource<N | NativeLagged>,
    map: (event: N) => E,
    options: { readonly signal?: AbortSignal | undefined } | undefined,
  ): ClosableAsyncIterator<E | LaggedEvent> {
    const native = this.use();
    const { signal } = checkSignalOptions(options);
    const source = callNativeSync(() => open(native));
    return this.openStream(source, {
      // N is a type parameter, so `type === 'lagged'` cannot narrow the
      // union; no stream's own events use that type, which the cast relies on.
      map: (event) => (event.type === 'lagged' ? lagged((event as NativeLagged).missed) : map(event as N)),
      signal,
    });
  }

  /**
   * Registers `hook` to run once close() has been claimed (so no new calls
   * start) but before anything is torn down. Hooks must not throw.
   */
  beforeClose(hook: (native: NativeAgent) => Promise<void>): void {
    this.#beforeClose.push(hook);
  }

  /**
   * Ends every open stream, then closes the native agent. Idempotent: the
   * closed state is claimed before the first await, so concurrent callers
   * share one native close.
   */
  close(): Promise<void> {
    this.#closing ??= this.#closeOnce();
    return this.#closing;
  }

  async #closeOnce(): Promise<void> {
    await Promise.all(this.#beforeClose.map((hook) => hook(this.#native).catch(() => undefined)));
    // Ending streams first lets pending next() calls report done rather than
    // race the native shutdown.
    for (const end of [...this.#streams]) end();
    await callNative(() => this.#native.close());
  }
}
