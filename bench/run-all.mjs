// Runs every benchmark in turn (`npm run bench`).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
for (const script of ['anti-entropy.mjs']) {
  const run = spawnSync(process.execPath, [path.join(here, script)], { stdio: 'inherit' });
  if (run.status !== 0) process.exitCode = 1;
}
