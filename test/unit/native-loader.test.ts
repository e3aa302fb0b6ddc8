// native/load.cjs pointed at a throwaway package root, so the outcome does
// not depend on whether this machine has built the addon, and a missing
// target can be shown without faking process.platform.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

// Imported for their side effects on the module cache, checked below.
import '../../src/async-queue.js';
import '../../src/config.js';
import '../../src/message-input.js';
import '../../src/native.js';
import { fromNative, NativeMissingError } from '../../src/errors.js';

interface Target {
  platform: string;
  arch: string;
  libc?: string;
}

const requireHere = createRequire(__filename);
const LOAD = path.join(__dirname, '..', '..', 'native', 'load.cjs');
const { loadAddon } = requireHere(LOAD) as { loadAddon(root: string): unknown };
const { hostTarget, prebuildPath } = requireHere('../../native/prebuilds.cjs') as {
  hostTarget(): Required<Target>;
  prebuildPath(root: string, target?: Target): string;
};
const nodeGypBuild = requireHere('node-gyp-build') as { resolve(dir: string): string };

const LIBRARY =
  process.platform === 'darwin' ? 'libx0x_napi.dylib' : process.platform === 'win32' ? 'x0x_napi.dll' : 'libx0x_napi.so';
const HOST = hostTarget();
const OTHER_LIBC = HOST.libc === 'musl' ? 'glibc' : 'musl';

const SAVED = ['CARGO_TARGET_DIR', 'X0X_NATIVE_LIBRARY_PATH'] as const;
let root: string;
let saved: Partial<Record<(typeof SAVED)[number], string>>;

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'x0x-loader-'));
  writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'x0x-loader-fixture' }));
  saved = {};
  for (const name of SAVED) {
    if (process.env[name] !== undefined) saved[name] = process.env[name];
    delete process.env[name];
  }
});

afterEach(() => {
  for (const name of SAVED) {
    const value = saved[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  rmSync(root, { recursive: true, force: true });
});

/** Puts a file named as build.cjs would name `target`'s addon under `root`; its content is never a real addon. */
function place(target: Target, content = 'not a shared object'): string {
  const file = prebuildPath(root, target);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
  return file;
}

function loadError(): Error & { code?: unknown } {
  try {
    loadAddon(root);
  } catch (err) {
    return err as Error;
  }
  throw new Error('the loader did not throw');
}

describe('native/load.cjs', () => {
  it('with no addon for this target, names the platform, arch, libc, the prebuilt targets present and the fix', () => {
    // What a user on a target the package was not built for meets. Neither
    // build fits this host: on linux the first is for the other libc.
    const others = [
      { platform: 'linux', arch: HOST.arch, libc: OTHER_LIBC },
      { platform: HOST.platform === 'darwin' ? 'win32' : 'darwin', arch: 'arm64' },
    ];
    for (const target of others) place(target);
    const err = loadError();
    expect(err.code).toBe('ERR_X0X_NATIVE_MISSING');
    // libc is a linux matter: darwin and win32 builds carry no libc tag.
    const libc = HOST.platform === 'linux' ? `, libc ${HOST.libc}` : '';
    expect(err.message).toContain(`no x0x addon for platform ${HOST.platform}, arch ${HOST.arch}${libc}`);
    expect(err.message).toContain(
      `This package has prebuilt addons for: ${[`linux-${HOST.arch}-${OTHER_LIBC}`, `${others[1]?.platform}-arm64`].sort().join(', ')} ` +
        `(in ${path.join(root, 'prebuilds')})`,
    );
    expect(err.message).toContain(path.join(root, 'target', 'release', LIBRARY));
    expect(err.message).toContain('npm run build:native');
    expect(fromNative(err)).toBeInstanceOf(NativeMissingError);
  });

  it('in a package with no prebuilds/ at all, says it has none', () => {
    const err = loadError();
    expect(err.message).toContain(`This package has prebuilt addons for: none (in ${path.join(root, 'prebuilds')})`);
    expect(fromNative(err)).toBeInstanceOf(NativeMissingError);
  });

  it('build.cjs names the addon as node-gyp-build looks for it on this host', () => {
    const file = place(HOST);
    place({ platform: HOST.platform, arch: HOST.arch, libc: OTHER_LIBC });
    expect(nodeGypBuild.resolve(root)).toBe(file);
  });

  it.each(['glibc', 'musl'])('with both libc builds present, LIBC=%s loads that one', (libc) => {
    // node-gyp-build reads LIBC once, when it is first required: a fresh process.
    const target = { platform: 'linux', arch: process.arch };
    const glibc = prebuildPath(root, { ...target, libc: 'glibc' });
    const musl = prebuildPath(root, { ...target, libc: 'musl' });
    mkdirSync(path.dirname(glibc), { recursive: true });
    writeFileSync(glibc, 'glibc build');
    writeFileSync(musl, 'musl build');
    const script = `
      try { require(${JSON.stringify(LOAD)}).loadAddon(${JSON.stringify(root)}) }
      catch (err) { console.log(err.code + ' ' + err.message) }`;
    const out = execFileSync(process.execPath, ['-e', script], {
      env: { ...process.env, LIBC: libc, npm_config_platform: 'linux' },
      encoding: 'utf8',
    });
    expect(out).toContain(`ERR_X0X_NATIVE_MISSING the x0x addon at ${libc === 'musl' ? musl : glibc} failed to load`);
  });

  it('resolves a relative CARGO_TARGET_DIR against the package root', () => {
    process.env.CARGO_TARGET_DIR = 'elsewhere/target';
    expect(loadError().message).toContain(path.join(root, 'elsewhere', 'target', 'release', LIBRARY));
  });

  it('reports a prebuilt file that fails to load, without trying further', () => {
    const file = place(HOST);
    process.env.CARGO_TARGET_DIR = path.join(root, 'custom');
    mkdirSync(path.join(root, 'custom', 'release'), { recursive: true });
    writeFileSync(path.join(root, 'custom', 'release', LIBRARY), 'never reached');
    const err = loadError();
    expect(fromNative(err)).toBeInstanceOf(NativeMissingError);
    expect(err.message).toContain(`addon at ${file} failed to load`);
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('falls back to the cargo build output and loads it with dlopen', () => {
    const library = path.join(root, 'custom', 'release', LIBRARY);
    process.env.CARGO_TARGET_DIR = path.join(root, 'custom');
    mkdirSync(path.dirname(library), { recursive: true });
    writeFileSync(library, 'not a shared object either');
    const err = loadError();
    expect(fromNative(err)).toBeInstanceOf(NativeMissingError);
    expect(err.message).toContain(`addon at ${library} failed to load`);
  });

  it('X0X_NATIVE_LIBRARY_PATH loads that file and nothing else', () => {
    place(HOST);
    process.env.X0X_NATIVE_LIBRARY_PATH = path.join(root, 'absent.node');
    const err = loadError();
    expect(err.code).toBe('ERR_X0X_NATIVE_MISSING');
    expect(err.message).toBe(`X0X_NATIVE_LIBRARY_PATH names ${path.join(root, 'absent.node')}, which does not exist`);
  });
});

describe('src/native.ts', () => {
  it('loads nothing until loadBinding() is called', () => {
    const cache = requireHere.cache;
    const loaded = Object.keys(cache).filter((file) => file.endsWith(path.join('native', 'index.cjs')));
    expect(loaded).toStrictEqual([]);
  });
});
