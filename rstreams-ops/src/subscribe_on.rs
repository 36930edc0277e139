//! `subscribe_on(scheduler)`: subscribes, and requests, on a scheduler's worker.

use std::fmt;
use std::sync::{Arc, Weak};

use rstreams_core::scheduler::{Scheduler, Task, Worker};
use rstreams_core::support::{Demand, Link};
use rstreams_core::sync::{fence, spin_loop, AtomicBool, Mutex, Ordering};
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

/// Requests run as tasks on the worker; cancel runs at once (it is thread-safe and must return
/// quickly, §3.5).
///
/// Requests made while a task is on its way or running are added to what it passes on (demand
/// is a saturating sum, §3.17): one task per batch of requests, and no allocation per request.
/// The task, once it has passed everything on, looks for more for a moment (the next batch's
/// request from a consumer that keeps up comes within it) before it ends: a stream flowing
/// through a small prefetch then costs one addition and one fence per request, not a task on
/// the worker's queue per batch.
struct RequestOn {
    pending: Arc<Pending>,
    /// The task that passes `pending` on ([`Pending::pass_on`]), scheduled by the request
    /// that finds none active.
    pass_on: Arc<dyn Fn() + Send + Sync>,
}

/// Demand requested downstream and not yet passed upstream.
struct Pending {
    upstream: Arc<dyn Subscription>,
    worker: Arc<dyn Worker>,
    /// The `pass_on` task, weakly (it holds this), for a run that schedules itself again;
    /// set once, when the task is made.
    task: Mutex<Option<Weak<dyn Fn() + Send + Sync>>>,
    /// The sum of the requests not yet passed on, saturating at `u64::MAX`.
    demand: Demand,
    /// A `pass_on` task is scheduled or running, and will take `demand` before it ends: a
    /// request that finds it set schedules none. Set (by compare-and-swap, so one task at a
    /// time) by the request that schedules the task, or by the ending task that finds demand
    /// after all; cleared by the task as it ends. Dekker's pattern with `demand`: a request
    /// adds, fences, then reads this; the ending task clears this, fences, then reads
    /// `demand` — at least one of the two sees the other's write, so no request is left
    /// with nobody to pass it on.
    active: AtomicBool,
    /// Rounds the task looks for more demand before it ends: [`LOOK`] on a worker with
    /// threads of its own, 0 on one that may run the task on the requesting thread (where the
    /// next request cannot come while it looks).
    look: u32,
    /// `request(0)` was made: a task stops passing demand on, so that the §3.9 request,
    /// scheduled behind it, reaches the upstream without waiting for the requests after it.
    /// Never cleared (the stream fails).
    bad_request: AtomicBool,
}

/// Rounds of [`spin_loop`] the task looks for more demand before it ends (about 1.6 µs on
/// current x86; one under loom).
const LOOK: u32 = if cfg!(loom) { 1 } else { 64 };

/// Requests one run of the task passes on before it makes way for the worker's other tasks
/// (it schedules itself again, behind them, still active).
const PASSES: u32 = 32;

impl Pending {
    /// The `pass_on` task: passes demand on until none comes for a moment.
    fn pass_on(&self) {
        let mut passes = 0;
        loop {
            if self.bad_request.load(Ordering::Acquire) {
                return; // stays active: later requests need nothing passed on any more
            }
            let n = self.demand.take();
            if n > 0 {
                self.upstream.request(n);
                passes += 1;
                if passes == PASSES {
                    // The running task holds itself, so this upgrade succeeds.
                    if let Some(task) = self.task.lock().as_ref().and_then(Weak::upgrade) {
                        self.worker.schedule(Task::shared(task));
                        return;
                    }
                }
                continue;
            }
            if (0..self.look).any(|_| {
                spin_loop();
                self.demand.get() != 0 || self.bad_request.load(Ordering::Relaxed)
            }) {
                continue;
            }
            self.active.store(false, Ordering::Relaxed);
            // Pairs with the fence in `request`: see `active`.
            fence(Ordering::SeqCst);
            if self.demand.get() == 0
                || self
                    .active
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                    .is_err()
            {
                return; // nothing came, or a new task is on its way for what did
            }
        }
    }
}

impl RequestOn {
    fn new(upstream: Arc<dyn Subscription>, worker: Arc<dyn Worker>) -> Self {
        let look = if worker.runs_on_own_threads() {
            LOOK
        } else {
            0
        };
        let pending = Arc::new(Pending {
            upstream,
            look,
            worker,
            task: Mutex::new(None),
            demand: Demand::new(),
            active: AtomicBool::new(false),
            bad_request: AtomicBool::new(false),
        });
        let task = Arc::clone(&pending);
        let pass_on: Arc<dyn Fn() + Send + Sync> = Arc::new(move || task.pass_on());
        *pending.task.lock() = Some(Arc::downgrade(&pass_on));
        RequestOn { pending, pass_on }
    }
}

impl Subscription for RequestOn {
    fn request(&self, n: u64) {
        let pending = &*self.pending;
        if n == 0 {
            // §3.9: passed on as it is, by a task of its own behind any running `pass_on`,
            // which stops for it.
            pending.bad_request.store(true, Ordering::Release);
            let upstream = Arc::clone(&pending.upstream);
            pending
                .worker
                .schedule(Task::new(move || upstream.request(0)));
            return;
        }
        pending.demand.add(n);
        // Pairs with the fence in `Pending::pass_on`: see `active`.
        fence(Ordering::SeqCst);
        if !pending.active.load(Ordering::Relaxed)
            && pending
                .active
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            pending
                .worker
                .schedule(Task::shared(Arc::clone(&self.pass_on)));
        }
    }

    fn cancel(&self) {
        self.pending.upstream.cancel();
    }
}
