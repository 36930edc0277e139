//! `from_stream`, `defer_stream`, `from_future`, `defer_future`: publishers that poll a
//! `Stream` (or a `Future`) exactly as far as demand allows.

use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll, Wake, Waker};

use futures_core::Stream;
use futures_util::stream::{once, Once};
use rstreams_core::support::{catch_panic, Demand, DrainCell};
use rstreams_core::{Error, NoopSubscription, Publisher, Subscriber, Subscription};

/// A publisher that emits the items of `stream`, polling it only when there is outstanding
/// demand: one poll per element requested, never ahead.
///
/// # Single use
///
/// A `Stream` can be gone through once, so this publisher serves **one subscription**. A second
/// subscriber gets `on_subscribe` then `on_error`, with an error naming §1.9 (a publisher that
/// rejects a subscription signals it that way). For a publisher that every subscriber can use,
/// give a function that makes the stream: [`defer_stream`].
///
/// # Backpressure
///
/// The stream is polled from the subscription's drain loop, on the thread that requests (or
/// that wakes the stream), and only while demand is outstanding: `request(3)` polls at most
/// three `Ready(Some(_))` out of it. When the stream returns `Pending`, polling stops until the
/// stream wakes its waker; that waker re-runs the drain loop, so no executor is needed and
/// nothing spins. A wake-up that finds no demand does nothing until the next request.
///
/// Completion is signalled when the stream returns `Ready(None)`. When all demand is met and
/// the stream's [`size_hint`](Stream::size_hint) says no item is left, the stream is polled
/// once more so that completion does not wait for another request.
///
/// # Errors and cancel
///
/// A panic in `poll_next` fails the stream (`on_error`, kind
/// [`Panic`](rstreams_core::ErrorKind::Panic)). `cancel` drops the stream (and the
/// subscriber, §3.13). `request(0)` fails it naming §3.9.
///
/// # Threads
///
/// Signals run on the thread that requests or wakes the stream; a stream whose waker is
/// called from a runtime's I/O or timer thread delivers there. Put `publish_on` after it to
/// move the subscriber's work elsewhere.
///
/// ```
/// use futures::stream;
/// use rstreams_core::sink;
/// use rstreams_futures::from_stream;
///
/// let numbers = from_stream(stream::iter(vec![1, 2, 3]));
/// assert_eq!(sink::collect(&numbers).unwrap(), vec![1, 2, 3]);
/// // Single use: a second subscriber is rejected.
/// assert_eq!(sink::collect(&numbers).unwrap_err().rule(), Some("1.9"));
/// ```
pub fn from_stream<S>(stream: S) -> FromStream<S>
where
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
{
    FromStream {
        stream: Mutex::new(Some(stream)),
    }
}

/// The publisher returned by [`from_stream`].
#[must_use = "publishers do nothing until subscribed"]
pub struct FromStream<S> {
    stream: Mutex<Option<S>>,
}

impl<S> FromStream<S> {
    /// Whether the stream is still there for a subscriber (no one has subscribed yet).
    pub fn is_available(&self) -> bool {
        self.stream
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }
}

impl<S> fmt::Debug for FromStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromStream")
            .field("available", &self.is_available())
            .finish()
    }
}

impl<S> Publisher for FromStream<S>
where
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
{
    type Item = S::Item;

    fn subscribe<Sub: Subscriber<S::Item> + 'static>(&self, subscriber: Sub) {
        let taken = self
            .stream
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match taken {
            Some(stream) => drive(stream, subscriber, STREAM),
            None => reject(subscriber, used_up(STREAM, "defer_stream")),
        }
    }
}

/// A publisher that calls `make` for each subscription and emits the items of the stream it
/// returns, as [`from_stream`] does: every subscriber gets a fresh stream, so the publisher can
/// be subscribed any number of times (as `source::defer` does for publishers).
///
/// A panic in `make` fails that subscription (`on_subscribe`, then `on_error`).
///
/// ```
/// use futures::stream;
/// use rstreams_core::sink;
/// use rstreams_futures::defer_stream;
///
/// let numbers = defer_stream(|| stream::iter(0..3));
/// assert_eq!(sink::collect(&numbers).unwrap(), vec![0, 1, 2]);
/// assert_eq!(sink::collect(&numbers).unwrap(), vec![0, 1, 2]);
/// ```
pub fn defer_stream<F, S>(make: F) -> DeferStream<F>
where
    F: Fn() -> S,
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
{
    DeferStream { make }
}

/// The publisher returned by [`defer_stream`].
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct DeferStream<F> {
    make: F,
}

impl<F> fmt::Debug for DeferStream<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeferStream { .. }")
    }
}

impl<F, S> Publisher for DeferStream<F>
where
    F: Fn() -> S,
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
{
    type Item = S::Item;

    fn subscribe<Sub: Subscriber<S::Item> + 'static>(&self, subscriber: Sub) {
        match catch_panic("defer_stream factory", || (self.make)()) {
            Ok(stream) => drive(stream, subscriber, STREAM),
            Err(error) => reject(subscriber, error),
        }
    }
}

/// A publisher of the one value `future` resolves to, then completion.
///
/// The future is polled only once the subscriber has requested (futures are lazy: nothing
/// runs before that), from the subscription's drain loop, woken by the future's own waker as
/// for [`from_stream`]. A panic in the future fails the stream.
///
/// Single use, like `from_stream`: a second subscriber is rejected naming §1.9; use
/// [`defer_future`] to make a future per subscription.
///
/// ```
/// use rstreams_core::sink;
/// use rstreams_futures::from_future;
///
/// let answer = from_future(async { 6 * 7 });
/// assert_eq!(sink::collect(&answer).unwrap(), vec![42]);
/// ```
pub fn from_future<F>(future: F) -> FromFuture<F>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    FromFuture {
        inner: FromStream {
            stream: Mutex::new(Some(once(future))),
        },
    }
}

/// The publisher returned by [`from_future`].
#[must_use = "publishers do nothing until subscribed"]
pub struct FromFuture<F> {
    inner: FromStream<Once<F>>,
}

impl<F> FromFuture<F> {
    /// Whether the future is still there for a subscriber (no one has subscribed yet).
    pub fn is_available(&self) -> bool {
        self.inner.is_available()
    }
}

impl<F> fmt::Debug for FromFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromFuture")
            .field("available", &self.is_available())
            .finish()
    }
}

impl<F> Publisher for FromFuture<F>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    type Item = F::Output;

    fn subscribe<Sub: Subscriber<F::Output> + 'static>(&self, subscriber: Sub) {
        let taken = self
            .inner
            .stream
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match taken {
            Some(stream) => drive(stream, subscriber, FUTURE),
            None => reject(subscriber, used_up(FUTURE, "defer_future")),
        }
    }
}

/// A publisher that calls `make` for each subscription and emits the value of the future it
/// returns, as [`from_future`] does; it can be subscribed any number of times.
///
/// ```
/// use rstreams_core::sink;
/// use rstreams_futures::defer_future;
///
/// let fresh = defer_future(|| async { "hello" });
/// assert_eq!(sink::collect(&fresh).unwrap(), vec!["hello"]);
/// assert_eq!(sink::collect(&fresh).unwrap(), vec!["hello"]);
/// ```
pub fn defer_future<F, Fut>(make: F) -> DeferFuture<F>
where
    F: Fn() -> Fut,
    Fut: std::future::Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    DeferFuture { make }
}

/// The publisher returned by [`defer_future`].
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct DeferFuture<F> {
    make: F,
}

impl<F> fmt::Debug for DeferFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeferFuture { .. }")
    }
}

impl<F, Fut> Publisher for DeferFuture<F>
where
    F: Fn() -> Fut,
    Fut: std::future::Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    type Item = Fut::Output;

    fn subscribe<Sub: Subscriber<Fut::Output> + 'static>(&self, subscriber: Sub) {
        match catch_panic("defer_future factory", || (self.make)()) {
            Ok(future) => drive(once(future), subscriber, FUTURE),
            Err(error) => reject(subscriber, error),
        }
    }
}

// ===== the driver =====

/// Names a driven source in errors.
#[derive(Clone, Copy)]
struct Names {
    /// The stage: "from_stream".
    stage: &'static str,
    /// What is polled: "stream".
    what: &'static str,
    /// What panicked: "from_stream stream".
    polled: &'static str,
}

const STREAM: Names = Names {
    stage: "from_stream",
    what: "stream",
    polled: "from_stream stream",
};

const FUTURE: Names = Names {
    stage: "from_future",
    what: "future",
    polled: "from_future future",
};

fn used_up(names: Names, factory: &str) -> Error {
    Error::protocol(
        "1.9",
        format!(
            "{}: single use, and already subscribed once (a {} can be gone through only once); \
             use {factory}(|| ...) for a publisher that makes one per subscriber",
            names.stage, names.what
        ),
    )
    .in_stage(names.stage)
}

/// Rejects a subscription: `on_subscribe` (with a subscription that ignores every call), then
/// `on_error` (§1.9).
fn reject<T, Sub: Subscriber<T>>(mut subscriber: Sub, error: Error) {
    subscriber.on_subscribe(Arc::new(NoopSubscription));
    subscriber.on_error(error);
}

/// The subscription of a driven stream: demand, two flags, and the drain loop that polls.
struct StreamSubscription<S: Stream, Sub> {
    demand: Demand,
    /// Cancelled, or ended: no signal follows.
    cancelled: AtomicBool,
    /// `request(0)` was called: fail with §3.9.
    bad_request: AtomicBool,
    /// The stream's waker was called since the last poll. A stream that returned `Pending` is
    /// polled again only after that (a pass run for new demand does not poll it in vain).
    woken: AtomicBool,
    /// The waker handed to the stream: re-runs the drain loop.
    waker: Waker,
    cell: DrainCell<Option<Active<S, Sub>>>,
    names: Names,
}

struct Active<S: Stream, Sub> {
    stream: Pin<Box<S>>,
    subscriber: Sub,
    /// An item the stream yielded although its size hint said it had none left, polled for
    /// completion after the demand was met: emitted on the next demand.
    lookahead: Option<S::Item>,
    /// The last poll returned `Pending`.
    pending: bool,
}

/// The stream's waker: runs the drain loop of the subscription, if it is still alive.
struct DrainWaker<S: Stream, Sub> {
    subscription: Weak<StreamSubscription<S, Sub>>,
}

impl<S, Sub> Wake for DrainWaker<S, Sub>
where
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
    Sub: Subscriber<S::Item> + 'static,
{
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(subscription) = self.subscription.upgrade() {
            subscription.woken.store(true, Ordering::Release);
            // A panicking subscriber must not unwind into whoever woke the stream (an
            // executor's thread): the subscription is cancelled and the panic stops here.
            subscription.drain(false);
        }
    }
}

enum Polled<T> {
    Item(T),
    Pending,
    End(Result<(), Error>),
}

/// Subscribes `subscriber` to `stream`: `on_subscribe`, then polls as demand allows.
fn drive<S, Sub>(stream: S, subscriber: Sub, names: Names)
where
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
    Sub: Subscriber<S::Item> + 'static,
{
    let subscription =
        Arc::new_cyclic(
            |weak: &Weak<StreamSubscription<S, Sub>>| StreamSubscription {
                demand: Demand::new(),
                cancelled: AtomicBool::new(false),
                bad_request: AtomicBool::new(false),
                woken: AtomicBool::new(false),
                waker: Waker::from(Arc::new(DrainWaker {
                    subscription: weak.clone(),
                })),
                cell: DrainCell::new(None),
                names,
            },
        );
    // Own the drain loop before on_subscribe, so that a request made inside it only records
    // demand; polling starts after on_subscribe has returned (§1.9, §3.3).
    let mut entered = subscription
        .cell
        .enter()
        .expect("a new subscription is not draining");
    let active = entered.get().insert(Active {
        stream: Box::pin(stream),
        subscriber,
        lookahead: None,
        pending: false,
    });
    let handle: Arc<dyn Subscription> = subscription.clone();
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| active.subscriber.on_subscribe(handle)))
    {
        // §2.13: a subscriber that panics is treated as having cancelled.
        subscription.cancelled.store(true, Ordering::Release);
        *entered.get() = None;
        drop(entered);
        resume_unwind(payload);
    }
    entered.drain(|slot| subscription.pass(slot, true));
}

impl<S, Sub> StreamSubscription<S, Sub>
where
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
    Sub: Subscriber<S::Item> + 'static,
{
    /// Runs the drain loop. `resume`: let a subscriber's panic continue to the caller (a
    /// `request` caller) rather than stop here (a waker caller).
    fn drain(&self, resume: bool) {
        self.cell.drain(|slot| self.pass(slot, resume));
    }

    fn pass(&self, slot: &mut Option<Active<S, Sub>>, resume: bool) {
        if slot.is_none() {
            return; // ended or cancelled: nothing more (§1.7, §3.6)
        }
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| self.pass_inner(slot))) {
            // The subscriber panicked (§2.13): treat it as cancelled and release it.
            self.cancelled.store(true, Ordering::Release);
            *slot = None;
            if resume {
                resume_unwind(payload);
            }
        }
    }

    fn pass_inner(&self, slot: &mut Option<Active<S, Sub>>) {
        let mut cx = Context::from_waker(&self.waker);
        loop {
            let Some(active) = slot.as_mut() else { return };
            if self.cancelled.load(Ordering::Acquire) {
                *slot = None; // §3.13: drop the subscriber and the stream
                return;
            }
            if self.bad_request.load(Ordering::Acquire) {
                let error = Error::request_zero().in_stage(self.names.stage);
                self.finish(slot, Err(error));
                return;
            }
            // Read the demand once per batch, subtract what was emitted once per batch.
            let requested = self.demand.get();
            if requested == 0 {
                return;
            }
            let mut emitted = 0u64;
            while emitted != requested {
                if self.cancelled.load(Ordering::Acquire)
                    || self.bad_request.load(Ordering::Acquire)
                {
                    break;
                }
                match self.poll(active, &mut cx) {
                    Polled::Item(item) => {
                        if active.subscriber.try_on_next(item) {
                            emitted += 1;
                        }
                    }
                    Polled::Pending => {
                        // The stream's waker runs the loop again when it has something.
                        self.demand.produced(emitted);
                        return;
                    }
                    Polled::End(end) => {
                        self.finish(slot, end);
                        return;
                    }
                }
            }
            self.demand.produced(emitted);
            if emitted == requested && self.demand.get() == 0 {
                // All demand met. If the stream says it is exhausted, find its end now so that
                // completion does not wait for another request.
                if active.lookahead.is_none() && active.stream.size_hint().1 == Some(0) {
                    match self.poll(active, &mut cx) {
                        Polled::Item(item) => active.lookahead = Some(item),
                        Polled::Pending => return,
                        Polled::End(end) => {
                            self.finish(slot, end);
                            return;
                        }
                    }
                }
                return;
            }
        }
    }

    fn poll(&self, active: &mut Active<S, Sub>, cx: &mut Context<'_>) -> Polled<S::Item> {
        if let Some(item) = active.lookahead.take() {
            return Polled::Item(item);
        }
        // A wake-up during the poll below sets the flag again, so none is missed.
        let woken = self.woken.swap(false, Ordering::AcqRel);
        if active.pending && !woken {
            return Polled::Pending; // still waiting for the stream's wake-up
        }
        let stream = active.stream.as_mut();
        let polled = match catch_panic(self.names.polled, || stream.poll_next(cx)) {
            Ok(Poll::Ready(Some(item))) => Polled::Item(item),
            Ok(Poll::Ready(None)) => Polled::End(Ok(())),
            Ok(Poll::Pending) => Polled::Pending,
            Err(error) => Polled::End(Err(error.in_stage(self.names.stage))),
        };
        active.pending = matches!(polled, Polled::Pending);
        polled
    }

    /// Ends the subscription: drops the stream, then signals the end and releases the
    /// subscriber (§1.6).
    fn finish(&self, slot: &mut Option<Active<S, Sub>>, end: Result<(), Error>) {
        self.cancelled.store(true, Ordering::Release);
        let Active {
            stream,
            mut subscriber,
            ..
        } = slot
            .take()
            .expect("finish is called on a live subscription");
        drop(stream);
        match end {
            Ok(()) => subscriber.on_complete(),
            Err(error) => subscriber.on_error(error),
        }
    }
}

impl<S, Sub> Subscription for StreamSubscription<S, Sub>
where
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
    Sub: Subscriber<S::Item> + 'static,
{
    fn request(&self, n: u64) {
        if n == 0 {
            self.bad_request.store(true, Ordering::Release);
        } else {
            self.demand.add(n);
        }
        self.drain(true);
    }

    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        self.drain(true);
    }
}
