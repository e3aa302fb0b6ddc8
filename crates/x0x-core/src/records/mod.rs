//! Signed records: small, self-authenticating, expiring statements an agent
//! makes about itself (presence beacons, coordinator adverts), and the book
//! that keeps the newest valid one per signer. How records travel is up to
//! the feature using them; see [`codec`] for the format.

pub mod book;
pub mod codec;

pub use book::RecordBook;
pub use codec::{
    decode, sign, signed_message, verify_fields, Record, RecordRejection, MAX_BODY_BYTES,
    MAX_CLOCK_SKEW_MS, MAX_RECORD_LIFETIME_MS, RECORD_OVERHEAD,
};
