//! The agent's side of per-source trees (see [`crate::source_trees`]): the
//! hook Plumtree consults, the task that sends its signals, and the handling
//! of a peer's PRUNE and GRAFT.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, Weak};

use bytes::Bytes;
use saorsa_gossip_pubsub::SourceRouting;
use saorsa_gossip_transport::{GossipStreamType, GossipTransport};
use saorsa_gossip_types::{PeerId, TopicId};
use tokio::sync::{broadcast, mpsc};
use tracing::debug;

use super::Shared;
use crate::envelope;
use crate::identity::AgentId;
use crate::source_trees::{Received, Signal, SourceTrees};
use crate::transport::{ConnectionEvent, QuicTransport};

/// Signals waiting to be sent; past this they are dropped (a lost PRUNE
/// costs duplicates until the next one, a lost GRAFT is asked again on the
/// next pulled copy).
const OUTBOX: usize = 1024;

/// Counters of the per-source trees, for diagnostics and benchmarks.
#[derive(Default)]
pub(crate) struct TreeStats {
    pub prunes_sent: AtomicU64,
    pub grafts_sent: AtomicU64,
    pub prunes_received: AtomicU64,
    pub grafts_received: AtomicU64,
    pub pushes_withheld: AtomicU64,
    pub first_copies_pulled: AtomicU64,
    pub signals_dropped: AtomicU64,
    pub malformed: AtomicU64,
}

/// The [`SourceRouting`] hook: table lookups under a short lock, signals
/// handed to [`send_loop`], never a wait (Plumtree holds its topic lock).
pub(crate) struct TreeRouting {
    trees: StdMutex<SourceTrees>,
    outbox: mpsc::Sender<(PeerId, Signal)>,
    pub stats: TreeStats,
}

impl TreeRouting {
    /// The hook, and the receiving end that [`send_loop`] drains.
    pub fn new(own: AgentId) -> (Arc<Self>, mpsc::Receiver<(PeerId, Signal)>) {
        let (outbox, rx) = mpsc::channel(OUTBOX);
        (Arc::new(Self { trees: StdMutex::new(SourceTrees::new(own)), outbox, stats: TreeStats::default() }), rx)
    }

    fn send(&self, to: PeerId, signal: Option<Signal>) {
        let Some(signal) = signal else { return };
        let counter = match signal {
            Signal::Prune { .. } => &self.stats.prunes_sent,
            Signal::Graft { .. } => &self.stats.grafts_sent,
        };
        match self.outbox.try_send((to, signal)) {
            Ok(()) => counter.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.stats.signals_dropped.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// A PRUNE or GRAFT frame from `from`; the topic to graft `from` into,
    /// if any.
    pub fn on_frame(&self, from: PeerId, data: &[u8]) -> Option<TopicId> {
        let Some(signal) = Signal::decode(data) else {
            self.stats.malformed.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let counter = match signal {
            Signal::Prune { .. } => &self.stats.prunes_received,
            Signal::Graft { .. } => &self.stats.grafts_received,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        match self.trees.lock().ok()?.received(from, signal) {
            Received::GraftEager(topic) => Some(topic),
            Received::Nothing => None,
        }
    }

    /// (topic, source) pairs tracked, and PRUNEs held.
    pub fn sizes(&self) -> (usize, usize) {
        self.trees.lock().map(|t| t.sizes()).unwrap_or((0, 0))
    }

    fn forget_peer(&self, peer: &PeerId) {
        if let Ok(mut t) = self.trees.lock() {
            t.forget_peer(peer);
        }
    }
}

impl SourceRouting for TreeRouting {
    fn withhold(&self, topic: &TopicId, payload: &[u8], peer: &PeerId) -> bool {
        let Some(source) = envelope::publisher_of(payload) else { return false };
        let withheld = self.trees.lock().is_ok_and(|t| t.withheld(topic, &source, peer));
        if withheld {
            self.stats.pushes_withheld.fetch_add(1, Ordering::Relaxed);
        }
        withheld
    }

    fn duplicate(&self, topic: &TopicId, payload: &[u8], from: &PeerId) {
        let Some(source) = envelope::publisher_of(payload) else { return };
        let signal = self.trees.lock().ok().and_then(|mut t| t.duplicate(*topic, source, *from));
        self.send(*from, signal);
    }

    fn first_copy(&self, topic: &TopicId, payload: &[u8], from: &PeerId, pulled: bool) {
        let Some(source) = envelope::publisher_of(payload) else { return };
        if pulled {
            self.stats.first_copies_pulled.fetch_add(1, Ordering::Relaxed);
        }
        let signal = self.trees.lock().ok().and_then(|mut t| t.first_copy(*topic, source, *from, pulled));
        self.send(*from, signal);
    }
}

/// Sends the hook's signals, and forgets peers as they disconnect. Ends
/// when the agent (and with it the hook's sender) is gone.
pub(super) async fn send_loop(
    routing: Weak<TreeRouting>,
    transport: Weak<QuicTransport>,
    mut signals: mpsc::Receiver<(PeerId, Signal)>,
    mut events: broadcast::Receiver<ConnectionEvent>,
) {
    loop {
        tokio::select! {
            next = signals.recv() => {
                let Some((peer, signal)) = next else { return };
                let Some(transport) = transport.upgrade() else { return };
                // One slow peer must not hold back the others' signals.
                tokio::spawn(async move {
                    let frame = Bytes::from(signal.encode());
                    if let Err(e) = transport.send_to_peer(peer, GossipStreamType::Bulk, frame).await {
                        debug!("tree signal to {peer}: {e}");
                    }
                });
            }
            event = events.recv() => match event {
                Ok(ConnectionEvent { connected: false, peer, .. }) => {
                    let Some(routing) = routing.upgrade() else { return };
                    routing.forget_peer(&peer);
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

impl Shared {
    /// A PRUNE or GRAFT from `from`.
    pub(super) async fn on_tree_frame(&self, from: PeerId, data: &[u8]) {
        if let Some(topic) = self.tree.on_frame(from, data) {
            self.pubsub.graft_eager(topic, from).await;
        }
    }
}
