// TS-side logging: withLogger receives lifecycle, membership and connection
// records; DEBUG=x0x:* prints them on stderr through `debug`; with DEBUG
// unset nothing is printed.
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
      expect(log.records[0]).toStrictEqual({
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

function runChild(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', CHILD], { cwd: ROOT, env });
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

  it('DEBUG=x0x:membership prints that target only', async () => {
    const run = await runChild({ ...process.env, DEBUG: 'x0x:membership', DEBUG_COLORS: 'no' });
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/ x0x:membership info peer-joined /);
    expect(run.stderr).not.toContain('x0x:agent');
  });

  it('prints nothing when DEBUG is unset', async () => {
    const env = { ...process.env };
    delete env.DEBUG;
    const run = await runChild(env);
    expect(run).toStrictEqual({ code: 0, stdout: 'done\n', stderr: '' });
  });
});
