//! Near-valid inputs: a decoder's own valid encodings, edited.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};

/// A length or count field of a valid encoding: byte offset and width
/// (little-endian, 1 to 8 bytes).
pub type Field = (usize, usize);

#[derive(Debug, Clone)]
enum Edit {
    /// Overwrites one byte.
    Byte(Index, u8),
    /// Flips one bit.
    Bit(Index, u8),
    /// Cuts the input at a point.
    Truncate(Index),
    /// Appends bytes.
    Append(Vec<u8>),
    /// Inserts bytes at a point.
    Insert(Index, Vec<u8>),
    /// Removes a run of bytes.
    Remove(Index, usize),
    /// Sets one of the known fields to a value (often a huge one).
    Field(Index, u64),
}

fn field_value() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(u64::from(u8::MAX)),
        Just(u64::from(u16::MAX)),
        Just(u64::from(u32::MAX)),
        Just(0x8000_0000),
        Just(u64::MAX),
        // Small counts, and the powers of two (and three times them) that
        // limits and multiples-of-k checks are made of.
        0..1024u64,
        (0..64u32).prop_map(|s| 1u64 << s),
        (0..62u32).prop_map(|s| 3u64 << s),
        0..70_000u64,
        any::<u64>(),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Byte(i, b)),
        2 => (any::<Index>(), 0..8u8).prop_map(|(i, b)| Edit::Bit(i, b)),
        2 => any::<Index>().prop_map(Edit::Truncate),
        1 => vec(any::<u8>(), 1..64).prop_map(Edit::Append),
        1 => (any::<Index>(), vec(any::<u8>(), 1..64)).prop_map(|(i, b)| Edit::Insert(i, b)),
        1 => (any::<Index>(), 1..64usize).prop_map(|(i, n)| Edit::Remove(i, n)),
        3 => (any::<Index>(), field_value()).prop_map(|(i, v)| Edit::Field(i, v)),
    ]
}

fn apply(input: &mut Vec<u8>, fields: &[Field], edit: &Edit) {
    match edit {
        Edit::Byte(i, b) if !input.is_empty() => {
            let at = i.index(input.len());
            input[at] = *b;
        }
        Edit::Bit(i, bit) if !input.is_empty() => {
            let at = i.index(input.len());
            input[at] ^= 1 << bit;
        }
        Edit::Truncate(i) => input.truncate(i.index(input.len() + 1)),
        Edit::Append(bytes) => input.extend_from_slice(bytes),
        Edit::Insert(i, bytes) => {
            let at = i.index(input.len() + 1);
            input.splice(at..at, bytes.iter().copied());
        }
        Edit::Remove(i, n) if !input.is_empty() => {
            let at = i.index(input.len());
            let end = (at + n).min(input.len());
            input.drain(at..end);
        }
        Edit::Field(i, value) if !fields.is_empty() => {
            let (at, width) = fields[i.index(fields.len())];
            if let Some(dst) = input.get_mut(at..at + width) {
                dst.copy_from_slice(&value.to_le_bytes()[..width]);
            }
        }
        _ => {}
    }
}

/// Inputs for a decoder: random bytes up to `max_len`, random bytes behind
/// one of its `tags`, its `valid` encodings as they are, and (most often)
/// those encodings with one to four edits, some of them to `fields`.
pub fn inputs(valid: Vec<Vec<u8>>, fields: Vec<Field>, tags: Vec<u8>, max_len: usize) -> BoxedStrategy<Vec<u8>> {
    assert!(!valid.is_empty() && !tags.is_empty(), "a decoder needs a valid encoding and a tag");
    let edited = (select(valid.clone()), vec(edit(), 1..5)).prop_map(move |(mut input, edits)| {
        for e in &edits {
            apply(&mut input, &fields, e);
        }
        input
    });
    prop_oneof![
        2 => vec(any::<u8>(), 0..max_len),
        2 => (select(tags), vec(any::<u8>(), 0..max_len)).prop_map(|(tag, mut rest)| {
            rest.insert(0, tag);
            rest
        }),
        1 => select(valid),
        8 => edited,
    ]
    .boxed()
}
