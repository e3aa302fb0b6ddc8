#!/usr/bin/env node
// Pub/sub benchmark: x0x against js-libp2p gossipsub, on loopback, one
// process per node, both on the Node 22 of bench/libp2p (npm package `node`).
//
//   node bench/pubsub/run.mjs [--full | --quick] [--nodes=10,30] [--payloads=256,4096,65536]
//        [--publishers=one,many] [--stacks=x0x,libp2p-tcp,libp2p-quic]
//        [--messages=N] [--rate=MSGS_PER_SEC] [--settle=MS] [--anti-entropy] [--json=FILE] [--no-netns]
//
// x0x runs with background anti-entropy off (one round an hour) unless
// --anti-entropy is given, so a delivery ratio below 1 is Plumtree's own
// loss and no repair wait follows; with --anti-entropy it runs at the
// library default (30 s) and a lossy case waits for repair.
//
// The default set fits in about 5 minutes on 2 cores: x0x and libp2p-tcp,
// every payload at N = 10, 4 KiB at N = 30. --full runs every case of the
// issue on all three stacks with larger cases.
//
// One case = one stack, N nodes all subscribed to one topic, one payload size,
// one publisher (node 1) or every node publishing. Publishers publish back to
// back, each publish awaited, as an application loop would; with --rate, the
// case's messages are spread over time at that total rate instead. See README.md
// beside bench/ for what each figure means.
import { execFileSync, fork, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const libp2pDir = path.join(here, '..', 'libp2p');
const node22 = path.join(libp2pDir, 'node_modules', 'node', 'bin', 'node');

const STACKS = {
  x0x: { script: path.join(here, 'x0x-node.mjs'), env: {} },
  'libp2p-tcp': { script: path.join(libp2pDir, 'node.mjs'), env: { X0X_BENCH_LIBP2P_TRANSPORT: 'tcp' } },
  'libp2p-quic': { script: path.join(libp2pDir, 'node.mjs'), env: { X0X_BENCH_LIBP2P_TRANSPORT: 'quic' } },
};
/**
 * Deliveries a case aims at (messages x (N - 1)), by payload size, so that N=30
 * costs about what N=10 does.
 */
const DEFAULT_DELIVERIES = { 256: 900, 4096: 900, 65536: 360 };
/** The same, for `--full`. */
const FULL_DELIVERIES = { 256: 2_400, 4096: 2_400, 65536: 900 };
/** Deliveries a case aims at when its payload size has no entry above. */
const FALLBACK_DELIVERIES = 1_800;
/**
 * Bytes one payload transmission adds on top of the payload, before QUIC/TCP
 * framing: x0x's envelope (ML-DSA-65 signature 3,309 + publisher id 32 + 29;
 * the publisher's key is fetched once per publisher, not carried) plus
 * Plumtree's header (about 110 bytes; its frames carry no signature or key
 * of their own, QUIC authenticates each hop); a gossipsub StrictSign message
 * (Ed25519 signature, key in the peer id, seqno, topic, protobuf) is about 200.
 */
const FRAME_OVERHEAD = { x0x: 3_370 + 110, 'libp2p-tcp': 200, 'libp2p-quic': 200 };
/**
 * Earlier nodes (the seed among them) a libp2p node dials; a user would run a
 * discovery service. Three random ones give a connected graph in which
 * gossipsub forms its mesh at N = 30 on 2 cores; five, each with the seed,
 * overloaded the seed and the overlay never formed.
 */
const LIBP2P_DIALS = 3;
const CALL_TIMEOUT_MS = 120_000;
/**
 * How long a new network may take to deliver a probe round everywhere. The
 * default run gives up sooner, so that an overlay that does not form (libp2p
 * at N = 30, see README.md) does not eat the time budget.
 */
const DEFAULT_WARMUP_MS = Number(process.env.X0X_BENCH_WARMUP_MS ?? 90_000);
const FULL_WARMUP_MS = Number(process.env.X0X_BENCH_WARMUP_MS ?? 180_000);
/**
 * The idle cost of a fresh network is measured over IDLE_WINDOW_MS starting
 * IDLE_AFTER_MS after the warm-up, once the warm-up's own tail (IHAVE
 * rounds, acknowledgements) has passed: the issue's "30 s after".
 */
const IDLE_AFTER_MS = 25_000;
const IDLE_WINDOW_MS = 10_000;
/** Bound of the probe round that checks the overlay before each case. */
const HEALTH_TIMEOUT_MS = 60_000;
/** How long one warm-up round waits for its probes before the next round. */
const PROBE_ROUND_MS = 15_000;
/** A case ends when no node has received anything new for this long. */
const IDLE_MS = 10_000;
const CASE_CAP_MS = 300_000;
/**
 * After a case that lost messages, how long a stack with anti-entropy may
 * take to repair them: two rounds of x0x's default `antiEntropyInterval`
 * (30 s) plus slack. gossipsub has no such repair; its IHAVE gossip acts
 * within the case's own quiet wait.
 */
const SETTLE_MS = { x0x: 70_000 };
/** x0x's `antiEntropyInterval` without --anti-entropy: no round during a run. */
const NO_ANTI_ENTROPY_MS = 3_600_000;

function parseArgs(argv) {
  const opts = {
    quick: false,
    full: false,
    nodes: [10, 30],
    payloads: [256, 4096, 65536],
    /** Payloads per node count, when they differ (the default run); else `payloads` for all. */
    payloadsByN: undefined,
    publishers: ['one', 'many'],
    stacks: ['x0x', 'libp2p-tcp'],
    deliveries: DEFAULT_DELIVERIES,
    warmupMs: DEFAULT_WARMUP_MS,
    messages: undefined,
    json: undefined,
    rate: 0,
    settleMs: undefined,
    antiEntropy: false,
    netns: true,
  };
  const list = (v) => v.split(',').filter(Boolean);
  for (const arg of argv) {
    const [key, value = ''] = arg.replace(/^--/, '').split('=');
    switch (key) {
      case 'quick':
        opts.quick = true;
        break;
      case 'full':
        opts.full = true;
        break;
      case 'nodes':
        opts.nodes = list(value).map(Number);
        break;
      case 'payloads':
        opts.payloads = list(value).map(Number);
        break;
      case 'publishers':
        opts.publishers = list(value);
        break;
      case 'stacks':
        opts.stacks = list(value);
        break;
      case 'messages':
        opts.messages = Number(value);
        break;
      case 'rate':
        opts.rate = Number(value);
        break;
      case 'json':
        opts.json = value;
        break;
      case 'settle':
        opts.settleMs = Number(value);
        break;
      case 'no-netns':
        opts.netns = false;
        break;
      case 'anti-entropy':
        opts.antiEntropy = true;
        break;
      default:
        throw new Error(`unknown option ${arg}`);
    }
  }
  const given = (name) => argv.some((a) => a.startsWith(`--${name}`));
  if (opts.full) {
    // Every case of the issue on every stack, with the large message counts.
    if (!given('stacks')) opts.stacks = Object.keys(STACKS);
    opts.deliveries = FULL_DELIVERIES;
    opts.warmupMs = FULL_WARMUP_MS;
  } else if (opts.quick) {
    if (!given('nodes')) opts.nodes = [10];
    if (opts.messages === undefined) opts.messages = 100;
  } else if (!given('nodes') && !given('payloads')) {
    // Default run: every payload at N = 10, the 4 KiB goal case at N = 30
    // (30 processes on a 2-core box make every N = 30 case slow).
    opts.payloadsByN = { 10: [256, 4096, 65536], 30: [4096] };
  }
  for (const n of opts.nodes) if (!Number.isInteger(n) || n < 2) throw new Error(`--nodes: ${n} is not an integer >= 2`);
  for (const p of opts.payloads) if (!Number.isInteger(p) || p < 32) throw new Error(`--payloads: ${p} is not an integer >= 32`);
  for (const p of opts.publishers) if (p !== 'one' && p !== 'many') throw new Error(`--publishers: ${p} is not one|many`);
  for (const s of opts.stacks) if (!(s in STACKS)) throw new Error(`--stacks: ${s} is not one of ${Object.keys(STACKS)}`);
  if (!Number.isFinite(opts.rate) || opts.rate < 0) throw new Error(`--rate: ${opts.rate} is not a number >= 0`);
  if (opts.settleMs !== undefined && !(Number.isInteger(opts.settleMs) && opts.settleMs >= 0)) {
    throw new Error(`--settle: ${opts.settleMs} is not an integer >= 0 (milliseconds)`);
  }
  if (opts.messages !== undefined && (!Number.isInteger(opts.messages) || opts.messages < 1)) {
    throw new Error(`--messages: ${opts.messages} is not an integer >= 1`);
  }
  return opts;
}

/**
 * Installs bench/libp2p (libp2p stack and Node 22) on first run, at the
 * versions of its lockfile. `npm install`, not `npm ci`: npm 11's `ci`
 * rejects this lockfile for the other platforms' optional QUIC binaries.
 */
function ensureBenchPackages() {
  if (existsSync(node22) && existsSync(path.join(libp2pDir, 'node_modules', 'libp2p'))) return;
  console.log('installing bench/libp2p (js-libp2p stack and Node 22), first run only ...');
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefix', libp2pDir], { stdio: 'inherit' });
}

/**
 * Re-runs this script in a private network namespace when possible (Linux,
 * root), so loopback byte counters see only this benchmark's traffic.
 * Returns true when it did (and the child's run is over).
 */
function reexecInNetns(opts) {
  if (!opts.netns || process.env.X0X_BENCH_NETNS !== undefined) return false;
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  if (spawnSync('unshare', ['-n', 'true']).status !== 0) return false;
  const res = spawnSync(
    'unshare',
    ['-n', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', process.execPath, ...process.argv.slice(1)],
    { stdio: 'inherit', env: { ...process.env, X0X_BENCH_NETNS: '1' } },
  );
  if (res.status === null && res.signal !== null) process.kill(process.pid, res.signal);
  process.exitCode = res.status ?? 1;
  return true;
}

/** Bytes sent on `lo`, when this process has the namespace to itself; otherwise null. */
function loopbackTxBytes() {
  if (process.env.X0X_BENCH_NETNS === undefined) return null;
  const line = readFileSync('/proc/net/dev', 'utf8')
    .split('\n')
    .find((l) => l.trim().startsWith('lo:'));
  if (line === undefined) return null;
  // Receive: bytes packets errs drop fifo frame compressed multicast | Transmit: bytes ...
  return Number(line.trim().split(/\s+/)[9]);
}

/** One benchmark node in its own process, driven over IPC. */
class BenchNode {
  constructor(stack, index) {
    this.index = index;
    this.name = `${stack}#${index}`;
    this.log = '';
    this.pending = new Map();
    this.nextId = 1;
    this.onEvent = () => {};
    this.child = fork(STACKS[stack].script, [], {
      execPath: node22,
      execArgv: [],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, ...STACKS[stack].env },
      serialization: 'json',
    });
    const append = (chunk) => {
      this.log = (this.log + chunk.toString()).slice(-16_384);
    };
    this.child.stdout.on('data', append);
    this.child.stderr.on('data', append);
    this.child.on('message', (m) => {
      if (m.event !== undefined) {
        this.onEvent(m);
        return;
      }
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`${this.name} ${p.cmd}: ${m.error}`));
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        for (const p of this.pending.values()) {
          clearTimeout(p.timer);
          p.reject(new Error(`${this.name} exited (code ${code}, signal ${signal}) during ${p.cmd}\n${this.log}`));
        }
        this.pending.clear();
        resolve({ code, signal });
      });
    });
  }

  call(cmd, args = {}, timeoutMs = CALL_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name} ${cmd}: no reply within ${timeoutMs} ms\n${this.log}`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, cmd });
      if (!this.child.connected) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new Error(`${this.name} ${cmd}: process is gone\n${this.log}`));
        return;
      }
      this.child.send({ id, cmd, args });
    });
  }

  /** Closes the stack and waits for the process to end; SIGKILL if it lingers. */
  async stop() {
    await this.call('close', {}, 20_000).catch(() => {});
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function sample(items, k) {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i -= 1) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy.slice(0, k);
}

/** Starts `n` nodes of `stack`, connects them, subscribes all to `topic` and waits for the overlay. */
async function startNetwork(stack, n, topic, warmupMs, antiEntropy) {
  const nodes = Array.from({ length: n }, (_, i) => new BenchNode(stack, i));
  try {
    if (stack === 'x0x') {
      const config = antiEntropy ? {} : { antiEntropyInterval: NO_ANTI_ENTROPY_MS };
      const seed = await nodes[0].call('start', { index: 0, config });
      nodes[0].addrs = seed.addrs;
      await Promise.all(
        nodes.slice(1).map(async (node) => {
          node.addrs = (await node.call('start', { index: node.index, bootstrap: seed.addrs, config })).addrs;
        }),
      );
      // Joined one after the other, as the test harness does.
      for (const node of nodes.slice(1)) await node.call('connect');
    } else {
      await Promise.all(
        nodes.map(async (node) => {
          node.addrs = (await node.call('start', { index: node.index })).addrs;
        }),
      );
      // A connected random graph: the seed plus a few earlier nodes each.
      for (const node of nodes.slice(1)) {
        const peers = sample(nodes.slice(0, node.index), LIBP2P_DIALS);
        await node.call('connect', { addrs: peers.map((p) => p.addrs[0]) });
      }
    }
    await Promise.all(nodes.map((node) => node.call('subscribe', { topic })));
    // gossipsub has no membership protocol to repair a node whose few
    // links never joined a mesh: after a short round, such a node dials
    // LIBP2P_DIALS more nodes, as an application would re-bootstrap.
    const heal =
      stack === 'x0x'
        ? undefined
        : async (unheard) => {
            for (const node of unheard) {
              console.log(`  (${stack} N=${n} warm-up: node${node.index}'s probe reached at most one node; it dials ${LIBP2P_DIALS} more)`);
              const others = nodes.filter((o) => o !== node);
              await node.call('connect', { addrs: sample(others, LIBP2P_DIALS).map((p) => p.addrs[0]) }).catch(() => {});
            }
          };
    await warmUp(nodes, warmupMs, stack === 'x0x' ? 'every-pair' : 'every-node', heal);
    return nodes;
  } catch (err) {
    await Promise.all(nodes.map((node) => node.stop()));
    throw err;
  }
}

/**
 * Probe rounds: every node publishes one probe, then the round waits (up to
 * PROBE_ROUND_MS) until every node has seen every other node's probe
 * (`every-pair`, x0x) or at least one other node's probe (`every-node`,
 * libp2p: gossipsub's mesh at N = 30 on 2 cores keeps missing a few pairs for
 * minutes, yet delivers the measured traffic). A round that falls short is
 * followed by another; rounds are spaced so that probes never pile up faster
 * than a slow stack delivers them. A missed delivery still shows in the
 * case's delivery ratio.
 */
let nextProbeRound = 0;

async function warmUp(nodes, timeoutMs, criterion, heal) {
  const deadline = Date.now() + timeoutMs;
  let missing = nodes.length;
  let unheard = [];
  while (Date.now() < deadline) {
    // Round numbers are never reused: nodes remember the probes of every round.
    const round = nextProbeRound++;
    await Promise.all(nodes.map((node) => node.call('probe', { round })));
    const roundEnd = Math.min(deadline, Date.now() + PROBE_ROUND_MS);
    do {
      await sleep(250);
      const seen = await Promise.all(nodes.map((node) => node.call('probeStatus', { round })));
      missing = nodes.filter((node, i) =>
        criterion === 'every-pair'
          ? nodes.some((o) => o !== node && !seen[i].includes(o.index))
          : !nodes.some((o) => o !== node && seen[i].includes(o.index)),
      ).length;
      if (missing === 0) return;
      // For the error: whose probes went missing, and at how many nodes.
      unheard = nodes
        .map((o) => ({ o, at: nodes.filter((node, i) => node !== o && !seen[i].includes(o.index)).length }))
        .filter((x) => x.at > 0)
        .sort((a, b) => b.at - a.at)
        .map((x) => `node${x.o.index} at ${x.at}`);
    } while (Date.now() < roundEnd);
    // Nodes whose probe reached at most one other node are cut off.
    if (heal !== undefined) {
      const seen = await Promise.all(nodes.map((node) => node.call('probeStatus', { round })));
      const cutOff = nodes.filter((o) => nodes.filter((node, i) => node !== o && seen[i].includes(o.index)).length <= 1);
      if (cutOff.length > 0) await heal(cutOff);
    }
  }
  throw new Error(
    `overlay not formed after ${timeoutMs} ms: ${missing} of ${nodes.length} nodes miss probes ` +
      `(probes unheard: ${unheard.slice(0, 8).join(', ')}${unheard.length > 8 ? ', ...' : ''})`,
  );
}

/** Background cost of a subscribed, warmed-up network with no traffic. */
async function measureIdle(nodes) {
  const usage = () => Promise.all(nodes.map((node) => node.call('usage')));
  await sleep(IDLE_AFTER_MS);
  const before = await usage();
  const wire0 = loopbackTxBytes();
  const t0 = Date.now();
  await sleep(IDLE_WINDOW_MS);
  const after = await usage();
  const wire1 = loopbackTxBytes();
  const secs = (Date.now() - t0) / 1000;
  const cpuMs = after.reduce((a, u, i) => a + u.cpuMs - before[i].cpuMs, 0);
  return {
    cpuMsPerSec: cpuMs / secs,
    wireKiBPerSec: wire0 === null || wire1 === null ? null : (wire1 - wire0) / 1024 / secs,
    rssMeanMiB: after.reduce((a, u) => a + u.rssBytes, 0) / after.length / 2 ** 20,
  };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

let nextCaseId = 1;

async function runCase(nodes, { payload, publishers, messages, rate, settleMs }) {
  const caseId = nextCaseId++;
  const pubs = publishers === 'one' ? [nodes[1]] : nodes;
  const perPublisher = Math.max(1, Math.round(messages / pubs.length));
  const total = perPublisher * pubs.length;
  const done = new Set();
  for (const node of nodes) {
    node.onEvent = (e) => {
      if (e.event === 'done' && e.caseId === caseId) done.add(node.index);
    };
  }
  await Promise.all(
    nodes.map((node) =>
      node.call('beginCase', { caseId, expected: total - (pubs.includes(node) ? perPublisher : 0) }),
    ),
  );
  const wire0 = loopbackTxBytes();
  const published = await Promise.all(
    pubs.map((node) =>
      node.call(
        'publish',
        { caseId, count: perPublisher, size: payload, intervalMs: rate > 0 ? (1000 * pubs.length) / rate : 0 },
        CASE_CAP_MS,
      ),
    ),
  );
  // Wait for every node to have everything, or for the network to go quiet.
  const capAt = Date.now() + CASE_CAP_MS;
  let last = -1;
  let quietSince = Date.now();
  while (done.size < nodes.length && Date.now() < capAt) {
    await sleep(250);
    const progress = (await Promise.all(nodes.map((node) => node.call('progress')))).reduce((a, b) => a + b, 0);
    if (progress !== last) {
      last = progress;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= IDLE_MS) {
      break;
    }
  }
  const wire1 = loopbackTxBytes();
  const ends = await Promise.all(nodes.map((node) => node.call('endCase')));
  const delivered = ends.reduce((a, e) => a + e.delivered, 0);
  const expected = ends.reduce((a, e) => a + e.expected, 0);
  const latencies = ends.flatMap((e) => e.latencies).sort((a, b) => a - b);
  const startedAt = Math.min(...published.map((p) => p.startedAt));
  const lastDeliveryAt = Math.max(...ends.map((e) => e.lastDeliveryAt));
  const cpuMs = ends.reduce((a, e) => a + e.cpuMs, 0);
  const tx = ends.every((e) => e.transmissions !== null) ? ends.reduce((a, e) => a + e.transmissions, 0) : null;
  const rss = ends.map((e) => e.rssBytes);
  // A stack with anti-entropy (x0x) gets a bounded wait to repair what the
  // burst lost; the figures above stay those of the burst itself.
  let repair = null;
  let final = ends;
  if (delivered < expected && settleMs > 0) {
    const t0 = Date.now();
    while (done.size < nodes.length && Date.now() - t0 < settleMs) await sleep(500);
    final = await Promise.all(nodes.map((node) => node.call('endCase')));
    repair = { delivered: final.reduce((a, e) => a + e.delivered, 0), waitedMs: Date.now() - t0 };
  }
  // Who missed what from whom, to tell a lost message from a slow one.
  const missingIn = (list) => {
    const out = [];
    list.forEach((e, i) => {
      for (const p of pubs) {
        if (p.index === i) continue;
        const got = e.fromPublisher[p.index] ?? 0;
        if (got < perPublisher) out.push({ receiver: i, publisher: p.index, missed: perPublisher - got });
      }
    });
    return out;
  };
  const missing = missingIn(ends);
  // Lower-layer counters summed over nodes, for the whole case (repair wait included).
  let counters = null;
  if (final.every((e) => e.counters !== null)) {
    counters = {};
    for (const e of final) for (const [k, v] of Object.entries(e.counters)) counters[k] = (counters[k] ?? 0) + v;
  }
  return {
    payload,
    publishers,
    publisherCount: pubs.length,
    messages: total,
    delivered,
    expected,
    deliveryRatio: delivered / expected,
    deliveriesPerSec: delivered > 0 ? delivered / ((lastDeliveryAt - startedAt) / 1000) : 0,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    cpuMsPer1k: delivered > 0 ? (cpuMs / delivered) * 1000 : NaN,
    txPerDelivery: tx !== null && delivered > 0 ? tx / delivered : null,
    wireBytesPerDelivery: wire0 !== null && wire1 !== null && delivered > 0 ? (wire1 - wire0) / delivered : null,
    rssMeanMiB: rss.reduce((a, b) => a + b, 0) / rss.length / 2 ** 20,
    rssMaxMiB: Math.max(...rss) / 2 ** 20,
    appDuplicates: ends.reduce((a, e) => a + e.appDuplicates, 0),
    publishErrors: published.reduce((a, p) => a + p.errors, 0),
    lastPublishError: published.find((p) => p.errors > 0)?.lastError,
    repairedRatio: repair === null ? null : repair.delivered / expected,
    repairWaitMs: repair?.waitedMs ?? null,
    missing,
    missingAfterRepair: repair === null ? null : missingIn(final),
    counters,
    lossyNodeStats: [...new Set(missing.map((m) => m.receiver))].map((i) => ({
      node: i,
      stats: ends[i].stackStats,
      counters: ends[i].counters,
    })),
  };
}

const fmt = (v, digits = 0) => (v === null || v === undefined || Number.isNaN(v) ? 'n/a' : v.toFixed(digits));
const sizeLabel = (b) => (b >= 1024 ? `${b / 1024}KiB` : `${b}B`);
const COLUMNS = [
  ['stack', 12, (r) => r.stack],
  ['N', 3, (r) => String(r.n)],
  ['payload', 8, (r) => sizeLabel(r.payload)],
  ['pubs', 4, (r) => String(r.publisherCount)],
  ['msgs', 5, (r) => String(r.messages)],
  ['deliv/s', 8, (r) => fmt(r.deliveriesPerSec)],
  ['ratio', 6, (r) => fmt(r.deliveryRatio, 4)],
  ['repaired', 8, (r) => (r.repairedRatio === null ? '-' : fmt(r.repairedRatio, 4))],
  ['p50 ms', 8, (r) => fmt(r.p50Ms, 1)],
  ['p99 ms', 8, (r) => fmt(r.p99Ms, 1)],
  ['cpu ms/1k', 9, (r) => fmt(r.cpuMsPer1k)],
  ['tx/deliv', 8, (r) => fmt(r.txPerDelivery, 2)],
  ['wire KiB/deliv', 14, (r) => (r.wireBytesPerDelivery === null ? 'n/a' : fmt(r.wireBytesPerDelivery / 1024, 1))],
  ['frames/deliv', 12, (r) => (r.wireBytesPerDelivery === null ? 'n/a' : fmt(r.wireBytesPerDelivery / (r.payload + FRAME_OVERHEAD[r.stack]), 2))],
  ['RSS MiB', 8, (r) => fmt(r.rssMeanMiB)],
  ['app dups', 8, (r) => String(r.appDuplicates)],
];

function printHeader() {
  console.log(COLUMNS.map(([h, w]) => h.padStart(w)).join(' '));
}

function printRow(r) {
  console.log(COLUMNS.map(([, w, get]) => get(r).padStart(w)).join(' '));
  if (r.publishErrors > 0) console.log(`    ${r.publishErrors} publishes failed, last: ${r.lastPublishError}`);
  if (r.counters !== null) {
    const shown = Object.entries(r.counters).filter(
      ([k, v]) => v !== 0 && (LOSS_COUNTERS.has(k) || k.startsWith('transport.closed.')),
    );
    if (shown.length > 0) console.log(`    counters, all nodes: ${shown.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  }
}

/** Lower-layer x0x counters that can explain a lost message; printed under a case when not zero. */
const LOSS_COUNTERS = new Set([
  'transport.sendFailures',
  'transport.framesRejected',
  'transport.disconnects',
  'transport.readerExits',
  'transport.replaced',
  'transport.stuckSends',
  'pubsub.publishRetries',
  'transport.inboundHighWater',
  'transport.outboxWaits',
  'plumtree.decodeFailed',
  'plumtree.perPeerTimeouts',
  'plumtree.budgetExhausted',
  'plumtree.zeroFanoutPublishes',
  'plumtree.zeroSucceededPublishes',
  'plumtree.droppedCriticalHardError',
  'plumtree.droppedCriticalCooling',
  'plumtree.droppedCriticalNoTarget',
]);

/**
 * The crypto floor of one delivery on this machine: one ML-DSA-65 verify and
 * one BLAKE3 of the payload (x0x-core's `crypto_floor` example, the backend the
 * agents run), plus a share of the publisher's one sign. `null` without cargo.
 */
function measureFloor(payloads) {
  const floors = new Map();
  for (const payload of payloads) {
    const run = spawnSync(
      'cargo',
      ['run', '--quiet', '--release', '--locked', '-p', 'x0x-core', '--example', 'crypto_floor', '--', String(payload)],
      { cwd: path.join(here, '..', '..'), encoding: 'utf8' },
    );
    if (run.status !== 0) return null;
    floors.set(payload, JSON.parse(run.stdout.trim().split('\n').pop()));
  }
  return floors;
}

function printFloor(results, floors) {
  if (floors === null) {
    console.log('\ncrypto floor: not measured (cargo unavailable)');
    return;
  }
  console.log('\nx0x CPU per 1,000 deliveries against the crypto floor (one verify + one BLAKE3 per delivery, one sign per message)');
  const any = [...floors.values()][0];
  if (any !== undefined) {
    console.log(
      `  ML-DSA-65, aws-lc-rs (x0x) vs saorsa-pqc (before), same run: sign ${fmt(any.saorsaPqcSignUs / any.signUs, 1)}x, ` +
        `verify ${fmt(any.saorsaPqcVerifyUs / any.verifyUs, 1)}x faster`,
    );
  }
  for (const r of results.filter((x) => x.stack === 'x0x')) {
    const f = floors.get(r.payload);
    if (f === undefined) continue;
    const floorMs = (f.verifyUs + f.blake3Us + (f.signUs * r.messages) / r.expected) * 1000 / 1000;
    console.log(
      `  N=${r.n} ${sizeLabel(r.payload)} pubs=${r.publisherCount}: measured ${fmt(r.cpuMsPer1k)} ms, floor ${fmt(floorMs, 1)} ms ` +
        `(sign ${fmt(f.signUs)} us, verify ${fmt(f.verifyUs)} us, BLAKE3 ${fmt(f.blake3Us, 1)} us) = ${fmt(r.cpuMsPer1k / floorMs, 1)}x floor`,
    );
  }
}

function printRatios(results) {
  const others = [...new Set(results.map((r) => r.stack))].filter((s) => s !== 'x0x');
  if (others.length === 0 || !results.some((r) => r.stack === 'x0x')) return;
  console.log('\nx0x / libp2p (throughput > 1 is better for x0x; p99, CPU, RSS < 1 are better for x0x)');
  console.log(['vs', 'N', 'payload', 'pubs', 'deliv/s', 'p99', 'cpu/1k', 'RSS'].map((h, i) => h.padStart([12, 3, 8, 4, 8, 8, 8, 8][i])).join(' '));
  for (const other of others) {
    for (const r of results.filter((x) => x.stack === 'x0x')) {
      const o = results.find(
        (x) => x.stack === other && x.n === r.n && x.payload === r.payload && x.publishers === r.publishers,
      );
      if (o === undefined) continue;
      const q = (a, b) => fmt(a / b, 2);
      console.log(
        [
          other.padStart(12),
          String(r.n).padStart(3),
          sizeLabel(r.payload).padStart(8),
          String(r.publisherCount).padStart(4),
          q(r.deliveriesPerSec, o.deliveriesPerSec).padStart(8),
          q(r.p99Ms, o.p99Ms).padStart(8),
          q(r.cpuMsPer1k, o.cpuMsPer1k).padStart(8),
          q(r.rssMeanMiB, o.rssMeanMiB).padStart(8),
        ].join(' '),
      );
    }
  }
}

async function main() {
  const argv = process.argv.slice(2);
  // `npm run bench -- --quick` reaches this script through the environment.
  if (process.env.X0X_BENCH_QUICK === '1' && !argv.includes('--quick')) argv.push('--quick');
  const opts = parseArgs(argv);
  ensureBenchPackages();
  if (reexecInNetns(opts)) return;
  const version = execFileSync(node22, ['--version'], { encoding: 'utf8' }).trim();
  console.log(
    `pub/sub benchmark: nodes on Node ${version}, one process per node, loopback` +
      (loopbackTxBytes() === null ? ' (shared network namespace: no wire byte counts)' : ' (private network namespace)'),
  );
  const results = [];
  const failures = [];
  /** Stacks and sizes whose overlay never formed, so no case ran. */
  const unformed = [];
  printHeader();
  for (const stack of opts.stacks) {
    for (const n of opts.nodes) {
      const topic = `bench-${stack}-${n}`;
      let nodes;
      let noOverlay = false;
      for (const payload of opts.payloadsByN?.[n] ?? opts.payloads) {
        for (const publishers of opts.publishers) {
          if (noOverlay) continue;
          try {
            // Every case starts on an overlay that delivers: a case that broke
            // connections (see README) must not spoil the next one.
            if (nodes !== undefined) {
              try {
                await warmUp(nodes, HEALTH_TIMEOUT_MS);
              } catch {
                console.log(`  (${stack} N=${n}: overlay no longer delivers everywhere; restarting the network)`);
                await Promise.all(nodes.map((node) => node.stop()));
                nodes = undefined;
              }
            }
            if (nodes === undefined) {
              try {
                nodes = await startNetwork(stack, n, topic, opts.warmupMs, opts.antiEntropy);
              } catch (err) {
                if (!err.message.startsWith('overlay not formed')) throw err;
                // Said plainly, once, instead of a failure per case.
                noOverlay = true;
                const line = `${stack} N=${n}: NO FIGURES, the overlay did not form: ${err.message.split('\n')[0]}`;
                unformed.push(line);
                console.log(`  ${line}`);
                continue;
              }
              const idle = await measureIdle(nodes);
              console.log(
                `  (${stack} N=${n} idle, ${IDLE_AFTER_MS / 1000}-${(IDLE_AFTER_MS + IDLE_WINDOW_MS) / 1000} s after warm-up: ` +
                  `${idle.wireKiBPerSec === null ? 'n/a' : fmt(idle.wireKiBPerSec / n, 2)} KiB/s per node ` +
                  `(${idle.wireKiBPerSec === null ? 'n/a' : fmt(idle.wireKiBPerSec)} KiB/s on lo), ` +
                  `${fmt(idle.cpuMsPerSec)} ms CPU/s over all nodes, ` +
                  `${fmt(idle.rssMeanMiB)} MiB RSS per node)`,
              );
            }
            const target = opts.deliveries[payload] ?? FALLBACK_DELIVERIES;
            const messages = opts.messages ?? Math.max(n, Math.round(target / (n - 1)));
            const settleMs = opts.settleMs ?? (opts.antiEntropy ? SETTLE_MS[stack] ?? 0 : 0);
            const r = { stack, n, ...(await runCase(nodes, { payload, publishers, messages, rate: opts.rate, settleMs })) };
            results.push(r);
            printRow(r);
          } catch (err) {
            const what = `${stack} N=${n} ${sizeLabel(payload)} ${publishers}`;
            failures.push(`${what}: ${err.message.split('\n')[0]}`);
            console.log(`  ${what} failed: ${err.message.split('\n')[0]}`);
            if (nodes !== undefined) await Promise.all(nodes.map((node) => node.stop()));
            nodes = undefined;
          }
        }
      }
      if (nodes !== undefined) await Promise.all(nodes.map((node) => node.stop()));
    }
  }
  printRatios(results);
  if (opts.stacks.includes('x0x')) printFloor(results, measureFloor([...new Set(results.map((r) => r.payload))]));
  if (unformed.length > 0) console.log(`\nNO COMPARISON for:\n  ${unformed.join('\n  ')}`);
  const lossy = results.filter((r) => r.deliveryRatio < 1);
  if (lossy.length > 0) {
    console.log('\nLOST MESSAGES (delivery ratio < 1):');
    for (const r of lossy) {
      const after =
        r.repairedRatio === null
          ? ''
          : `; after a repair wait of ${fmt(r.repairWaitMs / 1000)} s: ${Math.round(r.repairedRatio * r.expected)}/${r.expected}`;
      console.log(`  ${r.stack} N=${r.n} ${sizeLabel(r.payload)} pubs=${r.publisherCount}: ${r.delivered}/${r.expected}${after}`);
      const list = (missing) => {
        const shown = missing.slice(0, 12).map((m) => `node${m.receiver}<-node${m.publisher}: ${m.missed}`);
        return `${shown.join(', ')}${missing.length > 12 ? ', ...' : ''}`;
      };
      console.log(`    missed (receiver<-publisher: count): ${list(r.missing)}`);
      if (r.missingAfterRepair !== null && r.missingAfterRepair.length > 0) {
        console.log(`    still missed after the repair wait: ${list(r.missingAfterRepair)}`);
      }
      for (const { node, stats, counters } of r.lossyNodeStats.slice(0, 4)) {
        if (stats !== null) console.log(`    node${node} stats: ${JSON.stringify(stats)}`);
        if (counters !== undefined && counters !== null) {
          const nz = Object.entries(counters).filter(([, v]) => v !== 0);
          console.log(`    node${node} counters (case delta): ${nz.map(([k, v]) => `${k}=${v}`).join(' ')}`);
        }
      }
    }
  }
  if (failures.length > 0) console.log(`\nFAILED:\n  ${failures.join('\n  ')}`);
  if (opts.json !== undefined) writeFileSync(opts.json, JSON.stringify({ node: version, results, failures }, null, 2));
}

await main();
