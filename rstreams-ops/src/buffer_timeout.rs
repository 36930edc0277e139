//! `buffer_timeout(size, duration)`: batches by size or by time, waiting for demand.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use rstreams_core::scheduler::{Scheduler, Task, TaskHandle, Worker};
use rstreams_core::support::{Demand, DrainCell, UpstreamSlot};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// The publisher returned by [`buffer_timeout`](crate::PublisherExt::buffer_timeout).
#[must_use = "publishers do nothing until subscribed"]
pub struct BufferTimeout<P, S> {
    source: P,
    size: usize,
    timeout: Duration,
    scheduler: S,
}

impl<P, S> BufferTimeout<P, S> {
    pub(crate) fn new(source: P, size: usize, timeout: Duration, scheduler: S) -> Self {
        assert!(size > 0, "buffer_timeout: size must be at least 1 (got 0)");
        assert!(
            !timeout.is_zero(),
            "buffer_timeout: timeout must be a positive duration (got 0)"
        );
        BufferTimeout {
            source,
            size,
            timeout,
            scheduler,
        }
    }
}

impl<P: Clone, S: Clone> Clone for BufferTimeout<P, S> {
    fn clone(&self) -> Self {
        BufferTimeout {
            source: self.source.clone(),
            size: self.size,
            timeout: self.timeout,
            scheduler: self.scheduler.clone(),
        }
    }
}

impl<P: fmt::Debug, S> fmt::Debug for BufferTimeout<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferTimeout")
            .field("source", &self.source)
            .field("size", &self.size)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<P, Sch> Publisher for BufferTimeout<P, Sch>
where
    P: Publisher,
    P::Item: Send + 'static,
    Sch: Scheduler,
{
    type Item = Vec<P::Item>;

    fn subscribe<S: Subscriber<Vec<P::Item>> + 'static>(&self, subscriber: S) {
        let batcher = Arc::new(Batcher {
            size: self.size,
            timeout: self.timeout,
            worker: self.scheduler.worker(),
            demand: Demand::new(),
            upstream: UpstreamSlot::new(),
            state: Mutex::new(Batch {
                items: Vec::with_capacity(self.size),
                outstanding: 0,
                generation: 0,
                due: false,
                timer: None,
                end: None,
                cancelled: false,
                bad_request: false,
            }),
            out: DrainCell::new(None),
        });
        let mut subscriber = Some(subscriber);
        batcher.out.drain(|slot| *slot = subscriber.take());
        self.source.subscribe(Inlet { batcher });
    }
}

/// The state of one subscription; it is the subscription the downstream holds.
struct Batcher<T, S> {
    size: usize,
    timeout: Duration,
    worker: Arc<dyn Worker>,
    /// Batches the downstream requested and has not received.
    demand: Demand,
    upstream: UpstreamSlot,
    state: Mutex<Batch<T>>,
    /// The downstream, touched only by the drain loop; `None` once released.
    out: DrainCell<Option<S>>,
}

struct Batch<T> {
    items: Vec<T>,
    /// Requested upstream and not received: with `items`, at most `size`.
    outstanding: u64,
    /// Which batch the running timer belongs to.
    generation: u64,
    /// The timer of the current batch fired: emit it as soon as there is demand.
    due: bool,
    timer: Option<TaskHandle>,
    end: Option<Result<(), Error>>,
    cancelled: bool,
    bad_request: bool,
}

/// What the drain loop does next.
enum Step<T> {
    Emit(Vec<T>),
    End(Result<(), Error>),
    BadRequest,
    Release,
    Idle,
}

impl<T, S> Batcher<T, S>
where
    T: Send + 'static,
    S: Subscriber<Vec<T>> + 'static,
{
    fn drain(self: &Arc<Self>) {
        self.out.drain(|down| self.pass(down));
        self.top_up();
    }

    fn pass(&self, down: &mut Option<S>) {
        loop {
            let Some(d) = down.as_mut() else { return };
            match self.next_step() {
                Step::Emit(batch) => {
                    d.on_next(batch);
                    self.demand.produced(1);
                }
                Step::End(end) => {
                    let mut d = down.take().expect("checked");
                    match end {
                        Ok(()) => d.on_complete(),
                        Err(e) => d.on_error(e),
                    }
                    return;
                }
                Step::BadRequest => {
                    self.upstream.cancel();
                    let mut d = down.take().expect("checked");
                    d.on_error(Error::request_zero().in_stage("buffer_timeout"));
                    return;
                }
                Step::Release => {
                    *down = None;
                    return;
                }
                Step::Idle => return,
            }
        }
    }

    fn next_step(&self) -> Step<T> {
        let mut b = self.state.lock();
        if b.cancelled {
            b.items.clear();
            return Step::Release;
        }
        if b.bad_request {
            b.bad_request = false;
            b.cancelled = true;
            b.items.clear();
            return Step::BadRequest;
        }
        if matches!(b.end, Some(Err(_))) {
            // An error goes at once; the partial batch is dropped.
            b.items.clear();
            let end = b.end.take().expect("checked");
            b.cancelled = true;
            return Step::End(end);
        }
        let ended = b.end.is_some();
        let ready = b.items.len() >= self.size || ((b.due || ended) && !b.items.is_empty());
        if ready && self.demand.get() > 0 {
            let take = b.items.len().min(self.size);
            let rest = b.items.split_off(take);
            let batch = std::mem::replace(&mut b.items, rest);
            b.due = false;
            b.generation += 1;
            if let Some(t) = b.timer.take() {
                t.cancel();
            }
            return Step::Emit(batch);
        }
        if ended && b.items.is_empty() {
            b.cancelled = true;
            return Step::End(b.end.take().expect("checked"));
        }
        Step::Idle
    }

    /// Keeps one batch in flight while the downstream wants batches: queued plus outstanding
    /// upstream never exceed `size`.
    fn top_up(&self) {
        let want = {
            let mut b = self.state.lock();
            if b.cancelled || b.end.is_some() || self.demand.get() == 0 {
                return;
            }
            let held = b.items.len() as u64 + b.outstanding;
            let want = (self.size as u64).saturating_sub(held);
            b.outstanding += want;
            want
        };
        if want > 0 {
            self.upstream.request(want);
        }
    }

    /// Starts the timer of the batch that just got its first element.
    fn arm(self: &Arc<Self>, generation: u64) -> TaskHandle {
        let me: Weak<Self> = Arc::downgrade(self);
        self.worker.schedule_after(
            self.timeout,
            Task::new(move || {
                let Some(me) = me.upgrade() else { return };
                {
                    let mut b = me.state.lock();
                    if b.generation != generation {
                        return; // that batch went out full
                    }
                    b.due = true;
                    b.timer = None;
                }
                me.drain();
            }),
        )
    }
}

/// The downstream's subscription.
struct Handle<T, S>(Arc<Batcher<T, S>>);

impl<T, S> Subscription for Handle<T, S>
where
    T: Send + 'static,
    S: Subscriber<Vec<T>> + 'static,
{
    fn request(&self, n: u64) {
        if n == 0 {
            self.0.state.lock().bad_request = true;
        } else {
            self.0.demand.add(n);
        }
        self.0.drain();
    }

    fn cancel(&self) {
        {
            let mut b = self.0.state.lock();
            if b.cancelled {
                return;
            }
            b.cancelled = true;
            if let Some(t) = b.timer.take() {
                t.cancel();
            }
        }
        self.0.upstream.cancel();
        self.0.drain();
    }
}

/// The subscriber given to the upstream.
struct Inlet<T, S> {
    batcher: Arc<Batcher<T, S>>,
}

impl<T, S> Subscriber<T> for Inlet<T, S>
where
    T: Send + 'static,
    S: Subscriber<Vec<T>> + 'static,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        let b = &self.batcher;
        if !b.upstream.set(subscription) {
            return;
        }
        let handle: Arc<dyn Subscription> = Arc::new(Handle(Arc::clone(b)));
        if let Some(mut entered) = b.out.enter() {
            if let Some(down) = entered.get().as_mut() {
                down.on_subscribe(handle);
            }
            entered.drain(|down| b.pass(down));
        }
        b.top_up();
    }

    fn on_next(&mut self, item: T) {
        let b = &self.batcher;
        {
            let mut s = b.state.lock();
            if s.cancelled {
                return;
            }
            s.outstanding = s.outstanding.saturating_sub(1);
            s.items.push(item);
            if s.items.len() == 1 {
                let generation = s.generation;
                drop(s);
                let timer = b.arm(generation);
                let mut s = b.state.lock();
                if s.generation == generation && s.timer.is_none() {
                    s.timer = Some(timer);
                } else {
                    timer.cancel();
                }
            }
        }
        b.drain();
    }

    fn on_error(&mut self, error: Error) {
        let b = &self.batcher;
        b.upstream.clear();
        {
            let mut s = b.state.lock();
            s.end.get_or_insert(Err(error));
            if let Some(t) = s.timer.take() {
                t.cancel();
            }
        }
        b.drain();
    }

    fn on_complete(&mut self) {
        let b = &self.batcher;
        b.upstream.clear();
        {
            let mut s = b.state.lock();
            s.end.get_or_insert(Ok(()));
            if let Some(t) = s.timer.take() {
                t.cancel();
            }
        }
        b.drain();
    }
}
