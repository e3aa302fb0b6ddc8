//! Seeded hashing shared by both peers.
//!
//! Each table derives a BLAKE3 key from its 64-bit seed, so two peers that
//! agree on the seed place every id in the same cells, while an outsider
//! who does not know a session's (random) seed cannot craft ids that
//! collide in the same cells and stall peeling.

/// Largest number of hash functions: the 40 bytes one id needs
/// (8 checksum + 4 per sub-table) come from a single BLAKE3 output block.
pub(crate) const MAX_LANES: usize = 8;

const CELL_CONTEXT: &str = "x0x-iblt 2025 cell hash v1";
const STRATA_CONTEXT: &str = "x0x-iblt 2025 strata hash v1";
const FINGERPRINT_CONTEXT: &str = "x0x-iblt 2025 fingerprint v1";

/// Everything a table needs to know about one id.
pub(crate) struct IdHash {
    /// The checksum stored in `hash_xor`: it tells a pure cell (one id)
    /// from a mixed one.
    pub(crate) check: u64,
    /// One 32-bit value per sub-table; the cell is `lane % sub_table_len`.
    /// A modulus (not a multiply-shift) keeps positions nested when a
    /// sub-table doubles: `(h % 2s) % s == h % s`, which is what lets a
    /// retry send only half of the doubled table.
    pub(crate) lanes: [u32; MAX_LANES],
}

#[derive(Clone)]
pub(crate) struct CellHasher {
    key: [u8; 32],
}

impl CellHasher {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            key: blake3::derive_key(CELL_CONTEXT, &seed.to_le_bytes()),
        }
    }

    pub(crate) fn hash(&self, id: &[u8; 32]) -> IdHash {
        let mut out = [0u8; 8 + 4 * MAX_LANES];
        let mut hasher = blake3::Hasher::new_keyed(&self.key);
        hasher.update(id);
        hasher.finalize_xof().fill(&mut out);
        let (check, rest) = out.split_at(8);
        let mut lanes = [0u32; MAX_LANES];
        for (lane, bytes) in lanes.iter_mut().zip(rest.chunks_exact(4)) {
            *lane = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        IdHash {
            check: u64::from_le_bytes([
                check[0], check[1], check[2], check[3], check[4], check[5], check[6], check[7],
            ]),
            lanes,
        }
    }
    /// The hash of a fingerprint key: a keyed hash already, so cheap
    /// mixing (salted by the seed) replaces a second BLAKE3 call per id.
    pub(crate) fn hash_fingerprint(&self, fp: u64) -> IdHash {
        let salt = u64::from_le_bytes([
            self.key[0], self.key[1], self.key[2], self.key[3], self.key[4], self.key[5],
            self.key[6], self.key[7],
        ]);
        let mut x = mix64(fp ^ salt);
        let check = x;
        let mut lanes = [0u32; MAX_LANES];
        for pair in lanes.chunks_exact_mut(2) {
            x = mix64(x);
            pair[0] = x as u32;
            pair[1] = (x >> 32) as u32;
        }
        IdHash { check, lanes }
    }
}

#[derive(Clone)]
pub(crate) struct StrataHasher {
    key: [u8; 32],
}

impl StrataHasher {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            key: blake3::derive_key(STRATA_CONTEXT, &seed.to_le_bytes()),
        }
    }

    /// The id's stratum (trailing zeros of 64 hash bits, so stratum `i`
    /// holds a 2^-(i+1) share of any set) and its 32-bit fingerprint.
    pub(crate) fn hash(&self, id: &[u8; 32]) -> (u32, u32) {
        let out = blake3::keyed_hash(&self.key, id);
        let b = out.as_bytes();
        let level = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        let fp = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
        (level.trailing_zeros(), fp)
    }
}

/// The 64-bit fingerprints a session's tables hold instead of the ids.
/// Keyed by the session seed, so a peer that crafts ids cannot make two of
/// them share a fingerprint in a session it does not seed. Public so that
/// a network layer can fetch items by the fingerprints a session found
/// ([`crate::Request::Resolve`]) without a round trip for their ids.
#[derive(Clone)]
pub struct FingerprintHasher {
    key: [u8; 32],
}

impl FingerprintHasher {
    /// The fingerprints of the session keyed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            key: blake3::derive_key(FINGERPRINT_CONTEXT, &seed.to_le_bytes()),
        }
    }

    /// `id`'s fingerprint.
    pub fn fingerprint(&self, id: &[u8; 32]) -> u64 {
        let out = blake3::keyed_hash(&self.key, id);
        let b = out.as_bytes();
        u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }
}

/// SplitMix64's finaliser: a bijection on u64. Strata cells derive their
/// check and positions from the fingerprint alone (the fingerprint is
/// already a keyed hash), so a cheap mixer suffices and distinct
/// fingerprints never share a mixed value.
pub(crate) fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
