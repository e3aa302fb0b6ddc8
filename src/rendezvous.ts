/**
 * Rendezvous shards: the 65,536 buckets agent ids are spread over, so that
 * every agent computes the same place to register or look up a given id.
 *
 * `shardId(id)` is the first two bytes of `BLAKE3("saorsa-rendezvous" ||
 * idBytes)` read little-endian (`hash[0] | hash[1] << 8`), the same value as
 * saorsa-gossip-rendezvous's `calculate_shard` and x0x-core's `shard_id`;
 * `test/vectors/rendezvous-shards.json` holds vectors both sides check.
 *
 * @module
 */

import { createRequire } from 'node:module';

import type * as Blake3 from '@noble/hashes/blake3.js' with { 'resolution-mode': 'import' };

import { isAgentId, type AgentId } from './identity.js';

// @noble/hashes 2 ships ES modules only and this build is CommonJS; Node
// 20.19+ and 22.12+ load an ES module through require().
const { blake3 } = createRequire(__filename)('@noble/hashes/blake3.js') as typeof Blake3;

/** Number of rendezvous shards. */
export const SHARD_COUNT = 65_536;

const DOMAIN = new TextEncoder().encode('saorsa-rendezvous');

/**
 * The rendezvous shard of an agent id, from 0 to 65535.
 * @throws TypeError when `agentId` is not a 64-character lowercase hex id
 * @example
 * ```ts
 * shardId('00'.repeat(32)); // 61660
 * ```
 */
export function shardId(agentId: AgentId): number {
  if (!isAgentId(agentId)) {
    throw new TypeError(`agentId must be a 64-character lowercase hex agent id (got ${String(agentId)})`);
  }
  const input = new Uint8Array(DOMAIN.length + 32);
  input.set(DOMAIN);
  input.set(Buffer.from(agentId, 'hex'), DOMAIN.length);
  const hash = blake3(input);
  return (hash[0] ?? 0) | ((hash[1] ?? 0) << 8);
}

let create: () => RendezvousManager;

/**
 * Rendezvous sharding of one agent, reachable as `agent.rendezvous`.
 *
 * Only the shard function exists so far: register, lookup and unregister over
 * the shards are not implemented in this version.
 */
export class RendezvousManager {
  static {
    create = () => new RendezvousManager();
  }

  private constructor() {}

  /** Number of shards, 65536. */
  get shardCount(): number {
    return SHARD_COUNT;
  }

  /** {@inheritDoc shardId} */
  shardId(agentId: AgentId): number {
    return shardId(agentId);
  }
}

/** @internal */
export function createRendezvous(): RendezvousManager {
  return create();
}
