//! `publish()`: a connectable multicast publisher; and the connection handle that `connect`
//! returns (shared with `replay(n)`).

use std::fmt;
use std::sync::Arc;

use rstreams_core::support::Dropped;
use rstreams_core::sync::Mutex;
use rstreams_core::{Publisher, Subscriber};

use crate::multicast::{Current, Hub, Lifecycle};
use crate::SlowSubscriber;

/// The publisher returned by [`publish`](crate::PublisherExt::publish): subscribers share one
/// subscription to the source, which starts when [`connect`](Self::connect) is called.
///
/// Clones share the connection (and subscribers), as handles on one multicast.
#[must_use = "a connectable publisher does nothing until connected and subscribed"]
pub struct Publish<P: Publisher> {
    inner: Connectable<P>,
}

impl<P: Publisher> Publish<P>
where
    P::Item: Clone + Send + 'static,
{
    pub(crate) fn new(source: P) -> Self {
        Publish {
            inner: Connectable::new(source, "publish", 0),
        }
    }

    /// Subscribes the source, once: the subscribers so far (and those to come) share it.
    ///
    /// Called while connected, it returns a handle on the same connection and subscribes
    /// nothing. Called after the connection ended (the source completed or failed, or
    /// [`Connection::disconnect`]), it starts a new one: the source is subscribed again and
    /// subscribers from then on share the new connection. Subscribers that arrive after a
    /// connection ended and before the next `connect` receive that connection's end.
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let shared = source::range(0, 3).publish();
    /// let (a, b) = (TestSubscriber::new(10), TestSubscriber::new(10));
    /// shared.subscribe(a.clone());
    /// shared.subscribe(b.clone());
    /// assert!(a.values().is_empty()); // nothing flows before connect
    /// let connection = shared.connect();
    /// assert_eq!(a.values(), vec![0, 1, 2]);
    /// assert_eq!(b.values(), vec![0, 1, 2]);
    /// assert!(!connection.is_connected()); // the source completed
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
    /// As [`Share::slow_subscriber`](crate::Share::slow_subscriber): with `DropOldest`, the
    /// source is asked for what the fastest subscriber demanded, and a lagging one sees a gap
    /// in its elements, no error.
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::{PublisherExt, SlowSubscriber};
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let hot = source::range(0, 10)
    ///     .publish()
    ///     .slow_subscriber(SlowSubscriber::DropOldest { buffer: 2 });
    /// let (fast, stalled) = (TestSubscriber::new(u64::MAX), TestSubscriber::new(1));
    /// hot.subscribe(fast.clone());
    /// hot.subscribe(stalled.clone());
    /// hot.connect();
    /// assert_eq!(fast.values(), (0..10).collect::<Vec<_>>()); // not held back
    /// assert_eq!(stalled.values(), vec![0]); // the source has ended: it holds 8 and 9
    /// stalled.request(10);
    /// assert_eq!(stalled.values(), vec![0, 8, 9]); // its demand, then the newest two
    /// assert_eq!(hot.dropped().count(), 7);
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

impl<P: Publisher> Clone for Publish<P>
where
    P: Clone,
{
    /// A clone shares the connection and its subscribers.
    fn clone(&self) -> Self {
        Publish {
            inner: self.inner.clone(),
        }
    }
}

impl<P: Publisher + fmt::Debug> fmt::Debug for Publish<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publish")
            .field("source", &self.inner.source)
            .field("slow_subscriber", &self.inner.policy)
            .field("dropped", &self.inner.dropped.count())
            .finish_non_exhaustive()
    }
}

impl<P> Publisher for Publish<P>
where
    P: Publisher,
    P::Item: Clone + Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.inner.subscribe(subscriber)
    }
}

/// A handle on the connection that [`Publish::connect`] or [`Replay::connect`](crate::Replay::connect)
/// started. Dropping it leaves the connection running.
pub struct Connection {
    hub: Arc<dyn Control>,
}

impl Connection {
    /// Ends the connection: cancels the source's subscription; every subscriber completes
    /// after the elements it has not taken yet (a replay's late subscribers get its kept
    /// elements and the completion). Does nothing once the connection ended. The next
    /// `connect` starts a new connection.
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let ticks = source::range(0, u64::MAX).publish();
    /// let probe = TestSubscriber::new(2);
    /// ticks.subscribe(probe.clone());
    /// let connection = ticks.connect();
    /// assert_eq!(probe.values(), vec![0, 1]);
    /// connection.disconnect();
    /// assert!(probe.is_complete());
    /// ```
    pub fn disconnect(&self) {
        self.hub.disconnect();
    }

    /// Whether the connection is live: not disconnected, and the source has not ended.
    pub fn is_connected(&self) -> bool {
        !self.hub.is_over()
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("connected", &self.is_connected())
            .finish()
    }
}

/// What a [`Connection`] can do to its hub, without its element type.
trait Control: Send + Sync {
    fn disconnect(&self);
    fn is_over(&self) -> bool;
}

impl<T: Clone + Send + 'static> Control for Hub<T> {
    fn disconnect(&self) {
        Hub::disconnect(self)
    }
    fn is_over(&self) -> bool {
        Hub::is_over(self)
    }
}

/// The connectable multicast behind `publish()` and `replay(n)`.
pub(crate) struct Connectable<P: Publisher> {
    pub(crate) source: P,
    name: &'static str,
    retain: u64,
    /// The policy of the connections it starts.
    pub(crate) policy: SlowSubscriber,
    /// What the policy dropped, over every connection (shared by clones).
    pub(crate) dropped: Dropped,
    /// The current connection (or the one subscribers wait on before the first `connect`).
    current: Current<P::Item>,
}

impl<P: Publisher + Clone> Clone for Connectable<P> {
    fn clone(&self) -> Self {
        Connectable {
            source: self.source.clone(),
            name: self.name,
            retain: self.retain,
            policy: self.policy,
            dropped: self.dropped.clone(),
            current: Arc::clone(&self.current),
        }
    }
}

impl<P: Publisher> Connectable<P>
where
    P::Item: Clone + Send + 'static,
{
    pub(crate) fn new(source: P, name: &'static str, retain: u64) -> Self {
        Connectable {
            source,
            name,
            retain,
            policy: SlowSubscriber::HoldBack,
            dropped: Dropped::new(),
            current: Arc::new(Mutex::new(None)),
        }
    }

    fn fresh(&self) -> Arc<Hub<P::Item>> {
        Arc::new(Hub::new(
            self.name,
            self.retain,
            Lifecycle::Connectable,
            self.policy,
            self.dropped.clone(),
        ))
    }

    pub(crate) fn connect(&self) -> Connection {
        let (hub, subscribe) = {
            let mut current = self.current.lock();
            match current.as_ref() {
                Some(hub) if !hub.is_over() => {
                    let hub = Arc::clone(hub);
                    let first = hub.mark_connected();
                    (hub, first)
                }
                _ => {
                    let hub = self.fresh();
                    hub.mark_connected();
                    *current = Some(Arc::clone(&hub));
                    (hub, true)
                }
            }
        };
        if subscribe {
            self.source.subscribe(hub.inlet());
            hub.request_demanded();
        }
        Connection { hub }
    }

    pub(crate) fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        let hub = {
            let mut current = self.current.lock();
            Arc::clone(current.get_or_insert_with(|| self.fresh()))
        };
        let id = hub
            .reserve()
            .expect("a connectable hub takes every subscriber");
        hub.start(id, subscriber);
    }
}
