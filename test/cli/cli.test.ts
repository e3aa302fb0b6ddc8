// The `x0x` command line across processes, as a user runs it: a node, a
// subscriber and a publisher exchange a message; signals end a node with
// exit 0; bad command lines exit 2 with the usage; runtime failures exit 1.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { CliProcess, killAll, runCli } from '../helpers/cli-process.js';
import { parseExposition, sampleValue } from '../helpers/prometheus-parser.js';

const work = mkdtempSync(path.join(tmpdir(), 'x0x-cli-'));
afterEach(killAll);
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Starts `x0x node` and resolves once it printed "ready", with its first address. */
async function startNode(args: string[] = []): Promise<{ node: CliProcess; addr: string; id: string }> {
  const node = new CliProcess(['node', ...args]);
  await node.waitFor(/^ready$/m);
  const addr = /^listen (\S+)$/m.exec(node.stdout)?.[1];
  const id = /^id ([0-9a-f]{64})$/m.exec(node.stdout)?.[1];
  if (addr === undefined || id === undefined) throw new Error(`no id/listen lines:\n${node.stdout}`);
  return { node, addr, id };
}

describe('x0x node, sub and pub', () => {
  it('exchange a message across three processes, and the node logs both peers joining', async () => {
    const { node, addr } = await startNode(['--metrics-port', '0']);
    const sub = new CliProcess(['sub', '--bootstrap', addr, '--count', '1', 'cli.chat']);
    await sub.waitFor(/subscribed cli\.chat$/m, 'stderr');

    const pub = await runCli(['pub', '--bootstrap', addr, 'cli.chat', 'hello from pub']);
    expect(pub, pub.stderr).toMatchObject({ code: 0, signal: null });
    expect(pub.stdout).toMatch(/^[0-9a-f]{64}\n$/);

    // --count 1: the subscriber prints the one message and exits 0 by itself.
    expect(await sub.exit()).toStrictEqual({ code: 0, signal: null });
    expect(sub.lines).toStrictEqual(['hello from pub']);

    const joined = node.stderr.match(/ peer-joined [0-9a-f]{64} /g) ?? [];
    expect(joined.length).toBeGreaterThanOrEqual(2);

    // The metrics endpoint serves the node's own figures, strictly parseable.
    const url = /^metrics (http:\/\/127\.0\.0\.1:\d+\/metrics)$/m.exec(node.stdout)?.[1];
    if (url === undefined) throw new Error(`no metrics line:\n${node.stdout}`);
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const metrics = parseExposition(await res.text());
    expect(sampleValue(metrics, 'x0x_transport_frames_total', { direction: 'in' })).toBeGreaterThan(0);
    expect((await fetch(url.replace('/metrics', '/other'))).status).toBe(404);

    node.child.kill('SIGTERM');
    expect(await node.exit()).toStrictEqual({ code: 0, signal: null });
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('%s ends x0x node with exit code 0 after a clean close', async (signal) => {
    const { node } = await startNode();
    node.child.kill(signal);
    expect(await node.exit()).toStrictEqual({ code: 0, signal: null });
    expect(node.stderr).toContain(`shutting down (${signal})`);
    expect(node.stderr).toMatch(/ closed\n$/);
  });

  it('x0x node takes --coordinator, a --config file, a repeated --bootstrap and --announce', async () => {
    const coordinatorConfig = path.join(work, 'coordinator.json');
    writeFileSync(coordinatorConfig, JSON.stringify({ coordinator: true, probeInterval: 500 }));
    const { node: a, addr: addrA } = await startNode(['--coordinator']);
    const { node: c, addr: addrC } = await startNode(['--bootstrap', addrA, '--config', coordinatorConfig]);
    const { node: b } = await startNode([
      ...['--bootstrap', addrA, '--bootstrap', addrC],
      ...['--announce', '198.51.100.7:9000', '--metrics-port', '0'],
    ]);
    // --announce replaces what the node would find; both seeds were used.
    expect(b.lines.filter((line) => line.startsWith('advertise '))).toStrictEqual(['advertise 198.51.100.7:9000']);
    expect(b.stderr).toContain('joined the network through 2 bootstrap address(es)');

    // A (the flag) and C (the config file) both advertise as coordinators.
    const url = /^metrics (\S+)$/m.exec(b.stdout)?.[1];
    if (url === undefined) throw new Error(`no metrics line:\n${b.stdout}`);
    const deadline = Date.now() + 60_000;
    let accepted = 0;
    while (accepted < 2 && Date.now() < deadline) {
      const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      accepted = sampleValue(parseExposition(await res.text()), 'x0x_coordinator_adverts_accepted_total');
      if (accepted < 2) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(accepted).toBe(2);

    for (const node of [b, c, a]) node.child.kill('SIGTERM');
    for (const node of [b, c, a]) expect(await node.exit()).toStrictEqual({ code: 0, signal: null });
  });

  it('SIGTERM ends x0x sub with exit code 0', async () => {
    const { addr } = await startNode();
    const sub = new CliProcess(['sub', '--bootstrap', addr, 'cli.quiet']);
    await sub.waitFor(/subscribed cli\.quiet$/m, 'stderr');
    sub.child.kill('SIGTERM');
    expect(await sub.exit()).toStrictEqual({ code: 0, signal: null });
  });

  it('x0x id --key creates the file with mode 0600 and prints the id x0x node then runs as', async () => {
    const key = path.join(work, 'node.key');
    const first = await runCli(['id', '--key', key]);
    expect(first, first.stderr).toMatchObject({ code: 0 });
    expect(first.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect(first.stderr).toContain('created');
    if (process.platform !== 'win32') expect(statSync(key).mode & 0o777).toBe(0o600);

    const second = await runCli(['id', '--key', key]);
    expect(second.stdout).toBe(first.stdout);
    expect(second.stderr).toBe('');

    const { node, id } = await startNode(['--key', key]);
    expect(`${id}\n`).toBe(first.stdout);
    node.child.kill('SIGTERM');
    expect((await node.exit()).code).toBe(0);
  });

  it('a publisher that cannot reach its bootstrap exits 1 with an error code', async () => {
    // Port 9 (discard) on loopback: nothing answers QUIC there.
    const run = await runCli(['pub', '--bootstrap', '127.0.0.1:9', '--timeout', '5', 'cli.nowhere', 'x'], 60_000);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^x0x pub: ERR_X0X_[A-Z_]+: /);
  });
});

describe('x0x usage', () => {
  const badConfig = path.join(work, 'bad.json');
  writeFileSync(badConfig, JSON.stringify({ activeViewSize: 99 }));

  it.each([
    [['node', '--bogus']],
    [['node', '--bind', 'localhost:9000']],
    [['node', '--metrics-port', '70000']],
    [['node', '--config', path.join(work, 'missing.json')]],
    [['node', '--config', badConfig]],
    [['node', 'extra']],
    [['pub', 'topic', 'message']],
    [['pub', '--bootstrap', '127.0.0.1:4000', 'only-topic']],
    [['sub', '--bootstrap', '127.0.0.1:0', 'topic']],
    [['sub', '--bootstrap', '127.0.0.1:4000', '--count', '0', 'topic']],
    [['id']],
    [['frobnicate']],
    [[]],
  ])('x0x %j exits 2 with a usage message and starts nothing', async (args) => {
    const run = await runCli(args);
    expect(run).toMatchObject({ code: 2, signal: null, stdout: '' });
    expect(run.stderr).toMatch(/^x0x( \w+)?: .+\n\nUsage: x0x /);
  });

  it.each([[['--help']], [['node', '--help']], [['id', '-h']], [['pub', '--help']], [['sub', '--help']]])(
    'x0x %j prints the usage on stdout and exits 0',
    async (args) => {
      const run = await runCli(args);
      expect(run).toMatchObject({ code: 0, stderr: '' });
      expect(run.stdout).toMatch(/^Usage: x0x /);
    },
  );
});
