//! [`SubscriberVerification`]: checks a subscriber of `u64` against the rules of §2, with the
//! kit playing the publisher.
//!
//! [`SubscriberVerification`]: crate::SubscriberVerification

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rstreams_core::support::add_cap;
use rstreams_core::sync::{Condvar, Mutex};
use rstreams_core::{Error, Subscriber, Subscription};

use crate::check::{skip, CheckDef, Checked, Ctx, Failure};
use crate::schedule::Step;
use crate::verification::{sealed::Sealed, Verification};

type Make<S> = Arc<dyn Fn() -> S + Send + Sync>;
type Trigger<S> = Arc<dyn Fn(&mut S, u64) + Send + Sync>;
type Cancel<S> = Arc<dyn Fn(&mut S) + Send + Sync>;

/// The checks of a [`SubscriberVerification`](crate::SubscriberVerification) and the
/// subscribers they run against.
///
/// ```
/// use rstreams::sink::LambdaSubscriber;
/// use rstreams_tck::{SubscriberSuite, Verification};
///
/// let names = Verification::<SubscriberSuite<LambdaSubscriber<u64, fn(u64)>>>::check_names();
/// assert!(names.contains(&"rule_2_8_accepts_on_next_after_cancel"));
/// ```
pub struct SubscriberSuite<S> {
    make: Make<S>,
    trigger_request: Option<Trigger<S>>,
    trigger_cancel: Option<Cancel<S>>,
}

impl<S: Subscriber<u64> + 'static> Verification<SubscriberSuite<S>> {
    /// Verifies the subscribers `make` returns: the kit plays the publisher, records every
    /// `request` and `cancel`, and watches the subscriber's calls.
    ///
    /// Black-box by default. For a subscriber that only requests or cancels when told to
    /// (driven by the application), give the white-box triggers
    /// [`trigger_request`](Self::trigger_request) and [`trigger_cancel`](Self::trigger_cancel);
    /// the checks that need them are skipped without.
    ///
    /// ```
    /// use rstreams::sink;
    /// use rstreams_tck::SubscriberVerification;
    ///
    /// SubscriberVerification::new(|| sink::for_each(|_: u64| {}).batch(4))
    ///     .run()
    ///     .assert_compliant();
    /// ```
    pub fn new(make: impl Fn() -> S + Send + Sync + 'static) -> Self {
        Verification::with(SubscriberSuite {
            make: Arc::new(make),
            trigger_request: None,
            trigger_cancel: None,
        })
    }

    /// White-box: how to make the subscriber request `n` more (as its application would).
    ///
    /// ```
    /// use rstreams_tck::{SubscriberVerification, TestSubscriber};
    ///
    /// SubscriberVerification::new(|| TestSubscriber::<u64>::new(1))
    ///     .trigger_request(|s, n| s.request(n))
    ///     .run_check("rule_3_8_triggered_request_reaches_the_subscription")
    ///     .assert_compliant();
    /// ```
    pub fn trigger_request(mut self, f: impl Fn(&mut S, u64) + Send + Sync + 'static) -> Self {
        self.suite_mut().trigger_request = Some(Arc::new(f));
        self
    }

    /// White-box: how to make the subscriber cancel (as its application would).
    ///
    /// ```
    /// use rstreams_tck::{SubscriberVerification, TestSubscriber};
    ///
    /// SubscriberVerification::new(|| TestSubscriber::<u64>::new(4))
    ///     .trigger_cancel(|s| s.cancel())
    ///     .run_check("rule_2_8_accepts_on_next_after_cancel")
    ///     .assert_compliant();
    /// ```
    pub fn trigger_cancel(mut self, f: impl Fn(&mut S) + Send + Sync + 'static) -> Self {
        self.suite_mut().trigger_cancel = Some(Arc::new(f));
        self
    }
}

impl<S: Subscriber<u64> + 'static> Sealed for SubscriberSuite<S> {
    const SUBJECT: &'static str = "subscriber";

    fn defs() -> Vec<CheckDef<Self>> {
        checks()
    }

    fn coverage() -> (&'static [&'static str], &'static [&'static str]) {
        // Every signal runs under the check's deadline with panics caught.
        (&["2."], &["2.13"])
    }

    fn describe(&self, f: &mut fmt::DebugStruct<'_, '_>) {
        f.field("whitebox_request", &self.trigger_request.is_some())
            .field("whitebox_cancel", &self.trigger_cancel.is_some());
    }
}

fn checks<S: Subscriber<u64> + 'static>() -> Vec<CheckDef<SubscriberSuite<S>>> {
    type D<S> = CheckDef<SubscriberSuite<S>>;
    vec![
        D::new("rule_2_1_signals_demand_with_request", "2.1", rule_2_1),
        D::new(
            "rule_2_3_on_complete_does_not_call_the_subscription",
            "2.3",
            rule_2_3_complete,
        ),
        D::new(
            "rule_2_3_on_error_does_not_call_the_subscription",
            "2.3",
            rule_2_3_error,
        ),
        D::new(
            "rule_2_5_a_second_subscription_is_cancelled",
            "2.5",
            rule_2_5,
        ),
        D::new("rule_2_8_accepts_on_next_after_cancel", "2.8", rule_2_8),
        D::new(
            "rule_2_9_accepts_on_complete_without_request",
            "2.9",
            rule_2_9_without,
        ),
        D::new(
            "rule_2_9_accepts_on_complete_after_request",
            "2.9",
            rule_2_9_after,
        ),
        D::new(
            "rule_2_10_accepts_on_error_without_request",
            "2.10",
            rule_2_10_without,
        ),
        D::new(
            "rule_2_10_accepts_on_error_after_request",
            "2.10",
            rule_2_10_after,
        ),
        D::new(
            "rule_3_8_triggered_request_reaches_the_subscription",
            "3.8",
            rule_3_8,
        ),
    ]
}

// ===== the kit's publisher side =====

thread_local! {
    /// The terminal signal the kit is delivering on this thread, if any (§2.3).
    static IN_TERMINAL: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// The subscription the kit hands to the subscriber under test.
struct ManualSubscription {
    state: Mutex<Manual>,
    changed: Condvar,
}

#[derive(Default)]
struct Manual {
    requested: u64,
    requests: Vec<u64>,
    cancelled: bool,
    misuse: Vec<String>,
}

impl ManualSubscription {
    fn new() -> Arc<Self> {
        Arc::new(ManualSubscription {
            state: Mutex::new(Manual::default()),
            changed: Condvar::new(),
        })
    }

    fn wait(&self, timeout: Duration, done: impl Fn(&Manual) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock();
        while !done(&state) {
            if self.changed.wait_until(&mut state, deadline) {
                return done(&state);
            }
        }
        true
    }

    fn requested(&self) -> u64 {
        self.state.lock().requested
    }

    fn cancelled(&self) -> bool {
        self.state.lock().cancelled
    }
}

impl Subscription for ManualSubscription {
    fn request(&self, n: u64) {
        let mut state = self.state.lock();
        if let Some(signal) = IN_TERMINAL.with(Cell::get) {
            state
                .misuse
                .push(format!("request({n}) was called from inside {signal}"));
        }
        state.requests.push(n);
        state.requested = add_cap(state.requested, n);
        drop(state);
        self.changed.notify_all();
    }

    fn cancel(&self) {
        let mut state = self.state.lock();
        if let Some(signal) = IN_TERMINAL.with(Cell::get) {
            state
                .misuse
                .push(format!("cancel() was called from inside {signal}"));
        }
        state.cancelled = true;
        drop(state);
        self.changed.notify_all();
    }
}

/// The subscriber under test, driven by the kit.
struct Driver<'a, S> {
    s: S,
    ctx: &'a Arc<Ctx>,
    sub: Arc<ManualSubscription>,
    sent: u64,
    /// The rule a panicking signal breaks in this check (§2.13 unless the check is about the
    /// signal itself, as §2.8, §2.9 and §2.10 are).
    rule: &'static str,
}

impl<'a, S: Subscriber<u64>> Driver<'a, S> {
    fn new(subject: &SubscriberSuite<S>, ctx: &'a Arc<Ctx>) -> Self {
        let s = ctx.call("the subscriber factory", "2.13", || (subject.make)());
        Driver {
            s,
            ctx,
            sub: ManualSubscription::new(),
            sent: 0,
            rule: "2.13",
        }
    }

    fn subscribe(&mut self) {
        self.ctx.step(Step::Subscribe);
        let sub: Arc<dyn Subscription> = self.sub.clone();
        let s = &mut self.s;
        self.ctx
            .call("on_subscribe", "2.13", || s.on_subscribe(sub));
    }

    fn next(&mut self) {
        let x = self.sent;
        self.sent += 1;
        self.ctx.step(Step::SendNext(x));
        let s = &mut self.s;
        self.ctx
            .call(format!("on_next({x})"), self.rule, || s.on_next(x));
    }

    fn complete(&mut self) {
        self.ctx.step(Step::SendComplete);
        let s = &mut self.s;
        IN_TERMINAL.with(|t| t.set(Some("on_complete")));
        self.ctx.call("on_complete", self.rule, || s.on_complete());
        IN_TERMINAL.with(|t| t.set(None));
    }

    fn error(&mut self) {
        self.ctx.step(Step::SendError);
        let s = &mut self.s;
        IN_TERMINAL.with(|t| t.set(Some("on_error")));
        self.ctx.call("on_error", self.rule, || {
            s.on_error(Error::msg("tck: test error"))
        });
        IN_TERMINAL.with(|t| t.set(None));
    }

    /// Waits for the subscriber to request; `false` if it did not within the timeout.
    fn await_request(&self, total: u64) -> bool {
        self.sub
            .wait(self.ctx.signal(), |m| m.requested >= total || m.cancelled)
            && self.sub.requested() >= total
    }

    fn misuse(&self, rule: &'static str) -> Result<(), Failure> {
        let first = self.sub.state.lock().misuse.first().cloned();
        match first {
            Some(m) => Err(self.ctx.fail(rule, m)),
            None => Ok(()),
        }
    }

    fn fail(&self, rule: &'static str, message: impl Into<String>) -> Failure {
        self.ctx.fail(rule, message)
    }
}

// ===== checks =====

/// Serves what the subscriber asks for, up to `max` elements, never beyond its demand, until
/// it cancels or stops asking.
fn serve<S: Subscriber<u64>>(d: &mut Driver<'_, S>, max: u64) {
    while d.sent < max && !d.sub.cancelled() {
        if d.sent < d.sub.requested() {
            d.next();
        } else if !d
            .sub
            .wait(d.ctx.quiet(), |m| m.requested > d.sent || m.cancelled)
        {
            break;
        }
    }
}

fn rule_2_1<S: Subscriber<u64>>(subject: &SubscriberSuite<S>, ctx: &Arc<Ctx>) -> Checked {
    let mut d = Driver::new(subject, ctx);
    d.subscribe();
    if let Some(trigger) = &subject.trigger_request {
        trigger(&mut d.s, 1);
    }
    if !d.await_request(1) {
        return Err(d
            .fail(
                "2.1",
                format!(
                    "the subscriber did not call request(n) within {:?} of on_subscribe",
                    ctx.signal()
                ),
            )
            .waited()
            .into());
    }
    serve(&mut d, 512);
    if !d.sub.cancelled() {
        d.complete();
    }
    Ok(d.misuse("2.3")?)
}

fn rule_2_3_complete<S: Subscriber<u64>>(subject: &SubscriberSuite<S>, ctx: &Arc<Ctx>) -> Checked {
    let mut d = Driver::new(subject, ctx);
    d.subscribe();
    d.await_request(1);
    if d.sub.requested() > 0 {
        d.next();
    }
    d.complete();
    Ok(d.misuse("2.3")?)
}

fn rule_2_3_error<S: Subscriber<u64>>(subject: &SubscriberSuite<S>, ctx: &Arc<Ctx>) -> Checked {
    let mut d = Driver::new(subject, ctx);
    d.subscribe();
    d.await_request(1);
    if d.sub.requested() > 0 {
        d.next();
    }
    d.error();
    Ok(d.misuse("2.3")?)
}

fn rule_2_5<S: Subscriber<u64>>(subject: &SubscriberSuite<S>, ctx: &Arc<Ctx>) -> Checked {
    let mut d = Driver::new(subject, ctx);
    d.subscribe();
    let second = ManualSubscription::new();
    ctx.step(Step::SendSecondSubscription);
    let s2: Arc<dyn Subscription> = second.clone();
    let s = &mut d.s;
    ctx.call("on_subscribe (second)", "2.13", || s.on_subscribe(s2));
    if !second.wait(ctx.signal(), |m| m.cancelled) {
        return Err(d
            .fail(
                "2.5",
                format!(
                    "a second subscription, offered while the first was active, was not cancelled within {:?}",
                    ctx.signal()
                ),
            )
            .waited()
            .into());
    }
    let requested = second.requested();
    if requested > 0 {
        return Err(d
            .fail(
                "2.5",
                format!("the second subscription was asked for {requested} before being cancelled"),
            )
            .into());
    }
    Ok(())
}

/// §2.8: an element already in flight when the subscriber cancelled arrives after the cancel.
///
/// White-box, with `trigger_cancel`: the kit has the subscriber cancel while demand is
/// outstanding. Black-box, without it: the kit serves the subscriber's demand until it cancels
/// by itself (a `take`-like subscriber), then delivers one more element of the demand it had
/// asked for. Skipped when the subscriber never cancels by itself and no trigger was given.
fn rule_2_8<S: Subscriber<u64>>(subject: &SubscriberSuite<S>, ctx: &Arc<Ctx>) -> Checked {
    let mut d = Driver::new(subject, ctx);
    d.subscribe();
    if let Some(trigger) = &subject.trigger_request {
        trigger(&mut d.s, 2);
    }
    if !d.await_request(1) {
        if subject.trigger_cancel.is_none() {
            return skip("the subscriber never requested, so nothing can be in flight");
        }
        return Err(d
            .fail("2.1", "the subscriber never requested")
            .waited()
            .into());
    }
    match &subject.trigger_cancel {
        Some(cancel) => {
            ctx.step(Step::Cancel);
            d.rule = "2.8";
            cancel(&mut d.s);
            if !d.sub.wait(ctx.signal(), |m| m.cancelled) {
                return Err(d
                    .fail("2.8", "trigger_cancel did not cancel the subscription")
                    .waited()
                    .into());
            }
        }
        None => {
            serve(&mut d, 512);
            if !d.sub.cancelled() {
                return skip(format!(
                    "the subscriber did not cancel by itself within {} elements; give trigger_cancel to check §2.8",
                    d.sent
                ));
            }
            d.rule = "2.8";
        }
    }
    if d.sub.requested() <= d.sent {
        return skip(format!(
            "the subscriber cancelled with no demand pending ({} requested, {} sent), so nothing could be in flight",
            d.sub.requested(),
            d.sent
        ));
    }
    // An element that was already in flight (requested, not yet sent) arrives after the cancel.
    d.next();
    Ok(())
}

fn rule_2_9_without<S: Subscriber<u64>>(subject: &SubscriberSuite<S>, ctx: &Arc<Ctx>) -> Checked {
    let mut d = Driver::new(subject, ctx);
    d.rule = "2.9";
    d.subscribe();
    d.complete();
    Ok(d.misuse("2.3")?)
}

fn rule_2_9_after<S: Subscriber<u64>>(subject: &SubscriberSuite<S>, ctx: &Arc<Ctx>) -> Checked {
    let mut d = Driver::new(subject, ctx);
    d.rule = "2.9";
    d.subscribe();
    if let Some(trigger) = &subject.trigger_request {
        trigger(&mut d.s, 1);
    }
    if !d.await_request(1) {
        return skip("the subscriber never requested, so this case cannot arise");
    }
    d.complete();
    Ok(d.misuse("2.3")?)
}

fn rule_2_10_without<S: Subscriber<u64>>(subject: &SubscriberSuite<S>, ctx: &Arc<Ctx>) -> Checked {
    let mut d = Driver::new(subject, ctx);
    d.rule = "2.10";
    d.subscribe();
    d.error();
    Ok(d.misuse("2.3")?)
}

fn rule_2_10_after<S: Subscriber<u64>>(subject: &SubscriberSuite<S>, ctx: &Arc<Ctx>) -> Checked {
    let mut d = Driver::new(subject, ctx);
    d.rule = "2.10";
    d.subscribe();
    if let Some(trigger) = &subject.trigger_request {
        trigger(&mut d.s, 1);
    }
    if !d.await_request(1) {
        return skip("the subscriber never requested, so this case cannot arise");
    }
    d.error();
    Ok(d.misuse("2.3")?)
}

fn rule_3_8<S: Subscriber<u64>>(subject: &SubscriberSuite<S>, ctx: &Arc<Ctx>) -> Checked {
    let Some(trigger) = &subject.trigger_request else {
        return skip("needs trigger_request (white-box)");
    };
    let mut d = Driver::new(subject, ctx);
    d.subscribe();
    let before = d.sub.requested();
    ctx.step(Step::Request(3));
    trigger(&mut d.s, 3);
    if before != u64::MAX && !d.await_request(add_cap(before, 3)) {
        return Err(d
            .fail(
                "3.8",
                format!(
                    "trigger_request(3) did not raise the requested total from {before} to at least {} within {:?}",
                    add_cap(before, 3),
                    ctx.signal()
                ),
            )
            .waited()
            .into());
    }
    Ok(())
}
