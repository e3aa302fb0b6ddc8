// The walking skeleton, end to end: agents in separate Node processes, real
// QUIC on 127.0.0.1, the built package (dist/) in each child. Every test
// warms the overlay up with probes first (waitUntilMeshed) and then publishes
// each real message exactly once, so a lost message fails the test.
import { describe, expect, it } from 'vitest';

import {
  countById,
  flushTopic,
  pollUntil,
  sha256Hex,
  spawnAgent,
  startNetwork,
  useNetHarness,
  waitFor,
  waitUntilMeshed,
  type AgentProcess,
  type ReceivedMessage,
} from './harness.js';

useNetHarness();

/** Bound of a child's own exit after `close` (generous: the machine is shared). */
const EXIT_TIMEOUT_MS = 15_000;

interface Sent {
  readonly id: string;
  readonly from: AgentProcess;
  readonly text: string;
}

/** Publishes each text once, in order, and records the ids. */
async function publishAll(from: AgentProcess, topic: string, texts: readonly string[]): Promise<Sent[]> {
  const sent: Sent[] = [];
  for (const text of texts) sent.push({ id: await from.publish(topic, { text }), from, text });
  return sent;
}

/**
 * Asserts that `handle` of `agent` got exactly `expected` on `topic`: each
 * once, with the publisher's id as `from` and the payload intact.
 */
function expectExactlyOnce(agent: AgentProcess, handle: number, topic: string, expected: readonly Sent[]): void {
  const got = agent.messagesOf(handle);
  const counts = countById(got);
  expect(
    Object.fromEntries(counts),
    `${agent.name} h${handle}: every message exactly once, nothing else`,
  ).toEqual(Object.fromEntries(expected.map((s) => [s.id, 1])));
  for (const sent of expected) {
    const msg = got.find((m) => m.id === sent.id);
    expect(msg, `${agent.name} got ${sent.text}`).toMatchObject({
      topic,
      from: sent.from.agentId,
      text: sent.text,
      payloadLen: Buffer.byteLength(sent.text),
    });
  }
}

/** Resolves once `agent` exited by itself, or fails after `EXIT_TIMEOUT_MS`. */
async function exitOf(agent: AgentProcess): Promise<{ code: number | null; signal: string | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${agent.name} did not exit within ${EXIT_TIMEOUT_MS} ms of close(): a handle outlives Agent.close()`)),
      EXIT_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([agent.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Topology:   A ---- B ---- C      (A and C never connect)
 *
 * B is the only bootstrap. A and C block each other before joining, so every
 * connection and frame between them is refused and whatever A publishes can
 * reach C only through B. B subscribes to nothing: it relays as a plain
 * member of the overlay.
 */
async function relayTopology(): Promise<{ a: AgentProcess; b: AgentProcess; c: AgentProcess }> {
  const b = await spawnAgent({ name: 'B' });
  const [a, c] = await Promise.all([
    spawnAgent({ name: 'A', bootstrap: [b.addr] }),
    spawnAgent({ name: 'C', bootstrap: [b.addr] }),
  ]);
  await a.blockPeer(c.agentId);
  await c.blockPeer(a.agentId);
  await a.join();
  await c.join();
  return { a, b, c };
}

const idsOf = (sent: readonly Sent[]): Set<string> => new Set(sent.map((s) => s.id));
const hasAll = (ids: Set<string>) => (messages: readonly ReceivedMessage[]) =>
  [...ids].every((id) => messages.some((m) => m.id === id));

describe('walking skeleton over real QUIC between processes', () => {
  it('three agents joined through one bootstrap exchange messages on two topics in both directions', async () => {
    const { agents } = await startNetwork(3);
    const [a0, a1, a2] = agents as [AgentProcess, AgentProcess, AgentProcess];

    // Topic A: a1 and a0 publish, a0 and a2 subscribe (a0 also gets its own).
    // Topic B: a2 and a0 publish, a0 and a1 subscribe.
    const [hA0, hA2] = (await waitUntilMeshed([a0, a2], 'topic-a', { publishers: [a1, a0] })) as [number, number];
    const [hB0, hB1] = (await waitUntilMeshed([a0, a1], 'topic-b', { publishers: [a2, a0] })) as [number, number];

    const onA = [
      ...(await publishAll(a1, 'topic-a', ['A from a1 #1', 'A from a1 #2', 'A from a1 #3'])),
      ...(await publishAll(a0, 'topic-a', ['A from a0 #1', 'A from a0 #2'])),
    ];
    const onB = [
      ...(await publishAll(a2, 'topic-b', ['B from a2 #1', 'B from a2 #2', 'B from a2 #3'])),
      ...(await publishAll(a0, 'topic-b', ['B from a0 #1', 'B from a0 #2'])),
    ];
    expect(idsOf([...onA, ...onB]).size, 'every publish returns a fresh id').toBe(10);

    await Promise.all([
      a0.waitForMessages(hasAll(idsOf(onA)), { where: (m) => m.handle === hA0 }),
      a2.waitForMessages(hasAll(idsOf(onA)), { where: (m) => m.handle === hA2 }),
      a0.waitForMessages(hasAll(idsOf(onB)), { where: (m) => m.handle === hB0 }),
      a1.waitForMessages(hasAll(idsOf(onB)), { where: (m) => m.handle === hB1 }),
    ]);
    // Fence: a later probe on each topic from each publisher has arrived, so
    // a duplicate of an earlier message had its chance to show up.
    await flushTopic([a0, a2], [hA0, hA2], 'topic-a', { publishers: [a1, a0] });
    await flushTopic([a0, a1], [hB0, hB1], 'topic-b', { publishers: [a2, a0] });

    expectExactlyOnce(a0, hA0, 'topic-a', onA);
    expectExactlyOnce(a2, hA2, 'topic-a', onA);
    expectExactlyOnce(a0, hB0, 'topic-b', onB);
    expectExactlyOnce(a1, hB1, 'topic-b', onB);
  });

  it('delivers the same payload published twice as two messages with distinct ids', async () => {
    const { agents } = await startNetwork(2);
    const [a0, a1] = agents as [AgentProcess, AgentProcess];
    const [handle] = (await waitUntilMeshed([a0], 'twice', { publishers: [a1] })) as [number];

    const sent = await publishAll(a1, 'twice', ['same payload', 'same payload']);
    expect(sent[0]?.id).not.toBe(sent[1]?.id);

    await a0.waitForMessages(hasAll(idsOf(sent)), { where: (m) => m.handle === handle });
    await flushTopic([a0], [handle], 'twice', { publishers: [a1] });
    expectExactlyOnce(a0, handle, 'twice', sent);
  });

  it('relays a 64 KiB payload to a subscriber that only the relay connects to', async () => {
    const { a, b, c } = await relayTopology();
    const [handle] = (await waitUntilMeshed([c], 'big', { publishers: [a] })) as [number];
    const peersOfA = (await a.connectedPeers()).map((p) => p.peerId);
    const peersOfC = (await c.connectedPeers()).map((p) => p.peerId);
    expect(peersOfA).toContain(b.agentId);
    expect(peersOfA).not.toContain(c.agentId);
    expect(peersOfC).toContain(b.agentId);
    expect(peersOfC).not.toContain(a.agentId);

    const size = 64 * 1024;
    const id = await a.publish('big', { zeros: size });
    const [msg] = await c.waitForMessages(1, { where: (m) => m.id === id });
    expect(msg).toMatchObject({
      handle,
      topic: 'big',
      from: a.agentId, // the publisher, not B which forwarded it
      payloadLen: size,
      payloadSha: sha256Hex(new Uint8Array(size)),
    });
    await flushTopic([c], [handle], 'big', { publishers: [a] });
    expect(Object.fromEntries(countById(c.messagesOf(handle)))).toEqual({ [id]: 1 });

    // Still relayed, never direct.
    expect((await a.connectedPeers()).map((p) => p.peerId)).not.toContain(c.agentId);
    expect((await c.connectedPeers()).map((p) => p.peerId)).not.toContain(a.agentId);
  });

  it('unsubscribe() stops delivery to that subscription while others keep receiving', async () => {
    const { agents } = await startNetwork(3);
    const [publisher, x, y] = agents as [AgentProcess, AgentProcess, AgentProcess];
    // x has one subscription; y has two, of which one is ended below.
    const [hx, hy1, hy2] = (await waitUntilMeshed([x, y, y], 'unsub', { publishers: [publisher] })) as [
      number,
      number,
      number,
    ];

    const before = await publishAll(publisher, 'unsub', ['before']);
    await Promise.all([
      x.waitForMessages(hasAll(idsOf(before)), { where: (m) => m.handle === hx }),
      y.waitForMessages(hasAll(idsOf(before)), { where: (m) => m.handle === hy1 }),
      y.waitForMessages(hasAll(idsOf(before)), { where: (m) => m.handle === hy2 }),
    ]);

    await x.unsubscribe(hx);
    await y.unsubscribe(hy1);
    // The child's loop over each ended subscription finishes.
    await waitFor(
      () => x.subscriptionEnds.some((e) => e.handle === hx) && y.subscriptionEnds.some((e) => e.handle === hy1),
      [x, y],
      { timeoutMs: 10_000, what: 'the unsubscribed loops to end' },
    );
    expect(x.subscriptionEnds.find((e) => e.handle === hx)?.error).toBeUndefined();

    const after = await publishAll(publisher, 'unsub', ['after #1', 'after #2']);
    // Proof they were sent and spread: y's other subscription gets them.
    await y.waitForMessages(hasAll(idsOf(after)), { where: (m) => m.handle === hy2 });
    await flushTopic([y], [hy2], 'unsub', { publishers: [publisher] });

    expectExactlyOnce(x, hx, 'unsub', before);
    expectExactlyOnce(y, hy1, 'unsub', before);
    expectExactlyOnce(y, hy2, 'unsub', [...before, ...after]);
  });

  it('after close() each child exits by itself with code 0, and calls after close fail with ERR_X0X_CLOSED', async () => {
    const { agents } = await startNetwork(3);
    const [a0, a1, a2] = agents as [AgentProcess, AgentProcess, AgentProcess];
    // Open connections, subscriptions and traffic: what close() must release.
    const handles = await waitUntilMeshed([a0, a1, a2], 'bye', { publishers: [a0, a2] });

    // a1 closes while its peers are still up.
    const closed = await a1.close();
    expect(closed).toEqual({
      closed: true,
      publishAfterClose: { code: 'ERR_X0X_CLOSED', message: expect.any(String) },
    });
    expect(a1.subscriptionEnds.map((e) => e.handle)).toContain(handles[1]);
    expect(await exitOf(a1)).toEqual({ code: 0, signal: null });

    // The others still talk to each other, then close together.
    const sent = await publishAll(a2, 'bye', ['after a1 left']);
    await a0.waitForMessages(hasAll(idsOf(sent)), { where: (m) => m.handle === handles[0] });

    const results = await Promise.all([a0.close(), a2.close()]);
    for (const result of results) expect(result.publishAfterClose.code).toBe('ERR_X0X_CLOSED');
    expect(await Promise.all([exitOf(a0), exitOf(a2)])).toEqual([
      { code: 0, signal: null },
      { code: 0, signal: null },
    ]);
  });

  it('a join through an unreachable bootstrap rejects with ERR_X0X_JOIN_FAILED and the agent keeps working', async () => {
    const lonely = await spawnAgent({ name: 'lonely', bootstrap: ['127.0.0.1:9'] });
    await expect(lonely.join()).rejects.toMatchObject({ code: 'ERR_X0X_JOIN_FAILED' });

    // Other bad input crosses the boundary as coded errors too.
    await expect(lonely.subscribe('')).rejects.toMatchObject({ code: 'ERR_X0X_INVALID_TOPIC' });
    await expect(
      lonely.publish('t', { zeros: lonely.limits.maxPayloadBytes + 1 }),
    ).rejects.toMatchObject({ code: 'ERR_X0X_PAYLOAD_TOO_LARGE' });

    // It still delivers locally...
    const local = await lonely.subscribe('still-here');
    const [own] = await publishAll(lonely, 'still-here', ['to myself']);
    await lonely.waitForMessages(1, { where: (m) => m.handle === local });
    expectExactlyOnce(lonely, local, 'still-here', own ? [own] : []);

    // ...and serves as a bootstrap for an agent that joins through it.
    const friend = await spawnAgent({ name: 'friend', bootstrap: [lonely.addr] });
    await friend.join();
    const [hl, hf] = (await waitUntilMeshed([lonely, friend], 'together', { publishers: [lonely, friend] })) as [
      number,
      number,
    ];
    const sent = [
      ...(await publishAll(lonely, 'together', ['from lonely'])),
      ...(await publishAll(friend, 'together', ['from friend'])),
    ];
    await Promise.all([
      lonely.waitForMessages(hasAll(idsOf(sent)), { where: (m) => m.handle === hl }),
      friend.waitForMessages(hasAll(idsOf(sent)), { where: (m) => m.handle === hf }),
    ]);
    await flushTopic([lonely, friend], [hl, hf], 'together', { publishers: [lonely, friend] });
    expectExactlyOnce(lonely, hl, 'together', sent);
    expectExactlyOnce(friend, hf, 'together', sent);
  });
});

// Found while building the skeleton; both fail against the current addon
// (the burst test intermittently, see its comment).
describe('overlay invariants', () => {
  it('a burst of messages published back to back all cross a relay', async () => {
    // Same A - B - C topology. Each message is published once. A message the
    // relay drops reaches C only through Plumtree anti-entropy, whose rounds
    // come every 30 s at a random phase (GossipConfig.antiEntropyInterval is
    // not wired to the core yet), so the loss shows as a timeout here unless
    // a round happens to repair it inside the wait.
    const { a, c } = await relayTopology();
    const [handle] = (await waitUntilMeshed([c], 'burst', { publishers: [a] })) as [number];
    const texts = Array.from({ length: 50 }, (_, i) => `burst #${i}`);
    const sent = await publishAll(a, 'burst', texts);
    await c.waitForMessages(hasAll(idsOf(sent)), { where: (m) => m.handle === handle });
    await flushTopic([c], [handle], 'burst', { publishers: [a] });
    expectExactlyOnce(c, handle, 'burst', sent);
  });

  it('membership.waitForPeers resolves once peers have joined, and gives up by its signal', async () => {
    const seed = await spawnAgent({ name: 'seed' });
    // Asked before anyone joins: it must wait for the join, not fail.
    const waiting = seed.call('waitForPeers', { count: 2, timeoutMs: 60_000 }, { timeoutMs: 90_000 });
    const joiners = [await spawnAgent({ name: 'j1', bootstrap: [seed.addr] }), await spawnAgent({ name: 'j2', bootstrap: [seed.addr] })];
    await Promise.all(joiners.map((j) => j.join()));
    const { view, error } = await waiting;
    expect(error).toBeUndefined();
    expect(view?.map((p) => p.peerId).sort()).toStrictEqual(joiners.map((j) => j.agentId).sort());
    // Three peers never come: the caller's signal ends the wait.
    const { error: gaveUp } = await seed.call('waitForPeers', { count: 3, timeoutMs: 500 });
    expect(gaveUp?.code).toBe('ERR_X0X_ABORTED');
  });

  it('every peer in an active view has an open connection', async () => {
    // activeView() is documented as "the peers this agent gossips with
    // directly"; a view entry without a connection is a link that does not
    // exist, and an overlay of such links falls apart with its bootstrap.
    const { agents } = await startNetwork(4);
    const unconnected = async (): Promise<string[]> => {
      const gaps: string[] = [];
      for (const agent of agents) {
        const connected = new Set((await agent.connectedPeers()).map((p) => p.peerId));
        for (const peer of await agent.activeView()) {
          if (!connected.has(peer)) {
            const name = agents.find((other) => other.agentId === peer)?.name ?? peer.slice(0, 8);
            gaps.push(`${agent.name} -> ${name}`);
          }
        }
      }
      return gaps;
    };
    const gaps = await pollUntil(unconnected, (g) => g.length === 0, {
      timeoutMs: 10_000,
      what: 'every active-view entry to have a connection (listed: view entries without one)',
    });
    expect(gaps).toEqual([]);
  });
});
