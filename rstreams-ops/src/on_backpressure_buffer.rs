//! `on_backpressure_buffer(capacity, overflow)`: a bounded queue for a downstream that cannot
//! keep up, with a named overflow policy.

use std::fmt;
use std::sync::Arc;

use rstreams_core::{Publisher, Subscriber};

use crate::dropped::Dropped;
use crate::queued::{self, Policy, Setup};

/// What [`on_backpressure_buffer`](crate::PublisherExt::on_backpressure_buffer) does with an
/// element that arrives while its queue is full.
///
/// The names say which element goes, so that they cannot be misread (Reactor's `DROP_LATEST`
/// drops the incoming element, RxJava's evicts the newest queued one).
///
/// With `capacity` 3, queue `[a, b, c]` (oldest first) and `d` arriving:
///
/// | policy | queue after | dropped |
/// |---|---|---|
/// | `DropIncoming` | `[a, b, c]` | `d` |
/// | `EvictOldest` | `[b, c, d]` | `a` |
/// | `EvictNewest` | `[a, b, d]` | `c` |
/// | `Fail` | `[a, b, c]`, then the overflow error | `d` |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Overflow {
    /// Keep the queue; drop the element that arrived (Reactor `DROP_LATEST`, Pekko's former
    /// `dropNew`).
    DropIncoming,
    /// Evict the oldest queued element and queue the incoming one (Reactor and RxJava
    /// `DROP_OLDEST`, Pekko `dropHead`).
    EvictOldest,
    /// Evict the newest queued element and queue the incoming one (RxJava `DROP_LATEST`, Pekko
    /// `dropTail`).
    EvictNewest,
    /// Drop the incoming element, cancel the upstream, and fail the stream with an error of
    /// kind [`ErrorKind::Overflow`](rstreams_core::ErrorKind::Overflow) once the queued
    /// elements have been delivered.
    Fail,
}

/// The publisher returned by
/// [`PublisherExt::on_backpressure_buffer`](crate::PublisherExt::on_backpressure_buffer) and
/// [`on_backpressure_buffer_with`](crate::PublisherExt::on_backpressure_buffer_with): requests
/// unbounded demand upstream and queues up to `capacity` elements for the downstream, applying
/// an [`Overflow`] policy beyond that.
#[must_use = "publishers do nothing until subscribed"]
pub struct OnBackpressureBuffer<P, F> {
    source: P,
    capacity: usize,
    overflow: Overflow,
    on_dropped: Arc<F>,
    dropped: Dropped,
}

impl<P, F> OnBackpressureBuffer<P, F> {
    pub(crate) fn new(source: P, capacity: usize, overflow: Overflow, on_dropped: F) -> Self {
        assert!(
            capacity > 0,
            "on_backpressure_buffer(capacity, overflow): capacity must be at least 1 \
             (valid range 1..=usize::MAX), got 0"
        );
        OnBackpressureBuffer {
            source,
            capacity,
            overflow,
            on_dropped: Arc::new(on_dropped),
            dropped: Dropped::new(),
        }
    }

    /// The count of elements this operator has dropped by its overflow policy, over all its
    /// subscriptions (and those of its clones).
    pub fn dropped(&self) -> Dropped {
        self.dropped.clone()
    }
}

impl<P: Clone, F> Clone for OnBackpressureBuffer<P, F> {
    /// A clone shares the callback and the [`Dropped`] count.
    fn clone(&self) -> Self {
        OnBackpressureBuffer {
            source: self.source.clone(),
            capacity: self.capacity,
            overflow: self.overflow,
            on_dropped: Arc::clone(&self.on_dropped),
            dropped: self.dropped.clone(),
        }
    }
}

impl<P: fmt::Debug, F> fmt::Debug for OnBackpressureBuffer<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnBackpressureBuffer")
            .field("source", &self.source)
            .field("capacity", &self.capacity)
            .field("overflow", &self.overflow)
            .field("dropped", &self.dropped.count())
            .finish_non_exhaustive()
    }
}

impl<P, F> Publisher for OnBackpressureBuffer<P, F>
where
    P: Publisher,
    P::Item: Send + 'static,
    F: Fn(P::Item) + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        queued::subscribe(
            &self.source,
            subscriber,
            Setup {
                name: "on_backpressure_buffer",
                policy: Policy::Bounded {
                    capacity: self.capacity,
                    overflow: self.overflow,
                },
                on_dropped: Arc::clone(&self.on_dropped),
                dropped: self.dropped.clone(),
            },
        );
    }
}
