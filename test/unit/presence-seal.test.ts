import { randomBytes } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { deriveBeaconKey, openBeacon, sealBeacon } from '../../src/presence-seal.js';

const record = Buffer.concat([Buffer.from('agent-id:'), randomBytes(32), Buffer.from(' 127.0.0.1:4000')]);
const keyA = deriveBeaconKey(randomBytes(32).toString('hex'));
const keyB = deriveBeaconKey(randomBytes(32).toString('hex'));

describe('presence beacon sealing', () => {
  it('opens a sealed beacon with the same group key', () => {
    const opened = openBeacon(sealBeacon(record, keyA), keyA);
    expect(opened).toStrictEqual({ kind: 'record', record });
  });

  it('hides the record: no part of it appears in the sealed frame', () => {
    const frame = sealBeacon(record, keyA);
    expect(frame.includes(record.subarray(9, 41))).toBe(false);
    expect(frame.includes(Buffer.from('127.0.0.1'))).toBe(false);
    // Fresh nonce per beacon: the same record never seals to the same bytes.
    expect(sealBeacon(record, keyA).equals(frame)).toBe(false);
  });

  it('cannot be opened without the key or with another one', () => {
    const frame = sealBeacon(record, keyA);
    expect(openBeacon(frame, keyB).kind).toBe('undecryptable');
    expect(openBeacon(frame, undefined).kind).toBe('undecryptable');
  });

  it('detects a flipped ciphertext bit', () => {
    const frame = sealBeacon(record, keyA);
    frame[20] = (frame[20] ?? 0) ^ 1;
    expect(openBeacon(frame, keyA).kind).toBe('undecryptable');
  });

  it('ignores clear beacons when holding a key, and reads them without one', () => {
    const clear = sealBeacon(record, undefined);
    expect(openBeacon(clear, keyA).kind).toBe('plaintext');
    expect(openBeacon(clear, undefined)).toStrictEqual({ kind: 'record', record });
  });

  it('rejects empty, unknown and truncated frames as malformed', () => {
    expect(openBeacon(Buffer.alloc(0), keyA).kind).toBe('malformed');
    expect(openBeacon(Buffer.of(9, 1, 2), keyA).kind).toBe('malformed');
    expect(openBeacon(Buffer.of(2, 1, 2), keyA).kind).toBe('malformed');
  });

  it('derives different beacon keys from different group keys, deterministically', () => {
    const hex = randomBytes(32).toString('hex');
    expect(deriveBeaconKey(hex).equals(deriveBeaconKey(hex))).toBe(true);
    expect(keyA.equals(keyB)).toBe(false);
    expect(deriveBeaconKey(hex).equals(Buffer.from(hex, 'hex'))).toBe(false);
  });
});
