// THIRD_PARTY_NOTICES.md is generated from Cargo.lock and package-lock.json;
// a dependency change that does not regenerate it would ship wrong notices.
// This needs cargo (CI's test job has it: `npm ci` builds the addon) and may
// download crates of the other shipped platforms into cargo's registry.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

const ROOT = path.join(__dirname, '..', '..');

describe('THIRD_PARTY_NOTICES.md', () => {
  it('is what `npm run notices` writes from the current lock files', async () => {
    const { NOTICES_FILE, generateNotices } = await import('../../scripts/third-party-notices.mjs');
    // A checkout with autocrlf turns LF into CRLF; that is not drift.
    const committed = readFileSync(path.join(ROOT, NOTICES_FILE), 'utf8').replace(/\r\n/g, '\n');
    const generated = generateNotices({ root: ROOT });
    if (generated === committed) return;
    // A diff of a 600 kB file is noise; the first differing line says enough
    // to see what moved, and the command says how to fix it.
    const have = committed.split('\n');
    const want = generated.split('\n');
    const at = want.findIndex((line, i) => line !== have[i]);
    const line = at === -1 ? want.length : at;
    expect.fail(
      `${NOTICES_FILE} is out of date: run \`npm run notices\` and commit the result.\n` +
        `First difference at line ${line + 1}:\n  committed: ${JSON.stringify(have[line])}\n  generated: ${JSON.stringify(want[line])}`,
    );
  }, 300_000);
});
