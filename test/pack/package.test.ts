/**
 * The packed tarball is what users install: it must load its prebuilt addon
 * through node-gyp-build from the prebuildify layout and run a real
 * two-agent exchange with no Rust toolchain on PATH and with install scripts
 * disabled, from `import` and `require`, on this Node and on Node 22.12.0
 * (the `engines` floor), 22, 24 and 26; a host whose libc it has no build for
 * gets a clear error.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..', '..');
const work = mkdtempSync(path.join(tmpdir(), 'x0x-pack-'));
const app = path.join(work, 'app');
const installed = path.join(app, 'node_modules', '@x0x', 'node');

interface Target {
  platform: string;
  arch: string;
  libc: string;
}
const { hostTarget, prebuildPath } = createRequire(__filename)('../../native/prebuilds.cjs') as {
  hostTarget(): Target;
  prebuildPath(root: string, target?: Target): string;
};
const HOST = hostTarget();
/** The oldest Node that `engines` admits, tested below as that exact release. */
const ENGINES_FLOOR = '22.12.0';

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

const execFileAsync = promisify(execFile);

async function runAsync(cmd: string, args: string[], cwd: string): Promise<string> {
  const { stdout } = await execFileAsync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 240_000 });
  return stdout;
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
  it('ships the prebuilt addon, types, both entry points and the licence texts and notices, but no Rust sources', () => {
    const files = JSON.parse(readFileSync(path.join(work, 'files.json'), 'utf8')) as string[];
    expect(files).toContain(path.relative(root, prebuildPath(root)).split(path.sep).join('/'));
    expect(files).toEqual(expect.arrayContaining(['native/index.cjs', 'native/load.cjs', 'native/prebuilds.cjs']));
    // Every addon is in the prebuildify layout; the old untagged x0x.node
    // would match any libc.
    for (const addon of files.filter((f) => f.endsWith('.node'))) {
      expect(addon).toMatch(/^prebuilds\/[a-z0-9]+-[a-z0-9]+\/x0x\.napi\.((glibc|musl)\.)?node$/);
    }
    expect(files).toContain('dist/cjs/index.d.ts');
    expect(files).toContain('dist/esm/index.mjs');
    expect(files).toEqual(expect.arrayContaining(['dist/esm/prom-client.mjs', 'dist/cjs/prom-client.d.ts']));
    expect(files.some((f) => f.startsWith('crates/') || f.startsWith('src/'))).toBe(false);
    // The addon statically links ~300 crates; their licences travel with it.
    expect(files).toEqual(expect.arrayContaining(['LICENSE-MIT', 'LICENSE-APACHE', 'THIRD_PARTY_NOTICES.md', 'CHANGELOG.md']));
  });

  it('runs no script when a user installs it, and its source maps carry their sources', () => {
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

  it('runs a two-agent exchange via import and require on its prebuilt addon, with no cargo on PATH', () => {
    expect(() => execFileSync('cargo', ['--version'], { env, stdio: 'ignore' })).toThrow();
    // The file node-gyp-build picked in the installed package, nothing else
    // (the cargo fallback would be dlopen'ed and not listed).
    const addon = `addon ${prebuildPath(installed)}\n`;
    for (const script of ['exchange.mjs', 'exchange.cjs']) {
      const out = run(process.execPath, [script], app);
      expect(out, script).toBe(`${addon}ok ${process.version}\n`);
    }
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

  // The floor of `engines` exactly (the first 22.x whose require() loads the
  // ES-module-only @noble/hashes 2 unflagged), and the newest 22, 24 and 26:
  // the versions the package claims, as a user's machine would have them.
  it.each([ENGINES_FLOOR, '22', '24', '26'])('runs on Node %s as well', async (spec) => {
    const prefix = path.join(work, `node-${spec}`);
    mkdirSync(prefix);
    writeFileSync(path.join(prefix, 'package.json'), JSON.stringify({ name: `n${spec.replaceAll('.', '-')}`, private: true }));
    // The `node` package installs the official binary from the npm registry.
    // Asynchronously: a worker blocked for this long misses vitest's RPC deadline.
    await runAsync('npm', ['install', '--no-audit', '--no-fund', '--prefix', prefix, `node@${spec}`], work);
    const bin = path.join(prefix, 'node_modules', 'node', 'bin', 'node');
    expect(readdirSync(path.dirname(bin))).toContain('node');
    const version = (await runAsync(bin, ['--version'], work)).trim();
    // `22.12.0` is that release exactly; `22` is the newest 22.x.
    expect(version).toMatch(new RegExp(spec.includes('.') ? `^v${spec.replaceAll('.', '\\.')}$` : `^v${spec}\\.`));
    // Which addon it loaded as well: the prebuilt one of the installed package.
    const expected = `addon ${prebuildPath(installed)}\nok ${version}\n`;
    expect(await runAsync(bin, ['exchange.mjs'], app), `${version} import`).toBe(expected);
    expect(await runAsync(bin, ['exchange.cjs'], app), `${version} require`).toBe(expected);
  }, 300_000);

  // 20.20 is the line the full suite runs on here (the machine's Node); it
  // is end of life, and stays admitted only as long as it is tested.
  it('claims in `engines` no Node older than the ones it runs on above and in the full suite', () => {
    const { engines } = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')) as {
      engines?: { node?: string };
    };
    expect(engines?.node).toBe(`^20.20.0 || >=${ENGINES_FLOOR}`);
  });

  // libc only splits linux builds; on darwin and win32 LIBC changes nothing.
  it.runIf(HOST.platform === 'linux')(
    'on a linux host whose libc it has no build for, require and import fail with a clear error',
    () => {
      const other = HOST.libc === 'musl' ? 'glibc' : 'musl';
      const report = 'err => { console.log(err.name + " " + err.code); console.log(err.message); }';
      const scripts = [
        ['-e', `try { require('@x0x/node'); } catch (err) { (${report})(err); }`],
        ['--input-type=module', '-e', `await import('@x0x/node').catch(${report});`],
      ];
      for (const args of scripts) {
        // LIBC is node-gyp-build's override of its libc detection: this is
        // what an Alpine user of a glibc-only package meets.
        const result = spawnSync(process.execPath, args, { cwd: app, env: { ...env, LIBC: other }, encoding: 'utf8' });
        expect(result.status, result.stderr).toBe(0);
        expect(result.stdout).toContain('NativeMissingError ERR_X0X_NATIVE_MISSING\n');
        expect(result.stdout).toContain(`no x0x addon for platform linux, arch ${HOST.arch}, libc ${other}`);
        const listed = result.stdout.split('\n').find((line) => line.startsWith('This package has prebuilt addons for: '));
        expect(listed).toContain(`linux-${HOST.arch}-${HOST.libc}`);
        expect(listed).toContain(`(in ${path.join(installed, 'prebuilds')})`);
      }
    },
  );
});
