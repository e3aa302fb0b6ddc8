//! # x0x-iblt
//!
//! Set reconciliation over 32-byte message ids for x0x's anti-entropy:
//! two peers find the ids one has and the other lacks while exchanging
//! bytes in proportion to the *difference*, not to the sets (the
//! saorsa-gossip baseline sends every cached id, 32 bytes each).
//!
//! - [`Iblt`]: an Invertible Bloom Lookup Table (insert, remove, subtract,
//!   decode by peeling) with a compact, versioned wire encoding.
//! - [`StrataEstimator`] and [`AmsSketch`]: size the difference before a
//!   table is built (the strata estimator is exact for small differences;
//!   the AMS sketch is 1 KB for any set size and the default).
//! - [`plan`]: turns an estimate into a cell count.
//! - [`Reconciler`]: a sans-IO state machine a network layer drives;
//!   its tables hold 64-bit fingerprints of the ids, and it asks for the
//!   full ids only of those the peer alone holds; it retries with a
//!   doubled table when decoding fails, then falls back to the full id
//!   list, so every session ends with the exact difference.
//!
//! ```
//! use x0x_iblt::{Config, Next, Reconciler};
//! let mine: Vec<[u8; 32]> = (0u8..100).map(|i| [i; 32]).collect();
//! let theirs: Vec<[u8; 32]> = (3u8..105).map(|i| [i; 32]).collect();
//! let config = Config::default();
//! let (mut session, mut request) = Reconciler::start(config.clone(), &mine);
//! let diff = loop {
//!     // In x0x `request` goes over the network as `request.to_bytes()`.
//!     let response = Reconciler::on_request(&config, &theirs, &request)?;
//!     match session.on_response(response)? {
//!         Next::Done(diff) => break diff,
//!         Next::Retry(next) | Next::FullList(next) | Next::Resolve(next) => request = next,
//!     }
//! };
//! assert_eq!(diff.local_only, vec![[0; 32], [1; 32], [2; 32]]);
//! assert_eq!(diff.remote_only, vec![[100; 32], [101; 32], [102; 32], [103; 32], [104; 32]]);
//! # Ok::<(), x0x_iblt::ReconcileError>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod ams;
mod error;
mod hash;
mod iblt;
mod plan;
mod reconcile;
mod strata;
mod wire;

pub use ams::{AmsSketch, AMS_HEADER_BYTES, DEFAULT_AMS_COUNTERS, MAX_AMS_COUNTERS};
pub use error::{DecodeError, ParamsError, ReconcileError, WireError};
pub use hash::FingerprintHasher;
pub use iblt::{
    Decoded, Iblt, Keys, CELL_WIRE_BYTES, DEFAULT_K, FINGERPRINT_CELL_WIRE_BYTES, IBLT_HEADER_BYTES,
    MAX_K, MAX_TABLE_CELLS, MIN_K,
};
pub use plan::{cells_for_difference, plan};
pub use reconcile::{
    Config, Diff, Estimator, Limits, Next, Reconciler, Request, Response, Sketch, Stats,
};
pub use strata::{
    DifferenceEstimate, StrataEstimator, DEFAULT_STRATUM_CELLS, MAX_STRATUM_CELLS, STRATA,
    STRATA_HEADER_BYTES, STRATUM_CELL_WIRE_BYTES, STRATUM_K,
};

/// A message id: 32 bytes (x0x ids are BLAKE3 hashes).
pub type Id = [u8; 32];

#[cfg(test)]
mod tests;
