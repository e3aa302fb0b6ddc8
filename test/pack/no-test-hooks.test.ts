// Test hooks stay out of the product: the shipped addon (prebuilds/, built by
// `node native/build.cjs`) contains none of the frame hooks, the test addon
// (`npm run build:test-addon`, outside the package) does, and the tarball
// carries neither the test addon nor a test-hooks module.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { loadBinding } from '../../src/native.js';

const ROOT = path.join(__dirname, '..', '..');
const requireHere = createRequire(__filename);
const { testAddonPath } = requireHere('../../native/build.cjs') as { testAddonPath(): string };
const { prebuildPath } = requireHere('../../native/prebuilds.cjs') as { prebuildPath(root: string): string };
const SHIPPED = prebuildPath(ROOT);

/** The JS names napi registers and the Rust names behind them. */
const HOOK_NAMES = [
  'sealFrame',
  'resealFrame',
  'publishRaw',
  'panicForTest',
  'seal_frame',
  'reseal_frame',
  'publish_raw',
  'panic_for_test',
];

describe('test hooks', () => {
  it('the shipped addon has none of the hook names in its bytes', () => {
    const bytes = readFileSync(SHIPPED);
    for (const name of HOOK_NAMES) expect(bytes.includes(name), name).toBe(false);
  });

  it('the shipped addon loaded in-process exports no hook', () => {
    if (process.env.X0X_NATIVE_LIBRARY_PATH !== undefined) return; // not the shipped one
    const proto = loadBinding().NativeAgent.prototype as unknown as Record<string, unknown>;
    for (const name of ['sealFrame', 'resealFrame', 'publishRaw']) expect(proto[name], name).toBeUndefined();
  });

  it('the test addon, built outside the package, has them (so the check above can see them)', () => {
    expect(existsSync(testAddonPath()), `${testAddonPath()}: run npm run build:test-addon`).toBe(true);
    expect(path.relative(ROOT, testAddonPath()).startsWith('prebuilds')).toBe(false);
    const bytes = readFileSync(testAddonPath());
    for (const name of ['sealFrame', 'resealFrame', 'publishRaw', 'panicForTest']) expect(bytes.includes(name), name).toBe(true);
  });

  it('npm pack --dry-run lists no testing module, hook helper or test addon', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    const [info] = JSON.parse(out) as { files: { path: string }[] }[];
    const files = (info?.files ?? []).map((f) => f.path);
    expect(files.length).toBeGreaterThan(0);
    const offending = files.filter(
      (f) => /(^|\/)testing\.(js|d\.ts|js\.map|d\.ts\.map|mjs)$/.test(f) || /hooks/.test(f) || f.startsWith('test/'),
    );
    expect(offending).toStrictEqual([]);
    // Only the shipped addons are packed.
    expect(files.filter((f) => f.endsWith('.node')).every((f) => f.startsWith('prebuilds/'))).toBe(true);
  });
});
