//! The queue-and-drain stage shared by the operators that hold elements between their upstream
//! and their downstream: `limit_rate`, `on_backpressure_buffer` and `on_backpressure_latest`.
//!
//! Two sides meet in a [`Stage`]:
//!
//! - the **inlet** ([`Inlet`], the subscriber given to the upstream) puts elements and the
//!   upstream's terminal signal into a queue, applying the stage's [`Policy`] when it is full;
//! - the **outlet** (the drain loop, [`Stage::pass`]) moves queued elements to the downstream
//!   as far as the downstream's demand allows, then the terminal signal once the queue is empty.
//!
//! Every event (an element, a terminal signal, a request, a cancel) runs the drain through a
//! [`DrainCell`], so exactly one thread signals the downstream at a time (§1.3) and a request
//! made from inside `on_next` never recurses (§3.3). The queue sits behind its own lock, taken
//! for one push or one pop at a time and never while calling out (downstream, upstream, user
//! callback).
//!
//! Terminal signals, from the upstream or from the stage itself (overflow under
//! [`Overflow::Fail`], a panicking drop callback, an upstream emitting beyond demand), are
//! delivered after the elements already queued; with nothing queued they go out at once, with
//! or without demand. A `request(0)` and a cancel from the downstream discard the queue at once.

use std::collections::VecDeque;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;

use parking_lot::Mutex;
use rstreams_core::support::{catch_panic, Demand, DrainCell, UpstreamSlot, UNBOUNDED};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

use crate::{Dropped, Overflow};

/// How a stage asks its upstream and what it does with an element that finds the queue full.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Policy {
    /// `limit_rate(high, low)`: request `high` upstream at the first downstream demand, then
    /// `low` each time `low` elements have left the queue. Queued plus outstanding never
    /// exceeds `high`, so an element that finds `high` queued was never requested (§1.1): the
    /// stage fails rather than grow the queue.
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
    /// Called with every element the policy drops (after counting it).
    pub(crate) on_dropped: Arc<F>,
    pub(crate) dropped: Dropped,
}

/// Subscribes `downstream` to `source` through a queueing stage.
pub(crate) fn subscribe<P, S, F>(source: &P, downstream: S, setup: Setup<F>)
where
    P: Publisher,
    P::Item: Send + 'static,
    S: Subscriber<P::Item> + 'static,
    F: Fn(P::Item) + Send + Sync + 'static,
{
    let stage = Arc::new(Stage {
        setup,
        demand: Demand::new(),
        upstream: UpstreamSlot::new(),
        queue: Mutex::new(Queue {
            items: VecDeque::new(),
            end: None,
            cancelled: false,
            bad_request: false,
        }),
        out: DrainCell::new(Outlet {
            downstream: Some(downstream),
            started: false,
            since_request: 0,
        }),
    });
    source.subscribe(Inlet { stage, done: false });
}

/// The state both sides share; it is the subscription the downstream holds.
struct Stage<T, S, F> {
    setup: Setup<F>,
    /// What the downstream requested and has not received yet.
    demand: Demand,
    upstream: UpstreamSlot,
    queue: Mutex<Queue<T>>,
    out: DrainCell<Outlet<S>>,
}

/// The part of the state both sides touch, behind the queue lock.
struct Queue<T> {
    items: VecDeque<T>,
    /// How the stream ends once the queue is empty: set by the upstream's terminal signal or by
    /// a failure of the stage, whichever comes first.
    end: Option<Result<(), Error>>,
    /// The downstream cancelled (or was dropped): accept nothing more.
    cancelled: bool,
    /// The downstream called `request(0)` (§3.9).
    bad_request: bool,
}

/// The part of the state only the drain loop touches.
struct Outlet<S> {
    /// `None` once the downstream got its terminal signal or cancelled (§3.13: released).
    downstream: Option<S>,
    /// `Rate`: whether the first `request(high)` went upstream.
    started: bool,
    /// `Rate`: elements taken from the queue since the last `request(low)`.
    since_request: u64,
}

/// What the inlet did with an element.
enum Offer<T> {
    Queued,
    /// The downstream has gone: the element is discarded without counting.
    Discarded(T),
    /// The policy dropped this element (the incoming one or an evicted one).
    Dropped(T),
    /// The element did not fit and the stage fails.
    Failed(T, Error),
}

/// What the drain loop takes next.
enum Next<T> {
    /// An element, and whether the stream is still live (not ended, so `Rate` tops it up).
    Item(T, bool),
    End(Result<(), Error>),
    BadRequest,
    Cancelled,
    Idle,
}

impl<T, S, F> Stage<T, S, F>
where
    T: Send + 'static,
    S: Subscriber<T> + 'static,
    F: Fn(T) + Send + Sync + 'static,
{
    /// Records an event and runs the drain loop if no one else is running it.
    fn drain(&self) {
        self.out.drain(|out| self.pass(out));
    }

    fn offer(&self, item: T) -> Offer<T> {
        let mut queue = self.queue.lock();
        if queue.cancelled {
            return Offer::Discarded(item);
        }
        match self.setup.policy {
            Policy::Rate { high, .. } => {
                if (queue.items.len() as u64) < high {
                    queue.items.push_back(item);
                    Offer::Queued
                } else {
                    let error = Error::protocol(
                        "1.1",
                        format!("the upstream emitted more than the {high} elements requested"),
                    );
                    Offer::Failed(item, error)
                }
            }
            Policy::Bounded { capacity, overflow } => {
                if queue.items.len() < capacity {
                    queue.items.push_back(item);
                    return Offer::Queued;
                }
                match overflow {
                    Overflow::DropIncoming => Offer::Dropped(item),
                    Overflow::EvictOldest => {
                        let evicted = queue.items.pop_front();
                        queue.items.push_back(item);
                        evicted.map_or(Offer::Queued, Offer::Dropped)
                    }
                    Overflow::EvictNewest => {
                        let evicted = queue.items.pop_back();
                        queue.items.push_back(item);
                        evicted.map_or(Offer::Queued, Offer::Dropped)
                    }
                    Overflow::Fail => {
                        let error = Error::overflow(format!(
                            "{capacity} elements were waiting for demand and one more arrived"
                        ));
                        Offer::Failed(item, error)
                    }
                }
            }
        }
    }

    /// Counts a dropped element and hands it to the callback; a panic in the callback is the
    /// stage's failure.
    fn record_drop(&self, item: T) -> Result<(), Error> {
        self.setup.dropped.record();
        let on_dropped = &self.setup.on_dropped;
        catch_panic("on_dropped callback", || on_dropped(item))
    }

    /// Fails the stage: cancels the upstream, and ends the stream with `error` after the queued
    /// elements (unless it has an end already).
    fn fail(&self, error: Error) {
        self.upstream.cancel();
        let mut queue = self.queue.lock();
        if queue.end.is_none() {
            queue.end = Some(Err(error.in_stage(self.setup.name)));
        }
    }

    /// The upstream ended: the stream ends the same way once the queue is empty.
    ///
    /// The upstream's subscription is kept until the downstream has its end, so that a cancel
    /// meanwhile still reaches it (a no-op for an upstream that has ended, §3.7, as in
    /// Reactor), and released then.
    fn upstream_end(&self, end: Result<(), Error>) {
        let mut queue = self.queue.lock();
        if queue.end.is_none() {
            queue.end = Some(end);
        }
    }

    /// One pass of the drain loop, with a downstream that panics treated as cancelled (§2.13):
    /// the upstream is cancelled, the downstream released, and the panic continues to whoever
    /// called into the stage.
    fn pass(&self, out: &mut Outlet<S>) {
        if out.downstream.is_none() {
            return; // ended or cancelled: nothing more is signalled (§1.7, §3.6)
        }
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| self.pass_inner(out))) {
            out.downstream = None;
            self.discard();
            self.upstream.cancel();
            resume_unwind(payload);
        }
    }

    /// Marks the stage cancelled and drops the queued elements (outside the lock: their `Drop`
    /// is user code).
    fn discard(&self) {
        let items = {
            let mut queue = self.queue.lock();
            queue.cancelled = true;
            std::mem::take(&mut queue.items)
        };
        drop(items);
    }

    fn pass_inner(&self, out: &mut Outlet<S>) {
        // The demand is read once per pass; a request during the pass causes another pass.
        let requested = self.demand.get();
        if let Policy::Rate { high, .. } = self.setup.policy {
            if !out.started && requested > 0 {
                out.started = true;
                self.upstream.request(high);
            }
        }
        let mut emitted = 0u64;
        loop {
            let next = {
                let mut queue = self.queue.lock();
                if queue.cancelled {
                    Next::Cancelled
                } else if queue.bad_request {
                    Next::BadRequest
                } else if let Some(item) = if emitted == requested {
                    None
                } else {
                    queue.items.pop_front()
                } {
                    Next::Item(item, queue.end.is_none())
                } else if queue.items.is_empty() && queue.end.is_some() {
                    Next::End(queue.end.take().expect("checked above"))
                } else {
                    Next::Idle
                }
            };
            let Some(downstream) = out.downstream.as_mut() else {
                return;
            };
            match next {
                Next::Item(item, live) => {
                    if downstream.try_on_next(item) {
                        emitted += 1;
                    }
                    if let Policy::Rate { low, high } = self.setup.policy {
                        // An ended upstream, or an unbounded `high`, needs no topping up.
                        if live && high != UNBOUNDED {
                            out.since_request += 1;
                            if out.since_request == low {
                                out.since_request = 0;
                                self.upstream.request(low);
                            }
                        }
                    }
                }
                Next::End(end) => {
                    let mut downstream = out.downstream.take().expect("checked above");
                    self.upstream.clear();
                    match end {
                        Ok(()) => downstream.on_complete(),
                        Err(error) => downstream.on_error(error),
                    }
                    return;
                }
                Next::BadRequest => {
                    let mut downstream = out.downstream.take().expect("checked above");
                    self.discard();
                    self.upstream.cancel();
                    downstream.on_error(Error::request_zero().in_stage(self.setup.name));
                    return;
                }
                Next::Cancelled => {
                    out.downstream = None; // §3.13
                    return;
                }
                Next::Idle => break,
            }
        }
        self.demand.produced(emitted);
    }
}

impl<T, S, F> Subscription for Stage<T, S, F>
where
    T: Send + 'static,
    S: Subscriber<T> + 'static,
    F: Fn(T) + Send + Sync + 'static,
{
    fn request(&self, n: u64) {
        if n == 0 {
            self.queue.lock().bad_request = true;
        } else {
            self.demand.add(n);
        }
        self.drain();
    }

    fn cancel(&self) {
        self.discard();
        self.upstream.cancel();
        self.drain();
    }
}

/// The subscriber given to the upstream.
struct Inlet<T, S, F> {
    stage: Arc<Stage<T, S, F>>,
    /// The upstream ended, or the stage failed: later elements are late (in flight after a
    /// cancel, §2.8) and dropped.
    done: bool,
}

impl<T, S, F> Subscriber<T> for Inlet<T, S, F>
where
    T: Send + 'static,
    S: Subscriber<T> + 'static,
    F: Fn(T) + Send + Sync + 'static,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        let stage = &self.stage;
        if !stage.upstream.set(subscription) {
            return; // §2.5: a second subscription, cancelled by `set`
        }
        // Own the drain loop while the downstream subscribes, so that its requests only record
        // demand and emission starts after `on_subscribe` returned (§1.9, §3.3).
        let Some(mut entered) = stage.out.enter() else {
            stage.upstream.cancel(); // an upstream that signalled before on_subscribe
            return;
        };
        let own: Arc<dyn Subscription> = stage.clone();
        let subscribed = catch_unwind(AssertUnwindSafe(|| {
            if let Some(downstream) = entered.get().downstream.as_mut() {
                downstream.on_subscribe(own);
            }
        }));
        if let Err(payload) = subscribed {
            // §2.13: a downstream that panics is treated as having cancelled.
            entered.get().downstream = None;
            stage.discard();
            stage.upstream.cancel();
            entered.drain(|_| {});
            resume_unwind(payload);
        }
        if let Policy::Bounded { .. } = stage.setup.policy {
            stage.upstream.request(UNBOUNDED);
        }
        entered.drain(|out| stage.pass(out));
    }

    fn on_next(&mut self, item: T) {
        if self.done {
            // Already failed or ended; the error, if any, is already set.
            let _ = self.stage.record_drop(item);
            return;
        }
        let failure = match self.stage.offer(item) {
            Offer::Queued => None,
            Offer::Discarded(item) => {
                drop(item);
                None
            }
            Offer::Dropped(item) => self.stage.record_drop(item).err(),
            Offer::Failed(item, error) => {
                let _ = self.stage.record_drop(item);
                Some(error)
            }
        };
        if let Some(error) = failure {
            self.done = true;
            self.stage.fail(error);
        }
        self.stage.drain();
    }

    fn on_error(&mut self, error: Error) {
        if !self.done {
            self.done = true;
            self.stage.upstream_end(Err(error));
            self.stage.drain();
        }
    }

    fn on_complete(&mut self) {
        if !self.done {
            self.done = true;
            self.stage.upstream_end(Ok(()));
            self.stage.drain();
        }
    }
}
