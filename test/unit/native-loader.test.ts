// native/index.cjs run from a throwaway package root, so the outcome does not
// depend on whether this machine has built the addon.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

const LOADER = path.join(__dirname, '..', '..', 'native', 'index.cjs');
const LIBRARY =
  process.platform === 'darwin' ? 'libx0x_napi.dylib' : process.platform === 'win32' ? 'x0x_napi.dll' : 'libx0x_napi.so';

let root: string;
let savedTargetDir: string | undefined;

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'x0x-loader-'));
  mkdirSync(path.join(root, 'native'));
  copyFileSync(LOADER, path.join(root, 'native', 'index.cjs'));
  savedTargetDir = process.env.CARGO_TARGET_DIR;
  delete process.env.CARGO_TARGET_DIR;
});

afterEach(() => {
  if (savedTargetDir === undefined) delete process.env.CARGO_TARGET_DIR;
  else process.env.CARGO_TARGET_DIR = savedTargetDir;
  rmSync(root, { recursive: true, force: true });
});

function loadError(): Error {
  try {
    createRequire(path.join(root, 'package.json'))('./native/index.cjs');
  } catch (err) {
    return err as Error;
  }
  throw new Error('the loader did not throw');
}

const prebuilt = (): string => path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'x0x.node');

describe('native/index.cjs', () => {
  it('without any addon, names every path tried and the fix', () => {
    const err = loadError();
    expect((err as Error & { code?: unknown }).code).toBe('ERR_X0X_NATIVE_MISSING');
    expect(err.message.startsWith('no x0x addon for')).toBe(true);
    expect(err.message).toContain(prebuilt());
    expect(err.message).toContain(path.join(root, 'target', 'release', LIBRARY));
    expect(err.message).toContain('npm run build:native');
    expect(fromNative(err)).toBeInstanceOf(NativeMissingError);
  });

  it('resolves a relative CARGO_TARGET_DIR against the package root', () => {
    process.env.CARGO_TARGET_DIR = 'elsewhere/target';
    expect(loadError().message).toContain(path.join(root, 'elsewhere', 'target', 'release', LIBRARY));
  });

  it('reports a prebuilt file that fails to load, without trying further', () => {
    mkdirSync(path.dirname(prebuilt()), { recursive: true });
    writeFileSync(prebuilt(), 'not a shared object');
    const err = loadError();
    expect(fromNative(err)).toBeInstanceOf(NativeMissingError);
    expect(err.message).toContain(`addon at ${prebuilt()} failed to load`);
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
});

describe('src/native.ts', () => {
  it('loads nothing until loadBinding() is called', () => {
    const cache = createRequire(__filename).cache;
    const loaded = Object.keys(cache).filter((file) => file.endsWith(path.join('native', 'index.cjs')));
    expect(loaded).toStrictEqual([]);
  });
});
