//! Anti-entropy: neighbours reconcile the message ids they hold per topic
//! with an IBLT (`x0x-iblt`), fetch the envelopes they lack and push the
//! ones the other side lacks, so messages lost to a partition, churn or a
//! restart are repaired.
//!
//! A round (every `antiEntropyInterval`, or on demand):
//! 1. asks every connected peer, concurrently, for a 1 KB AMS sketch of each
//!    subscribed topic and estimates the difference from it;
//! 2. reconciles with the peers in order of estimated difference, largest
//!    first (the order is reported in [`ReconciliationStats::peers`]), one
//!    IBLT session per topic;
//! 3. fetches the envelopes only the peer holds (by the fingerprints the
//!    session found them under, so their ids never cross the wire) and
//!    pushes those only this agent holds.
//!
//! A newly connected peer is also reconciled with at once, outside the
//! rounds (one session per connection), and a topic just subscribed to with every
//! connected peer; see [`crate::ae_sync`].
//!
//! Each peer's part gets at most `PEER_BUDGET` (15 s) and the round
//! `ROUND_BUDGET` (60 s), so a slow or lying peer (one reporting a set of
//! `u64::MAX` ids is ranked first) delays the others by a bounded time.
//!
//! Recovered envelopes go through the agent's gossip acceptance path
//! (signature, freshness, dedup) before delivery, via [`Host::ingest`], so a
//! subscriber sees each message once however it arrived.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use saorsa_gossip_types::PeerId;
use tokio::sync::oneshot;
use x0x_iblt::{
    AmsSketch, Config, FingerprintHasher, Next, Reconciler, Request, Response, DEFAULT_AMS_COUNTERS, DEFAULT_STRATUM_CELLS,
};

use crate::ae_wire::{self as wire, Frame};
use crate::envelope::MessageId;
use crate::identity::AgentId;
use crate::message_store::{MessageStore, STORE_MAX_BYTES};

/// How long one request waits for its answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Round trips one IBLT session may take before it is abandoned (the
/// reconciler needs at most a handful: table, doublings, full list).
const MAX_SESSION_STEPS: usize = 24;
/// How long one peer's part of a round (every shared topic) may take. A peer
/// that answers slowly, or never, costs the round at most this.
const PEER_BUDGET: Duration = Duration::from_secs(15);
/// How long a whole round may take; peers not reached by then wait for the
/// next round. `reconcile()` therefore waits at most about this long for a
/// round in progress, plus its own.
const ROUND_BUDGET: Duration = Duration::from_secs(60);

/// What anti-entropy needs from the agent.
#[async_trait]
pub(crate) trait Host: Send + Sync + 'static {
    /// The agent's anti-entropy state.
    fn anti_entropy(&self) -> &AntiEntropy;
    /// Sends a Bulk frame; false if it could not be sent.
    async fn send(&self, peer: PeerId, frame: Vec<u8>) -> bool;
    /// Peers to reconcile with.
    async fn peers(&self) -> Vec<PeerId>;
    /// Topics this agent subscribes to.
    async fn topics(&self) -> Vec<String>;
    /// Whether this agent subscribes to `topic`.
    async fn has_topic(&self, topic: &str) -> bool;
    /// Verifies, dedups, stores and delivers an envelope that `from` sent as
    /// if it arrived by gossip; true if it was new and delivered.
    async fn ingest(&self, from: PeerId, topic: &str, frame: &[u8]) -> bool;
}

/// One peer's part of a round, in the order peers were reconciled.
#[derive(Debug, Clone, Default)]
pub struct PeerReconciliation {
    /// The peer.
    pub peer: AgentId,
    /// Difference estimated from the sketches, summed over shared topics.
    pub estimated_difference: u64,
    /// Exact difference found by reconciliation, summed over shared topics.
    pub differences_found: u64,
    /// Messages fetched from the peer and delivered.
    pub messages_recovered: u64,
    /// Messages pushed to the peer.
    pub messages_pushed: u64,
}

/// The outcome of one reconciliation round.
#[derive(Debug, Clone, Default)]
pub struct ReconciliationStats {
    /// Messages fetched in this round, verified and delivered.
    pub messages_recovered: u64,
    /// Peers that answered in this round.
    pub peers_contacted: u64,
    /// Size of the symmetric differences found, summed over peers and topics.
    pub differences_found: u64,
    /// Anti-entropy bytes this agent sent in the round.
    pub bytes_sent: u64,
    /// Anti-entropy bytes this agent received in answers in the round.
    pub bytes_received: u64,
    /// Wall time of the round.
    pub duration_ms: u64,
    /// Per peer, most divergent first (the order of reconciliation).
    pub peers: Vec<PeerReconciliation>,
}

/// Totals since the agent started.
#[derive(Debug, Clone, Copy, Default)]
pub struct AntiEntropyStats {
    /// Rounds completed (background and on demand).
    pub rounds: u64,
    /// Peers reconciled with outside the rounds: a newly connected peer, or
    /// every peer for a newly subscribed topic (see [`crate::ae_sync`]).
    pub peer_syncs: u64,
    /// Messages recovered: fetched by this agent or pushed to it, verified
    /// and delivered for the first time.
    pub messages_recovered: u64,
    /// Messages pushed to peers that lacked them.
    pub messages_pushed: u64,
    /// Differences found by this agent's sessions.
    pub differences_found: u64,
    /// Anti-entropy bytes sent (requests, answers and pushes).
    pub bytes_sent: u64,
    /// Anti-entropy bytes received.
    pub bytes_received: u64,
    /// Frames dropped as malformed, oversized, or answering no request of ours.
    pub malformed_frames: u64,
    /// Sessions abandoned (peer did not answer, protocol error).
    pub failed_sessions: u64,
    /// Frames not sent because they exceed what a peer reads in one frame
    /// (an IBLT table or id list too large; see `reconcile_config`).
    pub oversized_frames: u64,
    /// Envelopes held for peers.
    pub store_size: u64,
}

#[derive(Default)]
struct Counters {
    rounds: AtomicU64,
    peer_syncs: AtomicU64,
    recovered: AtomicU64,
    pushed: AtomicU64,
    differences: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    malformed: AtomicU64,
    failed: AtomicU64,
    oversized: AtomicU64,
}

type Waiter = (PeerId, oneshot::Sender<(u8, Vec<u8>, usize)>);

/// Per-agent anti-entropy state: the envelope store and requests in flight.
pub(crate) struct AntiEntropy {
    store: StdMutex<MessageStore>,
    pending: StdMutex<HashMap<u64, Waiter>>,
    next_req: AtomicU64,
    round: tokio::sync::Mutex<()>,
    /// The sessions outside the rounds ([`crate::ae_sync`]).
    side_sessions: Arc<crate::ae_sync::SideSessions>,
    counters: Counters,
    config: Config,
}

/// IBLT settings whose every message fits one frame: tables of at most
/// 2^14 cells (672 KB; a larger difference falls back to the id list) and
/// id lists of at most 2^15 ids (1 MiB). A topic holding more ids than that
/// cannot fall back to a full list; such a session fails and is counted,
/// without touching the connection.
///
/// Sessions open with an AMS sketch; a strata estimate is answered only at
/// the default size ([`DEFAULT_STRATUM_CELLS`], 12 KiB of cells), because
/// the responder builds its own estimator of the size the peer names: at
/// x0x-iblt's default limit a 39-byte request cost 100 KiB to answer.
pub(crate) fn reconcile_config() -> Config {
    let mut config = Config::default();
    config.limits.max_cells = 1 << 14;
    config.limits.max_ids = 1 << 15;
    config.limits.max_stratum_cells = DEFAULT_STRATUM_CELLS;
    config
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl AntiEntropy {
    /// State with a store bounded like the dedup cache.
    pub(crate) fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            store: StdMutex::new(MessageStore::new(capacity, STORE_MAX_BYTES, ttl)),
            pending: StdMutex::new(HashMap::new()),
            next_req: AtomicU64::new(rand::random()),
            round: tokio::sync::Mutex::new(()),
            side_sessions: Arc::default(),
            counters: Counters::default(),
            config: reconcile_config(),
        }
    }

    /// The sessions outside the rounds: permits, queue and peaks.
    pub(crate) fn side_sessions(&self) -> Arc<crate::ae_sync::SideSessions> {
        Arc::clone(&self.side_sessions)
    }

    /// Keeps a verified envelope for peers that may lack it.
    pub(crate) fn remember(&self, topic: &str, id: MessageId, frame: Bytes) {
        if let Ok(mut s) = self.store.lock() {
            s.insert(topic, id, frame, Instant::now());
        }
    }

    fn ids(&self, topic: &str) -> Vec<MessageId> {
        self.store.lock().map(|mut s| s.ids(topic, Instant::now())).unwrap_or_default()
    }

    fn frame(&self, topic: &str, id: &MessageId) -> Option<Bytes> {
        self.store.lock().ok().and_then(|mut s| s.frame(topic, id, Instant::now()))
    }

    /// Totals since start.
    pub(crate) fn stats(&self) -> AntiEntropyStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        AntiEntropyStats {
            rounds: get(&c.rounds),
            peer_syncs: get(&c.peer_syncs),
            messages_recovered: get(&c.recovered),
            messages_pushed: get(&c.pushed),
            differences_found: get(&c.differences),
            bytes_sent: get(&c.bytes_sent),
            bytes_received: get(&c.bytes_received),
            malformed_frames: get(&c.malformed),
            failed_sessions: get(&c.failed),
            oversized_frames: get(&c.oversized),
            store_size: self.store.lock().map(|s| s.len() as u64).unwrap_or(0),
        }
    }
}

/// Traffic of the round in progress.
#[derive(Default)]
struct Traffic {
    sent: u64,
    received: u64,
}

async fn send<H: Host>(host: &H, peer: PeerId, frame: Vec<u8>, traffic: &mut Traffic) -> bool {
    if frame.len() > wire::MAX_AE_FRAME_BYTES {
        // The peer's reader would fail on it and close the connection.
        add(&host.anti_entropy().counters.oversized, 1);
        return false;
    }
    let len = frame.len() as u64;
    traffic.sent += len;
    add(&host.anti_entropy().counters.bytes_sent, len);
    host.send(peer, frame).await
}

/// Sends one request and waits for its answer: `(status, body)`.
async fn ask<H: Host>(
    host: &H,
    peer: PeerId,
    kind: u8,
    topic: &str,
    body: &[u8],
    traffic: &mut Traffic,
) -> Option<(u8, Vec<u8>)> {
    let ae = host.anti_entropy();
    let req = ae.next_req.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = oneshot::channel();
    ae.pending.lock().ok()?.insert(req, (peer, tx));
    let answer = if send(host, peer, wire::request(req, kind, topic, body), traffic).await {
        tokio::time::timeout(REQUEST_TIMEOUT, rx).await.ok().and_then(Result::ok)
    } else {
        None
    };
    if let Ok(mut p) = ae.pending.lock() {
        p.remove(&req);
    }
    let (status, body, frame_len) = answer?;
    traffic.received += frame_len as u64;
    Some((status, body))
}

/// Estimated difference with `peer` per topic it also keeps.
async fn estimate<H: Host>(host: Arc<H>, peer: PeerId, topics: Vec<String>) -> (PeerId, Vec<(String, u64)>, Traffic) {
    let mut traffic = Traffic::default();
    let mut shared = Vec::new();
    for topic in topics {
        let seed: u64 = rand::random();
        let Some((status, body)) =
            ask(&*host, peer, wire::KIND_SKETCH, &topic, &seed.to_le_bytes(), &mut traffic).await
        else {
            add(&host.anti_entropy().counters.failed, 1);
            continue;
        };
        if status != wire::STATUS_OK {
            continue;
        }
        let remote = wire::decode_sketch_answer(&body).and_then(|(size, bytes)| {
            AmsSketch::from_bytes(bytes, DEFAULT_AMS_COUNTERS).ok().map(|s| (size, s))
        });
        let Some((remote_size, remote)) = remote.filter(|(_, s)| s.seed() == seed) else {
            add(&host.anti_entropy().counters.malformed, 1);
            continue;
        };
        let ids = host.anti_entropy().ids(&topic);
        let Ok(local) = AmsSketch::from_ids(&ids, remote.counters(), seed) else { continue };
        let d = local.estimate(&remote).map(|e| e.value as u64).unwrap_or(0);
        shared.push((topic, d.max(remote_size.abs_diff(ids.len() as u64))));
    }
    (peer, shared, traffic)
}

/// How a session names the envelopes only the peer holds.
enum Remote {
    /// Their ids (the session ended with a list, or found none).
    Ids(Vec<MessageId>),
    /// Their fingerprints under the session seed: fetched as they are,
    /// which spares the session's Resolve round trip and 32 bytes an id.
    Fingerprints { seed: u64, fingerprints: Vec<u64> },
}

impl Remote {
    fn len(&self) -> usize {
        match self {
            Remote::Ids(ids) => ids.len(),
            Remote::Fingerprints { fingerprints, .. } => fingerprints.len(),
        }
    }

    /// The fetch request for items `range`.
    fn fetch_body(&self, range: std::ops::Range<usize>) -> (u8, Vec<u8>) {
        match self {
            Remote::Ids(ids) => (wire::KIND_FETCH, wire::encode_ids(&ids[range])),
            Remote::Fingerprints { seed, fingerprints } => {
                (wire::KIND_FETCH_FINGERPRINTS, wire::encode_fingerprints(*seed, &fingerprints[range]))
            }
        }
    }
}

/// The exact difference a session found.
struct Found {
    local_only: Vec<MessageId>,
    remote: Remote,
}

/// Runs one IBLT session; the exact difference, or `None` if it failed.
async fn reconcile_topic<H: Host>(host: &H, peer: PeerId, topic: &str, traffic: &mut Traffic) -> Option<Found> {
    let ae = host.anti_entropy();
    let (mut session, mut request) = Reconciler::start(ae.config.clone(), &ae.ids(topic));
    for _ in 0..MAX_SESSION_STEPS {
        let (status, body) = ask(host, peer, wire::KIND_RECONCILE, topic, &request.to_bytes(), traffic).await?;
        if status != wire::STATUS_OK {
            return None;
        }
        let Ok(response) = Response::from_bytes(&body, &ae.config.limits) else {
            add(&ae.counters.malformed, 1);
            return None;
        };
        match session.on_response(response).ok()? {
            Next::Done(diff) => return Some(Found { local_only: diff.local_only, remote: Remote::Ids(diff.remote_only) }),
            Next::Resolve(Request::Resolve { seed, fingerprints }) => {
                let local_only = session.local_only()?.to_vec();
                return Some(Found { local_only, remote: Remote::Fingerprints { seed, fingerprints } });
            }
            Next::Retry(next) | Next::FullList(next) | Next::Resolve(next) => request = next,
        }
    }
    None
}

/// Fetches the envelopes `remote` names from `peer` and ingests them;
/// returns how many were new.
async fn fetch<H: Host>(host: &H, peer: PeerId, topic: &str, remote: &Remote, traffic: &mut Traffic) -> u64 {
    let mut recovered = 0;
    let mut start = 0;
    while start < remote.len() {
        let end = remote.len().min(start + wire::MAX_FETCH_IDS);
        let (kind, request) = remote.fetch_body(start..end);
        let Some((wire::STATUS_OK, body)) = ask(host, peer, kind, topic, &request, traffic).await else {
            add(&host.anti_entropy().counters.failed, 1);
            break;
        };
        let Some(frames) = wire::decode_list(&body).filter(|f| f.len() <= end - start) else {
            add(&host.anti_entropy().counters.malformed, 1);
            break;
        };
        if frames.is_empty() {
            break;
        }
        for frame in &frames {
            // An empty entry: the peer no longer holds that id.
            if !frame.is_empty() && host.ingest(peer, topic, frame).await {
                recovered += 1;
            }
        }
        start += frames.len();
    }
    add(&host.anti_entropy().counters.recovered, recovered);
    recovered
}

/// Pushes the envelopes of `ids` to `peer`; returns how many were sent.
async fn push<H: Host>(host: &H, peer: PeerId, topic: &str, ids: &[MessageId], traffic: &mut Traffic) -> u64 {
    let ae = host.anti_entropy();
    let frames: Vec<Bytes> = ids.iter().filter_map(|id| ae.frame(topic, id)).collect();
    let mut sent = 0;
    let mut batch: Vec<Bytes> = Vec::new();
    let mut bytes = 0;
    for (i, frame) in frames.iter().enumerate() {
        bytes += frame.len() + 4;
        batch.push(frame.clone());
        let last = i + 1 == frames.len();
        let full = batch.len() >= wire::MAX_LIST_FRAMES
            || frames.get(i + 1).is_some_and(|next| bytes + next.len() + 4 > wire::LIST_BUDGET_BYTES);
        if last || full {
            let n = batch.len() as u64;
            if send(host, peer, wire::push(topic, &wire::encode_list(&batch)), traffic).await {
                sent += n;
            }
            batch.clear();
            bytes = 0;
        }
    }
    add(&ae.counters.pushed, sent);
    sent
}

/// One round with every connected peer, most divergent first.
pub(crate) async fn run_round<H: Host>(host: Arc<H>) -> ReconciliationStats {
    let ae = host.anti_entropy();
    let _one_at_a_time = ae.round.lock().await;
    let topics = host.topics().await;
    let peers = host.peers().await;
    let stats = reconcile(Arc::clone(&host), peers, topics, ROUND_BUDGET).await;
    add(&host.anti_entropy().counters.rounds, 1);
    stats
}

/// Reconciles `topics` with one peer outside the rounds: a peer that has
/// just connected, so that a newcomer gets a topic's history (coordinator
/// adverts, say) at once instead of up to a round interval later.
pub(crate) async fn sync_peer<H: Host>(host: Arc<H>, peer: PeerId) -> ReconciliationStats {
    let topics = host.topics().await;
    let stats = reconcile(Arc::clone(&host), vec![peer], topics, PEER_BUDGET).await;
    add(&host.anti_entropy().counters.peer_syncs, stats.peers_contacted);
    stats
}

/// Reconciles `topic`, just subscribed to, with `peers`.
pub(crate) async fn sync_topic<H: Host>(host: Arc<H>, peers: Vec<PeerId>, topic: String) -> ReconciliationStats {
    let stats = reconcile(Arc::clone(&host), peers, vec![topic], ROUND_BUDGET).await;
    add(&host.anti_entropy().counters.peer_syncs, stats.peers_contacted);
    stats
}

/// Reconciles `topics` with `peers`, most divergent first, within `budget`.
async fn reconcile<H: Host>(host: Arc<H>, peers: Vec<PeerId>, topics: Vec<String>, budget: Duration) -> ReconciliationStats {
    let ae = host.anti_entropy();
    let started = Instant::now();
    let round_deadline = tokio::time::Instant::now() + budget;
    let mut stats = ReconciliationStats::default();
    let mut traffic = Traffic::default();
    if !topics.is_empty() && !peers.is_empty() {
        let probes: Vec<_> = peers
            .into_iter()
            .map(|p| tokio::spawn(estimate(Arc::clone(&host), p, topics.clone())))
            .collect();
        let mut ranked = Vec::new();
        let estimate_deadline = tokio::time::Instant::now() + PEER_BUDGET;
        for probe in probes {
            let abort = probe.abort_handle();
            match tokio::time::timeout_at(estimate_deadline, probe).await {
                Ok(Ok((peer, shared, t))) => {
                    traffic.sent += t.sent;
                    traffic.received += t.received;
                    if !shared.is_empty() {
                        // Saturating: a peer may report any set size.
                        let total = shared.iter().fold(0u64, |sum, (_, d)| sum.saturating_add(*d));
                        ranked.push((peer, total, shared));
                    }
                }
                Ok(Err(_)) => {}
                Err(_) => {
                    abort.abort();
                    add(&ae.counters.failed, 1);
                }
            }
        }
        // Largest estimated difference first; ties in a stable order.
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.to_bytes().cmp(&b.0.to_bytes())));
        for (peer, estimated, shared) in ranked {
            let mut report = PeerReconciliation {
                peer: peer.to_bytes(),
                estimated_difference: estimated,
                ..PeerReconciliation::default()
            };
            let mut answered = false;
            let deadline = round_deadline.min(tokio::time::Instant::now() + PEER_BUDGET);
            let work = async {
                for (topic, _) in shared {
                    let Some(found) = reconcile_topic(&*host, peer, &topic, &mut traffic).await else {
                        add(&ae.counters.failed, 1);
                        continue;
                    };
                    answered = true;
                    report.differences_found += (found.local_only.len() + found.remote.len()) as u64;
                    report.messages_recovered += fetch(&*host, peer, &topic, &found.remote, &mut traffic).await;
                    report.messages_pushed += push(&*host, peer, &topic, &found.local_only, &mut traffic).await;
                }
            };
            if tokio::time::timeout_at(deadline, work).await.is_err() {
                // Out of budget: what it delivered stays delivered.
                add(&ae.counters.failed, 1);
            }
            if answered {
                stats.peers_contacted += 1;
            }
            stats.differences_found = stats.differences_found.saturating_add(report.differences_found);
            stats.messages_recovered += report.messages_recovered;
            stats.peers.push(report);
            if tokio::time::Instant::now() >= round_deadline {
                break;
            }
        }
    }
    add(&ae.counters.differences, stats.differences_found);
    stats.bytes_sent = traffic.sent;
    stats.bytes_received = traffic.received;
    stats.duration_ms = started.elapsed().as_millis() as u64;
    stats
}

/// Runs a round every `interval` until the agent is gone.
pub(crate) async fn background<H: Host>(host: Weak<H>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(h) = host.upgrade() else { break };
        run_round(h).await;
    }
}

/// Answers a request from our store; `None` if its body is malformed.
fn answer(ae: &AntiEntropy, kind: u8, topic: &str, body: &[u8]) -> Option<Vec<u8>> {
    match kind {
        wire::KIND_SKETCH => {
            let seed = wire::decode_seed(body)?;
            let ids = ae.ids(topic);
            let sketch = AmsSketch::from_ids(&ids, DEFAULT_AMS_COUNTERS, seed).ok()?;
            Some(wire::sketch_answer(ids.len() as u64, &sketch.to_bytes()))
        }
        wire::KIND_RECONCILE => {
            let request = Request::from_bytes(body, &ae.config.limits).ok()?;
            let response = Reconciler::on_request(&ae.config, &ae.ids(topic), &request).ok()?;
            Some(response.to_bytes())
        }
        wire::KIND_FETCH => {
            let ids = wire::decode_ids(body)?;
            Some(frame_list(ae, topic, ids.into_iter().map(Some)))
        }
        wire::KIND_FETCH_FINGERPRINTS => {
            let (seed, fingerprints) = wire::decode_fingerprints(body)?;
            let hasher = FingerprintHasher::new(seed);
            let by_fingerprint: HashMap<u64, MessageId> =
                ae.ids(topic).into_iter().map(|id| (hasher.fingerprint(&id), id)).collect();
            Some(frame_list(ae, topic, fingerprints.iter().map(|fp| by_fingerprint.get(fp).copied())))
        }
        _ => None,
    }
}

/// The frames of `ids` in order, an empty entry for one not held, cut
/// where the list would outgrow one frame.
fn frame_list(ae: &AntiEntropy, topic: &str, ids: impl ExactSizeIterator<Item = Option<MessageId>>) -> Vec<u8> {
    let mut frames: Vec<Bytes> = Vec::with_capacity(ids.len());
    let mut bytes = 0;
    for id in ids {
        let frame = id.and_then(|id| ae.frame(topic, &id)).unwrap_or_default();
        if !frames.is_empty() && bytes + frame.len() + 4 > wire::LIST_BUDGET_BYTES {
            // The asker fetches the rest in its next request.
            break;
        }
        bytes += frame.len() + 4;
        frames.push(frame);
    }
    wire::encode_list(&frames)
}

/// Handles one anti-entropy frame from `from`.
pub(crate) async fn on_frame<H: Host>(host: &H, from: PeerId, data: &[u8]) {
    let ae = host.anti_entropy();
    add(&ae.counters.bytes_received, data.len() as u64);
    let Some(frame) = wire::decode(data) else {
        add(&ae.counters.malformed, 1);
        return;
    };
    match frame {
        Frame::Request { req, kind, topic, body } => {
            let (status, body) = if !host.has_topic(topic).await {
                (wire::STATUS_NO_TOPIC, Vec::new())
            } else if let Some(b) = answer(ae, kind, topic, body) {
                (wire::STATUS_OK, b)
            } else {
                add(&ae.counters.malformed, 1);
                (wire::STATUS_ERROR, Vec::new())
            };
            let mut response = wire::response(req, status, &body);
            if response.len() > wire::MAX_AE_FRAME_BYTES {
                add(&ae.counters.oversized, 1);
                response = wire::response(req, wire::STATUS_ERROR, &[]);
            }
            let mut traffic = Traffic::default();
            send(host, from, response, &mut traffic).await;
        }
        Frame::Response { req, status, body } => {
            let waiter = ae.pending.lock().ok().and_then(|mut p| match p.get(&req) {
                Some((peer, _)) if *peer == from => p.remove(&req),
                _ => None,
            });
            match waiter {
                Some((_, tx)) => {
                    let _ = tx.send((status, body.to_vec(), data.len()));
                }
                // Late (timed out) or not ours: nobody asked this peer.
                None => add(&ae.counters.malformed, 1),
            }
        }
        Frame::Push { topic, frames } => {
            if !host.has_topic(topic).await {
                return;
            }
            let mut recovered = 0;
            for frame in frames {
                if host.ingest(from, topic, frame).await {
                    recovered += 1;
                }
            }
            add(&ae.counters.recovered, recovered);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host with one topic and no network: records what it would send.
    struct FakeHost {
        ae: AntiEntropy,
        sent: StdMutex<Vec<Vec<u8>>>,
        ingested: StdMutex<Vec<Vec<u8>>>,
    }

    impl FakeHost {
        fn new() -> Self {
            Self {
                ae: AntiEntropy::new(100, Duration::from_secs(60)),
                sent: StdMutex::new(Vec::new()),
                ingested: StdMutex::new(Vec::new()),
            }
        }
        fn last_sent(&self) -> Vec<u8> {
            self.sent.lock().unwrap().last().cloned().expect("something was sent")
        }
    }

    #[async_trait]
    impl Host for FakeHost {
        fn anti_entropy(&self) -> &AntiEntropy {
            &self.ae
        }
        async fn send(&self, _peer: PeerId, frame: Vec<u8>) -> bool {
            self.sent.lock().unwrap().push(frame);
            true
        }
        async fn peers(&self) -> Vec<PeerId> {
            Vec::new()
        }
        async fn topics(&self) -> Vec<String> {
            vec!["t".into()]
        }
        async fn has_topic(&self, topic: &str) -> bool {
            topic == "t"
        }
        async fn ingest(&self, _from: PeerId, _topic: &str, frame: &[u8]) -> bool {
            self.ingested.lock().unwrap().push(frame.to_vec());
            true
        }
    }

    const PEER: PeerId = PeerId::new([7; 32]);

    #[tokio::test]
    async fn malformed_and_unsolicited_frames_are_dropped_and_counted() {
        let host = FakeHost::new();
        on_frame(&host, PEER, &[0xC0, 1, 2]).await;
        on_frame(&host, PEER, &[0xCF]).await;
        on_frame(&host, PEER, &wire::response(42, wire::STATUS_OK, b"nobody asked")).await;
        // A push whose list claims more frames than it carries.
        let mut list = wire::encode_list(&[b"x"]);
        list[0] = 9;
        on_frame(&host, PEER, &wire::push("t", &list)).await;
        assert_eq!(host.ae.stats().malformed_frames, 4);
        assert!(host.sent.lock().unwrap().is_empty(), "nothing is answered");
        assert!(host.ingested.lock().unwrap().is_empty(), "nothing is delivered");
    }

    #[tokio::test]
    async fn requests_are_answered_from_the_store_and_bad_bodies_get_an_error() {
        let host = FakeHost::new();
        host.ae.remember("t", [1; 32], Bytes::from_static(b"frame one"));

        on_frame(&host, PEER, &wire::request(5, wire::KIND_SKETCH, "other", &1u64.to_le_bytes())).await;
        let sent = host.last_sent();
        assert_eq!(wire::decode(&sent), Some(Frame::Response { req: 5, status: wire::STATUS_NO_TOPIC, body: b"" }));

        on_frame(&host, PEER, &wire::request(6, wire::KIND_FETCH, "t", &wire::encode_ids(&[[1; 32], [2; 32]]))).await;
        let sent = host.last_sent();
        let Some(Frame::Response { req: 6, status: wire::STATUS_OK, body }) = wire::decode(&sent) else {
            panic!("fetch not answered")
        };
        let frames = wire::decode_list(body).unwrap();
        assert_eq!(frames, vec![&b"frame one"[..], &b""[..]], "held frame, then an empty entry for the unknown id");

        on_frame(&host, PEER, &wire::request(7, wire::KIND_RECONCILE, "t", b"\x09garbage")).await;
        let sent = host.last_sent();
        assert_eq!(wire::decode(&sent), Some(Frame::Response { req: 7, status: wire::STATUS_ERROR, body: b"" }));
        assert_eq!(host.ae.stats().malformed_frames, 1);
    }

    /// Hosts wired to each other: a send runs the addressee's handler.
    struct MeshHost {
        ae: AntiEntropy,
        me: PeerId,
        mesh: Arc<StdMutex<HashMap<PeerId, Weak<MeshHost>>>>,
        ingested: StdMutex<Vec<Vec<u8>>>,
    }

    impl MeshHost {
        /// `n` hosts, peers `[1; 32]`, `[2; 32]`, ...
        fn mesh(n: u8) -> Vec<Arc<Self>> {
            let mesh = Arc::new(StdMutex::new(HashMap::new()));
            let hosts: Vec<Arc<Self>> = (1..=n)
                .map(|i| {
                    Arc::new(Self {
                        ae: AntiEntropy::new(10_000, Duration::from_secs(600)),
                        me: PeerId::new([i; 32]),
                        mesh: Arc::clone(&mesh),
                        ingested: StdMutex::new(Vec::new()),
                    })
                })
                .collect();
            for h in &hosts {
                mesh.lock().unwrap().insert(h.me, Arc::downgrade(h));
            }
            hosts
        }

        fn pair() -> (Arc<Self>, Arc<Self>) {
            let mut two = Self::mesh(2);
            let b = two.pop().unwrap();
            (two.pop().unwrap(), b)
        }
    }

    #[async_trait]
    impl Host for MeshHost {
        fn anti_entropy(&self) -> &AntiEntropy {
            &self.ae
        }
        async fn send(&self, peer: PeerId, frame: Vec<u8>) -> bool {
            let Some(other) = self.mesh.lock().unwrap().get(&peer).and_then(Weak::upgrade) else { return false };
            let me = self.me;
            tokio::spawn(async move { on_frame(&*other, me, &frame).await });
            true
        }
        async fn peers(&self) -> Vec<PeerId> {
            let mut peers: Vec<PeerId> = self.mesh.lock().unwrap().keys().filter(|p| **p != self.me).copied().collect();
            peers.sort_by_key(|p| p.to_bytes());
            peers
        }
        async fn topics(&self) -> Vec<String> {
            vec!["t".into()]
        }
        async fn has_topic(&self, topic: &str) -> bool {
            topic == "t"
        }
        async fn ingest(&self, _from: PeerId, _topic: &str, frame: &[u8]) -> bool {
            self.ingested.lock().unwrap().push(frame.to_vec());
            true
        }
    }

    fn id(tag: u8, i: u32) -> MessageId {
        let mut id = [tag; 32];
        id[..4].copy_from_slice(&i.to_le_bytes());
        id
    }

    /// Issue 14: a round reconciles the peer it differs from most first, so
    /// that a round cut short by its budget has repaired the most it could.
    /// The peers are listed least divergent first, so an order that ignored
    /// the estimates would fail.
    #[tokio::test]
    async fn a_round_reconciles_the_most_divergent_peer_first() {
        let hosts = MeshHost::mesh(4);
        let (me, others) = hosts.split_first().unwrap();
        for h in &hosts {
            for i in 0..200 {
                h.ae.remember("t", id(0, i), Bytes::from(format!("common {i}").into_bytes()));
            }
        }
        // Peer 2 holds 1 message this agent lacks, peer 3 holds 20, peer 4 holds 80.
        for (h, extra) in others.iter().zip([1u32, 20, 80]) {
            for i in 0..extra {
                h.ae.remember("t", id(h.me.to_bytes()[0], i), Bytes::from(format!("extra {i}").into_bytes()));
            }
        }
        let stats = run_round(Arc::clone(me)).await;
        let order: Vec<u8> = stats.peers.iter().map(|p| p.peer[0]).collect();
        assert_eq!(order, vec![4, 3, 2], "most divergent first; estimates {:?}", stats.peers);
        let found: Vec<u64> = stats.peers.iter().map(|p| p.differences_found).collect();
        assert_eq!(found, vec![80, 20, 1]);
        assert_eq!(stats.messages_recovered, 101);
    }

    /// Issue 13: an agent that lacks d messages names them by the 8-byte
    /// fingerprints its session found, never by their 32-byte ids, so all
    /// it sends in the round (sketch request, session, fetch) is less than
    /// the raw ids would be. Before, the fetch alone was 32·d bytes.
    #[tokio::test]
    async fn a_round_asks_for_what_it_lacks_in_fewer_bytes_than_the_raw_ids() {
        const D: usize = 100;
        let (a, b) = MeshHost::pair();
        for i in 0..1000u32 {
            let mut id = [0u8; 32];
            id[..4].copy_from_slice(&i.to_le_bytes());
            let frame = Bytes::from(format!("common {i}").into_bytes());
            a.ae.remember("t", id, frame.clone());
            b.ae.remember("t", id, frame);
        }
        for i in 0..D as u32 {
            let mut id = [0xAB; 32];
            id[..4].copy_from_slice(&i.to_le_bytes());
            b.ae.remember("t", id, Bytes::from(format!("missing {i}").into_bytes()));
        }
        let stats = run_round(Arc::clone(&a)).await;
        assert_eq!(stats.differences_found, D as u64);
        assert_eq!(stats.messages_recovered, D as u64);
        let mut got: Vec<Vec<u8>> = a.ingested.lock().unwrap().clone();
        got.sort();
        let mut want: Vec<Vec<u8>> = (0..D).map(|i| format!("missing {i}").into_bytes()).collect();
        want.sort();
        assert_eq!(got, want, "exactly the missing messages were fetched");
        assert!(stats.bytes_sent < 32 * D as u64, "{} bytes sent to name {D} missing messages", stats.bytes_sent);
    }

    #[tokio::test]
    async fn a_fetch_by_fingerprint_answers_in_order_with_an_empty_entry_for_unknown_ones() {
        let host = FakeHost::new();
        host.ae.remember("t", [1; 32], Bytes::from_static(b"frame one"));
        host.ae.remember("t", [2; 32], Bytes::from_static(b"frame two"));
        let hasher = FingerprintHasher::new(77);
        let asked = [hasher.fingerprint(&[2; 32]), hasher.fingerprint(&[9; 32]), hasher.fingerprint(&[1; 32])];
        let body = wire::encode_fingerprints(77, &asked);
        on_frame(&host, PEER, &wire::request(8, wire::KIND_FETCH_FINGERPRINTS, "t", &body)).await;
        let sent = host.last_sent();
        let Some(Frame::Response { req: 8, status: wire::STATUS_OK, body }) = wire::decode(&sent) else {
            panic!("fetch by fingerprint not answered")
        };
        assert_eq!(wire::decode_list(body).unwrap(), vec![&b"frame two"[..], &b""[..], &b"frame one"[..]]);
        // Under another seed the same fingerprints name nothing held.
        let body = wire::encode_fingerprints(78, &asked);
        on_frame(&host, PEER, &wire::request(9, wire::KIND_FETCH_FINGERPRINTS, "t", &body)).await;
        let sent = host.last_sent();
        let Some(Frame::Response { status: wire::STATUS_OK, body, .. }) = wire::decode(&sent) else {
            panic!("fetch by fingerprint not answered")
        };
        assert!(wire::decode_list(body).unwrap().iter().all(|f| f.is_empty()));
    }

    #[tokio::test]
    async fn every_answer_and_push_fits_what_a_peer_reads_in_one_frame() {
        let host = FakeHost::new();
        let big = Bytes::from(vec![7u8; 600 * 1024]);
        let ids: Vec<MessageId> = (0..3u8).map(|i| [i; 32]).collect();
        for id in &ids {
            host.ae.remember("t", *id, big.clone());
        }
        on_frame(&host, PEER, &wire::request(1, wire::KIND_FETCH, "t", &wire::encode_ids(&ids))).await;
        let sent = host.last_sent();
        assert!(sent.len() <= wire::MAX_AE_FRAME_BYTES, "a fetch answer of {} bytes", sent.len());
        let Some(Frame::Response { status: wire::STATUS_OK, body, .. }) = wire::decode(&sent) else {
            panic!("fetch not answered")
        };
        assert_eq!(wire::decode_list(body).unwrap().len(), 1, "one 600 KiB envelope per answer; the asker fetches the rest");

        host.sent.lock().unwrap().clear();
        let mut traffic = Traffic::default();
        assert_eq!(push(&host, PEER, "t", &ids, &mut traffic).await, 3);
        let pushes = host.sent.lock().unwrap().clone();
        assert_eq!(pushes.len(), 3, "three frames of one envelope each");
        assert!(pushes.iter().all(|f| f.len() <= wire::MAX_AE_FRAME_BYTES));
    }

    #[tokio::test]
    async fn pushes_for_unsubscribed_topics_are_ignored() {
        let host = FakeHost::new();
        on_frame(&host, PEER, &wire::push("other", &wire::encode_list(&[b"x"]))).await;
        assert!(host.ingested.lock().unwrap().is_empty());
        on_frame(&host, PEER, &wire::push("t", &wire::encode_list(&[b"x"]))).await;
        assert_eq!(host.ingested.lock().unwrap().len(), 1);
        assert_eq!(host.ae.stats().messages_recovered, 1);
    }
}
