//! The strata estimator (Eppstein, Goodrich, Uyeda, Varghese, SIGCOMM
//! 2011): estimates the size of a symmetric difference before any table
//! is sized for it.
//!
//! Each id goes to stratum `i` with probability 2^-(i+1) (the trailing
//! zeros of a hash), and each stratum is a small invertible table. The
//! receiver subtracts its own estimator and decodes strata from the
//! sparsest down; when stratum `i` fails, the ids decoded above it are a
//! 2^-(i+1) sample of the difference, so the estimate is that count times
//! 2^(i+1). When every stratum decodes the count is exact.
//!
//! The strata hold 32-bit fingerprints of the ids, not the ids: an
//! estimator only has to *count* the difference, never list it, and
//! 6-byte cells (fingerprint + 16-bit check) instead of 41-byte ones make
//! it about 7× smaller on the wire. For the same reason the cells carry
//! no count: XOR alone cancels common ids, and a pure cell is recognised
//! by its check and position.

use crate::error::{ParamsError, WireError};
use crate::hash::{mix64, StrataHasher};
use crate::wire::Reader;
use crate::Id;

/// Number of strata: enough for sets and differences up to 2^32 ids.
pub const STRATA: usize = 32;
/// Hash functions (and disjoint sub-tables) per stratum. Small tables
/// peel best with three.
pub const STRATUM_K: usize = 3;
/// Cells per stratum unless configured otherwise.
pub const DEFAULT_STRATUM_CELLS: usize = 48;
/// Largest cells per stratum this crate builds or accepts.
pub const MAX_STRATUM_CELLS: usize = 3 * 1024;
/// Bytes of one stratum cell on the wire: fingerprint u32 + check u16.
pub const STRATUM_CELL_WIRE_BYTES: usize = 4 + 2;
/// Bytes of the estimator header: version, seed, cells per stratum,
/// number of strata sent.
pub const STRATA_HEADER_BYTES: usize = 1 + 8 + 2 + 1;

const STRATA_VERSION: u8 = 1;

#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
struct FpCell {
    fp: u32,
    check: u16,
}

impl FpCell {
    fn is_empty(self) -> bool {
        self.fp == 0 && self.check == 0
    }

    fn toggle(&mut self, fp: u32, check: u16) {
        self.fp ^= fp;
        self.check ^= check;
    }
}

/// Check and per-sub-table lanes of a fingerprint.
fn fp_hash(fp: u32) -> (u16, [u16; STRATUM_K]) {
    let m = mix64(u64::from(fp)).to_le_bytes();
    (
        u16::from_le_bytes([m[0], m[1]]),
        [
            u16::from_le_bytes([m[2], m[3]]),
            u16::from_le_bytes([m[4], m[5]]),
            u16::from_le_bytes([m[6], m[7]]),
        ],
    )
}

/// An estimate of a symmetric difference's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DifferenceEstimate {
    /// The estimated number of ids in the symmetric difference.
    pub value: usize,
    /// True when every stratum decoded, so `value` is the exact count
    /// (barring a 32-bit fingerprint collision inside the difference).
    pub exact: bool,
}

/// A strata estimator over a set of 32-byte ids.
#[derive(Clone)]
pub struct StrataEstimator {
    seed: u64,
    stratum_cells: usize,
    hasher: StrataHasher,
    /// The cells of strata `0..cells.len() / stratum_cells`; the strata
    /// past them are empty. A decoded estimator holds only the strata that
    /// were sent, so a short message cannot make the receiver allocate all
    /// [`STRATA`] of them.
    cells: Vec<FpCell>,
}

impl PartialEq for StrataEstimator {
    fn eq(&self, other: &Self) -> bool {
        // The hasher is a function of the seed; strata past the last
        // non-empty one are empty, held or not.
        let held = self.strata_sent() * self.stratum_cells;
        self.seed == other.seed
            && self.stratum_cells == other.stratum_cells
            && self.strata_sent() == other.strata_sent()
            && self.cells[..held] == other.cells[..held]
    }
}

impl Eq for StrataEstimator {}

impl std::fmt::Debug for StrataEstimator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StrataEstimator")
            .field("seed", &format_args!("{:#018x}", self.seed))
            .field("stratum_cells", &self.stratum_cells)
            .field("strata_sent", &self.strata_sent())
            .finish()
    }
}

fn check_stratum_cells(cells: usize) -> Result<(), ParamsError> {
    if cells == 0 || !cells.is_multiple_of(STRATUM_K) {
        return Err(ParamsError::Cells {
            cells,
            k: STRATUM_K,
        });
    }
    if cells > MAX_STRATUM_CELLS {
        return Err(ParamsError::TooManyCells {
            cells,
            max: MAX_STRATUM_CELLS,
        });
    }
    Ok(())
}

impl StrataEstimator {
    /// An empty estimator with `stratum_cells` cells per stratum (a
    /// multiple of [`STRATUM_K`]) keyed by `seed`.
    ///
    /// # Errors
    /// [`ParamsError`] for a cell count that is zero, not a multiple of
    /// [`STRATUM_K`] or above [`MAX_STRATUM_CELLS`].
    pub fn new(stratum_cells: usize, seed: u64) -> Result<Self, ParamsError> {
        check_stratum_cells(stratum_cells)?;
        Ok(Self {
            seed,
            stratum_cells,
            hasher: StrataHasher::new(seed),
            cells: vec![FpCell::default(); STRATA * stratum_cells],
        })
    }

    /// An estimator of the set `ids` (duplicates cancel out: pass a set).
    ///
    /// # Errors
    /// As [`StrataEstimator::new`].
    pub fn from_ids<'a>(
        ids: impl IntoIterator<Item = &'a Id>,
        stratum_cells: usize,
        seed: u64,
    ) -> Result<Self, ParamsError> {
        let mut estimator = Self::new(stratum_cells, seed)?;
        for id in ids {
            estimator.insert(id);
        }
        Ok(estimator)
    }

    /// The seed that keys strata and cell positions.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Cells in each stratum.
    pub fn stratum_cells(&self) -> usize {
        self.stratum_cells
    }

    fn toggle(&mut self, level: u32, fp: u32) {
        let stratum = (level as usize).min(STRATA - 1);
        let sub = self.stratum_cells / STRATUM_K;
        let (check, lanes) = fp_hash(fp);
        let base = stratum * self.stratum_cells;
        if self.cells.len() < base + self.stratum_cells {
            // A decoded estimator holds only the strata it was sent.
            self.cells.resize(base + self.stratum_cells, FpCell::default());
        }
        for (table, lane) in lanes.iter().enumerate() {
            self.cells[base + table * sub + usize::from(*lane) % sub].toggle(fp, check);
        }
    }

    /// Adds `id`. Adding it again removes it: the cells are XOR-only.
    pub fn insert(&mut self, id: &Id) {
        let (level, fp) = self.hasher.hash(id);
        self.toggle(level, fp);
    }

    /// Stratum `i`'s cells, or an empty slice when it is not held (and so
    /// empty).
    fn stratum(&self, i: usize) -> &[FpCell] {
        self.cells.get(i * self.stratum_cells..(i + 1) * self.stratum_cells).unwrap_or(&[])
    }

    /// Strata up to the last non-empty one; the rest are not sent.
    fn strata_sent(&self) -> usize {
        (0..STRATA)
            .rev()
            .find(|&i| self.stratum(i).iter().any(|c| !c.is_empty()))
            .map_or(0, |i| i + 1)
    }

    /// Estimates `|self Δ other|`. See [`StrataEstimator::estimate`].
    ///
    /// # Errors
    /// [`ParamsError::Mismatch`] if the seeds or cells per stratum differ.
    pub fn estimate_difference(&self, other: &StrataEstimator) -> Result<usize, ParamsError> {
        Ok(self.estimate(other)?.value)
    }

    /// Estimates `|self Δ other|` and says whether the count is exact.
    ///
    /// # Errors
    /// [`ParamsError::Mismatch`] if the seeds or cells per stratum differ.
    pub fn estimate(&self, other: &StrataEstimator) -> Result<DifferenceEstimate, ParamsError> {
        if self.seed != other.seed {
            return Err(ParamsError::Mismatch("seed"));
        }
        if self.stratum_cells != other.stratum_cells {
            return Err(ParamsError::Mismatch("cells per stratum"));
        }
        let mut scratch = vec![FpCell::default(); self.stratum_cells];
        let mut count = 0u64;
        for i in (0..STRATA).rev() {
            let (a, b) = (self.stratum(i), other.stratum(i));
            for (j, d) in scratch.iter_mut().enumerate() {
                // A stratum that is not held is empty.
                let a = a.get(j).copied().unwrap_or_default();
                let b = b.get(j).copied().unwrap_or_default();
                *d = FpCell {
                    fp: a.fp ^ b.fp,
                    check: a.check ^ b.check,
                };
            }
            match peel_count(&mut scratch) {
                Some(n) => count += n as u64,
                None => {
                    // Strata above i hold a 2^-(i+1) sample of the
                    // difference. A stratum that fails holds at least
                    // two ids, which bounds the estimate from below when
                    // the sample above is (improbably) empty.
                    let scaled = count.saturating_mul(1u64 << (i + 1));
                    let value = scaled.max(count + 2);
                    return Ok(DifferenceEstimate {
                        value: usize::try_from(value).unwrap_or(usize::MAX),
                        exact: false,
                    });
                }
            }
        }
        Ok(DifferenceEstimate {
            value: usize::try_from(count).unwrap_or(usize::MAX),
            exact: true,
        })
    }

    /// Bytes [`StrataEstimator::to_bytes`] produces.
    pub fn encoded_len(&self) -> usize {
        STRATA_HEADER_BYTES + self.strata_sent() * self.stratum_cells * STRATUM_CELL_WIRE_BYTES
    }

    /// The wire encoding: version (1 byte), seed (u64 LE), cells per
    /// stratum (u16 LE), number of strata sent `L` (1 byte), then the
    /// cells of strata `0..L`, each a fingerprint (u32 LE) and check
    /// (u16 LE). Trailing empty strata are left out: a set of n ids fills
    /// only about log2(n) + 1 of the 32.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.write_to(&mut out);
        out
    }

    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        let sent = self.strata_sent();
        out.push(STRATA_VERSION);
        out.extend_from_slice(&self.seed.to_le_bytes());
        // check_stratum_cells caps this at MAX_STRATUM_CELLS < 2^16.
        out.extend_from_slice(&(self.stratum_cells as u16).to_le_bytes());
        out.push(sent as u8);
        for cell in &self.cells[..sent * self.stratum_cells] {
            out.extend_from_slice(&cell.fp.to_le_bytes());
            out.extend_from_slice(&cell.check.to_le_bytes());
        }
    }

    /// Decodes [`StrataEstimator::to_bytes`] output received from a peer,
    /// accepting at most `max_stratum_cells` cells per stratum.
    ///
    /// # Errors
    /// [`WireError`] for truncated input, an unknown version, too many
    /// cells or strata, an invalid cell count, or trailing bytes.
    pub fn from_bytes(bytes: &[u8], max_stratum_cells: usize) -> Result<Self, WireError> {
        let mut reader = Reader::new(bytes);
        let estimator = Self::read_from(&mut reader, max_stratum_cells)?;
        reader.finish()?;
        Ok(estimator)
    }

    pub(crate) fn read_from(
        reader: &mut Reader<'_>,
        max_stratum_cells: usize,
    ) -> Result<Self, WireError> {
        let version = reader.u8()?;
        if version != STRATA_VERSION {
            return Err(WireError::Version(version));
        }
        let seed = reader.u64()?;
        let stratum_cells = usize::from(reader.u16()?);
        let limit = max_stratum_cells.min(MAX_STRATUM_CELLS);
        if stratum_cells > limit {
            return Err(WireError::TooLarge {
                what: "cells per stratum",
                value: stratum_cells as u64,
                limit: limit as u64,
            });
        }
        let sent = usize::from(reader.u8()?);
        if sent > STRATA {
            return Err(WireError::TooLarge {
                what: "strata",
                value: sent as u64,
                limit: STRATA as u64,
            });
        }
        check_stratum_cells(stratum_cells)?;
        reader.expect_items(sent * stratum_cells, STRATUM_CELL_WIRE_BYTES)?;
        // Only the strata sent: allocating all STRATA of them would let a
        // 12-byte header with no cells claim up to 32 x 3,072 (768 KiB).
        let mut cells = Vec::with_capacity(sent * stratum_cells);
        for _ in 0..sent * stratum_cells {
            cells.push(FpCell {
                fp: reader.u32()?,
                check: reader.u16()?,
            });
        }
        Ok(Self {
            seed,
            stratum_cells,
            hasher: StrataHasher::new(seed),
            cells,
        })
    }
}

/// Peels one difference stratum in place; the number of fingerprints, or
/// `None` if cells are left that cannot be peeled.
fn peel_count(cells: &mut [FpCell]) -> Option<usize> {
    let sub = cells.len() / STRATUM_K;
    let mut queue: Vec<usize> = (0..cells.len()).filter(|&i| !cells[i].is_empty()).collect();
    let mut peeled = 0usize;
    while let Some(i) = queue.pop() {
        let cell = cells[i];
        if cell.is_empty() {
            continue;
        }
        let (check, lanes) = fp_hash(cell.fp);
        let table = i / sub;
        if check != cell.check || table * sub + usize::from(lanes[table]) % sub != i {
            continue;
        }
        peeled += 1;
        if peeled > cells.len() {
            return None;
        }
        for (t, lane) in lanes.iter().enumerate() {
            let pos = t * sub + usize::from(*lane) % sub;
            cells[pos].toggle(cell.fp, check);
            if !cells[pos].is_empty() {
                queue.push(pos);
            }
        }
    }
    cells.iter().all(|c| c.is_empty()).then_some(peeled)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by x0x-core's `decoder_fuzz_iblt_messages`: a 12-byte header
    /// that sends no strata made the receiver allocate all 32 of them.
    #[test]
    fn a_decoded_estimator_holds_only_the_strata_sent() {
        let mut header = vec![STRATA_VERSION];
        header.extend_from_slice(&7u64.to_le_bytes());
        header.extend_from_slice(&(MAX_STRATUM_CELLS as u16).to_le_bytes());
        header.push(0);
        let decoded = StrataEstimator::from_bytes(&header, MAX_STRATUM_CELLS).unwrap();
        assert_eq!(decoded.cells.capacity(), 0);
        // It still behaves as the empty estimator it is, on either side.
        let empty = StrataEstimator::new(MAX_STRATUM_CELLS, 7).unwrap();
        assert_eq!(decoded, empty);
        let ids: Vec<Id> = (0..50u8).map(|i| [i; 32]).collect();
        let full = StrataEstimator::from_ids(&ids, MAX_STRATUM_CELLS, 7).unwrap();
        assert_eq!(decoded.estimate(&full).unwrap(), empty.estimate(&full).unwrap());
        assert_eq!(full.estimate(&decoded).unwrap(), full.estimate(&empty).unwrap());
        // And takes ids like any other.
        let mut grown = decoded.clone();
        for id in &ids {
            grown.insert(id);
        }
        assert_eq!(grown, full);
        assert_eq!(grown.to_bytes(), full.to_bytes());
    }
}
