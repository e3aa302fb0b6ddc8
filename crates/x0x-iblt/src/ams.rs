//! A second difference estimator: the "fast AMS" sketch (the
//! Alon–Matias–Szegedy tug-of-war F2 estimator with the bucketing of
//! Cormode and Garofalakis).
//!
//! Each id adds ±1 (a hashed sign) to one of `w` hashed counters. The two
//! peers' counters differ by the signed sum over the ids of the symmetric
//! difference only, and `Σ (a_j − b_j)²` is an unbiased estimate of the
//! difference's size with relative standard deviation `√(2(1 − 1/d)/w)`:
//! about 4.4 % for the default 1,024 one-byte counters, whatever the set
//! size. The strata estimator reaches ±15 % with 4–5 KB on 10,000 ids and
//! grows with log n; this sketch is 1 KB for any n, at the price of being
//! only near-exact (rather than exact) for small differences.

use crate::error::{ParamsError, WireError};
use crate::strata::DifferenceEstimate;
use crate::wire::Reader;
use crate::Id;

/// Counters unless configured otherwise.
pub const DEFAULT_AMS_COUNTERS: usize = 1024;
/// Largest counter count this crate builds or accepts.
pub const MAX_AMS_COUNTERS: usize = 1 << 15;
/// Bytes of the sketch header: version, seed, counter count.
pub const AMS_HEADER_BYTES: usize = 1 + 8 + 2;

const AMS_VERSION: u8 = 1;
const AMS_CONTEXT: &str = "x0x-iblt 2025 ams hash v1";
/// A counter difference this far from zero may have wrapped (counters are
/// kept modulo 256): the estimate is then a lower bound only.
const SATURATED: u8 = 100;

/// A fast-AMS sketch of a set of 32-byte ids.
#[derive(Clone)]
pub struct AmsSketch {
    seed: u64,
    key: [u8; 32],
    counters: Vec<i8>,
}

impl PartialEq for AmsSketch {
    fn eq(&self, other: &Self) -> bool {
        // The key is a function of the seed.
        self.seed == other.seed && self.counters == other.counters
    }
}

impl Eq for AmsSketch {}

impl std::fmt::Debug for AmsSketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmsSketch")
            .field("seed", &format_args!("{:#018x}", self.seed))
            .field("counters", &self.counters.len())
            .finish()
    }
}

fn check_counters(counters: usize) -> Result<(), ParamsError> {
    if counters == 0 {
        return Err(ParamsError::Cells { cells: 0, k: 1 });
    }
    if counters > MAX_AMS_COUNTERS {
        return Err(ParamsError::TooManyCells {
            cells: counters,
            max: MAX_AMS_COUNTERS,
        });
    }
    Ok(())
}

impl AmsSketch {
    /// An empty sketch of `counters` counters keyed by `seed`.
    ///
    /// # Errors
    /// [`ParamsError`] if `counters` is zero or above [`MAX_AMS_COUNTERS`].
    pub fn new(counters: usize, seed: u64) -> Result<Self, ParamsError> {
        check_counters(counters)?;
        Ok(Self {
            seed,
            key: blake3::derive_key(AMS_CONTEXT, &seed.to_le_bytes()),
            counters: vec![0; counters],
        })
    }

    /// A sketch of the set `ids`.
    ///
    /// # Errors
    /// As [`AmsSketch::new`].
    pub fn from_ids<'a>(
        ids: impl IntoIterator<Item = &'a Id>,
        counters: usize,
        seed: u64,
    ) -> Result<Self, ParamsError> {
        let mut sketch = Self::new(counters, seed)?;
        for id in ids {
            sketch.insert(id);
        }
        Ok(sketch)
    }

    /// The seed that keys buckets and signs.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Number of counters.
    pub fn counters(&self) -> usize {
        self.counters.len()
    }

    fn apply(&mut self, id: &Id, insert: bool) {
        let out = blake3::keyed_hash(&self.key, id);
        let b = out.as_bytes();
        let h = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        // 63 bits choose the bucket, the top bit the sign.
        let bucket = ((h & (u64::MAX >> 1)) % self.counters.len() as u64) as usize;
        let up = (h >> 63 == 1) == insert;
        let c = &mut self.counters[bucket];
        *c = if up {
            c.wrapping_add(1)
        } else {
            c.wrapping_sub(1)
        };
    }

    /// Adds `id`.
    pub fn insert(&mut self, id: &Id) {
        self.apply(id, true);
    }

    /// Removes `id`.
    pub fn remove(&mut self, id: &Id) {
        self.apply(id, false);
    }

    /// Estimates `|self Δ other|`; `exact` only when the sketches are
    /// identical (which, for a difference of two or more ids, happens with
    /// probability below 1/w).
    ///
    /// # Errors
    /// [`ParamsError::Mismatch`] if the seeds or counter counts differ.
    pub fn estimate(&self, other: &AmsSketch) -> Result<DifferenceEstimate, ParamsError> {
        if self.seed != other.seed {
            return Err(ParamsError::Mismatch("seed"));
        }
        if self.counters.len() != other.counters.len() {
            return Err(ParamsError::Mismatch("counters"));
        }
        let mut sum = 0u64;
        let mut saturated = false;
        for (a, b) in self.counters.iter().zip(&other.counters) {
            let diff = a.wrapping_sub(*b).unsigned_abs();
            saturated |= diff >= SATURATED;
            sum += u64::from(diff) * u64::from(diff);
        }
        let value = if saturated {
            // Counters wrap modulo 256 once a bucket holds more than ~100
            // net differing ids (d above about 600·w). Report "huge" so
            // planning caps the table and the list takes over.
            usize::MAX
        } else {
            usize::try_from(sum).unwrap_or(usize::MAX)
        };
        Ok(DifferenceEstimate {
            value,
            exact: sum == 0,
        })
    }

    /// Estimates `|self Δ other|`. See [`AmsSketch::estimate`].
    ///
    /// # Errors
    /// [`ParamsError::Mismatch`] if the seeds or counter counts differ.
    pub fn estimate_difference(&self, other: &AmsSketch) -> Result<usize, ParamsError> {
        Ok(self.estimate(other)?.value)
    }

    /// Bytes [`AmsSketch::to_bytes`] produces.
    pub fn encoded_len(&self) -> usize {
        AMS_HEADER_BYTES + self.counters.len()
    }

    /// The wire encoding: version (1 byte), seed (u64 LE), counter count
    /// (u16 LE), then one byte per counter (two's complement, modulo 256:
    /// only differences between the peers' counters matter).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.write_to(&mut out);
        out
    }

    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        out.push(AMS_VERSION);
        out.extend_from_slice(&self.seed.to_le_bytes());
        // check_counters caps this at 2^15.
        out.extend_from_slice(&(self.counters.len() as u16).to_le_bytes());
        out.extend(self.counters.iter().map(|c| c.to_le_bytes()[0]));
    }

    /// Decodes [`AmsSketch::to_bytes`] output, accepting at most
    /// `max_counters` counters.
    ///
    /// # Errors
    /// [`WireError`] for truncated input, an unknown version, too many or
    /// zero counters, or trailing bytes.
    pub fn from_bytes(bytes: &[u8], max_counters: usize) -> Result<Self, WireError> {
        let mut reader = Reader::new(bytes);
        let sketch = Self::read_from(&mut reader, max_counters)?;
        reader.finish()?;
        Ok(sketch)
    }

    pub(crate) fn read_from(
        reader: &mut Reader<'_>,
        max_counters: usize,
    ) -> Result<Self, WireError> {
        let version = reader.u8()?;
        if version != AMS_VERSION {
            return Err(WireError::Version(version));
        }
        let seed = reader.u64()?;
        let counters = usize::from(reader.u16()?);
        let limit = max_counters.min(MAX_AMS_COUNTERS);
        if counters > limit {
            return Err(WireError::TooLarge {
                what: "counters",
                value: counters as u64,
                limit: limit as u64,
            });
        }
        check_counters(counters)?;
        let bytes = reader.bytes(counters)?;
        let mut sketch = Self::new(counters, seed)?;
        for (c, b) in sketch.counters.iter_mut().zip(bytes) {
            *c = i8::from_le_bytes([*b]);
        }
        Ok(sketch)
    }
}
