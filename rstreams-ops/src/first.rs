//! `first()`: the first element, if any; the upstream is cancelled once it arrived.

use std::collections::VecDeque;

use crate::aggregate::Accumulate;

/// The accumulator of [`first`](crate::PublisherExt::first): asks the upstream for one element.
#[derive(Debug)]
pub struct Firsting<T>(Option<T>);

impl<T> Default for Firsting<T> {
    fn default() -> Self {
        Firsting(None)
    }
}

impl<T> Clone for Firsting<T> {
    fn clone(&self) -> Self {
        Firsting(None)
    }
}

impl<T: Send + 'static> Accumulate<T> for Firsting<T> {
    type Out = T;
    const NAME: &'static str = "first";
    const UPSTREAM: u64 = 1;

    fn push(&mut self, item: T) -> bool {
        self.0 = Some(item);
        false
    }

    fn finish(self) -> VecDeque<T> {
        self.0.into_iter().collect()
    }
}
