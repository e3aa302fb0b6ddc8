'use strict';
// Loads the compiled x0x addon. Order: the prebuilt binary shipped in the
// package, then a local `cargo build --release` output for development.
// X0X_NATIVE_LIBRARY_PATH names one file to load instead (tests use it for
// the test addon built with `node native/build.cjs --test-hooks`).
// Failures throw an Error whose `code` is ERR_X0X_NATIVE_MISSING so that
// src/errors.ts maps it to NativeMissingError.

const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');

function cargoLibraryName() {
  if (process.platform === 'darwin') return 'libx0x_napi.dylib';
  if (process.platform === 'win32') return 'x0x_napi.dll';
  return 'libx0x_napi.so';
}

function candidates() {
  const prebuilt = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'x0x.node');
  // A relative CARGO_TARGET_DIR is taken relative to the package root, where
  // `npm run build:native` runs cargo, not to whatever cwd loads us.
  const targetDir = process.env.CARGO_TARGET_DIR
    ? path.resolve(root, process.env.CARGO_TARGET_DIR)
    : path.join(root, 'target');
  return [
    { file: prebuilt, load: (file) => require(file) },
    {
      file: path.join(targetDir, 'release', cargoLibraryName()),
      // require() only treats files ending in .node as addons; dlopen takes any name.
      load: (file) => {
        const mod = { exports: {} };
        process.dlopen(mod, file);
        return mod.exports;
      },
    },
  ];
}

function missing(message, options) {
  const err = new Error(message, options);
  err.code = 'ERR_X0X_NATIVE_MISSING';
  return err;
}

function load() {
  // An explicit addon file (the test addon, or a custom build) and nothing else.
  const explicit = process.env.X0X_NATIVE_LIBRARY_PATH;
  const tried = explicit
    ? [{ file: path.resolve(explicit), load: candidates()[1].load }]
    : candidates();
  for (const { file, load: loadFile } of tried) {
    if (!fs.existsSync(file)) continue;
    try {
      return loadFile(file);
    } catch (cause) {
      throw missing(
        `the x0x addon at ${file} failed to load (${cause && cause.message}); ` +
          'rebuild it with `npm run build:native`',
        { cause },
      );
    }
  }
  throw missing(
    `no x0x addon for ${process.platform}-${process.arch}; tried:\n` +
      tried.map(({ file }) => `  ${file}\n`).join('') +
      'Build it from source with `npm run build:native` (needs a Rust toolchain).',
  );
}

module.exports = load();
