#!/usr/bin/env node
// How long Agent.close() takes, and whether the process then exits by itself.
//
//   npm run bench:close -- [--runs 5] [--peers 4] [--quick]
//
// Two cases, each run `--runs` times in fresh processes:
// - typical: an agent meshed with `--peers` live agents in other processes
//   closes while they stay up (it says goodbye to each);
// - dead peers: the same, but the peers are SIGKILLed just before the close,
//   so every goodbye and every QUIC close goes to a peer that is gone.
// Each figure is the time from calling close() to its promise resolving, and
// the time until the closing process has exited by itself (it holds no timer
// and no handle of its own once its agent is closed).
import { fork } from 'node:child_process';
import { once } from 'node:events';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    peers: { type: 'string', default: '4' },
    quick: { type: 'boolean', default: process.env.X0X_BENCH_QUICK === '1' },
    child: { type: 'string' },
  },
});

if (values.child !== undefined) {
  await child(values.child);
} else {
  await main();
}

/** One agent in this process, driven over IPC. */
async function child(role) {
  const { Agent } = await import('@x0x/node');
  const agent = await Agent.builder()
    .withBootstrapPeers(role === 'seed' ? [] : [role])
    .build();
  if (role !== 'seed') await agent.joinNetwork();
  process.send({ addr: agent.listenAddrs[0], id: agent.agentId });
  process.on('message', async (m) => {
    if (m.cmd === 'peers') {
      const peers = await agent.transport.connectedPeers();
      process.send({ peers: peers.length });
    } else if (m.cmd === 'close') {
      const t0 = performance.now();
      await agent.close();
      process.send({ closeMs: performance.now() - t0 });
      process.disconnect();
    }
  });
}

function spawn(role) {
  const p = fork(fileURLToPath(import.meta.url), ['--child', role], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return p;
}

async function ask(p, msg, key) {
  if (msg) p.send(msg);
  for (;;) {
    const [m] = await once(p, 'message');
    if (key in m) return m;
  }
}

async function oneRun(nPeers, killPeers) {
  const seed = spawn('seed');
  const { addr } = await ask(seed, null, 'addr');
  const peers = [];
  for (let i = 0; i < nPeers; i++) {
    const p = spawn(addr);
    await ask(p, null, 'addr');
    peers.push(p);
  }
  // Until the seed holds a connection to every peer.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { peers: n } = await ask(seed, { cmd: 'peers' }, 'peers');
    if (n >= nPeers || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (killPeers) {
    for (const p of peers) p.kill('SIGKILL');
    await Promise.all(peers.map((p) => (p.exitCode !== null || p.signalCode !== null ? null : once(p, 'exit'))));
  }
  const t0 = performance.now();
  const exited = once(seed, 'exit');
  const { closeMs } = await ask(seed, { cmd: 'close' }, 'closeMs');
  const [code] = await exited;
  const exitMs = performance.now() - t0;
  for (const p of peers) {
    if (p.exitCode === null && p.signalCode === null) {
      p.send({ cmd: 'close' });
      await once(p, 'exit');
    }
  }
  return { closeMs, exitMs, code };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main() {
  const runs = values.quick ? 3 : Number(values.runs);
  const nPeers = Number(values.peers);
  console.log(`close() benchmark: ${runs} runs per case, an agent with ${nPeers} peers, one process per agent`);
  console.log('  case         close() p50 ms   max ms   process exit p50 ms   max ms   exit codes');
  for (const [name, kill] of [['typical', false], ['dead peers', true]]) {
    const results = [];
    for (let i = 0; i < runs; i++) results.push(await oneRun(nPeers, kill));
    const close = results.map((r) => r.closeMs);
    const exit = results.map((r) => r.exitMs);
    console.log(
      `  ${name.padEnd(12)} ${median(close).toFixed(0).padStart(14)} ${Math.max(...close).toFixed(0).padStart(8)}` +
        ` ${median(exit).toFixed(0).padStart(21)} ${Math.max(...exit).toFixed(0).padStart(8)}   ${results.map((r) => r.code).join(',')}`,
    );
  }
}
