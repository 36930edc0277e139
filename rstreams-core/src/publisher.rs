//! [`Publisher`] and its object-safe companion [`BoxPublisher`].

use std::fmt;
use std::sync::Arc;

use crate::Subscriber;

/// A source of a possibly unbounded number of elements, emitted as its subscribers demand them.
///
/// The element type is an associated type, as for `Iterator` and `Stream`, so that operator
/// types need no phantom parameters and bounds read `P: Publisher<Item = u64>`.
///
/// `subscribe` takes `&self`: a publisher may be subscribed many times (§1.10, §1.11); each
/// call starts an independent subscription unless the publisher documents that it multicasts.
///
/// # Rules an implementation keeps
///
/// - **§1.9** `subscribe` calls `on_subscribe` before any other signal and returns normally;
///   a failure to start is reported through `on_error` after `on_subscribe`.
/// - **§1.1** no more `on_next` than requested, counted over the whole subscription.
/// - **§1.3** signals are serial: never concurrent, never re-entrant.
/// - **§1.2, §1.4, §1.5** a finite stream ends with `on_complete`, a failed one with
///   `on_error`, possibly before all demand is met.
/// - **§1.6 / §1.7** after a terminal signal nothing is signalled, and the subscription counts
///   as cancelled.
/// - A null subscriber (§1.9) cannot be written in Rust (enforced by types).
pub trait Publisher {
    /// The type of the elements.
    type Item;

    /// Starts a new subscription for `subscriber`.
    fn subscribe<S: Subscriber<Self::Item> + 'static>(&self, subscriber: S);

    /// Erases the publisher's type, for dynamic composition (a `Vec` of publishers of different
    /// types, a publisher chosen at run time). Costs one allocation per subscription and a
    /// dynamic call per signal; the generic path has neither.
    ///
    /// ```
    /// use rstreams_core::{source, sink, BoxPublisher, Publisher};
    ///
    /// let sources: Vec<BoxPublisher<u64>> =
    ///     vec![source::range(0, 2).boxed(), source::just(7).boxed()];
    /// let all: Vec<Vec<u64>> = sources.iter().map(|p| sink::collect(p).unwrap()).collect();
    /// assert_eq!(all, vec![vec![0, 1], vec![7]]);
    /// ```
    fn boxed(self) -> BoxPublisher<Self::Item>
    where
        Self: Sized + Send + Sync + 'static,
        Self::Item: 'static,
    {
        BoxPublisher {
            inner: Arc::new(self),
        }
    }
}

impl<P: Publisher + ?Sized> Publisher for &P {
    type Item = P::Item;
    #[inline]
    fn subscribe<S: Subscriber<Self::Item> + 'static>(&self, subscriber: S) {
        (**self).subscribe(subscriber)
    }
}

impl<P: Publisher + ?Sized> Publisher for Arc<P> {
    type Item = P::Item;
    #[inline]
    fn subscribe<S: Subscriber<Self::Item> + 'static>(&self, subscriber: S) {
        (**self).subscribe(subscriber)
    }
}

/// The object-safe form of [`Publisher`]: subscribes a boxed subscriber.
///
/// Implemented for every `Publisher + Send + Sync`; used through [`BoxPublisher`].
pub trait DynPublisher<T>: Send + Sync {
    /// Starts a new subscription for a boxed subscriber.
    fn subscribe_boxed(&self, subscriber: Box<dyn Subscriber<T>>);
}

impl<P> DynPublisher<P::Item> for P
where
    P: Publisher + Send + Sync,
    P::Item: 'static,
{
    fn subscribe_boxed(&self, subscriber: Box<dyn Subscriber<P::Item>>) {
        self.subscribe(subscriber)
    }
}

/// A type-erased, cloneable, thread-safe publisher of `T`; made with [`Publisher::boxed`].
pub struct BoxPublisher<T> {
    inner: Arc<dyn DynPublisher<T>>,
}

impl<T> Clone for BoxPublisher<T> {
    fn clone(&self) -> Self {
        BoxPublisher {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for BoxPublisher<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxPublisher { .. }")
    }
}

impl<T: 'static> Publisher for BoxPublisher<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + 'static>(&self, subscriber: S) {
        self.inner.subscribe_boxed(Box::new(subscriber))
    }

    fn boxed(self) -> BoxPublisher<T> {
        self
    }
}
