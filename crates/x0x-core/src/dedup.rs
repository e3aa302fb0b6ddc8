//! Bounded, time-limited set of message ids already delivered.
//!
//! Entries leave in first-seen order, either when they are older than the TTL
//! or when the cache is full. A duplicate arriving after its id left is
//! treated as new: with the envelope's per-publish nonce that can only be a
//! replay of an old frame, which is why the TTL should exceed how long frames
//! can linger in the network (Plumtree's own caches keep them 60 s).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::envelope::MessageId;
use crate::records::MAX_CLOCK_SKEW_MS;

/// How long the receive path must remember an id so that no replay of a
/// fresh message is delivered twice.
///
/// A message counts as fresh while `published_at` is at most `message_ttl`
/// old and at most [`MAX_CLOCK_SKEW_MS`] ahead of the local clock, so a
/// publisher whose clock runs ahead keeps its message fresh for up to
/// `message_ttl` + skew after it first arrives here. The cache counts from
/// local receipt, so it must cover that whole lead, or a replay in the last
/// minute of freshness would be new again.
pub fn window(message_ttl: Duration) -> Duration {
    message_ttl.saturating_add(Duration::from_millis(MAX_CLOCK_SKEW_MS))
}

/// The dedup cache.
#[derive(Debug)]
pub struct DedupCache {
    seen: HashMap<MessageId, Instant>,
    order: VecDeque<(MessageId, Instant)>,
    capacity: usize,
    ttl: Duration,
}

impl DedupCache {
    /// A cache holding at most `capacity` ids, each for at most `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            seen: HashMap::with_capacity(capacity.min(1 << 16)),
            order: VecDeque::with_capacity(capacity.min(1 << 16)),
            capacity: capacity.max(1),
            ttl,
        }
    }

    /// True when `id` was seen within the TTL and is still held.
    pub fn contains(&mut self, id: &MessageId, now: Instant) -> bool {
        self.expire(now);
        self.seen.contains_key(id)
    }

    /// Records `id`; returns false if it was already held.
    pub fn insert(&mut self, id: MessageId, now: Instant) -> bool {
        self.expire(now);
        if self.seen.contains_key(&id) {
            return false;
        }
        while self.seen.len() >= self.capacity {
            if !self.pop_front() {
                break;
            }
        }
        self.seen.insert(id, now);
        self.order.push_back((id, now));
        true
    }

    /// Number of ids held.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
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
        match self.order.pop_front() {
            Some((id, at)) => {
                if self.seen.get(&id) == Some(&at) {
                    self.seen.remove(&id);
                }
                true
            }
            None => false,
        }
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
    fn drops_duplicates_within_ttl() {
        let mut c = DedupCache::new(10, Duration::from_secs(60));
        let t = Instant::now();
        assert!(c.insert(id(1), t));
        assert!(!c.insert(id(1), t + Duration::from_secs(59)));
        assert!(c.contains(&id(1), t));
    }

    #[test]
    fn never_exceeds_capacity_under_flood() {
        let mut c = DedupCache::new(100, Duration::from_secs(60));
        let t = Instant::now();
        for n in 0..10_000 {
            c.insert(id(n), t);
            assert!(c.len() <= 100);
        }
        assert!(!c.contains(&id(0), t), "oldest evicted first");
        assert!(c.contains(&id(9_999), t));
    }

    #[test]
    fn the_window_outlasts_the_freshness_of_a_message_from_a_clock_ahead() {
        let ttl = Duration::from_secs(300);
        // Fresh until published_at + ttl, and published_at may be up to the
        // skew after first receipt.
        let fresh_after_receipt = ttl + Duration::from_millis(MAX_CLOCK_SKEW_MS);
        assert!(window(ttl) >= fresh_after_receipt);
        assert_eq!(window(Duration::MAX), Duration::MAX, "saturates");
    }

    #[test]
    fn forgets_after_ttl() {
        let mut c = DedupCache::new(10, Duration::from_secs(5));
        let t = Instant::now();
        c.insert(id(1), t);
        assert!(!c.contains(&id(1), t + Duration::from_secs(5)));
        assert!(c.insert(id(1), t + Duration::from_secs(6)));
        assert_eq!(c.len(), 1);
    }
}
