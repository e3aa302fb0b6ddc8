/**
 * Size limits of the wire format, read from the native addon so that the
 * TypeScript checks can never drift from what the core enforces.
 *
 * Importing this module loads the addon.
 *
 * @module
 */

import { loadBinding } from './native.js';

const binding = loadBinding();

/**
 * Largest payload `Agent.publish()` accepts, in bytes (1 MiB, 1048576, in
 * this version). Larger ones fail with `PayloadTooLargeError` before
 * anything is sent; received ones are dropped and counted.
 */
export const MAX_PAYLOAD_BYTES: number = binding.MAX_PAYLOAD_BYTES;

/**
 * Longest topic accepted, in UTF-8 bytes (256 in this version). Longer
 * ones fail with `InvalidTopicError`.
 */
export const MAX_TOPIC_BYTES: number = binding.MAX_TOPIC_BYTES;
