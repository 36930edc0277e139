//! `publish_on(scheduler, prefetch)`: moves the downstream's signals onto a scheduler's worker.

use std::fmt;
use std::sync::Arc;

use rstreams_core::scheduler::{Scheduler, Task, Worker};
use rstreams_core::support::{BoundedQueue, Demand, DrainCell, UpstreamSlot};
use rstreams_core::sync::{AtomicBool, Mutex, Ordering};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// When an upstream error reaches the downstream of a [`publish_on`](crate::PublisherExt::publish_on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ErrorMode {
    /// After the elements already queued have been delivered (as demand allows): nothing that
    /// arrived before the error is lost. The default.
    #[default]
    AfterQueued,
    /// At once: queued elements are discarded.
    Immediate,
}

/// The publisher returned by [`publish_on`](crate::PublisherExt::publish_on).
#[must_use = "publishers do nothing until subscribed"]
pub struct PublishOn<P, S> {
    source: P,
    scheduler: S,
    prefetch: usize,
    errors: ErrorMode,
}

impl<P, S> PublishOn<P, S> {
    pub(crate) fn new(source: P, scheduler: S, prefetch: usize, errors: ErrorMode) -> Self {
        assert!(
            prefetch > 0,
            "publish_on: prefetch must be at least 1 (got 0): a boundary that holds nothing passes nothing on"
        );
        PublishOn {
            source,
            scheduler,
            prefetch,
            errors,
        }
    }
}

impl<P: Clone, S: Clone> Clone for PublishOn<P, S> {
    fn clone(&self) -> Self {
        PublishOn {
            source: self.source.clone(),
            scheduler: self.scheduler.clone(),
            prefetch: self.prefetch,
            errors: self.errors,
        }
    }
}

impl<P: fmt::Debug, S> fmt::Debug for PublishOn<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublishOn")
            .field("source", &self.source)
            .field("prefetch", &self.prefetch)
            .field("errors", &self.errors)
            .finish_non_exhaustive()
    }
}

impl<P, Sch> Publisher for PublishOn<P, Sch>
where
    P: Publisher,
    P::Item: Send + 'static,
    Sch: Scheduler,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        let prefetch = self.prefetch as u64;
        let boundary = Arc::new(Boundary {
            queue: BoundedQueue::new(self.prefetch).expect("prefetch checked at construction"),
            demand: Demand::new(),
            upstream: UpstreamSlot::new(),
            end: Mutex::new(None),
            done: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
            bad_request: AtomicBool::new(false),
            errors: self.errors,
            prefetch,
            limit: prefetch - prefetch / 4,
            worker: self.scheduler.worker(),
            run: Mutex::new(None),
            out: DrainCell::new(Outlet {
                downstream: Some(subscriber),
                consumed: 0,
            }),
        });
        // The drain loop as a reusable task. It holds the boundary strongly, so that a drain
        // scheduled after both ends let go still delivers; the cycle is broken when the
        // downstream is released (terminal signal or cancel).
        let b = Arc::clone(&boundary);
        *boundary.run.lock() = Some(Arc::new(move || b.out.drain_entered(|out| b.pass(out))));
        self.source.subscribe(Inlet { boundary });
    }
}

/// Both sides of the boundary; it is the subscription the downstream holds.
struct Boundary<T, S> {
    queue: BoundedQueue<T>,
    /// What the downstream requested and has not received.
    demand: Demand,
    upstream: UpstreamSlot,
    /// How the upstream ended: set once, read by the drain loop.
    end: Mutex<Option<Result<(), Error>>>,
    /// The upstream ended (`end` is set).
    done: AtomicBool,
    cancelled: AtomicBool,
    bad_request: AtomicBool,
    errors: ErrorMode,
    prefetch: u64,
    /// Replenish upstream after this many were consumed (75 % of the prefetch).
    limit: u64,
    worker: Arc<dyn Worker>,
    /// The drain loop as a reusable task: scheduling it costs a reference count, no allocation.
    /// `None` once the downstream is released.
    run: Mutex<Option<Arc<dyn Fn() + Send + Sync>>>,
    out: DrainCell<Outlet<S>>,
}

/// The part only the drain loop (on the worker) touches.
struct Outlet<S> {
    /// `None` once the downstream has its terminal signal or cancelled (§3.13: released).
    downstream: Option<S>,
    /// Elements taken from the queue since the last replenishing request.
    consumed: u64,
}

impl<T, S> Boundary<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + 'static,
{
    /// Records an event; if no drain loop runs or is scheduled, schedules one on the worker.
    fn signal(&self) {
        if self.out.guard().try_enter() {
            let run = self.run.lock().clone();
            match run {
                Some(run) => self.worker.schedule(Task::shared(run)),
                // Released already: nothing to deliver; just leave the loop.
                None => self.out.drain_entered(|out| self.pass(out)),
            }
        }
    }

    /// Drops the downstream and the queued elements, and breaks the task's reference cycle.
    fn release(&self, out: &mut Outlet<S>) -> Option<S> {
        self.queue.clear();
        *self.run.lock() = None;
        out.downstream.take()
    }

    /// One pass of the drain loop, on the worker.
    fn pass(&self, out: &mut Outlet<S>) {
        if out.downstream.is_none() {
            self.queue.clear();
            return;
        }
        if self.cancelled.load(Ordering::Acquire) {
            self.release(out);
            return;
        }
        if self.bad_request.load(Ordering::Acquire) {
            self.upstream.cancel();
            if let Some(mut down) = self.release(out) {
                down.on_error(Error::request_zero().in_stage("publish_on"));
            }
            return;
        }
        let mut requested = self.demand.get();
        let mut emitted = 0u64;
        loop {
            while emitted != requested {
                if self.cancelled.load(Ordering::Acquire) {
                    self.release(out);
                    return;
                }
                if self.errors == ErrorMode::Immediate && self.failed() {
                    break;
                }
                // Read `done` before polling: an element pushed before the end is seen.
                let done = self.done.load(Ordering::Acquire);
                match self.queue.pop() {
                    Some(item) => {
                        let down = out.downstream.as_mut().expect("live until released");
                        if down.try_on_next(item) {
                            emitted += 1;
                        }
                        out.consumed += 1;
                        if out.consumed == self.limit {
                            out.consumed = 0;
                            self.upstream.request(self.limit);
                        }
                    }
                    None if done => break,
                    None => {
                        self.demand.produced(emitted);
                        return;
                    }
                }
            }
            if self.done.load(Ordering::Acquire)
                && (self.queue.is_empty() || (self.errors == ErrorMode::Immediate && self.failed()))
            {
                let end = self.end.lock().take().unwrap_or(Ok(()));
                if let Some(mut down) = self.release(out) {
                    match end {
                        Ok(()) => down.on_complete(),
                        Err(e) => down.on_error(e),
                    }
                }
                return;
            }
            requested = self.demand.produced(emitted);
            emitted = 0;
            if requested == 0 {
                return;
            }
        }
    }

    fn failed(&self) -> bool {
        self.done.load(Ordering::Acquire) && matches!(*self.end.lock(), Some(Err(_)))
    }

    fn finish(&self, end: Result<(), Error>) {
        {
            let mut slot = self.end.lock();
            if slot.is_some() {
                return;
            }
            *slot = Some(end);
        }
        self.done.store(true, Ordering::Release);
        self.signal();
    }
}

impl<T, S> Subscription for Boundary<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + 'static,
{
    fn request(&self, n: u64) {
        if n == 0 {
            self.bad_request.store(true, Ordering::Release);
        } else {
            self.demand.add(n);
        }
        self.signal();
    }

    fn cancel(&self) {
        if self.cancelled.swap(true, Ordering::AcqRel) {
            return;
        }
        self.upstream.cancel();
        self.signal();
    }
}

/// The subscriber given to the upstream.
struct Inlet<T, S> {
    boundary: Arc<Boundary<T, S>>,
}

impl<T, S> Subscriber<T> for Inlet<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + 'static,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        let b = &self.boundary;
        if !b.upstream.set(subscription) {
            return; // §2.5, or already cancelled
        }
        // The downstream gets its subscription on this thread, before anything is requested
        // upstream, so its own requests only record demand; elements then flow on the worker.
        if let Some(mut entered) = b.out.enter() {
            if let Some(down) = entered.get().downstream.as_mut() {
                down.on_subscribe(Arc::clone(b) as Arc<dyn Subscription>);
            }
            entered.drain(|out| b.pass(out));
        }
        b.upstream.request(b.prefetch);
    }

    fn on_next(&mut self, item: T) {
        let b = &self.boundary;
        if b.done.load(Ordering::Acquire) || b.cancelled.load(Ordering::Acquire) {
            return;
        }
        if b.queue.push(item).is_err() {
            // Only an upstream that emits beyond what was requested can fill the queue.
            b.upstream.cancel();
            b.finish(Err(Error::protocol(
                "1.1",
                format!(
                    "the upstream emitted more than the {} elements publish_on requested",
                    b.prefetch
                ),
            )
            .in_stage("publish_on")));
            return;
        }
        b.signal();
    }

    fn on_error(&mut self, error: Error) {
        self.boundary.upstream.clear();
        self.boundary.finish(Err(error));
    }

    fn on_complete(&mut self) {
        self.boundary.upstream.clear();
        self.boundary.finish(Ok(()));
    }
}
