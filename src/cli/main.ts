/**
 * The `x0x` command line: `x0x <command> [options]`. `bin/x0x.mjs` calls
 * {@link main}; each command lives in its own module.
 *
 * @internal
 * @module
 */

import { idCommand } from './id.js';
import { processIo, type Io } from './io.js';
import { nodeCommand } from './node.js';
import { pubCommand } from './pub.js';
import { subCommand } from './sub.js';
import { ExitCode, UsageError } from './usage.js';

/** The usage text of `x0x` itself. */
export const MAIN_USAGE = `Usage: x0x <command> [options]

Commands:
  node   run a long-lived agent (a bootstrap or coordinator node)
  id     print the agent id of a key file, creating it if absent
  pub    join, publish one message on a topic, leave
  sub    join and print the messages of a topic, one per line

Run "x0x <command> --help" for a command's options.

Exit codes: 0 done (or stopped by SIGINT/SIGTERM), 1 failed while running,
2 bad command line or --config file.`;

const COMMANDS: Readonly<Record<string, (argv: readonly string[], io: Io) => Promise<number>>> = {
  node: nodeCommand,
  id: idCommand,
  pub: pubCommand,
  sub: subCommand,
};

/**
 * Runs one command and resolves with the process exit code. Usage errors
 * print the message and the command's usage on stderr (exit 2); any other
 * failure prints one line, with the error's code when it has one (exit 1).
 */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    io.out(MAIN_USAGE);
    return ExitCode.ok;
  }
  const command = name === undefined || !Object.hasOwn(COMMANDS, name) ? undefined : COMMANDS[name];
  if (command === undefined) {
    const why = name === undefined ? 'no command given' : `unknown command ${JSON.stringify(name)}`;
    io.err(`x0x: ${why}\n\n${MAIN_USAGE}`);
    return ExitCode.usage;
  }
  try {
    return await command(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`x0x ${name}: ${err.message}\n\n${err.usage}`);
      return ExitCode.usage;
    }
    const code = (err as { code?: unknown }).code;
    const prefix = typeof code === 'string' ? `${code}: ` : '';
    io.err(`x0x ${name}: ${prefix}${(err as Error).message ?? String(err)}`);
    return ExitCode.failed;
  }
}
