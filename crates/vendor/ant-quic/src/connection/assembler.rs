// Copyright 2024 Saorsa Labs Ltd.
//
// This Saorsa Network Software is licensed under the General Public License (GPL), version 3.
// Please see the file LICENSE-GPL, or visit <http://www.gnu.org/licenses/> for the full text.
//
// Full details available at https://saorsalabs.com/licenses

use std::{
    cmp::{Ordering, max},
    collections::{BinaryHeap, binary_heap::PeekMut},
    mem,
};

use bytes::{Buf, Bytes, BytesMut};

use crate::range_set::RangeSet;

/// Bound on the number of distinct spans kept for a stream
///
/// Independent of how much memory those spans over-allocate. A frame is rejected only
/// if compaction cannot get the count back down to this.
const MAX_CHUNKS: usize = 1024;

/// Minimum size of a defragmented chunk that is retained without coalescing
///
/// Chunks below this size are copied on every compaction. 128 bytes balances being cheap
/// to copy while reducing the overhead of many small buffer nodes.
const MIN_RETAINED_CHUNK_SIZE: usize = 128;

/// Chunk count past which `insert` compacts before deciding whether to reject
///
/// Above `MAX_CHUNKS`, so that a run of mergeable frames does not cause a
/// defragmentation per frame.
const COMPACT_THRESHOLD: usize = 2 * MAX_CHUNKS;

/// Bound on the number of disjoint received ranges kept in unordered mode
///
/// In unordered mode `recvd` holds one range per non-contiguous received
/// region and is coalesced only when a gap is filled; reading data out never
/// trims it. Because delivered bytes return their flow-control credit at once,
/// the stream and connection windows do not bound the range count on their
/// own. Bounding it keeps the tracked range set within a fixed size. Ordinary
/// reordered or lossy traffic keeps only the ranges of the packets in flight
/// within a receive window open at once, well below this.
///
/// This value is coupled to the stream receive window: the live range count is
/// at most `stream_receive_window / min_packet_payload` (about 1000 at the
/// 1.25 MB default). 4096 keeps several times that headroom. If the stream
/// receive window is ever raised far above the default, raise this in step
/// (about `stream_receive_window / 300`).
const MAX_RECVD_RANGES: usize = 4096;

/// Helper to assemble unordered stream frames into an ordered stream
#[derive(Debug, Default)]
pub(super) struct Assembler {
    state: State,
    data: BinaryHeap<Buffer>,
    /// Total number of buffered bytes, including duplicates in ordered mode.
    buffered: usize,
    /// Estimated number of allocated bytes, will never be less than `buffered`.
    allocated: usize,
    /// Number of bytes read by the application. When only ordered reads have been used, this is the
    /// length of the contiguous prefix of the stream which has been consumed by the application,
    /// aka the stream offset.
    bytes_read: u64,
    end: u64,
}

impl Assembler {
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// #368 gate 5: total bytes currently buffered (including duplicates in
    /// ordered mode) awaiting application reads. Instrumentation only.
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    /// Reset to the initial state
    pub(super) fn reinit(&mut self) {
        let old_data = mem::take(&mut self.data);
        *self = Self::default();
        self.data = old_data;
        self.data.clear();
    }

    pub(super) fn ensure_ordering(&mut self, ordered: bool) -> Result<(), IllegalOrderedRead> {
        if ordered && !self.state.is_ordered() {
            return Err(IllegalOrderedRead);
        } else if !ordered && self.state.is_ordered() {
            // Enter unordered mode
            if !self.data.is_empty() {
                // Get rid of possible duplicates
                self.defragment();
            }
            let mut recvd = RangeSet::new();
            recvd.insert(0..self.bytes_read);
            for chunk in &self.data {
                recvd.insert(chunk.offset..chunk.offset + chunk.bytes.len() as u64);
            }
            self.state = State::Unordered { recvd };
        }
        Ok(())
    }

    /// Get the the next chunk
    pub(super) fn read(&mut self, max_length: usize, ordered: bool) -> Option<Chunk> {
        loop {
            let mut chunk = self.data.peek_mut()?;

            if ordered {
                if chunk.offset > self.bytes_read {
                    // Next chunk is after current read index
                    return None;
                } else if (chunk.offset + chunk.bytes.len() as u64) <= self.bytes_read {
                    // Next chunk is useless as the read index is beyond its end
                    self.buffered -= chunk.bytes.len();
                    self.allocated -= chunk.allocation_size;
                    PeekMut::pop(chunk);
                    continue;
                }

                // Determine `start` and `len` of the slice of useful data in chunk
                let start = (self.bytes_read - chunk.offset) as usize;
                if start > 0 {
                    chunk.bytes.advance(start);
                    chunk.offset += start as u64;
                    self.buffered -= start;
                }
            }

            return Some(if max_length < chunk.bytes.len() {
                self.bytes_read += max_length as u64;
                let offset = chunk.offset;
                chunk.offset += max_length as u64;
                self.buffered -= max_length;
                Chunk::new(offset, chunk.bytes.split_to(max_length))
            } else {
                self.bytes_read += chunk.bytes.len() as u64;
                self.buffered -= chunk.bytes.len();
                self.allocated -= chunk.allocation_size;
                let chunk = PeekMut::pop(chunk);
                Chunk::new(chunk.offset, chunk.bytes)
            });
        }
    }

    /// Copy fragmented chunk data to new chunks backed by a single buffer
    ///
    /// This makes sure we're not unnecessarily holding on to many larger allocations.
    /// We merge contiguous chunks in the process of doing so.
    fn defragment(&mut self) {
        self.defragment_inner(false);
    }

    /// Merge every contiguous run, including chunks larger than the retention cutoff.
    ///
    /// Used when [`defragment`](Self::defragment) still leaves more than [`MAX_CHUNKS`]
    /// entries. Chunks above the cutoff stay separate after the first pass, so a
    /// contiguous stream of large frames separated by tiny ones can remain over the
    /// cap. This pass joins those runs. A stream is rejected only when gaps still
    /// leave more than [`MAX_CHUNKS`] entries afterwards.
    fn defragment_merging_all_contiguous(&mut self) {
        self.defragment_inner(true);
    }

    fn defragment_inner(&mut self, merge_all_contiguous: bool) {
        // Chunks smaller than `min_chunk_size` are merged regardless of fragmentation, so the
        // result stays within `MAX_CHUNKS` when it can. The second pass ignores that cutoff.
        let min_chunk_size = max(self.buffered.div_ceil(MAX_CHUNKS), MIN_RETAINED_CHUNK_SIZE);
        let new = BinaryHeap::with_capacity(self.data.len());
        let old = mem::replace(&mut self.data, new);
        let mut buffers = old.into_sorted_vec();
        self.buffered = 0;
        let mut fragmented_buffered = 0;
        let mut offset = 0;
        for chunk in buffers.iter_mut().rev() {
            chunk.try_mark_defragment(offset);
            let size = chunk.bytes.len();
            offset = chunk.offset + size as u64;
            self.buffered += size;
            if merge_all_contiguous || !chunk.defragmented || size < min_chunk_size {
                fragmented_buffered += size;
            }
        }
        self.allocated = self.buffered;
        let mut buffer = BytesMut::with_capacity(fragmented_buffered);
        let mut offset = 0;
        for chunk in buffers.into_iter().rev() {
            // bytes might be empty after try_mark_defragment
            if chunk.bytes.is_empty() {
                continue;
            }
            if !merge_all_contiguous && chunk.defragmented && chunk.bytes.len() >= min_chunk_size {
                self.data.push(chunk);
                continue;
            }
            // Overlap is resolved by try_mark_defragment
            if chunk.offset != offset + (buffer.len() as u64) {
                if !buffer.is_empty() {
                    self.data
                        .push(Buffer::new_defragmented(offset, buffer.split().freeze()));
                }
                offset = chunk.offset;
            }
            buffer.extend_from_slice(&chunk.bytes);
        }
        if !buffer.is_empty() {
            self.data
                .push(Buffer::new_defragmented(offset, buffer.split().freeze()));
        }
    }

    // Note: If a packet contains many frames from the same stream, the estimated over-allocation
    // will be much higher because we are counting the same allocation multiple times.
    pub(super) fn insert(
        &mut self,
        mut offset: u64,
        bytes: Bytes,
        allocation_size: usize,
    ) -> Result<(), TooManyChunks> {
        debug_assert!(
            bytes.len() <= allocation_size,
            "allocation_size less than bytes.len(): {:?} < {:?}",
            allocation_size,
            bytes.len()
        );
        // Copy to owned storage IMMEDIATELY. The input Bytes references a
        // decrypted packet allocation that the QUIC stack may recycle under
        // concurrent multi-stream load. Without this copy, out-of-order
        // reassembly can read stale/overwritten data from the recycled
        // allocation (torn read). See: FINDING-recv-boundary-aliasing.md
        let mut bytes: Bytes = Bytes::copy_from_slice(&bytes);
        self.end = self.end.max(offset + bytes.len() as u64);
        if let State::Unordered { ref mut recvd } = self.state {
            // Discard duplicate data
            for duplicate in recvd.replace(offset..offset + bytes.len() as u64) {
                if duplicate.start > offset {
                    let buffer = Buffer::new(
                        offset,
                        bytes.split_to((duplicate.start - offset) as usize),
                        allocation_size,
                    );
                    self.buffered += buffer.bytes.len();
                    self.allocated += buffer.allocation_size;
                    self.data.push(buffer);
                    offset = duplicate.start;
                }
                bytes.advance((duplicate.end - offset) as usize);
                offset = duplicate.end;
            }
            // Bound the number of disjoint received ranges, the same way the
            // buffered chunk count is bounded below. `recvd` is coalesced only
            // when a gap is filled, so draining delivered chunks returns their
            // flow-control credit while the range count keeps growing. Reject
            // once it crosses the bound.
            if recvd.len() > MAX_RECVD_RANGES {
                return Err(TooManyChunks);
            }
        } else if offset < self.bytes_read {
            if (offset + bytes.len() as u64) <= self.bytes_read {
                return Ok(());
            } else {
                let diff = self.bytes_read - offset;
                offset += diff;
                bytes.advance(diff as usize);
            }
        }

        // No early return when `bytes` is empty: the dedup loop above may already have pushed
        // chunks, and the chunk bound below must count them.
        if !bytes.is_empty() {
            let buffer = Buffer::new(offset, bytes, allocation_size);
            self.buffered += buffer.bytes.len();
            self.allocated += buffer.allocation_size;
            self.data.push(buffer);
        }
        // `self.buffered` also counts duplicate bytes, therefore we use
        // `self.end - self.bytes_read` as an upper bound of buffered unique
        // bytes. This will cause a defragmentation if the amount of duplicate
        // bytes exceedes a proportion of the receive window size.
        let buffered = self.buffered.min((self.end - self.bytes_read) as usize);
        let over_allocation = self.allocated - buffered;
        // Rationale: on the one hand, we want to defragment rarely, ideally never
        // in non-pathological scenarios. However, a pathological or malicious
        // peer could send us one-byte frames, and since we use reference-counted
        // buffers in order to prevent copying, this could result in keeping a lot
        // of memory allocated. This limits over-allocation in proportion to the
        // buffered data. The constants are chosen somewhat arbitrarily and try to
        // balance between defragmentation overhead and over-allocation.
        let threshold = 32768.max(buffered * 3 / 2);
        // Also bound the number of chunks, independent of over-allocation.
        if over_allocation > threshold || self.data.len() > COMPACT_THRESHOLD {
            self.defragment();
            if self.data.len() > MAX_CHUNKS {
                self.defragment_merging_all_contiguous();
            }
            // ngtcp2 uses a threshold of 4000 -- try to be a little more conservative?
            // Reject only when both passes still leave more than `MAX_CHUNKS` chunks.
            if self.data.len() > MAX_CHUNKS {
                return Err(TooManyChunks);
            }
        }

        Ok(())
    }

    /// Number of bytes consumed by the application
    pub(super) fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Discard all buffered data
    pub(super) fn clear(&mut self) {
        self.data.clear();
        self.buffered = 0;
        self.allocated = 0;
    }
}

/// A chunk of data from the receive stream
#[derive(Debug, PartialEq, Eq)]
pub struct Chunk {
    /// The offset in the stream
    pub offset: u64,
    /// The contents of the chunk
    pub bytes: Bytes,
}

impl Chunk {
    fn new(offset: u64, bytes: Bytes) -> Self {
        Self { offset, bytes }
    }
}

#[derive(Debug, Eq)]
struct Buffer {
    offset: u64,
    bytes: Bytes,
    /// Size of the allocation behind `bytes`, if `defragmented == false`.
    /// Otherwise this will be set to `bytes.len()` by `try_mark_defragment`.
    /// Will never be less than `bytes.len()`.
    allocation_size: usize,
    defragmented: bool,
}

impl Buffer {
    /// Constructs a new fragmented Buffer
    fn new(offset: u64, bytes: Bytes, allocation_size: usize) -> Self {
        Self {
            offset,
            bytes,
            allocation_size,
            defragmented: false,
        }
    }

    /// Constructs a new defragmented Buffer
    fn new_defragmented(offset: u64, bytes: Bytes) -> Self {
        let allocation_size = bytes.len();
        Self {
            offset,
            bytes,
            allocation_size,
            defragmented: true,
        }
    }

    /// Discards data before `offset` and flags `self` as defragmented if it has good utilization
    fn try_mark_defragment(&mut self, offset: u64) {
        let duplicate = offset.saturating_sub(self.offset) as usize;
        self.offset = self.offset.max(offset);
        if duplicate >= self.bytes.len() {
            // All bytes are duplicate
            self.bytes = Bytes::new();
            self.defragmented = true;
            self.allocation_size = 0;
            return;
        }
        self.bytes.advance(duplicate);
        // Make sure that fragmented buffers with high utilization become defragmented and
        // defragmented buffers remain defragmented
        self.defragmented = self.defragmented || self.bytes.len() * 6 / 5 >= self.allocation_size;
        if self.defragmented {
            // Make sure that defragmented buffers do not contribute to over-allocation
            self.allocation_size = self.bytes.len();
        }
    }
}

impl Ord for Buffer {
    // Invert ordering based on offset (max-heap, min offset first),
    // prioritize longer chunks at the same offset.
    fn cmp(&self, other: &Self) -> Ordering {
        self.offset
            .cmp(&other.offset)
            .reverse()
            .then(self.bytes.len().cmp(&other.bytes.len()))
    }
}

impl PartialOrd for Buffer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Buffer {
    fn eq(&self, other: &Self) -> bool {
        (self.offset, self.bytes.len()) == (other.offset, other.bytes.len())
    }
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Ordered,
    Unordered {
        /// The set of offsets that have been received from the peer, including portions not yet
        /// read by the application.
        recvd: RangeSet,
    },
}

impl State {
    fn is_ordered(&self) -> bool {
        matches!(self, Self::Ordered)
    }
}

/// Error indicating that an ordered read was performed on a stream after an unordered read
#[derive(Debug)]
pub struct IllegalOrderedRead;

/// Error indicating that too many chunks are buffered due to maliciously small/gapped frames
#[derive(Debug)]
pub(crate) struct TooManyChunks;

#[cfg(test)]
mod test {
    use super::*;
    use assert_matches::assert_matches;

    #[test]
    fn assemble_ordered() {
        let mut x = Assembler::new();
        assert_matches!(next(&mut x, 32), None);
        x.insert(0, Bytes::from_static(b"123"), 3).unwrap();
        assert_matches!(next(&mut x, 1), Some(ref y) if &y[..] == b"1");
        assert_matches!(next(&mut x, 3), Some(ref y) if &y[..] == b"23");
        x.insert(3, Bytes::from_static(b"456"), 3).unwrap();
        assert_matches!(next(&mut x, 32), Some(ref y) if &y[..] == b"456");
        x.insert(6, Bytes::from_static(b"789"), 3).unwrap();
        x.insert(9, Bytes::from_static(b"10"), 2).unwrap();
        assert_matches!(next(&mut x, 32), Some(ref y) if &y[..] == b"789");
        assert_matches!(next(&mut x, 32), Some(ref y) if &y[..] == b"10");
        assert_matches!(next(&mut x, 32), None);
    }

    #[test]
    fn assemble_unordered() {
        let mut x = Assembler::new();
        x.ensure_ordering(false).unwrap();
        x.insert(3, Bytes::from_static(b"456"), 3).unwrap();
        assert_matches!(next(&mut x, 32), None);
        x.insert(0, Bytes::from_static(b"123"), 3).unwrap();
        assert_matches!(next(&mut x, 32), Some(ref y) if &y[..] == b"123");
        assert_matches!(next(&mut x, 32), Some(ref y) if &y[..] == b"456");
        assert_matches!(next(&mut x, 32), None);
    }

    #[test]
    fn assemble_duplicate() {
        let mut x = Assembler::new();
        x.insert(0, Bytes::from_static(b"123"), 3).unwrap();
        x.insert(0, Bytes::from_static(b"123"), 3).unwrap();
        assert_matches!(next(&mut x, 32), Some(ref y) if &y[..] == b"123");
        assert_matches!(next(&mut x, 32), None);
    }

    #[test]
    fn assemble_duplicate_compact() {
        let mut x = Assembler::new();
        x.insert(0, Bytes::from_static(b"123"), 3).unwrap();
        x.insert(0, Bytes::from_static(b"123"), 3).unwrap();
        x.defragment();
        assert_matches!(next(&mut x, 32), Some(ref y) if &y[..] == b"123");
        assert_matches!(next(&mut x, 32), None);
    }

    #[test]
    fn assemble_contained() {
        let mut x = Assembler::new();
        x.insert(0, Bytes::from_static(b"12345"), 5).unwrap();
        x.insert(1, Bytes::from_static(b"234"), 3).unwrap();
        assert_matches!(next(&mut x, 32), Some(ref y) if &y[..] == b"12345");
        assert_matches!(next(&mut x, 32), None);
    }

    #[test]
    fn assemble_contained_compact() {
        let mut x = Assembler::new();
        x.insert(0, Bytes::from_static(b"12345"), 5).unwrap();
        x.insert(1, Bytes::from_static(b"234"), 3).unwrap();
        x.defragment();
        assert_matches!(next(&mut x, 32), Some(ref y) if &y[..] == b"12345");
        assert_matches!(next(&mut x, 32), None);
    }

    #[test]
    fn assemble_contains() {
        let mut x = Assembler::new();
        x.insert(1, Bytes::from_static(b"234"), 3).unwrap();
        x.insert(0, Bytes::from_static(b"12345"), 5).unwrap();
        assert_matches!(next(&mut x, 32), Some(ref y) if &y[..] == b"12345");
        assert_matches!(next(&mut x, 32), None);
    }

    #[test]
    fn assemble_contains_compact() {
        let mut x = Assembler::new();
        x.insert(1, Bytes::from_static(b"234"), 3).unwrap();
        x.insert(0, Bytes::from_static(b"12345"), 5).unwrap();
        x.defragment();
        assert_matches!(next(&mut x, 32), Some(ref y) if &y[..] == b"12345");
        assert_matches!(next(&mut x, 32), None);
    }

    #[test]
    fn assemble_overlapping() {
        let mut x = Assembler::new();
        x.insert(0, Bytes::from_static(b"123"), 3).unwrap();
        x.insert(1, Bytes::from_static(b"234"), 3).unwrap();
        assert_matches!(next(&mut x, 32), Some(ref y) if &y[..] == b"123");
        assert_matches!(next(&mut x, 32), Some(ref y) if &y[..] == b"4");
        assert_matches!(next(&mut x, 32), None);
    }

    #[test]
    fn assemble_overlapping_compact() {
        let mut x = Assembler::new();
        x.insert(0, Bytes::from_static(b"123"), 4).unwrap();
        x.insert(1, Bytes::from_static(b"234"), 4).unwrap();
        x.defragment();
        assert_matches!(next(&mut x, 32), Some(ref y) if &y[..] == b"1234");
        assert_matches!(next(&mut x, 32), None);
    }

    #[test]
    fn assemble_complex() {
        let mut x = Assembler::new();
        x.insert(0, Bytes::from_static(b"1"), 1).unwrap();
        x.insert(2, Bytes::from_static(b"3"), 1).unwrap();
        x.insert(4, Bytes::from_static(b"5"), 1).unwrap();
        x.insert(0, Bytes::from_static(b"123456"), 6).unwrap();
        assert_matches!(next(&mut x, 32), Some(ref y) if &y[..] == b"123456");
        assert_matches!(next(&mut x, 32), None);
    }

    #[test]
    fn assemble_complex_compact() {
        let mut x = Assembler::new();
        x.insert(0, Bytes::from_static(b"1"), 1).unwrap();
        x.insert(2, Bytes::from_static(b"3"), 1).unwrap();
        x.insert(4, Bytes::from_static(b"5"), 1).unwrap();
        x.insert(0, Bytes::from_static(b"123456"), 6).unwrap();
        x.defragment();
        assert_matches!(next(&mut x, 32), Some(ref y) if &y[..] == b"123456");
        assert_matches!(next(&mut x, 32), None);
    }

    #[test]
    fn assemble_old() {
        let mut x = Assembler::new();
        x.insert(0, Bytes::from_static(b"1234"), 4).unwrap();
        assert_matches!(next(&mut x, 32), Some(ref y) if &y[..] == b"1234");
        x.insert(0, Bytes::from_static(b"1234"), 4).unwrap();
        assert_matches!(next(&mut x, 32), None);
    }

    #[test]
    fn compact() {
        let mut x = Assembler::new();
        x.insert(0, Bytes::from_static(b"abc"), 4).unwrap();
        x.insert(3, Bytes::from_static(b"def"), 4).unwrap();
        x.insert(9, Bytes::from_static(b"jkl"), 4).unwrap();
        x.insert(12, Bytes::from_static(b"mno"), 4).unwrap();
        x.defragment();
        assert_eq!(
            next_unordered(&mut x),
            Chunk::new(0, Bytes::from_static(b"abcdef"))
        );
        assert_eq!(
            next_unordered(&mut x),
            Chunk::new(9, Bytes::from_static(b"jklmno"))
        );
    }

    #[test]
    fn defrag_with_missing_prefix() {
        let mut x = Assembler::new();
        x.insert(3, Bytes::from_static(b"def"), 3).unwrap();
        x.defragment();
        assert_eq!(
            next_unordered(&mut x),
            Chunk::new(3, Bytes::from_static(b"def"))
        );
    }

    #[test]
    fn defrag_read_chunk() {
        let mut x = Assembler::new();
        x.insert(3, Bytes::from_static(b"def"), 4).unwrap();
        x.insert(0, Bytes::from_static(b"abc"), 4).unwrap();
        x.insert(7, Bytes::from_static(b"hij"), 4).unwrap();
        x.insert(11, Bytes::from_static(b"lmn"), 4).unwrap();
        x.defragment();
        assert_matches!(x.read(usize::MAX, true), Some(ref y) if &y.bytes[..] == b"abcdef");
        x.insert(5, Bytes::from_static(b"fghijklmn"), 9).unwrap();
        assert_matches!(x.read(usize::MAX, true), Some(ref y) if &y.bytes[..] == b"ghijklmn");
        x.insert(13, Bytes::from_static(b"nopq"), 4).unwrap();
        assert_matches!(x.read(usize::MAX, true), Some(ref y) if &y.bytes[..] == b"opq");
        x.insert(15, Bytes::from_static(b"pqrs"), 4).unwrap();
        assert_matches!(x.read(usize::MAX, true), Some(ref y) if &y.bytes[..] == b"rs");
        assert_matches!(x.read(usize::MAX, true), None);
    }

    #[test]
    fn unordered_happy_path() {
        let mut x = Assembler::new();
        x.ensure_ordering(false).unwrap();
        x.insert(0, Bytes::from_static(b"abc"), 3).unwrap();
        assert_eq!(
            next_unordered(&mut x),
            Chunk::new(0, Bytes::from_static(b"abc"))
        );
        assert_eq!(x.read(usize::MAX, false), None);
        x.insert(3, Bytes::from_static(b"def"), 3).unwrap();
        assert_eq!(
            next_unordered(&mut x),
            Chunk::new(3, Bytes::from_static(b"def"))
        );
        assert_eq!(x.read(usize::MAX, false), None);
    }

    #[test]
    fn unordered_dedup() {
        let mut x = Assembler::new();
        x.ensure_ordering(false).unwrap();
        x.insert(3, Bytes::from_static(b"def"), 3).unwrap();
        assert_eq!(
            next_unordered(&mut x),
            Chunk::new(3, Bytes::from_static(b"def"))
        );
        assert_eq!(x.read(usize::MAX, false), None);
        x.insert(0, Bytes::from_static(b"a"), 1).unwrap();
        x.insert(0, Bytes::from_static(b"abcdefghi"), 9).unwrap();
        x.insert(0, Bytes::from_static(b"abcd"), 4).unwrap();
        assert_eq!(
            next_unordered(&mut x),
            Chunk::new(0, Bytes::from_static(b"a"))
        );
        assert_eq!(
            next_unordered(&mut x),
            Chunk::new(1, Bytes::from_static(b"bc"))
        );
        assert_eq!(
            next_unordered(&mut x),
            Chunk::new(6, Bytes::from_static(b"ghi"))
        );
        assert_eq!(x.read(usize::MAX, false), None);
        x.insert(8, Bytes::from_static(b"ijkl"), 4).unwrap();
        assert_eq!(
            next_unordered(&mut x),
            Chunk::new(9, Bytes::from_static(b"jkl"))
        );
        assert_eq!(x.read(usize::MAX, false), None);
        x.insert(12, Bytes::from_static(b"mno"), 3).unwrap();
        assert_eq!(
            next_unordered(&mut x),
            Chunk::new(12, Bytes::from_static(b"mno"))
        );
        assert_eq!(x.read(usize::MAX, false), None);
        x.insert(2, Bytes::from_static(b"cde"), 3).unwrap();
        assert_eq!(x.read(usize::MAX, false), None);
    }

    #[test]
    fn chunks_dedup() {
        let mut x = Assembler::new();
        x.insert(3, Bytes::from_static(b"def"), 3).unwrap();
        assert_eq!(x.read(usize::MAX, true), None);
        x.insert(0, Bytes::from_static(b"a"), 1).unwrap();
        x.insert(1, Bytes::from_static(b"bcdefghi"), 9).unwrap();
        x.insert(0, Bytes::from_static(b"abcd"), 4).unwrap();
        assert_eq!(
            x.read(usize::MAX, true),
            Some(Chunk::new(0, Bytes::from_static(b"abcd")))
        );
        assert_eq!(
            x.read(usize::MAX, true),
            Some(Chunk::new(4, Bytes::from_static(b"efghi")))
        );
        assert_eq!(x.read(usize::MAX, true), None);
        x.insert(8, Bytes::from_static(b"ijkl"), 4).unwrap();
        assert_eq!(
            x.read(usize::MAX, true),
            Some(Chunk::new(9, Bytes::from_static(b"jkl")))
        );
        assert_eq!(x.read(usize::MAX, true), None);
        x.insert(12, Bytes::from_static(b"mno"), 3).unwrap();
        assert_eq!(
            x.read(usize::MAX, true),
            Some(Chunk::new(12, Bytes::from_static(b"mno")))
        );
        assert_eq!(x.read(usize::MAX, true), None);
        x.insert(2, Bytes::from_static(b"cde"), 3).unwrap();
        assert_eq!(x.read(usize::MAX, true), None);
    }

    #[test]
    fn ordered_eager_discard() {
        let mut x = Assembler::new();
        x.insert(0, Bytes::from_static(b"abc"), 3).unwrap();
        assert_eq!(x.data.len(), 1);
        assert_eq!(
            x.read(usize::MAX, true),
            Some(Chunk::new(0, Bytes::from_static(b"abc")))
        );
        x.insert(0, Bytes::from_static(b"ab"), 2).unwrap();
        assert_eq!(x.data.len(), 0);
        x.insert(2, Bytes::from_static(b"cd"), 2).unwrap();
        assert_eq!(
            x.data.peek(),
            Some(&Buffer::new(3, Bytes::from_static(b"d"), 2))
        );
    }

    #[test]
    fn ordered_insert_unordered_read() {
        let mut x = Assembler::new();
        x.insert(0, Bytes::from_static(b"abc"), 3).unwrap();
        x.insert(0, Bytes::from_static(b"abc"), 3).unwrap();
        x.ensure_ordering(false).unwrap();
        assert_eq!(
            x.read(3, false),
            Some(Chunk::new(0, Bytes::from_static(b"abc")))
        );
        assert_eq!(x.read(3, false), None);
    }

    /// Models the `read_to_end` contract end to end at the assembler layer.
    ///
    /// `ReadToEnd` performs unordered reads and, once the connection layer signals
    /// end-of-stream (`Chunks::next` gate: `bytes_read == final_size`), assembles the
    /// chunks by offset into a zero-initialized buffer. Any range the assembler counted
    /// as read but never yielded ships to the application as zeros inside `Ok` — a
    /// silent data-integrity failure (observed in the wild as 2×1448-byte zero gaps).
    ///
    /// This test replays randomized but deterministic frame schedules — duplicates,
    /// coalesced/resegmented retransmissions, arbitrary overlaps, reordering, and reads
    /// interleaved at random points (including the ordered→unordered transition at the
    /// first read) — and asserts the contract: every byte is yielded exactly once with
    /// correct content, and the end-of-stream gate never fires while data is missing.
    #[test]
    fn read_to_end_contract_random_schedules() {
        use rand::{Rng, SeedableRng};

        const PACKET: usize = 1448;
        for seed in 0..4096u64 {
            let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
            let n: usize = rng.gen_range(2 * PACKET..12 * PACKET);
            let payload: Vec<u8> = (0..n).map(|i| (i.wrapping_mul(31) % 251) as u8).collect();

            enum Ev {
                Insert { offset: usize, len: usize },
                Read,
                Defrag,
            }

            // Base segmentation at packet-sized boundaries, each frame delivered once
            let mut inserts: Vec<(usize, usize)> = Vec::new();
            let mut off = 0;
            while off < n {
                let end = (off + PACKET).min(n);
                inserts.push((off, end - off));
                off = end;
            }
            // Retransmission variants: duplicates, coalesced 2-packet frames,
            // subranges, and arbitrarily misaligned overlaps
            let base = inserts.clone();
            for &(s, l) in &base {
                if rng.gen_bool(0.6) {
                    match rng.gen_range(0..4u32) {
                        0 => inserts.push((s, l)),
                        1 => {
                            let end = (s + 2 * PACKET).min(n);
                            inserts.push((s, end - s));
                        }
                        2 => {
                            let ds = rng.gen_range(0..l);
                            let dl = rng.gen_range(1..=l - ds);
                            inserts.push((s + ds, dl));
                        }
                        _ => {
                            let rs = rng.gen_range(s.saturating_sub(PACKET)..(s + l).min(n - 1));
                            let rl = rng.gen_range(1..=(n - rs).min(2 * PACKET));
                            inserts.push((rs, rl));
                        }
                    }
                }
            }
            // Shuffle delivery order (Fisher-Yates)
            for i in (1..inserts.len()).rev() {
                let j = rng.gen_range(0..=i);
                inserts.swap(i, j);
            }
            let mut events: Vec<Ev> = Vec::new();
            for (offset, len) in inserts {
                events.push(Ev::Insert { offset, len });
                if rng.gen_bool(0.35) {
                    events.push(Ev::Read);
                }
                if rng.gen_bool(0.05) {
                    events.push(Ev::Defrag);
                }
            }
            events.push(Ev::Read);

            let mut x = Assembler::new();
            // (offset, len) of every chunk yielded to the "application"
            let mut yielded: Vec<(u64, u64)> = Vec::new();

            let verify = |yielded: &mut Vec<(u64, u64)>, gate_fired: bool, seed: u64| {
                yielded.sort_unstable();
                let mut pos = 0u64;
                let mut covered = 0u64;
                for &(s, l) in yielded.iter() {
                    assert!(
                        s >= pos,
                        "seed {seed}: range [{s}, {}) overlaps previously yielded data \
                         (double-yield inflates bytes_read)",
                        s + l
                    );
                    pos = s + l;
                    covered += l;
                }
                if gate_fired {
                    assert_eq!(
                        covered, n as u64,
                        "seed {seed}: end-of-stream gate fired with unyielded ranges — \
                         read_to_end would return zero-filled gaps"
                    );
                }
            };

            for ev in events {
                match ev {
                    Ev::Insert { offset, len } => {
                        let bytes = Bytes::copy_from_slice(&payload[offset..offset + len]);
                        let alloc = if rng.gen_bool(0.3) {
                            len + rng.gen_range(0..200)
                        } else {
                            len
                        };
                        x.insert(offset as u64, bytes, alloc).unwrap();
                    }
                    Ev::Defrag => x.defragment(),
                    Ev::Read => {
                        x.ensure_ordering(false).unwrap();
                        while let Some(chunk) = x.read(usize::MAX, false) {
                            let s = chunk.offset as usize;
                            let e = s + chunk.bytes.len();
                            assert!(
                                e <= n,
                                "seed {seed}: chunk [{s}, {e}) exceeds stream size {n}"
                            );
                            assert_eq!(
                                &chunk.bytes[..],
                                &payload[s..e],
                                "seed {seed}: chunk content at [{s}, {e}) does not match payload"
                            );
                            yielded.push((chunk.offset, chunk.bytes.len() as u64));
                        }
                        // This is the end-of-stream gate from `Chunks::next`
                        let gate_fired = x.bytes_read() == n as u64;
                        verify(&mut yielded, gate_fired, seed);
                    }
                }
            }

            // All frames were delivered: the stream must complete with full coverage
            assert_eq!(
                x.bytes_read(),
                n as u64,
                "seed {seed}: stream stalled — all data inserted but end-of-stream gate never fired"
            );
            verify(&mut yielded, true, seed);
        }
    }

    /// Adversarial regression for GHSA-4w2j-m93h-cj5j (CWE-770, remote memory exhaustion).
    ///
    /// A malicious peer withholds the start of a stream (so an in-order reader can
    /// never consume anything) while flooding gapped one-byte fragments, each carried
    /// in its own packet-sized allocation. Because the fragments never become
    /// contiguous, `defragment()` cannot coalesce them, so the number of buffered
    /// chunks — and the memory they pin — would otherwise grow without bound.
    ///
    /// The assembler must refuse this by yielding `TooManyChunks` once the buffered
    /// chunk count crosses the cap, rather than accumulating unboundedly. Removing the
    /// `self.data.len() > 1024` cap makes `insert` return `Ok(())` forever, so the loop
    /// exhausts its bound without ever seeing the error and this test fails.
    #[test]
    fn gapped_flood_with_withheld_prefix_is_bounded() {
        let mut x = Assembler::new();
        // Withhold offset 0..2 forever; deliver only isolated bytes at even offsets
        // >= 2, each separated by a one-byte gap so no two fragments are ever adjacent.
        const ALLOC: usize = 4096; // model a full packet's worth of over-allocation
        const MAX_INSERTS: u64 = 200_000; // generous bound; the cap must trip well before this

        let mut erred_at = None;
        for i in 0..MAX_INSERTS {
            let offset = (i + 1) * 2; // 2, 4, 6, ... — odd offsets stay withheld
            let byte = [(offset % 251) as u8];
            match x.insert(offset, Bytes::copy_from_slice(&byte), ALLOC) {
                Ok(()) => continue,
                Err(TooManyChunks) => {
                    erred_at = Some(i);
                    break;
                }
            }
        }

        let erred_at = erred_at.expect(
            "assembler accepted an unbounded gapped-fragment flood without yielding TooManyChunks",
        );
        // The cap is 1024 chunks; the flood must be rejected within a bounded multiple
        // of that, proving buffered memory cannot grow without limit.
        assert!(
            x.data.len() <= 4096,
            "buffered chunk count {} exceeded a bounded multiple of the 1024 cap",
            x.data.len()
        );
        assert!(
            erred_at < MAX_INSERTS,
            "TooManyChunks fired only at the loop bound, not because of the cap"
        );
    }

    /// Regression test for recv-boundary-aliasing corruption
    /// (FINDING-recv-boundary-aliasing.md).
    ///
    /// Verifies that insert() copies data to a fully-owned allocation,
    /// independent of the input Bytes's backing storage. Without this copy,
    /// the assembler would store a Bytes reference to a decrypted packet
    /// allocation that the QUIC stack can recycle under concurrent
    /// multi-stream load, producing torn reads during out-of-order assembly.
    #[test]
    fn insert_copies_to_owned_storage_preventing_aliasing() {
        let mut x = Assembler::new();

        // Use a payload large enough to force heap allocation (avoids
        // Bytes inline-storage optimization that could alias addresses).
        let original: Vec<u8> = (0..256).map(|i| (i % 250 + 1) as u8).collect();
        let input = Bytes::copy_from_slice(&original);
        let input_ptr = input.as_ptr();

        // Insert into assembler — with the fix, this copies to a NEW allocation.
        x.insert(0, input.clone(), 256).unwrap();

        // The input Bytes must still be valid and unchanged.
        assert_eq!(&input[..], &original[..]);

        // Read from assembler — data must match the original exactly.
        let chunk = x.read(256, true).expect("data must be readable");
        assert_eq!(
            &chunk.bytes[..],
            &original[..],
            "Assembler data must match original"
        );

        // The assembler's stored data must be at a DIFFERENT memory address
        // than the input. This proves insert() made an independent copy,
        // not a reference to the input's allocation. Without the fix,
        // this assertion would fail (same pointer = alias, not copy).
        assert_ne!(
            chunk.bytes.as_ptr(),
            input_ptr,
            "Assembler must store data at a different address than the input \
             (owned copy, not alias to recyclable packet allocation)"
        );
    }

    /// 683 repetitions of a 1200/1/1-byte pattern, with offset 0 withheld.
    ///
    /// The bytes are contiguous and about 821 KB, inside the default stream
    /// window. Compaction's retention cutoff is `buffered / MAX_CHUNKS`
    /// (~802 bytes), so the 1200-byte chunks stay unmerged and the buffer
    /// would hold more than `MAX_CHUNKS` entries. The stream must still be
    /// accepted, and readable once the delayed prefix arrives.
    #[test]
    fn contiguous_1200_1_1_with_delayed_prefix_is_not_rejected() {
        const REPS: usize = 683;
        const BIG: usize = 1200;
        let mut x = Assembler::new();
        let mut expected = Vec::with_capacity(1 + REPS * (BIG + 2));
        expected.push(0x00);
        let mut offset = 1u64;
        for rep in 0..REPS {
            let big: Vec<u8> = (0..BIG).map(|i| ((rep + i) % 251) as u8).collect();
            let a = ((rep * 3) % 251) as u8;
            let b = ((rep * 3 + 1) % 251) as u8;
            expected.extend_from_slice(&big);
            expected.push(a);
            expected.push(b);
            x.insert(offset, Bytes::from(big), BIG)
                .expect("1200-byte contiguous chunk must be accepted");
            offset += BIG as u64;
            x.insert(offset, Bytes::from(vec![a]), 1)
                .expect("first 1-byte chunk must be accepted");
            offset += 1;
            x.insert(offset, Bytes::from(vec![b]), 1)
                .expect("second 1-byte chunk must be accepted");
            offset += 1;
        }
        let payload = REPS * (BIG + 2);
        assert!(
            payload < 1_250_000,
            "pattern is {payload} bytes, inside the default 1.25 MB stream window"
        );
        assert!(
            x.data.len() <= MAX_CHUNKS,
            "contiguous data left {} chunks after compaction",
            x.data.len()
        );
        x.insert(0, Bytes::from_static(&[0x00]), 1)
            .expect("delayed offset 0 must be accepted");
        let mut got = Vec::new();
        while let Some(chunk) = x.read(usize::MAX, true) {
            got.extend_from_slice(&chunk.bytes);
        }
        assert_eq!(got, expected);
    }

    fn next_unordered(x: &mut Assembler) -> Chunk {
        x.read(usize::MAX, false).unwrap()
    }

    fn next(x: &mut Assembler, size: usize) -> Option<Bytes> {
        x.read(size, true).map(|chunk| chunk.bytes)
    }
}
