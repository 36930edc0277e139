//! `inspect(f)`: sees each element on its way through.

use std::fmt;
use std::sync::Arc;

use crate::shared_fn::SharedFn;
use rstreams_core::support::{catch_panic, Link};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// Names the stage in errors.
const NAME: &str = "inspect";

/// The publisher returned by [`PublisherExt::inspect`](crate::PublisherExt::inspect).
///
/// Pass-through: the downstream holds the upstream's own subscription.
#[must_use = "publishers do nothing until subscribed"]
pub struct Inspect<P, F: 'static> {
    source: P,
    f: SharedFn<F>,
}

impl<P, F: 'static> Inspect<P, F> {
    pub(crate) fn new(source: P, f: F) -> Self {
        Inspect {
            source,
            f: SharedFn::new(f),
        }
    }
}

impl<P: Clone, F: 'static> Clone for Inspect<P, F> {
    fn clone(&self) -> Self {
        Inspect {
            source: self.source.clone(),
            f: self.f.clone(),
        }
    }
}

impl<P: fmt::Debug, F: 'static> fmt::Debug for Inspect<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inspect")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<P, F: 'static> Publisher for Inspect<P, F>
where
    P: Publisher,
    F: Fn(&P::Item) + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.source.subscribe(InspectSubscriber {
            downstream: subscriber,
            f: self.f.clone(),
            link: Link::new(),
        });
    }
}

struct InspectSubscriber<S, F: 'static> {
    downstream: S,
    f: SharedFn<F>,
    link: Link,
}

impl<S, F: 'static> InspectSubscriber<S, F> {
    /// Runs the hook; on a panic fails the stage (the upstream cancelled) and returns `false`.
    #[inline]
    fn seen<T>(&mut self, item: &T) -> bool
    where
        S: Subscriber<T>,
        F: Fn(&T),
    {
        match catch_panic(NAME, || (self.f)(item)) {
            Ok(()) => true,
            Err(error) => {
                if self.link.fail() {
                    self.downstream.on_error(error.in_stage(NAME));
                }
                false
            }
        }
    }
}

impl<T, S, F: 'static> Subscriber<T> for InspectSubscriber<S, F>
where
    S: Subscriber<T>,
    F: Fn(&T) + Send + Sync,
{
    rstreams_core::forward_wanted!(downstream);

    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if let Some(subscription) = self.link.accept(subscription) {
            self.downstream.on_subscribe(subscription);
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if !self.link.is_done() && self.seen(&item) {
            self.downstream.on_next(item);
        }
    }

    #[inline(always)]
    fn try_on_next(&mut self, item: T) -> bool {
        if self.link.is_done() || !self.seen(&item) {
            return true;
        }
        self.downstream.try_on_next(item)
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
