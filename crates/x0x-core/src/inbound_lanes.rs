//! Inbound lanes: one protocol's slow work never stalls another's.
//!
//! The dispatcher hands every received frame to the lane of its protocol.
//! Each lane has its own worker limit and its own byte budget for frames that
//! wait or run, and within a lane one peer may hold at most a share of that
//! budget. A frame that does not fit is dropped and counted, never waited
//! for: the dispatcher itself never blocks, so a peer that makes one lane
//! slow (FORWARDJOINs that wait for an address, floods to a stuck neighbour,
//! PING-REQs for an address that never answers) only fills its own share of
//! that lane, and SWIM acks and pub/sub keep flowing.
//!
//! Bytes, not frames, are the bound: a frame may be up to
//! [`crate::transport::MAX_FRAME_BYTES`], and every frame is charged at least
//! [`MIN_CHARGE`] so a flood of tiny frames is bounded in count too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};

use saorsa_gossip_transport::GossipStreamType;
use saorsa_gossip_types::PeerId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{flood, publisher_keys};

/// Least bytes a frame is charged, for the bookkeeping it costs.
pub const MIN_CHARGE: usize = 256;
/// One peer may hold at most 1/`PEER_SHARE` of a lane's bytes.
const PEER_SHARE: usize = 4;

/// The protocol classes frames are split into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// SWIM PING, ACK and ACK-RESPONSE: answered at once, so failure
    /// detection keeps working whatever else is slow.
    Swim,
    /// HyParView frames other than FORWARDJOIN, and PING-REQ (which may
    /// dial the target).
    Membership,
    /// FORWARDJOIN, which may wait for the joiner's address.
    ForwardJoin,
    /// Plumtree.
    PubSub,
    /// Flood frames, forwarded to every connection.
    Flood,
    /// Anti-entropy, FOAF, rendezvous, addresses, topic interest.
    Bulk,
    /// Publisher-key asks and answers: answered from memory, and awaited by
    /// frames in the pub/sub and bulk lanes, so they must never queue
    /// behind those.
    Keys,
}

impl Lane {
    /// The lane of a frame, from its stream and first bytes. Membership
    /// frames are postcard enums: the outer variant (0 HyParView, 1 SWIM),
    /// then the inner one, each one byte for these small indices. A frame
    /// that decodes as nothing lands in its stream's general lane, where its
    /// handler rejects it.
    pub fn of(kind: GossipStreamType, data: &[u8]) -> Lane {
        match kind {
            GossipStreamType::Membership => match (data.first(), data.get(1)) {
                // FORWARDJOIN.
                (Some(0), Some(1)) => Lane::ForwardJoin,
                // PING, ACK, ACK-RESPONSE; PING-REQ (2) may dial.
                (Some(1), Some(0 | 1 | 3)) => Lane::Swim,
                _ => Lane::Membership,
            },
            GossipStreamType::PubSub => Lane::PubSub,
            GossipStreamType::Bulk if data.first() == Some(&flood::TAG) => Lane::Flood,
            GossipStreamType::Bulk if data.first().is_some_and(|t| publisher_keys::owns(*t)) => Lane::Keys,
            GossipStreamType::Bulk => Lane::Bulk,
        }
    }

    const ALL: [Lane; 7] =
        [Lane::Swim, Lane::Membership, Lane::ForwardJoin, Lane::PubSub, Lane::Flood, Lane::Bulk, Lane::Keys];

    /// Name used in diagnostics.
    pub fn name(self) -> &'static str {
        match self {
            Lane::Swim => "swim",
            Lane::Membership => "membership",
            Lane::ForwardJoin => "forwardJoin",
            Lane::PubSub => "pubsub",
            Lane::Flood => "flood",
            Lane::Bulk => "bulk",
            Lane::Keys => "keys",
        }
    }

    /// (bytes waiting or running, frames running at once). Pub/sub and bulk
    /// carry frames up to 1.06 MiB, so a peer's share holds several of them
    /// (pub/sub: 16 MiB, four times a publisher's whole send backlog); the
    /// others carry small frames.
    fn limits(self) -> (usize, usize) {
        const MIB: usize = 1024 * 1024;
        match self {
            Lane::Swim => (MIB / 2, 16),
            Lane::Membership => (MIB, 16),
            Lane::ForwardJoin => (MIB / 4, 16),
            Lane::PubSub => (64 * MIB, 64),
            Lane::Flood => (2 * MIB, 16),
            Lane::Bulk => (16 * MIB, 16),
            // A HAVE is at most 31 KiB.
            Lane::Keys => (2 * MIB, 8),
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Default)]
struct Usage {
    total: usize,
    per_peer: HashMap<PeerId, usize>,
}

struct LaneState {
    budget: usize,
    workers: Arc<Semaphore>,
    usage: StdMutex<Usage>,
    dropped: AtomicU64,
}

/// The lanes of one agent.
pub struct Lanes {
    lanes: Vec<Arc<LaneState>>,
}

impl Default for Lanes {
    fn default() -> Self {
        Self {
            lanes: Lane::ALL
                .iter()
                .map(|lane| {
                    let (budget, workers) = lane.limits();
                    Arc::new(LaneState {
                        budget,
                        workers: Arc::new(Semaphore::new(workers)),
                        usage: StdMutex::new(Usage::default()),
                        dropped: AtomicU64::new(0),
                    })
                })
                .collect(),
        }
    }
}

/// A frame's place in its lane: its bytes stay charged until it is dropped.
pub struct Ticket {
    lane: Arc<LaneState>,
    peer: PeerId,
    cost: usize,
}

impl Ticket {
    /// Waits for one of the lane's workers; the frame's handler runs while
    /// the returned permit lives.
    pub async fn start(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.lane.workers).acquire_owned().await.ok()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Ok(mut u) = self.lane.usage.lock() {
            u.total = u.total.saturating_sub(self.cost);
            if let Some(held) = u.per_peer.get_mut(&self.peer) {
                *held = held.saturating_sub(self.cost);
                if *held == 0 {
                    u.per_peer.remove(&self.peer);
                }
            }
        }
    }
}

impl Lanes {
    /// Charges a frame of `len` bytes from `peer` to `lane`, or refuses it
    /// (and counts the drop) when the lane or the peer's share is full.
    pub fn admit(&self, lane: Lane, peer: PeerId, len: usize) -> Option<Ticket> {
        let state = &self.lanes[lane.index()];
        let cost = len.max(MIN_CHARGE);
        let admitted = state.usage.lock().is_ok_and(|mut u| {
            let held = u.per_peer.get(&peer).copied().unwrap_or(0);
            if u.total + cost > state.budget || held + cost > state.budget / PEER_SHARE {
                return false;
            }
            u.total += cost;
            u.per_peer.insert(peer, held + cost);
            true
        });
        if admitted {
            Some(Ticket { lane: Arc::clone(state), peer, cost })
        } else {
            state.dropped.fetch_add(1, Ordering::Relaxed);
            None
        }
    }

    /// Frames each lane refused, by lane name.
    pub fn dropped(&self) -> Vec<(&'static str, u64)> {
        Lane::ALL
            .iter()
            .map(|lane| (lane.name(), self.lanes[lane.index()].dropped.load(Ordering::Relaxed)))
            .collect()
    }

    /// Bytes charged to `lane` now.
    #[cfg(test)]
    fn held(&self, lane: Lane) -> usize {
        self.lanes[lane.index()].usage.lock().map(|u| u.total).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use saorsa_gossip_membership::{HyParViewMessage, MembershipProtocolMessage, NeighborPriority, SwimMessage};

    #[test]
    fn membership_frames_land_in_their_lanes() {
        let p = PeerId::new([7; 32]);
        let lane = |m: MembershipProtocolMessage| {
            Lane::of(GossipStreamType::Membership, &postcard::to_stdvec(&m).unwrap())
        };
        let hpv = MembershipProtocolMessage::HyParView;
        let swim = MembershipProtocolMessage::Swim;
        assert_eq!(lane(hpv(HyParViewMessage::ForwardJoin { sender: p, new_peer: p, ttl: 6 })), Lane::ForwardJoin);
        assert_eq!(lane(hpv(HyParViewMessage::Join { sender: p, ttl: 6 })), Lane::Membership);
        assert_eq!(lane(hpv(HyParViewMessage::Neighbor { sender: p, priority: NeighborPriority::High })), Lane::Membership);
        assert_eq!(lane(hpv(HyParViewMessage::Disconnect)), Lane::Membership);
        assert_eq!(lane(swim(SwimMessage::Ping)), Lane::Swim);
        assert_eq!(lane(swim(SwimMessage::Ack)), Lane::Swim);
        assert_eq!(lane(swim(SwimMessage::AckResponse { target: p, requester: p })), Lane::Swim);
        assert_eq!(lane(swim(SwimMessage::PingReq { target: p, requester: p })), Lane::Membership);
        assert_eq!(Lane::of(GossipStreamType::Bulk, &[flood::TAG, 1]), Lane::Flood);
        assert_eq!(Lane::of(GossipStreamType::Bulk, &[]), Lane::Bulk);
        assert_eq!(Lane::of(GossipStreamType::Membership, &[]), Lane::Membership);
    }

    #[test]
    fn a_peer_gets_a_share_of_a_lane_and_bytes_come_back() {
        let lanes = Lanes::default();
        let (budget, _) = Lane::ForwardJoin.limits();
        let hostile = PeerId::new([1; 32]);
        let honest = PeerId::new([2; 32]);
        let mut held = Vec::new();
        while let Some(t) = lanes.admit(Lane::ForwardJoin, hostile, 60) {
            held.push(t);
        }
        assert_eq!(held.len(), budget / PEER_SHARE / MIN_CHARGE, "charged at least MIN_CHARGE each");
        assert_eq!(lanes.dropped()[Lane::ForwardJoin.index()].1, 1);
        // Another peer, and another lane, are untouched.
        assert!(lanes.admit(Lane::ForwardJoin, honest, 60).is_some());
        assert!(lanes.admit(Lane::Swim, hostile, 60).is_some());
        held.clear();
        assert_eq!(lanes.held(Lane::ForwardJoin), 0);
        assert!(lanes.admit(Lane::ForwardJoin, hostile, 60).is_some());
    }

    #[test]
    fn a_lane_holds_at_most_its_budget_whoever_sends() {
        let lanes = Lanes::default();
        let (budget, _) = Lane::PubSub.limits();
        let mut held = Vec::new();
        for i in 0..64u8 {
            while let Some(t) = lanes.admit(Lane::PubSub, PeerId::new([i; 32]), 1 << 20) {
                held.push(t);
            }
        }
        assert!(lanes.held(Lane::PubSub) <= budget);
        assert_eq!(held.len(), budget >> 20);
    }
}
