/**
 * Command-line parsing shared by the `x0x` commands: `node:util` parseArgs
 * in strict mode, with every failure turned into a {@link UsageError}, and
 * the checks for the flags several commands take.
 *
 * Nothing here loads the native addon, so `--help` and usage errors work on
 * a machine without one.
 *
 * @internal
 * @module
 */

import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';

import { checkPeerAddress, checkSocketAddress } from '../address.js';
import { GossipConfig } from '../config.js';
import { UsageError } from './usage.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** What {@link parse} returns for `O`: typed `values` and the positionals. */
export type Parsed<O extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: true }>
>;

/** The flags every networked command shares. */
export const NETWORK_OPTIONS = {
  bind: { type: 'string' },
  bootstrap: { type: 'string', multiple: true },
  key: { type: 'string' },
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

/**
 * parseArgs in strict mode; its errors (unknown flag, missing value, stray
 * positional) become usage errors of `usage`.
 */
export function parse<O extends Options>(argv: readonly string[], options: O, usage: string): Parsed<O> {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError((err as Error).message, usage);
  }
}

/** Checks `ip:port` flags; a bad one is a usage error naming the flag. */
export function addressFlag(flag: string, value: string, allowPortZero: boolean, usage: string): string {
  try {
    return checkSocketAddress(value, `--${flag}`, allowPortZero);
  } catch (err) {
    throw new UsageError((err as Error).message, usage);
  }
}

/** Checks `ip:port` or `host:port` flags; a bad one is a usage error naming the flag. */
export function peerFlag(flag: string, value: string, usage: string): string {
  try {
    return checkPeerAddress(value, `--${flag}`);
  } catch (err) {
    throw new UsageError((err as Error).message, usage);
  }
}

/** An integer flag within `[min, max]`, written in plain decimal. */
export function integerFlag(flag: string, value: string, min: number, max: number, usage: string): number {
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`--${flag} must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`, usage);
  }
  return Number(value);
}

/** Exactly `names.length` positionals, returned in order. */
export function positionals(got: readonly string[], names: readonly string[], usage: string): string[] {
  if (got.length !== names.length) {
    throw new UsageError(
      `expected ${names.map((n) => `<${n}>`).join(' ')} (got ${got.length} argument${got.length === 1 ? '' : 's'})`,
      usage,
    );
  }
  return [...got];
}

/**
 * Reads a `--config` file: the same fields as `AgentBuilder.withConfig`, as
 * JSON. An unreadable or invalid file is a usage error, because nothing has
 * started yet and the fix is in what the user passed.
 */
export function configFile(path: string | undefined, usage: string): GossipConfig {
  if (path === undefined) return new GossipConfig();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --config ${path}: ${(err as Error).message}`, usage);
  }
  try {
    return GossipConfig.fromJSON(text);
  } catch (err) {
    throw new UsageError(`--config ${path}: ${(err as Error).message}`, usage);
  }
}

/** Settings every networked command resolves from {@link NETWORK_OPTIONS}. */
export interface NetworkSettings {
  readonly bind: string | undefined;
  readonly bootstrap: readonly string[];
  readonly key: string | undefined;
  readonly config: GossipConfig;
}

/** Validates the shared flags. */
export function networkSettings(
  values: { bind?: string | undefined; bootstrap?: string[] | undefined; key?: string | undefined; config?: string | undefined },
  usage: string,
): NetworkSettings {
  if (values.key === '') throw new UsageError('--key needs a file path', usage);
  return {
    bind: values.bind === undefined ? undefined : addressFlag('bind', values.bind, true, usage),
    bootstrap: (values.bootstrap ?? []).map((addr) => peerFlag('bootstrap', addr, usage)),
    key: values.key,
    config: configFile(values.config, usage),
  };
}
