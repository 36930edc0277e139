//! `replay(n)`: a connectable multicast publisher that keeps the last `n` elements for
//! subscribers that come late.

use std::fmt;

use rstreams_core::support::Dropped;
use rstreams_core::{Publisher, Subscriber};

use crate::publish::{Connectable, Connection};
use crate::SlowSubscriber;

/// The publisher returned by [`replay`](crate::PublisherExt::replay): as
/// [`Publish`](crate::Publish), and a subscriber that arrives late first receives the last `n`
/// elements that arrived (as its demand allows), then the live ones.
///
/// Clones share the connection, the kept elements and the subscribers.
#[must_use = "a connectable publisher does nothing until connected and subscribed"]
pub struct Replay<P: Publisher> {
    inner: Connectable<P>,
}

impl<P: Publisher> Replay<P>
where
    P::Item: Clone + Send + 'static,
{
    pub(crate) fn new(source: P, n: usize) -> Self {
        assert!(
            n > 0,
            "replay: n must be at least 1 (got 0; valid range 1..=usize::MAX): publish() is the multicast that keeps nothing"
        );
        Replay {
            inner: Connectable::new(source, "replay", n as u64),
        }
    }

    /// Subscribes the source, once: as [`Publish::connect`](crate::Publish::connect). A new
    /// connection (after the previous one ended) starts with nothing kept.
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let last_two = source::range(0, 5).replay(2);
    /// let early = TestSubscriber::new(u64::MAX);
    /// last_two.subscribe(early.clone());
    /// last_two.connect();
    /// assert_eq!(early.values(), vec![0, 1, 2, 3, 4]);
    /// let late = TestSubscriber::new(u64::MAX);
    /// last_two.subscribe(late.clone());
    /// assert_eq!(late.values(), vec![3, 4]);
    /// assert!(late.is_complete());
    /// ```
    pub fn connect(&self) -> Connection {
        self.inner.connect()
    }

    /// What to do about a subscriber that falls behind the others: hold them all back
    /// ([`SlowSubscriber::HoldBack`], the default), or drop its oldest elements for it alone
    /// ([`SlowSubscriber::DropOldest`]), counted in [`dropped`](Self::dropped). Set it before
    /// the first subscriber or `connect` (a connection keeps the policy it started with) and
    /// before cloning: clones made afterwards share it.
    ///
    /// # Backpressure
    ///
    /// As [`Share::slow_subscriber`](crate::Share::slow_subscriber). A late subscriber starts
    /// by holding the kept elements; under `DropOldest` it is not waited for while it catches
    /// up, and when new elements arrive before it has room for all of them, its oldest are
    /// dropped: it keeps at most its demand (up to 256) plus `buffer`.
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::{PublisherExt, SlowSubscriber};
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let recent = source::range(0, 10)
    ///     .replay(3)
    ///     .slow_subscriber(SlowSubscriber::DropOldest { buffer: 0 });
    /// let (fast, stalled) = (TestSubscriber::new(u64::MAX), TestSubscriber::new(0));
    /// recent.subscribe(fast.clone());
    /// recent.subscribe(stalled.clone());
    /// recent.connect();
    /// assert_eq!(fast.values(), (0..10).collect::<Vec<_>>());
    /// assert_eq!(recent.dropped().count(), 10); // the stalled one had no room for any
    /// let late = TestSubscriber::new(u64::MAX);
    /// recent.subscribe(late.clone());
    /// assert_eq!(late.values(), vec![7, 8, 9]); // the kept three
    /// ```
    pub fn slow_subscriber(mut self, policy: SlowSubscriber) -> Self {
        self.inner.policy = policy;
        self
    }

    /// The count of elements dropped for lagging subscribers under
    /// [`SlowSubscriber::DropOldest`], over every connection (shared by clones); always 0
    /// under `HoldBack`.
    pub fn dropped(&self) -> Dropped {
        self.inner.dropped.clone()
    }
}

impl<P: Publisher + Clone> Clone for Replay<P> {
    /// A clone shares the connection, the kept elements and the subscribers.
    fn clone(&self) -> Self {
        Replay {
            inner: self.inner.clone(),
        }
    }
}

impl<P: Publisher + fmt::Debug> fmt::Debug for Replay<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replay")
            .field("source", &self.inner.source)
            .field("slow_subscriber", &self.inner.policy)
            .field("dropped", &self.inner.dropped.count())
            .finish_non_exhaustive()
    }
}

impl<P> Publisher for Replay<P>
where
    P: Publisher,
    P::Item: Clone + Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.inner.subscribe(subscriber)
    }
}
