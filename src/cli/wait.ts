/**
 * Joining for the short-lived commands (`pub`, `sub`): join, then wait for a
 * first neighbour, bounded by a timeout and cut short by SIGINT/SIGTERM.
 *
 * @internal
 * @module
 */

import type { Agent } from '../agent.js';
import type { GossipConfig } from '../config.js';
import { AbortError } from '../errors.js';
import type { NetworkSettings } from './args.js';
import { buildAgent } from './build-agent.js';
import { loadX0x } from './load.js';
import { onShutdownSignal } from './signals.js';
import { ExitCode } from './usage.js';

/**
 * The life of a short-lived command: build an agent, join and wait for a
 * neighbour, run `work`, close. `work` gets the SIGINT/SIGTERM signal, which
 * ends the command cleanly (exit 0) at any stage.
 */
export async function withJoinedAgent(
  settings: NetworkSettings & { readonly config: GossipConfig },
  timeoutMs: number,
  work: (agent: Agent, shutdown: AbortSignal) => Promise<void>,
): Promise<number> {
  const shutdown = onShutdownSignal();
  try {
    const agent = await buildAgent(await loadX0x(), settings);
    try {
      if (await waitForNeighbour(agent, timeoutMs, shutdown.signal)) await work(agent, shutdown.signal);
    } finally {
      await agent.close();
    }
    return ExitCode.ok;
  } finally {
    shutdown.dispose();
  }
}

/**
 * Joins through the builder's bootstrap peers and waits until the active
 * view holds a peer. Resolves `false` when `shutdown` fired first (the user
 * stopped the command: not an error).
 *
 * @throws {@link AbortError} (with a message naming the bound) when `timeoutMs` passes first
 * @throws {@link JoinFailedError} when no bootstrap peer answered
 */
export async function waitForNeighbour(agent: Agent, timeoutMs: number, shutdown: AbortSignal): Promise<boolean> {
  const signal = AbortSignal.any([shutdown, AbortSignal.timeout(timeoutMs)]);
  try {
    await agent.joinNetwork({ signal });
    await agent.membership.waitForPeers(1, { signal });
    return true;
  } catch (err) {
    if (!(err instanceof AbortError)) throw err;
    if (shutdown.aborted) return false;
    throw new AbortError(`no neighbour within ${timeoutMs / 1000} s; is the bootstrap address right and reachable?`, {
      cause: err,
    });
  }
}
