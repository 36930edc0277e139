//! `from_iter`, `just` and `empty`: sources over an iterator.

use std::fmt;
use std::iter::Peekable;
use std::marker::PhantomData;

use super::fail::end_at_once;
use super::start;
use crate::support::{catch_panic, Pull, Pulled};
use crate::Error;
use crate::{Publisher, Subscriber, SyncIter};

/// Emits the elements of an iterator, then completes.
///
/// The iterator is cloned for each subscription, so the publisher can be subscribed many times
/// and each subscriber sees every element. The iterator runs inside the emission loop, as far
/// as demand allows, plus one element of look-ahead to signal completion as soon as the last
/// element is out. A panic in the iterator fails the stream with an error; it never unwinds
/// into the caller.
///
/// ```
/// use rstreams::{sink, source};
/// let words = source::from_iter(vec!["a", "b"]);
/// assert_eq!(sink::collect(&words).unwrap(), vec!["a", "b"]);
/// assert_eq!(sink::collect(&words).unwrap(), vec!["a", "b"]); // re-subscribable
/// ```
pub fn from_iter<I>(iter: I) -> FromIter<I::IntoIter>
where
    I: IntoIterator,
    I::IntoIter: Clone,
{
    FromIter {
        iter: iter.into_iter(),
    }
}

/// The publisher returned by [`from_iter`].
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct FromIter<I> {
    iter: I,
}

impl<I> fmt::Debug for FromIter<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FromIter { .. }")
    }
}

impl<I> Publisher for FromIter<I>
where
    I: Iterator + Clone + Send + 'static,
    I::Item: Send,
{
    type Item = I::Item;
    fn subscribe<S: Subscriber<I::Item> + 'static>(&self, subscriber: S) {
        // Cloning runs user code: a panic there fails this subscription (§1.9: on_subscribe,
        // then on_error) instead of unwinding out of `subscribe`.
        match catch_panic("from_iter iterator clone", || self.iter.clone()) {
            Ok(iter) => {
                start(
                    IterPull {
                        iter: iter.peekable(),
                    },
                    subscriber,
                );
            }
            Err(error) => {
                end_at_once(subscriber, Err(error.in_stage("from_iter")));
            }
        }
    }

    /// A synchronous source: a clone of the iterator (the fusing stage calls this, and the
    /// iterator, under `catch_panic`, as this source's own subscription would).
    fn sync_iter(&self) -> Option<SyncIter<I::Item>>
    where
        I::Item: 'static,
    {
        Some(SyncIter::new(self.iter.clone()))
    }
}

struct IterPull<I: Iterator> {
    iter: Peekable<I>,
}

impl<I> Pull for IterPull<I>
where
    I: Iterator + Send + 'static,
    I::Item: Send,
{
    type Item = I::Item;

    fn name(&self) -> &'static str {
        "from_iter iterator"
    }

    #[inline]
    fn pull(&mut self, _demand: u64) -> Pulled<I::Item> {
        match self.iter.next() {
            Some(item) => Pulled::Ready(item),
            None => Pulled::End,
        }
    }

    #[inline]
    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        self.iter.peek().is_none().then_some(Ok(()))
    }
}

/// Emits one element, then completes.
///
/// ```
/// use rstreams::{sink, source};
/// assert_eq!(sink::collect(&source::just("hi")).unwrap(), vec!["hi"]);
/// ```
pub fn just<T: Clone + Send + 'static>(value: T) -> FromIter<std::iter::Once<T>> {
    from_iter(std::iter::once(value))
}

/// Completes at once, without emitting.
///
/// ```
/// use rstreams::{sink, source};
/// assert!(sink::collect(&source::empty::<u8>()).unwrap().is_empty());
/// ```
pub fn empty<T: Send + 'static>() -> Empty<T> {
    Empty { _item: PhantomData }
}

/// The publisher returned by [`empty`].
#[must_use = "publishers do nothing until subscribed"]
pub struct Empty<T> {
    _item: PhantomData<fn() -> T>,
}

impl<T> Clone for Empty<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Empty<T> {}

impl<T> fmt::Debug for Empty<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Empty")
    }
}

impl<T: Send + 'static> Publisher for Empty<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + 'static>(&self, subscriber: S) {
        end_at_once(subscriber, Ok(()));
    }

    fn sync_iter(&self) -> Option<SyncIter<T>> {
        Some(SyncIter::empty())
    }
}
