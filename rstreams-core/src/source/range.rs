//! `range(start, count)`: consecutive `u64`s.

use super::start;
use crate::support::{Pull, Pulled};
use crate::Error;
use crate::{Publisher, Subscriber, SyncIter};

/// Emits `count` consecutive integers from `start`, then completes.
///
/// # Panics
///
/// When `start + count - 1` does not fit a `u64`: the range is rejected where it is built,
/// not discovered mid-stream.
///
/// ```
/// use rstreams::{sink, source};
/// assert_eq!(sink::collect(&source::range(5, 3)).unwrap(), vec![5, 6, 7]);
/// ```
#[inline]
pub fn range(start: u64, count: u64) -> Range {
    assert!(
        count == 0 || start.checked_add(count - 1).is_some(),
        "range({start}, {count}): the last element, start + count - 1, overflows u64"
    );
    Range { start, count }
}

/// The publisher returned by [`range`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "publishers do nothing until subscribed"]
pub struct Range {
    start: u64,
    count: u64,
}

impl Publisher for Range {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, subscriber: S) {
        start(
            RangePull {
                stop: self.start.wrapping_add(self.count),
                remaining: self.count,
            },
            subscriber,
        );
    }

    /// A range is a synchronous source: fusing stages may pull it as an iterator (no
    /// allocation).
    fn sync_iter(&self) -> Option<SyncIter<u64>> {
        Some(SyncIter::range(self.start, self.count))
    }
}

/// The state of one subscription: the next element is `stop - remaining` (wrapping: `stop`
/// is `start + count`, which wraps to 0 for a range that ends at `u64::MAX`; the difference is
/// exact). One counter per element instead of two.
struct RangePull {
    stop: u64,
    remaining: u64,
}

impl Pull for RangePull {
    type Item = u64;

    fn name(&self) -> &'static str {
        "range"
    }

    #[inline]
    fn pull(&mut self, _demand: u64) -> Pulled<u64> {
        if self.remaining == 0 {
            return Pulled::End;
        }
        let value = self.stop.wrapping_sub(self.remaining);
        self.remaining -= 1;
        Pulled::Ready(value)
    }

    #[inline]
    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        (self.remaining == 0).then_some(Ok(()))
    }

    /// Up to `max` elements in one counted loop: the next value in a local, one test per
    /// element for the end of the run, the counter stored back once when the run ends. (A
    /// panic in `emit` is caught inside it, so the store is never skipped by an unwind; and
    /// a run that stops early leaves the subscription ending anyway.)
    #[inline]
    fn pull_run(&mut self, max: u64, emit: &mut impl FnMut(u64) -> bool) -> Option<Pulled<()>> {
        let mut next = self.stop.wrapping_sub(self.remaining);
        let end = next.wrapping_add(max.min(self.remaining));
        while next != end {
            let value = next;
            next = next.wrapping_add(1);
            if !emit(value) {
                break;
            }
        }
        // `stop - next` is exact under wrapping, as for `pull`.
        self.remaining = self.stop.wrapping_sub(next);
        Some(if self.remaining == 0 {
            Pulled::End
        } else {
            Pulled::Ready(())
        })
    }
}
