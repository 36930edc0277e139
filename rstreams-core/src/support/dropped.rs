//! [`Dropped`]: the shared handle on how many elements a stage dropped by design.

use std::fmt;
use std::sync::Arc;

use super::Counter;

/// A handle on the number of elements a stage dropped by design, shared between the stage
/// (which [`record`](Self::record)s) and whoever watches it (which reads [`count`](Self::count)
/// from any thread). Clones share one count.
///
/// The overload operators of `rstreams-ops` give one out with their `dropped()` method (and
/// `rstreams_ops::Dropped` is this type): `on_backpressure_buffer` counts the elements its
/// [`Overflow`](super::Overflow) policy drops (the incoming ones under `DropIncoming`, the
/// evicted ones under `EvictOldest` and `EvictNewest`, the one that overflowed `Fail`),
/// `on_backpressure_drop` every element it receives without demand, `on_backpressure_latest`
/// every value it replaces with a newer one. The count covers every subscription of that
/// publisher and of its clones. Elements still queued when the downstream cancels are
/// discarded with the subscription and not counted: nobody wants them any more.
///
/// `rstreams-observe` reports an attached handle as a stage's `dropped` figure. A custom
/// operator that drops elements makes one with [`new`](Self::new) and records into it, so
/// that its drops are observable the same way.
///
/// ```
/// use rstreams::support::Dropped;
///
/// let dropped = Dropped::new();
/// let stage_side = dropped.clone(); // what the stage keeps
/// stage_side.record();
/// stage_side.record();
/// assert_eq!(dropped.count(), 2);
/// ```
#[derive(Clone, Default)]
pub struct Dropped {
    counter: Arc<Counter>,
}

impl Dropped {
    /// A new count at zero, shared by its clones.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of elements dropped so far: exact once the stage is quiet, recent while it
    /// runs (see [`Counter`]).
    #[inline]
    pub fn count(&self) -> u64 {
        self.counter.get()
    }

    /// Records one dropped element: one relaxed atomic add.
    #[inline]
    pub fn record(&self) {
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
