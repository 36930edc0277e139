//! `merge_all(publishers, prefetch)` and `merge`: every source subscribed at once, elements
//! taken from them in turns.

use std::fmt;
use std::sync::Arc;

use rstreams_core::{BoxPublisher, Publisher, Subscriber};

use crate::flat_map::{start, Shared};

/// Merges several publishers of the same type: subscribes to all of them at once and emits
/// their elements as they come, fairly: the ready sources take turns, one element per turn
/// for a source that is subscribed, up to `min(prefetch, 64)` in a row for a synchronous one
/// that is fused (`range`, `from_iter`, `just`: its elements are always ready, and taking
/// them in a row costs less).
///
/// # Backpressure
///
/// Each source is asked for `prefetch` and replenished after three quarters are consumed:
/// memory is O(sources × prefetch). Every source is subscribed before the first element goes
/// out, and downstream demand is met from the sources in turns, so none is starved by another,
/// not even by an endless synchronous one.
///
/// # Errors
///
/// The first error of any source cancels the others and goes downstream at once. Completes when
/// every source has completed and its elements went out.
///
/// # Panics
///
/// When `prefetch` is 0. An empty `publishers` is valid: it completes at once.
///
/// ```
/// use rstreams::{sink, source};
/// use rstreams::ops::merge_all;
///
/// let merged = merge_all(vec![source::range(0, 3), source::range(10, 3)], 4);
/// let mut all = sink::collect(&merged).unwrap();
/// all.sort();
/// assert_eq!(all, vec![0, 1, 2, 10, 11, 12]);
/// ```
pub fn merge_all<P>(publishers: Vec<P>, prefetch: usize) -> MergeAll<P>
where
    P: Publisher + Clone + Send + 'static,
{
    assert!(
        prefetch > 0,
        "merge: prefetch must be at least 1 (got 0): a source that may send nothing never progresses"
    );
    MergeAll {
        sources: publishers,
        prefetch,
    }
}

/// The publisher returned by [`merge_all`] and [`merge`](crate::PublisherExt::merge).
///
/// Merging a `MergeAll` of boxed publishers again (`m.merge(x)`, in a loop) adds `x` to its
/// list instead of nesting: a merge of 10 000 sources is one operator, and neither subscribing
/// nor emitting recurses per source.
#[must_use = "publishers do nothing until subscribed"]
pub struct MergeAll<P> {
    sources: Vec<P>,
    prefetch: usize,
}

impl<T: Send + 'static> MergeAll<BoxPublisher<T>> {
    /// Adds `other` to the merged sources (the same as
    /// [`PublisherExt::merge`](crate::PublisherExt::merge), flattened).
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let mut all = source::just(0u64).merge(source::just(1));
    /// for i in 2..1_000 {
    ///     all = all.merge(source::just(i));
    /// }
    /// assert_eq!(sink::collect(&all).unwrap().len(), 1_000);
    /// ```
    pub fn merge<Q>(mut self, other: Q) -> Self
    where
        Q: Publisher<Item = T> + Send + Sync + 'static,
    {
        self.sources.push(other.boxed());
        self
    }
}

impl<P: Clone> Clone for MergeAll<P> {
    fn clone(&self) -> Self {
        MergeAll {
            sources: self.sources.clone(),
            prefetch: self.prefetch,
        }
    }
}

impl<P> fmt::Debug for MergeAll<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MergeAll")
            .field("sources", &self.sources.len())
            .field("prefetch", &self.prefetch)
            .finish()
    }
}

impl<P> Publisher for MergeAll<P>
where
    P: Publisher + Clone + Send + 'static,
    P::Item: Send + 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        let shared = Arc::new(Shared::new(
            "merge",
            self.prefetch,
            self.sources.clone(),
            true,
        ));
        // The engine's first pass subscribes every source, with its loop held.
        start(&shared, subscriber);
    }
}
