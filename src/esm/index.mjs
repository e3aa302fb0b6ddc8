// ES module entry point: re-exports the CommonJS build, so `import` and
// `require` share one module instance (one native addon, one set of error
// classes for instanceof). The name list is checked against src/index.ts by
// test/unit/esm-wrapper.test.ts.
//
// require() rather than `import cjs from '../cjs/index.js'`: on Node 20 a
// CommonJS module that throws while being imported (here: no native addon)
// also raises an uncaught exception, even when the importer catches the
// rejection (Node issue 51603). A throw inside require() is an ordinary one.
import { createRequire } from 'node:module';

const cjs = createRequire(import.meta.url)('../cjs/index.js');

export const {
  AbortError,
  Agent,
  AgentBuilder,
  AgentKeypair,
  AlreadyBuiltError,
  AntiEntropyManager,
  BadAddressError,
  BadKeyError,
  ClosedError,
  COORDINATORS_TOPIC,
  CoordinatorManager,
  DEFAULT_FIND_TIMEOUT_MS,
  DiscoveryManager,
  GossipConfig,
  GossipRuntime,
  InternalError,
  InvalidConfigError,
  InvalidTopicError,
  isAgentId,
  isX0xError,
  JoinFailedError,
  KeyFileError,
  MAX_FIND_TIMEOUT_MS,
  MAX_PAYLOAD_BYTES,
  MAX_TOPIC_BYTES,
  MAX_TOPIC_PEERS_WAIT,
  MembershipManager,
  NativeMissingError,
  NetworkError,
  PayloadTooLargeError,
  PeerDependencyMissingError,
  PRESENCE_GROUP_KEY_BYTES,
  REDACTED_KEY,
  PresenceManager,
  PROMETHEUS_CONTENT_TYPE,
  PubSubManager,
  RendezvousError,
  RendezvousManager,
  SHARD_COUNT,
  DEFAULT_RENDEZVOUS_TIMEOUT_MS,
  MAX_RENDEZVOUS_TIMEOUT_MS,
  rankHolders,
  shardId,
  Subscription,
  TransportAdapter,
  verifyCoordinatorAdvert,
  X0xError,
} = cjs;
