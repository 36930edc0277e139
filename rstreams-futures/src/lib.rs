//! Bridges between rstreams and the `futures` ecosystem, for any executor.
//!
//! Users reach this crate through the facade as `rstreams::bridge`, with the facade's cargo
//! feature `futures` (off by default: this crate compiles `futures-util` and `async-trait`):
//! `rstreams = { version = "0.1", features = ["futures"] }`. The examples here use those paths.
//!
//! | from | to | with | demand |
//! |---|---|---|---|
//! | `Stream` | `Publisher` | [`from_stream()`] (single use), [`defer_stream`] (a stream per subscriber) | the stream is polled once per element requested, never ahead |
//! | `Stream<Item = Result<T, E>>` | `Publisher` of `T`, an `Err` ends it with `on_error` | [`from_try_stream`] (single use) | as `from_stream` |
//! | `Future` | `Publisher` of one | [`from_future`] (single use), [`defer_future`] | polled once requested |
//! | `Publisher` | `Stream<Item = Result<T, Error>>` | [`into_stream()`] | `prefetch` when first polled, then refilled at 75 % consumed |
//! | `Publisher` of `Result<T, E>` | `Stream<Item = Result<T, Error>>` ending at the first failure | [`into_try_stream`] | as `into_stream` |
//! | `Publisher` | `Sink` | [`forward_to`], or [`sink_subscriber`] for the two halves | one element at a time, as `poll_ready` allows |
//! | `Publisher` | async closure | [`for_each_async()`] | one more each time a future finishes, at most `concurrency` in flight |
//! | `Publisher` | [`AsyncSubscriber`] (object-safe) | [`subscribe_async`] | the same |
//!
//! The consuming side is also available as methods, through [`PublisherFuturesExt`]. An async
//! `emit` for hot sources is on the core's emitter itself
//! ([`rstreams_core::source::Emitter::emit`]), written against `std::task` alone.
//!
//! # Executors
//!
//! Nothing here spawns or needs a particular runtime. The publisher side ([`from_stream()`]) polls
//! the stream inside the subscription's drain loop with a waker that re-runs that loop: the
//! thread that requests, or the one that wakes the stream, does the polling, and nothing spins.
//! The consuming side hands you a `Stream` or a `Future` to poll on the executor of your
//! choice (tokio, smol, `futures::executor`).
//!
//! # Subscribing and laziness
//!
//! The consuming bridges subscribe to the publisher when they are made but request nothing
//! until they are first polled: a `Stream` or `Future` that is never polled makes the publisher
//! produce nothing. Dropping one cancels the subscription.
//!
//! # Errors
//!
//! Every bridge reports failures as [`rstreams_core::Error`]: streams yield `Err(error)` once,
//! then end; futures resolve to `Err(error)`. Panics in user code (a stream's `poll_next`, an
//! async closure, a factory) become errors of kind
//! [`Panic`](rstreams_core::ErrorKind::Panic) and cancel the subscription; they never unwind
//! into a publisher or an executor.
//!
//! ```
//! use futures::executor::block_on;
//! use futures::{stream, StreamExt};
//! use rstreams::sink;
//! use rstreams::bridge::{from_stream, PublisherFuturesExt};
//!
//! // Stream -> Publisher -> Stream.
//! let publisher = from_stream(stream::iter(1..=3));
//! let doubled: Vec<u64> =
//!     block_on(publisher.into_stream(8).map(|r| r.unwrap() * 2).collect());
//! assert_eq!(doubled, vec![2, 4, 6]);
//! ```

#![warn(clippy::disallowed_types)] // shared state goes through rstreams_core::sync (clippy.toml)

mod for_each_async;
mod from_stream;
mod inbox;
mod into_stream;
mod sink;

use std::sync::Arc;

pub use for_each_async::{
    for_each_async, subscribe_async, AsyncSubscriber, ForEachAsync, Outcome, SubscribeAsync,
};
pub use from_stream::{
    defer_future, defer_stream, from_future, from_stream, from_try_stream, DeferFuture,
    DeferStream, FromFuture, FromStream, FromTryStream,
};
pub use into_stream::{into_stream, into_try_stream, PublisherStream, PublisherTryStream};
pub use sink::{forward_to, sink_subscriber, Forward, SinkSubscriber};

/// The attribute for implementing [`AsyncSubscriber`] (re-exported from the `async-trait`
/// crate, so that implementors need no dependency of their own).
pub use async_trait::async_trait;

use futures_core::Future;
use futures_sink::Sink;
use rstreams_core::{Error, Publisher};

/// The consuming bridges as methods of every [`Publisher`].
///
/// ```
/// use futures::executor::block_on;
/// use futures::TryStreamExt;
/// use rstreams::source;
/// use rstreams::bridge::PublisherFuturesExt;
///
/// let v: Vec<u64> = block_on(source::range(0, 3).into_stream(16).try_collect()).unwrap();
/// assert_eq!(v, vec![0, 1, 2]);
/// ```
pub trait PublisherFuturesExt: Publisher + Sized
where
    Self::Item: Send + 'static,
{
    /// A `Stream` whose consumption is the demand; see [`into_stream()`].
    ///
    /// # Panics
    ///
    /// When `prefetch` is 0.
    fn into_stream(self, prefetch: usize) -> PublisherStream<Self::Item> {
        into_stream(self, prefetch)
    }

    /// For a publisher of `Result<T, E>`: a `Stream` of `Result<T, Error>` that ends at the
    /// first failure; see [`into_try_stream`].
    ///
    /// # Panics
    ///
    /// When `prefetch` is 0.
    ///
    /// ```
    /// use futures::executor::block_on;
    /// use futures::TryStreamExt;
    /// use rstreams::source;
    /// use rstreams::bridge::PublisherFuturesExt;
    ///
    /// let results = source::from_iter(vec![Ok(1), Err("bad record"), Ok(3)]);
    /// let error = block_on(results.into_try_stream(4).try_collect::<Vec<u32>>()).unwrap_err();
    /// assert!(error.to_string().contains("bad record"));
    /// ```
    fn into_try_stream<T, E>(self, prefetch: usize) -> PublisherTryStream<T, E>
    where
        Self: Publisher<Item = Result<T, E>>,
        T: Send + 'static,
        E: Into<Error> + Send + 'static,
    {
        into_try_stream(self, prefetch)
    }

    /// Sends every element into `sink`; see [`forward_to`].
    fn forward_to<Si>(self, sink: Si) -> Forward<Si, Self::Item>
    where
        Si: Sink<Self::Item>,
        Si::Error: std::error::Error + Send + Sync + 'static,
    {
        forward_to(self, sink)
    }

    /// Runs `f` on every element, at most `concurrency` at a time; see [`for_each_async()`].
    ///
    /// # Panics
    ///
    /// When `concurrency` is 0.
    fn for_each_async<F, Fut>(self, f: F, concurrency: usize) -> ForEachAsync<Self::Item, F, Fut>
    where
        F: FnMut(Self::Item) -> Fut,
        Fut: Future,
        Fut::Output: Outcome,
    {
        for_each_async(self, f, concurrency)
    }

    /// Runs an [`AsyncSubscriber`] on every element; see [`subscribe_async`].
    ///
    /// # Panics
    ///
    /// When `concurrency` is 0.
    fn subscribe_async<S>(
        self,
        subscriber: Arc<S>,
        concurrency: usize,
    ) -> SubscribeAsync<Self::Item, S>
    where
        S: AsyncSubscriber<Self::Item> + ?Sized + 'static,
    {
        subscribe_async(self, subscriber, concurrency)
    }
}

impl<P> PublisherFuturesExt for P
where
    P: Publisher,
    P::Item: Send + 'static,
{
}
