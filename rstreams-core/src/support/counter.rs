//! A shared event counter for observing a stage from outside.

use crate::sync::{AtomicU64, Ordering};

/// A count of events (elements dropped or evicted by an overflow policy, say) that a stage adds
/// to as they happen and that anyone may read from any thread.
///
/// Adding is one relaxed atomic add: cheap enough for a stage to count per element on its
/// overload path. Reading gives a value that is exact once the counting stage is quiet (its
/// stream ended or was cancelled), and a recent value while it runs. The count wraps only after
/// 2^64 events, which no stream reaches.
///
/// ```
/// use rstreams::support::Counter;
/// use std::sync::Arc;
///
/// let dropped = Arc::new(Counter::new());
/// let stage_side = Arc::clone(&dropped);
/// stage_side.increment();
/// stage_side.add(2);
/// assert_eq!(dropped.get(), 3);
/// ```
#[derive(Debug, Default)]
pub struct Counter {
    value: AtomicU64,
}

impl Counter {
    /// A counter at zero.
    pub fn new() -> Self {
        Counter {
            value: AtomicU64::new(0),
        }
    }

    /// Adds one event.
    #[inline]
    pub fn increment(&self) {
        self.add(1);
    }

    /// Adds `n` events.
    #[inline]
    pub fn add(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
    }

    /// The number of events counted so far.
    #[inline]
    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn events_counted_from_many_threads_are_never_lost() {
        let counter = Arc::new(Counter::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = Arc::clone(&counter);
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        c.increment();
                    }
                    c.add(5);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.get(), 40_020);
    }

    #[test]
    fn counters_can_be_shared_across_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Counter>();
    }
}
