// agent.membership.waitForPeers over the recording stand-in for the addon:
// it resolves on the peer-joined event that fills the view, and ends on
// abort or close. Views themselves are tested across processes in
// test/net/membership.test.ts.
import '../helpers/use-fake-binding.js';

import { describe, expect, it } from 'vitest';

import { AbortError, Agent, ClosedError, InvalidConfigError } from '../../src/index.js';
import { FakeAgent } from '../helpers/fake-binding.js';

function lastNative(): FakeAgent {
  const agent = FakeAgent.created.at(-1);
  if (!agent) throw new Error('no native agent was created');
  return agent;
}

const peer = (n: number) => ({ peerId: n.toString(16).padStart(2, '0').repeat(32), addr: `127.0.0.1:${40000 + n}` });
const joined = (n: number) => ({ type: 'peer-joined' as const, peerId: peer(n).peerId, addr: peer(n).addr, at: n });

describe('membership.waitForPeers', () => {
  it('resolves at once when the view is already big enough, else on the join that fills it', async () => {
    const agent = await Agent.builder().build();
    const native = lastNative();
    native.active = [peer(1)];
    expect(await agent.membership.waitForPeers(1)).toStrictEqual([peer(1)]);

    let settled = false;
    const waiting = agent.membership.waitForPeers(3).then((v) => ((settled = true), v));
    await new Promise((r) => setImmediate(r));
    const events = native.membershipStreams.at(-1)!;
    native.active = [peer(1), peer(2)];
    events.push(joined(2));
    await new Promise((r) => setTimeout(r, 10));
    expect(settled).toBe(false);
    native.active = [peer(1), peer(2), peer(3)];
    events.push(joined(3));
    expect(await waiting).toStrictEqual([peer(1), peer(2), peer(3)]);
    expect(events.closeCalls).toBe(1);
    await agent.close();
  });

  it('re-checks the view when the event stream lagged, since the filling join may be among the lost', async () => {
    const agent = await Agent.builder().build();
    const native = lastNative();
    native.active = [];
    const waiting = agent.membership.waitForPeers(2);
    await new Promise((r) => setImmediate(r));
    native.active = [peer(1), peer(2)];
    native.membershipStreams.at(-1)!.push({ type: 'lagged', missed: 2 });
    expect(await waiting).toStrictEqual([peer(1), peer(2)]);
    await agent.close();
  });

  it('rejects a bad count, an abort, and a close', async () => {
    const agent = await Agent.builder().build();
    lastNative().active = [];
    // 11 is above the default activeViewSize (10).
    for (const count of [0, 11, 1.5]) {
      await expect(agent.membership.waitForPeers(count)).rejects.toBeInstanceOf(InvalidConfigError);
    }
    await expect(agent.membership.waitForPeers('2' as never)).rejects.toBeInstanceOf(TypeError);
    const controller = new AbortController();
    const aborted = agent.membership.waitForPeers(2, { signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toBeInstanceOf(AbortError);

    const closing = agent.membership.waitForPeers(2);
    await new Promise((r) => setImmediate(r));
    await agent.close();
    await expect(closing).rejects.toBeInstanceOf(ClosedError);
    await expect(agent.membership.waitForPeers(1)).rejects.toBeInstanceOf(ClosedError);
  });

  it('bounds count by the agent\'s own activeViewSize, and says so', async () => {
    const small = await Agent.builder().withConfig({ activeViewSize: 8 }).build();
    const large = await Agent.builder().withConfig({ activeViewSize: 12 }).build();
    for (const native of FakeAgent.created.slice(-2)) native.active = Array.from({ length: 12 }, (_, i) => peer(i + 1));
    const refused = await small.membership.waitForPeers(9).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(InvalidConfigError);
    expect(refused).toMatchObject({ code: 'ERR_X0X_INVALID_CONFIG', field: 'count' });
    // The brief for this error is its message: a user must learn the range
    // and which setting sets it without reading the source.
    expect((refused as Error).message).toContain('from 1 to 8');
    expect((refused as Error).message).toContain('activeViewSize');
    await expect(small.membership.waitForPeers(8)).resolves.toHaveLength(12);
    await expect(large.membership.waitForPeers(12)).resolves.toHaveLength(12);
    await expect(large.membership.waitForPeers(13)).rejects.toMatchObject({ field: 'count' });
    await Promise.all([small.close(), large.close()]);
  });
});
