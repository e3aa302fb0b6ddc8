//! How often a session needs more than its first table, over many
//! sessions: the decode-failure (Extend) and full-list rates, with the mean
//! bytes per difference. Not a test.
//!
//! `cargo run --release -p x0x-iblt --example iblt_failures [sessions] [d,d,...]`

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use x0x_iblt::{Config, Next, Reconciler, Request, Response};

type Id = [u8; 32];

/// Ids both peers hold: the AMS estimate's error does not depend on it.
const COMMON: usize = 1000;

struct Totals {
    bytes: u64,
    retried: usize,
    lists: usize,
}

fn session(config: &Config, a: &[Id], b: &[Id], seed: u64, totals: &mut Totals) {
    let limits = config.limits;
    let (mut s, request) = Reconciler::start_with_seed(config.clone(), a, seed);
    let mut wire = request.to_bytes();
    loop {
        let request = Request::from_bytes(&wire, &limits).expect("request decodes");
        let response = Reconciler::on_request(config, b, &request).expect("responder");
        let response = Response::from_bytes(&response.to_bytes(), &limits).expect("response decodes");
        match s.on_response(response).expect("session") {
            Next::Done(_) => break,
            Next::Retry(next) | Next::FullList(next) | Next::Resolve(next) => wire = next.to_bytes(),
        }
    }
    let stats = s.stats();
    totals.bytes += stats.bytes_sent + stats.bytes_received;
    totals.retried += usize::from(stats.retries > 0);
    totals.lists += usize::from(stats.full_list);
}

fn main() {
    let sessions: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let mut rng = StdRng::seed_from_u64(0xfa11);
    let config = Config::default();
    println!("{sessions} sessions per row, {COMMON} common ids, the difference split evenly (AMS 1024)");
    println!("{:>5} {:>9} {:>9} {:>7} {:>8}", "d", "extended", "full list", "rate", "ratio");
    let ds: Vec<usize> = match std::env::args().nth(2) {
        Some(d) => d.split(',').filter_map(|d| d.parse().ok()).collect(),
        None => vec![10, 100, 1000],
    };
    for d in ds {
        let mut totals = Totals { bytes: 0, retried: 0, lists: 0 };
        for _ in 0..sessions {
            let common: Vec<Id> = (0..COMMON).map(|_| rng.gen()).collect();
            let mut a = common.clone();
            let mut b = common;
            for i in 0..d {
                let id: Id = rng.gen();
                if i % 2 == 0 { a.push(id) } else { b.push(id) }
            }
            session(&config, &a, &b, rng.gen(), &mut totals);
        }
        let rate = (totals.retried + totals.lists) as f64 / sessions as f64;
        let ratio = totals.bytes as f64 / sessions as f64 / (32 * d) as f64;
        println!("{d:>5} {:>9} {:>9} {:>6.2}% {ratio:>8.2}", totals.retried, totals.lists, rate * 100.0);
    }
}
