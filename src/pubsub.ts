/**
 * Publish/subscribe: the manager behind `agent.subscribe` and `agent.publish`.
 *
 * Delivery guarantees, all enforced in the Rust core:
 * - every message is signed by its publisher (ML-DSA-65) over topic and
 *   payload; forged or tampered messages are dropped and counted, never
 *   delivered, and `Message.from` is the verified publisher;
 * - each message reaches each subscription at most once: ids are BLAKE3
 *   hashes remembered for `messageCacheTtl` (up to `messageCacheSize` ids);
 * - a message older than `messageCacheTtl` (publisher clock) or more than
 *   60 s in the future is dropped as stale, so a duplicate can only be
 *   delivered again if its id was evicted early by a flood of more than
 *   `messageCacheSize` newer messages within the TTL.
 *
 * @module
 */

import { throwIfAborted, abortError, raceAbort } from './abort.js';
import type { AgentCore } from './agent-core.js';
import { checkSignalOptions, invalidArgType } from './arg-errors.js';
import { callNative, callNativeSync, ClosedError, InvalidConfigError } from './errors.js';
import { DELIVERY_LATENCY_BOUNDS_MS, MillisecondsHistogram } from './histogram.js';
import type { AgentId } from './identity.js';
import { MAX_PAYLOAD_BYTES, MAX_TOPIC_BYTES } from './limits.js';
import { checkTopic, encodePayload } from './message-input.js';
import type { NativeMessage } from './native.js';
import { portCall, subscriptionSource } from './native-calls.js';
import type { HistogramSample } from './prometheus.js';
import { createSubscription, toMessage, type Message, type Subscription } from './subscription.js';

/** Options of calls that can be given up on. */
export interface AbortOptions {
  /** Aborting rejects the call with `AbortError`. */
  readonly signal?: AbortSignal | undefined;
}

/** Counters of the publish/subscribe layer since the agent started. */
export interface PubSubStats {
  /** Messages this agent published. */
  readonly published: number;
  /** Deliveries to local subscriptions (one message to two subscriptions counts two). */
  readonly delivered: number;
  /** Messages dropped because their id was already delivered (arrived over another path, or re-sent). */
  readonly duplicatesDropped: number;
  /** Messages dropped because their envelope was malformed or their signature did not verify. */
  readonly invalidDropped: number;
  /** Messages dropped because their payload was over `MAX_PAYLOAD_BYTES`. */
  readonly oversizedDropped: number;
  /** Messages dropped for a publisher timestamp outside the freshness window. */
  readonly staleDropped: number;
  /**
   * Deliveries dropped because a subscription's buffer was full: its reader
   * fell `subscriptionBuffer` messages behind (see `Subscription.dropped`).
   */
  readonly laggedDropped: number;
  /** Message ids currently held in the de-duplication cache (at most `messageCacheSize`). */
  readonly cacheSize: number;
}

/** Largest `count` {@link PubSubManager.waitForTopicPeers} accepts (ant-quic's connection cap). */
export const MAX_TOPIC_PEERS_WAIT = 4096;
/** How long one native wait runs before the facade checks its signal again. */
const TOPIC_WAIT_SLICE_MS = 500;
/** How long one publish attempt waits for the outbound backlog before the facade checks its signal again. */
const PUBLISH_WAIT_SLICE_MS = 200;

let create: (core: AgentCore) => PubSubManager;

/**
 * The publish/subscribe side of one agent, reachable as `agent.pubsub`.
 * Every method fails with `ClosedError` once the agent is closed.
 */
export class PubSubManager {
  static {
    create = (core) => new PubSubManager(core);
  }

  readonly #core: AgentCore;
  /** Open subscriptions by topic, so {@link PubSubManager.unsubscribe} can end them all. */
  readonly #open = new Map<string, Set<Subscription>>();
  /** `receivedAt - publishedAt` of the messages from other agents read from subscriptions. */
  readonly #deliveryLatency = new MillisecondsHistogram(DELIVERY_LATENCY_BOUNDS_MS);

  private constructor(core: AgentCore) {
    this.#core = core;
  }

  /**
   * Subscribes to a topic. Messages published on it from now on arrive on
   * the returned {@link Subscription}; several subscriptions to one topic
   * each receive every message. Anti-entropy may also deliver messages
   * published shortly before, while a neighbour still holds them (within
   * `messageCacheTtl`); `Message.publishedAt` tells them apart.
   *
   * @param topic - non-empty, at most `MAX_TOPIC_BYTES` UTF-8 bytes
   * @param options - aborting `signal` ends the subscription, also after this call resolved
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `options` is given but is not an object (`null`
   *   included), or `options.signal` is not an `AbortSignal`
   * @throws {@link InvalidTopicError} (`ERR_X0X_INVALID_TOPIC`) when the topic is empty or too long
   * @throws {@link AbortError} (`ERR_X0X_ABORTED`) when `options.signal` has aborted
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  async subscribe(topic: string, options?: AbortOptions): Promise<Subscription> {
    const native = this.#core.use();
    checkTopic(topic, MAX_TOPIC_BYTES);
    const { signal } = checkSignalOptions(options);
    throwIfAborted(signal);
    const source = await callNative(() => native.subscribe(topic));
    if (signal?.aborted || this.#core.closed) {
      // Aborted or closed while the native subscribe ran: release it rather
      // than hand out a subscription that is already over.
      source.close();
      if (signal?.aborted) throw abortError(signal);
      throw new ClosedError();
    }
    let set = this.#open.get(topic);
    if (set === undefined) {
      set = new Set();
      this.#open.set(topic, set);
    }
    const subs = set;
    const self = native.agentId;
    const latency = this.#deliveryLatency;
    const map = (message: NativeMessage): Message => {
      // Own messages are left out: they never crossed the network.
      if (message.from !== self) latency.observe(message.receivedAt - message.publishedAt);
      return toMessage(message);
    };
    const subscription: Subscription = createSubscription(
      topic,
      this.#core.openStream(subscriptionSource(source), { map, signal }, () => {
        subs.delete(subscription);
        if (subs.size === 0 && this.#open.get(topic) === subs) this.#open.delete(topic);
      }),
      () => source.dropped(),
    );
    subs.add(subscription);
    return subscription;
  }

  /**
   * Publishes a message to every subscriber of `topic` across the network,
   * including this agent's own subscriptions.
   *
   * @param topic - non-empty, at most `MAX_TOPIC_BYTES` UTF-8 bytes
   * @param data - the payload; strings are UTF-8 encoded; at most `MAX_PAYLOAD_BYTES` bytes
   * @param options - `signal` gives up while the publish is still held back
   *   by backpressure (the outbound backlog has not drained): the message is
   *   then never sent. Once sent, aborting does not recall it. A peer that
   *   has taken none of its queued frames for 2 s no longer holds publishes
   *   back (it is repaired by anti-entropy once it reads again), so one slow
   *   or stalled reader cannot stop everyone's messages.
   * @returns the message id (BLAKE3, 64 lowercase hex characters), as subscribers see it in `Message.id`
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `options` is given but is not an object (`null`
   *   included), or `options.signal` is not an `AbortSignal`
   * @throws {@link InvalidTopicError} (`ERR_X0X_INVALID_TOPIC`) when the topic is empty or too long
   * @throws {@link PayloadTooLargeError} (`ERR_X0X_PAYLOAD_TOO_LARGE`) when the payload exceeds `MAX_PAYLOAD_BYTES`
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `data` is neither a `Uint8Array` nor a string
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   * @throws {@link AbortError} (`ERR_X0X_ABORTED`) when `options.signal` aborted before the message was sent
   */
  async publish(topic: string, data: Uint8Array | string, options?: AbortOptions): Promise<string> {
    const native = this.#core.use();
    const { signal } = checkSignalOptions(options);
    throwIfAborted(signal);
    checkTopic(topic, MAX_TOPIC_BYTES);
    const payload = encodePayload(data, MAX_PAYLOAD_BYTES);
    if (signal === undefined) return callNative(() => portCall<string>((id) => native.publishCall(topic, payload, id)));
    // In slices, so that an abort is seen while the publish is held back,
    // and a publish given up is one that was never sent.
    for (;;) {
      const id = await callNative(() =>
        portCall<string | null>((call) => native.publishWithinCall(topic, payload, PUBLISH_WAIT_SLICE_MS, call)),
      );
      if (id !== null) return id;
      if (signal.aborted) throw abortError(signal);
    }
  }

  /**
   * Waits until at least `count` connected peers subscribe to `topic`, the
   * readiness signal for a topic: a publish made after this resolves is sent
   * to each of them. Peers announce their own subscriptions to every peer
   * they are connected to (topic ids only, never names), so this counts
   * subscribers among this agent's direct connections; in a large network a
   * publish also reaches subscribers further away, through relays.
   *
   * @example
   * ```ts
   * await agent.pubsub.waitForTopicPeers('news', 2, { signal: AbortSignal.timeout(10_000) });
   * await agent.publish('news', 'hello');
   * ```
   *
   * @param topic - non-empty, at most `MAX_TOPIC_BYTES` UTF-8 bytes
   * @param count - an integer from 1 to {@link MAX_TOPIC_PEERS_WAIT}
   * @param options - `signal` bounds the wait (e.g. `AbortSignal.timeout(ms)`); without one it
   *   may wait as long as the agent is open
   * @returns the agent ids of the subscribed peers (at least `count`)
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `options` is given but is not an object (`null`
   *   included), or `options.signal` is not an `AbortSignal`
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `count` is not a number
   * @throws {@link InvalidConfigError} (`ERR_X0X_INVALID_CONFIG`, field `count`) when `count` is out of range
   * @throws {@link InvalidTopicError} (`ERR_X0X_INVALID_TOPIC`) when the topic is empty or too long
   * @throws {@link AbortError} (`ERR_X0X_ABORTED`) when `options.signal` aborts first
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  async waitForTopicPeers(topic: string, count: number, options?: AbortOptions): Promise<AgentId[]> {
    const native = this.#core.use();
    checkTopic(topic, MAX_TOPIC_BYTES);
    if (typeof count !== 'number') throw invalidArgType(`count must be a number (got ${typeof count})`);
    if (!Number.isInteger(count) || count < 1 || count > MAX_TOPIC_PEERS_WAIT) {
      throw new InvalidConfigError(`count must be an integer from 1 to ${MAX_TOPIC_PEERS_WAIT} (got ${String(count)})`, {
        field: 'count',
      });
    }
    const { signal } = checkSignalOptions(options);
    throwIfAborted(signal);
    // The native wait cannot be cancelled, so it runs in short slices and the
    // signal is checked between them; each slice returns early on success.
    for (;;) {
      const peers = await raceAbort(
        callNative(() => native.waitForTopicPeers(topic, count, TOPIC_WAIT_SLICE_MS)),
        signal,
      );
      if (peers.length >= count) return peers;
      throwIfAborted(signal);
    }
  }

  /**
   * Ends every subscription of this agent to `topic`. Resolves once their
   * loops have ended; a topic with no subscription is a no-op.
   * @param topic - the topic as given to `subscribe()`; not validated, since
   *   an invalid topic has no subscription to end
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  async unsubscribe(topic: string): Promise<void> {
    this.#core.use();
    const subs = [...(this.#open.get(topic) ?? [])];
    await Promise.all(subs.map((s) => s.unsubscribe()));
  }

  /**
   * Counters of the publish/subscribe layer.
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  stats(): PubSubStats {
    const native = this.#core.use();
    const s = callNativeSync(() => native.pubsubStats());
    return {
      published: s.published,
      delivered: s.delivered,
      duplicatesDropped: s.duplicatesDropped,
      invalidDropped: s.invalidDropped,
      oversizedDropped: s.oversizedDropped,
      staleDropped: s.staleDropped,
      laggedDropped: s.laggedDropped,
      cacheSize: s.cacheSize,
    };
  }

  /**
   * @internal
   * Delivery latency, `receivedAt - publishedAt` (the publisher's clock to
   * this agent's), of every message from another agent that a subscription
   * of this agent handed to its reader, since the agent started; a
   * negative difference (clock skew) counts as 0. `receivedAt` is stamped
   * when the core delivers to the subscription, so time spent in its buffer
   * is not included. Buckets: {@link DELIVERY_LATENCY_BOUNDS_MS}.
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  deliveryLatency(): HistogramSample {
    this.#core.use();
    return this.#deliveryLatency.snapshot();
  }
}

/** @internal */
export function createPubSub(core: AgentCore): PubSubManager {
  return create(core);
}
