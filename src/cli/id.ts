/**
 * `x0x id --key FILE`: prints the agent id a key file gives, creating the
 * file (mode 0600) when it does not exist, as `x0x node --key` would.
 *
 * @internal
 * @module
 */

import { parse, positionals } from './args.js';
import type { Io } from './io.js';
import { ExitCode, UsageError } from './usage.js';

/** The usage text of `x0x id`. */
export const ID_USAGE = `Usage: x0x id --key FILE

Prints the agent id of the identity in FILE (64 hex characters) on stdout.
When FILE does not exist, a new identity is generated and saved there with
mode 0600, exactly as \`x0x node --key FILE\` would; a note goes to stderr.

Options:
  --key FILE   the key file (required)
  -h, --help   show this help`;

/** Runs `x0x id`. */
export async function idCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals: rest } = parse(
    argv,
    { key: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    ID_USAGE,
  );
  if (values.help) {
    io.out(ID_USAGE);
    return ExitCode.ok;
  }
  positionals(rest, [], ID_USAGE);
  if (values.key === undefined || values.key === '') throw new UsageError('--key FILE is required', ID_USAGE);
  // The package (and the addon) load only now that the flags are good.
  const { loadOrCreateKeyFile } = await import('../key-file.js');
  const { keypair, created } = await loadOrCreateKeyFile(values.key);
  if (created) io.log(`created ${values.key} (mode 0600)`);
  io.out(keypair.agentId);
  return ExitCode.ok;
}
