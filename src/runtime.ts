/**
 * The gossip runtime of an agent as a start/stop service.
 *
 * @module
 */

import type { AgentCore } from './agent-core.js';
import { callNativeSync } from './errors.js';

let create: (core: AgentCore, close: () => Promise<void>) => GossipRuntime;

/**
 * The gossip runtime of one agent, reachable as `agent.runtime`: membership
 * (HyParView), failure detection (SWIM) and dissemination (Plumtree).
 *
 * The runtime is running from the moment `AgentBuilder.build()` resolves
 * until {@link GossipRuntime.shutdown} or `agent.close()`; it cannot restart.
 */
export class GossipRuntime {
  static {
    create = (core, close) => new GossipRuntime(core, close);
  }

  readonly #core: AgentCore;
  readonly #close: () => Promise<void>;

  private constructor(core: AgentCore, close: () => Promise<void>) {
    this.#core = core;
    this.#close = close;
  }

  /**
   * Stops the runtime by closing the agent: the same as `agent.close()`,
   * and the same promise. Every subscription and event stream ends, the
   * socket closes, `agent.closed` turns true, and a logger given to
   * `AgentBuilder.withLogger` receives its last record (`closed`) and then
   * no more. Idempotent.
   */
  shutdown(): Promise<void> {
    return this.#close();
  }

  /**
   * Whether the native runtime reports itself running; `false` once the
   * agent is closed (it never throws `ClosedError`).
   */
  get isRunning(): boolean {
    if (this.#core.closed) return false;
    const native = this.#core.native;
    return callNativeSync(() => native.isRunning());
  }
}

/**
 * Creates the runtime view of an agent. `close` is the agent's own close:
 * closing only the core would leave the agent's logger attached and its
 * coordinator and rendezvous tasks running.
 *
 * @internal
 */
export function createRuntime(core: AgentCore, close: () => Promise<void>): GossipRuntime {
  return create(core, close);
}
