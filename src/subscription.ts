/**
 * Subscriptions: the stream of messages an agent receives on one topic.
 *
 * @module
 */

import './polyfills.js';

import { invalidState } from './arg-errors.js';
import type { ClosableAsyncIterator } from './async-queue.js';
import type { AgentId } from './identity.js';
import type { NativeMessage } from './native.js';

/** One message delivered on a subscribed topic. */
export interface Message {
  /** The topic it was published on. */
  readonly topic: string;
  /** The published bytes (a view over memory owned by this message). */
  readonly payload: Uint8Array;
  /** Agent id of the publisher, verified against the message signature. */
  readonly from: AgentId;
  /** Message id: BLAKE3 hash, 64 lowercase hex characters. Equal to what `publish()` returned. */
  readonly id: string;
  /** The publisher's clock when it published, in milliseconds since the epoch. */
  readonly publishedAt: number;
  /** This agent's clock when the message was delivered, in milliseconds since the epoch. */
  readonly receivedAt: number;
}

/** Converts a native message to its public shape. @internal */
export function toMessage(native: NativeMessage): Message {
  const { payload } = native;
  return {
    topic: native.topic,
    // A view, not a copy: the Buffer is fresh per message and owned by nobody else.
    payload: new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength),
    from: native.from,
    id: native.id,
    publishedAt: native.publishedAt,
    receivedAt: native.receivedAt,
  };
}

let create: (topic: string, messages: ClosableAsyncIterator<Message>, dropped: () => number) => Subscription;

/**
 * Messages received on one topic, in delivery order.
 *
 * A subscription has a single consumer: iterate it once with `for await`.
 * Leaving the loop early (`break`, `return`, a thrown error) unsubscribes;
 * so do {@link Subscription.unsubscribe}, `await using`, an abort of the
 * `signal` given to `subscribe()`, and closing the agent, each of which ends
 * the loop.
 *
 * @example
 * ```ts
 * const sub = await agent.subscribe('chat');
 * for await (const msg of sub) {
 *   console.log(msg.from, new TextDecoder().decode(msg.payload));
 * }
 * ```
 */
export class Subscription implements AsyncIterable<Message>, AsyncDisposable {
  static {
    create = (topic, messages, dropped) => new Subscription(topic, messages, dropped);
  }

  /** The topic this subscription receives. */
  readonly topic: string;
  readonly #messages: ClosableAsyncIterator<Message>;
  readonly #dropped: () => number;
  #iterated = false;

  private constructor(topic: string, messages: ClosableAsyncIterator<Message>, dropped: () => number) {
    this.topic = topic;
    this.#messages = messages;
    this.#dropped = dropped;
  }

  /**
   * Messages this subscription missed because it was not read fast enough:
   * each subscription buffers up to `subscriptionBuffer` messages, and while
   * that buffer is full newer messages are dropped for it (and counted in
   * `pubsubStats().laggedDropped`) instead of growing memory without bound.
   * Other subscriptions are not affected.
   */
  get dropped(): number {
    return this.#dropped();
  }

  /**
   * The message stream. Can be taken once.
   * @throws TypeError (`ERR_INVALID_STATE`) when the subscription is already being iterated
   */
  [Symbol.asyncIterator](): AsyncIterator<Message> {
    if (this.#iterated) {
      throw invalidState(
        `the subscription to ${JSON.stringify(this.topic)} is already being iterated; ` +
          'a subscription has one consumer, call subscribe() again for another',
      );
    }
    this.#iterated = true;
    return this.#messages;
  }

  /** Stops delivery and ends any loop over this subscription. Idempotent. */
  async unsubscribe(): Promise<void> {
    await this.#messages.return();
  }

  /** Same as {@link Subscription.unsubscribe}; lets `await using` end the subscription. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.unsubscribe();
  }
}

/**
 * Creates a subscription over an iterator of converted messages.
 *
 * @internal
 */
export function createSubscription(
  topic: string,
  messages: ClosableAsyncIterator<Message>,
  dropped: () => number,
): Subscription {
  return create(topic, messages, dropped);
}
