#!/usr/bin/env node
// Checks that prebuilds/ (or the folder given) holds exactly the addons of
// every target the release ships, under the names native/prebuilds.cjs gives
// them and node-gyp-build looks for, and prints each one's size. The CI pack
// job and the release workflow run it on the assembled artifacts.
//
//   node scripts/check-prebuilds.mjs [package root]
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { describeTarget, prebuildPath, prebuiltTargets } = require('../native/prebuilds.cjs');

/** What the GitHub workflow matrix builds: platform, arch and, on linux, libc. */
export const RELEASE_TARGETS = [
  { platform: 'linux', arch: 'x64', libc: 'glibc' },
  { platform: 'linux', arch: 'arm64', libc: 'glibc' },
  { platform: 'linux', arch: 'x64', libc: 'musl' },
  { platform: 'linux', arch: 'arm64', libc: 'musl' },
  { platform: 'darwin', arch: 'x64' },
  { platform: 'darwin', arch: 'arm64' },
  { platform: 'win32', arch: 'x64' },
  { platform: 'win32', arch: 'arm64' },
];

const root = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));
const want = RELEASE_TARGETS.map(describeTarget).sort();
const have = prebuiltTargets(root);
const missing = want.filter((t) => !have.includes(t));
const extra = have.filter((t) => !want.includes(t));
for (const target of RELEASE_TARGETS) {
  const file = prebuildPath(root, target);
  let size = 'missing';
  try {
    size = `${(statSync(file).size / 1048576).toFixed(1)} MB`;
  } catch {
    // reported below
  }
  console.log(`${describeTarget(target).padEnd(17)} ${path.relative(root, file).split(path.sep).join('/')}  ${size}`);
}
if (missing.length > 0 || extra.length > 0) {
  console.error(`prebuilds/ does not match the release targets: missing ${missing.join(', ') || 'none'}; unexpected ${extra.join(', ') || 'none'}`);
  process.exitCode = 1;
}
