// `npm run bench:nat` (bench/nat/nat.run.ts): run through vitest only
// because the network-namespace kit it shares with the tests is TypeScript.
// It is a benchmark, not a test: `npm test` does not include it.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['bench/nat/*.run.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 120_000,
  },
});
