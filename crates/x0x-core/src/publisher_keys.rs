//! Publisher keys: fetched once per publisher, not carried in every copy.
//!
//! An envelope names its publisher by agent id, the hash of its 1,952-byte
//! ML-DSA-65 public key ([`crate::envelope`]). A receiver keeps the keys it
//! has seen in a bounded [`KeyBook`] and asks the peer that sent a frame for
//! a key it lacks: every honest sender holds it, since it verified the
//! frame before it forwarded it (or published it). A key proves itself, its
//! hash being the id that was asked for, so whoever answers cannot lie.
//!
//! Wire (Bulk stream):
//!
//! | frame | bytes |
//! |---|---|
//! | WANT | `0x98`, count `n` (1..=16), `n` × 32-byte agent id |
//! | HAVE | `0x99`, count `n` (1..=16), `n` × 1,952-byte public key |
//!
//! Bounds, against a peer that would make us ask or answer without end:
//! - at most [`MAX_PENDING_PER_PEER`] ids may be asked of one peer at once
//!   (and [`MAX_PENDING`] in all); a frame naming yet another unknown
//!   publisher is dropped, counted;
//! - an ask lives [`FETCH_TIMEOUT`]; a key nobody asked that peer for is
//!   ignored, counted;
//! - a peer is answered at most [`SERVE_PER_SEC`] keys a second (bursts of
//!   [`SERVE_BURST`]); past that, the ids go unanswered, counted;
//! - the book holds [`MAX_KEYS`] keys, least recently used out first, and
//!   never drops this agent's own.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};

use lru::LruCache;
use saorsa_gossip_types::PeerId;
use tokio::sync::watch;

use crate::identity::{AgentId, PublicKey, PUBLIC_KEY_LEN};

/// A WANT frame: agent ids whose keys the sender lacks.
pub const WANT_TAG: u8 = 0x98;
/// A HAVE frame: public keys, answering a WANT.
pub const HAVE_TAG: u8 = 0x99;
/// Most ids (or keys) in one frame.
pub const MAX_PER_FRAME: usize = 16;
/// Keys the book holds; about 8 MiB when full.
pub const MAX_KEYS: usize = 4096;
/// Ids asked of one peer and not yet answered.
pub const MAX_PENDING_PER_PEER: usize = 32;
/// Ids asked of all peers and not yet answered.
pub const MAX_PENDING: usize = 1024;
/// How long an ask waits for its answer.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(2);
/// Keys a peer is answered per second, on average.
pub const SERVE_PER_SEC: f64 = 64.0;
/// Keys a peer may be answered in a burst.
pub const SERVE_BURST: f64 = 256.0;
/// Peers whose serve budget is tracked; idle ones are forgotten first.
const MAX_BUDGETS: usize = 4096;

/// Whether a Bulk frame's first byte is one of this protocol's.
pub fn owns(tag: u8) -> bool {
    tag == WANT_TAG || tag == HAVE_TAG
}

/// A decoded key frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// Ids whose keys the sender asks for.
    Want(Vec<AgentId>),
    /// Keys, as sent.
    Have(Vec<&'a [u8]>),
}

/// Encodes a WANT for `ids` (at most [`MAX_PER_FRAME`] are taken).
pub fn encode_want(ids: &[AgentId]) -> Vec<u8> {
    let ids = &ids[..ids.len().min(MAX_PER_FRAME)];
    let mut out = Vec::with_capacity(2 + ids.len() * 32);
    out.push(WANT_TAG);
    out.push(ids.len() as u8);
    for id in ids {
        out.extend_from_slice(id);
    }
    out
}

/// Encodes a HAVE carrying `keys` (at most [`MAX_PER_FRAME`] are taken).
pub fn encode_have(keys: &[PublicKey]) -> Vec<u8> {
    let keys = &keys[..keys.len().min(MAX_PER_FRAME)];
    let mut out = Vec::with_capacity(2 + keys.len() * PUBLIC_KEY_LEN);
    out.push(HAVE_TAG);
    out.push(keys.len() as u8);
    for key in keys {
        out.extend_from_slice(key.as_bytes());
    }
    out
}

/// Decodes a key frame; `None` for anything malformed (a wrong count or length).
pub fn decode(data: &[u8]) -> Option<Frame<'_>> {
    let (&tag, rest) = data.split_first()?;
    let (&n, body) = rest.split_first()?;
    let n = n as usize;
    if n == 0 || n > MAX_PER_FRAME {
        return None;
    }
    match tag {
        WANT_TAG if body.len() == n * 32 => {
            Some(Frame::Want(body.chunks_exact(32).filter_map(|c| c.try_into().ok()).collect()))
        }
        HAVE_TAG if body.len() == n * PUBLIC_KEY_LEN => Some(Frame::Have(body.chunks_exact(PUBLIC_KEY_LEN).collect())),
        _ => None,
    }
}

/// What a receiver does about a publisher's key.
pub enum Want {
    /// The key is here.
    Known,
    /// Send a WANT for it to the peer, then wait (the receiver turns true).
    Ask(watch::Receiver<bool>),
    /// Someone already asked; wait for that answer.
    Wait(watch::Receiver<bool>),
    /// Too many asks in flight: drop the frame.
    Refused,
}

struct Pending {
    asked: PeerId,
    at: Instant,
    done: watch::Sender<bool>,
}

struct Budget {
    tokens: f64,
    at: Instant,
}

struct Inner {
    keys: LruCache<AgentId, PublicKey>,
    pending: HashMap<AgentId, Pending>,
    per_peer: HashMap<PeerId, usize>,
    budgets: HashMap<PeerId, Budget>,
}

/// Counters of the key book (in `diagnostics()` as `keys.*`).
#[derive(Default)]
pub struct KeyStats {
    /// WANTs sent for ids this agent lacked.
    pub asked: AtomicU64,
    /// Keys received that answered an ask.
    pub fetched: AtomicU64,
    /// Asks that went unanswered within [`FETCH_TIMEOUT`].
    pub timed_out: AtomicU64,
    /// Frames dropped because too many asks were in flight.
    pub refused: AtomicU64,
    /// Keys received that nobody asked that peer for (and not its own).
    pub unsolicited: AtomicU64,
    /// Peers' own keys, sent when they connected.
    pub introduced: AtomicU64,
    /// Keys sent to peers that asked.
    pub served: AtomicU64,
    /// Ids asked of us past the peer's budget, or unknown here.
    pub not_served: AtomicU64,
    /// Malformed key frames.
    pub malformed: AtomicU64,
}

/// The keys this agent knows, and its asks in flight.
pub struct KeyBook {
    own_id: AgentId,
    own: PublicKey,
    inner: StdMutex<Inner>,
    /// What happened, for diagnostics.
    pub stats: KeyStats,
}

impl KeyBook {
    /// The HAVE frame that introduces this agent's own key to a peer that
    /// just connected, so the first message it gets from us (or a publish
    /// of ours relayed by it) needs no round trip, even after we left.
    pub fn introduction(&self) -> Vec<u8> {
        encode_have(std::slice::from_ref(&self.own))
    }

    /// A book that always knows this agent's own key.
    pub fn new(own_id: AgentId, own_key: &[u8]) -> Self {
        Self::with_capacity(own_id, own_key, MAX_KEYS)
    }

    fn with_capacity(own_id: AgentId, own_key: &[u8], cap: usize) -> Self {
        let cap = NonZeroUsize::new(cap.max(1)).unwrap_or(NonZeroUsize::MIN);
        Self {
            own_id,
            own: PublicKey::new(own_key),
            inner: StdMutex::new(Inner {
                keys: LruCache::new(cap),
                pending: HashMap::new(),
                per_peer: HashMap::new(),
                budgets: HashMap::new(),
            }),
            stats: KeyStats::default(),
        }
    }

    /// The key of `id`, if known.
    pub fn get(&self, id: &AgentId) -> Option<PublicKey> {
        if *id == self.own_id {
            return Some(self.own.clone());
        }
        self.inner.lock().ok()?.keys.get(id).cloned()
    }

    /// Keys held, this agent's own included.
    pub fn len(&self) -> usize {
        1 + self.inner.lock().map(|i| i.keys.len()).unwrap_or(0)
    }

    /// Asks in flight.
    pub fn pending(&self) -> usize {
        self.inner.lock().map(|i| i.pending.len()).unwrap_or(0)
    }

    /// What to do about `id`'s key, for a frame that `from` sent.
    pub fn want(&self, id: AgentId, from: PeerId, now: Instant) -> Want {
        if self.get(&id).is_some() {
            return Want::Known;
        }
        let Ok(mut inner) = self.inner.lock() else { return Want::Refused };
        if let Some(p) = inner.pending.get(&id) {
            if now.saturating_duration_since(p.at) < FETCH_TIMEOUT {
                return Want::Wait(p.done.subscribe());
            }
            // The ask went unanswered: forget it, then ask `from` instead.
            let asked = p.asked;
            inner.pending.remove(&id);
            release(&mut inner.per_peer, asked);
        }
        let asked_of_from = inner.per_peer.get(&from).copied().unwrap_or(0);
        if asked_of_from >= MAX_PENDING_PER_PEER || inner.pending.len() >= MAX_PENDING {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            return Want::Refused;
        }
        let (done, rx) = watch::channel(false);
        inner.pending.insert(id, Pending { asked: from, at: now, done });
        inner.per_peer.insert(from, asked_of_from + 1);
        self.stats.asked.fetch_add(1, Ordering::Relaxed);
        Want::Ask(rx)
    }

    /// An ask of `from` for `id` went unanswered in time.
    pub fn timed_out(&self, id: &AgentId, from: PeerId) {
        let Ok(mut inner) = self.inner.lock() else { return };
        if inner.pending.get(id).is_some_and(|p| p.asked == from) {
            inner.pending.remove(id);
            release(&mut inner.per_peer, from);
            self.stats.timed_out.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Keys `from` sent: each one we asked that peer for is kept and its
    /// waiters woken; the rest are counted and ignored.
    pub fn on_have(&self, from: PeerId, keys: &[&[u8]]) {
        let Ok(mut inner) = self.inner.lock() else { return };
        for key in keys {
            let key = PublicKey::new(key);
            let id = *key.id();
            // A peer's own key, introduced on connect: its id is the peer's,
            // so at most one such key per connected peer.
            let own = id == *from.as_bytes();
            if !own && !inner.pending.get(&id).is_some_and(|p| p.asked == from) {
                self.stats.unsolicited.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            match inner.pending.remove(&id) {
                Some(p) => {
                    release(&mut inner.per_peer, p.asked);
                    inner.keys.put(id, key);
                    self.stats.fetched.fetch_add(1, Ordering::Relaxed);
                    let _ = p.done.send(true);
                }
                None => {
                    inner.keys.put(id, key);
                    self.stats.introduced.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// The keys to answer `from`'s WANT with: those known here, within the
    /// peer's budget.
    pub fn serve(&self, from: PeerId, ids: &[AgentId], now: Instant) -> Vec<PublicKey> {
        let Ok(mut inner) = self.inner.lock() else { return Vec::new() };
        if inner.budgets.len() >= MAX_BUDGETS && !inner.budgets.contains_key(&from) {
            // Forget the peers whose budget has refilled: they cost nothing to re-create.
            inner.budgets.retain(|_, b| refill(b, now) < SERVE_BURST);
            if inner.budgets.len() >= MAX_BUDGETS {
                self.stats.not_served.fetch_add(ids.len() as u64, Ordering::Relaxed);
                return Vec::new();
            }
        }
        let mut out = Vec::new();
        for id in ids {
            let budget = inner.budgets.entry(from).or_insert(Budget { tokens: SERVE_BURST, at: now });
            if refill(budget, now) < 1.0 {
                self.stats.not_served.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let key = if *id == self.own_id { Some(self.own.clone()) } else { inner.keys.peek(id).cloned() };
            match key {
                Some(key) => {
                    if let Some(b) = inner.budgets.get_mut(&from) {
                        b.tokens -= 1.0;
                    }
                    out.push(key);
                }
                None => {
                    self.stats.not_served.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        self.stats.served.fetch_add(out.len() as u64, Ordering::Relaxed);
        out
    }
}

/// Tops `b` up for the time since it was last used; the tokens now.
fn refill(b: &mut Budget, now: Instant) -> f64 {
    let secs = now.saturating_duration_since(b.at).as_secs_f64();
    b.tokens = (b.tokens + secs * SERVE_PER_SEC).min(SERVE_BURST);
    b.at = now;
    b.tokens
}

fn release(per_peer: &mut HashMap<PeerId, usize>, peer: PeerId) {
    if let Some(n) = per_peer.get_mut(&peer) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            per_peer.remove(&peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::AgentKeypair;

    fn kp() -> AgentKeypair {
        AgentKeypair::generate().unwrap()
    }

    fn peer(n: u8) -> PeerId {
        PeerId::new([n; 32])
    }

    #[test]
    fn frames_round_trip_and_bad_counts_or_lengths_are_refused() {
        let (a, b) = (kp(), kp());
        let want = encode_want(&[a.agent_id(), b.agent_id()]);
        assert_eq!(decode(&want), Some(Frame::Want(vec![a.agent_id(), b.agent_id()])));
        let keys = vec![PublicKey::new(a.public_key())];
        let have = encode_have(&keys);
        assert_eq!(decode(&have), Some(Frame::Have(vec![a.public_key()])));
        assert_eq!(decode(&[WANT_TAG, 0]), None, "an empty want");
        assert_eq!(decode(&[WANT_TAG, 17]), None, "more than 16");
        assert_eq!(decode(&want[..want.len() - 1]), None, "a short body");
        assert_eq!(decode(&have[..have.len() - 1]), None);
        assert_eq!(decode(&[0x42, 1]), None);
        assert_eq!(encode_want(&[[7u8; 32]; 40]).len(), 2 + 16 * 32, "capped at 16 ids");
    }

    #[test]
    fn a_key_is_asked_once_and_kept_only_from_the_peer_asked() {
        let me = kp();
        let book = KeyBook::new(me.agent_id(), me.public_key());
        let publisher = kp();
        let id = publisher.agent_id();
        let now = Instant::now();
        let Want::Ask(mut rx) = book.want(id, peer(1), now) else { panic!("first want asks") };
        assert!(matches!(book.want(id, peer(2), now), Want::Wait(_)), "the second waits for the same answer");
        // Peer 2 was not asked: its copy of the key is not taken.
        book.on_have(peer(2), &[publisher.public_key()]);
        assert!(book.get(&id).is_none());
        assert_eq!(book.stats.unsolicited.load(Ordering::Relaxed), 1);
        book.on_have(peer(1), &[publisher.public_key()]);
        assert_eq!(book.get(&id).as_ref().map(PublicKey::as_bytes), Some(publisher.public_key()));
        assert!(*rx.borrow_and_update(), "waiters are woken");
        assert!(matches!(book.want(id, peer(1), now), Want::Known));
        assert_eq!(book.pending(), 0);
    }

    #[test]
    fn a_peer_may_introduce_its_own_key_and_no_other() {
        let me = kp();
        let book = KeyBook::new(me.agent_id(), me.public_key());
        let (a, b) = (kp(), kp());
        let from_a = PeerId::new(a.agent_id());
        book.on_have(from_a, &[b.public_key()]);
        assert!(book.get(&b.agent_id()).is_none(), "someone else's key, unasked");
        book.on_have(from_a, &[a.public_key()]);
        assert_eq!(book.get(&a.agent_id()).as_ref().map(PublicKey::as_bytes), Some(a.public_key()));
        assert_eq!(book.stats.introduced.load(Ordering::Relaxed), 1);
        assert_eq!(book.stats.unsolicited.load(Ordering::Relaxed), 1);
        // An ask of another peer for the same key is answered by the introduction.
        let now = Instant::now();
        let Want::Ask(mut rx) = book.want(b.agent_id(), peer(9), now) else { panic!("asks") };
        book.on_have(PeerId::new(b.agent_id()), &[b.public_key()]);
        assert!(*rx.borrow_and_update());
        assert_eq!(book.pending(), 0);
    }

    #[test]
    fn a_peer_may_have_only_so_many_asks_in_flight_and_an_unanswered_one_expires() {
        let me = kp();
        let book = KeyBook::new(me.agent_id(), me.public_key());
        let now = Instant::now();
        for n in 0..MAX_PENDING_PER_PEER {
            assert!(matches!(book.want([n as u8; 32], peer(1), now), Want::Ask(_)));
        }
        assert!(matches!(book.want([200; 32], peer(1), now), Want::Refused), "peer 1's asks are full");
        assert!(matches!(book.want([200; 32], peer(2), now), Want::Ask(_)), "another peer's are not");
        book.timed_out(&[0; 32], peer(1));
        assert!(matches!(book.want([201; 32], peer(1), now), Want::Ask(_)), "a timed-out ask gives its place back");
        // An ask older than the timeout is replaced by one to the new sender.
        let later = now + FETCH_TIMEOUT;
        assert!(matches!(book.want([1; 32], peer(3), later), Want::Ask(_)));
        assert_eq!(book.stats.refused.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn serves_known_keys_within_a_budget_and_never_forgets_its_own() {
        let me = kp();
        let book = KeyBook::with_capacity(me.agent_id(), me.public_key(), 2);
        let others: Vec<AgentKeypair> = (0..3).map(|_| kp()).collect();
        for k in &others {
            assert!(matches!(book.want(k.agent_id(), peer(1), Instant::now()), Want::Ask(_)));
            book.on_have(peer(1), &[k.public_key()]);
        }
        assert_eq!(book.len(), 3, "own key plus the 2 most recent");
        assert!(book.get(&others[0].agent_id()).is_none(), "the least recently used went");
        assert!(book.get(&me.agent_id()).is_some());
        let now = Instant::now();
        let served = book.serve(peer(1), &[me.agent_id(), others[2].agent_id(), [9; 32]], now);
        assert_eq!(served.len(), 2, "the unknown id goes unanswered");
        let ids = vec![me.agent_id(); 300];
        let burst = book.serve(peer(1), &ids, now);
        assert_eq!(burst.len(), SERVE_BURST as usize - 2, "a burst is capped");
        assert!(book.serve(peer(1), &[me.agent_id()], now).is_empty());
        assert_eq!(book.serve(peer(1), &[me.agent_id()], now + Duration::from_secs(1)).len(), 1, "it refills");
        assert_eq!(book.serve(peer(2), &[me.agent_id()], now).len(), 1, "another peer has its own budget");
    }
}
