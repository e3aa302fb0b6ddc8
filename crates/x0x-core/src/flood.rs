//! Anonymous flooding of small frames straight over QUIC (the Bulk stream).
//!
//! Pub/sub cannot carry data whose origin must stay hidden: the x0x envelope
//! names the publisher, and every Plumtree frame carries its signer's public
//! key, which is the agent's own. A flood frame carries nothing but its
//! payload: each agent forwards a frame it has not seen before to all its
//! connections except the one it came from, so a receiver learns only which
//! neighbour handed it the frame, never who made it. Sealed presence beacons
//! travel this way.
//!
//! Frame: tag [`TAG`], then the payload. Duplicates are recognised by the
//! BLAKE3 hash of the whole frame, so payloads must differ from each other
//! (sealed beacons carry a random nonce, records a fresh timestamp).
//!
//! Limits, so that one peer cannot amplify traffic through the flood:
//! - each neighbour has a budget of new frames ([`PEER_BURST`], refilled at
//!   [`PEER_RATE`] a second), spent only on frames not seen before; past it
//!   a frame is dropped, neither delivered nor forwarded, and not
//!   remembered, so the same frame from an honest neighbour still counts;
//! - a payload that claims to be a signed record in the clear
//!   ([`PLAIN_RECORD`], a plaintext presence beacon) is verified before it
//!   is delivered or forwarded: a bad signature, an expired record or one
//!   dated more than a minute ahead stops at the first honest hop;
//! - the budget is per neighbour: k hostile neighbours can push k times
//!   [`PEER_RATE`], and past about 55 new frames a second in total
//!   ([`SEEN_CAPACITY`] per 300 s) ids leave the dedup early and late copies
//!   flood again.
//!
//! Sealed beacons cannot be verified without the group key; for them the
//! budget is the only limit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use saorsa_gossip_transport::{GossipStreamType, GossipTransport};
use saorsa_gossip_types::PeerId;
use tokio::sync::broadcast;

use crate::dedup::DedupCache;
use crate::records;
use crate::transport::QuicTransport;

/// First byte of a flood frame on the Bulk stream.
pub const TAG: u8 = 0xF1;
/// Largest flood payload, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024;
/// Frames remembered to stop the flood; at least a few beacon periods' worth.
pub const SEEN_CAPACITY: usize = 16_384;
/// New frames a neighbour may send at once.
pub const PEER_BURST: u32 = 64;
/// New frames a neighbour may send per second, sustained: a beacon from each
/// of 4,000 agents per 450 s beacon period is about 9 a second.
pub const PEER_RATE: u32 = 16;
/// First payload byte of a signed record in the clear (a plaintext presence
/// beacon; see [`crate::presence::seal`]).
pub const PLAIN_RECORD: u8 = crate::presence::seal::PLAIN;
/// Neighbours with a budget; past this, new neighbours get none until some
/// idle budgets are swept.
const MAX_BUDGETS: usize = 4096;
const SEEN_TTL: Duration = Duration::from_secs(300);
/// Bound of one send, so a dead neighbour cannot hold up the others.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// Flood counters.
#[derive(Debug, Default, Clone, Copy)]
pub struct FloodStats {
    /// Frames this agent originated.
    pub sent: u64,
    /// New frames received (each delivered locally once).
    pub received: u64,
    /// Frames received again and dropped.
    pub duplicates: u64,
    /// Frames dropped for size.
    pub oversized: u64,
    /// New frames dropped because their neighbour's budget was spent.
    pub rate_limited: u64,
    /// Signed records in the clear that failed verification, were expired
    /// or dated too far ahead, and empty frames; dropped, not forwarded.
    pub invalid: u64,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    received: AtomicU64,
    duplicates: AtomicU64,
    oversized: AtomicU64,
    rate_limited: AtomicU64,
    invalid: AtomicU64,
}

/// Flood state of one agent.
pub struct Flood {
    seen: StdMutex<DedupCache>,
    budgets: StdMutex<HashMap<PeerId, (f64, Instant)>>,
    tx: broadcast::Sender<Vec<u8>>,
    counters: Counters,
}

impl Default for Flood {
    fn default() -> Self {
        Self {
            seen: StdMutex::new(DedupCache::new(SEEN_CAPACITY, SEEN_TTL)),
            budgets: StdMutex::new(HashMap::new()),
            tx: broadcast::channel(1024).0,
            counters: Counters::default(),
        }
    }
}

/// Whether a payload may travel on: anything but a signed record in the
/// clear passes; such a record must verify and be current at `now_ms`.
fn acceptable(payload: &[u8], now_ms: u64) -> bool {
    let Some((&PLAIN_RECORD, record)) = payload.split_first() else { return true };
    match records::decode(record) {
        Ok(r) => r.expires_at > now_ms && r.timestamp <= now_ms.saturating_add(records::MAX_CLOCK_SKEW_MS) && r.verify().is_ok(),
        Err(_) => false,
    }
}

impl Flood {
    fn first_sight(&self, frame: &[u8]) -> bool {
        let id = *blake3::hash(frame).as_bytes();
        self.seen
            .lock()
            .map(|mut s| s.insert(id, Instant::now()))
            .unwrap_or(false)
    }

    /// Frames as this agent's own and returns the bytes to send.
    pub fn originate(&self, payload: &[u8]) -> Bytes {
        let mut frame = Vec::with_capacity(1 + payload.len());
        frame.push(TAG);
        frame.extend_from_slice(payload);
        self.first_sight(&frame);
        self.counters.sent.fetch_add(1, Ordering::Relaxed);
        Bytes::from(frame)
    }

    fn seen_before(&self, frame: &[u8]) -> bool {
        let id = *blake3::hash(frame).as_bytes();
        self.seen.lock().map(|mut s| s.contains(&id, Instant::now())).unwrap_or(true)
    }

    /// Takes one new frame from `peer`'s budget; false when it is spent.
    fn spend(&self, peer: PeerId, now: Instant) -> bool {
        let Ok(mut budgets) = self.budgets.lock() else { return false };
        if budgets.len() >= MAX_BUDGETS && !budgets.contains_key(&peer) {
            // A budget idle long enough to be full again is the same as none.
            let full = f64::from(PEER_BURST) / f64::from(PEER_RATE);
            budgets.retain(|_, (_, at)| now.duration_since(*at).as_secs_f64() < full);
            if budgets.len() >= MAX_BUDGETS {
                return false;
            }
        }
        let (tokens, at) = budgets.entry(peer).or_insert((f64::from(PEER_BURST), now));
        let refill = now.duration_since(*at).as_secs_f64() * f64::from(PEER_RATE);
        *tokens = (*tokens + refill).min(f64::from(PEER_BURST));
        *at = now;
        if *tokens < 1.0 {
            return false;
        }
        *tokens -= 1.0;
        true
    }

    /// Takes a frame (tag included) received from `from` at `now_ms`;
    /// `true` if it is new and acceptable and must be forwarded. New
    /// payloads go to local listeners.
    pub fn receive(&self, from: PeerId, frame: &[u8], now_ms: u64) -> bool {
        // The dispatcher routes only frames that start with TAG here, but
        // this must not rely on it: an empty frame is invalid, not a panic.
        let Some((_, payload)) = frame.split_first() else {
            self.counters.invalid.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        if frame.len() > 1 + MAX_PAYLOAD_BYTES {
            self.counters.oversized.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        if self.seen_before(frame) {
            self.counters.duplicates.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        if !self.spend(from, Instant::now()) {
            self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let ok = acceptable(payload, now_ms);
        // Remembered either way: a copy of a bad frame is not checked again.
        if !self.first_sight(frame) {
            self.counters.duplicates.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        if !ok {
            self.counters.invalid.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        // No listener is fine: the frame is still forwarded.
        let _ = self.tx.send(payload.to_vec());
        true
    }

    /// Payloads received from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Vec<u8>> {
        self.tx.subscribe()
    }

    /// Counter snapshot.
    pub fn stats(&self) -> FloodStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let c = &self.counters;
        FloodStats {
            sent: get(&c.sent),
            received: get(&c.received),
            duplicates: get(&c.duplicates),
            oversized: get(&c.oversized),
            rate_limited: get(&c.rate_limited),
            invalid: get(&c.invalid),
        }
    }
}

/// Sends `frame` to every connected peer but `except`, concurrently, each
/// send bounded; returns how many peers took it.
pub async fn send_to_all(
    transport: &Arc<QuicTransport>,
    frame: Bytes,
    except: Option<PeerId>,
) -> usize {
    let peers: Vec<PeerId> = transport
        .connected()
        .await
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| Some(*p) != except)
        .collect();
    let sends: Vec<_> = peers
        .into_iter()
        .map(|peer| {
            let t = Arc::clone(transport);
            let f = frame.clone();
            tokio::spawn(async move {
                matches!(
                    tokio::time::timeout(
                        SEND_TIMEOUT,
                        t.send_to_peer(peer, GossipStreamType::Bulk, f)
                    )
                    .await,
                    Ok(Ok(()))
                )
            })
        })
        .collect();
    let mut reached = 0;
    for s in sends {
        if matches!(s.await, Ok(true)) {
            reached += 1;
        }
    }
    reached
}

#[cfg(test)]
mod tests {
    use super::*;


    fn p() -> PeerId {
        PeerId::new([9; 32])
    }

    #[test]
    fn new_frames_are_delivered_once_and_own_frames_never() {
        let flood = Flood::default();
        let mut rx = flood.subscribe();
        let own = flood.originate(b"mine");
        assert!(
            !flood.receive(p(), &own, 0),
            "our own frame coming back must stop here"
        );
        let mut other = vec![TAG];
        other.extend_from_slice(b"theirs");
        assert!(flood.receive(p(), &other, 0));
        assert!(!flood.receive(p(), &other, 0));
        assert_eq!(rx.try_recv().unwrap(), b"theirs");
        assert!(rx.try_recv().is_err());
        let s = flood.stats();
        assert_eq!((s.sent, s.received, s.duplicates), (1, 1, 2));
        let mut big = vec![TAG];
        big.resize(2 + MAX_PAYLOAD_BYTES, 1);
        assert!(!flood.receive(p(), &big, 0));
        assert_eq!(flood.stats().oversized, 1);
    }

    /// Found by `decoder_fuzz_flood`: an empty frame indexed past its end.
    #[test]
    fn an_empty_frame_is_invalid_not_a_panic() {
        let flood = Flood::default();
        assert!(!flood.receive(p(), &[], 0));
        assert_eq!(flood.stats().invalid, 1);
    }

    #[test]
    fn a_frame_refused_for_budget_still_passes_from_another_neighbour() {
        let flood = Flood::default();
        let frame = |i: u32| [&[TAG, 0x02][..], &i.to_le_bytes()].concat();
        let mut passed = 0;
        for i in 0..PEER_BURST * 2 {
            passed += u32::from(flood.receive(p(), &frame(i), 0));
        }
        // Time moves on a little while the loop runs; the refill is small.
        assert!((PEER_BURST..PEER_BURST + 4).contains(&passed), "{passed} passed");
        assert!(flood.stats().rate_limited > 0);
        let refused = frame(PEER_BURST * 2 - 1);
        assert!(flood.receive(PeerId::new([8; 32]), &refused, 0));
    }

    #[test]
    fn a_plaintext_record_must_verify_and_be_current() {
        let k = crate::identity::AgentKeypair::generate().unwrap();
        let now = 1_000_000;
        let beacon = |ts: u64, exp: u64| {
            let mut f = vec![TAG, PLAIN_RECORD];
            f.extend(records::sign(&k, 1, b"{}", ts, exp).unwrap());
            f
        };
        let flood = Flood::default();
        assert!(flood.receive(p(), &beacon(now, now + 1000), now));
        assert!(!flood.receive(p(), &beacon(now - 2000, now - 1000), now), "expired");
        assert!(!flood.receive(p(), &beacon(now + 120_000, now + 130_000), now), "from the future");
        let mut forged = beacon(now + 1, now + 1000);
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert!(!flood.receive(p(), &forged, now), "bad signature");
        assert!(!flood.receive(p(), &[TAG, PLAIN_RECORD, 1, 2, 3], now), "malformed");
        assert_eq!(flood.stats().invalid, 4);
        assert_eq!(flood.stats().received, 1);
    }
}
