/**
 * Finding an agent nearby: friend-of-a-friend (FOAF) random walks.
 *
 * `findAgent(id)` sends a query carrying only a random query id, a hop budget
 * (`foafTtl`) and the target id to at most `foafFanout` random neighbours;
 * each hop forwards it the same way, never back where it came from, and drops
 * query ids it has already seen. Nobody but the first hop learns who asked:
 * each hop remembers only which neighbour handed it the query, for the
 * query's lifetime, and the answer walks back along those entries. The answer
 * is the target's own address record, signed by the target; every hop checks
 * it and the asker verifies it again before `findAgent` resolves.
 *
 * @module
 */

import { checkTimeoutMs, raceAbort, throwIfAborted } from './abort.js';
import type { AgentCore } from './agent-core.js';
import { badAgentId, checkSignalOptions } from './arg-errors.js';
import { callNative, callNativeSync } from './errors.js';
import { isAgentId, type AgentId } from './identity.js';
import type { NativeAddrRecord } from './native.js';
import type { AbortOptions } from './pubsub.js';

/** Default wait of {@link DiscoveryManager.findAgent}, in milliseconds. */
export const DEFAULT_FIND_TIMEOUT_MS = 30_000;
/** Longest wait {@link DiscoveryManager.findAgent} accepts (relays keep no state longer). */
export const MAX_FIND_TIMEOUT_MS = 120_000;

/** Options of {@link DiscoveryManager.findAgent}. */
export interface FindAgentOptions extends AbortOptions {
  /**
   * How long to wait for an answer, in milliseconds. Integer from 1 to 120000.
   * @defaultValue 30000
   */
  readonly timeoutMs?: number;
}

/** Where an agent can be reached, as the agent itself signed it. */
export interface AgentAddresses {
  /** The agent found. */
  readonly agentId: AgentId;
  /** Addresses to dial, `"ip:port"`. */
  readonly addrs: readonly string[];
  /** When the agent signed the record (its clock), ms since the Unix epoch. */
  readonly issuedAt: number;
  /** When the record expires, ms since the Unix epoch. */
  readonly expiresAt: number;
}

/** FOAF counters of one agent. */
export interface DiscoveryStats {
  /** `findAgent` queries this agent started. */
  readonly queriesStarted: number;
  /** Other agents' queries this agent handled (first sight of each query id). */
  readonly queriesHandled: number;
  /** Query frames sent: this agent's own first sends plus its forwards. */
  readonly queriesForwarded: number;
  /** Queries dropped because their id had been seen (loops, duplicates). */
  readonly duplicatesDropped: number;
  /** "Seen" answers sent back for those duplicates, so the sender tries another neighbour. */
  readonly seenSent: number;
  /** Query frames sent again to another neighbour after a "seen" answer (also in `queriesForwarded`). */
  readonly revisitsRedirected: number;
  /** Answers this agent sent about itself. */
  readonly repliesSent: number;
  /** Answers passed back one hop towards the asker. */
  readonly repliesRelayed: number;
  /** Answers that resolved one of this agent's own queries. */
  readonly answersAccepted: number;
  /** Frames that did not decode or carried out-of-range fields. */
  readonly malformedDropped: number;
  /** Answers with a bad signature, an expired record or a record about someone else. */
  readonly badRecordsDropped: number;
  /** Answers for queries this agent no longer routes (late, or never seen). */
  readonly unroutableReplies: number;
  /** Queries dropped because this agent already tracks too many. */
  readonly overloadedDropped: number;
}

function checkAgentId(agentId: unknown): asserts agentId is AgentId {
  if (!isAgentId(agentId)) throw badAgentId('agentId', agentId);
}

function toAddresses(r: NativeAddrRecord): AgentAddresses {
  return Object.freeze({ agentId: r.agentId, addrs: Object.freeze([...r.addrs]), issuedAt: r.issuedAt, expiresAt: r.expiresAt });
}

let create: (core: AgentCore) => DiscoveryManager;

/**
 * FOAF discovery of one agent, reachable as `agent.discovery`. Every method
 * fails with `ClosedError` once the agent is closed.
 *
 * An agent answers queries for itself from the moment it starts; call
 * {@link DiscoveryManager.stopAdvertising} to opt out (it can still search).
 */
export class DiscoveryManager {
  static {
    create = (core) => new DiscoveryManager(core);
  }

  readonly #core: AgentCore;

  private constructor(core: AgentCore) {
    this.#core = core;
  }

  /**
   * Looks for `agentId` within `foafTtl` hops of this agent.
   *
   * Aborting stops the wait at once; the query itself dies on its own when
   * its lifetime (`timeoutMs`) ends.
   *
   * @param agentId - the agent to find, 64 lowercase hex characters
   * @param options - `timeoutMs` bounds the wait, `signal` gives up early
   * @returns the agent's addresses, verified against its own signature, or
   *   `null` when no answer came within `timeoutMs`
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `options` is given but is not an object (`null`
   *   included), or `options.signal` is not an `AbortSignal`
   * @throws TypeError (`ERR_INVALID_ARG_TYPE`) when `agentId` is not a string; (`ERR_INVALID_ARG_VALUE`)
   *   when it is not 64 lowercase hex characters
   * @throws {@link InvalidConfigError} (`ERR_X0X_INVALID_CONFIG`) when `timeoutMs` is out of range
   * @throws {@link AbortError} (`ERR_X0X_ABORTED`) when `options.signal` aborts first
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   * @example
   * ```ts
   * const found = await agent.discovery.findAgent(friendId, { timeoutMs: 5000 });
   * if (found) console.log('reach', friendId, 'at', found.addrs);
   * ```
   */
  async findAgent(agentId: AgentId, options?: FindAgentOptions): Promise<AgentAddresses | null> {
    const native = this.#core.use();
    checkAgentId(agentId);
    const { signal, timeoutMs: givenTimeout } = checkSignalOptions(options);
    const timeoutMs = checkTimeoutMs(givenTimeout, DEFAULT_FIND_TIMEOUT_MS, MAX_FIND_TIMEOUT_MS);
    throwIfAborted(signal);
    const found = await raceAbort(
      callNative(() => native.findAgent(agentId, timeoutMs)),
      signal,
    );
    return found === null ? null : toAddresses(found);
  }

  /**
   * Makes this agent answer FOAF queries for itself (the default after start).
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  advertiseSelf(): void {
    const native = this.#core.use();
    callNativeSync(() => native.setAdvertise(true));
  }

  /**
   * Stops answering FOAF queries for this agent: searches for it then find
   * nothing. It still relays other agents' queries and answers.
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  stopAdvertising(): void {
    const native = this.#core.use();
    callNativeSync(() => native.setAdvertise(false));
  }

  /**
   * FOAF counters since the agent started: queries started, handled and
   * forwarded, answers, and what was dropped and why.
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  stats(): DiscoveryStats {
    const native = this.#core.use();
    return callNativeSync(() => native.foafStats());
  }
}

/** @internal */
export function createDiscovery(core: AgentCore): DiscoveryManager {
  return create(core);
}
