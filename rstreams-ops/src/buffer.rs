//! `buffer(size)`: groups elements into vectors of `size`.

use std::sync::Arc;

use rstreams_core::support::{mul_cap, UpstreamSlot};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// Vectors start with room for this many elements at most, so that a huge `size` does not
/// reserve memory no element may ever fill.
const MAX_PREALLOCATION: usize = 1024;

/// The publisher returned by [`PublisherExt::buffer`](crate::PublisherExt::buffer): emits the
/// elements of its source in vectors of `size`, the last one possibly shorter.
///
/// Its subscription turns a downstream `request(n)` into `request(n × size)` upstream.
#[derive(Debug, Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct Buffer<P> {
    source: P,
    size: usize,
}

impl<P> Buffer<P> {
    pub(crate) fn new(source: P, size: usize) -> Self {
        assert!(
            size > 0,
            "buffer(size): size must be at least 1 (valid range 1..=usize::MAX), got 0"
        );
        Buffer { source, size }
    }
}

impl<P> Publisher for Buffer<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = Vec<P::Item>;

    fn subscribe<S: Subscriber<Vec<P::Item>> + 'static>(&self, subscriber: S) {
        self.source.subscribe(BufferSubscriber {
            downstream: subscriber,
            shared: Arc::new(BufferSubscription {
                upstream: UpstreamSlot::new(),
                size: u64::try_from(self.size).unwrap_or(u64::MAX),
            }),
            current: Vec::new(),
            size: self.size,
            done: false,
        });
    }
}

/// The subscription the downstream holds: one requested vector is `size` requested elements.
struct BufferSubscription {
    upstream: UpstreamSlot,
    size: u64,
}

impl Subscription for BufferSubscription {
    fn request(&self, n: u64) {
        // request(0) stays 0, so the upstream reports the §3.9 violation.
        self.upstream.request(mul_cap(n, self.size));
    }

    fn cancel(&self) {
        self.upstream.cancel();
    }
}

struct BufferSubscriber<S, T> {
    downstream: S,
    shared: Arc<BufferSubscription>,
    current: Vec<T>,
    size: usize,
    done: bool,
}

impl<S, T> BufferSubscriber<S, T> {
    fn fresh(&self) -> Vec<T> {
        Vec::with_capacity(self.size.min(MAX_PREALLOCATION))
    }
}

impl<T, S> Subscriber<T> for BufferSubscriber<S, T>
where
    T: Send,
    S: Subscriber<Vec<T>>,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if self.done {
            subscription.cancel(); // §2.5
            return;
        }
        if self.shared.upstream.set(subscription) {
            self.current = self.fresh();
            let own: Arc<dyn Subscription> = self.shared.clone();
            self.downstream.on_subscribe(own);
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if self.done {
            return;
        }
        self.current.push(item);
        if self.current.len() == self.size {
            let fresh = self.fresh();
            let full = std::mem::replace(&mut self.current, fresh);
            self.downstream.on_next(full);
        }
    }

    fn on_error(&mut self, error: Error) {
        if !self.done {
            self.done = true;
            self.shared.upstream.clear();
            // The partial vector is dropped: the stream failed.
            self.current = Vec::new();
            self.downstream.on_error(error);
        }
    }

    fn on_complete(&mut self) {
        if !self.done {
            self.done = true;
            self.shared.upstream.clear();
            // Demand for it exists: fewer than `n × size` elements arrived for `n` vectors.
            let partial = std::mem::take(&mut self.current);
            if !partial.is_empty() {
                self.downstream.on_next(partial);
            }
            self.downstream.on_complete();
        }
    }
}
