//! `publish_on(scheduler, prefetch)`: moves the downstream's signals onto a scheduler's worker.

use std::fmt;

use rstreams_core::scheduler::Scheduler;
use rstreams_core::support::{subscribe_through, Inbox};
use rstreams_core::{Publisher, Subscriber};

pub use rstreams_core::support::ErrorMode;

/// The publisher returned by [`publish_on`](crate::PublisherExt::publish_on).
#[must_use = "publishers do nothing until subscribed"]
pub struct PublishOn<P, S> {
    source: P,
    scheduler: S,
    prefetch: usize,
    errors: ErrorMode,
}

impl<P, S> PublishOn<P, S> {
    pub(crate) fn new(source: P, scheduler: S, prefetch: usize, errors: ErrorMode) -> Self {
        assert!(
            prefetch > 0,
            "publish_on: prefetch must be at least 1 (got 0): a boundary that holds nothing passes nothing on"
        );
        PublishOn {
            source,
            scheduler,
            prefetch,
            errors,
        }
    }
}

impl<P: Clone, S: Clone> Clone for PublishOn<P, S> {
    fn clone(&self) -> Self {
        PublishOn {
            source: self.source.clone(),
            scheduler: self.scheduler.clone(),
            prefetch: self.prefetch,
            errors: self.errors,
        }
    }
}

impl<P: fmt::Debug, S> fmt::Debug for PublishOn<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublishOn")
            .field("source", &self.source)
            .field("prefetch", &self.prefetch)
            .field("errors", &self.errors)
            .finish_non_exhaustive()
    }
}

impl<P, Sch> Publisher for PublishOn<P, Sch>
where
    P: Publisher,
    P::Item: Send + 'static,
    Sch: Scheduler,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        let inbox = Inbox::new("publish_on", self.prefetch, self.errors)
            .expect("prefetch checked at construction");
        subscribe_through(
            &self.source,
            subscriber,
            inbox,
            Some(self.scheduler.worker()),
        );
    }
}
