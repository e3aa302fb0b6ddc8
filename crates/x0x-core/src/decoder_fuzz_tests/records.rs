//! Signed records and what travels inside them: the record codec, address
//! records, presence beacons (seal, body, book) and coordinator adverts.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use super::mutate::inputs;
use super::{fuzz, fuzz_with, CASES};
use crate::addr_record;
use crate::coordinators::{body as advert_body, CoordinatorBook, CoordinatorConfig, COORDINATOR_KIND};
use crate::identity::{AgentKeypair, PUBLIC_KEY_LEN};
use crate::presence::seal::{self, BeaconKey, PLAIN, SEALED};
use crate::presence::{body as beacon_body, BeaconState, PresenceBook, PresenceConfig, PRESENCE_KIND};
use crate::records::{self, MAX_BODY_BYTES, RECORD_OVERHEAD};

/// Signing is slow; one key serves every test.
pub fn keypair() -> &'static AgentKeypair {
    static KEY: OnceLock<AgentKeypair> = OnceLock::new();
    KEY.get_or_init(|| AgentKeypair::generate().unwrap())
}

/// "Now" for every time check, with valid encodings dated around it.
pub const NOW_MS: u64 = 1_000_000;

const GROUP_KEY: [u8; 32] = [5; 32];

/// Record fields worth setting to huge values: timestamp, expiry, body length.
const RECORD_FIELDS: [(usize, usize); 3] = [(34, 8), (42, 8), (50, 2)];

fn addrs(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("203.0.113.{}:{}", i % 256, 1000 + i)).collect()
}

pub fn socket_addrs(n: usize) -> Vec<SocketAddr> {
    (0..n)
        .map(|i| if i % 2 == 0 { format!("10.0.0.{i}:{}", 1000 + i) } else { format!("[::{i}]:{}", 1000 + i) })
        .map(|s| s.parse().unwrap())
        .collect()
}

/// Valid signed records of `kind` carrying `bodies`.
fn signed(kind: u8, bodies: &[Vec<u8>]) -> Vec<Vec<u8>> {
    bodies.iter().map(|b| records::sign(keypair(), kind, b, NOW_MS, NOW_MS + 60_000).unwrap()).collect()
}

fn beacon_bodies() -> Vec<Vec<u8>> {
    vec![
        beacon_body::encode(BeaconState::Online, &addrs(2)),
        beacon_body::encode(BeaconState::Offline, &[]),
        beacon_body::encode(BeaconState::Online, &addrs(400)),
    ]
}

#[test]
fn decoder_fuzz_record_codec() {
    let valid = signed(7, &[b"{}".to_vec(), vec![0xAB; 300], Vec::new(), vec![1; MAX_BODY_BYTES]]);
    let max = RECORD_OVERHEAD + MAX_BODY_BYTES + 64;
    fuzz("records::decode + verify", CASES, inputs(valid, RECORD_FIELDS.to_vec(), vec![1], max), |b| {
        if let Ok(r) = records::decode(b) {
            let _ = r.verify();
        }
    });
}

#[test]
fn decoder_fuzz_addr_record() {
    let kp = keypair();
    let valid: Vec<Vec<u8>> = [0, 2, addr_record::MAX_ADDRS]
        .iter()
        .map(|n| addr_record::sign(kp, &socket_addrs(*n), NOW_MS, 60_000).unwrap())
        .collect();
    let at = 1 + PUBLIC_KEY_LEN;
    let fields = vec![(at, 8), (at + 8, 8), (at + 16, 1), (at + 17, 1)];
    let max = addr_record::MAX_RECORD_BYTES + 64;
    fuzz("addr_record::open / verify_for", CASES, inputs(valid, fields, vec![1], max), |b| {
        let _ = addr_record::open(b, NOW_MS);
        let _ = addr_record::verify_for(b, &kp.agent_id(), NOW_MS);
    });
}

#[test]
fn decoder_fuzz_advert_body() {
    let valid = vec![advert_body::encode(&addrs(2)), advert_body::encode_fitting(&addrs(1000)), advert_body::encode(&[])];
    fuzz("coordinators::body::decode", CASES, inputs(valid, vec![], vec![b'{', b'['], 5000), |b| {
        let _ = advert_body::decode(b);
    });
}

#[test]
fn decoder_fuzz_beacon_body() {
    fuzz("presence::body::decode", CASES, inputs(beacon_bodies(), vec![], vec![b'{', b'"'], 5000), |b| {
        let _ = beacon_body::decode(b);
    });
}

/// Plain and sealed beacon frames around the valid beacon records.
fn beacon_frames(key: &BeaconKey) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    for (i, record) in signed(PRESENCE_KIND, &beacon_bodies()).iter().enumerate() {
        frames.push(seal::seal(record, None, [0; 12]).unwrap());
        frames.push(seal::seal(record, Some(key), [i as u8; 12]).unwrap());
    }
    frames
}

#[test]
fn decoder_fuzz_beacon_seal() {
    let key = BeaconKey::derive(&GROUP_KEY).unwrap();
    let max = 1 + 12 + 16 + RECORD_OVERHEAD + MAX_BODY_BYTES + 64;
    let frames = || inputs(beacon_frames(&key), RECORD_FIELDS.iter().map(|(at, w)| (at + 1, *w)).collect(), vec![PLAIN, SEALED], max);
    fuzz("presence::seal::open (no key)", CASES, frames(), |b| {
        let _ = seal::open(b, None);
    });
    fuzz("presence::seal::open (group key)", CASES, frames(), |b| {
        let _ = seal::open(b, Some(&key));
    });
}

/// The whole receive path of a beacon: open, record, book, body.
#[test]
fn decoder_fuzz_presence_book() {
    let key = BeaconKey::derive(&GROUP_KEY).unwrap();
    let max = 1 + 12 + 16 + RECORD_OVERHEAD + MAX_BODY_BYTES + 64;
    for group_key in [None, Some(GROUP_KEY)] {
        let config = PresenceConfig { beacon_ttl: Duration::from_secs(60), group_key };
        let name = if group_key.is_some() { "PresenceBook::receive (group key)" } else { "PresenceBook::receive (no key)" };
        let frames = inputs(beacon_frames(&key), vec![], vec![PLAIN, SEALED], max);
        // A fresh book per case, so that none is a replay of an earlier one.
        fuzz_with(name, CASES, frames, |_| PresenceBook::new(&config, 1).unwrap(), |book, b| {
            let _ = book.receive(b, NOW_MS);
        });
    }
}

#[test]
fn decoder_fuzz_coordinator_book() {
    let bodies = vec![advert_body::encode(&addrs(2)), advert_body::encode_fitting(&addrs(1000)), b"junk".to_vec()];
    let valid = signed(COORDINATOR_KIND, &bodies);
    let config = CoordinatorConfig { advert_ttl: Duration::from_secs(60), advertise: false };
    let max = RECORD_OVERHEAD + MAX_BODY_BYTES + 64;
    let adverts = inputs(valid, RECORD_FIELDS.to_vec(), vec![1], max);
    fuzz_with("CoordinatorBook::offer", CASES, adverts, |_| CoordinatorBook::new(&config).unwrap(), |book, b| {
        let _ = book.offer(b, NOW_MS);
    });
}
