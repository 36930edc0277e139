//! [`Dropped`]: how many elements an overload operator dropped.

use std::fmt;
use std::sync::Arc;

use rstreams_core::support::Counter;

/// A handle on the number of elements an overload operator dropped by design: the incoming
/// elements [`Overflow::DropIncoming`](crate::Overflow::DropIncoming) rejects, the elements
/// the `Evict*` policies evict, the element that overflowed [`Overflow::Fail`](crate::Overflow::Fail),
/// every element [`on_backpressure_drop`](crate::PublisherExt::on_backpressure_drop) receives
/// without demand, every value [`on_backpressure_latest`](crate::PublisherExt::on_backpressure_latest)
/// replaces with a newer one.
///
/// Get it from the operator with `dropped()` before chaining further, and read it with
/// [`count`](Self::count) from any thread. The count covers every subscription of that
/// publisher and of its clones. Elements still queued when the downstream cancels are discarded
/// with the subscription and not counted: nobody wants them any more.
///
/// ```
/// use rstreams_core::{source, Publisher};
/// use rstreams_ops::PublisherExt;
/// use rstreams_tck::TestSubscriber;
///
/// let stage = source::range(0, 100).on_backpressure_drop();
/// let dropped = stage.dropped();
/// let probe = TestSubscriber::new(0); // no demand: everything is dropped
/// stage.subscribe(probe.clone());
/// assert_eq!(dropped.count(), 100);
/// assert!(probe.values().is_empty());
/// ```
#[derive(Clone)]
pub struct Dropped {
    counter: Arc<Counter>,
}

impl Dropped {
    pub(crate) fn new() -> Self {
        Dropped {
            counter: Arc::new(Counter::new()),
        }
    }

    /// The number of elements dropped so far.
    pub fn count(&self) -> u64 {
        self.counter.get()
    }

    #[inline]
    pub(crate) fn record(&self) {
        self.counter.increment();
    }
}

impl fmt::Debug for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dropped")
            .field("count", &self.count())
            .finish()
    }
}

/// The callback of the operators made without one.
pub(crate) fn ignore<T>(_: T) {}
