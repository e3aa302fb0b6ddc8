// x0x demo: a small gossip network on loopback, in one process.
//
//   npm run demo                       5 agents, 10 seconds
//   npm run demo -- --agents 8 --duration 5
//
// Agent 0 starts a network; the others join through it. Every agent
// subscribes to one topic, the demo waits until each sees its peers subscribed,
// then the agents take turns publishing small JSON messages. It prints what
// the network did and exits 1 if any message failed to reach every agent.
//
// All agents share this process, and therefore one clock: latencies are
// measured with performance.now() from just before publish() to the moment
// the subscriber's loop sees the message, so they include signing,
// verification and the JavaScript hand-off, i.e. what an application sees.

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

// Loaded here rather than by a static import so that a missing native addon
// ends with one readable line instead of a stack trace.
const { Agent, MAX_TOPIC_BYTES } = await import('@x0x/node').catch((err) => {
  console.error(`demo: cannot load @x0x/node: ${err?.code ? `${err.code}: ` : ''}${err?.message ?? err}`);
  process.exit(1);
});

const USAGE = `Usage: npm run demo -- [options]
       node demo/demo.mjs [options]

Starts N x0x agents on 127.0.0.1 in this process, lets them gossip on one
topic, and reports delivery and latency.

Options:
  --agents N          number of agents, 2 to 50 (default 5)
  --duration SECONDS  how long agents publish, 1 to 600 (default 10)
  --topic NAME        topic to gossip on, 1 to ${MAX_TOPIC_BYTES} UTF-8 bytes (default x0x.demo.chat)
  --help              show this help`;

/** Each agent publishes about this many messages per second; agents take turns. */
const RATE_PER_AGENT = 5;
/**
 * Every message is delivered to all other agents, so the work grows with the
 * square of the agent count (50 agents at 5 msg/s each would be 12,250
 * deliveries/s, all in this one process). Above this many expected
 * deliveries per second the publish rate is lowered: the demo shows the
 * network working, bench/ measures how far it goes.
 */
const MAX_DELIVERIES_PER_SECOND = 400;
/** How long in-flight messages may take to arrive once publishing stops. */
const GRACE_MS = 5_000;

// ---------------------------------------------------------------------------
// Command line

class UsageError extends Error {}

function parseIntFlag(name, text, min, max) {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max} (got ${JSON.stringify(text)})`);
  }
  return Number(text);
}

function parseOptions(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        agents: { type: 'string', default: '5' },
        duration: { type: 'string', default: '10' },
        topic: { type: 'string', default: 'x0x.demo.chat' },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (err) {
    // parseArgs reports unknown flags, missing values and stray arguments.
    throw new UsageError(err.message);
  }
  if (values.help) return { help: true };
  const topicBytes = Buffer.byteLength(values.topic, 'utf8');
  if (topicBytes === 0 || topicBytes > MAX_TOPIC_BYTES) {
    throw new UsageError(`--topic must be 1 to ${MAX_TOPIC_BYTES} UTF-8 bytes (got ${topicBytes})`);
  }
  return {
    help: false,
    agents: parseIntFlag('agents', values.agents, 2, 50),
    durationMs: parseIntFlag('duration', values.duration, 1, 600) * 1000,
    topic: values.topic,
  };
}

// ---------------------------------------------------------------------------
// Small helpers

const shortId = (id) => id.slice(0, 12);

/** Polls `condition` until it holds or `ms` have passed; returns whether it held. */
async function waitUntil(condition, ms) {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() >= deadline) return false;
    await sleep(25);
  }
  return true;
}

/** Percentage rounded down, so 99.97 % never prints as "100.0%". */
function percent(part, whole) {
  if (whole === 0) return '  -  ';
  return `${(Math.floor((part / whole) * 1000) / 10).toFixed(1)}%`;
}

const formatRate = (r) => (Number.isInteger(r) ? String(r) : r.toFixed(r < 1 ? 2 : 1));

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

/** Prints rows as an aligned table; numbers are right-aligned. */
function printTable(headers, rows) {
  const cells = [headers, ...rows.map((row) => row.map(String))];
  const widths = headers.map((_, c) => Math.max(...cells.map((row) => row[c].length)));
  const numeric = headers.map((_, c) => rows.length > 0 && rows.every((row) => typeof row[c] === 'number'));
  for (const row of cells) {
    const line = row.map((cell, c) => (numeric[c] ? cell.padStart(widths[c]) : cell.padEnd(widths[c])));
    console.log(`  ${line.join('  ')}`.trimEnd());
  }
}

function describeError(err) {
  return err?.code ? `${err.code}: ${err.message}` : String(err?.stack ?? err);
}

// ---------------------------------------------------------------------------
// The network

/** Everything the demo tracks (chat messages only). */
function createState(count) {
  return {
    nodes: [], // see newNode()
    count,
    /** "publisher:seq" -> performance.now() just before publish(). */
    sentAt: new Map(),
    /** "publisher:seq" -> how many other agents received it. */
    receivers: new Map(),
    sent: 0,
    publishFailures: [],
    delivered: 0,
    appDuplicates: 0,
    latencies: [],
    loopErrors: [],
  };
}

/** Expected chat deliveries: every sent message reaches every *other* agent. */
const expected = (state) => state.sent * (state.count - 1);

async function startAgents(state) {
  // Agent 0 has no bootstrap peers: it is the first node of a new network.
  const seed = await Agent.builder().build();
  state.nodes.push(newNode(0, seed));
  const bootstrap = seed.listenAddrs;
  // Joined one after another: each join is a handshake with agent 0, and
  // HyParView's forward-join spreads the newcomer from there.
  for (let i = 1; i < state.count; i++) {
    const agent = await Agent.builder().withBootstrapPeers(bootstrap).build();
    state.nodes.push(newNode(i, agent));
    await agent.joinNetwork();
  }
}

function newNode(index, agent) {
  return {
    index,
    agent,
    id: agent.agentId,
    addr: agent.listenAddrs.join(', '),
    nextSeq: 0,
    sent: 0,
    received: 0,
    keysSeen: new Set(),
    loop: Promise.resolve(),
  };
}

async function subscribeAll(state, topic) {
  for (const node of state.nodes) {
    const sub = await node.agent.subscribe(topic);
    // The loop ends by itself when the agent closes.
    node.loop = consume(state, node, sub).catch((err) => state.loopErrors.push(`agent ${node.index}: ${describeError(err)}`));
  }
}

const decoder = new TextDecoder();

async function consume(state, node, sub) {
  for await (const msg of sub) {
    const receivedAt = performance.now();
    // A publisher's own subscription also gets its message; only deliveries
    // to other agents say anything about the network.
    if (msg.from === node.id) continue;
    const body = JSON.parse(decoder.decode(msg.payload));
    if (body.kind === 'chat') recordChat(state, node, body, receivedAt);
  }
}

function recordChat(state, node, body, receivedAt) {
  const key = `${body.from}:${body.seq}`;
  // The core de-duplicates by message id, so this should never trigger; it
  // is counted rather than assumed.
  if (node.keysSeen.has(key)) {
    state.appDuplicates++;
    return;
  }
  node.keysSeen.add(key);
  node.received++;
  state.delivered++;
  const sentAt = state.sentAt.get(key);
  if (sentAt !== undefined) state.latencies.push(receivedAt - sentAt);
  state.receivers.set(key, (state.receivers.get(key) ?? 0) + 1);
}

/**
 * Neighbours each agent must see subscribed before the demo measures: all the
 * others in a small network; in a large one, a handful (each agent holds
 * direct links to about an active view's worth of peers, not to everyone).
 */
function readyPeers(count) {
  return Math.min(count - 1, 6);
}

/**
 * Waits until every agent sees enough connected peers subscribed to the
 * topic (`pubsub.waitForTopicPeers`): from then on a publish is sent to each
 * of them, so the measurement starts on a formed overlay without probing.
 * Resolves with the agents that were not ready in time (none on success).
 */
async function waitForOverlay(state, topic, timeoutMs) {
  const signal = AbortSignal.timeout(timeoutMs);
  const want = readyPeers(state.count);
  const results = await Promise.allSettled(
    state.nodes.map((n) => n.agent.pubsub.waitForTopicPeers(topic, want, { signal })),
  );
  return results.flatMap((r, i) => (r.status === 'rejected' ? [i] : []));
}

/** Total messages per second: RATE_PER_AGENT each, within the delivery budget. */
function publishRate(count) {
  return Math.min(RATE_PER_AGENT * count, MAX_DELIVERIES_PER_SECOND / (count - 1));
}

/**
 * Publishes chat messages for `durationMs` at `rate` messages per second in
 * total, agents taking turns. Send times are scheduled from
 * the start, so a late timer is caught up rather than lowering the rate.
 */
async function chat(state, topic, rate, durationMs, shouldStop) {
  const intervalMs = 1000 / rate;
  const start = performance.now();
  const pending = [];
  for (let turn = 0; !shouldStop(); turn++) {
    const due = start + turn * intervalMs;
    if (due - start >= durationMs) break;
    // Always yield, even when behind, so subscriber loops keep running.
    await sleep(Math.max(0, due - performance.now()));
    pending.push(publishChat(state, state.nodes[turn % state.count], topic, turn));
  }
  await Promise.all(pending);
}

async function publishChat(state, node, topic, turn) {
  const seq = node.nextSeq++;
  const key = `${node.index}:${seq}`;
  const body = JSON.stringify({ kind: 'chat', from: node.index, seq, text: `hello #${turn} from agent ${node.index}` });
  state.sentAt.set(key, performance.now());
  try {
    await node.agent.publish(topic, body);
    node.sent++;
    state.sent++;
  } catch (err) {
    state.publishFailures.push(`agent ${node.index}: ${describeError(err)}`);
  }
}

// ---------------------------------------------------------------------------
// Output

function printAgents(state) {
  console.log(`\nStarted ${state.count} agents (agent 0 is the bootstrap):`);
  printTable(
    ['#', 'id', 'listening on'],
    state.nodes.map((n) => [n.index, shortId(n.id), n.addr]),
  );
}

function progressLine(state, startedAt, label) {
  const secs = label ?? `${((performance.now() - startedAt) / 1000).toFixed(0).padStart(3)} s`;
  const exp = expected(state);
  return `  [${secs}] sent ${String(state.sent).padStart(5)}  delivered ${String(state.delivered).padStart(6)} / ${String(exp).padStart(6)} expected  ${percent(state.delivered, exp).padStart(6)}`;
}

async function printSummary(state) {
  console.log('\nPer agent (delivered = chat messages received from other agents):');
  const rows = [];
  for (const n of state.nodes) {
    const stats = n.agent.pubsubStats();
    const connected = await n.agent.connectedPeers();
    rows.push([n.index, shortId(n.id), (await n.agent.membership.activeView()).length, connected.length, n.sent, n.received, stats.duplicatesDropped, stats.invalidDropped]);
  }
  printTable(['#', 'id', 'active view', 'connected', 'sent', 'delivered', 'dup dropped', 'invalid'], rows);

  const sorted = [...state.latencies].sort((a, b) => a - b);
  const ms = (v) => (Number.isNaN(v) ? '-' : `${v.toFixed(1)} ms`);
  console.log(`\nLatency publish -> delivery over ${sorted.length} deliveries: p50 ${ms(quantile(sorted, 0.5))}, p95 ${ms(quantile(sorted, 0.95))}, max ${ms(sorted.at(-1) ?? NaN)}`);
  const exp = expected(state);
  console.log(`Delivery: ${state.delivered} of ${exp} expected (${percent(state.delivered, exp)}), ${state.sent} messages sent`);
}

/** "agent 3: 10, agent 7: 2" for agents that received fewer chat messages than others sent. */
function missingByReceiver(state) {
  return state.nodes
    .map((n) => [n.index, state.sent - n.sent - n.received])
    .filter(([, missing]) => missing > 0)
    .map(([i, missing]) => `agent ${i}: ${missing}`)
    .join(', ');
}

/** How many messages some agent missed, and whose they were. */
function incompleteMessages(state) {
  let messages = 0;
  const publishers = new Set();
  for (const n of state.nodes) {
    for (let seq = 0; seq < n.nextSeq; seq++) {
      if ((state.receivers.get(`${n.index}:${seq}`) ?? 0) < state.count - 1) {
        messages++;
        publishers.add(n.index);
      }
    }
  }
  return `${messages} (published by ${publishers.size} of ${state.count} agents)`;
}

/** Every reason the run is not a clean 100 % delivery. */
function problems(state) {
  const out = [];
  const exp = expected(state);
  if (state.delivered < exp) {
    out.push(`${exp - state.delivered} of ${exp} expected deliveries did not arrive within ${GRACE_MS / 1000} s after publishing stopped`);
    out.push(`missing at receiver: ${missingByReceiver(state)}`);
    out.push(`messages some agent missed: ${incompleteMessages(state)}`);
  }
  if (state.sent === 0) out.push('no message was published');
  if (state.publishFailures.length > 0) out.push(`${state.publishFailures.length} publish calls failed, first: ${state.publishFailures[0]}`);
  if (state.appDuplicates > 0) out.push(`${state.appDuplicates} messages reached a subscriber twice`);
  for (const e of state.loopErrors) out.push(`subscription loop failed: ${e}`);
  return out;
}

// ---------------------------------------------------------------------------
// Main

async function run(options) {
  const state = createState(options.agents);
  let stopRequested = false;
  // First Ctrl-C ends publishing early and still closes every agent cleanly.
  process.once('SIGINT', () => {
    stopRequested = true;
    console.log('\nInterrupted: stopping early (Ctrl-C again to quit at once).');
    process.once('SIGINT', () => process.exit(130));
  });

  try {
    const t0 = performance.now();
    await startAgents(state);
    printAgents(state);
    console.log(`  (started and joined in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);

    await subscribeAll(state, options.topic);
    const readyTimeout = 20_000 + 500 * options.agents;
    const t1 = performance.now();
    const notReady = await waitForOverlay(state, options.topic, readyTimeout);
    if (notReady.length > 0) {
      console.log(
        `\nFAIL: within ${readyTimeout / 1000} s, agents ${notReady.join(', ')} did not see ${readyPeers(options.agents)} connected peers subscribed to "${options.topic}".`,
      );
      return 1;
    }
    console.log(
      `\nOverlay ready on "${options.topic}": every agent sees ${readyPeers(options.agents)} connected subscribers (${((performance.now() - t1) / 1000).toFixed(1)} s).`,
    );

    const rate = publishRate(options.agents);
    const capped = rate < RATE_PER_AGENT * options.agents;
    console.log(
      `\nPublishing for ${options.durationMs / 1000} s: agents take turns, ` +
        `${formatRate(rate / options.agents)} msg/s each, ${formatRate(rate)} msg/s in total` +
        (capped ? ` (lowered from ${RATE_PER_AGENT} msg/s each to keep expected deliveries at ${MAX_DELIVERIES_PER_SECOND}/s)` : '') +
        '.',
    );
    const startedAt = performance.now();
    const ticker = setInterval(() => console.log(progressLine(state, startedAt)), 1000);
    try {
      await chat(state, options.topic, rate, options.durationMs, () => stopRequested);
      // Messages published in the last moments are still travelling.
      await waitUntil(() => state.delivered >= expected(state) || stopRequested, GRACE_MS);
    } finally {
      clearInterval(ticker);
    }
    console.log(progressLine(state, startedAt, 'final'));

    await printSummary(state);
    const found = problems(state);
    if (found.length === 0) {
      console.log('\nOK: every message reached every other agent.');
      return 0;
    }
    console.log('\nFAIL:');
    for (const p of found) console.log(`  - ${p}`);
    return 1;
  } catch (err) {
    console.error(`\nThe demo failed: ${describeError(err)}`);
    return 1;
  } finally {
    await closeAll(state);
  }
}

async function closeAll(state) {
  const t = performance.now();
  await Promise.all(state.nodes.map((n) => n.agent.close()));
  // Closing ends every subscription, so each loop finishes on its own.
  await Promise.all(state.nodes.map((n) => n.loop));
  console.log(`Closed ${state.nodes.length} agents in ${((performance.now() - t) / 1000).toFixed(1)} s.`);
}

function main() {
  let options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`demo: ${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (options.help) {
    console.log(USAGE);
    return;
  }
  run(options).then((code) => {
    process.exitCode = code;
    // Closed agents hold no handles, so Node exits by itself. If something
    // still keeps it alive, say so and leave anyway; unref() keeps this
    // timer from being what holds the process open.
    setTimeout(() => {
      console.error('demo: the process did not exit 5 s after closing every agent; forcing exit');
      process.exit(code === 0 ? 1 : code);
    }, 5_000).unref();
  });
}

main();
