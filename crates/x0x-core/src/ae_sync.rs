//! Anti-entropy outside the rounds, started by two events, so that history
//! arrives within a round trip or two instead of up to a whole round
//! interval later:
//! - a connection comes up: one side reconciles every shared topic with the
//!   new peer (a peer back from a partition is repaired as it reconnects);
//! - this agent subscribes to a new topic: it reconciles that topic with
//!   every connected peer (a newcomer subscribes after it joins, and then
//!   gets, say, the coordinator adverts published before it came).
//!
//! On connect, only the side with the lower peer id starts the session:
//! reconciliation both fetches and pushes, so one session per connection
//! repairs both sides, and two would ship every missing envelope twice.
//!
//! A remote peer decides when its connections come up, so [`ConnectGate`]
//! bounds what that can cost: one sync per peer per [`MIN_GAP`]. Both kinds
//! share [`MAX_CONCURRENT`] permits; one that waits longer than [`MAX_WAIT`]
//! for a permit leaves the repair to the next round. The gate is per peer,
//! and identities are free: a burst of fresh ones (a Sybil attack) that all
//! stall their sessions would queue one waiting session each, so at most
//! [`MAX_WAITING`] wait and the rest are shed to the rounds, counted
//! ([`SideSessions`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use saorsa_gossip_types::PeerId;
use tokio::sync::broadcast;

use crate::anti_entropy::{self, Host};
use crate::transport::ConnectionEvent;

/// A peer reconnecting faster than this gets no new session; the rounds
/// still reach it.
pub(crate) const MIN_GAP: Duration = Duration::from_secs(10);
/// Sessions outside the rounds that run at once.
pub(crate) const MAX_CONCURRENT: usize = 4;
/// How long a session waits for a permit before leaving it to the rounds.
const MAX_WAIT: Duration = Duration::from_secs(15);
/// Sessions that may wait for a permit at once; more are shed to the rounds.
pub(crate) const MAX_WAITING: usize = 16;
/// Peers remembered for [`MIN_GAP`]; past this, the oldest are forgotten
/// (forgetting only allows an earlier sync).
const MAX_REMEMBERED: usize = 4_096;

/// Decides which new connections start a session (sans-IO).
pub(crate) struct ConnectGate {
    me: [u8; 32],
    last: HashMap<PeerId, Instant>,
}

impl ConnectGate {
    /// A gate for the agent whose peer id is `me`.
    pub(crate) fn new(me: PeerId) -> Self {
        Self { me: me.to_bytes(), last: HashMap::new() }
    }

    /// Whether a connection to `peer` that came up at `now` starts a
    /// session from this side; records it if so.
    pub(crate) fn admit(&mut self, peer: PeerId, now: Instant) -> bool {
        if peer.to_bytes() <= self.me {
            return false;
        }
        if self.last.get(&peer).is_some_and(|at| now.duration_since(*at) < MIN_GAP) {
            return false;
        }
        if self.last.len() >= MAX_REMEMBERED {
            self.last.retain(|_, at| now.duration_since(*at) < MIN_GAP);
            if self.last.len() >= MAX_REMEMBERED {
                // Every entry is recent: a burst of new peers. Forget the
                // oldest rather than refuse the newcomer.
                if let Some(oldest) = self.last.iter().min_by_key(|(_, at)| **at).map(|(p, _)| *p) {
                    self.last.remove(&oldest);
                }
            }
        }
        self.last.insert(peer, now);
        true
    }
}

/// Starts a session with every newly connected peer the gate admits, until
/// the agent is gone or the events end.
pub(crate) async fn on_connect_loop<H: Host>(host: Weak<H>, me: PeerId, mut events: broadcast::Receiver<ConnectionEvent>) {
    let mut gate = ConnectGate::new(me);
    loop {
        let peer = match events.recv().await {
            Ok(ConnectionEvent { connected: true, peer, .. }) => peer,
            // A missed connect is repaired by the next round.
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if !gate.admit(peer, Instant::now()) {
            continue;
        }
        let Some(h) = host.upgrade() else { return };
        spawn_with_permit(h, move |h| anti_entropy::sync_peer(h, peer));
    }
}

/// Reconciles a topic this agent just subscribed to with every peer
/// connected now, in the background. The peers are read before the session
/// waits for a permit: one that connects later gets its connect session,
/// and reading them late would reconcile it twice.
pub(crate) async fn on_subscribe<H: Host>(host: Arc<H>, topic: String) {
    let peers = host.peers().await;
    if peers.is_empty() {
        return;
    }
    spawn_with_permit(host, move |h| anti_entropy::sync_topic(h, peers, topic));
}

/// The sessions outside the rounds: their permits, the bound on those
/// waiting for one, and what they did (peaks since start).
pub(crate) struct SideSessions {
    permits: Arc<tokio::sync::Semaphore>,
    waiting: AtomicUsize,
    running: AtomicUsize,
    /// Most sessions waiting at once.
    pub(crate) waiting_peak: AtomicUsize,
    /// Most sessions running at once.
    pub(crate) running_peak: AtomicUsize,
    /// Sessions not started because [`MAX_WAITING`] were already waiting.
    pub(crate) shed: AtomicU64,
    /// Sessions that waited [`MAX_WAIT`] and gave up.
    pub(crate) expired: AtomicU64,
}

impl Default for SideSessions {
    fn default() -> Self {
        Self {
            permits: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT)),
            waiting: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            waiting_peak: AtomicUsize::new(0),
            running_peak: AtomicUsize::new(0),
            shed: AtomicU64::new(0),
            expired: AtomicU64::new(0),
        }
    }
}

/// A session's place in a gauge ([`SideSessions::waiting`] or
/// [`SideSessions::running`]), given back on drop.
struct Slot {
    sessions: Arc<SideSessions>,
    running: bool,
}

impl Slot {
    fn gauge(&self) -> &AtomicUsize {
        if self.running { &self.sessions.running } else { &self.sessions.waiting }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.gauge().fetch_sub(1, Ordering::AcqRel);
    }
}

impl SideSessions {
    /// A place in the queue, or `None` (counted as shed) when it is full.
    fn try_wait(self: &Arc<Self>) -> Option<Slot> {
        let taken = self.waiting.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < MAX_WAITING).then_some(n + 1));
        match taken {
            Ok(before) => {
                self.waiting_peak.fetch_max(before + 1, Ordering::AcqRel);
                Some(Slot { sessions: Arc::clone(self), running: false })
            }
            Err(_) => {
                self.shed.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    fn start_running(self: &Arc<Self>) -> Slot {
        let now = self.running.fetch_add(1, Ordering::AcqRel) + 1;
        self.running_peak.fetch_max(now, Ordering::AcqRel);
        Slot { sessions: Arc::clone(self), running: true }
    }
}

fn spawn_with_permit<H, F, Fut>(host: Arc<H>, work: F)
where
    H: Host,
    F: FnOnce(Arc<H>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anti_entropy::ReconciliationStats> + Send + 'static,
{
    let sessions = host.anti_entropy().side_sessions();
    // Taken before spawning: a shed session costs no task.
    let Some(waiting) = sessions.try_wait() else { return };
    tokio::spawn(async move {
        let permit = tokio::time::timeout(MAX_WAIT, Arc::clone(&sessions.permits).acquire_owned()).await;
        drop(waiting);
        let Ok(Ok(_permit)) = permit else {
            sessions.expired.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let _running = sessions.start_running();
        work(host).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(first: u8) -> PeerId {
        let mut b = [7u8; 32];
        b[0] = first;
        PeerId::new(b)
    }

    #[test]
    fn only_the_lower_id_starts_and_each_pair_agrees() {
        let (low, high) = (peer(1), peer(9));
        let t = Instant::now();
        assert!(ConnectGate::new(low).admit(high, t));
        assert!(!ConnectGate::new(high).admit(low, t));
        assert!(!ConnectGate::new(low).admit(low, t), "never with itself");
    }

    #[test]
    fn a_peer_reconnecting_within_the_gap_gets_no_second_session() {
        let mut gate = ConnectGate::new(peer(0));
        let t = Instant::now();
        assert!(gate.admit(peer(5), t));
        assert!(!gate.admit(peer(5), t + MIN_GAP / 2));
        assert!(gate.admit(peer(5), t + MIN_GAP));
    }

    #[test]
    fn the_queue_sheds_past_its_bound_and_frees_places_on_drop() {
        let sessions = Arc::new(SideSessions::default());
        let held: Vec<Slot> = (0..MAX_WAITING).map(|_| sessions.try_wait().expect("room in the queue")).collect();
        assert!(sessions.try_wait().is_none(), "a full queue sheds");
        assert_eq!(sessions.shed.load(Ordering::Relaxed), 1);
        drop(held);
        assert!(sessions.try_wait().is_some(), "dropped places are free again");
        assert_eq!(sessions.waiting_peak.load(Ordering::Relaxed), MAX_WAITING);
    }

    #[test]
    fn the_memory_is_capped_and_a_newcomer_is_still_admitted() {
        let mut gate = ConnectGate::new(PeerId::new([0; 32]));
        let t = Instant::now();
        for i in 0..(MAX_REMEMBERED + 10) {
            let mut b = [1u8; 32];
            b[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            assert!(gate.admit(PeerId::new(b), t + Duration::from_micros(i as u64)));
            assert!(gate.last.len() <= MAX_REMEMBERED);
        }
    }
}
