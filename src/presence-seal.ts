/**
 * Sealing presence beacons for a group: ChaCha20-Poly1305 (node:crypto)
 * under a key derived from the 32-byte group key with HKDF-SHA-256, so the
 * raw group key never encrypts anything itself and a future use of it for
 * something else gets an independent key.
 *
 * Frame (the payload of one flood frame):
 * - `0x01` then the signed record: a beacon in the clear;
 * - `0x02`, a random 12-byte nonce, the ciphertext of the signed record,
 *   the 16-byte Poly1305 tag: a sealed beacon. The associated data binds the
 *   frame type and the purpose, so a sealed beacon cannot be taken for
 *   anything else.
 *
 * The signed record (signer id, public key, addresses, timestamps) is
 * entirely inside the ciphertext; the plaintext body is padded to a multiple
 * of {@link BODY_BLOCK} bytes so the length of a beacon says little about how
 * many addresses it lists.
 *
 * @internal
 * @module
 */

import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const PLAIN = 0x01;
const SEALED = 0x02;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const INFO = 'x0x presence beacon v1';
const SALT = 'x0x presence salt v1';
const AAD = Buffer.from('\x02x0x.presence', 'latin1');

/** Record bodies are padded to a multiple of this many bytes. */
export const BODY_BLOCK = 128;

/** A derived beacon key. */
export type BeaconKey = Buffer;

/** Derives the beacon key from a group key given as 64 hex characters. */
export function deriveBeaconKey(groupKeyHex: string): BeaconKey {
  const ikm = Buffer.from(groupKeyHex, 'hex');
  return Buffer.from(hkdfSync('sha256', ikm, SALT, INFO, 32));
}

/** Wraps a signed record into a frame, sealed when there is a key. */
export function sealBeacon(record: Uint8Array, key: BeaconKey | undefined): Buffer {
  if (key === undefined) return Buffer.concat([Buffer.of(PLAIN), record]);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(AAD, { plaintextLength: record.byteLength });
  const body = Buffer.concat([cipher.update(record), cipher.final()]);
  return Buffer.concat([Buffer.of(SEALED), nonce, body, cipher.getAuthTag()]);
}

/** What a received frame turned out to be. */
export type OpenedBeacon =
  | { readonly kind: 'record'; readonly record: Buffer }
  /** Sealed, and we have no key or a different one. */
  | { readonly kind: 'undecryptable' }
  /** In the clear, while we only accept sealed beacons. */
  | { readonly kind: 'plaintext' }
  | { readonly kind: 'malformed' };

/**
 * Opens a frame. With a key, only sealed beacons under that key are
 * accepted; without one, only beacons in the clear.
 */
export function openBeacon(frame: Uint8Array, key: BeaconKey | undefined): OpenedBeacon {
  const buf = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  if (buf.length === 0) return { kind: 'malformed' };
  if (buf[0] === PLAIN) {
    return key === undefined ? { kind: 'record', record: buf.subarray(1) } : { kind: 'plaintext' };
  }
  if (buf[0] !== SEALED) return { kind: 'malformed' };
  if (buf.length < 1 + NONCE_BYTES + TAG_BYTES) return { kind: 'malformed' };
  if (key === undefined) return { kind: 'undecryptable' };
  const nonce = buf.subarray(1, 1 + NONCE_BYTES);
  const tag = buf.subarray(buf.length - TAG_BYTES);
  const body = buf.subarray(1 + NONCE_BYTES, buf.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(AAD, { plaintextLength: body.length });
    decipher.setAuthTag(tag);
    return { kind: 'record', record: Buffer.concat([decipher.update(body), decipher.final()]) };
  } catch {
    return { kind: 'undecryptable' };
  }
}
