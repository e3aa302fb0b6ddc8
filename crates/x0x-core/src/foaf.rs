//! Friend-of-a-friend discovery: "where is agent X?" answered by a bounded
//! random walk over the overlay, without revealing who asked.
//!
//! A query carries a random query id, a remaining TTL, a lifetime and the
//! target id, and nothing else: no origin, no path. Each node that sees a
//! query id for the first time remembers it (so loops and duplicates die) and,
//! while the TTL lasts, forwards the query to at most `fanout` random
//! neighbours, never back to the one it came from, remembering only
//! `query id -> previous hop` (and which neighbours it tried) for the
//! query's lifetime. Each hop looks one hop ahead: a neighbour that is the
//! target gets the query alone, so a query with one hop left goes to the
//! target or nowhere (any other node could only drop it).
//!
//! A node that gets a query it has already seen says so to the sender alone,
//! with a "seen" frame carrying just the query id, and the sender spends that
//! forward on another neighbour it has not tried: otherwise a walk that runs
//! into itself loses that branch. At most `fanout` such redirects per node and
//! query. The "seen" frame tells the sender only that this node met the query
//! before, which every node that forwarded it, and the origin, would say alike;
//! it names no one. The target answers with
//! its own signed [`addr_record`](crate::addr_record), which travels back hop by
//! hop along those entries; every hop checks the signature and that the record
//! describes the target, and the origin checks again before it resolves.
//!
//! This module is sans-IO: it turns frames into frames to send, and the agent
//! does the sending. Frames (Bulk stream):
//! - query `0xB0`: query id (16), TTL (u8, 1..=[`MAX_TTL`]), lifetime ms
//!   (u32 LE, 1..=[`MAX_LIFETIME_MS`]), target id (32);
//! - reply `0xB1`: query id (16), then one address record;
//! - seen `0xB2`: query id (16).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use saorsa_gossip_types::PeerId;
use tokio::sync::oneshot;

use crate::addr_record::{self, AddrRecord, MAX_RECORD_BYTES};
use crate::identity::AgentId;

/// First byte of a FOAF query frame.
pub const QUERY_TAG: u8 = 0xB0;
/// First byte of a FOAF reply frame.
pub const REPLY_TAG: u8 = 0xB1;
/// First byte of a FOAF "seen" frame: the query met a node that had it.
pub const SEEN_TAG: u8 = 0xB2;
/// Highest TTL a query may carry; higher ones are malformed.
pub const MAX_TTL: u8 = 10;
/// Longest lifetime a query may claim, so relays never hold state for longer.
pub const MAX_LIFETIME_MS: u32 = 120_000;
/// Queries remembered at once (seen ids plus reverse-path entries); beyond
/// it new queries are dropped rather than memory growing without bound.
const MAX_STATE: usize = 16_384;
/// Queries one neighbour may send in a burst before its budget applies.
pub const PEER_QUERY_BURST: u32 = 32;
/// Queries per second one neighbour's budget refills by.
pub const PEER_QUERY_RATE: u32 = 8;
/// Expired entries are swept at most this often (amortised O(1) per frame;
/// a lookup ignores an entry that expired since).
const PRUNE_EVERY: Duration = Duration::from_secs(1);
const QUERY_LEN: usize = 1 + 16 + 1 + 4 + 32;
const SEEN_LEN: usize = 1 + 16;

/// A random query id.
pub type QueryId = [u8; 16];

/// A frame to send: to whom, and the bytes.
pub type Outgoing = (PeerId, Vec<u8>);

/// True when `tag` starts a frame this module handles.
pub fn owns(tag: u8) -> bool {
    tag == QUERY_TAG || tag == REPLY_TAG || tag == SEEN_TAG
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Query {
    id: QueryId,
    ttl: u8,
    lifetime_ms: u32,
    target: AgentId,
}

fn encode_query(q: &Query) -> Vec<u8> {
    let mut out = Vec::with_capacity(QUERY_LEN);
    out.push(QUERY_TAG);
    out.extend_from_slice(&q.id);
    out.push(q.ttl);
    out.extend_from_slice(&q.lifetime_ms.to_le_bytes());
    out.extend_from_slice(&q.target);
    out
}

fn decode_query(frame: &[u8]) -> Option<Query> {
    if frame.len() != QUERY_LEN || frame[0] != QUERY_TAG {
        return None;
    }
    let id: QueryId = frame.get(1..17)?.try_into().ok()?;
    let ttl = *frame.get(17)?;
    let lifetime_ms = u32::from_le_bytes(frame.get(18..22)?.try_into().ok()?);
    let target: AgentId = frame.get(22..54)?.try_into().ok()?;
    if ttl == 0 || ttl > MAX_TTL || lifetime_ms == 0 || lifetime_ms > MAX_LIFETIME_MS {
        return None;
    }
    Some(Query { id, ttl, lifetime_ms, target })
}

fn encode_reply(id: &QueryId, record: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(17 + record.len());
    out.push(REPLY_TAG);
    out.extend_from_slice(id);
    out.extend_from_slice(record);
    out
}

fn encode_seen(id: &QueryId) -> Vec<u8> {
    let mut out = Vec::with_capacity(SEEN_LEN);
    out.push(SEEN_TAG);
    out.extend_from_slice(id);
    out
}

fn decode_seen(frame: &[u8]) -> Option<QueryId> {
    if frame.len() != SEEN_LEN || frame[0] != SEEN_TAG {
        return None;
    }
    frame.get(1..17)?.try_into().ok()
}

fn decode_reply(frame: &[u8]) -> Option<(QueryId, &[u8])> {
    if frame.first() != Some(&REPLY_TAG) || frame.len() > 17 + MAX_RECORD_BYTES {
        return None;
    }
    let id: QueryId = frame.get(1..17)?.try_into().ok()?;
    Some((id, frame.get(17..)?))
}

/// FOAF counters of one agent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FoafStats {
    /// Queries this agent started.
    pub queries_started: u64,
    /// Queries received and handled (first sight of their id).
    pub queries_handled: u64,
    /// Query frames sent: the origin's first sends plus every forward.
    pub queries_forwarded: u64,
    /// Queries dropped because their id had been seen (loops, duplicates).
    pub duplicates_dropped: u64,
    /// "Seen" frames sent back for those duplicates.
    pub seen_sent: u64,
    /// Forwards sent again to another neighbour after a "seen" frame.
    pub revisits_redirected: u64,
    /// Answers this agent sent as the target.
    pub replies_sent: u64,
    /// Answers passed back one hop towards an origin.
    pub replies_relayed: u64,
    /// Answers that resolved one of this agent's own queries.
    pub answers_accepted: u64,
    /// Frames that did not decode, or carried out-of-range fields.
    pub malformed_dropped: u64,
    /// Answers whose record was badly signed, expired or about someone else.
    pub bad_records_dropped: u64,
    /// Answers, and "seen" frames, for a query this agent no longer (or
    /// never) routed, or from a neighbour it did not send it to.
    pub unroutable_replies: u64,
    /// Queries dropped because this agent already tracks too many.
    pub overloaded_dropped: u64,
    /// Queries dropped because their sender spent its budget
    /// ([`PEER_QUERY_BURST`], refilled at [`PEER_QUERY_RATE`] a second).
    pub rate_limited_dropped: u64,
}

#[derive(Default)]
struct Counters {
    queries_started: AtomicU64,
    queries_handled: AtomicU64,
    queries_forwarded: AtomicU64,
    duplicates_dropped: AtomicU64,
    seen_sent: AtomicU64,
    revisits_redirected: AtomicU64,
    replies_sent: AtomicU64,
    replies_relayed: AtomicU64,
    answers_accepted: AtomicU64,
    malformed_dropped: AtomicU64,
    bad_records_dropped: AtomicU64,
    unroutable_replies: AtomicU64,
    overloaded_dropped: AtomicU64,
    rate_limited_dropped: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

struct Route {
    previous_hop: PeerId,
    target: AgentId,
    until: Instant,
}

/// What a node needs to spend a forward again when its receiver had seen
/// the query: the frame's fields, whom not to send it to, and the budget.
struct Walk {
    ttl: u8,
    target: AgentId,
    until: Instant,
    /// The previous hop (none at the origin) and every neighbour sent to.
    tried: Vec<PeerId>,
    /// Sent to and not yet answered "seen": one redirect each, at most.
    outstanding: Vec<PeerId>,
    redirects_left: usize,
}

impl Walk {
    /// Takes `from`'s "seen" (once per neighbour sent to) and picks the
    /// neighbour to try instead, if any is left and the budget allows.
    fn redirect(&mut self, from: PeerId, neighbours: &[PeerId], me: &AgentId) -> Option<PeerId> {
        let i = self.outstanding.iter().position(|p| *p == from)?;
        self.outstanding.swap_remove(i);
        if self.redirects_left == 0 {
            return None;
        }
        let next = *pick(neighbours, &self.tried, me, 1, &self.target, self.ttl).first()?;
        self.redirects_left -= 1;
        self.tried.push(next);
        self.outstanding.push(next);
        Some(next)
    }
}

struct Pending {
    target: AgentId,
    until: Instant,
    answer: oneshot::Sender<AddrRecord>,
}

#[derive(Default)]
struct State {
    /// Query ids seen, until the query's lifetime ends.
    seen: HashMap<QueryId, Instant>,
    /// Reverse path: previous hop per forwarded query, for its lifetime.
    routes: HashMap<QueryId, Route>,
    /// Queries this agent started.
    pending: HashMap<QueryId, Pending>,
    /// Forwards that a "seen" may redirect, one per query this agent sent
    /// on (so never more than `seen` holds).
    walks: HashMap<QueryId, Walk>,
    /// Per-neighbour query budget: tokens left and when last refilled.
    budgets: HashMap<PeerId, (f64, Instant)>,
    /// When expired entries are next swept.
    next_prune: Option<Instant>,
}

impl State {
    /// Sweeps expired entries, at most once per [`PRUNE_EVERY`] unless
    /// `force`d.
    fn prune(&mut self, now: Instant, force: bool) {
        if !force && self.next_prune.is_some_and(|t| now < t) {
            return;
        }
        self.next_prune = Some(now + PRUNE_EVERY);
        self.seen.retain(|_, until| *until > now);
        self.routes.retain(|_, r| r.until > now);
        self.walks.retain(|_, w| w.until > now);
        self.pending.retain(|_, p| p.until > now && !p.answer.is_closed());
        // A budget idle long enough to be full again is the same as none.
        let full = f64::from(PEER_QUERY_BURST) / f64::from(PEER_QUERY_RATE);
        self.budgets.retain(|_, (_, at)| now.duration_since(*at).as_secs_f64() < full);
    }

    /// Takes one query from `peer`'s budget; false when it is spent.
    fn spend(&mut self, peer: PeerId, now: Instant) -> bool {
        if !self.budgets.contains_key(&peer) && self.budgets.len() >= MAX_STATE {
            return false;
        }
        let (tokens, at) = self.budgets.entry(peer).or_insert((f64::from(PEER_QUERY_BURST), now));
        let refill = now.duration_since(*at).as_secs_f64() * f64::from(PEER_QUERY_RATE);
        *tokens = (*tokens + refill).min(f64::from(PEER_QUERY_BURST));
        *at = now;
        if *tokens < 1.0 {
            return false;
        }
        *tokens -= 1.0;
        true
    }
}

/// One agent's FOAF state machine.
pub struct Foaf {
    me: AgentId,
    fanout: usize,
    ttl: u8,
    advertise: AtomicBool,
    state: StdMutex<State>,
    counters: Counters,
}

/// Where a frame with `ttl` hops left goes: straight to the target when it
/// is a neighbour (a random walk would miss it with probability
/// `1 - fanout/degree`); otherwise, unless this is the last hop (where only
/// the target could use it), to `n` random neighbours not in `exclude`.
fn pick(neighbours: &[PeerId], exclude: &[PeerId], me: &AgentId, n: usize, target: &AgentId, ttl: u8) -> Vec<PeerId> {
    let fresh = |p: &&PeerId| !exclude.contains(p) && p.as_bytes() != me;
    if let Some(t) = neighbours.iter().filter(fresh).find(|p| p.as_bytes() == target) {
        return vec![*t];
    }
    if ttl <= 1 {
        return Vec::new();
    }
    let candidates: Vec<PeerId> = neighbours.iter().filter(fresh).copied().collect();
    candidates.choose_multiple(&mut rand::thread_rng(), n).copied().collect()
}

/// The query frame for `id` with the lifetime left until `until`.
fn requery(id: QueryId, ttl: u8, target: AgentId, until: Instant, now: Instant) -> Vec<u8> {
    let left = until.saturating_duration_since(now).as_millis().clamp(1, MAX_LIFETIME_MS as u128) as u32;
    encode_query(&Query { id, ttl, lifetime_ms: left, target })
}

impl Foaf {
    /// FOAF for agent `me`, forwarding to `fanout` peers and starting queries
    /// with `ttl` hops. Answers its own queries from the start.
    pub fn new(me: AgentId, fanout: usize, ttl: u8) -> Self {
        Self {
            me,
            fanout: fanout.max(1),
            ttl: ttl.clamp(1, MAX_TTL),
            advertise: AtomicBool::new(true),
            state: StdMutex::new(State::default()),
            counters: Counters::default(),
        }
    }

    /// Whether this agent answers queries for itself.
    pub fn set_advertise(&self, on: bool) {
        self.advertise.store(on, Ordering::Relaxed);
    }

    /// See [`Self::set_advertise`].
    pub fn advertising(&self) -> bool {
        self.advertise.load(Ordering::Relaxed)
    }

    /// Starts a query for `target`: the frames to send and where the verified
    /// answer will arrive. The receiver errs when the lifetime ends unanswered
    /// (once pruned) or the query is cancelled.
    pub fn start(
        &self,
        target: AgentId,
        lifetime: Duration,
        neighbours: &[PeerId],
        now: Instant,
    ) -> (QueryId, oneshot::Receiver<AddrRecord>, Vec<Outgoing>) {
        let id: QueryId = rand::random();
        let lifetime_ms = lifetime.as_millis().clamp(1, MAX_LIFETIME_MS as u128) as u32;
        let until = now + Duration::from_millis(lifetime_ms.into());
        let (tx, rx) = oneshot::channel();
        let peers = pick(neighbours, &[], &self.me, self.fanout, &target, self.ttl);
        if let Ok(mut st) = self.state.lock() {
            st.prune(now, false);
            // Our own query coming back around a loop is a duplicate like any
            // other, answered "seen" like any other node would.
            st.seen.insert(id, until);
            st.pending.insert(id, Pending { target, until, answer: tx });
            if let Some(w) = self.walk(None, &peers, self.ttl, target, until) {
                st.walks.insert(id, w);
            }
        }
        let frame = encode_query(&Query { id, ttl: self.ttl, lifetime_ms, target });
        let sends: Vec<Outgoing> = peers.into_iter().map(|p| (p, frame.clone())).collect();
        bump(&self.counters.queries_started, 1);
        bump(&self.counters.queries_forwarded, sends.len() as u64);
        (id, rx, sends)
    }

    /// The redirect state of a forward of `ttl` hops to `sent`; none when a
    /// "seen" could not come back (nothing sent, or the last hop, whose
    /// duplicates are not answered).
    fn walk(&self, from: Option<PeerId>, sent: &[PeerId], ttl: u8, target: AgentId, until: Instant) -> Option<Walk> {
        if sent.is_empty() || ttl <= 1 {
            return None;
        }
        Some(Walk {
            ttl,
            target,
            until,
            tried: from.into_iter().chain(sent.iter().copied()).collect(),
            outstanding: sent.to_vec(),
            redirects_left: self.fanout,
        })
    }

    /// Forgets one of this agent's queries (timeout or abort).
    pub fn cancel(&self, id: &QueryId) {
        if let Ok(mut st) = self.state.lock() {
            st.pending.remove(id);
        }
    }

    /// Handles one FOAF frame from `from`. `own_record` signs this agent's
    /// record, and is only called when this agent is the target.
    pub fn on_frame(
        &self,
        from: PeerId,
        frame: &[u8],
        neighbours: &[PeerId],
        own_record: impl FnOnce() -> Option<Vec<u8>>,
        now: Instant,
        wall_ms: u64,
    ) -> Vec<Outgoing> {
        match frame.first() {
            Some(&QUERY_TAG) => match decode_query(frame) {
                Some(q) => self.on_query(from, q, neighbours, own_record, now),
                None => {
                    bump(&self.counters.malformed_dropped, 1);
                    Vec::new()
                }
            },
            Some(&SEEN_TAG) => match decode_seen(frame) {
                Some(id) => self.on_seen(from, id, neighbours, now),
                None => {
                    bump(&self.counters.malformed_dropped, 1);
                    Vec::new()
                }
            },
            Some(&REPLY_TAG) => match decode_reply(frame) {
                Some((id, record)) => self.on_reply(id, record, frame, now, wall_ms),
                None => {
                    bump(&self.counters.malformed_dropped, 1);
                    Vec::new()
                }
            },
            _ => {
                bump(&self.counters.malformed_dropped, 1);
                Vec::new()
            }
        }
    }

    fn on_query(
        &self,
        from: PeerId,
        q: Query,
        neighbours: &[PeerId],
        own_record: impl FnOnce() -> Option<Vec<u8>>,
        now: Instant,
    ) -> Vec<Outgoing> {
        let until = now + Duration::from_millis(q.lifetime_ms.into());
        // A query travels at most as far as this agent's own would: the
        // sender does not choose how far we flood it.
        let ttl = q.ttl.min(self.ttl);
        let forward_to = {
            let Ok(mut st) = self.state.lock() else { return Vec::new() };
            st.prune(now, false);
            if !st.spend(from, now) {
                bump(&self.counters.rate_limited_dropped, 1);
                return Vec::new();
            }
            if st.seen.get(&q.id).is_some_and(|t| *t > now) {
                bump(&self.counters.duplicates_dropped, 1);
                // A copy with one hop left went to us as the target, and
                // its sender has nobody else to try.
                if ttl <= 1 {
                    return Vec::new();
                }
                bump(&self.counters.seen_sent, 1);
                return vec![(from, encode_seen(&q.id))];
            }
            if st.seen.len() + st.routes.len() >= MAX_STATE {
                st.prune(now, true);
            }
            if st.seen.len() + st.routes.len() >= MAX_STATE {
                bump(&self.counters.overloaded_dropped, 1);
                return Vec::new();
            }
            st.seen.insert(q.id, until);
            bump(&self.counters.queries_handled, 1);
            if q.target == self.me {
                Vec::new()
            } else if ttl > 1 {
                let peers = pick(neighbours, &[from], &self.me, self.fanout, &q.target, ttl - 1);
                if !peers.is_empty() {
                    st.routes.insert(q.id, Route { previous_hop: from, target: q.target, until });
                }
                if let Some(w) = self.walk(Some(from), &peers, ttl - 1, q.target, until) {
                    st.walks.insert(q.id, w);
                }
                peers
            } else {
                Vec::new()
            }
        };
        if q.target == self.me {
            if !self.advertising() {
                return Vec::new();
            }
            return match own_record() {
                Some(record) => {
                    bump(&self.counters.replies_sent, 1);
                    vec![(from, encode_reply(&q.id, &record))]
                }
                None => Vec::new(),
            };
        }
        let frame = encode_query(&Query { ttl: ttl - 1, ..q });
        bump(&self.counters.queries_forwarded, forward_to.len() as u64);
        forward_to.into_iter().map(|p| (p, frame.clone())).collect()
    }

    /// A neighbour we sent `id` to had seen it: that forward goes to another
    /// neighbour instead, if one is left.
    fn on_seen(&self, from: PeerId, id: QueryId, neighbours: &[PeerId], now: Instant) -> Vec<Outgoing> {
        let Ok(mut st) = self.state.lock() else { return Vec::new() };
        st.prune(now, false);
        let Some(walk) = st.walks.get_mut(&id).filter(|w| w.until > now && w.outstanding.contains(&from)) else {
            bump(&self.counters.unroutable_replies, 1);
            return Vec::new();
        };
        let Some(next) = walk.redirect(from, neighbours, &self.me) else { return Vec::new() };
        let frame = requery(id, walk.ttl, walk.target, walk.until, now);
        bump(&self.counters.queries_forwarded, 1);
        bump(&self.counters.revisits_redirected, 1);
        vec![(next, frame)]
    }

    fn on_reply(&self, id: QueryId, record: &[u8], frame: &[u8], now: Instant, wall_ms: u64) -> Vec<Outgoing> {
        let Ok(mut st) = self.state.lock() else { return Vec::new() };
        st.prune(now, false);
        if let Some(p) = st.pending.get(&id).filter(|p| p.until > now) {
            match addr_record::verify_for(record, &p.target, wall_ms) {
                Ok(rec) => {
                    if let Some(p) = st.pending.remove(&id) {
                        if p.answer.send(rec).is_ok() {
                            bump(&self.counters.answers_accepted, 1);
                        }
                    }
                }
                // A forged answer must not end the query: keep waiting for the real one.
                Err(_) => bump(&self.counters.bad_records_dropped, 1),
            }
            return Vec::new();
        }
        let Some(route) = st.routes.get(&id).filter(|r| r.until > now) else {
            bump(&self.counters.unroutable_replies, 1);
            return Vec::new();
        };
        if addr_record::verify_for(record, &route.target, wall_ms).is_err() {
            bump(&self.counters.bad_records_dropped, 1);
            return Vec::new();
        }
        // One answer per query: the entry's job is done.
        let Some(route) = st.routes.remove(&id) else { return Vec::new() };
        bump(&self.counters.replies_relayed, 1);
        vec![(route.previous_hop, frame.to_vec())]
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> FoafStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        FoafStats {
            queries_started: get(&c.queries_started),
            queries_handled: get(&c.queries_handled),
            queries_forwarded: get(&c.queries_forwarded),
            duplicates_dropped: get(&c.duplicates_dropped),
            seen_sent: get(&c.seen_sent),
            revisits_redirected: get(&c.revisits_redirected),
            replies_sent: get(&c.replies_sent),
            replies_relayed: get(&c.replies_relayed),
            answers_accepted: get(&c.answers_accepted),
            malformed_dropped: get(&c.malformed_dropped),
            bad_records_dropped: get(&c.bad_records_dropped),
            unroutable_replies: get(&c.unroutable_replies),
            overloaded_dropped: get(&c.overloaded_dropped),
            rate_limited_dropped: get(&c.rate_limited_dropped),
        }
    }

    /// Reverse-path entries currently held (for tests of the privacy rule).
    pub fn routes_held(&self, now: Instant) -> usize {
        self.state.lock().map(|mut st| {
            st.prune(now, true);
            st.routes.len()
        })
        .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::AgentKeypair;
    use std::collections::VecDeque;

    /// A line of nodes 0-1-2-...; frames are delivered in FIFO order.
    struct Net {
        keys: Vec<AgentKeypair>,
        nodes: Vec<Foaf>,
        edges: Vec<Vec<usize>>,
        frames_seen: Vec<Vec<u8>>,
    }

    impl Net {
        fn new(n: usize, edges: &[(usize, usize)]) -> Self {
            Self::with(n, edges, 3, 3)
        }
        fn with(n: usize, edges: &[(usize, usize)], fanout: usize, ttl: u8) -> Self {
            let keys: Vec<AgentKeypair> = (0..n).map(|_| AgentKeypair::generate().unwrap()).collect();
            let nodes = keys.iter().map(|k| Foaf::new(k.agent_id(), fanout, ttl)).collect();
            let mut adj = vec![Vec::new(); n];
            for &(a, b) in edges {
                adj[a].push(b);
                adj[b].push(a);
            }
            Self { keys, nodes, edges: adj, frames_seen: Vec::new() }
        }
        fn index(&self, p: &PeerId) -> usize {
            self.keys.iter().position(|k| k.peer_id() == *p).unwrap()
        }
        fn peers(&self, i: usize) -> Vec<PeerId> {
            self.edges[i].iter().map(|&j| self.keys[j].peer_id()).collect()
        }
        fn run(&mut self, from: usize, sends: Vec<Outgoing>, now: Instant) {
            let mut queue: VecDeque<(usize, Outgoing)> = sends.into_iter().map(|s| (from, s)).collect();
            while let Some((src, (to, frame))) = queue.pop_front() {
                self.frames_seen.push(frame.clone());
                let dst = self.index(&to);
                let kp = self.keys[dst].clone();
                let peers = self.peers(dst);
                let out = self.nodes[dst].on_frame(
                    self.keys[src].peer_id(),
                    &frame,
                    &peers,
                    || addr_record::sign(&kp, &["127.0.0.1:9".parse().unwrap()], 1_000, 60_000).ok(),
                    now,
                    2_000,
                );
                queue.extend(out.into_iter().map(|o| (dst, o)));
            }
        }
    }

    fn line(n: usize) -> Net {
        let edges: Vec<(usize, usize)> = (0..n - 1).map(|i| (i, i + 1)).collect();
        Net::new(n, &edges)
    }

    #[test]
    fn finds_three_hops_away_but_not_four() {
        let now = Instant::now();
        let mut net = line(5);
        let target = net.keys[3].agent_id();
        let (_, mut rx, sends) = net.nodes[0].start(target, Duration::from_secs(5), &net.peers(0), now);
        net.run(0, sends, now);
        let rec = rx.try_recv().unwrap();
        assert_eq!(rec.agent_id, target);
        assert_eq!(rec.addrs, vec!["127.0.0.1:9".parse().unwrap()]);

        let far = net.keys[4].agent_id();
        let (_, mut rx, sends) = net.nodes[0].start(far, Duration::from_secs(5), &net.peers(0), now);
        net.run(0, sends, now);
        assert!(rx.try_recv().is_err());
        assert_eq!(net.nodes[4].stats().queries_handled, 0, "the query died at D, its TTL spent");
        assert_eq!(net.nodes[3].stats().queries_forwarded, 0);
    }

    #[test]
    fn no_frame_carries_the_origin_and_routes_expire() {
        let now = Instant::now();
        let mut net = line(4);
        let origin = net.keys[0].agent_id();
        let (_, mut rx, sends) = net.nodes[0].start(net.keys[3].agent_id(), Duration::from_secs(5), &net.peers(0), now);
        net.run(0, sends, now);
        assert!(rx.try_recv().is_ok());
        for f in &net.frames_seen {
            assert!(!f.windows(32).any(|w| w == origin), "a frame carried the origin id");
        }
        // Answered queries leave no reverse path behind.
        assert_eq!(net.nodes[1].routes_held(now) + net.nodes[2].routes_held(now), 0);
        // Unanswered ones hold it only for the query's lifetime.
        let (_, _rx, sends) = net.nodes[0].start([9; 32], Duration::from_secs(5), &net.peers(0), now);
        net.run(0, sends, now);
        assert_eq!(net.nodes[1].routes_held(now), 1);
        assert_eq!(net.nodes[1].routes_held(now + Duration::from_secs(6)), 0);
    }

    #[test]
    fn ring_never_handles_a_query_twice() {
        let now = Instant::now();
        // TTL 4, so that 2 and 3 (at hop 2) still forward, to each other.
        let mut net = Net::with(5, &[(0, 1), (1, 2), (2, 3), (3, 4), (4, 0)], 3, 4);
        let (_, _rx, sends) = net.nodes[0].start([7; 32], Duration::from_secs(5), &net.peers(0), now);
        net.run(0, sends, now);
        let dups: u64 = net.nodes.iter().map(|n| n.stats().duplicates_dropped).sum();
        assert!(dups > 0, "the ring must loop the query back");
        for n in &net.nodes {
            assert!(n.stats().queries_handled <= 1);
        }
        assert_eq!(net.nodes[0].stats().queries_handled, 0);
        // Each duplicate says "seen", and 2 and 3 have no one else to try.
        let seen: u64 = net.nodes.iter().map(|n| n.stats().seen_sent).sum();
        assert_eq!(seen, dups);
        assert_eq!(net.nodes.iter().map(|n| n.stats().revisits_redirected).sum::<u64>(), 0);
    }

    #[test]
    fn a_walk_that_runs_into_its_origin_tries_another_neighbour() {
        // O(0) - U(1), O - A(2), U - A, U - C(3), A - C, C - T(4); every
        // node forwards to one neighbour. Whichever of U and A gets the
        // query second may pick O, which has it: that branch used to die
        // there, one lookup in four.
        let edges = [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3), (3, 4)];
        let now = Instant::now();
        let mut redirected = 0;
        for _ in 0..80 {
            let mut net = Net::with(5, &edges, 1, 4);
            let target = net.keys[4].agent_id();
            let (_, mut rx, sends) = net.nodes[0].start(target, Duration::from_secs(5), &net.peers(0), now);
            net.run(0, sends, now);
            assert_eq!(rx.try_recv().map(|r| r.agent_id).ok(), Some(target));
            redirected += net.nodes.iter().map(|n| n.stats().revisits_redirected).sum::<u64>();
        }
        assert!(redirected > 0, "no run picked O: the topology tests nothing");
    }

    #[test]
    fn the_last_hop_goes_to_the_target_or_nowhere() {
        let now = Instant::now();
        let mut net = line(4);
        let (_, _rx, sends) = net.nodes[0].start([9; 32], Duration::from_secs(5), &net.peers(0), now);
        net.run(0, sends, now);
        // Node 2 gets the query with two hops left: node 3 could only drop it.
        assert_eq!(net.nodes[2].stats().queries_handled, 1);
        assert_eq!(net.nodes[2].stats().queries_forwarded, 0);
        assert_eq!(net.nodes[3].stats().queries_handled, 0);
        // A TTL-1 origin asks a neighbouring target only.
        let edges = [(0, 1), (0, 2)];
        let net = Net::with(3, &edges, 3, 1);
        let (_, _, sends) = net.nodes[0].start([9; 32], Duration::from_secs(5), &net.peers(0), now);
        assert!(sends.is_empty());
        let (_, _, sends) = net.nodes[0].start(net.keys[2].agent_id(), Duration::from_secs(5), &net.peers(0), now);
        assert_eq!(sends.iter().map(|s| s.0).collect::<Vec<_>>(), vec![net.keys[2].peer_id()]);
    }

    #[test]
    fn seen_redirects_only_forwards_sent_once_each_and_at_most_fanout() {
        let now = Instant::now();
        let me = AgentKeypair::generate().unwrap().agent_id();
        let node = Foaf::new(me, 2, 3);
        let peer = |i: u8| PeerId::new([i; 32]);
        let neighbours: Vec<PeerId> = (1..=8).map(peer).collect();
        let q = Query { id: [5; 16], ttl: 3, lifetime_ms: 5_000, target: [99; 32] };
        let out = node.on_frame(peer(1), &encode_query(&q), &neighbours, || None, now, 2_000);
        assert_eq!(out.len(), 2);
        let mut sent: Vec<PeerId> = out.iter().map(|o| o.0).collect();
        let seen = encode_seen(&q.id);
        // From a neighbour it was not sent to, or about another query: nothing.
        let stranger = *neighbours.iter().find(|p| **p != peer(1) && !sent.contains(p)).unwrap();
        assert!(node.on_frame(stranger, &seen, &neighbours, || None, now, 2_000).is_empty());
        assert!(node.on_frame(sent[0], &encode_seen(&[6; 16]), &neighbours, || None, now, 2_000).is_empty());
        assert_eq!(node.stats().unroutable_replies, 2);
        // Each "seen" redirects once, to a neighbour never tried, with the
        // same TTL and target, until the budget (fanout) is spent.
        let first = sent[0];
        for _ in 0..2 {
            let from = sent[0];
            let out = node.on_frame(from, &seen, &neighbours, || None, now, 2_000);
            assert_eq!(out.len(), 1);
            let (to, frame) = &out[0];
            assert!(*to != peer(1) && !sent.contains(to));
            let got = decode_query(frame).unwrap();
            assert_eq!((got.id, got.ttl, got.target), (q.id, 2, q.target));
            sent.remove(0);
            sent.push(*to);
        }
        assert!(node.on_frame(first, &seen, &neighbours, || None, now, 2_000).is_empty(), "one redirect per send");
        assert!(node.on_frame(sent[0], &seen, &neighbours, || None, now, 2_000).is_empty(), "budget spent");
        assert_eq!(node.stats().revisits_redirected, 2);
        assert!(node.on_frame(sent[0], &seen[..16], &neighbours, || None, now, 2_000).is_empty());
        assert_eq!(node.stats().malformed_dropped, 1);
        // Once the query's lifetime ends, so does its redirect state.
        let later = now + Duration::from_secs(6);
        assert!(node.on_frame(sent[1], &seen, &neighbours, || None, later, 2_000).is_empty());
        assert_eq!(node.stats().unroutable_replies, 4);
    }

    #[test]
    fn a_duplicate_is_answered_seen_unless_it_was_on_its_last_hop() {
        let now = Instant::now();
        let node = Foaf::new([1; 32], 3, 3);
        let from = PeerId::new([2; 32]);
        let q = Query { id: [5; 16], ttl: 3, lifetime_ms: 5_000, target: [99; 32] };
        node.on_frame(from, &encode_query(&q), &[], || None, now, 2_000);
        let out = node.on_frame(from, &encode_query(&q), &[], || None, now, 2_000);
        assert_eq!(out, vec![(from, encode_seen(&q.id))]);
        let last = Query { ttl: 1, ..q };
        assert!(node.on_frame(from, &encode_query(&last), &[], || None, now, 2_000).is_empty());
        assert_eq!((node.stats().duplicates_dropped, node.stats().seen_sent), (2, 1));
    }

    #[test]
    fn forged_and_malformed_answers_are_dropped() {
        let now = Instant::now();
        let net = line(2);
        let target = net.keys[1].agent_id();
        let (id, mut rx, _) = net.nodes[0].start(target, Duration::from_secs(5), &net.peers(0), now);
        let impostor = AgentKeypair::generate().unwrap();
        let forged = addr_record::sign(&impostor, &["10.0.0.1:1".parse().unwrap()], 1_000, 60_000).unwrap();
        let from = net.keys[1].peer_id();
        net.nodes[0].on_frame(from, &encode_reply(&id, &forged), &[], || None, now, 2_000);
        net.nodes[0].on_frame(from, &[REPLY_TAG, 1, 2], &[], || None, now, 2_000);
        net.nodes[0].on_frame(from, &[QUERY_TAG; 54], &[], || None, now, 2_000);
        let s = net.nodes[0].stats();
        assert_eq!((s.bad_records_dropped, s.malformed_dropped), (1, 2));
        assert!(rx.try_recv().is_err(), "a forged answer must not resolve the query");
        let genuine = addr_record::sign(&net.keys[1], &["127.0.0.1:9".parse().unwrap()], 1_000, 60_000).unwrap();
        net.nodes[0].on_frame(from, &encode_reply(&id, &genuine), &[], || None, now, 2_000);
        assert_eq!(rx.try_recv().unwrap().agent_id, target);
    }

    #[test]
    fn goes_straight_to_a_neighbouring_target() {
        let now = Instant::now();
        // A hub (0) with six leaves: a random walk of fanout 3 would reach
        // leaf 6 in only half the runs.
        let edges: Vec<(usize, usize)> = (1..7).map(|i| (0, i)).collect();
        for _ in 0..10 {
            let mut net = Net::new(7, &edges);
            let target = net.keys[6].agent_id();
            let (_, mut rx, sends) = net.nodes[1].start(target, Duration::from_secs(5), &net.peers(1), now);
            net.run(1, sends, now);
            assert_eq!(rx.try_recv().unwrap().agent_id, target);
            assert_eq!(net.nodes[0].stats().queries_forwarded, 1);
        }
    }

    #[test]
    fn silent_when_not_advertising() {
        let now = Instant::now();
        let mut net = line(2);
        net.nodes[1].set_advertise(false);
        let (_, mut rx, sends) = net.nodes[0].start(net.keys[1].agent_id(), Duration::from_secs(5), &net.peers(0), now);
        net.run(0, sends, now);
        assert!(rx.try_recv().is_err());
        assert_eq!(net.nodes[1].stats().replies_sent, 0);
    }

    #[test]
    fn query_codec_rejects_out_of_range_fields() {
        let q = Query { id: [1; 16], ttl: 3, lifetime_ms: 1000, target: [2; 32] };
        assert_eq!(decode_query(&encode_query(&q)), Some(q));
        for bad in [Query { ttl: 0, ..q }, Query { ttl: MAX_TTL + 1, ..q }, Query { lifetime_ms: 0, ..q }] {
            assert_eq!(decode_query(&encode_query(&bad)), None);
        }
        let mut long = encode_query(&q);
        long.push(0);
        assert_eq!(decode_query(&long), None);
    }
}
