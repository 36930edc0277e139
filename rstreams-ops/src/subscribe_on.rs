//! `subscribe_on(scheduler)`: subscribes, and requests, on a scheduler's worker.

use std::fmt;
use std::sync::Arc;

use rstreams_core::scheduler::{Scheduler, Task, Worker};
use rstreams_core::support::{Demand, Link};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// The publisher returned by [`subscribe_on`](crate::PublisherExt::subscribe_on).
#[must_use = "publishers do nothing until subscribed"]
pub struct SubscribeOn<P, S> {
    source: Arc<P>,
    scheduler: S,
}

impl<P, S> SubscribeOn<P, S> {
    pub(crate) fn new(source: P, scheduler: S) -> Self {
        SubscribeOn {
            source: Arc::new(source),
            scheduler,
        }
    }
}

impl<P, S: Clone> Clone for SubscribeOn<P, S> {
    fn clone(&self) -> Self {
        SubscribeOn {
            source: Arc::clone(&self.source),
            scheduler: self.scheduler.clone(),
        }
    }
}

impl<P: fmt::Debug, S> fmt::Debug for SubscribeOn<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscribeOn")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<P, Sch> Publisher for SubscribeOn<P, Sch>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: 'static,
    Sch: Scheduler,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        let worker = self.scheduler.worker();
        let source = Arc::clone(&self.source);
        let w = Arc::clone(&worker);
        worker.schedule(Task::new(move || {
            source.subscribe(OnWorker {
                downstream: subscriber,
                worker: w,
                link: Link::new(),
            })
        }));
    }
}

/// Passes signals through; hands the downstream a subscription whose requests run on the worker.
///
/// Its [`Link`] keeps the protocol for the downstream: a second subscription is cancelled, not
/// passed on (§2.5), and nothing is passed on after a terminal signal (§1.7).
struct OnWorker<S> {
    downstream: S,
    worker: Arc<dyn Worker>,
    link: Link,
}

impl<T, S: Subscriber<T>> Subscriber<T> for OnWorker<S> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if let Some(upstream) = self.link.accept(subscription) {
            self.downstream
                .on_subscribe(Arc::new(RequestOn::new(upstream, Arc::clone(&self.worker))));
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if self.link.is_done() {
            return;
        }
        self.downstream.on_next(item)
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        if self.link.is_done() {
            return true;
        }
        self.downstream.try_on_next(item)
    }

    fn on_error(&mut self, error: Error) {
        if self.link.finish() {
            self.downstream.on_error(error)
        }
    }

    fn on_complete(&mut self) {
        if self.link.finish() {
            self.downstream.on_complete()
        }
    }
}

/// Requests run as tasks on the worker, in order; cancel runs at once (it is thread-safe and
/// must return quickly, §3.5).
///
/// Requests made while one is waiting for the worker are added to it (demand is a saturating
/// sum, §3.17): one task per batch of requests, and no allocation per request.
struct RequestOn {
    pending: Arc<Pending>,
    worker: Arc<dyn Worker>,
    /// The task that passes `pending` on, scheduled when it leaves zero.
    pass_on: Arc<dyn Fn() + Send + Sync>,
}

/// Demand requested downstream and not yet passed upstream.
struct Pending {
    upstream: Arc<dyn Subscription>,
    /// The sum of the requests not yet passed on, saturating at `u64::MAX`. Non-zero exactly
    /// while a `pass_on` task is scheduled and has not taken it: the request that moves it
    /// from zero schedules that task.
    demand: Demand,
}

impl RequestOn {
    fn new(upstream: Arc<dyn Subscription>, worker: Arc<dyn Worker>) -> Self {
        let pending = Arc::new(Pending {
            upstream,
            demand: Demand::new(),
        });
        let task = Arc::clone(&pending);
        RequestOn {
            pending,
            worker,
            pass_on: Arc::new(move || {
                let n = task.demand.take();
                if n > 0 {
                    task.upstream.request(n);
                }
            }),
        }
    }
}

impl Subscription for RequestOn {
    fn request(&self, n: u64) {
        if n == 0 {
            // §3.9: passed on as it is, after the requests before it.
            let upstream = Arc::clone(&self.pending.upstream);
            self.worker.schedule(Task::new(move || upstream.request(0)));
            return;
        }
        let before = self.pending.demand.add(n);
        if before == 0 {
            self.worker
                .schedule(Task::shared(Arc::clone(&self.pass_on)));
        }
    }

    fn cancel(&self) {
        self.pending.upstream.cancel();
    }
}
