//! `take(n)`: the first `n` elements, then completion.

use std::sync::Arc;

use rstreams_core::support::{Budget, UpstreamSlot};
use rstreams_core::{Error, NoopSubscription, Publisher, Subscriber, Subscription};

/// The publisher returned by [`PublisherExt::take`](crate::PublisherExt::take): emits the first
/// `n` elements of its source, then cancels it and completes.
///
/// Its subscription caps the demand forwarded upstream at `n` over the whole subscription.
#[derive(Debug, Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct Take<P> {
    source: P,
    n: u64,
}

impl<P> Take<P> {
    pub(crate) fn new(source: P, n: u64) -> Self {
        Take { source, n }
    }
}

impl<P: Publisher> Publisher for Take<P> {
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.source.subscribe(TakeSubscriber {
            downstream: subscriber,
            shared: Arc::new(TakeSubscription {
                upstream: UpstreamSlot::new(),
                budget: Budget::new(self.n),
            }),
            remaining: self.n,
            done: false,
        });
    }
}

/// The subscription the downstream holds: forwards requests within the budget of `n`.
struct TakeSubscription {
    upstream: UpstreamSlot,
    budget: Budget,
}

impl Subscription for TakeSubscription {
    fn request(&self, n: u64) {
        if n == 0 {
            // §3.9: the upstream fails the stream, and the error passes through.
            self.upstream.request(0);
            return;
        }
        let granted = self.budget.claim(n);
        if granted > 0 {
            self.upstream.request(granted);
        }
    }

    fn cancel(&self) {
        self.upstream.cancel();
    }
}

struct TakeSubscriber<S> {
    downstream: S,
    shared: Arc<TakeSubscription>,
    remaining: u64,
    done: bool,
}

impl<T, S: Subscriber<T>> Subscriber<T> for TakeSubscriber<S> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if self.done {
            subscription.cancel(); // §2.5
            return;
        }
        if self.remaining == 0 {
            // take(0): nothing is wanted from the upstream.
            self.done = true;
            subscription.cancel();
            self.downstream.on_subscribe(Arc::new(NoopSubscription));
            self.downstream.on_complete();
            return;
        }
        if self.shared.upstream.set(subscription) {
            let own: Arc<dyn Subscription> = self.shared.clone();
            self.downstream.on_subscribe(own);
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if self.done {
            return;
        }
        self.remaining -= 1;
        self.downstream.on_next(item);
        if self.remaining == 0 {
            self.done = true;
            // A downstream that cancelled from inside that on_next gets no completion.
            let cancelled = self.shared.upstream.is_cancelled();
            self.shared.upstream.cancel();
            if !cancelled {
                self.downstream.on_complete();
            }
        }
    }

    fn on_error(&mut self, error: Error) {
        if !self.done {
            self.done = true;
            self.shared.upstream.clear();
            self.downstream.on_error(error);
        }
    }

    fn on_complete(&mut self) {
        if !self.done {
            self.done = true;
            self.shared.upstream.clear();
            self.downstream.on_complete();
        }
    }
}
