'use strict';
// Builds crates/x0x-napi in release mode and installs the result in
// prebuilds/ under the prebuildify name node-gyp-build picks on this host
// (e.g. prebuilds/linux-x64/x0x.napi.glibc.node; see prebuilds.cjs).
// With --test-hooks it builds the test addon instead (feature `test-hooks`:
// sealFrame, resealFrame, publishRaw) into the cargo target directory, outside
// the package, where only tests load it (X0X_NATIVE_LIBRARY_PATH). The test
// addon uses the `test-release` profile (release without LTO) and the
// package set of `npm run test:rust` (native/test-build.json), so the two
// share every artifact.
// Plain cargo (not `napi build`) so the build shares its target directory
// and artifacts with `cargo test`, which halves a clean CI build.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const { prebuildPath } = require('./prebuilds.cjs');

const root = path.join(__dirname, '..');

function libraryName() {
  if (process.platform === 'darwin') return 'libx0x_napi.dylib';
  if (process.platform === 'win32') return 'x0x_napi.dll';
  return 'libx0x_napi.so';
}

function targetDir() {
  return process.env.CARGO_TARGET_DIR ? path.resolve(root, process.env.CARGO_TARGET_DIR) : path.join(root, 'target');
}

/** Where the test addon goes: under the cargo target directory, never packed. */
function testAddonPath() {
  return path.join(targetDir(), 'x0x-test-hooks', 'x0x.node');
}

/**
 * The test addon is built in the same cargo invocation shape as
 * `npm run test:rust` (same packages, features and targets), so cargo
 * unifies the dependencies' features the same way, including those the
 * crates' dev-dependencies turn on, and the Rust tests reuse every artifact
 * instead of rebuilding tokio and everything above it.
 */
const TEST_BUILD = ['--all-targets', ...require('./test-build.json').cargoArgs];

function build({ testHooks = false } = {}) {
  const target = targetDir();
  const started = Date.now();
  const profile = testHooks ? 'test-release' : 'release';
  // cargo stays quiet for minutes while it compiles the dependencies; say
  // what is happening and how long it takes before it starts.
  console.log(
    `x0x: building the native addon from source (cargo, profile ${profile}${testHooks ? ', with test hooks' : ''}); ` +
      'a first build takes several minutes',
  );
  const result = spawnSync('cargo', ['build', '--profile', profile, '--locked', ...(testHooks ? TEST_BUILD : ['-p', 'x0x-napi'])], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, CARGO_TARGET_DIR: target },
  });
  if (result.error) {
    throw new Error(
      `cannot run cargo (${result.error.message}); install Rust from https://rustup.rs or use a package with a prebuilt binary`,
    );
  }
  if (result.status !== 0) throw new Error(`cargo build failed with exit code ${result.status}`);
  const dest = testHooks ? testAddonPath() : prebuildPath(root);
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  // Copy to a temp name then rename: a process that has the old addon mapped
  // keeps a valid file.
  fs.copyFileSync(path.join(target, profile, libraryName()), `${dest}.tmp`);
  fs.renameSync(`${dest}.tmp`, dest);
  // The name before the prebuildify layout: node-gyp-build would still match
  // it (an untagged file fits any libc), so a stale one could be packed and
  // loaded on musl.
  if (!testHooks) fs.rmSync(path.join(path.dirname(dest), 'x0x.node'), { force: true });
  const mb = (fs.statSync(dest).size / 1048576).toFixed(1);
  console.log(`x0x: built ${path.relative(root, dest)} (${mb} MB) in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

if (require.main === module) {
  try {
    build({ testHooks: process.argv.includes('--test-hooks') });
  } catch (err) {
    console.error(`x0x: ${err.message}`);
    process.exit(1);
  }
}

module.exports = { build, testAddonPath };
