//! `count()`: the number of elements.

use std::collections::VecDeque;

use crate::aggregate::Accumulate;

/// The accumulator of [`count`](crate::PublisherExt::count).
#[derive(Debug, Clone, Copy, Default)]
pub struct Counting(u64);

impl<T> Accumulate<T> for Counting {
    type Out = u64;
    const NAME: &'static str = "count";

    #[inline]
    fn push(&mut self, _item: T) -> bool {
        self.0 += 1;
        true
    }

    fn finish(self) -> VecDeque<u64> {
        VecDeque::from([self.0])
    }
}
