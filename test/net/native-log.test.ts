// The Rust log bridge of the real addon, driven directly: with a filter
// naming one namespace, only that namespace's records cross into
// JavaScript (the rest are refused per callsite in Rust); with the filter
// off, nothing crosses. The facade is not involved (no logger, DEBUG unset),
// so what arrives is exactly what Rust let through.
import { describe, expect, it } from 'vitest';

import { Agent } from '../../src/agent.js';
import { loadBinding, type NativeLogRecord } from '../../src/native.js';

const WAIT_MS = 20_000;

/** Two agents join and close; returns their ids as saorsa-gossip prints them (8 bytes, hex). */
async function joinPair(): Promise<string[]> {
  const seed = await Agent.builder().build();
  const agent = await Agent.builder().withBootstrapPeers(seed.listenAddrs).build();
  try {
    await agent.joinNetwork({ signal: AbortSignal.timeout(WAIT_MS) });
    await agent.membership.waitForPeers(1, { signal: AbortSignal.timeout(WAIT_MS) });
  } finally {
    await agent.close();
    await seed.close();
  }
  return [seed.agentId.slice(0, 16), agent.agentId.slice(0, 16)];
}

/** Lets batches already on their way arrive. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function mentions(records: NativeLogRecord[], ids: string[]): NativeLogRecord[] {
  return records.filter((r) => r.fields.some((f) => ids.includes(String(f.value))));
}

describe('Rust log bridge (addon)', () => {
  it('lets only the filtered namespace cross, and nothing once off', async () => {
    const binding = loadBinding();
    const got: NativeLogRecord[] = [];
    let dropped = 0;
    binding.setLogSink((batch) => {
      got.push(...batch.records);
      dropped += batch.dropped;
    });

    binding.setLogFilter({ debugNames: ['x0x:membership'], debugSkips: [] });
    const first = await joinPair();
    await settle();
    expect(mentions(got, first).map((r) => r.message)).toContain('Added to active view');
    expect(new Set(got.map((r) => r.namespace))).toStrictEqual(new Set(['x0x:membership']));
    expect(got.every((r) => r.level !== 'trace' && r.target.startsWith('saorsa_gossip_membership'))).toBe(true);
    expect(dropped).toBe(0);

    // Off: the second pair's join logs nothing. (Records of the first pair
    // still on their way may arrive; they name the first pair's ids.)
    binding.setLogFilter({ debugNames: [], debugSkips: [] });
    const second = await joinPair();
    await settle();
    expect(mentions(got, second)).toStrictEqual([]);
  });
});
