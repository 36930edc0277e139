//! The kit verifies operators that subscribe their upstream later than when they are
//! subscribed: on demand (`subscribes_upstream_on_demand`, as `start_with`), or at `connect()`
//! (`connectable`, as `publish`). Correct ones pass; broken ones fail with the rule named; and
//! without the option, the kit stays as strict as before.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rstreams_core::support::UpstreamSlot;
use rstreams_core::{Error, Publisher, Subscriber, Subscription};
use rstreams_tck::{OperatorVerification, Report, Timeouts, Upstream};

/// Short timeouts: broken implementations stall on purpose.
fn fast() -> Timeouts {
    Timeouts {
        signal: Duration::from_millis(300),
        quiet: Duration::from_millis(5),
        check: Duration::from_secs(3),
    }
}

fn assert_fails_with(report: Report, rule: &str) {
    let failed = report.failed_rules();
    assert!(
        failed.iter().any(|r| r == rule),
        "expected §{rule} among the failed rules, got {failed:?}\n{report}"
    );
}

// ===== an operator that subscribes its upstream at the first request =====

/// A defect to build into the lazy operator.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum LazyDefect {
    /// `cancel` does nothing, before or after the upstream was subscribed.
    DropsCancel,
    /// A cancel that comes before the upstream was subscribed subscribes it (and leaves it
    /// running).
    SubscribesOnCancel,
    /// An upstream error is not passed on.
    SwallowsErrors,
    /// The upstream is never subscribed, whatever the demand.
    NeverSubscribes,
}

/// A pass-through operator that subscribes its upstream at the downstream's first request
/// (demand asked before then, and a cancel, wait in an [`UpstreamSlot`]).
struct Lazy {
    up: Upstream,
    defect: Option<LazyDefect>,
}

/// The downstream's subscription; holds the downstream until the upstream is subscribed.
struct LazySubscription {
    up: Upstream,
    defect: Option<LazyDefect>,
    slot: Arc<UpstreamSlot>,
    /// `Waiting(downstream)` until the first request; `Requested` if it came inside
    /// `on_subscribe` (the downstream is stored after that returns); `Subscribed` once the
    /// upstream was; `Cancelled` when cancelled first.
    state: Mutex<Phase>,
}

enum Phase {
    Starting,
    Requested,
    Waiting(Box<dyn Subscriber<u64>>),
    Subscribed,
    Cancelled,
}

impl LazySubscription {
    fn subscribe_upstream(&self, down: Box<dyn Subscriber<u64>>, slot: Arc<UpstreamSlot>) {
        if self.defect == Some(LazyDefect::NeverSubscribes) {
            *self.state.lock() = Phase::Waiting(down);
            return;
        }
        self.up.subscribe(Forward {
            down,
            slot,
            defect: self.defect,
        });
    }
}

impl Subscription for LazySubscription {
    fn request(&self, n: u64) {
        self.slot.request(n);
        let down = {
            let mut state = self.state.lock();
            match std::mem::replace(&mut *state, Phase::Subscribed) {
                Phase::Waiting(down) => Some(down),
                Phase::Starting => {
                    *state = Phase::Requested;
                    None
                }
                other => {
                    *state = other;
                    None
                }
            }
        };
        if let Some(down) = down {
            self.subscribe_upstream(down, Arc::clone(&self.slot));
        }
    }

    fn cancel(&self) {
        match self.defect {
            Some(LazyDefect::DropsCancel) => {}
            Some(LazyDefect::SubscribesOnCancel) => {
                let down = match std::mem::replace(&mut *self.state.lock(), Phase::Subscribed) {
                    Phase::Waiting(down) => Some(down),
                    _ => None,
                };
                match down {
                    // A fresh slot: the cancel does not reach what it subscribes.
                    Some(down) => self.subscribe_upstream(down, Arc::new(UpstreamSlot::new())),
                    None => self.slot.cancel(),
                }
            }
            _ => {
                self.slot.cancel();
                let dropped = std::mem::replace(&mut *self.state.lock(), Phase::Cancelled);
                drop(dropped); // §3.13: the downstream, if still held
            }
        }
    }
}

/// The subscriber the lazy operator gives its upstream: passes everything on.
struct Forward {
    down: Box<dyn Subscriber<u64>>,
    slot: Arc<UpstreamSlot>,
    defect: Option<LazyDefect>,
}

impl Subscriber<u64> for Forward {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        self.slot.set(s);
    }
    fn on_next(&mut self, x: u64) {
        self.down.on_next(x)
    }
    fn on_error(&mut self, e: Error) {
        if self.defect != Some(LazyDefect::SwallowsErrors) {
            self.down.on_error(e)
        }
    }
    fn on_complete(&mut self) {
        self.down.on_complete()
    }
}

impl Publisher for Lazy {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, s: S) {
        let subscription = Arc::new(LazySubscription {
            up: self.up.clone(),
            defect: self.defect,
            slot: Arc::new(UpstreamSlot::new()),
            state: Mutex::new(Phase::Starting),
        });
        let mut down: Box<dyn Subscriber<u64>> = Box::new(s);
        down.on_subscribe(subscription.clone());
        let requested = {
            let mut state = subscription.state.lock();
            match std::mem::replace(&mut *state, Phase::Subscribed) {
                Phase::Requested => true,
                Phase::Starting => {
                    *state = Phase::Waiting(down);
                    return;
                }
                other => {
                    *state = other; // cancelled inside on_subscribe
                    return;
                }
            }
        };
        if requested {
            subscription.subscribe_upstream(down, Arc::clone(&subscription.slot));
        }
    }
}

fn verify_lazy(defect: Option<LazyDefect>) -> Report {
    OperatorVerification::new(move |up| Lazy { up, defect })
        .subscribes_upstream_on_demand()
        .prefetch_bound(0)
        .timeouts(fast())
        .run()
}

#[test]
fn an_operator_that_subscribes_its_upstream_at_the_first_request_is_compliant_when_declared_so() {
    verify_lazy(None).assert_compliant();
}

#[test]
fn without_the_declaration_the_kit_still_expects_the_upstream_subscribed_at_once() {
    let report = OperatorVerification::new(|up| Lazy { up, defect: None })
        .prefetch_bound(0)
        .timeouts(fast())
        .run();
    assert_fails_with(report, "4.2");
}

#[test]
fn rule_3_12_fails_for_a_lazy_operator_that_drops_cancel() {
    assert_fails_with(verify_lazy(Some(LazyDefect::DropsCancel)), "3.12");
}

#[test]
fn rule_3_12_fails_for_a_lazy_operator_that_subscribes_its_upstream_after_a_cancel() {
    assert_fails_with(verify_lazy(Some(LazyDefect::SubscribesOnCancel)), "3.12");
}

#[test]
fn rule_4_2_fails_for_a_lazy_operator_that_swallows_errors() {
    assert_fails_with(verify_lazy(Some(LazyDefect::SwallowsErrors)), "4.2");
}

#[test]
fn rule_3_8_fails_for_an_operator_declared_lazy_that_never_subscribes_its_upstream() {
    assert_fails_with(verify_lazy(Some(LazyDefect::NeverSubscribes)), "3.8");
}

// ===== a connectable operator =====

/// A connectable identity for one subscriber, shaped as a multicast is: `connect` subscribes
/// the upstream, the subscriber's cancel releases the subscriber but keeps the connection (no
/// more is requested), and only the connection's end cancels the upstream.
#[derive(Clone)]
struct Gate {
    up: Upstream,
    waiting: Arc<Mutex<Option<Box<dyn Subscriber<u64>>>>>,
    /// Whether ending the connection cancels the upstream (the defect: it does not).
    disconnect_cancels: bool,
}

/// What a connection shares: the upstream's subscription and the subscriber.
#[derive(Default)]
struct Link {
    upstream: Mutex<Option<Arc<dyn Subscription>>>,
    /// The subscriber, out of the lock while it is signalled (so that it may call back).
    down: Mutex<Option<Box<dyn Subscriber<u64>>>>,
    /// The subscriber cancelled: it is dropped instead of being put back.
    left: Mutex<bool>,
}

impl Link {
    fn signal(&self, f: impl FnOnce(&mut dyn Subscriber<u64>)) {
        let Some(mut down) = self.down.lock().take() else {
            return;
        };
        f(&mut *down);
        if !*self.left.lock() {
            *self.down.lock() = Some(down);
        }
    }
}

struct Member(Arc<Link>);

impl Subscription for Member {
    fn request(&self, n: u64) {
        let upstream = self.0.upstream.lock().clone();
        if !*self.0.left.lock() || n == 0 {
            if let Some(up) = upstream {
                up.request(n);
            }
        }
    }
    fn cancel(&self) {
        *self.0.left.lock() = true;
        let gone = self.0.down.lock().take();
        drop(gone);
    }
}

struct Inlet(Arc<Link>);

impl Subscriber<u64> for Inlet {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        *self.0.upstream.lock() = Some(s);
        let member: Arc<dyn Subscription> = Arc::new(Member(Arc::clone(&self.0)));
        self.0.signal(|down| down.on_subscribe(member));
    }
    fn on_next(&mut self, x: u64) {
        self.0.signal(|down| down.on_next(x));
    }
    fn on_error(&mut self, e: Error) {
        self.0.signal(|down| down.on_error(e));
    }
    fn on_complete(&mut self) {
        self.0.signal(|down| down.on_complete());
    }
}

impl Publisher for Gate {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, s: S) {
        *self.waiting.lock() = Some(Box::new(s));
    }
}

impl Gate {
    fn connect(&self) -> impl FnOnce() + Send + 'static {
        let link = Arc::new(Link::default());
        *link.down.lock() = self.waiting.lock().take();
        self.up.subscribe(Inlet(Arc::clone(&link)));
        let cancels = self.disconnect_cancels;
        move || {
            if cancels {
                if let Some(up) = link.upstream.lock().take() {
                    up.cancel();
                }
            }
        }
    }
}

fn verify_gate(disconnect_cancels: bool) -> Report {
    OperatorVerification::connectable(
        move |up| Gate {
            up,
            waiting: Arc::default(),
            disconnect_cancels,
        },
        |gate| gate.connect(),
    )
    .prefetch_bound(0)
    .timeouts(fast())
    .run()
}

#[test]
fn a_connectable_operator_whose_connection_ends_by_hand_is_compliant_when_declared_so() {
    verify_gate(true).assert_compliant();
}

#[test]
fn rule_3_12_fails_for_a_connectable_operator_whose_connection_end_does_not_reach_upstream() {
    assert_fails_with(verify_gate(false), "3.12");
}
