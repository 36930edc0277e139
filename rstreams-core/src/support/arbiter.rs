//! The arbiter: a subscription whose upstream can be replaced while the outstanding demand
//! carries over exactly.

use std::fmt;
use std::sync::Arc;

use crate::support::{add_cap, UNBOUNDED};
use crate::sync::Mutex;
use crate::Subscription;

/// The downstream's subscription of a stage that moves from one upstream to the next
/// (`concat`, `retry`, `on_error_resume`, `switch_if_empty`, `timeout` with a fallback).
///
/// - [`request`](Subscription::request) adds to the total requested and forwards to the
///   current upstream; made before any upstream arrived, it is kept and forwarded on arrival.
/// - [`switch_to`](Self::switch_to) installs the next upstream and requests from it exactly what
///   is outstanding: everything requested so far minus what the stage says it `produced` in
///   all. A request racing with the switch is counted once: either the old upstream got it
///   and the switch re-requests it from the new one, or the new one gets it directly.
/// - `request(0)` is forwarded to the current upstream (and to each later one), which fails
///   with §3.9; [`is_bad_request`](Self::is_bad_request) tells a resuming stage not to resume.
/// - [`cancel`](Subscription::cancel) cancels the current upstream and every later one at
///   arrival; idempotent (§3.5), and it releases the upstream (§3.13).
///
/// ```
/// use rstreams::support::Arbiter;
/// use rstreams::{NoopSubscription, Subscription};
/// use std::sync::Arc;
///
/// let arbiter = Arbiter::new();
/// arbiter.request(10);
/// arbiter.switch_to(Arc::new(NoopSubscription), 0); // asked for 10
/// // ... 4 elements arrive, then that upstream completes:
/// let asked = arbiter.switch_to(Arc::new(NoopSubscription), 4);
/// assert_eq!(asked, 6); // exactly what is outstanding
/// ```
#[derive(Default)]
pub struct Arbiter {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The upstream requests go to; `None` before the first and after cancel.
    current: Option<Arc<dyn Subscription>>,
    /// Everything the downstream requested, saturating (`UNBOUNDED`: unbounded).
    requested: u64,
    /// The downstream called `request(0)`: every upstream is sent `request(0)` too.
    bad_request: bool,
    /// The downstream cancelled: every later upstream is cancelled on arrival.
    cancelled: bool,
}

impl Arbiter {
    /// No upstream yet, no demand.
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs `next` as the upstream and asks it for what is outstanding: all requested
    /// minus `produced`, the number of elements the stage received from every upstream so far
    /// (unbounded stays unbounded). Returns that amount (0 when nothing is outstanding, or when
    /// `next` was cancelled because the arbiter was).
    pub fn switch_to(&self, next: Arc<dyn Subscription>, produced: u64) -> u64 {
        let mut state = self.state.lock();
        if state.cancelled {
            drop(state);
            next.cancel();
            return 0;
        }
        let outstanding = if state.requested == UNBOUNDED {
            UNBOUNDED
        } else {
            state.requested.saturating_sub(produced)
        };
        state.current = Some(Arc::clone(&next));
        let zero = state.bad_request;
        drop(state);
        if zero {
            next.request(0);
        } else if outstanding > 0 {
            next.request(outstanding);
        }
        outstanding
    }

    /// Drops the current upstream without cancelling it (it ended), so that requests until
    /// the next [`switch_to`](Self::switch_to) are only counted.
    pub fn clear(&self) {
        self.state.lock().current = None;
    }

    /// Whether the downstream called `request(0)`.
    pub fn is_bad_request(&self) -> bool {
        self.state.lock().bad_request
    }

    /// Whether the downstream cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.state.lock().cancelled
    }

    /// Everything requested so far (saturating).
    pub fn requested(&self) -> u64 {
        self.state.lock().requested
    }
}

impl Subscription for Arbiter {
    fn request(&self, n: u64) {
        let mut state = self.state.lock();
        if state.cancelled {
            return; // §3.6
        }
        if n == 0 {
            state.bad_request = true;
        } else {
            state.requested = add_cap(state.requested, n);
        }
        let current = state.current.clone();
        drop(state);
        if let Some(up) = current {
            up.request(n);
        }
    }

    fn cancel(&self) {
        let mut state = self.state.lock();
        if state.cancelled {
            return;
        }
        state.cancelled = true;
        let current = state.current.take();
        drop(state);
        if let Some(up) = current {
            up.cancel();
        }
    }
}

impl fmt::Debug for Arbiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("Arbiter")
            .field("requested", &state.requested)
            .field("has_upstream", &state.current.is_some())
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
    fn outstanding_demand_carries_over_to_the_next_upstream_exactly() {
        let arbiter = Arbiter::new();
        arbiter.request(5);
        let first = Arc::new(Recording::default());
        assert_eq!(arbiter.switch_to(first.clone(), 0), 5);
        arbiter.request(3);
        assert_eq!(first.requested.load(Ordering::SeqCst), 8);
        let second = Arc::new(Recording::default());
        assert_eq!(arbiter.switch_to(second.clone(), 6), 2);
        assert_eq!(second.requested.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn requests_between_upstreams_are_counted_and_forwarded_on_arrival() {
        let arbiter = Arbiter::new();
        arbiter.switch_to(Arc::new(Recording::default()), 0);
        arbiter.clear();
        arbiter.request(4);
        let next = Arc::new(Recording::default());
        assert_eq!(arbiter.switch_to(next.clone(), 0), 4);
        assert_eq!(next.requested.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn unbounded_demand_stays_unbounded_across_switches() {
        let arbiter = Arbiter::new();
        arbiter.request(UNBOUNDED);
        let next = Arc::new(Recording::default());
        assert_eq!(arbiter.switch_to(next, 1_000), UNBOUNDED);
    }

    #[test]
    fn rule_3_9_request_zero_reaches_the_current_and_every_later_upstream() {
        let arbiter = Arbiter::new();
        let first = Arc::new(Recording::default());
        arbiter.switch_to(first.clone(), 0);
        arbiter.request(0);
        assert_eq!(first.zero_requests.load(Ordering::SeqCst), 1);
        assert!(arbiter.is_bad_request());
        let second = Arc::new(Recording::default());
        arbiter.switch_to(second.clone(), 0);
        assert_eq!(second.zero_requests.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn rule_3_13_cancel_cancels_the_current_upstream_once_and_every_later_one() {
        let arbiter = Arbiter::new();
        let first = Arc::new(Recording::default());
        arbiter.switch_to(first.clone(), 0);
        arbiter.cancel();
        arbiter.cancel();
        assert_eq!(first.cancels.load(Ordering::SeqCst), 1);
        assert_eq!(Arc::strong_count(&first), 1);
        let second = Arc::new(Recording::default());
        assert_eq!(arbiter.switch_to(second.clone(), 0), 0);
        assert_eq!(second.cancels.load(Ordering::SeqCst), 1);
        arbiter.request(3);
        assert_eq!(second.requested.load(Ordering::SeqCst), 0);
    }
}
