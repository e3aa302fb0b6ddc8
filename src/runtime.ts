/**
 * The gossip runtime of an agent as a start/stop service.
 *
 * @module
 */

import type { AgentCore } from './agent-core.js';
import { callNativeSync } from './errors.js';

let create: (core: AgentCore) => GossipRuntime;

/**
 * The gossip runtime of one agent, reachable as `agent.runtime`: membership
 * (HyParView), failure detection (SWIM) and dissemination (Plumtree).
 *
 * The runtime is running from the moment `AgentBuilder.build()` resolves
 * until {@link GossipRuntime.shutdown} or `agent.close()`; it cannot restart.
 */
export class GossipRuntime {
  static {
    create = (core) => new GossipRuntime(core);
  }

  readonly #core: AgentCore;

  private constructor(core: AgentCore) {
    this.#core = core;
  }

  /**
   * Stops the runtime by closing the agent's core: every subscription and
   * event stream ends and the socket closes, so `agent.closed` turns true.
   * Idempotent. Prefer `agent.close()`: this method neither logs the close
   * nor detaches a logger given to `AgentBuilder.withLogger`, which keeps
   * receiving the process's Rust records until `agent.close()` is called too.
   */
  shutdown(): Promise<void> {
    return this.#core.close();
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
 * Creates the runtime view of an agent.
 *
 * @internal
 */
export function createRuntime(core: AgentCore): GossipRuntime {
  return create(core);
}
