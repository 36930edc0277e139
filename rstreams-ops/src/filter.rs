//! `filter(predicate)`: keeps the elements a predicate accepts.

use std::fmt;

use rstreams_core::{Publisher, Subscriber};

use crate::shared_fn::SharedFn;
use crate::sieve::{Keep, Sieve};

/// The publisher returned by [`PublisherExt::filter`](crate::PublisherExt::filter): emits the
/// elements of its source for which the predicate returns `true`.
///
/// Pass-through: the downstream's requests and cancel go straight to the source. A rejected
/// element costs no request on the conditional fast path
/// ([`Subscriber::try_on_next`]) and one `request(1)` on the plain `on_next` path.
#[must_use = "publishers do nothing until subscribed"]
pub struct Filter<P, F: 'static> {
    source: P,
    predicate: SharedFn<F>,
}

impl<P, F: 'static> Filter<P, F> {
    pub(crate) fn new(source: P, predicate: F) -> Self {
        Filter {
            source,
            predicate: SharedFn::new(predicate),
        }
    }
}

impl<P: Clone, F> Clone for Filter<P, F> {
    fn clone(&self) -> Self {
        Filter {
            source: self.source.clone(),
            predicate: self.predicate.clone(),
        }
    }
}

impl<P: fmt::Debug, F: 'static> fmt::Debug for Filter<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<P, F> Publisher for Filter<P, F>
where
    P: Publisher,
    F: Fn(&P::Item) -> bool + Send + Sync + 'static,
{
    type Item = P::Item;

    #[inline]
    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.source
            .subscribe(Sieve::new(subscriber, Predicate(self.predicate.clone())));
    }
}

/// The predicate, as the shared filtering subscriber's decision (it has no state of its own).
struct Predicate<F: 'static>(SharedFn<F>);

impl<T, F: Fn(&T) -> bool + Send + Sync + 'static> Keep<T> for Predicate<F> {
    const NAME: &'static str = "filter";

    #[inline]
    fn keep(&mut self, item: &T) -> bool {
        (self.0)(item)
    }
}
