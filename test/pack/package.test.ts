/**
 * The packed tarball is what users install: it must load its prebuilt addon
 * and run a real two-agent exchange with no Rust toolchain on PATH and with
 * install scripts disabled, from `import` and `require`, on Node 20 and 22.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..', '..');
const work = mkdtempSync(path.join(tmpdir(), 'x0x-pack-'));
const app = path.join(work, 'app');

/** PATH without any directory that holds cargo or rustc. */
function pathWithoutRust(): string {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter((dir) => !existsSync(path.join(dir, 'cargo')) && !existsSync(path.join(dir, 'rustc')))
    .join(path.delimiter);
}

const env = { ...process.env, PATH: pathWithoutRust(), CARGO_TARGET_DIR: path.join(work, 'no-target') };

function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 240_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

let tarball = '';

beforeAll(() => {
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', work], {
    cwd: root,
    encoding: 'utf8',
  });
  const [info] = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
  if (info === undefined) throw new Error('npm pack printed no result');
  tarball = path.join(work, info.filename);
  writeFileSync(path.join(work, 'files.json'), JSON.stringify(info.files.map((f) => f.path)));
  mkdirSync(app);
  cpSync(path.join(__dirname, 'exchange.mjs'), path.join(app, 'exchange.mjs'));
  cpSync(path.join(__dirname, 'exchange.cjs'), path.join(app, 'exchange.cjs'));
  cpSync(path.join(__dirname, 'prom-client.mjs'), path.join(app, 'prom-client.mjs'));
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'x0x-pack-app', private: true }));
  run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', tarball], app);
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('packed tarball', () => {
  it('ships the prebuilt addon, types and both entry points, but no Rust sources', () => {
    const files = JSON.parse(readFileSync(path.join(work, 'files.json'), 'utf8')) as string[];
    expect(files).toContain(`prebuilds/${process.platform}-${process.arch}/x0x.node`);
    expect(files).toContain('dist/cjs/index.d.ts');
    expect(files).toContain('dist/esm/index.mjs');
    expect(files).toEqual(expect.arrayContaining(['dist/esm/prom-client.mjs', 'dist/cjs/prom-client.d.ts']));
    expect(files.some((f) => f.startsWith('crates/') || f.startsWith('src/'))).toBe(false);
    expect(files).toEqual(expect.arrayContaining(['LICENSE-MIT', 'LICENSE-APACHE', 'CHANGELOG.md']));
  });

  it('runs no script when a user installs it, and its source maps carry their sources', () => {
    const installed = path.join(app, 'node_modules', '@x0x', 'node');
    const manifest = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')) as {
      scripts?: Record<string, string>;
    };
    // An install on a platform without a prebuilt binary must not fail:
    // the loader reports that at require time instead.
    for (const hook of ['preinstall', 'install', 'postinstall']) expect(manifest.scripts?.[hook], hook).toBeUndefined();
    const map = JSON.parse(readFileSync(path.join(installed, 'dist', 'cjs', 'agent.js.map'), 'utf8')) as {
      sourcesContent?: string[];
    };
    expect(map.sourcesContent?.[0]).toContain('class Agent');
  });

  it('runs a two-agent exchange via import and require with no cargo on PATH', () => {
    expect(() => execFileSync('cargo', ['--version'], { env, stdio: 'ignore' })).toThrow();
    expect(run(process.execPath, ['exchange.mjs'], app)).toContain(`ok ${process.version}`);
    expect(run(process.execPath, ['exchange.cjs'], app)).toContain(`ok ${process.version}`);
  }, 120_000);

  it('ships @x0x/node/prom-client: a coded error without prom-client, metrics in its registry with it', () => {
    expect(run(process.execPath, ['prom-client.mjs', 'missing'], app)).toContain('ok missing');
    // The version this package tests against; npm's cache already holds it.
    const { devDependencies } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    const range = devDependencies['prom-client'];
    expect(range).toBeDefined();
    const withProm = path.join(work, 'app-prom');
    cpSync(app, withProm, { recursive: true });
    run('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', `prom-client@${range}`], withProm);
    expect(run(process.execPath, ['prom-client.mjs', 'present'], withProm)).toContain('ok present');
  }, 240_000);

  it('runs on Node 22 as well', () => {
    const n22 = path.join(work, 'node22');
    mkdirSync(n22);
    writeFileSync(path.join(n22, 'package.json'), JSON.stringify({ name: 'n22', private: true }));
    // The `node` package installs the official binary from the npm registry.
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefix', n22, 'node@22'], {
      cwd: work,
      env,
      stdio: 'ignore',
      timeout: 240_000,
    });
    const bin = path.join(n22, 'node_modules', 'node', 'bin', 'node');
    expect(readdirSync(path.dirname(bin))).toContain('node');
    const out = run(bin, ['exchange.mjs'], app);
    expect(out).toMatch(/^ok v22\./m);
    expect(run(bin, ['exchange.cjs'], app)).toMatch(/^ok v22\./m);
  }, 300_000);
});
