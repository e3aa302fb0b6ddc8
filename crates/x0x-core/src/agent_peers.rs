//! Joining, blocking, and the agent's peer views: live connections, the
//! HyParView active and passive views, and the peer set each topic's
//! Plumtree tree is built over.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use saorsa_gossip_membership::Membership;
use saorsa_gossip_transport::GossipTransport;
use saorsa_gossip_types::PeerId;
use tokio::sync::broadcast;

use super::{Agent, Shared};
use crate::error::{CoreError, CoreResult};
use crate::identity::AgentId;
use crate::membership_watch::MembershipEvent;
use crate::transport::{ConnectedPeer, ConnectionEvent};

impl Agent {
    /// Dials each seed, then runs the HyParView JOIN through the first that
    /// answers. Fails with `JoinFailed` only when no seed is reachable.
    pub async fn join(&self, seeds: Vec<SocketAddr>) -> CoreResult<()> {
        let shared = Arc::clone(&self.shared);
        self.run(async move { shared.join(seeds).await }).await
    }

    /// Live transport connection events.
    pub fn connection_events(&self) -> CoreResult<tokio::sync::broadcast::Receiver<ConnectionEvent>> {
        self.ensure_open()?;
        Ok(self.shared.transport.subscribe_events())
    }

    /// Peers with a live QUIC connection.
    pub async fn connected_peers(&self) -> CoreResult<Vec<(AgentId, Option<SocketAddr>)>> {
        let shared = Arc::clone(&self.shared);
        self.run_reading(async move {
            Ok(shared.transport.connected().await.into_iter().map(|(p, a)| (p.to_bytes(), a)).collect())
        })
        .await
    }

    /// Peers with a live QUIC connection, each with how it was made.
    pub async fn connection_paths(&self) -> CoreResult<Vec<ConnectedPeer>> {
        let shared = Arc::clone(&self.shared);
        self.run_reading(async move { Ok(shared.transport.connected_paths().await) }).await
    }

    /// HyParView active view with last known addresses (waits for the view's
    /// lock rather than answering empty under contention).
    pub async fn active_peers(&self) -> CoreResult<Vec<(AgentId, Option<SocketAddr>)>> {
        let shared = Arc::clone(&self.shared);
        self.run(async move {
            let peers = shared.membership.sample_active(usize::MAX).await;
            Ok(peers.into_iter().map(|p| (p.to_bytes(), shared.transport.peer_addr(&p))).collect())
        })
        .await
    }

    /// HyParView passive view with last known addresses.
    pub async fn passive_peers(&self) -> CoreResult<Vec<(AgentId, Option<SocketAddr>)>> {
        let shared = Arc::clone(&self.shared);
        self.run(async move {
            let peers = shared.membership.sample_passive(usize::MAX).await;
            let mut out = Vec::with_capacity(peers.len());
            for p in peers {
                let addr = match shared.transport.peer_addr(&p) {
                    Some(a) => Some(a),
                    None => shared.membership.get_peer_addr(&p).await,
                };
                out.push((p.to_bytes(), addr));
            }
            Ok(out)
        })
        .await
    }

    /// Live membership events (joined / suspected / left).
    pub fn membership_events(&self) -> CoreResult<broadcast::Receiver<MembershipEvent>> {
        self.ensure_open()?;
        Ok(self.shared.membership_events.subscribe())
    }

    /// Refuses all traffic with `peer` (and drops its connection).
    pub async fn block_peer(&self, peer: AgentId) -> CoreResult<()> {
        let shared = Arc::clone(&self.shared);
        self.run(async move {
            shared.transport.block(PeerId::new(peer)).await;
            shared.membership.remove_active(PeerId::new(peer)).await.ok();
            shared.refresh.notify_one();
            Ok(())
        })
        .await
    }

    /// Lifts [`Self::block_peer`].
    pub fn unblock_peer(&self, peer: AgentId) -> CoreResult<()> {
        self.ensure_open()?;
        self.shared.transport.unblock(&PeerId::new(peer));
        Ok(())
    }
}

impl Shared {
    async fn join(&self, seeds: Vec<SocketAddr>) -> CoreResult<()> {
        let seeds: Vec<SocketAddr> = seeds.into_iter().filter(|s| !self.transport.is_own_addr(s)).collect();
        if seeds.is_empty() {
            // First node of a network: nothing to dial.
            return Ok(());
        }
        let mut reachable = Vec::new();
        let mut failures = Vec::new();
        for seed in seeds {
            match self.transport.dial_bootstrap(seed).await {
                Ok(peer) => {
                    self.membership.store_peer_addr(peer, seed).await;
                    reachable.push(seed.to_string());
                }
                Err(e) => failures.push(format!("{seed}: {e}")),
            }
        }
        if reachable.is_empty() {
            return Err(CoreError::JoinFailed(format!(
                "no bootstrap peer reachable ({})",
                failures.join("; ")
            )));
        }
        self.membership
            .join(reachable)
            .await
            .map_err(|e| CoreError::JoinFailed(e.to_string()))?;
        self.refresh.notify_one();
        Ok(())
    }

    /// Peers a topic's Plumtree tree is built over: the HyParView active view
    /// plus every live connection (a fresh overlay's active view can lag the
    /// transport, and a peer we are connected to is the cheapest route).
    pub(super) async fn gossip_peers(&self) -> Vec<PeerId> {
        // The sync `active_view()` answers empty when its lock is busy.
        let mut peers: HashSet<PeerId> = self.membership.sample_active(usize::MAX).await.into_iter().collect();
        peers.extend(self.transport.connected_peer_ids().await);
        peers.retain(|p| !self.transport.is_blocked(p) && *p != self.keypair.peer_id());
        peers.into_iter().collect()
    }
}
