//! Calibration data behind `plan`: the minimum cells for a target decode
//! rate per difference size (k = 4), and the strata estimator's error.
//!
//! `cargo run --release -p x0x-iblt --example iblt_calibrate -- cells [trials] [target] [max_d]`
//! `cargo run --release -p x0x-iblt --example iblt_calibrate -- strata [trials]`
//! `cargo run --release -p x0x-iblt --example iblt_calibrate -- reconcile [runs] [margins,..] [estimator filter]`

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use x0x_iblt::{Config, Estimator, Iblt, Next, Reconciler, Request, Response, StrataEstimator};

fn random_ids(rng: &mut StdRng, n: usize) -> Vec<[u8; 32]> {
    (0..n).map(|_| rng.gen()).collect()
}

/// Decode rate of a k-hash table of `cells` cells holding a difference of
/// `d` ids (split at random between the sides), over `trials` seeds.
fn success_rate(d: usize, cells: usize, k: u8, trials: usize, rng: &mut StdRng) -> f64 {
    let mut ok = 0;
    for _ in 0..trials {
        let seed = rng.gen();
        let Ok(mut t) = Iblt::new(cells, k, seed) else {
            return 0.0;
        };
        for _ in 0..d {
            let id: [u8; 32] = rng.gen();
            if rng.gen::<bool>() {
                t.insert(&id);
            } else {
                t.remove(&id);
            }
        }
        if t.decode().is_ok() {
            ok += 1;
        }
    }
    ok as f64 / trials as f64
}

/// Smallest multiple of k with success ≥ target (binary search; the rate
/// is monotone in cells up to noise, so the result is checked again).
fn min_cells(d: usize, k: u8, target: f64, trials: usize, rng: &mut StdRng) -> (usize, f64) {
    let k = usize::from(k);
    let mut lo = 1usize; // in units of k
    let mut hi = (d * 4 / k + 4).max(2);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if success_rate(d, mid * k, k as u8, trials, rng) >= target {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let rate = success_rate(d, lo * k, k as u8, trials, rng);
    (lo * k, rate)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("cells", String::as_str);
    let trials: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let mut rng = StdRng::seed_from_u64(0x1b17);
    match mode {
        "cells" => {
            let target: f64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(0.99);
            let max_d: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(3000);
            println!("k=4, target {target}, {trials} trials per probe");
            println!("{:>6} {:>7} {:>7} {:>8}", "d", "cells", "ratio", "rate");
            for d in [
                1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 75, 100, 150, 200, 300,
                500, 700, 1000, 1500, 2000, 3000,
            ]
            .into_iter()
            .filter(|&d| d <= max_d)
            {
                let (cells, rate) = min_cells(d, 4, target, trials, &mut rng);
                println!(
                    "{d:>6} {cells:>7} {:>7.3} {rate:>8.4}",
                    cells as f64 / d as f64
                );
            }
        }
        "strata" => {
            let n = 10_000;
            println!("strata estimator, n = {n}, {trials} trials");
            println!(
                "{:>6} {:>6} {:>7} {:>7} {:>7} {:>7} {:>7} {:>6}",
                "cells", "d", "bytes", "p10", "median", "p90", "mean", "exact"
            );
            for stratum_cells in [24, 36, 48, 60, 81, 120] {
                for d in [1, 10, 50, 100, 300, 1000] {
                    let mut ratios = Vec::new();
                    let mut exact = 0;
                    let mut bytes = 0;
                    for _ in 0..trials {
                        let seed = rng.gen();
                        let common = random_ids(&mut rng, n - d / 2);
                        let a_only = random_ids(&mut rng, d / 2);
                        let b_only = random_ids(&mut rng, d - d / 2);
                        let a = StrataEstimator::from_ids(
                            common.iter().chain(&a_only),
                            stratum_cells,
                            seed,
                        )
                        .expect("params");
                        let b = StrataEstimator::from_ids(
                            common.iter().chain(&b_only),
                            stratum_cells,
                            seed,
                        )
                        .expect("params");
                        let e = a.estimate(&b).expect("same params");
                        bytes = a.encoded_len();
                        if e.exact {
                            exact += 1;
                        }
                        ratios.push(e.value as f64 / d as f64);
                    }
                    ratios.sort_by(f64::total_cmp);
                    let q = |p: f64| ratios[((ratios.len() - 1) as f64 * p) as usize];
                    let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
                    println!(
                        "{stratum_cells:>6} {d:>6} {bytes:>7} {:>7.3} {:>7.3} {:>7.3} {mean:>7.3} {:>6.3}",
                        q(0.1),
                        q(0.5),
                        q(0.9),
                        exact as f64 / trials as f64
                    );
                }
            }
        }
        "reconcile" => {
            let n = 10_000;
            println!("reconciler, n = {n}, {trials} runs: mean bytes/(32 d), mean round trips");
            let estimators = [
                Estimator::Strata { stratum_cells: 24 },
                Estimator::Strata { stratum_cells: 48 },
                Estimator::Ams { counters: 512 },
                Estimator::Ams { counters: 768 },
                Estimator::Ams { counters: 1024 },
                Estimator::Ams { counters: 2048 },
            ];
            let margins: Vec<f64> = match args.get(3) {
                Some(list) => list.split(',').filter_map(|m| m.parse().ok()).collect(),
                None => vec![1.0, 1.05, 1.1, 1.2, 1.3],
            };
            let only: Option<&str> = args.get(4).map(String::as_str);
            for estimator in estimators {
                if only.is_some_and(|o| !format!("{estimator:?}").contains(o)) {
                    continue;
                }
                for &margin in &margins {
                    let config = Config {
                        estimator,
                        estimate_margin: margin,
                        ..Config::default()
                    };
                    let mut line = format!("{estimator:?} m={margin:.2}");
                    for d in [10usize, 100, 1000] {
                        let (mut bytes, mut rts) = (0u64, 0u32);
                        for _ in 0..trials {
                            let common = random_ids(&mut rng, n - d.div_ceil(2));
                            let a: Vec<_> = common
                                .iter()
                                .copied()
                                .chain(random_ids(&mut rng, d.div_ceil(2)))
                                .collect();
                            let b: Vec<_> = common
                                .iter()
                                .copied()
                                .chain(random_ids(&mut rng, d / 2))
                                .collect();
                            let stats = reconcile(&config, &a, &b, rng.gen());
                            bytes += stats.0;
                            rts += stats.1;
                        }
                        line += &format!(
                            "  d={d}: {:.3} / {:.2}",
                            bytes as f64 / trials as f64 / (32 * d) as f64,
                            f64::from(rts) / trials as f64
                        );
                    }
                    println!("{line}");
                }
            }
        }
        other => eprintln!("unknown mode {other}"),
    }
}

/// One session over the wire encoding; (bytes both ways, round trips).
fn reconcile(config: &Config, a: &[[u8; 32]], b: &[[u8; 32]], seed: u64) -> (u64, u32) {
    let limits = config.limits;
    let (mut session, mut request) = Reconciler::start_with_seed(config.clone(), a, seed);
    loop {
        let request_bytes = request.to_bytes();
        let received = Request::from_bytes(&request_bytes, &limits).expect("request");
        let response = Reconciler::on_request(config, b, &received).expect("respond");
        let response = Response::from_bytes(&response.to_bytes(), &limits).expect("response");
        match session.on_response(response).expect("session") {
            Next::Done(_) => {
                let s = session.stats();
                return (s.bytes_sent + s.bytes_received, s.round_trips);
            }
            Next::Retry(next) | Next::FullList(next) | Next::Resolve(next) => request = next,
        }
    }
}
