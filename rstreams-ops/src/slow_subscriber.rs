//! [`SlowSubscriber`]: what a multicast (`share`, `publish`, `replay`) does about a subscriber
//! that cannot keep up with the others.

/// What a multicast ([`share`](crate::PublisherExt::share),
/// [`publish`](crate::PublisherExt::publish), [`replay`](crate::PublisherExt::replay)) does
/// about a subscriber that falls behind the others: hold everyone back (the default), or drop
/// elements for that subscriber alone, counted. Chosen by name with
/// [`Share::slow_subscriber`](crate::Share::slow_subscriber),
/// [`Publish::slow_subscriber`](crate::Publish::slow_subscriber) or
/// [`Replay::slow_subscriber`](crate::Replay::slow_subscriber).
///
/// | | upstream demand follows | a subscriber without demand | dropped |
/// |---|---|---|---|
/// | `HoldBack` | the slowest subscriber | stops the stream for all | nothing |
/// | `DropOldest { buffer }` | the fastest subscriber | misses what does not fit in `buffer` | counted in `dropped()` |
///
/// Reactor's `publish()`/`share()`, RxJava's `publish()` and Pekko's `BroadcastHub` hold
/// back; `DropOldest { buffer: 0 }` is Reactor's `Sinks.many().multicast().directBestEffort()`
/// (a subscriber without demand misses the element), and with a `buffer` it is what
/// `tokio::sync::broadcast` does for a lagging receiver (it resumes with the newest `buffer`).
///
/// ```
/// use rstreams::Publisher;
/// use rstreams::ops::{PublisherExt, SlowSubscriber};
/// use rstreams_tck::{TestPublisher, TestSubscriber};
///
/// let input = TestPublisher::<u32>::new();
/// let shared = input.clone().share().slow_subscriber(SlowSubscriber::DropOldest { buffer: 2 });
/// let (fast, stalled) = (TestSubscriber::new(u64::MAX), TestSubscriber::new(0));
/// shared.subscribe(fast.clone());
/// shared.subscribe(stalled.clone());
/// for i in 0..6 {
///     input.emit(i); // the stalled subscriber does not hold the fast one back
/// }
/// assert_eq!(fast.values(), vec![0, 1, 2, 3, 4, 5]);
/// stalled.request(10);
/// assert_eq!(stalled.values(), vec![4, 5]); // the newest two; 0..=3 were dropped for it
/// assert_eq!(shared.dropped().count(), 4);
/// input.emit(6);
/// assert_eq!(stalled.values(), vec![4, 5, 6]); // with demand it gets every element again
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SlowSubscriber {
    /// The slowest subscriber holds back the others: the source is asked only for what every
    /// subscriber has demanded (and at most 256 beyond the slowest one's position). Nothing
    /// is dropped; a subscriber that requests nothing stops the stream for all. The default.
    #[default]
    HoldBack,
    /// A subscriber that falls behind loses its oldest elements instead of holding the others
    /// back. The source is asked for what the *fastest* subscriber demanded (at most 256
    /// beyond its position); each subscriber holds at most its outstanding demand (up to
    /// 256) plus `buffer` elements that reached the multicast and that it has not taken.
    /// When an element arrives for a subscriber that holds that many already, the oldest it
    /// holds is dropped for it alone (with `buffer: 0` and no demand, that is the element
    /// that arrived), and counted in the publisher's [`Dropped`](crate::Dropped)
    /// (`dropped()`).
    ///
    /// **What the lagging subscriber sees**: a gap. It receives, in order, the elements it
    /// had room for, and none of the ones dropped for it; no error, no marker. The other
    /// subscribers receive every element their demand allows. Memory stays bounded: at most
    /// `256 + buffer` elements are held for any subscriber (plus the `n` a replay keeps).
    DropOldest {
        /// How many elements beyond its outstanding demand a subscriber may hold before its
        /// oldest are dropped: 0 = only what it has demanded.
        buffer: usize,
    },
}
