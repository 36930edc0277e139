//! `on_backpressure_latest()`: keeps only the newest element for a downstream that cannot keep
//! up.

use std::fmt;
use std::sync::Arc;

use rstreams_core::support::{Dropped, ErrorMode, Overflow};
use rstreams_core::{Publisher, Subscriber};

use crate::queued::{self, Policy, Setup};

/// The publisher returned by
/// [`PublisherExt::on_backpressure_latest`](crate::PublisherExt::on_backpressure_latest) and
/// [`on_backpressure_latest_with`](crate::PublisherExt::on_backpressure_latest_with): requests
/// unbounded demand upstream and holds the newest element not yet delivered; an element that
/// arrives while one is held replaces it.
///
/// Errors reach the downstream after the held element unless
/// [`error_mode`](Self::error_mode) says otherwise.
#[must_use = "publishers do nothing until subscribed"]
pub struct OnBackpressureLatest<P, F> {
    source: P,
    errors: ErrorMode,
    on_dropped: Arc<F>,
    dropped: Dropped,
}

impl<P, F> OnBackpressureLatest<P, F> {
    pub(crate) fn new(source: P, on_dropped: F) -> Self {
        OnBackpressureLatest {
            source,
            errors: ErrorMode::AfterQueued,
            on_dropped: Arc::new(on_dropped),
            dropped: Dropped::new(),
        }
    }

    /// Chooses when an error reaches the downstream: the error of a panicking drop callback,
    /// or the upstream's error.
    ///
    /// | mode | the error goes out | the held element |
    /// |---|---|---|
    /// | [`ErrorMode::AfterQueued`] (the default) | once the downstream has taken the held element | delivered first, when demand allows |
    /// | [`ErrorMode::Immediate`] | at once, with or without demand | discarded (not counted as dropped) |
    ///
    /// Under after-queued, a consumer that has stopped requesting never learns of the failure:
    /// the error waits behind the element it does not take. Completion always waits for the
    /// held element.
    ///
    /// ```
    /// use rstreams::{source, Error, Publisher};
    /// use rstreams::ops::{ErrorMode, PublisherExt};
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let probe = TestSubscriber::<u64>::new(0);
    /// source::range(0, 3)
    ///     .concat(source::fail(Error::msg("sensor lost")))
    ///     .on_backpressure_latest()
    ///     .error_mode(ErrorMode::Immediate)
    ///     .subscribe(probe.clone());
    /// assert!(probe.values().is_empty()); // the held 2 was discarded
    /// assert_eq!(probe.error().unwrap().to_string(), "sensor lost");
    /// ```
    pub fn error_mode(mut self, errors: ErrorMode) -> Self {
        self.errors = errors;
        self
    }

    /// The count of elements this operator has replaced with newer ones, over all its
    /// subscriptions (and those of its clones).
    pub fn dropped(&self) -> Dropped {
        self.dropped.clone()
    }
}

impl<P: Clone, F> Clone for OnBackpressureLatest<P, F> {
    /// A clone shares the callback and the [`Dropped`] count.
    fn clone(&self) -> Self {
        OnBackpressureLatest {
            source: self.source.clone(),
            errors: self.errors,
            on_dropped: Arc::clone(&self.on_dropped),
            dropped: self.dropped.clone(),
        }
    }
}

impl<P: fmt::Debug, F> fmt::Debug for OnBackpressureLatest<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnBackpressureLatest")
            .field("source", &self.source)
            .field("errors", &self.errors)
            .field("dropped", &self.dropped.count())
            .finish_non_exhaustive()
    }
}

impl<P, F> Publisher for OnBackpressureLatest<P, F>
where
    P: Publisher,
    P::Item: Send + 'static,
    F: Fn(P::Item) + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        // The newest element only: a queue of one that evicts the older element.
        queued::subscribe(
            &self.source,
            subscriber,
            Setup {
                name: "on_backpressure_latest",
                policy: Policy::Bounded {
                    capacity: 1,
                    overflow: Overflow::EvictOldest,
                },
                errors: self.errors,
                on_dropped: Arc::clone(&self.on_dropped),
                dropped: self.dropped.clone(),
            },
        );
    }
}
