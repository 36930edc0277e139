//! `try_map(f)`: transforms each element with a fallible function; the first `Err` ends the
//! stream.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use rstreams_core::support::{catch_panic, Link};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// Names the stage in errors.
const NAME: &str = "try_map";

/// The publisher returned by [`PublisherExt::try_map`](crate::PublisherExt::try_map): emits
/// `u` for each element `x` of its source with `f(x) == Ok(u)`, and fails at the first `Err`.
///
/// Pass-through: the downstream's requests and cancel go straight to the source.
#[must_use = "publishers do nothing until subscribed"]
pub struct TryMap<P, F, E> {
    source: P,
    f: Arc<F>,
    /// The closure's error type, which `Publisher` cannot name otherwise (`fn() -> E`: the
    /// publisher holds no `E`, so `E` affects neither `Send` nor `Sync`).
    error: PhantomData<fn() -> E>,
}

impl<P, F, E> TryMap<P, F, E> {
    pub(crate) fn new(source: P, f: F) -> Self {
        TryMap {
            source,
            f: Arc::new(f),
            error: PhantomData,
        }
    }
}

impl<P: Clone, F, E> Clone for TryMap<P, F, E> {
    fn clone(&self) -> Self {
        TryMap {
            source: self.source.clone(),
            f: Arc::clone(&self.f),
            error: PhantomData,
        }
    }
}

impl<P: fmt::Debug, F, E> fmt::Debug for TryMap<P, F, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryMap")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<P, F, U, E> Publisher for TryMap<P, F, E>
where
    P: Publisher,
    F: Fn(P::Item) -> Result<U, E> + Send + Sync + 'static,
    E: Into<Error>,
{
    type Item = U;

    fn subscribe<S: Subscriber<U> + 'static>(&self, subscriber: S) {
        self.source.subscribe(TryMapSubscriber {
            downstream: subscriber,
            f: Arc::clone(&self.f),
            link: Link::new(),
        });
    }
}

struct TryMapSubscriber<S, F> {
    downstream: S,
    f: Arc<F>,
    /// §2.5 / §1.7 guard, and the upstream to cancel when `f` fails or panics.
    link: Link,
}

impl<S, F> TryMapSubscriber<S, F> {
    /// The mapped element, or `None` when `f` returned `Err` or panicked: then the upstream is
    /// cancelled and the stream has failed.
    #[inline(always)]
    fn apply<T, U, E>(&mut self, item: T) -> Option<U>
    where
        S: Subscriber<U>,
        F: Fn(T) -> Result<U, E>,
        E: Into<Error>,
    {
        let error = match catch_panic(NAME, || (self.f)(item)) {
            Ok(Ok(mapped)) => return Some(mapped),
            Ok(Err(error)) => error.into(),
            Err(panicked) => panicked,
        };
        if self.link.fail() {
            self.downstream.on_error(error.in_stage(NAME));
        }
        None
    }
}

impl<T, U, E, S, F> Subscriber<T> for TryMapSubscriber<S, F>
where
    S: Subscriber<U>,
    F: Fn(T) -> Result<U, E> + Send + Sync,
    E: Into<Error>,
{
    rstreams_core::forward_wanted!(downstream);

    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if let Some(subscription) = self.link.accept(subscription) {
            self.downstream.on_subscribe(subscription);
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if self.link.is_done() {
            return;
        }
        if let Some(mapped) = self.apply(item) {
            self.downstream.on_next(mapped);
        }
    }

    #[inline(always)]
    fn try_on_next(&mut self, item: T) -> bool {
        if self.link.is_done() {
            return true;
        }
        match self.apply(item) {
            // A filter downstream decides whether the element used a unit of demand.
            Some(mapped) => self.downstream.try_on_next(mapped),
            None => true,
        }
    }

    fn on_error(&mut self, error: Error) {
        if self.link.finish() {
            self.downstream.on_error(error);
        }
    }

    fn on_complete(&mut self) {
        if self.link.finish() {
            self.downstream.on_complete();
        }
    }
}
