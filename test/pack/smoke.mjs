#!/usr/bin/env node
// The check each CI runner makes of the packed tarball, with nothing but Node
// and npm (no dev dependencies, no vitest), so it runs the same on macOS,
// Windows and in an Alpine container:
//
//   node test/pack/smoke.mjs x0x-node-0.1.0.tgz linux-x64-musl
//
// Installs the tarball with --ignore-scripts into a fresh app, checks that
// this host is the target the job claims (platform, arch and, on linux,
// libc, as the installed package's loader sees them), then runs the
// two-agent exchange of exchange.mjs (import) and exchange.cjs (require) on
// this Node with no cargo on PATH, and checks that each loaded the prebuilt
// addon of that target and nothing else. Exit 0 and one `smoke ok` line, or
// exit 1 and the reason.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const [tarballArg, claimed] = process.argv.slice(2);
if (!tarballArg || !claimed) {
  console.error('usage: node test/pack/smoke.mjs <tarball> <target, e.g. linux-x64-glibc, darwin-arm64>');
  process.exit(2);
}
const tarball = path.resolve(tarballArg);

/** PATH without any directory that holds cargo or rustc. */
function pathWithoutRust() {
  const exe = process.platform === 'win32' ? '.exe' : '';
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter((dir) => !existsSync(path.join(dir, `cargo${exe}`)) && !existsSync(path.join(dir, `rustc${exe}`)))
    .join(path.delimiter);
}

const env = { ...process.env, PATH: pathWithoutRust() };
delete env.CARGO_TARGET_DIR;
delete env.X0X_NATIVE_LIBRARY_PATH;

/**
 * Runs npm: its own script next to this Node (setup-node, the official
 * images) run by this Node, so Windows needs no .cmd shim; else the `npm` on
 * PATH (a Node from the npm package `node` has none beside it).
 */
function npm(args, cwd) {
  const dir = path.dirname(process.execPath);
  const cli = [
    path.join(dir, 'node_modules', 'npm', 'bin', 'npm-cli.js'),
    path.join(dir, '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'),
  ].find((file) => existsSync(file));
  if (cli !== undefined) return run([cli, ...args], cwd);
  return execFileSync('npm', args, { cwd, env, encoding: 'utf8', timeout: 240_000, shell: process.platform === 'win32' });
}

function run(args, cwd) {
  return execFileSync(process.execPath, args, { cwd, env, encoding: 'utf8', timeout: 240_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

// realpath: macOS's tmpdir is a symlink, and require() names files by their real path.
const work = realpathSync.native(mkdtempSync(path.join(tmpdir(), 'x0x-smoke-')));
try {
  for (const file of ['exchange.mjs', 'exchange.cjs']) cpSync(path.join(here, file), path.join(work, file));
  writeFileSync(path.join(work, 'package.json'), JSON.stringify({ name: 'x0x-smoke-app', private: true }));
  npm(['install', '--ignore-scripts', '--no-audit', '--no-fund', tarball], work);
  const installed = path.join(work, 'node_modules', '@x0x', 'node');

  const { describeTarget, hostTarget, prebuildPath } = createRequire(path.join(installed, 'package.json'))(
    './native/prebuilds.cjs',
  );
  const host = describeTarget(hostTarget());
  if (host !== claimed) throw new Error(`this host is ${host}, the job claims ${claimed}`);
  try {
    execFileSync('cargo', ['--version'], { env, stdio: 'ignore' });
    throw new Error('cargo is still on PATH');
  } catch (err) {
    if (err instanceof Error && err.message === 'cargo is still on PATH') throw err;
  }

  if (!existsSync(prebuildPath(installed))) throw new Error(`the tarball has no ${path.relative(installed, prebuildPath(installed))}`);
  const expected = realpathSync.native(prebuildPath(installed));
  for (const script of ['exchange.mjs', 'exchange.cjs']) {
    const lines = run([script], work).trim().split(/\r?\n/);
    const addons = lines.filter((l) => l.startsWith('addon ')).map((l) => realpathSync.native(l.slice('addon '.length)));
    if (addons.length !== 1 || addons[0] !== expected) {
      throw new Error(`${script} loaded ${JSON.stringify(addons)}, expected [${JSON.stringify(expected)}]`);
    }
    if (lines.at(-1) !== `ok ${process.version}`) throw new Error(`${script} printed ${JSON.stringify(lines)}`);
  }
  console.log(`smoke ok ${host} Node ${process.version}: import and require exchanged a message on ${path.relative(installed, expected)}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
