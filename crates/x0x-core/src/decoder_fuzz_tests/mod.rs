//! Decoder fuzzing (issue 14, "Decoders"): every decoder that reads bytes
//! from the network, and the Bulk frame dispatcher, fed arbitrary and
//! near-valid bytes. Each must return (never panic) and allocate at most
//! [`PER_BYTE`] bytes per input byte plus [`FIXED`] while doing so.
//!
//! Random bytes rarely pass a decoder's first tag or version check, so
//! every decoder also gets valid encodings from its own encoder, edited:
//! bytes overwritten, cut, extended, spliced, and length or count fields set
//! to huge values ([`mutate`]).
//!
//! Allocation is measured by a counting global allocator ([`alloc_meter`]),
//! armed on the test's own thread around the decode call only. Run with
//! `--nocapture` to see each decoder's worst case.

mod alloc_meter;
mod anti_entropy;
mod dispatch;
mod frames;
mod mutate;
mod records;

use std::cell::RefCell;
use std::fmt::Write as _;

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestError, TestRunner};

use alloc_meter::measure;

/// Allocation budget per input byte. Decoders copy what they keep (a
/// payload, a record body) once or twice; the tightest case is a frame list
/// of empty entries, 16 bytes of `&[u8]` per 4-byte length field.
pub const PER_BYTE: usize = 4;
/// Allocation budget of any decode, whatever its input: small fixed
/// tables and the few state allocations a handler makes on a fresh peer.
pub const FIXED: usize = 64 * 1024;

/// Cases per decoder: enough to reach deep paths through the near-valid
/// edits; the whole module takes about 1.5 s in the test-release profile.
pub const CASES: u32 = 1024;

/// The budget for an input of `len` bytes.
pub fn budget(len: usize) -> usize {
    PER_BYTE * len + FIXED
}

/// Worst case seen by one decoder.
#[derive(Default)]
struct Worst {
    cases: u32,
    peak_bytes: usize,
    peak_len: usize,
    ratio: f64,
    ratio_len: usize,
}

/// Runs `decode` on `cases` inputs drawn from `inputs`, failing on a panic
/// or on an allocation above [`budget`], and prints the worst case.
pub fn fuzz<S>(name: &str, cases: u32, inputs: S, decode: impl Fn(&[u8]))
where
    S: Strategy<Value = Vec<u8>>,
{
    fuzz_with(name, cases, inputs, |_| (), |(), input| decode(input));
}

/// [`fuzz`] for a stateful handler: `setup` makes a fresh one per case,
/// before the meter is armed, so every case starts from the same state and
/// only `decode` is measured.
pub fn fuzz_with<S, T>(name: &str, cases: u32, inputs: S, setup: impl Fn(&[u8]) -> T, decode: impl Fn(&mut T, &[u8]))
where
    S: Strategy<Value = Vec<u8>>,
{
    let config = ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() };
    let mut runner = TestRunner::new(config);
    let worst = RefCell::new(Worst::default());
    let result = runner.run(&inputs, |input| {
        let mut state = setup(&input);
        let ((), bytes) = measure(|| decode(&mut state, &input));
        drop(state);
        let mut w = worst.borrow_mut();
        w.cases += 1;
        if bytes > w.peak_bytes {
            (w.peak_bytes, w.peak_len) = (bytes, input.len());
        }
        let ratio = bytes as f64 / input.len().max(1) as f64;
        if ratio > w.ratio {
            (w.ratio, w.ratio_len) = (ratio, input.len());
        }
        if bytes > budget(input.len()) {
            return Err(TestCaseError::fail(format!(
                "allocated {bytes} bytes for a {}-byte input (budget {})",
                input.len(),
                budget(input.len())
            )));
        }
        Ok(())
    });
    let w = worst.into_inner();
    eprintln!(
        "decoder_fuzz {name}: {} runs, peak {} B (input {} B), worst {:.1} B per input byte (input {} B)",
        w.cases, w.peak_bytes, w.peak_len, w.ratio, w.ratio_len
    );
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, input)) => panic!("{name}: {reason}; minimal input {}", hex_head(&input)),
        Err(TestError::Abort(reason)) => panic!("{name}: aborted: {reason}"),
    }
}

/// The first bytes of an input in hex, for failure messages.
fn hex_head(input: &[u8]) -> String {
    let mut s = format!("({} bytes) ", input.len());
    for b in input.iter().take(96) {
        let _ = write!(s, "{b:02x}");
    }
    if input.len() > 96 {
        s.push_str("...");
    }
    s
}
