// One agent of the soak benchmark (bench/soak/run.mjs), in its own process
// so that the driver can SIGKILL it. Over the built package (dist/) and the
// shipped addon, like every user. Driven over IPC:
//
//   driver -> { start: { index, keyFile, bind, bootstrap, config, topic } }
//   agent  -> { ready: { id } }
//   driver -> { publish: seq }              agent -> { published: seq } | { failed: seq, code }
//   agent  -> { got: [seq, ...] }           every 500 ms, the seqs delivered since the last batch
//   agent  -> { sample: { rss, heap, external, fds, closed } } every 10 s, and once right after start
//   driver -> { close: true }               agent closes, reports a last batch and exits
import { randomFillSync } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';

import { Agent } from '../../dist/esm/index.mjs';

// Test hooks (not part of the package API): the core's lower-layer counters.
const testing = createRequire(import.meta.url)('../../test/helpers/hooks.cjs');

const PAYLOAD_BYTES = 256;
const BATCH_MS = 500;
const SAMPLE_MS = 10_000;
const CLOSED_PREFIX = 'transport.closed.';

let agent;
let topic = '';
let got = [];
const timers = [];

function send(message) {
  if (process.connected) process.send(message);
}

function flush() {
  if (got.length === 0) return;
  send({ got });
  got = [];
}

/** Connections closed so far, by ant-quic's reason. */
function closedByReason() {
  const out = {};
  for (const [name, value] of Object.entries(testing.diagnostics(agent))) {
    if (name.startsWith(CLOSED_PREFIX)) out[name.slice(CLOSED_PREFIX.length)] = value;
  }
  return out;
}

function sample() {
  // RSS split into the V8 heap and the buffers V8 tracks, so that the rest
  // (native: the addon's allocations, glibc's arenas) is visible too.
  const { rss, heapUsed, external } = process.memoryUsage();
  send({ sample: { rss, heap: heapUsed, external, fds: readdirSync('/proc/self/fd').length, closed: closedByReason() } });
}

async function start({ keyFile, bind, bootstrap, config, topic: t }) {
  topic = t;
  agent = await Agent.builder().withKeyFile(keyFile).withBindAddress(bind).withConfig(config).withBootstrapPeers(bootstrap).build();
  const sub = await agent.subscribe(topic);
  void (async () => {
    for await (const m of sub) got.push(new DataView(m.payload.buffer, m.payload.byteOffset, 4).getUint32(0, true));
  })();
  await agent.joinNetwork();
  timers.push(setInterval(flush, BATCH_MS), setInterval(sample, SAMPLE_MS));
  sample();
  send({ ready: { id: agent.agentId } });
}

async function publish(seq) {
  // Random bytes: saorsa-gossip refuses to forward payloads with long zero runs.
  const payload = new Uint8Array(PAYLOAD_BYTES);
  randomFillSync(payload, 4);
  new DataView(payload.buffer).setUint32(0, seq, true);
  try {
    await agent.publish(topic, payload);
    send({ published: seq });
  } catch (err) {
    send({ failed: seq, code: err?.code ?? String(err) });
  }
}

process.on('message', (message) => {
  if (message.start !== undefined) {
    start(message.start).catch((err) => {
      send({ error: `${err?.code ?? ''} ${err?.message ?? err}` });
      process.exit(1);
    });
  } else if (message.publish !== undefined) {
    void publish(message.publish);
  } else if (message.close !== undefined) {
    for (const t of timers) clearInterval(t);
    flush();
    sample();
    void agent.close().then(() => process.disconnect());
  }
});
