/**
 * Builds an agent from the shared command-line settings.
 *
 * @internal
 * @module
 */

import type { Agent } from '../agent.js';
import type { GossipConfig } from '../config.js';
import type { NetworkSettings } from './args.js';
import type { X0x } from './load.js';

/** Extra builder settings only `x0x node` takes. */
export interface NodeExtras {
  readonly dataDir?: string | undefined;
  /** `--announce`: addresses to advertise instead of the ones found. */
  readonly announce?: readonly string[] | undefined;
}

/** An agent configured from `settings`, bound and running but not joined. */
export async function buildAgent(
  x0x: X0x,
  settings: NetworkSettings & { readonly config: GossipConfig },
  extras: NodeExtras = {},
): Promise<Agent> {
  const builder = x0x.Agent.builder().withConfig(settings.config).withBootstrapPeers(settings.bootstrap);
  if (settings.bind !== undefined) builder.withBindAddress(settings.bind);
  if (settings.key !== undefined) builder.withKeyFile(settings.key);
  if (extras.dataDir !== undefined) builder.withDataDir(extras.dataDir);
  if (extras.announce !== undefined && extras.announce.length > 0) builder.withAnnounceAddrs(extras.announce);
  return builder.build();
}
