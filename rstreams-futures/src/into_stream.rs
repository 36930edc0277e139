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
/// use rstreams_core::source;
/// use rstreams_futures::into_stream;
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
