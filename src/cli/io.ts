/**
 * Where the `x0x` commands write: results on stdout (one item per line, for
 * scripts), logs and progress on stderr.
 *
 * @internal
 * @module
 */

/** The output streams of one command run. */
export interface Io {
  /** One line of result on stdout. */
  readonly out: (line: string) => void;
  /** One line of log on stderr, timestamped. */
  readonly log: (line: string) => void;
  /** Text on stderr as given: error messages and usage. */
  readonly err: (text: string) => void;
}

/** The process's own streams; log lines carry an ISO timestamp. */
export const processIo: Io = {
  out: (line) => {
    process.stdout.write(`${line}\n`);
  },
  log: (line) => {
    process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  },
  err: (text) => {
    process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  },
};
