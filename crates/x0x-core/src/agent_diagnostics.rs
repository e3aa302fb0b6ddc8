//! The counters the agent reports: pub/sub, membership, connections by path,
//! and the named diagnostics of the layers under pub/sub.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{Agent, ConnectionCounts};
use crate::error::CoreResult;
use crate::stats::{MembershipStats, PubSubStats};

impl Agent {
    /// Connections opened since start, by how they were made.
    pub fn connection_counts(&self) -> ConnectionCounts {
        let s = &self.shared.transport.stats;
        ConnectionCounts {
            direct: s.connected_direct.load(Ordering::Relaxed),
            holepunched: s.connected_holepunched.load(Ordering::Relaxed),
            relayed: s.connected_relayed.load(Ordering::Relaxed),
            holepunched_by_coordination: s.punched_by_coordination.load(Ordering::Relaxed),
        }
    }

    /// Pub/sub counters.
    pub fn pubsub_stats(&self) -> CoreResult<PubSubStats> {
        self.ensure_not_closed()?;
        let cache = self.shared.dedup.lock().map(|d| d.len()).unwrap_or(0);
        Ok(self.shared.counters.snapshot(cache))
    }

    /// Named counters of the layers under pub/sub (transport, Plumtree,
    /// ant-quic), for finding where messages go missing. Names and set may
    /// change between versions; not a stable API.
    pub fn diagnostics(&self) -> CoreResult<Vec<(String, u64)>> {
        // Still answers after a task panicked: it is how that is seen.
        self.ensure_not_closed()?;
        let t = &self.shared.transport.stats;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let p = self.shared.pubsub.stage_stats();
        let a = &p.admission;
        let addrs = self.shared.transport.addr_stats();
        let tree = &self.shared.tree.stats;
        let tree_sizes = self.shared.tree.sizes();
        let mut out: Vec<(String, u64)> = [
            ("tasks.panicked", self.shared.faults.panicked()),
            ("transport.framesIn", get(&t.frames_in)),
            ("transport.framesOut", get(&t.frames_out)),
            ("transport.bytesIn", get(&t.bytes_in)),
            ("transport.bytesOut", get(&t.bytes_out)),
            ("transport.sendFailures", get(&t.send_failures)),
            ("transport.framesRejected", get(&t.frames_rejected)),
            ("transport.disconnects", get(&t.disconnects)),
            ("transport.readerExits", get(&t.reader_exits)),
            ("transport.inboundHighWater", self.shared.transport.inbound_high_water()),
            ("transport.outboxWaits", self.shared.transport.outbox_waits()),
            ("transport.publishesPastLagging", self.shared.transport.publishes_past_lagging()),
            ("plumtree.eagerIn", p.message_kinds.eager),
            ("plumtree.ihaveIn", p.message_kinds.ihave),
            ("plumtree.iwantIn", p.message_kinds.iwant),
            ("plumtree.decodeFailed", p.message_kinds.decode_failed),
            ("plumtree.prunes", p.message_kinds.prune),
            ("plumtree.grafts", p.message_kinds.graft),
            ("plumtree.perPeerTimeouts", p.republish_per_peer_timeout),
            ("plumtree.budgetExhausted", p.outbound_budget_exhausted),
            ("plumtree.zeroFanoutPublishes", p.zero_fanout_publishes),
            ("plumtree.zeroSucceededPublishes", p.zero_succeeded_publishes),
            ("plumtree.suppressedPeers", p.suppressed_peers.len() as u64),
            ("plumtree.admittedCritical", a.admitted_critical),
            ("plumtree.droppedCriticalHardError", a.dropped_critical_hard_error),
            ("plumtree.droppedCriticalCooling", a.dropped_critical_cooling),
            ("plumtree.droppedCriticalNoTarget", a.dropped_critical_no_target),
            ("transport.replaced", get(&t.replaced)),
            ("transport.dials", get(&t.dials)),
            ("transport.ladder.direct", get(&t.ladder.direct)),
            ("transport.ladder.holepunched", get(&t.ladder.holepunched)),
            ("transport.ladder.relayed", get(&t.ladder.relayed)),
            ("transport.ladder.failed", get(&t.ladder.failed)),
            ("transport.ladder.timedOut", get(&t.ladder.timed_out)),
            ("transport.stuckSends", get(&t.stuck_sends)),
            ("plumtree.emptyEagerRegrafts", p.empty_eager_regrafts),
            ("plumtree.validatorDropped", p.validator.dropped),
            ("plumtree.eagerOut", p.outbound_by_kind.get("eager").map_or(0, |k| k.msgs)),
            ("plumtree.bytesOut", p.outbound_by_kind.values().map(|k| k.bytes).sum()),
            ("plumtree.framesOut", p.outbound_by_kind.values().map(|k| k.msgs).sum()),
            ("transport.backlogBytes", self.shared.transport.backlog_bytes() as u64),
            ("transport.addrPeers", addrs.peers),
            ("transport.addrHintsDropped", addrs.hints_dropped),
            ("transport.addrHintsFailed", addrs.hints_failed),
            ("transport.addrProvenDropped", addrs.proven_dropped),
            ("tree.prunesSent", get(&tree.prunes_sent)),
            ("tree.graftsSent", get(&tree.grafts_sent)),
            ("tree.prunesReceived", get(&tree.prunes_received)),
            ("tree.graftsReceived", get(&tree.grafts_received)),
            ("tree.pushesWithheld", get(&tree.pushes_withheld)),
            ("tree.firstCopiesPulled", get(&tree.first_copies_pulled)),
            ("tree.signalsDropped", get(&tree.signals_dropped)),
            ("tree.malformed", get(&tree.malformed)),
            ("tree.sources", tree_sizes.0 as u64),
            ("tree.prunesHeld", tree_sizes.1 as u64),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if let Ok(m) = t.closed_by_reason.lock() {
            out.extend(m.iter().map(|(k, v)| (format!("transport.closed.{k}"), *v)));
        }
        out.push(("inbound.unknownTopicDropped".to_owned(), get(&self.shared.counters.unknown_topic_dropped)));
        out.push(("antiEntropy.peerSyncs".to_owned(), self.shared.anti_entropy.stats().peer_syncs));
        let side = self.shared.anti_entropy.side_sessions();
        out.extend(
            [
                ("antiEntropy.sideWaitingPeak", side.waiting_peak.load(Ordering::Relaxed) as u64),
                ("antiEntropy.sideRunningPeak", side.running_peak.load(Ordering::Relaxed) as u64),
                ("antiEntropy.sideShed", side.shed.load(Ordering::Relaxed)),
                ("antiEntropy.sideExpired", side.expired.load(Ordering::Relaxed)),
            ]
            .map(|(n, v)| (n.to_owned(), v)),
        );
        let k = &self.shared.keys;
        out.extend(
            [
                ("keys.held", k.len() as u64),
                ("keys.pending", k.pending() as u64),
                ("keys.asked", get(&k.stats.asked)),
                ("keys.fetched", get(&k.stats.fetched)),
                ("keys.timedOut", get(&k.stats.timed_out)),
                ("keys.refused", get(&k.stats.refused)),
                ("keys.unsolicited", get(&k.stats.unsolicited)),
                ("keys.introduced", get(&k.stats.introduced)),
                ("keys.served", get(&k.stats.served)),
                ("keys.notServed", get(&k.stats.not_served)),
                ("keys.malformed", get(&k.stats.malformed)),
                ("keys.missingDropped", get(&self.shared.counters.no_key_dropped)),
            ]
            .map(|(n, v)| (n.to_owned(), v)),
        );
        out.extend(self.shared.lanes.dropped().into_iter().map(|(k, v)| (format!("inbound.dropped.{k}"), v)));
        Ok(out)
    }

    /// Membership counters and view sizes. Synchronous: the sizes are those
    /// the membership watcher saw last (once a probe period, and at once on
    /// a membership change), the views the membership events describe.
    pub fn membership_stats(&self) -> CoreResult<MembershipStats> {
        // Also on a faulted agent, so that the fault shows in metrics.
        self.ensure_not_closed()?;
        let c = &self.shared.membership_counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Ok(MembershipStats {
            active_view_size: get(&c.active_view),
            passive_view_size: get(&c.passive_view),
            probes_sent: self.shared.transport.stats.probes_sent.load(Ordering::Relaxed),
            suspicions: get(&c.suspicions),
            confirmed_failures: get(&c.failures),
            graceful_leaves: get(&c.graceful_leaves),
            refills: get(&c.refills),
        })
    }
}
