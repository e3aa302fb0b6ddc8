#!/usr/bin/env node
// Writes THIRD_PARTY_NOTICES.md: the licences of every Rust crate linked into
// the shipped addon and of every npm package the JavaScript part loads.
//
//   npm run notices    regenerate the file (commit the result)
//
// test/unit/third-party-notices.test.ts regenerates it in memory and fails
// when the committed file is stale, so a Cargo.lock or package-lock.json
// change cannot ship with an outdated notice.
//
// The output depends only on the lock files and the published sources they
// pin (no timestamps, no local paths, everything sorted), so every machine
// writes the same bytes.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository root: this script lives in `<root>/scripts/`. */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The committed output, relative to the root. */
export const NOTICES_FILE = 'THIRD_PARTY_NOTICES.md';

/** The crate whose cdylib is the shipped `.node` addon. */
const ADDON_CRATE = 'x0x-napi';

/**
 * The targets the addon is (or is planned to be) shipped for: the
 * distribution matrix of issue 16. Listing all of them, not only the host,
 * makes the file the same on every machine, and covers the crates that only
 * one platform links (windows-sys, core-foundation, ...).
 */
export const TARGETS = [
  'aarch64-apple-darwin',
  'aarch64-pc-windows-msvc',
  'aarch64-unknown-linux-gnu',
  'aarch64-unknown-linux-musl',
  'x86_64-apple-darwin',
  'x86_64-pc-windows-msvc',
  'x86_64-unknown-linux-gnu',
  'x86_64-unknown-linux-musl',
];

/** Top-level files that hold a licence text or a notice the licence requires to pass on. */
const LICENCE_FILE = /^(licen[cs]e|copying|notice)/i;

/** A licence expression that names a copyleft licence (weak or strong). */
const COPYLEFT = /\b(A?GPL|LGPL|MPL|EPL|EUPL|CDDL|OSL|CPL|MS-RL)-/i;

/** A source-file header that puts the file under a GPL. */
const GPL_HEADER = /\b[AL]?GPL\b|General Public License/i;

/** How many lines of a source file count as its header. */
const HEADER_LINES = 40;

/**
 * Runs cargo in the repository and returns its stdout; cargo's own error
 * output is kept for the exception, since the caller may be a test.
 * @param {string} root
 * @param {string[]} args
 * @returns {string}
 */
function cargo(root, args) {
  try {
    return execFileSync('cargo', args, {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 1 << 28,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const stderr = /** @type {{ stderr?: string }} */ (err).stderr ?? '';
    throw new Error(`cargo ${args.join(' ')} failed: ${String(/** @type {Error} */ (err).message)}\n${stderr}`);
  }
}

/**
 * Compares dotted versions numerically where both parts are numbers, so
 * 0.10.0 sorts after 0.9.1; any other part compares by code unit.
 * @param {string} a
 * @param {string} b
 * @returns {number}
 */
function compareVersions(a, b) {
  const pa = a.split(/[.+-]/);
  const pb = b.split(/[.+-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    if (x === y) continue;
    if (/^\d+$/.test(x) && /^\d+$/.test(y)) return Number(x) - Number(y);
    return x < y ? -1 : 1;
  }
  return 0;
}

/**
 * Name, then version. Code-unit order, not the locale's, so the output does
 * not depend on the machine's settings.
 * @param {{ name: string, version: string }} a
 * @param {{ name: string, version: string }} b
 * @returns {number}
 */
function byNameAndVersion(a, b) {
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return compareVersions(a.version, b.version);
}

/**
 * Reads the licence files at the top of a package directory, sorted by name.
 * Line endings and trailing whitespace are normalised so that a CRLF
 * checkout and an LF one give the same text.
 * @param {string} dir
 * @returns {{ file: string, text: string }[]}
 */
function licenceFiles(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isFile() && LICENCE_FILE.test(entry.name))
    .map((entry) => entry.name)
    .sort()
    .map((file) => ({ file, text: normaliseText(readFileSync(path.join(dir, file), 'utf8')) }));
}

/**
 * @param {string} text
 * @returns {string}
 */
function normaliseText(text) {
  return text
    .replace(/^\uFEFF/, '')
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')
    .replace(/^\n+/, '')
    .replace(/\n+$/, '');
}

/**
 * All `.rs` files under a directory, relative to it, sorted.
 * @param {string} dir
 * @param {string} [prefix]
 * @returns {string[]}
 */
function rustFiles(dir, prefix = '') {
  /** @type {string[]} */
  const out = [];
  for (const entry of readdirSync(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(...rustFiles(dir, rel));
    else if (entry.isFile() && entry.name.endsWith('.rs')) out.push(rel);
  }
  return out.sort();
}

/**
 * @typedef {object} GplHeaders
 * @property {number} total     `.rs` files in the crate
 * @property {number} gpl       of those, the ones whose header names a GPL
 * @property {number} libTotal  `.rs` files under src/, not counting src/bin/ (the library the addon links)
 * @property {number} libGpl    of those, the ones whose header names a GPL
 * @property {string} quote     the first such header line of a library file, as written
 * @property {string} quoteFile the file it is from
 * @property {string[]} absent  licence files the headers name that the crate does not contain
 */

/**
 * Counts the crate's `.rs` files whose header puts them under a GPL: a
 * manifest's licence field is what tools read, the header is what the
 * author wrote in the file, and when the two disagree users must know.
 * @param {string} dir
 * @returns {GplHeaders | undefined} undefined when no header names a GPL
 */
function gplHeaders(dir) {
  const counts = { total: 0, gpl: 0, libTotal: 0, libGpl: 0, quote: '', quoteFile: '', absent: /** @type {string[]} */ ([]) };
  /** @type {Set<string>} */
  const named = new Set();
  for (const file of rustFiles(dir)) {
    const lib = file.startsWith('src/') && !file.startsWith('src/bin/');
    counts.total++;
    if (lib) counts.libTotal++;
    const head = readFileSync(path.join(dir, file), 'utf8').split('\n', HEADER_LINES);
    const line = head.find((l) => GPL_HEADER.test(l));
    if (line === undefined) continue;
    counts.gpl++;
    // The names end where the sentence does: "See LICENSE-GPL."
    for (const m of head.join('\n').matchAll(/\b(?:LICEN[CS]E|COPYING)[\w.-]*/g)) named.add(m[0].replace(/[.-]+$/, ''));
    if (!lib) continue;
    counts.libGpl++;
    // src/lib.rs first: it is the file a reader opens.
    if (counts.quote === '' || file === 'src/lib.rs') {
      counts.quote = line.replace(/^\s*\/\/[/!]?\s*/, '').trim();
      counts.quoteFile = file;
    }
  }
  counts.absent = [...named].filter((file) => !existsSync(path.join(dir, file))).sort();
  return counts.gpl > 0 ? counts : undefined;
}

/**
 * The key under which two licence texts count as the same: whitespace runs
 * collapsed, since a reflowed copy says the same thing.
 * @param {string} text
 * @returns {string}
 */
function sameTextKey(text) {
  return text.replace(/\s+/g, ' ').trim();
}

/**
 * @typedef {object} Entry
 * @property {string} name
 * @property {string} version
 * @property {string} licence   SPDX expression as the manifest states it
 * @property {string} source    where the code comes from, for the reader
 * @property {string[]} notes   extra lines under the entry
 * @property {{ file: string, text: string }[]} files
 * @property {string | undefined} [filesNote]  said instead of the files when there are none of its own
 */

/**
 * The Rust crates linked into the addon.
 *
 * The graph is cargo metadata's resolve, followed from x0x-napi along normal
 * edges only (no dev- or build-dependencies), once for every target in
 * TARGETS. cargo metadata unifies features across the whole workspace,
 * dev-dependencies included, so its graph holds crates that only a test
 * build pulls in (tracing-subscriber's env-filter, for instance); those are
 * dropped by keeping only what `cargo tree -e normal -p x0x-napi`, which
 * resolves features for the addon's own build, also lists.
 * @param {string} root
 * @returns {{ crates: Entry[], gpl: ({ name: string, version: string } & GplHeaders)[] }}
 */
function rustCrates(root) {
  /** @type {Map<string, any>} */
  const packages = new Map();
  /** @type {Set<string>} */
  const closure = new Set();
  /** @type {Set<string>} */
  let members = new Set();
  let workspaceRoot = root;
  for (const target of TARGETS) {
    const metadata = JSON.parse(cargo(root, ['metadata', '--locked', '--format-version', '1', '--filter-platform', target]));
    workspaceRoot = metadata.workspace_root;
    members = new Set(metadata.workspace_members);
    for (const pkg of metadata.packages) packages.set(pkg.id, pkg);
    const nodes = new Map(metadata.resolve.nodes.map((/** @type {any} */ node) => [node.id, node]));
    const addon = metadata.packages.find((/** @type {any} */ pkg) => pkg.name === ADDON_CRATE && members.has(pkg.id));
    if (addon === undefined) throw new Error(`no workspace member ${ADDON_CRATE}`);
    // The test addon is built with test-hooks; the shipped one must not be.
    if (nodes.get(addon.id).features.includes('test-hooks')) throw new Error('cargo metadata resolved x0x-napi with test-hooks');
    const queue = [addon.id];
    const seen = new Set(queue);
    while (queue.length > 0) {
      for (const dep of nodes.get(queue.shift()).deps) {
        if (seen.has(dep.pkg) || !dep.dep_kinds.some((/** @type {any} */ kind) => kind.kind === null)) continue;
        seen.add(dep.pkg);
        queue.push(dep.pkg);
      }
    }
    for (const id of seen) closure.add(id);
  }

  const tree = cargo(root, [
    'tree', '--locked', '-p', ADDON_CRATE, '-e', 'normal', '--prefix', 'none', '-f', '{p}',
    ...TARGETS.flatMap((target) => ['--target', target]),
  ]);
  /** @type {Set<string>} */
  const built = new Set();
  for (const line of tree.split('\n')) {
    const match = /^(\S+) v(\S+)/.exec(line);
    if (match) built.add(`${match[1]} ${match[2]}`);
  }

  /** @type {Entry[]} */
  const crates = [];
  /** @type {({ name: string, version: string } & GplHeaders)[]} */
  const gpl = [];
  const listed = new Set();
  for (const id of closure) {
    const pkg = packages.get(id);
    const key = `${pkg.name} ${pkg.version}`;
    if (!built.has(key)) continue;
    listed.add(key);
    const dir = path.dirname(pkg.manifest_path);
    const rel = path.relative(workspaceRoot, dir).split(path.sep).join('/');
    const isProcMacro = pkg.targets.some((/** @type {any} */ t) => t.kind.includes('proc-macro'));
    /** @type {string[]} */
    const notes = [];
    if (isProcMacro) notes.push('Procedural macro: it runs at build time; the code it generates is in the addon.');
    /** @type {Entry} */
    const entry = { name: pkg.name, version: pkg.version, licence: pkg.license ?? '(none stated)', source: '', notes, files: licenceFiles(dir) };
    if (pkg.license_file) notes.push(`Licence file named by the manifest: \`${pkg.license_file}\`.`);
    if (members.has(id)) {
      entry.source = `this repository, \`${rel}\``;
      // Workspace crates inherit the repository's licence; its two texts are
      // shipped at the top of the package.
      if (entry.files.length === 0) entry.filesNote = 'the repository\'s `LICENSE-MIT` and `LICENSE-APACHE`, shipped at the top of this package.';
    } else if (pkg.source === null || pkg.source === undefined) {
      const patched = existsSync(path.join(dir, 'PATCHED.md'));
      entry.source = patched
        ? `vendored in this repository, \`${rel}\`: a patched copy of the crates.io release (\`${rel}/PATCHED.md\` says what changed)`
        : `vendored in this repository, \`${rel}\``;
    } else if (pkg.source.startsWith('registry+https://github.com/rust-lang/crates.io-index')) {
      entry.source = `crates.io, https://crates.io/crates/${pkg.name}/${pkg.version}`;
    } else {
      entry.source = pkg.source;
    }
    if (pkg.repository) notes.push(`Repository: ${pkg.repository}`);
    if (entry.files.length === 0 && entry.filesNote === undefined) entry.filesNote = 'none in the crate.';
    const headers = gplHeaders(dir);
    if (headers !== undefined) gpl.push({ name: pkg.name, version: pkg.version, ...headers });
    crates.push(entry);
  }
  const missing = [...built].filter((key) => !listed.has(key));
  if (missing.length > 0) throw new Error(`cargo tree lists crates cargo metadata does not reach: ${missing.join(', ')}`);
  return { crates: crates.sort(byNameAndVersion), gpl: gpl.sort(byNameAndVersion) };
}

/**
 * The npm packages the package loads at run time: its `dependencies`,
 * transitively, as package-lock.json resolves them, with the texts from
 * node_modules. Peer dependencies (prom-client) are the user's own install.
 * @param {string} root
 * @returns {Entry[]}
 */
function npmPackages(root) {
  const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
  /** @type {Record<string, any>} */
  const entries = lock.packages;
  /**
   * Node's lookup: the nearest node_modules/<name> from `from` upwards.
   * @param {string} from
   * @param {string} name
   * @returns {string}
   */
  const resolve = (from, name) => {
    for (let dir = from; ; ) {
      const candidate = dir === '' ? `node_modules/${name}` : `${dir}/node_modules/${name}`;
      if (entries[candidate] !== undefined) return candidate;
      if (dir === '') throw new Error(`package-lock.json has no ${name} for ${from || 'the root'}`);
      const up = dir.lastIndexOf('/node_modules/');
      dir = up === -1 ? '' : dir.slice(0, up);
    }
  };
  const rootEntry = entries[''];
  const queue = Object.keys(rootEntry.dependencies ?? {}).map((name) => resolve('', name));
  const seen = new Set(queue);
  while (queue.length > 0) {
    const at = /** @type {string} */ (queue.shift());
    const entry = entries[at];
    for (const name of [...Object.keys(entry.dependencies ?? {}), ...Object.keys(entry.optionalDependencies ?? {})]) {
      const dep = resolve(at, name);
      if (seen.has(dep)) continue;
      seen.add(dep);
      queue.push(dep);
    }
  }
  return [...seen]
    .map((at) => {
      const entry = entries[at];
      const name = at.slice(at.lastIndexOf('node_modules/') + 'node_modules/'.length);
      const dir = path.join(root, ...at.split('/'));
      if (!existsSync(dir)) throw new Error(`${at} is not installed; run npm ci`);
      const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
      /** @type {Entry} */
      const out = {
        name,
        version: entry.version,
        licence: entry.license ?? manifest.license ?? '(none stated)',
        source: entry.resolved ?? `npm registry, https://www.npmjs.com/package/${name}/v/${entry.version}`,
        notes: [],
        files: licenceFiles(dir),
      };
      if (out.files.length === 0) out.filesNote = 'none in the package.';
      return out;
    })
    .sort(byNameAndVersion);
}

/**
 * GitHub's heading anchors: lower case, punctuation other than `-` and `_`
 * dropped, spaces to `-`, and `-1`, `-2`... on repeats.
 */
class Anchors {
  /** @type {Map<string, number>} */
  #used = new Map();

  /**
   * @param {string} heading
   * @returns {string}
   */
  next(heading) {
    const base = heading.toLowerCase().replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-');
    const n = this.#used.get(base) ?? 0;
    this.#used.set(base, n + 1);
    return n === 0 ? base : `${base}-${n}`;
  }
}

/**
 * A fenced block that no run of backticks inside the text can close.
 * @param {string} text
 * @returns {string}
 */
function fenced(text) {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}text\n${text}\n${fence}`;
}

/**
 * @param {string} text
 * @returns {string}
 */
function cell(text) {
  return text.replace(/\|/g, '\\|');
}

/**
 * Builds the whole notices file from the lock files, cargo metadata and the
 * installed or downloaded sources. Needs cargo on PATH (it may download
 * crates of other platforms into the registry) and node_modules from `npm ci`.
 * @param {{ root?: string }} [options] root: the repository (default: the one holding this script)
 * @returns {string} the Markdown text, ending in a newline
 */
export function generateNotices(options = {}) {
  const root = options.root ?? ROOT;
  const { crates, gpl } = rustCrates(root);
  const npm = npmPackages(root);
  const anchors = new Anchors();
  const headingOf = (/** @type {Entry} */ e) => `${e.name} ${e.version}`;

  // Anchors are assigned in document order, as GitHub does, so the summary
  // tables can link to sections below them.
  anchors.next('Third-party notices');
  for (const h of ['Licensing questions', 'How this list is made', 'Summary', 'Rust crates linked into the addon']) anchors.next(h);
  /** @type {Map<Entry, string>} */
  const anchorOf = new Map();
  for (const e of crates) anchorOf.set(e, anchors.next(headingOf(e)));
  anchors.next('npm packages');
  for (const e of npm) anchorOf.set(e, anchors.next(headingOf(e)));

  const copyleft = [...crates.map((e) => ({ e, kind: 'crate' })), ...npm.map((e) => ({ e, kind: 'npm package' }))].filter(
    ({ e }) => COPYLEFT.test(e.licence),
  );
  const noFiles = crates.filter((e) => e.files.length === 0 && !e.source.startsWith('this repository'));
  const link = (/** @type {Entry} */ e) => `[${headingOf(e)}](#${anchorOf.get(e)})`;

  const out = [];
  out.push('# Third-party notices', '');
  out.push(
    'Generated by `npm run notices` (`scripts/third-party-notices.mjs`) from `Cargo.lock`, `cargo metadata` and',
    '`package-lock.json`. Do not edit it by hand: the unit tests fail when it differs from what the script writes.',
    '',
    'The native addon in `prebuilds/` statically links the Rust crates listed below; the JavaScript in `dist/`',
    'loads the npm packages listed below. `@x0x/node` itself is licensed under MIT OR Apache-2.0 (`LICENSE-MIT`,',
    '`LICENSE-APACHE`).',
    '',
  );

  out.push('## Licensing questions', '');
  for (const g of gpl) {
    const e = crates.find((c) => c.name === g.name && c.version === g.version);
    out.push(
      `- **${g.name} ${g.version}: its manifest and its file headers disagree.** The manifest states ` +
        `\`${e?.licence}\`, but ${g.gpl} of its ${g.total} \`.rs\` files (${g.libGpl} of the ${g.libTotal} library ` +
        `sources under \`src/\`) carry a header that names the GPL; \`${g.quoteFile}\` says: "${g.quote}" ` +
        (g.absent.length > 0 ? `The crate has no ${g.absent.map((f) => `\`${f}\``).join(' or ')}, which the headers refer to. ` : '') +
        'See "Licensing" in README.md for what this means for whoever ships the addon.',
    );
  }
  if (copyleft.length > 0) {
    out.push(
      `- **Copyleft licences:** ${copyleft.map(({ e, kind }) => `${link(e)} (${kind}, \`${e.licence}\`)`).join(', ')}. ` +
        (copyleft.every(({ e }) => e.licence === 'MPL-2.0')
          ? 'MPL-2.0 is copyleft per file, not per program: whoever distributes the binary must tell recipients ' +
            'where the source of those files is (their sources are linked in their sections) and keep any change ' +
            'to those files under MPL-2.0; the rest of the program may stay under its own licence.'
          : 'Read each licence\'s terms before you distribute the binary.'),
    );
  } else {
    out.push('- No crate or package states a copyleft licence (GPL, LGPL, MPL, EPL, ...).');
  }
  if (noFiles.length > 0) {
    out.push(
      `- **No licence file** in the published crate, so only its stated licence is listed: ${noFiles.map(link).join(', ')}.`,
    );
  }
  out.push('');

  out.push('## How this list is made', '');
  out.push(
    `- **Rust:** the crates ${ADDON_CRATE} depends on through normal dependencies (not dev-, not build-dependencies),`,
    '  transitively, with its default features (the `test-hooks` feature of the test addon off). The graph is',
    '  `cargo metadata --locked`\'s resolve, taken once per target with `--filter-platform` for each of:',
    `  ${TARGETS.map((t) => `\`${t}\``).join(', ')}.`,
    '  `cargo metadata` unifies features across the workspace, dev-dependencies included, so crates that',
    `  \`cargo tree -e normal -p ${ADDON_CRATE}\` (the features of the addon's own build) does not list are left out.`,
    '  Procedural macros are listed and marked: they do not run in the addon, but their output is compiled into it.',
    '- **npm:** the `dependencies` of `package.json`, transitively, as `package-lock.json` resolves them.',
    '  `prom-client`, an optional peer dependency, is installed by the application, not by this package.',
    '- **Texts:** every `LICENSE*`, `COPYING*` and `NOTICE*` file at the top of a crate\'s or package\'s',
    '  directory, in full. A text identical to one printed earlier (ignoring line endings and trailing',
    '  whitespace) is printed once and referred to after that.',
    '',
  );

  out.push('## Summary', '');
  out.push(`${crates.length} Rust crates and ${npm.length} npm packages.`, '');
  out.push('| Rust crate | Version | Licence | Source |', '| --- | --- | --- | --- |');
  for (const e of crates) {
    const where = e.source.startsWith('crates.io') ? 'crates.io' : e.source.startsWith('this repository') ? 'this repository' : e.source.startsWith('vendored') ? 'vendored' : e.source;
    out.push(`| [${e.name}](#${anchorOf.get(e)}) | ${e.version} | ${cell(e.licence)} | ${cell(where)} |`);
  }
  out.push('');
  out.push('| npm package | Version | Licence |', '| --- | --- | --- |');
  for (const e of npm) out.push(`| [${e.name}](#${anchorOf.get(e)}) | ${e.version} | ${cell(e.licence)} |`);
  out.push('');

  /** @type {Map<string, string>} */
  const printed = new Map();
  const section = (/** @type {Entry} */ e) => {
    out.push(`### ${headingOf(e)}`, '');
    out.push(`- Licence: \`${e.licence}\``, `- Source: ${e.source}`);
    for (const note of e.notes) out.push(`- ${note}`);
    if (e.filesNote !== undefined) out.push(`- Licence files: ${e.filesNote}`);
    out.push('');
    for (const { file, text } of e.files) {
      const first = printed.get(sameTextKey(text));
      if (first !== undefined) {
        out.push(`\`${file}\`: the same text as ${first}.`, '');
        continue;
      }
      printed.set(sameTextKey(text), `\`${file}\` of ${link(e)}`);
      out.push(`\`${file}\`:`, '', fenced(text), '');
    }
  };

  out.push('## Rust crates linked into the addon', '');
  for (const e of crates) section(e);
  out.push('## npm packages', '');
  for (const e of npm) section(e);
  return `${out.join('\n').replace(/\n+$/, '')}\n`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const text = generateNotices();
  writeFileSync(path.join(ROOT, NOTICES_FILE), text);
  console.log(`wrote ${NOTICES_FILE} (${Buffer.byteLength(text)} bytes)`);
}
