/**
 * What every event stream of an agent has in common.
 *
 * @module
 */

/**
 * The reader fell behind and `missed` events of this stream were dropped
 * (the oldest first) before it read them. Every event stream
 * (`membership.events()`, `transport.events()`, `presence.events()`) yields
 * it in place of the events it lost, then continues with the next one it
 * still holds; no stream drops events silently.
 *
 * @example
 * ```ts
 * for await (const e of agent.membership.events()) {
 *   if (e.type === 'lagged') console.warn(`missed ${e.missed} membership events`);
 * }
 * ```
 */
export interface LaggedEvent {
  /** Tells it from the stream's own events, whose `type` is never `'lagged'`. */
  readonly type: 'lagged';
  /** How many events were dropped. */
  readonly missed: number;
}

/** @internal */
export function lagged(missed: number): LaggedEvent {
  return { type: 'lagged', missed };
}
