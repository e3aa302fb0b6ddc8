// Lifecycle rules shared by Agent, TransportAdapter, GossipRuntime and
// Subscription, exercised over a stand-in for NativeAgent. What the real
// addon does is covered by the network tests; this pins down the TS side.
import { describe, expect, it } from 'vitest';

import { AgentCore } from '../../src/agent-core.js';
import { AbortError, ClosedError } from '../../src/errors.js';
import type { NativeAgent, NativeConnectionEvent, NativeMessage } from '../../src/native.js';
import { createRuntime } from '../../src/runtime.js';
import { createSubscription, toMessage } from '../../src/subscription.js';
import { createTransport } from '../../src/transport.js';
import { FakePullSource } from '../helpers/fake-pull-source.js';

const AGENT_ID = 'ab'.repeat(32);

function fakeAgent() {
  const events = new FakePullSource<NativeConnectionEvent>();
  const state = { closeCalls: 0, running: true };
  const native = {
    agentId: AGENT_ID,
    listenAddrs: () => ['127.0.0.1:4000'],
    connectionEvents: () => events,
    // A field the facade does not publish, to show it hands out only its own.
    connections: async () => [{ peerId: 'cd'.repeat(32), addr: '127.0.0.1:4001', path: 'holepunched', internal: 1 }],
    isRunning: () => state.running,
    close: async () => {
      state.closeCalls += 1;
      state.running = false;
      events.end();
    },
  } as unknown as NativeAgent;
  return { native, events, state };
}

function nativeMessage(text: string): NativeMessage {
  return {
    topic: 't',
    payload: Buffer.from(text),
    from: AGENT_ID,
    id: 'ef'.repeat(32),
    publishedAt: 1,
    receivedAt: 2,
  };
}

describe('AgentCore', () => {
  it('close() is idempotent and shares one native close', async () => {
    const { native, state } = fakeAgent();
    const core = new AgentCore(native);
    const first = core.close();
    const second = core.close();
    expect(second).toBe(first);
    await Promise.all([first, second]);
    expect(state.closeCalls).toBe(1);
    expect(core.closed).toBe(true);
  });

  it('use() throws ClosedError from the moment close() is called', () => {
    const { native } = fakeAgent();
    const core = new AgentCore(native);
    expect(core.use()).toBe(native);
    void core.close();
    expect(() => core.use()).toThrow(ClosedError);
  });

  it('close() ends every open stream before closing the agent', async () => {
    const { native } = fakeAgent();
    const core = new AgentCore(native);
    const a = new FakePullSource<number>();
    const b = new FakePullSource<number>();
    const itA = core.openStream(a, { map: (n) => n });
    const itB = core.openStream(b, { map: (n) => n });
    const pending = itA.next();
    await core.close();
    expect([a.closeCalls, b.closeCalls]).toStrictEqual([1, 1]);
    await expect(pending).resolves.toMatchObject({ done: true });
    await expect(itB.next()).resolves.toMatchObject({ done: true });
  });

  it('forgets streams that ended on their own', async () => {
    const { native } = fakeAgent();
    const core = new AgentCore(native);
    const source = new FakePullSource<number>();
    const iterator = core.openStream(source, { map: (n) => n });
    await iterator.return();
    await core.close();
    expect(source.closeCalls).toBe(1);
  });

  it('accepts a stream whose signal is already aborted', async () => {
    const { native } = fakeAgent();
    const core = new AgentCore(native);
    const iterator = core.openStream(new FakePullSource<number>(), {
      map: (n) => n,
      signal: AbortSignal.abort(),
    });
    await expect(iterator.next()).rejects.toBeInstanceOf(AbortError);
    await core.close();
  });
});

describe('TransportAdapter', () => {
  it('reports the agent id as peer id, and connected peers with only their public fields', async () => {
    const { native } = fakeAgent();
    const transport = createTransport(new AgentCore(native));
    expect(transport.localPeerId).toBe(AGENT_ID);
    await expect(transport.connectedPeers()).resolves.toStrictEqual([
      { peerId: 'cd'.repeat(32), addr: '127.0.0.1:4001', path: 'holepunched' },
    ]);
  });

  it('events() converts native events and ends when the agent closes', async () => {
    const { native, events } = fakeAgent();
    const core = new AgentCore(native);
    const iterator = createTransport(core).events();
    events.push({ type: 'connected', peerId: 'cd'.repeat(32), addr: '127.0.0.1:4001', path: 'relayed', at: 5 });
    events.push({ type: 'disconnected', peerId: 'cd'.repeat(32), at: 6 });
    await expect(iterator.next()).resolves.toStrictEqual({
      done: false,
      value: { type: 'connected', peerId: 'cd'.repeat(32), addr: '127.0.0.1:4001', path: 'relayed', at: 5 },
    });
    const second = await iterator.next();
    expect(second.value).toStrictEqual({ type: 'disconnected', peerId: 'cd'.repeat(32), at: 6 });
    expect(second.value).not.toHaveProperty('addr');
    const pending = iterator.next();
    await core.close();
    await expect(pending).resolves.toMatchObject({ done: true });
  });

  it('fails with ClosedError after close, except localPeerId', async () => {
    const { native } = fakeAgent();
    const core = new AgentCore(native);
    const transport = createTransport(core);
    await core.close();
    expect(transport.localPeerId).toBe(AGENT_ID);
    expect(() => transport.listenAddrs).toThrow(ClosedError);
    expect(() => transport.events()).toThrow(ClosedError);
    await expect(transport.connectedPeers()).rejects.toBeInstanceOf(ClosedError);
  });
});

describe('GossipRuntime', () => {
  it('runs from creation; shutdown() is idempotent and closes the agent once', async () => {
    const { native, state } = fakeAgent();
    const core = new AgentCore(native);
    const runtime = createRuntime(core, () => core.close());
    expect(runtime.isRunning).toBe(true);
    await runtime.shutdown();
    await runtime.shutdown();
    expect(state.closeCalls).toBe(1);
    expect(core.closed).toBe(true);
    expect(runtime.isRunning).toBe(false);
  });
});

describe('Subscription', () => {
  function subscription() {
    const source = new FakePullSource<NativeMessage>();
    const core = new AgentCore(fakeAgent().native);
    const sub = createSubscription('t', core.openStream(source, { map: toMessage }), () => source.dropped());
    return { source, core, sub };
  }

  it('delivers messages with the payload as a plain Uint8Array view', async () => {
    const { source, sub } = subscription();
    const native = nativeMessage('hi');
    source.push(native);
    for await (const msg of sub) {
      expect(Object.getPrototypeOf(msg.payload)).toBe(Uint8Array.prototype);
      expect(msg.payload.buffer).toBe(native.payload.buffer);
      expect(new TextDecoder().decode(msg.payload)).toBe('hi');
      expect(msg).toMatchObject({ topic: 't', from: AGENT_ID, id: 'ef'.repeat(32), publishedAt: 1, receivedAt: 2 });
      break;
    }
    // Leaving the loop unsubscribed.
    expect(source.closeCalls).toBe(1);
  });

  it('has a single consumer', () => {
    const { sub } = subscription();
    sub[Symbol.asyncIterator]();
    expect(() => sub[Symbol.asyncIterator]()).toThrow(TypeError);
  });

  it('reports the messages the native side dropped for it', () => {
    const { source, sub } = subscription();
    expect(sub.dropped).toBe(0);
    source.droppedCount = 42;
    expect(sub.dropped).toBe(42);
  });

  it('unsubscribe() is idempotent and ends a running loop', async () => {
    const { source, sub } = subscription();
    const loop = (async () => {
      const seen: string[] = [];
      for await (const msg of sub) seen.push(msg.id);
      return seen;
    })();
    await sub.unsubscribe();
    await sub.unsubscribe();
    await expect(loop).resolves.toStrictEqual([]);
    expect(source.closeCalls).toBe(1);
  });

  it('works with await using', async () => {
    const { source, sub } = subscription();
    {
      await using held = sub;
      expect(held.topic).toBe('t');
    }
    expect(source.closeCalls).toBe(1);
  });

  it('ends when the agent closes', async () => {
    const { source, core, sub } = subscription();
    const iterator = sub[Symbol.asyncIterator]();
    const pending = iterator.next();
    await core.close();
    await expect(pending).resolves.toMatchObject({ done: true });
    expect(source.closeCalls).toBe(1);
  });
});
