//! Choosing a table size from a difference estimate.

use crate::strata::DifferenceEstimate;
use crate::Config;

/// Measured cells for ≥ 99 % decode success with k = 4, per difference
/// size (see `examples/iblt_calibrate.rs`, which regenerates it). Small
/// differences need proportionally more cells: with few ids the chance
/// that a handful of them block each other does not vanish.
/// Rows are the measured minimum (5,000 trials per probe up to d = 300,
/// 1,000 above), rounded up where a neighbour showed the probe was lucky
/// so that cells never fall as d grows.
const CELLS_FOR_99: &[(usize, usize)] = &[
    (0, 4),
    (1, 4),
    (2, 16),
    (3, 20),
    (4, 24),
    (5, 24),
    (6, 28),
    (8, 32),
    (10, 36),
    (12, 40),
    (15, 44),
    (20, 52),
    (25, 60),
    (30, 64),
    (40, 76),
    (50, 88),
    (60, 100),
    (75, 120),
    (100, 152),
    (150, 220),
    (200, 288),
    (300, 424),
    (500, 692),
    (700, 960),
    (1000, 1356),
    (1500, 2008),
    (2000, 2668),
    (3000, 3984),
];

/// Cells for a ≥ 99 % decode at a known difference `d` (k = 4): the
/// measured table, interpolated linearly in between, and its last ratio
/// beyond it (the ratio only falls as `d` grows, towards the asymptotic
/// peeling threshold of 1.295 for k = 4).
pub fn cells_for_difference(d: usize) -> usize {
    let mut prev = CELLS_FOR_99[0];
    for &(pd, pc) in CELLS_FOR_99 {
        if d == pd {
            return pc;
        }
        if d < pd {
            let (d0, c0) = prev;
            let span = (pd - d0) as f64;
            let t = (d - d0) as f64 / span;
            return (c0 as f64 + t * (pc as f64 - c0 as f64)).ceil() as usize;
        }
        prev = (pd, pc);
    }
    let (ld, lc) = prev;
    (d as f64 * lc as f64 / ld as f64).ceil() as usize
}

/// The number of cells to send for an estimated difference: the measured
/// 99 % size for the estimate (multiplied by `config.estimate_margin` when
/// the estimate is not exact), at least `config.min_cells`, at most
/// `config.limits.max_cells` (rounded down to a multiple of `k`), rounded
/// up to a multiple of `config.k`.
pub fn plan(estimate: DifferenceEstimate, config: &Config) -> usize {
    let d = if estimate.exact {
        estimate.value
    } else {
        // `as` saturates, so a "huge" estimate stays huge, without overflow.
        (estimate.value as f64 * config.estimate_margin).round() as usize
    };
    let k = usize::from(config.k.max(1));
    let cap = (config.limits.max_cells / k * k).max(k);
    // Cap before rounding up, so the rounding cannot overflow.
    let cells = cells_for_difference(d).max(config.min_cells).min(cap);
    cells.div_ceil(k) * k
}
