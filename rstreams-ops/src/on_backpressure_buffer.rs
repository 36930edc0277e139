//! `on_backpressure_buffer(capacity, overflow)`: a bounded queue for a downstream that cannot
//! keep up, with a named overflow policy.

use std::fmt;
use std::sync::Arc;

use rstreams_core::support::{Dropped, ErrorMode, Overflow};
use rstreams_core::{Publisher, Subscriber};

use crate::queued::{self, Policy, Setup};

/// The publisher returned by
/// [`PublisherExt::on_backpressure_buffer`](crate::PublisherExt::on_backpressure_buffer) and
/// [`on_backpressure_buffer_with`](crate::PublisherExt::on_backpressure_buffer_with): requests
/// unbounded demand upstream and queues up to `capacity` elements for the downstream, applying
/// an [`Overflow`] policy beyond that.
///
/// Errors reach the downstream after the queued elements unless
/// [`error_mode`](Self::error_mode) says otherwise.
#[must_use = "publishers do nothing until subscribed"]
pub struct OnBackpressureBuffer<P, F> {
    source: P,
    capacity: usize,
    overflow: Overflow,
    errors: ErrorMode,
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
            errors: ErrorMode::AfterQueued,
            on_dropped: Arc::new(on_dropped),
            dropped: Dropped::new(),
        }
    }

    /// Chooses when an error reaches the downstream: the overflow error of [`Overflow::Fail`],
    /// the error of a panicking drop callback, or the upstream's error.
    ///
    /// | mode | the error goes out | the queued elements |
    /// |---|---|---|
    /// | [`ErrorMode::AfterQueued`] (the default) | once the downstream has taken every queued element | delivered first, as demand allows: nothing received before the error is lost |
    /// | [`ErrorMode::Immediate`] | at once, with or without demand | discarded (not counted as dropped) |
    ///
    /// After-queued is Reactor's behaviour; but a consumer that has stopped requesting never
    /// learns of the failure under it, because the error waits behind elements it does not
    /// take. Immediate tells it at once, at the cost of the queued elements. Completion always
    /// waits for the queued elements.
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::{ErrorMode, Overflow, PublisherExt};
    /// use rstreams_tck::TestSubscriber;
    ///
    /// // 10 elements into a queue of 4 with no demand: the fifth overflows.
    /// let probe = TestSubscriber::<u64>::new(0);
    /// source::range(0, 10)
    ///     .on_backpressure_buffer(4, Overflow::Fail)
    ///     .error_mode(ErrorMode::Immediate)
    ///     .subscribe(probe.clone());
    /// assert!(probe.values().is_empty()); // the four queued elements were discarded
    /// assert_eq!(probe.error().unwrap().kind(), rstreams::ErrorKind::Overflow);
    /// ```
    pub fn error_mode(mut self, errors: ErrorMode) -> Self {
        self.errors = errors;
        self
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
            errors: self.errors,
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
            .field("errors", &self.errors)
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
                errors: self.errors,
                on_dropped: Arc::clone(&self.on_dropped),
                dropped: self.dropped.clone(),
            },
        );
    }
}
