//! x0x-core's integration tests, in one binary: each of these used to be its
//! own test target, and every target links the whole dependency tree again
//! (about 2 minutes each on a 2-core CI machine). One module per former file.
//!
//! The `hostile_*`, `dead_stay_out` and `verify_before_forward` modules send through the
//! `test-hooks` feature's raw send paths, which the shipped addon does not
//! contain, so they build only with that feature on.

mod anti_entropy_gap;
mod anti_entropy_sync;
mod coordinators;
mod foaf_walk;
mod hop_frame_inspection;
mod loopback;
mod mldsa_backend;
mod presence;
mod publisher_keys;
mod rendezvous;
mod source_trees;
mod steady_state;
mod support;

#[cfg(feature = "test-hooks")]
mod dead_stay_out;
#[cfg(feature = "test-hooks")]
mod hostile_addr_claims;
#[cfg(feature = "test-hooks")]
mod hostile_anti_entropy;
#[cfg(feature = "test-hooks")]
mod hostile_dispatch;
#[cfg(feature = "test-hooks")]
mod hostile_flood;
#[cfg(feature = "test-hooks")]
mod hostile_foaf;
#[cfg(feature = "test-hooks")]
mod hostile_membership;
#[cfg(feature = "test-hooks")]
mod hostile_panics;
#[cfg(feature = "test-hooks")]
mod hostile_records;
#[cfg(feature = "test-hooks")]
mod hostile_sybil_sync;
#[cfg(feature = "test-hooks")]
mod hostile_replay;
#[cfg(feature = "test-hooks")]
mod hostile_topics;
#[cfg(feature = "test-hooks")]
mod verify_before_forward;
