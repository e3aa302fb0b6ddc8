// publish() takes an AbortSignal (issue 14, finding 10): a publish given up
// on is one that was never sent, and one with a live signal goes through
// the sliced native path and arrives like any other. Two agents on loopback.
import { describe, expect, it } from 'vitest';

import { AbortError } from '../../src/errors.js';
import { createTestnet } from '../../src/testnet.js';

const WAIT_MS = 30_000;

describe('publish with a signal', () => {
  it('sends nothing once aborted, and delivers when not', async () => {
    const net = await createTestnet(2);
    try {
      const [publisher, receiver] = net.agents;
      const sub = await receiver!.subscribe('abortable');
      await publisher!.pubsub.waitForTopicPeers('abortable', 1, { signal: AbortSignal.timeout(WAIT_MS) });

      const aborted = AbortSignal.abort();
      await expect(publisher!.publish('abortable', 'never', { signal: aborted })).rejects.toBeInstanceOf(AbortError);
      const sent = await publisher!.publish('abortable', 'sent', { signal: AbortSignal.timeout(WAIT_MS) });

      const first = await sub[Symbol.asyncIterator]().next();
      expect(first.done).toBe(false);
      expect(new TextDecoder().decode(first.value!.payload)).toBe('sent');
      expect(first.value!.id).toBe(sent);
      expect(publisher!.pubsub.stats().published).toBe(1);
    } finally {
      await net.close();
    }
  });
});
