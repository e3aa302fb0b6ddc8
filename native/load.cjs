'use strict';
// Finds and loads the x0x addon of the package at `root`. Order:
// 1. X0X_NATIVE_LIBRARY_PATH, when set, names one file and nothing else is
//    tried (tests use it for the test addon of `node native/build.cjs
//    --test-hooks`).
// 2. The prebuilt addon node-gyp-build picks from prebuilds/ for this
//    platform, arch and libc (see prebuilds.cjs for the names).
// 3. A local `cargo build --release` output, for development in a clone.
// Every failure throws an Error whose `code` is ERR_X0X_NATIVE_MISSING, which
// src/errors.ts maps to NativeMissingError.
// `root` is a parameter, not __dirname, so tests can point it at a throwaway
// package and see what a user on another target would see.

const fs = require('node:fs');
const path = require('node:path');
const nodeGypBuild = require('node-gyp-build');

const { describeTarget, hostTarget, prebuiltTargets } = require('./prebuilds.cjs');

function cargoLibraryName() {
  if (process.platform === 'darwin') return 'libx0x_napi.dylib';
  if (process.platform === 'win32') return 'x0x_napi.dll';
  return 'libx0x_napi.so';
}

function cargoOutput(root) {
  // A relative CARGO_TARGET_DIR is taken relative to the package root, where
  // `npm run build:native` runs cargo, not to whatever cwd loads us.
  const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(root, process.env.CARGO_TARGET_DIR) : path.join(root, 'target');
  return path.join(targetDir, 'release', cargoLibraryName());
}

function missing(message, options) {
  const err = new Error(message, options);
  err.code = 'ERR_X0X_NATIVE_MISSING';
  return err;
}

/** Loads one addon file; `require` only treats names ending in .node as addons, dlopen takes any. */
function open(file) {
  try {
    if (file.endsWith('.node')) return require(file);
    const mod = { exports: {} };
    process.dlopen(mod, file);
    return mod.exports;
  } catch (cause) {
    throw missing(
      `the x0x addon at ${file} failed to load (${cause && cause.message}); ` +
        'rebuild it with `npm run build:native`',
      { cause },
    );
  }
}

/** node-gyp-build's choice for this process, or undefined when nothing in prebuilds/ matches. */
function findPrebuilt(root) {
  try {
    return nodeGypBuild.resolve(root);
  } catch {
    // It throws only "No native build was found"; the error below says more.
    return undefined;
  }
}

function noAddon(root, dev) {
  const host = hostTarget();
  const targets = prebuiltTargets(root);
  return missing(
    `no x0x addon for platform ${host.platform}, arch ${host.arch}` +
      (host.platform === 'linux' ? `, libc ${host.libc}` : '') +
      ` (${describeTarget(host)}).\n` +
      `This package has prebuilt addons for: ${targets.length > 0 ? targets.join(', ') : 'none'} ` +
      `(in ${path.join(root, 'prebuilds')}).\n` +
      `Nor a local cargo build at ${dev}.\n` +
      'Build it from source in a clone with `npm run build:native` (needs a Rust toolchain).',
  );
}

/** The addon exports for the package at `root`; throws ERR_X0X_NATIVE_MISSING when none loads. */
function loadAddon(root) {
  const explicit = process.env.X0X_NATIVE_LIBRARY_PATH;
  if (explicit) {
    const file = path.resolve(explicit);
    if (!fs.existsSync(file)) throw missing(`X0X_NATIVE_LIBRARY_PATH names ${file}, which does not exist`);
    return open(file);
  }
  const prebuilt = findPrebuilt(root);
  if (prebuilt !== undefined) return open(prebuilt);
  const dev = cargoOutput(root);
  if (fs.existsSync(dev)) return open(dev);
  throw noAddon(root, dev);
}

module.exports = { loadAddon };
