//! Wire format of a signed record, and its ML-DSA-65 signature.
//!
//! A record is a small statement an agent makes about itself (a presence
//! beacon, a coordinator advert) that others keep until it expires. It must
//! prove its signer on its own, independently of how it travelled: the x0x
//! envelope names whoever published a frame, and presence beacons travel with
//! no envelope at all. So every record carries the signer's public key, and a
//! receiver checks that the key hashes to the claimed signer id.
//!
//! Layout (version 1, integers little-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | version = 1 |
//! | 1 | 1 | kind |
//! | 2 | 32 | signer agent id |
//! | 34 | 8 | timestamp, ms since the Unix epoch |
//! | 42 | 8 | expires_at, ms since the Unix epoch |
//! | 50 | 2 | body length n (at most [`MAX_BODY_BYTES`]) |
//! | 52 | n | body |
//! | 52+n | 1952 | signer ML-DSA-65 public key |
//! | 2004+n | 3309 | ML-DSA-65 signature over [`signed_message`] |

use saorsa_gossip_types::PeerId;

use crate::error::{CoreError, CoreResult};
use crate::identity::{self, AgentId, AgentKeypair, PUBLIC_KEY_LEN, SIGNATURE_LEN};

const VERSION: u8 = 1;
const SIGN_DOMAIN: &[u8] = b"x0x/record/v1";
const FIXED_LEN: usize = 1 + 1 + 32 + 8 + 8 + 2;

/// Largest record body, in bytes.
pub const MAX_BODY_BYTES: usize = 4096;
/// Largest lead of a signer's clock over the receiver's that is still
/// accepted: the one bound for every signed, dated statement (records,
/// address records, message envelopes). TypeScript does not repeat it.
pub const MAX_CLOCK_SKEW_MS: u64 = 60_000;

/// Longest a signed record may ask to be kept from the time it arrives, on
/// top of the clock skew, unless its kind allows more: one day, the longest
/// a presence beacon or a rendezvous registration may live (coordinator
/// adverts may live a week, and their book says so).
pub const MAX_RECORD_LIFETIME_MS: u64 = 86_400_000;
/// Bytes a record adds to its body.
pub const RECORD_OVERHEAD: usize = FIXED_LEN + PUBLIC_KEY_LEN + SIGNATURE_LEN;

/// Why a record was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordRejection {
    /// Truncated, wrong version, inconsistent length, or `expires_at` before `timestamp`.
    Malformed,
    /// A record of another kind than the book keeps.
    WrongKind,
    /// The public key does not hash to the claimed signer id.
    SignerMismatch,
    /// The signature does not verify (a tampered field or the wrong key).
    BadSignature,
    /// `expires_at` is not in the future.
    Expired,
    /// `timestamp` is further ahead of our clock than the allowed skew.
    FromFuture,
    /// Not newer than the last record accepted from the same signer.
    Replayed,
    /// Asks to be kept longer than the book allows from now (by default
    /// [`MAX_RECORD_LIFETIME_MS`]): otherwise one record dated to expire at
    /// `u64::MAX` would hold its place forever.
    TooLong,
    /// A new signer while the book already tracks as many signers as it
    /// may; signers it knows are still accepted.
    Full,
}

impl RecordRejection {
    /// Stable lowercase name, used as a counter key across the binding.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::WrongKind => "wrong-kind",
            Self::SignerMismatch => "signer-mismatch",
            Self::BadSignature => "bad-signature",
            Self::Expired => "expired",
            Self::FromFuture => "from-future",
            Self::Replayed => "replayed",
            Self::TooLong => "too-long",
            Self::Full => "full",
        }
    }
}

/// A decoded record. Only [`Record::verify`] (or a [`super::RecordBook`])
/// makes its contents trustworthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Application-defined kind (e.g. presence, coordinator advert).
    pub kind: u8,
    /// Claimed signer.
    pub signer: AgentId,
    /// Signer's clock when the record was made, ms since the Unix epoch.
    pub timestamp: u64,
    /// When the record stops being valid, ms since the Unix epoch.
    pub expires_at: u64,
    /// Application payload.
    pub body: Vec<u8>,
    /// Signer's ML-DSA-65 public key.
    pub public_key: Vec<u8>,
    /// ML-DSA-65 signature over [`signed_message`].
    pub signature: Vec<u8>,
}

/// The bytes a record's signature covers: every field but the key and the
/// signature, behind a domain tag so no other x0x signature can be replayed
/// as a record.
pub fn signed_message(
    kind: u8,
    signer: &AgentId,
    timestamp: u64,
    expires_at: u64,
    body: &[u8],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGN_DOMAIN.len() + FIXED_LEN + body.len());
    m.extend_from_slice(SIGN_DOMAIN);
    m.push(kind);
    m.extend_from_slice(signer);
    m.extend_from_slice(&timestamp.to_le_bytes());
    m.extend_from_slice(&expires_at.to_le_bytes());
    // Bodies are at most MAX_BODY_BYTES (< u16::MAX), checked by the callers.
    m.extend_from_slice(&(body.len() as u16).to_le_bytes());
    m.extend_from_slice(body);
    m
}

/// Builds and signs a record.
pub fn sign(
    keypair: &AgentKeypair,
    kind: u8,
    body: &[u8],
    timestamp: u64,
    expires_at: u64,
) -> CoreResult<Vec<u8>> {
    if body.len() > MAX_BODY_BYTES {
        return Err(CoreError::PayloadTooLarge {
            size: body.len(),
            limit: MAX_BODY_BYTES,
        });
    }
    if expires_at < timestamp {
        return Err(CoreError::config(format!(
            "record expiry {expires_at} is before its timestamp {timestamp}"
        )));
    }
    let signer = keypair.agent_id();
    let sig = keypair.sign(&signed_message(kind, &signer, timestamp, expires_at, body))?;
    let mut out = Vec::with_capacity(RECORD_OVERHEAD + body.len());
    out.push(VERSION);
    out.push(kind);
    out.extend_from_slice(&signer);
    out.extend_from_slice(&timestamp.to_le_bytes());
    out.extend_from_slice(&expires_at.to_le_bytes());
    out.extend_from_slice(&(body.len() as u16).to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(keypair.public_key());
    out.extend_from_slice(&sig);
    Ok(out)
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// Parses a record without checking its signature.
pub fn decode(bytes: &[u8]) -> Result<Record, RecordRejection> {
    let parse = || -> Option<Record> {
        if *bytes.first()? != VERSION {
            return None;
        }
        let kind = *bytes.get(1)?;
        let signer: AgentId = bytes.get(2..34)?.try_into().ok()?;
        let timestamp = u64_at(bytes, 34)?;
        let expires_at = u64_at(bytes, 42)?;
        let body_len = u16::from_le_bytes(bytes.get(50..52)?.try_into().ok()?) as usize;
        if body_len > MAX_BODY_BYTES
            || bytes.len() != RECORD_OVERHEAD + body_len
            || expires_at < timestamp
        {
            return None;
        }
        let body_end = FIXED_LEN + body_len;
        let key_end = body_end + PUBLIC_KEY_LEN;
        Some(Record {
            kind,
            signer,
            timestamp,
            expires_at,
            body: bytes[FIXED_LEN..body_end].to_vec(),
            public_key: bytes[body_end..key_end].to_vec(),
            signature: bytes[key_end..].to_vec(),
        })
    };
    parse().ok_or(RecordRejection::Malformed)
}

/// Checks that `public_key` belongs to `signer` and signed these fields.
pub fn verify_fields(
    kind: u8,
    signer: &AgentId,
    timestamp: u64,
    expires_at: u64,
    body: &[u8],
    public_key: &[u8],
    signature: &[u8],
) -> Result<(), RecordRejection> {
    if public_key.len() != PUBLIC_KEY_LEN || PeerId::from_pubkey(public_key).to_bytes() != *signer {
        return Err(RecordRejection::SignerMismatch);
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(RecordRejection::Malformed);
    }
    let message = signed_message(kind, signer, timestamp, expires_at, body);
    if identity::verify(public_key, &message, signature) {
        Ok(())
    } else {
        Err(RecordRejection::BadSignature)
    }
}

impl Record {
    /// Checks signer and signature (not time: see [`super::RecordBook`]).
    pub fn verify(&self) -> Result<(), RecordRejection> {
        verify_fields(
            self.kind,
            &self.signer,
            self.timestamp,
            self.expires_at,
            &self.body,
            &self.public_key,
            &self.signature,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_decodes_and_verifies() {
        let k = AgentKeypair::generate().unwrap();
        let bytes = sign(&k, 7, b"body", 100, 200).unwrap();
        assert_eq!(bytes.len(), RECORD_OVERHEAD + 4);
        let r = decode(&bytes).unwrap();
        assert_eq!(
            (r.kind, r.signer, r.timestamp, r.expires_at),
            (7, k.agent_id(), 100, 200)
        );
        assert_eq!(r.body, b"body");
        r.verify().unwrap();
    }

    #[test]
    fn every_tampered_field_fails_verification() {
        let k = AgentKeypair::generate().unwrap();
        let good = decode(&sign(&k, 7, b"127.0.0.1:1", 100, 200).unwrap()).unwrap();
        let mut r = good.clone();
        r.body = b"127.0.0.1:2".to_vec();
        assert_eq!(r.verify(), Err(RecordRejection::BadSignature));
        let mut r = good.clone();
        r.expires_at += 1;
        assert_eq!(r.verify(), Err(RecordRejection::BadSignature));
        let mut r = good.clone();
        r.timestamp += 1;
        assert_eq!(r.verify(), Err(RecordRejection::BadSignature));
        let mut r = good.clone();
        r.kind = 8;
        assert_eq!(r.verify(), Err(RecordRejection::BadSignature));
        let mut r = good;
        r.signature[10] ^= 1;
        assert_eq!(r.verify(), Err(RecordRejection::BadSignature));
    }

    #[test]
    fn key_of_another_agent_is_a_signer_mismatch() {
        let (a, b) = (
            AgentKeypair::generate().unwrap(),
            AgentKeypair::generate().unwrap(),
        );
        // b signs but claims to be a: the key no longer hashes to the signer.
        let mut r = decode(&sign(&b, 1, b"x", 1, 2).unwrap()).unwrap();
        r.signer = a.agent_id();
        assert_eq!(r.verify(), Err(RecordRejection::SignerMismatch));
        // a's key with b's signature: the key matches but the signature does not.
        let mut r = decode(&sign(&b, 1, b"x", 1, 2).unwrap()).unwrap();
        r.signer = a.agent_id();
        r.public_key = a.public_key().to_vec();
        assert_eq!(r.verify(), Err(RecordRejection::BadSignature));
    }

    #[test]
    fn malformed_input_is_rejected_not_panicking() {
        let k = AgentKeypair::generate().unwrap();
        let bytes = sign(&k, 1, b"abc", 1, 2).unwrap();
        for cut in [0, 1, 33, 51, 52, bytes.len() - 1] {
            assert_eq!(
                decode(&bytes[..cut]),
                Err(RecordRejection::Malformed),
                "cut at {cut}"
            );
        }
        let mut v2 = bytes.clone();
        v2[0] = 2;
        assert_eq!(decode(&v2), Err(RecordRejection::Malformed));
        let mut long = bytes;
        long.push(0);
        assert_eq!(decode(&long), Err(RecordRejection::Malformed));
        assert!(sign(&k, 1, &[0u8; MAX_BODY_BYTES + 1], 1, 2).is_err());
        assert!(sign(&k, 1, b"", 5, 4).is_err());
    }
}
