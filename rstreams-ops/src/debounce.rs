//! `debounce(quiet)`: emits an element once `quiet` has passed without a newer one.
//!
//! The downstream's subscription is an [`Engine`] around a [`DebouncePull`]; the upstream's
//! subscriber ([`Inlet`]) keeps the newest element as `pending` and re-arms a [`TimerSlot`]
//! for it; the tick moves it to `due` and wakes the engine, which emits it when there is
//! demand.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use rstreams_core::scheduler::{Scheduler, Worker};
use rstreams_core::support::{
    Dropped, Engine, EngineConfig, Pull, Pulled, TimerSlot, UpstreamSlot, Wake, UNBOUNDED,
};
use rstreams_core::sync::Mutex;
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

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
                pending: None,
                seq: 0,
                due: None,
                end: None,
                closed: false,
            }),
        });
        let engine: Arc<dyn Wake> = Engine::start(
            DebouncePull {
                shared: Arc::clone(&shared),
            },
            subscriber,
            EngineConfig::new().upstream(upstream),
        );
        self.source.subscribe(Inlet { shared, engine });
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
    /// The newest element, in its quiet period.
    pending: Option<T>,
    /// Counts the elements received: a tick is current only for the element it was armed for.
    seq: u64,
    /// An element whose quiet period passed, waiting for demand.
    due: Option<T>,
    /// How the upstream ended; an error goes out at once.
    end: Option<Result<(), Error>>,
    /// Nothing is accepted any more (the upstream ended, or the subscription did).
    closed: bool,
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
                if shared.timer.fire(generation) && state.seq == seq && !state.closed {
                    match state.pending.take() {
                        Some(item) => (true, state.due.replace(item)),
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

    /// Stops accepting elements and takes what is held out (to drop outside the lock).
    fn close(&self, state: &mut State<T>) -> (Option<T>, Option<T>) {
        state.closed = true;
        (state.pending.take(), state.due.take())
    }
}

/// The downstream's side: emits the due element, and at the end the pending one.
struct DebouncePull<T> {
    shared: Arc<Shared<T>>,
}

impl<T: Send + 'static> Pull for DebouncePull<T> {
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
            let held = self.shared.close(&mut state);
            drop(state);
            drop(held);
            return Pulled::Error(error);
        }
        if let Some(item) = state.due.take() {
            return Pulled::Ready(item);
        }
        if state.end.is_some() {
            // Completed: the element still in its quiet period goes out now, then the end.
            return match state.pending.take() {
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
                let held = self.shared.close(&mut state);
                drop(state);
                drop(held);
                end
            }
            Some(Ok(())) if state.due.is_none() && state.pending.is_none() => Some(Ok(())),
            _ => None,
        }
    }
}

impl<T> Drop for DebouncePull<T> {
    /// The subscription ended: what is held goes with it and the timer is stopped.
    fn drop(&mut self) {
        let held = {
            let mut state = self.shared.state.lock();
            state.closed = true;
            (state.pending.take(), state.due.take())
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
        let shared = &self.shared;
        let held = {
            let mut state = shared.state.lock();
            if state.closed {
                return; // after a cancel or an end (§1.7)
            }
            state.closed = true;
            let held = if end.is_err() {
                (state.pending.take(), state.due.take())
            } else {
                (None, None) // both go out before the completion
            };
            state.end = Some(end);
            held
        };
        shared.timer.cancel();
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
        let (seq, replaced) = {
            let mut state = self.shared.state.lock();
            if state.closed {
                return; // after a cancel or the end: dropped (§2.8, §1.7)
            }
            state.seq = state.seq.wrapping_add(1);
            (state.seq, state.pending.replace(item))
        };
        drop(replaced); // followed by a newer one within the quiet period: skipped
        self.shared.arm(seq, &self.engine);
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
