#![warn(missing_docs)]

//! Membership management using HyParView + SWIM.
//!
//! Provides:
//! - **HyParView** for partial views (active + passive) with periodic shuffle
//! - **SWIM failure detection** with configurable K-random-peer probing (default K=3),
//!   direct probes (`Ping`/`Ack`), indirect probes (`PingReq`/`AckResponse`),
//!   and Alive -> Suspect -> Dead state transitions
//! - Unified `MembershipProtocolMessage` envelope for routing HyParView and SWIM messages

use anyhow::{anyhow, Result};
use rand::SeedableRng;
use saorsa_gossip_transport::{GossipStreamType, GossipTransport};
use saorsa_gossip_types::{LogPeerId, PeerHealth, PeerHealthOracle, PeerId};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;
use tokio::time;
use tracing::{debug, info, trace, warn};

/// Default active view degree (8-12 peers)
pub const DEFAULT_ACTIVE_DEGREE: usize = 8;
/// Maximum active view degree
pub const MAX_ACTIVE_DEGREE: usize = 12;
/// Default passive view degree (64-128 peers)
pub const DEFAULT_PASSIVE_DEGREE: usize = 64;
/// Maximum passive view degree
pub const MAX_PASSIVE_DEGREE: usize = 128;
/// Shuffle period in seconds (per SPEC.md)
pub const SHUFFLE_PERIOD_SECS: u64 = 30;
/// SWIM probe interval (per SPEC.md)
pub const SWIM_PROBE_INTERVAL_SECS: u64 = 1;
/// SWIM suspect timeout (per SPEC.md)
pub const SWIM_SUSPECT_TIMEOUT_SECS: u64 = 3;
/// Number of peers to probe per interval (per SPEC.md)
pub const SWIM_PROBE_FANOUT: usize = 3;
/// Number of peers for indirect probing (per SPEC.md)
pub const SWIM_INDIRECT_PROBE_FANOUT: usize = 3;
/// Timeout in milliseconds before marking probe as failed (per SPEC.md)
pub const SWIM_ACK_TIMEOUT_MS: u64 = 500;
/// x0x patch: how often the ack- and suspect-timeout scans run. A scan
/// every `SWIM_ACK_TIMEOUT_MS` made a probe time out 500 to 1,000 ms after
/// it was sent, and a suspect die up to a probe period late.
pub const SWIM_TIMEOUT_SCAN_MS: u64 = 100;

/// x0x patch: sends a SWIM frame from a background task, so that a send
/// to a peer that has just died (which can wait for the transport's send
/// timeout) holds up neither the other probes of the period nor the
/// timeout scan. Each such task ends with its send.
fn send_detached<T: GossipTransport + 'static>(transport: &Arc<T>, peer: PeerId, bytes: Vec<u8>, what: &'static str) {
    let transport = Arc::clone(transport);
    tokio::spawn(async move {
        if let Err(e) = transport
            .send_to_peer(peer, GossipStreamType::Membership, bytes.into())
            .await
        {
            debug!(?e, peer_id = %peer, "SWIM: {what} send failed");
        }
    });
}

/// x0x patch: the round-robin probe order of the SWIM paper (section 4.3)
/// instead of a random pick each period. Live peers sit in a list in random
/// order (a new one at a random position); each period probes the next
/// `ProbeSchedule::fanout` of them, so every live peer is probed within two
/// periods, where a random pick of 3 out of 10 left a peer unprobed for
/// 3 periods on average and for 10 or more one time in 35.
#[derive(Debug, Default)]
pub struct ProbeSchedule {
    order: Vec<PeerId>,
    cursor: usize,
}

impl ProbeSchedule {
    /// Probes per period among `alive` peers: at least `min_fanout`, and
    /// enough to go round them all in two periods.
    pub fn fanout(alive: usize, min_fanout: usize) -> usize {
        min_fanout.max(alive.div_ceil(2)).min(alive)
    }

    /// The peers to probe this period, distinct, from `alive`.
    pub fn next(&mut self, alive: &[PeerId], min_fanout: usize, rng: &mut impl rand::Rng) -> Vec<PeerId> {
        self.sync(alive, rng);
        let n = Self::fanout(self.order.len(), min_fanout);
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            if self.cursor >= self.order.len() {
                self.cursor = 0;
            }
            out.push(self.order[self.cursor]);
            self.cursor += 1;
        }
        out
    }

    /// Drops peers no longer alive and inserts new ones at random
    /// positions, keeping the cursor on the same next peer.
    fn sync(&mut self, alive: &[PeerId], rng: &mut impl rand::Rng) {
        let live: HashSet<&PeerId> = alive.iter().collect();
        let mut kept = Vec::with_capacity(alive.len());
        let mut cursor = self.cursor;
        for (i, peer) in self.order.iter().enumerate() {
            if live.contains(peer) {
                kept.push(*peer);
            } else if i < self.cursor {
                cursor -= 1;
            }
        }
        let known: HashSet<PeerId> = kept.iter().copied().collect();
        for peer in alive.iter().filter(|p| !known.contains(p)) {
            let at = rng.gen_range(0..=kept.len());
            kept.insert(at, *peer);
            if at < cursor {
                cursor += 1;
            }
        }
        self.order = kept;
        self.cursor = cursor;
    }
}

/// SWIM protocol messages
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum SwimMessage {
    /// Ping message to probe peer
    Ping,
    /// Ack response to ping
    Ack,
    /// PingReq message for indirect probing.
    ///
    /// When a direct probe times out, the node asks other peers to probe the suspect.
    /// `target` is the suspect peer to probe, `requester` is the node requesting the probe.
    PingReq {
        /// The suspect peer to be probed
        target: PeerId,
        /// The node requesting the indirect probe
        requester: PeerId,
    },
    /// AckResponse message - forwarded ack from indirect probe responder back to requester.
    ///
    /// When a node receives a PingReq and successfully probes the target, it sends this
    /// message back to the original requester to confirm the target is alive.
    /// `target` is the peer that responded to the probe, `requester` is the original requester.
    AckResponse {
        /// The peer that responded to the indirect probe
        target: PeerId,
        /// The original requester of the indirect probe
        requester: PeerId,
    },
}

/// Active random walk length for JOIN (per HyParView paper)
pub const ACTIVE_RANDOM_WALK_LENGTH: usize = 6;
/// Passive random walk length for SHUFFLE (per HyParView paper)
pub const PASSIVE_RANDOM_WALK_LENGTH: usize = 3;
/// Number of peers to include in shuffle from active view
pub const SHUFFLE_ACTIVE_SIZE: usize = 3;
/// Number of peers to include in shuffle from passive view
pub const SHUFFLE_PASSIVE_SIZE: usize = 4;

/// Most JOIN attempts per seed address. One attempt is one
/// [`GossipTransport::dial_bootstrap`].
pub const JOIN_MAX_ATTEMPTS: usize = 10;
/// Backoff after the first failed JOIN dial to a seed, in milliseconds.
pub const JOIN_INITIAL_DELAY_MS: u64 = 100;
/// Largest JOIN backoff, in milliseconds. The backoff doubles after each
/// failed dial up to this value.
pub const JOIN_MAX_DELAY_MS: u64 = 30_000;

/// The JOIN retry state of each seed address: the attempts used and the
/// current backoff delay.
///
/// [`Membership::join`] uses one fresh state for each entry of its seed
/// list. A caller that drives the JOIN step by step
/// ([`HyParViewMembership::join_dial`], [`HyParViewMembership::join_send`])
/// keeps one ledger for its whole join. Then a seed keeps its attempts, its
/// backoff and its loss cooldown when the caller turns to another seed and
/// back, and a seed that has used its attempts stays exhausted.
///
/// A seed has two independent delays:
/// - the dial backoff, which grows only after a failed dial (as in
///   [`Membership::join`]);
/// - the loss cooldown ([`Self::record_loss`]), which grows each time the
///   caller reports that the peer which answered the dial lost its
///   connection before the JOIN frame could go out. Answered dials do not
///   reset it.
///
/// [`Self::ready_at`] is the later of the two readiness times; the delays
/// are not added. [`HyParViewMembership::join_dial`] makes no dial before
/// it.
#[derive(Debug, Clone, Default)]
pub struct JoinLedger {
    seeds: HashMap<std::net::SocketAddr, JoinSeedState>,
}

/// The JOIN retry state of one seed address.
#[derive(Debug, Clone, Copy)]
struct JoinSeedState {
    attempts: usize,
    delay_ms: u64,
    loss_delay_ms: u64,
    ready_at: Option<tokio::time::Instant>,
}

impl Default for JoinSeedState {
    fn default() -> Self {
        Self {
            attempts: 0,
            delay_ms: JOIN_INITIAL_DELAY_MS,
            loss_delay_ms: JOIN_INITIAL_DELAY_MS,
            ready_at: None,
        }
    }
}

/// The JOIN jitter for a delay of `delay_ms` (at least
/// [`JOIN_INITIAL_DELAY_MS`]): a random value below `delay_ms / 4`, minus
/// `delay_ms / 8`, at least zero.
fn join_jitter_ms(delay_ms: u64) -> u64 {
    (rand::random::<u64>() % (delay_ms / 4)).saturating_sub(delay_ms / 8)
}

impl JoinLedger {
    /// An empty ledger: every seed has all its attempts.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// JOIN attempts already made on `seed`.
    #[must_use]
    pub fn attempts(&self, seed: std::net::SocketAddr) -> usize {
        self.seeds.get(&seed).map_or(0, |state| state.attempts)
    }

    /// `true` when `seed` has used all [`JOIN_MAX_ATTEMPTS`] attempts.
    #[must_use]
    pub fn is_exhausted(&self, seed: std::net::SocketAddr) -> bool {
        self.attempts(seed) >= JOIN_MAX_ATTEMPTS
    }

    /// The backoff that the next failed dial to `seed` waits, before
    /// jitter, in milliseconds.
    #[must_use]
    pub fn delay_ms(&self, seed: std::net::SocketAddr) -> u64 {
        self.seeds
            .get(&seed)
            .map_or(JOIN_INITIAL_DELAY_MS, |state| state.delay_ms)
    }

    /// The cooldown that the next [`Self::record_loss`] on `seed` starts,
    /// before jitter, in milliseconds.
    #[must_use]
    pub fn loss_delay_ms(&self, seed: std::net::SocketAddr) -> u64 {
        self.seeds
            .get(&seed)
            .map_or(JOIN_INITIAL_DELAY_MS, |state| state.loss_delay_ms)
    }

    /// The earliest time for the next attempt on `seed`: the later of the
    /// dial backoff and the loss cooldown. `None`: at once.
    #[must_use]
    pub fn ready_at(&self, seed: std::net::SocketAddr) -> Option<tokio::time::Instant> {
        self.seeds.get(&seed).and_then(|state| state.ready_at)
    }

    /// Record that the peer which answered the last dial to `seed` lost its
    /// connection before the JOIN frame could go out (for example, the
    /// remote closed it at once). This starts the seed's loss cooldown:
    /// [`JOIN_INITIAL_DELAY_MS`], doubled after each loss up to
    /// [`JOIN_MAX_DELAY_MS`], plus the JOIN jitter. Answered dials do not
    /// reset it, and it does not change the dial backoff or the attempts.
    ///
    /// Returns the new [`Self::ready_at`] of `seed`: the later of its
    /// current readiness and the end of the cooldown.
    pub fn record_loss(&mut self, seed: std::net::SocketAddr) -> tokio::time::Instant {
        let state = self.seeds.entry(seed).or_default();
        let delay_ms = state.loss_delay_ms;
        let cooldown = Duration::from_millis(delay_ms + join_jitter_ms(delay_ms));
        state.loss_delay_ms = (delay_ms * 2).min(JOIN_MAX_DELAY_MS);
        let loss_ready = tokio::time::Instant::now() + cooldown;
        let ready = state
            .ready_at
            .map_or(loss_ready, |current| current.max(loss_ready));
        state.ready_at = Some(ready);
        debug!(
            seed = %seed,
            delay_ms = delay_ms,
            "JOIN: Seed lost its connection after the dial, cooling down"
        );
        ready
    }
}

/// The result of one JOIN dial ([`HyParViewMembership::join_dial`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinDial {
    /// The seed answered as this peer. The attempt continues with
    /// [`HyParViewMembership::join_send`]. The caller may instead end the
    /// attempt here without a JOIN frame; the attempt still counts, and the
    /// backoff does not change.
    Answered(PeerId),
    /// The dial failed. Wait `retry_after` (the backoff plus jitter) before
    /// the next attempt on this seed. Only a failed dial grows the backoff.
    Failed {
        /// The time to wait before the next attempt on this seed.
        retry_after: Duration,
        /// `true` when this was the seed's last attempt.
        exhausted: bool,
    },
    /// The seed has used all its attempts. No dial was made.
    Exhausted,
    /// The seed's dial backoff or loss cooldown has not ended
    /// ([`JoinLedger::ready_at`]). No dial was made and no attempt was
    /// used. Try again at `ready_at`, or try another seed meanwhile.
    NotReady {
        /// The earliest time for the next attempt on this seed.
        ready_at: tokio::time::Instant,
    },
}

/// The result of a JOIN send ([`HyParViewMembership::join_send`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinSend {
    /// The JOIN frame was sent and the seed is in the active view.
    Joined,
    /// The JOIN frame could not be sent. The next attempt on this seed may
    /// start at once; the backoff does not change.
    SendFailed,
}

/// HyParView neighbor priority
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NeighborPriority {
    /// High priority - accepting node has empty active view
    High,
    /// Low priority - normal neighbor request
    Low,
}

/// HyParView protocol messages
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum HyParViewMessage {
    /// Join request from new node
    Join {
        /// The peer ID of the joining node
        sender: PeerId,
        /// Time-to-live for random walk
        ttl: usize,
    },
    /// ForwardJoin - forwarded join request
    ForwardJoin {
        /// Original sender who forwarded
        sender: PeerId,
        /// The new peer trying to join
        new_peer: PeerId,
        /// Remaining TTL for random walk
        ttl: usize,
    },
    /// Neighbor request
    Neighbor {
        /// Sender's peer ID
        sender: PeerId,
        /// Priority of the request
        priority: NeighborPriority,
    },
    /// Response to Neighbor request
    NeighborReply {
        /// Whether the request was accepted
        accepted: bool,
    },
    /// Shuffle request with peer list
    Shuffle {
        /// Sender's peer ID
        sender: PeerId,
        /// List of peers to exchange
        peers: Vec<PeerId>,
        /// Remaining TTL for random walk
        ttl: usize,
    },
    /// Response to Shuffle request
    ShuffleReply {
        /// List of peers in response
        peers: Vec<PeerId>,
    },
    /// Disconnect notification
    Disconnect,
}

/// Unified membership protocol message wrapper
///
/// Both HyParView and SWIM messages are sent on the `Membership` stream type.
/// This wrapper provides a single dispatch point for all membership messages,
/// allowing the receiver to route to the appropriate handler.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum MembershipProtocolMessage {
    /// HyParView protocol message for partial view management
    HyParView(HyParViewMessage),
    /// SWIM protocol message for failure detection
    Swim(SwimMessage),
}

/// x0x patch: drops a frame whose `named` peer is not `expected` (the
/// transport-authenticated sender, or this node for a reply addressed to it).
fn bind_sender(kind: &str, named: PeerId, expected: PeerId) -> Result<()> {
    if named == expected {
        Ok(())
    } else {
        Err(anyhow!("{kind} names {named}, expected {expected}; dropped"))
    }
}

/// Membership management trait
#[async_trait::async_trait]
pub trait Membership: Send + Sync {
    /// Join the overlay network with seed peers
    async fn join(&self, seeds: Vec<String>) -> Result<()>;

    /// Get the active view (peers for routing)
    fn active_view(&self) -> Vec<PeerId>;

    /// Get the passive view (peers for healing)
    fn passive_view(&self) -> Vec<PeerId>;

    /// Add a peer to the active view
    async fn add_active(&self, peer: PeerId) -> Result<()>;

    /// Remove a peer from the active view
    async fn remove_active(&self, peer: PeerId) -> Result<()>;

    /// Promote a peer from passive to active view
    async fn promote(&self, peer: PeerId) -> Result<()>;
}

/// Peer state for SWIM failure detection
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    /// Peer is alive and responding
    Alive,
    /// Peer is suspected of failure
    Suspect,
    /// Peer is confirmed dead
    Dead,
}

/// SWIM peer entry with timestamp
#[derive(Clone, Debug)]
struct SwimPeerEntry {
    state: PeerState,
    last_update: Instant,
}

/// SWIM failure detector
pub struct SwimDetector<T: GossipTransport + 'static> {
    /// Local peer ID
    self_peer_id: PeerId,
    /// Peer states with timestamps
    states: Arc<RwLock<HashMap<PeerId, SwimPeerEntry>>>,
    /// Pending probes with timestamps for timeout detection
    pending_probes: Arc<RwLock<HashMap<PeerId, Instant>>>,
    /// Pending indirect probes keyed by (target, original requester).
    pending_indirect_probes: Arc<RwLock<HashMap<(PeerId, PeerId), Instant>>>,
    /// x0x patch: PING-REQs this node sent, keyed by (target, helper asked);
    /// only those helpers' ACK-RESPONSEs count.
    asked_indirect: Arc<RwLock<HashMap<(PeerId, PeerId), Instant>>>,
    /// Probe period
    probe_period: Duration,
    /// Suspect timeout
    suspect_timeout: Duration,
    /// Number of peers to probe per interval
    probe_fanout: usize,
    /// Transport layer for sending probes
    transport: Arc<T>,
    /// x0x patch: woken when a peer becomes Suspect or Dead, so a watcher
    /// reports it at once instead of at its next poll.
    state_changed: Arc<tokio::sync::Notify>,
    /// x0x patch: probe periods run so far, and the period in which each
    /// live peer was last probed directly (so tests can count probes).
    probe_rounds: Arc<std::sync::atomic::AtomicU64>,
    last_probed: Arc<RwLock<HashMap<PeerId, u64>>>,
}

impl<T: GossipTransport + 'static> SwimDetector<T> {
    /// Create a new SWIM detector
    pub fn new(
        self_peer_id: PeerId,
        probe_period: u64,
        suspect_timeout: u64,
        probe_fanout: usize,
        transport: Arc<T>,
    ) -> Self {
        Self::with_timing(
            self_peer_id,
            Duration::from_secs(probe_period),
            Duration::from_secs(suspect_timeout),
            probe_fanout,
            transport,
        )
    }

    /// Create a SWIM detector with sub-second probe period and suspect
    /// timeout (x0x patch: upstream only takes whole seconds).
    pub fn with_timing(
        self_peer_id: PeerId,
        probe_period: Duration,
        suspect_timeout: Duration,
        probe_fanout: usize,
        transport: Arc<T>,
    ) -> Self {
        let detector = Self {
            self_peer_id,
            states: Arc::new(RwLock::new(HashMap::new())),
            pending_probes: Arc::new(RwLock::new(HashMap::new())),
            pending_indirect_probes: Arc::new(RwLock::new(HashMap::new())),
            asked_indirect: Arc::new(RwLock::new(HashMap::new())),
            probe_period,
            suspect_timeout,
            probe_fanout,
            transport,
            state_changed: Arc::new(tokio::sync::Notify::new()),
            probe_rounds: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            last_probed: Arc::new(RwLock::new(HashMap::new())),
        };

        // Start background probing task
        detector.spawn_probe_task();
        detector.spawn_suspect_timeout_task();
        detector.spawn_probe_timeout_task();

        detector
    }

    /// Mark a peer as alive
    pub async fn mark_alive(&self, peer: PeerId) {
        let mut states = self.states.write().await;
        Self::set_alive(&mut states, peer);
    }

    /// Mark `peer` alive in a state table that the caller has locked.
    fn set_alive(states: &mut HashMap<PeerId, SwimPeerEntry>, peer: PeerId) {
        states.insert(
            peer,
            SwimPeerEntry {
                state: PeerState::Alive,
                last_update: Instant::now(),
            },
        );
        trace!(peer_id = %peer, "SWIM: Marked peer as alive");
    }

    /// Mark a peer as suspect
    pub async fn mark_suspect(&self, peer: PeerId) {
        let mut states = self.states.write().await;
        if let Some(entry) = states.get_mut(&peer) {
            if entry.state == PeerState::Alive {
                entry.state = PeerState::Suspect;
                entry.last_update = Instant::now();
                debug!(peer_id = %peer, "SWIM: Marked peer as suspect");
                self.state_changed.notify_one();
            }
        }
    }

    /// Mark a peer as dead
    pub async fn mark_dead(&self, peer: PeerId) {
        let mut states = self.states.write().await;
        states.insert(
            peer,
            SwimPeerEntry {
                state: PeerState::Dead,
                last_update: Instant::now(),
            },
        );
        warn!(peer_id = %LogPeerId::from(peer), "SWIM: Marked peer as dead");
        self.state_changed.notify_one();
    }

    /// x0x patch: notified (one permit, kept until taken) whenever a peer
    /// becomes Suspect or Dead.
    pub fn state_changes(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.state_changed)
    }

    /// x0x patch: probe periods that have run.
    pub fn probe_rounds(&self) -> u64 {
        self.probe_rounds.load(std::sync::atomic::Ordering::Acquire)
    }

    /// x0x patch: the probe period (counted from 1) in which `peer` was
    /// last probed directly, if it has been since it was last alive.
    pub async fn last_probe_round(&self, peer: &PeerId) -> Option<u64> {
        self.last_probed.read().await.get(peer).copied()
    }

    /// Get the state of a peer
    pub async fn get_state(&self, peer: &PeerId) -> Option<PeerState> {
        let states = self.states.read().await;
        states.get(peer).map(|entry| entry.state)
    }

    /// x0x patch: whether SWIM has declared `peer` dead (and nothing has
    /// been heard from it since).
    pub async fn is_dead(&self, peer: &PeerId) -> bool {
        self.states.read().await.get(peer).is_some_and(|e| e.state == PeerState::Dead)
    }

    /// x0x patch: whether SWIM suspects `peer` or has declared it dead.
    pub async fn is_failing(&self, peer: &PeerId) -> bool {
        self.states.read().await.get(peer).is_some_and(|e| e.state != PeerState::Alive)
    }

    /// Get all peers in a specific state
    pub async fn get_peers_in_state(&self, state: PeerState) -> Vec<PeerId> {
        let states = self.states.read().await;
        states
            .iter()
            .filter(|(_, entry)| entry.state == state)
            .map(|(peer, _)| *peer)
            .collect()
    }

    /// Remove a peer from tracking
    pub async fn remove_peer(&self, peer: &PeerId) {
        let mut states = self.states.write().await;
        states.remove(peer);
    }

    /// Get the probe period
    pub fn probe_period(&self) -> u64 {
        self.probe_period.as_secs()
    }

    /// Get the probe period with full precision (x0x patch).
    pub fn probe_period_duration(&self) -> Duration {
        self.probe_period
    }

    /// Get the suspect timeout with full precision (x0x patch).
    pub fn suspect_timeout_duration(&self) -> Duration {
        self.suspect_timeout
    }

    /// Get the suspect timeout
    pub fn suspect_timeout(&self) -> u64 {
        self.suspect_timeout.as_secs()
    }

    /// Get the probe fanout
    pub fn probe_fanout(&self) -> usize {
        self.probe_fanout
    }

    /// Record a probe sent to a peer for timeout tracking
    ///
    /// This method tracks when a probe was sent to enable timeout detection.
    /// If the peer doesn't respond within the probe period, it can be marked as suspect.
    pub async fn record_probe(&self, peer: PeerId) {
        let mut pending = self.pending_probes.write().await;
        pending.insert(peer, Instant::now());
        trace!(peer_id = %peer, "SWIM: Recorded pending probe");
    }

    /// Clear a pending probe for a peer
    ///
    /// Called when an ack is received from a peer, indicating the probe succeeded.
    /// Also used to clear timed-out probes before triggering indirect probing.
    pub async fn clear_probe(&self, peer: &PeerId) -> bool {
        let mut pending = self.pending_probes.write().await;
        let was_present = pending.remove(peer).is_some();
        if was_present {
            trace!(peer_id = %peer, "SWIM: Cleared pending probe");
        }
        was_present
    }

    /// Handle incoming Ping message and respond with Ack
    ///
    /// Marks the sender as alive (they're clearly responsive) and sends back an Ack message.
    pub async fn handle_ping(&self, sender: PeerId) -> Result<()> {
        // Mark sender as alive - they sent us a ping, so they're responding
        self.mark_alive(sender).await;
        trace!(peer_id = %sender, "SWIM: Received Ping, sending Ack");

        // Serialize and send Ack response wrapped in MembershipProtocolMessage
        let wrapped = MembershipProtocolMessage::Swim(SwimMessage::Ack);
        let bytes = postcard::to_stdvec(&wrapped)
            .map_err(|e| anyhow!("Failed to serialize Ack message: {}", e))?;

        self.transport
            .send_to_peer(sender, GossipStreamType::Membership, bytes.into())
            .await?;

        trace!(peer_id = %sender, "SWIM: Ack sent successfully");
        Ok(())
    }

    /// Handle incoming Ack message
    ///
    /// Marks the sender as alive and clears any pending probe for this peer.
    pub async fn handle_ack(&self, sender: PeerId) -> Result<()> {
        // Clear the pending probe first, then mark the sender alive (it
        // responded to our ping). The probe-timeout task re-checks the probe
        // while it holds the state lock, so this ACK is either seen by that
        // re-check or marks the sender alive after the timeout's write.
        let was_pending = self.clear_probe(&sender).await;
        self.mark_alive(sender).await;
        let indirect_requesters = self.take_indirect_probe_requesters(sender).await;

        if was_pending {
            trace!(peer_id = %sender, "SWIM: Received Ack, cleared pending probe");
        } else {
            trace!(peer_id = %sender, "SWIM: Received Ack (no pending probe)");
        }

        for requester in indirect_requesters {
            let wrapped = MembershipProtocolMessage::Swim(SwimMessage::AckResponse {
                target: sender,
                requester,
            });
            let bytes = postcard::to_stdvec(&wrapped)
                .map_err(|e| anyhow!("Failed to serialize AckResponse message: {}", e))?;

            self.transport
                .send_to_peer(requester, GossipStreamType::Membership, bytes.into())
                .await?;

            trace!(
                requester = %requester,
                target = %sender,
                "SWIM: Forwarded indirect AckResponse"
            );
        }

        Ok(())
    }

    /// Request indirect probes for a target peer from K random alive peers
    pub async fn request_indirect_probes(&self, target: PeerId) -> Result<()> {
        let states = self.states.read().await;
        let alive_peers: Vec<PeerId> = states
            .iter()
            .filter(|(peer, entry)| {
                entry.state == PeerState::Alive && **peer != target && **peer != self.self_peer_id
            })
            .map(|(peer, _)| *peer)
            .collect();
        drop(states);

        if alive_peers.is_empty() {
            debug!(target = %target, "SWIM: No alive peers for indirect probes");
            return Ok(());
        }

        // Select K random alive peers for indirect probing
        let probe_count = SWIM_INDIRECT_PROBE_FANOUT.min(alive_peers.len());
        let peers_to_ask: Vec<PeerId> = {
            use rand::seq::SliceRandom;
            let mut rng = rand::rngs::StdRng::from_entropy();
            alive_peers
                .choose_multiple(&mut rng, probe_count)
                .copied()
                .collect()
        };

        debug!(
            target = %target,
            indirect_probers = ?peers_to_ask,
            "SWIM: Requesting indirect probes"
        );

        // Send PingReq to each selected peer
        for peer in peers_to_ask {
            self.asked_indirect
                .write()
                .await
                .insert((target, peer), Instant::now());
            let wrapped = MembershipProtocolMessage::Swim(SwimMessage::PingReq {
                target,
                requester: self.self_peer_id,
            });
            match postcard::to_stdvec(&wrapped) {
                Ok(bytes) => {
                    if let Err(e) = self
                        .transport
                        .send_to_peer(peer, GossipStreamType::Membership, bytes.into())
                        .await
                    {
                        debug!(?e, peer_id = %peer, "SWIM: PingReq send failed");
                    }
                }
                Err(e) => {
                    warn!(?e, "SWIM: PingReq message serialization failed");
                }
            }
        }

        Ok(())
    }

    /// Handle incoming PingReq message - probe target on behalf of requester
    pub async fn handle_ping_req(&self, requester: PeerId, target: PeerId) -> Result<()> {
        trace!(
            requester = %requester,
            target = %target,
            "SWIM: Received PingReq, probing target"
        );

        self.record_indirect_probe_request(requester, target).await;

        // Send Ping to target wrapped in MembershipProtocolMessage
        let wrapped = MembershipProtocolMessage::Swim(SwimMessage::Ping);
        let bytes = postcard::to_stdvec(&wrapped)
            .map_err(|e| anyhow!("Failed to serialize Ping message: {}", e))?;

        if let Err(err) = self
            .transport
            .send_to_peer(target, GossipStreamType::Membership, bytes.into())
            .await
        {
            self.clear_indirect_probe_request(requester, target).await;
            return Err(err);
        }

        trace!(target = %target, "SWIM: Indirect probe Ping sent to target");
        Ok(())
    }

    async fn record_indirect_probe_request(&self, requester: PeerId, target: PeerId) {
        let now = Instant::now();
        let mut pending = self.pending_indirect_probes.write().await;
        pending.retain(|_, requested_at| {
            now.duration_since(*requested_at) < Duration::from_millis(SWIM_ACK_TIMEOUT_MS)
        });
        pending.insert((target, requester), now);
    }

    async fn clear_indirect_probe_request(&self, requester: PeerId, target: PeerId) {
        let mut pending = self.pending_indirect_probes.write().await;
        pending.remove(&(target, requester));
    }

    async fn take_indirect_probe_requesters(&self, target: PeerId) -> Vec<PeerId> {
        let now = Instant::now();
        let mut requesters = Vec::new();
        let mut pending = self.pending_indirect_probes.write().await;

        pending.retain(|(pending_target, requester), requested_at| {
            let is_expired =
                now.duration_since(*requested_at) >= Duration::from_millis(SWIM_ACK_TIMEOUT_MS);
            if *pending_target == target {
                if !is_expired {
                    requesters.push(*requester);
                }
                false
            } else {
                !is_expired
            }
        });

        requesters
    }

    /// Handle an AckResponse from `helper` (x0x patch): it counts only if
    /// this node asked `helper` to probe `target` and has not yet had its
    /// answer; anything else is dropped, so no peer can keep a dead one
    /// alive or put an unknown id in the state table.
    pub async fn handle_ack_response_from(&self, helper: PeerId, target: PeerId) -> Result<()> {
        if self
            .asked_indirect
            .write()
            .await
            .remove(&(target, helper))
            .is_none()
        {
            return Err(anyhow!(
                "ACK-RESPONSE for {target} from {helper}, who was not asked; dropped"
            ));
        }
        self.handle_ack_response(target).await
    }

    /// Handle incoming AckResponse message from indirect probe
    pub async fn handle_ack_response(&self, target: PeerId) -> Result<()> {
        trace!(
            target = %target,
            "SWIM: Received AckResponse, marking target as alive"
        );

        // Clear any pending probe for this target, then mark it alive
        // (overrides suspect). The order is the same as in `handle_ack`.
        self.clear_probe(&target).await;
        self.mark_alive(target).await;

        Ok(())
    }

    /// Spawn background task to check for probe timeouts
    fn spawn_probe_timeout_task(&self) {
        let pending_probes = self.pending_probes.clone();
        let states = self.states.clone();
        let self_peer_id = self.self_peer_id;
        let transport = self.transport.clone();
        let asked_indirect = self.asked_indirect.clone();
        let ask_ttl = self.suspect_timeout.max(Duration::from_millis(SWIM_ACK_TIMEOUT_MS));
        let state_changed = self.state_changed.clone();

        tokio::spawn(async move {
            // Delay first tick by one scan so the timeout scan does not fire
            // at startup before any probe has been recorded (see #9 —
            // background tasks racing test setup). x0x patch: scan every
            // SWIM_TIMEOUT_SCAN_MS, so a probe times out within 100 ms of
            // SWIM_ACK_TIMEOUT_MS rather than within 500.
            let period = Duration::from_millis(SWIM_TIMEOUT_SCAN_MS);
            let mut interval = time::interval_at(time::Instant::now() + period, period);

            loop {
                interval.tick().await;

                let now = Instant::now();
                let mut timed_out_peers = Vec::new();
                // x0x patch: a PING-REQ unanswered within the suspect
                // timeout can no longer vouch for its target.
                asked_indirect
                    .write()
                    .await
                    .retain(|_, asked_at| now.duration_since(*asked_at) < ask_ttl);

                // Find probes that have timed out
                {
                    let pending = pending_probes.read().await;
                    for (peer, probe_time) in pending.iter() {
                        let elapsed = now.duration_since(*probe_time);
                        if elapsed >= Duration::from_millis(SWIM_ACK_TIMEOUT_MS) {
                            timed_out_peers.push((*peer, *probe_time));
                        }
                    }
                }

                // For each timed-out peer: mark as suspect and trigger indirect probes
                for (peer, probe_time) in timed_out_peers {
                    // Mark as suspect
                    {
                        // An ACK can have arrived after the scan. Take the
                        // probe table (read), then the state lock, and check
                        // that the same probe is still pending. An ACK clears
                        // the probe before it marks the peer alive, so an
                        // ACK that cleared it after the scan is seen here,
                        // and a later ACK waits for this read and marks the
                        // peer alive after this write. Both waits are fair,
                        // so busy writers can delay the re-check but not skip
                        // it. Order probe table -> state: no path holds the
                        // state lock while it waits for the probe table.
                        let pending = pending_probes.read().await;
                        let mut states_guard = states.write().await;
                        if pending.get(&peer) != Some(&probe_time) {
                            trace!(peer_id = %peer, "SWIM: Probe answered after the timeout scan");
                            continue;
                        }
                        debug!(peer_id = %peer, "SWIM: Probe timeout, marking suspect");
                        if let Some(entry) = states_guard.get_mut(&peer) {
                            if entry.state == PeerState::Alive {
                                entry.state = PeerState::Suspect;
                                entry.last_update = now;
                                state_changed.notify_one();
                            }
                        }
                    }

                    // Clear the timed-out probe
                    {
                        let mut pending = pending_probes.write().await;
                        pending.remove(&peer);
                    }

                    // Request indirect probes
                    let states_read = states.read().await;
                    let alive_peers: Vec<PeerId> = states_read
                        .iter()
                        .filter(|(p, entry)| {
                            entry.state == PeerState::Alive && **p != peer && **p != self_peer_id
                        })
                        .map(|(p, _)| *p)
                        .collect();
                    drop(states_read);

                    if !alive_peers.is_empty() {
                        use rand::seq::SliceRandom;
                        let probe_count = SWIM_INDIRECT_PROBE_FANOUT.min(alive_peers.len());
                        let peers_to_ask: Vec<PeerId> = {
                            let mut rng = rand::rngs::StdRng::from_entropy();
                            alive_peers
                                .choose_multiple(&mut rng, probe_count)
                                .copied()
                                .collect()
                        };

                        debug!(
                            target = %peer,
                            indirect_probers = ?peers_to_ask,
                            "SWIM: Requesting indirect probes after timeout"
                        );

                        for indirect_peer in peers_to_ask {
                            asked_indirect
                                .write()
                                .await
                                .insert((peer, indirect_peer), Instant::now());
                            let wrapped = MembershipProtocolMessage::Swim(SwimMessage::PingReq {
                                target: peer,
                                requester: self_peer_id,
                            });
                            match postcard::to_stdvec(&wrapped) {
                                Ok(bytes) => send_detached(&transport, indirect_peer, bytes, "PingReq"),
                                Err(e) => {
                                    warn!(?e, "SWIM: PingReq message serialization failed");
                                }
                            }
                        }
                    }
                }
            }
        });
    }

    /// Spawn background task to probe random peers
    fn spawn_probe_task(&self) {
        let states = self.states.clone();
        let pending_probes = self.pending_probes.clone();
        let probe_period = self.probe_period;
        let probe_fanout = self.probe_fanout;
        let transport = self.transport.clone();
        let probe_rounds = self.probe_rounds.clone();
        let last_probed = self.last_probed.clone();

        tokio::spawn(async move {
            let mut schedule = ProbeSchedule::default();
            // Delay the first tick by `probe_period` so the background probe
            // task does not fire at startup before any peers are known. This
            // also closes a proptest race (#9) where the immediate first tick
            // could insert a peer into `pending_probes` between a test's
            // `mark_alive` and `clear_probe`, violating the `handle_ack`
            // postcondition `!pending.contains_key(peer)`.
            let period = probe_period;
            let mut interval = time::interval_at(time::Instant::now() + period, period);

            loop {
                interval.tick().await;

                let states_guard = states.read().await;
                let alive_peers: Vec<PeerId> = states_guard
                    .iter()
                    .filter(|(_, entry)| entry.state == PeerState::Alive)
                    .map(|(peer, _)| *peer)
                    .collect();
                drop(states_guard);

                if alive_peers.is_empty() {
                    continue;
                }

                // x0x patch: round-robin (ProbeSchedule) instead of a random
                // pick of probe_fanout peers. StdRng::from_entropy() rather
                // than thread_rng() to be Send-safe.
                let peers_to_probe = {
                    let mut rng = rand::rngs::StdRng::from_entropy();
                    schedule.next(&alive_peers, probe_fanout, &mut rng)
                };
                // The log first, then the count, so a reader that sees round
                // r also sees whom round r probed.
                let round = probe_rounds.load(std::sync::atomic::Ordering::Acquire) + 1;
                {
                    let mut last = last_probed.write().await;
                    last.retain(|p, _| alive_peers.contains(p));
                    for peer in &peers_to_probe {
                        last.insert(*peer, round);
                    }
                }
                probe_rounds.store(round, std::sync::atomic::Ordering::Release);

                debug!(
                    probe_count = peers_to_probe.len(),
                    "SWIM: Probing multiple peers"
                );

                for peer in peers_to_probe {
                    // Record probe for timeout tracking (don't overwrite existing pending probes)
                    {
                        let mut pending = pending_probes.write().await;
                        pending.entry(peer).or_insert_with(Instant::now);
                    }

                    // Send PING to peer via transport wrapped in MembershipProtocolMessage
                    trace!(peer_id = %peer, "SWIM: Probing peer");
                    let wrapped = MembershipProtocolMessage::Swim(SwimMessage::Ping);
                    match postcard::to_stdvec(&wrapped) {
                        Ok(bytes) => send_detached(&transport, peer, bytes, "Probe"),
                        Err(e) => {
                            warn!(?e, "SWIM: Ping message serialization failed");
                        }
                    }
                }
            }
        });
    }

    /// Spawn background task to check suspect timeouts
    fn spawn_suspect_timeout_task(&self) {
        let states = self.states.clone();
        let suspect_timeout = self.suspect_timeout;
        let state_changed = self.state_changed.clone();
        // x0x patch: scan every SWIM_TIMEOUT_SCAN_MS (at most once a probe
        // period) so a suspect is declared dead within 100 ms of its
        // timeout; a scan once a period made `peer-left` up to a period late.
        let scan = self
            .probe_period
            .min(Duration::from_millis(SWIM_TIMEOUT_SCAN_MS));

        tokio::spawn(async move {
            // Delay the first tick by one scan period so the suspect-timeout
            // scan does not fire at startup before any state exists (see #9).
            let period = scan;
            let mut interval = time::interval_at(time::Instant::now() + period, period);

            loop {
                interval.tick().await;

                let mut states_guard = states.write().await;
                let now = Instant::now();

                // Find suspects that have timed out
                let mut to_mark_dead = Vec::new();
                for (peer, entry) in states_guard.iter() {
                    if entry.state == PeerState::Suspect {
                        let elapsed = now.duration_since(entry.last_update);
                        if elapsed > suspect_timeout {
                            to_mark_dead.push(*peer);
                        }
                    }
                }

                // Mark timed-out suspects as dead
                for peer in to_mark_dead {
                    states_guard.insert(
                        peer,
                        SwimPeerEntry {
                            state: PeerState::Dead,
                            last_update: now,
                        },
                    );
                    warn!(peer_id = %LogPeerId::from(peer), "SWIM: Suspect timeout → marked dead");
                    state_changed.notify_one();
                }
            }
        });
    }
}

/// X0X-0069: bridge SWIM peer-state into the pub-sub layer via the
/// `PeerHealthOracle` trait so per-topic send-path cooling can consult
/// global SWIM health before committing to a 2-minute cooldown.
///
/// `health_of` maps the membership crate's `PeerState` (Alive / Suspect
/// / Dead) onto the types crate's `PeerHealth` enum without exposing
/// the membership-internal `SwimPeerEntry` shape. `request_indirect_probe`
/// delegates to the existing `request_indirect_probes` async path; we
/// swallow errors because the oracle contract is best-effort (pub-sub
/// has its own fallback path if SWIM declines to probe).
#[async_trait::async_trait]
impl<T: GossipTransport + 'static> PeerHealthOracle for SwimDetector<T> {
    async fn health_of(&self, peer: &PeerId) -> Option<PeerHealth> {
        self.get_state(peer).await.map(|state| match state {
            PeerState::Alive => PeerHealth::Alive,
            PeerState::Suspect => PeerHealth::Suspect,
            PeerState::Dead => PeerHealth::Dead,
        })
    }

    async fn request_indirect_probe(&self, target: PeerId) {
        if let Err(err) = self.request_indirect_probes(target).await {
            debug!(
                target = %target,
                error = %err,
                "SWIM: indirect-probe request failed; pub-sub falls back to local cooling"
            );
        }
    }
}

/// Configuration for HyParView membership protocol.
///
/// Controls view sizes, shuffle parameters, and adaptive degree bounds.
/// Use `Default::default()` for standard HyParView parameters.
#[derive(Debug, Clone)]
pub struct MembershipConfig {
    /// Target active view size (default: 8)
    pub active_degree: usize,
    /// Maximum active view size (default: 12)
    pub max_active_degree: usize,
    /// Maximum passive view size (default: 128)
    pub max_passive_degree: usize,
    /// Shuffle period (default: 30s)
    pub shuffle_period: Duration,
    /// Peers from active view included in shuffle (default: 3)
    pub shuffle_active_size: usize,
    /// Peers from passive view included in shuffle (default: 4)
    pub shuffle_passive_size: usize,
    /// Enable adaptive degree scaling based on network size (default: true)
    pub adaptive_enabled: bool,
}

impl Default for MembershipConfig {
    fn default() -> Self {
        Self {
            active_degree: DEFAULT_ACTIVE_DEGREE,
            max_active_degree: MAX_ACTIVE_DEGREE,
            max_passive_degree: MAX_PASSIVE_DEGREE,
            shuffle_period: Duration::from_secs(SHUFFLE_PERIOD_SECS),
            shuffle_active_size: SHUFFLE_ACTIVE_SIZE,
            shuffle_passive_size: SHUFFLE_PASSIVE_SIZE,
            adaptive_enabled: true,
        }
    }
}

impl MembershipConfig {
    /// Set the target active view degree.
    #[must_use]
    pub fn with_active_degree(mut self, degree: usize) -> Self {
        self.active_degree = degree;
        self
    }

    /// Set the maximum active view degree.
    #[must_use]
    pub fn with_max_active_degree(mut self, degree: usize) -> Self {
        self.max_active_degree = degree;
        self
    }

    /// Set the maximum passive view degree.
    #[must_use]
    pub fn with_max_passive_degree(mut self, degree: usize) -> Self {
        self.max_passive_degree = degree;
        self
    }

    /// Set the shuffle period.
    #[must_use]
    pub fn with_shuffle_period(mut self, period: Duration) -> Self {
        self.shuffle_period = period;
        self
    }

    /// Set the number of active peers included in shuffles.
    #[must_use]
    pub fn with_shuffle_active_size(mut self, size: usize) -> Self {
        self.shuffle_active_size = size;
        self
    }

    /// Set the number of passive peers included in shuffles.
    #[must_use]
    pub fn with_shuffle_passive_size(mut self, size: usize) -> Self {
        self.shuffle_passive_size = size;
        self
    }

    /// Enable or disable adaptive degree scaling.
    #[must_use]
    pub fn with_adaptive_enabled(mut self, enabled: bool) -> Self {
        self.adaptive_enabled = enabled;
        self
    }
}

/// HyParView membership implementation
pub struct HyParViewMembership<T: GossipTransport + 'static> {
    /// Local peer ID
    local_peer_id: PeerId,
    /// Active view (for routing)
    active: Arc<RwLock<HashSet<PeerId>>>,
    /// Passive view (for healing)
    passive: Arc<RwLock<HashSet<PeerId>>>,
    /// Peer addresses for connection
    peer_addrs: Arc<RwLock<HashMap<PeerId, std::net::SocketAddr>>>,
    /// SWIM failure detector. Wrapped in `Arc` so consumers (notably
    /// `PlumtreePubSub::with_health_oracle`) can hold a shared reference
    /// without forcing a redesign of HyParView's ownership.
    swim: Arc<SwimDetector<T>>,
    /// Membership configuration
    config: MembershipConfig,
    /// Unique peers seen for network size estimation
    seen_peers: Arc<RwLock<HashMap<PeerId, Instant>>>,
    /// Transport layer for sending messages
    transport: Arc<T>,
    /// Serializes the local commits of `add_active` / `join_send`. Only
    /// commits take it; no reader of the views or of SWIM waits for it.
    commit_gate: tokio::sync::Mutex<()>,
}

/// Busy rounds after which [`HyParViewMembership::commit_active`] stops
/// trying the locks without waiting and waits for them in the fixed order.
const COMMIT_TRY_ROUNDS: usize = 8;

/// The lock that a commit round found busy
/// ([`HyParViewMembership::commit_active`]).
#[derive(Debug, Clone, Copy)]
enum CommitLock {
    Swim,
    Active,
    Passive,
}

impl<T: GossipTransport + 'static> HyParViewMembership<T> {
    /// Create a new HyParView membership manager with the given configuration.
    pub fn new(local_peer_id: PeerId, config: MembershipConfig, transport: Arc<T>) -> Self {
        Self::with_swim_timing(
            local_peer_id,
            config,
            Duration::from_secs(SWIM_PROBE_INTERVAL_SECS),
            Duration::from_secs(SWIM_SUSPECT_TIMEOUT_SECS),
            transport,
        )
    }

    /// Like [`Self::new`], with SWIM's probe period and suspect timeout set
    /// (x0x patch: upstream hardcodes them).
    pub fn with_swim_timing(
        local_peer_id: PeerId,
        config: MembershipConfig,
        probe_period: Duration,
        suspect_timeout: Duration,
        transport: Arc<T>,
    ) -> Self {
        let membership = Self {
            local_peer_id,
            active: Arc::new(RwLock::new(HashSet::new())),
            passive: Arc::new(RwLock::new(HashSet::new())),
            peer_addrs: Arc::new(RwLock::new(HashMap::new())),
            swim: Arc::new(SwimDetector::with_timing(
                local_peer_id,
                probe_period,
                suspect_timeout,
                SWIM_PROBE_FANOUT,
                transport.clone(),
            )),
            config,
            seen_peers: Arc::new(RwLock::new(HashMap::new())),
            transport,
            commit_gate: tokio::sync::Mutex::new(()),
        };

        // Start background shuffle task
        membership.spawn_shuffle_task();
        membership.spawn_degree_maintenance_task();

        membership
    }

    /// Create with explicit degree parameters (convenience for existing callers).
    pub fn with_degrees(
        local_peer_id: PeerId,
        active_degree: usize,
        passive_degree: usize,
        transport: Arc<T>,
    ) -> Self {
        let config = MembershipConfig {
            active_degree,
            max_passive_degree: passive_degree.max(MAX_PASSIVE_DEGREE),
            ..MembershipConfig::default()
        };
        Self::new(local_peer_id, config, transport)
    }

    /// Send a SWIM Ping to a specific peer.
    ///
    /// Used by the application-level keepalive mechanism to prevent QUIC idle
    /// timeout on direct peer connections. The remote peer will respond with Ack,
    /// keeping both directions of the connection alive.
    pub async fn send_ping(&self, target: PeerId) -> Result<()> {
        let wrapped = MembershipProtocolMessage::Swim(SwimMessage::Ping);
        let bytes = postcard::to_stdvec(&wrapped)
            .map_err(|e| anyhow!("Failed to serialize Ping message: {}", e))?;

        self.transport
            .send_to_peer(target, GossipStreamType::Membership, bytes.into())
            .await?;

        Ok(())
    }

    /// Estimate the current network size based on unique peers seen.
    pub async fn estimated_network_size(&self) -> usize {
        let active_count = self.active.read().await.len();
        let passive_count = self.passive.read().await.len();
        let seen = self.seen_peers.read().await;

        // Filter to peers seen in last 5 minutes
        let now = Instant::now();
        let recent_count = seen
            .values()
            .filter(|&&t| now.saturating_duration_since(t) < Duration::from_secs(300))
            .count();

        // Use max of (active + passive + 1) and recent unique peers
        (active_count + passive_count + 1).max(recent_count)
    }

    /// Calculate adaptive active and passive view sizes based on estimated network size.
    ///
    /// Uses logarithmic scaling: `active_degree = clamp(ceil(ln(N) * 2), min, max)`.
    /// Passive degree scales as 8x the active degree, clamped to configured max.
    pub async fn calculate_adaptive_degrees(&self) -> (usize, usize) {
        if !self.config.adaptive_enabled {
            return (self.config.active_degree, self.config.max_passive_degree);
        }

        let n = self.estimated_network_size().await;

        // Logarithmic scaling for active degree
        let ln_n = (n as f64).ln();
        let target_active = (ln_n * 2.0).ceil() as usize;
        let active = target_active.clamp(self.config.active_degree, self.config.max_active_degree);

        // Passive scales as 8x active, clamped
        let target_passive = active * 8;
        let passive = target_passive.clamp(
            self.config.active_degree * 8,
            self.config.max_passive_degree,
        );

        (active, passive)
    }

    /// Get local peer ID
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// Store peer address
    pub async fn store_peer_addr(&self, peer: PeerId, addr: std::net::SocketAddr) {
        let mut addrs = self.peer_addrs.write().await;
        addrs.insert(peer, addr);
    }

    /// Get peer address
    pub async fn get_peer_addr(&self, peer: &PeerId) -> Option<std::net::SocketAddr> {
        let addrs = self.peer_addrs.read().await;
        addrs.get(peer).copied()
    }

    /// Add peer to passive view (without duplicating in active)
    pub async fn add_to_passive(&self, peer: PeerId) {
        if peer == self.local_peer_id {
            return;
        }
        // x0x patch: a peer SWIM declared dead does not come back through a
        // SHUFFLE from a neighbour that has not noticed yet; from the passive
        // view it would be promoted and marked alive again.
        if self.swim.is_dead(&peer).await {
            return;
        }

        let active = self.active.read().await;
        if active.contains(&peer) {
            return;
        }
        drop(active);

        let mut passive = self.passive.write().await;
        if passive.len() < self.config.max_passive_degree {
            passive.insert(peer);
            trace!(peer_id = %peer, "Added to passive view");
        }
    }

    /// Select random peer from active view (excluding specified peer)
    pub async fn random_active_peer_except(&self, exclude: PeerId) -> Option<PeerId> {
        let active = self.active.read().await;
        active.iter().find(|&&p| p != exclude).copied()
    }

    /// Sample random peers from active view
    pub async fn sample_active(&self, count: usize) -> Vec<PeerId> {
        let active = self.active.read().await;
        active.iter().take(count).copied().collect()
    }

    /// Sample random peers from passive view
    pub async fn sample_passive(&self, count: usize) -> Vec<PeerId> {
        let passive = self.passive.read().await;
        passive.iter().take(count).copied().collect()
    }

    /// Send a HyParView message to a peer
    ///
    /// Wraps the message in [`MembershipProtocolMessage::HyParView`] for unified
    /// dispatch on the receiving end, then serializes with postcard and sends
    /// on the Membership stream.
    async fn send_hyparview_message(&self, peer: PeerId, msg: &HyParViewMessage) -> Result<()> {
        let wrapped = MembershipProtocolMessage::HyParView(msg.clone());
        let bytes = postcard::to_stdvec(&wrapped)
            .map_err(|e| anyhow!("Failed to serialize HyParView message: {}", e))?;
        self.transport
            .send_to_peer(peer, GossipStreamType::Membership, bytes.into())
            .await
    }

    /// The first step of one JOIN attempt on `seed`: the dial.
    ///
    /// This is the attempt of [`Membership::join`], split so that a caller
    /// can decide between the dial and the JOIN frame (for example, check
    /// the answered peer's admission). `ledger` holds the seed's attempts
    /// and backoff; keep one ledger for the whole join.
    ///
    /// - [`JoinDial::Exhausted`]: the seed has used [`JOIN_MAX_ATTEMPTS`]
    ///   attempts; no dial is made.
    /// - [`JoinDial::Answered`]: continue with [`Self::join_send`], or end
    ///   the attempt without a JOIN frame.
    /// - [`JoinDial::Failed`]: wait `retry_after` before the next attempt
    ///   on this seed. The backoff doubles (at most [`JOIN_MAX_DELAY_MS`]).
    /// - [`JoinDial::NotReady`]: the seed's backoff or loss cooldown has not
    ///   ended; no dial is made and no attempt is used.
    ///
    /// When the peer that answered loses its connection before the caller
    /// sends the JOIN frame, report it with [`JoinLedger::record_loss`].
    ///
    /// # Cancel safety
    ///
    /// The future can be dropped. The attempt then counts, and the backoff
    /// does not change.
    ///
    /// # Runtime
    ///
    /// `join_dial` spawns no task and starts no timer; it reads
    /// `tokio::time::Instant::now`, which works outside a runtime. The
    /// transport's dial can have its own needs. [`Membership::join`] sleeps
    /// for its backoff after a failed dial with a Tokio timer, as in 0.5.87.
    pub async fn join_dial(&self, ledger: &mut JoinLedger, seed: std::net::SocketAddr) -> JoinDial {
        self.join_dial_labelled(ledger, seed, &seed).await
    }

    /// The second step of one JOIN attempt: store the seed's address, send
    /// the JOIN frame to `peer` (the peer that answered the dial to `seed`),
    /// and add it to the active view, as [`Membership::join`] does.
    ///
    /// # Errors
    ///
    /// Returns the error of [`Membership::add_active`] (the current
    /// implementation returns none). [`Membership::join`] ends the JOIN
    /// with this error.
    ///
    /// # Cancel safety
    ///
    /// The future can be dropped at any point, and a runtime shutdown drops
    /// it in the same way. It never leaves the active view, the passive
    /// view or the SWIM state half updated:
    /// - Until the transport's send returns `Ok`, the only change is the
    ///   stored address. The transport can have sent some or all of the
    ///   frame before a drop, so the seed can have the JOIN.
    /// - Then the local commit (the active-view insert, a demotion to the
    ///   passive view when the active view is full, and the SWIM alive mark)
    ///   takes every lock that it needs before its first change: the SWIM
    ///   state, the active view, and the passive view when a demotion is
    ///   due. After that it does not await, so it makes all its changes in
    ///   the same poll. A drop while it waits for a lock changes nothing:
    ///   the seed can then have the JOIN while this node does not list the
    ///   seed. If a lock never becomes free, the future waits.
    /// - The commit does not hold one of these locks while it waits for
    ///   another. So view contention does not delay SWIM (an ACK or a
    ///   probe-timeout write), and SWIM contention does not hide the views:
    ///   [`Membership::active_view`] returns the committed view while the
    ///   commit waits for the SWIM or the passive-view lock, before the
    ///   fallback below. While it waits for the active-view lock itself,
    ///   Tokio's fair lock reserves the read permits for the waiting writer,
    ///   so `active_view` returns an empty list while other tasks hold the
    ///   lock and also after they release it, until the commit runs again.
    ///   Every writer of the active view in 0.5.87 has the same effect.
    /// - The fallback that bounds the retries: after eight rounds in which
    ///   some lock was busy, the commit waits for the locks in a fixed order
    ///   (SWIM state, active view, passive view), holding the earlier ones.
    ///   In the fallback, a demoting commit holds the active-view lock while
    ///   it waits for the passive-view lock, and `active_view` returns an
    ///   empty list for that whole wait.
    /// - A dropped future returns no result.
    ///
    /// # Runtime
    ///
    /// `join_send` spawns no task and starts no timer, so it runs on any
    /// executor. The transport's send can have its own needs.
    pub async fn join_send(&self, seed: std::net::SocketAddr, peer: PeerId) -> Result<JoinSend> {
        self.join_send_labelled(seed, peer, &seed).await
    }

    /// The body of [`Membership::add_active`], and the local commit of
    /// [`Self::join_send`]: add `peer` to the active view (when the view is
    /// full, demote one peer to the passive view, as in 0.5.87) and mark
    /// `peer` alive in SWIM.
    ///
    /// It takes every lock that it needs before its first change: the SWIM
    /// state, the active view, and the passive view (only when a demotion
    /// is due). After that it does not await. So a drop, or a runtime
    /// shutdown, while it waits changes nothing, and no executor can stop
    /// it between its first and its last change.
    ///
    /// It does not hold one of these locks while it waits for another, so
    /// view contention does not delay SWIM (an ACK, a probe-timeout write)
    /// and SWIM contention does not hide the views from `try_read` readers
    /// such as `active_view()`. (A wait for the active-view lock itself
    /// blocks new readers of that lock until the commit runs again, as for
    /// every writer: Tokio's lock is fair and reserves the permits for the
    /// waiting writer.) Each round takes the locks with `try_write`.
    /// When one is busy, the round releases what it holds, then waits for
    /// that one lock alone (in the lock's fair queue) and starts the next
    /// round holding it. There is no busy wait: a round repeats only after
    /// a wait in which another holder made progress.
    ///
    /// Livelock and starvation: commits are serialized by `commit_gate`, so
    /// two commits never compete for these locks, and no other holder of
    /// them retries. A round can only fail when another task takes one of
    /// the locks in the moment after the commit got the one it waited for.
    /// The bound: after [`COMMIT_TRY_ROUNDS`] busy rounds, the commit waits
    /// for the locks in the fixed order (SWIM state, active view, passive
    /// view), holding the earlier ones. That order has no cycle, so the
    /// commit then completes once the holders ahead of it are done. Only in
    /// that case can it hold a lock while it waits for another.
    async fn commit_active(&self, peer: PeerId) {
        let _gate = self.commit_gate.lock().await;
        let mut wait_for = None;
        let mut busy_rounds = 0;
        loop {
            if busy_rounds == COMMIT_TRY_ROUNDS {
                // The bound: after this many busy rounds, wait for the locks
                // in the fixed order, holding the earlier ones. This order
                // has no cycle: no path holds a view lock while it waits for
                // the SWIM lock, and active before passive is also the order
                // of degree maintenance.
                debug!(
                    peer_id = %peer,
                    rounds = busy_rounds,
                    "Active-view commit: locks stayed busy; waiting in lock order"
                );
                let mut states = self.swim.states.write().await;
                let mut active = self.active.write().await;
                let to_demote = self.demotion(&active);
                let mut passive = match to_demote {
                    Some(_) => Some(self.passive.write().await),
                    None => None,
                };
                // Every lock is held. No await from here to the end.
                self.apply_commit(
                    &mut states,
                    &mut active,
                    passive.as_deref_mut(),
                    to_demote,
                    peer,
                );
                return;
            }
            // Wait for the lock that was busy, holding no other lock.
            let mut states = None;
            let mut active = None;
            let mut passive = None;
            match wait_for.take() {
                Some(CommitLock::Swim) => states = Some(self.swim.states.write().await),
                Some(CommitLock::Active) => active = Some(self.active.write().await),
                Some(CommitLock::Passive) => passive = Some(self.passive.write().await),
                None => {}
            }
            // Take the others without waiting. A busy lock ends the round:
            // everything held is released at `continue`.
            let Some(mut states) = states.or_else(|| self.swim.states.try_write().ok()) else {
                busy_rounds += 1;
                wait_for = Some(CommitLock::Swim);
                continue;
            };
            let Some(mut active) = active.or_else(|| self.active.try_write().ok()) else {
                busy_rounds += 1;
                wait_for = Some(CommitLock::Active);
                continue;
            };
            let to_demote = self.demotion(&active);
            let mut passive = match to_demote {
                Some(_) => match passive.or_else(|| self.passive.try_write().ok()) {
                    Some(passive) => Some(passive),
                    None => {
                        busy_rounds += 1;
                        wait_for = Some(CommitLock::Passive);
                        continue;
                    }
                },
                None => None,
            };
            // Every lock is held. No await from here to the end.
            self.apply_commit(
                &mut states,
                &mut active,
                passive.as_deref_mut(),
                to_demote,
                peer,
            );
            return;
        }
    }

    /// The peer that a commit demotes: the first one in a full active view.
    fn demotion(&self, active: &HashSet<PeerId>) -> Option<PeerId> {
        if active.len() >= self.config.active_degree {
            active.iter().next().copied()
        } else {
            None
        }
    }

    /// The changes of [`Self::commit_active`], with every lock held.
    fn apply_commit(
        &self,
        states: &mut HashMap<PeerId, SwimPeerEntry>,
        active: &mut HashSet<PeerId>,
        passive: Option<&mut HashSet<PeerId>>,
        to_demote: Option<PeerId>,
        peer: PeerId,
    ) {
        if let Some(to_demote) = to_demote {
            active.remove(&to_demote);
            if let Some(passive) = passive {
                if passive.len() < self.config.max_passive_degree {
                    passive.insert(to_demote);
                    debug!(peer_id = %to_demote, "Demoted to passive (active view full)");
                }
            }
        }
        active.insert(peer);
        SwimDetector::<T>::set_alive(states, peer);
        debug!(peer_id = %peer, "Added to active view");
    }

    /// [`Self::join_dial`], with `label` as the `seed` field of its logs.
    async fn join_dial_labelled(
        &self,
        ledger: &mut JoinLedger,
        addr: std::net::SocketAddr,
        label: &(dyn std::fmt::Display + Sync),
    ) -> JoinDial {
        let state = ledger.seeds.entry(addr).or_default();
        if state.attempts >= JOIN_MAX_ATTEMPTS {
            return JoinDial::Exhausted;
        }
        if let Some(ready_at) = state.ready_at {
            if ready_at > tokio::time::Instant::now() {
                return JoinDial::NotReady { ready_at };
            }
        }
        let attempt = state.attempts;
        state.attempts += 1;
        debug!(
            seed = %label,
            attempt = attempt + 1,
            "JOIN: Connecting to bootstrap node"
        );

        // Connect via transport and get peer ID
        match self.transport.dial_bootstrap(addr).await {
            Ok(seed_peer_id) => {
                debug!(
                    seed = %label,
                    peer_id = %seed_peer_id,
                    "JOIN: Connected to bootstrap"
                );
                JoinDial::Answered(seed_peer_id)
            }
            Err(e) => {
                let delay_ms = state.delay_ms;
                warn!(
                    seed = %label,
                    attempt = attempt + 1,
                    error = %e,
                    delay_ms = delay_ms,
                    "JOIN: Connection failed, will retry"
                );

                // Exponential backoff with jitter
                let jitter = join_jitter_ms(delay_ms);
                state.delay_ms = (delay_ms * 2).min(JOIN_MAX_DELAY_MS);
                let retry_after = Duration::from_millis(delay_ms + jitter);
                let dial_ready = tokio::time::Instant::now() + retry_after;
                state.ready_at = Some(
                    state
                        .ready_at
                        .map_or(dial_ready, |current| current.max(dial_ready)),
                );
                JoinDial::Failed {
                    retry_after,
                    exhausted: state.attempts >= JOIN_MAX_ATTEMPTS,
                }
            }
        }
    }

    /// [`Self::join_send`], with `label` as the `seed` field of its logs.
    async fn join_send_labelled(
        &self,
        addr: std::net::SocketAddr,
        seed_peer_id: PeerId,
        label: &(dyn std::fmt::Display + Sync),
    ) -> Result<JoinSend> {
        // Store peer address
        self.store_peer_addr(seed_peer_id, addr).await;

        // Send JOIN message
        let join_msg = HyParViewMessage::Join {
            sender: self.local_peer_id,
            ttl: ACTIVE_RANDOM_WALK_LENGTH,
        };

        if let Err(e) = self.send_hyparview_message(seed_peer_id, &join_msg).await {
            warn!(error = %e, "JOIN: Failed to send JOIN message");
            return Ok(JoinSend::SendFailed);
        }

        // Add seed to active view immediately (optimistic). The commit
        // takes all its locks before its first change, so a drop cannot
        // leave the views or the SWIM state half updated.
        self.add_active(seed_peer_id).await?;
        debug!(seed = %label, "JOIN: Successfully joined network");
        Ok(JoinSend::Joined)
    }

    /// Get the SWIM detector
    pub fn swim(&self) -> &SwimDetector<T> {
        &self.swim
    }

    /// Clone the shared `Arc<SwimDetector<T>>` for consumers that need to
    /// hold their own reference — for example
    /// `PlumtreePubSub::with_health_oracle`, which requires an
    /// `Arc<dyn PeerHealthOracle>`. The detector keeps a single
    /// authoritative state regardless of how many shared references exist.
    #[must_use]
    pub fn swim_arc(&self) -> Arc<SwimDetector<T>> {
        Arc::clone(&self.swim)
    }

    /// Dispatch an incoming membership message to the appropriate handler.
    ///
    /// Deserializes the raw bytes as a [`MembershipProtocolMessage`] using postcard,
    /// then routes to either the HyParView or SWIM handler based on the variant.
    ///
    /// # Errors
    ///
    /// Returns an error if deserialization fails or if the underlying handler
    /// returns an error.
    pub async fn dispatch_message(&self, sender: PeerId, data: &[u8]) -> Result<()> {
        let msg: MembershipProtocolMessage = postcard::from_bytes(data)
            .map_err(|e| anyhow!("Failed to deserialize membership message: {}", e))?;

        match msg {
            MembershipProtocolMessage::HyParView(hpv_msg) => {
                self.dispatch_hyparview(sender, hpv_msg).await
            }
            MembershipProtocolMessage::Swim(swim_msg) => self.dispatch_swim(sender, swim_msg).await,
        }
    }

    /// Dispatch a HyParView message to the appropriate handler method.
    async fn dispatch_hyparview(&self, sender: PeerId, msg: HyParViewMessage) -> Result<()> {
        match msg {
            // x0x patch: `sender` is the transport-authenticated peer. A
            // JOIN, FORWARDJOIN or NEIGHBOR always comes straight from the
            // peer it names as sender, so a frame naming anyone else is
            // forged and dropped; walk lengths are clamped to the protocol's
            // own (upstream trusted both fields as sent).
            HyParViewMessage::Join {
                sender: join_sender,
                ttl,
            } => {
                bind_sender("JOIN", join_sender, sender)?;
                self.handle_join(sender, ttl.min(ACTIVE_RANDOM_WALK_LENGTH))
                    .await
            }
            HyParViewMessage::ForwardJoin {
                sender: fwd_sender,
                new_peer,
                ttl,
            } => {
                bind_sender("FORWARDJOIN", fwd_sender, sender)?;
                self.handle_forward_join(sender, new_peer, ttl.min(ACTIVE_RANDOM_WALK_LENGTH))
                    .await
            }
            HyParViewMessage::Neighbor {
                sender: nbr_sender,
                priority,
            } => {
                bind_sender("NEIGHBOR", nbr_sender, sender)?;
                self.handle_neighbor(sender, priority).await
            }
            HyParViewMessage::NeighborReply { accepted } => {
                self.handle_neighbor_reply(sender, accepted).await
            }
            // x0x patch: a SHUFFLE names its origin, not the hop it came
            // from; the walk is clamped and never goes back the way it came.
            HyParViewMessage::Shuffle {
                sender: shuf_sender,
                peers,
                ttl,
            } => {
                self.handle_shuffle_via(sender, shuf_sender, peers, ttl.min(PASSIVE_RANDOM_WALK_LENGTH))
                    .await
            }
            HyParViewMessage::ShuffleReply { peers } => {
                self.handle_shuffle_reply(peers).await;
                Ok(())
            }
            HyParViewMessage::Disconnect => self.handle_disconnect(sender).await,
        }
    }

    /// Dispatch a SWIM message to the appropriate handler method.
    async fn dispatch_swim(&self, sender: PeerId, msg: SwimMessage) -> Result<()> {
        match msg {
            SwimMessage::Ping => self.swim.handle_ping(sender).await,
            SwimMessage::Ack => self.swim.handle_ack(sender).await,
            // x0x patch: a PING-REQ comes from its requester, and an
            // ACK-RESPONSE only counts from a peer we asked to probe that
            // target (upstream let anyone keep any peer alive).
            SwimMessage::PingReq { target, requester } => {
                bind_sender("PING-REQ", requester, sender)?;
                self.swim.handle_ping_req(sender, target).await
            }
            SwimMessage::AckResponse { target, requester } => {
                bind_sender("ACK-RESPONSE", requester, self.local_peer_id)?;
                self.swim.handle_ack_response_from(sender, target).await
            }
        }
    }

    /// Shuffle the passive view with a random peer (full HyParView protocol)
    pub async fn shuffle(&self) -> Result<()> {
        let active = self.active.read().await;
        if active.is_empty() {
            return Ok(());
        }

        // Select random active peer for shuffle target
        let target = *active
            .iter()
            .next()
            .ok_or_else(|| anyhow!("No active peers"))?;
        drop(active);

        // Build shuffle list: self + random sample from active + passive
        let mut shuffle_list = vec![self.local_peer_id];
        shuffle_list.extend(self.sample_active(self.config.shuffle_active_size).await);
        shuffle_list.extend(self.sample_passive(self.config.shuffle_passive_size).await);

        debug!(
            target = %target,
            shuffle_count = shuffle_list.len(),
            "HyParView: Initiating shuffle"
        );

        // Send SHUFFLE message with random walk TTL
        let shuffle_msg = HyParViewMessage::Shuffle {
            sender: self.local_peer_id,
            peers: shuffle_list,
            ttl: PASSIVE_RANDOM_WALK_LENGTH,
        };
        self.send_hyparview_message(target, &shuffle_msg).await
    }

    /// Handle incoming SHUFFLE message
    pub async fn handle_shuffle(
        &self,
        sender: PeerId,
        peers: Vec<PeerId>,
        ttl: usize,
    ) -> Result<()> {
        self.handle_shuffle_via(sender, sender, peers, ttl).await
    }

    /// Handle a SHUFFLE from `origin` that arrived from `prev_hop` (x0x
    /// patch: upstream excluded only the origin, so a walk could bounce
    /// between two peers; the list is also capped at what `shuffle` sends).
    pub async fn handle_shuffle_via(
        &self,
        prev_hop: PeerId,
        sender: PeerId,
        mut peers: Vec<PeerId>,
        ttl: usize,
    ) -> Result<()> {
        peers.truncate(1 + self.config.shuffle_active_size + self.config.shuffle_passive_size);
        // Track sender for network size estimation
        self.seen_peers.write().await.insert(sender, Instant::now());

        let active = self.active.read().await;

        // If TTL > 0 and we have active peers besides sender, forward
        if ttl > 0 && active.len() > 1 {
            if let Some(next) = active.iter().find(|&&p| p != sender && p != prev_hop).copied() {
                drop(active);
                let forward_msg = HyParViewMessage::Shuffle {
                    sender,
                    peers,
                    ttl: ttl - 1,
                };
                return self.send_hyparview_message(next, &forward_msg).await;
            }
        }
        drop(active);

        // Terminal node: exchange views
        let reply_peers = self.sample_passive(peers.len()).await;

        // Send shuffle reply
        let reply_msg = HyParViewMessage::ShuffleReply { peers: reply_peers };
        self.send_hyparview_message(sender, &reply_msg).await?;

        // Integrate received peers into passive view
        for peer in peers {
            if peer != self.local_peer_id {
                self.add_to_passive(peer).await;
            }
        }

        Ok(())
    }

    /// Handle incoming SHUFFLE_REPLY message
    pub async fn handle_shuffle_reply(&self, peers: Vec<PeerId>) {
        for peer in peers {
            if peer != self.local_peer_id {
                self.add_to_passive(peer).await;
            }
        }
    }

    /// Handle incoming JOIN message (as a contact node)
    pub async fn handle_join(&self, new_peer: PeerId, ttl: usize) -> Result<()> {
        debug!(
            new_peer = %new_peer,
            ttl = ttl,
            "HyParView: Received JOIN request"
        );

        // Track peer for network size estimation
        self.seen_peers
            .write()
            .await
            .insert(new_peer, Instant::now());

        // Add new peer to active view
        self.add_active(new_peer).await?;

        // Forward JOIN to all active peers (except the new peer) with decremented TTL
        if ttl > 0 {
            let active = self.active.read().await;
            let forward_targets: Vec<PeerId> =
                active.iter().filter(|&&p| p != new_peer).copied().collect();
            drop(active);

            for target in forward_targets {
                let forward_msg = HyParViewMessage::ForwardJoin {
                    sender: self.local_peer_id,
                    new_peer,
                    ttl: ttl - 1,
                };
                // Best effort - don't fail the whole join if one forward fails
                let _ = self.send_hyparview_message(target, &forward_msg).await;
            }
        }

        Ok(())
    }

    /// Handle incoming FORWARDJOIN message
    pub async fn handle_forward_join(
        &self,
        sender: PeerId,
        new_peer: PeerId,
        ttl: usize,
    ) -> Result<()> {
        // Track peer for network size estimation
        self.seen_peers
            .write()
            .await
            .insert(new_peer, Instant::now());

        let active = self.active.read().await;
        let active_count = active.len();
        drop(active);

        // If TTL is 0 or active view has room, accept the new peer
        if ttl == 0 || active_count < self.config.active_degree {
            debug!(
                new_peer = %new_peer,
                reason = if ttl == 0 { "TTL expired" } else { "active view has room" },
                "HyParView: Accepting FORWARDJOIN"
            );

            // Add to active and send NEIGHBOR request
            self.add_active(new_peer).await?;

            let neighbor_msg = HyParViewMessage::Neighbor {
                sender: self.local_peer_id,
                priority: if active_count == 0 {
                    NeighborPriority::High
                } else {
                    NeighborPriority::Low
                },
            };
            self.send_hyparview_message(new_peer, &neighbor_msg).await?;
        } else {
            // Forward to random active peer with decremented TTL
            // x0x patch: not back to the hop it came from either.
            let next = {
                use rand::seq::IteratorRandom;
                let active = self.active.read().await;
                let mut rng = rand::rngs::StdRng::from_entropy();
                active
                    .iter()
                    .filter(|&&p| p != new_peer && p != sender)
                    .copied()
                    .choose(&mut rng)
            };
            if let Some(next) = next {
                let forward_msg = HyParViewMessage::ForwardJoin {
                    sender: self.local_peer_id,
                    new_peer,
                    ttl: ttl - 1,
                };
                self.send_hyparview_message(next, &forward_msg).await?;
            }
        }

        // At TTL == PASSIVE_RANDOM_WALK_LENGTH, add to passive view
        if ttl == PASSIVE_RANDOM_WALK_LENGTH {
            self.add_to_passive(new_peer).await;
        }

        Ok(())
    }

    /// Handle incoming NEIGHBOR request
    pub async fn handle_neighbor(&self, sender: PeerId, priority: NeighborPriority) -> Result<()> {
        // Track peer for network size estimation
        self.seen_peers.write().await.insert(sender, Instant::now());

        let active = self.active.read().await;
        let active_count = active.len();
        drop(active);

        // Accept if high priority, or if we have room
        let accepted =
            priority == NeighborPriority::High || active_count < self.config.max_active_degree;

        if accepted {
            self.add_active(sender).await?;
            debug!(peer = %sender, "HyParView: Accepted NEIGHBOR request");
        } else {
            debug!(peer = %sender, "HyParView: Rejected NEIGHBOR request (at capacity)");
        }

        let reply_msg = HyParViewMessage::NeighborReply { accepted };
        self.send_hyparview_message(sender, &reply_msg).await
    }

    /// Handle incoming NEIGHBOR_REPLY message
    pub async fn handle_neighbor_reply(&self, sender: PeerId, accepted: bool) -> Result<()> {
        if accepted {
            debug!(peer = %sender, "HyParView: NEIGHBOR accepted");
            self.swim.mark_alive(sender).await;
        } else {
            debug!(peer = %sender, "HyParView: NEIGHBOR rejected");
            // Move from active to passive
            {
                let mut active = self.active.write().await;
                if active.remove(&sender) {
                    drop(active);
                    self.add_to_passive(sender).await;
                }
            }
        }
        Ok(())
    }

    /// Handle incoming DISCONNECT message
    pub async fn handle_disconnect(&self, sender: PeerId) -> Result<()> {
        debug!(peer = %sender, "HyParView: Received DISCONNECT");
        self.remove_active(sender).await?;
        // x0x patch: a peer that says goodbye is leaving; upstream could find
        // it in the passive view right here and promote it straight back.
        self.passive.write().await.remove(&sender);

        // Try to promote from passive to maintain active view size
        // (x0x patch: the first candidate SWIM has not declared dead).
        let candidates: Vec<PeerId> = self.passive.read().await.iter().copied().collect();
        for candidate in candidates {
            if self.swim.is_dead(&candidate).await {
                self.passive.write().await.remove(&candidate);
            } else if !self.swim.is_failing(&candidate).await {
                self.promote(candidate).await?;
                break;
            }
        }

        Ok(())
    }

    /// Maintain active and passive view degrees
    #[cfg(test)]
    async fn maintain_degrees(&self) {
        let mut active = self.active.write().await;
        let mut passive = self.passive.write().await;

        // Enforce active degree limits
        if active.len() < self.config.active_degree && !passive.is_empty() {
            // Promote from passive
            let to_promote = self.config.active_degree - active.len();
            let peers: Vec<PeerId> = passive.iter().take(to_promote).copied().collect();

            for peer in peers {
                passive.remove(&peer);
                active.insert(peer);
                debug!(peer_id = %peer, "Promoted from passive to active");
            }
        } else if active.len() > self.config.max_active_degree {
            // Demote to passive
            let to_demote = active.len() - self.config.max_active_degree;
            let peers: Vec<PeerId> = active.iter().take(to_demote).copied().collect();

            for peer in peers {
                active.remove(&peer);
                if passive.len() < self.config.max_passive_degree {
                    passive.insert(peer);
                    debug!(peer_id = %peer, "Demoted from active to passive");
                }
            }
        }

        // Enforce passive degree limit
        if passive.len() > self.config.max_passive_degree {
            let to_remove = passive.len() - self.config.max_passive_degree;
            let peers: Vec<PeerId> = passive.iter().take(to_remove).copied().collect();

            for peer in peers {
                passive.remove(&peer);
                trace!(peer_id = %peer, "Removed from passive view (over capacity)");
            }
        }
    }

    /// Spawn background task for periodic shuffling
    fn spawn_shuffle_task(&self) {
        let active = self.active.clone();
        let passive = self.passive.clone();
        let transport = self.transport.clone();
        let local_peer_id = self.local_peer_id;
        let shuffle_active_size = self.config.shuffle_active_size;
        let shuffle_passive_size = self.config.shuffle_passive_size;
        let shuffle_period = self.config.shuffle_period;

        tokio::spawn(async move {
            let mut interval = time::interval(shuffle_period);

            loop {
                interval.tick().await;

                let active_guard = active.read().await;

                // Select first active peer for shuffle target (skip if empty)
                let Some(target) = active_guard.iter().next().copied() else {
                    drop(active_guard);
                    continue;
                };

                // Build shuffle list: self + sample from active + passive
                let mut shuffle_list = vec![local_peer_id];
                shuffle_list.extend(active_guard.iter().take(shuffle_active_size).copied());
                drop(active_guard);

                let passive_guard = passive.read().await;
                shuffle_list.extend(passive_guard.iter().take(shuffle_passive_size).copied());
                drop(passive_guard);

                debug!(
                    target = %target,
                    shuffle_count = shuffle_list.len(),
                    "HyParView: Periodic shuffle"
                );

                // Send SHUFFLE message wrapped in MembershipProtocolMessage
                let shuffle_msg = HyParViewMessage::Shuffle {
                    sender: local_peer_id,
                    peers: shuffle_list,
                    ttl: PASSIVE_RANDOM_WALK_LENGTH,
                };
                let wrapped = MembershipProtocolMessage::HyParView(shuffle_msg);

                match postcard::to_stdvec(&wrapped) {
                    Ok(bytes) => {
                        if let Err(e) = transport
                            .send_to_peer(target, GossipStreamType::Membership, bytes.into())
                            .await
                        {
                            debug!(?e, "HyParView: Shuffle send failed");
                        }
                    }
                    Err(e) => {
                        warn!(?e, "HyParView: Shuffle message serialization failed");
                    }
                }
            }
        });
    }

    /// Spawn background task for degree maintenance with adaptive scaling.
    fn spawn_degree_maintenance_task(&self) {
        let active = self.active.clone();
        let passive = self.passive.clone();
        let seen_peers = self.seen_peers.clone();
        let config = self.config.clone();
        let swim_states = self.swim.states.clone();

        tokio::spawn(async move {
            let mut interval = time::interval(Duration::from_secs(10));
            let mut prev_active_target = config.active_degree;
            let mut prev_passive_max = config.max_passive_degree;

            loop {
                interval.tick().await;

                // Calculate adaptive degrees inline (mirrors calculate_adaptive_degrees)
                let (target_active, target_passive) = if config.adaptive_enabled {
                    let active_count = active.read().await.len();
                    let passive_count = passive.read().await.len();
                    let seen = seen_peers.read().await;
                    let now = Instant::now();
                    let recent_count = seen
                        .values()
                        .filter(|&&t| now.saturating_duration_since(t) < Duration::from_secs(300))
                        .count();
                    let n = (active_count + passive_count + 1).max(recent_count);
                    drop(seen);

                    let ln_n = (n as f64).ln();
                    let raw_active = (ln_n * 2.0).ceil() as usize;
                    let active_deg =
                        raw_active.clamp(config.active_degree, config.max_active_degree);
                    let raw_passive = active_deg * 8;
                    let passive_deg =
                        raw_passive.clamp(config.active_degree * 8, config.max_passive_degree);
                    (active_deg, passive_deg)
                } else {
                    (config.active_degree, config.max_passive_degree)
                };

                // Apply smoothing: don't change by more than 2 peers per interval
                let smoothed_active = if target_active > prev_active_target {
                    prev_active_target + (target_active - prev_active_target).min(2)
                } else {
                    prev_active_target - (prev_active_target - target_active).min(2)
                };
                let smoothed_passive = if target_passive > prev_passive_max {
                    prev_passive_max + (target_passive - prev_passive_max).min(2)
                } else {
                    prev_passive_max - (prev_passive_max - target_passive).min(2)
                };

                if smoothed_active != prev_active_target || smoothed_passive != prev_passive_max {
                    info!(
                        active_target = smoothed_active,
                        passive_max = smoothed_passive,
                        prev_active = prev_active_target,
                        prev_passive = prev_passive_max,
                        "Adaptive degrees changed"
                    );
                }

                prev_active_target = smoothed_active;
                prev_passive_max = smoothed_passive;

                // x0x patch: SWIM's dead are not promoted (nor kept). Read
                // before the view locks: no path holds a view lock while it
                // waits for the SWIM lock.
                let (dead, suspect): (HashSet<PeerId>, HashSet<PeerId>) = {
                    let states = swim_states.read().await;
                    let pick = |state| {
                        states.iter().filter(|(_, e)| e.state == state).map(|(p, _)| *p).collect()
                    };
                    (pick(PeerState::Dead), pick(PeerState::Suspect))
                };

                let mut active_guard = active.write().await;
                let mut passive_guard = passive.write().await;
                passive_guard.retain(|p| !dead.contains(p));

                let active_count = active_guard.len();
                let passive_count = passive_guard.len();

                // Promote from passive if active is low
                if active_count < smoothed_active && !passive_guard.is_empty() {
                    let to_promote = smoothed_active - active_count;
                    let peers: Vec<PeerId> = passive_guard
                        .iter()
                        .filter(|p| !suspect.contains(p))
                        .take(to_promote)
                        .copied()
                        .collect();

                    for peer in peers {
                        passive_guard.remove(&peer);
                        active_guard.insert(peer);
                        debug!(peer_id = %peer, "Degree maintenance: promoted to active");
                    }
                }

                // Demote to passive if active is high
                if active_count > config.max_active_degree {
                    let to_demote = active_count - config.max_active_degree;
                    let peers: Vec<PeerId> = active_guard.iter().take(to_demote).copied().collect();

                    for peer in peers {
                        active_guard.remove(&peer);
                        if passive_guard.len() < smoothed_passive {
                            passive_guard.insert(peer);
                            debug!(peer_id = %peer, "Degree maintenance: demoted to passive");
                        }
                    }
                }

                // Trim passive if over capacity
                if passive_count > smoothed_passive {
                    let to_remove = passive_count - smoothed_passive;
                    let peers: Vec<PeerId> =
                        passive_guard.iter().take(to_remove).copied().collect();

                    for peer in peers {
                        passive_guard.remove(&peer);
                        trace!(peer_id = %peer, "Degree maintenance: removed from passive");
                    }
                }

                drop(active_guard);
                drop(passive_guard);

                // Clean up stale seen_peers entries (older than 5 minutes)
                let mut seen = seen_peers.write().await;
                let now = Instant::now();
                seen.retain(|_, t| now.saturating_duration_since(*t) < Duration::from_secs(300));
            }
        });
    }
}

#[async_trait::async_trait]
impl<T: GossipTransport + 'static> Membership for HyParViewMembership<T> {
    async fn join(&self, seeds: Vec<String>) -> Result<()> {
        use std::net::SocketAddr;

        if seeds.is_empty() {
            debug!("JOIN: No seeds provided, operating as bootstrap node");
            return Ok(());
        }

        for seed in seeds {
            // Parse the seed address
            let addr: SocketAddr = match seed.parse() {
                Ok(a) => a,
                Err(e) => {
                    warn!(seed = %seed, error = %e, "JOIN: Invalid seed address");
                    continue;
                }
            };

            // A fresh retry state for each seed-list entry: up to
            // JOIN_MAX_ATTEMPTS dials, backoff only after a failed dial.
            let mut ledger = JoinLedger::new();
            loop {
                match self.join_dial_labelled(&mut ledger, addr, &seed).await {
                    JoinDial::Answered(seed_peer_id) => {
                        match self.join_send_labelled(addr, seed_peer_id, &seed).await? {
                            // Successfully joined via this seed
                            JoinSend::Joined => return Ok(()),
                            JoinSend::SendFailed => {}
                        }
                    }
                    JoinDial::Failed { retry_after, .. } => {
                        tokio::time::sleep(retry_after).await;
                    }
                    // Not reached: the sleep above ends at or after the
                    // seed's readiness. Kept so the loop never dials early.
                    JoinDial::NotReady { ready_at } => tokio::time::sleep_until(ready_at).await,
                    JoinDial::Exhausted => break,
                }
            }
        }

        Err(anyhow!("JOIN: Failed to connect to any seed nodes"))
    }

    fn active_view(&self) -> Vec<PeerId> {
        // Try to get read lock, return empty vec if unavailable
        match self.active.try_read() {
            Ok(active) => active.iter().copied().collect(),
            Err(_) => {
                warn!("HyParView: active_view lock contention, returning empty");
                Vec::new()
            }
        }
    }

    fn passive_view(&self) -> Vec<PeerId> {
        // Try to get read lock, return empty vec if unavailable
        match self.passive.try_read() {
            Ok(passive) => passive.iter().copied().collect(),
            Err(_) => {
                warn!("HyParView: passive_view lock contention, returning empty");
                Vec::new()
            }
        }
    }

    async fn add_active(&self, peer: PeerId) -> Result<()> {
        self.commit_active(peer).await;
        Ok(())
    }

    async fn remove_active(&self, peer: PeerId) -> Result<()> {
        let mut active = self.active.write().await;
        let removed = active.remove(&peer);
        drop(active);

        if removed {
            self.swim.mark_dead(peer).await;
            // x0x patch: and out of the passive view, which must not offer it
            // for promotion (or to SHUFFLEs) again.
            self.passive.write().await.remove(&peer);
            debug!(peer_id = %peer, "Removed from active view");
        }

        Ok(())
    }

    async fn promote(&self, peer: PeerId) -> Result<()> {
        // x0x patch: a dead peer is dropped, never promoted, and a suspect
        // stays where it is: promoting marks the peer alive, which would
        // wipe the suspicion, and SWIM would have to find it dead again.
        if self.swim.is_failing(&peer).await {
            if self.swim.is_dead(&peer).await {
                self.passive.write().await.remove(&peer);
            }
            return Ok(());
        }
        let mut passive = self.passive.write().await;
        let was_passive = passive.remove(&peer);
        drop(passive); // Release lock before calling add_active

        if was_passive {
            self.add_active(peer).await?;
            debug!(peer_id = %peer, "Promoted from passive to active");
        }

        Ok(())
    }
}

#[cfg(test)]
mod join_budget_tests;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use saorsa_gossip_transport::UdpTransportAdapter;
    use std::net::SocketAddr;

    async fn test_transport() -> Arc<UdpTransportAdapter> {
        let bind: SocketAddr = "127.0.0.1:0".parse().expect("valid addr");
        Arc::new(
            UdpTransportAdapter::new(bind, vec![])
                .await
                .expect("transport"),
        )
    }

    #[derive(Clone)]
    struct RecordedMessage {
        peer: PeerId,
        stream_type: GossipStreamType,
        data: Bytes,
    }

    struct RecordingTransport {
        local_peer_id: PeerId,
        sent: Arc<RwLock<Vec<RecordedMessage>>>,
    }

    impl RecordingTransport {
        fn new(local_peer_id: PeerId) -> Self {
            Self {
                local_peer_id,
                sent: Arc::new(RwLock::new(Vec::new())),
            }
        }

        async fn sent_messages(&self) -> Vec<RecordedMessage> {
            self.sent.read().await.clone()
        }
    }

    #[async_trait::async_trait]
    impl GossipTransport for RecordingTransport {
        async fn dial(&self, _peer: PeerId, _addr: SocketAddr) -> Result<()> {
            Ok(())
        }

        async fn dial_bootstrap(&self, _addr: SocketAddr) -> Result<PeerId> {
            Ok(self.local_peer_id)
        }

        async fn listen(&self, _bind: SocketAddr) -> Result<()> {
            Ok(())
        }

        async fn close(&self) -> Result<()> {
            Ok(())
        }

        async fn send_to_peer(
            &self,
            peer: PeerId,
            stream_type: GossipStreamType,
            data: Bytes,
        ) -> Result<()> {
            self.sent.write().await.push(RecordedMessage {
                peer,
                stream_type,
                data,
            });
            Ok(())
        }

        async fn receive_message(&self) -> Result<(PeerId, GossipStreamType, Bytes)> {
            Err(anyhow!("recording transport has no receive queue"))
        }

        fn local_peer_id(&self) -> PeerId {
            self.local_peer_id
        }
    }

    fn test_peer_id() -> PeerId {
        PeerId::new([0u8; 32])
    }

    async fn test_membership() -> HyParViewMembership<UdpTransportAdapter> {
        HyParViewMembership::new(
            test_peer_id(),
            MembershipConfig::default(),
            test_transport().await,
        )
    }

    #[tokio::test]
    async fn test_hyparview_creation() {
        let membership = test_membership().await;
        assert_eq!(membership.active_view().len(), 0);
        assert_eq!(membership.passive_view().len(), 0);
    }

    #[tokio::test]
    async fn test_add_active_peer() {
        let membership = test_membership().await;
        let peer = PeerId::new([1u8; 32]);

        membership.add_active(peer).await.ok();
        let active = membership.active_view();
        assert_eq!(active.len(), 1);
        assert!(active.contains(&peer));
    }

    #[tokio::test]
    async fn test_remove_active_peer() {
        let membership = test_membership().await;
        let peer = PeerId::new([1u8; 32]);

        membership.add_active(peer).await.ok();
        membership.remove_active(peer).await.ok();

        let active = membership.active_view();
        assert_eq!(active.len(), 0);
    }

    #[tokio::test]
    async fn test_active_view_capacity() {
        let transport = test_transport().await;
        let membership = HyParViewMembership::with_degrees(test_peer_id(), 3, 10, transport);

        // Add 5 peers (more than capacity)
        for i in 0..5 {
            let peer = PeerId::new([i; 32]);
            membership.add_active(peer).await.ok();
        }

        // Should only have 3 in active (capacity limit)
        let active = membership.active_view();
        assert_eq!(active.len(), 3);

        // Others should be in passive
        let passive = membership.passive_view();
        assert_eq!(passive.len(), 2);
    }

    #[tokio::test]
    async fn test_swim_states() {
        let transport = test_transport().await;
        let swim = SwimDetector::new(test_peer_id(), 1, 3, SWIM_PROBE_FANOUT, transport);
        let peer = PeerId::new([1u8; 32]);

        swim.mark_alive(peer).await;
        assert_eq!(swim.get_state(&peer).await, Some(PeerState::Alive));

        swim.mark_suspect(peer).await;
        assert_eq!(swim.get_state(&peer).await, Some(PeerState::Suspect));

        swim.mark_dead(peer).await;
        assert_eq!(swim.get_state(&peer).await, Some(PeerState::Dead));
    }

    #[tokio::test]
    async fn test_swim_suspect_timeout() {
        let transport = test_transport().await;
        let swim = SwimDetector::new(test_peer_id(), 1, 1, SWIM_PROBE_FANOUT, transport); // 1s timeout
        let peer = PeerId::new([1u8; 32]);

        swim.mark_alive(peer).await;
        swim.mark_suspect(peer).await;

        // Wait for timeout
        tokio::time::sleep(tokio::time::Duration::from_secs(2)).await;

        // Should be marked dead automatically
        assert_eq!(swim.get_state(&peer).await, Some(PeerState::Dead));
    }

    #[tokio::test]
    async fn test_promote_from_passive() {
        let membership = test_membership().await;
        let peer = PeerId::new([1u8; 32]);

        // Add to passive
        {
            let mut passive = membership.passive.write().await;
            passive.insert(peer);
        }

        // Promote to active
        membership.promote(peer).await.ok();

        let active = membership.active_view();
        let passive = membership.passive_view();

        assert!(active.contains(&peer));
        assert!(!passive.contains(&peer));
    }

    #[tokio::test]
    async fn test_degree_maintenance() {
        let transport = test_transport().await;
        let membership = HyParViewMembership::with_degrees(test_peer_id(), 5, 20, transport);

        // Add many peers to passive
        for i in 0..15 {
            let peer = PeerId::new([i; 32]);
            let mut passive = membership.passive.write().await;
            passive.insert(peer);
        }

        // Run maintenance
        membership.maintain_degrees().await;

        // Should have promoted some to active
        let active = membership.active_view();
        assert!(active.len() >= 5);
        assert!(active.len() <= 12);
    }

    #[tokio::test]
    async fn test_get_peers_in_state() {
        let transport = test_transport().await;
        let swim = SwimDetector::new(test_peer_id(), 1, 100, SWIM_PROBE_FANOUT, transport); // Long timeout so background task doesn't interfere

        let peer1 = PeerId::new([1u8; 32]);
        let peer2 = PeerId::new([2u8; 32]);
        let peer3 = PeerId::new([3u8; 32]);

        swim.mark_alive(peer1).await;
        swim.mark_alive(peer2).await; // Start as alive
        swim.mark_suspect(peer2).await; // Then mark suspect
        swim.mark_dead(peer3).await;

        let alive = swim.get_peers_in_state(PeerState::Alive).await;
        let suspects = swim.get_peers_in_state(PeerState::Suspect).await;
        let dead = swim.get_peers_in_state(PeerState::Dead).await;

        assert_eq!(alive.len(), 1);
        assert_eq!(suspects.len(), 1);
        assert_eq!(dead.len(), 1);

        assert!(alive.contains(&peer1));
        assert!(suspects.contains(&peer2));
        assert!(dead.contains(&peer3));
    }

    #[tokio::test]
    async fn test_swim_probe_fanout() {
        let transport = test_transport().await;
        let custom_fanout = 5;
        let swim = SwimDetector::new(test_peer_id(), 1, 3, custom_fanout, transport);

        assert_eq!(swim.probe_fanout(), custom_fanout);
    }

    #[tokio::test]
    async fn test_swim_default_probe_fanout() {
        let transport = test_transport().await;
        let swim = SwimDetector::new(test_peer_id(), 1, 3, SWIM_PROBE_FANOUT, transport);

        assert_eq!(swim.probe_fanout(), SWIM_PROBE_FANOUT);
        assert_eq!(SWIM_PROBE_FANOUT, 3);
    }

    // ===== Probe Timeout Tracking Tests =====

    #[tokio::test]
    async fn test_record_probe_adds_entry() {
        let transport = test_transport().await;
        let swim = SwimDetector::new(test_peer_id(), 1, 3, SWIM_PROBE_FANOUT, transport);
        let peer = PeerId::new([1u8; 32]);

        // Initially no pending probes
        let pending = swim.pending_probes.read().await;
        assert_eq!(pending.len(), 0);
        drop(pending);

        // Record a probe
        swim.record_probe(peer).await;

        // Should now have one pending probe
        let pending = swim.pending_probes.read().await;
        assert_eq!(pending.len(), 1);
        assert!(pending.contains_key(&peer));
    }

    #[tokio::test]
    async fn test_clear_probe_removes_entry() {
        let transport = test_transport().await;
        let swim = SwimDetector::new(test_peer_id(), 1, 3, SWIM_PROBE_FANOUT, transport);
        let peer = PeerId::new([1u8; 32]);

        // Record a probe
        swim.record_probe(peer).await;
        let pending = swim.pending_probes.read().await;
        assert_eq!(pending.len(), 1);
        drop(pending);

        // Clear the probe
        let was_present = swim.clear_probe(&peer).await;
        assert!(was_present);

        // Should now be empty
        let pending = swim.pending_probes.read().await;
        assert_eq!(pending.len(), 0);
    }

    #[tokio::test]
    async fn test_clear_probe_returns_false_when_not_present() {
        let transport = test_transport().await;
        let swim = SwimDetector::new(test_peer_id(), 1, 3, SWIM_PROBE_FANOUT, transport);
        let peer = PeerId::new([1u8; 32]);

        // Clear a probe that was never recorded
        let was_present = swim.clear_probe(&peer).await;
        assert!(!was_present);
    }

    #[tokio::test]
    async fn test_multiple_simultaneous_probes() {
        let transport = test_transport().await;
        let swim = SwimDetector::new(test_peer_id(), 1, 3, SWIM_PROBE_FANOUT, transport);
        let peer1 = PeerId::new([1u8; 32]);
        let peer2 = PeerId::new([2u8; 32]);
        let peer3 = PeerId::new([3u8; 32]);

        // Record multiple probes
        swim.record_probe(peer1).await;
        swim.record_probe(peer2).await;
        swim.record_probe(peer3).await;

        // Should have three pending probes
        let pending = swim.pending_probes.read().await;
        assert_eq!(pending.len(), 3);
        assert!(pending.contains_key(&peer1));
        assert!(pending.contains_key(&peer2));
        assert!(pending.contains_key(&peer3));
        drop(pending);

        // Clear one probe
        swim.clear_probe(&peer2).await;

        // Should have two remaining
        let pending = swim.pending_probes.read().await;
        assert_eq!(pending.len(), 2);
        assert!(pending.contains_key(&peer1));
        assert!(!pending.contains_key(&peer2));
        assert!(pending.contains_key(&peer3));
    }

    #[tokio::test]
    async fn test_record_probe_updates_existing_entry() {
        let transport = test_transport().await;
        let swim = SwimDetector::new(test_peer_id(), 1, 3, SWIM_PROBE_FANOUT, transport);
        let peer = PeerId::new([1u8; 32]);

        // Record initial probe
        swim.record_probe(peer).await;
        let first_instant = {
            let pending = swim.pending_probes.read().await;
            *pending.get(&peer).expect("probe should exist")
        };

        // Wait a bit
        tokio::time::sleep(tokio::time::Duration::from_millis(10)).await;

        // Record another probe for the same peer
        swim.record_probe(peer).await;
        let second_instant = {
            let pending = swim.pending_probes.read().await;
            *pending.get(&peer).expect("probe should exist")
        };

        // The timestamp should have been updated
        assert!(second_instant > first_instant);

        // Should still have only one entry
        let pending = swim.pending_probes.read().await;
        assert_eq!(pending.len(), 1);
    }

    // ===== Shuffle Protocol Tests =====

    #[tokio::test]
    async fn test_shuffle_returns_ok_with_empty_active_view() {
        let membership = test_membership().await;

        // With empty active view, shuffle should return Ok but do nothing
        let result = membership.shuffle().await;
        assert!(result.is_ok());
    }

    #[tokio::test]
    async fn test_shuffle_builds_peer_list() {
        let membership = test_membership().await;

        // Add peers to active and passive views
        let active_peer = PeerId::new([1u8; 32]);
        let passive_peer = PeerId::new([2u8; 32]);

        membership.add_active(active_peer).await.ok();
        membership.add_to_passive(passive_peer).await;

        // Shuffle should succeed (message send may fail without real connection, but that's OK)
        let result = membership.shuffle().await;
        // The actual send may fail without a real transport, but the logic completes
        // We verify the method doesn't panic and structures are correctly accessed
        assert!(result.is_ok() || result.is_err()); // Either is acceptable in test
    }

    #[tokio::test]
    async fn test_sample_active_returns_correct_count() {
        let membership = test_membership().await;

        // Add 5 peers to active
        for i in 1..=5 {
            let peer = PeerId::new([i; 32]);
            membership.add_active(peer).await.ok();
        }

        let sample = membership.sample_active(3).await;
        assert!(sample.len() <= 3);
        assert!(sample.len() <= 5); // Can't return more than exist
    }

    #[tokio::test]
    async fn test_sample_passive_returns_correct_count() {
        let membership = test_membership().await;

        // Add 5 peers to passive
        for i in 1..=5 {
            let peer = PeerId::new([i; 32]);
            membership.add_to_passive(peer).await;
        }

        let sample = membership.sample_passive(3).await;
        assert!(sample.len() <= 3);
    }

    #[tokio::test]
    async fn test_handle_shuffle_reply_adds_to_passive() {
        let membership = test_membership().await;
        let peer1 = PeerId::new([1u8; 32]);
        let peer2 = PeerId::new([2u8; 32]);

        // Initially empty passive view
        assert_eq!(membership.passive_view().len(), 0);

        // Handle shuffle reply with peers
        membership.handle_shuffle_reply(vec![peer1, peer2]).await;

        // Both peers should be in passive view
        let passive = membership.passive_view();
        assert_eq!(passive.len(), 2);
        assert!(passive.contains(&peer1));
        assert!(passive.contains(&peer2));
    }

    #[tokio::test]
    async fn test_handle_shuffle_reply_excludes_self() {
        let membership = test_membership().await;
        let local_peer = test_peer_id(); // Same as membership's local peer
        let other_peer = PeerId::new([1u8; 32]);

        // Handle shuffle reply containing self
        membership
            .handle_shuffle_reply(vec![local_peer, other_peer])
            .await;

        // Only other_peer should be in passive view, not self
        let passive = membership.passive_view();
        assert_eq!(passive.len(), 1);
        assert!(passive.contains(&other_peer));
        assert!(!passive.contains(&local_peer));
    }

    #[tokio::test]
    async fn test_handle_shuffle_terminal_node_attempts_reply() {
        let membership = test_membership().await;
        let sender = PeerId::new([1u8; 32]);
        let shuffle_peer = PeerId::new([2u8; 32]);

        // With empty active view and TTL=0, handle_shuffle should try to send reply
        // In test environment without real transport, this will fail
        // But we verify the method doesn't panic and handles gracefully
        let result = membership
            .handle_shuffle(sender, vec![shuffle_peer], 0)
            .await;

        // Expected to fail since we can't send reply without real transport
        // The important test is that it doesn't panic and follows correct logic
        assert!(result.is_err());
    }

    #[tokio::test]
    async fn test_handle_shuffle_reply_integrates_peers_correctly() {
        // This tests the actual peer integration logic that handle_shuffle uses
        // (handle_shuffle_reply is the same code path for integrating received peers)
        let membership = test_membership().await;
        let shuffle_peer = PeerId::new([2u8; 32]);

        // Directly verify the add_to_passive logic that handle_shuffle uses
        membership.add_to_passive(shuffle_peer).await;

        let passive = membership.passive_view();
        assert!(passive.contains(&shuffle_peer));
    }

    #[tokio::test]
    async fn test_add_to_passive_excludes_active_peers() {
        let membership = test_membership().await;
        let peer = PeerId::new([1u8; 32]);

        // Add peer to active view first
        membership.add_active(peer).await.ok();

        // Try to add same peer to passive
        membership.add_to_passive(peer).await;

        // Peer should be in active but not passive
        assert!(membership.active_view().contains(&peer));
        assert!(!membership.passive_view().contains(&peer));
    }

    #[tokio::test]
    async fn test_add_to_passive_excludes_self() {
        let membership = test_membership().await;
        let local_peer = test_peer_id();

        // Try to add self to passive
        membership.add_to_passive(local_peer).await;

        // Self should not be in passive view
        assert!(!membership.passive_view().contains(&local_peer));
    }

    #[tokio::test]
    async fn test_random_active_peer_except() {
        let membership = test_membership().await;
        let peer1 = PeerId::new([1u8; 32]);
        let peer2 = PeerId::new([2u8; 32]);

        membership.add_active(peer1).await.ok();
        membership.add_active(peer2).await.ok();

        // Should return a peer that is not peer1
        let result = membership.random_active_peer_except(peer1).await;
        assert!(result.is_some());
        assert_ne!(result.unwrap(), peer1);
    }

    #[tokio::test]
    async fn test_random_active_peer_except_returns_none_when_only_excluded() {
        let membership = test_membership().await;
        let peer1 = PeerId::new([1u8; 32]);

        membership.add_active(peer1).await.ok();

        // With only peer1 in active view, excluding peer1 should return None
        let result = membership.random_active_peer_except(peer1).await;
        assert!(result.is_none());
    }

    #[tokio::test]
    async fn test_handle_shuffle_forwards_when_ttl_positive_and_active_peers_exist() {
        let membership = test_membership().await;
        let sender = PeerId::new([1u8; 32]);
        let forwarder = PeerId::new([2u8; 32]);
        let shuffle_peer = PeerId::new([3u8; 32]);

        // Add sender and another peer to active view (need 2+ for forwarding)
        membership.add_active(sender).await.ok();
        membership.add_active(forwarder).await.ok();

        // Handle shuffle with TTL > 0: should attempt to forward
        let result = membership
            .handle_shuffle(sender, vec![shuffle_peer], 2)
            .await;

        // Should fail because no forwarding link is established yet
        assert!(result.is_err());

        // Peers should NOT be integrated when forwarding (only terminal nodes integrate)
        let passive = membership.passive_view();
        assert!(
            !passive.contains(&shuffle_peer),
            "Peers should not be integrated when forwarding"
        );
    }

    #[tokio::test]
    async fn test_handle_shuffle_becomes_terminal_when_sender_is_only_active_peer() {
        let membership = test_membership().await;
        let sender = PeerId::new([1u8; 32]);
        let shuffle_peer = PeerId::new([2u8; 32]);

        // Add only sender to active view (can't forward to anyone else)
        membership.add_active(sender).await.ok();

        // Handle shuffle with TTL > 0 but no one to forward to
        // Should act as terminal node and try to send reply (which fails)
        let result = membership
            .handle_shuffle(sender, vec![shuffle_peer], 2)
            .await;

        // Fails when trying to send shuffle reply
        assert!(result.is_err());
    }

    // ===== SwimMessage Serialization Tests =====

    #[test]
    fn test_swim_message_ping_roundtrip() {
        let msg = SwimMessage::Ping;
        let bytes = postcard::to_stdvec(&msg).expect("serialize");
        let deserialized: SwimMessage = postcard::from_bytes(&bytes).expect("deserialize");

        match deserialized {
            SwimMessage::Ping => {}
            _ => panic!("Expected Ping variant"),
        }
    }

    #[test]
    fn test_swim_message_ack_roundtrip() {
        let msg = SwimMessage::Ack;
        let bytes = postcard::to_stdvec(&msg).expect("serialize");
        let deserialized: SwimMessage = postcard::from_bytes(&bytes).expect("deserialize");

        match deserialized {
            SwimMessage::Ack => {}
            _ => panic!("Expected Ack variant"),
        }
    }

    #[test]
    fn test_swim_message_pingreq_roundtrip() {
        let target = PeerId::new([1u8; 32]);
        let requester = PeerId::new([2u8; 32]);
        let msg = SwimMessage::PingReq { target, requester };

        let bytes = postcard::to_stdvec(&msg).expect("serialize");
        let deserialized: SwimMessage = postcard::from_bytes(&bytes).expect("deserialize");

        match deserialized {
            SwimMessage::PingReq {
                target: t,
                requester: r,
            } => {
                assert_eq!(t, target);
                assert_eq!(r, requester);
            }
            _ => panic!("Expected PingReq variant"),
        }
    }

    #[test]
    fn test_swim_message_ackresponse_roundtrip() {
        let target = PeerId::new([3u8; 32]);
        let requester = PeerId::new([4u8; 32]);
        let msg = SwimMessage::AckResponse { target, requester };

        let bytes = postcard::to_stdvec(&msg).expect("serialize");
        let deserialized: SwimMessage = postcard::from_bytes(&bytes).expect("deserialize");

        match deserialized {
            SwimMessage::AckResponse {
                target: t,
                requester: r,
            } => {
                assert_eq!(t, target);
                assert_eq!(r, requester);
            }
            _ => panic!("Expected AckResponse variant"),
        }
    }

    #[test]
    fn test_swim_message_pingreq_contains_correct_peer_ids() {
        let target = PeerId::new([10u8; 32]);
        let requester = PeerId::new([20u8; 32]);
        let msg = SwimMessage::PingReq { target, requester };

        match msg {
            SwimMessage::PingReq {
                target: t,
                requester: r,
            } => {
                assert_eq!(t, target);
                assert_eq!(r, requester);
                assert_ne!(t, r); // Ensure they're different
            }
            _ => panic!("Expected PingReq variant"),
        }
    }

    #[test]
    fn test_swim_message_ackresponse_contains_correct_peer_ids() {
        let target = PeerId::new([30u8; 32]);
        let requester = PeerId::new([40u8; 32]);
        let msg = SwimMessage::AckResponse { target, requester };

        match msg {
            SwimMessage::AckResponse {
                target: t,
                requester: r,
            } => {
                assert_eq!(t, target);
                assert_eq!(r, requester);
                assert_ne!(t, r); // Ensure they're different
            }
            _ => panic!("Expected AckResponse variant"),
        }
    }

    #[test]
    fn test_all_swim_message_variants_serialize() {
        let target = PeerId::new([1u8; 32]);
        let requester = PeerId::new([2u8; 32]);

        let messages = vec![
            SwimMessage::Ping,
            SwimMessage::Ack,
            SwimMessage::PingReq { target, requester },
            SwimMessage::AckResponse { target, requester },
        ];

        for msg in messages {
            let bytes = postcard::to_stdvec(&msg).expect("serialize");
            let _deserialized: SwimMessage = postcard::from_bytes(&bytes).expect("deserialize");
        }
    }

    // ===== handle_ping and handle_ack Tests =====

    #[tokio::test]
    async fn test_handle_ping_marks_sender_alive() {
        let transport = test_transport().await;
        let swim = SwimDetector::new(test_peer_id(), 1, 3, SWIM_PROBE_FANOUT, transport);
        let sender = PeerId::new([1u8; 32]);

        // Initially no state for this peer
        assert_eq!(swim.get_state(&sender).await, None);

        // Handle ping from sender
        let result = swim.handle_ping(sender).await;

        // Should succeed (send might fail without real connection, but that's OK for this test)
        // The important part is marking as alive
        assert_eq!(swim.get_state(&sender).await, Some(PeerState::Alive));

        // Result may be Err due to send failing, but state should be updated
        let _ = result;
    }

    #[tokio::test]
    async fn test_handle_ack_marks_sender_alive() {
        let transport = test_transport().await;
        let swim = SwimDetector::new(test_peer_id(), 1, 3, SWIM_PROBE_FANOUT, transport);
        let sender = PeerId::new([1u8; 32]);

        // Initially no state for this peer
        assert_eq!(swim.get_state(&sender).await, None);

        // Handle ack from sender
        let result = swim.handle_ack(sender).await;
        assert!(result.is_ok());

        // Sender should be marked as alive
        assert_eq!(swim.get_state(&sender).await, Some(PeerState::Alive));
    }

    #[tokio::test]
    async fn test_handle_ack_clears_pending_probe() {
        let transport = test_transport().await;
        let swim = SwimDetector::new(test_peer_id(), 1, 3, SWIM_PROBE_FANOUT, transport);
        let peer = PeerId::new([1u8; 32]);

        // Record a pending probe
        swim.record_probe(peer).await;
        let pending = swim.pending_probes.read().await;
        assert_eq!(pending.len(), 1);
        drop(pending);

        // Handle ack from peer
        let result = swim.handle_ack(peer).await;
        assert!(result.is_ok());

        // Pending probe should be cleared
        let pending = swim.pending_probes.read().await;
        assert_eq!(pending.len(), 0);
    }

    #[tokio::test]
    async fn test_handle_ack_unexpected_peer() {
        let transport = test_transport().await;
        let swim = SwimDetector::new(test_peer_id(), 1, 3, SWIM_PROBE_FANOUT, transport);
        let unexpected_peer = PeerId::new([99u8; 32]);

        // Handle ack from peer we never probed
        let result = swim.handle_ack(unexpected_peer).await;

        // Should not panic and should succeed
        assert!(result.is_ok());

        // Peer should be marked as alive even if unexpected
        assert_eq!(
            swim.get_state(&unexpected_peer).await,
            Some(PeerState::Alive)
        );
    }

    #[tokio::test]
    async fn test_handle_ping_updates_suspect_to_alive() {
        let transport = test_transport().await;
        let swim = SwimDetector::new(test_peer_id(), 1, 3, SWIM_PROBE_FANOUT, transport);
        let sender = PeerId::new([1u8; 32]);

        // Mark peer as suspect first
        swim.mark_alive(sender).await;
        swim.mark_suspect(sender).await;
        assert_eq!(swim.get_state(&sender).await, Some(PeerState::Suspect));

        // Handle ping from sender
        let _ = swim.handle_ping(sender).await;

        // Should be marked alive again
        assert_eq!(swim.get_state(&sender).await, Some(PeerState::Alive));
    }

    #[tokio::test]
    async fn test_handle_ack_updates_dead_to_alive() {
        let transport = test_transport().await;
        let swim = SwimDetector::new(test_peer_id(), 1, 3, SWIM_PROBE_FANOUT, transport);
        let sender = PeerId::new([1u8; 32]);

        // Mark peer as dead first
        swim.mark_dead(sender).await;
        assert_eq!(swim.get_state(&sender).await, Some(PeerState::Dead));

        // Handle ack from sender (zombie!)
        let result = swim.handle_ack(sender).await;
        assert!(result.is_ok());

        // Should be marked alive again
        assert_eq!(swim.get_state(&sender).await, Some(PeerState::Alive));
    }

    #[tokio::test]
    async fn test_handle_multiple_pings_from_same_peer() {
        let transport = test_transport().await;
        let swim = SwimDetector::new(test_peer_id(), 1, 3, SWIM_PROBE_FANOUT, transport);
        let sender = PeerId::new([1u8; 32]);

        // Handle multiple pings
        for _ in 0..5 {
            let _ = swim.handle_ping(sender).await;
        }

        // Should still be alive and only one entry
        assert_eq!(swim.get_state(&sender).await, Some(PeerState::Alive));

        let states = swim.states.read().await;
        assert_eq!(states.len(), 1);
    }

    #[tokio::test]
    async fn test_handle_ack_multiple_times_same_peer() {
        let transport = test_transport().await;
        let swim = SwimDetector::new(test_peer_id(), 1, 3, SWIM_PROBE_FANOUT, transport);
        let sender = PeerId::new([1u8; 32]);

        // Record probe and handle multiple acks
        swim.record_probe(sender).await;

        for i in 0..3 {
            let result = swim.handle_ack(sender).await;
            assert!(result.is_ok());

            // Only first ack should clear the probe
            if i == 0 {
                let pending = swim.pending_probes.read().await;
                assert_eq!(pending.len(), 0);
            }
        }

        // Should still be alive
        assert_eq!(swim.get_state(&sender).await, Some(PeerState::Alive));
    }

    // ===== Probe Task Multiple Peers Tests =====

    #[tokio::test]
    async fn test_probe_task_probes_multiple_peers() {
        let transport = test_transport().await;
        let fanout = 3;
        // probe_period = 1 s so the first scheduled tick lands within the
        // test budget. (Per #9 the first tick is delayed by `probe_period`
        // — previously it fired immediately and races with test setup.)
        let swim = SwimDetector::new(test_peer_id(), 1, 100, fanout, transport);

        // Add 10 alive peers
        for i in 1..=10 {
            let peer = PeerId::new([i; 32]);
            swim.mark_alive(peer).await;
        }

        // Wait past the first delayed tick (period=1s + slack).
        tokio::time::sleep(Duration::from_millis(1_200)).await;

        // Check pending_probes - should have multiple entries (at least 2, up to fanout)
        let pending = swim.pending_probes.read().await;
        assert!(
            pending.len() >= 2,
            "Expected at least 2 pending probes (multiple peers probed), got {}",
            pending.len()
        );
        assert!(
            pending.len() <= fanout,
            "Expected at most {} pending probes, got {}",
            fanout,
            pending.len()
        );
    }

    #[tokio::test]
    async fn test_probe_task_probes_all_when_fewer_than_fanout() {
        let transport = test_transport().await;
        let fanout = 3;
        // probe_period = 1 s so the first scheduled tick lands within the
        // test budget. (Per #9 the first tick is delayed by `probe_period`.)
        let swim = SwimDetector::new(test_peer_id(), 1, 100, fanout, transport);

        // Add only 2 alive peers (fewer than fanout)
        let peer1 = PeerId::new([1; 32]);
        let peer2 = PeerId::new([2; 32]);
        swim.mark_alive(peer1).await;
        swim.mark_alive(peer2).await;

        // Wait past the first delayed tick (period=1s + slack).
        tokio::time::sleep(Duration::from_millis(1_200)).await;

        // Check pending_probes - should have probed both peers
        let pending = swim.pending_probes.read().await;
        assert_eq!(
            pending.len(),
            2,
            "Expected exactly 2 pending probes (both peers), got {}",
            pending.len()
        );
        assert!(pending.contains_key(&peer1));
        assert!(pending.contains_key(&peer2));
    }

    // ===== Task 6: Probe Timeout Detection Tests =====

    #[tokio::test]
    async fn test_probe_timeout_marks_suspect() {
        let transport = test_transport().await;
        // Use short timeout for faster test
        let swim = SwimDetector::new(test_peer_id(), 1, 100, SWIM_PROBE_FANOUT, transport);
        let peer = PeerId::new([1u8; 32]);

        // Mark peer as alive and record probe
        swim.mark_alive(peer).await;
        swim.record_probe(peer).await;

        // Verify initially alive
        assert_eq!(swim.get_state(&peer).await, Some(PeerState::Alive));

        // Wait for timeout. The probe_timeout_task interval has an immediate first tick,
        // then subsequent ticks every SWIM_ACK_TIMEOUT_MS (500ms).
        // The timeout check looks for probes with elapsed >= SWIM_ACK_TIMEOUT_MS.
        // Wait up to 3 seconds with polling to handle timing variations and system load
        for _ in 0..15 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if swim.get_state(&peer).await == Some(PeerState::Suspect) {
                // Success! Check probe was cleared
                let pending = swim.pending_probes.read().await;
                assert!(!pending.contains_key(&peer));
                return;
            }
        }

        // If we get here, the timeout never triggered
        panic!(
            "Probe timeout did not mark peer as suspect after 3 seconds. State: {:?}",
            swim.get_state(&peer).await
        );
    }

    #[tokio::test]
    async fn test_probe_ack_before_timeout_stays_alive() {
        let transport = test_transport().await;
        let swim = SwimDetector::new(test_peer_id(), 1, 100, SWIM_PROBE_FANOUT, transport);
        let peer = PeerId::new([1u8; 32]);

        // Mark peer as alive and record probe
        swim.mark_alive(peer).await;
        swim.record_probe(peer).await;

        // Verify initially alive
        assert_eq!(swim.get_state(&peer).await, Some(PeerState::Alive));

        // Send ack within timeout (300ms < 500ms)
        tokio::time::sleep(Duration::from_millis(300)).await;
        swim.handle_ack(peer).await.ok();

        // Should still be alive
        assert_eq!(swim.get_state(&peer).await, Some(PeerState::Alive));

        // Wait past the original timeout
        tokio::time::sleep(Duration::from_millis(300)).await;

        // Should still be alive (ack cleared the probe)
        assert_eq!(swim.get_state(&peer).await, Some(PeerState::Alive));
    }

    // ===== Task 7: Indirect Probe Protocol Tests =====

    #[tokio::test]
    async fn test_request_indirect_probes_sends_ping_req() {
        let transport = test_transport().await;
        let swim = SwimDetector::new(test_peer_id(), 1, 100, SWIM_PROBE_FANOUT, transport);
        let target = PeerId::new([1u8; 32]);
        let helper1 = PeerId::new([2u8; 32]);
        let helper2 = PeerId::new([3u8; 32]);
        let helper3 = PeerId::new([4u8; 32]);

        // Add helper peers as alive
        swim.mark_alive(helper1).await;
        swim.mark_alive(helper2).await;
        swim.mark_alive(helper3).await;

        // Request indirect probes (will fail to send without real transport, but logs the attempt)
        let result = swim.request_indirect_probes(target).await;
        assert!(result.is_ok());
    }

    #[tokio::test]
    async fn test_request_indirect_probes_with_no_alive_peers() {
        let transport = test_transport().await;
        let swim = SwimDetector::new(test_peer_id(), 1, 100, SWIM_PROBE_FANOUT, transport);
        let target = PeerId::new([1u8; 32]);

        // No alive peers - should return Ok but do nothing
        let result = swim.request_indirect_probes(target).await;
        assert!(result.is_ok());
    }

    #[tokio::test]
    async fn test_handle_ping_req_pings_target() {
        let transport = test_transport().await;
        let swim = SwimDetector::new(test_peer_id(), 1, 100, SWIM_PROBE_FANOUT, transport);
        let requester = PeerId::new([1u8; 32]);
        let target = PeerId::new([2u8; 32]);

        // Handle PingReq (will fail without real transport, but shouldn't panic)
        let result = swim.handle_ping_req(requester, target).await;
        // Expected to fail due to no real transport connection
        assert!(result.is_err());
    }

    #[tokio::test]
    async fn test_indirect_probe_ack_forwards_ack_response_to_requester() {
        let helper = test_peer_id();
        let requester = PeerId::new([1u8; 32]);
        let target = PeerId::new([2u8; 32]);
        let transport = Arc::new(RecordingTransport::new(helper));
        let swim = SwimDetector::new(helper, 100, 100, SWIM_PROBE_FANOUT, Arc::clone(&transport));

        swim.handle_ping_req(requester, target)
            .await
            .expect("ping request should send helper ping");

        let sent = transport.sent_messages().await;
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].peer, target);
        assert_eq!(sent[0].stream_type, GossipStreamType::Membership);
        match postcard::from_bytes(&sent[0].data).expect("deserialize helper ping") {
            MembershipProtocolMessage::Swim(SwimMessage::Ping) => {}
            other => panic!("expected helper Ping, got {other:?}"),
        }
        drop(sent);

        swim.handle_ack(target)
            .await
            .expect("target ack should be forwarded to requester");

        let sent = transport.sent_messages().await;
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[1].peer, requester);
        assert_eq!(sent[1].stream_type, GossipStreamType::Membership);
        match postcard::from_bytes(&sent[1].data).expect("deserialize ack response") {
            MembershipProtocolMessage::Swim(SwimMessage::AckResponse {
                target: ack_target,
                requester: ack_requester,
            }) => {
                assert_eq!(ack_target, target);
                assert_eq!(ack_requester, requester);
            }
            other => panic!("expected AckResponse, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn test_handle_ack_response_marks_alive() {
        let transport = test_transport().await;
        let swim = SwimDetector::new(test_peer_id(), 1, 100, SWIM_PROBE_FANOUT, transport);
        let target = PeerId::new([1u8; 32]);

        // Mark target as suspect first
        swim.mark_alive(target).await;
        swim.mark_suspect(target).await;
        assert_eq!(swim.get_state(&target).await, Some(PeerState::Suspect));

        // Handle AckResponse
        let result = swim.handle_ack_response(target).await;
        assert!(result.is_ok());

        // Should be marked alive again
        assert_eq!(swim.get_state(&target).await, Some(PeerState::Alive));
    }

    #[tokio::test]
    async fn test_handle_ack_response_clears_pending_probe() {
        let transport = test_transport().await;
        let swim = SwimDetector::new(test_peer_id(), 1, 100, SWIM_PROBE_FANOUT, transport);
        let target = PeerId::new([1u8; 32]);

        // Record a pending probe
        swim.record_probe(target).await;
        let pending = swim.pending_probes.read().await;
        assert_eq!(pending.len(), 1);
        drop(pending);

        // Handle AckResponse
        let result = swim.handle_ack_response(target).await;
        assert!(result.is_ok());

        // Pending probe should be cleared
        let pending = swim.pending_probes.read().await;
        assert_eq!(pending.len(), 0);
    }

    // ===== MembershipProtocolMessage Serialization Tests =====

    #[test]
    fn test_membership_protocol_message_hyparview_join_roundtrip() {
        let msg = MembershipProtocolMessage::HyParView(HyParViewMessage::Join {
            sender: PeerId::new([1u8; 32]),
            ttl: 6,
        });
        let bytes = postcard::to_stdvec(&msg).expect("serialize");
        let deserialized: MembershipProtocolMessage =
            postcard::from_bytes(&bytes).expect("deserialize");

        match deserialized {
            MembershipProtocolMessage::HyParView(HyParViewMessage::Join { sender, ttl }) => {
                assert_eq!(sender, PeerId::new([1u8; 32]));
                assert_eq!(ttl, 6);
            }
            _ => panic!("Expected HyParView(Join)"),
        }
    }

    #[test]
    fn test_membership_protocol_message_hyparview_disconnect_roundtrip() {
        let msg = MembershipProtocolMessage::HyParView(HyParViewMessage::Disconnect);
        let bytes = postcard::to_stdvec(&msg).expect("serialize");
        let deserialized: MembershipProtocolMessage =
            postcard::from_bytes(&bytes).expect("deserialize");

        match deserialized {
            MembershipProtocolMessage::HyParView(HyParViewMessage::Disconnect) => {}
            _ => panic!("Expected HyParView(Disconnect)"),
        }
    }

    #[test]
    fn test_membership_protocol_message_swim_ping_roundtrip() {
        let msg = MembershipProtocolMessage::Swim(SwimMessage::Ping);
        let bytes = postcard::to_stdvec(&msg).expect("serialize");
        let deserialized: MembershipProtocolMessage =
            postcard::from_bytes(&bytes).expect("deserialize");

        match deserialized {
            MembershipProtocolMessage::Swim(SwimMessage::Ping) => {}
            _ => panic!("Expected Swim(Ping)"),
        }
    }

    #[test]
    fn test_membership_protocol_message_swim_ack_roundtrip() {
        let msg = MembershipProtocolMessage::Swim(SwimMessage::Ack);
        let bytes = postcard::to_stdvec(&msg).expect("serialize");
        let deserialized: MembershipProtocolMessage =
            postcard::from_bytes(&bytes).expect("deserialize");

        match deserialized {
            MembershipProtocolMessage::Swim(SwimMessage::Ack) => {}
            _ => panic!("Expected Swim(Ack)"),
        }
    }

    #[test]
    fn test_membership_protocol_message_swim_pingreq_roundtrip() {
        let target = PeerId::new([1u8; 32]);
        let requester = PeerId::new([2u8; 32]);
        let msg = MembershipProtocolMessage::Swim(SwimMessage::PingReq { target, requester });
        let bytes = postcard::to_stdvec(&msg).expect("serialize");
        let deserialized: MembershipProtocolMessage =
            postcard::from_bytes(&bytes).expect("deserialize");

        match deserialized {
            MembershipProtocolMessage::Swim(SwimMessage::PingReq {
                target: t,
                requester: r,
            }) => {
                assert_eq!(t, target);
                assert_eq!(r, requester);
            }
            _ => panic!("Expected Swim(PingReq)"),
        }
    }

    #[test]
    fn test_membership_protocol_message_swim_ackresponse_roundtrip() {
        let target = PeerId::new([3u8; 32]);
        let requester = PeerId::new([4u8; 32]);
        let msg = MembershipProtocolMessage::Swim(SwimMessage::AckResponse { target, requester });
        let bytes = postcard::to_stdvec(&msg).expect("serialize");
        let deserialized: MembershipProtocolMessage =
            postcard::from_bytes(&bytes).expect("deserialize");

        match deserialized {
            MembershipProtocolMessage::Swim(SwimMessage::AckResponse {
                target: t,
                requester: r,
            }) => {
                assert_eq!(t, target);
                assert_eq!(r, requester);
            }
            _ => panic!("Expected Swim(AckResponse)"),
        }
    }

    #[test]
    fn test_membership_protocol_message_all_hyparview_variants_roundtrip() {
        let sender = PeerId::new([1u8; 32]);
        let new_peer = PeerId::new([2u8; 32]);

        let messages = vec![
            MembershipProtocolMessage::HyParView(HyParViewMessage::Join { sender, ttl: 6 }),
            MembershipProtocolMessage::HyParView(HyParViewMessage::ForwardJoin {
                sender,
                new_peer,
                ttl: 3,
            }),
            MembershipProtocolMessage::HyParView(HyParViewMessage::Neighbor {
                sender,
                priority: NeighborPriority::High,
            }),
            MembershipProtocolMessage::HyParView(HyParViewMessage::NeighborReply {
                accepted: true,
            }),
            MembershipProtocolMessage::HyParView(HyParViewMessage::Shuffle {
                sender,
                peers: vec![new_peer],
                ttl: 3,
            }),
            MembershipProtocolMessage::HyParView(HyParViewMessage::ShuffleReply {
                peers: vec![sender],
            }),
            MembershipProtocolMessage::HyParView(HyParViewMessage::Disconnect),
        ];

        for msg in messages {
            let bytes = postcard::to_stdvec(&msg).expect("serialize");
            let _: MembershipProtocolMessage = postcard::from_bytes(&bytes).expect("deserialize");
        }
    }

    #[test]
    fn test_membership_protocol_message_all_swim_variants_roundtrip() {
        let target = PeerId::new([1u8; 32]);
        let requester = PeerId::new([2u8; 32]);

        let messages = vec![
            MembershipProtocolMessage::Swim(SwimMessage::Ping),
            MembershipProtocolMessage::Swim(SwimMessage::Ack),
            MembershipProtocolMessage::Swim(SwimMessage::PingReq { target, requester }),
            MembershipProtocolMessage::Swim(SwimMessage::AckResponse { target, requester }),
        ];

        for msg in messages {
            let bytes = postcard::to_stdvec(&msg).expect("serialize");
            let _: MembershipProtocolMessage = postcard::from_bytes(&bytes).expect("deserialize");
        }
    }

    // ===== dispatch_message Tests =====

    #[tokio::test]
    async fn test_dispatch_swim_ping_routes_to_handle_ping() {
        let membership = test_membership().await;
        let sender = PeerId::new([1u8; 32]);

        // Serialize a SWIM Ping wrapped in MembershipProtocolMessage
        let msg = MembershipProtocolMessage::Swim(SwimMessage::Ping);
        let bytes = postcard::to_stdvec(&msg).expect("serialize");

        // Dispatch - handle_ping will mark sender alive and try to send Ack
        // Ack send may fail without real transport, but state should be updated
        let _ = membership.dispatch_message(sender, &bytes).await;

        // Verify sender was marked as alive (handle_ping behavior)
        assert_eq!(
            membership.swim().get_state(&sender).await,
            Some(PeerState::Alive)
        );
    }

    #[tokio::test]
    async fn test_dispatch_swim_ack_routes_to_handle_ack() {
        let membership = test_membership().await;
        let sender = PeerId::new([1u8; 32]);

        // Record a pending probe first
        membership.swim().record_probe(sender).await;
        let pending = membership.swim().pending_probes.read().await;
        assert_eq!(pending.len(), 1);
        drop(pending);

        // Serialize a SWIM Ack wrapped in MembershipProtocolMessage
        let msg = MembershipProtocolMessage::Swim(SwimMessage::Ack);
        let bytes = postcard::to_stdvec(&msg).expect("serialize");

        // Dispatch
        let result = membership.dispatch_message(sender, &bytes).await;
        assert!(result.is_ok());

        // Verify sender was marked as alive and probe was cleared
        assert_eq!(
            membership.swim().get_state(&sender).await,
            Some(PeerState::Alive)
        );
        let pending = membership.swim().pending_probes.read().await;
        assert_eq!(pending.len(), 0);
    }

    #[tokio::test]
    async fn test_dispatch_swim_pingreq_routes_to_handle_ping_req() {
        let membership = test_membership().await;
        let sender = PeerId::new([1u8; 32]);
        let target = PeerId::new([2u8; 32]);
        let requester = PeerId::new([3u8; 32]);

        // Serialize a SWIM PingReq wrapped in MembershipProtocolMessage
        let msg = MembershipProtocolMessage::Swim(SwimMessage::PingReq { target, requester });
        let bytes = postcard::to_stdvec(&msg).expect("serialize");

        // Dispatch - will try to send Ping to target (will fail without real transport)
        let result = membership.dispatch_message(sender, &bytes).await;

        // Expected to fail due to no real transport, but should not panic
        assert!(result.is_err());
    }

    #[tokio::test]
    async fn test_dispatch_swim_ack_response_routes_to_handle_ack_response() {
        let membership = test_membership().await;
        let sender = PeerId::new([1u8; 32]);
        let target = PeerId::new([2u8; 32]);
        // x0x patch: the answer is addressed to us, from a helper we asked.
        let requester = membership.local_peer_id;

        // Mark target as suspect
        membership.swim().mark_alive(target).await;
        membership.swim().mark_suspect(target).await;
        assert_eq!(
            membership.swim().get_state(&target).await,
            Some(PeerState::Suspect)
        );

        // Serialize an AckResponse wrapped in MembershipProtocolMessage
        let msg = MembershipProtocolMessage::Swim(SwimMessage::AckResponse { target, requester });
        let bytes = postcard::to_stdvec(&msg).expect("serialize");

        // x0x patch: unasked, it is dropped and changes nothing.
        assert!(membership.dispatch_message(sender, &bytes).await.is_err());
        assert_eq!(
            membership.swim().get_state(&target).await,
            Some(PeerState::Suspect)
        );

        // Dispatch
        membership
            .swim()
            .asked_indirect
            .write()
            .await
            .insert((target, sender), Instant::now());
        let result = membership.dispatch_message(sender, &bytes).await;
        assert!(result.is_ok());

        // Verify target was marked as alive (handle_ack_response behavior)
        assert_eq!(
            membership.swim().get_state(&target).await,
            Some(PeerState::Alive)
        );
    }

    #[tokio::test]
    async fn test_dispatch_hyparview_join_routes_correctly() {
        let membership = test_membership().await;
        let sender = PeerId::new([1u8; 32]);
        // x0x patch: a JOIN naming anyone but its sender is dropped.
        let forged = MembershipProtocolMessage::HyParView(HyParViewMessage::Join {
            sender: PeerId::new([5u8; 32]),
            ttl: 2,
        });
        let forged = postcard::to_stdvec(&forged).expect("serialize");
        assert!(membership.dispatch_message(sender, &forged).await.is_err());
        assert!(membership.active_view().is_empty());
        let join_sender = sender;

        // Serialize a HyParView Join wrapped in MembershipProtocolMessage
        let msg = MembershipProtocolMessage::HyParView(HyParViewMessage::Join {
            sender: join_sender,
            ttl: 2,
        });
        let bytes = postcard::to_stdvec(&msg).expect("serialize");

        // Dispatch - handle_join adds the peer to active view
        let result = membership.dispatch_message(sender, &bytes).await;
        assert!(result.is_ok());

        // Verify the joining peer was added to active view
        let active = membership.active_view();
        assert!(active.contains(&join_sender));
    }

    #[tokio::test]
    async fn test_dispatch_hyparview_disconnect_routes_correctly() {
        let membership = test_membership().await;
        let sender = PeerId::new([1u8; 32]);

        // Add sender to active view first
        membership.add_active(sender).await.ok();
        assert!(membership.active_view().contains(&sender));

        // Serialize a HyParView Disconnect wrapped in MembershipProtocolMessage
        let msg = MembershipProtocolMessage::HyParView(HyParViewMessage::Disconnect);
        let bytes = postcard::to_stdvec(&msg).expect("serialize");

        // Dispatch - handle_disconnect removes the sender from active view
        let result = membership.dispatch_message(sender, &bytes).await;
        assert!(result.is_ok());

        // Verify sender was removed from active view
        assert!(!membership.active_view().contains(&sender));
    }

    #[tokio::test]
    async fn test_dispatch_invalid_bytes_returns_error() {
        let membership = test_membership().await;
        let sender = PeerId::new([1u8; 32]);

        // Send garbage bytes
        let invalid_bytes = [0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0xFA];

        let result = membership.dispatch_message(sender, &invalid_bytes).await;

        // Should return an error, not panic
        assert!(result.is_err());

        let err_msg = format!("{}", result.err().unwrap());
        assert!(
            err_msg.contains("Failed to deserialize membership message"),
            "Error should mention deserialization failure, got: {}",
            err_msg
        );
    }

    #[tokio::test]
    async fn test_dispatch_empty_bytes_returns_error() {
        let membership = test_membership().await;
        let sender = PeerId::new([1u8; 32]);

        // Send empty bytes
        let result = membership.dispatch_message(sender, &[]).await;

        // Should return an error, not panic
        assert!(result.is_err());
    }

    #[tokio::test]
    async fn test_dispatch_hyparview_shuffle_reply_routes_correctly() {
        let membership = test_membership().await;
        let sender = PeerId::new([1u8; 32]);
        let peer_in_reply = PeerId::new([5u8; 32]);

        // Serialize a ShuffleReply
        let msg = MembershipProtocolMessage::HyParView(HyParViewMessage::ShuffleReply {
            peers: vec![peer_in_reply],
        });
        let bytes = postcard::to_stdvec(&msg).expect("serialize");

        // Dispatch
        let result = membership.dispatch_message(sender, &bytes).await;
        assert!(result.is_ok());

        // Verify the peer from the reply was added to passive view
        let passive = membership.passive_view();
        assert!(passive.contains(&peer_in_reply));
    }

    #[tokio::test]
    async fn test_dispatch_hyparview_neighbor_reply_accepted() {
        let membership = test_membership().await;
        let sender = PeerId::new([1u8; 32]);

        // Serialize a NeighborReply(accepted=true)
        let msg = MembershipProtocolMessage::HyParView(HyParViewMessage::NeighborReply {
            accepted: true,
        });
        let bytes = postcard::to_stdvec(&msg).expect("serialize");

        // Dispatch
        let result = membership.dispatch_message(sender, &bytes).await;
        assert!(result.is_ok());

        // Verify sender was marked alive via SWIM
        assert_eq!(
            membership.swim().get_state(&sender).await,
            Some(PeerState::Alive)
        );
    }

    // ===== Property-Based Tests (proptest) =====

    mod proptest_tests {
        use super::*;
        use proptest::prelude::*;
        use proptest::{collection, proptest};

        proptest! {
            /// For random cluster sizes and fanout values, probe_fanout() returns the configured value.
            #[test]
            fn probe_fanout_respects_k(
                _cluster_size in 3usize..=20,
                fanout in 1usize..=10
            ) {
                let rt = tokio::runtime::Runtime::new().unwrap();
                rt.block_on(async {
                    let transport = test_transport().await;
                    let swim = SwimDetector::new(test_peer_id(), 1, 3, fanout, transport);
                    assert_eq!(swim.probe_fanout(), fanout);
                });
            }

            /// For random sets of peer IDs, marking them alive then querying returns all of them.
            #[test]
            fn alive_peers_tracked_correctly(
                peer_bytes in collection::vec(any::<[u8; 32]>(), 1..=20)
            ) {
                let rt = tokio::runtime::Runtime::new().unwrap();
                rt.block_on(async {
                    let transport = test_transport().await;
                    let swim = SwimDetector::new(test_peer_id(), 100, 100, SWIM_PROBE_FANOUT, transport);

                    // Deduplicate peer IDs (same bytes = same peer)
                    let mut unique_peers = std::collections::HashSet::new();
                    let peers: Vec<PeerId> = peer_bytes
                        .into_iter()
                        .filter(|b| *b != [0u8; 32]) // Exclude self peer ID
                        .filter(|b| unique_peers.insert(*b))
                        .map(PeerId::new)
                        .collect();

                    for &peer in &peers {
                        swim.mark_alive(peer).await;
                    }

                    let alive = swim.get_peers_in_state(PeerState::Alive).await;
                    assert_eq!(alive.len(), peers.len());
                    for peer in &peers {
                        assert!(alive.contains(peer));
                    }
                });
            }

            /// For random sets of peer IDs, marking some alive and some suspect returns correct sets.
            #[test]
            fn suspect_peers_tracked_correctly(
                alive_bytes in collection::vec(any::<[u8; 32]>(), 1..=10),
                suspect_bytes in collection::vec(any::<[u8; 32]>(), 1..=10)
            ) {
                let rt = tokio::runtime::Runtime::new().unwrap();
                rt.block_on(async {
                    let transport = test_transport().await;
                    let swim = SwimDetector::new(test_peer_id(), 100, 100, SWIM_PROBE_FANOUT, transport);

                    // Build unique alive peers (exclude self)
                    let mut seen = std::collections::HashSet::new();
                    let alive_peers: Vec<PeerId> = alive_bytes
                        .into_iter()
                        .filter(|b| *b != [0u8; 32])
                        .filter(|b| seen.insert(*b))
                        .map(PeerId::new)
                        .collect();

                    // Build unique suspect peers (exclude self and already-alive peers)
                    let suspect_peers: Vec<PeerId> = suspect_bytes
                        .into_iter()
                        .filter(|b| *b != [0u8; 32])
                        .filter(|b| seen.insert(*b))
                        .map(PeerId::new)
                        .collect();

                    // Mark alive peers
                    for &peer in &alive_peers {
                        swim.mark_alive(peer).await;
                    }

                    // For suspect peers: must mark alive first, then suspect
                    for &peer in &suspect_peers {
                        swim.mark_alive(peer).await;
                        swim.mark_suspect(peer).await;
                    }

                    let alive_result = swim.get_peers_in_state(PeerState::Alive).await;
                    let suspect_result = swim.get_peers_in_state(PeerState::Suspect).await;

                    assert_eq!(alive_result.len(), alive_peers.len());
                    assert_eq!(suspect_result.len(), suspect_peers.len());

                    for peer in &alive_peers {
                        assert!(alive_result.contains(peer));
                    }
                    for peer in &suspect_peers {
                        assert!(suspect_result.contains(peer));
                    }
                });
            }

            /// For random sets of peer IDs, marking some dead returns the correct set.
            #[test]
            fn dead_peers_tracked_correctly(
                dead_bytes in collection::vec(any::<[u8; 32]>(), 1..=20)
            ) {
                let rt = tokio::runtime::Runtime::new().unwrap();
                rt.block_on(async {
                    let transport = test_transport().await;
                    let swim = SwimDetector::new(test_peer_id(), 100, 100, SWIM_PROBE_FANOUT, transport);

                    let mut unique_peers = std::collections::HashSet::new();
                    let dead_peers: Vec<PeerId> = dead_bytes
                        .into_iter()
                        .filter(|b| *b != [0u8; 32])
                        .filter(|b| unique_peers.insert(*b))
                        .map(PeerId::new)
                        .collect();

                    for &peer in &dead_peers {
                        swim.mark_dead(peer).await;
                    }

                    let dead_result = swim.get_peers_in_state(PeerState::Dead).await;
                    assert_eq!(dead_result.len(), dead_peers.len());
                    for peer in &dead_peers {
                        assert!(dead_result.contains(peer));
                    }
                });
            }

            /// For any peer that's marked suspect, marking alive transitions them back.
            #[test]
            fn mark_alive_clears_suspect(peer_bytes in any::<[u8; 32]>()) {
                // Skip self peer ID
                prop_assume!(peer_bytes != [0u8; 32]);

                let rt = tokio::runtime::Runtime::new().unwrap();
                rt.block_on(async {
                    let transport = test_transport().await;
                    let swim = SwimDetector::new(test_peer_id(), 100, 100, SWIM_PROBE_FANOUT, transport);
                    let peer = PeerId::new(peer_bytes);

                    // Mark alive then suspect
                    swim.mark_alive(peer).await;
                    swim.mark_suspect(peer).await;
                    assert_eq!(swim.get_state(&peer).await, Some(PeerState::Suspect));

                    // Mark alive again
                    swim.mark_alive(peer).await;
                    assert_eq!(swim.get_state(&peer).await, Some(PeerState::Alive));
                });
            }

            /// All SwimMessage variants roundtrip through postcard serialization.
            #[test]
            fn swim_message_roundtrip(
                target_bytes in any::<[u8; 32]>(),
                requester_bytes in any::<[u8; 32]>()
            ) {
                let target = PeerId::new(target_bytes);
                let requester = PeerId::new(requester_bytes);

                let messages = vec![
                    SwimMessage::Ping,
                    SwimMessage::Ack,
                    SwimMessage::PingReq { target, requester },
                    SwimMessage::AckResponse { target, requester },
                ];

                for msg in messages {
                    let bytes = postcard::to_stdvec(&msg).expect("serialize");
                    let deserialized: SwimMessage =
                        postcard::from_bytes(&bytes).expect("deserialize");

                    // Verify variant and field equality
                    match (&msg, &deserialized) {
                        (SwimMessage::Ping, SwimMessage::Ping) => {}
                        (SwimMessage::Ack, SwimMessage::Ack) => {}
                        (
                            SwimMessage::PingReq {
                                target: t1,
                                requester: r1,
                            },
                            SwimMessage::PingReq {
                                target: t2,
                                requester: r2,
                            },
                        ) => {
                            assert_eq!(t1, t2);
                            assert_eq!(r1, r2);
                        }
                        (
                            SwimMessage::AckResponse {
                                target: t1,
                                requester: r1,
                            },
                            SwimMessage::AckResponse {
                                target: t2,
                                requester: r2,
                            },
                        ) => {
                            assert_eq!(t1, t2);
                            assert_eq!(r1, r2);
                        }
                        _ => panic!("Variant mismatch after roundtrip"),
                    }
                }
            }

            /// Recording a probe then handling an ack clears the pending probe.
            #[test]
            fn pending_probes_cleared_on_ack(peer_bytes in any::<[u8; 32]>()) {
                // Skip self peer ID
                prop_assume!(peer_bytes != [0u8; 32]);

                let rt = tokio::runtime::Runtime::new().unwrap();
                rt.block_on(async {
                    let transport = test_transport().await;
                    let swim = SwimDetector::new(test_peer_id(), 100, 100, SWIM_PROBE_FANOUT, transport);
                    let peer = PeerId::new(peer_bytes);

                    // Record a probe
                    swim.record_probe(peer).await;
                    let pending = swim.pending_probes.read().await;
                    assert!(pending.contains_key(&peer));
                    drop(pending);

                    // Handle ack
                    swim.handle_ack(peer).await.expect("handle_ack");

                    // Pending probe should be cleared
                    let pending = swim.pending_probes.read().await;
                    assert!(!pending.contains_key(&peer));

                    // Peer should be alive
                    assert_eq!(swim.get_state(&peer).await, Some(PeerState::Alive));
                });
            }
        }
    }

    // ===== SWIM Integration Tests =====

    /// Helper: simulate ack responses for healthy peers on all detectors.
    ///
    /// Since mock transport cannot deliver real acks, background probe tasks
    /// create pending probes that would time out. This helper clears those
    /// pending probes and keeps healthy peers alive, mimicking real responses.
    async fn simulate_healthy_acks(
        detectors: &[SwimDetector<saorsa_gossip_transport::UdpTransportAdapter>],
        healthy_peer_ids: &[PeerId],
    ) {
        for detector in detectors {
            for &peer_id in healthy_peer_ids {
                // Clear any pending probe the background task may have created
                detector.clear_probe(&peer_id).await;
                // Re-affirm alive state in case background timeout task ran first
                detector.mark_alive(peer_id).await;
            }
        }
    }

    #[tokio::test]
    async fn test_swim_full_cycle_5_nodes() {
        // Create 5 SwimDetector instances with short timeouts
        // probe_period=100s (long, but first tick is immediate), suspect_timeout=2s
        let mut detectors = Vec::new();
        let mut peer_ids = Vec::new();

        for i in 0..5u8 {
            let transport = test_transport().await;
            let peer_id = PeerId::new([10 + i; 32]);
            peer_ids.push(peer_id);
            // Long probe_period; short suspect_timeout (2s) for fast Dead promotion
            let detector = SwimDetector::new(peer_id, 100, 2, SWIM_PROBE_FANOUT, transport);
            detectors.push(detector);
        }

        // Mark all peers as alive on each detector (each node knows the other 4)
        for (idx, detector) in detectors.iter().enumerate() {
            for (j, &peer_id) in peer_ids.iter().enumerate() {
                if j != idx {
                    detector.mark_alive(peer_id).await;
                }
            }
        }

        // Verify all 5 nodes see all other peers as Alive
        for (idx, detector) in detectors.iter().enumerate() {
            let alive = detector.get_peers_in_state(PeerState::Alive).await;
            assert_eq!(
                alive.len(),
                4,
                "Node {} should see 4 alive peers, got {}",
                idx,
                alive.len()
            );
        }

        // The healthy peers (nodes 0-3) that should remain alive
        let healthy_ids: Vec<PeerId> = peer_ids[..4].to_vec();

        // Simulate node 4 going down: record a probe on nodes 0-3 targeting node 4
        // and do NOT call handle_ack for node 4 -- the probe will time out
        let dead_node_id = peer_ids[4];
        for detector in detectors.iter().take(4) {
            detector.record_probe(dead_node_id).await;
        }

        // Wait for probe timeouts to detect the "dead" node (SWIM_ACK_TIMEOUT_MS = 500ms)
        // The probe_timeout_task checks every 500ms and marks timed-out probes as Suspect.
        // During polling, simulate acks for healthy peers so background probes don't
        // cause false suspects among nodes 0-3.
        let mut any_suspect = false;
        for _ in 0..15 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            // Keep healthy peers alive (clear background-probe artifacts)
            simulate_healthy_acks(&detectors[..4], &healthy_ids).await;
            for detector in detectors.iter().take(4) {
                if detector.get_state(&dead_node_id).await == Some(PeerState::Suspect) {
                    any_suspect = true;
                }
            }
            if any_suspect {
                break;
            }
        }

        assert!(
            any_suspect,
            "At least one node should have detected node 4 as Suspect"
        );

        // Verify that at least some nodes marked the dead node as Suspect
        let mut suspect_count = 0;
        for detector in detectors.iter().take(4) {
            if detector.get_state(&dead_node_id).await == Some(PeerState::Suspect) {
                suspect_count += 1;
            }
        }
        assert!(
            suspect_count >= 1,
            "Expected at least 1 node to mark dead node as Suspect, got {}",
            suspect_count
        );

        // Now wait for suspect timeout (2s) to promote Suspect -> Dead
        // Continue simulating healthy acks during the wait
        let mut any_dead = false;
        for _ in 0..25 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            simulate_healthy_acks(&detectors[..4], &healthy_ids).await;
            for detector in detectors.iter().take(4) {
                if detector.get_state(&dead_node_id).await == Some(PeerState::Dead) {
                    any_dead = true;
                }
            }
            if any_dead {
                break;
            }
        }

        assert!(
            any_dead,
            "At least one node should have promoted node 4 from Suspect to Dead"
        );

        // Final ack simulation to ensure healthy peers are in clean state
        simulate_healthy_acks(&detectors[..4], &healthy_ids).await;

        // Verify remaining nodes (0-3) still see each other as Alive
        for (idx, detector) in detectors.iter().enumerate().take(4) {
            for (j, &peer_id) in peer_ids.iter().enumerate().take(4) {
                if j != idx {
                    assert_eq!(
                        detector.get_state(&peer_id).await,
                        Some(PeerState::Alive),
                        "Node {} should still see node {} as Alive",
                        idx,
                        j
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn test_swim_ack_prevents_suspect() {
        // Create 2 SwimDetector instances
        let transport_a = test_transport().await;
        let transport_b = test_transport().await;
        let peer_a = PeerId::new([20u8; 32]);
        let peer_b = PeerId::new([21u8; 32]);

        // Long probe_period so background probes don't interfere,
        // long suspect_timeout since we're testing that Suspect never happens
        let detector_a = SwimDetector::new(peer_a, 100, 100, SWIM_PROBE_FANOUT, transport_a);
        let _detector_b = SwimDetector::new(peer_b, 100, 100, SWIM_PROBE_FANOUT, transport_b);

        // Node A knows about node B
        detector_a.mark_alive(peer_b).await;

        // Record a probe from A targeting B
        detector_a.record_probe(peer_b).await;

        // Before timeout, call handle_ack (simulating B responding to A)
        tokio::time::sleep(Duration::from_millis(100)).await;
        detector_a.handle_ack(peer_b).await.expect("handle_ack");

        // Verify B stays Alive (not Suspect)
        assert_eq!(
            detector_a.get_state(&peer_b).await,
            Some(PeerState::Alive),
            "Peer B should remain Alive after ack"
        );

        // Verify the pending probe was cleared
        let pending = detector_a.pending_probes.read().await;
        assert!(
            !pending.contains_key(&peer_b),
            "Pending probe for B should be cleared after ack"
        );
        drop(pending);

        // Wait past the ack timeout to confirm B doesn't become Suspect
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(
            detector_a.get_state(&peer_b).await,
            Some(PeerState::Alive),
            "Peer B should still be Alive after timeout window"
        );
    }

    #[tokio::test]
    async fn test_swim_indirect_probe_request() {
        // Create 3 SwimDetector instances (A, B, C)
        let transport_a = test_transport().await;
        let transport_b = test_transport().await;
        let transport_c = test_transport().await;
        let peer_a = PeerId::new([30u8; 32]);
        let peer_b = PeerId::new([31u8; 32]);
        let peer_c = PeerId::new([32u8; 32]);

        let detector_a = SwimDetector::new(peer_a, 100, 100, SWIM_PROBE_FANOUT, transport_a);
        let _detector_b = SwimDetector::new(peer_b, 100, 100, SWIM_PROBE_FANOUT, transport_b);
        let _detector_c = SwimDetector::new(peer_c, 100, 100, SWIM_PROBE_FANOUT, transport_c);

        // Mark all peers as alive on all nodes
        detector_a.mark_alive(peer_b).await;
        detector_a.mark_alive(peer_c).await;

        // Request indirect probes from A for target B
        // C is the only other alive peer, so it should be selected as the indirect prober
        let result = detector_a.request_indirect_probes(peer_b).await;
        assert!(
            result.is_ok(),
            "request_indirect_probes should succeed (sends are best-effort)"
        );

        // Verify the state machine is consistent: B is still alive on A
        // (request_indirect_probes doesn't change state, it only sends PingReq messages)
        assert_eq!(
            detector_a.get_state(&peer_b).await,
            Some(PeerState::Alive),
            "Target B should remain Alive after requesting indirect probes"
        );

        // Verify C is still alive (not affected by being asked to probe)
        assert_eq!(
            detector_a.get_state(&peer_c).await,
            Some(PeerState::Alive),
            "Helper C should remain Alive"
        );

        // Test with no alive peers available for indirect probing
        let transport_d = test_transport().await;
        let peer_d = PeerId::new([33u8; 32]);
        let detector_d = SwimDetector::new(peer_d, 100, 100, SWIM_PROBE_FANOUT, transport_d);
        let target = PeerId::new([34u8; 32]);

        // No alive peers at all - should return Ok but do nothing
        let result = detector_d.request_indirect_probes(target).await;
        assert!(
            result.is_ok(),
            "request_indirect_probes should succeed even with no alive peers"
        );
    }

    // ===== MembershipConfig and Adaptive Degree Tests =====

    #[test]
    fn test_membership_config_default() {
        let config = MembershipConfig::default();
        assert_eq!(config.active_degree, DEFAULT_ACTIVE_DEGREE);
        assert_eq!(config.max_active_degree, MAX_ACTIVE_DEGREE);
        assert_eq!(config.max_passive_degree, MAX_PASSIVE_DEGREE);
        assert!(config.adaptive_enabled);
    }

    #[test]
    fn test_membership_config_builder_methods() {
        let config = MembershipConfig::default()
            .with_active_degree(4)
            .with_max_active_degree(6)
            .with_max_passive_degree(64)
            .with_shuffle_period(Duration::from_secs(60))
            .with_shuffle_active_size(2)
            .with_shuffle_passive_size(3)
            .with_adaptive_enabled(false);

        assert_eq!(config.active_degree, 4);
        assert_eq!(config.max_active_degree, 6);
        assert_eq!(config.max_passive_degree, 64);
        assert_eq!(config.shuffle_period, Duration::from_secs(60));
        assert_eq!(config.shuffle_active_size, 2);
        assert_eq!(config.shuffle_passive_size, 3);
        assert!(!config.adaptive_enabled);
    }

    #[tokio::test]
    async fn test_estimated_network_size_empty() {
        let membership = test_membership().await;
        let size = membership.estimated_network_size().await;
        assert_eq!(size, 1); // Just self
    }

    #[tokio::test]
    async fn test_estimated_network_size_with_active_peers() {
        let membership = test_membership().await;
        // Add 3 active peers
        for i in 1..=3 {
            let peer = PeerId::new([i; 32]);
            membership.add_active(peer).await.unwrap();
        }
        let size = membership.estimated_network_size().await;
        // 3 active + 0 passive + 1 = 4
        assert_eq!(size, 4);
    }

    #[tokio::test]
    async fn test_estimated_network_size_with_seen_peers() {
        let membership = test_membership().await;
        // Manually insert seen peers
        {
            let mut seen = membership.seen_peers.write().await;
            for i in 1..=10 {
                seen.insert(PeerId::new([i; 32]), Instant::now());
            }
        }
        let size = membership.estimated_network_size().await;
        // max(0 + 0 + 1, 10) = 10
        assert_eq!(size, 10);
    }

    #[tokio::test]
    async fn test_adaptive_degrees_small_network() {
        let membership = test_membership().await;
        let (active, passive) = membership.calculate_adaptive_degrees().await;
        // Small network (1 peer) should use minimum degrees
        assert_eq!(active, DEFAULT_ACTIVE_DEGREE);
        assert!(passive >= DEFAULT_ACTIVE_DEGREE * 8);
    }

    #[tokio::test]
    async fn test_adaptive_degrees_disabled() {
        let transport = test_transport().await;
        let config = MembershipConfig {
            adaptive_enabled: false,
            ..MembershipConfig::default()
        };
        let membership = HyParViewMembership::new(test_peer_id(), config, transport);
        let (active, passive) = membership.calculate_adaptive_degrees().await;
        assert_eq!(active, DEFAULT_ACTIVE_DEGREE);
        assert_eq!(passive, MAX_PASSIVE_DEGREE);
    }

    #[tokio::test]
    async fn test_adaptive_degrees_large_network() {
        let transport = test_transport().await;
        let config = MembershipConfig::default();
        let membership = HyParViewMembership::new(test_peer_id(), config, transport);

        // Simulate a large network by adding many seen peers
        {
            let mut seen = membership.seen_peers.write().await;
            for i in 1..=200 {
                seen.insert(PeerId::new([(i & 0xFF) as u8; 32]), Instant::now());
            }
        }

        let (active, passive) = membership.calculate_adaptive_degrees().await;
        // With many peers, active should scale up (but stay within bounds)
        assert!(active >= DEFAULT_ACTIVE_DEGREE);
        assert!(active <= MAX_ACTIVE_DEGREE);
        assert!(passive <= MAX_PASSIVE_DEGREE);
    }

    #[tokio::test]
    async fn test_config_used_in_add_active() {
        // Verify that config.active_degree is respected, not hardcoded constants
        let transport = test_transport().await;
        let config = MembershipConfig {
            active_degree: 3,
            max_active_degree: 5,
            ..MembershipConfig::default()
        };
        let membership = HyParViewMembership::new(test_peer_id(), config, transport);

        // Add 4 peers - should demote one since active_degree is 3
        for i in 1..=4 {
            let peer = PeerId::new([i; 32]);
            membership.add_active(peer).await.unwrap();
        }
        // Active should be at most 3 (demoted the excess)
        assert!(membership.active_view().len() <= 3);
    }

    #[tokio::test]
    async fn test_with_degrees_convenience_constructor() {
        let transport = test_transport().await;
        let membership = HyParViewMembership::with_degrees(test_peer_id(), 4, 32, transport);

        assert_eq!(membership.config.active_degree, 4);
        // max_passive_degree = max(32, MAX_PASSIVE_DEGREE) = 128
        assert_eq!(membership.config.max_passive_degree, MAX_PASSIVE_DEGREE);
    }

    #[tokio::test]
    async fn test_seen_peers_tracked_on_join() {
        let membership = test_membership().await;
        let new_peer = PeerId::new([42u8; 32]);

        // handle_join should track the peer
        let _ = membership.handle_join(new_peer, 0).await;

        let seen = membership.seen_peers.read().await;
        assert!(seen.contains_key(&new_peer));
    }

    #[tokio::test]
    async fn test_seen_peers_tracked_on_neighbor() {
        let membership = test_membership().await;
        let sender = PeerId::new([42u8; 32]);

        // handle_neighbor should track the peer
        let _ = membership
            .handle_neighbor(sender, NeighborPriority::Low)
            .await;

        let seen = membership.seen_peers.read().await;
        assert!(seen.contains_key(&sender));
    }
}
