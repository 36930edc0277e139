//! `take(n)`: the first `n` elements, then completion.

use std::sync::Arc;

use rstreams_core::support::Budget;
use rstreams_core::sync::{AtomicBool, Ordering};
use rstreams_core::{Error, NoopSubscription, Publisher, Subscriber, Subscription};

/// The publisher returned by [`PublisherExt::take`](crate::PublisherExt::take): emits the first
/// `n` elements of its source, then cancels it and completes.
///
/// It never lets its upstream emit more than `n`: below a source (whose engine asks the
/// chain's [`wanted`](rstreams_core::Subscriber::wanted) before each run of emissions) it
/// passes the source's subscription through and answers what is left of `n`; below anything
/// else its own subscription caps the demand forwarded upstream at `n` in total.
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
            upstream: None,
            asked: false,
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
    /// What the downstream holds and what is cancelled at the count: `None` until
    /// `on_subscribe` (and for `take(0)`).
    upstream: Option<Upstream>,
    /// The upstream announced that it asks `wanted` before each run of emissions: it caps what
    /// it emits, so its subscription is passed through uncapped.
    asked: bool,
    remaining: u64,
    done: bool,
}

/// How `take` holds its upstream.
enum Upstream {
    /// Handed to the downstream as it came: an upstream that asks `wanted` (the engine) emits
    /// no more than `remaining` anyway. No allocation.
    Through(Arc<dyn Subscription>),
    /// Wrapped in a subscription that caps the downstream's requests at `n` in total.
    Capped(Arc<TakeSubscription>),
}

impl Upstream {
    /// Cancels at the count; `false` when the downstream had cancelled already (it then gets
    /// no completion).
    #[inline]
    fn cancel_at_count(&self) -> bool {
        match self {
            Upstream::Through(upstream) => upstream.cancel_first(),
            Upstream::Capped(shared) => {
                let first = shared.end();
                if first {
                    shared.upstream.cancel();
                }
                first
            }
        }
    }
}

impl<T, S: Subscriber<T>> Subscriber<T> for TakeSubscriber<S> {
    #[inline]
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if self.done || self.upstream.is_some() {
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
        if self.asked {
            self.upstream = Some(Upstream::Through(Arc::clone(&subscription)));
            self.downstream.on_subscribe(subscription);
            return;
        }
        let shared = Arc::new(TakeSubscription {
            upstream: subscription,
            budget: Budget::new(self.remaining),
            ended: AtomicBool::new(false),
        });
        self.upstream = Some(Upstream::Capped(Arc::clone(&shared)));
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
            if let Some(upstream) = &self.upstream {
                if upstream.cancel_at_count() {
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

    /// What is left of `n`, or less if the downstream wants less; nothing once done.
    #[inline]
    fn wanted(&self) -> u64 {
        if self.done {
            0
        } else {
            self.remaining.min(self.downstream.wanted())
        }
    }

    /// Passed on only when the subscription will be passed through: below a capping
    /// subscription (or `take(0)`'s no-op one) nobody asks.
    #[inline]
    fn upstream_asks_wanted(&mut self) {
        self.asked = true;
        if self.remaining > 0 {
            self.downstream.upstream_asks_wanted();
        }
    }
}

impl<S> TakeSubscriber<S> {
    /// The upstream ended (§1.6): later requests and cancels of the downstream do nothing
    /// (passed through, the upstream itself ignores them after its end).
    fn release(&mut self) {
        if let Some(Upstream::Capped(shared)) = &self.upstream {
            shared.end();
        }
    }
}
