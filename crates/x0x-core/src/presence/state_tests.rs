//! Deterministic tests of the presence state machine: fixed clocks, a fixed
//! jitter seed, real ML-DSA signatures, no sockets.

use std::time::Duration;

use super::*;
use crate::presence::BODY_BLOCK;
use crate::identity::AgentKeypair;
use crate::records;

const TTL: u64 = 10_000;
const T0: u64 = 1_700_000_000_000;

fn config(key: Option<u8>) -> PresenceConfig {
    PresenceConfig { beacon_ttl: Duration::from_millis(TTL), group_key: key.map(|b| [b; 32]) }
}

fn book(key: Option<u8>) -> PresenceBook {
    PresenceBook::new(&config(key), 7).unwrap()
}

/// An agent: its key pair and its own presence state.
struct Peer {
    keys: AgentKeypair,
    book: PresenceBook,
}

impl Peer {
    fn new(key: Option<u8>) -> Self {
        Self { keys: AgentKeypair::generate().unwrap(), book: book(key) }
    }

    fn id(&self) -> AgentId {
        self.keys.agent_id()
    }

    fn beacon(&mut self, state: BeaconState, now: u64) -> Vec<u8> {
        let plan = self.book.plan(state, &["10.0.0.1:5483".to_owned()], now).unwrap();
        self.signed(&plan.body, plan.timestamp, plan.expires_at)
    }

    fn signed(&mut self, body: &[u8], timestamp: u64, expires_at: u64) -> Vec<u8> {
        let record = records::sign(&self.keys, PRESENCE_KIND, body, timestamp, expires_at).unwrap();
        self.book.frame(&record, [timestamp as u8; 12]).unwrap()
    }
}

fn online(agent: AgentId, at_ms: u64) -> Option<PresenceEvent> {
    Some(PresenceEvent::Online { agent, at_ms })
}

fn offline(agent: AgentId, at_ms: u64) -> PresenceEvent {
    PresenceEvent::Offline { agent, at_ms }
}

#[test]
fn beacons_at_start_then_every_half_ttl_keeping_the_cadence() {
    let mut b = book(None);
    assert!(!b.running());
    assert_eq!(b.poll(T0), (false, vec![]), "no beacons before start");
    assert_eq!(b.next_deadline(), None);
    assert!(b.start(T0));
    assert!(!b.start(T0), "start is idempotent");
    assert_eq!(b.next_deadline(), Some(T0 + TTL / 2));
    assert!(!b.poll(T0 + TTL / 2 - 1).0);
    // A late wake-up keeps the cadence: the next round is still T0 + TTL.
    assert!(b.poll(T0 + TTL / 2 + 300).0);
    assert_eq!(b.next_deadline(), Some(T0 + TTL));
    assert!(!b.poll(T0 + TTL - 1).0);
    // A long stall gives one beacon, not one per missed round.
    assert!(b.poll(T0 + 10 * TTL).0);
    assert!(!b.poll(T0 + 10 * TTL).0);
    assert_eq!(b.next_deadline(), Some(T0 + 10 * TTL + TTL / 2));
}

#[test]
fn timestamps_strictly_increase_and_expiry_is_timestamp_plus_ttl() {
    let mut b = book(None);
    let p1 = b.plan(BeaconState::Online, &[], T0).unwrap();
    let p2 = b.plan(BeaconState::Online, &[], T0).unwrap();
    let p3 = b.plan(BeaconState::Online, &[], T0 - 5_000).unwrap();
    assert_eq!((p1.timestamp, p2.timestamp, p3.timestamp), (T0, T0 + 1, T0 + 2));
    assert_eq!(p1.expires_at, T0 + TTL);
    assert_eq!(p1.body.len() % BODY_BLOCK, 0);
}

#[test]
fn a_valid_beacon_brings_an_agent_online_until_it_expires() {
    let (mut me, mut other) = (book(None), Peer::new(None));
    let frame = other.beacon(BeaconState::Online, T0);
    assert_eq!(me.receive(&frame, T0 + 5), online(other.id(), T0 + 5));
    let listed = me.online();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].addrs, ["10.0.0.1:5483"]);
    assert_eq!((listed[0].last_seen_ms, listed[0].expires_at_ms), (T0 + 5, T0 + TTL));
    assert_eq!(me.next_deadline(), Some(T0 + TTL), "wakes for the expiry");
    // A newer beacon refreshes it without a second online event.
    let newer = other.beacon(BeaconState::Online, T0 + 3_000);
    assert_eq!(me.receive(&newer, T0 + 3_000), None);
    assert_eq!(me.online()[0].expires_at_ms, T0 + 3_000 + TTL);
    assert_eq!(me.expire(T0 + 3_000 + TTL - 1), vec![]);
    assert_eq!(me.poll(T0 + 3_000 + TTL), (false, vec![offline(other.id(), T0 + 3_000 + TTL)]));
    assert!(me.online().is_empty());
    let s = me.stats();
    assert_eq!((s.beacons_received, s.online, s.replays_dropped, s.invalid_dropped), (2, 0, 0, 0));
}

#[test]
fn replays_and_beacons_from_the_future_are_dropped_and_counted() {
    let (mut me, mut other) = (book(None), Peer::new(None));
    let first = other.beacon(BeaconState::Online, T0);
    let second = other.beacon(BeaconState::Online, T0 + 1_000);
    assert!(me.receive(&second, T0 + 1_000).is_some());
    assert_eq!(me.receive(&second, T0 + 1_001), None, "the same beacon again");
    assert_eq!(me.receive(&first, T0 + 1_001), None, "an older beacon");
    let body = body::encode(BeaconState::Online, &[]);
    let ahead = other.signed(&body, T0 + 1_000 + MAX_CLOCK_SKEW_MS + 1, T0 + 200_000);
    assert_eq!(me.receive(&ahead, T0 + 1_000), None, "more than 60 s ahead");
    let at_limit = other.signed(&body, T0 + 1_000 + MAX_CLOCK_SKEW_MS, T0 + 200_000);
    assert_eq!(me.receive(&at_limit, T0 + 1_000), None, "60 s ahead is accepted, as a refresh");
    let s = me.stats();
    assert_eq!((s.beacons_received, s.replays_dropped, s.invalid_dropped), (2, 3, 0));
}

#[test]
fn forged_expired_and_unreadable_beacons_are_invalid() {
    let (mut me, mut other) = (book(None), Peer::new(None));
    let mut forged = other.beacon(BeaconState::Online, T0);
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_eq!(me.receive(&forged, T0), None, "bad signature");
    let expired = other.signed(&body::encode(BeaconState::Online, &[]), T0 - 2_000, T0 - 1);
    assert_eq!(me.receive(&expired, T0), None, "expired");
    assert_eq!(me.receive(&[seal::PLAIN, 1, 2, 3], T0), None, "not a record");
    assert_eq!(me.receive(&[0x7f], T0), None, "unknown frame type");
    let junk = other.signed(b"not json", T0 + 1, T0 + TTL);
    assert_eq!(me.receive(&junk, T0 + 1), None, "signed but unreadable body");
    assert!(me.online().is_empty());
    let s = me.stats();
    assert_eq!((s.beacons_received, s.invalid_dropped, s.replays_dropped), (1, 5, 0));
}

#[test]
fn an_offline_beacon_is_seen_at_once_and_older_beacons_cannot_undo_it() {
    let (mut me, mut other) = (book(None), Peer::new(None));
    let hello = other.beacon(BeaconState::Online, T0);
    assert!(other.book.start(T0));
    assert!(me.receive(&hello, T0).is_some());
    let bye = other.beacon(BeaconState::Offline, T0 + 10);
    assert_eq!(me.receive(&bye, T0 + 20), Some(offline(other.id(), T0 + 20)));
    assert_eq!(me.receive(&hello, T0 + 30), None, "a replayed hello stays a replay");
    assert!(me.online().is_empty());
    assert_eq!(me.next_deadline(), None);
}

#[test]
fn the_goodbye_is_the_last_beacon_and_only_after_a_start() {
    let mut idle = book(None);
    assert_eq!(idle.plan(BeaconState::Offline, &[], T0), None, "never started: no goodbye");
    assert!(!idle.start(T0), "and no start after stop");

    let mut b = book(None);
    b.start(T0);
    let bye = b.plan(BeaconState::Offline, &[], T0 + 1).unwrap();
    assert_eq!(body::decode(&bye.body), Some((BeaconState::Offline, vec![])));
    assert!(!b.running());
    assert_eq!(b.plan(BeaconState::Online, &[], T0 + 2), None);
    assert_eq!(b.plan(BeaconState::Offline, &[], T0 + 2), None, "one goodbye");
    assert_eq!(b.poll(T0 + 10 * TTL), (false, vec![]));
    assert_eq!(b.next_deadline(), None);
}

#[test]
fn a_newcomer_gets_one_answer_soon_and_answers_are_spaced() {
    let mut me = book(None);
    let (mut a, mut b, mut c) = (Peer::new(None), Peer::new(None), Peer::new(None));
    // Not started: newcomers are listed but not answered.
    assert!(me.receive(&a.beacon(BeaconState::Online, T0), T0).is_some());
    assert_eq!(me.next_deadline(), Some(T0 + TTL));

    me.start(T0);
    let t1 = T0 + 100;
    assert!(me.receive(&b.beacon(BeaconState::Online, t1), t1).is_some());
    let answer = me.next_deadline().unwrap();
    assert!((t1..t1 + ANSWER_JITTER_MS).contains(&answer), "answer at {}", answer - t1);
    // A second newcomer before the answer went out shares it.
    assert!(me.receive(&c.beacon(BeaconState::Online, t1), t1).is_some());
    assert_eq!(me.next_deadline(), Some(answer));
    assert!(!me.poll(answer - 1).0);
    assert!(me.poll(answer).0);
    assert!(!me.poll(answer).0);
    assert_eq!(me.next_deadline(), Some(T0 + TTL / 2), "back to the round");

    // The next newcomer, right after: answered no sooner than a second later.
    let mut d = Peer::new(None);
    assert!(me.receive(&d.beacon(BeaconState::Online, answer + 10), answer + 10).is_some());
    let next = me.next_deadline().unwrap();
    assert!((answer + ANSWER_SPACING_MS..answer + ANSWER_SPACING_MS + ANSWER_JITTER_MS).contains(&next));
    // A known agent's refresh is no newcomer.
    me.poll(next);
    assert!(me.receive(&b.beacon(BeaconState::Online, next + 1), next + 1).is_none());
    assert_eq!(me.next_deadline(), Some(T0 + TTL / 2));
}

#[test]
fn a_round_and_an_answer_due_together_make_one_beacon() {
    let mut me = book(None);
    let mut other = Peer::new(None);
    me.start(T0);
    let round = T0 + TTL / 2;
    assert!(me.receive(&other.beacon(BeaconState::Online, round), round).is_some());
    assert!(me.poll(round + ANSWER_JITTER_MS).0);
    assert!(!me.poll(round + ANSWER_JITTER_MS).0);
    assert_eq!(me.next_deadline(), Some(T0 + TTL));
}

#[test]
fn only_agents_with_the_same_group_key_read_each_other() {
    let mut me = book(Some(1));
    let (mut same, mut other, mut clear) = (Peer::new(Some(1)), Peer::new(Some(2)), Peer::new(None));
    let sealed = same.beacon(BeaconState::Online, T0);
    assert_eq!(sealed[0], seal::SEALED);
    assert!(!sealed.windows(32).any(|w| w == same.id()), "the signer id is hidden");
    assert_eq!(me.receive(&other.beacon(BeaconState::Online, T0), T0), None);
    assert_eq!(me.receive(&clear.beacon(BeaconState::Online, T0), T0), None);
    assert_eq!(me.receive(&sealed, T0), online(same.id(), T0));
    let mut tampered = same.beacon(BeaconState::Online, T0 + 1);
    tampered[20] ^= 1;
    assert_eq!(me.receive(&tampered, T0 + 1), None);
    let s = me.stats();
    assert_eq!(
        (s.beacons_received, s.decrypt_failures, s.plaintext_ignored, s.invalid_dropped),
        (1, 2, 1, 0)
    );

    let mut keyless = book(None);
    assert_eq!(keyless.receive(&sealed, T0), None);
    assert_eq!(keyless.stats().decrypt_failures, 1);
}

#[test]
fn sent_beacons_are_counted_and_the_ttl_range_is_enforced() {
    let mut p = Peer::new(None);
    p.beacon(BeaconState::Online, T0);
    p.beacon(BeaconState::Online, T0);
    assert_eq!(p.book.stats().beacons_sent, 2);
    for ms in [999, 86_400_001] {
        let c = PresenceConfig { beacon_ttl: Duration::from_millis(ms), group_key: None };
        assert!(PresenceBook::new(&c, 0).is_err(), "{ms} ms");
    }
}
