// The closed contract, over the recording stand-in for the addon: once an
// agent is closed, every method of the agent and of each of its managers
// fails with ERR_X0X_CLOSED before it looks at its arguments; async methods
// reject (never throw), sync methods and getters throw. The table must name
// every method on each class's prototype, so a method added later without
// the closed check fails here until it is listed.
import '../helpers/use-fake-binding.js';

import { describe, expect, it } from 'vitest';

import { Agent, ClosedError } from '../../src/index.js';

const ID = 'ab'.repeat(32);

type Call = (agent: Agent) => unknown;

/** What each member is called with: valid arguments, so only the closed state can fail it. */
const TABLE: Record<string, Record<string, { readonly kind: 'async' | 'sync'; readonly call: Call }>> = {
  agent: {
    listenAddrs: { kind: 'sync', call: (a) => a.listenAddrs },
    advertisedAddrs: { kind: 'sync', call: (a) => a.advertisedAddrs },
    joinNetwork: { kind: 'async', call: (a) => a.joinNetwork() },
    subscribe: { kind: 'async', call: (a) => a.subscribe('t') },
    publish: { kind: 'async', call: (a) => a.publish('t', 'x') },
    connectedPeers: { kind: 'async', call: (a) => a.connectedPeers() },
    pubsubStats: { kind: 'sync', call: (a) => a.pubsubStats() },
    metrics: { kind: 'async', call: (a) => a.metrics() },
  },
  transport: {
    listenAddrs: { kind: 'sync', call: (a) => a.transport.listenAddrs },
    advertisedAddrs: { kind: 'sync', call: (a) => a.transport.advertisedAddrs },
    connectedPeers: { kind: 'async', call: (a) => a.transport.connectedPeers() },
    stats: { kind: 'sync', call: (a) => a.transport.stats() },
    blockPeer: { kind: 'async', call: (a) => a.transport.blockPeer(ID) },
    unblockPeer: { kind: 'sync', call: (a) => a.transport.unblockPeer(ID) },
    events: { kind: 'sync', call: (a) => a.transport.events() },
  },
  runtime: {},
  pubsub: {
    subscribe: { kind: 'async', call: (a) => a.pubsub.subscribe('t') },
    publish: { kind: 'async', call: (a) => a.pubsub.publish('t', 'x', { signal: new AbortController().signal }) },
    waitForTopicPeers: { kind: 'async', call: (a) => a.pubsub.waitForTopicPeers('t', 1) },
    unsubscribe: { kind: 'async', call: (a) => a.pubsub.unsubscribe('t') },
    stats: { kind: 'sync', call: (a) => a.pubsub.stats() },
    deliveryLatency: { kind: 'sync', call: (a) => a.pubsub.deliveryLatency() },
  },
  membership: {
    join: { kind: 'async', call: (a) => a.membership.join(['127.0.0.1:9']) },
    activeView: { kind: 'async', call: (a) => a.membership.activeView() },
    passiveView: { kind: 'async', call: (a) => a.membership.passiveView() },
    events: { kind: 'sync', call: (a) => a.membership.events() },
    waitForPeers: { kind: 'async', call: (a) => a.membership.waitForPeers(1) },
    stats: { kind: 'sync', call: (a) => a.membership.stats() },
  },
  presence: {
    broadcastPresence: { kind: 'async', call: (a) => a.presence.broadcastPresence() },
    getOnlineAgents: { kind: 'sync', call: (a) => a.presence.getOnlineAgents() },
    events: { kind: 'sync', call: (a) => a.presence.events() },
    stats: { kind: 'sync', call: (a) => a.presence.stats() },
  },
  coordinators: {
    advertiseAsCoordinator: { kind: 'async', call: (a) => a.coordinators.advertiseAsCoordinator() },
    getCoordinators: { kind: 'sync', call: (a) => a.coordinators.getCoordinators() },
    stats: { kind: 'sync', call: (a) => a.coordinators.stats() },
  },
  antiEntropy: {
    reconcile: { kind: 'async', call: (a) => a.antiEntropy.reconcile() },
    stats: { kind: 'sync', call: (a) => a.antiEntropy.stats() },
  },
  discovery: {
    findAgent: { kind: 'async', call: (a) => a.discovery.findAgent(ID) },
    advertiseSelf: { kind: 'sync', call: (a) => a.discovery.advertiseSelf() },
    stopAdvertising: { kind: 'sync', call: (a) => a.discovery.stopAdvertising() },
    stats: { kind: 'sync', call: (a) => a.discovery.stats() },
  },
  rendezvous: {
    shardId: { kind: 'sync', call: (a) => a.rendezvous.shardId(ID) },
    holdersFor: { kind: 'sync', call: (a) => a.rendezvous.holdersFor(ID) },
    register: { kind: 'async', call: (a) => a.rendezvous.register() },
    unregister: { kind: 'async', call: (a) => a.rendezvous.unregister() },
    lookup: { kind: 'async', call: (a) => a.rendezvous.lookup(ID) },
    stats: { kind: 'sync', call: (a) => a.rendezvous.stats() },
  },
};

/**
 * Members outside the contract, with the reason. Closing is idempotent;
 * the rest describe the agent and are fixed when it is built; the internal
 * ones are called by `joinNetwork()` and `close()` only.
 */
const EXEMPT: Record<string, readonly string[]> = {
  agent: ['close', 'closed'],
  transport: ['localPeerId'],
  runtime: ['shutdown', 'isRunning'],
  pubsub: [],
  membership: [],
  presence: ['handle', 'start'],
  coordinators: ['handle', 'start', 'stop'],
  antiEntropy: [],
  discovery: [],
  rendezvous: ['shardCount', 'stop'],
};

function managerOf(agent: Agent, name: string): object {
  return name === 'agent' ? agent : ((agent as unknown as Record<string, object>)[name] as object);
}

function membersOf(target: object): string[] {
  return Object.getOwnPropertyNames(Object.getPrototypeOf(target)).filter((n) => n !== 'constructor');
}

/** The error `call` fails with, and whether it threw synchronously. */
async function failure(call: () => unknown): Promise<{ sync: boolean; error: unknown }> {
  let result: unknown;
  try {
    result = call();
  } catch (error) {
    return { sync: true, error };
  }
  if (!(result instanceof Promise)) return { sync: true, error: new Error(`returned ${String(result)}`) };
  return { sync: false, error: await result.then(() => new Error('resolved'), (e: unknown) => e) };
}

async function closedAgent(): Promise<Agent> {
  const agent = await Agent.builder().build();
  await agent.close();
  return agent;
}

describe('after close()', () => {
  it('the table names every member of every manager, or exempts it', async () => {
    const agent = await closedAgent();
    for (const [name, rows] of Object.entries(TABLE)) {
      const listed = [...Object.keys(rows), ...(EXEMPT[name] ?? [])].sort();
      expect({ name, members: membersOf(managerOf(agent, name)).sort() }).toStrictEqual({ name, members: listed });
    }
  });

  const rows = Object.entries(TABLE).flatMap(([manager, methods]) =>
    Object.entries(methods).map(([method, row]) => ({ name: `${manager}.${method}`, manager, method, ...row })),
  );

  it.each(rows)('$name fails with ERR_X0X_CLOSED ($kind)', async ({ kind, call }) => {
    const agent = await closedAgent();
    const { sync, error } = await failure(() => call(agent));
    expect({ sync, error }).toMatchObject({ sync: kind === 'sync', error: { code: 'ERR_X0X_CLOSED' } });
    expect(error).toBeInstanceOf(ClosedError);
  });

  it.each(rows)('$name checks for close before its arguments', async ({ manager, method, kind }) => {
    const agent = await closedAgent();
    const target = managerOf(agent, manager);
    const descriptor = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(target), method);
    const call = (): unknown =>
      descriptor?.get !== undefined
        ? descriptor.get.call(target)
        : (descriptor?.value as (...args: unknown[]) => unknown).call(target, 42, 42, 42);
    const { sync, error } = await failure(call);
    expect({ sync, error }).toMatchObject({ sync: kind === 'sync', error: { code: 'ERR_X0X_CLOSED' } });
  });

  it('close() and runtime.shutdown() resolve again; the exempt getters still answer', async () => {
    const agent = await closedAgent();
    await expect(agent.close()).resolves.toBeUndefined();
    await expect(agent.runtime.shutdown()).resolves.toBeUndefined();
    await expect(agent[Symbol.asyncDispose]()).resolves.toBeUndefined();
    expect(agent.closed).toBe(true);
    expect(agent.runtime.isRunning).toBe(false);
    expect(agent.transport.localPeerId).toBe(agent.agentId);
    expect(agent.rendezvous.shardCount).toBe(65_536);
  });
});
