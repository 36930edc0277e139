//! A bounded queue for asynchronous boundaries.

#[cfg(not(loom))]
use crossbeam_queue::ArrayQueue;

use crate::Error;

/// A fixed-capacity, lock-free multi-producer multi-consumer queue: the buffer between the two
/// sides of an asynchronous boundary (`publish_on`, `merge`, `flat_map`).
///
/// A thin wrapper over crossbeam's `ArrayQueue`, so that the workspace holds no ring-buffer
/// `unsafe` of its own. The capacity is fixed at construction: memory for a boundary is
/// O(capacity) however many elements flow through it.
///
/// ```
/// use rstreams_core::support::BoundedQueue;
///
/// let q = BoundedQueue::new(2).unwrap();
/// q.push(1).unwrap();
/// q.push(2).unwrap();
/// assert_eq!(q.push(3), Err(3)); // full: the element is handed back
/// assert_eq!(q.pop(), Some(1));
/// ```
pub struct BoundedQueue<T> {
    inner: ArrayQueue<T>,
}

/// Under `--cfg loom`, a lock around a `VecDeque` stands in for crossbeam's queue, so that loom
/// sees (and explores) every access to it.
#[cfg(loom)]
struct ArrayQueue<T> {
    items: crate::sync::Mutex<std::collections::VecDeque<T>>,
    capacity: usize,
}

#[cfg(loom)]
impl<T> ArrayQueue<T> {
    fn new(capacity: usize) -> Self {
        ArrayQueue {
            items: crate::sync::Mutex::new(std::collections::VecDeque::with_capacity(capacity)),
            capacity,
        }
    }
    fn push(&self, item: T) -> Result<(), T> {
        let mut items = self.items.lock();
        if items.len() == self.capacity {
            return Err(item);
        }
        items.push_back(item);
        Ok(())
    }
    fn force_push(&self, item: T) -> Option<T> {
        let mut items = self.items.lock();
        let evicted = if items.len() == self.capacity {
            items.pop_front()
        } else {
            None
        };
        items.push_back(item);
        evicted
    }
    fn pop(&self) -> Option<T> {
        self.items.lock().pop_front()
    }
    fn len(&self) -> usize {
        self.items.lock().len()
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn is_full(&self) -> bool {
        self.len() == self.capacity
    }
    fn capacity(&self) -> usize {
        self.capacity
    }
}

impl<T> BoundedQueue<T> {
    /// A queue holding at most `capacity` elements. A capacity of 0 is rejected, since a
    /// boundary that holds nothing can never pass an element on.
    pub fn new(capacity: usize) -> Result<Self, Error> {
        if capacity == 0 {
            return Err(Error::msg(
                "BoundedQueue::new: capacity must be at least 1 (got 0)",
            ));
        }
        Ok(BoundedQueue {
            inner: ArrayQueue::new(capacity),
        })
    }

    /// Appends `item`, or hands it back when the queue is full.
    #[inline]
    pub fn push(&self, item: T) -> Result<(), T> {
        self.inner.push(item)
    }

    /// Appends `item`, removing and returning the oldest element when the queue is full.
    #[inline]
    pub fn force_push(&self, item: T) -> Option<T> {
        self.inner.force_push(item)
    }

    /// Removes the oldest element.
    #[inline]
    pub fn pop(&self) -> Option<T> {
        self.inner.pop()
    }

    /// The number of elements now in the queue.
    #[inline]
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the queue is empty now.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Whether the queue is full now.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.inner.is_full()
    }

    /// The most elements the queue holds.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    /// Removes and drops every element (for a stage that was cancelled: queued elements must
    /// not outlive the subscription).
    pub fn clear(&self) {
        while self.inner.pop().is_some() {}
    }
}

impl<T> std::fmt::Debug for BoundedQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundedQueue")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn capacity_zero_is_rejected_with_the_argument_named() {
        let err = BoundedQueue::<u8>::new(0).unwrap_err();
        assert!(err.to_string().contains("capacity must be at least 1"));
    }

    #[test]
    fn a_producer_and_a_consumer_pass_every_element_in_order() {
        let q = Arc::new(BoundedQueue::new(16).unwrap());
        let producer = {
            let q = Arc::clone(&q);
            std::thread::spawn(move || {
                for i in 0..100_000u32 {
                    let mut item = i;
                    while let Err(back) = q.push(item) {
                        item = back;
                        std::thread::yield_now();
                    }
                }
            })
        };
        let mut expected = 0;
        while expected < 100_000 {
            match q.pop() {
                Some(v) => {
                    assert_eq!(v, expected);
                    expected += 1;
                }
                None => std::thread::yield_now(),
            }
        }
        producer.join().unwrap();
        assert!(q.is_empty());
    }

    #[test]
    fn force_push_evicts_the_oldest() {
        let q = BoundedQueue::new(2).unwrap();
        q.push(1).unwrap();
        q.push(2).unwrap();
        assert_eq!(q.force_push(3), Some(1));
        assert_eq!(q.pop(), Some(2));
        assert_eq!(q.pop(), Some(3));
    }
}
