//! Presence: which agents are online right now, and when that changes.
//!
//! Every agent floods a signed beacon (a [`crate::records`] record of kind
//! [`PRESENCE_KIND`] whose body lists its addresses) when it starts and then
//! every `ttl / 2`. On seeing a newcomer it also beacons once soon (at least
//! [`ANSWER_SPACING_MS`] after its previous answer, plus a little jitter),
//! so a newcomer learns who is online within about a second rather than a
//! beacon period. Each beacon is valid for `ttl`; an agent whose newest
//! beacon has expired goes offline, and [`Presence::stop`] floods an
//! explicit offline beacon so others see it leave at once. Beacons that
//! replay an old timestamp (or claim one more than a minute ahead), fail
//! verification or cannot be read are dropped and counted.
//!
//! **What is hidden.** Beacons do not travel by pub/sub: both the x0x
//! envelope and Plumtree frames name their publisher. They are flooded hop
//! by hop instead ([`crate::flood`]), and a flood frame carries nothing but
//! the beacon. With a group key, the whole signed record (signer id, public
//! key, addresses, timestamps) is sealed ([`seal`]), its body padded to
//! [`BODY_BLOCK`]-byte blocks: an agent without the key sees only opaque
//! frames of similar size, relays them, and counts them as decryption
//! failures. A direct neighbour still sees which peer handed it a frame, and
//! everyone sees that a sealed beacon exists and roughly when. Without a
//! group key beacons are signed but readable by every agent.
//!
//! Layout: [`seal`] (frame format and sealing), [`body`] (the beacon body),
//! [`state`] (the sans-IO state machine: schedule, acceptance, who is
//! online) and `driver` ([`Presence`], which wires the state machine to the
//! agent's flood and a timer task). The wire format is byte-compatible with
//! the TypeScript implementation of earlier releases.

pub mod body;
mod driver;
pub mod seal;
pub mod state;

pub use body::BeaconState;
pub use driver::Presence;
pub use seal::{BeaconKey, BODY_BLOCK, GROUP_KEY_BYTES};
pub use state::{OnlineAgent, PresenceBook, PresenceEvent, ANSWER_SPACING_MS};

use std::time::Duration;

use crate::error::{CoreError, CoreResult};

/// Record kind of a presence beacon.
pub const PRESENCE_KIND: u8 = 1;
/// Shortest beacon lifetime accepted.
pub const MIN_TTL: Duration = Duration::from_secs(1);
/// Longest beacon lifetime accepted (one day).
pub const MAX_TTL: Duration = Duration::from_secs(86_400);

/// How an agent takes part in presence.
#[derive(Clone, Debug)]
pub struct PresenceConfig {
    /// How long others treat one beacon as proof this agent is online;
    /// beacons go out every half of it.
    pub beacon_ttl: Duration,
    /// With a key, beacons are sealed under a key derived from it and only
    /// sealed beacons under the same key are accepted.
    pub group_key: Option<[u8; GROUP_KEY_BYTES]>,
}

impl PresenceConfig {
    /// Checks the ranges (the TypeScript config checks them first; this
    /// keeps the core safe on its own).
    pub fn validate(&self) -> CoreResult<()> {
        if !(MIN_TTL..=MAX_TTL).contains(&self.beacon_ttl) {
            return Err(CoreError::InvalidConfig {
                field: Some("presenceBeaconTtl"),
                message: format!(
                    "presenceBeaconTtl must be {} to {} ms (got {} ms)",
                    MIN_TTL.as_millis(),
                    MAX_TTL.as_millis(),
                    self.beacon_ttl.as_millis()
                ),
            });
        }
        Ok(())
    }
}

/// Presence counters since the agent was created.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PresenceStats {
    /// Beacons this agent flooded (the offline beacon included).
    pub beacons_sent: u64,
    /// Beacons of other agents that verified and were accepted.
    pub beacons_received: u64,
    /// Beacons not newer than their signer's last one, or dated too far ahead.
    pub replays_dropped: u64,
    /// Beacons malformed, expired, or failing signature or signer checks.
    pub invalid_dropped: u64,
    /// Sealed beacons this agent could not open (no group key, or another one).
    pub decrypt_failures: u64,
    /// Beacons in the clear, ignored because this agent only accepts sealed ones.
    pub plaintext_ignored: u64,
    /// Beacons of new agents refused because this agent already tracks as
    /// many as it may ([`crate::records::book::DEFAULT_MAX_SIGNERS`]).
    pub full_dropped: u64,
    /// Agents online now.
    pub online: u64,
    /// Flood frames dropped because their neighbour was past its budget
    /// ([`crate::FloodStats::rate_limited`]).
    pub relay_rate_limited: u64,
    /// Beacons in the clear the flood refused to relay
    /// ([`crate::FloodStats::invalid`]); not in `invalid_dropped`.
    pub relay_invalid: u64,
}
