/**
 * x0x: a post-quantum peer-to-peer gossip network for Node.js.
 *
 * An {@link Agent} is one node. It has an identity ({@link AgentKeypair},
 * ML-DSA-65), speaks QUIC ({@link TransportAdapter}), keeps a HyParView
 * membership with SWIM failure detection and spreads messages by Plumtree
 * ({@link GossipRuntime}, tuned by {@link GossipConfig}). Applications use
 * topics: {@link Agent.publish} and {@link Agent.subscribe}.
 *
 * Every failure the package reports is an {@link X0xError} with a stable
 * `code`; a bad argument is a `TypeError` with Node's code for it
 * ({@link ProgrammerErrorCode}). Importing the package loads the native addon and throws
 * {@link NativeMissingError} when there is none for this platform.
 *
 * @example
 * ```ts
 * import { Agent } from '@x0x/node';
 *
 * const seed = await Agent.builder().build();
 * const peer = await Agent.builder().withBootstrapPeers(seed.listenAddrs).build();
 * await peer.joinNetwork();
 *
 * const sub = await seed.subscribe('greetings');
 * await peer.publish('greetings', 'hello');
 * for await (const msg of sub) {
 *   console.log(new TextDecoder().decode(msg.payload)); // "hello"
 *   break;
 * }
 * await Promise.all([seed.close(), peer.close()]);
 * ```
 *
 * @module @x0x/node
 */

import './polyfills.js';

export { Agent, AgentBuilder } from './agent.js';
export { PubSubManager, MAX_TOPIC_PEERS_WAIT, type AbortOptions, type PubSubStats } from './pubsub.js';
export {
  MembershipManager,
  type LeaveReason,
  type MembershipEvent,
  type MembershipStats,
} from './membership.js';
export {
  AntiEntropyManager,
  type AntiEntropyStats,
  type PeerReconciliation,
  type ReconciliationStats,
} from './anti-entropy.js';
export {
  GossipConfig,
  PRESENCE_GROUP_KEY_BYTES,
  REDACTED_KEY,
  type GossipConfigField,
  type GossipConfigFields,
  type GossipConfigInput,
  type NumericConfigField,
} from './config.js';
export {
  COORDINATORS_TOPIC,
  CoordinatorManager,
  verifyCoordinatorAdvert,
  type CoordinatorAdvert,
} from './coordinators.js';
export {
  PresenceManager,
  type OnlineAgent,
  type PresenceChange,
  type PresenceEvent,
  type PresenceStats,
} from './presence.js';
export { type RecordRejection, type RecordStats } from './records.js';
export { type LaggedEvent } from './events.js';
export {
  AbortError,
  AlreadyBuiltError,
  BadAddressError,
  BadKeyError,
  ClosedError,
  InternalError,
  InvalidConfigError,
  InvalidTopicError,
  isX0xError,
  JoinFailedError,
  KeyFileError,
  NativeMissingError,
  NetworkError,
  PayloadTooLargeError,
  PeerDependencyMissingError,
  RendezvousError,
  X0xError,
  type X0xErrorCode,
} from './errors.js';
export { type ProgrammerErrorCode } from './arg-errors.js';
export { AgentKeypair, isAgentId, type AgentId } from './identity.js';
export { MAX_PAYLOAD_BYTES, MAX_TOPIC_BYTES } from './limits.js';
export {
  DiscoveryManager,
  DEFAULT_FIND_TIMEOUT_MS,
  MAX_FIND_TIMEOUT_MS,
  type AgentAddresses,
  type DiscoveryStats,
  type FindAgentOptions,
} from './discovery.js';
export {
  RendezvousManager,
  SHARD_COUNT,
  DEFAULT_RENDEZVOUS_TIMEOUT_MS,
  MAX_RENDEZVOUS_TIMEOUT_MS,
  rankHolders,
  shardId,
  type HolderOutcome,
  type Registration,
  type RendezvousHolder,
  type RendezvousOptions,
  type RendezvousStats,
} from './rendezvous.js';
export { type Logger, type LoggerOptions, type LogLevel, type LogRecord, type LogTarget } from './logging.js';
export { PROMETHEUS_CONTENT_TYPE } from './prometheus.js';
export { GossipRuntime } from './runtime.js';
export { Subscription, type Message } from './subscription.js';
export {
  TransportAdapter,
  type ConnectedPeer,
  type ConnectionChange,
  type ConnectionEvent,
  type ConnectionPath,
  type EventsOptions,
  type PeerInfo,
  type TransportStats,
} from './transport.js';
