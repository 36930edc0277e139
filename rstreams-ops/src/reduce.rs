//! `reduce(f)`: the elements combined pairwise into one value.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::aggregate::Accumulate;

/// The accumulator of [`reduce`](crate::PublisherExt::reduce): the first element, then `f` of
/// what it holds and each next one.
pub struct Reducing<T, F> {
    f: Arc<F>,
    acc: Option<T>,
}

impl<T, F> Reducing<T, F> {
    pub(crate) fn new(f: F) -> Self {
        Reducing {
            f: Arc::new(f),
            acc: None,
        }
    }
}

impl<T, F> Clone for Reducing<T, F> {
    /// A fresh accumulator (each subscription starts empty).
    fn clone(&self) -> Self {
        Reducing {
            f: Arc::clone(&self.f),
            acc: None,
        }
    }
}

impl<T, F> std::fmt::Debug for Reducing<T, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reducing { .. }")
    }
}

impl<T, F> Accumulate<T> for Reducing<T, F>
where
    T: Send + 'static,
    F: Fn(T, T) -> T + Send + Sync + 'static,
{
    type Out = T;
    const NAME: &'static str = "reduce";

    #[inline]
    fn push(&mut self, item: T) -> bool {
        self.acc = Some(match self.acc.take() {
            None => item,
            Some(acc) => (self.f)(acc, item),
        });
        true
    }

    fn finish(self) -> VecDeque<T> {
        self.acc.into_iter().collect()
    }
}
