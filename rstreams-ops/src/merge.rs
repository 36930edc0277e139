//! `merge_all(publishers, prefetch)`, and the publisher behind `merge` and `concat`.

use std::fmt;

use rstreams_core::source::{self, FromIter};
use rstreams_core::{Publisher, Subscriber};

use crate::flat_map::FlatMap;

type Identity<P> = fn(P) -> P;

/// Merges several publishers of the same type: subscribes to all of them at once and emits
/// their elements as they come, fairly (one from each ready source in turn).
///
/// # Backpressure
///
/// Each source is asked for `prefetch` and replenished after three quarters are consumed:
/// memory is O(sources × prefetch). Downstream demand is met from whichever sources have
/// elements queued; none is starved by a faster one.
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
/// use rstreams_core::{sink, source};
/// use rstreams_ops::merge_all;
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
    let n = publishers.len().max(1);
    MergeAll {
        inner: FlatMap::new(
            source::from_iter(publishers),
            identity::<P> as Identity<P>,
            n,
            prefetch,
            "merge",
        ),
    }
}

fn identity<P>(p: P) -> P {
    p
}

/// The publisher returned by [`merge_all`], [`merge`](crate::PublisherExt::merge) and
/// [`concat`](crate::PublisherExt::concat).
#[must_use = "publishers do nothing until subscribed"]
pub struct MergeAll<P> {
    inner: FlatMap<FromIter<std::vec::IntoIter<P>>, Identity<P>>,
}

impl<P> MergeAll<P>
where
    P: Publisher + Clone + Send + 'static,
{
    /// Subscribes to the sources one at a time, in order: the next after the previous
    /// completed.
    pub(crate) fn in_order(publishers: Vec<P>, prefetch: usize) -> Self {
        MergeAll {
            inner: FlatMap::new(
                source::from_iter(publishers),
                identity::<P> as Identity<P>,
                1,
                prefetch,
                "concat",
            ),
        }
    }
}

impl<P: Clone> Clone for MergeAll<P> {
    fn clone(&self) -> Self {
        MergeAll {
            inner: self.inner.clone(),
        }
    }
}

impl<P> fmt::Debug for MergeAll<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MergeAll")
            .field("inner", &self.inner)
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
        self.inner.subscribe(subscriber)
    }
}
