//! The queue-drain engine: the bounded queue of an asynchronous boundary, the subscriber that
//! fills it, the prefetch and the 75 % replenish, in one place.

use std::fmt;
use std::sync::Arc;

use crate::scheduler::Worker;
use crate::support::{BoundedQueue, Engine, EngineConfig, Pull, Pulled, UpstreamSlot, UNBOUNDED};
use crate::sync::{fence, spin_loop, AtomicBool, Mutex, Ordering};
use crate::{Error, Publisher, Subscriber, Subscription};

/// When an upstream error reaches the downstream of a queueing stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ErrorMode {
    /// After the elements already queued have been delivered (as demand allows): nothing that
    /// arrived before the error is lost. Reactor's choice, and the default.
    #[default]
    AfterQueued,
    /// At once: queued elements are discarded. RxJava's `observeOn(delayError = false)` and
    /// Pekko's default.
    Immediate,
}

/// Counts consumed elements and says when to ask the upstream for more: after `limit` were
/// consumed, `limit` more. With a prefetch `p`, the limit is `p - p/4` (replenish at 75 %).
///
/// ```
/// use rstreams::support::Replenish;
///
/// let mut r = Replenish::for_prefetch(4); // limit 3
/// assert_eq!(r.consumed(), 0);
/// assert_eq!(r.consumed(), 0);
/// assert_eq!(r.consumed(), 3); // request 3 more now
/// assert_eq!(r.consumed(), 0);
/// assert_eq!(Replenish::for_prefetch(u64::MAX).consumed(), 0); // unbounded: never
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Replenish {
    /// Request this many after this many were consumed; `UNBOUNDED`: never.
    limit: u64,
    /// Consumed since the last replenishing request.
    consumed: u64,
    /// A replenish that fell due when an element was taken, held back until that element was
    /// delivered (see [`taken`](Self::taken)).
    owed: u64,
}

impl Replenish {
    /// Replenish at 75 % of `prefetch` (at least 1). An unbounded prefetch never replenishes.
    pub fn for_prefetch(prefetch: u64) -> Self {
        let limit = if prefetch == UNBOUNDED {
            UNBOUNDED
        } else {
            (prefetch - prefetch / 4).max(1)
        };
        Self::every(limit)
    }

    /// Replenish `limit` after each `limit` consumed (`limit_rate(high, low)` uses `low`).
    pub fn every(limit: u64) -> Self {
        Replenish {
            limit,
            consumed: 0,
            owed: 0,
        }
    }

    /// Records an element taken from a queue but not yet delivered: a replenish it makes due is
    /// held until [`settle`](Self::settle), called once the element went on. So queued + in
    /// hand + outstanding never exceed the prefetch.
    #[inline]
    pub fn taken(&mut self) {
        self.owed += self.consumed();
    }

    /// The replenish held back by [`taken`](Self::taken), to request now (0 if none).
    #[inline]
    pub fn settle(&mut self) -> u64 {
        std::mem::take(&mut self.owed)
    }

    /// Records one consumed element; returns how many to request upstream now (0 or the
    /// limit).
    #[inline]
    pub fn consumed(&mut self) -> u64 {
        if self.limit == UNBOUNDED {
            return 0;
        }
        self.consumed += 1;
        if self.consumed == self.limit {
            self.consumed = 0;
            self.limit
        } else {
            0
        }
    }
}

/// Something to tell that new work arrived: an [`Engine`] (its drain loop runs or is
/// scheduled), or a stage's own merger.
pub trait Wake: Send + Sync {
    /// New work: run the drain loop (or schedule it).
    fn wake(&self);
}

impl<P, S> Wake for Engine<P, S>
where
    P: Pull,
    S: Subscriber<P::Item> + 'static,
{
    #[inline]
    fn wake(&self) {
        Engine::wake(self)
    }
}

/// The receiving side of an asynchronous boundary: a bounded queue that one upstream fills
/// (through an [`InboxSubscriber`]) and a drain loop empties as the downstream demands.
///
/// - The upstream is asked for `prefetch` when it subscribes, and for `p - p/4` more each time
///   that many were taken ([`Replenish`]): queued plus outstanding never exceed `prefetch`.
/// - An upstream that emits beyond that fills the queue: it is cancelled and the stream fails
///   naming §1.1 (nothing it sent is dropped silently).
/// - Its terminal signal is kept and given out by [`pull`](Self::pull) /
///   [`poll_end`](Self::poll_end) after the queued elements ([`ErrorMode::AfterQueued`]) or
///   before them ([`ErrorMode::Immediate`], errors only). Signals after it are ignored (§1.7).
pub struct Inbox<T> {
    name: &'static str,
    queue: BoundedQueue<T>,
    upstream: Arc<UpstreamSlot>,
    /// How the upstream ended (or the §1.1 fault): set once, taken by the drain side.
    end: Mutex<Option<Result<(), Error>>>,
    /// `end` is set: the drain side checks this before locking `end`.
    done: AtomicBool,
    /// `end` is an error: read per element under `ErrorMode::Immediate`.
    failed: AtomicBool,
    errors: ErrorMode,
    prefetch: u64,
    /// Requested when the upstream subscribes: the prefetch, or 0 for a stage that requests
    /// on its own terms ([`on_demand`](Self::on_demand)).
    initial: u64,
    /// How the drain side learns of a new element. `false` (the default): the producer wakes
    /// it for every element. `true` (a boundary whose drain loop runs on a worker, set by
    /// [`subscribe_through`]): only once the drain side has parked (`watching`), so a drain
    /// loop that keeps up costs its producer no atomic read-modify-write per element.
    wake_on_park: bool,
    /// With `wake_on_park`: the drain side found the queue empty and waits to be woken. Set by
    /// the drain side, which then fences and looks at the queue once more ([`park`]); cleared
    /// by the producer that wakes it, or by the drain side when that second look found an
    /// element. Between the producer's push and its read of this flag there is a fence too,
    /// so either the producer sees the flag or the drain side's second look sees the element.
    ///
    /// [`park`]: Self::park
    watching: AtomicBool,
}

impl<T> Inbox<T> {
    /// An inbox for the stage `name` holding up to `prefetch` elements.
    ///
    /// # Errors
    ///
    /// `prefetch` 0: a boundary that holds nothing passes nothing on.
    pub fn new(name: &'static str, prefetch: usize, errors: ErrorMode) -> Result<Self, Error> {
        let queue = BoundedQueue::new(prefetch).map_err(|_| {
            Error::msg(format!(
                "{name}: prefetch must be at least 1 (got 0): a boundary that holds nothing passes nothing on"
            ))
        })?;
        Ok(Inbox {
            name,
            queue,
            upstream: Arc::new(UpstreamSlot::new()),
            end: Mutex::new(None),
            done: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            errors,
            prefetch: prefetch as u64,
            initial: prefetch as u64,
            wake_on_park: false,
            watching: AtomicBool::new(false),
        })
    }

    /// Requests nothing when the upstream subscribes: the stage asks through
    /// [`upstream`](Self::upstream) itself, when it has room on its own terms (a service that
    /// became ready, a permit). `prefetch` stays the capacity, and the §1.1 bound.
    ///
    /// ```
    /// use rstreams::support::{ErrorMode, Inbox};
    ///
    /// let inbox = Inbox::<u64>::new("call", 1, ErrorMode::Immediate).unwrap().on_demand();
    /// assert!(inbox.is_empty());
    /// ```
    pub fn on_demand(mut self) -> Self {
        self.initial = 0;
        self
    }

    /// The upstream's subscription (cancel it to stop the upstream).
    pub fn upstream(&self) -> &Arc<UpstreamSlot> {
        &self.upstream
    }

    /// A replenish counter for this inbox's prefetch.
    pub fn replenish(&self) -> Replenish {
        Replenish::for_prefetch(self.prefetch)
    }

    /// Takes the next element for the drain side; or the end once the queue is drained (or at
    /// once for an error under [`ErrorMode::Immediate`]); or [`Pulled::Pending`].
    ///
    /// The replenish an element makes due is requested on the next call (here or in
    /// [`poll_end`](Self::poll_end)), after that element was delivered: queued + in hand +
    /// outstanding never exceed the prefetch.
    #[inline]
    pub fn pull(&self, replenish: &mut Replenish) -> Pulled<T> {
        if replenish.owed != 0 {
            self.settle(replenish);
        }
        if self.errors == ErrorMode::Immediate && self.failed.load(Ordering::Acquire) {
            return self.take_end();
        }
        // Read `done` before polling: an element pushed before the end is seen.
        let done = self.done.load(Ordering::Acquire);
        match self.queue.pop() {
            Some(item) => {
                if !done {
                    replenish.taken();
                }
                Pulled::Ready(item)
            }
            None if done => self.take_end(),
            None => Pulled::Pending,
        }
    }

    /// For a drain side that found nothing ([`pull`](Self::pull) gave [`Pulled::Pending`])
    /// and will wait for a wake-up: says so to the producer, then looks once more (an element
    /// pushed meanwhile is taken now rather than stranded without a wake-up).
    fn park(&self, replenish: &mut Replenish) -> Pulled<T> {
        self.watching.store(true, Ordering::Relaxed);
        // Pairs with the producer's fence between its push and its read of `watching`.
        fence(Ordering::SeqCst);
        match self.pull(replenish) {
            Pulled::Pending => Pulled::Pending,
            found => {
                self.watching.store(false, Ordering::Relaxed);
                found
            }
        }
    }

    /// The end, if the stream may end now without more demand. Requests a replenish held
    /// back by the last [`pull`](Self::pull).
    pub fn poll_end(&self, replenish: &mut Replenish) -> Option<Result<(), Error>> {
        self.settle(replenish);
        if !self.done.load(Ordering::Acquire) {
            return None;
        }
        let immediate = self.errors == ErrorMode::Immediate && self.failed.load(Ordering::Acquire);
        if immediate || self.queue.is_empty() {
            Some(self.end.lock().take().unwrap_or(Ok(())))
        } else {
            None
        }
    }

    #[cold]
    fn settle(&self, replenish: &mut Replenish) {
        let owed = replenish.settle();
        if owed > 0 && !self.done.load(Ordering::Acquire) {
            self.upstream.request(owed);
        }
    }

    /// Whether the upstream ended and everything it sent was taken.
    pub fn is_drained(&self) -> bool {
        self.done.load(Ordering::Acquire) && self.queue.is_empty()
    }

    /// Elements queued now.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is queued now.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Drops what is queued (the subscription ended early: queued elements must not outlive
    /// it) and cancels the upstream.
    pub fn discard(&self) {
        self.upstream.cancel();
        self.queue.clear();
    }

    fn take_end(&self) -> Pulled<T> {
        match self.end.lock().take() {
            Some(Err(error)) => Pulled::Error(error),
            _ => Pulled::End,
        }
    }

    /// Records the end (the first one wins) and releases or cancels the upstream.
    fn close(&self, end: Result<(), Error>) -> bool {
        {
            let mut slot = self.end.lock();
            if slot.is_some() {
                return false;
            }
            if end.is_err() {
                self.failed.store(true, Ordering::Release);
            }
            *slot = Some(end);
        }
        self.done.store(true, Ordering::Release);
        true
    }
}

impl<T> fmt::Debug for Inbox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox")
            .field("name", &self.name)
            .field("queued", &self.queue.len())
            .field("prefetch", &self.prefetch)
            .field("done", &self.done.load(Ordering::Relaxed))
            .finish()
    }
}

/// The subscriber an [`Inbox`]'s upstream is given: queues elements and the terminal signal,
/// and wakes the drain side.
pub struct InboxSubscriber<T, W: ?Sized> {
    inbox: Arc<Inbox<T>>,
    target: Arc<W>,
}

impl<T: Send + 'static, W: Wake + ?Sized> InboxSubscriber<T, W> {
    /// Feeds `inbox` and wakes `target` on every signal.
    pub fn new(inbox: Arc<Inbox<T>>, target: Arc<W>) -> Self {
        InboxSubscriber { inbox, target }
    }
}

impl<T: Send + 'static, W: Wake + ?Sized> Subscriber<T> for InboxSubscriber<T, W> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        // §2.5: a second subscription is cancelled by `set`; so is one that arrives after the
        // downstream cancelled.
        if self.inbox.upstream.set(subscription) && self.inbox.initial > 0 {
            self.inbox.upstream.request(self.inbox.initial);
        }
    }

    fn on_next(&mut self, item: T) {
        let inbox = &self.inbox;
        if inbox.done.load(Ordering::Acquire) {
            return; // after the end, or after a fault: late, dropped (§1.7, §2.8)
        }
        if inbox.queue.push(item).is_ok() {
            if inbox.wake_on_park {
                // Pairs with the fence in `Inbox::park`: either `watching` is seen here, or the
                // drain side's second look sees this element.
                fence(Ordering::SeqCst);
                if !inbox.watching.load(Ordering::Relaxed)
                    || !inbox.watching.swap(false, Ordering::AcqRel)
                {
                    // Not parked: the drain loop will find it (or waits for demand, whose
                    // arrival wakes it).
                    return;
                }
            }
        } else {
            // Only an upstream that emits beyond what was requested can fill the queue.
            inbox.upstream.cancel();
            inbox.close(Err(Error::protocol(
                "1.1",
                format!(
                    "the upstream emitted more than the {} elements {} requested",
                    inbox.prefetch, inbox.name
                ),
            )
            .in_stage(inbox.name)));
        }
        self.target.wake();
    }

    fn on_error(&mut self, error: Error) {
        if self.inbox.close(Err(error)) {
            self.inbox.upstream.clear();
            self.target.wake();
        }
    }

    fn on_complete(&mut self) {
        if self.inbox.close(Ok(())) {
            self.inbox.upstream.clear();
            self.target.wake();
        }
    }
}

impl<T, W: ?Sized> fmt::Debug for InboxSubscriber<T, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InboxSubscriber { .. }")
    }
}

/// Rounds of [`spin_loop`] (about 25 ns each on current x86) a drain loop on a worker looks
/// for the next element before it parks: long enough to bridge the gap between two elements
/// of a producer that is keeping up, so that the consumer does not park and need a wake-up
/// per element; short enough that a consumer of a slow producer parks within about 2 µs.
/// (Under loom: one round, so that the models explore the spin without an explosion of
/// interleavings.)
const SPIN_MAX: u32 = if cfg!(loom) { 1 } else { 64 };
/// The least a drain loop spins, after its spins kept failing (a slow producer).
const SPIN_MIN: u32 = if cfg!(loom) { 1 } else { 2 };

/// The [`Pull`] side of an [`Inbox`]: what [`subscribe_through`] runs in its engine.
struct InboxPull<T> {
    inbox: Arc<Inbox<T>>,
    replenish: Replenish,
    /// On a worker with threads of its own: how many rounds to look again before parking;
    /// doubled when a look found an element, halved when it did not (bounded by
    /// `SPIN_MIN..=SPIN_MAX`). 0 inline, and on a worker that may run the drain loop on the
    /// producer's own thread ([`Worker::runs_on_own_threads`]): waiting there could only waste
    /// time.
    spin: u32,
}

impl<T: Send + 'static> InboxPull<T> {
    /// The queue was empty: look again for a while, then park.
    #[inline(never)]
    fn wait(&mut self) -> Pulled<T> {
        let inbox = &*self.inbox;
        for _ in 0..self.spin {
            spin_loop();
            if !inbox.queue.is_empty() || inbox.done.load(Ordering::Acquire) {
                match inbox.pull(&mut self.replenish) {
                    Pulled::Pending => {}
                    found => {
                        self.spin = (self.spin * 2).min(SPIN_MAX);
                        return found;
                    }
                }
            }
        }
        self.spin = (self.spin / 2).max(SPIN_MIN);
        inbox.park(&mut self.replenish)
    }
}

impl<T: Send + 'static> Pull for InboxPull<T> {
    type Item = T;

    fn name(&self) -> &'static str {
        self.inbox.name
    }

    #[inline]
    fn pull(&mut self, _demand: u64) -> Pulled<T> {
        match self.inbox.pull(&mut self.replenish) {
            Pulled::Pending if self.inbox.wake_on_park => self.wait(),
            pulled => pulled,
        }
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        self.inbox.poll_end(&mut self.replenish)
    }
}

impl<T> Drop for InboxPull<T> {
    /// The subscription ended: queued elements go with it.
    fn drop(&mut self) {
        self.inbox.queue.clear();
    }
}

/// Subscribes `downstream` to `source` through a queue: the whole of an asynchronous
/// boundary. The downstream gets `on_subscribe` at once, on this thread; the upstream is asked
/// for `prefetch` and replenished at 75 %; elements are delivered by the drain loop, on
/// `worker` when one is given (as `publish_on` does), else on the thread that signals.
///
/// `inbox` is made with [`Inbox::new`], which checks the prefetch.
pub fn subscribe_through<P, S>(
    source: &P,
    downstream: S,
    inbox: Inbox<P::Item>,
    worker: Option<Arc<dyn Worker>>,
) where
    P: Publisher,
    P::Item: Send + 'static,
    S: Subscriber<P::Item> + 'static,
{
    let mut inbox = inbox;
    // On a worker, the drain loop runs apart from the producer's signals: it asks to be woken
    // only once it parks, and, on a worker with threads of its own, spins a little for the
    // next element first.
    inbox.wake_on_park = worker.is_some();
    let spin = match &worker {
        Some(worker) if worker.runs_on_own_threads() => SPIN_MAX,
        _ => 0,
    };
    let inbox = Arc::new(inbox);
    let mut config = EngineConfig::new().upstream(Arc::clone(&inbox.upstream));
    if let Some(worker) = worker {
        config = config.on(worker);
    }
    let engine = Engine::start(
        InboxPull {
            replenish: inbox.replenish(),
            spin,
            inbox: Arc::clone(&inbox),
        },
        downstream,
        config,
    );
    // Subscribed even when the downstream cancelled inside on_subscribe: the slot is
    // cancelled then, and cancels the upstream's subscription as it arrives.
    source.subscribe(InboxSubscriber::new(inbox, engine));
}
