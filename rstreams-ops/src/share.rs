//! `share()`: a multicast publisher that subscribes its source at the first subscriber and
//! cancels it when the last one leaves.

use std::fmt;
use std::sync::Arc;

use rstreams_core::sync::Mutex;
use rstreams_core::{Publisher, Subscriber};

use crate::multicast::{Current, Hub, Lifecycle};

/// The publisher returned by [`share`](crate::PublisherExt::share).
///
/// Clones share the connection and its subscribers.
#[must_use = "publishers do nothing until subscribed"]
pub struct Share<P: Publisher> {
    source: P,
    /// The live connection, if any.
    current: Current<P::Item>,
}

impl<P: Publisher> Share<P>
where
    P::Item: Clone + Send + 'static,
{
    pub(crate) fn new(source: P) -> Self {
        Share {
            source,
            current: Arc::new(Mutex::new(None)),
        }
    }

    /// How many subscribers the live connection has (0 when there is none).
    ///
    /// ```
    /// use rstreams_core::{source, Publisher};
    /// use rstreams_ops::PublisherExt;
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
        }
    }
}

impl<P: Publisher + fmt::Debug> fmt::Debug for Share<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Share")
            .field("source", &self.source)
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
                    let hub = Arc::new(Hub::new("share", 0, Lifecycle::RefCounted));
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
