//! `forward_to(publisher, sink)` and `sink_subscriber(sink)`: a `futures::Sink` as the consumer
//! of a publisher, driven by a future the caller awaits.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::future::FusedFuture;
use futures_sink::Sink;
use pin_project_lite::pin_project;
use rstreams_core::support::catch_panic;
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

use crate::inbox::{inbox, InboxSubscriber, Next, Receiver};

/// After this many elements in one poll, the future yields to its executor (it is woken again
/// at once), so that a synchronous publisher feeding a sink that is always ready does not
/// monopolise an executor thread.
const YIELD_AFTER: u32 = 128;

/// Sends every element of `publisher` into `sink`, requesting one element at a time as the
/// sink becomes ready; the returned future completes when the publisher has completed and the
/// sink is closed.
///
/// The executor-agnostic way to feed a sink: nothing is spawned, the caller awaits (or spawns)
/// the future on whatever runs it.
///
/// # Backpressure
///
/// The publisher is subscribed at once; nothing is requested until the future is polled.
/// Then the future waits for [`poll_ready`](Sink::poll_ready), requests **one** element, sends
/// it with [`start_send`](Sink::start_send), and repeats: the publisher never has more than one
/// element outstanding, and a slow sink slows the publisher down. While it waits for the
/// publisher, the future flushes the sink, so sent elements do not linger in its buffer.
///
/// # The end
///
/// - The publisher completes: the sink is closed ([`poll_close`](Sink::poll_close), which
///   flushes), then the future resolves to `Ok(())`.
/// - The publisher fails: the future resolves to `Err(error)` at once; the sink is neither
///   flushed nor closed (as `StreamExt::forward` does with an error), it is dropped with the
///   future.
/// - The sink fails: the subscription is cancelled, and the future resolves to the sink's
///   error, wrapped in an [`Error`] (reachable with [`Error::downcast_ref`]; a sink whose error
///   type is `Error` itself is passed through as is).
/// - The sink panics: as for a failing sink, with an error of kind
///   [`Panic`](rstreams_core::ErrorKind::Panic); the sink is not used again.
/// - Dropping the future cancels the subscription.
///
/// ```
/// use futures::executor::block_on;
/// use futures::channel::mpsc;
/// use futures::StreamExt;
/// use rstreams::source;
/// use rstreams::bridge::forward_to;
///
/// let (tx, rx) = mpsc::channel::<u64>(2);
/// let forwarding = forward_to(source::range(0, 5), tx);
/// let (sent, received) = block_on(futures::future::join(forwarding, rx.collect::<Vec<_>>()));
/// sent.unwrap();
/// assert_eq!(received, vec![0, 1, 2, 3, 4]);
/// ```
pub fn forward_to<P, Si>(publisher: P, sink: Si) -> Forward<Si, P::Item>
where
    P: Publisher,
    P::Item: Send + 'static,
    Si: Sink<P::Item>,
    Si::Error: std::error::Error + Send + Sync + 'static,
{
    let (subscriber, forward) = sink_subscriber(sink);
    publisher.subscribe(subscriber);
    forward
}

/// Splits a sink into a [`SinkSubscriber`] (subscribe it to any publisher) and the [`Forward`]
/// future that moves what it receives into the sink.
///
/// [`forward_to`] is this plus the `subscribe`; use the pair when the publisher is subscribed
/// elsewhere (a `BoxPublisher` handed out by another component, a publisher that subscribes on
/// a scheduler). The subscriber requests nothing unless the future is being polled.
///
/// ```
/// use futures::executor::block_on;
/// use rstreams::{source, Publisher};
/// use rstreams::bridge::sink_subscriber;
///
/// let (subscriber, forward) = sink_subscriber::<u64, _>(Vec::new());
/// source::range(0, 3).subscribe(subscriber);
/// block_on(forward).unwrap();
/// ```
pub fn sink_subscriber<T, Si>(sink: Si) -> (SinkSubscriber<T>, Forward<Si, T>)
where
    T: Send + 'static,
    Si: Sink<T>,
    Si::Error: std::error::Error + Send + Sync + 'static,
{
    let (subscriber, receiver) = inbox(1, "forward_to");
    (
        SinkSubscriber { inner: subscriber },
        Forward {
            sink,
            receiver,
            held: None,
            outstanding: false,
            closing: false,
            done: false,
        },
    )
}

/// The subscriber half of [`sink_subscriber`]: hands each element to its [`Forward`] future.
///
/// It asks for elements only as the future finds the sink ready (one at a time), and it keeps
/// the subscriber rules: a second subscription is cancelled (§2.5), elements after a cancel
/// are tolerated (§2.8), `on_complete` / `on_error` never call the subscription (§2.3). If the
/// publisher drops it without a terminal signal, the future fails instead of waiting forever.
pub struct SinkSubscriber<T> {
    inner: InboxSubscriber<T>,
}

impl<T: Send> Subscriber<T> for SinkSubscriber<T> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        self.inner.on_subscribe(subscription)
    }
    fn on_next(&mut self, item: T) {
        self.inner.on_next(item)
    }
    fn on_error(&mut self, error: Error) {
        self.inner.on_error(error)
    }
    fn on_complete(&mut self) {
        self.inner.on_complete()
    }
}

impl<T> fmt::Debug for SinkSubscriber<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SinkSubscriber").field(&self.inner).finish()
    }
}

pin_project! {
    /// The future of [`forward_to`] and [`sink_subscriber`]: drives elements into the sink;
    /// resolves when the sink is closed after the publisher completed, or with the first error.
    ///
    /// Dropping it cancels the subscription.
    #[must_use = "futures do nothing unless polled; nothing is requested until this is awaited"]
    pub struct Forward<Si, T> {
        #[pin]
        sink: Si,
        receiver: Receiver<T>,
        // An element received and not yet sent (waiting for poll_ready).
        held: Option<T>,
        // One element has been requested and has not arrived.
        outstanding: bool,
        // The publisher completed; the sink is being closed.
        closing: bool,
        done: bool,
    }
}

impl<Si, T> Future for Forward<Si, T>
where
    Si: Sink<T>,
    Si::Error: std::error::Error + Send + Sync + 'static,
{
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        assert!(!*this.done, "Forward polled after it completed");
        let mut budget = YIELD_AFTER;
        loop {
            if *this.closing {
                return match guarded(|| this.sink.as_mut().poll_close(cx)) {
                    Poll::Ready(Ok(())) => {
                        *this.done = true;
                        Poll::Ready(Ok(()))
                    }
                    Poll::Ready(Err(e)) => {
                        *this.done = true;
                        Poll::Ready(Err(e))
                    }
                    Poll::Pending => Poll::Pending,
                };
            }
            if this.held.is_some() {
                match guarded(|| this.sink.as_mut().poll_ready(cx)) {
                    Poll::Ready(Ok(())) => {
                        let item = this.held.take().expect("checked above");
                        let sent = catch_panic(SINK, || this.sink.as_mut().start_send(item));
                        if let Err(e) = sent.and_then(|r| r.map_err(sink_error)) {
                            return fail(this.receiver, this.done, e);
                        }
                        budget -= 1;
                        if budget == 0 {
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                    }
                    Poll::Ready(Err(e)) => return fail(this.receiver, this.done, e),
                    Poll::Pending => return Poll::Pending,
                }
            }
            match this.receiver.poll_next(cx) {
                Next::Item(item) => {
                    *this.outstanding = false;
                    *this.held = Some(item);
                }
                Next::End(Ok(())) => *this.closing = true,
                Next::End(Err(error)) => {
                    *this.done = true;
                    return Poll::Ready(Err(error));
                }
                Next::Pending if !*this.outstanding => {
                    // Ask for the next element only once the sink can take it.
                    match guarded(|| this.sink.as_mut().poll_ready(cx)) {
                        Poll::Ready(Ok(())) => {
                            *this.outstanding = true;
                            // The element may arrive synchronously, inside this call.
                            this.receiver.request(1);
                        }
                        Poll::Ready(Err(e)) => return fail(this.receiver, this.done, e),
                        Poll::Pending => return Poll::Pending,
                    }
                }
                Next::Pending => {
                    // Waiting for the publisher: flush what was sent so far.
                    return match guarded(|| this.sink.as_mut().poll_flush(cx)) {
                        Poll::Ready(Err(e)) => fail(this.receiver, this.done, e),
                        _ => Poll::Pending,
                    };
                }
            }
        }
    }
}

impl<Si, T> FusedFuture for Forward<Si, T>
where
    Si: Sink<T>,
    Si::Error: std::error::Error + Send + Sync + 'static,
{
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<Si, T> fmt::Debug for Forward<Si, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Forward")
            .field("receiver", &self.receiver)
            .field("holding", &self.held.is_some())
            .field("outstanding", &self.outstanding)
            .field("closing", &self.closing)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

fn fail<T>(receiver: &Receiver<T>, done: &mut bool, error: Error) -> Poll<Result<(), Error>> {
    receiver.cancel();
    *done = true;
    Poll::Ready(Err(error))
}

/// Names the sink in the errors of its panics.
const SINK: &str = "forward_to sink";

/// Calls a `poll_*` method of the sink, with its error and its panics as an [`Error`].
fn guarded<E>(call: impl FnOnce() -> Poll<Result<(), E>>) -> Poll<Result<(), Error>>
where
    E: std::error::Error + Send + Sync + 'static,
{
    match catch_panic(SINK, call) {
        Ok(Poll::Ready(result)) => Poll::Ready(result.map_err(sink_error)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(panic) => Poll::Ready(Err(panic)),
    }
}

/// A sink's error as an [`Error`]: an `Error` passes through, anything else is wrapped (and
/// stays reachable with `downcast_ref`).
pub(crate) fn sink_error<E: std::error::Error + Send + Sync + 'static>(error: E) -> Error {
    let any: &dyn Any = &error;
    match any.downcast_ref::<Error>() {
        Some(same) => same.clone(),
        None => Error::new(error).in_stage(SINK),
    }
}
