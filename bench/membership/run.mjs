#!/usr/bin/env node
// Membership benchmark (issue 3): how fast 50 agents form a connected overlay,
// how fast SWIM detects a SIGKILL, how many false suspicions a quiet network
// raises, and the memory one agent costs. Agents run several to a process
// (each its own QUIC endpoint on 127.0.0.1); figures are printed, not judged.
//
//   npm run bench:membership -- [--agents 50] [--per-process 10] [--steady 60] [--quick]
import { fork } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '50' },
    'per-process': { type: 'string', default: '10' },
    steady: { type: 'string', default: '60' },
    quick: { type: 'boolean', default: process.env.X0X_BENCH_QUICK === '1' },
  },
});
const quick = values.quick;
const total = quick ? 20 : Number(values.agents);
const perProcess = Number(values['per-process']);
const steadyS = quick ? 10 : Number(values.steady);
// The library defaults, stated so the figures can be read against them.
const config = { probeInterval: 1_000, suspectTimeout: 3_000 };

class Worker {
  constructor(name) {
    this.name = name;
    this.child = fork(path.join(here, 'worker.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.pending = new Map();
    this.nextId = 1;
    this.events = [];
    this.exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.on('message', (m) => {
      if (m.event === 'membership') {
        this.events.push(m);
        return;
      }
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`${this.name}: ${m.error}`));
    });
  }
  call(cmd, args) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, cmd, args });
    });
  }
}

function connected(ids, views) {
  const adj = new Map(ids.map((id) => [id, new Set()]));
  for (const [id, peers] of views) {
    for (const p of peers) {
      if (!adj.has(p)) continue;
      adj.get(id).add(p);
      adj.get(p).add(id);
    }
  }
  const seen = new Set([ids[0]]);
  const stack = [ids[0]];
  while (stack.length) for (const n of adj.get(stack.pop())) if (!seen.has(n)) (seen.add(n), stack.push(n));
  return seen.size === ids.length;
}

async function allViews(workers, ids) {
  const per = await Promise.all(workers.map((w) => w.call('views')));
  const views = new Map();
  per.forEach((vs, wi) => vs.forEach((v, ai) => views.set(ids[wi][ai], v)));
  return views;
}

const pct = (xs, q) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const processes = Math.ceil(total / perProcess);
console.log(`membership: ${total} agents in ${processes} processes, probeInterval ${config.probeInterval} ms, suspectTimeout ${config.suspectTimeout} ms`);
const workers = Array.from({ length: processes }, (_, i) => new Worker(`p${i}`));
try {
  const started = await Promise.all(
    workers.map((w, i) => w.call('start', { count: Math.min(perProcess, total - i * perProcess), config })),
  );
  const ids = started.map((s) => s.map((a) => a.id));
  const flat = ids.flat();
  const seeds = [started[0][0].addr, started[0][1]?.addr].filter(Boolean);

  // 1. Overlay formation: from the first join until the union of active views is connected.
  const t0 = performance.now();
  await workers[0].call('join', { bootstrap: [seeds[0]] });
  await Promise.all(workers.slice(1).map((w) => w.call('join', { bootstrap: seeds })));
  const joinedMs = performance.now() - t0;
  let views;
  for (;;) {
    views = await allViews(workers, ids);
    if (connected(flat, views)) break;
    if (performance.now() - t0 > 120_000) throw new Error('overlay not connected after 120 s');
    await sleep(100);
  }
  const formedMs = performance.now() - t0;
  const sizes = [...views.values()].map((v) => v.length);
  console.log(`  overlay formation: joins done ${joinedMs.toFixed(0)} ms, connected ${formedMs.toFixed(0)} ms; active view size min ${Math.min(...sizes)} median ${pct(sizes, 0.5)} max ${Math.max(...sizes)}`);

  // 2. Memory: RSS of each process divided by its agents.
  const mem = await Promise.all(workers.map((w) => w.call('stats')));
  const perAgent = mem.map((m, i) => m.rss / ids[i].length / 2 ** 20);
  console.log(`  memory: ${pct(perAgent, 0.5).toFixed(1)} MiB RSS per agent (median over processes; includes Node's own ~40 MiB per process shared by its agents)`);

  // 3. False suspicions: nobody fails during the steady window.
  const suspBefore = mem.flatMap((m) => m.stats.map((s) => s.suspicions)).reduce((a, b) => a + b, 0);
  const evBefore = workers.map((w) => w.events.length);
  await sleep(steadyS * 1000);
  const after = await Promise.all(workers.map((w) => w.call('stats')));
  const suspAfter = after.flatMap((m) => m.stats.map((s) => s.suspicions)).reduce((a, b) => a + b, 0);
  const lefts = workers.reduce((n, w, i) => n + w.events.slice(evBefore[i]).filter((e) => e.type === 'peer-left' && e.reason === 'failed').length, 0);
  console.log(`  steady state ${steadyS} s: ${suspAfter - suspBefore} false suspicions, ${lefts} false failures across ${total} agents`);

  // 4. Failure detection: SIGKILL the last process; time from the kill to
  //    each surviving neighbour's peer-left for each of its agents.
  views = await allViews(workers, ids);
  const victim = workers.at(-1);
  const victimIds = new Set(ids.at(-1));
  const survivors = workers.slice(0, -1);
  const expected = [];
  survivors.forEach((w, wi) =>
    ids[wi].forEach((id, ai) => {
      for (const p of views.get(id)) if (victimIds.has(p)) expected.push({ w, ai, peer: p });
    }),
  );
  const killedAt = Date.now();
  victim.child.kill('SIGKILL');
  await victim.exited;
  const found = () =>
    expected.map(({ w, ai, peer }) => w.events.find((e) => e.agent === ai && e.peer === peer && e.type === 'peer-left' && e.at >= killedAt));
  const deadline = Date.now() + 60_000;
  while (found().some((e) => e === undefined) && Date.now() < deadline) await sleep(200);
  const times = found().filter(Boolean).map((e) => e.at - killedAt);
  const suspectTimes = expected
    .map(({ w, ai, peer }) => w.events.find((e) => e.agent === ai && e.peer === peer && e.type === 'peer-suspected' && e.at >= killedAt))
    .filter(Boolean)
    .map((e) => e.at - killedAt);
  console.log(
    `  failure detection after SIGKILL of ${victimIds.size} agents: ${times.length}/${expected.length} neighbour links reported peer-left; ` +
      `suspected p50 ${pct(suspectTimes, 0.5)} ms p95 ${pct(suspectTimes, 0.95)} ms; left p50 ${pct(times, 0.5)} ms p95 ${pct(times, 0.95)} ms`,
  );
  // Per link, peer-left after that link's own peer-suspected (the goal is
  // at most suspectTimeout + 500 ms); and per dead agent, its first
  // suspicion by any neighbour, the SWIM paper's e/(e-1) measure.
  const events = expected.map(({ w, ai, peer }) => {
    const mine = w.events.filter((e) => e.agent === ai && e.peer === peer && e.at >= killedAt);
    return { peer, suspected: mine.find((e) => e.type === 'peer-suspected'), left: mine.find((e) => e.type === 'peer-left') };
  });
  const gaps = events.filter((e) => e.suspected && e.left).map((e) => e.left.at - e.suspected.at);
  const first = [...victimIds]
    .map((p) => Math.min(...events.filter((e) => e.peer === p && e.suspected).map((e) => e.suspected.at - killedAt)))
    .filter(Number.isFinite);
  console.log(
    `  per link, peer-left after its peer-suspected: p50 ${pct(gaps, 0.5)} ms, max ${Math.max(...gaps)} ms (suspectTimeout ${config.suspectTimeout} ms); ` +
      `first suspicion of each dead agent: p50 ${pct(first, 0.5)} ms, max ${Math.max(...first)} ms (${first.length} agents)`,
  );
  // Links that stayed silent: does the survivor still list the victim (a
  // detection gap), or did the link go before the kill (a stale snapshot)?
  const silent = expected.filter((_, i) => found()[i] === undefined);
  if (silent.length > 0) {
    const now = await allViews(survivors, ids.slice(0, -1));
    const stillListed = silent.filter(({ w, ai, peer }) => now.get(ids[workers.indexOf(w)][ai]).includes(peer)).length;
    const leftBefore = silent.filter(({ w, ai, peer }) =>
      w.events.some((e) => e.agent === ai && e.peer === peer && e.type === 'peer-left' && e.at < killedAt),
    ).length;
    console.log(`  silent links: ${silent.length}; ${stillListed} still list the dead agent, ${leftBefore} had left before the kill`);
  }
  await Promise.all(survivors.map((w) => w.call('close')));
} finally {
  for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
}
