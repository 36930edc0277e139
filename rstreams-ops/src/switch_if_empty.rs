//! `switch_if_empty(other)` and `default_if_empty(item)`: another publisher (or one element)
//! when the upstream completes without emitting.

use std::fmt;
use std::sync::Arc;

use rstreams_core::source::{self, FromIter};
use rstreams_core::support::Arbiter;
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// The publisher returned by [`switch_if_empty`](crate::PublisherExt::switch_if_empty).
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct SwitchIfEmpty<P, Q> {
    source: P,
    other: Arc<Q>,
}

impl<P, Q> SwitchIfEmpty<P, Q> {
    pub(crate) fn new(source: P, other: Q) -> Self {
        SwitchIfEmpty {
            source,
            other: Arc::new(other),
        }
    }
}

impl<P: fmt::Debug, Q> fmt::Debug for SwitchIfEmpty<P, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SwitchIfEmpty")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The publisher returned by [`default_if_empty`](crate::PublisherExt::default_if_empty).
pub type DefaultIfEmpty<P, T> = SwitchIfEmpty<P, FromIter<std::iter::Once<T>>>;

pub(crate) fn default_if_empty<P, T: Clone + Send + 'static>(
    source: P,
    item: T,
) -> DefaultIfEmpty<P, T> {
    SwitchIfEmpty::new(source, source::just(item))
}

impl<P, Q> Publisher for SwitchIfEmpty<P, Q>
where
    P: Publisher,
    Q: Publisher<Item = P::Item> + Send + Sync + 'static,
    P::Item: 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, mut subscriber: S) {
        let arbiter = Arc::new(Arbiter::new());
        let subscription = Arc::clone(&arbiter) as Arc<dyn Subscription>;
        if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            subscriber.on_subscribe(subscription)
        })) {
            arbiter.cancel(); // §2.13: treated as a cancel
            std::panic::resume_unwind(payload);
        }
        self.source.subscribe(Switching {
            downstream: Some(subscriber),
            other: Some(Arc::clone(&self.other)),
            arbiter,
            emitted: false,
            subscribed: false,
        });
    }
}

/// The subscriber given to the upstream, then (moved over) to `other`.
struct Switching<S, Q> {
    /// `None` once a terminal signal went out or it was handed to `other`'s subscriber.
    downstream: Option<S>,
    /// Still to switch to; `None` for the subscriber given to `other` itself.
    other: Option<Arc<Q>>,
    /// The downstream's subscription: requests go to the active publisher.
    arbiter: Arc<Arbiter>,
    /// An element went downstream (no switch then).
    emitted: bool,
    /// `on_subscribe` was received (§2.5: a second one is cancelled).
    subscribed: bool,
}

impl<T, S, Q> Subscriber<T> for Switching<S, Q>
where
    S: Subscriber<T> + 'static,
    Q: Publisher<Item = T> + Send + Sync + 'static,
    T: 'static,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if std::mem::replace(&mut self.subscribed, true) || self.downstream.is_none() {
            subscription.cancel(); // §2.5
            return;
        }
        self.arbiter.switch_to(subscription, 0);
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if let Some(downstream) = self.downstream.as_mut() {
            self.emitted = true;
            downstream.on_next(item);
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        match self.downstream.as_mut() {
            Some(downstream) => {
                let used = downstream.try_on_next(item);
                self.emitted |= used;
                used
            }
            None => true,
        }
    }

    fn on_error(&mut self, error: Error) {
        if let Some(mut downstream) = self.downstream.take() {
            downstream.on_error(error);
        }
    }

    fn on_complete(&mut self) {
        let Some(mut downstream) = self.downstream.take() else {
            return;
        };
        match self.other.take() {
            // Empty: the downstream moves to `other`, with all that it requested (nothing was
            // delivered). Once only, so this does not recurse.
            Some(other) if !self.emitted && !self.arbiter.is_cancelled() => {
                self.arbiter.clear();
                other.subscribe(Switching::<S, Q> {
                    downstream: Some(downstream),
                    other: None,
                    arbiter: Arc::clone(&self.arbiter),
                    emitted: false,
                    subscribed: false,
                });
            }
            _ => downstream.on_complete(),
        }
    }
}
