//! Deterministic tests of the coordinator book: fixed clocks, real ML-DSA
//! signatures, no sockets.

use std::time::Duration;

use super::*;
use crate::coordinators::verify;
use crate::identity::AgentKeypair;
use crate::records;

const TTL: u64 = 10_000;
const T0: u64 = 1_700_000_000_000;

fn book() -> CoordinatorBook {
    CoordinatorBook::new(&CoordinatorConfig { advert_ttl: Duration::from_millis(TTL), advertise: true }).unwrap()
}

fn addrs(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn advert(keys: &AgentKeypair, list: &[&str], timestamp: u64, expires_at: u64) -> Vec<u8> {
    records::sign(keys, COORDINATOR_KIND, &body::encode(&addrs(list)), timestamp, expires_at).unwrap()
}

fn rejected(b: &CoordinatorBook, why: &str) -> u64 {
    b.stats().rejected.iter().find(|(k, _)| *k == why).map_or(0, |(_, n)| *n)
}

#[test]
fn lists_a_verified_advert_and_its_fields_verify_alone() {
    let keys = AgentKeypair::generate().unwrap();
    let mut b = book();
    let got = b.offer(&advert(&keys, &["10.0.0.1:5483"], T0, T0 + TTL), T0).unwrap();
    assert_eq!((got.peer, got.addrs.clone()), (keys.agent_id(), addrs(&["10.0.0.1:5483"])));
    assert_eq!(b.coordinators(T0), vec![got.clone()]);
    assert!(verify(&got));
    let mut moved = got.clone();
    moved.addrs.push("203.0.113.9:1".to_owned());
    assert!(!verify(&moved), "a changed address breaks the signature");
    let mut later = got;
    later.expires_at += 1;
    assert!(!verify(&later), "a changed expiry breaks the signature");
    assert_eq!(b.stats().accepted, 1);
}

#[test]
fn refuses_forgeries_expired_future_and_non_newer_adverts_and_counts_them() {
    let (keys, other) = (AgentKeypair::generate().unwrap(), AgentKeypair::generate().unwrap());
    let mut b = book();
    let first = advert(&keys, &["10.0.0.1:1"], T0, T0 + TTL);
    b.offer(&first, T0).unwrap();
    // Replays and a re-signed advert with the same timestamp are not newer.
    assert_eq!(b.offer(&first, T0 + 1), Err(AdvertRejection::Record(RecordRejection::Replayed)));
    let same_time = advert(&keys, &["10.0.0.1:2"], T0, T0 + TTL);
    assert_eq!(b.offer(&same_time, T0 + 1), Err(AdvertRejection::Record(RecordRejection::Replayed)));
    // Another key claiming the coordinator's id.
    let mut claims = advert(&other, &["198.51.100.7:9"], T0 + 5, T0 + TTL);
    claims[2..34].copy_from_slice(&keys.agent_id());
    assert_eq!(b.offer(&claims, T0 + 5), Err(AdvertRejection::Record(RecordRejection::SignerMismatch)));
    // A changed address under the genuine signature.
    let mut tampered = advert(&keys, &["10.0.0.1:3"], T0 + 6, T0 + TTL);
    let at = tampered.windows(3).position(|w| w == b":3\"").unwrap();
    tampered[at + 1] = b'4';
    assert_eq!(b.offer(&tampered, T0 + 6), Err(AdvertRejection::Record(RecordRejection::BadSignature)));
    assert_eq!(
        b.offer(&advert(&other, &[], T0 - 2 * TTL, T0 - TTL), T0),
        Err(AdvertRejection::Record(RecordRejection::Expired))
    );
    let ahead = advert(&other, &[], T0 + MAX_CLOCK_SKEW_MS + 1, T0 + MAX_CLOCK_SKEW_MS + TTL);
    assert_eq!(b.offer(&ahead, T0), Err(AdvertRejection::Record(RecordRejection::FromFuture)));
    let kind1 = records::sign(&other, 1, &body::encode(&[]), T0, T0 + TTL).unwrap();
    assert_eq!(b.offer(&kind1, T0), Err(AdvertRejection::Record(RecordRejection::WrongKind)));

    // Only the genuine first advert is listed, unchanged.
    let listed = b.coordinators(T0 + 10);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].addrs, addrs(&["10.0.0.1:1"]));
    for (why, n) in [("replayed", 2), ("signer-mismatch", 1), ("bad-signature", 1), ("expired", 1), ("from-future", 1), ("wrong-kind", 1), ("full", 0)] {
        assert_eq!(rejected(&b, why), n, "{why}");
    }
    // A newer advert replaces the listed one.
    b.offer(&advert(&keys, &["10.0.0.1:7"], T0 + 20, T0 + TTL + 20), T0 + 20).unwrap();
    assert_eq!(b.coordinators(T0 + 20)[0].addrs, addrs(&["10.0.0.1:7"]));
}

#[test]
fn adverts_drop_out_at_their_expiry_and_cannot_be_replayed_back() {
    let (a, c) = (AgentKeypair::generate().unwrap(), AgentKeypair::generate().unwrap());
    let mut b = book();
    let from_a = advert(&a, &["10.0.0.1:1"], T0, T0 + 1_000);
    b.offer(&from_a, T0).unwrap();
    b.offer(&advert(&c, &["10.0.0.2:1"], T0, T0 + 5_000), T0).unwrap();
    assert_eq!(b.next_deadline(), Some(T0 + 1_000));
    assert_eq!(b.coordinators(T0 + 999).len(), 2);
    let left: Vec<AgentId> = b.coordinators(T0 + 1_000).iter().map(|x| x.peer).collect();
    assert_eq!(left, vec![c.agent_id()]);
    assert_eq!(b.offer(&from_a, T0 + 1_000), Err(AdvertRejection::Record(RecordRejection::Expired)));
    assert!(b.coordinators(T0 + 5_000).is_empty());
    assert_eq!(b.next_deadline(), None);
}

#[test]
fn signed_but_unreadable_bodies_are_never_listed() {
    let keys = AgentKeypair::generate().unwrap();
    let mut b = book();
    b.offer(&advert(&keys, &["10.0.0.1:1"], T0, T0 + TTL), T0).unwrap();
    let junk = records::sign(&keys, COORDINATOR_KIND, b"not json", T0 + 1, T0 + TTL).unwrap();
    assert_eq!(b.offer(&junk, T0 + 1), Err(AdvertRejection::Unreadable));
    assert!(b.coordinators(T0 + 1).is_empty(), "its newest word replaces the readable one");
    // Replay protection still holds for the older, readable advert.
    assert_eq!(
        b.offer(&advert(&keys, &["10.0.0.1:1"], T0, T0 + TTL), T0 + 2),
        Err(AdvertRejection::Record(RecordRejection::Replayed))
    );
}

#[test]
fn advertises_at_start_then_every_half_ttl_with_increasing_timestamps() {
    let mut b = book();
    assert!(!b.poll(T0), "nothing due before advertising starts");
    assert!(b.start_advertising(T0));
    assert!(!b.start_advertising(T0 + 1), "idempotent");
    assert_eq!(b.next_deadline(), Some(T0 + TTL / 2));
    assert!(!b.poll(T0 + TTL / 2 - 1));
    assert!(b.poll(T0 + TTL / 2));
    assert!(!b.poll(T0 + TTL / 2));
    // A stall past several periods gives one advert, then the cadence resumes.
    assert!(b.poll(T0 + 5 * TTL));
    assert!(!b.poll(T0 + 5 * TTL + 1));
    assert_eq!(b.next_deadline(), Some(T0 + 5 * TTL + TTL / 2));
    // Two plans in the same millisecond still differ, so neither is a replay.
    let (p1, p2) = (b.plan(&addrs(&["10.0.0.1:1"]), T0), b.plan(&addrs(&["10.0.0.1:1"]), T0));
    assert_eq!((p1.timestamp, p2.timestamp), (T0, T0 + 1));
    assert_eq!(p2.expires_at, T0 + 1 + TTL);
    assert_eq!(p1.body, body::encode(&addrs(&["10.0.0.1:1"])));
    b.stop_advertising();
    assert!(!b.advertising() && !b.poll(T0 + 100 * TTL));
}

#[test]
fn short_ttls_still_readvertise_at_most_every_500_ms() {
    let mut b = CoordinatorBook::new(&CoordinatorConfig { advert_ttl: Duration::from_millis(1_000), advertise: true }).unwrap();
    assert_eq!(b.period_ms(), 500);
    b.start_advertising(T0);
    assert_eq!(b.next_deadline(), Some(T0 + 500));
    for bad in [0, 999, 604_800_001] {
        let config = CoordinatorConfig { advert_ttl: Duration::from_millis(bad), advertise: false };
        assert!(CoordinatorBook::new(&config).is_err(), "{bad} ms");
    }
}

#[test]
fn a_full_book_refuses_new_coordinators_but_renews_listed_ones() {
    let mut b = book();
    let keys: Vec<AgentKeypair> = (0..=MAX_COORDINATORS).map(|_| AgentKeypair::generate().unwrap()).collect();
    for k in &keys[..MAX_COORDINATORS] {
        b.offer(&advert(k, &["10.0.0.1:1"], T0, T0 + TTL), T0).unwrap();
    }
    let newcomer = advert(&keys[MAX_COORDINATORS], &["10.0.0.9:1"], T0, T0 + TTL);
    assert_eq!(b.offer(&newcomer, T0), Err(AdvertRejection::Full));
    assert_eq!(rejected(&b, "full"), 1);
    b.offer(&advert(&keys[0], &["10.0.0.1:2"], T0 + 1, T0 + TTL + 1), T0 + 1).unwrap();
    // Once the others expire there is room again.
    assert!(b.offer(&advert(&keys[MAX_COORDINATORS], &["10.0.0.9:1"], T0 + TTL, T0 + 2 * TTL), T0 + TTL).is_ok());
    assert_eq!(b.coordinators(T0 + TTL).len(), 2);
}

#[test]
fn takes_a_week_long_advert_and_refuses_one_that_asks_for_longer() {
    let (week, longer) = (AgentKeypair::generate().unwrap(), AgentKeypair::generate().unwrap());
    let mut b = book();
    let max = u64::try_from(crate::coordinators::MAX_TTL.as_millis()).unwrap();
    assert!(b.offer(&advert(&week, &[], T0, T0 + max), T0).is_ok(), "the longest coordinatorAdvertTtl is honest");
    let forever = advert(&longer, &[], T0, u64::MAX);
    assert_eq!(b.offer(&forever, T0), Err(AdvertRejection::Record(RecordRejection::TooLong)));
    assert_eq!(rejected(&b, "too-long"), 1);
}
