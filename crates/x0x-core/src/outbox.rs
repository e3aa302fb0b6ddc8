//! Pub/sub bytes handed to the transport but not yet written to QUIC: a hard
//! budget per peer, and the backlog that local publishes wait on.
//!
//! A pub/sub send completes once its frame is queued (see
//! `transport::spawn_pubsub_send`): Plumtree admits one send in flight per
//! peer and lane, and reads a send that waits as a failing peer (it cools
//! the peer and skips it, and the message is lost to it). So relays must not
//! wait; the per-peer budget is a memory bound sized never to be reached
//! while publishers hold back. Publishers hold back instead: a local publish
//! waits while the agent's backlog is above a few MiB
//! ([`Outboxes::wait_below`]), which paces the sources of all traffic to
//! what the network drains.
//!
//! What the network drains, not what its slowest member does: a peer none of
//! whose frames has been written for [`LAG`] no longer counts in that
//! backlog. Otherwise one peer that reads just slowly enough never to trip
//! the stuck-send limit would hold every local publish back for as long as
//! it liked. A lagging peer still queues up to its budget; past that its
//! forwards are dropped, and anti-entropy repairs it once it reads again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Result};
use saorsa_gossip_types::PeerId;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, TryAcquireError};
use tokio::time::Instant;

/// Bytes of pub/sub frames one peer may have queued or in flight (a memory
/// bound, see the module doc).
pub(crate) const OUTBOX_BYTES_PER_PEER: usize = 32 * 1024 * 1024;
/// A peer that has taken none of its queued frames for this long no longer
/// holds local publishes back (see the module doc). Far above the time a
/// healthy peer takes to accept one frame into QUIC, which is buffered and
/// paced by QUIC itself; far below the stuck-send limit.
pub(crate) const LAG: Duration = Duration::from_secs(2);

/// One budget per peer, and the backlog over all.
pub(crate) struct Outboxes {
    peers: Mutex<HashMap<PeerId, Arc<PeerOutbox>>>,
    per_peer: usize,
    lag: Duration,
    /// Origin of the millisecond clocks in [`PeerOutbox::progress_ms`].
    epoch: Instant,
    backlog: Arc<Backlog>,
    /// Sends that found their peer's budget spent and had to wait.
    pub(crate) waits: AtomicU64,
    /// Publishes that went ahead while the backlog was above its limit,
    /// because the peers that held it had lagged for [`LAG`].
    pub(crate) past_lagging: AtomicU64,
}

/// One peer's budget, with what it holds and when it last drained.
struct PeerOutbox {
    budget: Arc<Semaphore>,
    queued: AtomicUsize,
    /// When the peer last took a frame, or its queue last started from
    /// empty: milliseconds since [`Outboxes::epoch`].
    progress_ms: AtomicU64,
}

/// Bytes reserved over all peers, with a wake-up when some are written.
#[derive(Default)]
struct Backlog {
    bytes: AtomicUsize,
    drained: Notify,
}

/// A reservation of outbox bytes; dropping it (once the frame is written or
/// failed) returns them and counts as its peer's progress.
pub(crate) struct OutboxPermit {
    _permit: OwnedSemaphorePermit,
    bytes: usize,
    peer: Arc<PeerOutbox>,
    epoch: Instant,
    backlog: Arc<Backlog>,
}

impl Drop for OutboxPermit {
    fn drop(&mut self) {
        self.peer.progress_ms.store(millis_since(self.epoch), Ordering::Release);
        self.peer.queued.fetch_sub(self.bytes, Ordering::AcqRel);
        self.backlog.bytes.fetch_sub(self.bytes, Ordering::AcqRel);
        self.backlog.drained.notify_waiters();
    }
}

fn millis_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl Outboxes {
    pub(crate) fn new(per_peer: usize) -> Self {
        Self::with_lag(per_peer, LAG)
    }

    fn with_lag(per_peer: usize, lag: Duration) -> Self {
        Self {
            peers: Mutex::new(HashMap::new()),
            per_peer: per_peer.max(1),
            lag,
            epoch: Instant::now(),
            backlog: Arc::new(Backlog::default()),
            waits: AtomicU64::new(0),
            past_lagging: AtomicU64::new(0),
        }
    }

    /// Bytes queued or in flight over all peers.
    pub(crate) fn backlog(&self) -> usize {
        self.backlog.bytes.load(Ordering::Acquire)
    }

    /// Bytes queued for peers that have drained within [`LAG`]: the
    /// backlog publishes wait on.
    fn held_back(&self) -> usize {
        let now = millis_since(self.epoch);
        let lag = u64::try_from(self.lag.as_millis()).unwrap_or(u64::MAX);
        let Ok(peers) = self.peers.lock() else { return self.backlog() };
        peers
            .values()
            .map(|p| (p.queued.load(Ordering::Acquire), p.progress_ms.load(Ordering::Acquire)))
            .filter(|&(queued, progress)| queued > 0 && now.saturating_sub(progress) < lag)
            .map(|(queued, _)| queued)
            .sum()
    }

    /// Waits until the backlog of the peers that are draining is at most
    /// `limit` bytes (see the module doc).
    pub(crate) async fn wait_below(&self, limit: usize) {
        loop {
            let drained = self.backlog.drained.notified();
            tokio::pin!(drained);
            // Registered before the check, so a drain in between still wakes us.
            drained.as_mut().enable();
            if self.backlog() <= limit {
                return;
            }
            if self.held_back() <= limit {
                self.past_lagging.fetch_add(1, Ordering::Relaxed);
                return;
            }
            // A peer also stops counting by taking nothing, which wakes no
            // one: look again a few times per lag.
            let _ = tokio::time::timeout(self.lag / 4, drained).await;
        }
    }

    fn peer(&self, peer: PeerId) -> Result<Arc<PeerOutbox>> {
        let mut map = self.peers.lock().map_err(|_| anyhow!("outbox table poisoned"))?;
        let per_peer = self.per_peer;
        Ok(Arc::clone(map.entry(peer).or_insert_with(|| {
            Arc::new(PeerOutbox {
                budget: Arc::new(Semaphore::new(per_peer)),
                queued: AtomicUsize::new(0),
                progress_ms: AtomicU64::new(0),
            })
        })))
    }

    /// Reserves `bytes` of `peer`'s budget, waiting while it is spent. A
    /// frame larger than the whole budget takes all of it. Dropping the
    /// returned future gives up without having reserved anything.
    pub(crate) async fn reserve(&self, peer_id: PeerId, bytes: usize) -> Result<OutboxPermit> {
        let peer = self.peer(peer_id)?;
        let bytes = bytes.clamp(1, self.per_peer);
        let n = u32::try_from(bytes).unwrap_or(u32::MAX);
        let permit = match Arc::clone(&peer.budget).try_acquire_many_owned(n) {
            Ok(permit) => permit,
            Err(TryAcquireError::NoPermits) => {
                self.waits.fetch_add(1, Ordering::Relaxed);
                Arc::clone(&peer.budget)
                    .acquire_many_owned(n)
                    .await
                    .map_err(|_| anyhow!("outbox to {peer_id} closed"))?
            }
            Err(TryAcquireError::Closed) => return Err(anyhow!("outbox to {peer_id} closed")),
        };
        if peer.queued.fetch_add(bytes, Ordering::AcqRel) == 0 {
            // An idle peer's lag clock starts with its first frame.
            peer.progress_ms.store(millis_since(self.epoch), Ordering::Release);
        }
        self.backlog.bytes.fetch_add(bytes, Ordering::AcqRel);
        Ok(OutboxPermit { _permit: permit, bytes, peer, epoch: self.epoch, backlog: Arc::clone(&self.backlog) })
    }

    /// Forgets a peer's budget (its connection went down). Frames still
    /// queued or in flight keep the old one alive until they finish, and no
    /// longer hold publishes back.
    pub(crate) fn forget(&self, peer: &PeerId) {
        if let Ok(mut map) = self.peers.lock() {
            map.remove(peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(b: u8) -> PeerId {
        PeerId::new([b; 32])
    }

    #[tokio::test]
    async fn a_spent_budget_makes_the_next_send_wait_until_a_frame_is_written() {
        let o = Outboxes::new(100);
        let first = o.reserve(peer(1), 60).await.unwrap();
        let second = tokio::spawn({
            let o = Arc::new(o);
            let o2 = Arc::clone(&o);
            async move { (o2.reserve(peer(1), 60).await.map(|_| ()), o) }
        });
        tokio::task::yield_now().await;
        assert!(!second.is_finished(), "second frame must wait for the first to be written");
        drop(first);
        let (got, o) = second.await.unwrap();
        got.unwrap();
        assert_eq!(o.waits.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_publisher_waits_while_the_backlog_is_above_its_limit() {
        let o = Arc::new(Outboxes::new(1_000));
        let a = o.reserve(peer(1), 300).await.unwrap();
        let b = o.reserve(peer(2), 300).await.unwrap();
        assert_eq!(o.backlog(), 600);
        let waiter = tokio::spawn({
            let o = Arc::clone(&o);
            async move { o.wait_below(400).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "600 queued bytes are above the limit of 400");
        drop(a);
        waiter.await.unwrap();
        assert_eq!(o.backlog(), 300);
        drop(b);
        assert_eq!(o.backlog(), 0);
    }

    #[tokio::test]
    async fn peers_have_separate_budgets_and_oversized_frames_still_pass() {
        let o = Outboxes::new(100);
        let _a = o.reserve(peer(1), 1_000).await.unwrap();
        // Peer 1's budget is spent; peer 2 is unaffected.
        let _b = o.reserve(peer(2), 100).await.unwrap();
        assert_eq!(o.waits.load(Ordering::Relaxed), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_takes_nothing_for_the_lag_stops_holding_publishes_back() {
        let o = Arc::new(Outboxes::with_lag(1_000, Duration::from_secs(2)));
        let _stuck = o.reserve(peer(1), 600).await.unwrap();
        let waiter = tokio::spawn({
            let o = Arc::clone(&o);
            async move { o.wait_below(400).await }
        });
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert!(!waiter.is_finished(), "a peer that drained 1.5 s ago still counts");
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("2 s without progress and it no longer counts")
            .unwrap();
        assert_eq!(o.past_lagging.load(Ordering::Relaxed), 1);
        assert_eq!(o.backlog(), 600, "its frames stay queued for it");
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_keeps_taking_frames_keeps_holding_publishes_back() {
        let o = Arc::new(Outboxes::with_lag(1_000, Duration::from_secs(2)));
        let first = o.reserve(peer(1), 300).await.unwrap();
        let _rest = [o.reserve(peer(1), 300).await.unwrap(), o.reserve(peer(1), 300).await.unwrap()];
        let waiter = tokio::spawn({
            let o = Arc::clone(&o);
            async move { o.wait_below(400).await }
        });
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        drop(first);
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert!(!waiter.is_finished(), "600 bytes held by a peer that drained 1.5 s ago");
        assert_eq!(o.past_lagging.load(Ordering::Relaxed), 0);
        waiter.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_lagging_peer_does_not_hide_a_draining_peer_above_the_limit() {
        let o = Arc::new(Outboxes::with_lag(1_000, Duration::from_secs(2)));
        let _stuck = o.reserve(peer(1), 600).await.unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let busy = o.reserve(peer(2), 500).await.unwrap();
        let waiter = tokio::spawn({
            let o = Arc::clone(&o);
            async move { o.wait_below(400).await }
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!waiter.is_finished(), "peer 2 holds 500 bytes and drains");
        drop(busy);
        waiter.await.unwrap();
    }
}
