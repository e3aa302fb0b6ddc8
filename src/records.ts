/**
 * What coordinator adverts (and, in the core, presence beacons) are made
 * of: signed, expiring records about their signer, kept one per signer.
 *
 * The Rust core does all the work (`x0x_core::records`): the wire format,
 * the ML-DSA-65 signature (each record carries the signer's public key,
 * which must hash to the claimed signer id) and the book that rejects
 * forgeries, replays (a timestamp not newer than the last one accepted from
 * the same signer), records dated more than a minute ahead and expired
 * ones, counting each rejection by reason. This module names the kinds and
 * gives the counters a typed face.
 *
 * @internal
 * @module
 */

import type { NativeCoordinatorStats } from './native.js';

/** Record kinds; one byte on the wire, signed with the record. */
export const RecordKind = Object.freeze({ presence: 1, coordinator: 2 });

/**
 * Why a signed record (a coordinator advert) was rejected, as the core
 * counts it:
 * - `malformed`: truncated, of another format version, of inconsistent
 *   length, or expiring before its own timestamp;
 * - `wrong-kind`: a record of another kind than the list keeps;
 * - `signer-mismatch`: the public key does not hash to the claimed signer id;
 * - `bad-signature`: the signature does not verify (a tampered field or the wrong key);
 * - `expired`: its expiry is not in the future;
 * - `from-future`: its timestamp is more than 60 s ahead of this agent's clock;
 * - `replayed`: not newer than the last record accepted from the same signer;
 * - `too-long`: it asks to be kept longer than its kind allows (a week for
 *   coordinator adverts), which would let one record hold its place forever;
 * - `full`: a new signer while the list already tracks as many as it may
 *   (known signers are still accepted).
 */
export type RecordRejection =
  | 'malformed'
  | 'wrong-kind'
  | 'signer-mismatch'
  | 'bad-signature'
  | 'expired'
  | 'from-future'
  | 'replayed'
  | 'too-long'
  | 'full';

const REJECTIONS: readonly RecordRejection[] = [
  'malformed',
  'wrong-kind',
  'signer-mismatch',
  'bad-signature',
  'expired',
  'from-future',
  'replayed',
  'too-long',
  'full',
];

/** Records accepted and rejected (by reason) since the agent started. */
export interface RecordStats {
  /** Records that verified and were newer than the signer's last one. */
  readonly accepted: number;
  /** Rejected records, by reason; every reason is present (0 when none). */
  readonly rejected: Readonly<Record<RecordRejection, number>>;
}

/** @internal The native counters as {@link RecordStats}. */
export function toRecordStats(stats: NativeCoordinatorStats): RecordStats {
  const rejected = Object.fromEntries(REJECTIONS.map((r) => [r, 0])) as Record<RecordRejection, number>;
  for (const { reason, count } of stats.rejected) {
    if (Object.hasOwn(rejected, reason)) rejected[reason as RecordRejection] = count;
  }
  return { accepted: stats.accepted, rejected };
}
