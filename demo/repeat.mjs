#!/usr/bin/env node
// Runs the demo several times in fresh processes and reports how many runs
// delivered every message (exit 0). A gossip layer on a healthy loopback
// network must not lose messages, so one failed run out of many is a bug.
//
//   npm run demo:repeat -- [--runs 30] [demo flags, e.g. --agents 8]
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const at = args.indexOf('--runs');
const runs = at >= 0 ? Number(args[at + 1]) : 30;
if (!Number.isInteger(runs) || runs < 1 || runs > 1000) {
  console.error('demo:repeat: --runs must be an integer from 1 to 1000');
  process.exit(2);
}
const demoArgs = at >= 0 ? [...args.slice(0, at), ...args.slice(at + 2)] : args;

/** Runs the demo once; resolves with its exit code and its last lines. */
function runOnce() {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(here, 'demo.mjs'), ...demoArgs], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code, signal) => resolve({ code: code ?? signal, out }));
  });
}

const failures = [];
const started = Date.now();
for (let i = 1; i <= runs; i++) {
  const { code, out } = await runOnce();
  const delivery = out.split('\n').find((l) => l.startsWith('Delivery:')) ?? '(no delivery line)';
  console.log(`run ${String(i).padStart(3)}/${runs}: exit ${code}  ${delivery}`);
  if (code !== 0) {
    failures.push(i);
    console.log(out.split('\n').slice(-25).join('\n'));
  }
}
const minutes = ((Date.now() - started) / 60_000).toFixed(1);
console.log(`\n${runs - failures.length} of ${runs} runs exited 0 in ${minutes} min${failures.length ? `; failed: ${failures.join(', ')}` : ''}`);
process.exit(failures.length === 0 ? 0 : 1);
