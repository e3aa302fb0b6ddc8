'use strict';
// The names of the addons in prebuilds/, in the prebuildify layout that
// node-gyp-build reads: prebuilds/<platform>-<arch>/<name>.<tags>.node.
// build.cjs writes these names, load.cjs reports them, and node-gyp-build
// (not this module) chooses among them at load time.
//
// Tags, as node-gyp-build parses them (dot-separated; unknown words such as
// the leading `x0x` are ignored, so the file says what it is in a crash log):
// - `napi`: one Node-API build serves every Node and Electron version, so no
//   `abi<N>` tag; node-gyp-build only compares abi tags, and this has none.
// - `glibc` / `musl`, on linux only: both builds sit in linux-<arch>/ and
//   node-gyp-build takes the one whose libc matches. Files for darwin and
//   win32 carry no libc tag, because node-gyp-build reports libc `glibc`
//   there too and a `musl`-tagged file would never match.

const fs = require('node:fs');
const path = require('node:path');

const LIBCS = ['glibc', 'musl'];

/**
 * The libc node-gyp-build matches against: `LIBC` when set, else musl on
 * Alpine and glibc everywhere else. It keeps its answer private, so this
 * repeats its rule; the name build.cjs writes and the libc an error names
 * must be the ones it uses.
 */
function hostLibc() {
  if (process.env.LIBC) return process.env.LIBC;
  return process.platform === 'linux' && fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc';
}

/** This process's target: what node-gyp-build looks for. */
function hostTarget() {
  return { platform: process.platform, arch: process.arch, libc: hostLibc() };
}

/** `linux-x64-musl`, `darwin-arm64`: a target as errors and CI name it. */
function describeTarget({ platform, arch, libc }) {
  return platform === 'linux' && libc ? `${platform}-${arch}-${libc}` : `${platform}-${arch}`;
}

/** The file name of the addon built for `target`. */
function prebuildName({ platform, libc }) {
  return ['x0x', 'napi', ...(platform === 'linux' ? [libc] : []), 'node'].join('.');
}

/** Where the addon for `target` (this process's by default) sits under package root `root`. */
function prebuildPath(root, target = hostTarget()) {
  return path.join(root, 'prebuilds', `${target.platform}-${target.arch}`, prebuildName(target));
}

function readdir(dir) {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Every target that `root`'s prebuilds/ holds an addon for, described and
 * sorted; an untagged linux file serves either libc and is listed as
 * `linux-<arch>`.
 */
function prebuiltTargets(root) {
  const dir = path.join(root, 'prebuilds');
  const found = new Set();
  for (const tuple of readdir(dir)) {
    const [platform, arch, ...rest] = tuple.split('-');
    if (!platform || !arch || rest.length > 0) continue;
    for (const file of readdir(path.join(dir, tuple))) {
      if (!file.endsWith('.node')) continue;
      const libc = file.split('.').find((tag) => LIBCS.includes(tag));
      found.add(describeTarget({ platform, arch, libc }));
    }
  }
  return [...found].sort();
}

module.exports = { hostLibc, hostTarget, describeTarget, prebuildName, prebuildPath, prebuiltTargets };
