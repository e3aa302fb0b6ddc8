// Signed records (x0x_core::records): size, signing cost, and what a
// receiver pays per record: a full ML-DSA-65 verification for a new one,
// almost nothing for a replay (rejected before the signature is checked).
// Prints one JSON line of figures. Run: npm run bench:records
import { createRequire } from 'node:module';

const { NativeKeypair, NativeRecordBook } = createRequire(import.meta.url)('../native/index.cjs');

const N = Number(process.env.RECORDS_BENCH_N ?? 500);
const COORDINATOR_KIND = 2;
const keypair = NativeKeypair.generate();
const body = Buffer.from(JSON.stringify({ addrs: ['127.0.0.1:5000'] }));
const now = Date.now();

function perOp(fn) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn(i);
  return Number(process.hrtime.bigint() - start) / 1e6 / N;
}

const records = [];
const signMs = perOp((i) => records.push(keypair.signRecord(COORDINATOR_KIND, body, now + i, now + i + 60_000)));
const book = new NativeRecordBook(COORDINATOR_KIND, 60_000);
const acceptMs = perOp((i) => book.offer(records[i], now));
const replayMs = perOp((i) => book.offer(records[i], now));
const tampered = records.map((r) => {
  const t = Buffer.from(r);
  t[t.length - 1] ^= 1;
  return t;
});
const forgedMs = perOp((i) => new NativeRecordBook(COORDINATOR_KIND, 60_000).offer(tampered[i], now));

console.log(
  JSON.stringify({
    bench: 'records',
    n: N,
    recordBytes: records[0].length,
    bodyBytes: body.length,
    signMsPerRecord: +signMs.toFixed(3),
    acceptMsPerRecord: +acceptMs.toFixed(3),
    replayRejectMsPerRecord: +replayMs.toFixed(4),
    forgedRejectMsPerRecord: +forgedMs.toFixed(3),
    accepted: book.accepted(),
  }),
);
