//! `limit_rate(high, low)`: splits the downstream's demand into bounded upstream requests.

use std::sync::Arc;

use rstreams_core::support::{Dropped, ErrorMode};
use rstreams_core::{Publisher, Subscriber};

use crate::ignore;
use crate::queued::{self, Policy, Setup};

/// The publisher returned by [`PublisherExt::limit_rate`](crate::PublisherExt::limit_rate):
/// requests `high` elements upstream at the first downstream demand, then `low` each time `low`
/// of them have gone downstream, and holds at most `high` elements for the downstream.
#[derive(Debug, Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct LimitRate<P> {
    source: P,
    high: u64,
    low: u64,
}

impl<P> LimitRate<P> {
    pub(crate) fn new(source: P, high: u64, low: u64) -> Self {
        assert!(
            high > 0,
            "limit_rate(high, low): high must be at least 1 (valid range 1..=u64::MAX), got 0"
        );
        assert!(
            low > 0 && low <= high,
            "limit_rate(high, low): low must be in 1..=high (1..={high}), got {low}"
        );
        LimitRate { source, high, low }
    }
}

impl<P> Publisher for LimitRate<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        queued::subscribe(
            &self.source,
            subscriber,
            Setup {
                name: "limit_rate",
                policy: Policy::Rate {
                    high: self.high,
                    low: self.low,
                },
                errors: ErrorMode::AfterQueued,
                on_dropped: Arc::new(ignore as fn(P::Item)),
                dropped: Dropped::new(),
            },
        );
    }
}
