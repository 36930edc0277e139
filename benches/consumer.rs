//! The consumer every bench arm uses: it only adds the element to a sum, and the sum is
//! black-boxed once at the end (never per element), so that every arm does the same work and
//! none pays an extra `black_box` per element that would dilute the others' cost.

use std::hint::black_box;

use rstreams::sink::{self, LambdaSubscriber};

/// A sum that is black-boxed once, when it is dropped (for a sink: at the end of the stream).
pub struct Sum(pub u64);

impl Drop for Sum {
    fn drop(&mut self) {
        black_box(self.0);
    }
}

/// A sink that only adds each element to a [`Sum`].
pub fn sum_sink() -> LambdaSubscriber<u64, impl FnMut(u64) + Send> {
    let mut sum = Sum(0);
    sink::for_each(move |x: u64| sum.0 = sum.0.wrapping_add(x))
}

/// The same consumer for a plain iterator of elements (a channel's receiver).
#[allow(dead_code)] // not every bench that includes this file has a channel arm
pub fn sum_all(elements: impl IntoIterator<Item = u64>) -> u64 {
    let mut sum = 0u64;
    for x in elements {
        sum = sum.wrapping_add(x);
    }
    black_box(sum)
}
