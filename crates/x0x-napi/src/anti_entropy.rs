//! Anti-entropy methods of [`NativeAgent`]: an on-demand round and totals.

use napi_derive::napi;
use x0x_core::{AntiEntropyStats, ReconciliationStats};

use crate::errors::Outcome;
use crate::{hex_id, NativeAgent};

/// One peer's part of a round.
#[napi(object)]
pub struct NativePeerReconciliation {
    pub peer_id: String,
    pub estimated_difference: f64,
    pub differences_found: f64,
    pub messages_recovered: f64,
    pub messages_pushed: f64,
}

/// The outcome of one round.
#[napi(object)]
pub struct NativeReconciliationStats {
    pub messages_recovered: f64,
    pub peers_contacted: f64,
    pub differences_found: f64,
    pub bytes_sent: f64,
    pub bytes_received: f64,
    pub duration_ms: f64,
    /// Most divergent first: the order peers were reconciled in.
    pub peers: Vec<NativePeerReconciliation>,
}

/// Totals since the agent started.
#[napi(object)]
pub struct NativeAntiEntropyStats {
    pub rounds: f64,
    pub messages_recovered: f64,
    pub messages_pushed: f64,
    pub differences_found: f64,
    pub bytes_sent: f64,
    pub bytes_received: f64,
    pub malformed_frames: f64,
    pub failed_sessions: f64,
    pub store_size: f64,
}

fn round(s: ReconciliationStats) -> NativeReconciliationStats {
    NativeReconciliationStats {
        messages_recovered: s.messages_recovered as f64,
        peers_contacted: s.peers_contacted as f64,
        differences_found: s.differences_found as f64,
        bytes_sent: s.bytes_sent as f64,
        bytes_received: s.bytes_received as f64,
        duration_ms: s.duration_ms as f64,
        peers: s
            .peers
            .into_iter()
            .map(|p| NativePeerReconciliation {
                peer_id: hex_id(&p.peer),
                estimated_difference: p.estimated_difference as f64,
                differences_found: p.differences_found as f64,
                messages_recovered: p.messages_recovered as f64,
                messages_pushed: p.messages_pushed as f64,
            })
            .collect(),
    }
}

fn totals(s: AntiEntropyStats) -> NativeAntiEntropyStats {
    NativeAntiEntropyStats {
        rounds: s.rounds as f64,
        messages_recovered: s.messages_recovered as f64,
        messages_pushed: s.messages_pushed as f64,
        differences_found: s.differences_found as f64,
        bytes_sent: s.bytes_sent as f64,
        bytes_received: s.bytes_received as f64,
        malformed_frames: s.malformed_frames as f64,
        failed_sessions: s.failed_sessions as f64,
        store_size: s.store_size as f64,
    }
}

#[napi]
impl NativeAgent {
    /// Runs one anti-entropy round now and reports it.
    #[napi(catch_unwind)]
    pub async fn reconcile(&self) -> Outcome<NativeReconciliationStats> {
        self.inner.reconcile().await.map(round).into()
    }

    /// Anti-entropy totals since the agent started.
    #[napi(catch_unwind)]
    pub fn anti_entropy_stats(&self) -> Outcome<NativeAntiEntropyStats> {
        self.inner.anti_entropy_stats().map(totals).into()
    }
}
