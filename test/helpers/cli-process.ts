// Runs `bin/x0x.mjs` in child processes for the CLI tests. Every wait is
// bounded and event-driven (it re-checks on each chunk of output), and every
// child is SIGKILLed by `killAll()` if a test leaves it running.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as path from 'node:path';

export const ROOT = path.join(__dirname, '..', '..');
export const BIN = path.join(ROOT, 'bin', 'x0x.mjs');

/** Default bound of a wait for output or exit. */
const WAIT_MS = 30_000;

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export class CliProcess {
  readonly child: ChildProcessWithoutNullStreams;
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;
  readonly #listeners = new Set<() => void>();

  constructor(args: readonly string[], options: { cwd?: string } = {}) {
    this.child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd ?? ROOT, stdio: 'pipe' });
    running.add(this);
    const wake = (): void => {
      for (const listener of this.#listeners) listener();
    };
    this.child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      wake();
    });
    this.child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      wake();
    });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        running.delete(this);
        resolve({ code, signal });
        wake();
      });
    });
  }

  /** stdout as lines, without the trailing empty one. */
  get lines(): string[] {
    return this.stdout.split('\n').filter((line, i, all) => i < all.length - 1 || line !== '');
  }

  /**
   * Resolves with the first match of `pattern` in stdout (or stderr), once
   * it appears; rejects when the process exits first or `timeoutMs` passes.
   */
  waitFor(pattern: RegExp, stream: 'stdout' | 'stderr' = 'stdout', timeoutMs = WAIT_MS): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const match = pattern.exec(this[stream]);
        if (match !== null) {
          done();
          resolve(match);
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          done();
          reject(new Error(`exited before ${pattern} on ${stream}\n--- stdout\n${this.stdout}--- stderr\n${this.stderr}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${pattern} on ${stream} within ${timeoutMs} ms\n--- stdout\n${this.stdout}--- stderr\n${this.stderr}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.#listeners.delete(check);
      };
      this.#listeners.add(check);
      check();
    });
  }

  /** The exit, or a rejection when it does not come within `timeoutMs`. */
  async exit(timeoutMs = WAIT_MS): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`still running after ${timeoutMs} ms\n--- stdout\n${this.stdout}--- stderr\n${this.stderr}`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

const running = new Set<CliProcess>();

/** Runs `x0x <args>` to completion (bounded); resolves with its exit and output. */
export async function runCli(
  args: readonly string[],
  timeoutMs = WAIT_MS,
): Promise<Exit & { stdout: string; stderr: string }> {
  const p = new CliProcess(args);
  const exit = await p.exit(timeoutMs);
  return { ...exit, stdout: p.stdout, stderr: p.stderr };
}

/** SIGKILLs every child still running. */
export async function killAll(): Promise<void> {
  const left = [...running];
  for (const p of left) p.child.kill('SIGKILL');
  await Promise.all(left.map((p) => p.exited));
}
