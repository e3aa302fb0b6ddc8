/**
 * Anti-entropy: repairing messages an agent missed.
 *
 * Gossip loses messages when the network partitions, a peer restarts, or
 * churn cuts a tree branch. Every `antiEntropyInterval` an agent reconciles
 * the message ids it holds per subscribed topic with each connected peer,
 * using an Invertible Bloom Lookup Table whose size follows the estimated
 * difference (not the number of ids), fetches the messages it lacks and
 * pushes the ones the peer lacks. Recovered messages are signature-checked
 * and de-duplicated like gossip, so each subscription sees each message once.
 *
 * Messages stay available to peers for `messageCacheTtl` (at most
 * `messageCacheSize` of them, and at most 64 MiB of envelopes).
 *
 * @module
 */

import type { AgentCore } from './agent-core.js';
import { callNative, callNativeSync } from './errors.js';
import type { AgentId } from './identity.js';

/** One peer's part of a reconciliation round. */
export interface PeerReconciliation {
  /** The peer's agent id. */
  readonly peerId: AgentId;
  /** Difference estimated before reconciling (from a 1 KB sketch), summed over shared topics. */
  readonly estimatedDifference: number;
  /** Exact number of ids held by only one side, summed over shared topics. */
  readonly differencesFound: number;
  /** Messages fetched from this peer and delivered. */
  readonly messagesRecovered: number;
  /** Messages pushed to this peer because it lacked them. */
  readonly messagesPushed: number;
}

/** The outcome of one reconciliation round. */
export interface ReconciliationStats {
  /** Messages fetched in this round, verified and delivered to subscribers. */
  readonly messagesRecovered: number;
  /** Peers that answered. */
  readonly peersContacted: number;
  /** Ids held by only one side, summed over peers and topics. */
  readonly differencesFound: number;
  /** Anti-entropy bytes this agent sent in the round. */
  readonly bytesSent: number;
  /** Anti-entropy bytes this agent received in answers during the round. */
  readonly bytesReceived: number;
  /** Wall time of the round, in milliseconds. */
  readonly durationMs: number;
  /**
   * Per peer, in the order they were reconciled: the largest estimated
   * difference first, so the most divergent peer is repaired first.
   */
  readonly peers: readonly PeerReconciliation[];
}

/** Anti-entropy totals since the agent started. */
export interface AntiEntropyStats {
  /** Rounds completed, background and on demand. */
  readonly rounds: number;
  /** Messages recovered, fetched by this agent or pushed to it, and delivered for the first time. */
  readonly messagesRecovered: number;
  /** Messages pushed to peers that lacked them. */
  readonly messagesPushed: number;
  /** Ids found held by only one side in this agent's sessions. */
  readonly differencesFound: number;
  /** Anti-entropy bytes sent: requests, answers and pushes. */
  readonly bytesSent: number;
  /** Anti-entropy bytes received. */
  readonly bytesReceived: number;
  /** Frames dropped as malformed, oversized, or answering no request of this agent. */
  readonly malformedFrames: number;
  /** Sessions abandoned because a peer did not answer or broke the protocol. */
  readonly failedSessions: number;
  /**
   * Messages held now to answer peers' reconciliations (a gauge, not a
   * total): at most `messageCacheSize` and 64 MiB of envelopes, each for
   * `messageCacheTtl`, oldest evicted first.
   */
  readonly storeSize: number;
}

let create: (core: AgentCore) => AntiEntropyManager;

/**
 * The anti-entropy side of one agent, reachable as `agent.antiEntropy`.
 * Rounds run by themselves every `antiEntropyInterval`; {@link reconcile}
 * runs one now. Every method fails with `ClosedError` once the agent is closed.
 */
export class AntiEntropyManager {
  static {
    create = (core) => new AntiEntropyManager(core);
  }

  readonly #core: AgentCore;

  private constructor(core: AgentCore) {
    this.#core = core;
  }

  /**
   * Reconciles with every connected peer now, most divergent first, and
   * resolves with what the round did. Waits for a round already running.
   *
   * @example
   * ```ts
   * const { messagesRecovered, peers } = await agent.antiEntropy.reconcile();
   * console.log(`recovered ${messagesRecovered}; first peer: ${peers[0]?.peerId}`);
   * ```
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  async reconcile(): Promise<ReconciliationStats> {
    const native = this.#core.use();
    return callNative(() => native.reconcile());
  }

  /**
   * Totals since the agent started.
   * @throws {@link ClosedError} (`ERR_X0X_CLOSED`) once the agent is closed
   */
  stats(): AntiEntropyStats {
    const native = this.#core.use();
    return callNativeSync(() => native.antiEntropyStats());
  }
}

/** @internal */
export function createAntiEntropy(core: AgentCore): AntiEntropyManager {
  return create(core);
}
