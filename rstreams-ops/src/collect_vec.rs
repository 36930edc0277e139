//! `collect_vec()`: every element in one `Vec`, emitted once the upstream completed.

use std::collections::VecDeque;
use std::marker::PhantomData;

use crate::aggregate::Accumulate;

/// The accumulator of [`collect_vec`](crate::PublisherExt::collect_vec).
#[derive(Debug)]
pub struct Collecting<T>(Vec<T>, PhantomData<fn(T)>);

impl<T> Default for Collecting<T> {
    fn default() -> Self {
        Collecting(Vec::new(), PhantomData)
    }
}

impl<T> Clone for Collecting<T> {
    fn clone(&self) -> Self {
        Collecting::default()
    }
}

impl<T: Send + 'static> Accumulate<T> for Collecting<T> {
    type Out = Vec<T>;
    const NAME: &'static str = "collect_vec";

    #[inline]
    fn push(&mut self, item: T) -> bool {
        self.0.push(item);
        true
    }

    fn finish(self) -> VecDeque<Vec<T>> {
        VecDeque::from([self.0])
    }
}
