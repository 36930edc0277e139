//! The upstream end of a pass-through stage (`map`, `filter`, `skip`, `scan`, `subscribe_on`,
//! `throttle`, a named observation point).
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

use crate::Subscription;

/// The subscription of a pass-through stage's upstream and whether the stage has ended: the
/// guard that keeps §2.5 and §1.7 for a stage whose downstream is signalled straight from
/// the upstream's calls (no engine of its own).
///
/// ```
/// use rstreams::support::Link;
/// use rstreams::NoopSubscription;
/// use std::sync::Arc;
///
/// let mut link = Link::new();
/// assert!(link.accept(Arc::new(NoopSubscription)).is_some());
/// assert!(link.accept(Arc::new(NoopSubscription)).is_none()); // §2.5: cancelled, not passed on
/// assert!(link.finish());                                     // the first terminal signal
/// assert!(!link.finish());                                    // §1.7: never a second
/// assert!(link.is_done());                                    // later elements are dropped
/// ```
#[derive(Default)]
pub struct Link {
    /// The accepted upstream; `None` before `on_subscribe` and after the stage ended.
    upstream: Option<Arc<dyn Subscription>>,
    /// A terminal signal went downstream (or the stage failed): nothing more is passed on.
    done: bool,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("subscribed", &self.upstream.is_some())
            .field("done", &self.done)
            .finish()
    }
}

impl Link {
    /// No upstream yet, not ended.
    pub fn new() -> Self {
        Link {
            upstream: None,
            done: false,
        }
    }

    /// Accepts the upstream subscription and returns it to be handed to the downstream, or
    /// cancels it and returns `None` when one was accepted already (§2.5) or the operator ended.
    #[inline]
    pub fn accept(&mut self, subscription: Arc<dyn Subscription>) -> Option<Arc<dyn Subscription>> {
        if self.upstream.is_some() || self.done {
            subscription.cancel();
            return None;
        }
        self.upstream = Some(Arc::clone(&subscription));
        Some(subscription)
    }

    /// Whether the operator has ended (a terminal signal went downstream).
    #[inline]
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Asks the upstream for `n` more, to replace elements the operator dropped on the plain
    /// `on_next` path.
    #[inline]
    pub fn request(&self, n: u64) {
        if let Some(upstream) = &self.upstream {
            upstream.request(n);
        }
    }

    /// Ends the operator on an upstream terminal signal and releases the upstream (§1.6: it is
    /// done). Returns `false` when the operator had ended already, so nothing is signalled twice.
    #[inline]
    pub fn finish(&mut self) -> bool {
        if self.done {
            return false;
        }
        self.done = true;
        self.upstream = None;
        true
    }

    /// Ends the operator on a failure of its own (a panic in its closure): cancels and releases
    /// the upstream. Returns `false` when the operator had ended already.
    pub fn fail(&mut self) -> bool {
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
