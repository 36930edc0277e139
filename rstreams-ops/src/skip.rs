//! `skip(n)`: drops the first `n` elements.

use std::sync::Arc;

use rstreams_core::support::Link;
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// The publisher returned by [`PublisherExt::skip`](crate::PublisherExt::skip): emits the
/// elements of its source after the first `n`.
///
/// Pass-through: the downstream's requests and cancel go straight to the source. A skipped
/// element costs no request on the conditional fast path
/// ([`Subscriber::try_on_next`]) and one `request(1)` on the plain `on_next` path.
#[derive(Debug, Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct Skip<P> {
    source: P,
    n: u64,
}

impl<P> Skip<P> {
    pub(crate) fn new(source: P, n: u64) -> Self {
        Skip { source, n }
    }
}

impl<P: Publisher> Publisher for Skip<P> {
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.source.subscribe(SkipSubscriber {
            downstream: subscriber,
            remaining: self.n,
            link: Link::new(),
        });
    }
}

struct SkipSubscriber<S> {
    downstream: S,
    remaining: u64,
    link: Link,
}

impl<T, S: Subscriber<T>> Subscriber<T> for SkipSubscriber<S> {
    rstreams_core::forward_wanted!(downstream);

    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if let Some(subscription) = self.link.accept(subscription) {
            self.downstream.on_subscribe(subscription);
        }
    }

    /// The plain path: the upstream counted a skipped element against the demand, so it is
    /// replaced with `request(1)`.
    #[inline]
    fn on_next(&mut self, item: T) {
        if self.link.is_done() {
            return;
        }
        if self.remaining > 0 {
            self.remaining -= 1;
            self.link.request(1);
        } else {
            self.downstream.on_next(item);
        }
    }

    /// The fast path: a skipped element returns `false`, so the upstream does not count it.
    #[inline(always)]
    fn try_on_next(&mut self, item: T) -> bool {
        if self.link.is_done() {
            return true;
        }
        if self.remaining > 0 {
            self.remaining -= 1;
            false
        } else {
            self.downstream.try_on_next(item)
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
