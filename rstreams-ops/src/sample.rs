//! `sample(period)`: at the end of each period, emits the newest element that arrived in it.
//!
//! The downstream's subscription is an [`Engine`] around a [`SamplePull`]; the upstream's
//! subscriber ([`Inlet`]) keeps the newest element of the current period as `latest`; a
//! periodic tick on a [`TimerSlot`] moves it to `due` and wakes the engine, which emits it
//! when there is demand. Ticks stop while periods pass with nothing in them and resume, on the
//! same grid, with the next element.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rstreams_core::scheduler::{deadline, Scheduler, Worker};
use rstreams_core::support::{
    Dropped, Engine, EngineConfig, Pull, Pulled, TimerSlot, UpstreamSlot, Wake, UNBOUNDED,
};
use rstreams_core::sync::Mutex;
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

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
                latest: None,
                due: None,
                end: None,
                closed: false,
                ticking: false,
                // Periods are counted from the subscription.
                grid: worker.now(),
            }),
            worker,
        });
        let engine = Engine::start(
            SamplePull {
                shared: Arc::clone(&shared),
            },
            subscriber,
            EngineConfig::new().upstream(upstream),
        );
        let engine: Arc<dyn Wake> = engine;
        self.source.subscribe(Inlet { shared, engine });
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
    /// The newest element of the current period.
    latest: Option<T>,
    /// The sample of a past period, waiting for demand.
    due: Option<T>,
    /// How the upstream ended; an error goes out at once.
    end: Option<Result<(), Error>>,
    /// Nothing is accepted any more.
    closed: bool,
    /// A tick is armed.
    ticking: bool,
    /// A point of the period grid: the last tick, or the subscription.
    grid: Instant,
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
            if !self.timer.fire(generation) || state.closed {
                return;
            }
            state.grid = at;
            match state.latest.take() {
                Some(item) => {
                    let replaced = state.due.replace(item);
                    (true, replaced, Some(deadline(at, self.period)))
                }
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

/// The downstream's side: emits the due sample, and at the end the current period's.
struct SamplePull<T> {
    shared: Arc<Shared<T>>,
}

impl<T: Send + 'static> Pull for SamplePull<T> {
    type Item = T;

    fn name(&self) -> &'static str {
        NAME
    }

    fn pull(&mut self, _demand: u64) -> Pulled<T> {
        let mut state = self.shared.state.lock();
        if matches!(state.end, Some(Err(_))) {
            let Some(Err(error)) = state.end.take() else {
                unreachable!("checked above")
            };
            let held = (state.latest.take(), state.due.take());
            drop(state);
            drop(held);
            return Pulled::Error(error);
        }
        if let Some(item) = state.due.take() {
            return Pulled::Ready(item);
        }
        if state.end.is_some() {
            // Completed: the newest element of the unfinished period goes out, then the end.
            return match state.latest.take() {
                Some(item) => Pulled::Ready(item),
                None => Pulled::End,
            };
        }
        Pulled::Pending
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        let mut state = self.shared.state.lock();
        match &state.end {
            Some(Err(_)) => {
                let end = state.end.take();
                let held = (state.latest.take(), state.due.take());
                drop(state);
                drop(held);
                end
            }
            Some(Ok(())) if state.due.is_none() && state.latest.is_none() => Some(Ok(())),
            _ => None,
        }
    }
}

impl<T> Drop for SamplePull<T> {
    /// The subscription ended: what is held goes with it and the tick is stopped.
    fn drop(&mut self) {
        let held = {
            let mut state = self.shared.state.lock();
            state.closed = true;
            (state.latest.take(), state.due.take())
        };
        self.shared.timer.cancel();
        drop(held);
    }
}

/// The subscriber given to the upstream.
struct Inlet<T> {
    shared: Arc<Shared<T>>,
    engine: Arc<dyn Wake>,
}

impl<T: Send + 'static> Inlet<T> {
    fn end(&self, end: Result<(), Error>) {
        let held = {
            let mut state = self.shared.state.lock();
            if state.closed {
                return; // after a cancel or an end (§1.7)
            }
            state.closed = true;
            let held = if end.is_err() {
                (state.latest.take(), state.due.take())
            } else {
                (None, None) // both go out before the completion
            };
            state.end = Some(end);
            held
        };
        self.shared.timer.cancel();
        drop(held);
        self.engine.wake();
    }
}

impl<T: Send + 'static> Subscriber<T> for Inlet<T> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        // §2.5: a second subscription, or one after the downstream cancelled, is cancelled.
        if self.shared.upstream.set(subscription) {
            self.shared.upstream.request(UNBOUNDED);
        }
    }

    fn on_next(&mut self, item: T) {
        let shared = &self.shared;
        let (replaced, arm) = {
            let mut state = shared.state.lock();
            if state.closed {
                return; // after a cancel or the end: dropped (§2.8, §1.7)
            }
            let replaced = state.latest.replace(item);
            let arm = if state.ticking {
                None
            } else {
                state.ticking = true;
                Some(shared.next_tick(state.grid, shared.worker.now()))
            };
            (replaced, arm)
        };
        drop(replaced); // followed by a newer one in the same period: skipped
        if let Some(at) = arm {
            let engine = Arc::downgrade(&self.engine);
            shared.arm(at, &engine);
        }
    }

    fn on_error(&mut self, error: Error) {
        self.shared.upstream.clear();
        self.end(Err(error));
    }

    fn on_complete(&mut self) {
        self.shared.upstream.clear();
        self.end(Ok(()));
    }
}
