//! `merge_delay_error(other)`: a merge whose errors wait until every source has ended.

use std::fmt;
use std::sync::Arc;

use rstreams_core::{BoxPublisher, Error, Publisher, Subscriber};

use crate::flat_map::{start, Shared};

const STAGE: &str = "merge_delay_error";

/// The publisher returned by [`merge_delay_error`](crate::PublisherExt::merge_delay_error).
///
/// Merging it again with `merge_delay_error` (in a loop, say) adds the new source to its list
/// instead of nesting: a merge of 10 000 sources is one operator, and neither subscribing nor
/// emitting recurses per source.
#[must_use = "publishers do nothing until subscribed"]
pub struct MergeDelayError<P> {
    sources: Vec<P>,
    prefetch: usize,
}

impl<P> MergeDelayError<P> {
    pub(crate) fn new(sources: Vec<P>, prefetch: usize) -> Self {
        MergeDelayError { sources, prefetch }
    }
}

impl<T: Send + 'static> MergeDelayError<BoxPublisher<T>> {
    /// Adds `other` to the merged sources (the same as
    /// [`PublisherExt::merge_delay_error`](crate::PublisherExt::merge_delay_error), flattened).
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let mut all = source::just(0u64).merge_delay_error(source::just(1));
    /// for i in 2..1_000 {
    ///     all = all.merge_delay_error(source::just(i));
    /// }
    /// assert_eq!(sink::collect(&all).unwrap().len(), 1_000);
    /// ```
    pub fn merge_delay_error<Q>(mut self, other: Q) -> Self
    where
        Q: Publisher<Item = T> + Send + Sync + 'static,
    {
        self.sources.push(other.boxed());
        self
    }
}

impl<P: Clone> Clone for MergeDelayError<P> {
    fn clone(&self) -> Self {
        MergeDelayError {
            sources: self.sources.clone(),
            prefetch: self.prefetch,
        }
    }
}

impl<P> fmt::Debug for MergeDelayError<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MergeDelayError")
            .field("sources", &self.sources.len())
            .field("prefetch", &self.prefetch)
            .finish()
    }
}

impl<P> Publisher for MergeDelayError<P>
where
    P: Publisher + Clone + Send + 'static,
    P::Item: Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        let shared = Arc::new(
            Shared::new(STAGE, self.prefetch, self.sources.clone(), true).delaying_errors(),
        );
        // The engine's first pass subscribes every source, with its loop held.
        start(&shared, subscriber);
    }
}

/// The errors of several sources of a [`merge_delay_error`](crate::PublisherExt::merge_delay_error),
/// in the order they were seen: what the stream fails with when more than one source failed,
/// wrapped in an [`Error`] that shows the first and counts the others.
///
/// ```
/// use rstreams::{sink, source, Error};
/// use rstreams::ops::{CompositeError, PublisherExt};
///
/// let failing = source::fail::<u64>(Error::msg("a broke"))
///     .merge_delay_error(source::range(0, 2))
///     .merge_delay_error(source::fail(Error::msg("b broke")));
/// let error = sink::collect(&failing).unwrap_err();
/// assert_eq!(error.message(), "a broke (and 1 more error)");
/// assert_eq!(error.stage(), Some("merge_delay_error"));
/// let all = error.downcast_ref::<CompositeError>().unwrap();
/// assert_eq!(all.errors().len(), 2);
/// assert_eq!(all.errors()[1].to_string(), "b broke");
/// ```
#[derive(Debug, Clone)]
pub struct CompositeError {
    errors: Vec<Error>,
}

impl CompositeError {
    /// Every error, first seen first (at least two).
    pub fn errors(&self) -> &[Error] {
        &self.errors
    }
}

impl fmt::Display for CompositeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let more = self.errors.len() - 1;
        let plural = if more == 1 { "" } else { "s" };
        write!(f, "{} (and {more} more error{plural})", self.errors[0])
    }
}

impl std::error::Error for CompositeError {
    /// The first error.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.errors[0])
    }
}

/// What a merge with delayed errors fails with: its one error as it is, or several as a
/// [`CompositeError`].
pub(crate) fn combine(mut errors: Vec<Error>) -> Error {
    if errors.len() == 1 {
        return errors.pop().expect("one error");
    }
    Error::new(CompositeError { errors }).in_stage(STAGE)
}
