//! The x0x message envelope: what a publisher signs and every subscriber verifies.
//!
//! saorsa-gossip tells a subscriber only the last hop, drops identical payload
//! bytes on a topic for five minutes, and refuses to forward payloads with long
//! zero runs. The envelope answers all three: it names and proves the real
//! publisher, a per-publish nonce makes every publish unique, and the payload
//! travels XOR-ed with a keystream derived from the nonce so no zero run
//! survives on the wire.
//!
//! Wire layout (version 2, integers little-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | version = 2 |
//! | 1 | 32 | publisher agent id (the hash of its ML-DSA-65 public key) |
//! | 33 | 16 | nonce |
//! | 49 | 8 | published_at, ms since the Unix epoch |
//! | 57 | 4 | payload length |
//! | 61 | 3309 | ML-DSA-65 signature over the message id |
//! | 3370 | n | payload XOR keystream |
//!
//! The publisher's 1,952-byte public key is not in the frame (version 1
//! carried it in every copy). A receiver verifies with the key it holds for
//! that agent id and fetches a missing one once from the peer that sent the
//! frame ([`crate::publisher_keys`]); the id is the key's hash, so a fetched
//! key proves itself.
//!
//! The message id is `BLAKE3(ID_DOMAIN || topic_id || publisher_id || nonce ||
//! published_at || payload)`, so it binds topic and payload, and the signature
//! over it authenticates both. It binds the 32-byte topic id (the BLAKE3-based
//! hash saorsa-gossip routes by) rather than the name, so a relay that knows
//! only the id can still verify a frame before it forwards it.

use crate::error::{CoreError, CoreResult};
use crate::identity::{self, AgentId, AgentKeypair, PublicKey, SIGNATURE_LEN};
use saorsa_gossip_types::TopicId;

const VERSION: u8 = 2;
const ID_DOMAIN: &[u8] = b"x0x/message-id/v2";
const WHITEN_CONTEXT: &str = "x0x envelope whitening v1";
const NONCE_LEN: usize = 16;
const ID_LEN: usize = 32;
const HEADER_LEN: usize = 1 + ID_LEN + NONCE_LEN + 8 + 4;

/// Bytes the envelope adds to every payload.
pub const ENVELOPE_OVERHEAD: usize = HEADER_LEN + SIGNATURE_LEN;

/// A BLAKE3 message id.
pub type MessageId = [u8; 32];

/// A verified message, ready for subscribers.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// Agent id of the publisher, proven by the signature.
    pub publisher: AgentId,
    /// BLAKE3 message id.
    pub id: MessageId,
    /// Publisher's clock at publish time, ms since the Unix epoch.
    pub published_at: u64,
    /// The application payload, unwhitened.
    pub payload: Vec<u8>,
}

/// Why a frame was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Too short, wrong version, or inconsistent length.
    Malformed,
    /// Payload above the limit.
    Oversized,
    /// Signature does not verify, or the key given is not the publisher's.
    BadSignature,
}

fn message_id(
    topic: &TopicId,
    publisher: &AgentId,
    nonce: &[u8],
    published_at: u64,
    payload: &[u8],
) -> MessageId {
    let mut h = blake3::Hasher::new();
    h.update(ID_DOMAIN);
    h.update(topic.as_bytes());
    h.update(publisher);
    h.update(nonce);
    h.update(&published_at.to_le_bytes());
    h.update(payload);
    *h.finalize().as_bytes()
}

fn whiten(nonce: &[u8], data: &mut [u8]) {
    let mut key = blake3::Hasher::new_derive_key(WHITEN_CONTEXT);
    key.update(nonce);
    let mut stream = key.finalize_xof();
    let mut block = [0u8; 4096];
    for chunk in data.chunks_mut(block.len()) {
        let ks = &mut block[..chunk.len()];
        stream.fill(ks);
        for (b, k) in chunk.iter_mut().zip(ks.iter()) {
            *b ^= k;
        }
    }
}

/// Builds and signs an envelope; returns the frame and the message id.
pub fn seal(
    keypair: &AgentKeypair,
    topic: &TopicId,
    payload: &[u8],
    published_at: u64,
) -> CoreResult<(Vec<u8>, MessageId)> {
    let len = u32::try_from(payload.len()).map_err(|_| CoreError::PayloadTooLarge {
        size: payload.len(),
        limit: crate::MAX_PAYLOAD_BYTES,
    })?;
    let nonce: [u8; NONCE_LEN] = rand::random();
    let publisher = keypair.agent_id();
    let id = message_id(topic, &publisher, &nonce, published_at, payload);
    let sig = keypair.sign(&id)?;
    let mut out = Vec::with_capacity(ENVELOPE_OVERHEAD + payload.len());
    out.push(VERSION);
    out.extend_from_slice(&publisher);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&published_at.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&sig);
    let start = out.len();
    out.extend_from_slice(payload);
    whiten(&nonce, &mut out[start..]);
    Ok((out, id))
}

/// Signs `frame`'s message id again with `keypair`, giving a frame with the
/// same id and different bytes (ML-DSA signing is randomised). This is what a
/// publisher re-sending a message produces; tests use it to prove the
/// receiver's dedup cache, since saorsa-gossip already drops byte-identical
/// payloads before they reach x0x.
#[cfg(any(test, feature = "test-hooks"))]
pub fn resign(keypair: &AgentKeypair, frame: &[u8], topic: &TopicId) -> CoreResult<Vec<u8>> {
    let opened = open(frame, topic, usize::MAX)
        .and_then(|o| o.verify(&PublicKey::new(keypair.public_key())))
        .map_err(|r| CoreError::Network(format!("not an x0x envelope for this topic: {r:?}")))?;
    if opened.publisher != keypair.agent_id() {
        return Err(CoreError::BadKey("only the publisher can re-sign its frame".into()));
    }
    let sig = keypair.sign(&opened.id)?;
    let at = HEADER_LEN;
    let mut out = frame.to_vec();
    out[at..at + SIGNATURE_LEN].copy_from_slice(&sig);
    Ok(out)
}

/// Parsed but not yet verified frame. Splitting parse from verify lets the
/// receiver drop duplicates before paying for an ML-DSA verification.
pub struct Opened<'a> {
    signature: &'a [u8],
    /// Claimed publisher, proven only by [`Opened::verify`].
    pub publisher: AgentId,
    /// Message id computed from the frame's contents.
    pub id: MessageId,
    /// Publisher clock.
    pub published_at: u64,
    payload: Vec<u8>,
}

/// Parses a frame and computes its id; checks size limits but not the signature.
pub fn open<'a>(frame: &'a [u8], topic: &TopicId, max_payload: usize) -> Result<Opened<'a>, Rejection> {
    if frame.len() < ENVELOPE_OVERHEAD || frame[0] != VERSION {
        return Err(Rejection::Malformed);
    }
    let Some(publisher) = publisher_of(frame) else { return Err(Rejection::Malformed) };
    let mut at = 1 + ID_LEN;
    let nonce = &frame[at..at + NONCE_LEN];
    at += NONCE_LEN;
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&frame[at..at + 8]);
    at += 8;
    let mut len = [0u8; 4];
    len.copy_from_slice(&frame[at..at + 4]);
    at += 4;
    let signature = &frame[at..at + SIGNATURE_LEN];
    at += SIGNATURE_LEN;
    let payload_len = u32::from_le_bytes(len) as usize;
    if payload_len > max_payload {
        return Err(Rejection::Oversized);
    }
    if frame.len() - at != payload_len {
        return Err(Rejection::Malformed);
    }
    let mut payload = frame[at..].to_vec();
    whiten(nonce, &mut payload);
    let published_at = u64::from_le_bytes(ts);
    let id = message_id(topic, &publisher, nonce, published_at, &payload);
    Ok(Opened { signature, publisher, id, published_at, payload })
}

/// The publisher a frame names, read without parsing the rest: what a
/// receiver needs to find (or fetch) the key before it verifies.
pub fn publisher_of(frame: &[u8]) -> Option<AgentId> {
    if frame.first() != Some(&VERSION) {
        return None;
    }
    frame.get(1..1 + ID_LEN)?.try_into().ok()
}

impl Opened<'_> {
    /// Verifies the publisher's signature over the id with `key`, which
    /// must be the key the publisher's agent id is the hash of (a wrong key
    /// from a cache or a peer can never pass for the publisher's).
    pub fn verify(self, key: &PublicKey) -> Result<Envelope, Rejection> {
        if *key.id() != self.publisher || !identity::verify(key.as_bytes(), &self.id, self.signature) {
            return Err(Rejection::BadSignature);
        }
        Ok(Envelope {
            publisher: self.publisher,
            id: self.id,
            published_at: self.published_at,
            payload: self.payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kp() -> AgentKeypair {
        AgentKeypair::generate().unwrap()
    }

    fn pk(k: &AgentKeypair) -> PublicKey {
        PublicKey::new(k.public_key())
    }

    fn t(name: &str) -> TopicId {
        TopicId::from_entity(name)
    }

    #[test]
    fn resigned_frame_keeps_the_id_with_new_bytes() {
        let k = kp();
        let (frame, id) = seal(&k, &t("t"), b"again", 7).unwrap();
        let again = resign(&k, &frame, &t("t")).unwrap();
        assert_ne!(frame, again, "ML-DSA signing is randomised, so the bytes differ");
        let env = open(&again, &t("t"), 1 << 20).unwrap().verify(&pk(&k)).unwrap();
        assert_eq!(env.id, id);
        assert!(resign(&kp(), &frame, &t("t")).is_err(), "another key cannot re-sign");
        assert!(resign(&k, &frame[..10], &t("t")).is_err());
    }

    #[test]
    fn seals_and_opens_with_publisher_and_id() {
        let k = kp();
        let (frame, id) = seal(&k, &t("t"), b"hello", 42).unwrap();
        let env = open(&frame, &t("t"), 1 << 20).unwrap().verify(&pk(&k)).unwrap();
        assert_eq!(env.publisher, k.agent_id());
        assert_eq!(env.id, id);
        assert_eq!(env.payload, b"hello");
        assert_eq!(env.published_at, 42);
    }

    #[test]
    fn same_payload_twice_gives_distinct_frames_and_ids() {
        let k = kp();
        let (a, ida) = seal(&k, &t("t"), b"same", 1).unwrap();
        let (b, idb) = seal(&k, &t("t"), b"same", 1).unwrap();
        assert_ne!(a, b);
        assert_ne!(ida, idb);
    }

    #[test]
    fn zero_payload_has_no_zero_run_on_the_wire() {
        let k = kp();
        let payload = vec![0u8; 64 * 1024];
        let (frame, _) = seal(&k, &t("t"), &payload, 1).unwrap();
        let body = &frame[ENVELOPE_OVERHEAD..];
        let longest = body
            .split(|b| *b != 0)
            .map(<[u8]>::len)
            .max()
            .unwrap_or(0);
        assert!(longest < 16, "zero run of {longest} bytes survived whitening");
        let env = open(&frame, &t("t"), 1 << 20).unwrap().verify(&pk(&k)).unwrap();
        assert_eq!(env.payload, payload);
    }

    #[test]
    fn tampered_payload_or_topic_fails_verification() {
        let k = kp();
        let (mut frame, _) = seal(&k, &t("t"), b"hello", 1).unwrap();
        let key = &pk(&k);
        assert_eq!(open(&frame, &t("other"), 1 << 20).unwrap().verify(key).unwrap_err(), Rejection::BadSignature);
        let last = frame.len() - 1;
        frame[last] ^= 1;
        assert_eq!(open(&frame, &t("t"), 1 << 20).unwrap().verify(key).unwrap_err(), Rejection::BadSignature);
    }

    #[test]
    fn another_agents_key_or_name_fails_verification() {
        let (a, b) = (kp(), kp());
        let (frame, _) = seal(&a, &t("t"), b"hello", 1).unwrap();
        // The right name, the wrong key: a cache or a peer handing out b's key.
        assert_eq!(open(&frame, &t("t"), 1 << 20).unwrap().verify(&pk(&b)).unwrap_err(), Rejection::BadSignature);
        // b's name on a's signature, verified with b's key.
        let mut renamed = frame.clone();
        renamed[1..33].copy_from_slice(&b.agent_id());
        assert_eq!(publisher_of(&renamed), Some(b.agent_id()));
        assert_eq!(
            open(&renamed, &t("t"), 1 << 20).unwrap().verify(&pk(&b)).unwrap_err(),
            Rejection::BadSignature
        );
    }

    #[test]
    fn a_frame_carries_the_publishers_id_not_its_key() {
        let k = kp();
        let (frame, _) = seal(&k, &t("t"), &[9u8; 256], 1).unwrap();
        assert_eq!(frame.len(), 256 + 3370, "version 2 adds 3,370 bytes (version 1 added 5,290)");
        assert_eq!(ENVELOPE_OVERHEAD, 3370);
        assert_eq!(publisher_of(&frame), Some(k.agent_id()));
        assert!(!frame.windows(64).any(|w| w == &k.public_key()[..64]), "the key is not on the wire");
        assert_eq!(publisher_of(&frame[..20]), None);
    }

    #[test]
    fn malformed_and_oversized_frames_are_rejected() {
        let k = kp();
        assert_eq!(open(&[1, 2, 3], &t("t"), 10).err(), Some(Rejection::Malformed));
        let (frame, _) = seal(&k, &t("t"), &[7u8; 100], 1).unwrap();
        assert_eq!(open(&frame, &t("t"), 99).err(), Some(Rejection::Oversized));
        assert_eq!(open(&frame[..frame.len() - 1], &t("t"), 1000).err(), Some(Rejection::Malformed));
        let mut v1 = frame.clone();
        v1[0] = 1;
        assert_eq!(open(&v1, &t("t"), 1000).err(), Some(Rejection::Malformed), "version 1 frames carried a key");
    }
}
