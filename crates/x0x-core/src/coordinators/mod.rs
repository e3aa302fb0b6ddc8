//! Coordinator adverts: publicly reachable agents announce themselves so
//! that others (rendezvous, NAT traversal) can find them.
//!
//! An advert is a signed record ([`crate::records`]) of kind
//! [`COORDINATOR_KIND`] whose body lists the coordinator's addresses
//! ([`body`]), published on the pub/sub topic [`COORDINATORS_TOPIC`]. It
//! carries the coordinator's ML-DSA-65 public key and signature, so every
//! receiver checks it on its own, whoever relayed it: the key must hash to
//! the signer id and sign the fields. Adverts with a bad signature, a signer
//! that does not match, tampered fields, an expiry in the past, a timestamp
//! more than [`crate::records::MAX_CLOCK_SKEW_MS`] ahead or not newer than
//! the coordinator's last advert are rejected and counted; so are adverts of
//! new coordinators once [`MAX_COORDINATORS`] are listed.
//!
//! A coordinator re-advertises every `ttl / 2` (at least every
//! [`MIN_PERIOD_MS`]); an advert not renewed by its expiry drops out of the
//! list.
//!
//! Layout: [`body`] (the advert body), [`state`] (the sans-IO book: schedule
//! and acceptance) and `driver` ([`Coordinators`], which wires the book to
//! the agent's pub/sub and a timer task). The wire format is byte-compatible
//! with the TypeScript implementation of earlier releases.

pub mod body;
mod driver;
pub mod state;

pub use driver::Coordinators;
pub use state::{AdvertPlan, AdvertRejection, CoordinatorAdvert, CoordinatorBook};

use std::time::Duration;

use crate::error::{CoreError, CoreResult};
use crate::records::{self, RecordRejection};

/// Record kind of a coordinator advert.
pub const COORDINATOR_KIND: u8 = 2;
/// The pub/sub topic adverts travel on.
pub const COORDINATORS_TOPIC: &str = "x0x.coordinators";
/// Shortest advert lifetime accepted.
pub const MIN_TTL: Duration = Duration::from_secs(1);
/// Longest advert lifetime accepted (one week).
pub const MAX_TTL: Duration = Duration::from_secs(604_800);
/// Shortest re-advertising period, whatever the TTL.
pub const MIN_PERIOD_MS: u64 = 500;
/// Most coordinators listed at once. Anyone can make a key and sign an
/// advert, so without a bound a flood of them would grow the list (and the
/// rendezvous candidates) without end.
pub const MAX_COORDINATORS: usize = 1024;

/// How an agent takes part in coordinator adverts.
#[derive(Clone, Debug)]
pub struct CoordinatorConfig {
    /// Lifetime of this agent's adverts; it re-advertises every half of it.
    pub advert_ttl: Duration,
    /// Advertise as a coordinator from [`Coordinators::start`] on.
    pub advertise: bool,
}

impl CoordinatorConfig {
    /// Checks the ranges (the TypeScript config checks them first; this
    /// keeps the core safe on its own).
    pub fn validate(&self) -> CoreResult<()> {
        if !(MIN_TTL..=MAX_TTL).contains(&self.advert_ttl) {
            return Err(CoreError::InvalidConfig {
                field: Some("coordinatorAdvertTtl"),
                message: format!(
                    "coordinatorAdvertTtl must be {} to {} ms (got {} ms)",
                    MIN_TTL.as_millis(),
                    MAX_TTL.as_millis(),
                    self.advert_ttl.as_millis()
                ),
            });
        }
        Ok(())
    }
}

/// Adverts accepted and rejected since the agent was created.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CoordinatorStats {
    /// Adverts that verified and were newer than the coordinator's last one
    /// (this agent's own included).
    pub accepted: u64,
    /// Rejected adverts by reason, every reason present (0 when none):
    /// the [`RecordRejection`] names, then `"full"` ([`MAX_COORDINATORS`]).
    pub rejected: Vec<(&'static str, u64)>,
}

/// Re-checks an advert from its fields alone: `public_key` must hash to
/// `peer` and have signed the addresses, timestamp and expiry. Changing any
/// field makes it fail. Expiry is not checked here.
pub fn verify(advert: &CoordinatorAdvert) -> bool {
    records::verify_fields(
        COORDINATOR_KIND,
        &advert.peer,
        advert.timestamp,
        advert.expires_at,
        &body::encode(&advert.addrs),
        &advert.public_key,
        &advert.signature,
    )
    .is_ok()
}

/// Every rejection reason, in the order stats list them.
pub(crate) const REJECTIONS: [RecordRejection; 8] = [
    RecordRejection::Malformed,
    RecordRejection::WrongKind,
    RecordRejection::SignerMismatch,
    RecordRejection::BadSignature,
    RecordRejection::Expired,
    RecordRejection::FromFuture,
    RecordRejection::Replayed,
    RecordRejection::TooLong,
];
