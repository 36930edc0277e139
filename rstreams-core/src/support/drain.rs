//! The work-in-progress drain guard: one thread at a time runs a stage's emission loop (§1.3),
//! and a `request` from inside `on_next` never recurses into it (§3.3).
//!
//! The idiom (Reactor's and RxJava's "missed" loop): every event that may create work
//! increments a counter. The caller that moves it from 0 owns the loop; everyone else has
//! recorded their event and leaves. The owner runs a pass, subtracts the events it has seen,
//! and runs another pass if new ones arrived in the meantime. No event is lost and no two passes
//! overlap.

use crate::sync::{AtomicUsize, Mutex, MutexGuard, Ordering};

/// The work-in-progress counter behind every drain loop of rstreams.
///
/// ```
/// use rstreams::support::Drain;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// let drain = Drain::new();
/// let passes = AtomicUsize::new(0);
/// drain.run(|| {
///     passes.fetch_add(1, Ordering::Relaxed);
///     // An event during a pass (here: a re-entrant call) does not recurse;
///     // it makes the owner run one more pass.
///     if passes.load(Ordering::Relaxed) == 1 {
///         drain.run(|| unreachable!("never re-entered"));
///     }
/// });
/// assert_eq!(passes.load(Ordering::Relaxed), 2);
/// ```
#[derive(Debug, Default)]
pub struct Drain {
    wip: AtomicUsize,
}

impl Drain {
    /// A guard with no work in progress.
    pub fn new() -> Self {
        Drain {
            wip: AtomicUsize::new(0),
        }
    }

    /// Records an event. Returns `true` when the caller moved the counter from zero and so owns
    /// the loop: it must then call [`run_entered`](Self::run_entered) (or drive
    /// [`leave`](Self::leave) itself).
    #[inline]
    pub fn try_enter(&self) -> bool {
        self.wip.fetch_add(1, Ordering::AcqRel) == 0
    }

    /// Ends a pass that has seen `missed` events. Returns the number of events that arrived
    /// during the pass: zero means the loop is released, anything else means run another pass
    /// and call `leave` with that number.
    #[inline]
    pub fn leave(&self, missed: usize) -> usize {
        self.wip.fetch_sub(missed, Ordering::AcqRel) - missed
    }

    /// Whether a loop is running (or was left stuck by a panicking pass).
    pub fn is_busy(&self) -> bool {
        self.wip.load(Ordering::Acquire) != 0
    }

    /// Records an event and, if the caller owns the loop, runs `pass` until no event is left.
    #[inline]
    pub fn run(&self, pass: impl FnMut()) {
        if self.try_enter() {
            self.run_entered(pass);
        }
    }

    /// Runs `pass` until no event is left, for a caller that already owns the loop (after
    /// [`try_enter`](Self::try_enter) returned `true`).
    ///
    /// If `pass` panics, the counter stays non-zero: the loop is never run again, so a stage
    /// whose emission panicked goes quiet rather than signalling from a broken state.
    pub fn run_entered(&self, mut pass: impl FnMut()) {
        let mut missed = 1;
        loop {
            pass();
            missed = self.leave(missed);
            if missed == 0 {
                return;
            }
        }
    }
}

/// A value that only the owner of a [`Drain`] loop touches: the state of a stage's emission
/// side (its subscriber, queue, iterator).
///
/// [`drain`](Self::drain) records an event and, if it owns the loop, runs passes with
/// `&mut T`. The lock inside is only ever taken by the loop owner, so it is never contended on
/// the way in; it costs one uncontended lock per loop, not per element, and keeps this crate
/// free of `unsafe`.
#[derive(Debug, Default)]
pub struct DrainCell<T> {
    drain: Drain,
    value: Mutex<T>,
}

impl<T> DrainCell<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        DrainCell {
            drain: Drain::new(),
            value: Mutex::new(value),
        }
    }

    /// The guard, for callers that need [`Drain::try_enter`] (see [`enter`](Self::enter)).
    pub fn guard(&self) -> &Drain {
        &self.drain
    }

    /// Records an event; if the caller owns the loop, runs `pass` until no event is left.
    #[inline]
    pub fn drain(&self, pass: impl FnMut(&mut T)) {
        if self.drain.try_enter() {
            self.drain_entered(pass);
        }
    }

    /// Takes ownership of the loop before the work starts, so that events raised meanwhile
    /// (a `request` from inside `on_subscribe`) are only recorded. Returns `None` when another
    /// thread owns the loop.
    ///
    /// Publishers use this around `on_subscribe`: enter, call `on_subscribe` through the
    /// returned access, then hand it to [`Entered::drain`].
    pub fn enter(&self) -> Option<Entered<'_, T>> {
        if self.drain.try_enter() {
            Some(Entered {
                cell: self,
                value: self.value.lock(),
            })
        } else {
            None
        }
    }

    /// Runs passes for a caller that owns the loop.
    pub fn drain_entered(&self, pass: impl FnMut(&mut T)) {
        Entered {
            cell: self,
            value: self.value.lock(),
        }
        .drain(pass)
    }
}

/// Ownership of a [`DrainCell`]'s loop, from [`DrainCell::enter`].
///
/// Dropping it without calling [`drain`](Self::drain) would leave the loop owned forever, so
/// it must be drained.
#[must_use = "an entered drain loop must be run with `drain`, or it is never released"]
pub struct Entered<'a, T> {
    cell: &'a DrainCell<T>,
    value: MutexGuard<'a, T>,
}

impl<T> Entered<'_, T> {
    /// The value, for work before the first pass.
    pub fn get(&mut self) -> &mut T {
        &mut self.value
    }

    /// Runs `pass` until no event is left, then releases the loop.
    pub fn drain(mut self, mut pass: impl FnMut(&mut T)) {
        let mut missed = 1;
        loop {
            pass(&mut self.value);
            missed = self.cell.drain.leave(missed);
            if missed == 0 {
                return;
            }
        }
    }
}

impl<T> std::fmt::Debug for Entered<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Entered { .. }")
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn events_from_many_threads_are_all_seen_and_passes_never_overlap() {
        // Each event adds one to `pending`; each pass moves all pending to `done`.
        // If a pass could overlap another, the Mutex try_lock below would fail.
        let cell = Arc::new(DrainCell::new((0u64, 0u64)));
        let pending = Arc::new(crate::sync::AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let cell = Arc::clone(&cell);
                let pending = Arc::clone(&pending);
                std::thread::spawn(move || {
                    for _ in 0..5_000 {
                        pending.fetch_add(1, crate::sync::Ordering::SeqCst);
                        cell.drain(|(done, passes)| {
                            *done += pending.swap(0, crate::sync::Ordering::SeqCst);
                            *passes += 1;
                        });
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let (done, passes) = *cell.value.lock();
        assert_eq!(done, 20_000);
        assert!(passes >= 1);
        assert!(!cell.guard().is_busy());
    }

    #[test]
    fn enter_defers_events_raised_before_the_first_pass() {
        let cell = DrainCell::new(Vec::new());
        let mut entered = cell.enter().expect("a fresh cell is free");
        entered.get().push("setup");
        // An event while entered is only recorded.
        cell.drain(|v| v.push("nested"));
        entered.drain(|v| v.push("pass"));
        assert_eq!(*cell.value.lock(), vec!["setup", "pass", "pass"]);
    }
}
