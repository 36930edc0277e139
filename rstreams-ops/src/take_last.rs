//! `take_last(n)` (and `last()`, which is `take_last(1)`): the last `n` elements, emitted once
//! the upstream completed.

use std::collections::VecDeque;

use crate::aggregate::Accumulate;

/// The accumulator of [`take_last`](crate::PublisherExt::take_last) (and, with `n` = 1,
/// [`last`](crate::PublisherExt::last)): the most recent `n` elements.
#[derive(Debug)]
pub struct Lasting<T> {
    n: usize,
    kept: VecDeque<T>,
}

impl<T> Lasting<T> {
    pub(crate) fn new(n: usize) -> Self {
        Lasting {
            n,
            kept: VecDeque::new(),
        }
    }
}

impl<T> Clone for Lasting<T> {
    fn clone(&self) -> Self {
        Lasting::new(self.n)
    }
}

impl<T: Send + 'static> Accumulate<T> for Lasting<T> {
    type Out = T;
    const NAME: &'static str = "take_last";

    #[inline]
    fn push(&mut self, item: T) -> bool {
        if self.n == 0 {
            return true;
        }
        if self.kept.len() == self.n {
            self.kept.pop_front();
        }
        self.kept.push_back(item);
        true
    }

    fn finish(self) -> VecDeque<T> {
        self.kept
    }
}
