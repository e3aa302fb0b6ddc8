//! Membership events and failure handling that saorsa-gossip 0.5.71 lacks.
//!
//! The library emits no events and never evicts a peer SWIM declared dead from
//! the HyParView active view. This watcher diffs the active view and SWIM
//! states once per probe period, wakes at once when SWIM marks a peer suspect
//! or dead (the vendored copy's `state_changes`; polling alone reported a
//! verdict up to a period late), wakes early on transport and
//! membership-frame hints, evicts dead peers and refills the active view from
//! the passive view.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, Weak};
use std::time::{Duration, Instant};

use saorsa_gossip_membership::{HyParViewMembership, Membership, PeerState};
use saorsa_gossip_types::PeerId;
use tokio::sync::{broadcast, Notify};

use crate::time::now_ms;
use crate::transport::QuicTransport;

/// What happened to a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipEventKind {
    /// Entered this agent's active view.
    Joined,
    /// SWIM stopped hearing from it; it may still recover.
    Suspected,
    /// Left the active view, for this reason.
    Left {
        /// Why it left.
        reason: LeaveReason,
    },
}

/// Why a peer left the active view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveReason {
    /// It said goodbye (HyParView DISCONNECT, sent by a graceful close).
    Graceful,
    /// SWIM declared it dead.
    Failed,
    /// HyParView moved it to the passive view to make room.
    Demoted,
}

/// A membership change seen by this agent.
#[derive(Debug, Clone)]
pub struct MembershipEvent {
    /// The kind of change.
    pub kind: MembershipEventKind,
    /// The peer concerned.
    pub peer: PeerId,
    /// Its last known address.
    pub addr: Option<SocketAddr>,
    /// Wall clock, ms since the Unix epoch.
    pub at_ms: u64,
}

/// Membership counters, and the view sizes as of the watcher's last look.
#[derive(Debug, Default)]
pub struct MembershipCounters {
    pub(crate) suspicions: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) graceful_leaves: AtomicU64,
    pub(crate) refills: AtomicU64,
    /// Kept by the watcher rather than read on demand: the views sit behind
    /// async locks, and stats must be readable synchronously from Node's
    /// thread. The active size is the one the membership events have
    /// reported so far.
    pub(crate) active_view: AtomicU64,
    pub(crate) passive_view: AtomicU64,
}

/// A DISCONNECT a peer sent us.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Goodbye {
    /// When it arrived, ms since the Unix epoch.
    pub(crate) at_ms: u64,
    /// It was in our active view when it arrived.
    pub(crate) was_active: bool,
}

/// State the watcher shares with the dispatcher.
#[derive(Default)]
pub struct MembershipHints {
    /// Peers that sent us a DISCONNECT, with when (ms).
    pub(crate) goodbyes: StdMutex<HashMap<PeerId, Goodbye>>,
    /// Wakes the watcher early.
    pub(crate) wake: Notify,
}

pub(crate) struct Watch {
    pub(crate) membership: Arc<HyParViewMembership<QuicTransport>>,
    pub(crate) transport: Arc<QuicTransport>,
    pub(crate) events: broadcast::Sender<MembershipEvent>,
    pub(crate) counters: Arc<MembershipCounters>,
    pub(crate) hints: Arc<MembershipHints>,
    pub(crate) period: Duration,
}

fn emit(w: &Watch, kind: MembershipEventKind, peer: PeerId) {
    let _ = w.events.send(MembershipEvent {
        kind,
        peer,
        addr: w.transport.peer_addr(&peer),
        at_ms: now_ms(),
    });
}

/// Longest a suspected neighbour that left the active view unannounced
/// waits for SWIM's verdict before it is reported demoted.
const MAX_HOLD: Duration = Duration::from_secs(60);

/// Runs until the agent's runtime is dropped.
pub(crate) async fn run(w: Watch, alive: Weak<()>) {
    let mut active: HashSet<PeerId> = HashSet::new();
    let mut suspected: HashSet<PeerId> = HashSet::new();
    // Neighbours that left the active view unannounced: a crash looks like
    // that before SWIM has decided, so their leave waits for the verdict
    // (see below). Since when.
    let mut held: HashMap<PeerId, Instant> = HashMap::new();
    // SWIM probes every live peer within two periods; one more for the ack.
    let unsuspected_grace = w.period * 3;
    // Goodbyes already accounted for (their peer's leave was reported).
    let mut reported_byes: HashSet<PeerId> = HashSet::new();
    let mut conn_events = w.transport.subscribe_events();
    let verdicts = w.membership.swim().state_changes();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(w.period) => {}
            _ = w.hints.wake.notified() => {}
            _ = verdicts.notified() => {}
            ev = conn_events.recv() => {
                if matches!(ev, Err(broadcast::error::RecvError::Closed)) { break; }
            }
        }
        if alive.upgrade().is_none() {
            break;
        }
        let swim = w.membership.swim();
        let dead: HashSet<PeerId> = swim.get_peers_in_state(PeerState::Dead).await.into_iter().collect();
        let suspects: HashSet<PeerId> =
            swim.get_peers_in_state(PeerState::Suspect).await.into_iter().collect();
        // `active_view()` answers empty under lock contention; the async
        // sample waits for the lock instead.
        let mut now_active: HashSet<PeerId> =
            w.membership.sample_active(usize::MAX).await.into_iter().collect();
        let goodbyes: HashMap<PeerId, Goodbye> =
            w.hints.goodbyes.lock().map(|g| g.clone()).unwrap_or_default();

        // SWIM probes only the peers it tracks, and HyParView's degree
        // maintenance promotes passive peers without telling it: such a
        // neighbour would never be found dead. Track every neighbour.
        for peer in &now_active {
            if swim.get_state(peer).await.is_none() {
                swim.mark_alive(*peer).await;
            }
        }
        // Evict peers SWIM declared dead (the library leaves them in place),
        // then refill from the passive view.
        for peer in now_active.intersection(&dead).copied().collect::<Vec<_>>() {
            let _ = w.membership.remove_active(peer).await;
            now_active.remove(&peer);
            for candidate in w.membership.sample_passive(8).await {
                if !dead.contains(&candidate) && !w.transport.is_blocked(&candidate) {
                    if w.membership.promote(candidate).await.is_ok() {
                        now_active.insert(candidate);
                        w.counters.refills.fetch_add(1, Ordering::Relaxed);
                    }
                    break;
                }
            }
        }

        // Sizes first: whoever reads stats after an event sees its view.
        w.counters.active_view.store(now_active.len() as u64, Ordering::Relaxed);
        let passive = w.membership.sample_passive(usize::MAX).await.len();
        w.counters.passive_view.store(passive as u64, Ordering::Relaxed);
        for peer in now_active.difference(&active) {
            suspected.remove(peer);
            emit(&w, MembershipEventKind::Joined, *peer);
        }
        for peer in suspects.intersection(&active) {
            if suspected.insert(*peer) {
                w.counters.suspicions.fetch_add(1, Ordering::Relaxed);
                emit(&w, MembershipEventKind::Suspected, *peer);
            }
        }
        let now = Instant::now();
        // A held neighbour back in the view never left.
        held.retain(|peer, _| !now_active.contains(peer));
        for peer in active.difference(&now_active) {
            let reason = if goodbyes.contains_key(peer) {
                w.counters.graceful_leaves.fetch_add(1, Ordering::Relaxed);
                LeaveReason::Graceful
            } else if dead.contains(peer) {
                w.counters.failures.fetch_add(1, Ordering::Relaxed);
                LeaveReason::Failed
            } else {
                // HyParView drops a neighbour it failed to reach before
                // SWIM has suspected it, often while the dead peer's QUIC
                // connection still looks open: reported now, a crashed
                // peer would read as demoted. So every unannounced leave
                // waits for SWIM (the grace of one probe round, longer
                // once suspected); a reshuffle reads demoted after it.
                let since = *held.entry(*peer).or_insert(now);
                let waited = now.saturating_duration_since(since);
                let undecided = (suspects.contains(peer) && waited < MAX_HOLD) || waited < unsuspected_grace;
                if undecided {
                    continue;
                }
                LeaveReason::Demoted
            };
            held.remove(peer);
            suspected.remove(peer);
            emit(&w, MembershipEventKind::Left { reason }, *peer);
        }
        // A neighbour that joined and left between two ticks: report both,
        // so a graceful leave is never silent.
        for (peer, bye) in &goodbyes {
            if bye.was_active && !active.contains(peer) && !now_active.contains(peer) && !reported_byes.contains(peer) {
                w.counters.graceful_leaves.fetch_add(1, Ordering::Relaxed);
                emit(&w, MembershipEventKind::Joined, *peer);
                emit(&w, MembershipEventKind::Left { reason: LeaveReason::Graceful }, *peer);
            }
        }
        reported_byes = goodbyes.keys().copied().collect();
        // A suspect that answered again is no longer suspected.
        suspected.retain(|p| suspects.contains(p) || dead.contains(p));
        if let Ok(mut g) = w.hints.goodbyes.lock() {
            let cutoff = now_ms().saturating_sub(60_000);
            g.retain(|_, bye| bye.at_ms > cutoff);
        }
        // Held neighbours stay in `active` so their suspicion and their
        // leave are reported as a neighbour's.
        now_active.extend(held.keys().copied());
        active = now_active;
    }
}
