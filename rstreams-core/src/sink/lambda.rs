//! [`LambdaSubscriber`]: a subscriber made of closures.

use std::cell::OnceCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex};

use crate::scheduler::deadline;
use crate::support::{catch_panic, UNBOUNDED};
use crate::{Error, Publisher, Subscriber, Subscription};

use super::end::{block_until_end, EndSender};

/// A subscriber that calls `on_next` for each element; built on with
/// [`on_error`](LambdaSubscriber::on_error), [`on_complete`](LambdaSubscriber::on_complete) and
/// [`batch`](LambdaSubscriber::batch).
///
/// ```
/// use rstreams::{sink, source, Publisher};
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
///
/// let sum = Arc::new(AtomicU64::new(0));
/// let s = sum.clone();
/// let subscriber = sink::for_each(move |x: u64| {
///     s.fetch_add(x, Ordering::Relaxed);
/// })
/// .batch(16); // request 16 at a time instead of everything at once
/// let handle = subscriber.handle();
/// source::range(1, 100).subscribe(subscriber);
/// handle.wait().unwrap();
/// assert_eq!(sum.load(Ordering::Relaxed), 5050);
/// ```
pub fn for_each<T, F>(on_next: F) -> LambdaSubscriber<T, F>
where
    F: FnMut(T) + Send,
{
    LambdaSubscriber::new(on_next)
}

/// A subscriber made of closures, with a request batch and a handle for cancelling and waiting.
///
/// # Backpressure
///
/// Requests `batch` elements on subscribe (unbounded by default) and, each time three quarters
/// of a batch have arrived, requests that many again: at most `batch` are outstanding.
///
/// # Errors and panics
///
/// A panic in `on_next` cancels the subscription and ends the handle (and [`run`](Self::run))
/// with an error of kind [`Panic`](crate::ErrorKind::Panic); a panic in `on_error` or
/// `on_complete` is caught the same way. The closures are never called after the end. A sink
/// dropped before its stream ended (a publisher that lost it without a terminal signal) ends
/// its handle with a [`Protocol`](crate::ErrorKind::Protocol) error naming §1.4 (§1.9 if it
/// never had a subscription), rather than leaving a waiter blocked forever.
pub struct LambdaSubscriber<T, F> {
    on_next: F,
    on_error: Option<Box<dyn FnOnce(Error) + Send>>,
    on_complete: Option<Box<dyn FnOnce() + Send>>,
    batch: u64,
    /// How many elements are requested again each time: three quarters of `batch`, or
    /// `UNBOUNDED`.
    limit: u64,
    /// Elements still to arrive before the next replenish: counts down from `limit`, and the
    /// element that brings it to 0 requests `limit` more and resets it. One decrement and one
    /// compare per element, on a field only `on_next` touches (signals are serial, §1.3).
    /// Not used under unbounded demand.
    left: u64,
    subscription: Option<Arc<dyn Subscription>>,
    /// The state [`SubscriberHandle`]s share: made by the first [`handle`](Self::handle) call,
    /// so a sink nobody holds a handle to allocates nothing for it.
    shared: OnceCell<Arc<Shared>>,
    /// Who learns the end besides the handles: the caller blocked in [`run`](Self::run), or,
    /// once ended without one, the end itself, for a handle made after it.
    ending: Ending,
    done: bool,
    /// `!done && limit == UNBOUNDED`: an element needs neither the end guard nor the replenish
    /// count. One test per element instead of two; set wherever `done` or `limit` change.
    plain: bool,
    _item: PhantomData<fn(T)>,
}

/// [`LambdaSubscriber::ending`]'s states.
enum Ending {
    /// Nobody blocks in `run` (or the end went to the caller that did), and the stream has
    /// not ended without one.
    Open,
    /// A caller blocks in `run` for the end.
    Run(EndSender),
    /// Ended with no caller in `run`: kept for a handle made afterwards.
    Ended(Result<(), Error>),
}

struct Shared {
    end: Mutex<End>,
    ended: Condvar,
}

/// How the stream ended, who waits for it asynchronously, and the upstream the handle cancels.
/// One lock for all of it: the sink's subscribe and end each take it once.
struct End {
    /// `Some` once the stream ended or the handle cancelled; never changes after that. A
    /// subscription that arrives after it is cancelled at once.
    result: Option<Result<(), Error>>,
    /// The upstream's subscription, for [`SubscriberHandle::cancel`]: `None` before
    /// `on_subscribe` and once `result` is set (released at the end, §1.6, §3.13).
    upstream: Option<Arc<dyn Subscription>>,
    /// The wakers of pending [`WaitAsync`] futures, by the future's id: one entry per future
    /// however often it is polled.
    wakers: Vec<(u64, Waker)>,
    next_id: u64,
}

impl Shared {
    /// Records `result` as the end unless one is recorded already, releases the upstream's
    /// subscription (cancelling it first when `cancel`: the handle's cancel; a sink that
    /// received its end only drops it, §1.6), then wakes every waiter, blocking or
    /// asynchronous, so that a waiter sees the upstream cancelled. Returns the recorded end.
    #[inline]
    fn end_with(&self, result: Result<(), Error>, cancel: bool) -> Result<(), Error> {
        let mut end = self.end.lock();
        let recorded = end.result.get_or_insert(result).clone();
        let upstream = end.upstream.take();
        let wakers = std::mem::take(&mut end.wakers);
        drop(end);
        if let Some(upstream) = upstream {
            if cancel {
                upstream.cancel();
            }
        }
        self.ended.notify_all();
        if !wakers.is_empty() {
            wake_all(wakers);
        }
        recorded
    }
}

/// Wakes the pending [`WaitAsync`] futures: outside the lock, as a waker may run code (an
/// executor's scheduling) that polls again. Out of line: most sinks end with nobody awaiting
/// them asynchronously, and then the end only checks the vector's length.
#[cold]
#[inline(never)]
fn wake_all(wakers: Vec<(u64, Waker)>) {
    for (_, waker) in wakers {
        waker.wake();
    }
}

impl<T, F> LambdaSubscriber<T, F>
where
    F: FnMut(T) + Send,
{
    /// A subscriber that calls `on_next` for each element and requests unbounded demand.
    pub fn new(on_next: F) -> Self {
        LambdaSubscriber {
            on_next,
            on_error: None,
            on_complete: None,
            batch: UNBOUNDED,
            limit: UNBOUNDED,
            left: UNBOUNDED,
            subscription: None,
            shared: OnceCell::new(),
            ending: Ending::Open,
            done: false,
            plain: true,
            _item: PhantomData,
        }
    }

    /// Calls `f` with the error if the stream fails.
    pub fn on_error(mut self, f: impl FnOnce(Error) + Send + 'static) -> Self {
        self.on_error = Some(Box::new(f));
        self
    }

    /// Calls `f` when the stream completes.
    pub fn on_complete(mut self, f: impl FnOnce() + Send + 'static) -> Self {
        self.on_complete = Some(Box::new(f));
        self
    }

    /// Requests `batch` elements at a time instead of unbounded demand, replenishing after
    /// three quarters of a batch have arrived. `u64::MAX` means unbounded.
    ///
    /// # Panics
    ///
    /// When `batch` is 0 (nothing would ever be requested).
    pub fn batch(mut self, batch: u64) -> Self {
        assert!(
            batch > 0,
            "LambdaSubscriber::batch: batch must be at least 1 (got 0)"
        );
        self.batch = batch;
        self.limit = if batch == UNBOUNDED {
            UNBOUNDED
        } else {
            (batch - batch / 4).max(1)
        };
        self.left = self.limit;
        self.plain = !self.done && self.limit == UNBOUNDED;
        self
    }

    /// A handle to cancel the subscription or wait for its end, from any thread. The first
    /// call allocates the state the handles share; a sink without a handle has none.
    pub fn handle(&self) -> SubscriberHandle {
        let shared = self.shared.get_or_init(|| {
            // Made late (after on_subscribe, or after the end), it starts from where the sink is.
            Arc::new(Shared {
                end: Mutex::new(End {
                    result: match &self.ending {
                        Ending::Ended(result) => Some(result.clone()),
                        _ => None,
                    },
                    upstream: self.subscription.clone(),
                    wakers: Vec::new(),
                    next_id: 0,
                }),
                ended: Condvar::new(),
            })
        });
        SubscriberHandle {
            shared: Arc::clone(shared),
        }
    }

    /// Subscribes this sink to `publisher` and blocks the calling thread until the stream
    /// ends: `Ok(())` when it completed (or a [handle](Self::handle) cancelled it), the error
    /// otherwise — what [`SubscriberHandle::wait`] returns. The blocking counterpart of
    /// `futures::executor::block_on(stream.for_each(..))`.
    ///
    /// The end comes back through a slot the calling thread keeps between calls, not through
    /// a handle's shared state: nothing is allocated for it once the thread has run one. A
    /// sink with a [handle](Self::handle) ends through the handle's state instead, so that the
    /// handle's `cancel` ends `run` at once, and both report the same end. Waiting parks the
    /// thread; it does not spin.
    ///
    /// It returns when the sink received its end; on a stream that ends on another thread,
    /// the sink and what its closures captured may be dropped a moment later, there.
    ///
    /// # Errors
    ///
    /// The stream's error; a panic in a closure (kind [`Panic`](crate::ErrorKind::Panic));
    /// and, if the publisher drops the sink without an end (breaking §1.4/§1.5), a
    /// [`Protocol`](crate::ErrorKind::Protocol) error naming §1.4 instead of waiting forever
    /// (§1.9 if it dropped it before `on_subscribe`).
    ///
    /// Do not call it on a thread that the publisher needs in order to make progress (a
    /// single-threaded scheduler's only thread): it would wait forever.
    ///
    /// ```
    /// use rstreams::ops::PublisherExt;
    /// use rstreams::{sink, source, Error};
    ///
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let tens = source::range(1, 3).map(|x| x * 10);
    /// sink::for_each(move |x: u64| tx.send(x).unwrap()).run(&tens).unwrap();
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), vec![10, 20, 30]);
    ///
    /// let failed = sink::for_each(|_: u64| {}).run(&source::fail(Error::msg("down")));
    /// assert_eq!(failed.unwrap_err().message(), "down");
    /// ```
    pub fn run<P>(mut self, publisher: &P) -> Result<(), Error>
    where
        P: Publisher<Item = T> + ?Sized,
        T: 'static,
        F: 'static,
    {
        if self.shared.get().is_some() {
            return self.run_with_handle(publisher);
        }
        block_until_end(|end| {
            self.ending = Ending::Run(end);
            publisher.subscribe(self);
        })
    }

    /// `run` for a sink with a handle: through the handle's state, which its `cancel` ends at
    /// once. Out of line, so that `run` without one inlines a single copy of the subscribe.
    #[cold]
    #[inline(never)]
    fn run_with_handle<P>(self, publisher: &P) -> Result<(), Error>
    where
        P: Publisher<Item = T> + ?Sized,
        T: 'static,
        F: 'static,
    {
        let handle = self.handle();
        publisher.subscribe(self);
        handle.wait()
    }

    /// Three quarters of a batch arrived: asks for that many again and starts counting down
    /// anew. Once per `limit` elements.
    #[cold]
    fn replenish(&mut self) {
        self.left = self.limit;
        if let Some(s) = &self.subscription {
            s.request(self.limit);
        }
    }

    /// Calls the closure; a panic in it cancels the upstream and ends the stream with the
    /// error. Returns whether the closure returned.
    #[inline]
    fn call(&mut self, item: T) -> bool {
        match catch_panic("for_each closure", || (self.on_next)(item)) {
            Ok(()) => true,
            Err(error) => {
                if let Some(s) = self.subscription.take() {
                    s.cancel();
                }
                self.finish(Err(error));
                false
            }
        }
    }

    /// Marks the end: nothing more is called (§1.7).
    fn end(&mut self) {
        self.done = true;
        self.plain = false;
    }

    fn finish(&mut self, result: Result<(), Error>) {
        self.end();
        self.subscription = None;
        // Released, not cancelled: the upstream ended, or was cancelled already.
        // A handle made while `run` waits (by whoever holds the sink) may have recorded an end
        // first (its cancel): `run` reports the same one.
        let result = match self.shared.get() {
            Some(shared) => shared.end_with(result, false),
            None => result,
        };
        if let Ending::Run(end) = std::mem::replace(&mut self.ending, Ending::Open) {
            end.send(result);
        } else {
            self.ending = Ending::Ended(result);
        }
    }
}

impl<T, F> Subscriber<T> for LambdaSubscriber<T, F>
where
    F: FnMut(T) + Send,
{
    #[inline]
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if self.subscription.is_some() || self.done {
            subscription.cancel(); // §2.5
            return;
        }
        if let Some(shared) = self.shared.get() {
            let mut end = shared.end.lock();
            if end.result.is_some() {
                // The handle cancelled before the subscription arrived.
                drop(end);
                subscription.cancel();
                self.end();
                return;
            }
            end.upstream = Some(Arc::clone(&subscription));
        }
        // Kept before the request: elements it brings at once may replenish through it.
        let subscription = self.subscription.insert(subscription);
        subscription.request(self.batch);
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        // Live and unbounded: just the closure. A source's loop hoists this one test.
        if self.plain {
            self.call(item);
            return;
        }
        if self.done {
            return; // §2.8: elements in flight after a cancel are tolerated
        }
        if self.call(item) {
            self.left -= 1;
            if self.left == 0 {
                self.replenish();
            }
        }
    }

    fn on_error(&mut self, error: Error) {
        if self.done {
            return;
        }
        let result = match self.on_error.take() {
            Some(f) => {
                let e = error.clone();
                catch_panic("on_error closure", move || f(e)).map(|()| Err(error))
            }
            None => Ok(Err(error)),
        };
        self.finish(result.unwrap_or_else(Err));
    }

    fn on_complete(&mut self) {
        if self.done {
            return;
        }
        let result = match self.on_complete.take() {
            Some(f) => catch_panic("on_complete closure", f),
            None => Ok(()),
        };
        self.finish(result);
    }
}

impl<T, F> Drop for LambdaSubscriber<T, F> {
    /// A sink dropped before its stream ended (a publisher that lost it, or one never
    /// subscribed) ends its handle and its `run` with a §1.4 (§1.9: never subscribed) error
    /// rather than leaving them waiting; one a handle cancelled gives them the cancel's
    /// `Ok(())`.
    fn drop(&mut self) {
        let run = matches!(self.ending, Ending::Run(_));
        if !run && (self.done || self.shared.get().is_none()) {
            return; // ended, or nobody waits
        }
        let never_subscribed = self.subscription.is_none() && !self.done;
        let dropped = Err(if never_subscribed {
            Error::protocol(
                "1.9",
                "the subscriber was dropped without a subscription: never subscribed, \
                     or its publisher dropped it before on_subscribe",
            )
        } else {
            Error::protocol(
                "1.4",
                "the subscriber was dropped before its stream ended: no on_complete or \
                     on_error",
            )
        });
        // One a handle cancelled (or that ended meanwhile) keeps the end recorded first.
        let result = match self.shared.get() {
            Some(shared) => shared.end_with(dropped, false),
            None => dropped,
        };
        if let Ending::Run(end) = std::mem::replace(&mut self.ending, Ending::Open) {
            end.send(result);
        }
    }
}

impl<T, F> fmt::Debug for LambdaSubscriber<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LambdaSubscriber")
            .field("batch", &self.batch)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// Cancels a [`LambdaSubscriber`]'s subscription or waits for its end, from any thread.
#[derive(Clone)]
pub struct SubscriberHandle {
    shared: Arc<Shared>,
}

impl SubscriberHandle {
    /// Cancels the subscription (now, or as soon as it arrives). The handle then ends with
    /// `Ok(())` if the stream had not ended already.
    pub fn cancel(&self) {
        // An end recorded before the cancel stays the end; the handle only reads it in `wait`.
        let _ = self.shared.end_with(Ok(()), true);
    }

    /// Whether the stream has ended (completed, failed, or was cancelled), or the sink was
    /// dropped without an end.
    pub fn is_done(&self) -> bool {
        self.shared.end.lock().result.is_some()
    }

    /// Blocks until the stream ends: `Ok(())` when it completed or was cancelled, the error
    /// when it failed or a closure panicked. A sink dropped without an end ends it with a
    /// [`Protocol`](crate::ErrorKind::Protocol) error: §1.4 when its publisher dropped it
    /// after `on_subscribe`, §1.9 when it never got a subscription (never subscribed, or
    /// dropped before `on_subscribe`).
    #[inline]
    pub fn wait(&self) -> Result<(), Error> {
        let mut end = self.shared.end.lock();
        loop {
            if let Some(result) = end.result.as_ref() {
                return result.clone();
            }
            self.shared.ended.wait(&mut end);
        }
    }

    /// Like [`wait`](Self::wait), but gives up after `timeout` and returns `None`. A timeout
    /// too long to be practical (up to `Duration::MAX`) waits "forever" (see
    /// [`deadline`]).
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Result<(), Error>> {
        let until = deadline(Instant::now(), timeout);
        let mut end = self.shared.end.lock();
        loop {
            if let Some(result) = end.result.as_ref() {
                return Some(result.clone());
            }
            if self.shared.ended.wait_until(&mut end, until) {
                return end.result.clone();
            }
        }
    }
}

impl SubscriberHandle {
    /// A future of the stream's end: what [`wait`](Self::wait) returns, without blocking a
    /// thread — `Ok(())` when the stream completed or was cancelled, the error when it failed
    /// or a closure panicked.
    ///
    /// It needs no particular runtime: the sink wakes the future's `Waker` at the terminal
    /// signal. Await it from async code instead of calling `wait`, which on a runtime's thread
    /// would block the very thread the stream may need.
    ///
    /// # Cancel
    ///
    /// Dropping the future before it resolves cancels the subscription (as
    /// [`cancel`](Self::cancel) does): a pipeline awaited inside a `select!` or a timeout that
    /// gives up is stopped, not left running. A future that resolved cancels nothing.
    ///
    /// ```
    /// use futures::executor::block_on;
    /// use rstreams::{sink, source, Publisher};
    ///
    /// let subscriber = sink::for_each(|x: u64| assert!(x < 3));
    /// let handle = subscriber.handle();
    /// source::range(0, 3).subscribe(subscriber);
    /// assert!(block_on(handle.wait_async()).is_ok());
    /// ```
    pub fn wait_async(&self) -> WaitAsync {
        let id = {
            let mut end = self.shared.end.lock();
            end.next_id += 1;
            end.next_id
        };
        WaitAsync {
            handle: self.clone(),
            id,
            resolved: false,
        }
    }
}

/// The future returned by [`SubscriberHandle::wait_async`]: resolves to the stream's end;
/// dropping it unresolved cancels the subscription.
#[must_use = "futures do nothing unless awaited; dropping this one cancels the subscription"]
pub struct WaitAsync {
    handle: SubscriberHandle,
    id: u64,
    resolved: bool,
}

impl Future for WaitAsync {
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut end = this.handle.shared.end.lock();
        if let Some(result) = end.result.as_ref() {
            let result = result.clone();
            drop(end);
            this.resolved = true;
            return Poll::Ready(result);
        }
        let id = this.id;
        match end.wakers.iter_mut().find(|(owner, _)| *owner == id) {
            Some((_, waker)) => waker.clone_from(cx.waker()),
            None => end.wakers.push((id, cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for WaitAsync {
    fn drop(&mut self) {
        if self.resolved {
            return;
        }
        let removed = {
            let mut end = self.handle.shared.end.lock();
            let id = self.id;
            let at = end.wakers.iter().position(|(owner, _)| *owner == id);
            at.map(|at| end.wakers.swap_remove(at))
        };
        drop(removed); // outside the lock: dropping a waker may run an executor's code
        self.handle.cancel(); // does nothing if the stream already ended
    }
}

impl fmt::Debug for WaitAsync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitAsync")
            .field("done", &self.handle.is_done())
            .field("resolved", &self.resolved)
            .finish()
    }
}

impl fmt::Debug for SubscriberHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriberHandle")
            .field("done", &self.is_done())
            .finish()
    }
}
