#!/usr/bin/env node
// Checks that a linux-gnu shared object needs no glibc symbol version newer
// than a baseline, from `objdump -T` (its dynamic symbol table), and prints
// the newest version it needs. The release workflow runs it on each
// linux-gnu addon that `cargo zigbuild --target <triple>.2.17` built.
//
//   node scripts/glibc-baseline.mjs prebuilds/linux-x64/x0x.napi.glibc.node 2.17
//
// Exit 0: within the baseline. Exit 1: lists every symbol above it.
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';

/** Compares dotted versions numerically: -1, 0 or 1. */
export function compareVersions(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i += 1) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/**
 * The dynamic symbols in `objdump -T` output: `{ symbol, version, undefined,
 * weak }`, version as printed without parentheses (`GLIBC_2.17`, `GCC_3.0`)
 * or '' when the symbol has none.
 */
export function dynamicSymbols(objdumpText) {
  const found = [];
  for (const line of objdumpText.split('\n')) {
    // address, 7 flag characters, section, size, [version], name
    const m = /^[0-9a-f]+ (.{7}) (\S+)\s+[0-9a-f]+\s+(?:\(?([A-Za-z][A-Za-z0-9_.]*)\)?\s+)?(\S+)\s*$/.exec(line);
    if (!m) continue;
    const [, flags = '', section = '', version = '', symbol = ''] = m;
    found.push({ symbol, version, undefined: section === '*UND*', weak: flags.includes('w') });
  }
  return found;
}

/**
 * Judges `objdump -T` output against `baseline` (e.g. `2.17`).
 * @returns `{ newest, tooNew, unversioned }`: the newest GLIBC version needed
 *   (undefined when none is), the symbols needing a GLIBC version above the
 *   baseline or GLIBC_PRIVATE (no baseline promises those), and the strong
 *   undefined symbols with no version at all: the linker found them in no
 *   library, so the loader must, and a libc symbol newer than the baseline
 *   stubs would look like that.
 */
export function checkBaseline(objdumpText, baseline) {
  const symbols = dynamicSymbols(objdumpText);
  const glibc = symbols
    .filter((s) => s.version.startsWith('GLIBC_'))
    .map((s) => ({ symbol: s.symbol, version: s.version.slice('GLIBC_'.length) }));
  const newest = glibc
    .map((s) => s.version)
    .filter((v) => v !== 'PRIVATE')
    .sort(compareVersions)
    .at(-1);
  const tooNew = glibc.filter((s) => s.version === 'PRIVATE' || compareVersions(s.version, baseline) > 0);
  const unversioned = symbols.filter((s) => s.undefined && !s.weak && s.version === '').map((s) => s.symbol);
  return { newest, tooNew, unversioned };
}

function main([file, baseline]) {
  if (!file || !baseline || !/^[0-9]+\.[0-9]+$/.test(baseline)) {
    console.error('usage: node scripts/glibc-baseline.mjs <shared object> <baseline, e.g. 2.17>');
    return 2;
  }
  const text = execFileSync('objdump', ['-T', file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const { newest, tooNew, unversioned } = checkBaseline(text, baseline);
  if (tooNew.length > 0 || unversioned.length > 0) {
    if (tooNew.length > 0) console.error(`${file} needs glibc newer than ${baseline} (newest: GLIBC_${newest}):`);
    for (const { symbol, version } of tooNew) console.error(`  ${symbol} GLIBC_${version}`);
    if (unversioned.length > 0) console.error(`${file} has undefined symbols that no library versioned: ${unversioned.join(', ')}`);
    return 1;
  }
  console.log(`${file}: newest glibc symbol version GLIBC_${newest ?? 'none'}, within ${baseline}`);
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = main(process.argv.slice(2));
