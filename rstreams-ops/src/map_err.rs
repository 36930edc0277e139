//! `map_err(f)`: transforms the upstream's error.

use std::fmt;
use std::sync::Arc;

use rstreams_core::support::{catch_panic, Link};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// Names the stage in errors.
const NAME: &str = "map_err";

/// The publisher returned by [`PublisherExt::map_err`](crate::PublisherExt::map_err).
///
/// Pass-through: the downstream holds the upstream's own subscription.
#[must_use = "publishers do nothing until subscribed"]
pub struct MapErr<P, F> {
    source: P,
    f: Arc<F>,
}

impl<P, F> MapErr<P, F> {
    pub(crate) fn new(source: P, f: F) -> Self {
        MapErr {
            source,
            f: Arc::new(f),
        }
    }
}

impl<P: Clone, F> Clone for MapErr<P, F> {
    fn clone(&self) -> Self {
        MapErr {
            source: self.source.clone(),
            f: Arc::clone(&self.f),
        }
    }
}

impl<P: fmt::Debug, F> fmt::Debug for MapErr<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapErr")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<P, F> Publisher for MapErr<P, F>
where
    P: Publisher,
    F: Fn(Error) -> Error + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.source.subscribe(MapErrSubscriber {
            downstream: subscriber,
            f: Arc::clone(&self.f),
            link: Link::new(),
        });
    }
}

struct MapErrSubscriber<S, F> {
    downstream: S,
    f: Arc<F>,
    link: Link,
}

impl<T, S, F> Subscriber<T> for MapErrSubscriber<S, F>
where
    S: Subscriber<T>,
    F: Fn(Error) -> Error + Send + Sync,
{
    rstreams_core::forward_wanted!(downstream);

    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if let Some(subscription) = self.link.accept(subscription) {
            self.downstream.on_subscribe(subscription);
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if !self.link.is_done() {
            self.downstream.on_next(item);
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        if self.link.is_done() {
            return true;
        }
        self.downstream.try_on_next(item)
    }

    fn on_error(&mut self, error: Error) {
        if !self.link.finish() {
            return;
        }
        // The answer to the downstream's own request(0) reports its fault: passed on as it is.
        let mapped = if error.rule() == Some("3.9") {
            error
        } else {
            catch_panic(NAME, || (self.f)(error)).unwrap_or_else(|panicked| panicked.in_stage(NAME))
        };
        self.downstream.on_error(mapped);
    }

    fn on_complete(&mut self) {
        if self.link.finish() {
            self.downstream.on_complete();
        }
    }
}
