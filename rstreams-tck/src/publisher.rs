//! [`PublisherVerification`]: checks a publisher against every testable rule of §1 and §3.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rstreams_core::Publisher;

use crate::check::{run_checks, CheckDef, Ctx, Failure, Verdict};
use crate::env::Timeouts;
use crate::recorder::{InNext, Recorder};
use crate::report::Report;
use crate::rules::{RuleKind, RULES};
use crate::schedule::{cases, demand_schedule, Step};

type Subscribe<T> = Box<dyn Fn(Recorder<T>)>;
type Factory<T> = Arc<dyn Fn(u64) -> Subscribe<T> + Send + Sync>;

/// Verifies a publisher: give it a factory that makes a publisher emitting exactly `elements`
/// elements and then completing.
///
/// ```
/// use rstreams_core::{source, Error};
/// use rstreams_tck::PublisherVerification;
///
/// let report = PublisherVerification::new(|elements| source::range(0, elements))
///     .failed_publisher(|| source::fail::<u64>(Error::msg("down")))
///     .run();
/// report.assert_compliant();
/// ```
///
/// Each check runs on its own thread under a deadline (see [`Timeouts`]): a publisher that
/// deadlocks, loops or panics fails the check that caught it, with the rule it breaks; the kit
/// itself does not hang or crash. Checks run concurrently; a synchronous publisher's whole
/// suite takes well under a second.
pub struct PublisherVerification<T> {
    subject: Arc<Subject<T>>,
    timeouts: Timeouts,
}

struct Subject<T> {
    make: Factory<T>,
    failed: Option<Factory<T>>,
    max_elements: u64,
}

impl<T> std::fmt::Debug for PublisherVerification<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublisherVerification")
            .field("max_elements", &self.subject.max_elements)
            .field("failed_publisher", &self.subject.failed.is_some())
            .field("timeouts", &self.timeouts)
            .finish()
    }
}

fn erase<T, P, F>(factory: F) -> Factory<T>
where
    T: Send + 'static,
    F: Fn(u64) -> P + Send + Sync + 'static,
    P: Publisher<Item = T> + 'static,
{
    Arc::new(move |n| {
        let publisher = factory(n);
        Box::new(move |subscriber: Recorder<T>| publisher.subscribe(subscriber))
    })
}

impl<T: Send + 'static> PublisherVerification<T> {
    /// Verifies the publishers `factory` makes: `factory(elements)` must emit exactly
    /// `elements` elements (as demand allows) and then complete.
    pub fn new<F, P>(factory: F) -> Self
    where
        F: Fn(u64) -> P + Send + Sync + 'static,
        P: Publisher<Item = T> + 'static,
    {
        PublisherVerification {
            subject: Arc::new(Subject {
                make: erase(factory),
                failed: None,
                max_elements: u64::MAX - 1,
            }),
            timeouts: Timeouts::from_env(),
        }
    }

    /// A publisher that fails: signals `on_subscribe`, then `on_error`. Enables the checks of
    /// §1.4 and §1.9's rejection path; without it they are skipped.
    pub fn failed_publisher<G, Q>(mut self, factory: G) -> Self
    where
        G: Fn() -> Q + Send + Sync + 'static,
        Q: Publisher<Item = T> + 'static,
    {
        self.subject_mut().failed = Some(erase(move |_| factory()));
        self
    }

    /// The largest `elements` the factory supports; checks that need more are skipped.
    pub fn max_elements(mut self, max: u64) -> Self {
        self.subject_mut().max_elements = max;
        self
    }

    /// Replaces the timeouts read from the environment.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    fn subject_mut(&mut self) -> &mut Subject<T> {
        Arc::get_mut(&mut self.subject).expect("configured before running")
    }

    /// Runs every check.
    pub fn run(&self) -> Report {
        self.report(None)
    }

    /// Runs the check named `name` only (see [`check_names`](Self::check_names)).
    ///
    /// # Panics
    ///
    /// When no check has that name.
    pub fn run_check(&self, name: &str) -> Report {
        self.report(Some(name))
    }

    /// The names of the checks, in the order they are reported.
    pub fn check_names() -> Vec<&'static str> {
        checks::<T>().iter().map(|c| c.name).collect()
    }

    fn report(&self, only: Option<&str>) -> Report {
        let defs = checks::<T>();
        let checks = run_checks(&self.subject, &defs, self.timeouts, only);
        let mut covered: Vec<&str> = defs.iter().map(|d| d.rule).collect();
        // Every call into the publisher runs under the check's deadline with panics caught.
        covered.extend(["3.15", "3.16"]);
        Report {
            subject: "publisher".into(),
            checks,
            not_checked: not_checked(&["1.", "3."], &covered),
        }
    }
}

/// The rules of the given sections that no check covers.
pub(crate) fn not_checked(sections: &[&str], covered: &[&str]) -> Vec<&'static str> {
    RULES
        .iter()
        .filter(|r| sections.iter().any(|s| r.id.starts_with(s)))
        .filter(|r| !covered.contains(&r.id))
        .map(|r| r.id)
        .collect()
}

fn checks<T: Send + 'static>() -> Vec<CheckDef<Subject<T>>> {
    fn def<T>(
        name: &'static str,
        rule: &'static str,
        run: fn(&Subject<T>, &Arc<Ctx>) -> Verdict,
    ) -> CheckDef<Subject<T>> {
        CheckDef {
            name,
            rule,
            kind: None,
            run,
        }
    }
    let mut empty = def("rule_1_5_empty_publisher_completes", "1.5", empty_completes);
    empty.kind = Some(RuleKind::Optional);
    vec![
        def("rule_1_1_emits_no_more_than_requested", "1.1", rule_1_1),
        def(
            "rule_1_2_may_signal_fewer_than_requested_then_complete",
            "1.2",
            rule_1_2,
        ),
        def("rule_1_3_signals_are_serial", "1.3", rule_1_3),
        def(
            "rule_1_4_failed_publisher_signals_on_error",
            "1.4",
            rule_1_4,
        ),
        def("rule_1_5_completes_after_the_last_element", "1.5", rule_1_5),
        empty,
        def(
            "rule_1_6_terminal_signal_releases_the_subscriber",
            "1.6",
            rule_1_6,
        ),
        def("rule_1_7_nothing_follows_on_complete", "1.7", rule_1_7),
        def(
            "rule_1_8_cancel_under_unbounded_demand_stops_signals",
            "1.8",
            rule_1_8,
        ),
        def(
            "rule_1_9_on_subscribe_comes_first_and_once",
            "1.9",
            rule_1_9,
        ),
        def(
            "rule_1_9_failed_publisher_signals_on_subscribe_then_on_error",
            "1.9",
            rule_1_9_failed,
        ),
        def("rule_1_11_supports_several_subscribers", "1.11", rule_1_11),
        def(
            "rule_3_2_request_from_on_subscribe_and_on_next_is_allowed",
            "3.2",
            rule_3_2,
        ),
        def(
            "rule_3_3_request_from_on_next_does_not_recurse",
            "3.3",
            rule_3_3,
        ),
        def(
            "rule_3_5_cancel_from_several_threads_is_safe",
            "3.5",
            rule_3_5,
        ),
        def(
            "rule_3_6_request_after_cancel_does_nothing",
            "3.6",
            rule_3_6,
        ),
        def("rule_3_7_cancel_after_cancel_does_nothing", "3.7", rule_3_7),
        def(
            "rule_3_8_demand_from_several_threads_is_never_lost",
            "3.8",
            rule_3_8,
        ),
        def(
            "rule_3_8_generated_demand_schedules",
            "3.8",
            generated_schedules,
        ),
        def("rule_3_9_request_zero_signals_error", "3.9", rule_3_9),
        optional(def(
            "rule_3_9_error_names_the_rule",
            "3.9",
            rule_3_9_message,
        )),
        def("rule_3_12_cancel_stops_signals", "3.12", rule_3_12),
        def(
            "rule_3_13_cancel_releases_the_subscriber",
            "3.13",
            rule_3_13,
        ),
        def(
            "rule_3_17_unbounded_demand_is_supported",
            "3.17",
            rule_3_17_unbounded,
        ),
        def(
            "rule_3_17_cumulative_demand_up_to_u64_max",
            "3.17",
            rule_3_17_cumulative,
        ),
        def(
            "rule_3_17_demand_beyond_u64_max_is_not_an_error",
            "3.17",
            rule_3_17_overflow,
        ),
    ]
}

fn optional<V>(mut d: CheckDef<V>) -> CheckDef<V> {
    d.kind = Some(RuleKind::Optional);
    d
}

// ===== helpers =====

impl<T: Send + 'static> Subject<T> {
    /// Makes a publisher of `n` and subscribes a new recorder; `Err(skip)` when `n` exceeds
    /// `max_elements`.
    fn start(
        &self,
        ctx: &Arc<Ctx>,
        n: u64,
        initial: u64,
        configure: impl FnOnce(&Recorder<T>),
        rule: &'static str,
    ) -> Result<(Recorder<T>, Weak<()>), Verdict> {
        if n > self.max_elements {
            return Err(Verdict::Skip(format!(
                "needs a publisher of {n} elements; max_elements is {}",
                self.max_elements
            )));
        }
        let rec = Recorder::new(initial, Some(Arc::clone(ctx)));
        rec.set_limit(n, rule);
        configure(&rec);
        let (subscriber, weak) = rec.subscriber();
        ctx.step(Step::Subscribe);
        let subscribe = (self.make)(n);
        ctx.call("subscribe", "1.9", || subscribe(subscriber));
        await_subscribed(&rec, ctx)?;
        Ok((rec, weak))
    }
}

macro_rules! start {
    ($s:expr, $ctx:expr, $n:expr, $initial:expr, $rule:expr) => {
        start!($s, $ctx, $n, $initial, $rule, |_| {})
    };
    ($s:expr, $ctx:expr, $n:expr, $initial:expr, $rule:expr, $configure:expr) => {
        match $s.start($ctx, $n, $initial, $configure, $rule) {
            Ok(started) => started,
            Err(skip) => return skip,
        }
    };
}

/// Waits for `on_subscribe` (it may come asynchronously); its absence fails §1.9.
fn await_subscribed<T>(rec: &Recorder<T>, ctx: &Ctx) -> Result<(), Verdict> {
    if rec.wait_until(ctx.timeouts.signal, |s| s.subscribe_count > 0) {
        return Ok(());
    }
    Err(Verdict::Fail(rec.failure(
        "1.9",
        format!(
            "no on_subscribe within {:?} of subscribe",
            ctx.timeouts.signal
        ),
    )))
}

/// Fails with the first violation the recorder saw, if any.
fn clean<T>(rec: &Recorder<T>) -> Result<(), Failure> {
    match rec.first_violation() {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

/// Waits for `n` elements in total; a stall or an early end is a failure.
fn expect_count<T>(
    rec: &Recorder<T>,
    ctx: &Ctx,
    n: u64,
    rule: &'static str,
) -> Result<(), Failure> {
    let t = ctx.timeouts.signal;
    rec.wait_progress(t, |s| s.received >= n || s.complete || s.error.is_some());
    clean(rec)?;
    let got = rec.received();
    if got >= n {
        return Ok(());
    }
    if rec.is_terminated() {
        return Err(rec.failure(
            rule,
            format!(
                "ended after {got} elements, expected {n} ({})",
                rec.summary()
            ),
        ));
    }
    Err(rec.failure(
        rule,
        format!(
            "stalled: expected {n} elements; {}; no signal for {t:?}",
            rec.summary()
        ),
    ))
}

/// Waits for `on_complete`; anything else is a failure of `rule`.
fn expect_complete<T>(rec: &Recorder<T>, ctx: &Ctx, rule: &'static str) -> Result<(), Failure> {
    let t = ctx.timeouts.signal;
    rec.wait_until(t, |s| s.complete || s.error.is_some());
    clean(rec)?;
    let state = rec.lock();
    if state.complete {
        return Ok(());
    }
    let e = state.error.clone();
    drop(state);
    Err(match e {
        Some(e) => rec.failure(rule, format!("expected on_complete, got on_error: {e}")),
        None => rec.failure(
            rule,
            format!("no on_complete within {t:?} ({})", rec.summary()),
        ),
    })
}

/// Lets in-flight signals land (until the stream is quiet for one window, within the signal
/// timeout), then fails with any violation they brought: an element beyond demand, a signal
/// after the end. A legitimate late signal (an asynchronous on_complete) is no failure.
fn expect_quiet<T>(rec: &Recorder<T>, ctx: &Ctx, rule: &'static str) -> Result<(), Failure> {
    expect_settles(rec, ctx, rule)
}

/// Waits until signals stop (a quiet window within the signal timeout).
fn expect_settles<T>(rec: &Recorder<T>, ctx: &Ctx, rule: &'static str) -> Result<(), Failure> {
    let deadline = Instant::now() + ctx.timeouts.signal;
    while !rec.quiet_for(ctx.timeouts.quiet) {
        clean(rec)?;
        if Instant::now() > deadline {
            return Err(rec.failure(
                rule,
                format!(
                    "still signalling {:?} after cancel ({})",
                    ctx.timeouts.signal,
                    rec.summary()
                ),
            ));
        }
    }
    clean(rec)
}

/// `threads` threads at once, each calling `request(1)` `each` times; returns when all are done.
fn storm<T: Send + 'static>(rec: &Recorder<T>, threads: usize, each: u64) {
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let r = rec.clone();
            std::thread::spawn(move || {
                for _ in 0..each {
                    r.request_from_thread_quiet(1);
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
}

/// Waits until the publisher has dropped the subscriber.
fn expect_released(weak: &Weak<()>, ctx: &Ctx) -> bool {
    let deadline = Instant::now() + ctx.timeouts.signal;
    while weak.strong_count() > 0 {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    true
}

// ===== checks =====

fn rule_1_1<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let (rec, _) = start!(s, ctx, 5, 0, "1.1");
    (|| {
        expect_quiet(&rec, ctx, "1.1")?;
        if rec.received() > 0 {
            return Err(rec.failure("1.1", "emitted before any request"));
        }
        rec.request(1);
        expect_count(&rec, ctx, 1, "1.1")?;
        expect_quiet(&rec, ctx, "1.1")?;
        rec.request(2);
        expect_count(&rec, ctx, 3, "1.1")?;
        expect_quiet(&rec, ctx, "1.1")
    })()
    .into()
}

fn rule_1_2<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let (rec, _) = start!(s, ctx, 3, 10, "1.2");
    (|| {
        expect_count(&rec, ctx, 3, "1.2")?;
        expect_complete(&rec, ctx, "1.2")?;
        expect_quiet(&rec, ctx, "1.2")
    })()
    .into()
}

fn rule_1_3<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let n = 10.min(s.max_elements);
    for _ in 0..20 {
        let (rec, _) = start!(s, ctx, n, 0, "1.1");
        rec.arm(InNext::Request(1));
        storm(&rec, 2, n);
        if let Err(f) = expect_count(&rec, ctx, n, "1.3") {
            return Verdict::Fail(f);
        }
        if let Some(f) = rec.first_violation() {
            return Verdict::Fail(f);
        }
    }
    Verdict::Pass
}

fn rule_1_4<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let Some(failed) = &s.failed else {
        return Verdict::Skip("no failed_publisher given".into());
    };
    let rec = Recorder::<T>::new(0, Some(Arc::clone(ctx)));
    let (subscriber, _) = rec.subscriber();
    ctx.step(Step::Subscribe);
    let subscribe = failed(0);
    ctx.call("subscribe (failed publisher)", "1.9", || {
        subscribe(subscriber)
    });
    rec.wait_until(ctx.timeouts.signal, |s| s.complete || s.error.is_some());
    (|| {
        clean(&rec)?;
        if rec.lock().error.is_none() {
            return Err(rec.failure(
                "1.4",
                format!(
                    "the failed publisher did not signal on_error within {:?} ({})",
                    ctx.timeouts.signal,
                    rec.summary()
                ),
            ));
        }
        expect_quiet(&rec, ctx, "1.7")
    })()
    .into()
}

fn rule_1_5<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let (rec, _) = start!(s, ctx, 3, 0, "1.5");
    (|| {
        for i in 1..=3 {
            rec.request(1);
            expect_count(&rec, ctx, i, "1.5")?;
        }
        if !rec.is_terminated() {
            // A publisher may need one more request to find out it is done.
            rec.request(1);
        }
        expect_complete(&rec, ctx, "1.5")?;
        expect_quiet(&rec, ctx, "1.7")
    })()
    .into()
}

fn empty_completes<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let (rec, _) = start!(s, ctx, 0, 0, "1.5");
    (|| {
        if !rec.is_terminated() {
            rec.request(1);
        }
        expect_complete(&rec, ctx, "1.5")?;
        expect_quiet(&rec, ctx, "1.7")
    })()
    .into()
}

fn rule_1_6<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let (rec, weak) = start!(s, ctx, 3, u64::MAX, "1.6");
    (|| {
        expect_complete(&rec, ctx, "1.5")?;
        if !expect_released(&weak, ctx) {
            return Err(rec.failure(
                "1.6",
                format!(
                    "the subscriber was still referenced {:?} after on_complete",
                    ctx.timeouts.signal
                ),
            ));
        }
        Ok(())
    })()
    .into()
}

fn rule_1_7<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let (rec, _) = start!(s, ctx, 1, 10, "1.7");
    (|| {
        expect_count(&rec, ctx, 1, "1.7")?;
        expect_complete(&rec, ctx, "1.7")?;
        rec.request(10);
        expect_quiet(&rec, ctx, "1.7")
    })()
    .into()
}

fn rule_1_8<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    // A publisher may notice cancel late, but not this late.
    const SKID: u64 = 1024;
    let n = s.max_elements.min(10_000);
    if n < 2 {
        return Verdict::Skip("needs a publisher of at least 2 elements".into());
    }
    let cancel_at = (n / 2).min(10);
    let (rec, _) = start!(s, ctx, n, u64::MAX, "1.8", |r| r
        .set_cancel_after(cancel_at));
    (|| {
        expect_count(&rec, ctx, cancel_at, "1.8")?;
        expect_settles(&rec, ctx, "1.8")?;
        let after = rec.received() - cancel_at;
        if after > SKID {
            return Err(rec.failure(
                "1.8",
                format!("{after} elements after cancel under unbounded demand: cancel was ignored"),
            ));
        }
        Ok(())
    })()
    .into()
}

fn rule_1_9<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let n = 1.min(s.max_elements);
    let (rec, _) = start!(s, ctx, n, 0, "1.9");
    (|| {
        if !rec.wait_until(ctx.timeouts.signal, |s| s.subscribe_count > 0) {
            clean(&rec)?;
            return Err(rec.failure(
                "1.9",
                format!("no on_subscribe within {:?}", ctx.timeouts.signal),
            ));
        }
        expect_quiet(&rec, ctx, "1.9")
    })()
    .into()
}

fn rule_1_9_failed<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let Some(failed) = &s.failed else {
        return Verdict::Skip("no failed_publisher given".into());
    };
    let rec = Recorder::<T>::new(0, Some(Arc::clone(ctx)));
    let (subscriber, _) = rec.subscriber();
    ctx.step(Step::Subscribe);
    let subscribe = failed(0);
    ctx.call("subscribe (failed publisher)", "1.9", || {
        subscribe(subscriber)
    });
    rec.wait_until(ctx.timeouts.signal, |s| s.error.is_some() || s.complete);
    (|| {
        clean(&rec)?;
        let state = rec.lock();
        let (subscribed, failed) = (state.subscribe_count, state.error.is_some());
        drop(state);
        if subscribed != 1 || !failed {
            return Err(rec.failure(
                "1.9",
                format!(
                    "a rejected subscription must see on_subscribe once, then on_error; saw {subscribed} on_subscribe, {}",
                    rec.summary()
                ),
            ));
        }
        Ok(())
    })()
    .into()
}

fn rule_1_11<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    if s.max_elements < 1 {
        return Verdict::Skip("needs a publisher of 1 element".into());
    }
    let subscribe = (s.make)(1);
    let recs: Vec<Recorder<T>> = (0..2)
        .map(|_| {
            let rec = Recorder::new(1, Some(Arc::clone(ctx)));
            let (sub, _) = rec.subscriber();
            ctx.step(Step::Subscribe);
            ctx.call("subscribe (second subscriber)", "1.9", || subscribe(sub));
            rec
        })
        .collect();
    for rec in &recs {
        rec.wait_until(ctx.timeouts.signal, |s| {
            s.received > 0 || s.complete || s.error.is_some()
        });
        if let Err(f) = clean(rec) {
            return Verdict::Fail(f);
        }
        let state = rec.lock();
        if state.received == 0 && !state.complete {
            let what = match &state.error {
                Some(e) => format!("was rejected: {e}"),
                None => format!("saw nothing within {:?}", ctx.timeouts.signal),
            };
            drop(state);
            return Verdict::Fail(rec.failure("1.11", format!("a second subscriber {what}")));
        }
    }
    Verdict::Pass
}

fn rule_3_2<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let (rec, _) = start!(s, ctx, 6, 1, "3.2", |r| r.set_request_each_next(1));
    (|| {
        expect_count(&rec, ctx, 6, "3.2")?;
        expect_complete(&rec, ctx, "1.5")?;
        expect_quiet(&rec, ctx, "3.2")
    })()
    .into()
}

fn rule_3_3<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let n = s.max_elements.min(1_000);
    let (rec, _) = start!(s, ctx, n, 1, "3.3", |r| r.set_request_each_next(1));
    (|| {
        expect_count(&rec, ctx, n, "3.3")?;
        clean(&rec)
    })()
    .into()
}

fn rule_3_5<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let (rec, _) = start!(s, ctx, 10.min(s.max_elements), 1, "3.5");
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let r = rec.clone();
            std::thread::spawn(move || r.cancel_quiet())
        })
        .collect();
    for t in threads {
        if t.join().is_err() {
            return Verdict::Fail(
                rec.failure("3.5", "cancel panicked when called from several threads"),
            );
        }
    }
    (|| {
        expect_settles(&rec, ctx, "3.5")?;
        let error = rec.lock().error.clone();
        if let Some(e) = error {
            return Err(rec.failure(
                "3.5",
                format!("cancel from several threads signalled on_error: {e}"),
            ));
        }
        Ok(())
    })()
    .into()
}

fn rule_3_6<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let (rec, _) = start!(s, ctx, 3, 0, "3.6");
    rec.cancel();
    for _ in 0..3 {
        rec.request(1);
    }
    (|| {
        expect_quiet(&rec, ctx, "3.6")?;
        if rec.received() > 0 {
            return Err(rec.failure(
                "3.6",
                format!(
                    "{} elements after cancel, for requests made after it",
                    rec.received()
                ),
            ));
        }
        Ok(())
    })()
    .into()
}

fn rule_3_7<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let (rec, _) = start!(s, ctx, 1.min(s.max_elements), 0, "3.7");
    for _ in 0..3 {
        rec.cancel();
    }
    (|| {
        expect_quiet(&rec, ctx, "3.7")?;
        let error = rec.lock().error.clone();
        if let Some(e) = error {
            return Err(rec.failure("3.7", format!("a repeated cancel signalled on_error: {e}")));
        }
        Ok(())
    })()
    .into()
}

fn rule_3_8<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let per_thread = (s.max_elements / 4).min(250);
    if per_thread == 0 {
        return Verdict::Skip("needs a publisher of at least 4 elements".into());
    }
    let n = per_thread * 4;
    let (rec, _) = start!(s, ctx, n, 0, "3.8");
    ctx.step(Step::RequestFromThread(1));
    storm(&rec, 4, per_thread);
    (|| {
        expect_count(&rec, ctx, n, "3.8")?;
        if !rec.is_terminated() {
            rec.request(1);
        }
        expect_complete(&rec, ctx, "1.5")?;
        clean(&rec)
    })()
    .into()
}

fn rule_3_9<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let (rec, _) = start!(s, ctx, 10, 0, "3.9");
    rec.request(0);
    rec.wait_until(ctx.timeouts.signal, |s| s.error.is_some() || s.complete);
    (|| {
        clean(&rec)?;
        if rec.lock().error.is_none() {
            return Err(rec.failure(
                "3.9",
                format!(
                    "request(0) did not signal on_error within {:?} ({})",
                    ctx.timeouts.signal,
                    rec.summary()
                ),
            ));
        }
        Ok(())
    })()
    .into()
}

fn rule_3_9_message<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let (rec, _) = start!(s, ctx, 10, 0, "3.9");
    rec.request(0);
    rec.wait_until(ctx.timeouts.signal, |s| s.error.is_some() || s.complete);
    let error = rec.lock().error.clone();
    match error {
        Some(e) if e.rule() == Some("3.9") || e.to_string().contains("3.9") => Verdict::Pass,
        Some(e) => {
            Verdict::Fail(rec.failure("3.9", format!("the error does not name §3.9: `{e}`")))
        }
        None => Verdict::Fail(rec.failure("3.9", "request(0) did not signal on_error")),
    }
}

fn rule_3_12<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let (rec, _) = start!(s, ctx, 20, 0, "3.12");
    (|| {
        rec.request(10);
        rec.request(5);
        expect_count(&rec, ctx, 1, "3.12")?;
        rec.cancel();
        expect_settles(&rec, ctx, "3.12")
    })()
    .into()
}

fn rule_3_13<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let (rec, weak) = start!(s, ctx, 3, 1, "3.13");
    (|| {
        expect_count(&rec, ctx, 1, "3.13")?;
        rec.cancel();
        if !expect_released(&weak, ctx) {
            return Err(rec.failure(
                "3.13",
                format!(
                    "the subscriber was still referenced {:?} after cancel",
                    ctx.timeouts.signal
                ),
            ));
        }
        Ok(())
    })()
    .into()
}

fn rule_3_17_unbounded<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let (rec, _) = start!(s, ctx, 3, u64::MAX, "3.17");
    (|| {
        expect_count(&rec, ctx, 3, "3.17")?;
        expect_complete(&rec, ctx, "3.17")
    })()
    .into()
}

fn rule_3_17_cumulative<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    // Requests whose running total passes u64::MAX while elements remain: it must saturate to
    // unbounded. A counter that wraps drops to (near) zero and stalls.
    let n = s.max_elements.min(20);
    if n < 3 {
        return Verdict::Skip("needs a publisher of at least 3 elements".into());
    }
    let (rec, _) = start!(s, ctx, n, 1, "3.17", |r| {
        r.arm(InNext::Request(u64::MAX / 2 + 1));
        r.arm(InNext::Request(u64::MAX / 2 + 2));
    });
    (|| {
        expect_count(&rec, ctx, n, "3.17")?;
        if !rec.is_terminated() {
            rec.request(1);
        }
        expect_complete(&rec, ctx, "3.17")
    })()
    .into()
}

fn rule_3_17_overflow<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let n = s.max_elements.min(100);
    if n < 12 {
        return Verdict::Skip("needs a publisher of at least 12 elements".into());
    }
    let (rec, _) = start!(s, ctx, n, 1, "3.17", |r| {
        for _ in 0..10 {
            r.arm(InNext::Request(u64::MAX - 1));
        }
        r.set_cancel_after(11);
    });
    (|| {
        expect_count(&rec, ctx, 11, "3.17")?;
        expect_settles(&rec, ctx, "3.17")?;
        let error = rec.lock().error.clone();
        if let Some(e) = error {
            return Err(rec.failure(
                "3.17",
                format!("demand beyond u64::MAX signalled on_error: {e}"),
            ));
        }
        Ok(())
    })()
    .into()
}

/// The proptest configuration of a generated check: its cases, and shrinking bounded to half
/// of the check's deadline, so that a failure is reported (shrunk as far as time allowed)
/// before the deadline passes.
pub(crate) fn shrinking_config(ctx: &Ctx) -> Config {
    Config {
        cases: cases(),
        failure_persistence: None,
        max_shrink_time: (ctx.timeouts.check.as_millis() / 2).min(u32::MAX as u128) as u32,
        ..Config::default()
    }
}

/// Generated schedules: for each, the publisher must deliver exactly what was requested (up to
/// its elements), complete once demand exceeds its elements, and never over-emit. A failure is
/// shrunk to a minimal schedule.
fn generated_schedules<T: Send + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let max_n = s.max_elements.min(40);
    let mut runner = TestRunner::new(shrinking_config(ctx));
    let result = runner.run(&(0..=max_n, demand_schedule(8)), |(n, steps)| {
        run_schedule(s, ctx, n, &steps).map_err(|f| TestCaseError::fail(f.message))
    });
    match result {
        Ok(()) => Verdict::Pass,
        Err(proptest::test_runner::TestError::Fail(_, (n, steps))) => {
            // Replay the minimal schedule to report it with its own account.
            match run_schedule(s, ctx, n, &steps) {
                Err(mut f) => {
                    f.message = format!("with a publisher of {n} elements: {}", f.message);
                    Verdict::Fail(f)
                }
                Ok(()) => Verdict::Fail(Failure {
                    rule: "3.8",
                    message: format!(
                        "a generated schedule failed once but passed on replay (a race?); publisher of {n} elements"
                    ),
                    schedule: steps,
                }),
            }
        }
        Err(proptest::test_runner::TestError::Abort(reason)) => {
            Verdict::Skip(format!("generation aborted: {reason}"))
        }
    }
}

/// Runs one schedule against a publisher of `n` elements and checks the outcome against the
/// model: deliver min(requested, n), complete when requested > n, nothing beyond demand.
fn run_schedule<T: Send + 'static>(
    s: &Subject<T>,
    ctx: &Arc<Ctx>,
    n: u64,
    steps: &[Step],
) -> Result<(), Failure> {
    ctx.reset_steps();
    let rec = Recorder::new(0, Some(Arc::clone(ctx)));
    rec.set_limit(n, "1.5");
    let (subscriber, _) = rec.subscriber();
    ctx.step(Step::Subscribe);
    let subscribe = (s.make)(n);
    ctx.call("subscribe", "1.9", || subscribe(subscriber));
    if let Err(Verdict::Fail(f)) = await_subscribed(&rec, ctx) {
        return Err(f);
    }
    let mut cancelled = false;
    for step in steps {
        match step {
            Step::Request(k) => rec.request(*k),
            Step::RequestFromThread(k) => rec.request_from_thread(*k),
            Step::RequestInOnNext(k) => rec.arm(InNext::Request(*k)),
            Step::Cancel => {
                cancelled = true;
                rec.cancel()
            }
            Step::CancelInOnNext => rec.arm(InNext::Cancel),
            _ => {}
        }
        clean(&rec)?;
    }
    let t = ctx.timeouts.signal;
    let settled = |st: &crate::recorder::State<T>| {
        if st.cancelled || st.error.is_some() {
            return true;
        }
        let target = st.requested_total.min(n);
        st.received >= target && (st.requested_total <= n || st.complete)
    };
    if !cancelled && !rec.wait_progress(t, settled) {
        clean(&rec)?;
        return Err(rec.failure(
            "3.8",
            format!(
                "stalled: {} of {n} available; no signal for {t:?}",
                rec.summary()
            ),
        ));
    }
    if rec.lock().cancelled {
        expect_settles(&rec, ctx, "3.12")?;
    } else {
        expect_quiet(&rec, ctx, "1.1")?;
    }
    let error = rec.lock().error.clone();
    if let Some(e) = error {
        return Err(rec.failure("1.2", format!("unexpected on_error: {e}")));
    }
    clean(&rec)
}
