//! Unit tests. Integration and property tests live in `tests/`.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::*;

fn ids(rng: &mut StdRng, n: usize) -> Vec<Id> {
    (0..n).map(|_| rng.gen()).collect()
}

/// Drives a whole session in memory through the wire encoding.
fn run(config: &Config, a: &[Id], b: &[Id], seed: u64) -> (Diff, Stats) {
    let (mut session, mut request) = Reconciler::start_with_seed(config.clone(), a, seed);
    loop {
        let received = Request::from_bytes(&request.to_bytes(), &config.limits).unwrap();
        assert_eq!(received, request);
        let response = Reconciler::on_request(config, b, &received).unwrap();
        let bytes = response.to_bytes();
        assert_eq!(bytes.len(), response.encoded_len());
        let response = Response::from_bytes(&bytes, &config.limits).unwrap();
        match session.on_response(response).unwrap() {
            Next::Done(diff) => return (diff, session.stats()),
            Next::Retry(next) | Next::FullList(next) | Next::Resolve(next) => request = next,
        }
    }
}

fn expected(a: &[Id], b: &[Id]) -> Diff {
    let sa: std::collections::BTreeSet<_> = a.iter().copied().collect();
    let sb: std::collections::BTreeSet<_> = b.iter().copied().collect();
    Diff {
        local_only: sa.difference(&sb).copied().collect(),
        remote_only: sb.difference(&sa).copied().collect(),
    }
}

mod iblt {
    use super::*;

    #[test]
    fn insert_then_remove_leaves_an_empty_table() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut t = Iblt::new(40, 4, 9).unwrap();
        let set = ids(&mut rng, 500);
        for id in &set {
            t.insert(id);
        }
        assert!(!t.is_empty());
        for id in &set {
            t.remove(id);
        }
        assert!(t.is_empty());
        assert_eq!(t.decode().unwrap(), Decoded::default());
    }

    #[test]
    fn subtract_and_decode_lists_both_sides() {
        let mut rng = StdRng::seed_from_u64(2);
        let common = ids(&mut rng, 2000);
        let a_only = ids(&mut rng, 13);
        let b_only = ids(&mut rng, 7);
        let mut a = Iblt::from_ids(common.iter().chain(&a_only), 80, 4, 5).unwrap();
        let b = Iblt::from_ids(common.iter().chain(&b_only), 80, 4, 5).unwrap();
        a.subtract(&b).unwrap();
        let mut d = a.decode().unwrap();
        d.only_in_self.sort();
        d.only_in_other.sort();
        let (mut ea, mut eb) = (a_only.clone(), b_only.clone());
        ea.sort();
        eb.sort();
        assert_eq!(d.only_in_self, ea);
        assert_eq!(d.only_in_other, eb);
    }

    #[test]
    fn counts_modulo_256_still_decode() {
        // 4 cells, k = 4: every id lands in every cell, so each cell holds
        // 1000 ids and its count wraps several times.
        let mut rng = StdRng::seed_from_u64(3);
        let set = ids(&mut rng, 1000);
        let mut a = Iblt::from_ids(&set, 4, 4, 1).unwrap();
        let b = Iblt::from_ids(&set[1..], 4, 4, 1).unwrap();
        let a_bytes = Iblt::from_bytes(&a.to_bytes(), 4).unwrap();
        assert_eq!(a_bytes, a);
        a.subtract(&b).unwrap();
        assert_eq!(a.decode().unwrap().only_in_self, vec![set[0]]);
    }

    #[test]
    fn a_difference_too_large_fails_cleanly() {
        let mut rng = StdRng::seed_from_u64(4);
        let t = Iblt::from_ids(&ids(&mut rng, 200), 40, 4, 1).unwrap();
        match t.decode() {
            Err(DecodeError::Stuck { stuck_cells, .. }) => assert!(stuck_cells > 0),
            other => panic!("expected Stuck, got {other:?}"),
        }
    }

    #[test]
    fn subtract_rejects_other_parameters() {
        let mut a = Iblt::new(40, 4, 1).unwrap();
        let cases = [
            (Iblt::new(44, 4, 1).unwrap(), "cell count"),
            (Iblt::new(40, 5, 1).unwrap(), "k"),
            (Iblt::new(40, 4, 2).unwrap(), "seed"),
        ];
        for (b, what) in cases {
            assert_eq!(a.subtract(&b), Err(ParamsError::Mismatch(what)));
        }
    }

    #[test]
    fn invalid_parameters_are_rejected() {
        assert_eq!(Iblt::new(40, 1, 0).unwrap_err(), ParamsError::K(1));
        assert_eq!(Iblt::new(40, 9, 0).unwrap_err(), ParamsError::K(9));
        assert!(matches!(Iblt::new(0, 4, 0), Err(ParamsError::Cells { .. })));
        assert!(matches!(
            Iblt::new(42, 4, 0),
            Err(ParamsError::Cells { .. })
        ));
        assert!(matches!(
            Iblt::new(MAX_TABLE_CELLS + 4, 4, 0),
            Err(ParamsError::TooManyCells { .. })
        ));
    }

    #[test]
    fn peers_with_the_same_seed_agree_and_other_seeds_do_not() {
        let id = [7u8; 32];
        let a = Iblt::from_ids([&id], 400, 4, 11).unwrap();
        let b = Iblt::from_ids([&id], 400, 4, 11).unwrap();
        let c = Iblt::from_ids([&id], 400, 4, 12).unwrap();
        assert_eq!(a.to_bytes(), b.to_bytes());
        assert_ne!(a.to_bytes()[14..], c.to_bytes()[14..]);
    }

    #[test]
    fn wire_round_trip_is_exact_and_sized() {
        let mut rng = StdRng::seed_from_u64(5);
        let t = Iblt::from_ids(&ids(&mut rng, 100), 64, 4, 77).unwrap();
        let bytes = t.to_bytes();
        assert_eq!(bytes.len(), t.encoded_len());
        assert_eq!(bytes.len(), IBLT_HEADER_BYTES + 64 * CELL_WIRE_BYTES);
        assert_eq!(Iblt::from_bytes(&bytes, 64).unwrap(), t);
    }

    #[test]
    fn malformed_bytes_are_rejected() {
        let mut rng = StdRng::seed_from_u64(6);
        let t = Iblt::from_ids(&ids(&mut rng, 10), 16, 4, 3).unwrap();
        let bytes = t.to_bytes();
        // Every strict prefix is truncated.
        for len in 0..bytes.len() {
            assert!(
                matches!(
                    Iblt::from_bytes(&bytes[..len], 1000),
                    Err(WireError::Truncated { .. })
                ),
                "prefix of {len} bytes"
            );
        }
        // Wrong version (1 and 2 name the two cell layouts).
        let mut v = bytes.clone();
        v[0] = 3;
        assert_eq!(Iblt::from_bytes(&v, 1000), Err(WireError::Version(3)));
        // Cell count above the receiver's cap.
        assert!(matches!(
            Iblt::from_bytes(&bytes, 15),
            Err(WireError::TooLarge {
                what: "cells",
                value: 16,
                limit: 15
            })
        ));
        // A huge declared count is refused before anything is allocated.
        let mut huge = bytes.clone();
        huge[10..14].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            Iblt::from_bytes(&huge, usize::MAX),
            Err(WireError::TooLarge { .. })
        ));
        huge[10..14].copy_from_slice(&(1u32 << 20).to_le_bytes());
        assert!(matches!(
            Iblt::from_bytes(&huge, usize::MAX),
            Err(WireError::Truncated { .. })
        ));
        // k that does not divide the cells, and k out of range.
        let mut k = bytes.clone();
        k[1] = 3;
        assert!(matches!(
            Iblt::from_bytes(&k, 1000),
            Err(WireError::Params(ParamsError::Cells { cells: 16, k: 3 }))
        ));
        k[1] = 0;
        assert_eq!(
            Iblt::from_bytes(&k, 1000),
            Err(WireError::Params(ParamsError::K(0)))
        );
        // A table with another k cannot be subtracted from ours.
        let mut k8 = bytes.clone();
        k8[1] = 8;
        let other = Iblt::from_bytes(&k8, 1000).unwrap();
        let mut ours = t.clone();
        assert_eq!(ours.subtract(&other), Err(ParamsError::Mismatch("k")));
        // Trailing bytes.
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            Iblt::from_bytes(&long, 1000),
            Err(WireError::TrailingBytes(1))
        );
    }

    #[test]
    fn crafted_tables_never_panic_or_loop() {
        // Random cells with counts ±1: whatever the bytes, decode ends with
        // an error or a (meaningless) list, never a panic or a hang.
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..200 {
            let cells = 4 * rng.gen_range(1..20);
            let mut bytes = Iblt::new(cells, 4, rng.gen()).unwrap().to_bytes();
            for b in &mut bytes[IBLT_HEADER_BYTES..] {
                *b = rng.gen();
            }
            for c in 0..cells {
                bytes[IBLT_HEADER_BYTES + c * CELL_WIRE_BYTES] = if rng.gen() { 1 } else { 255 };
            }
            let t = Iblt::from_bytes(&bytes, cells).unwrap();
            let _ = t.decode();
        }
    }

    #[test]
    fn fold_and_unfold_are_consistent_with_direct_construction() {
        let mut rng = StdRng::seed_from_u64(8);
        let set = ids(&mut rng, 300);
        for cells in [4, 12, 40, 100] {
            let small = Iblt::from_ids(&set, cells, 4, 21).unwrap();
            let big = Iblt::from_ids(&set, cells * 2, 4, 21).unwrap();
            assert_eq!(big.fold().unwrap(), small);
            assert_eq!(small.unfold(&big.low_halves().unwrap()).unwrap(), big);
        }
    }

    #[test]
    fn fingerprint_tables_send_13_bytes_a_cell_and_decode_the_first_8() {
        let mut rng = StdRng::seed_from_u64(9);
        let set = ids(&mut rng, 30);
        let mut t = Iblt::from_keys(Keys::Fingerprints, &set, 64, 4, 5).unwrap();
        let bytes = t.to_bytes();
        assert_eq!(bytes.len(), IBLT_HEADER_BYTES + 64 * FINGERPRINT_CELL_WIRE_BYTES);
        assert_eq!(FINGERPRINT_CELL_WIRE_BYTES, 13);
        assert_eq!(Iblt::from_bytes(&bytes, 64).unwrap(), t);
        // Only the first 8 bytes of a key count: an id differing past them
        // is the same key.
        let mut alias = set[0];
        alias[31] ^= 1;
        t.remove(&alias);
        let decoded = t.clone().decode().unwrap();
        let mut want: Vec<Id> = set[1..]
            .iter()
            .map(|id| {
                let mut key = [0u8; 32];
                key[..8].copy_from_slice(&id[..8]);
                key
            })
            .collect();
        let mut got = decoded.only_in_self;
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want);
        // It does not mix with a table of whole ids.
        let mut whole = Iblt::from_ids(&set, 64, 4, 5).unwrap();
        assert_eq!(whole.subtract(&t), Err(ParamsError::Mismatch("keys")));
        // Every strict prefix is truncated, and folding keeps the layout.
        for len in 0..bytes.len() {
            assert!(Iblt::from_bytes(&bytes[..len], 64).is_err(), "prefix {len}");
        }
        let big = Iblt::from_keys(Keys::Fingerprints, &set, 128, 4, 5).unwrap();
        let small = Iblt::from_keys(Keys::Fingerprints, &set, 64, 4, 5).unwrap();
        assert_eq!(big.fold().unwrap(), small);
        assert_eq!(small.unfold(&big.low_halves().unwrap()).unwrap(), big);
    }
}

mod strata {
    use super::*;

    #[test]
    fn equal_sets_estimate_zero_exactly() {
        let mut rng = StdRng::seed_from_u64(10);
        let set = ids(&mut rng, 5000);
        let a = StrataEstimator::from_ids(&set, 24, 1).unwrap();
        let b = StrataEstimator::from_ids(&set, 24, 1).unwrap();
        assert_eq!(
            a.estimate(&b).unwrap(),
            DifferenceEstimate {
                value: 0,
                exact: true
            }
        );
    }

    #[test]
    fn small_differences_are_counted_exactly() {
        let mut rng = StdRng::seed_from_u64(11);
        let common = ids(&mut rng, 5000);
        for d in [1usize, 2, 5, 9] {
            let extra = ids(&mut rng, d);
            let a = StrataEstimator::from_ids(&common, 48, 2).unwrap();
            let b = StrataEstimator::from_ids(common.iter().chain(&extra), 48, 2).unwrap();
            assert_eq!(a.estimate_difference(&b).unwrap(), d);
            assert!(a.estimate(&b).unwrap().exact);
        }
    }

    #[test]
    fn large_differences_are_estimated_within_a_factor() {
        let mut rng = StdRng::seed_from_u64(12);
        let common = ids(&mut rng, 3000);
        let extra = ids(&mut rng, 2000);
        let a = StrataEstimator::from_ids(&common, 48, 3).unwrap();
        let b = StrataEstimator::from_ids(common.iter().chain(&extra), 48, 3).unwrap();
        let e = a.estimate(&b).unwrap();
        assert!(!e.exact);
        assert!((1000..=4000).contains(&e.value), "estimate {}", e.value);
    }

    #[test]
    fn insert_toggles() {
        let mut a = StrataEstimator::new(24, 4).unwrap();
        let empty = a.clone();
        a.insert(&[1; 32]);
        assert_eq!(a.estimate_difference(&empty).unwrap(), 1);
        a.insert(&[1; 32]);
        assert_eq!(a, empty);
    }

    #[test]
    fn mismatched_estimators_are_rejected() {
        let a = StrataEstimator::new(24, 1).unwrap();
        assert!(a.estimate(&StrataEstimator::new(24, 2).unwrap()).is_err());
        assert!(a.estimate(&StrataEstimator::new(48, 1).unwrap()).is_err());
        assert!(StrataEstimator::new(25, 1).is_err());
        assert!(StrataEstimator::new(0, 1).is_err());
        assert!(StrataEstimator::new(MAX_STRATUM_CELLS + 3, 1).is_err());
    }

    #[test]
    fn wire_round_trip_and_malformed_input() {
        let mut rng = StdRng::seed_from_u64(13);
        let s = StrataEstimator::from_ids(&ids(&mut rng, 1000), 24, 5).unwrap();
        let bytes = s.to_bytes();
        assert_eq!(bytes.len(), s.encoded_len());
        // 1000 ids fill about log2(1000) + 1 strata, not all 32.
        assert!(bytes.len() < STRATA_HEADER_BYTES + 16 * 24 * STRATUM_CELL_WIRE_BYTES);
        assert_eq!(StrataEstimator::from_bytes(&bytes, 24).unwrap(), s);
        for len in 0..bytes.len() {
            assert!(StrataEstimator::from_bytes(&bytes[..len], 24).is_err());
        }
        assert!(matches!(
            StrataEstimator::from_bytes(&bytes, 12),
            Err(WireError::TooLarge { .. })
        ));
        let mut v = bytes.clone();
        v[0] = 9;
        assert_eq!(
            StrataEstimator::from_bytes(&v, 24),
            Err(WireError::Version(9))
        );
        let mut strata = bytes.clone();
        strata[11] = 33;
        assert!(matches!(
            StrataEstimator::from_bytes(&strata, 24),
            Err(WireError::TooLarge { what: "strata", .. })
        ));
        let mut long = bytes;
        long.push(1);
        assert_eq!(
            StrataEstimator::from_bytes(&long, 24),
            Err(WireError::TrailingBytes(1))
        );
    }
}

mod ams {
    use super::*;

    #[test]
    fn equal_sets_are_exactly_zero_and_one_id_is_exactly_one() {
        let mut rng = StdRng::seed_from_u64(30);
        let set = ids(&mut rng, 5000);
        let a = AmsSketch::from_ids(&set, 1024, 1).unwrap();
        let b = AmsSketch::from_ids(&set, 1024, 1).unwrap();
        assert_eq!(
            a.estimate(&b).unwrap(),
            DifferenceEstimate {
                value: 0,
                exact: true
            }
        );
        let c = AmsSketch::from_ids(&set[1..], 1024, 1).unwrap();
        assert_eq!(a.estimate_difference(&c).unwrap(), 1);
    }

    #[test]
    fn estimates_are_unbiased_and_tight() {
        // Mean of 40 estimates of d = 1000 with 1,024 counters: each has
        // sd ≈ 4.4 %, the mean ≈ 0.7 %; allow 3 %.
        let mut rng = StdRng::seed_from_u64(31);
        let mut sum = 0.0;
        for seed in 0..40 {
            let common = ids(&mut rng, 2000);
            let a =
                AmsSketch::from_ids(common.iter().chain(&ids(&mut rng, 500)), 1024, seed).unwrap();
            let b =
                AmsSketch::from_ids(common.iter().chain(&ids(&mut rng, 500)), 1024, seed).unwrap();
            let e = a.estimate(&b).unwrap();
            assert!(!e.exact);
            assert!((800..=1200).contains(&e.value), "estimate {}", e.value);
            sum += e.value as f64;
        }
        let mean = sum / 40.0;
        assert!((970.0..=1030.0).contains(&mean), "mean {mean}");
    }

    #[test]
    fn insert_and_remove_cancel() {
        let mut a = AmsSketch::new(64, 2).unwrap();
        let empty = a.clone();
        a.insert(&[5; 32]);
        a.remove(&[5; 32]);
        assert_eq!(a, empty);
    }

    #[test]
    fn saturated_counters_report_a_huge_difference() {
        // A counter 120 away from the peer's may have wrapped modulo 256.
        let b = AmsSketch::new(2, 3).unwrap();
        let mut bytes = b.to_bytes();
        bytes[AMS_HEADER_BYTES] = 120;
        let a = AmsSketch::from_bytes(&bytes, 2).unwrap();
        assert_eq!(a.estimate_difference(&b).unwrap(), usize::MAX);
        let config = Config::default();
        assert_eq!(
            plan(a.estimate(&b).unwrap(), &config),
            config.limits.max_cells
        );
    }

    #[test]
    fn mismatches_and_malformed_bytes_are_rejected() {
        let a = AmsSketch::new(64, 1).unwrap();
        assert!(a.estimate(&AmsSketch::new(64, 2).unwrap()).is_err());
        assert!(a.estimate(&AmsSketch::new(32, 1).unwrap()).is_err());
        assert!(AmsSketch::new(0, 1).is_err());
        assert!(AmsSketch::new(MAX_AMS_COUNTERS + 1, 1).is_err());
        let mut rng = StdRng::seed_from_u64(33);
        let s = AmsSketch::from_ids(&ids(&mut rng, 100), 64, 9).unwrap();
        let bytes = s.to_bytes();
        assert_eq!(bytes.len(), s.encoded_len());
        assert_eq!(AmsSketch::from_bytes(&bytes, 64).unwrap(), s);
        for len in 0..bytes.len() {
            assert!(AmsSketch::from_bytes(&bytes[..len], 64).is_err());
        }
        assert!(matches!(
            AmsSketch::from_bytes(&bytes, 63),
            Err(WireError::TooLarge { .. })
        ));
        let mut v = bytes.clone();
        v[0] = 0;
        assert_eq!(AmsSketch::from_bytes(&v, 64), Err(WireError::Version(0)));
        let mut zero = bytes.clone();
        zero[9..11].copy_from_slice(&0u16.to_le_bytes());
        assert!(matches!(
            AmsSketch::from_bytes(&zero, 64),
            Err(WireError::Params(_))
        ));
        let mut long = bytes;
        long.push(0);
        assert_eq!(
            AmsSketch::from_bytes(&long, 64),
            Err(WireError::TrailingBytes(1))
        );
    }
}

mod plan {
    use super::*;

    #[test]
    fn cells_grow_with_the_difference_and_respect_bounds() {
        let config = Config::default();
        let mut last = 0;
        for d in 0..5000 {
            let cells = plan(
                DifferenceEstimate {
                    value: d,
                    exact: true,
                },
                &config,
            );
            assert!(cells >= last, "d = {d}");
            assert!(cells >= config.min_cells);
            assert_eq!(cells % usize::from(config.k), 0);
            last = cells;
        }
        let capped = plan(
            DifferenceEstimate {
                value: 10_000_000,
                exact: false,
            },
            &config,
        );
        assert_eq!(capped, config.limits.max_cells);
    }

    #[test]
    fn inexact_estimates_get_the_margin() {
        let config = Config {
            estimate_margin: 1.5,
            ..Config::default()
        };
        let exact = plan(
            DifferenceEstimate {
                value: 1000,
                exact: true,
            },
            &config,
        );
        let inexact = plan(
            DifferenceEstimate {
                value: 1000,
                exact: false,
            },
            &config,
        );
        assert_eq!(exact, cells_for_difference(1000));
        assert!(inexact >= cells_for_difference(1500));
    }

    /// The goal of issue 13: at d = 100, split evenly, a session's bytes
    /// (both ways, every round trip) at most twice the 32·d bytes of the
    /// raw ids. Tables of whole ids cost about 2.4x; of fingerprints,
    /// with the ids the peer alone holds resolved, about 1.6x.
    #[test]
    fn a_session_at_d_100_costs_at_most_twice_the_raw_ids() {
        const SESSIONS: u64 = 20;
        let d = 100;
        let mut rng = StdRng::seed_from_u64(31);
        let config = Config::default();
        let mut bytes = 0;
        for seed in 0..SESSIONS {
            let common = ids(&mut rng, 2000);
            let a: Vec<Id> = common.iter().copied().chain(ids(&mut rng, d / 2)).collect();
            let b: Vec<Id> = common.iter().copied().chain(ids(&mut rng, d / 2)).collect();
            let (diff, stats) = run(&config, &a, &b, seed);
            assert_eq!(diff, expected(&a, &b));
            bytes += stats.bytes_sent + stats.bytes_received;
        }
        let raw = SESSIONS * 32 * d as u64;
        assert!(bytes <= 2 * raw, "{bytes} bytes for {raw} raw");
    }

    #[test]
    fn a_table_costs_13_bytes_a_cell() {
        let mut rng = StdRng::seed_from_u64(32);
        let a = ids(&mut rng, 2000);
        let config = Config::default();
        let (_, request) = Reconciler::start_with_seed(config.clone(), &a, 1);
        let Response::Table { table, .. } = Reconciler::on_request(&config, &a[100..], &request).unwrap()
        else {
            panic!("a table was expected");
        };
        assert_eq!(table.keys(), Keys::Fingerprints);
        let response = Response::Table {
            set_size: 1900,
            table: table.clone(),
        };
        assert_eq!(
            response.encoded_len(),
            2 + 8 + IBLT_HEADER_BYTES + table.cells() * FINGERPRINT_CELL_WIRE_BYTES
        );
    }

    #[test]
    fn interpolation_matches_the_table_points() {
        assert_eq!(cells_for_difference(100), 152);
        assert_eq!(cells_for_difference(1000), 1356);
        assert!((1356..=2008).contains(&cells_for_difference(1200)));
        assert_eq!(cells_for_difference(6000), 7968);
    }
}

mod reconciler {
    use super::*;

    #[test]
    fn equal_sets_end_in_one_round_trip() {
        let mut rng = StdRng::seed_from_u64(20);
        let set = ids(&mut rng, 3000);
        let (diff, stats) = run(&Config::default(), &set, &set, 1);
        assert!(diff.is_empty());
        assert_eq!(stats.round_trips, 1);
        assert!(!stats.full_list);
    }

    #[test]
    fn finds_both_sides_of_the_difference_with_either_estimator() {
        let mut rng = StdRng::seed_from_u64(21);
        let common = ids(&mut rng, 3000);
        let a: Vec<Id> = common.iter().copied().chain(ids(&mut rng, 40)).collect();
        let b: Vec<Id> = common.iter().copied().chain(ids(&mut rng, 60)).collect();
        for estimator in [
            Estimator::Ams {
                counters: DEFAULT_AMS_COUNTERS,
            },
            Estimator::Strata {
                stratum_cells: DEFAULT_STRATUM_CELLS,
            },
        ] {
            let config = Config {
                estimator,
                ..Config::default()
            };
            let (diff, stats) = run(&config, &a, &b, 2);
            assert_eq!(diff, expected(&a, &b));
            assert!(stats.bytes_sent > 0 && stats.bytes_received > 0);
        }
    }

    #[test]
    fn an_invalid_estimator_size_falls_back_to_strata() {
        let mut rng = StdRng::seed_from_u64(29);
        let a = ids(&mut rng, 200);
        let config = Config {
            estimator: Estimator::Ams { counters: 0 },
            ..Config::default()
        };
        let (_, request) = Reconciler::start_with_seed(config.clone(), &a, 1);
        assert!(matches!(
            request,
            Request::Estimate {
                sketch: Sketch::Strata(_),
                ..
            }
        ));
        assert_eq!(
            run(&config, &a, &a[1..], 2).0.local_only,
            vec![{
                let mut s = a.clone();
                s.sort();
                s.retain(|id| *id == a[0]);
                s[0]
            }]
        );
    }

    #[test]
    fn duplicate_local_ids_are_a_set() {
        let mut rng = StdRng::seed_from_u64(22);
        let a = ids(&mut rng, 500);
        let mut doubled = a.clone();
        doubled.extend_from_slice(&a[..100]);
        let (diff, _) = run(&Config::default(), &doubled, &a[1..], 3);
        assert_eq!(diff.local_only, vec![a[0]]);
        assert!(diff.remote_only.is_empty());
    }

    #[test]
    fn an_underestimate_is_repaired_by_doubling() {
        // A margin of 0.05 plans tables far too small for an inexact
        // estimate, so the session has to double (and still be exact).
        let config = Config {
            estimate_margin: 0.05,
            estimator: Estimator::Strata { stratum_cells: 3 },
            ..Config::default()
        };
        let mut rng = StdRng::seed_from_u64(23);
        let common = ids(&mut rng, 4000);
        let a: Vec<Id> = common.iter().copied().chain(ids(&mut rng, 300)).collect();
        let b: Vec<Id> = common.iter().copied().chain(ids(&mut rng, 300)).collect();
        let (diff, stats) = run(&config, &a, &b, 4);
        assert_eq!(diff, expected(&a, &b));
        assert!(stats.retries >= 1, "{stats:?}");
        assert!(!stats.full_list);
    }

    #[test]
    fn falls_back_to_the_full_list_past_max_cells() {
        let config = Config {
            estimate_margin: 0.05,
            estimator: Estimator::Strata { stratum_cells: 3 },
            limits: Limits {
                max_cells: 64,
                ..Limits::default()
            },
            ..Config::default()
        };
        let mut rng = StdRng::seed_from_u64(24);
        let common = ids(&mut rng, 2000);
        let a: Vec<Id> = common.iter().copied().chain(ids(&mut rng, 200)).collect();
        let b: Vec<Id> = common.iter().copied().chain(ids(&mut rng, 200)).collect();
        let (diff, stats) = run(&config, &a, &b, 5);
        assert_eq!(diff, expected(&a, &b));
        assert!(stats.full_list);
    }

    #[test]
    fn small_sets_get_the_list_directly() {
        // Ten ids: a list of 326 bytes beats any table for a difference of 10.
        let mut rng = StdRng::seed_from_u64(25);
        let a = ids(&mut rng, 10);
        let b = ids(&mut rng, 10);
        let (diff, stats) = run(&Config::default(), &a, &b, 6);
        assert_eq!(diff, expected(&a, &b));
        assert!(stats.full_list);
        assert_eq!(stats.round_trips, 1);
    }

    #[test]
    fn empty_sets() {
        let mut rng = StdRng::seed_from_u64(26);
        let b = ids(&mut rng, 50);
        assert_eq!(run(&Config::default(), &[], &b, 7).0, expected(&[], &b));
        assert_eq!(run(&Config::default(), &b, &[], 8).0, expected(&b, &[]));
        assert!(run(&Config::default(), &[], &[], 9).0.is_empty());
    }

    #[test]
    fn a_responder_whose_set_changes_mid_session_still_yields_the_truth() {
        // Round 1 answers from `b`, round 2 from `b` plus new ids: the
        // unfolded table is then inconsistent, verification rejects it and
        // the session ends with the full list of the set as it is now.
        let config = Config {
            estimate_margin: 0.05,
            estimator: Estimator::Strata { stratum_cells: 3 },
            ..Config::default()
        };
        let mut rng = StdRng::seed_from_u64(27);
        let common = ids(&mut rng, 2000);
        let a: Vec<Id> = common.iter().copied().chain(ids(&mut rng, 150)).collect();
        let b: Vec<Id> = common.iter().copied().chain(ids(&mut rng, 150)).collect();
        let b2: Vec<Id> = b.iter().copied().chain(ids(&mut rng, 30)).collect();
        let (mut session, request) = Reconciler::start_with_seed(config.clone(), &a, 10);
        let mut response = Reconciler::on_request(&config, &b, &request).unwrap();
        let diff = loop {
            match session.on_response(response).unwrap() {
                Next::Done(diff) => break diff,
                Next::Retry(next) | Next::FullList(next) | Next::Resolve(next) => {
                    response = Reconciler::on_request(&config, &b2, &next).unwrap();
                }
            }
        };
        // Whatever path it took, a verified result is a true difference
        // against one of the responder's snapshots.
        assert!(
            diff == expected(&a, &b2) || diff == expected(&a, &b),
            "{:?}",
            session.stats()
        );
    }

    /// Drives a session, handing each request to `answer`; the diff, the
    /// stats and every request sent.
    fn drive(
        config: &Config,
        a: &[Id],
        seed: u64,
        mut answer: impl FnMut(&Request) -> Response,
    ) -> (Diff, Stats, Vec<Request>) {
        let (mut session, mut request) = Reconciler::start_with_seed(config.clone(), a, seed);
        let mut sent = vec![request.clone()];
        loop {
            match session.on_response(answer(&request)).unwrap() {
                Next::Done(diff) => return (diff, session.stats(), sent),
                Next::Retry(next) | Next::FullList(next) | Next::Resolve(next) => {
                    sent.push(next.clone());
                    request = next;
                }
            }
        }
    }

    #[test]
    fn only_the_ids_the_peer_alone_holds_are_resolved() {
        let mut rng = StdRng::seed_from_u64(33);
        let common = ids(&mut rng, 3000);
        let a: Vec<Id> = common.iter().copied().chain(ids(&mut rng, 30)).collect();
        let b: Vec<Id> = common.iter().copied().chain(ids(&mut rng, 20)).collect();
        let config = Config::default();
        let (diff, stats, sent) = drive(&config, &a, 11, |r| {
            Reconciler::on_request(&config, &b, r).unwrap()
        });
        assert_eq!(diff, expected(&a, &b));
        assert_eq!(stats.round_trips, 2);
        let Some(Request::Resolve { fingerprints, .. }) = sent.last() else {
            panic!("the last request resolves: {sent:?}");
        };
        assert_eq!(fingerprints.len(), 20);
        // With nothing the peer alone holds, one round trip suffices.
        let (diff, stats, _) = drive(&config, &a, 12, |r| {
            Reconciler::on_request(&config, &common, r).unwrap()
        });
        assert_eq!(diff, expected(&a, &common));
        assert_eq!(stats.round_trips, 1);
    }

    #[test]
    fn after_resolve_the_local_part_and_the_peers_fingerprints_are_known() {
        let mut rng = StdRng::seed_from_u64(36);
        let common = ids(&mut rng, 3000);
        let a_only = ids(&mut rng, 15);
        let b_only = ids(&mut rng, 25);
        let a: Vec<Id> = common.iter().chain(&a_only).copied().collect();
        let b: Vec<Id> = common.iter().chain(&b_only).copied().collect();
        let config = Config::default();
        let (mut session, request) = Reconciler::start_with_seed(config.clone(), &a, 14);
        assert_eq!(session.local_only(), None);
        let response = Reconciler::on_request(&config, &b, &request).unwrap();
        let Next::Resolve(Request::Resolve { seed, fingerprints }) = session.on_response(response).unwrap()
        else {
            panic!("the table should decode and ask for the peer's ids");
        };
        let mut want_local = a_only.clone();
        want_local.sort_unstable();
        assert_eq!(session.local_only(), Some(&want_local[..]));
        let hasher = FingerprintHasher::new(seed);
        let mut want: Vec<u64> = b_only.iter().map(|id| hasher.fingerprint(id)).collect();
        want.sort_unstable();
        assert_eq!(fingerprints, want);
    }

    #[test]
    fn a_wrong_resolution_falls_back_to_the_full_list() {
        let mut rng = StdRng::seed_from_u64(34);
        let common = ids(&mut rng, 3000);
        let a: Vec<Id> = common.iter().copied().chain(ids(&mut rng, 10)).collect();
        let b: Vec<Id> = common.iter().copied().chain(ids(&mut rng, 10)).collect();
        let config = Config::default();
        type Corrupt = fn(Vec<Id>, &[Id]) -> Vec<Id>;
        let wrong_answers: [Corrupt; 3] = [
            // One id short.
            |mut ids, _| {
                ids.pop();
                ids
            },
            // One of the initiator's own ids added.
            |mut ids, a| {
                ids.push(a[0]);
                ids
            },
            // An id whose fingerprint was not asked for.
            |mut ids, _| {
                ids[0][0] ^= 1;
                ids
            },
        ];
        for wrong in wrong_answers {
            let (diff, stats, sent) = drive(&config, &a, 13, |r| {
                let answer = Reconciler::on_request(&config, &b, r).unwrap();
                match (r, answer) {
                    (Request::Resolve { .. }, Response::Ids(ids)) => Response::Ids(wrong(ids, &a)),
                    (_, answer) => answer,
                }
            });
            assert_eq!(diff, expected(&a, &b));
            assert!(stats.full_list);
            assert!(matches!(sent.last(), Some(Request::FullList)), "{sent:?}");
        }
    }

    #[test]
    fn a_table_of_whole_ids_is_a_protocol_error() {
        let mut rng = StdRng::seed_from_u64(35);
        let a = ids(&mut rng, 1000);
        let (mut s, _) = Reconciler::start_with_seed(Config::default(), &a, 1);
        let table = Iblt::from_ids(&a, 40, 4, 1).unwrap();
        assert_eq!(
            s.on_response(Response::Table {
                set_size: 1000,
                table
            }),
            Err(ReconcileError::Protocol("table does not hold fingerprints"))
        );
    }

    #[test]
    fn protocol_violations_are_errors() {
        let mut rng = StdRng::seed_from_u64(28);
        let a = ids(&mut rng, 1000);
        let config = Config::default();

        // An extension before any table.
        let (mut s, _) = Reconciler::start_with_seed(config.clone(), &a, 1);
        let low = Iblt::new(8, 4, 1).unwrap();
        assert!(matches!(
            s.on_response(Response::Extension { low_halves: low }),
            Err(ReconcileError::Protocol(_))
        ));
        // Any error ends the session.
        assert_eq!(
            s.on_response(Response::Ids(vec![])),
            Err(ReconcileError::Finished)
        );

        // A table under another seed.
        let (mut s, _) = Reconciler::start_with_seed(config.clone(), &a, 1);
        let table = Iblt::from_ids(&a, 40, 4, 2).unwrap();
        assert!(matches!(
            s.on_response(Response::Table {
                set_size: 1000,
                table
            }),
            Err(ReconcileError::Protocol(_))
        ));

        // A finished session refuses more responses.
        let (mut s, _) = Reconciler::start_with_seed(config, &a, 1);
        assert!(matches!(
            s.on_response(Response::Ids(a.clone())),
            Ok(Next::Done(_))
        ));
        assert_eq!(
            s.on_response(Response::Ids(a)),
            Err(ReconcileError::Finished)
        );
    }

    #[test]
    fn messages_round_trip_and_reject_malformed_bytes() {
        let limits = Limits::default();
        let mut rng = StdRng::seed_from_u64(29);
        let set = ids(&mut rng, 300);
        let requests = [
            Request::Estimate {
                set_size: 300,
                sketch: Sketch::Strata(StrataEstimator::from_ids(&set, 24, 1).unwrap()),
            },
            Request::Estimate {
                set_size: 300,
                sketch: Sketch::Ams(AmsSketch::from_ids(&set, 64, 1).unwrap()),
            },
            Request::Extend {
                k: 4,
                seed: 1,
                cells: 64,
            },
            Request::FullList,
            Request::Resolve {
                seed: 1,
                fingerprints: vec![3, 9, u64::MAX],
            },
        ];
        for r in &requests {
            let bytes = r.to_bytes();
            assert_eq!(bytes.len(), r.encoded_len());
            assert_eq!(&Request::from_bytes(&bytes, &limits).unwrap(), r);
            for len in 0..bytes.len() {
                assert!(Request::from_bytes(&bytes[..len], &limits).is_err());
            }
        }
        let responses = [
            Response::Table {
                set_size: 300,
                table: Iblt::from_keys(Keys::Fingerprints, &set, 40, 4, 1).unwrap(),
            },
            Response::Table {
                set_size: 300,
                table: Iblt::from_ids(&set, 40, 4, 1).unwrap(),
            },
            Response::Extension {
                low_halves: Iblt::from_ids(&set, 20, 4, 1).unwrap(),
            },
            Response::Ids(set.clone()),
        ];
        for r in &responses {
            let bytes = r.to_bytes();
            assert_eq!(bytes.len(), r.encoded_len());
            assert_eq!(&Response::from_bytes(&bytes, &limits).unwrap(), r);
            for len in 0..bytes.len() {
                assert!(Response::from_bytes(&bytes[..len], &limits).is_err());
            }
        }
        // Version 1 held tables of whole ids and had no Resolve.
        assert_eq!(
            Request::from_bytes(&[1, 3], &limits),
            Err(WireError::Version(1))
        );
        assert_eq!(
            Request::from_bytes(&[2, 9], &limits),
            Err(WireError::Tag(9))
        );
        assert_eq!(
            Response::from_bytes(&[2, 0], &limits),
            Err(WireError::Tag(0))
        );
        assert_eq!(
            Request::from_bytes(&[2, 3, 0], &limits),
            Err(WireError::TrailingBytes(1))
        );

        let small = Limits {
            max_cells: 32,
            max_stratum_cells: 12,
            max_ams_counters: 16,
            max_ids: 299,
        };
        let too_big = Request::Extend {
            k: 4,
            seed: 1,
            cells: 32,
        }
        .to_bytes();
        assert!(matches!(
            Request::from_bytes(&too_big, &small),
            Err(WireError::TooLarge { .. })
        ));
        let bad_k = Request::Extend {
            k: 0,
            seed: 1,
            cells: 32,
        }
        .to_bytes();
        assert!(matches!(
            Request::from_bytes(&bad_k, &limits),
            Err(WireError::Params(_))
        ));
        let many = Request::Resolve {
            seed: 1,
            fingerprints: (0..300).collect(),
        };
        assert!(matches!(
            Request::from_bytes(&many.to_bytes(), &small),
            Err(WireError::TooLarge {
                what: "fingerprints",
                ..
            })
        ));
        // A fingerprint count far beyond the payload is refused before
        // allocating.
        let mut lie = vec![2, 4];
        lie.extend_from_slice(&1u64.to_le_bytes());
        lie.extend_from_slice(&(1u32 << 20).to_le_bytes());
        assert!(matches!(
            Request::from_bytes(&lie, &limits),
            Err(WireError::Truncated { .. })
        ));
        for sketch in &requests[..2] {
            assert!(matches!(
                Request::from_bytes(&sketch.to_bytes(), &small),
                Err(WireError::TooLarge { .. })
            ));
        }
        let mut unknown_sketch = requests[0].to_bytes();
        unknown_sketch[10] = 7;
        assert_eq!(
            Request::from_bytes(&unknown_sketch, &limits),
            Err(WireError::Tag(7))
        );
        for r in &responses {
            assert!(matches!(
                Response::from_bytes(&r.to_bytes(), &small),
                Err(WireError::TooLarge { .. })
            ));
        }
        // An id count far beyond the payload is refused before allocating.
        let mut lie = vec![2, 3];
        lie.extend_from_slice(&(1u32 << 20).to_le_bytes());
        assert!(matches!(
            Response::from_bytes(&lie, &limits),
            Err(WireError::Truncated { .. })
        ));
    }
}
