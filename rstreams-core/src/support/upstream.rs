//! A set-once slot for the upstream subscription of an operator.

use std::sync::Arc;

use crate::sync::Mutex;
use crate::Subscription;

use super::demand::add_cap;

/// Holds an operator's upstream subscription, which arrives in `on_subscribe` possibly after
/// the downstream has already requested or cancelled.
///
/// - **Set once (§2.5):** a second subscription offered to [`set`](Self::set) is cancelled.
/// - **Deferred requests:** requests made before the subscription arrives are added up and
///   forwarded when it does; a `request(0)` made early is forwarded too, so the upstream
///   reports the §3.9 violation.
/// - **Idempotent cancel (§3.5, §3.7):** cancelling before the subscription arrives cancels it
///   on arrival; cancelling twice does nothing more.
///
/// Calls into the upstream are made after the slot's lock is released, so an upstream that
/// signals synchronously from `request` may call back into the operator freely.
///
/// ```
/// use rstreams::support::UpstreamSlot;
/// use rstreams::{NoopSubscription, Subscription};
/// use std::sync::Arc;
///
/// let slot = UpstreamSlot::new();
/// slot.request(5); // deferred: nothing to forward to yet
/// assert!(slot.set(Arc::new(NoopSubscription)));
/// assert!(!slot.set(Arc::new(NoopSubscription))); // §2.5: the second one is cancelled
/// slot.cancel();
/// assert!(slot.is_cancelled());
/// ```
#[derive(Default)]
pub struct UpstreamSlot {
    state: Mutex<SlotState>,
}

#[derive(Default)]
struct SlotState {
    upstream: Option<Arc<dyn Subscription>>,
    deferred: u64,
    deferred_zero: bool,
    cancelled: bool,
}

impl UpstreamSlot {
    /// An empty slot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores the upstream subscription and forwards deferred requests (or a deferred cancel).
    ///
    /// Returns `false`, having cancelled `subscription`, when the slot already holds one
    /// (§2.5) or was cancelled.
    pub fn set(&self, subscription: Arc<dyn Subscription>) -> bool {
        let mut state = self.state.lock();
        if state.cancelled || state.upstream.is_some() {
            drop(state);
            subscription.cancel();
            return false;
        }
        state.upstream = Some(Arc::clone(&subscription));
        let deferred = std::mem::take(&mut state.deferred);
        let zero = std::mem::take(&mut state.deferred_zero);
        drop(state);
        if zero {
            subscription.request(0);
        }
        if deferred > 0 {
            subscription.request(deferred);
        }
        true
    }

    /// Forwards `request(n)` upstream, or defers it until the subscription arrives. Does
    /// nothing after cancel (§3.6).
    pub fn request(&self, n: u64) {
        let mut state = self.state.lock();
        if state.cancelled {
            return;
        }
        match &state.upstream {
            Some(up) => {
                let up = Arc::clone(up);
                drop(state);
                up.request(n);
            }
            None if n == 0 => state.deferred_zero = true,
            None => state.deferred = add_cap(state.deferred, n),
        }
    }

    /// Cancels the upstream, now or when it arrives, and releases it (§3.13). Idempotent.
    pub fn cancel(&self) {
        let mut state = self.state.lock();
        if state.cancelled {
            return;
        }
        state.cancelled = true;
        let up = state.upstream.take();
        drop(state);
        if let Some(up) = up {
            up.cancel();
        }
    }

    /// Releases the upstream without cancelling it, for a stage that received a terminal
    /// signal (the upstream is done; §1.6). Later requests and cancels do nothing.
    pub fn clear(&self) {
        let mut state = self.state.lock();
        state.cancelled = true;
        state.upstream = None;
    }

    /// Whether [`cancel`](Self::cancel) or [`clear`](Self::clear) was called.
    pub fn is_cancelled(&self) -> bool {
        self.state.lock().cancelled
    }

    /// The upstream subscription, if it has arrived and the slot is live.
    pub fn get(&self) -> Option<Arc<dyn Subscription>> {
        self.state.lock().upstream.clone()
    }
}

impl std::fmt::Debug for UpstreamSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock();
        f.debug_struct("UpstreamSlot")
            .field("set", &state.upstream.is_some())
            .field("deferred", &state.deferred)
            .field("cancelled", &state.cancelled)
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::super::test_support::Recording;
    use super::*;
    use crate::sync::Ordering;

    #[test]
    fn requests_made_before_the_upstream_arrives_are_forwarded_summed() {
        let slot = UpstreamSlot::new();
        slot.request(3);
        slot.request(4);
        let up = Arc::new(Recording::default());
        assert!(slot.set(up.clone()));
        assert_eq!(up.requested.load(Ordering::SeqCst), 7);
        slot.request(1);
        assert_eq!(up.requested.load(Ordering::SeqCst), 8);
    }

    #[test]
    fn an_early_request_zero_reaches_the_upstream() {
        let slot = UpstreamSlot::new();
        slot.request(0);
        let up = Arc::new(Recording::default());
        slot.set(up.clone());
        assert_eq!(up.zero_requests.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn rule_2_5_a_second_subscription_is_cancelled() {
        let slot = UpstreamSlot::new();
        let first = Arc::new(Recording::default());
        let second = Arc::new(Recording::default());
        assert!(slot.set(first.clone()));
        assert!(!slot.set(second.clone()));
        assert_eq!(second.cancels.load(Ordering::SeqCst), 1);
        assert_eq!(first.cancels.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn cancel_before_arrival_cancels_on_arrival_and_only_once() {
        let slot = UpstreamSlot::new();
        slot.cancel();
        slot.cancel();
        let up = Arc::new(Recording::default());
        assert!(!slot.set(up.clone()));
        assert_eq!(up.cancels.load(Ordering::SeqCst), 1);
        slot.request(5);
        assert_eq!(up.requested.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn rule_3_13_cancel_releases_the_upstream() {
        let slot = UpstreamSlot::new();
        let up = Arc::new(Recording::default());
        slot.set(up.clone());
        slot.cancel();
        slot.cancel();
        assert_eq!(up.cancels.load(Ordering::SeqCst), 1);
        assert_eq!(Arc::strong_count(&up), 1);
    }
}
