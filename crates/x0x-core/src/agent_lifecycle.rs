//! Closing an agent: goodbyes to its neighbours, ending every subscription,
//! stopping Plumtree, the transport and the runtime.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use saorsa_gossip_membership::{HyParViewMessage, MembershipProtocolMessage};
use saorsa_gossip_transport::{GossipStreamType, GossipTransport};
use saorsa_gossip_types::PeerId;
use tracing::debug;

use super::{Agent, Shared};

impl Agent {
    /// Flips to `true` when the agent closes; lets event readers stop waiting.
    pub fn closed_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closed_tx.subscribe()
    }

    /// True until [`Self::close`].
    pub fn is_running(&self) -> bool {
        !self.closed.load(Ordering::Acquire) && self.shared.faults.check().is_ok() && self.shared.transport.is_running()
    }

    /// Tells active neighbours we are leaving, ends every subscription, frees
    /// the socket and stops every task of this agent. Idempotent.
    pub async fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.closed_tx.send_replace(true);
        let shared = Arc::clone(&self.shared);
        let _ = self.handle.spawn(async move { shared.shutdown().await }).await;
        let runtime = self.runtime.lock().ok().and_then(|mut r| r.take());
        if let Some(rt) = runtime {
            // Non-blocking: this may run inside another runtime's task.
            rt.shutdown_background();
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.lock().ok().and_then(|mut r| r.take()) {
            rt.shutdown_background();
        }
    }
}

impl Shared {
    async fn shutdown(&self) {
        // Plumtree's own stop (its background loops end within its 1 s
        // grace) runs beside the goodbyes rather than after them.
        let pubsub_stopped = self.pubsub.shutdown();
        let goodbyes = self.say_goodbye();
        let (report, ()) = tokio::join!(pubsub_stopped, goodbyes);
        if report.aborted > 0 {
            debug!("plumtree shutdown aborted {} straggling tasks", report.aborted);
        }
        // Ending the channels resolves every pending `next()` with None.
        let mut topics = self.topics.lock().await;
        for (_, entry) in topics.drain() {
            if let Ok(mut subs) = entry.subscribers.lock() {
                subs.clear();
            }
        }
        drop(topics);
        if let Ok(mut local) = self.local_topics.write() {
            local.clear();
        }
        self.transport.shutdown().await;
    }

    /// Graceful leave: neighbours drop us from their active view now
    /// instead of waiting for SWIM to suspect us.
    async fn say_goodbye(&self) {
        if let Ok(bye) = postcard::to_stdvec(&MembershipProtocolMessage::HyParView(HyParViewMessage::Disconnect)) {
            // Everyone we hold a link with, not just our active view: views
            // can be asymmetric, and a peer that lists us must hear it too.
            let mut peers: HashSet<PeerId> = self.membership.sample_active(usize::MAX).await.into_iter().collect();
            peers.extend(self.transport.connected_peer_ids().await);
            // One deadline for every goodbye, so that peers that died without
            // a word (their connections look open until QUIC's idle timeout)
            // cannot hold close() up for longer.
            let deadline = tokio::time::Instant::now() + GOODBYE_BUDGET;
            let sends = peers.into_iter().map(|peer| {
                let t = Arc::clone(&self.transport);
                let bye = bye.clone();
                async move {
                    let _ = tokio::time::timeout_at(deadline, async {
                        let acked = t.send_acked(peer, GossipStreamType::Membership, &bye, GOODBYE_ACK_WAIT).await;
                        if acked.is_err() {
                            // No live connection to ACK on (or it went stale):
                            // the plain send redials the peer's last known
                            // address, and the pause lets it leave before the
                            // endpoint shuts down.
                            let _ = t.send_to_peer(peer, GossipStreamType::Membership, Bytes::from(bye)).await;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    })
                    .await;
                }
            });
            futures_join_all(sends).await;
        }
    }
}

/// How long a goodbye waits for its receive ACK (they go out in parallel; a
/// busy machine can take a while to open a stream).
const GOODBYE_ACK_WAIT: Duration = Duration::from_secs(1);
/// Bound of all goodbyes together: an acknowledged one normally takes
/// milliseconds, and close() must stay within about 3 s with dead peers.
const GOODBYE_BUDGET: Duration = Duration::from_millis(1500);

async fn futures_join_all<F: std::future::Future<Output = ()> + Send + 'static>(futs: impl Iterator<Item = F>) {
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    for h in handles {
        let _ = h.await;
    }
}
