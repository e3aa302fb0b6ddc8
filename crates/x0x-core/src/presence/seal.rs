//! The frame a beacon travels in, and its sealing for a group.
//!
//! A frame is the payload of one flood frame:
//!
//! | first byte | then |
//! |---|---|
//! | [`PLAIN`] `0x01` | the signed record: a beacon in the clear |
//! | [`SEALED`] `0x02` | a random 12-byte nonce, the ChaCha20-Poly1305 ciphertext of the signed record, the 16-byte tag |
//!
//! The key is derived from the 32-byte group key with HKDF-SHA-256 (salt
//! `"x0x presence salt v1"`, info `"x0x presence beacon v1"`), so the raw
//! group key never encrypts anything itself and a future use of it for
//! something else gets an independent key. The associated data
//! (`"\x02x0x.presence"`) binds the frame type and the purpose, so a sealed
//! beacon cannot be taken for anything else.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use hkdf::Hkdf;
use sha2::Sha256;

use crate::error::{CoreError, CoreResult};

/// First byte of a beacon in the clear. The flood verifies such frames
/// before relaying them ([`crate::flood`]), so this value is shared.
pub const PLAIN: u8 = 0x01;
/// First byte of a sealed beacon.
pub const SEALED: u8 = 0x02;
/// Bytes of the random nonce of a sealed beacon.
pub const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;
/// Bytes of a group key.
pub const GROUP_KEY_BYTES: usize = 32;
/// Beacon bodies are padded to a multiple of this many bytes.
pub const BODY_BLOCK: usize = 128;

const SALT: &[u8] = b"x0x presence salt v1";
const INFO: &[u8] = b"x0x presence beacon v1";
const AAD: &[u8] = b"\x02x0x.presence";

/// The key beacons are sealed with, derived from a group key.
#[derive(Clone, PartialEq, Eq)]
pub struct BeaconKey([u8; 32]);

impl std::fmt::Debug for BeaconKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material (logs, panics in tests).
        f.write_str("BeaconKey(..)")
    }
}

impl BeaconKey {
    /// Derives the beacon key from a group key.
    pub fn derive(group_key: &[u8; GROUP_KEY_BYTES]) -> CoreResult<Self> {
        let mut okm = [0u8; 32];
        Hkdf::<Sha256>::new(Some(SALT), group_key)
            .expand(INFO, &mut okm)
            .map_err(|e| CoreError::config(format!("cannot derive the presence key: {e}")))?;
        Ok(Self(okm))
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(&self.0.into())
    }
}

/// Wraps a signed record into a frame: sealed under `key` with `nonce`
/// when there is a key, in the clear otherwise. The nonce must be fresh
/// for every frame (the driver draws it at random).
pub fn seal(record: &[u8], key: Option<&BeaconKey>, nonce: [u8; NONCE_BYTES]) -> CoreResult<Vec<u8>> {
    let Some(key) = key else {
        return Ok([&[PLAIN][..], record].concat());
    };
    let sealed = key
        .cipher()
        .encrypt(&nonce.into(), Payload { msg: record, aad: AAD })
        .map_err(|_| CoreError::Network("cannot seal a presence beacon".to_owned()))?;
    let mut frame = Vec::with_capacity(1 + NONCE_BYTES + sealed.len());
    frame.push(SEALED);
    frame.extend_from_slice(&nonce);
    frame.extend_from_slice(&sealed);
    Ok(frame)
}

/// What a received frame turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// A signed record, still to be verified.
    Record(Vec<u8>),
    /// Sealed, and we have no key or a different one (or it was tampered with).
    Undecryptable,
    /// In the clear, while we only accept sealed beacons.
    Plaintext,
    /// Empty, of an unknown type, or too short to be sealed.
    Malformed,
}

/// Opens a frame. With a key, only sealed beacons under that key are
/// accepted; without one, only beacons in the clear.
pub fn open(frame: &[u8], key: Option<&BeaconKey>) -> Opened {
    match (frame.split_first(), key) {
        (None, _) => Opened::Malformed,
        (Some((&PLAIN, record)), None) => Opened::Record(record.to_vec()),
        (Some((&PLAIN, _)), Some(_)) => Opened::Plaintext,
        (Some((&SEALED, rest)), key) => {
            if rest.len() < NONCE_BYTES + TAG_BYTES {
                return Opened::Malformed;
            }
            let Some(key) = key else { return Opened::Undecryptable };
            let (nonce, sealed) = rest.split_at(NONCE_BYTES);
            let Ok(nonce) = <[u8; NONCE_BYTES]>::try_from(nonce) else {
                return Opened::Malformed;
            };
            key.cipher()
                .decrypt(&nonce.into(), Payload { msg: sealed, aad: AAD })
                .map_or(Opened::Undecryptable, Opened::Record)
        }
        (Some(_), _) => Opened::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUP: [u8; 32] = {
        let mut k = [0u8; 32];
        let mut i = 0;
        while i < 32 {
            k[i] = i as u8;
            i += 1;
        }
        k
    };
    const NONCE: [u8; 12] = [12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23];
    const RECORD: &[u8] = b"x0x presence test record";

    fn key(byte: u8) -> BeaconKey {
        BeaconKey::derive(&[byte; 32]).unwrap()
    }

    /// Produced by the TypeScript implementation this module replaces
    /// (`src/presence-seal.ts`, node:crypto) for the same group key, nonce
    /// and record: proof that both sides read each other's beacons.
    #[test]
    fn matches_the_typescript_test_vector() {
        let k = BeaconKey::derive(&GROUP).unwrap();
        assert_eq!(
            hex::encode(k.0),
            "ecbf91d48c5c937326acf4f8fe4659b3a9015c5385774dc7b828879f340b6e77"
        );
        let frame = seal(RECORD, Some(&k), NONCE).unwrap();
        assert_eq!(
            hex::encode(&frame),
            "020c0d0e0f1011121314151617ef5b529949d566d7d77dcc8e5d701373be229deef8600d3c9db8f8113ed9c7af3ef0ce95eb48e694"
        );
        assert_eq!(open(&frame, Some(&k)), Opened::Record(RECORD.to_vec()));
    }

    #[test]
    fn hides_the_record_and_differs_per_nonce() {
        let k = key(1);
        let frame = seal(RECORD, Some(&k), NONCE).unwrap();
        assert!(!frame.windows(8).any(|w| w == &RECORD[..8]));
        assert_ne!(seal(RECORD, Some(&k), [0; 12]).unwrap(), frame);
    }

    #[test]
    fn another_key_or_none_cannot_open_it() {
        let frame = seal(RECORD, Some(&key(1)), NONCE).unwrap();
        assert_eq!(open(&frame, Some(&key(2))), Opened::Undecryptable);
        assert_eq!(open(&frame, None), Opened::Undecryptable);
    }

    #[test]
    fn any_flipped_bit_is_rejected() {
        let k = key(1);
        let frame = seal(RECORD, Some(&k), NONCE).unwrap();
        for i in 1..frame.len() {
            let mut bad = frame.clone();
            bad[i] ^= 0x10;
            assert_eq!(open(&bad, Some(&k)), Opened::Undecryptable, "byte {i}");
        }
    }

    #[test]
    fn clear_beacons_are_read_without_a_key_and_ignored_with_one() {
        let clear = seal(RECORD, None, NONCE).unwrap();
        assert_eq!(clear[0], PLAIN);
        assert_eq!(open(&clear, None), Opened::Record(RECORD.to_vec()));
        assert_eq!(open(&clear, Some(&key(1))), Opened::Plaintext);
    }

    #[test]
    fn empty_unknown_and_truncated_frames_are_malformed() {
        let k = key(1);
        assert_eq!(open(&[], Some(&k)), Opened::Malformed);
        assert_eq!(open(&[9, 1, 2], Some(&k)), Opened::Malformed);
        assert_eq!(open(&[SEALED, 1, 2], Some(&k)), Opened::Malformed);
        assert_eq!(open(&[SEALED; 28], None), Opened::Malformed);
        // Nonce and tag but no ciphertext: well-formed, does not open.
        assert_eq!(open(&[SEALED; 29], Some(&k)), Opened::Undecryptable);
    }

    #[test]
    fn keys_are_deterministic_distinct_and_not_the_group_key() {
        assert_eq!(key(3), key(3));
        assert_ne!(key(3), key(4));
        assert_ne!(key(3).0, [3u8; 32]);
        assert_eq!(format!("{:?}", key(3)), "BeaconKey(..)");
    }
}
