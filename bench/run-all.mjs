#!/usr/bin/env node
// Runs every benchmark: each `bench:<name>` script of package.json, one after
// the other, so a new benchmark joins by adding its script (no edit here).
//
//   npm run bench                 full runs
//   npm run bench -- --quick      each benchmark's short mode (X0X_BENCH_QUICK=1)
//   npm run bench -- pubsub       only the named benchmarks
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const { scripts } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.filter((a) => !a.startsWith('--'));
const names = Object.keys(scripts)
  .filter((s) => s.startsWith('bench:'))
  .filter((s) => only.length === 0 || only.includes(s.slice('bench:'.length)));
if (names.length === 0) {
  console.error(`no benchmark matches ${only.join(', ')}`);
  process.exit(1);
}
const failed = [];
for (const name of names) {
  console.log(`\n=== npm run ${name}${quick ? ' (quick)' : ''}`);
  const res = spawnSync('npm', ['run', '--silent', name], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, ...(quick ? { X0X_BENCH_QUICK: '1' } : {}) },
  });
  if (res.status !== 0) failed.push(name);
}
if (failed.length > 0) {
  console.error(`\nfailed: ${failed.join(', ')}`);
  process.exit(1);
}
