//! Which connected peers subscribe to which topics.
//!
//! Plumtree relays every topic through every peer, subscribed or not, so it
//! has no notion of a topic's subscribers. An application that wants to know
//! when a publish will reach someone needs one, as gossipsub's SUBSCRIBE
//! announcements give libp2p users. Each agent therefore tells every
//! connected peer the full set of topic ids it subscribes to: when a
//! connection opens and whenever the set changes. A later announcement
//! replaces an earlier one, so a lost or reordered frame heals at the next.
//!
//! Frame (Bulk stream): tag `0xE0`, sequence (u64 LE), count (u16 LE), then
//! that many 32-byte topic ids (BLAKE3 of the topic name, as Plumtree's; the
//! names stay local). The announcing peer is the QUIC-authenticated sender,
//! never a field. Frames travel on separate streams and can overtake each
//! other, so a frame whose sequence is not above the last one seen from that
//! peer is stale and ignored. Senders start their sequence at their clock in
//! ms times 1024, so a restarted peer's first frame still counts.
//!
//! This module is sans-IO: the agent feeds it frames and connection changes
//! and asks it for counts.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use saorsa_gossip_types::{PeerId, TopicId};
use tokio::sync::Notify;

/// First byte of a topic-interest frame on the Bulk stream.
pub const TAG: u8 = 0xE0;
/// Most topic ids one announcement carries; more subscriptions are announced
/// only up to this many (32 KiB of ids).
pub const MAX_TOPICS: usize = 1024;
/// Most peers whose interest is remembered; interest of connected peers only
/// is kept, so this bounds a flood of short-lived connections.
pub const MAX_PEERS: usize = 4096;

/// Encodes the full set of subscribed topic ids (at most [`MAX_TOPICS`]).
pub fn encode(seq: u64, topics: &[TopicId]) -> Vec<u8> {
    let topics = &topics[..topics.len().min(MAX_TOPICS)];
    let mut out = Vec::with_capacity(11 + 32 * topics.len());
    out.push(TAG);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&(topics.len() as u16).to_le_bytes());
    for t in topics {
        out.extend_from_slice(t.as_bytes());
    }
    out
}

/// Decodes a frame from [`encode`] into its sequence and topics; `None`
/// when malformed.
pub fn decode(frame: &[u8]) -> Option<(u64, Vec<TopicId>)> {
    let (&tag, rest) = frame.split_first()?;
    if tag != TAG || rest.len() < 10 {
        return None;
    }
    let (seq, rest) = rest.split_at(8);
    let seq = u64::from_le_bytes(seq.try_into().ok()?);
    let count = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
    let ids = &rest[2..];
    if count > MAX_TOPICS || ids.len() != count * 32 {
        return None;
    }
    let topics = ids
        .chunks_exact(32)
            .map(|c| {
                let mut b = [0u8; 32];
                b.copy_from_slice(c);
                TopicId::new(b)
            })
            .collect();
    Some((seq, topics))
}

/// The topics each connected peer last announced, with a wake-up whenever
/// that changes.
#[derive(Default)]
pub struct TopicInterest {
    peers: Mutex<HashMap<PeerId, (u64, HashSet<TopicId>)>>,
    changed: Notify,
    last_sent: Mutex<u64>,
}

impl TopicInterest {
    /// The sequence for our next announcement: above every earlier one, and
    /// at least `now_ms` x 1024 (see the module doc).
    pub fn next_seq(&self, now_ms: u64) -> u64 {
        let Ok(mut last) = self.last_sent.lock() else { return now_ms.saturating_mul(1024) };
        *last = (*last + 1).max(now_ms.saturating_mul(1024));
        *last
    }

    /// Records `peer`'s announcement, replacing its earlier one. Returns
    /// false (and records nothing) for a malformed or stale frame, or for a
    /// new peer beyond [`MAX_PEERS`].
    pub fn on_frame(&self, peer: PeerId, frame: &[u8]) -> bool {
        let Some((seq, topics)) = decode(frame) else { return false };
        let Ok(mut peers) = self.peers.lock() else { return false };
        match peers.get(&peer) {
            Some((last, _)) if *last >= seq => return false,
            None if peers.len() >= MAX_PEERS => return false,
            _ => {}
        }
        peers.insert(peer, (seq, topics.into_iter().collect()));
        drop(peers);
        self.changed.notify_waiters();
        true
    }

    /// Forgets a peer whose connection closed.
    pub fn forget(&self, peer: &PeerId) {
        if let Ok(mut peers) = self.peers.lock() {
            if peers.remove(peer).is_some() {
                drop(peers);
                self.changed.notify_waiters();
            }
        }
    }

    /// Peers among `candidates` that announced `topic`.
    pub fn subscribers(&self, topic: &TopicId, candidates: &[PeerId]) -> Vec<PeerId> {
        let Ok(peers) = self.peers.lock() else { return Vec::new() };
        candidates
            .iter()
            .filter(|p| peers.get(p).is_some_and(|(_, t)| t.contains(topic)))
            .copied()
            .collect()
    }

    /// Resolves at the next change; create it before checking the state that
    /// it guards, so a change in between is not missed.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.peers.lock().map(|p| p.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(n: u8) -> TopicId {
        TopicId::new([n; 32])
    }

    fn peer(n: u8) -> PeerId {
        PeerId::new([n; 32])
    }

    #[test]
    fn round_trips_and_rejects_malformed_frames() {
        let frame = encode(7, &[topic(1), topic(2)]);
        assert_eq!(decode(&frame), Some((7, vec![topic(1), topic(2)])));
        assert_eq!(decode(&encode(8, &[])), Some((8, vec![])));
        assert_eq!(decode(&frame[..frame.len() - 1]), None, "truncated");
        let mut long = frame.clone();
        long.push(0);
        assert_eq!(decode(&long), None, "trailing byte");
        let mut wrong_tag = frame;
        wrong_tag[0] = 0xE1;
        assert_eq!(decode(&wrong_tag), None);
        let mut too_many = vec![TAG];
        too_many.extend_from_slice(&1u64.to_le_bytes());
        too_many.extend_from_slice(&((MAX_TOPICS + 1) as u16).to_le_bytes());
        too_many.extend(std::iter::repeat_n(0u8, 32 * (MAX_TOPICS + 1)));
        assert_eq!(decode(&too_many), None, "over the topic cap");
    }

    #[test]
    fn our_sequence_only_rises() {
        let interest = TopicInterest::default();
        let a = interest.next_seq(1_000);
        let b = interest.next_seq(1_000);
        let c = interest.next_seq(900);
        assert!(a == 1_024_000 && b > a && c > b);
        assert_eq!(interest.next_seq(2_000), 2_048_000);
    }

    #[test]
    fn encode_caps_the_topic_count() {
        let many: Vec<TopicId> = (0..MAX_TOPICS + 5).map(|i| TopicId::new([(i % 251) as u8; 32])).collect();
        assert_eq!(decode(&encode(1, &many)).map(|(_, t)| t.len()), Some(MAX_TOPICS));
    }

    #[test]
    fn a_later_announcement_replaces_the_earlier_one() {
        let interest = TopicInterest::default();
        assert!(interest.on_frame(peer(1), &encode(1, &[topic(1)])));
        assert!(interest.on_frame(peer(2), &encode(1, &[topic(1), topic(2)])));
        let all = [peer(1), peer(2), peer(3)];
        assert_eq!(interest.subscribers(&topic(1), &all), vec![peer(1), peer(2)]);
        assert!(interest.on_frame(peer(1), &encode(2, &[topic(2)])));
        assert!(!interest.on_frame(peer(1), &encode(2, &[topic(1)])), "same sequence is stale");
        assert!(!interest.on_frame(peer(1), &encode(1, &[topic(1)])), "an overtaken frame is stale");
        assert_eq!(interest.subscribers(&topic(1), &all), vec![peer(2)]);
        assert_eq!(interest.subscribers(&topic(1), &[peer(1)]), Vec::<PeerId>::new(), "only candidates count");
        interest.forget(&peer(2));
        assert!(interest.subscribers(&topic(1), &all).is_empty());
        assert!(!interest.on_frame(peer(4), b"\xE0\x01\x00"), "malformed frame is refused");
        interest.forget(&peer(1));
        assert!(interest.on_frame(peer(1), &encode(1, &[topic(1)])), "a reconnected peer starts afresh");
    }

    #[test]
    fn peers_beyond_the_cap_are_refused_but_known_ones_update() {
        let interest = TopicInterest::default();
        for i in 0..MAX_PEERS {
            let mut b = [0u8; 32];
            b[..8].copy_from_slice(&(i as u64).to_le_bytes());
            assert!(interest.on_frame(PeerId::new(b), &encode(1, &[topic(1)])));
        }
        assert!(!interest.on_frame(peer(0xFF), &encode(1, &[topic(1)])));
        assert!(interest.on_frame(PeerId::new([0; 32]), &encode(2, &[topic(2)])), "a known peer may update");
        assert_eq!(interest.len(), MAX_PEERS);
    }
}
