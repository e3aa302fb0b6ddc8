//! Statistical test: the decode success rate of a plain table against
//! cells per differing id, over many trials, asserted against stated
//! lower bounds. The measured rates are printed (`--nocapture` shows them).
//!
//! Only the difference is inserted: subtracting two tables leaves exactly
//! the table of their symmetric difference (cell arithmetic is linear),
//! so this measures the same thing as building both sets, much faster.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use x0x_iblt::Iblt;

fn rate(d: usize, cells: usize, trials: usize, rng: &mut StdRng) -> f64 {
    let mut ok = 0;
    for _ in 0..trials {
        let mut t = Iblt::new(cells, 4, rng.gen()).expect("valid params");
        let mut ids: Vec<([u8; 32], bool)> = Vec::with_capacity(d);
        for _ in 0..d {
            let id: [u8; 32] = rng.gen();
            let mine = rng.gen::<bool>();
            if mine {
                t.insert(&id);
            } else {
                t.remove(&id);
            }
            ids.push((id, mine));
        }
        if let Ok(decoded) = t.decode() {
            // A success must also be *correct*: every id, on its side.
            let mut got: Vec<([u8; 32], bool)> = decoded
                .only_in_self
                .iter()
                .map(|id| (*id, true))
                .chain(decoded.only_in_other.iter().map(|id| (*id, false)))
                .collect();
            got.sort_unstable();
            ids.sort_unstable();
            assert_eq!(
                got, ids,
                "a successful decode must list the exact difference"
            );
            ok += 1;
        }
    }
    ok as f64 / trials as f64
}

/// Lower bounds, each several binomial standard deviations below the rate
/// measured with 5,000 trials (`examples/iblt_calibrate.rs`), so the test
/// fails only on a real regression, never on chance (the rng is seeded,
/// so it is also deterministic).
#[test]
fn decode_success_rate_against_cells_per_difference() {
    const TRIALS: usize = 1000;
    let mut rng = StdRng::seed_from_u64(0xdec0de);
    let d = 100;
    // (cells per difference, lower bound on the success rate)
    let points: [(f64, f64); 6] = [
        (1.2, 0.0),
        (1.3, 0.30),
        (1.4, 0.80),
        (1.5, 0.97),
        (1.6, 0.98),
        (2.0, 0.995),
    ];
    eprintln!("decode success, k = 4, d = {d}, {TRIALS} trials per point");
    for (ratio, bound) in points {
        // 1.5 · d rounded up to a multiple of k: 152 cells at d = 100.
        let cells = ((ratio * d as f64).ceil() as usize).div_ceil(4) * 4;
        let measured = rate(d, cells, TRIALS, &mut rng);
        eprintln!(
            "  {cells:>4} cells ({ratio:.1}·d): {:>6.2} %  (lower bound {:.1} %)",
            measured * 100.0,
            bound * 100.0
        );
        assert!(measured >= bound, "{cells} cells: {measured} < {bound}");
    }
}

/// The same at d = 1000, where the threshold is sharper (fewer trials:
/// each costs ten times more).
#[test]
fn decode_success_rate_at_d_1000() {
    const TRIALS: usize = 300;
    let mut rng = StdRng::seed_from_u64(0xdec1de);
    let d = 1000;
    eprintln!("decode success, k = 4, d = {d}, {TRIALS} trials per point");
    for (cells, bound) in [(1360, 0.97), (1500, 0.99)] {
        let measured = rate(d, cells, TRIALS, &mut rng);
        eprintln!(
            "  {cells:>4} cells ({:.2}·d): {:>6.2} %  (lower bound {:.1} %)",
            cells as f64 / d as f64,
            measured * 100.0,
            bound * 100.0
        );
        assert!(measured >= bound, "{cells} cells: {measured} < {bound}");
    }
}
