//! [`Subscriber`]: the receiving end of a stream.

use std::sync::Arc;

use crate::{Error, Subscription};

/// Receives the signals of one subscription: `on_subscribe` once, then up to the requested
/// number of `on_next`, then at most one of `on_error` / `on_complete`.
///
/// The methods take `&mut self`: a publisher owns its subscriber and calls it from one place at
/// a time, which is how serial signalling (§1.3) shows in the types. A publisher that signals
/// from several threads hands the subscriber over between them (behind a lock or a drain
/// guard); it never shares it.
///
/// # Rules an implementation keeps
///
/// - **§2.1** it receives `on_next` only after asking with `request(n)`.
/// - **§2.3** inside `on_error` / `on_complete` it does not call the subscription.
/// - **§2.5** a second `on_subscribe` while a subscription is active is cancelled at once.
/// - **§2.8** it tolerates `on_next` after it has cancelled (demand already in flight).
/// - **§2.9 / §2.10** it accepts `on_complete` and `on_error` with or without prior requests.
/// - **§2.13** its methods return normally. A panicking subscriber is treated as cancelled by
///   the publishers of this crate, and the panic continues to the caller.
pub trait Subscriber<T>: Send {
    /// The first signal, exactly once (§1.9): the subscription to request from and cancel.
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>);

    /// The next element. Never called beyond the demand requested so far (§1.1).
    fn on_next(&mut self, item: T);

    /// The stream failed. No signal follows (§1.7).
    fn on_error(&mut self, error: Error);

    /// The stream ended normally. No signal follows (§1.7).
    fn on_complete(&mut self);

    /// Offers an element on the conditional fast path and reports whether it consumed a unit of
    /// demand.
    ///
    /// Publishers that can use this (all sources and synchronous operators of rstreams do) call
    /// `try_on_next` instead of [`on_next`](Self::on_next) and count the element against the
    /// demand only when it returns `true`. A filtering subscriber returns `false` for an element
    /// it drops, so the publisher just emits the next one, without the `request(1)` round trip
    /// that the plain `on_next` path must pay to make up for a dropped element.
    ///
    /// The default forwards to `on_next` and returns `true`: every subscriber is a valid
    /// conditional subscriber. An implementation that returns `false` must not also request a
    /// replacement for that element.
    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        self.on_next(item);
        true
    }
}

impl<T, S: Subscriber<T> + ?Sized> Subscriber<T> for Box<S> {
    #[inline]
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        (**self).on_subscribe(subscription)
    }
    #[inline]
    fn on_next(&mut self, item: T) {
        (**self).on_next(item)
    }
    #[inline]
    fn on_error(&mut self, error: Error) {
        (**self).on_error(error)
    }
    #[inline]
    fn on_complete(&mut self) {
        (**self).on_complete()
    }
    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        (**self).try_on_next(item)
    }
}
