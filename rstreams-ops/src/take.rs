//! `take(n)`: the first `n` elements, then completion.

use std::sync::Arc;

use rstreams_core::support::Budget;
use rstreams_core::sync::{AtomicBool, Ordering};
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

    #[inline]
    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.source.subscribe(TakeSubscriber {
            downstream: subscriber,
            shared: None,
            remaining: self.n,
            done: false,
        });
    }
}

/// The subscription the downstream holds: forwards requests within the budget of `n`. Made in
/// `on_subscribe`, when the upstream's subscription is known, so it holds that one directly
/// (no slot, no lock) for as long as the downstream holds this.
struct TakeSubscription {
    upstream: Arc<dyn Subscription>,
    budget: Budget,
    /// Set once, never cleared: the downstream cancelled, or the stage ended (its `n`-th
    /// element, or the upstream's terminal signal). Requests and cancels then do nothing
    /// (§3.6, §3.7).
    ended: AtomicBool,
}

impl TakeSubscription {
    /// Marks the end; `true` for the first call only.
    #[inline]
    fn end(&self) -> bool {
        !self.ended.swap(true, Ordering::AcqRel)
    }

    #[inline]
    fn is_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }
}

impl Subscription for TakeSubscription {
    fn request(&self, n: u64) {
        if self.is_ended() {
            return; // §3.6
        }
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
        if self.end() {
            self.upstream.cancel();
        }
    }
}

struct TakeSubscriber<S> {
    downstream: S,
    /// The subscription handed downstream; `None` until `on_subscribe` (and for `take(0)`).
    shared: Option<Arc<TakeSubscription>>,
    remaining: u64,
    done: bool,
}

impl<T, S: Subscriber<T>> Subscriber<T> for TakeSubscriber<S> {
    #[inline]
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if self.done || self.shared.is_some() {
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
        let shared = Arc::new(TakeSubscription {
            upstream: subscription,
            budget: Budget::new(self.remaining),
            ended: AtomicBool::new(false),
        });
        self.shared = Some(Arc::clone(&shared));
        self.downstream.on_subscribe(shared);
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
            if let Some(shared) = &self.shared {
                if shared.end() {
                    shared.upstream.cancel();
                    self.downstream.on_complete();
                }
            }
        }
    }

    fn on_error(&mut self, error: Error) {
        if !self.done {
            self.done = true;
            self.release();
            self.downstream.on_error(error);
        }
    }

    fn on_complete(&mut self) {
        if !self.done {
            self.done = true;
            self.release();
            self.downstream.on_complete();
        }
    }
}

impl<S> TakeSubscriber<S> {
    /// The upstream ended (§1.6): later requests and cancels of the downstream do nothing.
    fn release(&mut self) {
        if let Some(shared) = &self.shared {
            shared.end();
        }
    }
}
