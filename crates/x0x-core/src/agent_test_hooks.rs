//! Test-only entry points, compiled only with the `test-hooks` cargo feature
//! (`cargo test -p x0x-core --features test-hooks`). They let a test play a
//! hostile peer: send frames no encoder of ours would produce, over a real
//! QUIC connection, and look at the victim's bounded tables. x0x-napi never
//! enables the feature, so the shipped addon has none of this.

use super::*;
use bytes::Bytes;
use saorsa_gossip_pubsub::PubSub;
use saorsa_gossip_transport::{GossipStreamType, GossipTransport};
use crate::envelope;
use crate::time::now_ms;

/// Where tapped anti-entropy frames go: sender and frame.
pub(super) type Tap = mpsc::UnboundedSender<(AgentId, Vec<u8>)>;

/// The stream a raw frame travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawStream {
    /// HyParView and SWIM.
    Membership,
    /// Plumtree.
    PubSub,
    /// Anti-entropy, FOAF, rendezvous, flood, address and interest frames.
    Bulk,
}

impl Agent {
    /// Signs an envelope without publishing it. Diagnostic: lets tests build
    /// frames to tamper with before [`Self::publish_raw`].
    /// Test hook: only with the `test-hooks` feature, never in the shipped addon.
    pub fn seal_frame(&self, topic: &str, payload: &[u8]) -> CoreResult<Vec<u8>> {
        self.ensure_open()?;
        validate_topic(topic)?;
        self.seal_frame_at(topic, payload, now_ms())
    }

    /// [`Self::seal_frame`] with a chosen publish time (ms since the Unix
    /// epoch), so a test can play a publisher whose clock runs ahead.
    /// Test hook: only with the `test-hooks` feature, never in the shipped addon.
    pub fn seal_frame_at(&self, topic: &str, payload: &[u8], published_at: u64) -> CoreResult<Vec<u8>> {
        self.ensure_open()?;
        validate_topic(topic)?;
        Ok(envelope::seal(&self.shared.keypair, &topic_id(topic), payload, published_at)?.0)
    }

    /// Re-signs one of this agent's frames: same message id, new bytes.
    /// Diagnostic: lets tests re-send a message the way a publisher retrying
    /// would, to prove receivers deliver it once.
    /// Test hook: only with the `test-hooks` feature, never in the shipped addon.
    pub fn reseal_frame(&self, topic: &str, frame: &[u8]) -> CoreResult<Vec<u8>> {
        self.ensure_open()?;
        validate_topic(topic)?;
        envelope::resign(&self.shared.keypair, frame, &topic_id(topic))
    }

    /// Gossips `frame` as it is, without sealing it in an envelope.
    /// Diagnostic: receivers verify every frame, so this is how tests prove
    /// forged and malformed messages are dropped.
    /// Test hook: only with the `test-hooks` feature, never in the shipped addon.
    pub async fn publish_raw(&self, topic: &str, frame: Vec<u8>) -> CoreResult<()> {
        validate_topic(topic)?;
        let shared = Arc::clone(&self.shared);
        let tid = topic_id(topic);
        self.run(async move {
            shared.ensure_topic(tid).await;
            shared
                .pubsub
                .publish(tid, Bytes::from(frame))
                .await
                .map_err(|e| CoreError::network("publish failed", e))
        })
        .await
    }

    /// Opens a QUIC connection to the agent at `addr` without joining its
    /// overlay; returns that agent's id.
    pub async fn connect_raw(&self, addr: SocketAddr) -> CoreResult<AgentId> {
        let shared = Arc::clone(&self.shared);
        self.run(async move {
            let peer = shared
                .transport
                .dial_bootstrap(addr)
                .await
                .map_err(|e| CoreError::network("raw dial failed", e))?;
            Ok(peer.to_bytes())
        })
        .await
    }

    /// Sends `frame` to `peer` on `stream` exactly as given.
    pub async fn send_raw(&self, peer: AgentId, stream: RawStream, frame: Vec<u8>) -> CoreResult<()> {
        let shared = Arc::clone(&self.shared);
        let stream = match stream {
            RawStream::Membership => GossipStreamType::Membership,
            RawStream::PubSub => GossipStreamType::PubSub,
            RawStream::Bulk => GossipStreamType::Bulk,
        };
        self.run(async move {
            shared
                .transport
                .send_to_peer(PeerId::new(peer), stream, Bytes::from(frame))
                .await
                .map_err(|e| CoreError::network("raw send failed", e))
        })
        .await
    }

    /// From now on, hands every anti-entropy frame this agent receives to
    /// the returned channel instead of handling it, so a test can answer
    /// requests as a hostile peer would (with [`Self::send_raw`]).
    pub fn tap_anti_entropy(&self) -> CoreResult<mpsc::UnboundedReceiver<(AgentId, Vec<u8>)>> {
        self.ensure_open()?;
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut tap) = self.shared.ae_tap.lock() {
            *tap = Some(tx);
        }
        Ok(rx)
    }

    /// Every address this agent would dial `peer` at, in order: proven
    /// ones, then hints (see [`crate::addr_claims`]).
    pub fn addr_candidates(&self, peer: AgentId) -> CoreResult<Vec<SocketAddr>> {
        self.ensure_open()?;
        Ok(self.shared.transport.addr_candidates(&PeerId::new(peer)))
    }

    /// Peers holding a dial lock now (entries of the per-peer dial map).
    pub fn dial_locks(&self) -> CoreResult<usize> {
        self.ensure_open()?;
        Ok(self.shared.transport.dialing_len())
    }

    /// Topics this agent holds state for: (x0x's known topics, Plumtree's
    /// topics).
    pub async fn topic_state_counts(&self) -> CoreResult<(usize, usize)> {
        let shared = Arc::clone(&self.shared);
        self.run(async move { Ok((shared.known_topic_count(), shared.pubsub.all_topic_ids().await.len())) }).await
    }
}

impl Shared {
    /// True when a test tapped anti-entropy frames and took this one.
    pub(super) fn tapped_anti_entropy(&self, from: PeerId, data: &[u8]) -> bool {
        let Ok(tap) = self.ae_tap.lock() else { return false };
        tap.as_ref().is_some_and(|tx| tx.send((from.to_bytes(), data.to_vec())).is_ok())
    }
}

/// First byte of a Bulk frame that makes the receiver panic on purpose
/// (test builds only), so tests can see what a bug costs: the second byte is
/// [`PANIC_IN_HANDLER`] or [`PANIC_IN_DISPATCHER`].
pub const PANIC_FRAME_TAG: u8 = 0xEE;
/// Panic in the task that handles the one frame.
pub const PANIC_IN_HANDLER: u8 = 1;
/// Panic in the frame dispatcher itself, one of the agent's loops.
pub const PANIC_IN_DISPATCHER: u8 = 2;

/// Panics when `data` is a Bulk panic frame for `place`.
pub(super) fn panic_if_asked(kind: GossipStreamType, data: &[u8], place: u8) {
    if kind == GossipStreamType::Bulk && data == [PANIC_FRAME_TAG, place] {
        panic!("test hook: panic frame {place}");
    }
}
