//! The bounded hand-off between the threads that log (tokio workers, QUIC
//! tasks) and the JavaScript thread that prints. Logging threads never wait
//! for JavaScript: when the queue is full the record is dropped and counted.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// A bounded queue with one pending wake-up at a time.
pub struct Queue<T> {
    items: Mutex<VecDeque<T>>,
    capacity: usize,
    dropped: AtomicU64,
    /// Set while a wake-up is on its way to the consumer, so a burst of
    /// records costs one crossing into JavaScript, not one per record.
    wake_pending: AtomicBool,
}

impl<T> Queue<T> {
    pub const fn new(capacity: usize) -> Self {
        Self {
            items: Mutex::new(VecDeque::new()),
            capacity,
            dropped: AtomicU64::new(0),
            wake_pending: AtomicBool::new(false),
        }
    }

    /// Queues `item`, or drops and counts it when full. Returns whether the
    /// caller must wake the consumer (no wake-up is pending yet).
    pub fn push(&self, item: T) -> bool {
        {
            // A panic elsewhere while holding the lock leaves a valid
            // VecDeque; logging goes on rather than panicking in turn.
            let mut items = self.items.lock().unwrap_or_else(PoisonError::into_inner);
            if items.len() < self.capacity {
                items.push_back(item);
            } else {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        !self.wake_pending.swap(true, Ordering::AcqRel)
    }

    /// The consumer's side: everything queued, and how many records were
    /// dropped since the last call. Clears the pending wake-up first, so a
    /// record pushed while this runs wakes the consumer again.
    pub fn take(&self) -> (Vec<T>, u64) {
        self.wake_pending.store(false, Ordering::Release);
        let items: Vec<T> = self.items.lock().unwrap_or_else(PoisonError::into_inner).drain(..).collect();
        (items, self.dropped.swap(0, Ordering::Relaxed))
    }

    /// The wake-up could not be sent (no consumer, or it is shutting down):
    /// let the next push try again.
    pub fn wake_failed(&self) {
        self.wake_pending.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_and_counts() {
        let q = Queue::new(2);
        assert!(q.push(1));
        assert!(!q.push(2));
        assert!(!q.push(3));
        assert_eq!(q.take(), (vec![1, 2], 1));
        assert_eq!(q.take(), (vec![], 0));
    }

    #[test]
    fn one_wake_per_batch_and_again_after_take_or_failure() {
        let q = Queue::new(8);
        assert!(q.push(1), "first record wakes the consumer");
        assert!(!q.push(2), "a wake-up is already pending");
        let _ = q.take();
        assert!(q.push(3), "after a take the next record wakes again");
        q.wake_failed();
        assert!(q.push(4), "after a failed wake the next record tries again");
    }
}
