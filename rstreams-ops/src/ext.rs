//! [`PublisherExt`]: the operators as methods of every publisher.

use std::future::Future;

use rstreams_core::{BoxPublisher, Error, Publisher};

// errors, retry, timeout, hooks
use crate::{
    Finally, Inspect, MapErr, OnCancel, OnErrorResume, OnErrorReturn, OnRequest, OnTerminate,
    Retry, RetryPolicy, Timeout,
};
use rstreams_core::source::Never;

use crate::ignore;
#[cfg(feature = "tower")]
use crate::Call;
use crate::MapAsync;
use crate::{
    Aggregate, Collecting, Counting, DefaultIfEmpty, Distinct, DistinctUntilChanged, FilterMap,
    Firsting, Folding, Lasting, Reducing, SkipLast, SkipWhile, SwitchIfEmpty, TakeWhile,
};
use crate::{
    Buffer, BufferTimeout, Concat, ErrorMode, Filter, FlatMap, LimitRate, Map, MergeAll,
    OnBackpressureBuffer, OnBackpressureDrop, OnBackpressureLatest, Overflow, PublishOn, Scan,
    Skip, SubscribeOn, Take, Throttle, ThrottleMode, TryMap,
};
use crate::{
    BufferSkip, CombineLatest, ConcatMap, MergeDelayError, Pair, SwitchMap, TakeUntil,
    WithLatestFrom, Zip,
};
use crate::{
    Conflate, Debounce, Delay, GroupBy, Publish, Replay, Sample, Share, Window, WindowTimeout,
};
use std::time::Duration;

use rstreams_core::scheduler::{timer, Scheduler, Timer};

/// The operators of rstreams, as methods of every [`Publisher`].
///
/// Each method takes the publisher by value and returns a new publisher, so chains read left to
/// right. Nothing runs until the last one is subscribed; each subscription runs the whole chain
/// anew, with its own state, sharing only the closures.
///
/// ```
/// use rstreams::{sink, source};
/// use rstreams::ops::PublisherExt;
///
/// let evens_squared = source::range(0, 10).filter(|x| x % 2 == 0).map(|x| x * x).take(3);
/// assert_eq!(sink::collect(&evens_squared).unwrap(), vec![0, 4, 16]);
/// ```
pub trait PublisherExt: Publisher + Sized {
    /// Transforms each element with `f`.
    ///
    /// # Backpressure
    ///
    /// Passes demand through: a downstream `request(n)` reaches the upstream as `request(n)`.
    /// The downstream holds the upstream's own subscription (no extra layer, nothing allocated
    /// or counted atomically per element). On the conditional fast path
    /// ([`Subscriber::try_on_next`](rstreams_core::Subscriber::try_on_next)) it forwards the
    /// downstream's answer, so a `filter` after a `map` still costs no request per rejected
    /// element.
    ///
    /// # Errors
    ///
    /// Upstream errors pass through unchanged, at once. A panic in `f` is caught: the upstream
    /// is cancelled and the stream fails with an error of kind
    /// [`ErrorKind::Panic`](rstreams_core::ErrorKind::Panic) in stage `map`; nothing is
    /// signalled after it.
    ///
    /// # Panics
    ///
    /// Never: every `f` is a valid argument.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let squares = source::range(1, 4).map(|x| x * x);
    /// assert_eq!(sink::collect(&squares).unwrap(), vec![1, 4, 9, 16]);
    ///
    /// // A panic in the closure fails the stream instead of the caller.
    /// let probe = TestSubscriber::new(u64::MAX);
    /// source::range(0, 5)
    ///     .map(|x| if x == 2 { panic!("bad input") } else { x })
    ///     .subscribe(probe.clone());
    /// assert_eq!(probe.values(), vec![0, 1]);
    /// let error = probe.error().unwrap();
    /// assert_eq!(error.stage(), Some("map"));
    /// assert!(error.to_string().contains("bad input"));
    /// ```
    fn map<U, F>(self, f: F) -> Map<Self, F>
    where
        F: Fn(Self::Item) -> U + Send + Sync + 'static,
    {
        Map::new(self, f)
    }

    /// Transforms each element with the fallible `f`: each `Ok` goes downstream, the first
    /// `Err` ends the stream with it.
    ///
    /// # Backpressure
    ///
    /// As [`map`](Self::map): passes demand through (a downstream `request(n)` reaches the
    /// upstream as `request(n)`, the downstream holds the upstream's own subscription), and
    /// forwards the downstream's answer on the conditional fast path.
    ///
    /// # Errors
    ///
    /// An `Err(e)` from `f` cancels the upstream and fails the stream with `e.into()`, in stage
    /// `try_map` (unless the error names a stage already: the innermost stage wins, see
    /// [`Error::in_stage`](rstreams_core::Error::in_stage)); nothing is signalled after it and
    /// `f` is not called again. A panic in `f` does the same with an error of kind
    /// [`ErrorKind::Panic`](rstreams_core::ErrorKind::Panic). Upstream errors pass through
    /// unchanged, at once. To keep going past a failed element, use
    /// [`filter_map`](Self::filter_map) (drop it) or [`map`](Self::map) to a `Result` (keep
    /// it).
    ///
    /// # Panics
    ///
    /// Never: every `f` is a valid argument.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source, Error, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let parsed = source::from_iter(["1", "2", "3"]).try_map(|s| s.parse::<u32>().map_err(Error::new));
    /// assert_eq!(sink::collect(&parsed).unwrap(), vec![1, 2, 3]);
    ///
    /// // The first `Err` cancels the source and ends the stream with it.
    /// let probe = TestSubscriber::new(u64::MAX);
    /// source::from_iter(["1", "x", "3"])
    ///     .try_map(|s| s.parse::<u32>().map_err(Error::new))
    ///     .subscribe(probe.clone());
    /// assert_eq!(probe.values(), vec![1]);
    /// let error = probe.error().unwrap();
    /// assert_eq!(error.stage(), Some("try_map"));
    /// assert_eq!(error.to_string(), "in stage `try_map`: invalid digit found in string");
    /// ```
    fn try_map<U, E, F>(self, f: F) -> TryMap<Self, F, E>
    where
        F: Fn(Self::Item) -> Result<U, E> + Send + Sync + 'static,
        E: Into<Error>,
    {
        TryMap::new(self, f)
    }

    /// Keeps the elements for which `predicate` returns `true`.
    ///
    /// # Backpressure
    ///
    /// Passes demand through: a downstream `request(n)` reaches the upstream as `request(n)`,
    /// and the downstream holds the upstream's own subscription. A rejected element does not
    /// use the downstream's demand, and is made up for without a round trip per element:
    ///
    /// - on the conditional fast path
    ///   ([`Subscriber::try_on_next`](rstreams_core::Subscriber::try_on_next), used by every
    ///   source and synchronous operator of rstreams) it answers `false`, so the upstream does
    ///   not count the element and simply emits the next one: no request at all;
    /// - on the plain `on_next` path (an upstream that does not use `try_on_next`) it asks the
    ///   upstream for a replacement with `request(1)`.
    ///
    /// # Errors
    ///
    /// Upstream errors pass through unchanged, at once. A panic in `predicate` is caught: the
    /// upstream is cancelled and the stream fails with an error of kind
    /// [`ErrorKind::Panic`](rstreams_core::ErrorKind::Panic) in stage `filter`; nothing is
    /// signalled after it.
    ///
    /// # Panics
    ///
    /// Never: every `predicate` is a valid argument.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let evens = source::range(0, 10).filter(|x| x % 2 == 0);
    /// assert_eq!(sink::collect(&evens).unwrap(), vec![0, 2, 4, 6, 8]);
    ///
    /// // Demand counts kept elements: three requested, three evens delivered.
    /// let probe = TestSubscriber::new(3);
    /// evens.subscribe(probe.clone());
    /// assert_eq!(probe.values(), vec![0, 2, 4]);
    /// ```
    fn filter<F>(self, predicate: F) -> Filter<Self, F>
    where
        F: Fn(&Self::Item) -> bool + Send + Sync + 'static,
    {
        Filter::new(self, predicate)
    }

    /// Emits the first `n` elements, then cancels the upstream and completes.
    ///
    /// # Backpressure
    ///
    /// The upstream never emits more than `n` elements for it, whatever the downstream
    /// requests. Below a source of rstreams (with `map`, `filter` and the other one-to-one or
    /// filtering stages between them) the downstream's requests go to the source as they are,
    /// and the source emits no more than `take` still wants: it asks before each run of
    /// emissions ([`Subscriber::wanted`](rstreams_core::Subscriber::wanted)), so `take(3)` under
    /// `request(u64::MAX)` makes a source emit 3 (plus those a `filter` in between drops), and
    /// `take` allocates no subscription of its own. Below anything else it caps the total
    /// upstream demand at `n`: each downstream `request(m)` is forwarded as
    /// `request(min(m, what is left of n))`, and not at all once `n` have been requested.
    /// `take(0)` requests nothing: it cancels the upstream as soon as it subscribes and
    /// completes at once.
    ///
    /// # Errors
    ///
    /// Upstream errors and completion before `n` elements pass through unchanged, at once.
    /// A `request(0)` is forwarded upstream, which fails the stream (§3.9).
    ///
    /// # Panics
    ///
    /// Never: every `n` is valid; `u64::MAX` means no limit (§3.17).
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let first = source::range(0, 1_000_000).take(3);
    /// assert_eq!(sink::collect(&first).unwrap(), vec![0, 1, 2]);
    ///
    /// let probe = TestSubscriber::new(2);
    /// first.subscribe(probe.clone());
    /// assert_eq!(probe.values(), vec![0, 1]);
    /// assert!(!probe.is_complete());
    /// probe.request(10); // only 1 more is emitted
    /// assert_eq!(probe.values(), vec![0, 1, 2]);
    /// assert!(probe.is_complete());
    /// ```
    fn take(self, n: u64) -> Take<Self> {
        Take::new(self, n)
    }

    /// Drops the first `n` elements and emits the rest.
    ///
    /// # Backpressure
    ///
    /// Passes demand through: a downstream `request(m)` reaches the upstream as `request(m)`,
    /// and the downstream holds the upstream's own subscription. The skipped elements are
    /// made up for as `filter` makes up for rejected ones: on the conditional fast path
    /// ([`Subscriber::try_on_next`](rstreams_core::Subscriber::try_on_next)) by answering
    /// `false` (no request), on the plain `on_next` path with one `request(1)` per skipped
    /// element. Nothing is requested ahead of the downstream's demand.
    ///
    /// # Errors
    ///
    /// Upstream errors pass through unchanged, at once, also while skipping.
    ///
    /// # Panics
    ///
    /// Never: every `n` is valid.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let rest = source::range(0, 6).skip(4);
    /// assert_eq!(sink::collect(&rest).unwrap(), vec![4, 5]);
    ///
    /// let probe = TestSubscriber::new(1);
    /// rest.subscribe(probe.clone());
    /// assert_eq!(probe.values(), vec![4]);
    /// ```
    fn skip(self, n: u64) -> Skip<Self> {
        Skip::new(self, n)
    }

    /// Keeps a running state, starting from `initial`, and emits what `f` returns for each
    /// element after updating it.
    ///
    /// Each subscription starts from its own clone of `initial`. Like
    /// [`Iterator::scan`], `f` gets the state by `&mut` and returns the element to emit, which
    /// may be of another type than the state. The initial state itself is not emitted (unlike
    /// Reactor's `scan(initial, f)`): one element in, one element out.
    ///
    /// # Backpressure
    ///
    /// Passes demand through: a downstream `request(n)` reaches the upstream as `request(n)`,
    /// and the downstream holds the upstream's own subscription. On the conditional fast path
    /// it forwards the downstream's answer, as `map` does.
    ///
    /// # Errors
    ///
    /// Upstream errors pass through unchanged, at once. A panic in `f` is caught: the upstream
    /// is cancelled and the stream fails with an error of kind
    /// [`ErrorKind::Panic`](rstreams_core::ErrorKind::Panic) in stage `scan`; nothing is
    /// signalled after it.
    ///
    /// # Panics
    ///
    /// Never: every `initial` and `f` is a valid argument.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let running_sum = source::range(1, 4).scan(0, |sum, x| {
    ///     *sum += x;
    ///     *sum
    /// });
    /// assert_eq!(sink::collect(&running_sum).unwrap(), vec![1, 3, 6, 10]);
    /// // Each subscription starts again from 0.
    /// let probe = TestSubscriber::new(2);
    /// running_sum.subscribe(probe.clone());
    /// assert_eq!(probe.values(), vec![1, 3]);
    /// ```
    fn scan<A, U, F>(self, initial: A, f: F) -> Scan<Self, A, F>
    where
        A: Clone + Send + 'static,
        F: Fn(&mut A, Self::Item) -> U + Send + Sync + 'static,
    {
        Scan::new(self, initial, f)
    }

    /// Groups the elements into vectors of `size`; the last one may be shorter.
    ///
    /// # Backpressure
    ///
    /// A downstream `request(n)` (`n` vectors) is forwarded as `request(n × size)`, saturating
    /// at `u64::MAX` (unbounded, §3.17). Every full vector uses exactly `size` of them, so the
    /// upstream is never asked for more than the downstream's vectors can hold.
    ///
    /// # Errors
    ///
    /// On completion the partial vector, if any, is emitted before `on_complete` (the demand
    /// for it is always there: fewer than `n × size` elements came for `n` vectors). An upstream
    /// error passes through at once and the partial vector is dropped. A `request(0)` is
    /// forwarded upstream as `request(0)`, which fails the stream (§3.9).
    ///
    /// # Panics
    ///
    /// When `size` is 0 (valid range `1..=usize::MAX`), where the operator is built.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let batches = source::range(0, 7).buffer(3);
    /// assert_eq!(
    ///     sink::collect(&batches).unwrap(),
    ///     vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]
    /// );
    ///
    /// let probe = TestSubscriber::new(1); // one vector: 3 elements requested upstream
    /// batches.subscribe(probe.clone());
    /// assert_eq!(probe.values(), vec![vec![0, 1, 2]]);
    /// ```
    fn buffer(self, size: usize) -> Buffer<Self> {
        Buffer::new(self, size)
    }

    /// Splits the downstream's demand into bounded upstream requests: `high` first, then `low`
    /// each time `low` elements have gone downstream.
    ///
    /// For an upstream that must not be asked for everything at once (a network source, a
    /// database cursor), whatever the downstream requests, and to batch the requests of a
    /// downstream that asks for one element at a time.
    ///
    /// # Backpressure
    ///
    /// Nothing is requested until the downstream's first request. Then, whatever its size
    /// (`u64::MAX` included), the upstream is asked for `high`, and after that for `low` each
    /// time `low` elements have been passed downstream. The upstream thus has at most `high`
    /// elements requested and not yet passed on, and the stage queues at most `high`. This is
    /// Reactor's `limitRate(high, low)` with three differences: the first request waits for
    /// downstream demand (Reactor prefetches on subscribe); `low == high` replenishes only
    /// when all `high` are gone (Reactor's `lowTide == 0`); and a `low` of 0 or above `high` is
    /// rejected instead of being turned into the 75 % rule. The prefetch (up to `high` ahead of
    /// the downstream's demand) is deliberate and bounded.
    ///
    /// With `(10, 2)` and a downstream demand of 14 the upstream sees `request(10)` and then
    /// `request(2)` after every second element delivered.
    ///
    /// # Errors
    ///
    /// Upstream errors and completion are delivered after the elements already queued; with
    /// nothing queued they pass through at once, without demand. An upstream that breaks §1.1
    /// so far that more than `high` elements would wait in the queue is cancelled, and the
    /// stream fails with a §1.1 protocol error instead of the queue growing. A downstream
    /// `request(0)` cancels the upstream, drops the queue and fails the stream (§3.9).
    ///
    /// # Panics
    ///
    /// Where the operator is built, when `high` is 0 (valid range `1..=u64::MAX`) or `low` is
    /// outside `1..=high`.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    ///
    /// // collect requests u64::MAX; the range is still asked 4 at a time.
    /// let paced = source::range(0, 10).limit_rate(4, 4);
    /// assert_eq!(sink::collect(&paced).unwrap(), (0..10).collect::<Vec<_>>());
    ///
    /// let probe = TestSubscriber::new(1);
    /// paced.subscribe(probe.clone());
    /// assert_eq!(probe.values(), vec![0]); // 4 were fetched, 3 wait for demand
    /// ```
    fn limit_rate(self, high: u64, low: u64) -> LimitRate<Self> {
        LimitRate::new(self, high, low)
    }

    /// Queues up to `capacity` elements for a downstream that cannot keep up, and applies
    /// `overflow` to an element that arrives while the queue is full.
    ///
    /// Elements the policy drops are counted in the operator's [`Dropped`](crate::Dropped)
    /// handle (`.dropped()`); use
    /// [`on_backpressure_buffer_with`](Self::on_backpressure_buffer_with) to also receive them.
    /// See [`Overflow`] for which element each policy drops.
    ///
    /// # Backpressure
    ///
    /// Requests unbounded demand (`u64::MAX`) upstream once, on subscribe, whatever the
    /// downstream requests. Queued elements go downstream as its demand allows, oldest first.
    /// Memory is bounded by `capacity`; `usize::MAX` is an unbounded queue, by name.
    ///
    /// # Errors
    ///
    /// [`Overflow::Fail`] cancels the upstream on overflow and fails the stream with an error
    /// of kind [`ErrorKind::Overflow`](rstreams_core::ErrorKind::Overflow) in stage
    /// `on_backpressure_buffer`. When that error, or an upstream error, reaches the downstream
    /// is chosen with [`error_mode`](OnBackpressureBuffer::error_mode):
    ///
    /// - [`ErrorMode::AfterQueued`] (the default, as Reactor's `onBackpressureBuffer`): after
    ///   the elements already queued, as demand allows, so nothing received is lost to the
    ///   error; but a downstream that has stopped requesting never sees it;
    /// - [`ErrorMode::Immediate`]: at once, without demand, the queued elements discarded.
    ///
    /// With nothing queued an error passes at once in both modes, without demand. Completion
    /// always follows the queued elements. A downstream cancel or `request(0)` (§3.9) cancels
    /// the upstream and drops the queue.
    ///
    /// # Panics
    ///
    /// When `capacity` is 0 (valid range `1..=usize::MAX`), where the operator is built.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::{Overflow, PublisherExt};
    /// use rstreams_tck::TestSubscriber;
    ///
    /// // A consumer with no demand while 100 elements arrive keeps the newest 10.
    /// let stage = source::range(0, 100).on_backpressure_buffer(10, Overflow::EvictOldest);
    /// let dropped = stage.dropped();
    /// let probe = TestSubscriber::new(0);
    /// stage.subscribe(probe.clone());
    /// probe.request(u64::MAX);
    /// assert_eq!(probe.values(), (90..100).collect::<Vec<_>>());
    /// assert!(probe.is_complete());
    /// assert_eq!(dropped.count(), 90);
    /// ```
    fn on_backpressure_buffer(
        self,
        capacity: usize,
        overflow: Overflow,
    ) -> OnBackpressureBuffer<Self, fn(Self::Item)> {
        OnBackpressureBuffer::new(self, capacity, overflow, ignore as fn(Self::Item))
    }

    /// [`on_backpressure_buffer`](Self::on_backpressure_buffer), also handing every element
    /// the overflow policy drops to `on_dropped` (after counting it).
    ///
    /// `on_dropped` runs on the thread that delivered the element from upstream, outside any
    /// lock of the operator.
    ///
    /// # Backpressure
    ///
    /// As [`on_backpressure_buffer`](Self::on_backpressure_buffer): unbounded upstream demand,
    /// a queue of at most `capacity`.
    ///
    /// # Errors
    ///
    /// As [`on_backpressure_buffer`](Self::on_backpressure_buffer). A panic in `on_dropped` is
    /// caught and fails the stage as an overflow under `Fail` does: the upstream is cancelled
    /// and the stream fails with an error of kind
    /// [`ErrorKind::Panic`](rstreams_core::ErrorKind::Panic) in stage `on_backpressure_buffer`,
    /// after the queued elements or at once as the
    /// [`error_mode`](OnBackpressureBuffer::error_mode) says.
    ///
    /// # Panics
    ///
    /// When `capacity` is 0 (valid range `1..=usize::MAX`), where the operator is built.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::{Overflow, PublisherExt};
    /// use rstreams_tck::TestSubscriber;
    /// use std::sync::{Arc, Mutex};
    ///
    /// let rejected = Arc::new(Mutex::new(Vec::new()));
    /// let log = rejected.clone();
    /// let stage = source::range(0, 5)
    ///     .on_backpressure_buffer_with(2, Overflow::DropIncoming, move |x| log.lock().unwrap().push(x));
    /// let probe = TestSubscriber::new(0);
    /// stage.subscribe(probe.clone());
    /// probe.request(u64::MAX);
    /// assert_eq!(probe.values(), vec![0, 1]);
    /// assert_eq!(*rejected.lock().unwrap(), vec![2, 3, 4]);
    /// assert_eq!(stage.dropped().count(), 3);
    /// ```
    fn on_backpressure_buffer_with<F>(
        self,
        capacity: usize,
        overflow: Overflow,
        on_dropped: F,
    ) -> OnBackpressureBuffer<Self, F>
    where
        F: Fn(Self::Item) + Send + Sync + 'static,
    {
        OnBackpressureBuffer::new(self, capacity, overflow, on_dropped)
    }

    /// Passes an element on when the downstream has demand for it and drops it otherwise.
    ///
    /// Dropped elements are counted in the operator's [`Dropped`](crate::Dropped) handle
    /// (`.dropped()`); use [`on_backpressure_drop_with`](Self::on_backpressure_drop_with) to
    /// also receive them.
    ///
    /// # Backpressure
    ///
    /// Requests unbounded demand (`u64::MAX`) upstream once, on subscribe, whatever the
    /// downstream requests. Holds no element: memory stays constant.
    ///
    /// # Errors
    ///
    /// Upstream errors and completion pass through at once, without demand. A `request(0)` is
    /// forwarded upstream, which fails the stream (§3.9).
    ///
    /// # Panics
    ///
    /// Never: it takes no argument.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let stage = source::range(0, 100).on_backpressure_drop();
    /// let dropped = stage.dropped();
    /// let probe = TestSubscriber::new(3); // room for 3; the other 97 are dropped
    /// stage.subscribe(probe.clone());
    /// assert_eq!(probe.values(), vec![0, 1, 2]);
    /// assert!(probe.is_complete());
    /// assert_eq!(dropped.count(), 97);
    /// ```
    fn on_backpressure_drop(self) -> OnBackpressureDrop<Self, fn(Self::Item)> {
        OnBackpressureDrop::new(self, ignore as fn(Self::Item))
    }

    /// [`on_backpressure_drop`](Self::on_backpressure_drop), also handing every dropped element
    /// to `on_dropped` (after counting it), on the thread that delivered it from upstream.
    ///
    /// # Backpressure
    ///
    /// As [`on_backpressure_drop`](Self::on_backpressure_drop): unbounded upstream demand, no
    /// element held.
    ///
    /// # Errors
    ///
    /// As [`on_backpressure_drop`](Self::on_backpressure_drop). A panic in `on_dropped` is
    /// caught: the upstream is cancelled and the stream fails at once with an error of kind
    /// [`ErrorKind::Panic`](rstreams_core::ErrorKind::Panic) in stage `on_backpressure_drop`;
    /// nothing is signalled after it.
    ///
    /// # Panics
    ///
    /// Never: every `on_dropped` is a valid argument.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    /// use std::sync::{Arc, Mutex};
    ///
    /// let missed = Arc::new(Mutex::new(Vec::new()));
    /// let log = missed.clone();
    /// let stage = source::range(0, 5).on_backpressure_drop_with(move |x| log.lock().unwrap().push(x));
    /// let probe = TestSubscriber::new(2);
    /// stage.subscribe(probe.clone());
    /// assert_eq!(probe.values(), vec![0, 1]);
    /// assert_eq!(*missed.lock().unwrap(), vec![2, 3, 4]);
    /// ```
    fn on_backpressure_drop_with<F>(self, on_dropped: F) -> OnBackpressureDrop<Self, F>
    where
        F: Fn(Self::Item) + Send + Sync + 'static,
    {
        OnBackpressureDrop::new(self, on_dropped)
    }

    /// Holds the newest element the downstream has no demand for yet; a newer one replaces it.
    ///
    /// The same as `on_backpressure_buffer(1, Overflow::EvictOldest)`. Replaced elements are
    /// counted in the operator's [`Dropped`](crate::Dropped) handle (`.dropped()`); use
    /// [`on_backpressure_latest_with`](Self::on_backpressure_latest_with) to also receive them.
    ///
    /// # Backpressure
    ///
    /// Requests unbounded demand (`u64::MAX`) upstream once, on subscribe, whatever the
    /// downstream requests. Holds at most one element.
    ///
    /// # Errors
    ///
    /// An upstream error reaches the downstream as the
    /// [`error_mode`](OnBackpressureLatest::error_mode) says:
    ///
    /// - [`ErrorMode::AfterQueued`] (the default): after the held element, when demand allows;
    ///   a downstream that has stopped requesting never sees it;
    /// - [`ErrorMode::Immediate`]: at once, without demand, the held element discarded.
    ///
    /// With none held it passes at once in both modes, without demand. Completion always
    /// follows the held element. A downstream cancel or `request(0)` (§3.9) cancels the
    /// upstream and drops the held element.
    ///
    /// # Panics
    ///
    /// Never: it takes no argument.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let stage = source::range(0, 100).on_backpressure_latest();
    /// let probe = TestSubscriber::new(0);
    /// stage.subscribe(probe.clone());
    /// probe.request(u64::MAX);
    /// assert_eq!(probe.values(), vec![99]);
    /// assert_eq!(stage.dropped().count(), 99);
    /// ```
    fn on_backpressure_latest(self) -> OnBackpressureLatest<Self, fn(Self::Item)> {
        OnBackpressureLatest::new(self, ignore as fn(Self::Item))
    }

    /// [`on_backpressure_latest`](Self::on_backpressure_latest), also handing every replaced
    /// element to `on_dropped` (after counting it), on the thread that delivered the newer one.
    ///
    /// # Backpressure
    ///
    /// As [`on_backpressure_latest`](Self::on_backpressure_latest): unbounded upstream demand,
    /// at most one element held.
    ///
    /// # Errors
    ///
    /// As [`on_backpressure_latest`](Self::on_backpressure_latest). A panic in `on_dropped` is
    /// caught: the upstream is cancelled and the stream fails with an error of kind
    /// [`ErrorKind::Panic`](rstreams_core::ErrorKind::Panic) in stage `on_backpressure_latest`,
    /// after the held element or at once as the
    /// [`error_mode`](OnBackpressureLatest::error_mode) says.
    ///
    /// # Panics
    ///
    /// Never: every `on_dropped` is a valid argument.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    /// use std::sync::{Arc, Mutex};
    ///
    /// let replaced = Arc::new(Mutex::new(Vec::new()));
    /// let log = replaced.clone();
    /// let stage = source::range(0, 4).on_backpressure_latest_with(move |x| log.lock().unwrap().push(x));
    /// let probe = TestSubscriber::new(0);
    /// stage.subscribe(probe.clone());
    /// probe.request(5);
    /// assert_eq!(probe.values(), vec![3]);
    /// assert_eq!(*replaced.lock().unwrap(), vec![0, 1, 2]);
    /// ```
    fn on_backpressure_latest_with<F>(self, on_dropped: F) -> OnBackpressureLatest<Self, F>
    where
        F: Fn(Self::Item) + Send + Sync + 'static,
    {
        OnBackpressureLatest::new(self, on_dropped)
    }

    /// Delivers the downstream's signals on a worker of `scheduler`, through a bounded queue of
    /// `prefetch` elements: the producer runs on its thread, the consumer on the worker's.
    ///
    /// # Backpressure
    ///
    /// Requests `prefetch` upstream when subscribed, then `prefetch - prefetch/4` each time that
    /// many elements have been taken from the queue by the downstream, whatever the downstream
    /// requests: at most `prefetch` elements are queued or outstanding upstream, so memory is
    /// O(`prefetch`) however many flow. Downstream demand is met from the queue; wake-ups of
    /// the worker are per batch (one drain loop runs while elements keep coming), not per
    /// element.
    ///
    /// # Errors
    ///
    /// An upstream error reaches the downstream after the elements already queued (as demand
    /// allows), so nothing that arrived before it is lost; use
    /// [`publish_on_with`](Self::publish_on_with) and [`ErrorMode::Immediate`] to deliver it at
    /// once, discarding the queue. With nothing queued it passes at once, without demand.
    /// An upstream that emits beyond what was requested fails the stream naming §1.1.
    ///
    /// # Panics
    ///
    /// When `prefetch` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::scheduler::ThreadPool;
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let pool = ThreadPool::new(1);
    /// let hopped = source::range(0, 1_000).publish_on(pool.clone(), 64);
    /// let all = sink::collect(&hopped).unwrap();
    /// assert!(all.into_iter().eq(0..1_000));
    /// ```
    fn publish_on<S: Scheduler>(self, scheduler: S, prefetch: usize) -> PublishOn<Self, S> {
        PublishOn::new(self, scheduler, prefetch, ErrorMode::AfterQueued)
    }

    /// [`publish_on`](Self::publish_on), choosing when an upstream error reaches the
    /// downstream.
    ///
    /// # Backpressure
    ///
    /// As [`publish_on`](Self::publish_on).
    ///
    /// # Errors
    ///
    /// [`ErrorMode::AfterQueued`]: after the queued elements. [`ErrorMode::Immediate`]: at
    /// once, the queued elements discarded.
    ///
    /// # Panics
    ///
    /// When `prefetch` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::scheduler::ThreadPool;
    /// use rstreams::{sink, source, Error};
    /// use rstreams::ops::{ErrorMode, PublisherExt};
    ///
    /// let failing = source::fail::<u64>(Error::msg("down"));
    /// let hopped = failing.publish_on_with(ThreadPool::new(1), 16, ErrorMode::Immediate);
    /// assert_eq!(sink::collect(&hopped).unwrap_err().to_string(), "down");
    /// ```
    fn publish_on_with<S: Scheduler>(
        self,
        scheduler: S,
        prefetch: usize,
        errors: ErrorMode,
    ) -> PublishOn<Self, S> {
        PublishOn::new(self, scheduler, prefetch, errors)
    }

    /// Subscribes to the upstream on a worker of `scheduler`, and makes every request there:
    /// a synchronous source then produces on that worker's thread, not the subscriber's.
    ///
    /// # Backpressure
    ///
    /// Passes demand through: each downstream `request(n)` becomes `request(n)` upstream, run
    /// as a task on the worker (in order, so requests made from inside `on_next` never
    /// recurse). Signals from the upstream pass straight through, on whatever thread it
    /// signals from. Cancel is forwarded at once.
    ///
    /// # Errors
    ///
    /// Upstream errors pass through unchanged, at once.
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::scheduler::ThreadPool;
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let pool = ThreadPool::with_name(1, "producer");
    /// let on_pool = source::defer(|| {
    ///     source::just(std::thread::current().name().unwrap_or_default().to_owned())
    /// })
    /// .subscribe_on(pool);
    /// assert_eq!(sink::collect(&on_pool).unwrap(), vec!["producer-0".to_string()]);
    /// ```
    fn subscribe_on<S: Scheduler>(self, scheduler: S) -> SubscribeOn<Self, S> {
        SubscribeOn::new(self, scheduler)
    }

    /// Maps each element to a publisher with `f` and merges the elements of those publishers,
    /// running at most `max_concurrency` of them at once.
    ///
    /// # Backpressure
    ///
    /// Requests `max_concurrency` elements from the upstream, then one more each time an inner
    /// publisher completes. An upstream that is a synchronous source (`range`, `from_iter`,
    /// `just`, …: [`Publisher::sync_iter`]) is fused instead of subscribed: its iterator is
    /// pulled for the next element each time a slot frees, which is the same demand with no
    /// hand-over between two subscriptions. Each inner is asked for `prefetch` and replenished with
    /// `prefetch - prefetch/4` each time that many of its elements were consumed downstream:
    /// memory is O(`max_concurrency` × `prefetch`) however many elements flow. Downstream
    /// demand is met fairly: the inners that have elements take turns, so an always-ready
    /// inner cannot starve a slow one. A subscribed inner's turn is one element; a synchronous
    /// inner that is fused (`range`, `from_iter`, `just`: no subscription, its elements pulled
    /// as demand allows) gives up to `min(prefetch, 64)` in a row.
    ///
    /// # Errors
    ///
    /// The first error, from the upstream or any inner, cancels everything else and goes
    /// downstream at once (queued elements are discarded). A panic in `f`, or in a fused
    /// upstream's iterator, does the same with an error of kind
    /// [`ErrorKind::Panic`](rstreams_core::ErrorKind::Panic) in stage `flat_map`. Completes
    /// when the upstream and every inner completed and their elements went out.
    ///
    /// # Panics
    ///
    /// When `max_concurrency` or `prefetch` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let pairs = source::range(0, 3).flat_map(|x| source::range(x * 10, 2), 2, 8);
    /// let mut all = sink::collect(&pairs).unwrap();
    /// all.sort();
    /// assert_eq!(all, vec![0, 1, 10, 11, 20, 21]);
    /// ```
    fn flat_map<Q, F>(self, f: F, max_concurrency: usize, prefetch: usize) -> FlatMap<Self, F>
    where
        F: Fn(Self::Item) -> Q + Send + Sync + 'static,
        Q: Publisher,
    {
        FlatMap::new(self, f, max_concurrency, prefetch, "flat_map")
    }

    /// Merges this publisher with `other`: both are subscribed at once, their elements emitted
    /// as they come. Both sides are boxed ([`BoxPublisher`]) so that they may differ in type.
    ///
    /// # Backpressure
    ///
    /// Each side is asked for 32 and replenished at 75 %; fair between the sides from the first
    /// element, as [`merge_all`](crate::merge_all). Merging the result again adds to it (see
    /// [`MergeAll::merge`](crate::MergeAll::merge)).
    ///
    /// # Errors
    ///
    /// The first error of either side cancels the other and goes downstream at once.
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let both = source::range(0, 2).merge(source::just(100u64));
    /// let mut all = sink::collect(&both).unwrap();
    /// all.sort();
    /// assert_eq!(all, vec![0, 1, 100]);
    /// ```
    fn merge<Q>(self, other: Q) -> MergeAll<BoxPublisher<Self::Item>>
    where
        Self: Send + Sync + 'static,
        Self::Item: Send + 'static,
        Q: Publisher<Item = Self::Item> + Send + Sync + 'static,
    {
        crate::merge_all(vec![self.boxed(), other.boxed()], 32)
    }

    /// Emits this publisher's elements, then, once it completed, `other`'s. Both sides are
    /// boxed so that they may differ in type; concatenating the result again appends to it
    /// (see [`Concat::concat`](crate::Concat::concat)).
    ///
    /// # Backpressure
    ///
    /// Demand passes through exactly, with no prefetch: the active side gets the downstream's
    /// requests, and `other`, subscribed only after this one completed, is asked for exactly
    /// what is still outstanding.
    ///
    /// # Errors
    ///
    /// An error of either side ends the stream at once; `other` is not subscribed after an
    /// error of this one.
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let both = source::range(0, 3).concat(source::range(10, 2));
    /// assert_eq!(sink::collect(&both).unwrap(), vec![0, 1, 2, 10, 11]);
    /// ```
    fn concat<Q>(self, other: Q) -> Concat<BoxPublisher<Self::Item>>
    where
        Self: Send + Sync + 'static,
        Self::Item: Send + 'static,
        Q: Publisher<Item = Self::Item> + Send + Sync + 'static,
    {
        crate::concat_all(vec![self.boxed(), other.boxed()])
    }

    // ===== the vocabulary: filtering, aggregates, fallbacks =====

    /// Maps each element with `f` and keeps the `Some`s: `filter` and `map` in one step.
    ///
    /// # Backpressure
    ///
    /// Passes `n` through. An element mapped to `None` costs no `request(1)` on the conditional
    /// path ([`Subscriber::try_on_next`](rstreams_core::Subscriber::try_on_next)); on the
    /// plain path the stage asks for a replacement.
    ///
    /// # Errors
    ///
    /// Upstream errors pass through at once. A panic in `f` cancels the upstream and fails the
    /// stream (kind [`Panic`](rstreams_core::ErrorKind::Panic), stage `filter_map`).
    ///
    /// # Panics
    ///
    /// Never (a panic in `f` becomes `on_error`).
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let numbers = source::from_iter(["1", "two", "3"]).filter_map(|s| s.parse::<u32>().ok());
    /// assert_eq!(sink::collect(&numbers).unwrap(), vec![1, 3]);
    /// ```
    fn filter_map<U, F>(self, f: F) -> FilterMap<Self, F>
    where
        F: Fn(Self::Item) -> Option<U> + Send + Sync + 'static,
    {
        FilterMap::new(self, f)
    }

    /// Passes elements while `predicate` holds; at the first that does not, cancels the upstream
    /// and completes (that element is not emitted).
    ///
    /// # Backpressure
    ///
    /// Passes `n` through.
    ///
    /// # Errors
    ///
    /// Upstream errors pass through at once. A panic in `predicate` cancels the upstream and
    /// fails the stream (stage `take_while`).
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let small = source::range(1, 100).take_while(|x| *x < 4);
    /// assert_eq!(sink::collect(&small).unwrap(), vec![1, 2, 3]);
    /// ```
    fn take_while<F>(self, predicate: F) -> TakeWhile<Self, F>
    where
        F: Fn(&Self::Item) -> bool + Send + Sync + 'static,
    {
        TakeWhile::new(self, predicate)
    }

    /// Drops elements while `predicate` holds; from the first that does not, passes every
    /// element (the predicate is not asked again).
    ///
    /// # Backpressure
    ///
    /// Passes `n` through; a dropped element costs no `request(1)` on the conditional path and
    /// one on the plain path.
    ///
    /// # Errors
    ///
    /// Upstream errors pass through at once. A panic in `predicate` cancels the upstream and
    /// fails the stream (stage `skip_while`).
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let rest = source::from_iter([1, 2, 5, 1, 2]).skip_while(|x| *x < 3);
    /// assert_eq!(sink::collect(&rest).unwrap(), vec![5, 1, 2]);
    /// ```
    fn skip_while<F>(self, predicate: F) -> SkipWhile<Self, F>
    where
        F: Fn(&Self::Item) -> bool + Send + Sync + 'static,
    {
        SkipWhile::new(self, predicate)
    }

    /// Passes each element the first time it appears, dropping repeats.
    ///
    /// **Memory grows with the number of distinct elements**: each one seen is kept (a clone,
    /// in a hash set) for the whole subscription. For an endless stream of ever-new values use
    /// [`distinct_bounded`](Self::distinct_bounded).
    ///
    /// # Backpressure
    ///
    /// Passes `n` through; a dropped repeat costs no `request(1)` on the conditional path and
    /// one on the plain path.
    ///
    /// # Errors
    ///
    /// Upstream errors pass through at once.
    ///
    /// # Panics
    ///
    /// Never (a panicking `Hash` or `Eq` fails the stream).
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let once = source::from_iter([3, 1, 3, 2, 1]).distinct();
    /// assert_eq!(sink::collect(&once).unwrap(), vec![3, 1, 2]);
    /// ```
    fn distinct(self) -> Distinct<Self>
    where
        Self::Item: std::hash::Hash + Eq + Clone,
    {
        Distinct::new(self, usize::MAX)
    }

    /// As [`distinct`](Self::distinct), remembering only the `max_keys` most recent distinct
    /// elements: memory is bounded, and an element forgotten (more than `max_keys` distinct
    /// ones ago) passes again.
    ///
    /// # Backpressure
    ///
    /// As `distinct`.
    ///
    /// # Errors
    ///
    /// Upstream errors pass through at once.
    ///
    /// # Panics
    ///
    /// When `max_keys` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// // Remembers 2: the second `1` comes after `2` and `3` pushed it out.
    /// let recent = source::from_iter([1, 2, 1, 3, 1]).distinct_bounded(2);
    /// assert_eq!(sink::collect(&recent).unwrap(), vec![1, 2, 3, 1]);
    /// ```
    fn distinct_bounded(self, max_keys: usize) -> Distinct<Self>
    where
        Self::Item: std::hash::Hash + Eq + Clone,
    {
        Distinct::new(self, max_keys)
    }

    /// Drops an element equal to the one just before it.
    ///
    /// # Backpressure
    ///
    /// Passes `n` through; a dropped element costs no `request(1)` on the conditional path and
    /// one on the plain path. Keeps one element (a clone of the last passed on).
    ///
    /// # Errors
    ///
    /// Upstream errors pass through at once.
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let changes = source::from_iter([1, 1, 2, 2, 1]).distinct_until_changed();
    /// assert_eq!(sink::collect(&changes).unwrap(), vec![1, 2, 1]);
    /// ```
    fn distinct_until_changed(self) -> DistinctUntilChanged<Self>
    where
        Self::Item: PartialEq + Clone,
    {
        DistinctUntilChanged::new(self)
    }

    /// Combines the elements pairwise with `f` (`f(f(a, b), c)`…) and emits the result once
    /// the upstream completed; an empty stream completes without emitting.
    ///
    /// # Backpressure
    ///
    /// Requests everything upstream at once (it holds one accumulated value, whatever the
    /// number of elements); emits its one element when the downstream has asked for it.
    ///
    /// # Errors
    ///
    /// An upstream error goes downstream at once (no partial result). A panic in `f` cancels
    /// the upstream and fails the stream (stage `reduce`).
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let largest = source::from_iter([3, 9, 4]).reduce(|a, b| a.max(b));
    /// assert_eq!(sink::collect(&largest).unwrap(), vec![9]);
    /// ```
    fn reduce<F>(self, f: F) -> Aggregate<Self, Reducing<Self::Item, F>>
    where
        F: Fn(Self::Item, Self::Item) -> Self::Item + Send + Sync + 'static,
        Self::Item: Send + 'static,
    {
        Aggregate::new(self, Reducing::new(f))
    }

    /// Accumulates from `init` with `f(acc, element)` and emits the result once the upstream
    /// completed (`init` itself for an empty stream). Each subscription starts from a clone of
    /// `init`.
    ///
    /// # Backpressure
    ///
    /// Requests everything upstream at once; emits its one element when the downstream asked.
    ///
    /// # Errors
    ///
    /// An upstream error goes downstream at once. A panic in `f` cancels the upstream and fails
    /// the stream (stage `fold`).
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let total = source::range(1, 4).fold(0u64, |acc, x| acc + x);
    /// assert_eq!(sink::collect(&total).unwrap(), vec![10]);
    /// ```
    fn fold<A, F>(self, init: A, f: F) -> Aggregate<Self, Folding<A, F>>
    where
        A: Clone + Send + 'static,
        F: Fn(A, Self::Item) -> A + Send + Sync + 'static,
    {
        Aggregate::new(self, Folding::new(init, f))
    }

    /// Emits the number of elements (one `u64`) once the upstream completed.
    ///
    /// # Backpressure
    ///
    /// Requests everything upstream at once; emits its one element when the downstream asked.
    ///
    /// # Errors
    ///
    /// An upstream error goes downstream at once.
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// assert_eq!(sink::collect(&source::range(0, 42).count()).unwrap(), vec![42]);
    /// ```
    fn count(self) -> Aggregate<Self, Counting> {
        Aggregate::new(self, Counting::default())
    }

    /// Emits the first element, if any, and completes; the upstream is cancelled once it
    /// arrived.
    ///
    /// # Backpressure
    ///
    /// Requests 1 upstream, whatever the downstream asks.
    ///
    /// # Errors
    ///
    /// An upstream error before the first element goes downstream.
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// assert_eq!(sink::collect(&source::range(7, 1_000).first()).unwrap(), vec![7]);
    /// ```
    fn first(self) -> Aggregate<Self, Firsting<Self::Item>>
    where
        Self::Item: Send + 'static,
    {
        Aggregate::new(self, Firsting::default())
    }

    /// Emits the last element, if any, once the upstream completed.
    ///
    /// # Backpressure
    ///
    /// Requests everything upstream at once; keeps one element.
    ///
    /// # Errors
    ///
    /// An upstream error goes downstream at once.
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// assert_eq!(sink::collect(&source::range(0, 5).last()).unwrap(), vec![4]);
    /// ```
    fn last(self) -> Aggregate<Self, Lasting<Self::Item>>
    where
        Self::Item: Send + 'static,
    {
        Aggregate::new(self, Lasting::new(1))
    }

    /// Emits the last `n` elements, in order, once the upstream completed.
    ///
    /// # Backpressure
    ///
    /// Requests everything upstream at once and keeps at most `n` elements; emits them as the
    /// downstream asks.
    ///
    /// # Errors
    ///
    /// An upstream error goes downstream at once (the kept elements are dropped).
    ///
    /// # Panics
    ///
    /// Never. `take_last(0)` completes without emitting.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// assert_eq!(sink::collect(&source::range(0, 10).take_last(3)).unwrap(), vec![7, 8, 9]);
    /// ```
    fn take_last(self, n: usize) -> Aggregate<Self, Lasting<Self::Item>>
    where
        Self::Item: Send + 'static,
    {
        Aggregate::new(self, Lasting::new(n))
    }

    /// Emits every element but the last `n`.
    ///
    /// # Backpressure
    ///
    /// Asks the upstream for `n` more than the downstream (once, at subscription), then passes
    /// `n` through: an element goes on when `n` more arrived after it. Holds at most `n`.
    ///
    /// # Errors
    ///
    /// Upstream errors pass through at once (the held elements are dropped).
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// assert_eq!(sink::collect(&source::range(0, 5).skip_last(2)).unwrap(), vec![0, 1, 2]);
    /// ```
    fn skip_last(self, n: usize) -> SkipLast<Self> {
        SkipLast::new(self, n)
    }

    /// Emits one `Vec` of every element once the upstream completed.
    ///
    /// # Backpressure
    ///
    /// Requests everything upstream at once: **memory grows with the number of elements** (it
    /// is all kept until the end). Emits its one `Vec` when the downstream asked.
    ///
    /// # Errors
    ///
    /// An upstream error goes downstream at once (what was collected is dropped).
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// assert_eq!(sink::collect(&source::range(0, 3).collect_vec()).unwrap(), vec![vec![0, 1, 2]]);
    /// ```
    fn collect_vec(self) -> Aggregate<Self, Collecting<Self::Item>>
    where
        Self::Item: Send + 'static,
    {
        Aggregate::new(self, Collecting::default())
    }

    /// Emits `items` first, then this publisher's elements. Both are boxed; prepending again
    /// appends to the same list (see [`Concat::concat`](crate::Concat::concat)).
    ///
    /// # Backpressure
    ///
    /// As [`concat`](Self::concat): demand passes through exactly.
    ///
    /// # Errors
    ///
    /// As `concat`.
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let with_header = source::range(1, 2).start_with([0u64]);
    /// assert_eq!(sink::collect(&with_header).unwrap(), vec![0, 1, 2]);
    /// ```
    fn start_with<I>(self, items: I) -> Concat<BoxPublisher<Self::Item>>
    where
        Self: Send + Sync + 'static,
        Self::Item: Send + 'static,
        I: IntoIterator<Item = Self::Item>,
        I::IntoIter: Clone + Send + Sync + 'static,
    {
        crate::concat_all(vec![
            rstreams_core::source::from_iter(items).boxed(),
            self.boxed(),
        ])
    }

    /// Emits `other`'s elements instead when this publisher completes without emitting.
    ///
    /// # Backpressure
    ///
    /// Passes demand through exactly, to this publisher and, after an empty completion, to
    /// `other` (which is asked for everything requested so far, through an
    /// [`Arbiter`](rstreams_core::support::Arbiter)).
    ///
    /// # Errors
    ///
    /// An error of either passes through at once (an error is not "empty": no switch).
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let fallback = source::empty::<u64>().switch_if_empty(source::range(5, 2));
    /// assert_eq!(sink::collect(&fallback).unwrap(), vec![5, 6]);
    /// ```
    fn switch_if_empty<Q>(self, other: Q) -> SwitchIfEmpty<Self, Q>
    where
        Q: Publisher<Item = Self::Item> + Send + Sync + 'static,
    {
        SwitchIfEmpty::new(self, other)
    }

    /// Emits `item` when this publisher completes without emitting.
    ///
    /// # Backpressure
    ///
    /// Passes demand through; `item` goes out when the downstream has asked for it.
    ///
    /// # Errors
    ///
    /// Errors pass through at once.
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let none = source::empty::<&str>().default_if_empty("nothing");
    /// assert_eq!(sink::collect(&none).unwrap(), vec!["nothing"]);
    /// ```
    fn default_if_empty(self, item: Self::Item) -> DefaultIfEmpty<Self, Self::Item>
    where
        Self::Item: Clone + Send + 'static,
    {
        crate::switch_if_empty::default_if_empty(self, item)
    }

    // ===== combining =====

    /// Pairs this publisher's elements with `other`'s, by position: the first with the first,
    /// the second with the second, and so on. [`zip_with`](Self::zip_with) combines each pair
    /// with a closure instead.
    ///
    /// # Backpressure
    ///
    /// Each side is asked for 32 when subscribed and replenished with 24 each time 24 of its
    /// elements were paired: a `request(n)` takes `n` from each side's queue, and whatever `n`
    /// is, neither side is ever asked for more than 32 ahead of the pairs that went out. A side
    /// much faster than the other waits upstream, not in memory: at most 32 of its elements
    /// are held. Both sides are subscribed before the first pair goes out, so a synchronous
    /// side fills its queue and returns instead of running to its end.
    ///
    /// # Errors
    ///
    /// An error of either side cancels the other and goes downstream at once (elements queued
    /// for pairing are dropped). Completes when a side has completed and every element it sent
    /// was paired (Reactor's rule): the other side, which can never be paired again, is
    /// cancelled; this needs no demand.
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let pairs = source::range(1, 3).zip(source::from_iter(["a", "b", "c", "d"]));
    /// assert_eq!(sink::collect(&pairs).unwrap(), vec![(1, "a"), (2, "b"), (3, "c")]);
    /// ```
    fn zip<Q>(self, other: Q) -> Zip<Self, Q, Pair<Self::Item, Q::Item>>
    where
        Q: Publisher,
    {
        Zip::new(self, other, |a, b| (a, b))
    }

    /// Combines this publisher's elements with `other`'s, by position: emits `f(a, b)` for the
    /// first of each, then the second of each, and so on.
    ///
    /// # Backpressure
    ///
    /// As [`zip`](Self::zip): each side 32 ahead, replenished with 24 as its elements are
    /// paired; at most 32 elements of each side held.
    ///
    /// # Errors
    ///
    /// As [`zip`](Self::zip): an error of either side goes downstream at once and cancels the
    /// other; completes when a side has completed and all it sent was paired. A panic in `f`
    /// cancels both sides and fails the stream (kind
    /// [`Panic`](rstreams_core::ErrorKind::Panic), stage `zip`).
    ///
    /// # Panics
    ///
    /// Never (a panic in `f` becomes `on_error`).
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let sums = source::range(1, 3).zip_with(source::range(10, 3), |a, b| a + b);
    /// assert_eq!(sink::collect(&sums).unwrap(), vec![11, 13, 15]);
    /// ```
    fn zip_with<Q, F, C>(self, other: Q, f: F) -> Zip<Self, Q, F>
    where
        Q: Publisher,
        F: Fn(Self::Item, Q::Item) -> C + Send + Sync + 'static,
    {
        Zip::new(self, other, f)
    }

    /// Emits `f(&a, &b)` of the latest element `a` of this publisher and the latest `b` of
    /// `other`, each time either side emits once both have emitted.
    ///
    /// The two sides' elements are taken in turn when both have some queued (a fast side does
    /// not starve a slow one), so every element taken after both sides emitted gives one
    /// output, combined with the other side's latest at that point; the elements a side emits
    /// before the other's first only replace its latest.
    ///
    /// # Backpressure
    ///
    /// Each side is asked for 32 when subscribed and replenished with 24 each time 24 of its
    /// elements were taken, whatever `n` is: a `request(n)` is `n` elements taken (plus those
    /// taken before both sides had emitted). At most 32 elements of each side are held, and
    /// the latest of each.
    ///
    /// # Errors
    ///
    /// An error of either side cancels the other and goes downstream at once (queued elements
    /// are dropped). Completes when both sides have completed and their elements were taken,
    /// or as soon as one side completes without ever having emitted (nothing can be combined
    /// then); the other side is cancelled. A panic in `f` fails the stream (kind
    /// [`Panic`](rstreams_core::ErrorKind::Panic), stage `combine_latest`).
    ///
    /// # Panics
    ///
    /// Never (a panic in `f` becomes `on_error`).
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// // A single setting combined with every reading.
    /// let scaled = source::range(1, 3).combine_latest(source::just(10u64), |x, k| x * k);
    /// assert_eq!(sink::collect(&scaled).unwrap(), vec![10, 20, 30]);
    /// ```
    fn combine_latest<Q, F, C>(self, other: Q, f: F) -> CombineLatest<Self, Q, F>
    where
        Q: Publisher,
        F: Fn(&Self::Item, &Q::Item) -> C + Send + Sync + 'static,
    {
        CombineLatest::new(self, other, f)
    }

    /// Combines each element of this publisher with the latest element of `other`: emits
    /// `f(&element, &latest)`. This publisher drives; `other` only updates the value its
    /// elements are combined with. An element that arrives before `other` has emitted anything
    /// is dropped.
    ///
    /// # Backpressure
    ///
    /// This publisher's demand is the downstream's, passed through exactly: `request(n)` asks
    /// it for `n`, and a dropped element (before `other`'s first) is made up for — with one
    /// `request(1)` on the plain `on_next` path, for nothing on the conditional
    /// [`try_on_next`](rstreams_core::Subscriber::try_on_next) path. `other` is subscribed
    /// first and asked for everything at once (unbounded): only its latest element is kept,
    /// so taking all of them costs one slot, and the value stays as fresh as `other` makes it.
    /// Each element is combined as it arrives, with the value `other` had then.
    ///
    /// # Errors
    ///
    /// An error of either publisher cancels the other and goes downstream at once. Completes
    /// when this publisher completes; also when `other` completes without ever having emitted
    /// (nothing could ever be combined), cancelling this one. `other` completing after it
    /// emitted changes nothing: its last element stays the latest. A panic in `f` cancels both
    /// and fails the stream (kind [`Panic`](rstreams_core::ErrorKind::Panic), stage
    /// `with_latest_from`).
    ///
    /// # Panics
    ///
    /// Never (a panic in `f` becomes `on_error`).
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let labelled = source::range(1, 3).with_latest_from(source::just("v2"), |x, v| format!("{v}:{x}"));
    /// assert_eq!(sink::collect(&labelled).unwrap(), vec!["v2:1", "v2:2", "v2:3"]);
    /// ```
    fn with_latest_from<Q, F, C>(self, other: Q, f: F) -> WithLatestFrom<Self, Q, F>
    where
        Q: Publisher,
        F: Fn(&Self::Item, &Q::Item) -> C + Send + Sync + 'static,
    {
        WithLatestFrom::new(self, other, f)
    }

    /// Maps each element to a publisher with `f` and emits their elements in order: one inner
    /// publisher at a time, the next subscribed once the previous completed.
    ///
    /// # Backpressure
    ///
    /// The upstream is asked for `prefetch` when subscribed and replenished with
    /// `prefetch - prefetch/4` each time that many of its elements were mapped: at most
    /// `prefetch` of them are held or outstanding, whatever `n` is. The inners' demand is the
    /// downstream's, carried over exactly through an
    /// [`Arbiter`](rstreams_core::support::Arbiter): `request(n)` goes to the active inner as
    /// `request(n)`, and the next inner is asked for exactly what is still outstanding
    /// (everything requested minus everything the inners before it sent). An inner that
    /// completes inside its own `subscribe` hands over in a loop, not a recursion, so long
    /// runs of synchronous inners need no stack. An upstream that is a synchronous source
    /// (`range`, `from_iter`, `just`, …: [`Publisher::sync_iter`]) is fused instead of
    /// subscribed and prefetched: its iterator is pulled for one element each time the next
    /// inner is due, and a synchronous inner that follows a synchronous one takes over inside
    /// the drain loop, with no hand-over at all.
    ///
    /// # Errors
    ///
    /// An error of the upstream or of the active inner cancels everything else and goes
    /// downstream at once (the upstream's queued elements are dropped). A panic in `f`, or in
    /// a fused upstream's iterator, does the same, with an error of kind
    /// [`Panic`](rstreams_core::ErrorKind::Panic) in stage `concat_map`. Completes when the upstream completed and every inner completed and was
    /// delivered.
    ///
    /// # Panics
    ///
    /// When `prefetch` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let tens = source::range(1, 3).concat_map(|x| source::range(x * 10, 2), 4);
    /// assert_eq!(sink::collect(&tens).unwrap(), vec![10, 11, 20, 21, 30, 31]);
    /// ```
    fn concat_map<Q, F>(self, f: F, prefetch: usize) -> ConcatMap<Self, F>
    where
        F: Fn(Self::Item) -> Q + Send + Sync + 'static,
        Q: Publisher,
    {
        ConcatMap::new(self, f, prefetch)
    }

    /// Maps each element to a publisher with `f` and emits the elements of the latest one:
    /// each new element of this publisher cancels the previous inner publisher, then
    /// subscribes the next.
    ///
    /// The previous inner is cancelled *before* the next is subscribed, and nothing it sends
    /// after the switch reaches the downstream (what it had queued is dropped); an element
    /// already on its way as the switch happens may still go out, but never after an element
    /// of the next inner.
    ///
    /// # Backpressure
    ///
    /// The upstream is asked for everything (unbounded) when subscribed: each of its elements
    /// replaces the last, so none waits. The inners' demand is the downstream's, carried over
    /// through an [`Arbiter`](rstreams_core::support::Arbiter): `request(n)` goes to the
    /// current inner as `request(n)`, and each new inner is asked for exactly what is still
    /// outstanding (everything requested minus everything delivered).
    ///
    /// # Errors
    ///
    /// An error of the upstream or of the current inner cancels everything and goes downstream
    /// at once; an inner that was switched away from is cancelled, and its error ignored. A
    /// panic in `f` fails the stream (kind [`Panic`](rstreams_core::ErrorKind::Panic), stage
    /// `switch_map`). Completes when the upstream completed and the last inner completed and
    /// was delivered.
    ///
    /// # Panics
    ///
    /// Never (a panic in `f` becomes `on_error`).
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::{TestPublisher, TestSubscriber};
    ///
    /// let queries = TestPublisher::<&str>::new();
    /// let probe = TestSubscriber::new(u64::MAX);
    /// queries
    ///     .clone()
    ///     .switch_map(|q| source::never::<String>().start_with([format!("{q}…")]))
    ///     .subscribe(probe.clone());
    /// queries.emit("ru");
    /// queries.emit("rust"); // cancels the search for "ru"
    /// probe.assert_values(&["ru…".to_string(), "rust…".to_string()]);
    ///
    /// // Synchronous inners run to their end before the next element arrives.
    /// let all = source::range(1, 2).switch_map(|x| source::range(x * 10, 2));
    /// assert_eq!(sink::collect(&all).unwrap(), vec![10, 11, 20, 21]);
    /// ```
    fn switch_map<Q, F>(self, f: F) -> SwitchMap<Self, F>
    where
        F: Fn(Self::Item) -> Q + Send + Sync + 'static,
        Q: Publisher,
    {
        SwitchMap::new(self, f)
    }

    /// Emits this publisher's elements until `other` emits its first element (or fails), then
    /// completes and cancels both.
    ///
    /// # Backpressure
    ///
    /// Passes `n` through to this publisher, exactly; `other` is asked for one element, the
    /// only one that matters. Nothing is fetched ahead: the stage holds only elements on their
    /// way to the downstream.
    ///
    /// # Errors
    ///
    /// An error of either publisher cancels the other and goes downstream at once. `other`
    /// completing without emitting changes nothing: this publisher runs on to its own end.
    /// When `other` emits, the stream completes at once (without waiting for demand) and an
    /// element of this publisher that was on its way is dropped.
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::{TestPublisher, TestSubscriber};
    ///
    /// let stop = TestPublisher::<()>::new();
    /// let probe = TestSubscriber::new(2);
    /// source::range(0, 100).take_until(stop.clone()).subscribe(probe.clone());
    /// probe.assert_values(&[0, 1]);
    /// stop.emit(());
    /// assert!(probe.is_complete());
    /// ```
    fn take_until<Q>(self, other: Q) -> TakeUntil<Self, Q>
    where
        Q: Publisher,
    {
        TakeUntil::new(self, other)
    }

    /// Merges this publisher with `other` as [`merge`](Self::merge) does, except that an error
    /// waits until every source has ended: the other sources run on to their end first. Both
    /// sides are boxed so that they may differ in type; merging the result again with
    /// `merge_delay_error` adds to it (see
    /// [`MergeDelayError::merge_delay_error`](crate::MergeDelayError::merge_delay_error)).
    ///
    /// # Backpressure
    ///
    /// As [`merge`](Self::merge): each source is asked for 32 and replenished at 75 %; fair
    /// between the sources.
    ///
    /// # Errors
    ///
    /// A failed source counts as ended; its elements queued before the error go out first.
    /// Once every source has ended, the stream fails if any did: with that error when one
    /// source failed; when several did, with an error that shows the first and counts the
    /// others ("first message (and 2 more errors)", stage `merge_delay_error`) and wraps them
    /// all, in the order they were seen, as a [`CompositeError`](crate::CompositeError)
    /// (reach it with [`Error::downcast_ref`](rstreams_core::Error::downcast_ref)). Otherwise
    /// it completes.
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{source, Error, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let probe = TestSubscriber::new(u64::MAX);
    /// source::fail::<u64>(Error::msg("one source broke"))
    ///     .merge_delay_error(source::range(0, 3))
    ///     .subscribe(probe.clone());
    /// assert_eq!(probe.values(), vec![0, 1, 2]); // the others ran to their end first
    /// assert_eq!(probe.error().unwrap().to_string(), "one source broke");
    /// ```
    fn merge_delay_error<Q>(self, other: Q) -> MergeDelayError<BoxPublisher<Self::Item>>
    where
        Self: Send + Sync + 'static,
        Self::Item: Send + 'static,
        Q: Publisher<Item = Self::Item> + Send + Sync + 'static,
    {
        MergeDelayError::new(vec![self.boxed(), other.boxed()], 32)
    }

    /// Collects elements into vectors of `size`, a new one starting every `skip` elements:
    /// overlapping when `skip < size` (each element goes into several vectors, hence
    /// `Clone`), with gaps when `skip > size` (the elements between vectors are dropped), and
    /// as [`buffer`](Self::buffer) when they are equal.
    ///
    /// # Backpressure
    ///
    /// Asks the upstream for exactly the elements the requested vectors need: for the first
    /// `request(n)`, `size + (n - 1) × skip` (the first vector whole, then a start every
    /// `skip`); for each later `request(n)`, `n × skip`; saturating (a huge `n` is
    /// unbounded). Never more vectors go out than were requested: the partial vectors left at
    /// completion (overlapping ones: several) go out, oldest first, as demand allows, then
    /// `on_complete`.
    ///
    /// # Errors
    ///
    /// An upstream error goes downstream after the full vectors already cut (they were
    /// requested); the partial vectors are dropped.
    ///
    /// # Panics
    ///
    /// When `size` or `skip` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let windows = source::range(0, 5).buffer_skip(3, 1);
    /// assert_eq!(
    ///     sink::collect(&windows).unwrap(),
    ///     vec![vec![0, 1, 2], vec![1, 2, 3], vec![2, 3, 4], vec![3, 4], vec![4]]
    /// );
    /// let samples = source::range(0, 7).buffer_skip(2, 3);
    /// assert_eq!(sink::collect(&samples).unwrap(), vec![vec![0, 1], vec![3, 4], vec![6]]);
    /// ```
    fn buffer_skip(self, size: usize, skip: usize) -> BufferSkip<Self>
    where
        Self::Item: Clone,
    {
        BufferSkip::new(self, size, skip)
    }

    /// Collects elements into vectors of `size`, emitting a shorter one when `timeout` has
    /// passed since its first element. Timers run on [`timer()`]; see
    /// [`buffer_timeout_on`](Self::buffer_timeout_on) to choose the scheduler. A `timeout` too
    /// long to be practical (up to `Duration::MAX`) means batches go out only full or at the
    /// end.
    ///
    /// # Backpressure
    ///
    /// While the downstream has demand for batches, keeps one batch in flight: it asks upstream
    /// for `size` minus what it holds and what is outstanding, so at most `size` elements are
    /// queued or requested at any time, whatever `n` is. A batch that is full or due while the
    /// downstream has no demand **waits for demand** — it is neither dropped nor turned into an
    /// error — and nothing more is requested meanwhile. Empty batches are never emitted.
    ///
    /// # Errors
    ///
    /// An upstream error goes downstream at once and the partial batch is dropped. On
    /// completion the partial batch is emitted first (when demand allows), then `on_complete`.
    /// An upstream that emits an element it was not asked for (§1.1) is cancelled and the
    /// stream fails at once with a §1.1 protocol error: at most `size` elements are ever held.
    /// A downstream that panics is treated as having cancelled (§2.13): the upstream is
    /// cancelled and the timer stopped.
    ///
    /// # Panics
    ///
    /// When `size` is 0 or `timeout` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    /// use std::time::Duration;
    ///
    /// let batches = source::range(0, 5).buffer_timeout(2, Duration::from_secs(60));
    /// assert_eq!(sink::collect(&batches).unwrap(), vec![vec![0, 1], vec![2, 3], vec![4]]);
    /// ```
    fn buffer_timeout(self, size: usize, timeout: Duration) -> BufferTimeout<Self, Timer> {
        BufferTimeout::new(self, size, timeout, timer())
    }

    /// [`buffer_timeout`](Self::buffer_timeout) with its timers on `scheduler`.
    ///
    /// # Backpressure
    ///
    /// As [`buffer_timeout`](Self::buffer_timeout).
    ///
    /// # Errors
    ///
    /// As [`buffer_timeout`](Self::buffer_timeout).
    ///
    /// # Panics
    ///
    /// When `size` is 0 or `timeout` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::scheduler::VirtualTime;
    /// use rstreams::Publisher;
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestPublisher;
    /// use rstreams_tck::TestSubscriber;
    /// use std::time::Duration;
    ///
    /// let vt = VirtualTime::new();
    /// let input = TestPublisher::<u32>::new();
    /// let probe = TestSubscriber::new(10);
    /// input.clone().buffer_timeout_on(3, Duration::from_secs(1), vt.clone()).subscribe(probe.clone());
    /// input.emit(1);
    /// vt.advance_by(Duration::from_secs(1)); // due: a partial batch goes out
    /// probe.assert_values(&[vec![1]]);
    /// ```
    fn buffer_timeout_on<S: Scheduler>(
        self,
        size: usize,
        timeout: Duration,
        scheduler: S,
    ) -> BufferTimeout<Self, S> {
        BufferTimeout::new(self, size, timeout, scheduler)
    }

    /// Limits the rate to `elements` per `per`, allowing bursts of up to `burst` (a token
    /// bucket that holds `burst` tokens and gains `elements` every `per`). Timers run on
    /// [`timer()`]; see [`throttle_on`](Self::throttle_on). A `per` too long to be practical
    /// (up to `Duration::MAX`) means the bucket never refills: `burst` elements pass, ever.
    ///
    /// # Backpressure
    ///
    /// [`ThrottleMode::Shaping`]: asks upstream only for as much of the downstream's demand as
    /// the bucket has tokens, and for the rest as tokens come back. Nothing is queued here:
    /// the excess waits upstream (put an `on_backpressure_*` stage before a source that
    /// cannot wait), and every element eventually goes out. By time `t` at most
    /// `burst + elements × ⌊t / per⌋` elements have passed. It never emits without demand.
    /// [`ThrottleMode::Enforcing`]: passes demand through unchanged and takes one token per
    /// element.
    ///
    /// # Errors
    ///
    /// Upstream errors pass through at once. In enforcing mode an element that finds no token
    /// cancels the upstream and fails the stream with an error of kind
    /// [`ErrorKind::Overflow`](rstreams_core::ErrorKind::Overflow) in stage `throttle`.
    ///
    /// # Panics
    ///
    /// When `elements` or `burst` is 0, or `per` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::{PublisherExt, ThrottleMode};
    /// use std::time::Duration;
    ///
    /// // 1000 per millisecond is far above what 5 elements need: they pass at once.
    /// let paced = source::range(0, 5).throttle(1_000, Duration::from_millis(1), 1_000, ThrottleMode::Shaping);
    /// assert_eq!(sink::collect(&paced).unwrap(), vec![0, 1, 2, 3, 4]);
    /// ```
    fn throttle(
        self,
        elements: u64,
        per: Duration,
        burst: u64,
        mode: ThrottleMode,
    ) -> Throttle<Self, Timer> {
        Throttle::new(self, elements, per, burst, mode, timer())
    }

    /// [`throttle`](Self::throttle) with its clock and timers on `scheduler`.
    ///
    /// # Backpressure
    ///
    /// As [`throttle`](Self::throttle).
    ///
    /// # Errors
    ///
    /// As [`throttle`](Self::throttle).
    ///
    /// # Panics
    ///
    /// When `elements` or `burst` is 0, or `per` is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::scheduler::VirtualTime;
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::{PublisherExt, ThrottleMode};
    /// use rstreams_tck::TestSubscriber;
    /// use std::time::Duration;
    ///
    /// let vt = VirtualTime::new();
    /// let probe = TestSubscriber::new(u64::MAX);
    /// source::range(0, 10)
    ///     .throttle_on(2, Duration::from_secs(1), 3, ThrottleMode::Shaping, vt.clone())
    ///     .subscribe(probe.clone());
    /// assert_eq!(probe.count(), 3); // the burst
    /// vt.advance_by(Duration::from_secs(1));
    /// assert_eq!(probe.count(), 5); // + 2 per second
    /// ```
    fn throttle_on<S: Scheduler>(
        self,
        elements: u64,
        per: Duration,
        burst: u64,
        mode: ThrottleMode,
        scheduler: S,
    ) -> Throttle<Self, S> {
        Throttle::new(self, elements, per, burst, mode, scheduler)
    }

    // ===== asynchronous calls =====

    /// Runs the future `f` returns for each element, at most `max_in_flight` at once, and
    /// emits their outputs **in the order of the elements**.
    ///
    /// The futures are not spawned: the stage polls them from its own drain loop, each with a
    /// waker that runs that loop again when the future can make progress (as
    /// `rstreams_futures::from_stream` does). So a runtime-free future needs no
    /// executor at all, and a future that needs a runtime (a `tokio::time::sleep`, a tokio
    /// channel) works when its waker fires from that runtime: the stage then runs on the
    /// runtime's thread, and `f` is called there too, inside its context. Only the futures whose
    /// wakers fired are polled again; slots are reused, so nothing is allocated per element.
    ///
    /// # Backpressure
    ///
    /// Upstream demand is the free slots: `max_in_flight` when subscribed, then one more for
    /// each output delivered downstream (asked after its delivery, in one `request(n)` per
    /// batch), whatever the downstream requests. An element holds its slot from its request
    /// until its output went downstream, so at most `max_in_flight` elements are requested,
    /// running, or finished and waiting for demand (behind a slower one, to keep the order):
    /// memory is O(`max_in_flight`). Nothing is polled without a slot. The futures run ahead
    /// of the downstream's demand, up to that bound.
    ///
    /// # Errors
    ///
    /// An upstream error goes downstream at once: the futures in flight and the outputs
    /// waiting are dropped. Completion waits for every future in flight and every output.
    /// A panic in `f` or in a future's `poll` cancels the upstream and fails the stream with
    /// an error of kind [`ErrorKind::Panic`](rstreams_core::ErrorKind::Panic) in stage
    /// `map_async`. An upstream that emits beyond its demand is cancelled and the stream fails
    /// naming §1.1. A cancel drops the futures in flight.
    ///
    /// # Panics
    ///
    /// When `max_in_flight` is 0 (valid range `1..=usize::MAX`), where the operator is built.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// // Any future: here ready at once; a real one would await a client.
    /// let doubled = source::range(1, 5).map_async(3, |x| async move { x * 2 });
    /// assert_eq!(sink::collect(&doubled).unwrap(), vec![2, 4, 6, 8, 10]);
    /// ```
    fn map_async<U, F, Fut>(
        self,
        max_in_flight: usize,
        f: F,
    ) -> MapAsync<Self, F, Fut::Output, Fut::Output>
    where
        F: Fn(Self::Item) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = U> + Send + 'static,
    {
        MapAsync::new(
            self,
            max_in_flight,
            f,
            true,
            crate::map_async::infallible,
            "map_async",
        )
    }

    /// [`map_async`](Self::map_async), emitting the outputs **as the futures complete**: a
    /// slow future does not hold back the outputs of faster ones.
    ///
    /// # Backpressure
    ///
    /// As [`map_async`](Self::map_async): upstream demand is the free slots, and a slot is
    /// freed when its output went downstream. Outputs wait only for demand, never for another
    /// future.
    ///
    /// # Errors
    ///
    /// As [`map_async`](Self::map_async), in stage `map_async_unordered`.
    ///
    /// # Panics
    ///
    /// When `max_in_flight` is 0 (valid range `1..=usize::MAX`), where the operator is built.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let squares = source::range(1, 4).map_async_unordered(2, |x| std::future::ready(x * x));
    /// let mut all = sink::collect(&squares).unwrap();
    /// all.sort();
    /// assert_eq!(all, vec![1, 4, 9, 16]);
    /// ```
    fn map_async_unordered<U, F, Fut>(
        self,
        max_in_flight: usize,
        f: F,
    ) -> MapAsync<Self, F, Fut::Output, Fut::Output>
    where
        F: Fn(Self::Item) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = U> + Send + 'static,
    {
        MapAsync::new(
            self,
            max_in_flight,
            f,
            false,
            crate::map_async::infallible,
            "map_async_unordered",
        )
    }

    /// [`map_async`](Self::map_async) for futures that can fail: each `Ok` goes downstream, in
    /// the order of the elements; the first `Err` fails the stream.
    ///
    /// # Backpressure
    ///
    /// As [`map_async`](Self::map_async).
    ///
    /// # Errors
    ///
    /// An `Err(e)` from a future cancels the upstream, drops the other futures and the outputs
    /// waiting, and fails the stream at once with `e.into()` in stage `try_map_async`. The
    /// rest as [`map_async`](Self::map_async). To keep going past a failed element, route it:
    /// see `call` (feature `tower`) and its `on_failure`.
    ///
    /// # Panics
    ///
    /// When `max_in_flight` is 0 (valid range `1..=usize::MAX`), where the operator is built.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source, Error};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let parsed = source::from_iter(["1", "2", "x"])
    ///     .try_map_async(2, |s| async move { s.parse::<u32>().map_err(Error::new) });
    /// let error = sink::collect(&parsed).unwrap_err();
    /// assert_eq!(error.stage(), Some("try_map_async"));
    /// assert_eq!(error.to_string(), "in stage `try_map_async`: invalid digit found in string");
    /// ```
    fn try_map_async<U, E, F, Fut>(
        self,
        max_in_flight: usize,
        f: F,
    ) -> MapAsync<Self, F, Result<U, E>, U>
    where
        F: Fn(Self::Item) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<U, E>> + Send + 'static,
        E: Into<Error>,
    {
        MapAsync::new(
            self,
            max_in_flight,
            f,
            true,
            crate::map_async::fallible::<U, E>,
            "try_map_async",
        )
    }

    /// Calls `service` with each element and emits the responses, in the order of the
    /// elements, with at most `max_in_flight` calls running or responses waiting. Any tower
    /// [`Service`](tower_service::Service) works, with any tower layers around it.
    ///
    /// A subscription takes the service and gives it back when it ends, so the pipeline can
    /// be subscribed again afterwards (by a retry, say); a second subscription while one holds
    /// it is rejected (`on_subscribe`, then `on_error` naming §1.9): a tower service's
    /// readiness belongs to one caller. For concurrent subscribers build one pipeline each
    /// (`source::defer`), with clones of a shared layer ([`CircuitBreaker`],
    /// [`Bulkhead`], a concurrency limit) where they must share a limit. The calls' futures are polled as [`map_async`](Self::map_async) polls its futures: in
    /// the stage's drain loop, no task per element. Use [`Call::on_failure`] to keep going
    /// past failed calls and [`Call::unordered`] to emit responses as they come.
    ///
    /// # Backpressure
    ///
    /// **"Not ready" is withheld demand, not rejection.** The stage asks the upstream for an
    /// element only after `poll_ready` said the service is ready (and a slot is free), one
    /// element per readiness; while the service is not ready, nothing is requested and
    /// nothing waits here: the elements wait upstream. So the layers compose per element: a
    /// concurrency limit of `k` means at most `k` elements requested or in flight, a rate
    /// limit paces the upstream's demand, a [`CircuitBreaker`] that is
    /// open or a [`Bulkhead`] with no permit free stop the demand until they
    /// let calls through again. The readiness reserved by `poll_ready` is used by the next
    /// element (tower's contract), so at most one element is requested ahead of the calls.
    /// A slot is freed when its response went downstream (or its failure was routed).
    ///
    /// A layer that turns "not ready" into an error (tower's `LoadShed`) makes it a failed
    /// call instead: then it is handled as below.
    ///
    /// # Errors
    ///
    /// A failed call (the future's `Err`: the service's, a timeout's, a shed load's) cancels
    /// the upstream, drops the other calls in flight and fails the stream at once with that
    /// error (in stage `call`; a tower `BoxError` keeps its source for
    /// [`Error::downcast_ref`]), unless [`on_failure`](Call::on_failure) routes it. An error
    /// from `poll_ready` means the service is broken: the stream fails, whatever the route.
    /// An upstream error goes downstream at once; completion waits for the calls in flight.
    /// A panic in the service (`poll_ready`, `call`, its future) fails the stream with an
    /// error of kind [`ErrorKind::Panic`](rstreams_core::ErrorKind::Panic) in stage `call`.
    ///
    /// # Panics
    ///
    /// When `max_in_flight` is 0 (valid range `1..=usize::MAX`), where the operator is built.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source, Error};
    /// use rstreams::ops::PublisherExt;
    /// use tower::ServiceBuilder;
    ///
    /// // At most 2 calls at once: the source is never asked for more than that ahead.
    /// let service = ServiceBuilder::new()
    ///     .concurrency_limit(2)
    ///     .service_fn(|x: u64| async move { Ok::<_, Error>(x * x) });
    /// let squares = source::range(1, 4).call(service, 8);
    /// assert_eq!(sink::collect(&squares).unwrap(), vec![1, 4, 9, 16]);
    /// ```
    ///
    /// [`CircuitBreaker`]: crate::CircuitBreaker
    /// [`Bulkhead`]: crate::Bulkhead
    #[cfg(feature = "tower")]
    fn call<Svc>(self, service: Svc, max_in_flight: usize) -> Call<Self, Svc>
    where
        Svc: tower_service::Service<Self::Item> + Send + 'static,
    {
        Call::new(self, service, max_in_flight)
    }

    // ===== errors, retry, timeout, hooks =====

    /// On an upstream error, continues with the publisher `f` makes from it: the downstream
    /// sees the source's elements, then the fallback's, as one stream.
    ///
    /// # Backpressure
    ///
    /// Demand passes through exactly: the downstream's requests go to the source, and after an
    /// error the fallback is asked for exactly what is still outstanding (everything requested
    /// minus everything delivered) through the support
    /// [`Arbiter`](rstreams_core::support::Arbiter): the total delivered never exceeds the
    /// total requested, and a request racing the switch is counted once. Nothing is queued.
    ///
    /// # Errors
    ///
    /// The source's first error is handed to `f` (only that one: an error of the fallback
    /// ends the stream). Not resumed: the error that answers the downstream's own `request(0)`
    /// (§3.9), which passes through. A panic in `f` ends the stream with an error of kind
    /// [`ErrorKind::Panic`](rstreams_core::ErrorKind::Panic) in stage `on_error_resume`.
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source, Error, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let flaky = source::range(0, 2).concat(source::fail(Error::msg("primary down")));
    /// let resilient = flaky.on_error_resume(|_| source::range(100, 3));
    /// assert_eq!(sink::collect(&resilient).unwrap(), vec![0, 1, 100, 101, 102]);
    ///
    /// // Demand carries over: 3 requested, 2 from the source, 1 from the fallback.
    /// let probe = TestSubscriber::new(3);
    /// resilient.subscribe(probe.clone());
    /// assert_eq!(probe.values(), vec![0, 1, 100]);
    /// ```
    fn on_error_resume<Q, F>(self, f: F) -> OnErrorResume<Self, F>
    where
        F: Fn(Error) -> Q + Send + Sync + 'static,
        Q: Publisher<Item = Self::Item>,
    {
        OnErrorResume::new(self, f)
    }

    /// On an upstream error, emits one last element made from it by `f`, then completes.
    ///
    /// # Backpressure
    ///
    /// Demand passes through exactly, as [`on_error_resume`](Self::on_error_resume): the last
    /// element goes out when the downstream's outstanding demand allows it — at once if some
    /// is outstanding, else at its next request — and completion follows it.
    ///
    /// # Errors
    ///
    /// The source's error is replaced by the last element; a downstream `request(0)`'s §3.9
    /// error passes through. A panic in `f` ends the stream with an error of kind
    /// [`ErrorKind::Panic`](rstreams_core::ErrorKind::Panic) in stage `on_error_return`.
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source, Error, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let readings = source::from_iter(vec![Ok(20), Ok(21)])
    ///     .concat(source::fail(Error::msg("sensor lost")))
    ///     .on_error_return(|e| Err(e.to_string()));
    /// assert_eq!(
    ///     sink::collect(&readings).unwrap(),
    ///     vec![Ok(20), Ok(21), Err("sensor lost".to_string())]
    /// );
    ///
    /// // The last element waits for demand.
    /// let probe = TestSubscriber::new(2);
    /// readings.subscribe(probe.clone());
    /// assert!(!probe.is_terminated());
    /// probe.request(1);
    /// assert_eq!(probe.count(), 3);
    /// assert!(probe.is_complete());
    /// ```
    fn on_error_return<F>(self, f: F) -> OnErrorReturn<Self, F>
    where
        F: Fn(Error) -> Self::Item + Send + Sync + 'static,
    {
        OnErrorReturn::new(self, f)
    }

    /// Transforms the upstream's error with `f` (to add context, or to change its kind).
    ///
    /// # Backpressure
    ///
    /// Passes demand through: the downstream holds the upstream's own subscription.
    ///
    /// # Errors
    ///
    /// Each upstream error goes downstream as `f(error)`, except the one that answers the
    /// downstream's own `request(0)` (rule §3.9), passed on as it is so that the protocol
    /// fault stays visible. A panic in `f` ends the stream with an error of kind
    /// [`ErrorKind::Panic`](rstreams_core::ErrorKind::Panic) in stage `map_err` instead.
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source, Error};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let rows = source::fail::<u64>(Error::msg("connection reset"))
    ///     .map_err(|e| e.context("reading table `orders`"));
    /// assert_eq!(
    ///     sink::collect(&rows).unwrap_err().to_string(),
    ///     "reading table `orders`: connection reset"
    /// );
    /// ```
    fn map_err<F>(self, f: F) -> MapErr<Self, F>
    where
        F: Fn(Error) -> Error + Send + Sync + 'static,
    {
        MapErr::new(self, f)
    }

    /// Resubscribes the upstream after an error, as `policy` says: at once or after a backoff
    /// delay, up to a number of attempts and a time limit, for the errors it retries.
    ///
    /// **A resubscribed cold source starts over**: `range`, `from_iter`, a `defer` that opens
    /// a file or runs a query emit their elements again from the first, so the elements
    /// delivered before the failure come again. Where that matters, make the source resume
    /// instead: `skip` what was already delivered (for a source that replays the same
    /// elements), or a [`defer`](rstreams_core::source::defer) that reads a shared cursor (the
    /// last offset or id delivered, kept by the consumer) and resumes after it. A hot source
    /// simply goes on with what comes next; what it emitted meanwhile is not seen.
    ///
    /// # Backpressure
    ///
    /// Demand passes through exactly: each subscription of the source is asked, through the
    /// support [`Arbiter`](rstreams_core::support::Arbiter), for what is still outstanding
    /// (everything the downstream requested minus everything delivered, over all
    /// subscriptions). Nothing is requested while a retry waits for its delay; requests made
    /// meanwhile are counted and go to the next subscription. Nothing is queued.
    ///
    /// # Errors
    ///
    /// An error the policy retries (all, by default, see
    /// [`RetryPolicy::retry_if`](crate::RetryPolicy::retry_if)) is not passed on: the source is
    /// subscribed again after the policy's delay. An element delivered resets the attempt count
    /// and the backoff. When the attempts or `max_elapsed` are used up, the last error goes
    /// downstream with the count in front of its message ("gave up after 3 attempts: …"; its
    /// kind, rule and stage kept, see [`Error::context`](rstreams_core::Error::context)). An
    /// error the policy does not retry, and the answer to a downstream `request(0)` (§3.9),
    /// pass through at once, unchanged. A cancel during a delay stops everything: the timer is
    /// cancelled, nothing is resubscribed, the downstream is released (§3.13).
    ///
    /// Resubscriptions run in a loop, not a recursion: a source that fails synchronously on
    /// each of 10 000 subscriptions under [`RetryPolicy::immediate`](crate::RetryPolicy::immediate)
    /// runs in constant stack depth.
    ///
    /// # Panics
    ///
    /// Never here; [`RetryPolicy`]'s builders reject bad arguments where
    /// the policy is made.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::scheduler::VirtualTime;
    /// use rstreams::{source, Error, Publisher};
    /// use rstreams::ops::{Jitter, PublisherExt, RetryPolicy};
    /// use rstreams_tck::TestSubscriber;
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// // A dependency that fails twice, then answers.
    /// let calls = Arc::new(AtomicU32::new(0));
    /// let counter = Arc::clone(&calls);
    /// let call = source::defer(move || {
    ///     if counter.fetch_add(1, Ordering::SeqCst) < 2 {
    ///         source::fail(Error::msg("503")).boxed()
    ///     } else {
    ///         source::just("ok").boxed()
    ///     }
    /// });
    ///
    /// let clock = VirtualTime::new();
    /// let policy = RetryPolicy::exponential(Duration::from_secs(1), Duration::from_secs(30))
    ///     .max_attempts(5)
    ///     .jitter(Jitter::None)
    ///     .on(clock.clone());
    /// let probe = TestSubscriber::new(1);
    /// call.retry(policy).subscribe(probe.clone());
    ///
    /// clock.advance_by(Duration::from_secs(1)); // first retry after 1 s: fails again
    /// assert_eq!(calls.load(Ordering::SeqCst), 2);
    /// clock.advance_by(Duration::from_secs(2)); // second retry after 2 s more: answers
    /// assert_eq!(probe.values(), vec!["ok"]);
    /// assert!(probe.is_complete());
    /// ```
    fn retry(self, policy: RetryPolicy) -> Retry<Self>
    where
        Self: Send + Sync + 'static,
    {
        Retry::new(self, policy)
    }

    /// Fails the stream with an error of kind
    /// [`ErrorKind::Timeout`](rstreams_core::ErrorKind::Timeout) when outstanding downstream
    /// demand goes unmet for `duration`. Timers run on [`timer()`]; see
    /// [`timeout_on`](Self::timeout_on).
    ///
    /// The clock runs only while the downstream has requested and the upstream has not
    /// answered: it starts when demand arrives, starts again at each element while demand
    /// remains, and stops when the demand is met. A slow consumer that requests nothing never
    /// trips it (that is backpressure, not a stalled source). Inside a
    /// [`retry`](Self::retry) it bounds each attempt; outside, the whole stream.
    ///
    /// # Backpressure
    ///
    /// Asks the upstream for the downstream's outstanding demand, at most 256 elements ahead
    /// at a time (a synchronous upstream under unbounded demand hands over one batch of 256
    /// at a time rather than all it has): never more than the downstream asked for.
    ///
    /// # Errors
    ///
    /// On a timeout the upstream is cancelled and the stream fails with an error of kind
    /// `Timeout` in stage `timeout`. Upstream errors and completion pass through at once.
    ///
    /// # Panics
    ///
    /// When `duration` is zero (valid range: above zero up to `Duration::MAX`, which never
    /// fires), where the operator is built.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    /// use std::time::Duration;
    ///
    /// let answered = source::range(0, 3).timeout(Duration::from_secs(5));
    /// assert_eq!(sink::collect(&answered).unwrap(), vec![0, 1, 2]);
    /// ```
    fn timeout(self, duration: Duration) -> Timeout<Self, Never<Self::Item>, Timer> {
        Timeout::new(self, duration, None, timer())
    }

    /// [`timeout`](Self::timeout) with its clock and timers on `scheduler` (a
    /// [`VirtualTime`](rstreams_core::scheduler::VirtualTime) in tests).
    ///
    /// # Backpressure
    ///
    /// As [`timeout`](Self::timeout).
    ///
    /// # Errors
    ///
    /// As [`timeout`](Self::timeout).
    ///
    /// # Panics
    ///
    /// When `duration` is zero (valid range: above zero up to `Duration::MAX`).
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::scheduler::VirtualTime;
    /// use rstreams::{source, ErrorKind, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    /// use std::time::Duration;
    ///
    /// let clock = VirtualTime::new();
    /// let probe = TestSubscriber::new(0);
    /// source::never::<u64>()
    ///     .timeout_on(Duration::from_secs(5), clock.clone())
    ///     .subscribe(probe.clone());
    /// clock.advance_by(Duration::from_secs(3600)); // nothing requested: no timeout
    /// assert!(!probe.is_terminated());
    /// probe.request(1);
    /// clock.advance_by(Duration::from_secs(5));
    /// assert_eq!(probe.error().unwrap().kind(), ErrorKind::Timeout);
    /// ```
    fn timeout_on<S: Scheduler>(
        self,
        duration: Duration,
        scheduler: S,
    ) -> Timeout<Self, Never<Self::Item>, S> {
        Timeout::new(self, duration, None, scheduler)
    }

    /// [`timeout`](Self::timeout) that switches to `fallback` instead of failing. Timers run on
    /// [`timer()`]; see [`timeout_or_on`](Self::timeout_or_on).
    ///
    /// # Backpressure
    ///
    /// As [`timeout`](Self::timeout); on the switch the fallback is asked, through the support
    /// [`Arbiter`](rstreams_core::support::Arbiter), for exactly what the source was asked for
    /// and did not deliver, and then for the downstream's demand as it comes.
    ///
    /// # Errors
    ///
    /// On a timeout the source is cancelled and `fallback` subscribed; the fallback runs
    /// without a deadline. Errors and completion of either pass through at once.
    ///
    /// # Panics
    ///
    /// When `duration` is zero (valid range: above zero up to `Duration::MAX`).
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    /// use std::time::Duration;
    ///
    /// let cached = source::range(0, 2).timeout_or(Duration::from_secs(1), source::range(90, 2));
    /// assert_eq!(sink::collect(&cached).unwrap(), vec![0, 1]); // answered in time
    /// ```
    fn timeout_or<Q>(self, duration: Duration, fallback: Q) -> Timeout<Self, Q, Timer>
    where
        Q: Publisher<Item = Self::Item> + Send + Sync + 'static,
    {
        Timeout::new(self, duration, Some(fallback), timer())
    }

    /// [`timeout_or`](Self::timeout_or) with its clock and timers on `scheduler`.
    ///
    /// # Backpressure
    ///
    /// As [`timeout_or`](Self::timeout_or).
    ///
    /// # Errors
    ///
    /// As [`timeout_or`](Self::timeout_or).
    ///
    /// # Panics
    ///
    /// When `duration` is zero (valid range: above zero up to `Duration::MAX`).
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::scheduler::VirtualTime;
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    /// use std::time::Duration;
    ///
    /// let clock = VirtualTime::new();
    /// let probe = TestSubscriber::new(2);
    /// source::never()
    ///     .timeout_or_on(Duration::from_millis(200), source::range(7, 5), clock.clone())
    ///     .subscribe(probe.clone());
    /// clock.advance_by(Duration::from_millis(200));
    /// assert_eq!(probe.values(), vec![7, 8]); // the 2 outstanding, from the fallback
    /// ```
    fn timeout_or_on<Q, S>(
        self,
        duration: Duration,
        fallback: Q,
        scheduler: S,
    ) -> Timeout<Self, Q, S>
    where
        Q: Publisher<Item = Self::Item> + Send + Sync + 'static,
        S: Scheduler,
    {
        Timeout::new(self, duration, Some(fallback), scheduler)
    }

    /// Calls `f` with each element on its way downstream (to log, count or trace it).
    ///
    /// # Backpressure
    ///
    /// Passes demand through: the downstream holds the upstream's own subscription, and
    /// `try_on_next` is forwarded (a `filter` after it still costs no request per rejected
    /// element).
    ///
    /// # Errors
    ///
    /// Upstream errors pass through at once. A panic in `f` is caught: the upstream is
    /// cancelled and the stream fails with an error of kind
    /// [`ErrorKind::Panic`](rstreams_core::ErrorKind::Panic) in stage `inspect`.
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    ///
    /// let seen = Arc::new(AtomicU64::new(0));
    /// let counter = Arc::clone(&seen);
    /// let out = source::range(0, 4).inspect(move |_| {
    ///     counter.fetch_add(1, Ordering::Relaxed);
    /// });
    /// assert_eq!(sink::collect(&out).unwrap(), vec![0, 1, 2, 3]);
    /// assert_eq!(seen.load(Ordering::Relaxed), 4);
    /// ```
    fn inspect<F>(self, f: F) -> Inspect<Self, F>
    where
        F: Fn(&Self::Item) + Send + Sync + 'static,
    {
        Inspect::new(self, f)
    }

    /// Calls `f` with each downstream `request(n)` before it goes upstream (`request(0)`
    /// included).
    ///
    /// # Backpressure
    ///
    /// Passes each request through unchanged, after `f`, on the thread that requested.
    ///
    /// # Errors
    ///
    /// Upstream errors pass through at once. A panic in `f` is caught and becomes the
    /// stream's error (kind [`ErrorKind::Panic`](rstreams_core::ErrorKind::Panic), stage
    /// `on_request`): the request is not forwarded, elements still under way are dropped, and
    /// the upstream is sent `request(0)`, which makes it end the subscription and signal
    /// `on_error` from its own context (§3.9); that signal carries the hook's error instead.
    /// This keeps the failure serial with the upstream's signals, whatever thread requested
    /// (an upstream that ignores §3.9 would never end).
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    /// use std::sync::{Arc, Mutex};
    ///
    /// let requests = Arc::new(Mutex::new(Vec::new()));
    /// let log = Arc::clone(&requests);
    /// let probe = TestSubscriber::new(2);
    /// source::range(0, 10)
    ///     .on_request(move |n| log.lock().unwrap().push(n))
    ///     .subscribe(probe.clone());
    /// probe.request(3);
    /// assert_eq!(*requests.lock().unwrap(), vec![2, 3]);
    /// ```
    fn on_request<F>(self, f: F) -> OnRequest<Self, F>
    where
        F: Fn(u64) + Send + Sync + 'static,
    {
        OnRequest::new(self, f)
    }

    /// Calls `f` once when the downstream cancels the subscription before it ended.
    ///
    /// # Backpressure
    ///
    /// Passes demand through unchanged.
    ///
    /// # Errors
    ///
    /// Upstream errors pass through at once. `f` does not run for a cancel after the stream
    /// ended, nor for a second cancel. A panic in `f` is caught and the upstream cancelled all
    /// the same; it is not signalled: the downstream cancelled, so no signal is owed to it
    /// (§3.12), and the panic does not unwind into whoever called `cancel` (the default panic
    /// hook still reports it on stderr).
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// let cancelled = Arc::new(AtomicBool::new(false));
    /// let flag = Arc::clone(&cancelled);
    /// let probe = TestSubscriber::new(1);
    /// source::range(0, 10)
    ///     .on_cancel(move || flag.store(true, Ordering::SeqCst))
    ///     .subscribe(probe.clone());
    /// probe.cancel();
    /// assert!(cancelled.load(Ordering::SeqCst));
    /// ```
    fn on_cancel<F>(self, f: F) -> OnCancel<Self, F>
    where
        F: Fn() + Send + Sync + 'static,
    {
        OnCancel::new(self, f)
    }

    /// Calls `f` when the upstream ends, before the downstream hears of it: `f(None)` on
    /// completion, `f(Some(&error))` on an error.
    ///
    /// # Backpressure
    ///
    /// Passes demand through: the downstream holds the upstream's own subscription.
    ///
    /// # Errors
    ///
    /// A panic in `f` is caught and goes downstream as an error of kind
    /// [`ErrorKind::Panic`](rstreams_core::ErrorKind::Panic) in stage `on_terminate`, instead
    /// of the completion, or instead of the upstream's error (whose text it carries). The
    /// upstream has ended already; there is nothing to cancel.
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source, Error};
    /// use rstreams::ops::PublisherExt;
    /// use std::sync::{Arc, Mutex};
    ///
    /// let ends = Arc::new(Mutex::new(Vec::new()));
    /// let log = Arc::clone(&ends);
    /// let failing = source::fail::<u64>(Error::msg("disk full"))
    ///     .on_terminate(move |e| log.lock().unwrap().push(e.map(|e| e.to_string())));
    /// assert!(sink::collect(&failing).is_err());
    /// assert_eq!(*ends.lock().unwrap(), vec![Some("disk full".to_string())]);
    /// ```
    fn on_terminate<F>(self, f: F) -> OnTerminate<Self, F>
    where
        F: Fn(Option<&Error>) + Send + Sync + 'static,
    {
        OnTerminate::new(self, f)
    }

    /// Calls `f` exactly once when the subscription ends, however it ends: completion, error,
    /// the downstream's cancel, a panic in the downstream, or the upstream letting go of the
    /// subscription without a word. It runs after the end: after `on_complete`/`on_error`
    /// returned, after the cancel was passed upstream. Two ends racing (a cancel on one
    /// thread, the completion on another) still run it once.
    ///
    /// # Backpressure
    ///
    /// Passes demand through unchanged.
    ///
    /// # Errors
    ///
    /// Signals pass through unchanged. A panic in `f` is caught and discarded: the
    /// subscription has ended, so there is no one to signal it to, and it must not unwind into
    /// whichever thread ended it (an upstream, a canceller, a timer). The default panic hook
    /// still reports it on stderr. A panic in the downstream runs `f`, cancels the upstream,
    /// and then goes on unwinding (§2.13).
    ///
    /// # Panics
    ///
    /// Never.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    ///
    /// let released = Arc::new(AtomicU32::new(0));
    /// let count = Arc::clone(&released);
    /// let out = source::range(0, 3).finally(move || {
    ///     count.fetch_add(1, Ordering::SeqCst); // return a connection to its pool
    /// });
    /// assert_eq!(sink::collect(&out).unwrap(), vec![0, 1, 2]);
    /// assert_eq!(released.load(Ordering::SeqCst), 1);
    /// ```
    fn finally<F>(self, f: F) -> Finally<Self, F>
    where
        F: Fn() + Send + Sync + 'static,
    {
        Finally::new(self, f)
    }

    // ===== time, multicast, grouping =====

    /// Emits an element only once `quiet` has passed without a newer one (the last of each
    /// burst). Timers run on [`timer()`]; see [`debounce_on`](Self::debounce_on). A `quiet` too
    /// long to be practical (up to `Duration::MAX`) means never: only the last element goes
    /// out, at completion.
    ///
    /// # Backpressure
    ///
    /// Requests unbounded demand (`u64::MAX`) upstream once, on subscribe, whatever the
    /// downstream requests: a debounce decides by time, not by demand. It holds at most two
    /// elements: the newest (in its quiet period) and one that is due. **An element that falls
    /// due while the downstream has no demand is kept and emitted when demand arrives**; if a
    /// newer one falls due first, it replaces the older, which is counted in
    /// [`dropped()`](Debounce::dropped). It never emits without demand.
    ///
    /// # Errors
    ///
    /// An upstream error goes downstream at once; held elements are dropped. On completion
    /// the due element and then the one still in its quiet period go out at once (as demand
    /// allows), then `on_complete`. A downstream cancel or `request(0)` (§3.9) cancels the
    /// upstream and stops the timer.
    ///
    /// # Panics
    ///
    /// When `quiet` is zero (valid range `1ns..=Duration::MAX`), where it is built.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    /// use std::time::Duration;
    ///
    /// // A synchronous burst: every element but the last is followed by a newer one at once.
    /// let last = source::range(0, 5).debounce(Duration::from_secs(1));
    /// assert_eq!(sink::collect(&last).unwrap(), vec![4]);
    /// ```
    fn debounce(self, quiet: Duration) -> Debounce<Self, Timer> {
        Debounce::new(self, quiet, timer())
    }

    /// [`debounce`](Self::debounce) with its timers on `scheduler`.
    ///
    /// # Backpressure
    ///
    /// As [`debounce`](Self::debounce).
    ///
    /// # Errors
    ///
    /// As [`debounce`](Self::debounce).
    ///
    /// # Panics
    ///
    /// When `quiet` is zero (valid range `1ns..=Duration::MAX`), where it is built.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::scheduler::VirtualTime;
    /// use rstreams::Publisher;
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::{TestPublisher, TestSubscriber};
    /// use std::time::Duration;
    ///
    /// let vt = VirtualTime::new();
    /// let input = TestPublisher::<&str>::new();
    /// let probe = TestSubscriber::new(0);
    /// input.clone().debounce_on(Duration::from_millis(100), vt.clone()).subscribe(probe.clone());
    /// input.emit("h");
    /// input.emit("he");
    /// vt.advance_by(Duration::from_millis(50));
    /// input.emit("hel"); // within 100 ms of "he": "he" is skipped
    /// vt.advance_by(Duration::from_millis(100)); // quiet: "hel" is due, but there is no demand
    /// assert!(probe.values().is_empty());
    /// probe.request(1); // kept for the demand
    /// assert_eq!(probe.values(), vec!["hel"]);
    /// ```
    fn debounce_on<S: Scheduler>(self, quiet: Duration, scheduler: S) -> Debounce<Self, S> {
        Debounce::new(self, quiet, scheduler)
    }

    /// At the end of every `period` (counted from the subscription), emits the newest element
    /// that arrived during it; a period with no element emits nothing. Timers run on
    /// [`timer()`]; see [`sample_on`](Self::sample_on). A `period` too long to be practical (up
    /// to `Duration::MAX`) means never: only the last element goes out, at completion.
    ///
    /// # Backpressure
    ///
    /// Requests unbounded demand (`u64::MAX`) upstream once, on subscribe, whatever the
    /// downstream requests. It holds at most two elements: the newest of the current period
    /// and one sample that is due. **A sample that finds no demand is kept and emitted when
    /// demand arrives**; if the next period's sample comes first, it replaces the older, which
    /// is counted in [`dropped()`](Sample::dropped). It never emits without demand. The timer
    /// pauses while periods pass with nothing in them, and resumes on the same grid.
    ///
    /// # Errors
    ///
    /// An upstream error goes downstream at once; held elements are dropped. On completion
    /// the due sample and then the newest element of the unfinished period go out (as demand
    /// allows), then `on_complete`. A downstream cancel or `request(0)` (§3.9) cancels the
    /// upstream and stops the timer.
    ///
    /// # Panics
    ///
    /// When `period` is zero (valid range `1ns..=Duration::MAX`), where it is built.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    /// use std::time::Duration;
    ///
    /// // All in the first period, which the completion ends: its newest element.
    /// let sampled = source::range(0, 5).sample(Duration::from_secs(1));
    /// assert_eq!(sink::collect(&sampled).unwrap(), vec![4]);
    /// ```
    fn sample(self, period: Duration) -> Sample<Self, Timer> {
        Sample::new(self, period, timer())
    }

    /// [`sample`](Self::sample) with its timers on `scheduler`.
    ///
    /// # Backpressure
    ///
    /// As [`sample`](Self::sample).
    ///
    /// # Errors
    ///
    /// As [`sample`](Self::sample).
    ///
    /// # Panics
    ///
    /// When `period` is zero (valid range `1ns..=Duration::MAX`), where it is built.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::scheduler::VirtualTime;
    /// use rstreams::Publisher;
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::{TestPublisher, TestSubscriber};
    /// use std::time::Duration;
    ///
    /// let vt = VirtualTime::new();
    /// let input = TestPublisher::<u32>::new();
    /// let probe = TestSubscriber::new(10);
    /// input.clone().sample_on(Duration::from_secs(1), vt.clone()).subscribe(probe.clone());
    /// input.emit(1);
    /// input.emit(2);
    /// vt.advance_by(Duration::from_secs(1));
    /// input.emit(3);
    /// vt.advance_by(Duration::from_secs(1));
    /// vt.advance_by(Duration::from_secs(1)); // a period with nothing in it
    /// assert_eq!(probe.values(), vec![2, 3]);
    /// ```
    fn sample_on<S: Scheduler>(self, period: Duration, scheduler: S) -> Sample<Self, S> {
        Sample::new(self, period, scheduler)
    }

    /// Emits every element `by` after it arrived, in order. Timers run on [`timer()`]; see
    /// [`delay_on`](Self::delay_on). A delay too long to be practical (up to `Duration::MAX`)
    /// means never: nothing goes out, and the stream does not complete while it holds an
    /// element.
    ///
    /// # Backpressure
    ///
    /// Requests upstream only against the downstream's outstanding demand: for a downstream
    /// `request(n)` it asks for `n` (and never has more than
    /// [`capacity`](Delay::capacity), 256 by default, requested or held), so **every element
    /// that falls due already has demand** and goes out at its time; none waits for demand,
    /// none is dropped. Memory is bounded by the capacity, and so is the rate: at most
    /// `capacity` elements per `by`.
    ///
    /// # Errors
    ///
    /// An upstream error goes downstream at once; held elements are dropped. Completion goes
    /// out once the last held element did (it is not delayed itself). An upstream that emits
    /// beyond what was requested (§1.1) is cancelled and the stream fails at once. A
    /// downstream cancel or `request(0)` (§3.9) cancels the upstream and stops the timer.
    ///
    /// # Panics
    ///
    /// When `by` is zero (valid range `1ns..=Duration::MAX`), where it is built.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    /// use std::time::Duration;
    ///
    /// let later = source::range(0, 3).delay(Duration::from_millis(5));
    /// assert_eq!(sink::collect(&later).unwrap(), vec![0, 1, 2]);
    /// ```
    fn delay(self, by: Duration) -> Delay<Self, Timer> {
        Delay::new(self, by, timer())
    }

    /// [`delay`](Self::delay) with its timers on `scheduler`.
    ///
    /// # Backpressure
    ///
    /// As [`delay`](Self::delay).
    ///
    /// # Errors
    ///
    /// As [`delay`](Self::delay).
    ///
    /// # Panics
    ///
    /// When `by` is zero (valid range `1ns..=Duration::MAX`), where it is built.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::scheduler::VirtualTime;
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    /// use std::time::Duration;
    ///
    /// let vt = VirtualTime::new();
    /// let probe = TestSubscriber::new(2);
    /// source::range(0, 5).delay_on(Duration::from_secs(1), vt.clone()).subscribe(probe.clone());
    /// assert!(probe.values().is_empty());
    /// vt.advance_by(Duration::from_secs(1));
    /// assert_eq!(probe.values(), vec![0, 1]); // only what was demanded was requested
    /// probe.request(3);
    /// vt.advance_by(Duration::from_secs(1));
    /// assert_eq!(probe.values(), vec![0, 1, 2, 3, 4]);
    /// ```
    fn delay_on<S: Scheduler>(self, by: Duration, scheduler: S) -> Delay<Self, S> {
        Delay::new(self, by, scheduler)
    }

    /// While the downstream is slow, combines the elements that arrive into one pending value
    /// with `f(pending, next)`; the downstream gets the combined value when it asks. With
    /// demand, elements pass one by one, uncombined.
    ///
    /// # Backpressure
    ///
    /// Requests unbounded demand (`u64::MAX`) upstream once, on subscribe, whatever the
    /// downstream requests, and holds one value: nothing is dropped, everything that arrived
    /// while the downstream had no demand is in the value it gets next.
    ///
    /// # Errors
    ///
    /// An upstream error reaches the downstream after the pending value (when demand allows);
    /// with none pending it passes at once, without demand. Completion also follows the
    /// pending value. A panic in `f` is caught: the upstream is cancelled and the stream fails
    /// with an error of kind [`ErrorKind::Panic`](rstreams_core::ErrorKind::Panic) in stage
    /// `conflate` (the two values `f` was given are lost). A downstream cancel or `request(0)`
    /// (§3.9) cancels the upstream and drops the pending value.
    ///
    /// # Panics
    ///
    /// Never: every `f` is a valid argument.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let probe = TestSubscriber::new(1);
    /// source::range(1, 5).conflate(|sum, x| sum + x).subscribe(probe.clone());
    /// assert_eq!(probe.values(), vec![1]); // with demand: as it is
    /// probe.request(1);
    /// assert_eq!(probe.values(), vec![1, 2 + 3 + 4 + 5]); // the rest, combined
    /// assert!(probe.is_complete());
    /// ```
    fn conflate<F>(self, f: F) -> Conflate<Self, F>
    where
        F: Fn(Self::Item, Self::Item) -> Self::Item + Send + Sync + 'static,
    {
        Conflate::new(self, f)
    }

    /// Shares one subscription to this publisher among all its subscribers: the first
    /// subscriber subscribes the source, later ones join it, and when the last one leaves
    /// (cancels, or its subscription ends) the source is cancelled. Each element reaches every
    /// subscriber present when it arrived.
    ///
    /// - **Late subscribers** join the live stream: they get the elements that arrive after
    ///   they subscribed, not the earlier ones ([`replay`](Self::replay) keeps some).
    /// - **Reconnection**: once the source ended (completed or failed) or was cancelled
    ///   because every subscriber left, the next subscriber subscribes the source again — a
    ///   cold source starts over.
    ///
    /// Clones of the returned [`Share`] are handles on the same connection.
    ///
    /// # Backpressure
    ///
    /// The slowest subscriber holds back the others: the source is asked only for elements
    /// every subscriber has demanded (for subscribers that asked for `n1, n2, …` beyond their
    /// position, up to the smallest), and never more than 256 ahead of the slowest
    /// subscriber's position. A subscriber that requests nothing stops the stream for all.
    /// With one subscriber, demand passes through as it is. Nothing is dropped.
    ///
    /// That is the default policy, [`SlowSubscriber::HoldBack`](crate::SlowSubscriber). A
    /// named policy drops for a slow subscriber instead:
    /// [`.slow_subscriber(SlowSubscriber::DropOldest { buffer })`](Share::slow_subscriber)
    /// asks the source for what the *fastest* subscriber demanded (at most 256 beyond its
    /// position); a subscriber holds at most its outstanding demand (up to 256) plus `buffer`
    /// elements, and when one more arrives for it, its oldest is skipped for it alone and
    /// counted in [`dropped()`](Share::dropped). The lagging subscriber sees a gap in its
    /// elements: no error, no marker; the others are not held back.
    ///
    /// # Errors
    ///
    /// An upstream error reaches every subscriber after the elements it has not taken yet
    /// (at once, without demand, when it has none). Completion likewise. A subscriber's cancel
    /// or `request(0)` (§3.9, failing that subscriber only) ends its own subscription; the
    /// source is cancelled when none is left. An upstream that emits beyond what was
    /// requested (§1.1) is cancelled and every subscriber fails.
    ///
    /// # Panics
    ///
    /// Never: it takes no argument.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::Publisher;
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::{TestPublisher, TestSubscriber};
    ///
    /// let input = TestPublisher::<u32>::new();
    /// let shared = input.clone().share();
    /// let (slow, fast) = (TestSubscriber::new(2), TestSubscriber::new(5));
    /// shared.subscribe(slow.clone()); // the first subscriber subscribes the source
    /// shared.subscribe(fast.clone());
    /// assert_eq!(input.requested(), 2); // what both have asked for
    /// input.emit(1);
    /// input.emit(2);
    /// assert!(input.try_emit(3).is_err()); // the slower subscriber holds the faster back
    /// slow.request(3);
    /// input.emit(3);
    /// assert_eq!(fast.values(), vec![1, 2, 3]);
    /// assert_eq!(slow.values(), vec![1, 2, 3]);
    /// fast.cancel();
    /// slow.cancel(); // the last one leaves: the source is cancelled
    /// assert!(input.is_cancelled());
    /// ```
    fn share(self) -> Share<Self>
    where
        Self::Item: Clone + Send + 'static,
    {
        Share::new(self)
    }

    /// A connectable multicast: subscribers share one subscription to this publisher, which
    /// starts when [`connect`](Publish::connect) is called (and ends with
    /// [`Connection::disconnect`](crate::Connection::disconnect) or the source's end).
    /// Each element reaches every subscriber present when it arrived.
    ///
    /// - **Late subscribers** join the live stream from the next element on.
    /// - **After the end**, a subscriber receives the end at once; a new `connect` starts a
    ///   new connection (the source is subscribed again) for the subscribers from then on.
    ///
    /// Clones of the returned [`Publish`] are handles on the same connectable.
    ///
    /// # Backpressure
    ///
    /// As [`share`](Self::share): the slowest subscriber holds back the others, the source is
    /// asked only for what every subscriber demanded and never more than 256 ahead of the
    /// slowest. With no subscriber, nothing is requested: a connection with none waits
    /// (elements requested for a subscriber that left and arriving with none are not kept).
    /// [`.slow_subscriber(SlowSubscriber::DropOldest { buffer })`](Publish::slow_subscriber)
    /// drops for a slow subscriber instead, as for `share`: the fastest sets the pace, a
    /// lagging subscriber sees a gap (no error), and what it missed is counted in
    /// [`dropped()`](Publish::dropped).
    ///
    /// # Errors
    ///
    /// As [`share`](Self::share); a disconnect completes every subscriber after the elements
    /// it has not taken yet.
    ///
    /// # Panics
    ///
    /// Never: it takes no argument.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let hot = source::range(0, 4).publish();
    /// let (a, b) = (TestSubscriber::new(u64::MAX), TestSubscriber::new(u64::MAX));
    /// hot.subscribe(a.clone());
    /// hot.subscribe(b.clone());
    /// hot.connect();
    /// assert_eq!(a.values(), vec![0, 1, 2, 3]);
    /// assert_eq!(b.values(), a.values());
    /// ```
    fn publish(self) -> Publish<Self>
    where
        Self::Item: Clone + Send + 'static,
    {
        Publish::new(self)
    }

    /// [`publish`](Self::publish) that also keeps the last `n` elements: a subscriber that
    /// arrives late first receives those (as its demand allows), then the live ones; after the
    /// source ended, the kept elements and then the end.
    ///
    /// # Backpressure
    ///
    /// As [`publish`](Self::publish); a late subscriber starts `n` elements back, so until it
    /// has caught up it is the slowest and holds the others back. Memory is bounded: the `n`
    /// kept elements plus at most 256 beyond the slowest subscriber.
    /// [`.slow_subscriber(SlowSubscriber::DropOldest { buffer })`](Replay::slow_subscriber)
    /// drops for a slow subscriber instead, as for `share`: a late subscriber then holds the
    /// kept elements without holding the others back, and loses its oldest ones (counted in
    /// [`dropped()`](Replay::dropped)) when more arrive than its demand plus `buffer` leaves
    /// room for; it sees a gap, no error.
    ///
    /// # Errors
    ///
    /// As [`publish`](Self::publish).
    ///
    /// # Panics
    ///
    /// When `n` is 0 (valid range `1..=usize::MAX`), where it is built.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let recent = source::range(0, 10).replay(3);
    /// let first = TestSubscriber::new(u64::MAX);
    /// recent.subscribe(first.clone());
    /// recent.connect();
    /// let late = TestSubscriber::new(2);
    /// recent.subscribe(late.clone());
    /// assert_eq!(late.values(), vec![7, 8]); // the last three, as demanded
    /// late.request(5);
    /// assert_eq!(late.values(), vec![7, 8, 9]);
    /// assert!(late.is_complete());
    /// ```
    fn replay(self, n: usize) -> Replay<Self>
    where
        Self::Item: Clone + Send + 'static,
    {
        Replay::new(self, n)
    }

    /// Splits the stream into windows of `size` consecutive elements (the last may be
    /// shorter), emitting each window as a [`Pane`](crate::Pane): a publisher of its elements with its own
    /// demand, which takes one subscriber. A window opens when its first element arrives
    /// (empty windows are never emitted) and completes after its `size`-th, or when the
    /// upstream completes.
    ///
    /// **A window must be subscribed, or dropped.** Until it is subscribed it holds the element
    /// it opened with and nothing more is requested: a window that is kept but never
    /// subscribed holds the stream back, as a subscriber that never requests would. A window
    /// whose every handle is dropped without a subscriber is skipped: its elements are
    /// requested and dropped (counted in [`dropped()`](Window::dropped)) so that the windows
    /// after it keep their bounds; so are the rest of a window whose subscriber cancelled.
    ///
    /// # Backpressure
    ///
    /// Upstream demand follows the open window's subscriber: for its `request(n)` the stage
    /// asks for `min(n, what the window still lacks, 256)` minus what is on its way. The
    /// outer stream's demand for windows asks for one element, the one that opens the next
    /// window, once the previous one closed. So a window holds at most what its subscriber
    /// demanded and not yet took, plus the element it opened with.
    ///
    /// # Errors
    ///
    /// An upstream error goes to the outer stream and to every window not finished, at once,
    /// discarding what they hold. A downstream cancel of the outer stream stops new windows;
    /// the upstream is cancelled once the open window's subscriber is gone too. `request(0)`
    /// fails the stream it was made on (§3.9). An upstream that emits beyond what was
    /// requested (§1.1) is cancelled and everything fails at once.
    ///
    /// # Panics
    ///
    /// When `size` is 0 (valid range `1..=usize::MAX`), where it is built.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let windows = source::range(0, 7).window(3).flat_map(|w| w.collect_vec(), 1, 1);
    /// assert_eq!(
    ///     sink::collect(&windows).unwrap(),
    ///     vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]
    /// );
    /// ```
    fn window(self, size: usize) -> Window<Self> {
        Window::new(self, size)
    }

    /// [`window`](Self::window) whose windows also close `timeout` after they opened (were
    /// emitted), with what they hold then: at most `size` elements each, at most `timeout`
    /// long. Timers run on [`timer()`]; see [`window_timeout_on`](Self::window_timeout_on). A
    /// `timeout` too long to be practical (up to `Duration::MAX`) means windows close only
    /// full or at the end.
    ///
    /// An open window that is kept but not subscribed holds the stream back only until its
    /// timeout: then it closes with the element it opened with, and the next one opens.
    ///
    /// # Backpressure
    ///
    /// As [`window`](Self::window). Elements requested for a window that timed out before
    /// they arrived open the next one (at most 256 are ever on their way).
    ///
    /// # Errors
    ///
    /// As [`window`](Self::window).
    ///
    /// # Panics
    ///
    /// When `size` is 0 (valid range `1..=usize::MAX`) or `timeout` is zero (valid range
    /// `1ns..=Duration::MAX`), where it is built.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    /// use std::time::Duration;
    ///
    /// let windows = source::range(0, 5)
    ///     .window_timeout(2, Duration::from_secs(60))
    ///     .flat_map(|w| w.collect_vec(), 1, 1);
    /// assert_eq!(sink::collect(&windows).unwrap(), vec![vec![0, 1], vec![2, 3], vec![4]]);
    /// ```
    fn window_timeout(self, size: usize, timeout: Duration) -> WindowTimeout<Self, Timer> {
        WindowTimeout::new(self, size, timeout, timer())
    }

    /// [`window_timeout`](Self::window_timeout) with its timers on `scheduler`.
    ///
    /// # Backpressure
    ///
    /// As [`window_timeout`](Self::window_timeout).
    ///
    /// # Errors
    ///
    /// As [`window`](Self::window).
    ///
    /// # Panics
    ///
    /// When `size` is 0 (valid range `1..=usize::MAX`) or `timeout` is zero (valid range
    /// `1ns..=Duration::MAX`), where it is built.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::scheduler::VirtualTime;
    /// use rstreams::Publisher;
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::{TestPublisher, TestSubscriber};
    /// use std::time::Duration;
    ///
    /// let vt = VirtualTime::new();
    /// let input = TestPublisher::<u32>::new();
    /// let out = TestSubscriber::new(u64::MAX);
    /// input
    ///     .clone()
    ///     .window_timeout_on(10, Duration::from_secs(1), vt.clone())
    ///     .flat_map(|w| w.collect_vec(), 1, 1)
    ///     .subscribe(out.clone());
    /// input.emit(1);
    /// input.emit(2);
    /// vt.advance_by(Duration::from_secs(1)); // the window closes with what it holds
    /// input.emit(3);
    /// input.complete();
    /// assert_eq!(out.values(), vec![vec![1, 2], vec![3]]);
    /// ```
    fn window_timeout_on<S: Scheduler>(
        self,
        size: usize,
        timeout: Duration,
        scheduler: S,
    ) -> WindowTimeout<Self, S> {
        WindowTimeout::new(self, size, timeout, scheduler)
    }

    /// Splits the stream by `key` into groups, emitting each group (a [`Group`](crate::Group):
    /// a publisher of the elements with its [`key()`](crate::Group::key), with its own demand
    /// and one subscriber) when its first element arrives, and every element to its group's
    /// subscriber. At most `max_groups` groups are open at once; a group closes when its
    /// subscriber cancels, or when it is dropped without a subscriber (what it holds is
    /// dropped and counted), and a later element with its key opens a new one.
    ///
    /// **No silent hang.** Reactor's `groupBy` hangs when a group is not consumed: its
    /// elements use up the upstream demand and no other group gets any. Here a group that is
    /// not consumed never holds the others back: it holds at most
    /// [`group_buffer`](GroupBy::group_buffer) elements (256 by default) — those that arrive
    /// before it is emitted, before it is subscribed, or faster than its subscriber takes
    /// them — and one more element is handled by the [`overflow`](GroupBy::overflow) policy:
    /// by default the stream **fails with an error that names the group** and says why it
    /// was full (not emitted, not subscribed, or not consumed); `DropIncoming`, `EvictOldest`
    /// and `EvictNewest` drop an element instead and count it in
    /// [`dropped()`](GroupBy::dropped). A new key while `max_groups` groups are open is
    /// refused the same way (the error names the key).
    ///
    /// # Backpressure
    ///
    /// Demand follows the consumers: whenever nothing is outstanding upstream and someone is
    /// waiting — the outer stream with demand for a new group, or a group's subscriber with
    /// demand and nothing to take — the stage asks for a batch of `min(64, group_buffer)`.
    /// Nothing is requested while nobody waits, and a synchronous source does not flood the
    /// groups before they are subscribed. A group that is not consumed does not stop the
    /// others from asking: its buffer fills instead, up to its bound. Memory is bounded by
    /// `max_groups × group_buffer` (plus one batch). Groups are emitted as the outer stream
    /// demands; each group's elements as its subscriber demands.
    ///
    /// # Errors
    ///
    /// An upstream error, an overflow under `Overflow::Fail`, a new key beyond `max_groups`
    /// under `Overflow::Fail`, or a panic in `key` (kind
    /// [`ErrorKind::Panic`](rstreams_core::ErrorKind::Panic), stage `group_by`) goes to the
    /// outer stream and to every open group at once, discarding what they hold; the upstream
    /// is cancelled. On completion each group completes after its elements, and the outer
    /// stream after the groups not yet emitted went out. A cancel of the outer stream emits no
    /// more groups (those not yet emitted are dropped, counted); the upstream is cancelled
    /// once no group is left.
    ///
    /// # Panics
    ///
    /// When `max_groups` is 0 (valid range `1..=usize::MAX`), where it is built.
    ///
    /// # Examples
    ///
    /// ```
    /// use rstreams::{sink, source, Publisher};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let by_parity = source::range(0, 6)
    ///     .group_by(|x| x % 2, 2)
    ///     .flat_map(|g| { let k = *g.key(); g.collect_vec().map(move |v| (k, v)) }, 2, 1);
    /// let mut groups = sink::collect(&by_parity).unwrap();
    /// groups.sort();
    /// assert_eq!(groups, vec![(0, vec![0, 2, 4]), (1, vec![1, 3, 5])]);
    /// ```
    fn group_by<K, F>(self, key: F, max_groups: usize) -> GroupBy<Self, F>
    where
        F: Fn(&Self::Item) -> K + Send + Sync + 'static,
        K: Clone + Eq + std::hash::Hash + std::fmt::Debug + Send + Sync + 'static,
    {
        GroupBy::new(self, key, max_groups)
    }
}

impl<P: Publisher> PublisherExt for P {}
