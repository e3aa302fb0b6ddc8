//! Binding of rendezvous (`x0x_core::rendezvous`): conversion only; holder
//! ranking, registration renewal and lookups live in the core. The raw
//! store and lookup calls on [`NativeAgent`] remain for tools and tests that
//! craft records.

use std::net::SocketAddr;
use std::time::Duration;

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use std::sync::Arc;

use x0x_core::rendezvous::{self, Candidate};
use x0x_core::{Holder, HolderReply, RendezvousClient, RendezvousConfig, RendezvousStats};

use crate::coordinators::NativeCoordinators;
use crate::presence::NativePresence;

use crate::discovery::NativeAddrRecord;
use crate::errors::{invalid_arg, outcome, outcome_async, Outcome, Try};
use crate::{hex_id, parse_addr, parse_id, NativeAgent};

/// A holder to ask.
#[napi(object)]
pub struct NativeHolder {
    pub agent_id: String,
    /// "ip:port" each; entries that do not parse are skipped (they come from
    /// other agents' adverts, so one bad entry must not hide the rest).
    pub addrs: Vec<String>,
}

/// One holder's answer to a store.
#[napi(object)]
pub struct NativeHolderReply {
    pub agent_id: String,
    /// "stored" | "invalid" | "stale" | "full" | "unreachable".
    pub outcome: String,
}

/// A lookup's result.
#[napi(object)]
pub struct NativeLookup {
    pub record: Option<NativeAddrRecord>,
    pub answered: u32,
    pub rejected: u32,
}

/// Rendezvous counters.
#[napi(object)]
pub struct NativeRendezvousStats {
    pub records_held: f64,
    pub stores_accepted: f64,
    pub invalid_rejected: f64,
    pub stale_rejected: f64,
    pub full_rejected: f64,
    pub lookups_served: f64,
    pub requests_sent: f64,
    pub answers_received: f64,
    pub malformed_dropped: f64,
}

fn to_native_stats(s: RendezvousStats) -> NativeRendezvousStats {
    NativeRendezvousStats {
        records_held: s.records_held as f64,
        stores_accepted: s.stores_accepted as f64,
        invalid_rejected: s.invalid_rejected as f64,
        stale_rejected: s.stale_rejected as f64,
        full_rejected: s.full_rejected as f64,
        lookups_served: s.lookups_served as f64,
        requests_sent: s.requests_sent as f64,
        answers_received: s.answers_received as f64,
        malformed_dropped: s.malformed_dropped as f64,
    }
}

fn reply_name(reply: HolderReply) -> String {
    match reply {
        HolderReply::Answered(o) => o.as_str().to_owned(),
        HolderReply::Unreachable => "unreachable".to_owned(),
    }
}

fn to_holders(list: Vec<NativeHolder>) -> Try<Vec<Holder>> {
    list.into_iter()
        .map(|h| {
            Ok(Holder {
                id: parse_id(&h.agent_id)?,
                addrs: h.addrs.iter().filter_map(|a| a.parse::<SocketAddr>().ok()).collect(),
            })
        })
        .collect()
}

#[napi]
impl NativeAgent {
    /// Signs this agent's address record; an empty list signs an unregistration.
    #[napi(catch_unwind)]
    pub fn sign_addr_record(&self, addrs: Vec<String>, ttl_ms: f64) -> Outcome<Buffer> {
        outcome(|| {
            let addrs = addrs.iter().map(|a| parse_addr(a)).collect::<Result<Vec<_>, _>>()?;
            let ttl = if ttl_ms.is_finite() && ttl_ms >= 0.0 { ttl_ms as u64 } else { 0 };
            Ok(self.inner.sign_addr_record(&addrs, ttl)?.into())
        })
    }

    /// Sends `record` to every holder and reports each one's answer.
    #[napi(catch_unwind)]
    pub async fn rendezvous_store(&self, holders: Vec<NativeHolder>, record: Buffer, timeout_ms: u32) -> Outcome<Vec<NativeHolderReply>> {
        outcome_async(async {
        let holders = to_holders(holders)?;
        let replies = self
            .inner
            .rendezvous_store(holders, record.to_vec(), Duration::from_millis(timeout_ms.into()))
            .await?;
        Ok(replies
            .into_iter()
            .map(|(id, reply)| NativeHolderReply {
                agent_id: hex_id(&id),
                outcome: reply_name(reply),
            })
            .collect())
        })
        .await
    }

    /// Asks every holder for `agent_id`'s record; the newest valid one wins.
    #[napi(catch_unwind)]
    pub async fn rendezvous_lookup(&self, holders: Vec<NativeHolder>, agent_id: String, timeout_ms: u32) -> Outcome<NativeLookup> {
        outcome_async(async {
            let holders = to_holders(holders)?;
            let target = parse_id(&agent_id)?;
            let found = self
                .inner
                .rendezvous_lookup(holders, target, Duration::from_millis(timeout_ms.into()))
                .await?;
            Ok(NativeLookup {
                record: found.record.map(NativeAddrRecord::from),
                answered: found.answered as u32,
                rejected: found.rejected as u32,
            })
        })
        .await
    }

    /// Rendezvous counters.
    #[napi(catch_unwind)]
    pub fn rendezvous_stats(&self) -> Outcome<NativeRendezvousStats> {
        self.inner.rendezvous_stats().map(to_native_stats).into()
    }

    /// Rendezvous for this agent: holders from `coordinators`' adverts or,
    /// with none known, from the agents `presence` sees online.
    #[napi(catch_unwind)]
    pub fn rendezvous(
        &self,
        config: NativeRendezvousConfig,
        coordinators: &NativeCoordinators,
        presence: &NativePresence,
    ) -> Outcome<NativeRendezvous> {
        outcome(|| {
            let config = RendezvousConfig {
                record_ttl: Duration::from_millis(config.record_ttl_ms.into()),
                replicas: config.replicas as usize,
            };
            let client = RendezvousClient::new(
                &self.inner,
                &config,
                Arc::clone(&coordinators.inner),
                Arc::clone(&presence.inner),
            )?;
            Ok(NativeRendezvous { inner: client })
        })
    }
}

/// Rendezvous settings, already validated by TypeScript (validated again in Rust).
#[napi(object)]
pub struct NativeRendezvousConfig {
    /// Registration lifetime; renewed every half of it.
    pub record_ttl_ms: u32,
    /// Holders per shard.
    pub replicas: u32,
}

/// A registration or unregistration, as the holders answered it.
#[napi(object)]
pub struct NativeRegistration {
    pub agent_id: String,
    pub shard: u32,
    pub addrs: Vec<String>,
    pub expires_at: f64,
    pub holders: Vec<NativeHolderReply>,
}

fn to_native_registration(r: rendezvous::Registration) -> NativeRegistration {
    NativeRegistration {
        agent_id: hex_id(&r.agent),
        shard: r.shard.into(),
        addrs: r.addrs.iter().map(|a| a.to_string()).collect(),
        expires_at: r.expires_at_ms as f64,
        holders: r
            .holders
            .into_iter()
            .map(|(id, reply)| NativeHolderReply { agent_id: hex_id(&id), outcome: reply_name(reply) })
            .collect(),
    }
}

fn to_native_holder(c: Candidate) -> NativeHolder {
    NativeHolder { agent_id: hex_id(&c.id), addrs: c.addrs }
}

/// Rendezvous of one agent.
#[napi]
pub struct NativeRendezvous {
    inner: RendezvousClient,
}

#[napi]
impl NativeRendezvous {
    /// The holders of `agentId`'s shard as this agent sees the network now.
    #[napi(catch_unwind)]
    pub fn holders_for(&self, agent_id: String) -> Outcome<Vec<NativeHolder>> {
        outcome(|| {
            let target = parse_id(&agent_id)?;
            Ok(self.inner.holders_for(&target)?.into_iter().map(to_native_holder).collect())
        })
    }

    /// Registers this agent (at `addrs`, or its advertised addresses taken
    /// afresh at each renewal) and renews it until `unregister` or close.
    #[napi(catch_unwind)]
    pub async fn register(&self, addrs: Option<Vec<String>>, timeout_ms: u32) -> Outcome<NativeRegistration> {
        outcome_async(async {
            let addrs = addrs
                .map(|list| list.iter().map(|a| parse_addr(a)).collect::<Result<Vec<_>, _>>())
                .transpose()?;
            let r = self.inner.register(addrs, Duration::from_millis(timeout_ms.into())).await?;
            Ok(to_native_registration(r))
        })
        .await
    }

    /// Withdraws the registration and stops renewing it.
    #[napi(catch_unwind)]
    pub async fn unregister(&self, timeout_ms: u32) -> Outcome<NativeRegistration> {
        outcome_async(async {
            let r = self.inner.unregister(Duration::from_millis(timeout_ms.into())).await?;
            Ok(to_native_registration(r))
        })
        .await
    }

    /// Asks the holders of `agentId`'s shard for its newest valid record.
    #[napi(catch_unwind)]
    pub async fn lookup(&self, agent_id: String, timeout_ms: u32) -> Outcome<Option<NativeAddrRecord>> {
        outcome_async(async {
            let target = parse_id(&agent_id)?;
            let found = self.inner.lookup(target, Duration::from_millis(timeout_ms.into())).await?;
            Ok(found.map(NativeAddrRecord::from))
        })
        .await
    }

    /// Counters.
    #[napi(catch_unwind)]
    pub fn stats(&self) -> Outcome<NativeRendezvousStats> {
        self.inner.stats().map(to_native_stats).into()
    }

    /// Stops renewing. Idempotent.
    #[napi(catch_unwind)]
    pub fn stop(&self) {
        self.inner.stop();
    }
}

/// The `count` holders of `shard` among `candidates`, heaviest first
/// (rendezvous hashing; duplicates count once).
#[napi(catch_unwind)]
pub fn rank_holders(shard: u32, candidates: Vec<NativeHolder>, count: u32) -> Outcome<Vec<NativeHolder>> {
    outcome(|| {
        let shard = u16::try_from(shard).map_err(|_| invalid_arg(format!("shard must be 0 to 65535 (got {shard})")))?;
        let candidates = candidates
            .into_iter()
            .map(|h| Ok(Candidate { id: parse_id(&h.agent_id)?, addrs: h.addrs }))
            .collect::<Try<Vec<_>>>()?;
        Ok(rendezvous::rank(shard, candidates, count as usize).into_iter().map(to_native_holder).collect())
    })
}
