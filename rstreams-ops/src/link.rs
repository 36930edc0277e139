//! The upstream end of a pass-through operator (`map`, `filter`, `skip`, `scan`).
//!
//! A pass-through operator hands its upstream's subscription to its downstream unchanged: the
//! downstream's `request` and `cancel` go straight to the upstream, with no layer, allocation or
//! atomic of the operator's own. The operator keeps a clone of the subscription only to cancel
//! the upstream when its closure panics and to ask for a replacement of an element it dropped on
//! the plain `on_next` path.
//!
//! It is also the one guard for operators that wrap the subscription they hand downstream
//! (`subscribe_on`, both modes of `throttle`): whatever an upstream does, a second subscription
//! is cancelled and not passed on (§2.5), and nothing is passed on after a terminal signal
//! (§1.7).

use std::sync::Arc;

use rstreams_core::Subscription;

/// The subscription of a pass-through operator's upstream and whether the operator has ended.
pub(crate) struct Link {
    upstream: Option<Arc<dyn Subscription>>,
    done: bool,
}

impl Link {
    pub(crate) fn new() -> Self {
        Link {
            upstream: None,
            done: false,
        }
    }

    /// Accepts the upstream subscription and returns it to be handed to the downstream, or
    /// cancels it and returns `None` when one was accepted already (§2.5) or the operator ended.
    pub(crate) fn accept(
        &mut self,
        subscription: Arc<dyn Subscription>,
    ) -> Option<Arc<dyn Subscription>> {
        if self.upstream.is_some() || self.done {
            subscription.cancel();
            return None;
        }
        self.upstream = Some(Arc::clone(&subscription));
        Some(subscription)
    }

    /// Whether the operator has ended (a terminal signal went downstream).
    #[inline]
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// Asks the upstream for `n` more, to replace elements the operator dropped on the plain
    /// `on_next` path.
    #[inline]
    pub(crate) fn request(&self, n: u64) {
        if let Some(upstream) = &self.upstream {
            upstream.request(n);
        }
    }

    /// Ends the operator on an upstream terminal signal and releases the upstream (§1.6: it is
    /// done). Returns `false` when the operator had ended already, so nothing is signalled twice.
    #[inline]
    pub(crate) fn finish(&mut self) -> bool {
        if self.done {
            return false;
        }
        self.done = true;
        self.upstream = None;
        true
    }

    /// Ends the operator on a failure of its own (a panic in its closure): cancels and releases
    /// the upstream. Returns `false` when the operator had ended already.
    pub(crate) fn fail(&mut self) -> bool {
        if self.done {
            return false;
        }
        self.done = true;
        if let Some(upstream) = self.upstream.take() {
            upstream.cancel();
        }
        true
    }
}
