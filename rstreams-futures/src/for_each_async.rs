//! Async consumers: `for_each_async(publisher, f, concurrency)` and the object-safe
//! [`AsyncSubscriber`] with `subscribe_async`. Each requests the next element only when the
//! work on a previous one has finished.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use futures_core::future::{BoxFuture, FusedFuture};
use futures_util::future::CatchUnwind;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use rstreams_core::support::catch_panic;
use rstreams_core::{Error, Publisher};

use crate::inbox::{inbox, Next, Receiver};

/// After this many elements finished in one poll, the future yields to its executor (it is
/// woken again at once), so that a synchronous publisher and work that is always ready do not
/// monopolise an executor thread.
const YIELD_AFTER: u64 = 128;

/// Names a driver in errors.
struct Names {
    stage: &'static str,
    closure: &'static str,
    future: &'static str,
    end: &'static str,
}

const FOR_EACH: Names = Names {
    stage: "for_each_async",
    closure: "for_each_async closure",
    future: "for_each_async future",
    end: "for_each_async end",
};

const SUBSCRIBE: Names = Names {
    stage: "subscribe_async",
    closure: "subscribe_async on_next",
    future: "subscribe_async on_next",
    end: "subscribe_async on_complete / on_error",
};

/// What the work on one element may return: `()` (it cannot fail) or `Result<(), Error>` (an
/// `Err` cancels the subscription and ends the consumer with that error).
///
/// ```
/// use futures::executor::block_on;
/// use rstreams::{source, Error};
/// use rstreams::bridge::for_each_async;
///
/// let result = block_on(for_each_async(source::range(0, 10), |x| async move {
///     if x == 4 {
///         return Err(Error::msg("row 4 is corrupt"));
///     }
///     Ok(())
/// }, 1));
/// assert_eq!(result.unwrap_err().to_string(), "row 4 is corrupt");
/// ```
pub trait Outcome: sealed::Sealed {
    /// The outcome as a result.
    fn into_result(self) -> Result<(), Error>;
}

impl Outcome for () {
    fn into_result(self) -> Result<(), Error> {
        Ok(())
    }
}

impl Outcome for Result<(), Error> {
    fn into_result(self) -> Result<(), Error> {
        self
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for () {}
    impl Sealed for Result<(), rstreams_core::Error> {}
}

/// Runs `f` on every element of `publisher`, with at most `concurrency` futures in flight;
/// resolves when the publisher has ended and every future has finished.
///
/// # Backpressure
///
/// The publisher is subscribed at once; nothing is requested until the returned future is
/// polled. Then `concurrency` elements are requested, and one more each time the future of an
/// element finishes: the elements queued, outstanding and in flight never exceed
/// `concurrency`. With `concurrency` 1 the elements are handled one after the other, in order;
/// with more, their futures run concurrently (on this one task, as
/// `StreamExt::for_each_concurrent` runs them) and may finish in any order.
///
/// # Errors, panics and cancel
///
/// - `f`'s future may return `()` or `Result<(), Error>` ([`Outcome`]). An `Err`, or a panic
///   in `f` or in its future, cancels the subscription, drops the other futures in flight, and
///   resolves to that error (a panic as an error of kind
///   [`Panic`](rstreams_core::ErrorKind::Panic)).
/// - A failed publisher: the futures in flight finish first, then this resolves to the error.
/// - Dropping the returned future cancels the subscription.
///
/// # Panics
///
/// When `concurrency` is 0.
///
/// ```
/// use futures::executor::block_on;
/// use rstreams::source;
/// use rstreams::bridge::for_each_async;
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// let total = AtomicU64::new(0);
/// block_on(for_each_async(source::range(1, 10), |x| {
///     let total = &total;
///     async move {
///         // e.g. write to a database; the next element is requested when this is done
///         total.fetch_add(x, Ordering::Relaxed);
///     }
/// }, 4))
/// .unwrap();
/// assert_eq!(total.load(Ordering::Relaxed), 55);
/// ```
pub fn for_each_async<P, F, Fut>(
    publisher: P,
    f: F,
    concurrency: usize,
) -> ForEachAsync<P::Item, F, Fut>
where
    P: Publisher,
    P::Item: Send + 'static,
    F: FnMut(P::Item) -> Fut,
    Fut: Future,
    Fut::Output: Outcome,
{
    ForEachAsync {
        driver: Driver::new(&publisher, Closure { f }, concurrency, &FOR_EACH),
    }
}

/// The future returned by [`for_each_async`].
#[must_use = "futures do nothing unless polled; nothing is requested until this is awaited"]
pub struct ForEachAsync<T, F, Fut: Future> {
    driver: Driver<T, Closure<F>, Fut>,
}

impl<T, F, Fut> Future for ForEachAsync<T, F, Fut>
where
    F: FnMut(T) -> Fut,
    Fut: Future,
    Fut::Output: Outcome,
{
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().driver.poll(cx)
    }
}

impl<T, F, Fut> FusedFuture for ForEachAsync<T, F, Fut>
where
    F: FnMut(T) -> Fut,
    Fut: Future,
    Fut::Output: Outcome,
{
    fn is_terminated(&self) -> bool {
        self.driver.done
    }
}

// No field is pinned: the futures in flight live in `FuturesUnordered`, which pins them itself.
impl<T, F, Fut: Future> Unpin for ForEachAsync<T, F, Fut> {}

impl<T, F, Fut: Future> fmt::Debug for ForEachAsync<T, F, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ForEachAsync").field(&self.driver).finish()
    }
}

/// A subscriber whose `on_next` is asynchronous: the next element is requested only when the
/// future of a previous `on_next` has finished.
///
/// Object-safe: a consumer chosen at run time is an `Arc<dyn AsyncSubscriber<T>>`. Run it with
/// [`subscribe_async`]. The methods take `&self` because with a concurrency above 1 several
/// `on_next` futures run at once; keep mutable state behind a lock or atomics.
///
/// The trait is written with [`async_trait`](macro@async_trait), which makes it object-safe at
/// the price of one boxed future per call; implement it with `#[async_trait]` too (re-exported
/// as [`crate::async_trait`]). The closure-based [`for_each_async`] has no such box.
///
/// ```
/// use futures::executor::block_on;
/// use rstreams::{source, Error};
/// use rstreams::bridge::{async_trait, subscribe_async, AsyncSubscriber};
/// use std::sync::{Arc, Mutex};
///
/// #[derive(Default)]
/// struct Store {
///     rows: Mutex<Vec<u64>>,
///     done: Mutex<bool>,
/// }
///
/// #[async_trait]
/// impl AsyncSubscriber<u64> for Store {
///     async fn on_next(&self, row: u64) -> Result<(), Error> {
///         // an insert that awaits I/O
///         self.rows.lock().unwrap().push(row);
///         Ok(())
///     }
///     async fn on_complete(&self) {
///         *self.done.lock().unwrap() = true;
///     }
/// }
///
/// let store = Arc::new(Store::default());
/// let consumer: Arc<dyn AsyncSubscriber<u64>> = store.clone();
/// block_on(subscribe_async(source::range(0, 3), consumer, 1)).unwrap();
/// assert_eq!(*store.rows.lock().unwrap(), vec![0, 1, 2]);
/// assert!(*store.done.lock().unwrap());
/// ```
#[async_trait]
pub trait AsyncSubscriber<T: Send + 'static>: Send + Sync {
    /// Handles one element. `Err` cancels the subscription; [`subscribe_async`] then resolves
    /// to that error without calling [`on_error`](Self::on_error) (the subscriber made the
    /// error itself).
    async fn on_next(&self, item: T) -> Result<(), Error>;

    /// The publisher failed; called once every `on_next` in flight has finished. Does nothing
    /// by default.
    async fn on_error(&self, error: Error) {
        let _ = error;
    }

    /// The publisher completed; called once every `on_next` in flight has finished. Does
    /// nothing by default.
    async fn on_complete(&self) {}
}

/// Runs `subscriber` on `publisher` with at most `concurrency` `on_next` futures in flight;
/// resolves when the publisher has ended and `on_complete` / `on_error` has run.
///
/// The backpressure, errors, panics and cancel are those of [`for_each_async`]: `concurrency`
/// elements are requested first, then one more each time an `on_next` future finishes. It
/// resolves to `Ok(())` after `on_complete`, to the publisher's error after `on_error`, or to
/// the error (or panic) of an `on_next`, after cancelling the subscription.
///
/// `subscriber` is an `Arc` so that it may be a trait object (`Arc<dyn AsyncSubscriber<T>>`)
/// and so that the caller can keep a handle on it.
///
/// # Panics
///
/// When `concurrency` is 0.
///
/// ```
/// use futures::executor::block_on;
/// use rstreams::{source, Error};
/// use rstreams::bridge::{async_trait, subscribe_async, AsyncSubscriber};
/// use std::sync::Arc;
///
/// struct RejectOdd;
///
/// #[async_trait]
/// impl AsyncSubscriber<u64> for RejectOdd {
///     async fn on_next(&self, x: u64) -> Result<(), Error> {
///         if x % 2 == 1 { Err(Error::msg(format!("odd: {x}"))) } else { Ok(()) }
///     }
/// }
///
/// let err = block_on(subscribe_async(source::range(0, 10), Arc::new(RejectOdd), 1)).unwrap_err();
/// assert_eq!(err.to_string(), "odd: 1");
/// ```
pub fn subscribe_async<P, S>(
    publisher: P,
    subscriber: Arc<S>,
    concurrency: usize,
) -> SubscribeAsync<P::Item, S>
where
    P: Publisher,
    P::Item: Send + 'static,
    S: AsyncSubscriber<P::Item> + ?Sized + 'static,
{
    SubscribeAsync {
        driver: Driver::new(
            &publisher,
            Subscribed { subscriber },
            concurrency,
            &SUBSCRIBE,
        ),
    }
}

/// The future returned by [`subscribe_async`].
#[must_use = "futures do nothing unless polled; nothing is requested until this is awaited"]
pub struct SubscribeAsync<T: Send + 'static, S: AsyncSubscriber<T> + ?Sized + 'static> {
    driver: Driver<T, Subscribed<S>, BoxFuture<'static, Result<(), Error>>>,
}

impl<T, S> Future for SubscribeAsync<T, S>
where
    T: Send + 'static,
    S: AsyncSubscriber<T> + ?Sized + 'static,
{
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().driver.poll(cx)
    }
}

impl<T, S> FusedFuture for SubscribeAsync<T, S>
where
    T: Send + 'static,
    S: AsyncSubscriber<T> + ?Sized + 'static,
{
    fn is_terminated(&self) -> bool {
        self.driver.done
    }
}

impl<T: Send + 'static, S: AsyncSubscriber<T> + ?Sized + 'static> fmt::Debug
    for SubscribeAsync<T, S>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SubscribeAsync").field(&self.driver).finish()
    }
}

// ===== the driver shared by both =====

/// How a driver handles elements and the end.
trait Handler<T> {
    type Fut: Future;
    /// Starts the work on one element.
    fn start(&mut self, item: T) -> Self::Fut;
    /// The work to run once the publisher has ended and nothing is in flight, if any.
    fn finish(&mut self, end: &Result<(), Error>) -> Option<BoxFuture<'static, ()>>;
}

struct Closure<F> {
    f: F,
}

impl<T, F, Fut> Handler<T> for Closure<F>
where
    F: FnMut(T) -> Fut,
    Fut: Future,
{
    type Fut = Fut;
    fn start(&mut self, item: T) -> Fut {
        (self.f)(item)
    }
    fn finish(&mut self, _end: &Result<(), Error>) -> Option<BoxFuture<'static, ()>> {
        None
    }
}

struct Subscribed<S: ?Sized> {
    subscriber: Arc<S>,
}

impl<T, S> Handler<T> for Subscribed<S>
where
    T: Send + 'static,
    S: AsyncSubscriber<T> + ?Sized + 'static,
{
    type Fut = BoxFuture<'static, Result<(), Error>>;
    fn start(&mut self, item: T) -> Self::Fut {
        let subscriber = Arc::clone(&self.subscriber);
        Box::pin(async move { subscriber.on_next(item).await })
    }
    fn finish(&mut self, end: &Result<(), Error>) -> Option<BoxFuture<'static, ()>> {
        let subscriber = Arc::clone(&self.subscriber);
        Some(match end.clone() {
            Ok(()) => Box::pin(async move { subscriber.on_complete().await }),
            Err(error) => Box::pin(async move { subscriber.on_error(error).await }),
        })
    }
}

/// The work run at the end (`on_complete` / `on_error`), with its panics caught.
type Closing = CatchUnwind<AssertUnwindSafe<BoxFuture<'static, ()>>>;

struct Driver<T, H, Fut: Future> {
    receiver: Receiver<T>,
    handler: H,
    in_flight: FuturesUnordered<CatchUnwind<AssertUnwindSafe<Fut>>>,
    concurrency: usize,
    started: bool,
    /// The end of the publisher, once every element has been handled; with the closing work
    /// (on_complete / on_error), if any.
    finishing: Option<(Result<(), Error>, Option<Closing>)>,
    done: bool,
    names: &'static Names,
}

impl<T, H, Fut> Driver<T, H, Fut>
where
    T: Send + 'static,
    H: Handler<T, Fut = Fut>,
    Fut: Future,
    Fut::Output: Outcome,
{
    fn new<P: Publisher<Item = T>>(
        publisher: &P,
        handler: H,
        concurrency: usize,
        names: &'static Names,
    ) -> Self {
        assert!(
            concurrency > 0,
            "{}: concurrency must be at least 1 (valid range 1..=usize::MAX), got 0",
            names.stage
        );
        let (subscriber, receiver) = inbox(concurrency, names.stage);
        publisher.subscribe(subscriber);
        Driver {
            receiver,
            handler,
            in_flight: FuturesUnordered::new(),
            concurrency,
            started: false,
            finishing: None,
            done: false,
            names,
        }
    }
}

impl<T, H, Fut> Driver<T, H, Fut>
where
    H: Handler<T, Fut = Fut>,
    Fut: Future,
    Fut::Output: Outcome,
{
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        assert!(!self.done, "{} polled after it completed", self.names.stage);
        if !self.started {
            self.started = true;
            self.receiver.request(self.concurrency as u64);
        }
        let mut budget = YIELD_AFTER;
        loop {
            if let Some((end, closing)) = &mut self.finishing {
                if let Some(work) = closing {
                    match work.poll_unpin(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(payload)) => {
                            self.done = true;
                            return Poll::Ready(Err(Error::from_panic(payload, self.names.end)));
                        }
                    }
                }
                self.done = true;
                return Poll::Ready(end.clone());
            }
            // Start the work on what has arrived.
            while self.in_flight.len() < self.concurrency {
                let Some(item) = self.receiver.try_pop() else {
                    break;
                };
                if let Err(error) = self.start(item) {
                    return self.fail(error);
                }
            }
            // Collect what has finished, and ask for as many again.
            let mut finished = 0u64;
            while let Poll::Ready(Some(outcome)) = self.in_flight.poll_next_unpin(cx) {
                match outcome {
                    Ok(outcome) => {
                        if let Err(error) = outcome.into_result() {
                            return self.fail(error);
                        }
                    }
                    Err(payload) => {
                        return self.fail(Error::from_panic(payload, self.names.future));
                    }
                }
                finished += 1;
            }
            if finished > 0 {
                // The elements may arrive synchronously, inside this call.
                self.receiver.request(finished);
                budget = budget.saturating_sub(finished);
                if budget == 0 {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                continue;
            }
            if self.in_flight.len() >= self.concurrency {
                return Poll::Pending; // woken when one finishes
            }
            match self.receiver.poll_next(cx) {
                Next::Item(item) => {
                    if let Err(error) = self.start(item) {
                        return self.fail(error);
                    }
                }
                Next::End(end) => {
                    if !self.in_flight.is_empty() {
                        return Poll::Pending; // the end waits for the work in flight
                    }
                    let closing = match catch_panic(self.names.end, || self.handler.finish(&end)) {
                        Ok(closing) => closing,
                        Err(error) => {
                            self.done = true;
                            return Poll::Ready(Err(error));
                        }
                    };
                    self.finishing =
                        Some((end, closing.map(|f| AssertUnwindSafe(f).catch_unwind())));
                }
                Next::Pending => return Poll::Pending,
            }
        }
    }

    fn start(&mut self, item: T) -> Result<(), Error> {
        let handler = &mut self.handler;
        let future = catch_panic(self.names.closure, move || handler.start(item))?;
        self.in_flight.push(AssertUnwindSafe(future).catch_unwind());
        Ok(())
    }

    fn fail(&mut self, error: Error) -> Poll<Result<(), Error>> {
        self.receiver.cancel();
        self.in_flight.clear();
        self.done = true;
        Poll::Ready(Err(error))
    }
}

impl<T, H, Fut: Future> fmt::Debug for Driver<T, H, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver")
            .field("concurrency", &self.concurrency)
            .field("in_flight", &self.in_flight.len())
            .field("queued", &self.receiver.len())
            .field("done", &self.done)
            .finish()
    }
}
