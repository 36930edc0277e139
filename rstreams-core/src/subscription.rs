//! [`Subscription`]: the link between one publisher and one subscriber.

/// The link between one [`Publisher`](crate::Publisher) and one
/// [`Subscriber`](crate::Subscriber), through which the subscriber asks for elements and
/// cancels.
///
/// A subscription is handed to the subscriber in
/// [`on_subscribe`](crate::Subscriber::on_subscribe) as an `Arc<dyn Subscription>`, so it can
/// be kept, cloned and called from any thread.
///
/// # Rules an implementation keeps
///
/// - **§3.8** `request(n)` adds `n` to the outstanding demand.
/// - **§3.17** demand is added with saturation; a total of `u64::MAX` means *unbounded*, and
///   such demand is never used up. Use [`Demand`](crate::support::Demand) for this.
/// - **§3.9** `request(0)` cancels the subscription and signals `on_error` with an error
///   naming the rule ([`Error::request_zero`](crate::Error::request_zero)).
///   A negative request cannot be written: `n` is a `u64` (enforced by types).
/// - **§3.2 / §3.3** `request` may be called from inside `on_subscribe` and `on_next`; it must
///   not call `on_next` recursively. Use [`Drain`](crate::support::Drain).
/// - **§3.5 / §3.7** `cancel` is idempotent, thread-safe and returns quickly.
/// - **§3.6** after `cancel`, `request` does nothing.
/// - **§3.12 / §3.13** after `cancel`, signals stop eventually and the subscriber is dropped.
/// - **§3.15 / §3.16** both return normally.
pub trait Subscription: Send + Sync {
    /// Asks for `n` more elements (§3.8). `n == 0` is a protocol violation that fails the
    /// stream (§3.9); `u64::MAX` (or any sum reaching it) means unbounded (§3.17).
    fn request(&self, n: u64);

    /// Asks the publisher to stop signalling and to release the subscriber (§3.12, §3.13).
    /// Idempotent and thread-safe (§3.5, §3.7).
    fn cancel(&self);

    /// [`cancel`](Self::cancel), and whether this call was the first cancel: `false` when the
    /// subscription was cancelled already, by another holder of it. `take` uses it to give no
    /// completion to a downstream that cancelled while receiving the last element. The default
    /// cancels and returns `true` (it cannot tell).
    #[inline]
    fn cancel_first(&self) -> bool {
        self.cancel();
        true
    }
}

/// A subscription that ignores every call.
///
/// For publishers that signal a terminal event right after `on_subscribe` without ever
/// emitting, and for subscribers that must reject a second subscription (§2.5) with something
/// to hand back. Calls on it are valid and have no effect.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopSubscription;

impl Subscription for NoopSubscription {
    fn request(&self, _n: u64) {}
    fn cancel(&self) {}
}
