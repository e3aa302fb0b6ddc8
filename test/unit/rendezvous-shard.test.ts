// rendezvous.shardId: the shared vectors (also checked by `cargo test` in
// crates/x0x-core/src/shard.rs) and an even spread. Matching fixed vectors
// is what determinism means here; comparing shardId(x) with itself could
// not fail.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { SHARD_COUNT, shardId } from '../../src/rendezvous.js';

interface Vector {
  readonly agentId: string;
  readonly hashPrefix: string;
  readonly shard: number;
}

const VECTORS = (
  JSON.parse(readFileSync(path.join(__dirname, '..', 'vectors', 'rendezvous-shards.json'), 'utf8')) as {
    vectors: Vector[];
  }
).vectors;

/** Deterministic, well-spread ids: sha256 of a counter. */
function idAt(i: number): string {
  return createHash('sha256').update(`x0x-shard-test-${i}`).digest('hex');
}

describe('rendezvous.shardId', () => {
  it('matches the shared vectors', () => {
    expect(VECTORS.length).toBeGreaterThanOrEqual(8);
    for (const v of VECTORS) expect(shardId(v.agentId), v.agentId).toBe(v.shard);
  });

  it('reads the first two hash bytes little-endian', () => {
    for (const v of VECTORS) {
      const b = Buffer.from(v.hashPrefix, 'hex');
      expect(shardId(v.agentId)).toBe(b.readUInt16LE(0));
    }
  });

  it('spreads 100,000 ids evenly over the 65,536 shards (chi-square at 1%)', () => {
    const n = 100_000;
    const counts = new Uint32Array(SHARD_COUNT);
    for (let i = 0; i < n; i++) counts[shardId(idAt(i))]! += 1;
    // A typed array ignores writes outside 0..65535 and at fractions, so a
    // shard out of range would go missing from the total.
    expect(counts.reduce((a, b) => a + b, 0)).toBe(n);
    const expected = n / SHARD_COUNT;
    let chi = 0;
    for (const c of counts) chi += (c - expected) ** 2 / expected;
    // 65,535 degrees of freedom: the 1% critical value by the normal
    // approximation (Wilson-Hilferty is within 0.1% of it here).
    const dof = SHARD_COUNT - 1;
    const critical = dof + 2.3263 * Math.sqrt(2 * dof);
    expect(chi).toBeLessThan(critical);
  });

  it('rejects ids that are not 64 lowercase hex characters', () => {
    expect(() => shardId('abc')).toThrow(TypeError);
    expect(() => shardId('AA'.repeat(32))).toThrow(TypeError);
  });
});
