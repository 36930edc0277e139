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

    /// How many more elements this subscriber can use at most: `u64::MAX` (the default) when
    /// it sets no limit of its own. Asked only by an upstream that announced it would ask
    /// ([`upstream_asks_wanted`](Self::upstream_asks_wanted)); such an upstream asks before
    /// each run of emissions and emits no more than the answer in it, whatever the demand.
    ///
    /// `take(n)` answers what is left of its `n`; a stage that hands its downstream the
    /// subscription it received, unchanged, and emits at most one element per element it
    /// receives (`map`, `filter`, ...) answers its downstream's answer. An answer that is too
    /// low for a stage that drops elements only means more runs, never a stall: the upstream
    /// asks again after each run.
    #[inline]
    fn wanted(&self) -> u64 {
        u64::MAX
    }

    /// Called once, before `on_subscribe`, by an upstream that will ask
    /// [`wanted`](Self::wanted) before each run of emissions (the engine under every source of
    /// rstreams). A stage that forwards `wanted` to its downstream forwards this call too;
    /// `take` then hands its downstream the upstream's subscription instead of one of its own
    /// that caps the requests (one allocation less per subscription), since the upstream caps
    /// what it emits by asking. The default does nothing: a subscriber that does not forward
    /// it leaves the stages below it to cap as usual. [`forward_wanted!`](crate::forward_wanted)
    /// writes both forwards. Forward both methods or neither: a stage
    /// that forwards this call but answers `wanted` with the default lets a `take` below it
    /// pass the subscription through while the upstream is told no limit (it still stops at
    /// `take`'s cancel, but may fetch ahead what `take` will not use).
    #[inline]
    fn upstream_asks_wanted(&mut self) {}
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
    #[inline]
    fn wanted(&self) -> u64 {
        (**self).wanted()
    }
    #[inline]
    fn upstream_asks_wanted(&mut self) {
        (**self).upstream_asks_wanted()
    }
}

/// Implements [`Subscriber::wanted`] and [`Subscriber::upstream_asks_wanted`] by forwarding
/// both to the field that holds the downstream: for a stage that hands its downstream the
/// subscription it received, unchanged, and emits at most one element per element it receives
/// (a `map`, a `filter`), so that a `take` below it can pass the source's subscription through.
/// Written inside the `impl Subscriber<T> for ...` block.
///
/// ```
/// use std::sync::Arc;
/// use rstreams::{Error, Subscriber, Subscription};
///
/// /// Doubles every element.
/// struct Double<S> {
///     downstream: S,
/// }
///
/// impl<S: Subscriber<u64>> Subscriber<u64> for Double<S> {
///     rstreams::forward_wanted!(downstream);
///
///     fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
///         self.downstream.on_subscribe(subscription)
///     }
///     fn on_next(&mut self, item: u64) {
///         self.downstream.on_next(item * 2)
///     }
///     fn on_error(&mut self, error: Error) {
///         self.downstream.on_error(error)
///     }
///     fn on_complete(&mut self) {
///         self.downstream.on_complete()
///     }
/// }
/// ```
#[macro_export]
macro_rules! forward_wanted {
    ($downstream:ident) => {
        /// Passes its subscription through, one element out per element in at most: its
        /// downstream's answer is its own.
        #[inline]
        fn wanted(&self) -> u64 {
            self.$downstream.wanted()
        }

        #[inline]
        fn upstream_asks_wanted(&mut self) {
            self.$downstream.upstream_asks_wanted();
        }
    };
}
