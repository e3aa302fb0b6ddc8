//! Pub/sub bytes handed to the transport but not yet written to QUIC: a hard
//! budget per peer, and the total backlog that local publishes wait on.
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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Result};
use saorsa_gossip_types::PeerId;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// Bytes of pub/sub frames one peer may have queued or in flight (a memory
/// bound, see the module doc).
pub(crate) const OUTBOX_BYTES_PER_PEER: usize = 32 * 1024 * 1024;

/// One byte budget per peer, and the backlog over all.
pub(crate) struct Outboxes {
    budgets: Mutex<HashMap<PeerId, Arc<Semaphore>>>,
    per_peer: usize,
    backlog: Arc<Backlog>,
    /// Sends that found their peer's budget spent and had to wait.
    pub(crate) waits: AtomicU64,
}

/// Bytes reserved over all peers, with a wake-up when some are written.
#[derive(Default)]
struct Backlog {
    bytes: AtomicUsize,
    drained: Notify,
}

/// A reservation of outbox bytes; dropping it (once the frame is written or
/// failed) returns them.
pub(crate) struct OutboxPermit {
    _permit: OwnedSemaphorePermit,
    bytes: usize,
    backlog: Arc<Backlog>,
}

impl Drop for OutboxPermit {
    fn drop(&mut self) {
        self.backlog.bytes.fetch_sub(self.bytes, Ordering::AcqRel);
        self.backlog.drained.notify_waiters();
    }
}

impl Outboxes {
    pub(crate) fn new(per_peer: usize) -> Self {
        Self {
            budgets: Mutex::new(HashMap::new()),
            per_peer: per_peer.max(1),
            backlog: Arc::new(Backlog::default()),
            waits: AtomicU64::new(0),
        }
    }

    /// Bytes queued or in flight over all peers.
    pub(crate) fn backlog(&self) -> usize {
        self.backlog.bytes.load(Ordering::Acquire)
    }

    /// Waits until the backlog over all peers is at most `limit` bytes.
    pub(crate) async fn wait_below(&self, limit: usize) {
        loop {
            let drained = self.backlog.drained.notified();
            tokio::pin!(drained);
            // Registered before the check, so a drain in between still wakes us.
            drained.as_mut().enable();
            if self.backlog() <= limit {
                return;
            }
            drained.await;
        }
    }

    fn budget(&self, peer: PeerId) -> Result<Arc<Semaphore>> {
        let mut map = self.budgets.lock().map_err(|_| anyhow!("outbox table poisoned"))?;
        let per_peer = self.per_peer;
        Ok(Arc::clone(map.entry(peer).or_insert_with(|| Arc::new(Semaphore::new(per_peer)))))
    }

    /// Reserves `bytes` of `peer`'s budget, waiting while it is spent. A
    /// frame larger than the whole budget takes all of it. Dropping the
    /// returned future gives up without having reserved anything.
    pub(crate) async fn reserve(&self, peer: PeerId, bytes: usize) -> Result<OutboxPermit> {
        let budget = self.budget(peer)?;
        let bytes = bytes.clamp(1, self.per_peer);
        let n = u32::try_from(bytes).unwrap_or(u32::MAX);
        let permit = match Arc::clone(&budget).try_acquire_many_owned(n) {
            Ok(permit) => permit,
            Err(TryAcquireError::NoPermits) => {
                self.waits.fetch_add(1, Ordering::Relaxed);
                budget.acquire_many_owned(n).await.map_err(|_| anyhow!("outbox to {peer} closed"))?
            }
            Err(TryAcquireError::Closed) => return Err(anyhow!("outbox to {peer} closed")),
        };
        self.backlog.bytes.fetch_add(bytes, Ordering::AcqRel);
        Ok(OutboxPermit { _permit: permit, bytes, backlog: Arc::clone(&self.backlog) })
    }

    /// Forgets a peer's budget (its connection went down). Frames still
    /// queued or in flight keep the old one alive until they finish.
    pub(crate) fn forget(&self, peer: &PeerId) {
        if let Ok(mut map) = self.budgets.lock() {
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
}
