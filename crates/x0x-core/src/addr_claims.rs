//! Where peers can be dialled, who may say so, and how much of it is kept
//! (issue 14, finding 11).
//!
//! An address is *proven* when it comes from the peer itself: a QUIC
//! connection (the handshake proves the id, and the connection shows the
//! address it came from) or a record the peer signed
//! ([`crate::addr_record`]). A newer proof replaces an older one. Any other
//! peer's word (an [`crate::addr_book`] frame) is only a *hint*: kept for
//! [`HINT_TTL`], at most [`MAX_HINTS_PER_PEER`] per peer from distinct
//! claimants, tried only when no proven address works, and forgotten once a
//! dial to it fails. The table used to keep the first address anyone
//! claimed, forever: one lie, sent before the truth, made a peer
//! undiallable. Now a liar can neither displace a proof nor, by speaking
//! first, keep an honest hint out.
//!
//! Anyone can claim addresses for any number of made-up ids, so the table
//! holds at most [`MAX_PEERS`] peers, and one claimant holds at most
//! [`MAX_HINTS_PER_CLAIMANT`] hints in it: a flood of claims from one peer
//! fills only its own share, and cannot shed the hints others gave. A full table first sheds what has
//! expired, then the oldest entries that hold only hints, then proven entries
//! of peers no longer connected; never a connected peer's.
//!
//! Sans-IO: callers pass the time in, and the transport
//! ([`crate::transport`]) does the dialling.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use saorsa_gossip_types::PeerId;

/// Most peers the table holds.
pub const MAX_PEERS: usize = 4096;
/// Most hints kept per peer, each from a different claimant.
pub const MAX_HINTS_PER_PEER: usize = 4;
/// Most hints one claimant holds in the default table, over all peers: a
/// quarter of it (of any table: a quarter of its size). An honest peer
/// announces its own connections, far fewer.
pub const MAX_HINTS_PER_CLAIMANT: usize = MAX_PEERS / 4;
/// A claimant at its quota has its expired hints swept out at most this
/// often: a sweep reads the whole table.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// How long a hint is kept unless renewed.
pub const HINT_TTL: Duration = Duration::from_secs(10 * 60);
/// Most proven addresses kept per peer (a signed record's limit).
pub const MAX_PROVEN_ADDRS: usize = crate::addr_record::MAX_ADDRS;
/// A full table sheds down to this fraction of [`MAX_PEERS`] (in eighths)
/// at once, so a flood of claims costs one scan per many claims rather than
/// one per claim.
const SHED_TO_EIGHTHS: usize = 7;

/// Addresses the peer itself vouched for.
#[derive(Debug, Clone)]
struct Proven {
    addrs: Vec<SocketAddr>,
    /// When the proof was made, ms since the Unix epoch (a record's
    /// issue time, or when the connection was seen): the newer proof wins,
    /// so a replayed old record cannot undo a later connection.
    issued_ms: u64,
    /// A record's expiry; a connection's proof does not expire, though it
    /// may be shed once the peer is gone.
    expires: Option<Instant>,
}

#[derive(Debug, Clone)]
struct Hint {
    addr: SocketAddr,
    claimant: PeerId,
    expires: Instant,
}

#[derive(Debug, Clone)]
struct Entry {
    proven: Option<Proven>,
    hints: Vec<Hint>,
    connected: bool,
    /// Last time anything was learned about the peer: shedding order.
    touched: Instant,
}

impl Entry {
    fn new(now: Instant) -> Self {
        Self { proven: None, hints: Vec::new(), connected: false, touched: now }
    }

    fn proven_addrs(&self, now: Instant) -> &[SocketAddr] {
        match &self.proven {
            Some(p) if p.expires.is_none_or(|e| e > now) => &p.addrs,
            _ => &[],
        }
    }

    fn live_hints(&self, now: Instant) -> impl Iterator<Item = &Hint> {
        self.hints.iter().filter(move |h| h.expires > now)
    }

    /// Drops what has expired; true when nothing is left worth keeping.
    fn expire(&mut self, now: Instant, held: &mut Held) -> bool {
        retain_hints(&mut self.hints, held, |h| h.expires > now);
        if self.proven.as_ref().is_some_and(|p| p.expires.is_some_and(|e| e <= now)) {
            self.proven = None;
        }
        !self.connected && self.proven.is_none() && self.hints.is_empty()
    }

    /// Shedding rank: hint-only entries go first, then disconnected peers'
    /// proven ones; connected peers never (`None`).
    fn shed_rank(&self) -> Option<(u8, Instant)> {
        match (self.connected, self.proven.is_some()) {
            (true, _) => None,
            (false, false) => Some((0, self.touched)),
            (false, true) => Some((1, self.touched)),
        }
    }
}

/// Counters of [`AddrClaims`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddrClaimStats {
    /// Peers in the table now.
    pub peers: u64,
    /// Hints refused or shed for want of room (per peer or in the table).
    pub hints_dropped: u64,
    /// Hints forgotten because a dial to them failed.
    pub hints_failed: u64,
    /// Proven entries of disconnected peers shed for want of room.
    pub proven_dropped: u64,
}

/// Hints each claimant holds in the table.
type Held = HashMap<PeerId, usize>;

fn release(held: &mut Held, claimant: PeerId) {
    if let Some(n) = held.get_mut(&claimant) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            held.remove(&claimant);
        }
    }
}

/// Keeps the hints `keep` accepts; the claimants of the others get their
/// places back. How many went.
fn retain_hints(hints: &mut Vec<Hint>, held: &mut Held, keep: impl Fn(&Hint) -> bool) -> usize {
    let before = hints.len();
    hints.retain(|h| {
        let kept = keep(h);
        if !kept {
            release(held, h.claimant);
        }
        kept
    });
    before - hints.len()
}

/// The address table (see the module doc).
#[derive(Debug)]
pub struct AddrClaims {
    peers: HashMap<PeerId, Entry>,
    held: Held,
    max_peers: usize,
    per_claimant: usize,
    last_sweep: Option<Instant>,
    stats: AddrClaimStats,
}

impl Default for AddrClaims {
    fn default() -> Self {
        Self::new(MAX_PEERS)
    }
}

impl AddrClaims {
    /// An empty table of at most `max_peers` peers.
    pub fn new(max_peers: usize) -> Self {
        let max_peers = max_peers.max(1);
        Self {
            peers: HashMap::new(),
            held: Held::new(),
            max_peers,
            per_claimant: (max_peers / 4).max(1),
            last_sweep: None,
            stats: AddrClaimStats::default(),
        }
    }

    /// A QUIC connection with `peer` is up, from `addr` when known: proof
    /// of that address, and the peer is not shed while connected.
    pub fn connected(&mut self, peer: PeerId, addr: Option<SocketAddr>, wall_ms: u64, now: Instant) {
        let Some(entry) = self.entry(peer, now) else { return };
        entry.connected = true;
        entry.touched = now;
        if let Some(addr) = addr {
            if entry.proven.as_ref().is_none_or(|p| p.issued_ms <= wall_ms) {
                entry.proven = Some(Proven { addrs: vec![addr], issued_ms: wall_ms, expires: None });
            }
        }
    }

    /// The last connection with `peer` closed; its proven address stays for
    /// redialling, but may now be shed.
    pub fn disconnected(&mut self, peer: &PeerId) {
        if let Some(entry) = self.peers.get_mut(peer) {
            entry.connected = false;
        }
    }

    /// Only the peers `still` accepts are connected: a resync after
    /// connection events were missed, so a lost "disconnected" cannot keep
    /// an entry unsheddable for ever.
    pub fn keep_connected(&mut self, still: impl Fn(&PeerId) -> bool) {
        for (peer, entry) in self.peers.iter_mut() {
            entry.connected = entry.connected && still(peer);
        }
    }

    /// A verified record signed by `peer` lists `addrs` (issued and expiring
    /// at the given wall-clock ms). Replaces an older proof; ignored if an
    /// equal or newer one is held. True when taken.
    pub fn signed(&mut self, peer: PeerId, addrs: &[SocketAddr], issued_ms: u64, expires_ms: u64, wall_ms: u64, now: Instant) -> bool {
        if addrs.is_empty() || expires_ms <= wall_ms {
            return false;
        }
        let expires = now + Duration::from_millis(expires_ms - wall_ms);
        let Some(entry) = self.entry(peer, now) else { return false };
        if entry.proven.as_ref().is_some_and(|p| p.issued_ms >= issued_ms) {
            return false;
        }
        let addrs = addrs.iter().take(MAX_PROVEN_ADDRS).copied().collect();
        entry.proven = Some(Proven { addrs, issued_ms, expires: Some(expires) });
        entry.touched = now;
        true
    }

    /// `claimant` says `peer` is at `addr`. Each claimant holds at most one
    /// hint per peer (a new claim replaces its last); a fifth claimant
    /// replaces the hint nearest expiry, so no one keeps others out by being
    /// first. True when kept.
    ///
    /// A claimant already holding [`MAX_HINTS_PER_CLAIMANT`] hints may only
    /// renew its own; a claim for another peer is refused.
    pub fn hint(&mut self, peer: PeerId, addr: SocketAddr, claimant: PeerId, now: Instant) -> bool {
        let expires = now + HINT_TTL;
        let renews = self.peers.get(&peer).is_some_and(|e| e.hints.iter().any(|h| h.claimant == claimant));
        if !renews && self.held_by(&claimant) >= self.per_claimant && self.last_sweep.is_none_or(|t| now >= t + SWEEP_EVERY) {
            // Expired hints still count until swept; a claimant at its
            // quota may have some.
            self.last_sweep = Some(now);
            self.sweep(now);
        }
        if (!renews && self.held_by(&claimant) >= self.per_claimant) || !self.make_room(&peer, now) {
            self.stats.hints_dropped += 1;
            return false;
        }
        let entry = self.peers.entry(peer).or_insert_with(|| Entry::new(now));
        entry.touched = now;
        if let Some(h) = entry.hints.iter_mut().find(|h| h.claimant == claimant) {
            h.addr = addr;
            h.expires = expires;
            return true;
        }
        retain_hints(&mut entry.hints, &mut self.held, |h| h.expires > now);
        let hint = Hint { addr, claimant, expires };
        *self.held.entry(claimant).or_insert(0) += 1;
        if entry.hints.len() < MAX_HINTS_PER_PEER {
            entry.hints.push(hint);
            return true;
        }
        if let Some(oldest) = entry.hints.iter_mut().min_by_key(|h| h.expires) {
            release(&mut self.held, oldest.claimant);
            *oldest = hint;
        }
        self.stats.hints_dropped += 1;
        true
    }

    /// A dial to `peer` at `addr` failed (or reached someone else): no hint
    /// of that address is tried again. A proven address stays, since the
    /// peer itself chose it and may come back there.
    pub fn dial_failed(&mut self, peer: &PeerId, addr: SocketAddr) {
        let Some(entry) = self.peers.get_mut(peer) else { return };
        self.stats.hints_failed += retain_hints(&mut entry.hints, &mut self.held, |h| h.addr != addr) as u64;
        if !entry.connected && entry.proven.is_none() && entry.hints.is_empty() {
            self.remove(peer);
        }
    }

    /// Where to dial `peer`: its proven addresses, then the hints, newest
    /// first; each address once.
    pub fn candidates(&self, peer: &PeerId, now: Instant) -> (Vec<SocketAddr>, Vec<SocketAddr>) {
        let Some(entry) = self.peers.get(peer) else { return (Vec::new(), Vec::new()) };
        let proven = entry.proven_addrs(now).to_vec();
        let mut hints: Vec<&Hint> = entry.live_hints(now).collect();
        hints.sort_by_key(|h| std::cmp::Reverse(h.expires));
        let mut out: Vec<SocketAddr> = Vec::with_capacity(hints.len());
        for h in hints {
            if !proven.contains(&h.addr) && !out.contains(&h.addr) {
                out.push(h.addr);
            }
        }
        (proven, out)
    }

    /// The best address known for `peer`: the first proven one, else the
    /// newest hint.
    pub fn best(&self, peer: &PeerId, now: Instant) -> Option<SocketAddr> {
        let (proven, hints) = self.candidates(peer, now);
        proven.into_iter().chain(hints).next()
    }

    /// Forgets `peer` (a blocked peer, say), connected or not.
    pub fn forget(&mut self, peer: &PeerId) {
        self.remove(peer);
    }

    /// Takes `peer`'s entry out, giving its claimants their places back.
    fn remove(&mut self, peer: &PeerId) -> Option<Entry> {
        let entry = self.peers.remove(peer)?;
        for h in &entry.hints {
            release(&mut self.held, h.claimant);
        }
        Some(entry)
    }

    /// Hints `claimant` holds now.
    pub fn held_by(&self, claimant: &PeerId) -> usize {
        self.held.get(claimant).copied().unwrap_or(0)
    }

    /// Peers held.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// True when no peer is held.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Counters, with the current size.
    pub fn stats(&self) -> AddrClaimStats {
        AddrClaimStats { peers: self.peers.len() as u64, ..self.stats }
    }

    /// `peer`'s entry, made room for if new; `None` when the table is full
    /// of connected peers.
    fn entry(&mut self, peer: PeerId, now: Instant) -> Option<&mut Entry> {
        if !self.make_room(&peer, now) {
            return None;
        }
        Some(self.peers.entry(peer).or_insert_with(|| Entry::new(now)))
    }

    /// Whether `peer` has, or can be given, an entry; sheds to make room.
    fn make_room(&mut self, peer: &PeerId, now: Instant) -> bool {
        if !self.peers.contains_key(peer) && self.peers.len() >= self.max_peers {
            self.shed(now);
        }
        self.peers.contains_key(peer) || self.peers.len() < self.max_peers
    }

    /// Drops expired hints and proofs, and the entries left with nothing.
    fn sweep(&mut self, now: Instant) {
        let held = &mut self.held;
        self.peers.retain(|_, e| !e.expire(now, held));
    }

    /// Sheds the expired, then by [`Entry::shed_rank`], down to
    /// [`SHED_TO_EIGHTHS`] of the cap.
    fn shed(&mut self, now: Instant) {
        self.sweep(now);
        let target = self.max_peers * SHED_TO_EIGHTHS / 8;
        let excess = self.peers.len().saturating_sub(target.min(self.max_peers - 1));
        if excess == 0 {
            return;
        }
        let mut ranked: Vec<((u8, Instant), PeerId)> =
            self.peers.iter().filter_map(|(p, e)| e.shed_rank().map(|r| (r, *p))).collect();
        let n = excess.min(ranked.len());
        if n == 0 {
            return;
        }
        if n < ranked.len() {
            ranked.select_nth_unstable_by_key(n - 1, |(rank, _)| *rank);
        }
        for (_, peer) in &ranked[..n] {
            if let Some(e) = self.remove(peer) {
                self.stats.hints_dropped += e.hints.len() as u64;
                if e.proven.is_some() {
                    self.stats.proven_dropped += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> PeerId {
        PeerId::new([n; 32])
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_hint_expires() {
        let t0 = Instant::now();
        let mut c = AddrClaims::default();
        assert!(c.hint(id(1), addr(1000), id(2), t0));
        assert_eq!(c.best(&id(1), t0 + HINT_TTL - Duration::from_secs(1)), Some(addr(1000)));
        assert_eq!(c.best(&id(1), t0 + HINT_TTL), None);
    }

    #[test]
    fn a_later_honest_hint_is_not_kept_out_by_an_earlier_lie() {
        let t0 = Instant::now();
        let mut c = AddrClaims::default();
        c.hint(id(1), addr(9), id(66), t0);
        c.hint(id(1), addr(1000), id(2), t0 + Duration::from_secs(1));
        let (proven, hints) = c.candidates(&id(1), t0 + Duration::from_secs(2));
        assert!(proven.is_empty());
        assert_eq!(hints, vec![addr(1000), addr(9)], "newest first, both kept");
    }

    #[test]
    fn proof_beats_hints_and_a_hint_never_displaces_it() {
        let t0 = Instant::now();
        let mut c = AddrClaims::default();
        c.connected(id(1), Some(addr(1000)), 5_000, t0);
        c.hint(id(1), addr(9), id(66), t0 + Duration::from_secs(1));
        assert_eq!(c.best(&id(1), t0 + Duration::from_secs(2)), Some(addr(1000)));
        assert_eq!(c.candidates(&id(1), t0).0, vec![addr(1000)]);
    }

    #[test]
    fn a_newer_proof_replaces_an_older_one_but_a_replayed_record_does_not() {
        let t0 = Instant::now();
        let mut c = AddrClaims::default();
        assert!(c.signed(id(1), &[addr(1000)], 1_000, 61_000, 2_000, t0));
        c.connected(id(1), Some(addr(2000)), 3_000, t0);
        assert_eq!(c.best(&id(1), t0), Some(addr(2000)), "the connection is newer");
        assert!(!c.signed(id(1), &[addr(1000)], 1_000, 61_000, 4_000, t0), "the old record again");
        assert_eq!(c.best(&id(1), t0), Some(addr(2000)));
        assert!(c.signed(id(1), &[addr(3000), addr(3001)], 5_000, 65_000, 5_000, t0));
        assert_eq!(c.candidates(&id(1), t0).0, vec![addr(3000), addr(3001)]);
        // The record's proof lapses with the record.
        assert_eq!(c.best(&id(1), t0 + Duration::from_secs(61)), None);
    }

    #[test]
    fn a_failed_dial_drops_the_hint_but_not_the_proof() {
        let t0 = Instant::now();
        let mut c = AddrClaims::default();
        c.hint(id(1), addr(9), id(66), t0);
        c.hint(id(1), addr(9), id(67), t0);
        c.hint(id(1), addr(1000), id(2), t0);
        c.dial_failed(&id(1), addr(9));
        assert_eq!(c.candidates(&id(1), t0).1, vec![addr(1000)]);
        assert_eq!(c.stats().hints_failed, 2);
        c.dial_failed(&id(1), addr(1000));
        assert_eq!(c.len(), 0, "an entry with nothing left goes");
        c.connected(id(3), Some(addr(3000)), 1, t0);
        c.disconnected(&id(3));
        c.dial_failed(&id(3), addr(3000));
        assert_eq!(c.best(&id(3), t0), Some(addr(3000)));
    }

    #[test]
    fn claimants_each_hold_one_hint_and_a_fifth_replaces_the_oldest() {
        let t0 = Instant::now();
        let mut c = AddrClaims::default();
        for n in 0..MAX_HINTS_PER_PEER as u16 {
            c.hint(id(1), addr(100 + n), id(10 + n as u8), t0 + Duration::from_secs(n.into()));
        }
        // A claimant's new claim replaces its own.
        c.hint(id(1), addr(199), id(10), t0 + Duration::from_secs(10));
        assert_eq!(c.candidates(&id(1), t0 + Duration::from_secs(11)).1.len(), MAX_HINTS_PER_PEER);
        assert!(c.candidates(&id(1), t0).1.contains(&addr(199)));
        assert!(!c.candidates(&id(1), t0).1.contains(&addr(100)));
        c.hint(id(1), addr(500), id(50), t0 + Duration::from_secs(20));
        let hints = c.candidates(&id(1), t0 + Duration::from_secs(21)).1;
        assert_eq!(hints.len(), MAX_HINTS_PER_PEER);
        assert!(hints.contains(&addr(500)) && !hints.contains(&addr(101)), "{hints:?}");
        assert_eq!(c.stats().hints_dropped, 1);
    }

    #[test]
    fn one_claimant_holds_a_bounded_share_and_gets_it_back_as_hints_go() {
        let t0 = Instant::now();
        let mut c = AddrClaims::default();
        let made_up = |n: u32| {
            let mut raw = [0u8; 32];
            raw[..4].copy_from_slice(&n.to_le_bytes());
            raw[31] = 0xee;
            PeerId::new(raw)
        };
        c.hint(id(1), addr(1000), id(2), t0);
        for n in 0..(MAX_PEERS as u32 * 2) {
            c.hint(made_up(n), addr(9), id(66), t0);
        }
        assert_eq!(c.held_by(&id(66)), MAX_HINTS_PER_CLAIMANT);
        assert_eq!(c.best(&id(1), t0), Some(addr(1000)), "another claimant's hint is not shed");
        assert!(c.hint(made_up(0), addr(10), id(66), t0), "renewing its own hint is allowed");
        assert!(!c.hint(id(3), addr(9), id(66), t0), "a new one is not");
        // Places come back as the claimant's hints fail or expire.
        c.dial_failed(&made_up(1), addr(9));
        assert_eq!(c.held_by(&id(66)), MAX_HINTS_PER_CLAIMANT - 1);
        assert!(c.hint(id(3), addr(9), id(66), t0));
        c.forget(&id(3));
        assert_eq!(c.held_by(&id(66)), MAX_HINTS_PER_CLAIMANT - 1);
        c.hint(id(3), addr(9), id(66), t0);
        // Once its hints have expired, the claimant may claim again.
        let later = t0 + HINT_TTL + Duration::from_secs(1);
        assert!(c.hint(id(5), addr(9), id(66), later));
        assert_eq!(c.held_by(&id(66)), 1);
        assert_eq!(c.held_by(&id(2)), 0, "the other claimant's expired hint went too");
    }

    #[test]
    fn the_table_is_capped_and_sheds_hints_before_proofs_and_never_connected_peers() {
        let t0 = Instant::now();
        let mut c = AddrClaims::new(64);
        c.connected(id(1), Some(addr(1)), 1, t0);
        c.connected(id(2), Some(addr(2)), 1, t0);
        c.disconnected(&id(2));
        for n in 0..10_000u32 {
            let mut raw = [0u8; 32];
            raw[..4].copy_from_slice(&n.to_le_bytes());
            raw[31] = 0xff;
            c.hint(PeerId::new(raw), addr(9), id(66), t0 + Duration::from_millis(n.into()));
            assert!(c.len() <= 64);
        }
        assert_eq!(c.best(&id(1), t0), Some(addr(1)), "the connected peer stays");
        assert_eq!(c.best(&id(2), t0), Some(addr(2)), "hint-only entries go before a proof");
        let s = c.stats();
        assert!(s.hints_dropped >= 10_000 - 64, "{s:?}");
        assert_eq!(s.proven_dropped, 0);
        // A table full of connected peers refuses new hints.
        let mut full = AddrClaims::new(2);
        full.connected(id(1), None, 1, t0);
        full.connected(id(2), None, 1, t0);
        assert!(!full.hint(id(3), addr(9), id(66), t0));
        assert_eq!(full.len(), 2);
        // Once a resync finds a peer gone, its entry may go.
        full.keep_connected(|p| *p == id(1));
        assert!(full.hint(id(3), addr(9), id(66), t0));
        assert_eq!(full.best(&id(1), t0), None, "no address, but still connected");
        // Another claimant: in a table of 2, 66 holds its quota of one.
        assert!(full.hint(id(1), addr(1), id(67), t0));
    }
}
