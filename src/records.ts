/**
 * The shared mechanism behind presence beacons and coordinator adverts:
 * signed, expiring records about their signer, kept one per signer.
 *
 * The Rust core does the work (`x0x_core::records`): the wire format, the
 * ML-DSA-65 signature (each record carries the signer's public key, which
 * must hash to the claimed signer id) and the book that rejects forgeries,
 * replays (a timestamp not newer than the last one accepted from the same
 * signer), records dated too far ahead and expired ones, counting each
 * rejection by reason. This module gives that book a typed face and a timer
 * helper the managers share.
 *
 * @internal
 * @module
 */

import { callNativeSync } from './errors.js';
import { loadBinding, type NativeRecord, type NativeRecordBook } from './native.js';

/** Record kinds; one byte on the wire, signed with the record. */
export const RecordKind = Object.freeze({ presence: 1, coordinator: 2 });

/** Largest lead of a signer's clock over ours that a record may have. */
export const MAX_CLOCK_SKEW_MS = 60_000;

/** Why a record was rejected. */
export type RecordRejection =
  | 'malformed'
  | 'wrong-kind'
  | 'signer-mismatch'
  | 'bad-signature'
  | 'expired'
  | 'from-future'
  | 'replayed';

const REJECTIONS: readonly RecordRejection[] = [
  'malformed',
  'wrong-kind',
  'signer-mismatch',
  'bad-signature',
  'expired',
  'from-future',
  'replayed',
];

/** Records accepted and rejected (by reason) since the agent started. */
export interface RecordStats {
  /** Records that verified and were newer than the signer's last one. */
  readonly accepted: number;
  /** Rejected records, by reason; every reason is present (0 when none). */
  readonly rejected: Readonly<Record<RecordRejection, number>>;
}

/** A verified record, as the book hands it out. */
export type VerifiedRecord = NativeRecord;

/** @internal The native book of one record kind. */
export class RecordKeeper {
  readonly #book: NativeRecordBook;

  constructor(kind: number) {
    const { NativeRecordBook } = loadBinding();
    this.#book = callNativeSync(() => new NativeRecordBook(kind, MAX_CLOCK_SKEW_MS));
  }

  /** Verifies and keeps `bytes`; the record, or the reason it was refused. */
  offer(bytes: Uint8Array, now = Date.now()): VerifiedRecord | RecordRejection {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const outcome = callNativeSync(() => this.#book.offer(buf, now));
    return outcome.record ?? outcome.rejection ?? 'malformed';
  }

  /** Forgets a signer's record; replay protection stays. */
  remove(signer: string): boolean {
    return callNativeSync(() => this.#book.remove(signer));
  }

  /** Drops and returns the records that have expired. */
  expire(now = Date.now()): VerifiedRecord[] {
    return callNativeSync(() => this.#book.expire(now));
  }

  /** Current records (expired ones are dropped first). */
  current(now = Date.now()): VerifiedRecord[] {
    this.expire(now);
    return callNativeSync(() => this.#book.records());
  }

  stats(): RecordStats {
    const rejected = Object.fromEntries(REJECTIONS.map((r) => [r, 0])) as Record<RecordRejection, number>;
    for (const { reason, count } of callNativeSync(() => this.#book.rejections())) {
      if (Object.hasOwn(rejected, reason)) rejected[reason as RecordRejection] = count;
    }
    return { accepted: callNativeSync(() => this.#book.accepted()), rejected };
  }
}

/**
 * A repeating timer that never keeps the process alive on its own (the
 * agent's native handle does that) and runs one tick at a time.
 * @internal
 */
export class Ticker {
  readonly #timer: NodeJS.Timeout;
  #busy = false;

  constructor(periodMs: number, tick: () => Promise<void> | void) {
    this.#timer = setInterval(() => {
      if (this.#busy) return;
      this.#busy = true;
      Promise.resolve()
        .then(tick)
        // A failed tick (e.g. racing close) is retried next period.
        .catch(() => undefined)
        .finally(() => {
          this.#busy = false;
        });
    }, periodMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
