//! The Invertible Bloom Lookup Table over 32-byte ids.

use std::fmt;

use crate::error::{DecodeError, ParamsError, WireError};
use crate::hash::{CellHasher, IdHash, MAX_LANES};
use crate::wire::Reader;
use crate::Id;

/// Number of hash functions (and sub-tables) used unless told otherwise.
pub const DEFAULT_K: u8 = 4;
/// Smallest supported number of hash functions.
pub const MIN_K: u8 = 2;
/// Largest supported number of hash functions.
pub const MAX_K: u8 = MAX_LANES as u8;
/// Hard upper bound on the cells of any table this crate builds or decodes
/// (2^24 cells, about 690 MB on the wire). Receivers should pass a much
/// smaller limit to [`Iblt::from_bytes`].
pub const MAX_TABLE_CELLS: usize = 1 << 24;
/// Bytes one cell of an id table ([`Keys::Ids`]) takes on the wire:
/// 1 count + 32 key + 8 checksum.
pub const CELL_WIRE_BYTES: usize = 1 + 32 + 8;
/// Bytes one cell of a fingerprint table ([`Keys::Fingerprints`]) takes on
/// the wire: 1 count + 8 key + 4 checksum.
pub const FINGERPRINT_CELL_WIRE_BYTES: usize = 1 + 8 + 4;
/// Bytes of the table header on the wire: version, k, seed, cell count.
pub const IBLT_HEADER_BYTES: usize = 1 + 1 + 8 + 4;

/// The version byte names the cell layout, so the header stays 14 bytes.
const IBLT_VERSION_IDS: u8 = 1;
const IBLT_VERSION_FINGERPRINTS: u8 = 2;

/// What a table's cells hold, which sets their size on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Keys {
    /// Whole 32-byte keys with a 64-bit checksum: [`CELL_WIRE_BYTES`].
    #[default]
    Ids,
    /// Only the first 8 bytes of each key (a fingerprint; the rest is
    /// ignored) with a 32-bit checksum: [`FINGERPRINT_CELL_WIRE_BYTES`].
    /// A third of the bytes of an id table for the same decode rate:
    /// peeling depends on the cell count, not on what a cell holds, and a
    /// 32-bit checksum together with the position test still makes a
    /// falsely "pure" cell a 1-in-10^11 event.
    Fingerprints,
}

impl Keys {
    /// Bytes one cell takes on the wire.
    pub fn cell_wire_bytes(self) -> usize {
        match self {
            Keys::Ids => CELL_WIRE_BYTES,
            Keys::Fingerprints => FINGERPRINT_CELL_WIRE_BYTES,
        }
    }

    fn key_bytes(self) -> usize {
        match self {
            Keys::Ids => 32,
            Keys::Fingerprints => 8,
        }
    }

    fn check_bytes(self) -> usize {
        self.cell_wire_bytes() - 1 - self.key_bytes()
    }

    fn check_mask(self) -> u64 {
        match self {
            Keys::Ids => u64::MAX,
            Keys::Fingerprints => u64::from(u32::MAX),
        }
    }

    fn version(self) -> u8 {
        match self {
            Keys::Ids => IBLT_VERSION_IDS,
            Keys::Fingerprints => IBLT_VERSION_FINGERPRINTS,
        }
    }

    fn from_version(version: u8) -> Option<Self> {
        match version {
            IBLT_VERSION_IDS => Some(Keys::Ids),
            IBLT_VERSION_FINGERPRINTS => Some(Keys::Fingerprints),
            _ => None,
        }
    }

    /// The part of `id` the table holds, the rest zeroed, so that a cell's
    /// key is always what the wire carries.
    fn truncate(self, id: &Id) -> Id {
        let mut key = [0u8; 32];
        let n = self.key_bytes();
        key[..n].copy_from_slice(&id[..n]);
        key
    }
}

/// One cell. `count` is kept modulo 256 (an `i8` with wrapping arithmetic)
/// rather than as an exact `i32`: peeling only has to know whether a cell's
/// net count is +1, −1 or 0, a cell whose true count differs from those by
/// a multiple of 256 is rejected by its checksum anyway, and the one-byte
/// count makes a cell 41 bytes on the wire instead of 44.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Cell {
    count: i8,
    key_xor: Id,
    hash_xor: u64,
}

impl Cell {
    fn toggle(&mut self, key: &Id, check: u64, delta: i8) {
        self.count = self.count.wrapping_add(delta);
        for (a, b) in self.key_xor.iter_mut().zip(key) {
            *a ^= b;
        }
        self.hash_xor ^= check;
    }

    #[cfg(test)]
    fn add_assign(&mut self, other: &Cell) {
        self.count = self.count.wrapping_add(other.count);
        for (a, b) in self.key_xor.iter_mut().zip(&other.key_xor) {
            *a ^= b;
        }
        self.hash_xor ^= other.hash_xor;
    }

    fn sub_assign(&mut self, other: &Cell) {
        self.count = self.count.wrapping_sub(other.count);
        for (a, b) in self.key_xor.iter_mut().zip(&other.key_xor) {
            *a ^= b;
        }
        self.hash_xor ^= other.hash_xor;
    }

    fn is_empty(&self) -> bool {
        self.count == 0 && self.hash_xor == 0 && self.key_xor == [0u8; 32]
    }
}

/// The result of decoding the difference table `self − other`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    /// Ids inserted into `self` but not into `other`.
    pub only_in_self: Vec<Id>,
    /// Ids inserted into `other` but not into `self`.
    pub only_in_other: Vec<Id>,
}

/// An Invertible Bloom Lookup Table over 32-byte ids.
///
/// Each id is added to one cell in each of `k` disjoint sub-tables, so an
/// id never lands twice in one cell (which would cancel it out of that
/// cell). Cell positions and checksums come from BLAKE3 keyed by the
/// table's seed: two peers that use the same cell count, `k` and seed can
/// subtract their tables cell by cell, and the result holds only the ids
/// in the symmetric difference of their sets, which [`Iblt::decode`] lists
/// as long as the table has roughly 1.3–1.6 cells per differing id.
///
/// ```
/// use x0x_iblt::Iblt;
/// let ids: Vec<[u8; 32]> = (0u8..50).map(|i| [i; 32]).collect();
/// let mut a = Iblt::new(40, 4, 7)?;
/// let mut b = Iblt::new(40, 4, 7)?;
/// for id in &ids { a.insert(id); b.insert(id); }
/// a.insert(&[200; 32]); // only A has it
/// b.insert(&[201; 32]); // only B has it
/// a.subtract(&b)?;
/// let diff = a.decode()?;
/// assert_eq!(diff.only_in_self, vec![[200; 32]]);
/// assert_eq!(diff.only_in_other, vec![[201; 32]]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Iblt {
    keys: Keys,
    k: u8,
    sub_len: usize,
    seed: u64,
    hasher: CellHasher,
    cells: Vec<Cell>,
}

impl PartialEq for Iblt {
    fn eq(&self, other: &Self) -> bool {
        // The hasher is a function of the seed, so comparing seeds suffices.
        self.keys == other.keys
            && self.k == other.k
            && self.sub_len == other.sub_len
            && self.seed == other.seed
            && self.cells == other.cells
    }
}

impl Eq for Iblt {}

impl fmt::Debug for Iblt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iblt")
            .field("cells", &self.cells.len())
            .field("k", &self.k)
            .field("keys", &self.keys)
            .field("seed", &format_args!("{:#018x}", self.seed))
            .field(
                "non_empty",
                &self.cells.iter().filter(|c| !c.is_empty()).count(),
            )
            .finish()
    }
}

fn check_params(cells: usize, k: u8) -> Result<(), ParamsError> {
    if !(MIN_K..=MAX_K).contains(&k) {
        return Err(ParamsError::K(k));
    }
    if cells == 0 || !cells.is_multiple_of(usize::from(k)) {
        return Err(ParamsError::Cells {
            cells,
            k: usize::from(k),
        });
    }
    if cells > MAX_TABLE_CELLS {
        return Err(ParamsError::TooManyCells {
            cells,
            max: MAX_TABLE_CELLS,
        });
    }
    Ok(())
}

impl Iblt {
    /// An empty table of `cells` cells split into `k` sub-tables.
    ///
    /// # Errors
    /// [`ParamsError`] if `k` is outside [`MIN_K`]`..=`[`MAX_K`], or `cells`
    /// is zero, not a multiple of `k`, or above [`MAX_TABLE_CELLS`].
    pub fn new(cells: usize, k: u8, seed: u64) -> Result<Self, ParamsError> {
        Self::with_keys(Keys::Ids, cells, k, seed)
    }

    /// As [`Iblt::new`], for a table whose cells hold `keys`.
    ///
    /// # Errors
    /// As [`Iblt::new`].
    pub fn with_keys(keys: Keys, cells: usize, k: u8, seed: u64) -> Result<Self, ParamsError> {
        check_params(cells, k)?;
        Ok(Self {
            keys,
            k,
            sub_len: cells / usize::from(k),
            seed,
            hasher: CellHasher::new(seed),
            cells: vec![Cell::default(); cells],
        })
    }

    /// A table holding every id of `ids` once (the caller passes a set:
    /// an id inserted twice has count 2 and would not decode).
    ///
    /// # Errors
    /// As [`Iblt::new`].
    pub fn from_ids<'a>(
        ids: impl IntoIterator<Item = &'a Id>,
        cells: usize,
        k: u8,
        seed: u64,
    ) -> Result<Self, ParamsError> {
        Self::from_keys(Keys::Ids, ids, cells, k, seed)
    }

    /// As [`Iblt::from_ids`], for a table whose cells hold `keys`.
    ///
    /// # Errors
    /// As [`Iblt::new`].
    pub fn from_keys<'a>(
        keys: Keys,
        ids: impl IntoIterator<Item = &'a Id>,
        cells: usize,
        k: u8,
        seed: u64,
    ) -> Result<Self, ParamsError> {
        let mut table = Self::with_keys(keys, cells, k, seed)?;
        for id in ids {
            table.insert(id);
        }
        Ok(table)
    }

    /// What the cells hold.
    pub fn keys(&self) -> Keys {
        self.keys
    }

    /// Total number of cells (a multiple of `k`).
    pub fn cells(&self) -> usize {
        self.cells.len()
    }

    /// Number of hash functions, which is also the number of sub-tables.
    pub fn k(&self) -> u8 {
        self.k
    }

    /// The seed that keys cell positions and checksums.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// True when every cell is empty: nothing inserted, or `self` and the
    /// subtracted table held the same ids.
    pub fn is_empty(&self) -> bool {
        self.cells.iter().all(Cell::is_empty)
    }

    fn position(&self, hash: &IdHash, table: usize) -> usize {
        // u32 lanes modulo sub_len: the bias is below sub_len / 2^32,
        // at most 0.1 % even at MAX_TABLE_CELLS.
        table * self.sub_len + hash.lanes[table] as usize % self.sub_len
    }

    /// The hash of a key as the table holds it (truncated, checksum masked
    /// to what the wire carries).
    fn key_hash(&self, key: &Id) -> IdHash {
        let mut hash = match self.keys {
            Keys::Ids => self.hasher.hash(key),
            Keys::Fingerprints => self.hasher.hash_fingerprint(u64::from_le_bytes([
                key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7],
            ])),
        };
        hash.check &= self.keys.check_mask();
        hash
    }

    fn apply(&mut self, id: &Id, delta: i8) {
        let key = self.keys.truncate(id);
        let hash = self.key_hash(&key);
        for table in 0..usize::from(self.k) {
            let pos = self.position(&hash, table);
            self.cells[pos].toggle(&key, hash.check, delta);
        }
    }

    /// Adds `id` to the table.
    pub fn insert(&mut self, id: &Id) {
        self.apply(id, 1);
    }

    /// Removes `id` from the table. Removing an id that was never inserted
    /// is allowed: it then decodes as an id of the *other* side.
    pub fn remove(&mut self, id: &Id) {
        self.apply(id, -1);
    }

    fn check_same_shape(&self, other: &Iblt) -> Result<(), ParamsError> {
        if self.cells.len() != other.cells.len() {
            return Err(ParamsError::Mismatch("cell count"));
        }
        if self.keys != other.keys {
            return Err(ParamsError::Mismatch("keys"));
        }
        if self.k != other.k {
            return Err(ParamsError::Mismatch("k"));
        }
        if self.seed != other.seed {
            return Err(ParamsError::Mismatch("seed"));
        }
        Ok(())
    }

    /// Subtracts `other` cell by cell, leaving in `self` a table of the
    /// symmetric difference: ids only in `self` with count +1, ids only in
    /// `other` with count −1.
    ///
    /// # Errors
    /// [`ParamsError::Mismatch`] if the cell count, `k` or seed differ.
    pub fn subtract(&mut self, other: &Iblt) -> Result<(), ParamsError> {
        self.check_same_shape(other)?;
        for (a, b) in self.cells.iter_mut().zip(&other.cells) {
            a.sub_assign(b);
        }
        Ok(())
    }

    /// Lists the ids in the table by peeling: a cell with count ±1 whose
    /// checksum matches its key, and which is where that key hashes to,
    /// holds exactly one id; removing that id from its other cells may
    /// make them pure in turn.
    ///
    /// On a difference table (after [`Iblt::subtract`]) ids with count +1
    /// are `only_in_self` and those with count −1 `only_in_other`.
    ///
    /// # Errors
    /// [`DecodeError::Stuck`] when peeling stops with cells left non-empty
    /// (the difference is too large for the table), and
    /// [`DecodeError::Inconsistent`] for tables no honest peer produces.
    pub fn decode(mut self) -> Result<Decoded, DecodeError> {
        let mut out = Decoded::default();
        let mut queue: Vec<usize> = (0..self.cells.len())
            .filter(|&i| self.cells[i].count.unsigned_abs() == 1)
            .collect();
        // Honest peeling empties at least one cell per id for good, so a
        // table cannot yield more ids than it has cells; a crafted one
        // could otherwise keep re-creating pure cells.
        let limit = self.cells.len();
        let mut peeled = 0usize;
        while let Some(i) = queue.pop() {
            let cell = self.cells[i];
            if cell.count.unsigned_abs() != 1 {
                continue;
            }
            let hash = self.key_hash(&cell.key_xor);
            // The position test is free (the hash is already computed) and
            // rejects a mixed cell whose checksum matches by chance unless
            // its key also hashes to this very cell.
            if hash.check != cell.hash_xor || self.position(&hash, i / self.sub_len) != i {
                continue;
            }
            peeled += 1;
            if peeled > limit {
                return Err(DecodeError::Inconsistent);
            }
            if cell.count == 1 {
                out.only_in_self.push(cell.key_xor);
            } else {
                out.only_in_other.push(cell.key_xor);
            }
            for table in 0..usize::from(self.k) {
                let pos = self.position(&hash, table);
                let target = &mut self.cells[pos];
                target.toggle(&cell.key_xor, hash.check, cell.count.wrapping_neg());
                if target.count.unsigned_abs() == 1 {
                    queue.push(pos);
                }
            }
        }
        let stuck_cells = self.cells.iter().filter(|c| !c.is_empty()).count();
        if stuck_cells > 0 {
            return Err(DecodeError::Stuck {
                peeled,
                stuck_cells,
            });
        }
        Ok(out)
    }

    /// Bytes [`Iblt::to_bytes`] produces.
    pub fn encoded_len(&self) -> usize {
        IBLT_HEADER_BYTES + self.cells.len() * self.keys.cell_wire_bytes()
    }

    /// The wire encoding: version (1 byte: 1 for [`Keys::Ids`], 2 for
    /// [`Keys::Fingerprints`]), `k` (1), seed (u64 LE), cell count (u32 LE),
    /// then per cell its count (1 byte, two's complement modulo 256), key
    /// (32 bytes, or the first 8) and checksum (u64 LE, or its low u32).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.write_to(&mut out);
        out
    }

    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        out.push(self.keys.version());
        out.push(self.k);
        out.extend_from_slice(&self.seed.to_le_bytes());
        // check_params caps cells at 2^24, so this never truncates.
        out.extend_from_slice(&(self.cells.len() as u32).to_le_bytes());
        let (key_bytes, check_bytes) = (self.keys.key_bytes(), self.keys.check_bytes());
        for cell in &self.cells {
            out.push(cell.count.to_le_bytes()[0]);
            out.extend_from_slice(&cell.key_xor[..key_bytes]);
            out.extend_from_slice(&cell.hash_xor.to_le_bytes()[..check_bytes]);
        }
    }

    /// Decodes [`Iblt::to_bytes`] output received from a peer.
    ///
    /// `max_cells` bounds what a peer can make us allocate; the declared
    /// cell count is also checked against the input length before any
    /// allocation.
    ///
    /// # Errors
    /// [`WireError`] for truncated input, an unknown version, a cell count
    /// above `max_cells`, invalid `k` or cell count, or trailing bytes.
    pub fn from_bytes(bytes: &[u8], max_cells: usize) -> Result<Self, WireError> {
        let mut reader = Reader::new(bytes);
        let table = Self::read_from(&mut reader, max_cells)?;
        reader.finish()?;
        Ok(table)
    }

    pub(crate) fn read_from(reader: &mut Reader<'_>, max_cells: usize) -> Result<Self, WireError> {
        let version = reader.u8()?;
        let keys = Keys::from_version(version).ok_or(WireError::Version(version))?;
        let k = reader.u8()?;
        let seed = reader.u64()?;
        let cells = reader.u32()? as usize;
        let limit = max_cells.min(MAX_TABLE_CELLS);
        if cells > limit {
            return Err(WireError::TooLarge {
                what: "cells",
                value: cells as u64,
                limit: limit as u64,
            });
        }
        check_params(cells, k)?;
        reader.expect_items(cells, keys.cell_wire_bytes())?;
        let mut table = Self::with_keys(keys, cells, k, seed)?;
        let (key_bytes, check_bytes) = (keys.key_bytes(), keys.check_bytes());
        for cell in &mut table.cells {
            cell.count = i8::from_le_bytes([reader.u8()?]);
            cell.key_xor[..key_bytes].copy_from_slice(reader.bytes(key_bytes)?);
            let mut check = [0u8; 8];
            check[..check_bytes].copy_from_slice(reader.bytes(check_bytes)?);
            cell.hash_xor = u64::from_le_bytes(check);
        }
        Ok(table)
    }


    /// Folds the table in half: sub-table cell `i` of the result is the sum
    /// of cells `i` and `i + s/2` here. Because positions are a hash modulo
    /// the sub-table length, the result equals the table built directly
    /// with half the cells.
    #[cfg(test)]
    pub(crate) fn fold(&self) -> Result<Self, ParamsError> {
        if !self.sub_len.is_multiple_of(2) {
            return Err(ParamsError::Mismatch("odd sub-table length"));
        }
        let half = self.sub_len / 2;
        let mut out = Self::with_keys(self.keys, self.cells.len() / 2, self.k, self.seed)?;
        for table in 0..usize::from(self.k) {
            for i in 0..half {
                let mut cell = self.cells[table * self.sub_len + i];
                cell.add_assign(&self.cells[table * self.sub_len + half + i]);
                out.cells[table * half + i] = cell;
            }
        }
        Ok(out)
    }

    /// The low half of every sub-table, packed as a table of half the size.
    /// This is all a peer must send to double a table the other side
    /// already holds folded: the high halves follow by subtraction
    /// ([`Iblt::unfold`]). The result is a container, not a table that
    /// decodes on its own.
    pub(crate) fn low_halves(&self) -> Result<Self, ParamsError> {
        if !self.sub_len.is_multiple_of(2) {
            return Err(ParamsError::Mismatch("odd sub-table length"));
        }
        let half = self.sub_len / 2;
        let mut out = Self::with_keys(self.keys, self.cells.len() / 2, self.k, self.seed)?;
        for table in 0..usize::from(self.k) {
            let src = table * self.sub_len;
            out.cells[table * half..(table + 1) * half]
                .copy_from_slice(&self.cells[src..src + half]);
        }
        Ok(out)
    }

    /// Rebuilds the doubled table from this (folded) table and the low
    /// halves of the doubled one: `high = folded − low`.
    pub(crate) fn unfold(&self, low: &Iblt) -> Result<Self, ParamsError> {
        self.check_same_shape(low)?;
        let sub = self.sub_len;
        let mut out = Self::with_keys(self.keys, self.cells.len() * 2, self.k, self.seed)?;
        for table in 0..usize::from(self.k) {
            for i in 0..sub {
                let lo = low.cells[table * sub + i];
                let mut hi = self.cells[table * sub + i];
                hi.sub_assign(&lo);
                out.cells[table * 2 * sub + i] = lo;
                out.cells[table * 2 * sub + sub + i] = hi;
            }
        }
        Ok(out)
    }
}
