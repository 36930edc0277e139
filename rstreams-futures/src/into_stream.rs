//! `into_stream(publisher, prefetch)`: a `Stream` whose polling is the demand.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::stream::FusedStream;
use futures_core::Stream;
use rstreams_core::support::Replenish;
use rstreams_core::{Error, Publisher};

use crate::inbox::{inbox, Next, Receiver};

/// Turns `publisher` into a [`Stream`] of `Result<T, Error>`: consuming the stream is what
/// requests elements from the publisher.
///
/// # Backpressure
///
/// The publisher is subscribed at once, but nothing is requested until the stream is first
/// polled. Then `prefetch` elements are requested, and each time `prefetch - prefetch / 4` of
/// them have been taken out of the stream, that many again (the 75 % rule of every rstreams
/// boundary): at most `prefetch` elements are ever queued or outstanding, so memory is
/// O(`prefetch`) however fast the publisher is. The queue is allocated up front.
///
/// # Errors and the end
///
/// Elements come out as `Ok(item)`. When the publisher fails, the elements it sent before are
/// yielded first, then one `Err(error)`, then the stream ends (`None`); it is fused
/// ([`FusedStream`]). A completed publisher ends the stream after its last element. An error,
/// rather than a separate error type, keeps the stream usable with `TryStreamExt` (`try_next`,
/// `try_collect`, `?`).
///
/// # Cancel
///
/// Dropping the stream cancels the subscription (and releases what is queued).
///
/// # Panics
///
/// When `prefetch` is 0: a stream that may hold nothing could never yield.
///
/// ```
/// use futures::executor::block_on;
/// use futures::TryStreamExt;
/// use rstreams::source;
/// use rstreams::bridge::into_stream;
///
/// let items: Vec<u64> = block_on(into_stream(source::range(0, 5), 2).try_collect()).unwrap();
/// assert_eq!(items, vec![0, 1, 2, 3, 4]);
/// ```
pub fn into_stream<P>(publisher: P, prefetch: usize) -> PublisherStream<P::Item>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    assert!(
        prefetch > 0,
        "into_stream(publisher, prefetch): prefetch must be at least 1 (valid range 1..=usize::MAX), got 0"
    );
    let (subscriber, receiver) = inbox(prefetch, "into_stream");
    publisher.subscribe(subscriber);
    let prefetch = prefetch as u64;
    PublisherStream {
        receiver,
        prefetch,
        replenish: Replenish::for_prefetch(prefetch),
        started: false,
        done: false,
    }
}

/// The stream returned by [`into_stream`]: yields `Ok(item)` for each element, `Err(error)`
/// once if the publisher fails, then ends.
#[must_use = "streams do nothing unless polled"]
pub struct PublisherStream<T> {
    receiver: Receiver<T>,
    prefetch: u64,
    /// Asks for `prefetch - prefetch / 4` more each time that many were taken.
    replenish: Replenish,
    started: bool,
    done: bool,
}

impl<T> Stream for PublisherStream<T> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if !this.started {
            this.started = true;
            this.receiver.request(this.prefetch);
        }
        match this.receiver.poll_next(cx) {
            Next::Item(item) => {
                let more = this.replenish.consumed();
                if more > 0 {
                    this.receiver.request(more);
                }
                Poll::Ready(Some(Ok(item)))
            }
            Next::End(Ok(())) => {
                this.done = true;
                Poll::Ready(None)
            }
            Next::End(Err(error)) => {
                this.done = true;
                Poll::Ready(Some(Err(error)))
            }
            Next::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            (0, Some(0))
        } else {
            (self.receiver.len(), None)
        }
    }
}

impl<T> FusedStream for PublisherStream<T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

// No field is pinned: the stream moves freely.
impl<T> Unpin for PublisherStream<T> {}

impl<T> fmt::Debug for PublisherStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublisherStream")
            .field("prefetch", &self.prefetch)
            .field("queued", &self.receiver.len())
            .field("done", &self.done)
            .finish()
    }
}

/// Turns a publisher of `Result<T, E>` items into a `Stream` of `Result<T, Error>` that ends
/// at the first failure, whichever way it comes: an `Err` item (converted with
/// `Into<Error>`), or the publisher's own `on_error`. The inverse of
/// [`from_try_stream`](crate::from_try_stream), for a pipeline whose stages carry failures
/// as values (`map(|line| parse(line))`) and a consumer that wants a `TryStream`
/// (`try_next`, `try_collect`, `?`).
///
/// (A publisher of plain items needs no such step: [`into_stream`] already yields
/// `Result<T, Error>`, a `TryStream`.)
///
/// # Backpressure
///
/// As [`into_stream`]: `prefetch` requested when first polled, refilled at 75 % consumed.
///
/// # Errors and the end
///
/// `Ok(value)` items come out as `Ok(value)`. At the first `Err(e)` item the subscription is
/// cancelled (the elements queued behind it are dropped), `Err(e.into())` is yielded, and the
/// stream ends. An error of the publisher is yielded as [`into_stream`] does. Fused.
///
/// # Cancel
///
/// Dropping the stream cancels the subscription.
///
/// # Panics
///
/// When `prefetch` is 0.
///
/// ```
/// use futures::executor::block_on;
/// use futures::TryStreamExt;
/// use rstreams::source;
/// use rstreams::bridge::into_try_stream;
///
/// // A publisher of results: here an iterator's, as `map(|s| s.parse())` upstream would make.
/// let parsed = source::from_iter(
///     ["1", "2", "x", "4"].into_iter().map(|s| s.parse::<u32>().map_err(|e| e.to_string())),
/// );
/// let mut stream = into_try_stream(parsed, 8);
/// assert_eq!(block_on(stream.try_next()).unwrap(), Some(1));
/// assert_eq!(block_on(stream.try_next()).unwrap(), Some(2));
/// let error = block_on(stream.try_next()).unwrap_err();
/// assert!(error.to_string().contains("invalid digit"));
/// assert_eq!(block_on(stream.try_next()).unwrap(), None); // ended at the first failure
/// ```
pub fn into_try_stream<P, T, E>(publisher: P, prefetch: usize) -> PublisherTryStream<T, E>
where
    P: Publisher<Item = Result<T, E>>,
    T: Send + 'static,
    E: Into<Error> + Send + 'static,
{
    PublisherTryStream {
        inner: Some(into_stream(publisher, prefetch)),
    }
}

/// The stream returned by [`into_try_stream`]: `Ok(value)` per `Ok` item, then one
/// `Err(error)` at the first failure, then the end.
#[must_use = "streams do nothing unless polled"]
pub struct PublisherTryStream<T, E> {
    /// `None` once ended: dropping the inner stream cancels the subscription.
    inner: Option<PublisherStream<Result<T, E>>>,
}

impl<T, E: Into<Error>> Stream for PublisherTryStream<T, E> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(inner).poll_next(cx) {
            Poll::Ready(Some(Ok(Ok(value)))) => Poll::Ready(Some(Ok(value))),
            Poll::Ready(Some(Ok(Err(error)))) => {
                this.inner = None; // cancels the upstream
                Poll::Ready(Some(Err(error.into())))
            }
            Poll::Ready(Some(Err(error))) => {
                this.inner = None;
                Poll::Ready(Some(Err(error)))
            }
            Poll::Ready(None) => {
                this.inner = None;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            Some(inner) => (0, inner.size_hint().1),
            None => (0, Some(0)),
        }
    }
}

impl<T, E: Into<Error>> FusedStream for PublisherTryStream<T, E> {
    fn is_terminated(&self) -> bool {
        self.inner.is_none()
    }
}

// No field is pinned: the stream moves freely.
impl<T, E> Unpin for PublisherTryStream<T, E> {}

impl<T, E> fmt::Debug for PublisherTryStream<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublisherTryStream")
            .field("inner", &self.inner)
            .finish()
    }
}
