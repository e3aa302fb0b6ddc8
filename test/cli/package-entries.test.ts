// What a user installs carries the `x0x` command and the `@x0x/node/testing`
// entry: package.json points at files that exist and that `npm pack` ships.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

const ROOT = path.join(__dirname, '..', '..');

interface Manifest {
  bin: Record<string, string>;
  exports: Record<string, Record<string, string> | string>;
}

describe('package entries', () => {
  const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Manifest;

  it('bin.x0x is an executable node script', () => {
    const bin = path.join(ROOT, manifest.bin.x0x ?? '');
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    if (process.platform !== 'win32') accessSync(bin, constants.X_OK);
  });

  it('npm pack ships the command, its modules and both forms of @x0x/node/testing', () => {
    // --ignore-scripts: dist/ is already built (the tests run on it), and
    // prepack would rebuild it under a running test.
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    const [info] = JSON.parse(out) as { files: { path: string }[] }[];
    const files = new Set((info?.files ?? []).map((f) => f.path));
    const testing = manifest.exports['./testing'] as Record<string, string>;
    for (const file of [
      manifest.bin.x0x,
      'dist/cjs/cli/main.js',
      'dist/cjs/cli/node.js',
      testing.import,
      testing.require,
      testing.types,
    ]) {
      expect(files, file).toContain(path.normalize(file ?? '').replace(/^\.\//, ''));
    }
  });
});
