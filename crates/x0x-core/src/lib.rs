//! # x0x-core
//!
//! One x0x agent in plain Rust: an ant-quic QUIC endpoint (ML-KEM-768 /
//! ML-DSA-65), saorsa-gossip's HyParView + SWIM membership and Plumtree
//! pub/sub, and what those crates leave to the application: the frame
//! dispatcher, topic peer management, lifecycle, and a signed message envelope
//! that names the real publisher.
//!
//! ```no_run
//! # async fn demo() -> Result<(), x0x_core::CoreError> {
//! use x0x_core::{Agent, AgentKeypair, AgentOptions};
//! let a = Agent::start(AgentKeypair::generate()?, AgentOptions::default()).await?;
//! let b = Agent::start(AgentKeypair::generate()?, AgentOptions::default()).await?;
//! b.join(vec![a.local_addr()]).await?;
//! let mut sub = a.subscribe("news").await?;
//! b.publish("news", b"hello".to_vec()).await?;
//! let msg = sub.next().await;
//! # a.close().await; b.close().await; Ok(()) }
//! ```

#![deny(missing_docs)]
#![deny(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod addr_book;
pub mod addr_claims;
pub mod advertise;
mod ae_sync;
mod ae_wire;
pub mod addr_record;
mod agent;
mod anti_entropy;
mod bulk_route;
mod config;
pub mod coordinators;
mod dedup;
#[cfg(test)]
mod decoder_fuzz_tests;
mod envelope;
pub mod foaf;
mod error;
mod flood;
mod forward_join;
mod identity;
mod inbound_lanes;
mod lock;
mod membership_watch;
pub mod presence;
pub mod records;
pub mod rendezvous;
mod message_store;
mod outbox;
mod publisher_keys;
pub mod shard;
mod source_trees;
mod stats;
mod supervise;
mod time;
mod topic_interest;
mod transport;

pub use anti_entropy::{AntiEntropyStats, PeerReconciliation, ReconciliationStats};
pub use addr_record::AddrRecord;
pub use foaf::FoafStats;
pub use coordinators::{CoordinatorAdvert, CoordinatorConfig, CoordinatorStats, Coordinators};
pub use presence::{OnlineAgent, Presence, PresenceConfig, PresenceEvent, PresenceStats};
pub use shard::shard_id;
#[cfg(feature = "test-hooks")]
pub use agent::{RawStream, PANIC_FRAME_TAG, PANIC_IN_DISPATCHER, PANIC_IN_HANDLER};
pub use agent::{MAX_RELAY_TOPICS, UNVERIFIED_TOPICS, UNVERIFIED_TOPICS_PER_PEER};
pub use agent::{validate_topic, Agent, AgentOptions, ConnectionCounts, DropCount, Holder, HolderReply, LookupOutcome, Message, Subscription};
pub use rendezvous::{Candidate, Registration, RendezvousClient, RendezvousConfig, RendezvousStats, StoreOutcome};
pub use config::AgentConfig;
pub use dedup::DedupCache;
pub use envelope::{MessageId, ENVELOPE_OVERHEAD};
pub use error::{CoreError, CoreResult};
pub use flood::{FloodStats, MAX_PAYLOAD_BYTES as MAX_FLOOD_PAYLOAD_BYTES, PEER_BURST as FLOOD_PEER_BURST, PEER_RATE as FLOOD_PEER_RATE};
pub use identity::{AgentId, AgentKeypair, PUBLIC_KEY_LEN, SIGNATURE_LEN};
pub use membership_watch::{LeaveReason, MembershipEvent, MembershipEventKind};
pub use stats::{MembershipStats, PubSubStats};
pub use transport::{dialable, ConnectedPeer, ConnectionEvent, ConnectionPath};

/// Largest application payload one message may carry, in bytes (1 MiB).
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;
/// Longest topic name, in UTF-8 bytes.
pub const MAX_TOPIC_BYTES: usize = 256;
