//! `replay(n)`: a connectable multicast publisher that keeps the last `n` elements for
//! subscribers that come late.

use std::fmt;

use rstreams_core::{Publisher, Subscriber};

use crate::publish::{Connectable, Connection};

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
    /// use rstreams_core::{source, Publisher};
    /// use rstreams_ops::PublisherExt;
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
