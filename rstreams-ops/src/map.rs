//! `map(f)`: transforms each element.

use std::fmt;
use std::sync::Arc;

use rstreams_core::support::catch_panic;
use rstreams_core::support::Link;
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

use crate::shared_fn::SharedFn;

/// The publisher returned by [`PublisherExt::map`](crate::PublisherExt::map): emits `f(x)` for
/// each element `x` of its source.
///
/// Pass-through: the downstream's requests and cancel go straight to the source.
#[must_use = "publishers do nothing until subscribed"]
pub struct Map<P, F: 'static> {
    source: P,
    f: SharedFn<F>,
}

impl<P, F: 'static> Map<P, F> {
    pub(crate) fn new(source: P, f: F) -> Self {
        Map {
            source,
            f: SharedFn::new(f),
        }
    }
}

impl<P: Clone, F> Clone for Map<P, F> {
    fn clone(&self) -> Self {
        Map {
            source: self.source.clone(),
            f: self.f.clone(),
        }
    }
}

impl<P: fmt::Debug, F: 'static> fmt::Debug for Map<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<P, F, U> Publisher for Map<P, F>
where
    P: Publisher,
    F: Fn(P::Item) -> U + Send + Sync + 'static,
{
    type Item = U;

    #[inline]
    fn subscribe<S: Subscriber<U> + 'static>(&self, subscriber: S) {
        self.source.subscribe(MapSubscriber {
            downstream: subscriber,
            f: self.f.clone(),
            link: Link::new(),
        });
    }
}

struct MapSubscriber<S, F: 'static> {
    downstream: S,
    f: SharedFn<F>,
    link: Link,
}

impl<S, F: 'static> MapSubscriber<S, F> {
    fn fail<U>(&mut self, error: Error)
    where
        S: Subscriber<U>,
    {
        if self.link.fail() {
            self.downstream.on_error(error.in_stage("map"));
        }
    }
}

impl<T, U, S, F> Subscriber<T> for MapSubscriber<S, F>
where
    S: Subscriber<U>,
    F: Fn(T) -> U + Send + Sync + 'static,
{
    rstreams_core::forward_wanted!(downstream);

    #[inline]
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
        match catch_panic("closure", || (self.f)(item)) {
            Ok(mapped) => self.downstream.on_next(mapped),
            Err(error) => self.fail(error),
        }
    }

    #[inline(always)]
    fn try_on_next(&mut self, item: T) -> bool {
        if self.link.is_done() {
            return true;
        }
        match catch_panic("closure", || (self.f)(item)) {
            // A filter downstream decides whether the element used a unit of demand.
            Ok(mapped) => self.downstream.try_on_next(mapped),
            Err(error) => {
                self.fail(error);
                true
            }
        }
    }

    fn on_error(&mut self, error: Error) {
        if self.link.finish() {
            self.downstream.on_error(error);
        }
    }

    #[inline]
    fn on_complete(&mut self) {
        if self.link.finish() {
            self.downstream.on_complete();
        }
    }
}
