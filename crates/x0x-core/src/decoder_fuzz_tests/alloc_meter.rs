//! Counts the bytes a piece of code allocates on the current thread.
//!
//! A `#[global_allocator]` is process-wide, so this one serves the whole lib
//! test binary. It only forwards to the system allocator, adding to a
//! per-thread counter while that thread has armed it, so tests running in
//! parallel on other threads neither disturb nor see each other's counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    // `const` initialisers without destructors: reading them never
    // allocates, which an allocator must not do.
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static BYTES: Cell<usize> = const { Cell::new(0) };
}

fn count(bytes: usize) {
    // `try_with`: allocations during thread teardown must not panic.
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            let _ = BYTES.try_with(|b| b.set(b.get().saturating_add(bytes)));
        }
    });
}

struct Counting;

// SAFETY: every method hands its arguments unchanged to `System`, which
// upholds the `GlobalAlloc` contract; the counting only touches
// thread-local `Cell`s and never allocates or unwinds. This is the one
// `unsafe` the allocation bound needs: `GlobalAlloc` is an unsafe trait.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Growth counts as new bytes; shrinking frees nothing here, so the
        // total is what was ever requested, not what is live.
        count(new_size.saturating_sub(layout.size()));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Disarms the counter even when the measured code panics.
struct Disarm;

impl Drop for Disarm {
    fn drop(&mut self) {
        ARMED.with(|a| a.set(false));
    }
}

/// Runs `f`, returning its result and the bytes it allocated on this
/// thread (every allocation and every growth, freed or not).
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, usize) {
    BYTES.with(|b| b.set(0));
    ARMED.with(|a| a.set(true));
    let guard = Disarm;
    let out = f();
    drop(guard);
    (out, BYTES.with(Cell::get))
}

#[test]
fn decoder_fuzz_meter_counts_only_what_runs_inside() {
    let outside = vec![0u8; 1 << 20];
    let (v, bytes) = measure(|| vec![1u8; 1000]);
    assert_eq!(v.len(), 1000);
    assert!((1000..1100).contains(&bytes), "{bytes}");
    let ((), none) = measure(|| ());
    assert_eq!(none, 0);
    drop(outside);
}
