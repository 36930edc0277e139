//! The kit tests itself: for each required rule, a deliberately broken implementation that the
//! kit must fail with that rule named. (Correct implementations that must pass are in
//! `compliant.rs`.)

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rstreams_core::support::{add_cap, Demand, DrainCell, UpstreamSlot};
use rstreams_core::{source, Error, NoopSubscription, Publisher, Subscriber, Subscription};
use rstreams_tck::{
    OperatorVerification, PublisherVerification, Report, SignalPath, SubscriberVerification,
    Timeouts, Upstream,
};

/// Short timeouts: broken implementations stall and deadlock on purpose.
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

// ===== broken publishers =====

/// A defect to build into an otherwise correct synchronous publisher of `0..n`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Defect {
    IgnoreDemand,
    OneTooMany,
    NeverComplete,
    CompleteEarly,
    NextAfterComplete,
    DoubleComplete,
    NoOnSubscribe,
    NextBeforeSubscribe,
    RequestZeroIgnored,
    DemandWraps,
    DemandOverflowErrors,
    LosesReentrantRequest,
    KeepsSubscriber,
    IgnoresCancel,
    CancelSignalsError,
    DeadlocksOnReentrantRequest,
    PanicsInSubscribe,
    PanicsOnSecondCancel,
    PanicsOnHugeRequest,
}

#[derive(Clone)]
struct Faulty {
    n: u64,
    defect: Option<Defect>,
}

struct Ctl {
    demand: u64,
    emitting: bool,
    missed: bool,
    cancelled: bool,
    zero: bool,
}

struct FaultySubscription<S> {
    n: u64,
    defect: Option<Defect>,
    ctl: Mutex<Ctl>,
    /// Held while signalling (the subscriber, the next value, whether ended).
    sub: Mutex<(Option<S>, u64, bool)>,
    /// Where the `KeepsSubscriber` defect keeps its subscriber after cancel.
    kept: Mutex<Option<S>>,
}

impl Publisher for Faulty {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut s: S) {
        let d = self.defect;
        if d == Some(Defect::PanicsInSubscribe) {
            panic!("broken publisher: panics in subscribe");
        }
        if d == Some(Defect::NoOnSubscribe) {
            return;
        }
        if d == Some(Defect::NextBeforeSubscribe) {
            s.on_next(0);
        }
        let sub = Arc::new(FaultySubscription {
            n: self.n,
            defect: d,
            ctl: Mutex::new(Ctl {
                demand: 0,
                emitting: true,
                missed: false,
                cancelled: false,
                zero: false,
            }),
            sub: Mutex::new((None, 0, false)),
            kept: Mutex::new(None),
        });
        s.on_subscribe(sub.clone());
        sub.sub.lock().0 = Some(s);
        sub.drain();
    }
}

impl<S: Subscriber<u64>> FaultySubscription<S> {
    fn has(&self, d: Defect) -> bool {
        self.defect == Some(d)
    }

    fn drain(&self) {
        loop {
            {
                let mut guard = self.sub.lock();
                let (slot, next, ended) = &mut *guard;
                if let Some(s) = slot.as_mut() {
                    self.pass(s, next, ended);
                }
                let ctl = self.ctl.lock();
                let keep_after_end = self.has(Defect::NextAfterComplete);
                if (ctl.cancelled && !self.has(Defect::IgnoresCancel))
                    || (*ended && !keep_after_end)
                {
                    let s = slot.take();
                    if self.has(Defect::KeepsSubscriber) {
                        *self.kept.lock() = s;
                    }
                }
            }
            let mut ctl = self.ctl.lock();
            if ctl.missed {
                ctl.missed = false;
                continue;
            }
            ctl.emitting = false;
            return;
        }
    }

    fn pass(&self, s: &mut S, next: &mut u64, ended: &mut bool) {
        let limit = if self.has(Defect::CompleteEarly) {
            self.n.saturating_sub(1)
        } else {
            self.n
        };
        if *ended {
            if self.has(Defect::NextAfterComplete) && self.ctl.lock().demand > 0 {
                s.on_next(*next);
            }
            return;
        }
        {
            let mut ctl = self.ctl.lock();
            if ctl.zero {
                ctl.zero = false;
                if !self.has(Defect::RequestZeroIgnored) {
                    ctl.cancelled = true;
                    drop(ctl);
                    s.on_error(Error::request_zero());
                    *ended = true;
                    return;
                }
            }
        }
        loop {
            let mut ctl = self.ctl.lock();
            if ctl.cancelled && !self.has(Defect::IgnoresCancel) {
                return;
            }
            let may = ctl.demand > 0 || self.has(Defect::IgnoreDemand);
            if *next >= limit || !may {
                break;
            }
            if ctl.demand != u64::MAX && ctl.demand > 0 {
                ctl.demand -= 1;
            }
            drop(ctl);
            let v = *next;
            *next += 1;
            s.on_next(v);
            if self.has(Defect::OneTooMany) && *next < limit {
                let v = *next;
                *next += 1;
                s.on_next(v);
            }
        }
        if *next >= limit && !self.has(Defect::NeverComplete) {
            s.on_complete();
            if self.has(Defect::DoubleComplete) {
                s.on_complete();
            }
            *ended = true;
        }
    }
}

impl<S: Subscriber<u64>> Subscription for FaultySubscription<S> {
    fn request(&self, n: u64) {
        if self.has(Defect::PanicsOnHugeRequest) && n > u64::MAX / 2 {
            panic!("broken publisher: cannot count that high");
        }
        if self.has(Defect::DeadlocksOnReentrantRequest) {
            // Takes the signalling lock, which on_next's caller holds: deadlocks when re-entered.
            let _held = self.sub.lock();
        }
        let mut ctl = self.ctl.lock();
        if n == 0 {
            ctl.zero = true;
        } else if self.has(Defect::DemandWraps) {
            ctl.demand = ctl.demand.wrapping_add(n);
        } else if self.has(Defect::DemandOverflowErrors) && ctl.demand.checked_add(n).is_none() {
            ctl.cancelled = true;
            ctl.zero = true; // reuse the error path: signals on_error
        } else {
            ctl.demand = add_cap(ctl.demand, n);
        }
        if ctl.emitting {
            if self.has(Defect::LosesReentrantRequest) {
                ctl.demand -= n.min(ctl.demand);
            } else {
                ctl.missed = true;
            }
            return;
        }
        ctl.emitting = true;
        drop(ctl);
        self.drain();
    }

    fn cancel(&self) {
        let mut ctl = self.ctl.lock();
        if self.has(Defect::PanicsOnSecondCancel) && ctl.cancelled {
            drop(ctl);
            panic!("broken publisher: cancelled twice");
        }
        ctl.cancelled = true;
        if self.has(Defect::CancelSignalsError) {
            ctl.zero = true;
        }
        if ctl.emitting {
            ctl.missed = true;
            return;
        }
        ctl.emitting = true;
        drop(ctl);
        self.drain();
    }
}

fn verify(defect: Option<Defect>) -> Report {
    PublisherVerification::new(move |n| Faulty { n, defect })
        .timeouts(fast())
        .run()
}

#[test]
fn the_faulty_scaffold_without_a_defect_is_compliant() {
    // The broken publishers below differ from this one by their defect only.
    verify(None).assert_compliant();
}

#[test]
fn rule_1_1_fails_for_a_publisher_that_ignores_demand() {
    assert_fails_with(verify(Some(Defect::IgnoreDemand)), "1.1");
}

#[test]
fn rule_1_1_fails_for_a_publisher_that_emits_one_too_many() {
    assert_fails_with(verify(Some(Defect::OneTooMany)), "1.1");
}

#[test]
fn rule_1_5_fails_for_a_publisher_that_never_completes() {
    assert_fails_with(verify(Some(Defect::NeverComplete)), "1.5");
}

#[test]
fn rule_1_2_fails_for_a_publisher_that_does_not_end_when_its_data_does() {
    // Asked for 10 of 3 elements, it must deliver 3 and complete.
    assert_fails_with(verify(Some(Defect::NeverComplete)), "1.2");
}

#[test]
fn rule_3_5_3_7_and_3_15_fail_for_a_publisher_whose_repeated_cancel_panics() {
    let report = verify(Some(Defect::PanicsOnSecondCancel));
    assert_fails_with(report.clone(), "3.5");
    assert_fails_with(report.clone(), "3.15");
    assert!(report.to_string().contains("cancelled twice"), "{report}");
}

#[test]
fn rule_3_16_fails_for_a_publisher_whose_request_panics() {
    let report = verify(Some(Defect::PanicsOnHugeRequest));
    assert_fails_with(report.clone(), "3.16");
    assert!(report.to_string().contains("during `request("), "{report}");
}

#[test]
fn rule_1_5_fails_for_a_publisher_that_completes_early() {
    assert_fails_with(verify(Some(Defect::CompleteEarly)), "1.5");
}

#[test]
fn rule_1_7_fails_for_a_publisher_that_signals_after_completing() {
    assert_fails_with(verify(Some(Defect::NextAfterComplete)), "1.7");
}

#[test]
fn rule_1_7_fails_for_a_publisher_that_completes_twice() {
    assert_fails_with(verify(Some(Defect::DoubleComplete)), "1.7");
}

#[test]
fn rule_1_9_fails_for_a_publisher_that_never_signals_on_subscribe() {
    assert_fails_with(verify(Some(Defect::NoOnSubscribe)), "1.9");
}

#[test]
fn rule_1_9_fails_for_a_publisher_that_signals_on_next_before_on_subscribe() {
    assert_fails_with(verify(Some(Defect::NextBeforeSubscribe)), "1.9");
}

#[test]
fn rule_1_9_fails_for_a_publisher_that_panics_in_subscribe() {
    assert_fails_with(verify(Some(Defect::PanicsInSubscribe)), "1.9");
}

#[test]
fn rule_3_9_fails_for_a_publisher_that_ignores_request_zero() {
    assert_fails_with(verify(Some(Defect::RequestZeroIgnored)), "3.9");
}

#[test]
fn rule_3_17_fails_for_a_publisher_whose_demand_wraps_on_overflow() {
    assert_fails_with(verify(Some(Defect::DemandWraps)), "3.17");
}

#[test]
fn rule_3_17_fails_for_a_publisher_that_errors_on_demand_overflow() {
    assert_fails_with(verify(Some(Defect::DemandOverflowErrors)), "3.17");
}

#[test]
fn rule_3_2_fails_for_a_publisher_that_loses_a_request_made_from_on_next() {
    assert_fails_with(verify(Some(Defect::LosesReentrantRequest)), "3.2");
}

#[test]
fn rule_3_13_fails_for_a_publisher_that_keeps_its_subscriber_after_cancel() {
    assert_fails_with(verify(Some(Defect::KeepsSubscriber)), "3.13");
}

#[test]
fn rule_3_6_and_1_8_fail_for_a_publisher_that_ignores_cancel() {
    let report = verify(Some(Defect::IgnoresCancel));
    assert_fails_with(report.clone(), "3.6");
    assert_fails_with(report, "1.8");
}

#[test]
fn rule_3_7_fails_for_a_publisher_whose_cancel_signals_an_error() {
    assert_fails_with(verify(Some(Defect::CancelSignalsError)), "3.7");
}

#[test]
fn rule_3_3_fails_for_a_publisher_that_deadlocks_on_a_reentrant_request() {
    let report = verify(Some(Defect::DeadlocksOnReentrantRequest));
    assert_fails_with(report.clone(), "3.3");
    assert!(report.to_string().contains("did not return"), "{report}");
}

/// Emits from inside `request` with no drain guard: a request from inside on_next recurses.
/// (The subscriber sits in a re-entrant cell, so the recursion is caught, not deadlocked.)
#[derive(Clone)]
struct Recursive(u64);

impl Publisher for Recursive {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, s: S) {
        struct Sub<S> {
            n: u64,
            next: parking_lot::ReentrantMutex<std::cell::Cell<u64>>,
            s: parking_lot::ReentrantMutex<std::cell::RefCell<Option<S>>>,
        }
        impl<S: Subscriber<u64>> Subscription for Sub<S> {
            fn request(&self, n: u64) {
                let guard = self.s.lock();
                for _ in 0..n.min(self.n) {
                    let next = self.next.lock();
                    let v = next.get();
                    if v >= self.n {
                        break;
                    }
                    next.set(v + 1);
                    drop(next);
                    // Re-entering here from on_next would borrow twice: emit through a raw
                    // re-borrow per call instead, which recurses.
                    let mut cell = match guard.try_borrow_mut() {
                        Ok(c) => c,
                        Err(_) => return,
                    };
                    let Some(sub) = cell.as_mut() else { return };
                    let sub: *mut S = sub;
                    drop(cell);
                    // SAFETY: deliberately broken test publisher; the pointer targets the
                    // subscriber inside `self.s`, which lives as long as `self`, and only this
                    // thread (holding the re-entrant lock) touches it. The aliasing this
                    // creates on recursion is exactly the §3.3 violation under test, and the
                    // probe stops recursing at depth 2.
                    unsafe { (*sub).on_next(v) };
                }
            }
            fn cancel(&self) {
                self.s.lock().borrow_mut().take();
            }
        }
        let sub = Arc::new(Sub {
            n: self.0,
            next: parking_lot::ReentrantMutex::new(std::cell::Cell::new(0)),
            s: parking_lot::ReentrantMutex::new(std::cell::RefCell::new(None)),
        });
        let mut s = s;
        s.on_subscribe(sub.clone());
        *sub.s.lock().borrow_mut() = Some(s);
    }
}

#[test]
fn rule_3_3_fails_for_a_publisher_that_recurses_from_request() {
    let report = PublisherVerification::new(Recursive)
        .timeouts(fast())
        .run_check("rule_3_3_request_from_on_next_does_not_recurse");
    assert_fails_with(report, "3.3");
}

#[test]
fn rule_1_9_fails_for_a_failed_publisher_that_never_fails() {
    let report = PublisherVerification::new(|n| source::range(0, n))
        .failed_publisher(source::never::<u64>)
        .timeouts(fast())
        .run();
    assert_fails_with(report, "1.9");
}

// ===== broken subscribers =====

/// A defect to build into an otherwise correct subscriber that requests 1 at a time.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SubDefect {
    NeverRequests,
    PanicsOnNext,
    RequestsInOnComplete,
    CancelsInOnComplete,
    RequestsInOnError,
    CancelsInOnError,
    AcceptsSecondSubscription,
    PanicsOnNextAfterCancel,
    PanicsInOnComplete,
    PanicsInOnError,
}

struct FaultySubscriber {
    defect: Option<SubDefect>,
    subscription: Option<Arc<dyn Subscription>>,
    cancelled: Arc<AtomicBool>,
}

impl FaultySubscriber {
    fn new(defect: Option<SubDefect>) -> Self {
        FaultySubscriber {
            defect,
            subscription: None,
            cancelled: Arc::new(AtomicBool::new(false)),
        }
    }
    fn has(&self, d: SubDefect) -> bool {
        self.defect == Some(d)
    }
    fn cancel(&mut self) {
        self.cancelled.store(true, Ordering::SeqCst);
        if let Some(s) = &self.subscription {
            s.cancel();
        }
    }
}

impl Subscriber<u64> for FaultySubscriber {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        if self.subscription.is_some() && !self.has(SubDefect::AcceptsSecondSubscription) {
            s.cancel();
            return;
        }
        if !self.has(SubDefect::NeverRequests) {
            s.request(1);
        }
        self.subscription = Some(s);
    }
    fn on_next(&mut self, _: u64) {
        assert!(
            !self.has(SubDefect::PanicsOnNext),
            "broken subscriber: panics in on_next"
        );
        if self.cancelled.load(Ordering::SeqCst) {
            assert!(
                !self.has(SubDefect::PanicsOnNextAfterCancel),
                "but I cancelled!"
            );
            return;
        }
        if let Some(s) = &self.subscription {
            s.request(1);
        }
    }
    fn on_error(&mut self, _: Error) {
        assert!(
            !self.has(SubDefect::PanicsInOnError),
            "broken subscriber: panics in on_error"
        );
        let s = self.subscription.take();
        if let Some(s) = s {
            if self.has(SubDefect::RequestsInOnError) {
                s.request(1);
            }
            if self.has(SubDefect::CancelsInOnError) {
                s.cancel();
            }
        }
    }
    fn on_complete(&mut self) {
        assert!(
            !self.has(SubDefect::PanicsInOnComplete),
            "broken subscriber: panics in on_complete"
        );
        let s = self.subscription.take();
        if let Some(s) = s {
            if self.has(SubDefect::RequestsInOnComplete) {
                s.request(1);
            }
            if self.has(SubDefect::CancelsInOnComplete) {
                s.cancel();
            }
        }
    }
}

fn verify_subscriber(defect: Option<SubDefect>) -> Report {
    SubscriberVerification::new(move || FaultySubscriber::new(defect))
        .trigger_cancel(FaultySubscriber::cancel)
        .trigger_request(|s: &mut FaultySubscriber, n| {
            if let Some(sub) = &s.subscription {
                sub.request(n)
            }
        })
        .timeouts(fast())
        .run()
}

#[test]
fn the_faulty_subscriber_without_a_defect_is_compliant() {
    verify_subscriber(None).assert_compliant();
}

#[test]
fn rule_2_1_fails_for_a_subscriber_that_never_requests() {
    let report =
        SubscriberVerification::new(|| FaultySubscriber::new(Some(SubDefect::NeverRequests)))
            .timeouts(fast())
            .run();
    assert_fails_with(report, "2.1");
}

#[test]
fn rule_2_3_fails_for_subscribers_that_call_the_subscription_in_a_terminal_signal() {
    for d in [
        SubDefect::RequestsInOnComplete,
        SubDefect::CancelsInOnComplete,
        SubDefect::RequestsInOnError,
        SubDefect::CancelsInOnError,
    ] {
        assert_fails_with(verify_subscriber(Some(d)), "2.3");
    }
}

#[test]
fn rule_2_13_fails_for_a_subscriber_that_panics_in_on_next() {
    let report = verify_subscriber(Some(SubDefect::PanicsOnNext));
    assert_fails_with(report.clone(), "2.13");
    assert!(report.to_string().contains("panics in on_next"), "{report}");
}

#[test]
fn rule_2_5_fails_for_a_subscriber_that_accepts_a_second_subscription() {
    assert_fails_with(
        verify_subscriber(Some(SubDefect::AcceptsSecondSubscription)),
        "2.5",
    );
}

#[test]
fn rule_2_8_fails_for_a_subscriber_that_panics_on_next_after_cancel() {
    assert_fails_with(
        verify_subscriber(Some(SubDefect::PanicsOnNextAfterCancel)),
        "2.8",
    );
}

#[test]
fn rule_2_9_and_2_10_fail_for_subscribers_that_panic_on_a_terminal_signal() {
    assert_fails_with(
        verify_subscriber(Some(SubDefect::PanicsInOnComplete)),
        "2.9",
    );
    assert_fails_with(verify_subscriber(Some(SubDefect::PanicsInOnError)), "2.10");
}

// ===== broken operators =====

/// A defect to build into an otherwise correct pass-through operator.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum OpDefect {
    SwallowsErrors,
    SwallowsCompletion,
    RequestsTooLittle,
    DropsCancel,
    Duplicates,
    SwallowsRequestZero,
    DependsOnRequests,
}

struct FaultyOp {
    up: Upstream,
    defect: Option<OpDefect>,
}

struct FaultyOpSubscriber<S> {
    down: S,
    defect: Option<OpDefect>,
    slot: Arc<UpstreamSlot>,
    requests: Arc<AtomicU64>,
}

struct FaultyOpSubscription {
    defect: Option<OpDefect>,
    slot: Arc<UpstreamSlot>,
    asked: AtomicBool,
    requests: Arc<AtomicU64>,
}

impl Subscription for FaultyOpSubscription {
    fn request(&self, n: u64) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        match self.defect {
            Some(OpDefect::RequestsTooLittle) => {
                if !self.asked.swap(true, Ordering::SeqCst) {
                    self.slot.request(1)
                }
            }
            Some(OpDefect::SwallowsRequestZero) if n == 0 => {}
            _ => self.slot.request(n),
        }
    }
    fn cancel(&self) {
        if self.defect != Some(OpDefect::DropsCancel) {
            self.slot.cancel()
        }
    }
}

impl<S: Subscriber<u64>> Subscriber<u64> for FaultyOpSubscriber<S> {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        self.slot.set(s);
        self.down.on_subscribe(Arc::new(FaultyOpSubscription {
            defect: self.defect,
            slot: self.slot.clone(),
            asked: AtomicBool::new(false),
            requests: self.requests.clone(),
        }));
    }
    fn on_next(&mut self, x: u64) {
        match self.defect {
            Some(OpDefect::Duplicates) => {
                self.down.on_next(x);
                self.down.on_next(x);
            }
            // Tags each element with how many requests came so far: depends on the schedule.
            Some(OpDefect::DependsOnRequests) => self
                .down
                .on_next(x + 1_000 * self.requests.load(Ordering::SeqCst)),
            _ => self.down.on_next(x),
        }
    }
    fn on_error(&mut self, e: Error) {
        if self.defect != Some(OpDefect::SwallowsErrors) {
            self.down.on_error(e)
        }
    }
    fn on_complete(&mut self) {
        if self.defect != Some(OpDefect::SwallowsCompletion) {
            self.down.on_complete()
        }
    }
}

impl Publisher for FaultyOp {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, s: S) {
        self.up.subscribe(FaultyOpSubscriber {
            down: s,
            defect: self.defect,
            slot: Arc::new(UpstreamSlot::new()),
            requests: Arc::new(AtomicU64::new(0)),
        });
    }
}

fn verify_op(defect: Option<OpDefect>) -> Report {
    OperatorVerification::new(move |up| FaultyOp { up, defect })
        .prefetch_bound(0)
        .timeouts(fast())
        .run()
}

#[test]
fn the_faulty_operator_without_a_defect_is_compliant() {
    verify_op(None).assert_compliant();
}

#[test]
fn rule_4_2_fails_for_an_operator_that_swallows_errors() {
    assert_fails_with(verify_op(Some(OpDefect::SwallowsErrors)), "4.2");
}

#[test]
fn rule_1_5_fails_for_an_operator_that_swallows_completion() {
    assert_fails_with(verify_op(Some(OpDefect::SwallowsCompletion)), "1.5");
}

/// Requests everything from upstream and queues it without bound, serving downstream demand
/// from the queue: correct in every way except its memory, which is what the bound catches.
struct UnboundedQueue {
    up: Upstream,
}

struct Queued<S> {
    demand: Demand,
    slot: UpstreamSlot,
    cell: DrainCell<(VecDeque<u64>, Option<S>, bool)>,
}

impl<S: Subscriber<u64>> Queued<S> {
    fn drain(&self) {
        self.cell.drain(|(queue, down, done)| {
            let Some(d) = down.as_mut() else { return };
            let mut emitted = 0;
            while emitted < self.demand.get() {
                let Some(x) = queue.pop_front() else { break };
                d.on_next(x);
                emitted += 1;
            }
            self.demand.produced(emitted);
            if *done && queue.is_empty() {
                d.on_complete();
                *down = None;
            }
        });
    }
}

impl<S: Subscriber<u64>> Subscription for Queued<S> {
    fn request(&self, n: u64) {
        if n == 0 {
            self.slot.cancel();
            self.cell.drain(|(queue, down, _)| {
                queue.clear();
                if let Some(mut d) = down.take() {
                    d.on_error(Error::request_zero());
                }
            });
            return;
        }
        self.demand.add(n);
        self.drain();
    }
    fn cancel(&self) {
        self.slot.cancel();
        self.cell.drain(|(queue, down, _)| {
            queue.clear();
            *down = None;
        });
    }
}

struct QueueingSubscriber<S>(Arc<Queued<S>>);

impl<S: Subscriber<u64> + 'static> Subscriber<u64> for QueueingSubscriber<S> {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        self.0.slot.set(s);
        self.0.slot.request(u64::MAX);
    }
    fn on_next(&mut self, x: u64) {
        self.0.cell.drain(|(queue, _, _)| queue.push_back(x));
        self.0.drain();
    }
    fn on_error(&mut self, e: Error) {
        self.0.cell.drain(|(_, down, _)| {
            if let Some(mut d) = down.take() {
                d.on_error(e.clone())
            }
        });
    }
    fn on_complete(&mut self) {
        self.0.cell.drain(|(_, _, done)| *done = true);
        self.0.drain();
    }
}

impl Publisher for UnboundedQueue {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut s: S) {
        let q = Arc::new(Queued::<S> {
            demand: Demand::new(),
            slot: UpstreamSlot::new(),
            cell: DrainCell::new((VecDeque::new(), None, false)),
        });
        s.on_subscribe(q.clone());
        let mut s = Some(s);
        q.cell.drain(|(_, down, _)| *down = s.take());
        self.up.subscribe(QueueingSubscriber(q.clone()));
        q.drain();
    }
}

#[test]
fn the_demand_bound_fails_for_an_operator_with_an_unbounded_queue() {
    let report = OperatorVerification::new(|up| UnboundedQueue { up })
        .prefetch_bound(16)
        .timeouts(fast())
        .run();
    assert_fails_with(report.clone(), "K.2");
    assert!(report.to_string().contains("unbounded demand"), "{report}");
    // Every other check passes: only its memory is wrong.
    assert_eq!(report.failed_rules(), vec!["K.2".to_string()], "{report}");
    // The generated check named after §1.1 found K.2 broken too, and says why.
    let text = report.to_string();
    assert!(
        text.contains("FAILED §K.2 in op_rule_1_1_never_emits_more_than_downstream_demand"),
        "{text}"
    );
    assert!(
        text.contains("note:    this check is named after §1.1, but what it found breaks §K.2: after each generated schedule it also compares upstream's outstanding demand with downstream's"),
        "{text}"
    );
}

#[test]
fn rule_3_8_fails_for_an_operator_that_requests_too_little() {
    let report = verify_op(Some(OpDefect::RequestsTooLittle));
    assert_fails_with(report.clone(), "3.8");
    assert!(report.to_string().contains("stalled"), "{report}");
}

#[test]
fn rule_3_12_fails_for_an_operator_that_does_not_propagate_cancel() {
    assert_fails_with(verify_op(Some(OpDefect::DropsCancel)), "3.12");
}

#[test]
fn rule_1_1_fails_for_an_operator_that_emits_beyond_demand() {
    assert_fails_with(verify_op(Some(OpDefect::Duplicates)), "1.1");
}

#[test]
fn rule_3_9_fails_for_an_operator_that_swallows_request_zero() {
    assert_fails_with(verify_op(Some(OpDefect::SwallowsRequestZero)), "3.9");
}

#[test]
fn determinism_fails_for_an_operator_whose_output_depends_on_batching() {
    let report = OperatorVerification::new(|up| FaultyOp {
        up,
        defect: Some(OpDefect::DependsOnRequests),
    })
    .timeouts(fast())
    .run_check("op_output_does_not_depend_on_the_demand_schedule");
    assert_fails_with(report.clone(), "K.1");
    assert!(
        report.to_string().contains("steps to reproduce"),
        "{report}"
    );
}

#[test]
fn a_failing_generated_schedule_is_shrunk_and_printed_as_steps() {
    let report = PublisherVerification::new(|n| Faulty {
        n,
        defect: Some(Defect::OneTooMany),
    })
    .timeouts(fast())
    .run_check("rule_3_8_generated_demand_schedules");
    let text = report.to_string();
    assert!(!report.is_compliant());
    assert!(text.contains("steps to reproduce"), "{text}");
    assert!(text.contains("1. subscribe"), "{text}");
    // Shrunk: a minimal schedule is a handful of steps.
    let steps = text
        .lines()
        .filter(|l| l.trim_start().starts_with(char::is_numeric))
        .count();
    assert!(steps <= 4, "not minimal:\n{text}");
}

#[test]
fn a_noop_subscription_is_enough_for_the_kit_to_report_instead_of_hanging() {
    // A publisher that hands out a subscription that does nothing: stalls everywhere.
    #[derive(Clone)]
    struct Noop;
    impl Publisher for Noop {
        type Item = u64;
        fn subscribe<S: Subscriber<u64> + 'static>(&self, mut s: S) {
            s.on_subscribe(Arc::new(NoopSubscription));
        }
    }
    let report = PublisherVerification::new(|_| Noop).timeouts(fast()).run();
    assert_fails_with(report.clone(), "1.1");
    assert_fails_with(report.clone(), "3.9");
    assert!(report.to_string().contains("stalled"), "{report}");
}

mod processor_support;

#[test]
fn rule_4_2_fails_for_a_processor_that_swallows_errors() {
    let report =
        rstreams_tck::ProcessorVerification::new(processor_support::Identity::swallowing_errors)
            .timeouts(fast())
            .run();
    assert_fails_with(report, "4.2");
}

// ===== the plain signal path (on_next only) =====

/// A filter (drops odd elements) whose `try_on_next` is right — it returns `false` for an
/// element it drops, so the publisher sends the next one — but whose plain `on_next` drops
/// without asking for a replacement: behind a publisher that only calls `on_next`, every
/// dropped element loses a unit of demand and the stream stalls.
struct ForgetfulFilter {
    up: Upstream,
}

struct ForgetfulFilterSubscriber<S> {
    down: S,
    slot: Arc<UpstreamSlot>,
}

struct PassThrough(Arc<UpstreamSlot>);

impl Subscription for PassThrough {
    fn request(&self, n: u64) {
        self.0.request(n)
    }
    fn cancel(&self) {
        self.0.cancel()
    }
}

impl<S: Subscriber<u64>> Subscriber<u64> for ForgetfulFilterSubscriber<S> {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        self.slot.set(s);
        self.down
            .on_subscribe(Arc::new(PassThrough(self.slot.clone())));
    }
    fn on_next(&mut self, x: u64) {
        if x.is_multiple_of(2) {
            self.down.on_next(x);
        }
        // The defect: a dropped element needs `self.slot.request(1)` here.
    }
    fn try_on_next(&mut self, x: u64) -> bool {
        if x.is_multiple_of(2) {
            self.down.try_on_next(x)
        } else {
            false
        }
    }
    fn on_error(&mut self, e: Error) {
        self.down.on_error(e)
    }
    fn on_complete(&mut self) {
        self.down.on_complete()
    }
}

impl Publisher for ForgetfulFilter {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, s: S) {
        self.up.subscribe(ForgetfulFilterSubscriber {
            down: s,
            slot: Arc::new(UpstreamSlot::new()),
        });
    }
}

#[test]
fn rule_3_8_fails_on_the_plain_path_for_a_filter_whose_on_next_forgets_to_request_a_replacement() {
    // The difference the plain path makes: through try_on_next the filter delivers what is
    // asked for; through on_next alone it stalls after half.
    let probe = rstreams_tck::TestSubscriber::<u64>::new(3);
    ForgetfulFilter {
        up: Upstream::emitting(100),
    }
    .subscribe(probe.clone());
    probe.assert_values(&[0, 2, 4]);
    let probe = rstreams_tck::TestSubscriber::<u64>::new(3);
    ForgetfulFilter {
        up: Upstream::emitting(100).signalling(SignalPath::Plain),
    }
    .subscribe(probe.clone());
    probe.assert_values(&[0, 2]);

    let report = OperatorVerification::new(|up| ForgetfulFilter { up })
        .prefetch_bound(0)
        .timeouts(fast())
        .run();
    assert_fails_with(report.clone(), "3.8");
    let text = report.to_string();
    assert!(
        text.contains("on the plain path (on_next only): stalled"),
        "{text}"
    );
    assert!(!text.contains("on the conditional path"), "{text}");
    // The hint points at the cause, not at Demand::add.
    assert!(
        text.contains("must request(1) upstream to replace it"),
        "{text}"
    );
    assert!(!text.contains("Demand::add"), "{text}");
}

// ===== §2.8, black-box =====

/// Asks for 10, cancels by itself inside its third on_next (a `take(3)`), and panics on an
/// element that arrives after that, although 7 were still requested and may be in flight.
struct TakeThreeThenPanic {
    subscription: Option<Arc<dyn Subscription>>,
    received: u64,
    panic_after_cancel: bool,
}

impl Subscriber<u64> for TakeThreeThenPanic {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        if self.subscription.is_some() {
            s.cancel();
            return;
        }
        s.request(10);
        self.subscription = Some(s);
    }
    fn on_next(&mut self, _: u64) {
        self.received += 1;
        if self.received > 3 {
            assert!(!self.panic_after_cancel, "an element after I cancelled!");
            return;
        }
        if self.received == 3 {
            if let Some(s) = self.subscription.take() {
                s.cancel();
            }
        }
    }
    fn on_error(&mut self, _: Error) {}
    fn on_complete(&mut self) {}
}

#[test]
fn rule_2_8_fails_black_box_for_a_subscriber_that_panics_on_an_element_in_flight_after_its_cancel()
{
    let verify = |panic_after_cancel| {
        SubscriberVerification::new(move || TakeThreeThenPanic {
            subscription: None,
            received: 0,
            panic_after_cancel,
        })
        .timeouts(fast())
        .run()
    };
    // No triggers given: the kit serves it until it cancels by itself, then sends one more.
    let report = verify(true);
    assert_eq!(report.failed_rules(), vec!["2.8".to_string()], "{report}");
    assert!(
        report.to_string().contains("an element after I cancelled!"),
        "{report}"
    );
    // The same subscriber, ignoring the late element, passes §2.8 (checked, not skipped).
    let report = verify(false);
    report.assert_compliant();
    assert_eq!(
        report.outcome("rule_2_8_accepts_on_next_after_cancel"),
        Some(&rstreams_tck::Outcome::Passed)
    );
}

// ===== K.1 for nondeterministic operators =====

#[test]
fn k_1_fails_for_a_nondeterministic_operator_whose_elements_depend_on_the_demand_schedule() {
    // Declared nondeterministic, the check is no longer skipped: the multiset of outputs must
    // not depend on the schedule, and this operator's values do.
    let report = OperatorVerification::new(|up| FaultyOp {
        up,
        defect: Some(OpDefect::DependsOnRequests),
    })
    .nondeterministic()
    .timeouts(fast())
    .run_check("op_output_does_not_depend_on_the_demand_schedule");
    assert_fails_with(report.clone(), "K.1");
    assert!(
        report.to_string().contains("compared as multisets"),
        "{report}"
    );
}

#[test]
fn k_1_fails_for_a_lossy_operator_that_makes_up_elements() {
    // Lossy: any part of the reference passes, but not an element it never had.
    let report = OperatorVerification::new(|up| FaultyOp {
        up,
        defect: Some(OpDefect::DependsOnRequests),
    })
    .lossy()
    .timeouts(fast())
    .run_check("op_output_does_not_depend_on_the_demand_schedule");
    assert_fails_with(report.clone(), "K.1");
    assert!(
        report.to_string().contains("duplicated or made up"),
        "{report}"
    );
}

#[test]
fn rule_1_1_fails_for_a_multicast_processor_whose_faster_subscriber_runs_ahead_of_the_slower() {
    let report = rstreams_tck::ProcessorVerification::new(processor_support::Hub::running_ahead)
        .timeouts(fast())
        .run_check("proc_rule_1_1_the_slower_subscriber_holds_back_the_faster");
    assert_eq!(report.failed_rules(), vec!["1.1".to_string()], "{report}");
    assert!(
        report.to_string().contains("the faster received 10"),
        "{report}"
    );
}

#[test]
fn rule_4_2_fails_for_a_multicast_processor_that_passes_an_error_to_one_subscriber_only() {
    let report =
        rstreams_tck::ProcessorVerification::new(processor_support::Hub::error_to_first_only)
            .timeouts(fast())
            .run_check("proc_rule_4_2_an_upstream_error_reaches_both_subscribers");
    assert_eq!(report.failed_rules(), vec!["4.2".to_string()], "{report}");
    assert!(report.to_string().contains("subscriber 2 of 2"), "{report}");
}
