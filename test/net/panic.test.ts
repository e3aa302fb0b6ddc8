// A Rust panic must not abort Node (issue 14, finding 13). Each binding call
// catches a panic where it would cross into JavaScript, so it arrives as a
// coded InternalError and the process lives on. The panics are made on
// purpose by test hooks of the test addon, in a child process, so that an
// abort (the old behaviour) shows as the child dying from SIGABRT rather
// than taking the test runner with it.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

const { testAddonPath } = createRequire(__filename)('../../native/build.cjs') as { testAddonPath(): string };
const dist = path.join(__dirname, '..', '..', 'dist', 'cjs');

const CHILD = `
const { loadBinding } = require(${JSON.stringify(path.join(dist, 'native.js'))});
const { callNative, callNativeSync, InternalError } = require(${JSON.stringify(path.join(dist, 'errors.js'))});
const binding = loadBinding();
const seen = [];
try {
  callNativeSync(() => binding.panicForTest('sync boom'));
  seen.push('no throw');
} catch (err) {
  seen.push([err.constructor.name, err.code, err instanceof InternalError, err.message]);
}
callNative(() => binding.panicAsyncForTest('async boom')).then(
  () => seen.push('no rejection'),
  (err) => seen.push([err.constructor.name, err.code, err instanceof InternalError, err.message]),
).then(() => {
  // Still usable after both panics.
  seen.push(binding.NativeKeypair.generate().agentId.length);
  console.log(JSON.stringify(seen));
});
`;

describe('panics in native code', () => {
  it('reach JavaScript as InternalError, and the process carries on', () => {
    const child = spawnSync(process.execPath, ['-e', CHILD], {
      env: { ...process.env, X0X_NATIVE_LIBRARY_PATH: testAddonPath() },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(child.signal, `child died: ${child.stderr}`).toBeNull();
    expect(child.status, child.stderr).toBe(0);
    const seen = JSON.parse(child.stdout.trim()) as unknown[];
    expect(seen[0]).toEqual(['InternalError', 'ERR_X0X_INTERNAL', true, expect.stringContaining('sync boom')]);
    // napi-rs words an async panic itself ("Panic in async function").
    expect(seen[1]).toEqual(['InternalError', 'ERR_X0X_INTERNAL', true, expect.any(String)]);
    expect(seen[2]).toBe(64);
  });
});
