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

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use saorsa_gossip_transport::{GossipStreamType, GossipTransport};
use saorsa_gossip_types::PeerId;
use tokio::sync::broadcast;

use crate::dedup::DedupCache;
use crate::transport::QuicTransport;

/// First byte of a flood frame on the Bulk stream.
pub const TAG: u8 = 0xF1;
/// Largest flood payload, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024;
/// Frames remembered to stop the flood; at least a few beacon periods' worth.
const SEEN_CAPACITY: usize = 16_384;
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
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    received: AtomicU64,
    duplicates: AtomicU64,
    oversized: AtomicU64,
}

/// Flood state of one agent.
pub struct Flood {
    seen: StdMutex<DedupCache>,
    tx: broadcast::Sender<Vec<u8>>,
    counters: Counters,
}

impl Default for Flood {
    fn default() -> Self {
        Self {
            seen: StdMutex::new(DedupCache::new(SEEN_CAPACITY, SEEN_TTL)),
            tx: broadcast::channel(1024).0,
            counters: Counters::default(),
        }
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

    /// Takes a received frame (tag included); `true` if it is new and must be
    /// forwarded. New payloads go to local listeners.
    pub fn receive(&self, frame: &[u8]) -> bool {
        if frame.len() > 1 + MAX_PAYLOAD_BYTES {
            self.counters.oversized.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        if !self.first_sight(frame) {
            self.counters.duplicates.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        // No listener is fine: the frame is still forwarded.
        let _ = self.tx.send(frame[1..].to_vec());
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

    #[test]
    fn new_frames_are_delivered_once_and_own_frames_never() {
        let flood = Flood::default();
        let mut rx = flood.subscribe();
        let own = flood.originate(b"mine");
        assert!(
            !flood.receive(&own),
            "our own frame coming back must stop here"
        );
        let mut other = vec![TAG];
        other.extend_from_slice(b"theirs");
        assert!(flood.receive(&other));
        assert!(!flood.receive(&other));
        assert_eq!(rx.try_recv().unwrap(), b"theirs");
        assert!(rx.try_recv().is_err());
        let s = flood.stats();
        assert_eq!((s.sent, s.received, s.duplicates), (1, 1, 2));
        let mut big = vec![TAG];
        big.resize(2 + MAX_PAYLOAD_BYTES, 1);
        assert!(!flood.receive(&big));
        assert_eq!(flood.stats().oversized, 1);
    }
}
