//! `filter(predicate)`: keeps the elements a predicate accepts.

use std::fmt;
use std::sync::Arc;

use rstreams_core::support::catch_panic;
use rstreams_core::support::Link;
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// The publisher returned by [`PublisherExt::filter`](crate::PublisherExt::filter): emits the
/// elements of its source for which the predicate returns `true`.
///
/// Pass-through: the downstream's requests and cancel go straight to the source. A rejected
/// element costs no request on the conditional fast path
/// ([`Subscriber::try_on_next`]) and one `request(1)` on the plain `on_next` path.
#[must_use = "publishers do nothing until subscribed"]
pub struct Filter<P, F> {
    source: P,
    predicate: Arc<F>,
}

impl<P, F> Filter<P, F> {
    pub(crate) fn new(source: P, predicate: F) -> Self {
        Filter {
            source,
            predicate: Arc::new(predicate),
        }
    }
}

impl<P: Clone, F> Clone for Filter<P, F> {
    fn clone(&self) -> Self {
        Filter {
            source: self.source.clone(),
            predicate: Arc::clone(&self.predicate),
        }
    }
}

impl<P: fmt::Debug, F> fmt::Debug for Filter<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<P, F> Publisher for Filter<P, F>
where
    P: Publisher,
    F: Fn(&P::Item) -> bool + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.source.subscribe(FilterSubscriber {
            downstream: subscriber,
            predicate: Arc::clone(&self.predicate),
            link: Link::new(),
        });
    }
}

struct FilterSubscriber<S, F> {
    downstream: S,
    predicate: Arc<F>,
    link: Link,
}

impl<S, F> FilterSubscriber<S, F> {
    /// Runs the predicate; on a panic fails the stage and returns `None`.
    #[inline]
    fn accepts<T>(&mut self, item: &T) -> Option<bool>
    where
        S: Subscriber<T>,
        F: Fn(&T) -> bool,
    {
        match catch_panic("predicate", || (self.predicate)(item)) {
            Ok(keep) => Some(keep),
            Err(error) => {
                if self.link.fail() {
                    self.downstream.on_error(error.in_stage("filter"));
                }
                None
            }
        }
    }
}

impl<T, S, F> Subscriber<T> for FilterSubscriber<S, F>
where
    S: Subscriber<T>,
    F: Fn(&T) -> bool + Send + Sync,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if let Some(subscription) = self.link.accept(subscription) {
            self.downstream.on_subscribe(subscription);
        }
    }

    /// The plain path: the upstream counted the element against the demand, so a rejected one
    /// is replaced with `request(1)`.
    #[inline]
    fn on_next(&mut self, item: T) {
        if self.link.is_done() {
            return;
        }
        match self.accepts(&item) {
            Some(true) => self.downstream.on_next(item),
            Some(false) => self.link.request(1),
            None => {}
        }
    }

    /// The fast path: a rejected element returns `false`, so the upstream does not count it and
    /// just emits the next one; no request is made.
    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        if self.link.is_done() {
            return true;
        }
        match self.accepts(&item) {
            Some(true) => self.downstream.try_on_next(item),
            Some(false) => false,
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
