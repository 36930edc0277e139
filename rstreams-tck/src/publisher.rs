//! [`PublisherVerification`]: checks a publisher against every testable rule of §1 and §3.
//!
//! [`PublisherVerification`]: crate::PublisherVerification

use std::fmt;
use std::sync::{Arc, Weak};

use rstreams_core::Publisher;

use crate::check::{generated, skip, CheckDef, Checked, Ctx, Failure, Halt};
use crate::recorder::{InNext, Recorder, State};
use crate::schedule::{demand_schedule, Step};
use crate::verification::{sealed::Sealed, Verification};

type Subscribe<T> = Box<dyn Fn(Recorder<T>)>;
type Factory<T> = Arc<dyn Fn(u64) -> Subscribe<T> + Send + Sync>;

/// The checks of a [`PublisherVerification`](crate::PublisherVerification) and the publisher
/// they run against.
///
/// ```
/// use rstreams::source;
/// use rstreams_tck::{PublisherSuite, Verification};
///
/// let names = Verification::<PublisherSuite<u64>>::check_names();
/// assert!(names.contains(&"rule_3_9_request_zero_signals_error"));
/// ```
pub struct PublisherSuite<T> {
    make: Factory<T>,
    failed: Option<Factory<T>>,
    max_elements: u64,
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

impl<T: Send + 'static> Verification<PublisherSuite<T>> {
    /// Verifies the publishers `factory` makes: `factory(elements)` must emit exactly
    /// `elements` elements (as demand allows) and then complete.
    ///
    /// ```
    /// use rstreams::source;
    /// use rstreams_tck::PublisherVerification;
    ///
    /// PublisherVerification::new(|n| source::range(0, n)).run().assert_compliant();
    /// ```
    pub fn new<F, P>(factory: F) -> Self
    where
        F: Fn(u64) -> P + Send + Sync + 'static,
        P: Publisher<Item = T> + 'static,
    {
        Verification::with(PublisherSuite {
            make: erase(factory),
            failed: None,
            max_elements: u64::MAX - 1,
        })
    }

    /// A publisher that fails: signals `on_subscribe`, then `on_error`. Enables the checks of
    /// §1.4 and §1.9's rejection path; without it they are skipped.
    ///
    /// ```
    /// use rstreams::{source, Error};
    /// use rstreams_tck::PublisherVerification;
    ///
    /// let report = PublisherVerification::new(|n| source::range(0, n))
    ///     .failed_publisher(|| source::fail::<u64>(Error::msg("down")))
    ///     .run_check("rule_1_4_failed_publisher_signals_on_error");
    /// assert!(report.is_compliant(), "{report}");
    /// ```
    pub fn failed_publisher<G, Q>(mut self, factory: G) -> Self
    where
        G: Fn() -> Q + Send + Sync + 'static,
        Q: Publisher<Item = T> + 'static,
    {
        self.suite_mut().failed = Some(erase(move |_| factory()));
        self
    }

    /// The largest `elements` the factory supports; checks that need more are skipped.
    ///
    /// ```
    /// use rstreams::source;
    /// use rstreams_tck::PublisherVerification;
    ///
    /// // A publisher of at most one element.
    /// let report = PublisherVerification::new(|n| source::from_iter(0..n.min(1)))
    ///     .max_elements(1)
    ///     .run();
    /// report.assert_compliant();
    /// ```
    pub fn max_elements(mut self, max: u64) -> Self {
        self.suite_mut().max_elements = max;
        self
    }
}

impl<T: Send + 'static> Sealed for PublisherSuite<T> {
    const SUBJECT: &'static str = "publisher";

    fn defs() -> Vec<CheckDef<Self>> {
        checks()
    }

    fn coverage() -> (&'static [&'static str], &'static [&'static str]) {
        // Every call into the publisher runs under the check's deadline with panics caught.
        (&["1.", "3."], &["3.15", "3.16"])
    }

    fn describe(&self, f: &mut fmt::DebugStruct<'_, '_>) {
        f.field("max_elements", &self.max_elements)
            .field("failed_publisher", &self.failed.is_some());
    }
}

fn checks<T: Send + 'static>() -> Vec<CheckDef<PublisherSuite<T>>> {
    type D<T> = CheckDef<PublisherSuite<T>>;
    vec![
        D::new("rule_1_1_emits_no_more_than_requested", "1.1", rule_1_1),
        D::new(
            "rule_1_2_may_signal_fewer_than_requested_then_complete",
            "1.2",
            rule_1_2,
        ),
        D::new("rule_1_3_signals_are_serial", "1.3", rule_1_3),
        D::new(
            "rule_1_4_failed_publisher_signals_on_error",
            "1.4",
            rule_1_4,
        ),
        D::new("rule_1_5_completes_after_the_last_element", "1.5", rule_1_5),
        D::new("rule_1_5_empty_publisher_completes", "1.5", empty_completes).optional(),
        D::new(
            "rule_1_6_terminal_signal_releases_the_subscriber",
            "1.6",
            rule_1_6,
        ),
        D::new("rule_1_7_nothing_follows_on_complete", "1.7", rule_1_7),
        D::new(
            "rule_1_8_cancel_under_unbounded_demand_stops_signals",
            "1.8",
            rule_1_8,
        ),
        D::new(
            "rule_1_9_on_subscribe_comes_first_and_once",
            "1.9",
            rule_1_9,
        ),
        D::new(
            "rule_1_9_failed_publisher_signals_on_subscribe_then_on_error",
            "1.9",
            rule_1_9_failed,
        ),
        D::new("rule_1_11_supports_several_subscribers", "1.11", rule_1_11),
        D::new(
            "rule_3_2_request_from_on_subscribe_and_on_next_is_allowed",
            "3.2",
            rule_3_2,
        ),
        D::new(
            "rule_3_3_request_from_on_next_does_not_recurse",
            "3.3",
            rule_3_3,
        ),
        D::new(
            "rule_3_5_cancel_from_several_threads_is_safe",
            "3.5",
            rule_3_5,
        ),
        D::new(
            "rule_3_6_request_after_cancel_does_nothing",
            "3.6",
            rule_3_6,
        ),
        D::new("rule_3_7_cancel_after_cancel_does_nothing", "3.7", rule_3_7),
        D::new(
            "rule_3_8_demand_from_several_threads_is_never_lost",
            "3.8",
            rule_3_8,
        ),
        D::new("rule_3_8_generated_demand_schedules", "3.8", generated_schedules).also(
            "each generated schedule is checked against a model: exactly what was requested, \
             nothing beyond it (§1.1), completion once demand exceeds the elements (§1.5), no error (§1.2), \
             and signals that stop after a cancel (§3.12)",
        ),
        D::new("rule_3_9_request_zero_signals_error", "3.9", rule_3_9),
        D::new("rule_3_9_error_names_the_rule", "3.9", rule_3_9_message).optional(),
        D::new("rule_3_12_cancel_stops_signals", "3.12", rule_3_12),
        D::new(
            "rule_3_13_cancel_releases_the_subscriber",
            "3.13",
            rule_3_13,
        ),
        D::new(
            "rule_3_17_unbounded_demand_is_supported",
            "3.17",
            rule_3_17_unbounded,
        ),
        D::new(
            "rule_3_17_cumulative_demand_up_to_u64_max",
            "3.17",
            rule_3_17_cumulative,
        ),
        D::new(
            "rule_3_17_demand_beyond_u64_max_is_not_an_error",
            "3.17",
            rule_3_17_overflow,
        ),
    ]
}

// ===== starting a publisher =====

impl<T: Send + 'static> PublisherSuite<T> {
    /// Makes a publisher of `n`, subscribes a new recorder requesting `initial` on subscribe,
    /// and waits for `on_subscribe`. Skips when `n` exceeds `max_elements`.
    fn start(&self, ctx: &Arc<Ctx>, n: u64, initial: u64) -> Result<Recorder<T>, Halt> {
        self.start_with(ctx, n, initial, ctx.rule, |_| {})
            .map(|(rec, _)| rec)
    }

    /// [`start`](Self::start), with the rule an element beyond `n` breaks, the recorder
    /// configured before subscribing, and the `Weak` that dies when the publisher drops it.
    fn start_with(
        &self,
        ctx: &Arc<Ctx>,
        n: u64,
        initial: u64,
        limit_rule: &'static str,
        configure: impl FnOnce(&Recorder<T>),
    ) -> Result<(Recorder<T>, Weak<()>), Halt> {
        if n > self.max_elements {
            return skip(format!(
                "needs a publisher of {n} elements; max_elements is {}",
                self.max_elements
            ));
        }
        let rec = Recorder::new(initial, Some(Arc::clone(ctx)));
        rec.set_limit(n, limit_rule);
        configure(&rec);
        let weak = self.subscribe(ctx, &self.make, n, &rec, "subscribe");
        await_subscribed(&rec, ctx)?;
        Ok((rec, weak))
    }

    fn subscribe(
        &self,
        ctx: &Ctx,
        factory: &Factory<T>,
        n: u64,
        rec: &Recorder<T>,
        label: &str,
    ) -> Weak<()> {
        let (subscriber, weak) = rec.subscriber();
        ctx.step(Step::Subscribe);
        let subscribe = factory(n);
        ctx.call(label, "1.9", || subscribe(subscriber));
        weak
    }
}

/// Waits for `on_subscribe` (it may come asynchronously); its absence fails §1.9.
fn await_subscribed<T>(rec: &Recorder<T>, ctx: &Ctx) -> Result<(), Failure> {
    if rec.wait_until(ctx.signal(), |s| s.subscribe_count > 0) {
        return Ok(());
    }
    Err(rec
        .failure(
            "1.9",
            format!("no on_subscribe within {:?} of subscribe", ctx.signal()),
        )
        .waited())
}

/// `threads` threads at once, each calling `request(1)` `each` times; returns when all are done.
fn storm<T: Send + 'static>(rec: &Recorder<T>, threads: usize, each: u64) {
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let r = rec.clone();
            let ctx = r.ctx().cloned();
            std::thread::spawn(move || {
                crate::check::capture_into(ctx);
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

// ===== checks =====

fn rule_1_1<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    let rec = s.start(ctx, 5, 0)?;
    rec.expect_quiet()?;
    if rec.received() > 0 {
        return Err(rec.fail("emitted before any request").into());
    }
    rec.request(1);
    rec.expect_count(1)?;
    rec.expect_quiet()?;
    rec.request(2);
    rec.expect_count(3)?;
    Ok(rec.expect_quiet()?)
}

fn rule_1_2<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    let rec = s.start(ctx, 3, 10)?;
    rec.expect_count(3)?;
    rec.expect_complete()?;
    Ok(rec.expect_quiet()?)
}

fn rule_1_3<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    let n = 10.min(s.max_elements);
    for _ in 0..20 {
        let (rec, _) = s.start_with(ctx, n, 0, "1.1", |_| {})?;
        rec.arm(InNext::Request(1));
        storm(&rec, 2, n);
        rec.expect_count(n)?;
        rec.clean()?;
    }
    Ok(())
}

fn rule_1_4<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    let Some(failed) = &s.failed else {
        return skip("no failed_publisher given");
    };
    let rec = Recorder::<T>::new(0, Some(Arc::clone(ctx)));
    s.subscribe(ctx, failed, 0, &rec, "subscribe (failed publisher)");
    rec.expect_error("the publisher was made to fail")?;
    Ok(rec.expect_quiet()?)
}

fn rule_1_5<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    let rec = s.start(ctx, 3, 0)?;
    for i in 1..=3 {
        rec.request(1);
        rec.expect_count(i)?;
    }
    if !rec.is_terminated() {
        // A publisher may need one more request to find out it is done.
        rec.request(1);
    }
    rec.expect_complete()?;
    Ok(rec.expect_quiet()?)
}

fn empty_completes<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    let rec = s.start(ctx, 0, 0)?;
    if !rec.is_terminated() {
        rec.request(1);
    }
    rec.expect_complete()?;
    Ok(rec.expect_quiet()?)
}

fn rule_1_6<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    let (rec, weak) = s.start_with(ctx, 3, u64::MAX, "1.6", |_| {})?;
    rec.expect_complete_as("1.5")?;
    Ok(rec.expect_released(&weak, "after on_complete, the subscriber")?)
}

fn rule_1_7<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    let rec = s.start(ctx, 1, 10)?;
    rec.expect_count(1)?;
    rec.expect_complete()?;
    rec.request(10);
    Ok(rec.expect_quiet()?)
}

fn rule_1_8<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    // A publisher may notice cancel late, but not this late.
    const SKID: u64 = 1024;
    let n = s.max_elements.min(10_000);
    if n < 2 {
        return skip("needs a publisher of at least 2 elements");
    }
    let cancel_at = (n / 2).min(10);
    let (rec, _) = s.start_with(ctx, n, u64::MAX, "1.8", |r| r.set_cancel_after(cancel_at))?;
    rec.expect_count(cancel_at)?;
    rec.expect_quiet()?;
    let after = rec.received() - cancel_at;
    if after > SKID {
        return Err(rec
            .fail(format!(
                "{after} elements after cancel under unbounded demand: cancel was ignored"
            ))
            .into());
    }
    Ok(())
}

fn rule_1_9<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    let rec = s.start(ctx, 1.min(s.max_elements), 0)?;
    Ok(rec.expect_quiet()?)
}

fn rule_1_9_failed<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    let Some(failed) = &s.failed else {
        return skip("no failed_publisher given");
    };
    let rec = Recorder::<T>::new(0, Some(Arc::clone(ctx)));
    s.subscribe(ctx, failed, 0, &rec, "subscribe (failed publisher)");
    rec.wait_until(ctx.signal(), |s| s.error.is_some() || s.complete);
    rec.clean()?;
    let (subscribed, failed) = {
        let state = rec.lock();
        (state.subscribe_count, state.error.is_some())
    };
    if subscribed != 1 || !failed {
        return Err(rec
            .fail(format!(
                "a rejected subscription must see on_subscribe once, then on_error; saw {subscribed} on_subscribe, {}",
                rec.summary()
            ))
            .into());
    }
    Ok(())
}

fn rule_1_11<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    if s.max_elements < 1 {
        return skip("needs a publisher of 1 element");
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
        rec.wait_until(ctx.signal(), |s| {
            s.received > 0 || s.complete || s.error.is_some()
        });
        rec.clean()?;
        let state = rec.lock();
        if state.received == 0 && !state.complete {
            let what = match &state.error {
                Some(e) => format!("was rejected: {e}"),
                None => format!("saw nothing within {:?}", ctx.signal()),
            };
            drop(state);
            return Err(rec.fail(format!("a second subscriber {what}")).into());
        }
    }
    Ok(())
}

fn rule_3_2<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    let (rec, _) = s.start_with(ctx, 6, 1, "3.2", |r| r.set_request_each_next(1))?;
    rec.expect_count(6)?;
    rec.expect_complete_as("1.5")?;
    Ok(rec.expect_quiet()?)
}

fn rule_3_3<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    let n = s.max_elements.min(1_000);
    let (rec, _) = s.start_with(ctx, n, 1, "3.3", |r| r.set_request_each_next(1))?;
    rec.expect_count(n)?;
    Ok(rec.clean()?)
}

fn rule_3_5<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    let rec = s.start(ctx, 10.min(s.max_elements), 1)?;
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let r = rec.clone();
            let c = Arc::clone(ctx);
            std::thread::spawn(move || {
                crate::check::capture_into(Some(c));
                r.cancel_quiet()
            })
        })
        .collect();
    for t in threads {
        if t.join().is_err() {
            return Err(rec
                .fail("cancel panicked when called from several threads")
                .into());
        }
    }
    rec.expect_quiet()?;
    Ok(rec.expect_no_error("cancel from several threads")?)
}

fn rule_3_6<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    let rec = s.start(ctx, 3, 0)?;
    rec.cancel();
    for _ in 0..3 {
        rec.request(1);
    }
    rec.expect_quiet()?;
    if rec.received() > 0 {
        return Err(rec
            .fail(format!(
                "{} elements after cancel, for requests made after it",
                rec.received()
            ))
            .into());
    }
    Ok(())
}

fn rule_3_7<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    let rec = s.start(ctx, 1.min(s.max_elements), 0)?;
    for _ in 0..3 {
        rec.cancel();
    }
    rec.expect_quiet()?;
    Ok(rec.expect_no_error("a repeated cancel")?)
}

fn rule_3_8<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    let per_thread = (s.max_elements / 4).min(250);
    if per_thread == 0 {
        return skip("needs a publisher of at least 4 elements");
    }
    let n = per_thread * 4;
    let rec = s.start(ctx, n, 0)?;
    ctx.step(Step::RequestFromThread(1));
    storm(&rec, 4, per_thread);
    rec.expect_count(n)?;
    if !rec.is_terminated() {
        rec.request(1);
    }
    rec.expect_complete_as("1.5")?;
    Ok(rec.clean()?)
}

fn rule_3_9<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    let rec = s.start(ctx, 10, 0)?;
    rec.request(0);
    Ok(rec.expect_error("request(0) was called")?)
}

fn rule_3_9_message<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    let rec = s.start(ctx, 10, 0)?;
    rec.request(0);
    rec.expect_error("request(0) was called")?;
    let error = rec.lock().error.clone();
    match error {
        Some(e) if e.rule() == Some("3.9") || e.to_string().contains("3.9") => Ok(()),
        Some(e) => Err(rec
            .fail(format!("the error does not name §3.9: `{e}`"))
            .into()),
        None => Ok(()),
    }
}

fn rule_3_12<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    let rec = s.start(ctx, 20, 0)?;
    rec.request(10);
    rec.request(5);
    rec.expect_count(1)?;
    rec.cancel();
    Ok(rec.expect_quiet()?)
}

fn rule_3_13<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    let (rec, weak) = s.start_with(ctx, 3, 1, "3.13", |_| {})?;
    rec.expect_count(1)?;
    rec.cancel();
    Ok(rec.expect_released(&weak, "after cancel, the subscriber")?)
}

fn rule_3_17_unbounded<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    let rec = s.start(ctx, 3, u64::MAX)?;
    rec.expect_count(3)?;
    Ok(rec.expect_complete()?)
}

fn rule_3_17_cumulative<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    // Requests whose running total passes u64::MAX while elements remain: it must saturate to
    // unbounded. A counter that wraps drops to (near) zero and stalls.
    let n = s.max_elements.min(20);
    if n < 3 {
        return skip("needs a publisher of at least 3 elements");
    }
    let (rec, _) = s.start_with(ctx, n, 1, "3.17", |r| {
        r.arm(InNext::Request(u64::MAX / 2 + 1));
        r.arm(InNext::Request(u64::MAX / 2 + 2));
    })?;
    rec.expect_count(n)?;
    if !rec.is_terminated() {
        rec.request(1);
    }
    Ok(rec.expect_complete()?)
}

fn rule_3_17_overflow<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    let n = s.max_elements.min(100);
    if n < 12 {
        return skip("needs a publisher of at least 12 elements");
    }
    let (rec, _) = s.start_with(ctx, n, 1, "3.17", |r| {
        for _ in 0..10 {
            r.arm(InNext::Request(u64::MAX - 1));
        }
        r.set_cancel_after(11);
    })?;
    rec.expect_count(11)?;
    rec.expect_quiet()?;
    Ok(rec.expect_no_error("demand beyond u64::MAX")?)
}

/// Generated schedules: for each, the publisher must deliver exactly what was requested (up to
/// its elements), complete once demand exceeds its elements, and never over-emit. A failure is
/// shrunk to a minimal schedule.
fn generated_schedules<T: Send + 'static>(s: &PublisherSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    let max_n = s.max_elements.min(40);
    generated(ctx, (0..=max_n, demand_schedule(8)), |(n, steps)| {
        run_schedule(s, ctx, *n, steps).map_err(|mut f| {
            f.message = format!("with a publisher of {n} elements: {}", f.message);
            f
        })
    })
}

/// Runs one schedule against a publisher of `n` elements and checks the outcome against the
/// model: deliver min(requested, n), complete when requested > n, nothing beyond demand.
fn run_schedule<T: Send + 'static>(
    s: &PublisherSuite<T>,
    ctx: &Arc<Ctx>,
    n: u64,
    steps: &[Step],
) -> Result<(), Failure> {
    let rec = Recorder::new(0, Some(Arc::clone(ctx)));
    rec.set_limit(n, "1.5");
    s.subscribe(ctx, &s.make, n, &rec, "subscribe");
    await_subscribed(&rec, ctx)?;
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
        rec.clean()?;
    }
    let t = ctx.signal();
    let settled = |st: &State<T>| {
        if st.cancelled || st.error.is_some() {
            return true;
        }
        let target = st.requested_total.min(n);
        st.received >= target && (st.requested_total <= n || st.complete)
    };
    if !cancelled && !rec.wait_progress(t, settled) {
        rec.clean()?;
        return Err(rec
            .failure(
                "3.8",
                format!(
                    "stalled: {} of {n} available; no signal for {t:?}",
                    rec.summary()
                ),
            )
            .waited());
    }
    let cancelled = rec.lock().cancelled;
    rec.expect_quiet_as(if cancelled { "3.12" } else { "1.1" })?;
    let error = rec.lock().error.clone();
    if let Some(e) = error {
        return Err(rec.failure("1.2", format!("unexpected on_error: {e}")));
    }
    rec.clean()
}
