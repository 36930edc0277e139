//! `take_while(predicate)`: elements while a predicate holds, then completion.

use std::fmt;
use std::sync::Arc;

use rstreams_core::support::{catch_panic, Link};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// The publisher returned by [`take_while`](crate::PublisherExt::take_while).
#[must_use = "publishers do nothing until subscribed"]
pub struct TakeWhile<P, F> {
    source: P,
    predicate: Arc<F>,
}

impl<P, F> TakeWhile<P, F> {
    pub(crate) fn new(source: P, predicate: F) -> Self {
        TakeWhile {
            source,
            predicate: Arc::new(predicate),
        }
    }
}

impl<P: Clone, F> Clone for TakeWhile<P, F> {
    fn clone(&self) -> Self {
        TakeWhile {
            source: self.source.clone(),
            predicate: Arc::clone(&self.predicate),
        }
    }
}

impl<P: fmt::Debug, F> fmt::Debug for TakeWhile<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TakeWhile")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<P, F> Publisher for TakeWhile<P, F>
where
    P: Publisher,
    F: Fn(&P::Item) -> bool + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.source.subscribe(TakeWhileSubscriber {
            downstream: subscriber,
            predicate: Arc::clone(&self.predicate),
            link: Link::new(),
        });
    }
}

struct TakeWhileSubscriber<S, F> {
    downstream: S,
    predicate: Arc<F>,
    /// §2.5 / §1.7 guard; `fail` cancels the upstream at the first rejected element.
    link: Link,
}

impl<S, F> TakeWhileSubscriber<S, F> {
    /// Whether `item` goes on; at the first that does not, the upstream is cancelled and the
    /// stream completes (or fails, if the predicate panicked).
    #[inline]
    fn keeps<T>(&mut self, item: &T) -> bool
    where
        S: Subscriber<T>,
        F: Fn(&T) -> bool,
    {
        match catch_panic("predicate", || (self.predicate)(item)) {
            Ok(true) => true,
            Ok(false) => {
                if self.link.fail() {
                    self.downstream.on_complete();
                }
                false
            }
            Err(error) => {
                if self.link.fail() {
                    self.downstream.on_error(error.in_stage("take_while"));
                }
                false
            }
        }
    }
}

impl<T, S, F> Subscriber<T> for TakeWhileSubscriber<S, F>
where
    S: Subscriber<T>,
    F: Fn(&T) -> bool + Send + Sync,
{
    rstreams_core::forward_wanted!(downstream);

    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if let Some(subscription) = self.link.accept(subscription) {
            self.downstream.on_subscribe(subscription);
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if !self.link.is_done() && self.keeps(&item) {
            self.downstream.on_next(item);
        }
    }

    #[inline(always)]
    fn try_on_next(&mut self, item: T) -> bool {
        if !self.link.is_done() && self.keeps(&item) {
            return self.downstream.try_on_next(item);
        }
        true
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
