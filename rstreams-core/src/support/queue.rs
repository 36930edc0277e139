//! A bounded queue for asynchronous boundaries.

#[cfg(not(loom))]
use crossbeam_queue::{ArrayQueue, SegQueue};

use crate::sync::{AtomicUsize, Ordering};
use crate::Error;

/// Capacities up to this are allocated up front (a ring, no allocation per element); larger
/// ones grow with what is actually queued, so a declared bound of `usize::MAX` costs nothing
/// until elements arrive.
pub(crate) const PREALLOCATED_UP_TO: usize = 4096;

/// A bounded multi-producer multi-consumer queue: the buffer between the two sides of an
/// asynchronous boundary (`publish_on`, `merge`, `flat_map`).
///
/// Thin wrappers over crossbeam's queues, so that the workspace holds no queue `unsafe` of its
/// own: `ArrayQueue` (a ring allocated at construction) for capacities up to 4096, `SegQueue`
/// (allocated in small blocks as elements arrive) with a length counter above that. Either
/// way it never holds more than its capacity, and memory is O(capacity) however many elements
/// flow through it.
///
/// ```
/// use rstreams::support::BoundedQueue;
///
/// let q = BoundedQueue::new(2).unwrap();
/// q.push(1).unwrap();
/// q.push(2).unwrap();
/// assert_eq!(q.push(3), Err(3)); // full: the element is handed back
/// assert_eq!(q.pop(), Some(1));
///
/// // A huge bound allocates nothing up front.
/// let roomy = BoundedQueue::<u64>::new(usize::MAX).unwrap();
/// roomy.push(7).unwrap();
/// assert_eq!(roomy.len(), 1);
/// ```
pub struct BoundedQueue<T> {
    inner: Repr<T>,
}

enum Repr<T> {
    /// Capacity up to `PREALLOCATED_UP_TO`: a ring allocated once.
    Ring(ArrayQueue<T>),
    /// A larger capacity: blocks allocated as elements arrive.
    Growing {
        items: SegQueue<T>,
        /// Elements pushed and not popped, counting a push in progress: a push that would take
        /// it past `capacity` is refused.
        len: AtomicUsize,
        capacity: usize,
    },
}

/// Under `--cfg loom`, a lock around a `VecDeque` stands in for crossbeam's queues, so that loom
/// sees (and explores) every access to them.
#[cfg(loom)]
struct ArrayQueue<T> {
    items: crate::sync::Mutex<std::collections::VecDeque<T>>,
    capacity: usize,
}

#[cfg(loom)]
type SegQueue<T> = ArrayQueue<T>;

#[cfg(loom)]
impl<T> ArrayQueue<T> {
    fn new(capacity: usize) -> Self {
        ArrayQueue {
            items: crate::sync::Mutex::new(std::collections::VecDeque::new()),
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
    fn pop(&self) -> Option<T> {
        self.items.lock().pop_front()
    }
    fn len(&self) -> usize {
        self.items.lock().len()
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
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
        let inner = if capacity <= PREALLOCATED_UP_TO {
            Repr::Ring(ArrayQueue::new(capacity))
        } else {
            Repr::Growing {
                #[cfg(not(loom))]
                items: SegQueue::new(),
                #[cfg(loom)]
                items: SegQueue::new(usize::MAX),
                len: AtomicUsize::new(0),
                capacity,
            }
        };
        Ok(BoundedQueue { inner })
    }

    /// Appends `item`, or hands it back when the queue is full.
    #[inline]
    pub fn push(&self, item: T) -> Result<(), T> {
        match &self.inner {
            Repr::Ring(ring) => ring.push(item),
            Repr::Growing {
                items,
                len,
                capacity,
            } => {
                if len.fetch_add(1, Ordering::AcqRel) >= *capacity {
                    len.fetch_sub(1, Ordering::AcqRel);
                    return Err(item);
                }
                #[cfg(not(loom))]
                items.push(item);
                #[cfg(loom)]
                let _ = items.push(item);
                Ok(())
            }
        }
    }

    /// Removes the oldest element.
    #[inline]
    pub fn pop(&self) -> Option<T> {
        match &self.inner {
            Repr::Ring(ring) => ring.pop(),
            Repr::Growing { items, len, .. } => {
                let item = items.pop()?;
                len.fetch_sub(1, Ordering::AcqRel);
                Some(item)
            }
        }
    }

    /// The number of elements now in the queue.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.inner {
            Repr::Ring(ring) => ring.len(),
            Repr::Growing { items, .. } => items.len(),
        }
    }

    /// Whether the queue is empty now.
    #[inline]
    pub fn is_empty(&self) -> bool {
        match &self.inner {
            Repr::Ring(ring) => ring.is_empty(),
            Repr::Growing { items, .. } => items.is_empty(),
        }
    }

    /// Whether the queue is full now.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len() >= self.capacity()
    }

    /// The most elements the queue holds.
    #[inline]
    pub fn capacity(&self) -> usize {
        match &self.inner {
            #[cfg(not(loom))]
            Repr::Ring(ring) => ring.capacity(),
            #[cfg(loom)]
            Repr::Ring(ring) => ring.capacity,
            Repr::Growing { capacity, .. } => *capacity,
        }
    }

    /// Removes and drops every element (for a stage that was cancelled: queued elements must
    /// not outlive the subscription).
    pub fn clear(&self) {
        while self.pop().is_some() {}
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
    fn a_large_capacity_grows_with_what_is_queued_and_still_holds_its_bound() {
        let q = BoundedQueue::new(PREALLOCATED_UP_TO + 2).unwrap();
        for i in 0..PREALLOCATED_UP_TO + 2 {
            q.push(i).unwrap();
        }
        assert!(q.is_full());
        assert_eq!(q.push(0), Err(0), "the bound holds");
        assert_eq!(q.pop(), Some(0));
        q.push(1).unwrap();
        assert_eq!(q.len(), PREALLOCATED_UP_TO + 2);
    }

    #[test]
    fn an_unbounded_capacity_allocates_nothing_up_front() {
        // usize::MAX slots up front would abort the process; this only allocates per element.
        let q = BoundedQueue::<[u8; 64]>::new(usize::MAX).unwrap();
        assert!(q.is_empty());
        q.push([1; 64]).unwrap();
        assert_eq!(q.pop(), Some([1; 64]));
        assert_eq!(q.capacity(), usize::MAX);
    }
}
