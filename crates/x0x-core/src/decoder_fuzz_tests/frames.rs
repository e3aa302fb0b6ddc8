//! Bulk-stream protocols outside anti-entropy: address announcements, topic
//! interest, FOAF, rendezvous and the flood, plus the message envelope that
//! pub/sub and anti-entropy frames carry. Stateful handlers get a fresh state
//! per case (see [`fuzz_with`]).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use saorsa_gossip_types::{PeerId, TopicId};

use super::mutate::inputs;
use super::records::{keypair, socket_addrs, NOW_MS};
use super::{fuzz, fuzz_with, CASES};
use crate::addr_record::{self, MAX_RECORD_BYTES};
use crate::envelope::{self, ENVELOPE_OVERHEAD};
use crate::publisher_keys;
use crate::flood::{self, Flood};
use crate::foaf::{self, Foaf, QueryId};
use crate::identity::{AgentKeypair, PUBLIC_KEY_LEN};
use crate::presence::seal;
use crate::records;
use crate::rendezvous::{self, Rendezvous};
use crate::topic_interest::{self, TopicInterest};
use crate::{addr_book, MAX_PAYLOAD_BYTES};

/// A second agent, the target of FOAF queries and rendezvous lookups.
fn other() -> &'static AgentKeypair {
    static KEY: OnceLock<AgentKeypair> = OnceLock::new();
    KEY.get_or_init(|| AgentKeypair::generate().unwrap())
}

fn peer(n: u8) -> PeerId {
    PeerId::new([n; 32])
}

#[test]
fn decoder_fuzz_addr_book() {
    let entries = |n: usize| -> Vec<(PeerId, std::net::SocketAddr)> {
        socket_addrs(n).into_iter().enumerate().map(|(i, a)| (peer(i as u8), a)).collect()
    };
    let valid = vec![addr_book::encode(&entries(0)), addr_book::encode(&entries(3)), addr_book::encode(&entries(64))];
    fuzz("addr_book::decode", CASES, inputs(valid, vec![(1, 1), (34, 1)], vec![addr_book::TAG], 4000), |b| {
        let _ = addr_book::decode(b);
    });
}

#[test]
fn decoder_fuzz_topic_interest() {
    let topics = |n: usize| -> Vec<TopicId> { (0..n).map(|i| TopicId::from_entity(format!("t{i}"))).collect() };
    let valid: Vec<Vec<u8>> = [0, 3, topic_interest::MAX_TOPICS].iter().map(|n| topic_interest::encode(7, &topics(*n))).collect();
    let fields = vec![(1, 8), (9, 2)];
    let frames = || inputs(valid.clone(), fields.clone(), vec![topic_interest::TAG], 40_000);
    fuzz("topic_interest::decode", CASES, frames(), |b| {
        let _ = topic_interest::decode(b);
    });
    fuzz_with("TopicInterest::on_frame", CASES, frames(), |_| TopicInterest::default(), |interest, b| {
        let _ = interest.on_frame(peer(1), b);
    });
}

#[test]
fn decoder_fuzz_envelope() {
    let topic = TopicId::from_entity("news");
    let valid: Vec<Vec<u8>> =
        [0, 100, 5000].iter().map(|n| envelope::seal(keypair(), &topic, &vec![7u8; *n], NOW_MS).unwrap().0).collect();
    // Published-at, then the payload length.
    let at = 1 + 32 + 16;
    let max = ENVELOPE_OVERHEAD + 6000;
    fuzz("envelope::open + verify", CASES, inputs(valid, vec![(at, 8), (at + 8, 4)], vec![1], max), |b| {
        if let Ok(opened) = envelope::open(b, &topic, MAX_PAYLOAD_BYTES) {
            let _ = opened.verify(&crate::identity::PublicKey::new(keypair().public_key()));
        }
    });
}

#[test]
fn decoder_fuzz_publisher_keys() {
    let keys = vec![crate::identity::PublicKey::new(keypair().public_key())];
    let valid = vec![publisher_keys::encode_want(&[[3u8; 32], [4u8; 32]]), publisher_keys::encode_have(&keys)];
    // The count byte.
    let max = 2 + 17 * PUBLIC_KEY_LEN;
    fuzz("publisher_keys::decode", CASES, inputs(valid, vec![(1, 1)], vec![publisher_keys::WANT_TAG, publisher_keys::HAVE_TAG], max), |b| {
        if let Some(publisher_keys::Frame::Have(keys)) = publisher_keys::decode(b) {
            assert!(keys.iter().all(|k| k.len() == PUBLIC_KEY_LEN));
        }
    });
}

/// Placeholder query ids in valid FOAF replies, swapped for the live ids of
/// each case's pending query and reverse route when left intact.
const PENDING_ID: QueryId = [0xAA; 16];
const ROUTED_ID: QueryId = [0xBB; 16];

struct FoafCase {
    foaf: Foaf,
    frame: Vec<u8>,
    now: Instant,
    _answer: tokio::sync::oneshot::Receiver<crate::AddrRecord>,
}

fn query(id: QueryId, ttl: u8, lifetime_ms: u32, target: &[u8; 32]) -> Vec<u8> {
    let mut q = vec![foaf::QUERY_TAG];
    q.extend_from_slice(&id);
    q.push(ttl);
    q.extend_from_slice(&lifetime_ms.to_le_bytes());
    q.extend_from_slice(target);
    q
}

/// A FOAF node (agent `keypair()`) waiting for an answer about `other()`
/// and relaying another query about it, with `input` patched to use those
/// queries' ids.
fn foaf_case(input: &[u8]) -> FoafCase {
    let now = Instant::now();
    let foaf = Foaf::new(keypair().agent_id(), 3, 3);
    let target = other().agent_id();
    let (pending, answer, _) = foaf.start(target, Duration::from_secs(30), &[], now);
    let routed: QueryId = rand::random();
    let relayed = query(routed, 3, 30_000, &target);
    foaf.on_frame(peer(1), &relayed, &[peer(1), peer(2)], || None, now, NOW_MS);
    let mut frame = input.to_vec();
    if let Some(id) = frame.get_mut(1..17) {
        if id == PENDING_ID {
            id.copy_from_slice(&pending);
        } else if id == ROUTED_ID {
            id.copy_from_slice(&routed);
        }
    }
    FoafCase { foaf, frame, now, _answer: answer }
}

#[test]
fn decoder_fuzz_foaf() {
    let me = keypair().agent_id();
    let record = addr_record::sign(other(), &socket_addrs(3), NOW_MS, 60_000).unwrap();
    let own = addr_record::sign(keypair(), &socket_addrs(2), NOW_MS, 60_000).unwrap();
    let reply = |id: &QueryId| [&[foaf::REPLY_TAG][..], id, &record].concat();
    let valid = vec![
        query([1; 16], 3, 5000, &me),
        query([2; 16], 2, 5000, &other().agent_id()),
        reply(&PENDING_ID),
        reply(&ROUTED_ID),
        [&[foaf::SEEN_TAG][..], &ROUTED_ID].concat(),
        [&[foaf::SEEN_TAG][..], &PENDING_ID].concat(),
    ];
    // TTL and lifetime of a query; the address count of a reply's record.
    let fields = vec![(17, 1), (18, 4), (17 + 1 + PUBLIC_KEY_LEN + 16, 1)];
    let max = 17 + MAX_RECORD_BYTES + 64;
    let frames = inputs(valid, fields, vec![foaf::QUERY_TAG, foaf::REPLY_TAG, foaf::SEEN_TAG], max);
    fuzz_with("Foaf::on_frame", CASES, frames, foaf_case, |case, _| {
        let neighbours = [peer(1), peer(2), peer(3)];
        let _ = case.foaf.on_frame(peer(2), &case.frame, &neighbours, || Some(own.clone()), case.now, NOW_MS);
    });
}

/// Placeholder request id in valid rendezvous answers, swapped for the live
/// id of each case's pending request when left intact.
const PENDING_REQ: u64 = 0xAAAA_AAAA_AAAA_AAAA;

struct RendezvousCase {
    rendezvous: Rendezvous,
    frame: Vec<u8>,
    _answer: tokio::sync::oneshot::Receiver<rendezvous::Answer>,
}

fn rendezvous_frame(tag: u8, req: u64, body: &[u8]) -> Vec<u8> {
    [&[tag][..], &req.to_le_bytes(), body].concat()
}

/// A holder of `other()`'s record with a lookup of its own in flight to
/// peer 2, with `input` patched to answer it.
fn rendezvous_case(held: &[u8], input: &[u8]) -> RendezvousCase {
    let rendezvous = Rendezvous::new();
    rendezvous.hold(held, NOW_MS);
    let target = other().agent_id();
    let (req, _, answer) = rendezvous.request(peer(2), rendezvous::Request::Lookup(&target)).unwrap();
    let mut frame = input.to_vec();
    if let Some(id) = frame.get_mut(1..9) {
        if id == PENDING_REQ.to_le_bytes() {
            id.copy_from_slice(&req.to_le_bytes());
        }
    }
    RendezvousCase { rendezvous, frame, _answer: answer }
}

#[test]
fn decoder_fuzz_rendezvous() {
    let record = addr_record::sign(other(), &socket_addrs(2), NOW_MS, 60_000).unwrap();
    let newer = addr_record::sign(other(), &socket_addrs(16), NOW_MS + 1, 60_000).unwrap();
    let valid = vec![
        rendezvous_frame(rendezvous::STORE_TAG, 1, &newer),
        rendezvous_frame(rendezvous::STORE_ACK_TAG, PENDING_REQ, &[0]),
        rendezvous_frame(rendezvous::LOOKUP_TAG, 2, &other().agent_id()),
        rendezvous_frame(rendezvous::LOOKUP_REPLY_TAG, PENDING_REQ, &record),
        rendezvous_frame(rendezvous::LOOKUP_REPLY_TAG, PENDING_REQ, &[]),
    ];
    let at = 9 + 1 + PUBLIC_KEY_LEN;
    let fields = vec![(1, 8), (at, 8), (at + 8, 8), (at + 16, 1)];
    let max = 9 + MAX_RECORD_BYTES + 64;
    let tags: Vec<u8> = (rendezvous::STORE_TAG..=rendezvous::LOOKUP_REPLY_TAG).collect();
    let frames = || inputs(valid.clone(), fields.clone(), tags.clone(), max);
    fuzz_with("Rendezvous::on_frame", CASES, frames(), |b| rendezvous_case(&record, b), |case, _| {
        let _ = case.rendezvous.on_frame(peer(2), &case.frame, NOW_MS);
    });
    // A lookup's answers, as the client weighs them.
    let answers = inputs(vec![record.clone(), newer.clone()], fields.iter().map(|(at, w)| (at - 9, *w)).collect(), vec![1], max);
    fuzz("rendezvous::newest", CASES, answers, |b| {
        let _ = rendezvous::newest(&other().agent_id(), &[b.to_vec()], NOW_MS);
    });
}

#[test]
fn decoder_fuzz_flood() {
    let key = seal::BeaconKey::derive(&[9; 32]).unwrap();
    let record = records::sign(keypair(), 1, b"{}", NOW_MS, NOW_MS + 60_000).unwrap();
    let framed = |payload: Vec<u8>| [&[flood::TAG][..], &payload].concat();
    let valid = vec![
        framed(seal::seal(&record, None, [0; 12]).unwrap()),
        framed(seal::seal(&record, Some(&key), [1; 12]).unwrap()),
        framed(vec![0x55; 100]),
    ];
    // The plaintext record's timestamp, expiry and body length.
    let fields = vec![(2 + 34, 8), (2 + 42, 8), (2 + 50, 2)];
    let frames = inputs(valid, fields, vec![flood::TAG], 1 + flood::MAX_PAYLOAD_BYTES + 64);
    fuzz_with("Flood::receive", CASES, frames, |_| Flood::default(), |flood, b| {
        let _ = flood.receive(peer(1), b, NOW_MS);
    });
}
