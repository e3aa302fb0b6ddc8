// agent.pubsub.waitForTopicPeers over the recording stand-in for the addon:
// what the facade itself does (validation, slicing the native wait, abort and
// close). Whether peers really announce their topics, and whether a publish
// after it reaches them, is tested across processes in test/net/pubsub.test.ts.
import '../helpers/use-fake-binding.js';

import { describe, expect, it } from 'vitest';

import { AbortError, Agent, ClosedError, InvalidConfigError, InvalidTopicError, MAX_TOPIC_PEERS_WAIT } from '../../src/index.js';
import { FakeAgent } from '../helpers/fake-binding.js';

function lastNative(): FakeAgent {
  const agent = FakeAgent.created.at(-1);
  if (!agent) throw new Error('no native agent was created');
  return agent;
}

describe('pubsub.waitForTopicPeers', () => {
  it('keeps asking in short native waits until a wait reports enough peers', async () => {
    const agent = await Agent.builder().build();
    const native = lastNative();
    // Each native wait returns early on success and at its timeout short of
    // `n`; the answers here stand for two short waits and a full one.
    native.topicPeerAnswers = [[], ['aa'.repeat(32)], ['aa'.repeat(32), 'bb'.repeat(32)]];
    expect(await agent.pubsub.waitForTopicPeers('news', 2)).toStrictEqual(['aa'.repeat(32), 'bb'.repeat(32)]);
    const waits = native.calls.filter((c) => c.startsWith('waitForTopicPeers'));
    expect(waits).toHaveLength(3);
    // Each native wait is bounded, so the facade can act on its signal between them.
    for (const w of waits) {
      const [, topic, n, timeoutMs] = w.split(' ');
      expect([topic, n]).toStrictEqual(['news', '2']);
      expect(Number(timeoutMs)).toBeLessThanOrEqual(1_000);
    }
    await agent.close();
  });

  it('rejects a bad count or topic, an abort and a closed agent', async () => {
    const agent = await Agent.builder().build();
    for (const count of [0, MAX_TOPIC_PEERS_WAIT + 1, 1.5, Number.NaN]) {
      const err = await agent.pubsub.waitForTopicPeers('news', count).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidConfigError);
      expect((err as InvalidConfigError).field).toBe('count');
    }
    await expect(agent.pubsub.waitForTopicPeers('news', '2' as never)).rejects.toBeInstanceOf(TypeError);
    await expect(agent.pubsub.waitForTopicPeers('', 1)).rejects.toBeInstanceOf(InvalidTopicError);
    expect(lastNative().calls.some((c) => c.startsWith('waitForTopicPeers'))).toBe(false);
    // The native wait never answers: only the signal can end it.
    const controller = new AbortController();
    const aborted = agent.pubsub.waitForTopicPeers('news', 1, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    await agent.close();
    await expect(agent.pubsub.waitForTopicPeers('news', 1)).rejects.toBeInstanceOf(ClosedError);
  });
});
