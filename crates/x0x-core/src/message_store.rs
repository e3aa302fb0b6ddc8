//! Bounded store of recent signed envelopes, per topic, keyed by message id:
//! what anti-entropy reconciles over and serves to peers that missed a
//! message.
//!
//! It follows the dedup cache's rules (`messageCacheSize` entries, each kept
//! for `messageCacheTtl`, oldest evicted first), so a message can be fetched
//! for exactly as long as receivers would still accept it, plus a byte
//! budget: every envelope carries a 5 KB ML-DSA key and signature, so a full
//! 10,000-entry cache of 1 MiB payloads would otherwise hold gigabytes.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::envelope::MessageId;

/// Most frame bytes the store holds; the oldest frames leave first above it.
pub const STORE_MAX_BYTES: usize = 64 * 1024 * 1024;

struct Entry {
    topic: String,
    frame: Bytes,
}

/// The store. Not thread-safe; the agent wraps it in a mutex.
pub struct MessageStore {
    entries: HashMap<MessageId, Entry>,
    /// Ids per topic, oldest first. Entries only ever leave from the front
    /// of `order`, so each topic's oldest id is the one that leaves: eviction
    /// is O(1), not a scan of the topic's ids (which showed at 6 % of a
    /// receiver's CPU with a full 10,000-entry store).
    by_topic: HashMap<String, VecDeque<MessageId>>,
    order: VecDeque<(MessageId, Instant)>,
    capacity: usize,
    max_bytes: usize,
    bytes: usize,
    ttl: Duration,
}

impl MessageStore {
    /// A store of at most `capacity` frames and `max_bytes` bytes, each kept for `ttl`.
    pub fn new(capacity: usize, max_bytes: usize, ttl: Duration) -> Self {
        Self {
            entries: HashMap::new(),
            by_topic: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            max_bytes,
            bytes: 0,
            ttl,
        }
    }

    /// Keeps `frame` (the verified envelope of message `id` on `topic`).
    pub fn insert(&mut self, topic: &str, id: MessageId, frame: Bytes, now: Instant) {
        self.expire(now);
        if self.entries.contains_key(&id) {
            return;
        }
        while self.entries.len() >= self.capacity || self.bytes + frame.len() > self.max_bytes {
            if !self.pop_front() {
                break;
            }
        }
        self.bytes += frame.len();
        self.by_topic.entry(topic.to_owned()).or_default().push_back(id);
        self.entries.insert(id, Entry { topic: topic.to_owned(), frame });
        self.order.push_back((id, now));
    }

    /// Ids held for `topic`.
    pub fn ids(&mut self, topic: &str, now: Instant) -> Vec<MessageId> {
        self.expire(now);
        self.by_topic.get(topic).map(|ids| ids.iter().copied().collect()).unwrap_or_default()
    }

    /// The frame of `id` if it is held for `topic`.
    pub fn frame(&mut self, topic: &str, id: &MessageId, now: Instant) -> Option<Bytes> {
        self.expire(now);
        self.entries.get(id).filter(|e| e.topic == topic).map(|e| e.frame.clone())
    }

    /// Frames held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn expire(&mut self, now: Instant) {
        while let Some((_, at)) = self.order.front() {
            if now.saturating_duration_since(*at) < self.ttl {
                break;
            }
            self.pop_front();
        }
    }

    fn pop_front(&mut self) -> bool {
        let Some((id, _)) = self.order.pop_front() else { return false };
        if let Some(entry) = self.entries.remove(&id) {
            self.bytes -= entry.frame.len();
            if let Some(ids) = self.by_topic.get_mut(&entry.topic) {
                if ids.front() == Some(&id) {
                    ids.pop_front();
                } else {
                    ids.retain(|x| *x != id);
                }
                if ids.is_empty() {
                    self.by_topic.remove(&entry.topic);
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> MessageId {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_le_bytes());
        b
    }

    #[test]
    fn keeps_frames_per_topic() {
        let mut s = MessageStore::new(10, 1 << 20, Duration::from_secs(60));
        let t = Instant::now();
        s.insert("a", id(1), Bytes::from_static(b"one"), t);
        s.insert("b", id(2), Bytes::from_static(b"two"), t);
        assert_eq!(s.ids("a", t), vec![id(1)]);
        assert_eq!(s.frame("a", &id(1), t).as_deref(), Some(&b"one"[..]));
        assert_eq!(s.frame("a", &id(2), t), None, "another topic's frame is not served");
    }

    #[test]
    fn bounded_by_count_bytes_and_ttl() {
        let mut s = MessageStore::new(3, 1 << 20, Duration::from_secs(5));
        let t = Instant::now();
        for n in 0..10 {
            s.insert("a", id(n), Bytes::from_static(b"x"), t);
            assert!(s.len() <= 3);
        }
        assert_eq!(s.ids("a", t), vec![id(7), id(8), id(9)]);
        assert!(s.ids("a", t + Duration::from_secs(5)).is_empty());

        let mut s = MessageStore::new(100, 10, Duration::from_secs(5));
        for n in 0..5 {
            s.insert("a", id(n), Bytes::from(vec![0u8; 4]), t);
        }
        assert_eq!(s.ids("a", t), vec![id(3), id(4)], "10-byte budget holds two 4-byte frames");
    }

    #[test]
    fn eviction_keeps_each_topics_ids_in_order() {
        let mut s = MessageStore::new(4, 1 << 20, Duration::from_secs(60));
        let t = Instant::now();
        for n in 0..9 {
            s.insert(if n % 3 == 0 { "a" } else { "b" }, id(n), Bytes::from_static(b"x"), t);
        }
        // Held: 5..=8, the four newest, whichever topic they were on.
        assert_eq!(s.ids("a", t), vec![id(6)]);
        assert_eq!(s.ids("b", t), vec![id(5), id(7), id(8)]);
        assert_eq!(s.frame("a", &id(3), t), None, "an evicted frame is gone");
        assert_eq!(s.len(), 4);
    }
}
