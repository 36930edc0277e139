//! `debounce(quiet)`: emits an element once `quiet` has passed without a newer one.
//!
//! The downstream's subscription is an [`Engine`] around a [`HeldPull`]; the upstream's
//! subscriber ([`HeldInlet`]) keeps the newest element as the open one of its [`Held`] and
//! re-arms a [`TimerSlot`] for it; the tick makes it due and wakes the engine, which emits it
//! when there is demand.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use rstreams_core::scheduler::{Scheduler, Worker};
use rstreams_core::support::{Dropped, Engine, EngineConfig, TimerSlot, UpstreamSlot, Wake};
use rstreams_core::sync::Mutex;
use rstreams_core::{Publisher, Subscriber};

use crate::held::{Held, HeldInlet, HeldPull, Holds};

/// Names the stage in errors.
const NAME: &str = "debounce";

/// The publisher returned by [`debounce`](crate::PublisherExt::debounce) and
/// [`debounce_on`](crate::PublisherExt::debounce_on).
#[must_use = "publishers do nothing until subscribed"]
pub struct Debounce<P, S> {
    source: P,
    quiet: Duration,
    scheduler: S,
    dropped: Dropped,
}

impl<P, S> Debounce<P, S> {
    pub(crate) fn new(source: P, quiet: Duration, scheduler: S) -> Self {
        assert!(
            !quiet.is_zero(),
            "debounce: quiet must be a positive duration (got 0; valid range 1ns..=Duration::MAX, where Duration::MAX means never)"
        );
        Debounce {
            source,
            quiet,
            scheduler,
            dropped: Dropped::new(),
        }
    }

    /// The count of elements that fell due while the downstream had no demand and were then
    /// replaced by a newer due element, over all subscriptions of this publisher and its
    /// clones. The elements a debounce skips by design (followed by a newer one within
    /// `quiet`) are not counted: skipping them is what it is for.
    pub fn dropped(&self) -> Dropped {
        self.dropped.clone()
    }
}

impl<P: Clone, S: Clone> Clone for Debounce<P, S> {
    /// A clone shares the [`Dropped`] count.
    fn clone(&self) -> Self {
        Debounce {
            source: self.source.clone(),
            quiet: self.quiet,
            scheduler: self.scheduler.clone(),
            dropped: self.dropped.clone(),
        }
    }
}

impl<P: fmt::Debug, S> fmt::Debug for Debounce<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Debounce")
            .field("source", &self.source)
            .field("quiet", &self.quiet)
            .field("dropped", &self.dropped.count())
            .finish_non_exhaustive()
    }
}

impl<P, Sch> Publisher for Debounce<P, Sch>
where
    P: Publisher,
    P::Item: Send + 'static,
    Sch: Scheduler,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        let upstream = Arc::new(UpstreamSlot::new());
        let shared = Arc::new(Shared {
            quiet: self.quiet,
            worker: self.scheduler.worker(),
            upstream: Arc::clone(&upstream),
            timer: TimerSlot::new(),
            dropped: self.dropped.clone(),
            state: Mutex::new(State {
                held: Held::new(),
                seq: 0,
            }),
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
    quiet: Duration,
    worker: Arc<dyn Worker>,
    upstream: Arc<UpstreamSlot>,
    /// The quiet-period timer of the pending element.
    timer: TimerSlot,
    dropped: Dropped,
    state: Mutex<State<T>>,
}

struct State<T> {
    /// The newest element, in its quiet period (`open`); one whose quiet period passed,
    /// waiting for demand (`due`); the end.
    held: Held<T>,
    /// Counts the elements received: a tick is current only for the element it was armed for.
    seq: u64,
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

    /// The newest element replaces the open one (followed by a newer one within the quiet
    /// period: skipped) and starts its own quiet period.
    fn arrive(self: &Arc<Self>, item: T, engine: &Arc<dyn Wake>) {
        let (seq, replaced) = {
            let mut state = self.state.lock();
            if state.held.closed {
                return; // after a cancel or the end: dropped (§2.8, §1.7)
            }
            state.seq = state.seq.wrapping_add(1);
            (state.seq, state.held.open.replace(item))
        };
        drop(replaced);
        self.arm(seq, engine);
    }
}

impl<T: Send + 'static> Shared<T> {
    /// Starts the quiet period of element `seq`, replacing the previous element's timer.
    /// Called outside the state lock.
    fn arm(self: &Arc<Self>, seq: u64, engine: &Arc<dyn Wake>) {
        let shared: Weak<Self> = Arc::downgrade(self);
        let engine: Weak<dyn Wake> = Arc::downgrade(engine);
        self.timer.arm(&self.worker, self.quiet, move |generation| {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let (fired, replaced) = {
                let mut state = shared.state.lock();
                // Under the state lock, where elements arrive: a tick that raced with a newer
                // element does nothing.
                if shared.timer.fire(generation) && state.seq == seq && !state.held.closed {
                    match state.held.fall_due() {
                        Some(replaced) => (true, replaced),
                        None => (false, None),
                    }
                } else {
                    (false, None)
                }
            };
            if replaced.is_some() {
                // The older due element never found demand: counted, then dropped.
                shared.dropped.record();
                drop(replaced);
            }
            if fired {
                if let Some(engine) = engine.upgrade() {
                    engine.wake();
                }
            }
        });
    }
}
