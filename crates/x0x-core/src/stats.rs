//! Pub/sub counters.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, updated without locks.
#[derive(Debug, Default)]
pub struct PubSubCounters {
    pub(crate) published: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) duplicates_dropped: AtomicU64,
    pub(crate) invalid_dropped: AtomicU64,
    pub(crate) oversized_dropped: AtomicU64,
    pub(crate) stale_dropped: AtomicU64,
    pub(crate) unroutable_dropped: AtomicU64,
    pub(crate) lagged_dropped: AtomicU64,
    /// Pub/sub frames for a topic this agent holds no state for, dropped
    /// unverified (see `agent_topic_gate`); diagnostics only.
    pub(crate) unknown_topic_dropped: AtomicU64,
    /// Envelopes dropped because their publisher's key could not be had
    /// (see `publisher_keys`); diagnostics only.
    pub(crate) no_key_dropped: AtomicU64,
}

/// A snapshot of [`PubSubCounters`].
#[derive(Debug, Clone, Copy, Default)]
pub struct PubSubStats {
    /// Messages this agent published.
    pub published: u64,
    /// Deliveries to local subscriptions (one message to two subscriptions counts two).
    pub delivered: u64,
    /// Messages dropped because their id was already delivered.
    pub duplicates_dropped: u64,
    /// Messages dropped for a malformed envelope or a bad signature.
    pub invalid_dropped: u64,
    /// Messages dropped for a payload above the limit.
    pub oversized_dropped: u64,
    /// Messages dropped for a timestamp outside the freshness window
    /// (older than the message cache TTL, or more than 60 s ahead).
    pub stale_dropped: u64,
    /// Frames on a stream x0x does not route.
    pub unroutable_dropped: u64,
    /// Deliveries dropped because a subscription's buffer was full (its
    /// reader fell `subscription_buffer` messages behind).
    pub lagged_dropped: u64,
    /// Ids currently held by the dedup cache.
    pub cache_size: u64,
}

impl PubSubCounters {
    pub(crate) fn snapshot(&self, cache_size: usize) -> PubSubStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PubSubStats {
            published: get(&self.published),
            delivered: get(&self.delivered),
            duplicates_dropped: get(&self.duplicates_dropped),
            invalid_dropped: get(&self.invalid_dropped),
            oversized_dropped: get(&self.oversized_dropped),
            stale_dropped: get(&self.stale_dropped),
            unroutable_dropped: get(&self.unroutable_dropped),
            lagged_dropped: get(&self.lagged_dropped),
            cache_size: cache_size as u64,
        }
    }
}

/// Membership counters and view sizes.
#[derive(Debug, Clone, Copy, Default)]
pub struct MembershipStats {
    /// Peers in the HyParView active view.
    pub active_view_size: u64,
    /// Peers in the HyParView passive view.
    pub passive_view_size: u64,
    /// SWIM probes (direct and indirect) sent.
    pub probes_sent: u64,
    /// Active peers SWIM suspected.
    pub suspicions: u64,
    /// Active peers SWIM declared dead and this agent evicted.
    pub confirmed_failures: u64,
    /// Active peers that left with a goodbye.
    pub graceful_leaves: u64,
    /// Passive peers promoted to replace failed ones.
    pub refills: u64,
}
