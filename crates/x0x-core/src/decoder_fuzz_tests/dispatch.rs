//! The frame dispatcher. Its Bulk half routes a frame by its first byte
//! ([`crate::bulk_route`]) to one of the sans-IO handlers fuzzed one by one
//! elsewhere; here arbitrary frames go through that route into the handler
//! it picks, as the agent's dispatch loop does, minus the network. The
//! loop itself needs a running agent and is not driven here.
//!
//! Pub/sub and membership frames are decoded by saorsa-gossip (postcard);
//! x0x-core reads them first for its lanes, the topic gate and FORWARDJOIN,
//! so those postcard decodes are fuzzed too.

use std::time::Instant;

use bytes::Bytes;
use saorsa_gossip_membership::{HyParViewMessage, MembershipProtocolMessage, NeighborPriority, SwimMessage};
use saorsa_gossip_pubsub::GossipMessage;
use saorsa_gossip_transport::GossipStreamType;
use saorsa_gossip_types::{MessageHeader, MessageKind, PeerId, TopicId};

use super::anti_entropy::{handle, valid_frames, FakeHost};
use super::mutate::inputs;
use super::records::{keypair, NOW_MS};
use super::{fuzz, fuzz_with, CASES};
use crate::bulk_route::{route, BulkRoute};
use crate::flood::{self, Flood};
use crate::foaf::{self, Foaf};
use crate::inbound_lanes::Lane;
use crate::topic_interest::{self, TopicInterest};
use crate::publisher_keys::{self, KeyBook};
use crate::source_trees::{self, Signal, SourceTrees};
use crate::{addr_book, ae_wire, forward_join, rendezvous, rendezvous::Rendezvous};

/// Every Bulk handler's state, fresh per case.
struct Handlers {
    interest: TopicInterest,
    flood: Flood,
    ae: FakeHost,
    foaf: Foaf,
    rendezvous: Rendezvous,
    keys: KeyBook,
    trees: SourceTrees,
}

fn handlers() -> Handlers {
    Handlers {
        interest: TopicInterest::default(),
        flood: Flood::default(),
        ae: FakeHost::new(),
        foaf: Foaf::new(keypair().agent_id(), 3, 3),
        rendezvous: Rendezvous::new(),
        keys: KeyBook::new(keypair().agent_id(), keypair().public_key()),
        trees: SourceTrees::new(keypair().agent_id()),
    }
}

fn peer(n: u8) -> PeerId {
    PeerId::new([n; 32])
}

/// A valid frame of every Bulk protocol.
fn bulk_frames() -> Vec<Vec<u8>> {
    let mut frames = valid_frames();
    let mut query = vec![foaf::QUERY_TAG];
    query.extend_from_slice(&[1; 16]);
    query.push(2);
    query.extend_from_slice(&5000u32.to_le_bytes());
    query.extend_from_slice(&[3; 32]);
    frames.push(query);
    let mut lookup = vec![rendezvous::LOOKUP_TAG];
    lookup.extend_from_slice(&9u64.to_le_bytes());
    lookup.extend_from_slice(&[3; 32]);
    frames.push(lookup);
    frames.push(topic_interest::encode(1, &[TopicId::new([4; 32])]));
    frames.push(vec![flood::TAG, 0x02, 1, 2, 3]);
    frames.push(addr_book::encode(&[(peer(5), "127.0.0.1:9".parse().unwrap())]));
    frames.push(publisher_keys::encode_want(&[[6; 32]]));
    frames.push(Signal::Prune { topic: TopicId::new([4; 32]), source: [7; 32] }.encode());
    frames.push(Signal::Graft { topic: TopicId::new([4; 32]), source: [7; 32] }.encode());
    frames
}

#[test]
fn decoder_fuzz_bulk_dispatch() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let tags = vec![
        topic_interest::TAG,
        flood::TAG,
        ae_wire::TAG_REQUEST,
        ae_wire::TAG_PUSH,
        0xCF,
        foaf::QUERY_TAG,
        foaf::REPLY_TAG,
        foaf::SEEN_TAG,
        rendezvous::STORE_TAG,
        rendezvous::LOOKUP_REPLY_TAG,
        addr_book::TAG,
        publisher_keys::WANT_TAG,
        publisher_keys::HAVE_TAG,
        source_trees::PRUNE_TAG,
        source_trees::GRAFT_TAG,
        0x00,
    ];
    let frames = inputs(bulk_frames(), vec![(1, 1), (1, 8), (9, 2)], tags, 6000);
    fuzz_with("bulk dispatch (route + handler)", CASES, frames, |_| (handlers(), Instant::now()), |(h, now), b| {
        let lane = Lane::of(GossipStreamType::Bulk, b);
        assert_eq!(lane == Lane::Flood, b.first() == Some(&flood::TAG), "lane of a Bulk frame");
        match route(b) {
            BulkRoute::Interest => {
                let _ = h.interest.on_frame(peer(1), b);
            }
            BulkRoute::Flood => {
                let _ = h.flood.receive(peer(1), b, NOW_MS);
            }
            BulkRoute::AntiEntropy => handle(&rt, &h.ae, b),
            BulkRoute::Foaf => {
                let _ = h.foaf.on_frame(peer(1), b, &[peer(1), peer(2)], || None, *now, NOW_MS);
            }
            BulkRoute::Rendezvous => {
                let _ = h.rendezvous.on_frame(peer(1), b, NOW_MS);
            }
            BulkRoute::Keys => match publisher_keys::decode(b) {
                Some(publisher_keys::Frame::Want(ids)) => {
                    let _ = h.keys.serve(peer(1), &ids, *now);
                }
                Some(publisher_keys::Frame::Have(keys)) => h.keys.on_have(peer(1), &keys),
                None => {}
            },
            BulkRoute::Tree => {
                if let Some(signal) = Signal::decode(b) {
                    let _ = h.trees.received(peer(1), signal);
                }
            }
            BulkRoute::AddrBook => {
                let _ = addr_book::decode(b);
            }
        }
    });
}

fn header(kind: MessageKind) -> MessageHeader {
    MessageHeader {
        version: 2,
        topic: TopicId::new([1; 32]),
        msg_id: [2; 32],
        kind,
        hop: 0,
        ttl: 10,
        payload_hash: Some([3; 32]),
    }
}

#[test]
fn decoder_fuzz_pubsub_frames() {
    let message = |kind, payload: Option<&[u8]>| GossipMessage {
        header: header(kind),
        payload: payload.map(Bytes::copy_from_slice),
        signature: vec![4; 3309],
        public_key: vec![5; 1952],
    };
    let valid = vec![
        postcard::to_allocvec(&message(MessageKind::Eager, Some(&[6; 500]))).unwrap(),
        postcard::to_allocvec(&message(MessageKind::IHave, None)).unwrap(),
        postcard::to_allocvec(&header(MessageKind::IWant)).unwrap(),
    ];
    // After version and topic: the message id; after the header (about 102
    // bytes): the payload's option tag and length varint.
    let fields = vec![(0, 1), (33, 1), (66, 1), (67, 1), (68, 1), (102, 4), (103, 4)];
    let frames = || inputs(valid.clone(), fields.clone(), vec![0, 1, 2], 6000);
    fuzz("postcard MessageHeader (topic gate)", CASES, frames(), |b| {
        let _ = Lane::of(GossipStreamType::PubSub, b);
        let _ = postcard::take_from_bytes::<MessageHeader>(b);
    });
    fuzz("postcard GossipMessage (topic gate)", CASES, frames(), |b| {
        let _ = postcard::take_from_bytes::<GossipMessage>(b);
    });
}

#[test]
fn decoder_fuzz_membership_frames() {
    let messages = [
        MembershipProtocolMessage::Swim(SwimMessage::Ping),
        MembershipProtocolMessage::HyParView(HyParViewMessage::ForwardJoin { sender: peer(1), new_peer: peer(2), ttl: 5 }),
        MembershipProtocolMessage::HyParView(HyParViewMessage::Neighbor { sender: peer(1), priority: NeighborPriority::High }),
        MembershipProtocolMessage::HyParView(HyParViewMessage::Shuffle { sender: peer(1), peers: vec![peer(3); 8], ttl: 3 }),
        MembershipProtocolMessage::HyParView(HyParViewMessage::Disconnect),
    ];
    let valid = messages.iter().map(|m| postcard::to_allocvec(m).unwrap()).collect();
    let fields = vec![(1, 1), (2, 1), (34, 1), (35, 4)];
    fuzz("postcard MembershipProtocolMessage (lanes, FORWARDJOIN)", CASES, inputs(valid, fields, vec![0, 1], 2000), |b| {
        let _ = Lane::of(GossipStreamType::Membership, b);
        let msg = postcard::from_bytes::<MembershipProtocolMessage>(b).ok();
        let _ = msg.as_ref().and_then(forward_join::forward_join);
    });
}
