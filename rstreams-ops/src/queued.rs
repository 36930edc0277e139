//! The queue-and-drain stage shared by the operators that hold elements between their upstream
//! and their downstream: `limit_rate`, `on_backpressure_buffer` and `on_backpressure_latest`.
//!
//! Two sides meet at a locked queue:
//!
//! - the **inlet** ([`Inlet`], the subscriber given to the upstream) puts elements and the
//!   upstream's terminal signal into the queue, applying the stage's overflow policy
//!   ([`Overflow::push`]) when it is full, and wakes the engine;
//! - the **outlet** ([`Outlet`], a [`Pull`]) takes them out for the downstream's subscription,
//!   which is a [`support::Engine`](Engine): the engine keeps the demand, `request(0)`, cancel,
//!   the drain loop and the panicking downstream (§2.13), so this file only says where elements
//!   come from.
//!
//! The queue's lock is taken for one push or one pop at a time, never while calling out
//! (downstream, upstream, the drop callback), and never by the engine itself.
//!
//! Terminal signals, from the upstream or from the stage itself (an overflow under
//! [`Overflow::Fail`], a panicking drop callback, an upstream emitting beyond demand), are
//! delivered after the elements already queued ([`ErrorMode::AfterQueued`]), or for errors at
//! once, discarding the queue ([`ErrorMode::Immediate`]); with nothing queued they go out at
//! once, with or without demand.

use std::collections::VecDeque;
use std::sync::Arc;

use rstreams_core::support::{
    catch_panic, Dropped, Engine, EngineConfig, ErrorMode, Overflow, Pull, Pulled, Pushed,
    Replenish, UpstreamSlot, Wake, UNBOUNDED,
};
use rstreams_core::sync::Mutex;
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// How a stage asks its upstream and what it does with an element that finds the queue full.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Policy {
    /// `limit_rate(high, low)`: request `high` upstream at the first downstream demand, then
    /// `low` each time `low` elements have left the queue ([`Replenish::every`]). Queued plus
    /// outstanding never exceeds `high`, so an element that finds `high` queued was never
    /// requested (§1.1): the stage fails rather than grow the queue.
    Rate { high: u64, low: u64 },
    /// `on_backpressure_*`: request unbounded upstream on subscribe, keep at most `capacity`
    /// elements, apply `overflow` to an element that does not fit.
    Bounded { capacity: usize, overflow: Overflow },
}

/// What a stage is and how it reports dropped elements.
pub(crate) struct Setup<F> {
    /// The name errors are tagged with (`Error::in_stage`).
    pub(crate) name: &'static str,
    pub(crate) policy: Policy,
    /// When an error (the upstream's or the stage's own) reaches the downstream.
    pub(crate) errors: ErrorMode,
    /// Called with every element the policy drops (after counting it).
    pub(crate) on_dropped: Arc<F>,
    pub(crate) dropped: Dropped,
}

/// Subscribes `downstream` to `source` through a queueing stage.
///
/// The downstream is subscribed first (the engine calls its `on_subscribe`), then the
/// upstream: requests the downstream makes meanwhile are recorded by the engine, and what the
/// outlet asks upstream before the upstream's subscription arrives is deferred by the slot.
pub(crate) fn subscribe<P, S, F>(source: &P, downstream: S, setup: Setup<F>)
where
    P: Publisher,
    P::Item: Send + 'static,
    S: Subscriber<P::Item> + 'static,
    F: Fn(P::Item) + Send + Sync + 'static,
{
    let (capacity, overflow, first_request, replenish) = match setup.policy {
        // An unbounded `high` needs no topping up.
        Policy::Rate { high, .. } if high == UNBOUNDED => (
            usize::MAX,
            Overflow::Fail,
            Some(high),
            Replenish::every(UNBOUNDED),
        ),
        Policy::Rate { high, low } => (
            usize::try_from(high).unwrap_or(usize::MAX),
            Overflow::Fail,
            Some(high),
            Replenish::every(low),
        ),
        Policy::Bounded { capacity, overflow } => {
            (capacity, overflow, None, Replenish::every(UNBOUNDED))
        }
    };
    let upstream = Arc::new(UpstreamSlot::new());
    let shared = Arc::new(Shared {
        setup,
        capacity,
        overflow,
        upstream: Arc::clone(&upstream),
        queue: Mutex::new(Queue {
            items: VecDeque::new(),
            end: None,
            released: false,
        }),
    });
    let engine = Engine::start(
        Outlet {
            shared: Arc::clone(&shared),
            first_request,
            replenish,
        },
        downstream,
        EngineConfig::new().upstream(upstream),
    );
    // Subscribed even when the downstream cancelled inside on_subscribe: the slot is
    // cancelled then, and cancels the upstream's subscription as it arrives.
    source.subscribe(Inlet {
        shared,
        target: engine,
        done: false,
    });
}

/// The state both sides share.
struct Shared<T, F> {
    setup: Setup<F>,
    /// The most elements queued; beyond it `overflow` applies (`Rate`: `high` and `Fail`, the
    /// failure being a §1.1 error rather than an overflow).
    capacity: usize,
    overflow: Overflow,
    upstream: Arc<UpstreamSlot>,
    queue: Mutex<Queue<T>>,
}

/// What both sides touch, behind the queue lock.
struct Queue<T> {
    items: VecDeque<T>,
    /// How the stream ends: set by the upstream's terminal signal or by a failure of the stage,
    /// whichever comes first; taken by the outlet once it may go out.
    end: Option<Result<(), Error>>,
    /// The downstream's subscription ended (its terminal signal, a cancel, `request(0)`, a
    /// panic) and the outlet was dropped: an element that arrives now is discarded.
    released: bool,
}

impl<T, F> Shared<T, F>
where
    F: Fn(T),
{
    /// Counts a dropped element and hands it to the callback; a panic in the callback is the
    /// stage's failure.
    fn record_drop(&self, item: T) -> Result<(), Error> {
        self.setup.dropped.record();
        let on_dropped = &self.setup.on_dropped;
        catch_panic("on_dropped callback", || on_dropped(item))
    }

    /// Fails the stage: cancels the upstream, and ends the stream with `error` (unless it has
    /// an end already).
    fn fail(&self, error: Error) {
        self.upstream.cancel();
        let mut queue = self.queue.lock();
        if queue.end.is_none() {
            queue.end = Some(Err(error.in_stage(self.setup.name)));
        }
    }

    /// The error for an element that found the queue full under `Fail`.
    fn overflow_error(&self) -> Error {
        match self.setup.policy {
            Policy::Rate { high, .. } => Error::protocol(
                "1.1",
                format!("the upstream emitted more than the {high} elements requested"),
            ),
            Policy::Bounded { capacity, .. } => Error::overflow(format!(
                "{capacity} elements were waiting for demand and one more arrived"
            )),
        }
    }
}

/// The downstream's side: the [`Pull`] the engine drains.
struct Outlet<T, F> {
    shared: Arc<Shared<T, F>>,
    /// `Rate`: `Some(high)` until the first downstream demand asks for it.
    first_request: Option<u64>,
    /// `Rate`: asks for `low` more each time `low` left the queue; never for `Bounded`.
    replenish: Replenish,
}

impl<T, F> Outlet<T, F> {
    /// Requests the replenish held back until the element that made it due was delivered.
    fn settle(&mut self) {
        let owed = self.replenish.settle();
        if owed > 0 {
            self.shared.upstream.request(owed);
        }
    }

    /// Whether the stream's end may go out before the queued elements: an error under
    /// [`ErrorMode::Immediate`].
    fn ends_now(&self, queue: &Queue<T>) -> bool {
        self.shared.setup.errors == ErrorMode::Immediate && matches!(queue.end, Some(Err(_)))
    }
}

impl<T, F> Pull for Outlet<T, F>
where
    T: Send + 'static,
    F: Fn(T) + Send + Sync + 'static,
{
    type Item = T;

    fn name(&self) -> &'static str {
        self.shared.setup.name
    }

    fn pull(&mut self, _demand: u64) -> Pulled<T> {
        if let Some(high) = self.first_request.take() {
            // Outside the lock: the upstream may emit into the inlet from inside `request`.
            self.shared.upstream.request(high);
        }
        self.settle();
        let mut queue = self.shared.queue.lock();
        let next = if self.ends_now(&queue) {
            None // the error overtakes what is queued
        } else {
            queue.items.pop_front()
        };
        if let Some(item) = next {
            let live = queue.end.is_none();
            drop(queue);
            // An ended upstream needs no topping up. A replenish this element makes due goes
            // out once it was delivered (the next pull or poll_end), so queued + in hand +
            // outstanding never exceed `high`.
            if live {
                self.replenish.taken();
            }
            return Pulled::Ready(item);
        }
        match queue.end.take() {
            Some(Ok(())) => Pulled::End,
            Some(Err(error)) => Pulled::Error(error),
            None => Pulled::Pending,
        }
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        self.settle();
        let mut queue = self.shared.queue.lock();
        if queue.items.is_empty() || self.ends_now(&queue) {
            queue.end.take()
        } else {
            None
        }
    }
}

impl<T, F> Drop for Outlet<T, F> {
    /// The subscription ended, however it ended: queued elements go with it (dropped outside
    /// the lock: their `Drop` is user code), and later arrivals are discarded.
    fn drop(&mut self) {
        let items = {
            let mut queue = self.shared.queue.lock();
            queue.released = true;
            std::mem::take(&mut queue.items)
        };
        drop(items);
    }
}

/// The subscriber given to the upstream.
struct Inlet<T, F, W: ?Sized> {
    shared: Arc<Shared<T, F>>,
    /// The downstream's engine, woken on every signal.
    target: Arc<W>,
    /// The upstream ended, or the stage failed: later elements are late (in flight after a
    /// cancel, §2.8) and dropped.
    done: bool,
}

impl<T, F, W> Subscriber<T> for Inlet<T, F, W>
where
    T: Send + 'static,
    F: Fn(T) + Send + Sync + 'static,
    W: Wake + ?Sized,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        // §2.5: a second subscription is cancelled by `set`; so is one that arrives after the
        // downstream cancelled. `Rate`'s first request, made at the first downstream demand,
        // may be waiting in the slot: `set` forwards it.
        let shared = &self.shared;
        if shared.upstream.set(subscription) {
            if let Policy::Bounded { .. } = shared.setup.policy {
                shared.upstream.request(UNBOUNDED);
            }
        }
    }

    fn on_next(&mut self, item: T) {
        let shared = &self.shared;
        if self.done {
            // Already failed or ended; the error, if any, is already set.
            let _ = shared.record_drop(item);
            return;
        }
        let pushed = {
            let mut queue = shared.queue.lock();
            if queue.released {
                // Nobody will take it: discarded with the subscription, uncounted.
                drop(queue);
                drop(item);
                return;
            }
            shared
                .overflow
                .push(&mut queue.items, shared.capacity, item)
        };
        let failure = match pushed {
            Pushed::Queued => None,
            Pushed::Dropped(item) => shared.record_drop(item).err(),
            Pushed::Overflowed(item) => {
                let _ = shared.record_drop(item);
                Some(shared.overflow_error())
            }
        };
        if let Some(error) = failure {
            self.done = true;
            shared.fail(error);
        }
        self.target.wake();
    }

    fn on_error(&mut self, error: Error) {
        self.end(Err(error));
    }

    fn on_complete(&mut self) {
        self.end(Ok(()));
    }
}

impl<T, F, W: Wake + ?Sized> Inlet<T, F, W> {
    /// The upstream ended: the stream ends the same way, after the queued elements (or, for an
    /// error under [`ErrorMode::Immediate`], before them).
    ///
    /// The upstream's subscription stays in the slot until the downstream has its end, so that
    /// a cancel meanwhile still reaches it (a no-op for an upstream that has ended, §3.7, as in
    /// Reactor); the engine releases it then.
    fn end(&mut self, end: Result<(), Error>) {
        if self.done {
            return;
        }
        self.done = true;
        {
            let mut queue = self.shared.queue.lock();
            if queue.end.is_none() {
                queue.end = Some(end);
            }
        }
        self.target.wake();
    }
}
