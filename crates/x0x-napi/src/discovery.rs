//! FOAF discovery methods of [`NativeAgent`].

use std::time::Duration;

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use crate::errors::{outcome_async, Outcome};
use crate::{hex_id, parse_id, NativeAgent};

/// A verified address record.
#[napi(object)]
pub struct NativeAddrRecord {
    pub agent_id: String,
    /// "ip:port" each.
    pub addrs: Vec<String>,
    pub issued_at: f64,
    pub expires_at: f64,
}

impl From<x0x_core::AddrRecord> for NativeAddrRecord {
    fn from(r: x0x_core::AddrRecord) -> Self {
        Self {
            agent_id: hex_id(&r.agent_id),
            addrs: r.addrs.iter().map(|a| a.to_string()).collect(),
            issued_at: r.issued_at_ms as f64,
            expires_at: r.expires_at_ms as f64,
        }
    }
}

/// FOAF counters.
#[napi(object)]
pub struct NativeFoafStats {
    pub queries_started: f64,
    pub queries_handled: f64,
    pub queries_forwarded: f64,
    pub duplicates_dropped: f64,
    pub seen_sent: f64,
    pub revisits_redirected: f64,
    pub replies_sent: f64,
    pub replies_relayed: f64,
    pub answers_accepted: f64,
    pub malformed_dropped: f64,
    pub bad_records_dropped: f64,
    pub unroutable_replies: f64,
    pub overloaded_dropped: f64,
}

#[napi]
impl NativeAgent {
    /// FOAF lookup; null when nothing answered within `timeout_ms`.
    #[napi(catch_unwind)]
    pub async fn find_agent(&self, agent_id: String, timeout_ms: u32) -> Outcome<Option<NativeAddrRecord>> {
        outcome_async(async {
            let id = parse_id(&agent_id)?;
            let found = self.inner.find_agent(id, Duration::from_millis(timeout_ms.into())).await?;
            Ok(found.map(NativeAddrRecord::from))
        })
        .await
    }

    /// Whether this agent answers FOAF queries for itself.
    #[napi(catch_unwind)]
    pub fn set_advertise(&self, on: bool) -> Outcome<()> {
        self.inner.set_advertise(on).into()
    }

    /// This agent's signed address record.
    #[napi(catch_unwind)]
    pub fn own_record(&self) -> Outcome<Buffer> {
        self.inner.own_record().map(Buffer::from).into()
    }

    /// FOAF counters.
    #[napi(catch_unwind)]
    pub fn foaf_stats(&self) -> Outcome<NativeFoafStats> {
        self.inner.foaf_stats().map(|s| NativeFoafStats {
            queries_started: s.queries_started as f64,
            queries_handled: s.queries_handled as f64,
            queries_forwarded: s.queries_forwarded as f64,
            duplicates_dropped: s.duplicates_dropped as f64,
            seen_sent: s.seen_sent as f64,
            revisits_redirected: s.revisits_redirected as f64,
            replies_sent: s.replies_sent as f64,
            replies_relayed: s.replies_relayed as f64,
            answers_accepted: s.answers_accepted as f64,
            malformed_dropped: s.malformed_dropped as f64,
            bad_records_dropped: s.bad_records_dropped as f64,
            unroutable_replies: s.unroutable_replies as f64,
            overloaded_dropped: s.overloaded_dropped as f64,
        }).into()
    }
}
