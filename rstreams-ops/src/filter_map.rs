//! `filter_map(f)`: maps each element to an `Option` and keeps the `Some`s.

use std::fmt;
use std::sync::Arc;

use crate::shared_fn::SharedFn;
use rstreams_core::support::{catch_panic, Link};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// The publisher returned by [`filter_map`](crate::PublisherExt::filter_map).
#[must_use = "publishers do nothing until subscribed"]
pub struct FilterMap<P, F: 'static> {
    source: P,
    f: SharedFn<F>,
}

impl<P, F: 'static> FilterMap<P, F> {
    pub(crate) fn new(source: P, f: F) -> Self {
        FilterMap {
            source,
            f: SharedFn::new(f),
        }
    }
}

impl<P: Clone, F: 'static> Clone for FilterMap<P, F> {
    fn clone(&self) -> Self {
        FilterMap {
            source: self.source.clone(),
            f: self.f.clone(),
        }
    }
}

impl<P: fmt::Debug, F: 'static> fmt::Debug for FilterMap<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FilterMap")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<P, F: 'static, U> Publisher for FilterMap<P, F>
where
    P: Publisher,
    F: Fn(P::Item) -> Option<U> + Send + Sync + 'static,
{
    type Item = U;

    fn subscribe<S: Subscriber<U> + 'static>(&self, subscriber: S) {
        self.source.subscribe(FilterMapSubscriber {
            downstream: subscriber,
            f: self.f.clone(),
            link: Link::new(),
        });
    }
}

struct FilterMapSubscriber<S, F: 'static> {
    downstream: S,
    f: SharedFn<F>,
    /// §2.5 / §1.7 guard, and the upstream to ask for a replacement of a dropped element.
    link: Link,
}

impl<S, F: 'static> FilterMapSubscriber<S, F> {
    /// The mapped element: `Some(Some(u))` to pass on, `Some(None)` to drop, `None` when `f`
    /// panicked (the stream has failed).
    #[inline(always)]
    fn apply<T, U>(&mut self, item: T) -> Option<Option<U>>
    where
        S: Subscriber<U>,
        F: Fn(T) -> Option<U>,
    {
        match catch_panic("closure", || (self.f)(item)) {
            Ok(mapped) => Some(mapped),
            Err(error) => {
                if self.link.fail() {
                    self.downstream.on_error(error.in_stage("filter_map"));
                }
                None
            }
        }
    }
}

impl<T, U, S, F: 'static> Subscriber<T> for FilterMapSubscriber<S, F>
where
    S: Subscriber<U>,
    F: Fn(T) -> Option<U> + Send + Sync,
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
        match self.apply(item) {
            Some(Some(mapped)) => self.downstream.on_next(mapped),
            Some(None) => self.link.request(1), // dropped: ask for its replacement
            None => {}
        }
    }

    #[inline(always)]
    fn try_on_next(&mut self, item: T) -> bool {
        if self.link.is_done() {
            return true;
        }
        match self.apply(item) {
            Some(Some(mapped)) => self.downstream.try_on_next(mapped),
            Some(None) => false,
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
