//! `skip_while(predicate)`: drops elements while a predicate holds, then passes everything.

use std::fmt;
use std::sync::Arc;

use rstreams_core::{Publisher, Subscriber};

use crate::sieve::{Keep, Sieve};

/// The publisher returned by [`skip_while`](crate::PublisherExt::skip_while).
#[must_use = "publishers do nothing until subscribed"]
pub struct SkipWhile<P, F> {
    source: P,
    predicate: Arc<F>,
}

impl<P, F> SkipWhile<P, F> {
    pub(crate) fn new(source: P, predicate: F) -> Self {
        SkipWhile {
            source,
            predicate: Arc::new(predicate),
        }
    }
}

impl<P: Clone, F> Clone for SkipWhile<P, F> {
    fn clone(&self) -> Self {
        SkipWhile {
            source: self.source.clone(),
            predicate: Arc::clone(&self.predicate),
        }
    }
}

impl<P: fmt::Debug, F> fmt::Debug for SkipWhile<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkipWhile")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<P, F> Publisher for SkipWhile<P, F>
where
    P: Publisher,
    F: Fn(&P::Item) -> bool + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.source.subscribe(Sieve::new(
            subscriber,
            Skipping {
                predicate: Arc::clone(&self.predicate),
                skipping: true,
            },
        ));
    }
}

struct Skipping<F> {
    predicate: Arc<F>,
    /// Still dropping: the predicate has held for every element so far.
    skipping: bool,
}

impl<T, F: Fn(&T) -> bool + Send + Sync> Keep<T> for Skipping<F> {
    const NAME: &'static str = "skip_while";

    #[inline]
    fn keep(&mut self, item: &T) -> bool {
        if self.skipping && !(self.predicate)(item) {
            self.skipping = false;
        }
        !self.skipping
    }
}
