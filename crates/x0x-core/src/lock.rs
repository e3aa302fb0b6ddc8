//! Locking the state of a protocol driver.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, taking over a poisoned lock: the drivers' states stay
/// consistent between calls (no call panics midway), so one that a
/// panicking thread held is still safe to use.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
