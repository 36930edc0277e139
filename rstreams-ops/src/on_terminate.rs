//! `on_terminate(f)`: sees the end of the stream (completion or error) before the downstream.

use std::fmt;
use std::sync::Arc;

use rstreams_core::support::{catch_panic, Link};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// Names the stage in errors.
const NAME: &str = "on_terminate";

/// The publisher returned by [`PublisherExt::on_terminate`](crate::PublisherExt::on_terminate).
///
/// Pass-through: the downstream holds the upstream's own subscription.
#[must_use = "publishers do nothing until subscribed"]
pub struct OnTerminate<P, F> {
    source: P,
    f: Arc<F>,
}

impl<P, F> OnTerminate<P, F> {
    pub(crate) fn new(source: P, f: F) -> Self {
        OnTerminate {
            source,
            f: Arc::new(f),
        }
    }
}

impl<P: Clone, F> Clone for OnTerminate<P, F> {
    fn clone(&self) -> Self {
        OnTerminate {
            source: self.source.clone(),
            f: Arc::clone(&self.f),
        }
    }
}

impl<P: fmt::Debug, F> fmt::Debug for OnTerminate<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnTerminate")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<P, F> Publisher for OnTerminate<P, F>
where
    P: Publisher,
    F: Fn(Option<&Error>) + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.source.subscribe(OnTerminateSubscriber {
            downstream: subscriber,
            f: Arc::clone(&self.f),
            link: Link::new(),
        });
    }
}

struct OnTerminateSubscriber<S, F> {
    downstream: S,
    f: Arc<F>,
    link: Link,
}

impl<T, S, F> Subscriber<T> for OnTerminateSubscriber<S, F>
where
    S: Subscriber<T>,
    F: Fn(Option<&Error>) + Send + Sync,
{
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
        match catch_panic(NAME, || (self.f)(Some(&error))) {
            Ok(()) => self.downstream.on_error(error),
            // The hook's failure goes downstream instead, naming the error it was given.
            Err(panicked) => self.downstream.on_error(
                panicked
                    .in_stage(NAME)
                    .context(format!("on the upstream's error `{error}`")),
            ),
        }
    }

    fn on_complete(&mut self) {
        if !self.link.finish() {
            return;
        }
        match catch_panic(NAME, || (self.f)(None)) {
            Ok(()) => self.downstream.on_complete(),
            Err(panicked) => self.downstream.on_error(panicked.in_stage(NAME)),
        }
    }
}
