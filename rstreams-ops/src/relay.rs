//! The downstream end of an engine stage whose upstream demand is the downstream's, exactly:
//! `take_until`, `with_latest_from`, `concat_map`, `switch_map`, `buffer_skip`.
//!
//! Such a stage needs an [`Engine`](rstreams_core::support::Engine) to serialise what several
//! sources signal (a second input, a succession of inners, elements held back until demand),
//! yet must not prefetch: what it asks upstream follows the downstream's requests. The
//! downstream is subscribed through [`Relayed`]; the subscription it receives, a [`Relay`],
//! gives every `request(n)` to the engine (the demand it emits against) and to the stage's
//! `route` (what the upstream is asked: the upstream's own subscription, an
//! [`Arbiter`](rstreams_core::support::Arbiter), a translation such as `buffer_skip`'s), and
//! every `cancel` to both. `request(0)` is the engine's to fail with §3.9.

use std::fmt;
use std::sync::Arc;

use rstreams_core::support::UpstreamSlot;
use rstreams_core::{Error, Subscriber, Subscription};

/// The downstream of an exact-demand engine stage, as the engine holds it.
///
/// Elements reach the downstream through the plain `on_next` only: the provided
/// [`try_on_next`](Subscriber::try_on_next) (which calls `on_next` and reports the element as
/// used) is kept, so every element delivered uses a unit of the demand that went upstream, and
/// a downstream that drops one asks for a replacement itself, through the relay.
pub(crate) struct Relayed<S> {
    downstream: S,
    route: Arc<dyn Subscription>,
}

impl<S> Relayed<S> {
    /// `downstream`, whose requests and cancel also go to `route`.
    pub(crate) fn new(downstream: S, route: Arc<dyn Subscription>) -> Self {
        Relayed { downstream, route }
    }

    /// `downstream`, whose requests and cancel also go to the upstream in `slot` (deferred
    /// until it has subscribed).
    pub(crate) fn to_slot(downstream: S, slot: Arc<UpstreamSlot>) -> Self {
        Self::new(downstream, Arc::new(Slot(slot)))
    }
}

/// An [`UpstreamSlot`] as the route of a relay.
struct Slot(Arc<UpstreamSlot>);

impl Subscription for Slot {
    fn request(&self, n: u64) {
        self.0.request(n);
    }

    fn cancel(&self) {
        self.0.cancel();
    }
}

impl<T, S: Subscriber<T>> Subscriber<T> for Relayed<S> {
    fn on_subscribe(&mut self, engine: Arc<dyn Subscription>) {
        self.downstream.on_subscribe(Arc::new(Relay {
            engine,
            route: Arc::clone(&self.route),
        }));
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        self.downstream.on_next(item);
    }

    fn on_error(&mut self, error: Error) {
        self.downstream.on_error(error);
    }

    fn on_complete(&mut self) {
        self.downstream.on_complete();
    }
}

impl<S> fmt::Debug for Relayed<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Relayed { .. }")
    }
}

/// The subscription the downstream of an exact-demand stage holds.
struct Relay {
    engine: Arc<dyn Subscription>,
    route: Arc<dyn Subscription>,
}

impl Subscription for Relay {
    fn request(&self, n: u64) {
        // The engine first: it holds the demand before a synchronous upstream answers the
        // route's request, so each element is delivered as it arrives instead of queueing.
        self.engine.request(n);
        self.route.request(n);
    }

    fn cancel(&self) {
        self.engine.cancel();
        self.route.cancel();
    }
}
