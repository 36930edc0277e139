//! The named point: a pass-through stage that counts what passes it.

use rstreams_core::sync::Ordering;
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use rstreams_core::support::{Dropped, Link};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

use crate::registry::Registry;
use crate::stage::{Point, Registration, StageCell, StageState};

/// The publisher returned by [`ObserveExt::name`](crate::ObserveExt::name),
/// [`name_with`](crate::ObserveExt::name_with), [`observe`](crate::ObserveExt::observe) and
/// [`observe_segment`](crate::ObserveExt::observe_segment): its source's elements, unchanged,
/// counted per subscription in a [`Registry`].
///
/// # Backpressure
///
/// Pass-through: a downstream `request(n)` is counted and forwarded as `request(n)`; cancel is
/// recorded and forwarded. Elements, errors and completion pass unchanged and at once; the
/// `try_on_next` fast path is forwarded, so a filter below still pays no `request(1)` per
/// element it drops.
///
/// # Protocol
///
/// Whatever its source does, the downstream sees one subscription and at most one terminal
/// signal: a second `on_subscribe` is cancelled, not passed on (§2.5), and anything the source
/// signals after its `on_complete` or `on_error` is dropped, uncounted (§1.7).
///
/// # Cost
///
/// Per element: one relaxed atomic add on a counter of this subscription (naming is opt-in;
/// this is the price), no lock, no allocation, no clock read. Per request: one saturating add
/// and one clock read. Per subscription: a few small allocations (the counters, the
/// subscription wrapper, the registry's entry) and one registry lock to register, one to
/// retire. A test of this crate (`tests/allocations.rs`) checks that a pipeline's allocations
/// do not grow with its number of elements.
///
/// ```
/// use rstreams::{sink, source};
/// use rstreams::observe::{ObserveExt, Registry, Stage};
///
/// let registry = Registry::new();
/// let parsed = source::from_iter(["1", "2", "x", "4"])
///     .observe(Stage::new("raw").registry(&registry));
/// let all = sink::collect(&parsed).unwrap();
/// assert_eq!(all, vec!["1", "2", "x", "4"]);
/// assert_eq!(registry.stage("raw")[0].items, 4);
/// ```
#[must_use = "publishers do nothing until subscribed"]
pub struct Named<P> {
    source: P,
    point: Arc<Point>,
}

impl<P> Named<P> {
    pub(crate) fn new(source: P, point: Arc<Point>) -> Self {
        Named { source, point }
    }

    /// The stage's name.
    ///
    /// ```
    /// use rstreams::source;
    /// use rstreams::observe::ObserveExt;
    /// assert_eq!(source::range(0, 1).name("numbers").stage_name(), "numbers");
    /// ```
    pub fn stage_name(&self) -> &str {
        &self.point.name
    }

    /// Attaches the drop count of the overload operator this point observes, taken from its
    /// source: `f` gets the source (for a segment: the segment's last operator) and returns
    /// its [`Dropped`] handle. Equivalent to
    /// [`Stage::dropped`](crate::Stage::dropped), for when the operator is built after the
    /// stage, as inside [`observe_segment`](crate::ObserveExt::observe_segment). Attach it
    /// before subscribing: a subscription that started without it reports no in-flight figure.
    ///
    /// # Panics
    ///
    /// When a drop count is attached already.
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::{Overflow, PublisherExt};
    /// use rstreams::observe::{ObserveExt, Registry, Stage};
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let registry = Registry::new();
    /// source::range(0, 10)
    ///     .observe_segment(Stage::new("queue").registry(&registry), |entry| {
    ///         entry.on_backpressure_buffer(4, Overflow::DropIncoming)
    ///     })
    ///     .dropped_from(|buffer| buffer.dropped())
    ///     .subscribe(TestSubscriber::new(0));
    /// let queue = &registry.stage("queue")[0];
    /// assert_eq!((queue.entered, queue.dropped, queue.in_flight), (Some(10), Some(6), Some(4)));
    /// ```
    pub fn dropped_from(self, f: impl FnOnce(&P) -> Dropped) -> Self {
        let dropped = f(&self.source);
        assert!(
            self.point.dropped.set(dropped).is_ok(),
            "stage `{}` has a drop count attached already",
            self.point.name
        );
        self
    }

    /// The registry this stage reports to.
    ///
    /// ```
    /// use rstreams::sink;
    /// use rstreams::source;
    /// use rstreams::observe::{ObserveExt, Registry, Stage};
    ///
    /// let mine = Registry::new();
    /// let named = source::range(0, 1).observe(Stage::new("numbers").registry(&mine));
    /// sink::collect(&named).unwrap();
    /// assert_eq!(named.registry().stage("numbers").len(), 1);
    /// assert!(mine.stage("numbers").len() == 1);
    /// ```
    pub fn registry(&self) -> Registry {
        Registry {
            inner: Arc::clone(&self.point.registry),
        }
    }
}

impl<P: Clone> Clone for Named<P> {
    /// A clone is the same named point: it reports under the same name, and an attached drop
    /// count is reported once for both.
    fn clone(&self) -> Self {
        Named {
            source: self.source.clone(),
            point: Arc::clone(&self.point),
        }
    }
}

impl<P: fmt::Debug> fmt::Debug for Named<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Named")
            .field("name", &self.point.name)
            .field("segment", &self.point.segment)
            .field("source", &self.source)
            .finish()
    }
}

impl<P: Publisher> Publisher for Named<P> {
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        let cell = Arc::new(StageCell::new(Arc::clone(&self.point)));
        let named = NamedSubscriber {
            downstream: subscriber,
            cell: Arc::clone(&cell),
            registration: None,
            link: Link::new(),
        };
        if self.point.segment {
            // The segment's entry, subscribed within this call, picks the cell up.
            let _offer = pairing::offer(self.point.key, &cell);
            self.source.subscribe(named);
        } else {
            self.source.subscribe(named);
        }
    }
}

/// The subscriber a named point gives its upstream.
///
/// Whatever the upstream does, it passes on one subscription (§2.5) and at most one terminal
/// signal, with nothing after it (§1.7): the same [`Link`] guard as every pass-through stage.
struct NamedSubscriber<S> {
    downstream: S,
    cell: Arc<StageCell>,
    /// Set at `on_subscribe`; dropping it (when the upstream releases this subscriber) takes
    /// the subscription off the registry's live list.
    registration: Option<Registration>,
    /// The upstream guard: a terminal signal went downstream, later signals are dropped,
    /// uncounted; a second subscription is cancelled.
    link: Link,
}

impl<S> NamedSubscriber<S> {
    /// Ends the stage on an upstream terminal signal. Returns `false` when it had ended
    /// already, so nothing is signalled twice (§1.7).
    fn finish(&mut self, state: StageState) -> bool {
        if !self.link.finish() {
            return false;
        }
        self.cell.end(state);
        true
    }
}

impl<T, S: Subscriber<T>> Subscriber<T> for NamedSubscriber<S> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        let Some(subscription) = self.link.accept(subscription) else {
            return; // §2.5: cancelled by `accept`
        };
        let registry = Registry {
            inner: Arc::clone(&self.cell.point.registry),
        };
        self.registration = Some(registry.register(&self.cell));
        self.downstream.on_subscribe(Arc::new(NamedSubscription {
            upstream: subscription,
            cell: Arc::clone(&self.cell),
        }));
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if self.link.is_done() {
            return;
        }
        self.downstream.on_next(item);
        self.cell.delivered.increment();
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        if self.link.is_done() {
            return true;
        }
        let used = self.downstream.try_on_next(item);
        if used {
            self.cell.delivered.increment();
        } else {
            self.cell.rejected.increment();
        }
        used
    }

    fn on_error(&mut self, error: Error) {
        if self.finish(StageState::Failed) {
            self.downstream.on_error(error);
        }
    }

    fn on_complete(&mut self) {
        if self.finish(StageState::Completed) {
            self.downstream.on_complete();
        }
    }
}

/// The subscription a named point gives its downstream: counts, timestamps, forwards.
struct NamedSubscription {
    upstream: Arc<dyn Subscription>,
    cell: Arc<StageCell>,
}

impl Subscription for NamedSubscription {
    fn request(&self, n: u64) {
        // Counted before forwarding, so that a reading never shows more delivered than
        // requested.
        self.cell.requested.add(n);
        self.cell.touch(self.cell.now());
        self.upstream.request(n);
    }

    fn cancel(&self) {
        self.cell.end(StageState::Cancelled);
        self.upstream.cancel();
    }
}

/// The start of a segment: the publisher handed to the closure of
/// [`ObserveExt::observe_segment`](crate::ObserveExt::observe_segment). It passes its source's
/// elements on unchanged and counts them as having entered the segment.
///
/// It pairs with the segment's exit when it is subscribed within the exit's `subscribe` call
/// (the operators of a synchronous chain, `publish_on`, the `on_backpressure_*` operators do
/// so); subscribed later or on another thread (`subscribe_on` inside the segment), it counts
/// nothing and the segment reports no in-flight figure.
///
/// ```
/// use rstreams::{sink, source};
/// use rstreams::ops::PublisherExt;
/// use rstreams::observe::{ObserveExt, Registry, Stage};
///
/// let registry = Registry::new();
/// let out = source::range(0, 5).observe_segment(Stage::new("double").registry(&registry), |entry| {
///     entry.map(|x| x * 2)
/// });
/// assert_eq!(sink::collect(&out).unwrap(), vec![0, 2, 4, 6, 8]);
/// assert_eq!(registry.stage("double")[0].entered, Some(5));
/// ```
#[must_use = "publishers do nothing until subscribed"]
pub struct SegmentEntry<P> {
    source: P,
    key: u64,
}

impl<P> SegmentEntry<P> {
    pub(crate) fn new(source: P, key: u64) -> Self {
        SegmentEntry { source, key }
    }
}

impl<P: Clone> Clone for SegmentEntry<P> {
    fn clone(&self) -> Self {
        SegmentEntry {
            source: self.source.clone(),
            key: self.key,
        }
    }
}

impl<P: fmt::Debug> fmt::Debug for SegmentEntry<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SegmentEntry")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<P: Publisher> Publisher for SegmentEntry<P> {
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        match pairing::take(self.key) {
            Some(cell) => {
                cell.paired.store(true, Ordering::Release);
                self.source.subscribe(EntrySubscriber {
                    downstream: subscriber,
                    cell,
                });
            }
            None => self.source.subscribe(subscriber),
        }
    }
}

/// Counts the elements entering a segment; otherwise transparent (the upstream's subscription
/// goes straight to the segment's first operator).
struct EntrySubscriber<S> {
    downstream: S,
    cell: Arc<StageCell>,
}

impl<T, S: Subscriber<T>> Subscriber<T> for EntrySubscriber<S> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        self.downstream.on_subscribe(subscription);
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        // Counted before it goes in: an element is never seen leaving before it entered.
        self.cell.entered.increment();
        self.downstream.on_next(item);
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        self.cell.entered.increment();
        self.downstream.try_on_next(item)
    }

    fn on_error(&mut self, error: Error) {
        self.downstream.on_error(error);
    }

    fn on_complete(&mut self) {
        self.downstream.on_complete();
    }
}

/// Hands a segment's counters from its exit's `subscribe` to its entry's, on the same thread.
mod pairing {
    use super::*;

    thread_local! {
        static OFFERED: RefCell<Vec<(u64, Arc<StageCell>)>> = const { RefCell::new(Vec::new()) };
    }

    /// Withdraws the offer when dropped (after the exit's `subscribe` returned, or unwound).
    pub(super) struct Offer {
        key: u64,
        cell: Arc<StageCell>,
    }

    pub(super) fn offer(key: u64, cell: &Arc<StageCell>) -> Offer {
        OFFERED.with(|o| o.borrow_mut().push((key, Arc::clone(cell))));
        Offer {
            key,
            cell: Arc::clone(cell),
        }
    }

    /// The innermost offer for segment `key`, taken (an entry pairs at most once).
    pub(super) fn take(key: u64) -> Option<Arc<StageCell>> {
        OFFERED.with(|o| {
            let mut o = o.borrow_mut();
            let i = o.iter().rposition(|(k, _)| *k == key)?;
            Some(o.remove(i).1)
        })
    }

    impl Drop for Offer {
        fn drop(&mut self) {
            let _ = OFFERED.try_with(|o| {
                let mut o = o.borrow_mut();
                if let Some(i) = o
                    .iter()
                    .rposition(|(k, c)| *k == self.key && Arc::ptr_eq(c, &self.cell))
                {
                    o.remove(i);
                }
            });
        }
    }
}
