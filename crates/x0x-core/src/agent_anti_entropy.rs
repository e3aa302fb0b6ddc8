//! The agent's side of anti-entropy (see [`crate::anti_entropy`]): the
//! `Agent` calls and the [`anti_entropy::Host`] its rounds run against.

use std::sync::Arc;

use bytes::Bytes;
use saorsa_gossip_transport::{GossipStreamType, GossipTransport};
use saorsa_gossip_types::PeerId;
use tracing::debug;

use super::{topic_id, Agent, Shared};
use crate::anti_entropy::{self, AntiEntropy, AntiEntropyStats, ReconciliationStats};
use crate::error::CoreResult;

impl Agent {
    /// Runs one anti-entropy round now (after any round in progress) and
    /// reports it; see [`crate::anti_entropy`].
    pub async fn reconcile(&self) -> CoreResult<ReconciliationStats> {
        let shared = Arc::clone(&self.shared);
        self.run(async move { Ok(anti_entropy::run_round(shared).await) }).await
    }

    /// Anti-entropy totals since the agent started.
    pub fn anti_entropy_stats(&self) -> CoreResult<AntiEntropyStats> {
        self.ensure_not_closed()?;
        Ok(self.shared.anti_entropy.stats())
    }
}

#[async_trait::async_trait]
impl anti_entropy::Host for Shared {
    fn anti_entropy(&self) -> &AntiEntropy {
        &self.anti_entropy
    }

    async fn send(&self, peer: PeerId, frame: Vec<u8>) -> bool {
        match self.transport.send_to_peer(peer, GossipStreamType::Bulk, Bytes::from(frame)).await {
            Ok(()) => true,
            Err(e) => {
                debug!("anti-entropy frame to {peer}: {e}");
                false
            }
        }
    }

    async fn peers(&self) -> Vec<PeerId> {
        self.gossip_peers().await
    }

    async fn topics(&self) -> Vec<String> {
        self.topics.lock().await.keys().cloned().collect()
    }

    async fn has_topic(&self, topic: &str) -> bool {
        self.topics.lock().await.contains_key(topic)
    }

    async fn ingest(&self, from: PeerId, topic: &str, frame: &[u8]) -> bool {
        if !self.key_for_envelope(from, frame).await {
            return false;
        }
        let Some(message) = self.accept(&topic_id(topic), frame) else { return false };
        self.anti_entropy.remember(topic, message.id, Bytes::copy_from_slice(frame));
        self.deliver_local(topic, message).await;
        true
    }
}
