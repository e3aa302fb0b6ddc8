/**
 * A small x0x network on loopback, in this process, for tests and
 * experiments: `import { createTestnet } from '@x0x/node/testing'`.
 *
 * It only composes the public API (the builder, `joinNetwork` and
 * `membership.waitForPeers`); it reaches into no agent and carries no way to
 * forge or inject frames.
 *
 * @example
 * ```ts
 * import { createTestnet } from '@x0x/node/testing';
 *
 * await using net = await createTestnet(3, { config: { probeInterval: 200 } });
 * const [a, b] = net.agents;
 * const sub = await b.subscribe('t');
 * await a.publish('t', 'hello');
 * ```
 *
 * @module @x0x/node/testing
 */

import './polyfills.js';

import { throwIfAborted } from './abort.js';
import { Agent } from './agent.js';
import { checkSignalOptions, invalidArgType } from './arg-errors.js';
import { GossipConfig, type GossipConfigInput } from './config.js';
import { AbortError, InvalidConfigError } from './errors.js';
import type { AbortOptions } from './pubsub.js';

/** Most agents one testnet may hold: each agent runs its own runtime threads. */
export const MAX_TESTNET_AGENTS = 64;

/** How long {@link createTestnet} waits for the mesh by default, in ms. */
export const DEFAULT_TESTNET_TIMEOUT_MS = 30_000;

/** Options of {@link createTestnet}. */
export interface TestnetOptions extends AbortOptions {
  /**
   * Gossip settings of every agent, as `AgentBuilder.withConfig` takes them.
   * @defaultValue `GossipConfig.DEFAULTS`
   */
  readonly config?: GossipConfig | Partial<GossipConfigInput>;
  /**
   * Peers every agent must hold in its active view before the testnet
   * counts as meshed. With up to `activeViewSize + 1` agents HyParView links
   * every pair, so the default asks for all of them; in larger networks
   * views are partial, and half an active view is what the default asks for.
   * @defaultValue `n - 1` when `n - 1 <= activeViewSize`, else `ceil(activeViewSize / 2)`
   */
  readonly peers?: number;
  /**
   * Bound on starting, joining and meshing, in ms; past it the call closes
   * what it started and rejects with `AbortError`.
   * @defaultValue 30 000
   */
  readonly timeoutMs?: number;
}

let create: (agents: readonly Agent[]) => Testnet;

/**
 * Agents on 127.0.0.1 that joined one network through `agents[0]`. Close
 * it (or let `await using` do so) to close every agent.
 */
export class Testnet implements AsyncDisposable {
  static {
    create = (agents) => new Testnet(agents);
  }

  /** The agents, `agents[0]` first: the one the others joined through. */
  readonly agents: readonly Agent[];
  #closing: Promise<void> | undefined;

  private constructor(agents: readonly Agent[]) {
    this.agents = Object.freeze([...agents]);
  }

  /** Addresses of `agents[0]`: pass them to `withBootstrapPeers` to join one more agent. */
  get bootstrap(): string[] {
    const first = this.agents[0];
    return first === undefined ? [] : first.listenAddrs;
  }

  /** True once {@link Testnet.close} has been called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Closes every agent, all at once. Idempotent: every call returns the same
   * promise. Every agent is closed even when one fails; the promise then
   * rejects with the first failure.
   */
  close(): Promise<void> {
    this.#closing ??= closeAll(this.agents);
    return this.#closing;
  }

  /** Same as {@link Testnet.close}; lets `await using` close the testnet. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Starts `n` agents bound to `127.0.0.1:0`, joins agents 1…n-1 one after
 * another through agent 0, and resolves once every agent holds
 * `options.peers` peers in its active view (a readiness promise, never a
 * sleep). The agents share this process; each runs its own native runtime.
 *
 * A mesh is not the same as a warm gossip tree: Plumtree learns its tree
 * from the first messages, so tests that must not lose their first message
 * should still read it with a bounded wait.
 *
 * @param n - how many agents, an integer from 1 to {@link MAX_TESTNET_AGENTS}
 * @param options - the agents' gossip config, how many peers make a mesh, a
 *   timeout and a signal; see {@link TestnetOptions}
 * @returns the meshed testnet; on failure, every agent it started is closed
 *   before the call rejects
 * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `options` is given but is not an object (`null` included),
 *   or `options.signal` is not an `AbortSignal`
 * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `n` is not a number
 * @throws {@link @x0x/node!InvalidConfigError | InvalidConfigError} (`ERR_X0X_INVALID_CONFIG`) when `n`,
 *   `peers` or `timeoutMs` is not an integer in range, or `config` is invalid
 *   (its `field` names the option)
 * @throws {@link @x0x/node!AbortError | AbortError} (`ERR_X0X_ABORTED`) when `options.signal`
 *   aborts or `timeoutMs` passes first; the message then lists each agent's
 *   active-view size
 * @throws {@link @x0x/node!JoinFailedError | JoinFailedError} (`ERR_X0X_JOIN_FAILED`) when an agent
 *   cannot join agent 0
 * @example
 * ```ts
 * const net = await createTestnet(5);
 * try {
 *   console.log(net.agents.map((a) => a.agentId.slice(0, 8)));
 * } finally {
 *   await net.close();
 * }
 * ```
 */
export async function createTestnet(n: number, options?: TestnetOptions): Promise<Testnet> {
  if (typeof n !== 'number') throw invalidArgType(`n must be a number (got ${typeof n})`);
  checkInteger('n', n, 1, MAX_TESTNET_AGENTS);
  const opts = checkSignalOptions(options);
  const config = opts.config instanceof GossipConfig ? opts.config : new GossipConfig(opts.config);
  const peers = opts.peers ?? defaultPeers(n, config.activeViewSize);
  checkInteger('peers', peers, 0, Math.min(n - 1, config.activeViewSize));
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TESTNET_TIMEOUT_MS;
  checkInteger('timeoutMs', timeoutMs, 1, 3_600_000);
  throwIfAborted(opts.signal);

  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal === undefined ? timeout : AbortSignal.any([opts.signal, timeout]);
  const agents: Agent[] = [];
  try {
    const seed = await Agent.builder().withConfig(config).build();
    agents.push(seed);
    await seed.joinNetwork({ signal });
    for (let i = 1; i < n; i += 1) {
      throwIfAborted(signal);
      const agent = await Agent.builder().withConfig(config).withBootstrapPeers(seed.listenAddrs).build();
      agents.push(agent);
      await agent.joinNetwork({ signal });
    }
    if (peers > 0) await waitForMesh(agents, peers, signal, timeoutMs);
  } catch (err) {
    await closeAll(agents).catch(() => undefined);
    throw err;
  }
  return create(agents);
}

function defaultPeers(n: number, activeViewSize: number): number {
  return n - 1 <= activeViewSize ? n - 1 : Math.ceil(activeViewSize / 2);
}

async function waitForMesh(agents: readonly Agent[], peers: number, signal: AbortSignal, timeoutMs: number): Promise<void> {
  const waits = agents.map((agent) => agent.membership.waitForPeers(peers, { signal }));
  try {
    await Promise.all(waits);
  } catch (err) {
    // Every wait shares the signal, so the others end too; settle them so
    // none rejects unobserved.
    await Promise.allSettled(waits);
    if (!(err instanceof AbortError) || signal.reason?.name !== 'TimeoutError') throw err;
    const short = await Promise.all(
      agents.map(async (agent, i) => `agent ${i}: ${(await agent.membership.activeView()).length}`),
    );
    throw new AbortError(
      `the testnet did not mesh within ${timeoutMs} ms: every agent needs ${peers} active peers (${short.join(', ')})`,
      { cause: err },
    );
  }
}

async function closeAll(agents: readonly Agent[]): Promise<void> {
  const results = await Promise.allSettled(agents.map((agent) => agent.close()));
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
}

function checkInteger(field: string, value: unknown, min: number, max: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidConfigError(`${field} must be an integer from ${min} to ${max} (got ${String(value)})`, {
      field,
    });
  }
}
