//! Anti-entropy: the frame codec, the IBLT messages inside it (decoded with
//! the limits x0x uses), and the whole frame handler over a host with no
//! network.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use saorsa_gossip_types::PeerId;
use x0x_iblt::{AmsSketch, Config, Limits, Reconciler, Request, Response, DEFAULT_AMS_COUNTERS};

use super::mutate::inputs;
use super::{fuzz, fuzz_with, CASES};
use crate::ae_wire as wire;
use crate::anti_entropy::{self, reconcile_config, AntiEntropy, Host};
use crate::envelope::MessageId;

pub const TOPIC: &str = "t";

fn ids(n: u8) -> Vec<MessageId> {
    (0..n).map(|i| [i; 32]).collect()
}

/// Valid reconciliation requests and responses, as x0x sends them.
fn reconcile_messages() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let config = reconcile_config();
    let (_, ams) = Reconciler::start(config.clone(), &ids(20));
    let strata_config = Config { limits: config.limits, ..Config::strata() };
    let (_, strata) = Reconciler::start(strata_config, &ids(20));
    let extend = Request::Extend { k: 4, seed: 1, cells: 64 };
    let resolve = Request::Resolve { seed: 1, fingerprints: vec![1, 2, u64::MAX] };
    let requests = [ams, strata, extend, Request::FullList, resolve];
    let mut responses = Vec::new();
    for (request, local) in requests.iter().zip([ids(40), ids(0), ids(200), ids(3), ids(50)]) {
        if let Ok(r) = Reconciler::on_request(&config, &local, request) {
            responses.push(r.to_bytes());
        }
    }
    (requests.iter().map(Request::to_bytes).collect(), responses)
}

/// Valid anti-entropy frames of every kind.
pub fn valid_frames() -> Vec<Vec<u8>> {
    let (requests, responses) = reconcile_messages();
    let mut frames = vec![
        wire::request(1, wire::KIND_SKETCH, TOPIC, &7u64.to_le_bytes()),
        wire::request(2, wire::KIND_FETCH, TOPIC, &wire::encode_ids(&ids(3))),
        wire::request(2, wire::KIND_FETCH_FINGERPRINTS, TOPIC, &wire::encode_fingerprints(9, &[1, 2, 3])),
        wire::response(3, wire::STATUS_OK, &wire::sketch_answer(5, &AmsSketch::from_ids(&ids(5), DEFAULT_AMS_COUNTERS, 7).unwrap().to_bytes())),
        wire::response(4, wire::STATUS_NO_TOPIC, &[]),
        wire::push(TOPIC, &wire::encode_list(&[b"ab".as_slice(), &[0u8; 300], b""])),
    ];
    frames.extend(requests.iter().map(|r| wire::request(5, wire::KIND_RECONCILE, TOPIC, r)));
    frames.extend(responses.iter().map(|r| wire::response(6, wire::STATUS_OK, r)));
    frames
}

/// Request header (req, kind, topic length) and push header (topic length,
/// list count, first entry length) fields.
fn frame_fields() -> Vec<(usize, usize)> {
    vec![(1, 8), (9, 1), (10, 2), (1, 2), (4, 4), (8, 4), (12, 4), (13, 8)]
}

#[test]
fn decoder_fuzz_ae_wire() {
    let frames = || inputs(valid_frames(), frame_fields(), vec![wire::TAG_REQUEST, wire::TAG_RESPONSE, wire::TAG_PUSH], 4000);
    fuzz("ae_wire::decode", CASES, frames(), |b| {
        let _ = wire::decode(b);
    });
    // The bodies, each from its own decoder.
    let lists = vec![wire::encode_list(&[b"ab".as_slice(), b"c"]), wire::encode_list::<&[u8]>(&[]), wire::encode_list(&[[1u8; 40]; 100])];
    fuzz("ae_wire::decode_list", CASES, inputs(lists, vec![(0, 4), (4, 4)], vec![0, 1, 0xFF], 5000), |b| {
        let _ = wire::decode_list(b);
    });
    let id_lists = vec![wire::encode_ids(&ids(0)), wire::encode_ids(&ids(3)), wire::encode_ids(&vec![[9; 32]; wire::MAX_FETCH_IDS])];
    fuzz("ae_wire::decode_ids", CASES, inputs(id_lists, vec![(0, 4)], vec![0, 1], 40_000), |b| {
        let _ = wire::decode_ids(b);
    });
    let fingerprint_lists = vec![wire::encode_fingerprints(1, &[]), wire::encode_fingerprints(1, &[5; 40]), wire::encode_fingerprints(2, &vec![7; wire::MAX_FETCH_IDS])];
    fuzz("ae_wire::decode_fingerprints", CASES, inputs(fingerprint_lists, vec![(0, 8), (8, 4)], vec![0, 1], 10_000), |b| {
        let _ = wire::decode_fingerprints(b);
    });
    let sketch = AmsSketch::from_ids(&ids(9), DEFAULT_AMS_COUNTERS, 3).unwrap().to_bytes();
    let answers = vec![wire::sketch_answer(9, &sketch), wire::sketch_answer(0, &[])];
    // As the estimate step reads an answer: split it, then decode the sketch.
    fuzz("ae_wire::decode_sketch_answer + AmsSketch::from_bytes", CASES, inputs(answers, vec![(0, 8), (9, 8), (17, 2)], vec![1], 2000), |b| {
        if let Some((_, sketch)) = wire::decode_sketch_answer(b) {
            let _ = AmsSketch::from_bytes(sketch, DEFAULT_AMS_COUNTERS);
        }
    });
    fuzz("ae_wire::decode_seed", CASES, inputs(vec![7u64.to_le_bytes().to_vec()], vec![(0, 8)], vec![0], 64), |b| {
        let _ = wire::decode_seed(b);
    });
}

#[test]
fn decoder_fuzz_iblt_messages() {
    let limits = reconcile_config().limits;
    let (requests, responses) = reconcile_messages();
    // Estimate: set size, sketch tag, then the sketch header (version,
    // seed, counters or cells per stratum, strata sent). Extend: k, seed,
    // cells. Resolve: seed, fingerprint count. Ids and tables: their
    // counts.
    let fields = vec![(2, 8), (10, 1), (11, 1), (20, 2), (22, 1), (2, 1), (3, 8), (11, 4), (2, 4), (20, 4), (10, 4)];
    fuzz("x0x_iblt::Request::from_bytes", CASES, inputs(requests.clone(), fields.clone(), vec![1], 9000), |b| {
        let _ = Request::from_bytes(b, &limits);
    });
    fuzz("x0x_iblt::Response::from_bytes", CASES, inputs(responses, fields.clone(), vec![1], 9000), |b| {
        let _ = Response::from_bytes(b, &limits);
    });
    // x0x-iblt's own defaults are looser (384 cells per stratum, 2^17 cells
    // a table): its decoders must keep to the budget there too.
    let defaults = Limits::default();
    fuzz("x0x_iblt::Request::from_bytes (x0x-iblt defaults)", CASES, inputs(requests, fields, vec![1], 9000), |b| {
        let _ = Request::from_bytes(b, &defaults);
    });
}

/// A host with one topic, a few stored envelopes and no network: sends and
/// ingests are only counted, so the handler's own allocations are what the
/// meter sees.
pub struct FakeHost {
    ae: AntiEntropy,
    sent: AtomicUsize,
    ingested: AtomicUsize,
}

impl FakeHost {
    pub fn new() -> Self {
        let ae = AntiEntropy::new(100, Duration::from_secs(60));
        for id in ids(8) {
            ae.remember(TOPIC, id, Bytes::from(vec![id[0]; 200]));
        }
        Self { ae, sent: AtomicUsize::new(0), ingested: AtomicUsize::new(0) }
    }
}

#[async_trait]
impl Host for FakeHost {
    fn anti_entropy(&self) -> &AntiEntropy {
        &self.ae
    }
    async fn send(&self, _peer: PeerId, frame: Vec<u8>) -> bool {
        self.sent.fetch_add(frame.len(), Ordering::Relaxed);
        true
    }
    async fn peers(&self) -> Vec<PeerId> {
        Vec::new()
    }
    async fn topics(&self) -> Vec<String> {
        vec![TOPIC.into()]
    }
    async fn has_topic(&self, topic: &str) -> bool {
        topic == TOPIC
    }
    async fn ingest(&self, _from: PeerId, _topic: &str, frame: &[u8]) -> bool {
        self.ingested.fetch_add(frame.len(), Ordering::Relaxed);
        true
    }
}

/// Runs the anti-entropy handler on one frame, on the calling thread.
pub fn handle(rt: &tokio::runtime::Runtime, host: &FakeHost, frame: &[u8]) {
    rt.block_on(anti_entropy::on_frame(host, PeerId::new([7; 32]), frame));
}

#[test]
fn decoder_fuzz_anti_entropy_on_frame() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let frames = inputs(valid_frames(), frame_fields(), vec![wire::TAG_REQUEST, wire::TAG_RESPONSE, wire::TAG_PUSH], 4000);
    fuzz_with("anti_entropy::on_frame", CASES, frames, |_| FakeHost::new(), |host, b| handle(&rt, host, b));
}

/// A reconcile request opening with a strata estimate that claims
/// `stratum_cells` cells per stratum and sends no strata: 24 bytes.
fn empty_strata_request(stratum_cells: u16) -> Vec<u8> {
    let mut body = vec![2, 1]; // message version (2: fingerprint tables), Estimate
    body.extend_from_slice(&0u64.to_le_bytes()); // set size
    body.push(1); // strata sketch
    body.push(1); // estimator version
    body.extend_from_slice(&7u64.to_le_bytes()); // seed
    body.extend_from_slice(&stratum_cells.to_le_bytes());
    body.push(0); // strata sent
    body
}

/// Found by `decoder_fuzz_iblt_messages`: the decoder allocated all 32
/// strata (32 x 384 cells, 96 KiB) for a header that sent none.
#[test]
fn decoder_fuzz_empty_strata_estimate_allocates_little() {
    // x0x's limits, and x0x-iblt's defaults (384 cells per stratum).
    for limits in [reconcile_config().limits, Limits::default()] {
        for cells in [48, 384, 3072] {
            let body = empty_strata_request(cells);
            let (decoded, bytes) = super::alloc_meter::measure(|| Request::from_bytes(&body, &limits).is_ok());
            assert!(bytes <= super::budget(body.len()), "{bytes} bytes for {cells} cells per stratum");
            assert_eq!(decoded, usize::from(cells) <= limits.max_stratum_cells, "{cells} cells per stratum");
        }
    }
}

/// The responder's side of the same request: building its own estimator
/// of the size the peer chose is the allocation x0x's limits bound.
#[test]
fn decoder_fuzz_strata_estimate_is_answered_within_budget() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    for cells in [48, 384] {
        let frame = wire::request(1, wire::KIND_RECONCILE, TOPIC, &empty_strata_request(cells));
        let host = FakeHost::new();
        let ((), bytes) = super::alloc_meter::measure(|| handle(&rt, &host, &frame));
        assert!(bytes <= super::budget(frame.len()), "{bytes} bytes to answer {cells} cells per stratum");
        assert!(host.sent.load(Ordering::Relaxed) > 0, "answered");
    }
}
