//! `on_cancel(f)`: runs when the downstream cancels a live subscription.

use std::fmt;
use std::sync::Arc;

use rstreams_core::support::{catch_panic, Link};
use rstreams_core::sync::{AtomicU8, Ordering};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// Names the stage in errors.
const NAME: &str = "on_cancel";

/// The publisher returned by [`PublisherExt::on_cancel`](crate::PublisherExt::on_cancel).
#[must_use = "publishers do nothing until subscribed"]
pub struct OnCancel<P, F> {
    source: P,
    f: Arc<F>,
}

impl<P, F> OnCancel<P, F> {
    pub(crate) fn new(source: P, f: F) -> Self {
        OnCancel {
            source,
            f: Arc::new(f),
        }
    }
}

impl<P: Clone, F> Clone for OnCancel<P, F> {
    fn clone(&self) -> Self {
        OnCancel {
            source: self.source.clone(),
            f: Arc::clone(&self.f),
        }
    }
}

impl<P: fmt::Debug, F> fmt::Debug for OnCancel<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnCancel")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<P, F> Publisher for OnCancel<P, F>
where
    P: Publisher,
    F: Fn() + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.source.subscribe(OnCancelSubscriber {
            downstream: subscriber,
            shared: Arc::new(Ending {
                f: Arc::clone(&self.f),
                state: AtomicU8::new(LIVE),
            }),
            link: Link::new(),
        });
    }
}

/// The subscription is live.
const LIVE: u8 = 0;
/// The downstream cancelled first.
const CANCELLED: u8 = 1;
/// The upstream ended first.
const ENDED: u8 = 2;

/// Which came first, the downstream's cancel or the upstream's end: the hook runs only when
/// the cancel did, and only once.
struct Ending<F> {
    f: Arc<F>,
    state: AtomicU8,
}

impl<F> Ending<F> {
    /// Moves from live to `to`; `true` for the one call that does.
    fn settle(&self, to: u8) -> bool {
        self.state
            .compare_exchange(LIVE, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

struct OnCancelSubscriber<S, F> {
    downstream: S,
    shared: Arc<Ending<F>>,
    link: Link,
}

impl<T, S, F> Subscriber<T> for OnCancelSubscriber<S, F>
where
    S: Subscriber<T>,
    F: Fn() + Send + Sync + 'static,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if let Some(upstream) = self.link.accept(subscription) {
            self.downstream.on_subscribe(Arc::new(OnCancelSubscription {
                upstream,
                shared: Arc::clone(&self.shared),
            }));
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
        if self.link.finish() && self.shared.settle(ENDED) {
            self.downstream.on_error(error);
        }
    }

    fn on_complete(&mut self) {
        if self.link.finish() && self.shared.settle(ENDED) {
            self.downstream.on_complete();
        }
    }
}

/// The upstream's subscription with the hook in front of the first cancel.
struct OnCancelSubscription<F> {
    upstream: Arc<dyn Subscription>,
    shared: Arc<Ending<F>>,
}

impl<F: Fn() + Send + Sync + 'static> Subscription for OnCancelSubscription<F> {
    fn request(&self, n: u64) {
        self.upstream.request(n);
    }

    fn cancel(&self) {
        if self.shared.settle(CANCELLED) {
            // The downstream cancelled: a panic here has no one to be signalled to (§3.12),
            // and must not unwind into whoever cancelled. The cancel goes on regardless.
            let _ = catch_panic(NAME, || (self.shared.f)());
        }
        self.upstream.cancel();
    }
}
