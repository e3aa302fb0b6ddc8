'use strict';
// npm install hook. A packed tarball ships prebuilds/<platform>-<arch>/x0x.node
// and needs nothing; a git checkout has no prebuild, so build from source.

const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const prebuilt = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'x0x.node');
const crate = path.join(root, 'crates', 'x0x-napi', 'Cargo.toml');

if (fs.existsSync(prebuilt)) process.exit(0);
if (!fs.existsSync(crate)) {
  console.error(
    `x0x: no prebuilt addon for ${process.platform}-${process.arch} in this package and no Rust sources to build one.`,
  );
  process.exit(1);
}
try {
  require('./build.cjs').build();
} catch (err) {
  console.error(`x0x: ${err.message}`);
  process.exit(1);
}
