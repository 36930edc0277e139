//! `fold(init, f)`: one value accumulated from an initial one over the whole stream.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::aggregate::Accumulate;

/// The accumulator of [`fold`](crate::PublisherExt::fold): `init`, then `f` of what it holds
/// and each element.
pub struct Folding<A, F> {
    f: Arc<F>,
    /// `None` only while `f` runs (it takes the value and gives the next one back).
    acc: Option<A>,
}

impl<A, F> Folding<A, F> {
    pub(crate) fn new(init: A, f: F) -> Self {
        Folding {
            f: Arc::new(f),
            acc: Some(init),
        }
    }
}

impl<A: Clone, F> Clone for Folding<A, F> {
    fn clone(&self) -> Self {
        Folding {
            f: Arc::clone(&self.f),
            acc: self.acc.clone(),
        }
    }
}

impl<A, F> std::fmt::Debug for Folding<A, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Folding { .. }")
    }
}

impl<T, A, F> Accumulate<T> for Folding<A, F>
where
    A: Clone + Send + 'static,
    F: Fn(A, T) -> A + Send + Sync + 'static,
{
    type Out = A;
    const NAME: &'static str = "fold";

    #[inline]
    fn push(&mut self, item: T) -> bool {
        // After a panic in `f` the stream has failed and this accumulator is dropped unused.
        if let Some(acc) = self.acc.take() {
            self.acc = Some((self.f)(acc, item));
        }
        true
    }

    fn finish(self) -> VecDeque<A> {
        self.acc.into_iter().collect()
    }
}
