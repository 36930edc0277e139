//! `map_async(max_in_flight, f)`, `map_async_unordered` and `try_map_async`: a future per
//! element, at most `max_in_flight` at once, polled from the stage's drain loop.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Poll, Waker};

use rstreams_core::{Error, Publisher, Subscriber};

use crate::in_flight::{self, Caller};

/// The publisher returned by [`map_async`](crate::PublisherExt::map_async),
/// [`map_async_unordered`](crate::PublisherExt::map_async_unordered) and
/// [`try_map_async`](crate::PublisherExt::try_map_async).
///
/// `O` is the futures' output and `U` the element emitted (`O` itself, or the `Ok` of a
/// `Result`).
#[must_use = "publishers do nothing until subscribed"]
pub struct MapAsync<P, F, O, U> {
    source: P,
    f: Arc<F>,
    max_in_flight: usize,
    ordered: bool,
    convert: fn(O) -> Result<U, Error>,
    stage: &'static str,
}

/// `map_async`: the output is the element.
pub(crate) fn infallible<U>(output: U) -> Result<U, Error> {
    Ok(output)
}

/// `try_map_async`: an `Err` fails the stream.
pub(crate) fn fallible<U, E: Into<Error>>(output: Result<U, E>) -> Result<U, Error> {
    output.map_err(Into::into)
}

impl<P, F, O, U> MapAsync<P, F, O, U> {
    pub(crate) fn new(
        source: P,
        max_in_flight: usize,
        f: F,
        ordered: bool,
        convert: fn(O) -> Result<U, Error>,
        stage: &'static str,
    ) -> Self {
        assert!(
            max_in_flight > 0,
            "{stage}: max_in_flight must be at least 1 (got 0; valid range 1..=usize::MAX): \
             no element could ever be started"
        );
        MapAsync {
            source,
            f: Arc::new(f),
            max_in_flight,
            ordered,
            convert,
            stage,
        }
    }
}

impl<P: Clone, F, O, U> Clone for MapAsync<P, F, O, U> {
    fn clone(&self) -> Self {
        MapAsync {
            source: self.source.clone(),
            f: Arc::clone(&self.f),
            max_in_flight: self.max_in_flight,
            ordered: self.ordered,
            convert: self.convert,
            stage: self.stage,
        }
    }
}

impl<P: fmt::Debug, F, O, U> fmt::Debug for MapAsync<P, F, O, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapAsync")
            .field("source", &self.source)
            .field("stage", &self.stage)
            .field("max_in_flight", &self.max_in_flight)
            .field("ordered", &self.ordered)
            .finish_non_exhaustive()
    }
}

impl<P, F, Fut, O, U> Publisher for MapAsync<P, F, O, U>
where
    P: Publisher,
    P::Item: Send + 'static,
    F: Fn(P::Item) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = O> + Send + 'static,
    O: 'static,
    U: Send + 'static,
{
    type Item = U;

    fn subscribe<S: Subscriber<U> + 'static>(&self, subscriber: S) {
        let caller = FnCaller {
            f: Arc::clone(&self.f),
            convert: self.convert,
            _marker: PhantomData,
        };
        in_flight::subscribe(
            &self.source,
            subscriber,
            caller,
            self.stage,
            self.max_in_flight,
            self.ordered,
            false,
        );
    }
}

/// A closure as a [`Caller`]: always room (the stage's slots are the only bound).
struct FnCaller<F, T, O, U> {
    f: Arc<F>,
    convert: fn(O) -> Result<U, Error>,
    _marker: PhantomData<fn(T)>,
}

impl<F, T, Fut, O, U> Caller<T> for FnCaller<F, T, O, U>
where
    T: 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = O> + Send + 'static,
    O: 'static,
    U: Send + 'static,
{
    type Future = Fut;
    type Tag = ();
    type Item = U;

    fn poll_room(&mut self, _waker: &Waker, _woken: bool) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn start(&mut self, item: T) -> Result<(Fut, ()), Error> {
        Ok(((self.f)(item), ()))
    }

    fn finish(&mut self, _tag: (), output: O) -> Result<Option<U>, Error> {
        (self.convert)(output).map(Some)
    }
}
