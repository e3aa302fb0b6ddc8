// Logging: withLogger receives the TS-side lifecycle, membership and
// connection records and the Rust core's bridged `tracing` records;
// DEBUG=x0x:* prints both on stderr through `debug`, DEBUG=<one namespace>
// only that namespace; with DEBUG unset nothing is printed. Every child
// must exit by itself once its agents are closed (the Rust bridge's
// threadsafe function is weak).
import { spawn } from 'node:child_process';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { Agent } from '../../src/agent.js';
import type { LogRecord } from '../../src/logging.js';

const ROOT = path.join(__dirname, '..', '..');
const WAIT_MS = 20_000;

/** A logger that keeps records and resolves waits when a matching one arrives. */
function recorder() {
  const records: LogRecord[] = [];
  const waiters = new Set<() => void>();
  const logger = (record: LogRecord): void => {
    records.push(record);
    for (const w of waiters) w();
  };
  const waitFor = (match: (r: LogRecord) => boolean): Promise<LogRecord> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no such record within ${WAIT_MS} ms; got ${JSON.stringify(records)}`));
      }, WAIT_MS);
      const check = (): void => {
        const hit = records.find(match);
        if (hit === undefined) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(hit);
      };
      waiters.add(check);
      check();
    });
  return { records, logger, waitFor };
}

describe('withLogger', () => {
  it('receives the lifecycle, membership and connection records of its agent', async () => {
    const log = recorder();
    const seed = await Agent.builder().build();
    const agent = await Agent.builder().withLogger(log.logger).withBootstrapPeers(seed.listenAddrs).build();
    try {
      // The first TS-side record; Rust records of the start may come first.
      expect(log.records.find((r) => r.module === undefined)).toStrictEqual({
        level: 'info',
        target: 'x0x:agent',
        message: 'started',
        fields: { agentId: agent.agentId, addrs: agent.listenAddrs.join(',') },
      });
      await agent.joinNetwork({ signal: AbortSignal.timeout(WAIT_MS) });
      expect(log.records).toContainEqual({ level: 'info', target: 'x0x:agent', message: 'joined', fields: { seeds: 1 } });
      const joined = await log.waitFor((r) => r.target === 'x0x:membership' && r.message === 'peer-joined');
      expect(joined).toMatchObject({ level: 'info', fields: { peer: seed.agentId } });
      await log.waitFor((r) => r.target === 'x0x:transport' && r.message === 'connected' && r.fields.peer === seed.agentId);
    } finally {
      await agent.close();
      await seed.close();
    }
    expect(log.records.at(-1)).toStrictEqual({
      level: 'info',
      target: 'x0x:agent',
      message: 'closed',
      fields: { agentId: agent.agentId },
    });
  });

  it('receives the Rust membership records of a join, with level, target, module and fields', async () => {
    const log = recorder();
    const seed = await Agent.builder().build();
    const agent = await Agent.builder().withLogger(log.logger).withBootstrapPeers(seed.listenAddrs).build();
    try {
      await agent.joinNetwork({ signal: AbortSignal.timeout(WAIT_MS) });
      // saorsa-gossip prints a peer id as the first 8 bytes in hex. Rust
      // records are process-wide, so the seed's side of the join counts too.
      const ids = [seed.agentId.slice(0, 16), agent.agentId.slice(0, 16)];
      const added = await log.waitFor(
        (r) => r.module === 'saorsa_gossip_membership' && r.message === 'Added to active view',
      );
      expect(added).toStrictEqual({
        level: 'debug',
        target: 'x0x:membership',
        message: 'Added to active view',
        fields: { peer_id: expect.any(String) },
        module: 'saorsa_gossip_membership',
      });
      expect(ids).toContain(added.fields.peer_id);
      // The default level is debug: SWIM's trace records never arrive.
      expect(log.records.filter((r) => r.level === 'trace')).toStrictEqual([]);
    } finally {
      await agent.close();
      await seed.close();
    }
  });

  it('at level warn receives no Rust debug record', async () => {
    const quiet = recorder();
    const loud = recorder();
    const seed = await Agent.builder().withLogger(loud.logger).build();
    const agent = await Agent.builder()
      .withLogger(quiet.logger, { level: 'warn' })
      .withBootstrapPeers(seed.listenAddrs)
      .build();
    try {
      await agent.joinNetwork({ signal: AbortSignal.timeout(WAIT_MS) });
      await loud.waitFor((r) => r.module === 'saorsa_gossip_membership' && r.message === 'Added to active view');
    } finally {
      await agent.close();
      await seed.close();
    }
    expect(quiet.records.filter((r) => r.level !== 'error' && r.level !== 'warn')).toStrictEqual([]);
  });

  it('a logger that throws does not break the agent', async () => {
    const agent = await Agent.builder()
      .withLogger(() => {
        throw new Error('broken logger');
      })
      .build();
    await agent.joinNetwork();
    expect(await agent.publish('t', 'still works')).toMatch(/^[0-9a-f]{64}$/);
    await agent.close();
  });

  it('refuses a logger that is not a function', () => {
    expect(() => Agent.builder().withLogger('console' as never)).toThrow(TypeError);
  });
});

/** Two agents join; the child waits (through its own logger) until peer-joined was logged, then closes. */
const CHILD = `
const { Agent } = require('@x0x/node');
(async () => {
  let seen;
  const logged = new Promise((resolve) => (seen = resolve));
  const seed = await Agent.builder().build();
  const agent = await Agent.builder()
    .withBootstrapPeers(seed.listenAddrs)
    .withLogger((r) => { if (r.message === 'peer-joined') seen(); })
    .build();
  await agent.joinNetwork();
  await logged;
  await agent.close();
  await seed.close();
  console.log('done');
})();
`;

function runChild(
  env: NodeJS.ProcessEnv,
  script = CHILD,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { cwd: ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('DEBUG=x0x:*', () => {
  it('prints the TS-side records on stderr, one line each, with target and level', async () => {
    const run = await runChild({ ...process.env, DEBUG: 'x0x:*', DEBUG_COLORS: 'no' });
    expect(run).toMatchObject({ code: 0, stdout: 'done\n' });
    expect(run.stderr).toMatch(/ x0x:agent info started agentId=[0-9a-f]{64} /);
    expect(run.stderr).toMatch(/ x0x:agent info joined seeds=1\n/);
    expect(run.stderr).toMatch(/ x0x:membership info peer-joined peer=[0-9a-f]{64} addr=/);
    expect(run.stderr).toMatch(/ x0x:agent info closed agentId=/);
  });

  it('prints Rust records too: membership and transport', async () => {
    const run = await runChild({ ...process.env, DEBUG: 'x0x:*', DEBUG_COLORS: 'no' });
    expect(run).toMatchObject({ code: 0, stdout: 'done\n' });
    expect(run.stderr).toMatch(/ x0x:membership debug saorsa_gossip_membership: Added to active view peer_id=[0-9a-f]{16}/);
    expect(run.stderr).toMatch(/ x0x:transport (error|warn|info|debug) (ant_quic|saorsa_gossip_transport)[\w:]*: /);
    expect(run.stderr).not.toMatch(/ x0x:\S+ trace /);
  });

  it('DEBUG=x0x* (no colon, as the README also allows) prints TS and Rust records alike', async () => {
    const run = await runChild({ ...process.env, DEBUG: 'x0x*', DEBUG_COLORS: 'no' });
    expect(run).toMatchObject({ code: 0, stdout: 'done\n' });
    expect(run.stderr).toMatch(/ x0x:agent info started agentId=[0-9a-f]{64} /);
    expect(run.stderr).toMatch(/ x0x:membership debug saorsa_gossip_membership: /);
  });

  it('DEBUG=x0x:membership prints that target only, from TS and Rust', async () => {
    const run = await runChild({ ...process.env, DEBUG: 'x0x:membership', DEBUG_COLORS: 'no' });
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/ x0x:membership info peer-joined /);
    expect(run.stderr).toMatch(/ x0x:membership debug saorsa_gossip_membership: /);
    const namespaces = new Set([...run.stderr.matchAll(/ (x0x:\S+) (?:error|warn|info|debug) /g)].map((m) => m[1]));
    expect([...namespaces]).toStrictEqual(['x0x:membership']);
  });

  it('prints nothing when DEBUG is unset', async () => {
    const env = { ...process.env };
    delete env.DEBUG;
    const run = await runChild(env);
    expect(run).toStrictEqual({ code: 0, stdout: 'done\n', stderr: '' });
  });
});

/**
 * The agent shuts down through its runtime, not close(); the seed keeps
 * running with a logger of its own, so Rust records still flow in the
 * process. The child prints how many records the agent's logger got after
 * shutdown resolved, once the seed's logger has seen a Rust record of its
 * own after that moment (any still-attached logger would have got it too).
 */
const SHUTDOWN_CHILD = `
const { Agent } = require('@x0x/node');
(async () => {
  let down = false;
  let late = 0;
  let joined;
  const peerJoined = new Promise((resolve) => (joined = resolve));
  let rustAfter;
  const seedRustAfter = new Promise((resolve) => (rustAfter = resolve));
  const seed = await Agent.builder()
    .withLogger((r) => { if (down && r.module !== undefined) rustAfter(); })
    .build();
  const agent = await Agent.builder()
    .withBootstrapPeers(seed.listenAddrs)
    .withLogger((r) => { if (down) late += 1; if (r.message === 'peer-joined') joined(); })
    .build();
  await agent.joinNetwork();
  await peerJoined;
  await agent.runtime.shutdown();
  down = true;
  const guard = setTimeout(() => { console.log('the seed logged no Rust record after the shutdown'); process.exit(1); }, ${WAIT_MS});
  await seedRustAfter;
  clearTimeout(guard);
  await seed.close();
  console.log('late=' + late);
})();
`;

describe('runtime.shutdown()', () => {
  it('detaches the logger like close(), and the process exits by itself', async () => {
    const env = { ...process.env };
    delete env.DEBUG;
    const run = await runChild(env, SHUTDOWN_CHILD);
    expect(run).toStrictEqual({ code: 0, stdout: 'late=0\n', stderr: '' });
  });
});
