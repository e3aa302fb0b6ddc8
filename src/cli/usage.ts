/**
 * Exit codes and the usage error of the `x0x` command line.
 *
 * @internal
 * @module
 */

/**
 * The exit codes of every `x0x` command, as the README documents them.
 * A second SIGINT or SIGTERM during shutdown is not handled, so the process
 * then dies by the signal (code 130 or 143 in most shells).
 */
export const ExitCode = Object.freeze({
  /** The command did its job, or was stopped by SIGINT/SIGTERM and shut down cleanly. */
  ok: 0,
  /** Something failed while running: no addon, key file, bind, join, a timeout. */
  failed: 1,
  /** The command line or the `--config` file is invalid; nothing was started. */
  usage: 2,
});

/** A bad command line; `main` prints it with the command's usage and exits 2. */
export class UsageError extends Error {
  /** The usage text of the command the error is about. */
  readonly usage: string;

  constructor(message: string, usage: string) {
    super(message);
    this.name = 'UsageError';
    this.usage = usage;
  }
}
