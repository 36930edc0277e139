//! Sinks: subscribers that end a pipeline.
//!
//! - [`for_each`] / [`LambdaSubscriber`]: closures for each signal, a configurable request
//!   batch, and a [`SubscriberHandle`] to cancel or wait for the end; or
//!   [`run`](LambdaSubscriber::run), which subscribes and blocks until the end without a
//!   handle's shared state (nothing allocated for the end once the thread has run one).
//! - [`collect`]: subscribes and blocks until the stream ends, returning every element or the
//!   error. Waiting parks the thread; it does not spin.
//! - [`collect_async`] and [`SubscriberHandle::wait_async`]: the same as futures, for async
//!   code on any executor (no runtime dependency); dropping them cancels the subscription.

mod end;
mod lambda;

pub use lambda::{for_each, LambdaSubscriber, SubscriberHandle, WaitAsync};

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::sync::Mutex;

use crate::{Error, Publisher};

/// Subscribes to `publisher` with unbounded demand and blocks until it ends: every element in
/// order, or the error it failed with (a [`Protocol`](crate::ErrorKind::Protocol) error naming
/// §1.4 or §1.9 if the publisher dropped its subscriber without an end, as
/// [`LambdaSubscriber::run`] says).
///
/// Do not call it on a thread that the publisher needs in order to make progress (a
/// single-threaded scheduler's only thread): it would wait forever.
///
/// ```
/// use rstreams::{sink, source};
/// assert_eq!(sink::collect(&source::range(0, 3)).unwrap(), vec![0, 1, 2]);
/// ```
pub fn collect<P>(publisher: &P) -> Result<Vec<P::Item>, Error>
where
    P: Publisher + ?Sized,
    P::Item: Send + 'static,
{
    let items = Arc::new(Mutex::new(Vec::new()));
    let sink = {
        let items = Arc::clone(&items);
        for_each(move |item| items.lock().push(item))
    };
    sink.run(publisher)?;
    let mut items = items.lock();
    Ok(std::mem::take(&mut *items))
}

/// Subscribes to `publisher` with unbounded demand and returns a future of every element in
/// order, or the error the stream failed with: [`collect`] without blocking a thread.
///
/// The future needs no particular runtime (the sink wakes it at the terminal signal), so it
/// can be awaited on tokio, smol or `futures::executor`. The publisher is subscribed at once,
/// when this is called, not when the future is first polled.
///
/// # Cancel
///
/// Dropping the future before it resolves cancels the subscription, and the elements
/// collected so far are dropped.
///
/// ```
/// use futures::executor::block_on;
/// use rstreams::{sink, source};
///
/// let squares = block_on(sink::collect_async(&source::from_iter((1..4u64).map(|x| x * x))));
/// assert_eq!(squares.unwrap(), vec![1, 4, 9]);
/// ```
pub fn collect_async<P>(publisher: &P) -> CollectAsync<P::Item>
where
    P: Publisher + ?Sized,
    P::Item: Send + 'static,
{
    let items = Arc::new(Mutex::new(Vec::new()));
    let sink = {
        let items = Arc::clone(&items);
        for_each(move |item| items.lock().push(item))
    };
    let wait = sink.handle().wait_async();
    publisher.subscribe(sink);
    CollectAsync { items, wait }
}

/// The future returned by [`collect_async`]: every element, or the error; dropping it
/// unresolved cancels the subscription.
#[must_use = "futures do nothing unless awaited; dropping this one cancels the subscription"]
pub struct CollectAsync<T> {
    items: Arc<Mutex<Vec<T>>>,
    wait: WaitAsync,
}

impl<T> Future for CollectAsync<T> {
    type Output = Result<Vec<T>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match Pin::new(&mut this.wait).poll(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(std::mem::take(&mut *this.items.lock()))),
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => Poll::Pending,
        }
    }
}

// No field is pinned.
impl<T> Unpin for CollectAsync<T> {}

impl<T> fmt::Debug for CollectAsync<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CollectAsync")
            .field("collected", &self.items.lock().len())
            .field("wait", &self.wait)
            .finish()
    }
}
