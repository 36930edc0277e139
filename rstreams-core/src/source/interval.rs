//! `interval(period, scheduler)`: a tick counter driven by a scheduler's clock.

use crate::sync::{AtomicBool, Ordering};
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::start;
use crate::scheduler::{deadline, Scheduler, Worker};
use crate::support::{Engine, Pull, Pulled, TimerSlot};
use crate::{Publisher, Subscriber};

/// Emits `0, 1, 2, …`, one value per `period` on `scheduler`'s clock, starting one period after
/// subscription. Never completes; cancel it (or cap it downstream) to stop.
///
/// # Backpressure
///
/// A tick that finds no outstanding demand is held (at most one) and emitted as soon as demand
/// arrives; ticks that fall due meanwhile are merged into the held one. The values stay
/// consecutive, so nothing is lost: a slow consumer sees ticks late, not missing, and the
/// source never buffers more than one tick. A consumer that wants the wall-clock pace regardless
/// requests unbounded demand (or puts an `on_backpressure_*` stage in between).
///
/// Ticks run on one [`Worker`] of the scheduler per subscription. Test with
/// [`VirtualTime`](crate::scheduler::VirtualTime):
///
/// ```
/// use rstreams::scheduler::VirtualTime;
/// use rstreams::{sink, source, Publisher};
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
///
/// let vt = VirtualTime::new();
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let s = seen.clone();
/// source::interval(Duration::from_secs(1), vt.clone())
///     .subscribe(sink::for_each(move |tick| s.lock().unwrap().push(tick)));
/// vt.advance_by(Duration::from_millis(3_500));
/// assert_eq!(*seen.lock().unwrap(), vec![0, 1, 2]);
/// ```
///
/// A `period` too long to be practical (up to `Duration::MAX`) means no tick ever comes (see
/// [`deadline`]).
///
/// # Panics
///
/// When `period` is zero.
pub fn interval<S: Scheduler + Clone>(period: Duration, scheduler: S) -> Interval<S> {
    assert!(
        !period.is_zero(),
        "interval: period must be greater than zero (got 0)"
    );
    Interval { period, scheduler }
}

/// The publisher returned by [`interval`].
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct Interval<S> {
    period: Duration,
    scheduler: S,
}

impl<S> fmt::Debug for Interval<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interval")
            .field("period", &self.period)
            .finish_non_exhaustive()
    }
}

impl<Sch: Scheduler + Clone> Publisher for Interval<Sch> {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, subscriber: S) {
        let due = Arc::new(AtomicBool::new(false));
        let timer = Arc::new(TimerSlot::new());
        let emitter = start(
            IntervalPull {
                due: Arc::clone(&due),
                count: 0,
                timer: Arc::clone(&timer),
            },
            subscriber,
        );
        let worker = self.scheduler.worker();
        let first = deadline(worker.now(), self.period);
        let tick = Tick {
            worker,
            timer,
            emitter: Arc::downgrade(&emitter),
            due,
            period: self.period,
        };
        tick.arm(first);
    }
}

/// What each tick needs to schedule the next one.
struct Tick<S> {
    worker: Arc<dyn Worker>,
    /// The pending tick, cancelled when the subscription ends (so that a long period leaves
    /// no timer behind).
    timer: Arc<TimerSlot>,
    emitter: Weak<Engine<IntervalPull, S>>,
    due: Arc<AtomicBool>,
    period: Duration,
}

impl<S: Subscriber<u64> + 'static> Tick<S> {
    /// Schedules the tick due at `at`; each tick schedules the next, at a fixed rate.
    fn arm(self, at: Instant) {
        let delay = at.saturating_duration_since(self.worker.now());
        let worker = Arc::clone(&self.worker);
        let timer = Arc::clone(&self.timer);
        timer.arm(&worker, delay, move |generation| {
            if !self.timer.fire(generation) {
                return; // cancelled with the subscription
            }
            // The subscription holds the emitter; once it is cancelled and released, stop.
            let Some(live) = self.emitter.upgrade() else {
                return;
            };
            if live.is_cancelled() {
                return;
            }
            self.due.store(true, Ordering::Release);
            live.wake();
            drop(live);
            let next = deadline(at, self.period);
            self.arm(next);
        });
    }
}

struct IntervalPull {
    due: Arc<AtomicBool>,
    count: u64,
    timer: Arc<TimerSlot>,
}

impl Drop for IntervalPull {
    /// The subscription ended: the pending tick goes with it.
    fn drop(&mut self) {
        self.timer.cancel();
    }
}

impl Pull for IntervalPull {
    type Item = u64;

    fn name(&self) -> &'static str {
        "interval"
    }

    fn pull(&mut self, _demand: u64) -> Pulled<u64> {
        if self.due.swap(false, Ordering::AcqRel) {
            let tick = self.count;
            self.count = self.count.wrapping_add(1);
            Pulled::Ready(tick)
        } else {
            Pulled::Pending
        }
    }
}
