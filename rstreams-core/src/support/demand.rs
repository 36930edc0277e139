//! Demand arithmetic: saturating addition, `u64::MAX` as unbounded.

use crate::sync::{AtomicU64, Ordering};

/// Demand that means "as many as you have": once reached, it is never decremented (§3.17).
pub const UNBOUNDED: u64 = u64::MAX;

/// Adds two demands, saturating at [`UNBOUNDED`] (§3.17: demand may grow up to and beyond
/// 2^63 − 1 without overflow).
#[inline]
pub fn add_cap(a: u64, b: u64) -> u64 {
    a.saturating_add(b)
}

/// Multiplies a demand by a factor (as `buffer(size)` turns `n` batches into `n × size`
/// elements), saturating at [`UNBOUNDED`].
#[inline]
pub fn mul_cap(a: u64, b: u64) -> u64 {
    a.saturating_mul(b)
}

/// An outstanding-demand counter shared between the threads that request and the one that
/// emits.
///
/// - [`add`](Self::add) (any thread, any number at once) adds with saturation; nothing is lost
///   to a race (a compare-and-swap loop).
/// - [`produced`](Self::produced) (the emitting thread, once per batch, not per element)
///   subtracts what was emitted, unless the demand is unbounded.
///
/// ```
/// use rstreams::support::{Demand, UNBOUNDED};
///
/// let d = Demand::new();
/// d.add(3);
/// assert_eq!(d.produced(2), 1);
/// d.add(UNBOUNDED - 1);
/// assert_eq!(d.get(), UNBOUNDED);   // saturated: unbounded from now on
/// assert_eq!(d.produced(1_000), UNBOUNDED);
/// ```
#[derive(Debug, Default)]
pub struct Demand {
    value: AtomicU64,
}

impl Demand {
    /// No demand.
    pub fn new() -> Self {
        Demand {
            value: AtomicU64::new(0),
        }
    }

    /// The outstanding demand now.
    #[inline]
    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Acquire)
    }

    /// Whether the demand has become unbounded; it then stays so.
    #[inline]
    pub fn is_unbounded(&self) -> bool {
        self.get() == UNBOUNDED
    }

    /// Adds `n` with saturation and returns the demand as it was before.
    ///
    /// A caller that sees `0` returned knows it turned an idle emitter into a busy one.
    #[inline]
    pub fn add(&self, n: u64) -> u64 {
        let mut current = self.value.load(Ordering::Acquire);
        loop {
            if current == UNBOUNDED {
                return UNBOUNDED;
            }
            let next = add_cap(current, n);
            match self.value.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(previous) => return previous,
                Err(actual) => current = actual,
            }
        }
    }

    /// Takes the whole demand, leaving zero, and returns it (unbounded included): for a
    /// counter of requests not yet passed on, whose taker passes them on in one call. With
    /// [`add`](Self::add) returning `0` to the caller that made it non-zero, exactly one
    /// taker is due per batch of requests.
    ///
    /// ```
    /// use rstreams::support::Demand;
    ///
    /// let pending = Demand::new();
    /// assert_eq!(pending.add(2), 0); // it was empty: this caller schedules the taker
    /// assert_eq!(pending.add(3), 2); // one is due already
    /// assert_eq!(pending.take(), 5);
    /// assert_eq!(pending.take(), 0);
    /// ```
    pub fn take(&self) -> u64 {
        self.value.swap(0, Ordering::AcqRel)
    }

    /// Records that `n` elements were emitted and returns the demand that remains.
    ///
    /// Unbounded demand is left as it is. `n` must not exceed the demand the caller read; in a
    /// debug build exceeding it panics, in a release build the demand stops at zero.
    pub fn produced(&self, n: u64) -> u64 {
        if n == 0 {
            return self.get();
        }
        let mut current = self.value.load(Ordering::Acquire);
        loop {
            if current == UNBOUNDED {
                return UNBOUNDED;
            }
            debug_assert!(
                n <= current,
                "produced({n}) exceeds the outstanding demand {current}: an emitter over-emitted (§1.1)"
            );
            let next = current.saturating_sub(n);
            match self.value.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return next,
                Err(actual) => current = actual,
            }
        }
    }
}

/// A fixed total of demand, handed out in pieces that never add up to more than the total.
///
/// This is how a stage caps what it asks of its upstream over a whole subscription, whatever its
/// downstream requests: `take(n)` forwards `claim(request)` and so never requests more than `n`
/// in total. Claims from any number of threads at once are exact (a compare-and-swap loop): the
/// grants always sum to at most the total.
///
/// A total of [`UNBOUNDED`] is unbounded (§3.17): every claim is granted in full and the budget
/// is never used up.
///
/// ```
/// use rstreams::support::{Budget, UNBOUNDED};
///
/// let budget = Budget::new(5);
/// assert_eq!(budget.claim(3), 3);
/// assert_eq!(budget.claim(UNBOUNDED), 2); // only what is left
/// assert_eq!(budget.claim(1), 0);         // used up
/// assert_eq!(budget.remaining(), 0);
///
/// let unbounded = Budget::new(UNBOUNDED);
/// assert_eq!(unbounded.claim(7), 7);
/// assert_eq!(unbounded.remaining(), UNBOUNDED);
/// ```
#[derive(Debug)]
pub struct Budget {
    left: AtomicU64,
}

impl Budget {
    /// A budget of `total` (`UNBOUNDED`: no limit).
    pub fn new(total: u64) -> Self {
        Budget {
            left: AtomicU64::new(total),
        }
    }

    /// Takes up to `n` from what is left and returns how much was granted: `n` when enough is
    /// left, what is left otherwise, `0` once the budget is used up.
    #[inline]
    pub fn claim(&self, n: u64) -> u64 {
        let mut current = self.left.load(Ordering::Acquire);
        loop {
            if current == UNBOUNDED {
                return n;
            }
            let grant = n.min(current);
            if grant == 0 {
                return 0;
            }
            match self.left.compare_exchange_weak(
                current,
                current - grant,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return grant,
                Err(actual) => current = actual,
            }
        }
    }

    /// What is left to hand out (`UNBOUNDED` for an unbounded budget).
    pub fn remaining(&self) -> u64 {
        self.left.load(Ordering::Acquire)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn demand_added_from_many_threads_is_never_lost() {
        let d = Arc::new(Demand::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let d = Arc::clone(&d);
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        d.add(1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(d.get(), 40_000);
    }

    #[test]
    fn adding_past_u64_max_saturates_to_unbounded() {
        let d = Demand::new();
        d.add(u64::MAX - 1);
        d.add(2);
        assert!(d.is_unbounded());
        assert_eq!(d.add(5), UNBOUNDED);
    }

    #[test]
    fn produced_never_decrements_unbounded_demand() {
        let d = Demand::new();
        d.add(UNBOUNDED);
        assert_eq!(d.produced(u64::MAX - 1), UNBOUNDED);
        assert_eq!(d.get(), UNBOUNDED);
    }

    #[test]
    fn produced_returns_the_remaining_demand() {
        let d = Demand::new();
        d.add(10);
        assert_eq!(d.produced(4), 6);
        assert_eq!(d.produced(6), 0);
        assert_eq!(d.produced(0), 0);
    }

    #[test]
    fn cap_arithmetic_saturates() {
        assert_eq!(add_cap(u64::MAX - 1, 5), UNBOUNDED);
        assert_eq!(mul_cap(u64::MAX / 2, 3), UNBOUNDED);
        assert_eq!(mul_cap(4, 8), 32);
    }

    #[test]
    fn budget_claims_from_many_threads_never_exceed_the_total() {
        let budget = Arc::new(Budget::new(10_000));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let b = Arc::clone(&budget);
                std::thread::spawn(move || (0..5_000).map(|_| b.claim(1)).sum::<u64>())
            })
            .collect();
        let granted: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(granted, 10_000);
        assert_eq!(budget.remaining(), 0);
        assert_eq!(budget.claim(1), 0);
    }

    #[test]
    fn budget_grants_what_is_left_and_unbounded_is_never_used_up() {
        let b = Budget::new(4);
        assert_eq!(b.claim(0), 0);
        assert_eq!(b.claim(3), 3);
        assert_eq!(b.claim(UNBOUNDED), 1);
        assert_eq!(b.claim(5), 0);
        let u = Budget::new(UNBOUNDED);
        assert_eq!(u.claim(UNBOUNDED), UNBOUNDED);
        assert_eq!(u.claim(3), 3);
        assert_eq!(u.remaining(), UNBOUNDED);
    }
}
