/**
 * Loads the package (and with it the native addon) only once a command has
 * parsed its flags, so `--help` and usage errors never need the addon.
 *
 * @internal
 * @module
 */

/** The package's public API. */
export type X0x = typeof import('../index.js');

/** The package entry point, loaded on first use. */
export async function loadX0x(): Promise<X0x> {
  return import('../index.js');
}
