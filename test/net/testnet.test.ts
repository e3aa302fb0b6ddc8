// createTestnet, the in-process loopback network that `@x0x/node/testing`
// ships: it meshes, it delivers, it closes, and a process that used it
// ends by itself.
import { spawn } from 'node:child_process';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { AbortError, ClosedError, InvalidConfigError } from '../../src/errors.js';
import { createTestnet } from '../../src/testnet.js';

const ROOT = path.join(__dirname, '..', '..');
/** Bound of a child that starts, meshes and closes a testnet (a loaded 2-core box). */
const CHILD_TIMEOUT_MS = 90_000;
/** Bound between the child's "closed" line and its exit: nothing may keep it alive. */
const EXIT_AFTER_CLOSE_MS = 10_000;

interface ChildRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** ms from the "closed" line on stdout to the exit; undefined without that line. */
  readonly exitAfterClosedMs: number | undefined;
}

/** Runs `node <args>` in the package root, SIGKILLed past the bound. */
function runNode(args: string[]): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let closedAt: number | undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (closedAt === undefined && /^closed$/m.test(stdout)) closedAt = performance.now();
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const exitAfterClosedMs = closedAt === undefined ? undefined : performance.now() - closedAt;
      resolve({ code, signal, stdout, stderr, exitAfterClosedMs });
    });
  });
}

/**
 * Runs `script` (lines) with `node <flags> -e`: it must print exactly
 * `stdout`, nothing on stderr, exit 0, and end soon after its "closed" line.
 */
async function expectCleanExit(flags: string[], script: string[], stdout: string): Promise<void> {
  const run = await runNode([...flags, '-e', script.join('\n')]);
  expect(run.stderr).toBe('');
  expect(run).toMatchObject({ code: 0, signal: null, stdout });
  expect(run.exitAfterClosedMs).toBeLessThan(EXIT_AFTER_CLOSE_MS);
}

describe('createTestnet', () => {
  it('meshes five agents (each holds the other four) and one publish reaches all four', async () => {
    const net = await createTestnet(5);
    try {
      expect(net.agents).toHaveLength(5);
      const ids = net.agents.map((a) => a.agentId);
      expect(new Set(ids).size).toBe(5);
      for (const agent of net.agents) {
        const view = (await agent.membership.activeView()).map((p) => p.peerId).sort();
        expect(view).toStrictEqual(ids.filter((id) => id !== agent.agentId).sort());
      }
      const [publisher, ...others] = net.agents;
      if (publisher === undefined) throw new Error('no agents');
      const signal = AbortSignal.timeout(20_000);
      const subs = await Promise.all(others.map((a) => a.subscribe('testnet.hello', { signal })));
      const id = await publisher.publish('testnet.hello', 'hi all');
      const got = await Promise.all(
        subs.map(async (sub) => {
          for await (const msg of sub) return { id: msg.id, from: msg.from, text: new TextDecoder().decode(msg.payload) };
          throw new Error('subscription ended without a message');
        }),
      );
      expect(got).toStrictEqual(others.map(() => ({ id, from: publisher.agentId, text: 'hi all' })));
    } finally {
      await net.close();
    }
    expect(net.closed).toBe(true);
    expect(net.agents.every((a) => a.closed)).toBe(true);
    await expect(net.agents[0]?.publish('t', 'x')).rejects.toBeInstanceOf(ClosedError);
    // Idempotent, like Agent.close().
    await expect(net.close()).resolves.toBeUndefined();
  });

  it('closes every agent through `await using`', async () => {
    let agents: readonly { closed: boolean }[] = [];
    {
      await using net = await createTestnet(2);
      agents = net.agents;
      expect(agents.every((a) => !a.closed)).toBe(true);
    }
    expect(agents.map((a) => a.closed)).toStrictEqual([true, true]);
  });

  it('refuses bad sizes with InvalidConfigError before starting anything', async () => {
    for (const n of [0, 1.5, 65, Number.NaN]) {
      await expect(createTestnet(n)).rejects.toMatchObject({ code: 'ERR_X0X_INVALID_CONFIG', field: 'n' });
    }
    await expect(createTestnet('3' as never)).rejects.toBeInstanceOf(TypeError);
    await expect(createTestnet(3, { peers: 3 })).rejects.toMatchObject({ field: 'peers' });
    await expect(createTestnet(2, { config: { activeViewSize: 99 } })).rejects.toBeInstanceOf(InvalidConfigError);
  });

  it('rejects with AbortError when the signal has aborted or the bound passes', async () => {
    await expect(createTestnet(2, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    await expect(createTestnet(3, { timeoutMs: 1 })).rejects.toBeInstanceOf(AbortError);
  });

  it('a process that creates and closes createTestnet(5) from @x0x/node/testing exits on its own', async () => {
    const script = [
      "import { createTestnet } from '@x0x/node/testing';",
      'const net = await createTestnet(5);',
      "console.log('meshed', net.agents.length);",
      'await net.close();',
      "console.log('closed');",
    ];
    await expectCleanExit(['--input-type=module'], script, 'meshed 5\nclosed\n');
  });

  it('a process waiting in a subscription loop stays alive for it, then exits once closed', async () => {
    // The publish is started by an unref'd timer, so only the open agents
    // and the pending read can keep the process alive until it fires; a
    // process that ended first would exit with code 13 (an unsettled
    // top-level await).
    const script = [
      "import { createTestnet } from '@x0x/node/testing';",
      'const net = await createTestnet(2);',
      'const [a, b] = net.agents;',
      "const sub = await b.subscribe('t');",
      "await a.pubsub.waitForTopicPeers('t', 1);",
      "setTimeout(() => void a.publish('t', 'late'), 1500).unref();",
      'for await (const m of sub) {',
      "  console.log('got', new TextDecoder().decode(m.payload));",
      '  break;',
      '}',
      'await net.close();',
      "console.log('closed');",
    ];
    await expectCleanExit(['--input-type=module'], script, 'got late\nclosed\n');
  });

  it('a read pending across close() ends the loop, and the process still exits on its own', async () => {
    // The read settles while the agent closes, through the call port; the
    // process must see it settle (exit code 13, an unsettled top-level
    // await, otherwise) and then exit.
    const script = [
      "import { createTestnet } from '@x0x/node/testing';",
      'const net = await createTestnet(1);',
      "const sub = await net.agents[0].subscribe('t');",
      'const read = sub[Symbol.asyncIterator]().next();',
      'await net.close();',
      "console.log('closed');",
      "console.log('done', (await read).done);",
    ];
    await expectCleanExit(['--input-type=module'], script, 'closed\ndone true\n');
  });

  it('the require() entry works too, and `agents` are the package\'s own Agent instances', async () => {
    const script = [
      "const { createTestnet } = require('@x0x/node/testing');",
      "const { Agent } = require('@x0x/node');",
      '(async () => {',
      '  const net = await createTestnet(2);',
      "  console.log('agents', net.agents.every((a) => a instanceof Agent));",
      '  await net.close();',
      "  console.log('closed');",
      '})();',
    ];
    await expectCleanExit([], script, 'agents true\nclosed\n');
  });
});
