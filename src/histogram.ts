/**
 * A histogram of fixed buckets, for a duration the facade sees on every
 * item of a stream: observing one value increments one bucket, a count and
 * a sum, and allocates nothing.
 *
 * @internal
 * @module
 */

import type { HistogramSample } from './prometheus.js';

/**
 * Upper bounds of `x0x_pubsub_delivery_latency_seconds`, in milliseconds:
 * 1 ms to 10 s in a 1, 2.5, 5 series (Prometheus' default buckets, one
 * decade lower at the start, since loopback and LAN deliveries take a
 * millisecond or two). Slower deliveries fall in the `+Inf` bucket.
 */
export const DELIVERY_LATENCY_BOUNDS_MS: readonly number[] = Object.freeze([
  1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000,
]);

/**
 * Observations in milliseconds, reported in seconds. A value at a bound
 * counts in that bound's bucket (`le` means "at or below"); a negative
 * value (a clock behind the other's) or NaN counts as 0.
 *
 * @internal
 */
export class MillisecondsHistogram {
  readonly #bounds: readonly number[];
  /** Per bucket, not cumulative; the last one is `+Inf`. */
  readonly #counts: Float64Array;
  #count = 0;
  #sumMs = 0;

  /** @param boundsMs - finite upper bounds in milliseconds, strictly ascending */
  constructor(boundsMs: readonly number[]) {
    for (let i = 0; i < boundsMs.length; i += 1) {
      const bound = boundsMs[i]!;
      if (!Number.isFinite(bound) || (i > 0 && !(bound > boundsMs[i - 1]!))) {
        throw new TypeError(`histogram bounds must be finite and strictly ascending (got ${boundsMs.join(', ')})`);
      }
    }
    this.#bounds = [...boundsMs];
    this.#counts = new Float64Array(boundsMs.length + 1);
  }

  /** Counts one observation of `ms` milliseconds (clamped at 0). */
  observe(ms: number): void {
    const value = ms > 0 ? ms : 0;
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i += 1;
    this.#counts[i]! += 1;
    this.#count += 1;
    this.#sumMs += value;
  }

  /** The buckets (cumulative, `le` in seconds), count and sum (seconds) now. */
  snapshot(): HistogramSample {
    let cumulative = 0;
    const buckets = this.#bounds.map((bound, i) => {
      cumulative += this.#counts[i]!;
      return { le: bound / 1000, count: cumulative };
    });
    return { buckets, count: this.#count, sum: this.#sumMs / 1000 };
  }
}
