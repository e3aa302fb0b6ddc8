// An agent's own subscriptions, on the real addon: which subscriptions a
// publish reaches and what they are handed is the core's routing, so it is
// checked here rather than over the unit tests' stand-in (which routes
// nothing). One agent in this process, no peers.
import { describe, expect, it } from 'vitest';

import { Agent, type Message } from '../../src/index.js';

const WAIT_MS = 20_000;

async function next(messages: AsyncIterator<Message>): Promise<Message> {
  const r = await messages.next();
  if (r.done === true) throw new Error('the subscription ended');
  return r.value;
}

describe('local delivery', () => {
  it('a publish reaches every subscription to its topic once, as UTF-8 with the returned id, and no other topic', async () => {
    await using agent = await Agent.builder().build();
    await agent.joinNetwork();
    // A lost or misrouted message ends the test with AbortError instead of a hang.
    const opts = { signal: AbortSignal.timeout(WAIT_MS) };
    const [t1, t2, u] = await Promise.all([
      agent.subscribe('local.t', opts),
      agent.subscribe('local.t', opts),
      agent.subscribe('local.u', opts),
    ]).then((subs) => subs.map((s) => s[Symbol.asyncIterator]()));

    const id = await agent.publish('local.t', 'héllo');
    const fenceU = await agent.publish('local.u', 'fence u');
    const fenceT = await agent.publish('local.t', 'fence t');

    for (const sub of [t1!, t2!]) {
      const m = await next(sub);
      expect(m).toMatchObject({ topic: 'local.t', id, from: agent.agentId });
      expect([...m.payload]).toStrictEqual([...Buffer.from('héllo', 'utf8')]);
      expect(new TextDecoder().decode(m.payload)).toBe('héllo');
      // Once: the next thing on it is the message published after.
      expect((await next(sub)).id).toBe(fenceT);
    }
    // Published on local.t before the fence, so it would have come first.
    expect((await next(u!)).id).toBe(fenceU);
    expect(new Set([id, fenceU, fenceT]).size).toBe(3);
  });
});
