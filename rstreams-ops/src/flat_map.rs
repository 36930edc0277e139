//! `flat_map(f, max_concurrency, prefetch)`: maps each element to a publisher and merges them;
//! the engine behind `merge`, `merge_all` and `concat` too.

use std::fmt;
use std::sync::Arc;

use rstreams_core::support::{catch_panic, BoundedQueue, Demand, DrainCell, UpstreamSlot};
use rstreams_core::sync::{AtomicBool, Mutex, Ordering};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// The publisher returned by [`flat_map`](crate::PublisherExt::flat_map).
#[must_use = "publishers do nothing until subscribed"]
pub struct FlatMap<P, F> {
    source: P,
    f: Arc<F>,
    max_concurrency: usize,
    prefetch: usize,
    stage: &'static str,
}

impl<P, F> FlatMap<P, F> {
    pub(crate) fn new(
        source: P,
        f: F,
        max_concurrency: usize,
        prefetch: usize,
        stage: &'static str,
    ) -> Self {
        assert!(
            max_concurrency > 0,
            "{stage}: max_concurrency must be at least 1 (got 0): nothing could ever be subscribed"
        );
        assert!(
            prefetch > 0,
            "{stage}: prefetch must be at least 1 (got 0): an inner that may send nothing never progresses"
        );
        FlatMap {
            source,
            f: Arc::new(f),
            max_concurrency,
            prefetch,
            stage,
        }
    }
}

impl<P: Clone, F> Clone for FlatMap<P, F> {
    fn clone(&self) -> Self {
        FlatMap {
            source: self.source.clone(),
            f: Arc::clone(&self.f),
            max_concurrency: self.max_concurrency,
            prefetch: self.prefetch,
            stage: self.stage,
        }
    }
}

impl<P: fmt::Debug, F> fmt::Debug for FlatMap<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlatMap")
            .field("source", &self.source)
            .field("max_concurrency", &self.max_concurrency)
            .field("prefetch", &self.prefetch)
            .finish_non_exhaustive()
    }
}

impl<P, F, Q> Publisher for FlatMap<P, F>
where
    P: Publisher,
    F: Fn(P::Item) -> Q + Send + Sync + 'static,
    Q: Publisher,
    Q::Item: Send + 'static,
{
    type Item = Q::Item;

    fn subscribe<S: Subscriber<Q::Item> + 'static>(&self, subscriber: S) {
        let prefetch = self.prefetch as u64;
        let merger = Arc::new(Merger {
            stage: self.stage,
            demand: Demand::new(),
            outer: UpstreamSlot::new(),
            max_concurrency: self.max_concurrency as u64,
            prefetch: self.prefetch,
            limit: prefetch - prefetch / 4,
            pending: Mutex::new(Vec::new()),
            outer_done: AtomicBool::new(false),
            error: Mutex::new(None),
            failed: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
            bad_request: AtomicBool::new(false),
            out: DrainCell::new(Outlet {
                downstream: Some(subscriber),
                inners: Vec::new(),
                cursor: 0,
            }),
        });
        self.source.subscribe(Outer {
            merger,
            f: Arc::clone(&self.f),
            done: false,
        });
    }
}

/// The state shared by the outer subscriber, the inner subscribers and the downstream; it is
/// the subscription the downstream holds.
struct Merger<T, S> {
    stage: &'static str,
    demand: Demand,
    outer: UpstreamSlot,
    max_concurrency: u64,
    prefetch: usize,
    /// Replenish an inner after this many of its elements were consumed (75 % of prefetch).
    limit: u64,
    /// Inners subscribed since the drain loop last looked; it moves them to `Outlet::inners`.
    pending: Mutex<Vec<Arc<Inner<T>>>>,
    outer_done: AtomicBool,
    /// The first failure (outer, inner, mapper, over-emission); errors go downstream at once.
    error: Mutex<Option<Error>>,
    failed: AtomicBool,
    cancelled: AtomicBool,
    bad_request: AtomicBool,
    out: DrainCell<Outlet<T, S>>,
}

/// One inner publisher's queue and subscription.
struct Inner<T> {
    queue: BoundedQueue<T>,
    upstream: UpstreamSlot,
    done: AtomicBool,
}

/// What only the drain loop touches.
struct Outlet<T, S> {
    /// `None` once the downstream has its terminal signal or cancelled.
    downstream: Option<S>,
    /// The live inners and how many of each were consumed since its last replenishment.
    inners: Vec<(Arc<Inner<T>>, u64)>,
    /// Where the next sweep starts, so no inner is always first.
    cursor: usize,
}

impl<T, S> Merger<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + 'static,
{
    fn drain(&self) {
        self.out.drain(|out| self.pass(out));
    }

    /// Records the first failure and ends the stream at once.
    fn fail(&self, error: Error) {
        {
            let mut slot = self.error.lock();
            if slot.is_none() {
                *slot = Some(error);
            }
        }
        self.failed.store(true, Ordering::Release);
        self.outer.cancel();
        self.drain();
    }

    /// Cancels every inner and drops what they queued.
    fn cancel_inners(&self, out: &mut Outlet<T, S>) {
        let pending = std::mem::take(&mut *self.pending.lock());
        for inner in pending.iter().chain(out.inners.iter().map(|(i, _)| i)) {
            inner.upstream.cancel();
            inner.queue.clear();
        }
        out.inners.clear();
    }

    fn pass(&self, out: &mut Outlet<T, S>) {
        if out.downstream.is_none() {
            self.cancel_inners(out);
            return;
        }
        if self.cancelled.load(Ordering::Acquire) {
            self.cancel_inners(out);
            out.downstream = None;
            return;
        }
        if self.bad_request.load(Ordering::Acquire) {
            self.outer.cancel();
            self.cancel_inners(out);
            if let Some(mut down) = out.downstream.take() {
                down.on_error(Error::request_zero().in_stage(self.stage));
            }
            return;
        }
        if self.failed.load(Ordering::Acquire) {
            self.outer.cancel();
            self.cancel_inners(out);
            let error = self.error.lock().take();
            if let (Some(mut down), Some(error)) = (out.downstream.take(), error) {
                down.on_error(error);
            }
            return;
        }
        out.inners
            .extend(self.pending.lock().drain(..).map(|inner| (inner, 0)));

        // Emit, one element per inner per sweep, while there is demand and something queued.
        let mut requested = self.demand.get();
        let mut emitted = 0u64;
        loop {
            let mut progress = false;
            let n = out.inners.len();
            for k in 0..n {
                if emitted == requested {
                    break;
                }
                if self.cancelled.load(Ordering::Acquire) || self.failed.load(Ordering::Acquire) {
                    self.demand.produced(emitted);
                    return self.pass(out);
                }
                let i = (out.cursor + k) % n;
                let Some(item) = out.inners[i].0.queue.pop() else {
                    continue;
                };
                progress = true;
                let down = out.downstream.as_mut().expect("live until released");
                if down.try_on_next(item) {
                    emitted += 1;
                }
                let (inner, consumed) = &mut out.inners[i];
                *consumed += 1;
                if *consumed == self.limit {
                    *consumed = 0;
                    inner.upstream.request(self.limit);
                }
            }
            if n > 0 {
                out.cursor = (out.cursor + 1) % n;
            }
            if emitted == requested {
                requested = self.demand.produced(emitted);
                emitted = 0;
                if requested == 0 {
                    break;
                }
            } else if !progress {
                self.demand.produced(emitted);
                break;
            }
        }

        // Retire finished inners, and ask the outer for as many new ones.
        let before = out.inners.len();
        out.inners
            .retain(|(inner, _)| !(inner.done.load(Ordering::Acquire) && inner.queue.is_empty()));
        let finished = (before - out.inners.len()) as u64;
        if finished > 0 {
            out.cursor = 0;
            if !self.outer_done.load(Ordering::Acquire) {
                self.outer.request(finished);
            }
        }
        if self.outer_done.load(Ordering::Acquire)
            && out.inners.is_empty()
            && self.pending.lock().is_empty()
        {
            if let Some(mut down) = out.downstream.take() {
                down.on_complete();
            }
        }
    }
}

impl<T, S> Subscription for Merger<T, S>
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
        self.drain();
    }

    fn cancel(&self) {
        if self.cancelled.swap(true, Ordering::AcqRel) {
            return;
        }
        self.outer.cancel();
        self.drain();
    }
}

/// The subscriber given to the outer publisher.
struct Outer<T, S, F> {
    merger: Arc<Merger<T, S>>,
    f: Arc<F>,
    done: bool,
}

impl<X, T, S, F, Q> Subscriber<X> for Outer<T, S, F>
where
    T: Send + 'static,
    S: Subscriber<T> + 'static,
    F: Fn(X) -> Q + Send + Sync + 'static,
    Q: Publisher<Item = T>,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        let m = &self.merger;
        if !m.outer.set(subscription) {
            return;
        }
        if let Some(mut entered) = m.out.enter() {
            if let Some(down) = entered.get().downstream.as_mut() {
                down.on_subscribe(Arc::clone(m) as Arc<dyn Subscription>);
            }
            entered.drain(|out| m.pass(out));
        }
        m.outer.request(m.max_concurrency);
    }

    fn on_next(&mut self, item: X) {
        if self.done {
            return;
        }
        let m = &self.merger;
        let publisher = match catch_panic("closure", || (self.f)(item)) {
            Ok(p) => p,
            Err(error) => {
                self.done = true;
                m.fail(error.in_stage(m.stage));
                return;
            }
        };
        if m.cancelled.load(Ordering::Acquire) || m.failed.load(Ordering::Acquire) {
            return;
        }
        let inner = Arc::new(Inner {
            queue: BoundedQueue::new(m.prefetch).expect("prefetch checked at construction"),
            upstream: UpstreamSlot::new(),
            done: AtomicBool::new(false),
        });
        m.pending.lock().push(Arc::clone(&inner));
        publisher.subscribe(InnerSubscriber {
            inner,
            merger: Arc::clone(m),
        });
    }

    fn on_error(&mut self, error: Error) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.merger.outer.clear();
        self.merger.fail(error);
    }

    fn on_complete(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.merger.outer.clear();
        self.merger.outer_done.store(true, Ordering::Release);
        self.merger.drain();
    }
}

/// The subscriber given to each inner publisher.
struct InnerSubscriber<T, S> {
    inner: Arc<Inner<T>>,
    merger: Arc<Merger<T, S>>,
}

impl<T, S> Subscriber<T> for InnerSubscriber<T, S>
where
    T: Send + 'static,
    S: Subscriber<T> + 'static,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if self.inner.upstream.set(subscription) {
            self.inner.upstream.request(self.merger.prefetch as u64);
        }
    }

    fn on_next(&mut self, item: T) {
        if self.inner.queue.push(item).is_err() {
            self.inner.upstream.cancel();
            let m = &self.merger;
            m.fail(
                Error::protocol(
                    "1.1",
                    format!(
                        "an inner publisher emitted more than the {} elements requested",
                        m.prefetch
                    ),
                )
                .in_stage(m.stage),
            );
            return;
        }
        self.merger.drain();
    }

    fn on_error(&mut self, error: Error) {
        self.inner.upstream.clear();
        self.merger.fail(error);
    }

    fn on_complete(&mut self) {
        self.inner.upstream.clear();
        self.inner.done.store(true, Ordering::Release);
        self.merger.drain();
    }
}
