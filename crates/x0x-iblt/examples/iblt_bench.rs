//! Anti-entropy benchmark (not a test): bytes and time of a reconciliation
//! session against the naive full id-list exchange that saorsa-gossip's
//! pub/sub runs every 30 s, plus the minimum table size for a 99 % decode
//! to compare with the published figures.
//!
//! `cargo run --release -p x0x-iblt --example iblt_bench`

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use x0x_iblt::{Config, Iblt, Next, Reconciler, Request, Response};

type Id = [u8; 32];

const SET: usize = 10_000;
const RUNS: usize = 40;

fn random_ids(rng: &mut StdRng, n: usize) -> Vec<Id> {
    (0..n).map(|_| rng.gen()).collect()
}

struct Session {
    bytes: u64,
    round_trips: u32,
    retries: u32,
    full_list: bool,
    time: Duration,
    found: usize,
}

/// One session, both peers' work included, through the wire encoding
/// exactly as a network layer would ship it.
fn reconcile(config: &Config, a: &[Id], b: &[Id], seed: u64) -> Session {
    let started = Instant::now();
    let limits = config.limits;
    let (mut session, request) = Reconciler::start_with_seed(config.clone(), a, seed);
    let mut wire = request.to_bytes();
    loop {
        let request = Request::from_bytes(&wire, &limits).expect("request decodes");
        let response = Reconciler::on_request(config, b, &request).expect("responder");
        let response =
            Response::from_bytes(&response.to_bytes(), &limits).expect("response decodes");
        match session.on_response(response).expect("session") {
            Next::Done(diff) => {
                let time = started.elapsed();
                let stats = session.stats();
                return Session {
                    bytes: stats.bytes_sent + stats.bytes_received,
                    round_trips: stats.round_trips,
                    retries: stats.retries,
                    full_list: stats.full_list,
                    time,
                    found: diff.len(),
                };
            }
            Next::Retry(next) | Next::FullList(next) | Next::Resolve(next) => wire = next.to_bytes(),
        }
    }
}

/// The baseline: A sends all its ids; B decodes them and diffs against its
/// own set. Returns (bytes, time, difference found).
fn naive(a: &[Id], b: &[Id]) -> (u64, Duration, usize) {
    let started = Instant::now();
    let wire: Vec<u8> = a.iter().flatten().copied().collect();
    let mut theirs: Vec<Id> = wire
        .chunks_exact(32)
        .map(|c| {
            let mut id = [0u8; 32];
            id.copy_from_slice(c);
            id
        })
        .collect();
    let mut mine = b.to_vec();
    theirs.sort_unstable();
    mine.sort_unstable();
    let (mut i, mut j, mut d) = (0, 0, 0);
    while i < theirs.len() && j < mine.len() {
        match theirs[i].cmp(&mine[j]) {
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => {
                d += 1;
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                d += 1;
                j += 1;
            }
        }
    }
    d += (theirs.len() - i) + (mine.len() - j);
    (wire.len() as u64, started.elapsed(), d)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn decode_rate(d: usize, cells: usize, trials: usize, rng: &mut StdRng) -> f64 {
    let mut ok = 0;
    for _ in 0..trials {
        let mut t = Iblt::new(cells, 4, rng.gen()).expect("params");
        for _ in 0..d {
            let id: Id = rng.gen();
            if rng.gen() {
                t.insert(&id);
            } else {
                t.remove(&id);
            }
        }
        ok += usize::from(t.decode().is_ok());
    }
    ok as f64 / trials as f64
}

/// Smallest multiple of 4 cells whose measured decode rate reaches
/// `target` (binary search between 1.2·d and 2·d), with its rate.
fn min_cells(d: usize, target: f64, trials: usize, rng: &mut StdRng) -> (usize, f64) {
    let (mut lo, mut hi) = (d * 12 / 40, d * 2 / 4 + 1);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if decode_rate(d, mid * 4, trials, rng) >= target {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    (lo * 4, decode_rate(d, lo * 4, trials, rng))
}

fn main() {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(0xbe_0c4);
    println!(
        "x0x-iblt anti-entropy benchmark: {SET} ids per peer, k = 4, {RUNS} sessions per row, \
         difference split evenly between the peers"
    );
    println!("bytes = both directions, all round trips; naive = saorsa-gossip's full id list, 32 B × {SET} = {} B", 32 * SET);
    println!();
    println!(
        "{:<11} {:>5} {:>4} {:>8} {:>8} {:>6} {:>6} {:>7} {:>5} {:>4} {:>7} {:>8} {:>8}",
        "estimator",
        "d",
        "",
        "bytes",
        "bytes",
        "ratio",
        "ratio",
        "naive/",
        "RTT",
        "RTT",
        "doubled",
        "time",
        "naive"
    );
    println!(
        "{:<11} {:>5} {:>4} {:>8} {:>8} {:>6} {:>6} {:>7} {:>5} {:>4} {:>7} {:>8} {:>8}",
        "", "", "", "mean", "max", "mean", "max", "ours", "mean", "max", "/list", "p50", "p50"
    );
    let configs = [
        ("AMS 1024", Config::default()),
        ("strata 48", Config::strata()),
    ];
    for (name, config) in &configs {
        // (d, whether the responder holds all of it: what a node that
        // missed messages sees; otherwise it is split evenly).
        for (d, one_sided) in [(1usize, false), (10, false), (100, false), (1000, false), (100, true)] {
            let (mut bytes, mut max_bytes, mut rtts, mut max_rtt) = (0u64, 0u64, 0u32, 0u32);
            let (mut retried, mut lists) = (0, 0);
            let (mut times, mut naive_times) = (Vec::new(), Vec::new());
            let mut naive_bytes = 0;
            for _ in 0..RUNS {
                let a_only = if one_sided { 0 } else { d.div_ceil(2) };
                let common = random_ids(&mut rng, SET - a_only);
                let a: Vec<Id> = common
                    .iter()
                    .copied()
                    .chain(random_ids(&mut rng, a_only))
                    .collect();
                let b: Vec<Id> = common
                    .iter()
                    .copied()
                    .chain(random_ids(&mut rng, d - a_only))
                    .collect();
                let s = reconcile(config, &a, &b, rng.gen());
                assert_eq!(s.found, d, "the session must find the exact difference");
                let (nb, nt, nd) = naive(&a, &b);
                assert_eq!(nd, d);
                bytes += s.bytes;
                max_bytes = max_bytes.max(s.bytes);
                rtts += s.round_trips;
                max_rtt = max_rtt.max(s.round_trips);
                retried += usize::from(s.retries > 0);
                lists += usize::from(s.full_list);
                times.push(s.time);
                naive_times.push(nt);
                naive_bytes = nb;
            }
            let mean = bytes as f64 / RUNS as f64;
            let raw = (32 * d) as f64;
            let share = match (d, one_sided) {
                (_, true) => "peer",
                (100, _) => "1%",
                (1000, _) => "10%",
                _ => "",
            };
            println!(
                "{name:<11} {d:>5} {share:>4} {mean:>8.0} {max_bytes:>8} {:>6.2} {:>6.2} {:>6.1}x {:>5.2} {max_rtt:>4} {:>7} {:>6.2}ms {:>6.2}ms",
                mean / raw,
                max_bytes as f64 / raw,
                naive_bytes as f64 / mean,
                f64::from(rtts) / RUNS as f64,
                format!("{retried}/{lists}"),
                median(times).as_secs_f64() * 1e3,
                median(naive_times).as_secs_f64() * 1e3,
            );
        }
    }
    println!(
        "ratio = bytes / (32 B × d), the raw size of the differing ids (goal ≤ 2 for d ≥ 100);"
    );
    println!("peer = the whole difference at the responder (the initiator lacks d ids), not split;");
    println!("doubled/list = sessions that needed a doubling / that ended with the full list;");
    println!("time = both peers' CPU for the whole session incl. encoding, no network (naive: encode, sort, diff)");
    println!();

    println!("minimum cells for a target decode rate, plain table, k = 4 (binary search, multiples of 4)");
    println!(
        "{:>5} {:>7} {:>7} {:>7} {:>8} {:>7}  published (Graphene table, 99.58 %)",
        "d", "target", "trials", "cells", "cells/d", "rate"
    );
    for (d, published) in [(100usize, 156usize), (1000, 1360)] {
        for (target, trials) in [
            (0.99, if d == 100 { 4000 } else { 2500 }),
            (0.9958, if d == 100 { 4000 } else { 2500 }),
        ] {
            let (cells, rate) = min_cells(d, target, trials, &mut rng);
            println!(
                "{d:>5} {:>6.2}% {trials:>7} {cells:>7} {:>8.3} {:>6.2}%  {published} ({:.3}·d)",
                target * 100.0,
                cells as f64 / d as f64,
                rate * 100.0,
                published as f64 / d as f64
            );
        }
    }
    println!();
    println!(
        "total benchmark time {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
