//! Rendezvous methods of [`NativeAgent`]: holders are chosen in TypeScript.

use std::net::SocketAddr;
use std::time::Duration;

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use x0x_core::{Holder, HolderReply};

use crate::discovery::NativeAddrRecord;
use crate::errors::{outcome, outcome_async, Outcome, Try};
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
    #[napi]
    pub fn sign_addr_record(&self, addrs: Vec<String>, ttl_ms: f64) -> Outcome<Buffer> {
        outcome(|| {
            let addrs = addrs.iter().map(|a| parse_addr(a)).collect::<Result<Vec<_>, _>>()?;
            let ttl = if ttl_ms.is_finite() && ttl_ms >= 0.0 { ttl_ms as u64 } else { 0 };
            Ok(self.inner.sign_addr_record(&addrs, ttl)?.into())
        })
    }

    /// Sends `record` to every holder and reports each one's answer.
    #[napi]
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
                outcome: match reply {
                    HolderReply::Answered(o) => o.as_str().to_owned(),
                    HolderReply::Unreachable => "unreachable".to_owned(),
                },
            })
            .collect())
        })
        .await
    }

    /// Asks every holder for `agent_id`'s record; the newest valid one wins.
    #[napi]
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
    #[napi]
    pub fn rendezvous_stats(&self) -> Outcome<NativeRendezvousStats> {
        self.inner.rendezvous_stats().map(|s| NativeRendezvousStats {
            records_held: s.records_held as f64,
            stores_accepted: s.stores_accepted as f64,
            invalid_rejected: s.invalid_rejected as f64,
            stale_rejected: s.stale_rejected as f64,
            full_rejected: s.full_rejected as f64,
            lookups_served: s.lookups_served as f64,
            requests_sent: s.requests_sent as f64,
            answers_received: s.answers_received as f64,
            malformed_dropped: s.malformed_dropped as f64,
        }).into()
    }
}
