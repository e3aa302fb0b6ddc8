//! Anti-entropy frames on the Bulk stream (first byte 0xC0..=0xCF).
//!
//! Integers are little-endian.
//!
//! | tag | frame | layout |
//! |---|---|---|
//! | 0xC0 | request | req u64, kind u8, topic_len u16, topic, body |
//! | 0xC1 | response | req u64, status u8, body |
//! | 0xC2 | push | topic_len u16, topic, frame list |
//!
//! Request kinds and their bodies: 1 sketch (seed u64; answered by set size
//! u64 + AMS sketch), 2 reconcile (an `x0x_iblt::Request`; answered by an
//! `x0x_iblt::Response`), 3 fetch (count u32 + ids; answered by a frame list),
//! 4 fetch by fingerprint (seed u64 + count u32 + 64-bit fingerprints under
//! that session seed, as a session's `Resolve` names them; answered by a
//! frame list in the same order: the session's items without a round trip
//! for their ids, 8 bytes each asked instead of 32).
//! A frame list is count u32, then per frame len u32 + bytes.
//!
//! Every decoder checks lengths before it allocates and rejects trailing
//! bytes; a frame that fails is dropped and counted by the caller.

use crate::envelope::{MessageId, ENVELOPE_OVERHEAD};
use crate::transport::MAX_FRAME_BYTES;
use crate::{MAX_PAYLOAD_BYTES, MAX_TOPIC_BYTES};

/// A request to a peer.
pub const TAG_REQUEST: u8 = 0xC0;
/// A peer's answer to a request.
pub const TAG_RESPONSE: u8 = 0xC1;
/// Envelopes sent unasked to a peer that lacks them.
pub const TAG_PUSH: u8 = 0xC2;

/// Request kind: estimate the difference.
pub const KIND_SKETCH: u8 = 1;
/// Request kind: one step of an IBLT reconciliation session.
pub const KIND_RECONCILE: u8 = 2;
/// Request kind: send these envelopes.
pub const KIND_FETCH: u8 = 3;
/// Request kind: send the envelopes with these fingerprints.
pub const KIND_FETCH_FINGERPRINTS: u8 = 4;

/// Response status: answered.
pub const STATUS_OK: u8 = 0;
/// Response status: the responder does not keep this topic.
pub const STATUS_NO_TOPIC: u8 = 1;
/// Response status: the request was malformed or could not be answered.
pub const STATUS_ERROR: u8 = 2;

/// Most envelopes one frame list carries.
pub const MAX_LIST_FRAMES: usize = 4096;
/// Most ids one fetch asks for.
pub const MAX_FETCH_IDS: usize = 1024;
/// Largest anti-entropy frame a receiver reads: its per-message limit
/// ([`MAX_FRAME_BYTES`]) less the stream-type byte in front. A larger one
/// fails the receiver's reader and closes the connection, so nothing of that
/// size is ever sent.
pub const MAX_AE_FRAME_BYTES: usize = MAX_FRAME_BYTES - 1;
/// Byte budget of one frame list (its entries, 4 + len each): what is left
/// of [`MAX_AE_FRAME_BYTES`] after the largest response or push header and
/// the list's count. Longer answers and pushes go in several frames.
pub const LIST_BUDGET_BYTES: usize = MAX_AE_FRAME_BYTES - (3 + MAX_TOPIC_BYTES + 4) - 16;
// The largest envelope always fits a list on its own.
const _: () = assert!(4 + MAX_PAYLOAD_BYTES + ENVELOPE_OVERHEAD <= LIST_BUDGET_BYTES);

/// True for first bytes this module owns.
pub fn is_anti_entropy(data: &[u8]) -> bool {
    matches!(data.first(), Some(0xC0..=0xCF))
}

/// A decoded frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// See [`TAG_REQUEST`].
    Request { req: u64, kind: u8, topic: &'a str, body: &'a [u8] },
    /// See [`TAG_RESPONSE`].
    Response { req: u64, status: u8, body: &'a [u8] },
    /// See [`TAG_PUSH`].
    Push { topic: &'a str, frames: Vec<&'a [u8]> },
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).and_then(|b| b.try_into().ok()).map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes)
    }
    fn topic(&mut self) -> Option<&'a str> {
        let len = usize::from(self.u16()?);
        if len == 0 || len > MAX_TOPIC_BYTES {
            return None;
        }
        std::str::from_utf8(self.take(len)?).ok()
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}

/// Decodes a frame; `None` if it is malformed or above a limit.
pub fn decode(data: &[u8]) -> Option<Frame<'_>> {
    let mut r = Reader(data);
    match r.u8()? {
        TAG_REQUEST => {
            let req = r.u64()?;
            let kind = r.u8()?;
            if !(KIND_SKETCH..=KIND_FETCH_FINGERPRINTS).contains(&kind) {
                return None;
            }
            let topic = r.topic()?;
            Some(Frame::Request { req, kind, topic, body: r.rest() })
        }
        TAG_RESPONSE => {
            let req = r.u64()?;
            let status = r.u8()?;
            if status > STATUS_ERROR {
                return None;
            }
            Some(Frame::Response { req, status, body: r.rest() })
        }
        TAG_PUSH => {
            let topic = r.topic()?;
            let frames = decode_list(r.rest())?;
            Some(Frame::Push { topic, frames })
        }
        _ => None,
    }
}

fn put_topic(out: &mut Vec<u8>, topic: &str) {
    // Topics are validated (1..=MAX_TOPIC_BYTES) before they get here.
    out.extend_from_slice(&(topic.len().min(MAX_TOPIC_BYTES) as u16).to_le_bytes());
    out.extend_from_slice(&topic.as_bytes()[..topic.len().min(MAX_TOPIC_BYTES)]);
}

/// Encodes a request.
pub fn request(req: u64, kind: u8, topic: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + topic.len() + body.len());
    out.push(TAG_REQUEST);
    out.extend_from_slice(&req.to_le_bytes());
    out.push(kind);
    put_topic(&mut out, topic);
    out.extend_from_slice(body);
    out
}

/// Encodes a response.
pub fn response(req: u64, status: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + body.len());
    out.push(TAG_RESPONSE);
    out.extend_from_slice(&req.to_le_bytes());
    out.push(status);
    out.extend_from_slice(body);
    out
}

/// Encodes a push of `frames` (a list from [`encode_list`]).
pub fn push(topic: &str, list: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 + topic.len() + list.len());
    out.push(TAG_PUSH);
    put_topic(&mut out, topic);
    out.extend_from_slice(list);
    out
}

/// Encodes a frame list.
pub fn encode_list<B: AsRef<[u8]>>(frames: &[B]) -> Vec<u8> {
    let total: usize = frames.iter().map(|f| 4 + f.as_ref().len()).sum();
    let mut out = Vec::with_capacity(4 + total);
    out.extend_from_slice(&(frames.len() as u32).to_le_bytes());
    for f in frames {
        out.extend_from_slice(&(f.as_ref().len() as u32).to_le_bytes());
        out.extend_from_slice(f.as_ref());
    }
    out
}

/// Decodes a frame list; `None` if malformed or above a limit.
pub fn decode_list(body: &[u8]) -> Option<Vec<&[u8]>> {
    let mut r = Reader(body);
    let count = r.u32()? as usize;
    if count > MAX_LIST_FRAMES || count.saturating_mul(4) > r.0.len() {
        return None;
    }
    let mut frames = Vec::with_capacity(count);
    for _ in 0..count {
        let len = r.u32()? as usize;
        if len > MAX_PAYLOAD_BYTES + ENVELOPE_OVERHEAD {
            return None;
        }
        frames.push(r.take(len)?);
    }
    r.0.is_empty().then_some(frames)
}

/// Encodes the ids of a fetch.
pub fn encode_ids(ids: &[MessageId]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + ids.len() * 32);
    out.extend_from_slice(&(ids.len() as u32).to_le_bytes());
    for id in ids {
        out.extend_from_slice(id);
    }
    out
}

/// Decodes the ids of a fetch; `None` if malformed or above [`MAX_FETCH_IDS`].
pub fn decode_ids(body: &[u8]) -> Option<Vec<MessageId>> {
    let mut r = Reader(body);
    let count = r.u32()? as usize;
    if count > MAX_FETCH_IDS || r.0.len() != count * 32 {
        return None;
    }
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        ids.push(r.take(32)?.try_into().ok()?);
    }
    Some(ids)
}

/// Encodes a fetch by fingerprint.
pub fn encode_fingerprints(seed: u64, fingerprints: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + fingerprints.len() * 8);
    out.extend_from_slice(&seed.to_le_bytes());
    out.extend_from_slice(&(fingerprints.len() as u32).to_le_bytes());
    for fp in fingerprints {
        out.extend_from_slice(&fp.to_le_bytes());
    }
    out
}

/// Decodes a fetch by fingerprint: `(seed, fingerprints)`; `None` if
/// malformed or above [`MAX_FETCH_IDS`].
pub fn decode_fingerprints(body: &[u8]) -> Option<(u64, Vec<u64>)> {
    let mut r = Reader(body);
    let seed = r.u64()?;
    let count = r.u32()? as usize;
    if count > MAX_FETCH_IDS || r.0.len() != count * 8 {
        return None;
    }
    let mut fingerprints = Vec::with_capacity(count);
    for _ in 0..count {
        fingerprints.push(r.u64()?);
    }
    Some((seed, fingerprints))
}

/// Encodes a sketch answer: the responder's set size and AMS sketch bytes.
pub fn sketch_answer(set_size: u64, sketch: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + sketch.len());
    out.extend_from_slice(&set_size.to_le_bytes());
    out.extend_from_slice(sketch);
    out
}

/// Splits a sketch answer.
pub fn decode_sketch_answer(body: &[u8]) -> Option<(u64, &[u8])> {
    let mut r = Reader(body);
    let size = r.u64()?;
    Some((size, r.rest()))
}

/// Reads the seed of a sketch request.
pub fn decode_seed(body: &[u8]) -> Option<u64> {
    let mut r = Reader(body);
    let seed = r.u64()?;
    r.0.is_empty().then_some(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let f = request(7, KIND_FETCH, "news", &encode_ids(&[[1; 32], [2; 32]]));
        let Some(Frame::Request { req: 7, kind: KIND_FETCH, topic: "news", body }) = decode(&f) else {
            panic!("request did not decode")
        };
        assert_eq!(decode_ids(body), Some(vec![[1; 32], [2; 32]]));
        let p = push("t", &encode_list(&[b"ab".as_slice(), b"c".as_slice()]));
        assert_eq!(decode(&p), Some(Frame::Push { topic: "t", frames: vec![b"ab", b"c"] }));
        let r = response(9, STATUS_NO_TOPIC, b"");
        assert_eq!(decode(&r), Some(Frame::Response { req: 9, status: STATUS_NO_TOPIC, body: b"" }));
    }

    #[test]
    fn rejects_malformed_and_oversized() {
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&[0xCF, 1, 2]), None, "unknown tag");
        assert_eq!(decode(&[TAG_REQUEST, 1]), None, "truncated");
        let f = request(1, 9, "t", b"");
        assert_eq!(decode(&f), None, "unknown kind");
        // A list claiming more frames than bytes.
        let mut list = encode_list(&[b"x"]);
        list[0] = 200;
        assert_eq!(decode_list(&list), None);
        // A frame length beyond the envelope limit.
        let mut big = 1u32.to_le_bytes().to_vec();
        big.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode_list(&big), None);
        // Trailing bytes.
        let mut trailing = encode_list(&[b"x"]);
        trailing.push(0);
        assert_eq!(decode_list(&trailing), None);
        let too_many = encode_ids(&vec![[0; 32]; MAX_FETCH_IDS + 1]);
        assert_eq!(decode_ids(&too_many), None);
        let fps = encode_fingerprints(3, &[1, 2]);
        assert_eq!(decode_fingerprints(&fps), Some((3, vec![1, 2])));
        assert_eq!(decode_fingerprints(&fps[..fps.len() - 1]), None, "truncated");
        assert_eq!(decode_fingerprints(&encode_fingerprints(3, &vec![0; MAX_FETCH_IDS + 1])), None);
        // Empty and overlong topics.
        assert_eq!(decode(&[TAG_PUSH, 0, 0, 0, 0, 0, 0]), None);
        let mut long = vec![TAG_PUSH];
        long.extend_from_slice(&((MAX_TOPIC_BYTES + 1) as u16).to_le_bytes());
        long.extend(std::iter::repeat_n(b'a', MAX_TOPIC_BYTES + 1));
        long.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(decode(&long), None);
    }
}
