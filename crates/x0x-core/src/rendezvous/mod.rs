//! Rendezvous: finding any agent in the network without knowing where it is.
//!
//! Agent ids are spread over 65,536 shards ([`crate::shard`]). The holders
//! of a shard are the `replicas` known coordinators
//! ([`crate::coordinators`]) with the highest rendezvous-hash weight
//! ([`ranking`]), so every agent that knows the same coordinators computes
//! the same holders, and a coordinator coming or going moves only the shards
//! it ranks for. With no coordinator known, the agents seen online through
//! presence (this one included) stand in.
//!
//! Registering signs this agent's address record and sends it straight to
//! the holders over QUIC ([`wire`]), then renews it every `ttl / 2`
//! ([`renewal`]); a lookup asks the same holders and takes the newest record
//! that verifies against the target's own key, so it costs one request and
//! at most one reply per holder, whatever the network's size. Unregistering
//! sends a newer, signed record with no addresses.
//!
//! Layout: [`wire`] (frames and the holder's store), [`ranking`] (which
//! agents hold a shard), [`renewal`] (the sans-IO renewal schedule) and
//! `client` ([`RendezvousClient`]: registration, renewal task and lookups
//! over the agent). Holder weights are byte-compatible with the TypeScript
//! implementation of earlier releases.

mod client;
pub mod ranking;
pub mod renewal;
pub mod wire;

pub use client::{Registration, RendezvousClient, RendezvousConfig};
pub use ranking::{rank, weight, Candidate};
pub use wire::*;
