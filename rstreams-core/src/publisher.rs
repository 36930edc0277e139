//! [`Publisher`] and its object-safe companion [`BoxPublisher`].

use std::fmt;
use std::sync::Arc;

use crate::Subscriber;

/// The elements of a synchronous source as a plain iterator, for a stage that fuses it (see
/// [`Publisher::sync_iter`]).
///
/// Any `Iterator + Send + 'static` becomes one with [`SyncIter::new`] (boxed); the core's
/// `range` and `empty` make theirs without allocating, so that fusing an inner costs no
/// allocation at all in the common case.
///
/// ```
/// use rstreams::SyncIter;
/// let letters: Vec<char> = SyncIter::new("ab".chars()).collect();
/// assert_eq!(letters, vec!['a', 'b']);
/// assert_eq!(SyncIter::<u8>::empty().count(), 0);
/// ```
pub struct SyncIter<T> {
    repr: Repr<T>,
}

/// How a [`SyncIter`] holds its elements.
enum Repr<T> {
    /// Nothing (left).
    Empty,
    /// `count` consecutive integers ending before `stop` (wrapping, as `range` keeps them);
    /// `T` is `u64`, which `is_u64` proves.
    Count {
        stop: u64,
        remaining: u64,
        is_u64: IsU64<T>,
    },
    /// Any other iterator.
    Boxed(Box<dyn Iterator<Item = T> + Send>),
}

use is_u64::IsU64;

/// The proof behind [`Repr::Count`], in a module of its own so that its field is private to
/// it: the only way to make an `IsU64<T>` is [`IsU64::<u64>::PROOF`], so one exists only for
/// `T = u64`.
mod is_u64 {
    use std::marker::PhantomData;

    /// A proof that `T` is `u64`.
    ///
    /// It replaces a `fn(u64) -> T` (the identity) that the counted iterator called per
    /// element: measured with callgrind, that indirect call, and the registers it cost the
    /// fused loops of `flat_map`, `merge` and `concat_map` around it, were 4 to 6 instructions
    /// per element (`flat_map` ×10 70.6 → 64.1, `merge_all` of 8 ranges 46.3 → 40.3,
    /// `concat_map` ×10 106.5 → 102.8). The cast is a downcast, which the compiler folds away
    /// for a concrete `T` (the type ids are constants): the same instructions as a
    /// `transmute_copy`, measured, without `unsafe`.
    pub(super) struct IsU64<T>(PhantomData<fn() -> T>);

    impl IsU64<u64> {
        pub(super) const PROOF: Self = IsU64(PhantomData);
    }

    impl<T: 'static> IsU64<T> {
        /// `value` as the `T` that is `u64`.
        #[inline(always)]
        pub(super) fn cast(&self, value: u64) -> T {
            let mut slot = Some(value);
            match (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<T>>() {
                Some(t) => t.take().expect("just put"),
                None => unreachable!("an IsU64<T> exists only for T = u64"),
            }
        }
    }
}

impl<T> SyncIter<T> {
    /// Wraps any iterator (one allocation).
    pub fn new(iter: impl Iterator<Item = T> + Send + 'static) -> Self {
        SyncIter {
            repr: Repr::Boxed(Box::new(iter)),
        }
    }

    /// No elements (no allocation).
    pub fn empty() -> Self {
        SyncIter { repr: Repr::Empty }
    }
}

impl SyncIter<u64> {
    /// `count` consecutive integers from `start` (no allocation). `start + count - 1` must fit
    /// a `u64`, as [`range`](crate::source::range) checks.
    pub(crate) fn range(start: u64, count: u64) -> Self {
        SyncIter {
            repr: Repr::Count {
                stop: start.wrapping_add(count),
                remaining: count,
                is_u64: IsU64::PROOF,
            },
        }
    }
}

impl<T: 'static> SyncIter<T> {
    /// Internal iteration for a fusing stage's drain loop: passes up to `max` elements to
    /// `f`, one at a time, and stops early when `f` returns `false` (after the element it was
    /// given).
    ///
    /// Where it pays over calling `next` in a loop of one's own: the closure has one call site
    /// (so the compiler inlines a drain loop's delivery into the loop), and a range's run knows
    /// it ended as it passes its last element, with no further call.
    ///
    /// # Panics
    ///
    /// When the wrapped iterator's `next` panics (the elements passed before stay passed; the
    /// iterator should not be used again).
    ///
    /// ```
    /// use rstreams::{Ran, SyncIter};
    /// let mut letters = SyncIter::new("abc".chars());
    /// let mut seen = Vec::new();
    /// let ran = letters.run(2, &mut |c| { seen.push(c); true });
    /// assert_eq!(ran, Ran { passed: 2, ended: false, refused: false });
    /// let ran = letters.run(5, &mut |c| { seen.push(c); false });
    /// assert_eq!(ran, Ran { passed: 1, ended: false, refused: true });
    /// let ran = letters.run(5, &mut |c| { seen.push(c); true });
    /// assert_eq!(ran, Ran { passed: 0, ended: true, refused: false });
    /// assert_eq!(seen, vec!['a', 'b', 'c']);
    /// ```
    #[inline]
    pub fn run(&mut self, max: u64, f: &mut impl FnMut(T) -> bool) -> Ran {
        // One loop with one call of `f`, so that the compiler inlines `f` into it (a drain
        // loop's delivery); `next` is inlined too, and the representation is the same on
        // every round, so the branch on it is predicted (or hoisted).
        let mut ran = Ran {
            passed: 0,
            ended: false,
            refused: false,
        };
        loop {
            if ran.passed == max {
                break;
            }
            let Some(item) = self.next() else {
                ran.ended = true;
                break;
            };
            ran.passed += 1;
            if !f(item) {
                ran.refused = true;
                break;
            }
        }
        if let Repr::Count { remaining: 0, .. } = self.repr {
            ran.ended = true;
        }
        ran
    }
}

/// What one [`SyncIter::run`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ran {
    /// Elements passed to the closure.
    pub passed: u64,
    /// The iterator is known to have ended: a counted range knows it as it passes its last
    /// element; any other iterator once its `next` returned `None`.
    pub ended: bool,
    /// The closure returned `false` (for the last element passed).
    pub refused: bool,
}

impl<T: 'static> Iterator for SyncIter<T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        match &mut self.repr {
            Repr::Count {
                stop,
                remaining,
                is_u64,
            } => {
                if *remaining == 0 {
                    return None;
                }
                let value = stop.wrapping_sub(*remaining);
                *remaining -= 1;
                Some(is_u64.cast(value))
            }
            Repr::Boxed(iter) => iter.next(),
            Repr::Empty => None,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.repr {
            Repr::Count { remaining, .. } => match usize::try_from(*remaining) {
                Ok(n) => (n, Some(n)),
                Err(_) => (usize::MAX, None),
            },
            Repr::Boxed(iter) => iter.size_hint(),
            Repr::Empty => (0, Some(0)),
        }
    }
}

impl<T> fmt::Debug for SyncIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Count { remaining, .. } => f
                .debug_struct("SyncIter")
                .field("remaining", remaining)
                .finish(),
            Repr::Boxed(_) => f.write_str("SyncIter { .. }"),
            Repr::Empty => f.write_str("SyncIter { empty }"),
        }
    }
}

/// A source of a possibly unbounded number of elements, emitted as its subscribers demand them.
///
/// The element type is an associated type, as for `Iterator` and `Stream`, so that operator
/// types need no phantom parameters and bounds read `P: Publisher<Item = u64>`.
///
/// `subscribe` takes `&self`: a publisher may be subscribed many times (§1.10, §1.11); each
/// call starts an independent subscription unless the publisher documents that it multicasts.
///
/// # Rules an implementation keeps
///
/// - **§1.9** `subscribe` calls `on_subscribe` before any other signal and returns normally;
///   a failure to start is reported through `on_error` after `on_subscribe`.
/// - **§1.1** no more `on_next` than requested, counted over the whole subscription.
/// - **§1.3** signals are serial: never concurrent, never re-entrant.
/// - **§1.2, §1.4, §1.5** a finite stream ends with `on_complete`, a failed one with
///   `on_error`, possibly before all demand is met.
/// - **§1.6 / §1.7** after a terminal signal nothing is signalled, and the subscription counts
///   as cancelled.
/// - A null subscriber (§1.9) cannot be written in Rust (enforced by types).
pub trait Publisher {
    /// The type of the elements.
    type Item;

    /// Starts a new subscription for `subscriber`.
    fn subscribe<S: Subscriber<Self::Item> + 'static>(&self, subscriber: S);

    /// Scalar/synchronous fusion (what Reactor and RxJava call fusing a `Callable` or an
    /// `Iterable` source): when this publisher is a *synchronous source* — every subscription
    /// emits exactly the elements of this iterator, in order, computed on demand on the calling
    /// thread, then completes, with no side effect beyond running the iterator — returns a
    /// fresh iterator of them (one per call, as one subscription). A stage that would subscribe
    /// to it with a queue in between (the inners of `flat_map`, `merge`) may instead pull the
    /// elements straight from the iterator inside its own drain loop, as its downstream's
    /// demand allows: no subscription, no queue, no wake-up.
    ///
    /// `range`, `from_iter`, `just` and `empty` return `Some`; the default is `None` (subscribe
    /// as usual), which is always correct. A stage that fuses calls the method and the
    /// iterator's `next` under `catch_panic`, and treats a panic as that inner failing, as a
    /// panicking iterator fails the subscription of `from_iter`. An iterator may be endless;
    /// the fusing stage still emits only on demand and drops it on cancel (§3.13).
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// let fused: Vec<u64> = source::range(3, 2).sync_iter().unwrap().collect();
    /// assert_eq!(fused, vec![3, 4]);
    /// assert!(source::never::<u64>().sync_iter().is_none());
    /// ```
    fn sync_iter(&self) -> Option<SyncIter<Self::Item>>
    where
        Self::Item: 'static,
    {
        None
    }

    /// Erases the publisher's type, for dynamic composition (a `Vec` of publishers of different
    /// types, a publisher chosen at run time). Costs one allocation per subscription and a
    /// dynamic call per signal; the generic path has neither.
    ///
    /// ```
    /// use rstreams::{source, sink, BoxPublisher, Publisher};
    ///
    /// let sources: Vec<BoxPublisher<u64>> =
    ///     vec![source::range(0, 2).boxed(), source::just(7).boxed()];
    /// let all: Vec<Vec<u64>> = sources.iter().map(|p| sink::collect(p).unwrap()).collect();
    /// assert_eq!(all, vec![vec![0, 1], vec![7]]);
    /// ```
    fn boxed(self) -> BoxPublisher<Self::Item>
    where
        Self: Sized + Send + Sync + 'static,
        Self::Item: 'static,
    {
        BoxPublisher {
            inner: Arc::new(self),
        }
    }
}

impl<P: Publisher + ?Sized> Publisher for &P {
    type Item = P::Item;
    #[inline]
    fn subscribe<S: Subscriber<Self::Item> + 'static>(&self, subscriber: S) {
        (**self).subscribe(subscriber)
    }
    #[inline]
    fn sync_iter(&self) -> Option<SyncIter<Self::Item>>
    where
        Self::Item: 'static,
    {
        (**self).sync_iter()
    }
}

impl<P: Publisher + ?Sized> Publisher for Arc<P> {
    type Item = P::Item;
    #[inline]
    fn subscribe<S: Subscriber<Self::Item> + 'static>(&self, subscriber: S) {
        (**self).subscribe(subscriber)
    }
    #[inline]
    fn sync_iter(&self) -> Option<SyncIter<Self::Item>>
    where
        Self::Item: 'static,
    {
        (**self).sync_iter()
    }
}

/// The object-safe form of [`Publisher`]: subscribes a boxed subscriber.
///
/// Implemented for every `Publisher + Send + Sync`; used through [`BoxPublisher`].
pub trait DynPublisher<T>: Send + Sync {
    /// Starts a new subscription for a boxed subscriber.
    fn subscribe_boxed(&self, subscriber: Box<dyn Subscriber<T>>);

    /// [`Publisher::sync_iter`] through the erased type. The default is `None`.
    fn sync_iter_boxed(&self) -> Option<SyncIter<T>> {
        None
    }
}

impl<P> DynPublisher<P::Item> for P
where
    P: Publisher + Send + Sync,
    P::Item: 'static,
{
    fn subscribe_boxed(&self, subscriber: Box<dyn Subscriber<P::Item>>) {
        self.subscribe(subscriber)
    }

    fn sync_iter_boxed(&self) -> Option<SyncIter<P::Item>> {
        self.sync_iter()
    }
}

/// A type-erased, cloneable, thread-safe publisher of `T`; made with [`Publisher::boxed`].
pub struct BoxPublisher<T> {
    inner: Arc<dyn DynPublisher<T>>,
}

impl<T> Clone for BoxPublisher<T> {
    fn clone(&self) -> Self {
        BoxPublisher {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for BoxPublisher<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxPublisher { .. }")
    }
}

impl<T: 'static> Publisher for BoxPublisher<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + 'static>(&self, subscriber: S) {
        self.inner.subscribe_boxed(Box::new(subscriber))
    }

    fn sync_iter(&self) -> Option<SyncIter<T>> {
        self.inner.sync_iter_boxed()
    }

    fn boxed(self) -> BoxPublisher<T> {
        self
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{Ran, SyncIter};

    #[test]
    fn a_counted_sync_iter_yields_exactly_its_range_up_to_u64_max() {
        assert_eq!(SyncIter::range(5, 3).collect::<Vec<_>>(), vec![5, 6, 7]);
        assert_eq!(
            SyncIter::range(u64::MAX - 2, 3).collect::<Vec<_>>(),
            vec![u64::MAX - 2, u64::MAX - 1, u64::MAX]
        );
        assert_eq!(SyncIter::range(0, 0).count(), 0);
        let mut it = SyncIter::range(7, 1);
        assert_eq!((it.next(), it.next(), it.next()), (Some(7), None, None));
    }

    /// Runs `it` with `max`, taking elements until the `stop_at`-th (1-based) is refused.
    fn run_into<T: 'static>(
        it: &mut SyncIter<T>,
        max: u64,
        stop_at: usize,
        into: &mut Vec<T>,
    ) -> Ran {
        it.run(max, &mut |x| {
            into.push(x);
            into.len() != stop_at
        })
    }

    fn ran(passed: u64, ended: bool, refused: bool) -> Ran {
        Ran {
            passed,
            ended,
            refused,
        }
    }

    #[test]
    fn a_counted_run_passes_up_to_max_stops_when_refused_and_knows_its_end_at_the_last_element() {
        let mut seen = Vec::new();
        let mut it = SyncIter::range(u64::MAX - 4, 5);
        assert_eq!(run_into(&mut it, 2, 0, &mut seen), ran(2, false, false));
        assert_eq!(run_into(&mut it, 0, 0, &mut seen), ran(0, false, false));
        assert_eq!(run_into(&mut it, 9, 3, &mut seen), ran(1, false, true));
        // The last element: the run knows the range ended without another call.
        assert_eq!(run_into(&mut it, 9, 0, &mut seen), ran(2, true, false));
        assert_eq!(run_into(&mut it, 9, 0, &mut seen), ran(0, true, false));
        assert_eq!(seen, (u64::MAX - 4..=u64::MAX).collect::<Vec<_>>());
        assert_eq!(it.next(), None);
    }

    #[test]
    fn a_boxed_run_learns_its_end_when_next_returns_none_and_an_empty_one_has_ended() {
        let mut seen = Vec::new();
        let mut it = SyncIter::new(vec!['a', 'b'].into_iter());
        assert_eq!(run_into(&mut it, 2, 0, &mut seen), ran(2, false, false));
        assert_eq!(run_into(&mut it, 2, 0, &mut seen), ran(0, true, false));
        assert_eq!(seen, vec!['a', 'b']);
        assert_eq!(
            SyncIter::<u8>::empty().run(3, &mut |_| true),
            ran(0, true, false)
        );
    }
}
