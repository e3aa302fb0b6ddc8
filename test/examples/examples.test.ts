// The README's main example and the files in examples/ run as written, in
// plain JavaScript, in child processes (each bounded): what a new user
// copies must work.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

const ROOT = path.join(__dirname, '..', '..');
const EXAMPLES = path.join(ROOT, 'examples');
const WAIT_MS = 60_000;
const work = mkdtempSync(path.join(tmpdir(), 'x0x-examples-'));

const running = new Set<ChildProcessWithoutNullStreams>();
afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A running example: its output so far, waits on it, and its exit. */
class Example {
  readonly child: ChildProcessWithoutNullStreams;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #wake = new Set<() => void>();

  constructor(file: string, args: string[] = [], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [path.join(EXAMPLES, file), ...args], {
      cwd: work,
      env: { ...process.env, ...env },
    });
    running.add(this.child);
    const wake = (): void => this.#wake.forEach((f) => f());
    this.child.stdout.setEncoding('utf8').on('data', (c: string) => ((this.stdout += c), wake()));
    this.child.stderr.setEncoding('utf8').on('data', (c: string) => ((this.stderr += c), wake()));
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        running.delete(this.child);
        resolve({ code, signal });
        wake();
      }),
    );
  }

  /** First match of `pattern` on stdout; rejects on exit or after the bound. */
  waitFor(pattern: RegExp): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`no ${pattern} within ${WAIT_MS} ms`)), WAIT_MS);
      const finish = (err?: Error, match?: RegExpExecArray): void => {
        clearTimeout(timer);
        this.#wake.delete(check);
        if (match !== undefined) resolve(match);
        else reject(new Error(`${err?.message}\n--- stdout\n${this.stdout}--- stderr\n${this.stderr}`));
      };
      const check = (): void => {
        const match = pattern.exec(this.stdout);
        if (match !== null) finish(undefined, match);
        else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          finish(new Error(`exited before ${pattern}`));
        }
      };
      this.#wake.add(check);
      check();
    });
  }

  async exit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.exited,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`still running after ${WAIT_MS} ms\n${this.stderr}`)), WAIT_MS);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The first ```js block after the README's "## Example" heading. */
function readmeMainExample(): string {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Example\n'));
  const block = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  if (block === undefined) throw new Error('README.md has no ```js block under "## Example"');
  return block;
}

describe('README main example', () => {
  it('is examples/quickstart.mjs, word for word', () => {
    expect(readmeMainExample()).toBe(readFileSync(path.join(EXAMPLES, 'quickstart.mjs'), 'utf8'));
  });

  it('runs as written: prints the greeting and exits 0 on its own', async () => {
    const run = new Example('quickstart.mjs');
    expect(await run.exit()).toStrictEqual({ code: 0, signal: null });
    expect(run.stdout).toMatch(/^[0-9a-f]{12} says hello\n$/);
    expect(run.stderr).toBe('');
  });
});

describe('examples/', () => {
  it('chat.mjs: a line typed in the second terminal appears in the first', async () => {
    const first = new Example('chat.mjs');
    const [, addr] = await first.waitFor(/listening on (\S+)\n/);
    const second = new Example('chat.mjs', [addr ?? '']);
    await second.waitFor(/^connected; type a line/m);
    const id = (await second.waitFor(/you are ([0-9a-f]{8})/))[1];

    second.child.stdin.write('hello from the second terminal\n');
    await first.waitFor(new RegExp(`^${id}: hello from the second terminal$`, 'm'));

    // Ctrl-D in the second terminal, Ctrl-C in the first: both leave cleanly.
    second.child.stdin.end();
    expect(await second.exit()).toStrictEqual({ code: 0, signal: null });
    first.child.kill('SIGINT');
    expect(await first.exit()).toStrictEqual({ code: 0, signal: null });
  });

  it('persistent-identity.mjs keeps its agent id across a restart and exits 0 on SIGTERM', async () => {
    const env = { X0X_KEY_FILE: path.join(work, 'service.key'), X0X_DATA_DIR: path.join(work, 'service-data') };
    const ids: string[] = [];
    for (let start = 0; start < 2; start += 1) {
      const service = new Example('persistent-identity.mjs', [], env);
      ids.push((await service.waitFor(/^id ([0-9a-f]{64})$/m))[1] ?? '');
      await service.waitFor(/^ready$/m);
      service.child.kill('SIGTERM');
      expect(await service.exit()).toStrictEqual({ code: 0, signal: null });
      expect(service.stdout).toContain('SIGTERM: leaving the network');
    }
    expect(ids[1]).toBe(ids[0]);
  });

  it('coordinator.mjs advertises, logs a peer joining through it, and exits 0 on SIGINT', async () => {
    const coordinator = new Example('coordinator.mjs', [], {
      X0X_BIND: '127.0.0.1:0',
      X0X_KEY_FILE: path.join(work, 'coordinator.key'),
    });
    const [, addr] = await coordinator.waitFor(/^listen (\S+)$/m);
    await coordinator.waitFor(/^ready: advertising as coordinator$/m);
    const peer = new Example('persistent-identity.mjs', [], {
      X0X_KEY_FILE: path.join(work, 'peer.key'),
      X0X_DATA_DIR: path.join(work, 'peer-data'),
      X0X_BOOTSTRAP: addr ?? '',
    });
    const [, peerId] = await peer.waitFor(/^id ([0-9a-f]{64})$/m);
    await coordinator.waitFor(new RegExp(`^peer-joined ${(peerId ?? '').slice(0, 8)} `, 'm'));
    peer.child.kill('SIGTERM');
    await coordinator.waitFor(new RegExp(`^peer-left ${(peerId ?? '').slice(0, 8)} graceful$`, 'm'));
    coordinator.child.kill('SIGINT');
    expect(await coordinator.exit()).toStrictEqual({ code: 0, signal: null });
  });

  it('electron-main.mjs parses as an ES module (Electron itself is not available here)', async () => {
    const check = spawn(process.execPath, ['--check', path.join(EXAMPLES, 'electron-main.mjs')]);
    const code = await new Promise((resolve) => check.on('exit', resolve));
    expect(code).toBe(0);
  });
});
