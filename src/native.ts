/**
 * The only module that touches the native addon.
 *
 * The addon is loaded lazily, on the first {@link loadBinding} call, so that
 * modules which only validate (config, errors) stay usable and testable on a
 * machine where the Rust crate was never built.
 *
 * @internal
 * @module
 */

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

import type * as Binding from '../native/binding.js';
import { callNativeSync, NativeMissingError } from './errors.js';

export type {
  NativeAddrRecord,
  NativeAgent,
  NativeAgentOptions,
  NativeAntiEntropyStats,
  NativeCallPort,
  NativeConfig,
  NativeConnection,
  NativeConnectionCounts,
  NativeConnectionEvent,
  NativeConnectionPath,
  NativeConnectionEvents,
  NativeCoordinatorAdvert,
  NativeCoordinatorConfig,
  NativeCoordinators,
  NativeCoordinatorStats,
  NativeFlood,
  NativeLogBatch,
  NativeLogFilter,
  NativeLogRecord,
  NativeFloodPayloads,
  NativeFloodStats,
  NativeOffer,
  NativeRecord,
  NativeRecordBook,
  NativeFoafStats,
  NativeHolder,
  NativeHolderReply,
  NativeLookup,
  NativeRegistration,
  NativeRendezvous,
  NativeRendezvousConfig,
  NativeRendezvousStats,
  NativeKeypair,
  NativeLagged,
  NativeMembershipEvent,
  NativeMembershipEvents,
  NativeMembershipStats,
  NativeMessage,
  NativeOnlineAgent,
  NativePeer,
  NativePresence,
  NativePresenceConfig,
  NativePresenceEvent,
  NativePresenceEvents,
  NativePresenceStats,
  NativePubSubStats,
  NativeReconciliationStats,
  NativeSubscription,
} from '../native/binding.js';

/** The shape of the loaded addon, exactly as `native/binding.d.ts` declares it. */
export type NativeBinding = typeof Binding;

const LOADER = path.join('native', 'index.cjs');

let binding: NativeBinding | undefined;

/**
 * Finds `native/index.cjs` by walking up from this file: it sits one level up
 * when running from `src/` (vitest) and two levels up from `dist/cjs/`.
 */
function findLoader(): string {
  for (let dir = __dirname; ; ) {
    const candidate = path.join(dir, LOADER);
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new NativeMissingError(
        `cannot find ${LOADER} above ${__dirname}; the package is incomplete, reinstall @x0x/node`,
      );
    }
    dir = parent;
  }
}

/**
 * Loads the addon once and returns it.
 *
 * @throws {@link NativeMissingError} (`ERR_X0X_NATIVE_MISSING`) when no addon for this platform can be
 *   found or loaded; its message names this target, the targets the package
 *   has prebuilt addons for, and the fix
 */
export function loadBinding(): NativeBinding {
  binding ??= callNativeSync(
    () => createRequire(__filename)(findLoader()) as NativeBinding,
  );
  return binding;
}
