/**
 * Validation of topics and payloads before they cross to the native side.
 *
 * The limits are parameters rather than imports so this module never loads
 * the addon and can be tested on its own.
 *
 * @internal
 * @module
 */

import { invalidArgType } from './arg-errors.js';
import { InvalidTopicError, PayloadTooLargeError } from './errors.js';

// In a `u`-mode regex a surrogate pair is one code point, so this matches only
// lone surrogates, which UTF-8 cannot encode: two different JS strings would
// otherwise reach the core as the same topic.
const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * @returns `topic`, unchanged
 * @throws {@link InvalidTopicError} (`ERR_X0X_INVALID_TOPIC`) unless `topic` is a non-empty, well-formed
 *   string of at most `maxBytes` UTF-8 bytes
 */
export function checkTopic(topic: unknown, maxBytes: number): string {
  if (typeof topic !== 'string' || topic.length === 0) {
    throw new InvalidTopicError(
      `topic must be a non-empty string (got ${typeof topic === 'string' ? 'an empty string' : typeof topic})`,
    );
  }
  if (LONE_SURROGATE.test(topic)) {
    throw new InvalidTopicError('topic must be well-formed UTF-16 (it contains a lone surrogate)');
  }
  const bytes = Buffer.byteLength(topic, 'utf8');
  if (bytes > maxBytes) {
    throw new InvalidTopicError(`topic must be at most ${maxBytes} UTF-8 bytes (got ${bytes})`);
  }
  return topic;
}

/**
 * Converts publish data to the Buffer the binding takes: strings are UTF-8
 * encoded, byte arrays are wrapped without copying.
 *
 * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `data` is neither a `Uint8Array` nor a string
 * @throws {@link PayloadTooLargeError} (`ERR_X0X_PAYLOAD_TOO_LARGE`) when it is longer than `maxBytes`
 */
export function encodePayload(data: unknown, maxBytes: number): Buffer {
  let buffer: Buffer;
  if (typeof data === 'string') buffer = Buffer.from(data, 'utf8');
  else if (data instanceof Uint8Array) buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  else {
    throw invalidArgType(
      `payload must be a Uint8Array or a string (got ${data === null ? 'null' : typeof data})`,
    );
  }
  if (buffer.byteLength > maxBytes) {
    throw new PayloadTooLargeError(
      `payload is ${buffer.byteLength} bytes, more than the limit of ${maxBytes}`,
      { size: buffer.byteLength, limit: maxBytes },
    );
  }
  return buffer;
}
