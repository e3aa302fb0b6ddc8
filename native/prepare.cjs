'use strict';
// `prepare` hook: runs on `npm install` / `npm ci` in a git clone (and before
// `npm pack`), never when a user installs the published package, so a
// consumer's install runs no script at all and cannot fail on a platform
// without a prebuilt binary (the loader says so at require time instead).
// A clone has no prebuild, so build one from source.

const fs = require('node:fs');
const path = require('node:path');

const { describeTarget, hostTarget, prebuildPath } = require('./prebuilds.cjs');

const root = path.join(__dirname, '..');
const prebuilt = prebuildPath(root);
const crate = path.join(root, 'crates', 'x0x-napi', 'Cargo.toml');

if (fs.existsSync(prebuilt)) process.exit(0);
if (!fs.existsSync(crate)) {
  console.error(
    `x0x: no prebuilt addon for ${describeTarget(hostTarget())} in this package and no Rust sources to build one.`,
  );
  process.exit(1);
}
try {
  require('./build.cjs').build();
} catch (err) {
  console.error(`x0x: ${err.message}`);
  process.exit(1);
}
