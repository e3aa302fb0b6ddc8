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

/** Largest payload `Agent.publish()` accepts, in bytes. */
export const MAX_PAYLOAD_BYTES: number = binding.MAX_PAYLOAD_BYTES;

/** Longest topic accepted, in UTF-8 bytes. */
export const MAX_TOPIC_BYTES: number = binding.MAX_TOPIC_BYTES;
