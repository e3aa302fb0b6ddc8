//! The rendezvous wire protocol and the holder's store: a few agents keep
//! other agents' signed address records so that anyone can look an agent
//! up without knowing where it is. Which agents hold which records is
//! decided by [`super::ranking`]; this module carries the frames:
//!
//! | tag  | frame        | body                                   |
//! |------|--------------|----------------------------------------|
//! | 0xD0 | store        | request id (u64 LE), address record    |
//! | 0xD1 | store ack    | request id, outcome (u8)               |
//! | 0xD2 | lookup       | request id, target agent id (32 bytes) |
//! | 0xD3 | lookup reply | request id, address record or nothing  |
//!
//! A record is the target's own [`crate::addr_record`], so a holder cannot
//! forge or alter it and nobody but the agent can register or unregister it.
//! Unregistering is a newer record with no addresses (a tombstone); a holder
//! keeps the newest record per agent by issue time, so replaying an older
//! registration after an unregister is refused as stale.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use saorsa_gossip_types::PeerId;
use tokio::sync::oneshot;

use crate::addr_record::{self, AddrRecord, RecordError, MAX_RECORD_BYTES};
use crate::records::{MAX_CLOCK_SKEW_MS, MAX_RECORD_LIFETIME_MS};
use crate::identity::AgentId;

/// Store request.
pub const STORE_TAG: u8 = 0xD0;
/// Store acknowledgement.
pub const STORE_ACK_TAG: u8 = 0xD1;
/// Lookup request.
pub const LOOKUP_TAG: u8 = 0xD2;
/// Lookup reply.
pub const LOOKUP_REPLY_TAG: u8 = 0xD3;
/// Most records one holder keeps (a record is at most ~5.6 KB, so ~46 MB).
pub const MAX_HELD: usize = 8_192;
/// Most records of other agents one peer may have a holder keep at once. An
/// agent storing its own record is not counted: that is one per agent
/// anyway. Without it, one peer with a few thousand throwaway keys filled
/// the whole store; now it takes this many places per QUIC identity.
pub const MAX_HELD_PER_PEER: usize = 16;
/// Most requests of our own awaiting an answer at once.
const MAX_PENDING: usize = 4_096;

const REQ_LEN: usize = 8;

/// Whether a Bulk frame's first byte belongs to this protocol.
pub fn owns(tag: u8) -> bool {
    (STORE_TAG..=LOOKUP_REPLY_TAG).contains(&tag)
}

/// What a holder did with a stored record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Kept (or, for a tombstone, the agent is now unregistered).
    Stored,
    /// Malformed, badly signed or expired.
    Invalid,
    /// Not newer than the record already held for that agent.
    Stale,
    /// The holder keeps [`MAX_HELD`] records and takes no new agent, or
    /// the peer asking already has [`MAX_HELD_PER_PEER`] other agents'
    /// records kept there.
    Full,
}

impl StoreOutcome {
    fn to_byte(self) -> u8 {
        match self {
            Self::Stored => 0,
            Self::Invalid => 1,
            Self::Stale => 2,
            Self::Full => 3,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0 => Self::Stored,
            1 => Self::Invalid,
            2 => Self::Stale,
            3 => Self::Full,
            _ => return None,
        })
    }

    /// Stable lowercase name, as the JS side reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stored => "stored",
            Self::Invalid => "invalid",
            Self::Stale => "stale",
            Self::Full => "full",
        }
    }
}

/// An answer to one of our requests.
#[derive(Debug)]
pub enum Answer {
    /// To a store.
    Ack(StoreOutcome),
    /// To a lookup: the record bytes the holder had, if any (not yet verified).
    Record(Option<Vec<u8>>),
}

/// Rendezvous counters of one agent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RendezvousStats {
    /// Records (registrations and tombstones) this agent holds now.
    pub records_held: u64,
    /// Store requests this agent accepted as a holder.
    pub stores_accepted: u64,
    /// Store requests refused: malformed, bad signature or expired.
    pub invalid_rejected: u64,
    /// Store requests refused as not newer than what is held.
    pub stale_rejected: u64,
    /// Store requests refused because the store was full, or the asking
    /// peer had used its share ([`MAX_HELD_PER_PEER`]).
    pub full_rejected: u64,
    /// Lookups this agent answered as a holder.
    pub lookups_served: u64,
    /// Requests (stores and lookups) this agent sent.
    pub requests_sent: u64,
    /// Answers to this agent's requests that arrived in time.
    pub answers_received: u64,
    /// Frames that did not decode, and answers nobody was waiting for.
    pub malformed_dropped: u64,
}

#[derive(Default)]
struct Counters {
    stores_accepted: AtomicU64,
    invalid_rejected: AtomicU64,
    stale_rejected: AtomicU64,
    full_rejected: AtomicU64,
    lookups_served: AtomicU64,
    requests_sent: AtomicU64,
    answers_received: AtomicU64,
    malformed_dropped: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

struct Held {
    bytes: Vec<u8>,
    /// The peer that had a holder keep another agent's record; `None` when
    /// the agent stored its own (or this holder stored it for itself).
    relayed_by: Option<PeerId>,
    issued_at_ms: u64,
    /// A tombstone outlives the registration it replaced, so that the older
    /// record cannot be replayed into a holder that forgot the tombstone.
    keep_until_ms: u64,
}

/// One agent's rendezvous state: the records it holds for others and its own
/// requests in flight.
pub struct Rendezvous {
    held: Mutex<HashMap<AgentId, Held>>,
    pending: Mutex<HashMap<(PeerId, u64), oneshot::Sender<Answer>>>,
    next_req: AtomicU64,
    counters: Counters,
}

impl Default for Rendezvous {
    fn default() -> Self {
        Self::new()
    }
}

impl Rendezvous {
    /// Empty state.
    pub fn new() -> Self {
        Self {
            held: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            next_req: AtomicU64::new(rand::random()),
            counters: Counters::default(),
        }
    }

    /// Keeps `bytes`, a record this agent stores itself, if it is a valid
    /// record newer than what is held for its agent.
    pub fn hold(&self, bytes: &[u8], now_ms: u64) -> StoreOutcome {
        self.hold_from(None, bytes, now_ms)
    }

    /// [`Self::hold`] for a record `from` asked this holder to keep: a
    /// record that is not `from`'s own takes one of its
    /// [`MAX_HELD_PER_PEER`] places.
    pub fn hold_from(&self, from: Option<PeerId>, bytes: &[u8], now_ms: u64) -> StoreOutcome {
        let outcome = self.hold_inner(from, bytes, now_ms);
        match outcome {
            StoreOutcome::Stored => bump(&self.counters.stores_accepted),
            StoreOutcome::Invalid => bump(&self.counters.invalid_rejected),
            StoreOutcome::Stale => bump(&self.counters.stale_rejected),
            StoreOutcome::Full => bump(&self.counters.full_rejected),
        }
        outcome
    }

    fn hold_inner(&self, from: Option<PeerId>, bytes: &[u8], now_ms: u64) -> StoreOutcome {
        let record = match addr_record::open(bytes, now_ms) {
            Ok(r) => r,
            Err(_) => return StoreOutcome::Invalid,
        };
        // A record that asks to be kept past a day would keep its place,
        // and its agent's, for as long as it says (u64::MAX included).
        if record.expires_at_ms > now_ms.saturating_add(MAX_CLOCK_SKEW_MS).saturating_add(MAX_RECORD_LIFETIME_MS) {
            return StoreOutcome::Invalid;
        }
        let relayed_by = from.filter(|peer| peer.to_bytes() != record.agent_id);
        let Ok(mut held) = self.held.lock() else { return StoreOutcome::Full };
        if let Some(peer) = relayed_by {
            let replacing_own = held.get(&record.agent_id).is_some_and(|h| h.relayed_by == Some(peer));
            let share = held.values().filter(|h| h.relayed_by == Some(peer) && h.keep_until_ms > now_ms).count();
            if !replacing_own && share >= MAX_HELD_PER_PEER {
                return StoreOutcome::Full;
            }
        }
        let mut keep_until_ms = record.expires_at_ms;
        match held.get(&record.agent_id) {
            Some(old) if old.keep_until_ms > now_ms => {
                if record.issued_at_ms <= old.issued_at_ms {
                    return StoreOutcome::Stale;
                }
                if record.addrs.is_empty() {
                    keep_until_ms = keep_until_ms.max(old.keep_until_ms);
                }
            }
            Some(_) => {}
            None => {
                if held.len() >= MAX_HELD {
                    held.retain(|_, h| h.keep_until_ms > now_ms);
                    if held.len() >= MAX_HELD {
                        return StoreOutcome::Full;
                    }
                }
            }
        }
        held.insert(
            record.agent_id,
            Held { bytes: bytes.to_vec(), relayed_by, issued_at_ms: record.issued_at_ms, keep_until_ms },
        );
        StoreOutcome::Stored
    }

    /// The record held for `target` (a tombstone included), if unexpired.
    pub fn held(&self, target: &AgentId, now_ms: u64) -> Option<Vec<u8>> {
        let held = self.held.lock().ok()?;
        held.get(target).filter(|h| h.keep_until_ms > now_ms).map(|h| h.bytes.clone())
    }

    /// Starts a request to `holder`: the frame to send and where the answer
    /// will arrive. `None` when too many requests are in flight.
    pub fn request(&self, holder: PeerId, body: Request<'_>) -> Option<(u64, Vec<u8>, oneshot::Receiver<Answer>)> {
        let req = self.next_req.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.pending.lock().ok()?;
            pending.retain(|_, tx| !tx.is_closed());
            if pending.len() >= MAX_PENDING {
                return None;
            }
            pending.insert((holder, req), tx);
        }
        bump(&self.counters.requests_sent);
        let frame = match body {
            Request::Store(record) => frame(STORE_TAG, req, record),
            Request::Lookup(target) => frame(LOOKUP_TAG, req, target),
        };
        Some((req, frame, rx))
    }

    /// Forgets a request whose answer is no longer wanted.
    pub fn cancel(&self, holder: PeerId, req: u64) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(&(holder, req));
        }
    }

    /// Handles a frame from `from`; returns the reply to send back, if any.
    pub fn on_frame(&self, from: PeerId, data: &[u8], now_ms: u64) -> Option<Vec<u8>> {
        let Some((tag, req, body)) = split(data) else {
            bump(&self.counters.malformed_dropped);
            return None;
        };
        match tag {
            STORE_TAG => {
                let outcome = self.hold_from(Some(from), body, now_ms);
                Some(frame(STORE_ACK_TAG, req, &[outcome.to_byte()]))
            }
            LOOKUP_TAG => {
                let Ok(target) = <AgentId>::try_from(body) else {
                    bump(&self.counters.malformed_dropped);
                    return None;
                };
                bump(&self.counters.lookups_served);
                let record = self.held(&target, now_ms).unwrap_or_default();
                Some(frame(LOOKUP_REPLY_TAG, req, &record))
            }
            STORE_ACK_TAG => {
                match body {
                    [b] => match StoreOutcome::from_byte(*b) {
                        Some(o) => self.answer(from, req, Answer::Ack(o)),
                        None => bump(&self.counters.malformed_dropped),
                    },
                    _ => bump(&self.counters.malformed_dropped),
                }
                None
            }
            _ => {
                let record = (!body.is_empty()).then(|| body.to_vec());
                self.answer(from, req, Answer::Record(record));
                None
            }
        }
    }

    fn answer(&self, from: PeerId, req: u64, answer: Answer) {
        let tx = self.pending.lock().ok().and_then(|mut p| p.remove(&(from, req)));
        match tx {
            // Only the holder we asked can answer, under the id we gave it.
            Some(tx) => {
                if tx.send(answer).is_ok() {
                    bump(&self.counters.answers_received);
                }
            }
            None => bump(&self.counters.malformed_dropped),
        }
    }

    /// Counters, with the number of records held now.
    pub fn stats(&self, now_ms: u64) -> RendezvousStats {
        let c = &self.counters;
        let records_held = self
            .held
            .lock()
            .map(|h| h.values().filter(|h| h.keep_until_ms > now_ms).count() as u64)
            .unwrap_or(0);
        RendezvousStats {
            records_held,
            stores_accepted: c.stores_accepted.load(Ordering::Relaxed),
            invalid_rejected: c.invalid_rejected.load(Ordering::Relaxed),
            stale_rejected: c.stale_rejected.load(Ordering::Relaxed),
            full_rejected: c.full_rejected.load(Ordering::Relaxed),
            lookups_served: c.lookups_served.load(Ordering::Relaxed),
            requests_sent: c.requests_sent.load(Ordering::Relaxed),
            answers_received: c.answers_received.load(Ordering::Relaxed),
            malformed_dropped: c.malformed_dropped.load(Ordering::Relaxed),
        }
    }
}

/// What a request asks of a holder.
#[derive(Debug, Clone, Copy)]
pub enum Request<'a> {
    /// Keep this signed record.
    Store(&'a [u8]),
    /// Send back the record held for this agent.
    Lookup(&'a AgentId),
}

/// The newest valid record for `target` among holders' answers: `None` when
/// nobody had one or the newest is a tombstone (the agent unregistered).
pub fn newest(target: &AgentId, answers: &[Vec<u8>], now_ms: u64) -> (Option<AddrRecord>, usize) {
    let mut best: Option<AddrRecord> = None;
    let mut rejected = 0;
    for bytes in answers {
        match addr_record::verify_for(bytes, target, now_ms) {
            Ok(r) => {
                if best.as_ref().is_none_or(|b| r.issued_at_ms > b.issued_at_ms) {
                    best = Some(r);
                }
            }
            Err(RecordError::Expired) => {}
            Err(_) => rejected += 1,
        }
    }
    (best.filter(|r| !r.addrs.is_empty()), rejected)
}

fn frame(tag: u8, req: u64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + REQ_LEN + body.len());
    out.push(tag);
    out.extend_from_slice(&req.to_le_bytes());
    out.extend_from_slice(body);
    out
}

fn split(data: &[u8]) -> Option<(u8, u64, &[u8])> {
    let (&tag, rest) = data.split_first()?;
    if !owns(tag) || rest.len() < REQ_LEN || rest.len() - REQ_LEN > MAX_RECORD_BYTES {
        return None;
    }
    let (req, body) = rest.split_at(REQ_LEN);
    let req = u64::from_le_bytes(req.try_into().ok()?);
    Some((tag, req, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::AgentKeypair;
    use std::net::SocketAddr;

    const NOW: u64 = 1_000_000;

    fn addrs() -> Vec<SocketAddr> {
        vec!["127.0.0.1:5000".parse().unwrap()]
    }

    fn peer(n: u8) -> PeerId {
        PeerId::new([n; 32])
    }

    /// Runs a request from `client` through `holder` and returns the answer.
    fn ask(client: &Rendezvous, holder: &Rendezvous, body: Request<'_>) -> Answer {
        let (_, frame, mut rx) = client.request(peer(2), body).unwrap();
        let reply = holder.on_frame(peer(1), &frame, NOW).unwrap();
        assert!(client.on_frame(peer(2), &reply, NOW).is_none());
        rx.try_recv().unwrap()
    }

    #[test]
    fn stores_then_serves_the_record_and_the_tombstone_wins() {
        let kp = AgentKeypair::generate().unwrap();
        let (client, holder) = (Rendezvous::new(), Rendezvous::new());
        let reg = addr_record::sign(&kp, &addrs(), NOW, 60_000).unwrap();
        assert!(matches!(ask(&client, &holder, Request::Store(&reg)), Answer::Ack(StoreOutcome::Stored)));
        let Answer::Record(Some(got)) = ask(&client, &holder, Request::Lookup(&kp.agent_id())) else {
            panic!("holder had no record")
        };
        assert_eq!(newest(&kp.agent_id(), &[got], NOW).0.unwrap().addrs, addrs());

        let tomb = addr_record::sign(&kp, &[], NOW + 1, 60_000).unwrap();
        assert!(matches!(ask(&client, &holder, Request::Store(&tomb)), Answer::Ack(StoreOutcome::Stored)));
        let Answer::Record(Some(got)) = ask(&client, &holder, Request::Lookup(&kp.agent_id())) else {
            panic!("holder dropped the tombstone")
        };
        assert_eq!(newest(&kp.agent_id(), &[reg.clone(), got], NOW).0, None, "tombstone is newer");
        // Replaying the registration after the unregister is refused.
        assert!(matches!(ask(&client, &holder, Request::Store(&reg)), Answer::Ack(StoreOutcome::Stale)));
        assert_eq!(holder.stats(NOW).stale_rejected, 1);
    }

    #[test]
    fn refuses_records_not_signed_by_their_agent() {
        let kp = AgentKeypair::generate().unwrap();
        let other = AgentKeypair::generate().unwrap();
        let holder = Rendezvous::new();
        let mut forged = addr_record::sign(&kp, &addrs(), NOW, 60_000).unwrap();
        let sig_at = forged.len() - crate::identity::SIGNATURE_LEN;
        let foreign = addr_record::sign(&other, &addrs(), NOW, 60_000).unwrap();
        forged[sig_at..].copy_from_slice(&foreign[foreign.len() - crate::identity::SIGNATURE_LEN..]);
        assert_eq!(holder.hold(&forged, NOW), StoreOutcome::Invalid);
        assert_eq!(holder.held(&kp.agent_id(), NOW), None);
        assert_eq!(holder.stats(NOW).invalid_rejected, 1);
        // And a lookup answer about someone else is not taken for the target.
        assert_eq!(newest(&kp.agent_id(), &[foreign], NOW), (None, 1));
    }

    #[test]
    fn answers_only_from_the_holder_asked_and_drops_junk() {
        let (client, holder) = (Rendezvous::new(), Rendezvous::new());
        let target = [7u8; 32];
        let (_, frame, mut rx) = client.request(peer(2), Request::Lookup(&target)).unwrap();
        let reply = holder.on_frame(peer(1), &frame, NOW).unwrap();
        // The same reply from a third peer is not an answer.
        assert!(client.on_frame(peer(3), &reply, NOW).is_none());
        assert!(rx.try_recv().is_err());
        assert_eq!(client.stats(NOW).malformed_dropped, 1);
        assert!(client.on_frame(peer(2), &reply, NOW).is_none());
        assert!(matches!(rx.try_recv().unwrap(), Answer::Record(None)));

        for junk in [&[][..], &[STORE_TAG, 1, 2], &[LOOKUP_TAG, 0, 0, 0, 0, 0, 0, 0, 0, 1], &[STORE_ACK_TAG, 0, 0, 0, 0, 0, 0, 0, 0, 9]] {
            assert!(holder.on_frame(peer(1), junk, NOW).is_none());
        }
        let mut big = vec![STORE_TAG; 1 + REQ_LEN + MAX_RECORD_BYTES + 1];
        big[0] = STORE_TAG;
        assert!(holder.on_frame(peer(1), &big, NOW).is_none());
        assert_eq!(holder.stats(NOW).malformed_dropped, 5);
    }

    #[test]
    fn refuses_records_that_ask_to_be_kept_longer_than_a_day() {
        let kp = AgentKeypair::generate().unwrap();
        let holder = Rendezvous::new();
        let forever = addr_record::sign(&kp, &addrs(), NOW, u64::MAX).unwrap();
        assert_eq!(holder.hold_from(Some(PeerId::new(kp.agent_id())), &forever, NOW), StoreOutcome::Invalid);
        let day = addr_record::sign(&kp, &addrs(), NOW, MAX_RECORD_LIFETIME_MS).unwrap();
        assert_eq!(holder.hold(&day, NOW), StoreOutcome::Stored);
    }

    #[test]
    fn one_peer_gets_a_bounded_share_for_records_not_its_own() {
        let holder = Rendezvous::new();
        let relay = peer(9);
        let sybils: Vec<_> = (0..MAX_HELD_PER_PEER + 2).map(|_| AgentKeypair::generate().unwrap()).collect();
        let records: Vec<_> = sybils.iter().map(|k| addr_record::sign(k, &addrs(), NOW, 60_000).unwrap()).collect();
        for r in &records[..MAX_HELD_PER_PEER] {
            assert_eq!(holder.hold_from(Some(relay), r, NOW), StoreOutcome::Stored);
        }
        assert_eq!(holder.hold_from(Some(relay), &records[MAX_HELD_PER_PEER], NOW), StoreOutcome::Full);
        // A newer record for an agent it already has stored does not take a new place.
        let renewed = addr_record::sign(&sybils[0], &addrs(), NOW + 1, 60_000).unwrap();
        assert_eq!(holder.hold_from(Some(relay), &renewed, NOW), StoreOutcome::Stored);
        // Agents storing their own records are not limited by it.
        let own = &sybils[MAX_HELD_PER_PEER + 1];
        let own_record = &records[MAX_HELD_PER_PEER + 1];
        assert_eq!(holder.hold_from(Some(PeerId::new(own.agent_id())), own_record, NOW), StoreOutcome::Stored);
        // Expired records give the share back.
        let later = NOW + 60_000;
        let fresh = addr_record::sign(&sybils[MAX_HELD_PER_PEER], &addrs(), later, 60_000).unwrap();
        assert_eq!(holder.hold_from(Some(relay), &fresh, later), StoreOutcome::Stored);
        assert_eq!(holder.stats(NOW).full_rejected, 1);
    }

    #[test]
    fn expired_records_are_neither_served_nor_counted() {
        let kp = AgentKeypair::generate().unwrap();
        let holder = Rendezvous::new();
        let reg = addr_record::sign(&kp, &addrs(), NOW, 1_000).unwrap();
        assert_eq!(holder.hold(&reg, NOW), StoreOutcome::Stored);
        assert_eq!(holder.stats(NOW).records_held, 1);
        assert_eq!(holder.held(&kp.agent_id(), NOW + 1_000), None);
        assert_eq!(holder.stats(NOW + 1_000).records_held, 0);
        assert_eq!(holder.hold(&reg, NOW + 1_000), StoreOutcome::Invalid);
    }
}
