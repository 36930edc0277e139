//! [`Overflow`]: what a bounded queue does with an element that finds it full, applied in one
//! place ([`Overflow::push`]) for every stage that has such a queue.

use std::collections::VecDeque;

/// What a bounded queue does with an element that arrives while it is full: the one overflow
/// vocabulary of rstreams, used by the `emitter` source (through
/// [`OverflowPolicy`](crate::source::OverflowPolicy), which adds waiting) and by the
/// `on_backpressure_buffer` operator of `rstreams-ops`.
///
/// The names say which element goes, so that they cannot be misread (Reactor's
/// `DROP_LATEST` drops the incoming element, RxJava's evicts the newest queued one).
///
/// With `capacity` 3, queue `[a, b, c]` (oldest first) and `d` arriving:
///
/// | policy | queue after | dropped |
/// |---|---|---|
/// | `DropIncoming` | `[a, b, c]` | `d` |
/// | `EvictOldest` | `[b, c, d]` | `a` |
/// | `EvictNewest` | `[a, b, d]` | `c` |
/// | `Fail` | `[a, b, c]`, then the stream fails | `d` (handed back by the emitter) |
///
/// With `capacity` 1, `EvictOldest` and `EvictNewest` both keep the latest element: the
/// subscriber always gets the most recent value (a sensor reading, a UI state).
///
/// ```
/// use rstreams::support::{Overflow, Pushed};
/// use std::collections::VecDeque;
///
/// let mut queue: VecDeque<char> = "abc".chars().collect();
/// assert!(matches!(Overflow::EvictNewest.push(&mut queue, 3, 'd'), Pushed::Dropped('c')));
/// assert_eq!(queue, ['a', 'b', 'd']);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Overflow {
    /// Keep the queue; drop the element that arrived (Reactor `DROP_LATEST`, Pekko's former
    /// `dropNew`).
    DropIncoming,
    /// Evict the oldest queued element and queue the incoming one (Reactor and RxJava
    /// `DROP_OLDEST`, Pekko `dropHead`): the subscriber sees the most recent `capacity`
    /// elements.
    EvictOldest,
    /// Evict the newest queued element and queue the incoming one (RxJava `DROP_LATEST`, Pekko
    /// `dropTail`; the emitter's former `KeepLatest`): the last slot always holds the latest
    /// element, the others the oldest undelivered ones.
    EvictNewest,
    /// Keep the queue, refuse the element that arrived, and fail the stream with an error of
    /// kind [`ErrorKind::Overflow`](crate::ErrorKind::Overflow). The stage says when that
    /// error reaches its subscriber: after the queued elements (the default of the emitter and
    /// of `on_backpressure_buffer`), or at once ([`ErrorMode::Immediate`](crate::support::ErrorMode::Immediate),
    /// offered by `on_backpressure_buffer`).
    Fail,
}

/// What [`Overflow::push`] did with an element.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a dropped or refused element is handed back to be counted or returned"]
pub enum Pushed<T> {
    /// The element was queued and nothing was dropped: there was room.
    Queued,
    /// The queue was full and the policy dropped this element: the incoming one
    /// ([`Overflow::DropIncoming`]) or the evicted one ([`Overflow::EvictOldest`],
    /// [`Overflow::EvictNewest`], which queued the incoming one in its place). Count it.
    Dropped(T),
    /// The queue was full under [`Overflow::Fail`]: the incoming element, not queued. The
    /// stream must fail.
    Overflowed(T),
}

impl Overflow {
    /// Queues `item` at the back of `queue` if it holds fewer than `capacity` elements, and
    /// applies this policy otherwise. Never lets the queue grow beyond `capacity`; with
    /// `capacity` 0 nothing is ever queued (an evicting policy drops the incoming element).
    ///
    /// Runs no user code except the queue's moves: call it under the stage's lock, and drop
    /// or hand on what it returns after releasing the lock.
    ///
    /// ```
    /// use rstreams::support::{Overflow, Pushed};
    /// use std::collections::VecDeque;
    ///
    /// let mut queue = VecDeque::new();
    /// assert!(matches!(Overflow::Fail.push(&mut queue, 1, 1), Pushed::Queued));
    /// assert!(matches!(Overflow::Fail.push(&mut queue, 1, 2), Pushed::Overflowed(2)));
    /// assert!(matches!(Overflow::EvictOldest.push(&mut queue, 1, 3), Pushed::Dropped(1)));
    /// assert!(matches!(Overflow::DropIncoming.push(&mut queue, 1, 4), Pushed::Dropped(4)));
    /// assert_eq!(queue, [3]);
    /// ```
    #[inline]
    pub fn push<T>(self, queue: &mut VecDeque<T>, capacity: usize, item: T) -> Pushed<T> {
        if queue.len() < capacity {
            queue.push_back(item);
            return Pushed::Queued;
        }
        let evicted = match self {
            Overflow::DropIncoming => return Pushed::Dropped(item),
            Overflow::Fail => return Pushed::Overflowed(item),
            Overflow::EvictOldest => queue.pop_front(),
            Overflow::EvictNewest => queue.pop_back(),
        };
        match evicted {
            Some(evicted) => {
                queue.push_back(item);
                Pushed::Dropped(evicted)
            }
            // Capacity 0: there is nothing to evict and no room for the incoming element.
            None => Pushed::Dropped(item),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Capacity 3, `[a, b, c]` queued, `d` arriving: the table of [`Overflow`].
    fn full_abc(overflow: Overflow) -> (Vec<char>, Pushed<char>) {
        let mut queue: VecDeque<char> = "abc".chars().collect();
        let pushed = overflow.push(&mut queue, 3, 'd');
        (queue.into_iter().collect(), pushed)
    }

    #[test]
    fn each_policy_treats_a_full_queue_as_its_table_says() {
        assert_eq!(
            full_abc(Overflow::DropIncoming),
            (vec!['a', 'b', 'c'], Pushed::Dropped('d'))
        );
        assert_eq!(
            full_abc(Overflow::EvictOldest),
            (vec!['b', 'c', 'd'], Pushed::Dropped('a'))
        );
        assert_eq!(
            full_abc(Overflow::EvictNewest),
            (vec!['a', 'b', 'd'], Pushed::Dropped('c'))
        );
        assert_eq!(
            full_abc(Overflow::Fail),
            (vec!['a', 'b', 'c'], Pushed::Overflowed('d'))
        );
    }

    #[test]
    fn every_policy_queues_while_there_is_room() {
        for overflow in [
            Overflow::DropIncoming,
            Overflow::EvictOldest,
            Overflow::EvictNewest,
            Overflow::Fail,
        ] {
            let mut queue = VecDeque::from([1]);
            assert_eq!(overflow.push(&mut queue, 2, 2), Pushed::Queued);
            assert_eq!(queue, [1, 2], "{overflow:?}");
        }
    }

    #[test]
    fn with_capacity_one_both_evicting_policies_keep_the_latest() {
        for overflow in [Overflow::EvictOldest, Overflow::EvictNewest] {
            let mut queue = VecDeque::new();
            for i in 0..5 {
                let _ = overflow.push(&mut queue, 1, i);
            }
            assert_eq!(queue, [4], "{overflow:?}");
        }
    }

    #[test]
    fn a_capacity_of_zero_never_queues() {
        for overflow in [
            Overflow::DropIncoming,
            Overflow::EvictOldest,
            Overflow::EvictNewest,
        ] {
            let mut queue = VecDeque::new();
            assert_eq!(overflow.push(&mut queue, 0, 7), Pushed::Dropped(7));
            assert!(queue.is_empty(), "{overflow:?}");
        }
    }
}
