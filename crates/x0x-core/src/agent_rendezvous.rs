//! The agent's side of rendezvous (see [`crate::rendezvous`]): asking holders
//! to keep or return address records, over direct QUIC to each holder.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use saorsa_gossip_transport::{GossipStreamType, GossipTransport};
use saorsa_gossip_types::PeerId;
use tokio::task::JoinSet;
use tracing::debug;

use super::{Agent, Shared};
use crate::addr_record::{self, AddrRecord};
use crate::error::{CoreError, CoreResult};
use crate::identity::AgentId;
use crate::rendezvous::{self, Answer, RendezvousStats, Request, StoreOutcome};
use crate::time::now_ms;

/// A rendezvous holder: its agent id and where to dial it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The holder's agent id.
    pub id: AgentId,
    /// Addresses to try, in order, when not already connected.
    pub addrs: Vec<SocketAddr>,
}

/// One holder's answer to a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolderReply {
    /// The holder answered.
    Answered(StoreOutcome),
    /// No answer in time (not reachable, or too slow).
    Unreachable,
}

/// The result of a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupOutcome {
    /// The newest registration any holder returned, verified; `None` when
    /// nobody had one or the newest record is an unregistration.
    pub record: Option<AddrRecord>,
    /// Holders that answered in time.
    pub answered: usize,
    /// Answers carrying a record that failed verification (a lying holder).
    pub rejected: usize,
}

/// Longest record lifetime a registration may ask for (one day).
pub const MAX_RECORD_TTL_MS: u64 = crate::records::MAX_RECORD_LIFETIME_MS;

impl Agent {
    /// Signs an address record for this agent: `addrs` (an empty list is an
    /// unregistration), valid for `ttl_ms` from now.
    pub fn sign_addr_record(&self, addrs: &[SocketAddr], ttl_ms: u64) -> CoreResult<Vec<u8>> {
        self.ensure_open()?;
        if ttl_ms == 0 || ttl_ms > MAX_RECORD_TTL_MS {
            return Err(CoreError::config(format!(
                "record ttl must be from 1 to {MAX_RECORD_TTL_MS} ms (got {ttl_ms})"
            )));
        }
        if addrs.len() > addr_record::MAX_ADDRS {
            return Err(CoreError::config(format!(
                "an address record lists at most {} addresses (got {})",
                addr_record::MAX_ADDRS,
                addrs.len()
            )));
        }
        addr_record::sign(&self.shared.keypair, addrs, now_ms(), ttl_ms)
    }

    /// Asks every holder to keep `record` (any agent's signed address record;
    /// holders verify it). Holders are asked at once; each gets `timeout`.
    pub async fn rendezvous_store(
        &self,
        holders: Vec<Holder>,
        record: Vec<u8>,
        timeout: Duration,
    ) -> CoreResult<Vec<(AgentId, HolderReply)>> {
        let shared = Arc::clone(&self.shared);
        self.run(async move {
            let record: Arc<[u8]> = record.into();
            let answers = ask_all(&shared, holders, timeout, move |_| Ask::Store(Arc::clone(&record))).await;
            Ok(answers
                .into_iter()
                .map(|(id, a)| match a {
                    Some(Answer::Ack(outcome)) => (id, HolderReply::Answered(outcome)),
                    _ => (id, HolderReply::Unreachable),
                })
                .collect())
        })
        .await
    }

    /// Asks every holder for `target`'s record and keeps the newest valid
    /// one. Costs one request and at most one reply per holder.
    pub async fn rendezvous_lookup(&self, holders: Vec<Holder>, target: AgentId, timeout: Duration) -> CoreResult<LookupOutcome> {
        let shared = Arc::clone(&self.shared);
        self.run(async move {
            let answers = ask_all(&shared, holders, timeout, move |_| Ask::Lookup(target)).await;
            let mut answered = 0;
            let mut records = Vec::new();
            for (_, answer) in answers {
                if let Some(Answer::Record(r)) = answer {
                    answered += 1;
                    records.extend(r);
                }
            }
            let (record, rejected) = rendezvous::newest(&target, &records, now_ms());
            if let Some(r) = &record {
                // Verified against the target's own key: proof of its addresses.
                shared.transport.learn_record(r);
            }
            Ok(LookupOutcome { record, answered, rejected })
        })
        .await
    }

    /// Rendezvous counters (as a holder and as a client).
    pub fn rendezvous_stats(&self) -> CoreResult<RendezvousStats> {
        self.ensure_not_closed()?;
        Ok(self.shared.rendezvous.stats(now_ms()))
    }
}

/// An owned request, so it can move into a task.
enum Ask {
    Store(Arc<[u8]>),
    Lookup(AgentId),
}

async fn ask_all(
    shared: &Arc<Shared>,
    holders: Vec<Holder>,
    timeout: Duration,
    ask: impl Fn(&Holder) -> Ask,
) -> Vec<(AgentId, Option<Answer>)> {
    let mut tasks = JoinSet::new();
    let mut seen = std::collections::HashSet::new();
    for holder in holders {
        if !seen.insert(holder.id) {
            continue;
        }
        let request = ask(&holder);
        let shared = Arc::clone(shared);
        tasks.spawn(async move {
            let answer = shared.ask_holder(&holder, request, timeout).await;
            (holder.id, answer)
        });
    }
    let mut out = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(pair) = joined {
            out.push(pair);
        }
    }
    out
}

impl Shared {
    /// One request to one holder; `None` when it did not answer in time.
    async fn ask_holder(&self, holder: &Holder, ask: Ask, timeout: Duration) -> Option<Answer> {
        let body = match &ask {
            Ask::Store(record) => Request::Store(&record[..]),
            Ask::Lookup(target) => Request::Lookup(target),
        };
        if holder.id == self.keypair.agent_id() {
            // We hold for our own shard too; no need to talk to ourselves.
            let now = now_ms();
            return Some(match body {
                Request::Store(record) => Answer::Ack(self.rendezvous.hold(record, now)),
                Request::Lookup(target) => Answer::Record(self.rendezvous.held(target, now)),
            });
        }
        let peer = PeerId::new(holder.id);
        let (req, frame, rx) = self.rendezvous.request(peer, body)?;
        let exchange = async {
            self.reach(peer, &holder.addrs).await?;
            if let Err(e) = self.transport.send_to_peer(peer, GossipStreamType::Bulk, Bytes::from(frame)).await {
                debug!("rendezvous request to {peer}: {e}");
                return None;
            }
            rx.await.ok()
        };
        let answer = tokio::time::timeout(timeout, exchange).await.ok().flatten();
        if answer.is_none() {
            self.rendezvous.cancel(peer, req);
        }
        answer
    }

    /// Connects to `peer` unless already connected, trying `addrs` in order.
    async fn reach(&self, peer: PeerId, addrs: &[SocketAddr]) -> Option<()> {
        if self.transport.connected_peer_ids().await.contains(&peer) {
            return Some(());
        }
        for addr in addrs {
            match self.transport.dial(peer, *addr).await {
                Ok(()) => return Some(()),
                Err(e) => debug!("rendezvous holder {peer} at {addr}: {e}"),
            }
        }
        // Perhaps an address learnt some other way still works.
        self.transport.peer_addr(&peer).map(|_| ())
    }

    pub(super) async fn on_rendezvous_frame(&self, from: PeerId, data: &[u8]) {
        if let Some(reply) = self.rendezvous.on_frame(from, data, now_ms()) {
            if let Err(e) = self.transport.send_to_peer(from, GossipStreamType::Bulk, Bytes::from(reply)).await {
                debug!("rendezvous reply to {from}: {e}");
            }
        }
    }
}
