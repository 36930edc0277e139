//! `distinct()`, `distinct_bounded(max_keys)` and `distinct_until_changed()`: drop repeated
//! elements.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;

use rstreams_core::{Publisher, Subscriber};

use crate::sieve::{Keep, Sieve};

/// The publisher returned by [`distinct`](crate::PublisherExt::distinct) and
/// [`distinct_bounded`](crate::PublisherExt::distinct_bounded).
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct Distinct<P> {
    source: P,
    /// At most this many keys remembered (`usize::MAX`: all of them).
    max_keys: usize,
}

impl<P> Distinct<P> {
    pub(crate) fn new(source: P, max_keys: usize) -> Self {
        assert!(
            max_keys > 0,
            "distinct_bounded: max_keys must be at least 1 (got 0): nothing could be remembered"
        );
        Distinct { source, max_keys }
    }
}

impl<P: fmt::Debug> fmt::Debug for Distinct<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Distinct")
            .field("source", &self.source)
            .field("max_keys", &self.max_keys)
            .finish()
    }
}

impl<P> Publisher for Distinct<P>
where
    P: Publisher,
    P::Item: Hash + Eq + Clone + Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.source.subscribe(Sieve::new(
            subscriber,
            Seen {
                keys: HashSet::new(),
                order: VecDeque::new(),
                max_keys: self.max_keys,
            },
        ));
    }
}

/// The keys seen so far; with a bound, the most recent `max_keys` of them (oldest forgotten
/// first).
struct Seen<T> {
    keys: HashSet<T>,
    /// Insertion order, kept only with a bound (to forget the oldest).
    order: VecDeque<T>,
    max_keys: usize,
}

impl<T: Hash + Eq + Clone + Send> Keep<T> for Seen<T> {
    const NAME: &'static str = "distinct";

    #[inline]
    fn keep(&mut self, item: &T) -> bool {
        if self.keys.contains(item) {
            return false;
        }
        if self.max_keys != usize::MAX {
            if self.keys.len() == self.max_keys {
                if let Some(oldest) = self.order.pop_front() {
                    self.keys.remove(&oldest);
                }
            }
            self.order.push_back(item.clone());
        }
        self.keys.insert(item.clone());
        true
    }
}

/// The publisher returned by
/// [`distinct_until_changed`](crate::PublisherExt::distinct_until_changed).
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct DistinctUntilChanged<P> {
    source: P,
}

impl<P> DistinctUntilChanged<P> {
    pub(crate) fn new(source: P) -> Self {
        DistinctUntilChanged { source }
    }
}

impl<P: fmt::Debug> fmt::Debug for DistinctUntilChanged<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DistinctUntilChanged")
            .field("source", &self.source)
            .finish()
    }
}

impl<P> Publisher for DistinctUntilChanged<P>
where
    P: Publisher,
    P::Item: PartialEq + Clone + Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.source.subscribe(Sieve::new(
            subscriber,
            Previous {
                last: None,
                _item: PhantomData,
            },
        ));
    }
}

/// The last element passed on.
struct Previous<T> {
    last: Option<T>,
    _item: PhantomData<fn(T)>,
}

impl<T: PartialEq + Clone + Send> Keep<T> for Previous<T> {
    const NAME: &'static str = "distinct_until_changed";

    #[inline]
    fn keep(&mut self, item: &T) -> bool {
        if self.last.as_ref() == Some(item) {
            return false;
        }
        self.last = Some(item.clone());
        true
    }
}
