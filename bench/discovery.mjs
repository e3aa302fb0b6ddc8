#!/usr/bin/env node
// FOAF discovery benchmark (`npm run bench:discovery`): N agents in this
// process on 127.0.0.1, joined into an ordinary HyParView overlay. For
// queries from random origins to random targets it prints the success rate
// by hop distance (shortest path in the overlay at query time) and the
// messages each query cost (query frames sent, "seen" answers, answers sent
// and relayed, summed over every agent). The pairs are drawn a third each at
// 1, 2 and 3 hops, so the rare 3-hop pairs are measured too; when the overlay
// has no pair at the wanted distance, a random pair stands in. Then every agent registers with rendezvous
// (COORDINATORS of them advertise as coordinators and hold the records) and
// random agents look random agents up: it prints success, latency (p50, p99)
// and messages per lookup (requests sent plus holders' answers, summed over
// every agent). X0X_BENCH_QUICK=1 runs a small network; X0X_BENCH_FOAF_FANOUT
// sets foafFanout.
import { performance } from 'node:perf_hooks';

import { Agent } from '../dist/esm/index.mjs';

const quick = process.env.X0X_BENCH_QUICK === '1';
const N = quick ? 10 : 30;
const QUERIES = quick ? 15 : 120;
const MISS_TIMEOUT_MS = 3_000;
const LOOKUPS = quick ? 30 : 300;
const COORDINATORS = 3;
const fanout = process.env.X0X_BENCH_FOAF_FANOUT;
const config = { activeViewSize: 8, passiveViewSize: 64, ...(fanout ? { foafFanout: Number(fanout) } : {}) };

function pick(list) {
  return list[Math.floor(Math.random() * list.length)];
}

function totalMessages(agents) {
  let n = 0;
  for (const a of agents) {
    const s = a.discovery.stats();
    // `?? 0`: an addon from before "seen" answers has no such counter.
    n += s.queriesForwarded + (s.seenSent ?? 0) + s.repliesSent + s.repliesRelayed;
  }
  return n;
}

async function overlay(agents) {
  const index = new Map(agents.map((a, i) => [a.agentId, i]));
  const adj = agents.map(() => new Set());
  await Promise.all(
    agents.map(async (a, i) => {
      const ids = new Set([...(await a.membership.activeView()).map((p) => p.peerId), ...(await a.connectedPeers()).map((p) => p.peerId)]);
      for (const id of ids) {
        const j = index.get(id);
        if (j !== undefined) adj[i].add(j);
      }
    }),
  );
  return adj;
}

function distances(adj, from) {
  const dist = new Array(adj.length).fill(Infinity);
  dist[from] = 0;
  const queue = [from];
  while (queue.length > 0) {
    const u = queue.shift();
    for (const v of adj[u]) {
      if (dist[v] === Infinity) {
        dist[v] = dist[u] + 1;
        queue.push(v);
      }
    }
  }
  return dist;
}

/** A random (origin, target) pair `hops` apart, or any random pair if none is. */
function pairAt(adj, hops) {
  const pairs = [];
  for (let o = 0; o < adj.length; o++) {
    const dist = distances(adj, o);
    for (let t = 0; t < adj.length; t++) if (dist[t] === hops) pairs.push([o, t]);
  }
  if (pairs.length > 0) return pick(pairs);
  const o = Math.floor(Math.random() * adj.length);
  let t = Math.floor(Math.random() * (adj.length - 1));
  if (t >= o) t += 1;
  return [o, t];
}

const agents = [];
try {
  const configOf = (i) => ({ ...config, coordinator: i < COORDINATORS });
  const seed = await Agent.builder().withConfig(configOf(0)).build();
  await seed.joinNetwork();
  agents.push(seed);
  for (let i = 1; i < N; i++) {
    const boot = pick(agents).listenAddrs;
    const a = await Agent.builder().withConfig(configOf(i)).withBootstrapPeers(boot).build();
    await a.joinNetwork();
    agents.push(a);
  }
  // Let HyParView settle its views (a benchmark, not a test: a plain wait is fine).
  await new Promise((r) => setTimeout(r, quick ? 3_000 : 8_000));

  const byHops = new Map();
  const costs = [];
  const latencies = [];
  for (let q = 0; q < QUERIES; q++) {
    const adj = await overlay(agents);
    const [o, t] = pairAt(adj, 1 + (q % 3));
    const hops = distances(adj, o)[t];
    const before = totalMessages(agents);
    const started = performance.now();
    const found = await agents[o].discovery.findAgent(agents[t].agentId, { timeoutMs: MISS_TIMEOUT_MS });
    const ok = found !== null && found.addrs[0] === agents[t].listenAddrs[0];
    if (ok) latencies.push(performance.now() - started);
    // Stragglers (forwards after the answer) belong to this query too.
    await new Promise((r) => setTimeout(r, 200));
    costs.push(totalMessages(agents) - before);
    const row = byHops.get(hops) ?? { tried: 0, found: 0 };
    row.tried += 1;
    if (ok) row.found += 1;
    byHops.set(hops, row);
  }

  const pct = (xs, p) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
  };
  const { foafTtl, foafFanout } = agents[0].config;
  console.log(`FOAF discovery: N=${N} agents, ${QUERIES} queries, foafTtl=${foafTtl}, foafFanout=${foafFanout}, activeViewSize=${config.activeViewSize}`);
  console.log('hops  tried  found  success');
  for (const hops of [...byHops.keys()].sort((a, b) => a - b)) {
    const { tried, found } = byHops.get(hops);
    console.log(`${String(hops).padStart(4)}  ${String(tried).padStart(5)}  ${String(found).padStart(5)}  ${((100 * found) / tried).toFixed(1).padStart(6)}%`);
  }
  const mean = costs.reduce((a, b) => a + b, 0) / costs.length;
  console.log(`messages per query: mean ${mean.toFixed(1)}, p50 ${pct(costs, 50)}, max ${Math.max(...costs)} (query frames, "seen" answers, answers sent and relayed)`);
  console.log(`latency of successful lookups: p50 ${pct(latencies, 50).toFixed(1)} ms, p99 ${pct(latencies, 99).toFixed(1)} ms`);

  await rendezvous(agents, pct);
} finally {
  await Promise.all(agents.map((a) => a.close()));
}

function rendezvousMessages(agents) {
  let n = 0;
  for (const a of agents) {
    const s = a.rendezvous.stats();
    n += s.requestsSent + s.lookupsServed + s.storesAccepted + s.invalidRejected + s.staleRejected + s.fullRejected;
  }
  return n;
}

async function rendezvous(agents, pct) {
  const deadline = Date.now() + 60_000;
  while (agents.some((a) => a.coordinators.getCoordinators().length < COORDINATORS)) {
    if (Date.now() > deadline) throw new Error('coordinator adverts did not reach every agent within 60 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  const registerTimes = [];
  for (const a of agents) {
    const started = performance.now();
    await a.rendezvous.register();
    registerTimes.push(performance.now() - started);
  }
  const latencies = [];
  const costs = [];
  let found = 0;
  for (let q = 0; q < LOOKUPS; q++) {
    const o = Math.floor(Math.random() * N);
    let t = Math.floor(Math.random() * (N - 1));
    if (t >= o) t += 1;
    const before = rendezvousMessages(agents);
    const started = performance.now();
    const where = await agents[o].rendezvous.lookup(agents[t].agentId, { timeoutMs: MISS_TIMEOUT_MS });
    latencies.push(performance.now() - started);
    costs.push(rendezvousMessages(agents) - before);
    if (where !== null && where.addrs[0] === agents[t].listenAddrs[0]) found += 1;
  }
  const mean = costs.reduce((a, b) => a + b, 0) / costs.length;
  console.log(`\nRendezvous: N=${N} agents, ${COORDINATORS} coordinators, rendezvousReplicas=3, all ${N} registered, ${LOOKUPS} lookups`);
  console.log(`register: p50 ${pct(registerTimes, 50).toFixed(1)} ms, p99 ${pct(registerTimes, 99).toFixed(1)} ms`);
  console.log(`lookups found: ${found}/${LOOKUPS} (${((100 * found) / LOOKUPS).toFixed(1)}%)`);
  console.log(`lookup latency: p50 ${pct(latencies, 50).toFixed(1)} ms, p99 ${pct(latencies, 99).toFixed(1)} ms`);
  console.log(`messages per lookup: mean ${mean.toFixed(1)}, max ${Math.max(...costs)} (bound: 2 x rendezvousReplicas = 6)`);
}
