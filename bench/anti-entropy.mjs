// Anti-entropy benchmark (not a test). Prints:
// 1. the IBLT session itself (crates/x0x-iblt/examples/iblt_bench.rs, run
//    with cargo when it is on PATH): bytes per reconciled difference against
//    the raw size of the missing ids, reconcile time for 10,000 ids at 1 %
//    and 10 % difference, and saorsa-gossip's naive full id-list exchange
//    as the baseline ratio;
// 2. the same over the network: two agents of the built package over real
//    QUIC on 127.0.0.1, one missing d of the other's messages, one
//    `agent.antiEntropy.reconcile()` round.
//
// npm run bench:anti-entropy   (builds dist/ first)
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Agent } from '../dist/esm/index.mjs';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Bytes the envelope adds to each payload (x0x-core ENVELOPE_OVERHEAD). */
const ENVELOPE_OVERHEAD = 3370;
const TOPIC = 'bench-ae';

function rustSession() {
  console.log('== IBLT session, sans-IO (cargo run --release -p x0x-iblt --example iblt_bench) ==');
  const run = spawnSync('cargo', ['run', '--release', '--quiet', '-p', 'x0x-iblt', '--example', 'iblt_bench'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (run.error) console.log(`(skipped: cannot run cargo: ${run.error.message})`);
  else if (run.status !== 0) console.log(`(iblt_bench failed with exit code ${run.status})`);
  console.log();
}

async function until(check, what, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `common` messages both agents hold, plus `d` only the publisher holds; one round at the other. */
async function networkRound(common, d) {
  const config = { antiEntropyInterval: 3_600_000 };
  const a = await Agent.builder().withConfig(config).build();
  const b = await Agent.builder().withConfig(config).withBootstrapPeers(a.listenAddrs).build();
  try {
    const subA = await a.subscribe(TOPIC);
    void (async () => {
      for await (const _ of subA);
    })();
    let gotB = 0;
    const listen = async () => {
      const sub = await b.subscribe(TOPIC);
      void (async () => {
        for await (const _ of sub) gotB += 1;
      })();
      return sub;
    };
    let subB = await listen();
    // The common part travels by gossip.
    await b.joinNetwork();
    await until(async () => (await a.connectedPeers()).length > 0, 'a connection');
    // Warm-up, then the common messages, until b has them all.
    for (let i = 0; gotB === 0; i += 1) {
      await a.publish(TOPIC, `warm ${i}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const warm = gotB;
    for (let i = 0; i < common; i += 1) await a.publish(TOPIC, `common ${i}`);
    await until(() => gotB >= warm + common, `${common} common messages at b`);
    // The difference: b leaves the topic (keeping the envelopes it holds)
    // while a publishes d more, then comes back.
    await subB.unsubscribe();
    const payload = 'x'.repeat(16);
    for (let i = 0; i < d; i += 1) await a.publish(TOPIC, payload);
    subB = await listen();
    const before = gotB;
    const round = await b.antiEntropy.reconcile();
    await until(() => gotB >= before + round.messagesRecovered, 'recovered deliveries');
    const total = round.bytesSent + round.bytesReceived;
    // Envelope bytes fetched: each frame is its envelope plus payload, with a
    // 4-byte length, one per id only the publisher held. Counted from the
    // difference, not from messagesRecovered: Plumtree's own repair of a
    // returning neighbour can deliver some of them first, and those are
    // fetched but not recovered.
    const fetched = round.peers.reduce((n, p) => n + p.differencesFound - p.messagesPushed, 0);
    const envelopes = fetched * (ENVELOPE_OVERHEAD + payload.length + 4);
    const reconcile = total - envelopes;
    const ids = b.antiEntropy.stats().storeSize;
    return { ids, d, round, total, reconcile, naive: 32 * ids };
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

async function network() {
  console.log('== over real QUIC: two agents, one round of agent.antiEntropy.reconcile() ==');
  console.log('reconcile bytes = every anti-entropy byte both ways minus the fetched envelopes (5.3 KB each, one per id found at the peer only)');
  console.log('ratio to 32·d = reconcile bytes / (32 B × the difference found), the raw size of the missing ids');
  console.log('naive = saorsa-gossip digest: 32 B per held id, one way, before any envelope moves');
  console.log('    ids      d  found  recovered  reconcile B  B per diff  ratio to 32·d  naive B  naive/ours  total B   ms');
  for (const [common, d] of [
    [200, 10],
    [1000, 10],
    [1000, 100],
  ]) {
    const r = await networkRound(common, d);
    const found = Math.max(1, r.round.differencesFound);
    const perDiff = r.reconcile / found;
    console.log(
      `${String(r.ids).padStart(7)} ${String(d).padStart(6)} ${String(r.round.differencesFound).padStart(6)} ` +
        `${String(r.round.messagesRecovered).padStart(10)} ${String(r.reconcile).padStart(12)} ` +
        `${perDiff.toFixed(1).padStart(11)} ${(r.reconcile / (32 * found)).toFixed(2).padStart(14)} ` +
        `${String(r.naive).padStart(8)} ${(r.naive / r.reconcile).toFixed(1).padStart(10)}x ` +
        `${String(r.total).padStart(8)} ${String(r.round.durationMs).padStart(4)}`,
    );
  }
}

rustSession();
await network();
