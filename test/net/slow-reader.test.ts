// A peer that stops reading must not hold every publish back (issue 14,
// finding 10). One of three agents is stopped (SIGSTOP): its QUIC
// connection stays up but takes and acknowledges nothing, as a peer that
// reads just under the stuck-send limit looks from outside. The publisher's
// other subscriber must still get every message, and the publisher must get
// there without first closing the stopped peer's connection, which the
// stuck-send limit (20 s of no progress) would do. Before the fix every
// publish waited on the stopped peer's backlog until that limit struck.
//
// SWIM is slowed down so that only the stuck-send limit could close the
// connection while the test runs: otherwise the failure detector would
// drop the stopped peer and hide what is tested.
import { describe, expect, it } from 'vitest';

import { startNetwork, useNetHarness, waitUntilMeshed } from './harness.js';

useNetHarness();

const TOPIC = 'slow-reader';
/** 24 MiB: past what QUIC buffers for the stopped peer (a 10 MB send window) plus the 4 MiB publish backlog. */
const MESSAGES = 384;
const PAYLOAD_BYTES = 64 * 1024;

describe('a peer that stops reading', () => {
  it('does not hold back publishes to everyone else', async () => {
    const { agents } = await startNetwork(3, { config: { probeInterval: 60_000, suspectTimeout: 600_000 } });
    const [publisher, honest, stalled] = agents as [(typeof agents)[0], (typeof agents)[0], (typeof agents)[0]];
    // The stopped peer's only way in is the publisher, so the publisher's
    // tree pushes to it directly (through the other subscriber it would be
    // that agent's backlog, not the publisher's).
    await honest.blockPeer(stalled.agentId);
    await stalled.blockPeer(honest.agentId);
    const [, honestSub] = await waitUntilMeshed([publisher, honest, stalled], TOPIC, { publishers: [publisher] });
    const peers = (await publisher.connectedPeers()).map((p) => p.peerId);
    expect(peers).toContain(stalled.agentId);

    stalled.pause();
    try {
      const ids = await publisher.publishMany(TOPIC, { random: PAYLOAD_BYTES }, MESSAGES);
      const got = await honest.waitForMessages(MESSAGES, { where: (m) => m.handle === honestSub, timeoutMs: 120_000 });
      expect(new Set(got.map((m) => m.id))).toEqual(new Set(ids));

      const diag = await publisher.diagnostics();
      expect(diag['transport.stuckSends'], 'no connection had to be closed to get there').toBe(0);
      expect((await publisher.connectedPeers()).map((p) => p.peerId)).toContain(stalled.agentId);
      expect(diag['transport.publishesPastLagging'], 'the stopped peer held publishes back for a while').toBeGreaterThan(0);
    } finally {
      stalled.resume();
    }
  });
});
