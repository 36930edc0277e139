//! `on_backpressure_drop()`: drops the elements that arrive while the downstream has no demand.

use std::fmt;
use std::sync::Arc;

use rstreams_core::support::{catch_panic, Demand, Dropped, UpstreamSlot, UNBOUNDED};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// The publisher returned by
/// [`PublisherExt::on_backpressure_drop`](crate::PublisherExt::on_backpressure_drop) and
/// [`on_backpressure_drop_with`](crate::PublisherExt::on_backpressure_drop_with): requests
/// unbounded demand upstream, passes an element on when the downstream has demand for it and
/// drops it otherwise. It holds no element.
#[must_use = "publishers do nothing until subscribed"]
pub struct OnBackpressureDrop<P, F> {
    source: P,
    on_dropped: Arc<F>,
    dropped: Dropped,
}

impl<P, F> OnBackpressureDrop<P, F> {
    pub(crate) fn new(source: P, on_dropped: F) -> Self {
        OnBackpressureDrop {
            source,
            on_dropped: Arc::new(on_dropped),
            dropped: Dropped::new(),
        }
    }

    /// The count of elements this operator has dropped, over all its subscriptions (and those
    /// of its clones).
    pub fn dropped(&self) -> Dropped {
        self.dropped.clone()
    }
}

impl<P: Clone, F> Clone for OnBackpressureDrop<P, F> {
    /// A clone shares the callback and the [`Dropped`] count.
    fn clone(&self) -> Self {
        OnBackpressureDrop {
            source: self.source.clone(),
            on_dropped: Arc::clone(&self.on_dropped),
            dropped: self.dropped.clone(),
        }
    }
}

impl<P: fmt::Debug, F> fmt::Debug for OnBackpressureDrop<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnBackpressureDrop")
            .field("source", &self.source)
            .field("dropped", &self.dropped.count())
            .finish_non_exhaustive()
    }
}

impl<P, F> Publisher for OnBackpressureDrop<P, F>
where
    P: Publisher,
    F: Fn(P::Item) + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.source.subscribe(DropSubscriber {
            downstream: subscriber,
            shared: Arc::new(DropSubscription {
                demand: Demand::new(),
                upstream: UpstreamSlot::new(),
            }),
            on_dropped: Arc::clone(&self.on_dropped),
            dropped: self.dropped.clone(),
            available: 0,
            emitted: 0,
            done: false,
        });
    }
}

/// The subscription the downstream holds: records its demand; the upstream was asked for
/// everything already.
struct DropSubscription {
    demand: Demand,
    upstream: UpstreamSlot,
}

impl Subscription for DropSubscription {
    fn request(&self, n: u64) {
        if n == 0 {
            // §3.9: the upstream fails the stream, and the error passes through.
            self.upstream.request(0);
        } else {
            self.demand.add(n);
        }
    }

    fn cancel(&self) {
        self.upstream.cancel();
    }
}

struct DropSubscriber<S, F> {
    downstream: S,
    shared: Arc<DropSubscription>,
    on_dropped: Arc<F>,
    dropped: Dropped,
    /// The demand read at the last synchronisation with the shared counter…
    available: u64,
    /// …and how much of it was used since: the shared demand is updated only when this
    /// reaches `available`, not per element.
    emitted: u64,
    done: bool,
}

impl<S, F> DropSubscriber<S, F> {
    fn drop_item<T>(&mut self, item: T)
    where
        S: Subscriber<T>,
        F: Fn(T),
    {
        self.dropped.record();
        let on_dropped = &self.on_dropped;
        if let Err(error) = catch_panic("on_dropped callback", || on_dropped(item)) {
            if !self.done {
                self.done = true;
                self.shared.upstream.cancel();
                self.downstream
                    .on_error(error.in_stage("on_backpressure_drop"));
            }
        }
    }
}

impl<T, S, F> Subscriber<T> for DropSubscriber<S, F>
where
    S: Subscriber<T>,
    F: Fn(T) + Send + Sync,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if self.done {
            subscription.cancel(); // §2.5
            return;
        }
        if self.shared.upstream.set(subscription) {
            let own: Arc<dyn Subscription> = self.shared.clone();
            self.downstream.on_subscribe(own);
            self.shared.upstream.request(UNBOUNDED);
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if self.done {
            // Late (in flight after this stage failed): dropped like any other.
            self.drop_item(item);
            return;
        }
        if self.emitted == self.available {
            self.available = self.shared.demand.produced(self.emitted);
            self.emitted = 0;
        }
        if self.emitted < self.available {
            // A filter downstream that rejects the element leaves its demand unused.
            if self.downstream.try_on_next(item) {
                self.emitted += 1;
            }
        } else {
            self.drop_item(item);
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
