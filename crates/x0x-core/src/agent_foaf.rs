//! The agent's side of FOAF discovery (see [`crate::foaf`]): finding an
//! agent by random walk, answering walks, and this agent's own address
//! record.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use saorsa_gossip_transport::{GossipStreamType, GossipTransport};
use saorsa_gossip_types::PeerId;
use tracing::debug;

use super::{Agent, Shared};
use crate::addr_record::AddrRecord;
use crate::error::{CoreError, CoreResult};
use crate::foaf::{self, FoafStats};
use crate::identity::AgentId;
use crate::time::now_ms;

impl Agent {
    /// Finds `target` by a FOAF random walk (see [`crate::foaf`]): its own
    /// signed, verified address record, or `None` when no answer came within
    /// `timeout`.
    pub async fn find_agent(&self, target: AgentId, timeout: Duration) -> CoreResult<Option<AddrRecord>> {
        let shared = Arc::clone(&self.shared);
        self.run(async move { Ok(shared.find_agent(target, timeout).await) }).await
    }

    /// Whether this agent answers FOAF queries for itself (on by default).
    pub fn set_advertise(&self, on: bool) -> CoreResult<()> {
        self.ensure_open()?;
        self.shared.foaf.set_advertise(on);
        Ok(())
    }

    /// This agent's own signed address record, as FOAF answers carry it.
    pub fn own_record(&self) -> CoreResult<Vec<u8>> {
        self.ensure_open()?;
        self.shared
            .own_record_bytes()
            .ok_or_else(|| CoreError::Network("cannot sign the address record".into()))
    }

    /// FOAF counters.
    pub fn foaf_stats(&self) -> CoreResult<FoafStats> {
        self.ensure_not_closed()?;
        Ok(self.shared.foaf.stats())
    }
}

impl Shared {
    fn own_record_bytes(&self) -> Option<Vec<u8>> {
        self.own_record.get(&self.keypair, &self.transport.advertised_addrs(), now_ms())
    }

    async fn send_bulk(&self, frames: Vec<foaf::Outgoing>) {
        for (peer, frame) in frames {
            if let Err(e) = self.transport.send_to_peer(peer, GossipStreamType::Bulk, Bytes::from(frame)).await {
                debug!("foaf frame to {peer}: {e}");
            }
        }
    }

    pub(super) async fn on_foaf_frame(&self, from: PeerId, frame: &[u8]) {
        let neighbours = self.gossip_peers().await;
        let out = self.foaf.on_frame(from, frame, &neighbours, || self.own_record_bytes(), Instant::now(), now_ms());
        self.send_bulk(out).await;
    }

    async fn find_agent(&self, target: AgentId, timeout: Duration) -> Option<AddrRecord> {
        let neighbours = self.gossip_peers().await;
        let (id, rx, out) = self.foaf.start(target, timeout, &neighbours, Instant::now());
        self.send_bulk(out).await;
        let answer = tokio::time::timeout(timeout, rx).await;
        self.foaf.cancel(&id);
        let record = answer.ok().and_then(Result::ok)?;
        // Verified hop by hop and signed by the target: proof of where it is.
        self.transport.learn_record(&record);
        Some(record)
    }
}
