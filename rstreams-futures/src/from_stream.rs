//! `from_stream`, `from_try_stream`, `defer_stream`, `from_future`, `defer_future`: publishers
//! that poll a `Stream` (or a `Future`) exactly as far as demand allows.

use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};

use futures_core::Stream;
use futures_util::stream::{once, Once};
use rstreams_core::support::{catch_panic, Engine, EngineConfig, Pull, Pulled, Wake};
use rstreams_core::sync::{AtomicBool, Mutex, Ordering};
use rstreams_core::{Error, NoopSubscription, Publisher, Subscriber};

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
/// use rstreams::sink;
/// use rstreams::bridge::from_stream;
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
        self.stream.lock().is_some()
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
        let taken = self.stream.lock().take();
        match taken {
            Some(stream) => drive::<Plain, _, _>(stream, subscriber, STREAM),
            None => reject(subscriber, used_up(STREAM, "defer_stream(|| ...)")),
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
/// use rstreams::sink;
/// use rstreams::bridge::defer_stream;
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
            Ok(stream) => drive::<Plain, _, _>(stream, subscriber, STREAM),
            Err(error) => reject(subscriber, error),
        }
    }
}

/// A publisher that emits the `Ok` values of a fallible `stream` (`Stream<Item = Result<T, E>>`)
/// and ends with `on_error` at its first `Err`: the `TryStream` counterpart of
/// [`from_stream`].
///
/// The error is converted with `Into<Error>` (rstreams' [`Error`] converts from
/// `std::io::Error`, `String`, `&str` and `Box<dyn Error + Send + Sync>`); it is named as
/// raised in stage `from_try_stream` unless it already names a stage. After an `Err` the
/// stream is not polled again: it is dropped, as on cancel. An `Err` is an item like any
/// other, found only when the stream is polled for demand: a subscriber that requests
/// nothing sees no error.
///
/// Otherwise as [`from_stream`]: polled only for outstanding demand, one poll per element
/// requested, woken by the stream's own waker; single use (a second subscriber is rejected
/// naming §1.9); a panic in `poll_next` fails the stream.
///
/// ```
/// use futures::stream;
/// use rstreams::sink;
/// use rstreams::bridge::from_try_stream;
///
/// let lines = from_try_stream(stream::iter(vec![
///     Ok("a"),
///     Ok("b"),
///     Err(std::io::Error::other("disk gone")),
///     Ok("never"),
/// ]));
/// let error = sink::collect(&lines).unwrap_err();
/// assert!(error.to_string().contains("disk gone"));
/// assert_eq!(error.stage(), Some("from_try_stream"));
/// ```
pub fn from_try_stream<S, T, E>(stream: S) -> FromTryStream<S>
where
    S: Stream<Item = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<Error> + Send + 'static,
{
    FromTryStream {
        stream: Mutex::new(Some(stream)),
    }
}

/// The publisher returned by [`from_try_stream`].
#[must_use = "publishers do nothing until subscribed"]
pub struct FromTryStream<S> {
    stream: Mutex<Option<S>>,
}

impl<S> FromTryStream<S> {
    /// Whether the stream is still there for a subscriber (no one has subscribed yet).
    ///
    /// ```
    /// use futures::stream;
    /// use rstreams::sink;
    /// use rstreams::bridge::from_try_stream;
    ///
    /// let numbers = from_try_stream(stream::iter(vec![Ok::<u32, String>(1)]));
    /// assert!(numbers.is_available());
    /// assert_eq!(sink::collect(&numbers).unwrap(), vec![1]);
    /// assert!(!numbers.is_available());
    /// ```
    pub fn is_available(&self) -> bool {
        self.stream.lock().is_some()
    }
}

impl<S> fmt::Debug for FromTryStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromTryStream")
            .field("available", &self.is_available())
            .finish()
    }
}

impl<S, T, E> Publisher for FromTryStream<S>
where
    S: Stream<Item = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<Error> + Send + 'static,
{
    type Item = T;

    fn subscribe<Sub: Subscriber<T> + 'static>(&self, subscriber: Sub) {
        let taken = self.stream.lock().take();
        match taken {
            Some(stream) => drive::<Fallible, _, _>(stream, subscriber, TRY_STREAM),
            None => reject(
                subscriber,
                used_up(TRY_STREAM, "source::defer(|| from_try_stream(...))"),
            ),
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
/// use rstreams::sink;
/// use rstreams::bridge::from_future;
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
        let taken = self.inner.stream.lock().take();
        match taken {
            Some(stream) => drive::<Plain, _, _>(stream, subscriber, FUTURE),
            None => reject(subscriber, used_up(FUTURE, "defer_future(|| ...)")),
        }
    }
}

/// A publisher that calls `make` for each subscription and emits the value of the future it
/// returns, as [`from_future`] does; it can be subscribed any number of times.
///
/// ```
/// use rstreams::sink;
/// use rstreams::bridge::defer_future;
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
            Ok(future) => drive::<Plain, _, _>(once(future), subscriber, FUTURE),
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

const TRY_STREAM: Names = Names {
    stage: "from_try_stream",
    what: "stream",
    polled: "from_try_stream stream",
};

const FUTURE: Names = Names {
    stage: "from_future",
    what: "future",
    polled: "from_future future",
};

/// `remedy`: what makes one per subscriber, e.g. `defer_stream(|| ...)`.
fn used_up(names: Names, remedy: &str) -> Error {
    Error::protocol(
        "1.9",
        format!(
            "{}: single use, and already subscribed once (a {} can be gone through only once); \
             use {remedy} for a publisher that makes one per subscriber",
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

/// How a driven stream's items become elements: as they are ([`Plain`]), or `Ok` as an
/// element and `Err` as the end ([`Fallible`]).
trait Unpack<I> {
    /// The element emitted.
    type Item: Send + 'static;
    /// The element, or the error that ends the stream.
    fn unpack(item: I) -> Result<Self::Item, Error>;
}

/// Every item is an element.
struct Plain;

impl<I: Send + 'static> Unpack<I> for Plain {
    type Item = I;
    fn unpack(item: I) -> Result<I, Error> {
        Ok(item)
    }
}

/// `Ok(value)` is an element, `Err(error)` ends the stream with `on_error`.
struct Fallible;

impl<T: Send + 'static, E: Into<Error>> Unpack<Result<T, E>> for Fallible {
    type Item = T;
    fn unpack(item: Result<T, E>) -> Result<T, Error> {
        item.map_err(Into::into)
    }
}

/// Subscribes `subscriber` to `stream`: `on_subscribe`, then polls as demand allows. The
/// subscription is an [`Engine`] around a [`StreamPull`]; the stream's waker wakes that engine.
fn drive<U, S, Sub>(stream: S, subscriber: Sub, names: Names)
where
    U: Unpack<S::Item> + 'static,
    S: Stream + Send + 'static,
    Sub: Subscriber<U::Item> + 'static,
{
    Engine::start_cyclic(
        |engine| {
            let engine: Weak<dyn Wake> = engine.clone();
            StreamPull::<S, U>::new(stream, engine, names)
        },
        subscriber,
        EngineConfig::new(),
    );
}

/// The stream's waker: records the wake-up and wakes the engine, if the subscription is still
/// alive. [`Engine::wake`] stops a panicking subscriber there: it never unwinds into whoever
/// woke the stream (an executor's thread).
struct StreamWaker {
    engine: Weak<dyn Wake>,
    /// Woken since the last poll. A stream that returned `Pending` is polled again only after
    /// that (a pass run for new demand does not poll it in vain).
    woken: AtomicBool,
}

impl std::task::Wake for StreamWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        if let Some(engine) = self.engine.upgrade() {
            engine.wake();
        }
    }
}

/// The stream as a [`Pull`]: each `pull` polls it once, with the waker of its engine; `U`
/// turns each item into an element or the end.
struct StreamPull<S: Stream, U: Unpack<S::Item>> {
    stream: Pin<Box<S>>,
    /// The waker handed to the stream, and its record of wake-ups.
    signal: Arc<StreamWaker>,
    waker: Waker,
    /// The last poll returned `Pending`.
    pending: bool,
    /// The last `pull` delivered the element that met the demand: `poll_end` may look for the
    /// end. Cleared by `poll_end`, so a pass without demand (a wake-up, a request that emits
    /// nothing) does not poll the stream.
    met_demand: bool,
    /// An item the stream yielded although its size hint said it had none left, polled for
    /// completion after the demand was met: emitted on the next demand.
    lookahead: Option<U::Item>,
    names: Names,
    _unpack: PhantomData<fn() -> U>,
}

impl<S: Stream, U: Unpack<S::Item>> StreamPull<S, U> {
    fn new(stream: S, engine: Weak<dyn Wake>, names: Names) -> Self {
        let signal = Arc::new(StreamWaker {
            engine,
            woken: AtomicBool::new(false),
        });
        StreamPull {
            stream: Box::pin(stream),
            waker: Waker::from(Arc::clone(&signal)),
            signal,
            pending: false,
            met_demand: false,
            lookahead: None,
            names,
            _unpack: PhantomData,
        }
    }

    /// Polls the stream once, unless it is pending and has not been woken since.
    fn poll(&mut self) -> Pulled<U::Item> {
        // A wake-up during the poll below sets the flag again, so none is missed.
        let woken = self.signal.woken.swap(false, Ordering::AcqRel);
        if self.pending && !woken {
            return Pulled::Pending; // still waiting for the stream's wake-up
        }
        let mut cx = Context::from_waker(&self.waker);
        let stream = self.stream.as_mut();
        let polled = match catch_panic(self.names.polled, || stream.poll_next(&mut cx)) {
            Ok(Poll::Ready(Some(item))) => match U::unpack(item) {
                Ok(item) => Pulled::Ready(item),
                Err(error) => Pulled::Error(error.in_stage(self.names.stage)),
            },
            Ok(Poll::Ready(None)) => Pulled::End,
            Ok(Poll::Pending) => Pulled::Pending,
            Err(error) => Pulled::Error(error.in_stage(self.names.stage)),
        };
        self.pending = matches!(polled, Pulled::Pending);
        polled
    }
}

impl<S, U> Pull for StreamPull<S, U>
where
    S: Stream + Send + 'static,
    U: Unpack<S::Item> + 'static,
{
    type Item = U::Item;

    fn name(&self) -> &'static str {
        self.names.stage
    }

    fn pull(&mut self, demand: u64) -> Pulled<U::Item> {
        let pulled = match self.lookahead.take() {
            Some(item) => Pulled::Ready(item),
            None => self.poll(),
        };
        self.met_demand = demand == 1 && matches!(pulled, Pulled::Ready(_));
        pulled
    }

    /// All demand is met. If the stream says it is exhausted, find its end now so that
    /// completion does not wait for another request; an element found instead waits for
    /// demand.
    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        if !std::mem::take(&mut self.met_demand)
            || self.lookahead.is_some()
            || self.stream.size_hint().1 != Some(0)
        {
            return None;
        }
        match self.poll() {
            Pulled::Ready(item) => {
                self.lookahead = Some(item);
                None
            }
            Pulled::Pending => None,
            Pulled::End => Some(Ok(())),
            Pulled::Error(error) => Some(Err(error)),
        }
    }
}
