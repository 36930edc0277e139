//! `sample(period)`: at the end of each period, emits the newest element that arrived in it.
//!
//! The downstream's subscription is an [`Engine`] around a [`HeldPull`]; the upstream's
//! subscriber ([`HeldInlet`]) keeps the newest element of the current period as the open one of
//! its [`Held`]; a periodic tick on a [`TimerSlot`] makes it due and wakes the engine, which
//! emits it when there is demand. Ticks stop while periods pass with nothing in them and resume, on the
//! same grid, with the next element.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rstreams_core::scheduler::{deadline, Scheduler, Worker};
use rstreams_core::support::{Dropped, Engine, EngineConfig, TimerSlot, UpstreamSlot, Wake};
use rstreams_core::sync::Mutex;
use rstreams_core::{Publisher, Subscriber};

use crate::held::{Held, HeldInlet, HeldPull, Holds};

/// Names the stage in errors.
const NAME: &str = "sample";

/// The publisher returned by [`sample`](crate::PublisherExt::sample) and
/// [`sample_on`](crate::PublisherExt::sample_on).
#[must_use = "publishers do nothing until subscribed"]
pub struct Sample<P, S> {
    source: P,
    period: Duration,
    scheduler: S,
    dropped: Dropped,
}

impl<P, S> Sample<P, S> {
    pub(crate) fn new(source: P, period: Duration, scheduler: S) -> Self {
        assert!(
            !period.is_zero(),
            "sample: period must be a positive duration (got 0; valid range 1ns..=Duration::MAX, where Duration::MAX means never)"
        );
        Sample {
            source,
            period,
            scheduler,
            dropped: Dropped::new(),
        }
    }

    /// The count of sampled elements that found no demand and were replaced by the sample of
    /// a later period, over all subscriptions of this publisher and its clones. The elements
    /// a sample skips by design (followed by a newer one in the same period) are not counted.
    pub fn dropped(&self) -> Dropped {
        self.dropped.clone()
    }
}

impl<P: Clone, S: Clone> Clone for Sample<P, S> {
    /// A clone shares the [`Dropped`] count.
    fn clone(&self) -> Self {
        Sample {
            source: self.source.clone(),
            period: self.period,
            scheduler: self.scheduler.clone(),
            dropped: self.dropped.clone(),
        }
    }
}

impl<P: fmt::Debug, S> fmt::Debug for Sample<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sample")
            .field("source", &self.source)
            .field("period", &self.period)
            .field("dropped", &self.dropped.count())
            .finish_non_exhaustive()
    }
}

impl<P, Sch> Publisher for Sample<P, Sch>
where
    P: Publisher,
    P::Item: Send + 'static,
    Sch: Scheduler,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        let worker = self.scheduler.worker();
        let upstream = Arc::new(UpstreamSlot::new());
        let shared = Arc::new(Shared {
            period: self.period,
            upstream: Arc::clone(&upstream),
            timer: TimerSlot::new(),
            dropped: self.dropped.clone(),
            state: Mutex::new(State {
                held: Held::new(),
                ticking: false,
                // Periods are counted from the subscription.
                grid: worker.now(),
            }),
            worker,
        });
        let engine: Arc<dyn Wake> = Engine::start(
            HeldPull::new(Arc::clone(&shared)),
            subscriber,
            EngineConfig::new().upstream(upstream),
        );
        self.source.subscribe(HeldInlet::new(shared, engine));
    }
}

/// What the two sides of one subscription share.
struct Shared<T> {
    period: Duration,
    worker: Arc<dyn Worker>,
    upstream: Arc<UpstreamSlot>,
    /// The tick at the end of the current period.
    timer: TimerSlot,
    dropped: Dropped,
    state: Mutex<State<T>>,
}

struct State<T> {
    /// The newest element of the current period (`open`); the sample of a past period,
    /// waiting for demand (`due`); the end.
    held: Held<T>,
    /// A tick is armed.
    ticking: bool,
    /// A point of the period grid: the last tick, or the subscription.
    grid: Instant,
}

impl<T: Send + 'static> Holds<T> for Shared<T> {
    const NAME: &'static str = NAME;

    fn with_held<R>(&self, f: impl FnOnce(&mut Held<T>) -> R) -> R {
        f(&mut self.state.lock().held)
    }

    fn timer(&self) -> &TimerSlot {
        &self.timer
    }

    fn upstream(&self) -> &UpstreamSlot {
        &self.upstream
    }

    /// The newest element replaces the open one (followed by a newer one in the same period:
    /// skipped); the first after a pause starts the ticks again, on the same grid.
    fn arrive(self: &Arc<Self>, item: T, engine: &Arc<dyn Wake>) {
        let (replaced, arm) = {
            let mut state = self.state.lock();
            if state.held.closed {
                return; // after a cancel or the end: dropped (§2.8, §1.7)
            }
            let replaced = state.held.open.replace(item);
            let arm = if state.ticking {
                None
            } else {
                state.ticking = true;
                Some(self.next_tick(state.grid, self.worker.now()))
            };
            (replaced, arm)
        };
        drop(replaced);
        if let Some(at) = arm {
            self.arm(at, &Arc::downgrade(engine));
        }
    }
}

impl<T: Send + 'static> Shared<T> {
    /// The end of the period that `now` falls in: the first grid point after it.
    fn next_tick(&self, grid: Instant, now: Instant) -> Instant {
        let since = now.saturating_duration_since(grid).as_nanos();
        let periods = since / self.period.as_nanos() + 1;
        let offset = self
            .period
            .as_nanos()
            .checked_mul(periods)
            .and_then(|nanos| u64::try_from(nanos).ok())
            .map_or(Duration::MAX, Duration::from_nanos);
        deadline(grid, offset)
    }

    /// Arms the tick at `at`. Called outside the state lock.
    fn arm(self: &Arc<Self>, at: Instant, engine: &Weak<dyn Wake>) {
        let shared: Weak<Self> = Arc::downgrade(self);
        let engine = engine.clone();
        let delay = at.saturating_duration_since(self.worker.now());
        self.timer.arm(&self.worker, delay, move |generation| {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            shared.tick(generation, at, &engine);
        });
    }

    /// The end of a period: its newest element becomes due; the next tick is armed if the
    /// period had one (else ticking pauses until the next element).
    fn tick(self: &Arc<Self>, generation: u64, at: Instant, engine: &Weak<dyn Wake>) {
        let (sampled, replaced, next) = {
            let mut state = self.state.lock();
            if !self.timer.fire(generation) || state.held.closed {
                return;
            }
            state.grid = at;
            match state.held.fall_due() {
                Some(replaced) => (true, replaced, Some(deadline(at, self.period))),
                None => {
                    state.ticking = false;
                    (false, None, None)
                }
            }
        };
        if replaced.is_some() {
            // The previous sample never found demand: counted, then dropped.
            self.dropped.record();
            drop(replaced);
        }
        if let Some(next) = next {
            self.arm(next, engine);
        }
        if sampled {
            if let Some(engine) = engine.upgrade() {
                engine.wake();
            }
        }
    }
}
