//! `share()`: a multicast publisher that subscribes its source at the first subscriber and
//! cancels it when the last one leaves.

use std::fmt;
use std::sync::Arc;

use rstreams_core::support::Dropped;
use rstreams_core::sync::Mutex;
use rstreams_core::{Publisher, Subscriber};

use crate::multicast::{Current, Hub, Lifecycle};
use crate::SlowSubscriber;

/// The publisher returned by [`share`](crate::PublisherExt::share).
///
/// Clones share the connection and its subscribers. A subscriber that falls behind holds
/// back the others unless [`slow_subscriber`](Self::slow_subscriber) says otherwise.
#[must_use = "publishers do nothing until subscribed"]
pub struct Share<P: Publisher> {
    source: P,
    /// The live connection, if any.
    current: Current<P::Item>,
    /// The policy of the connections this handle starts.
    policy: SlowSubscriber,
    /// What the policy dropped, over every connection (shared by clones).
    dropped: Dropped,
}

impl<P: Publisher> Share<P>
where
    P::Item: Clone + Send + 'static,
{
    pub(crate) fn new(source: P) -> Self {
        Share {
            source,
            current: Arc::new(Mutex::new(None)),
            policy: SlowSubscriber::HoldBack,
            dropped: Dropped::new(),
        }
    }

    /// What to do about a subscriber that falls behind the others: hold them all back
    /// ([`SlowSubscriber::HoldBack`], the default), or drop its oldest elements for it alone
    /// ([`SlowSubscriber::DropOldest`]), counted in [`dropped`](Self::dropped). Set it before
    /// the first subscriber (a connection keeps the policy it started with) and before
    /// cloning: clones made afterwards share it.
    ///
    /// # Backpressure
    ///
    /// With `DropOldest { buffer }`, the source is asked for what the fastest subscriber
    /// demanded (at most 256 beyond its position); a subscriber holds at most its outstanding
    /// demand (up to 256) plus `buffer` elements, and when another one arrives for it, its
    /// oldest is dropped. The lagging subscriber sees a gap in its elements, no error.
    ///
    /// ```
    /// use rstreams::Publisher;
    /// use rstreams::ops::{PublisherExt, SlowSubscriber};
    /// use rstreams_tck::{TestPublisher, TestSubscriber};
    ///
    /// let input = TestPublisher::<u32>::new();
    /// let shared = input
    ///     .clone()
    ///     .share()
    ///     .slow_subscriber(SlowSubscriber::DropOldest { buffer: 0 });
    /// let (fast, stalled) = (TestSubscriber::new(3), TestSubscriber::new(1));
    /// shared.subscribe(fast.clone());
    /// shared.subscribe(stalled.clone());
    /// assert_eq!(input.requested(), 3); // the fastest one's demand
    /// for i in 0..3 {
    ///     input.emit(i);
    /// }
    /// assert_eq!(fast.values(), vec![0, 1, 2]);
    /// assert_eq!(stalled.values(), vec![0]); // what its demand had room for
    /// assert_eq!(shared.dropped().count(), 2);
    /// ```
    pub fn slow_subscriber(mut self, policy: SlowSubscriber) -> Self {
        self.policy = policy;
        self
    }

    /// The count of elements dropped for lagging subscribers under
    /// [`SlowSubscriber::DropOldest`], over every connection (shared by clones); always 0
    /// under `HoldBack`.
    pub fn dropped(&self) -> Dropped {
        self.dropped.clone()
    }

    /// How many subscribers the live connection has (0 when there is none).
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let shared = source::never::<u64>().share();
    /// let probe = TestSubscriber::new(1);
    /// shared.subscribe(probe.clone());
    /// assert_eq!(shared.subscribers(), 1);
    /// probe.cancel();
    /// assert_eq!(shared.subscribers(), 0);
    /// ```
    pub fn subscribers(&self) -> usize {
        self.current.lock().as_ref().map_or(0, |hub| hub.members())
    }
}

impl<P: Publisher + Clone> Clone for Share<P> {
    /// A clone shares the connection and its subscribers.
    fn clone(&self) -> Self {
        Share {
            source: self.source.clone(),
            current: Arc::clone(&self.current),
            policy: self.policy,
            dropped: self.dropped.clone(),
        }
    }
}

impl<P: Publisher + fmt::Debug> fmt::Debug for Share<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Share")
            .field("source", &self.source)
            .field("slow_subscriber", &self.policy)
            .field("dropped", &self.dropped.count())
            .finish_non_exhaustive()
    }
}

impl<P> Publisher for Share<P>
where
    P: Publisher,
    P::Item: Clone + Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        let (hub, id, connect) = {
            let mut current = self.current.lock();
            let live = current
                .as_ref()
                .and_then(|hub| hub.reserve().map(|id| (Arc::clone(hub), id)));
            match live {
                Some((hub, id)) => (hub, id, false),
                None => {
                    // The first subscriber, or the previous connection is over: a new one.
                    let hub = Arc::new(Hub::new(
                        "share",
                        0,
                        Lifecycle::RefCounted,
                        self.policy,
                        self.dropped.clone(),
                    ));
                    let id = hub.reserve().expect("a new hub takes its first subscriber");
                    *current = Some(Arc::clone(&hub));
                    (hub, id, true)
                }
            }
        };
        // The subscriber first (its requests wait in the hub's upstream slot), then the source.
        hub.start(id, subscriber);
        if connect && hub.mark_connected() {
            self.source.subscribe(hub.inlet());
            hub.request_demanded();
        }
    }
}
