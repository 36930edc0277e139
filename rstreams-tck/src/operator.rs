//! [`OperatorVerification`]: checks an operator from both sides, driving it with the kit's
//! [`Upstream`] and a probe downstream.

use rstreams_core::sync::{AtomicBool, Ordering};
use std::fmt::Debug;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use proptest::test_runner::{TestCaseError, TestError, TestRunner};
use rstreams_core::scheduler::VirtualTime;
use rstreams_core::support::mul_cap;
use rstreams_core::{Error, Publisher};

use crate::check::{run_checks, CheckDef, Ctx, Failure, Verdict};
use crate::env::Timeouts;
use crate::publisher::shrinking_config;
use crate::recorder::{InNext, Recorder};
use crate::report::Report;
use crate::schedule::{demand_schedule, request_schedule, Step};
use crate::upstream::Upstream;

type Apply<T> = Arc<dyn Fn(Upstream) -> Box<dyn Fn(Recorder<T>)> + Send + Sync>;

/// Verifies an operator: give it a function that applies the operator to the kit's
/// [`Upstream`].
///
/// ```
/// use rstreams_core::{Publisher, Subscriber};
/// use rstreams_tck::{OperatorVerification, Upstream};
///
/// // An identity "operator": the upstream itself. Real ones come from rstreams-ops,
/// // e.g. `|up: Upstream| up.map(|x| x + 1)`.
/// let report = OperatorVerification::new(|up: Upstream| up)
///     .prefetch_bound(0)
///     .run();
/// report.assert_compliant();
/// ```
///
/// The checks: downstream never receives more than it asked for (§1.1); upstream is never asked
/// for more than downstream's outstanding demand (times [`demand_ratio`](Self::demand_ratio))
/// plus the declared [`prefetch_bound`](Self::prefetch_bound) — the check that catches an
/// unbounded queue; downstream demand reaches upstream, so the operator does not stall (§3.8);
/// cancel reaches upstream (§3.12) and releases the downstream subscriber (§3.13); `request(0)`
/// fails the stream (§3.9); an upstream error reaches downstream at once, without demand
/// (§4.2), and so does completion (§1.5); and, unless the operator is declared
/// [`nondeterministic`](Self::nondeterministic), its output does not depend on the demand
/// schedule. Schedules are generated and shrunk on failure.
pub struct OperatorVerification<T> {
    subject: Arc<Subject<T>>,
    timeouts: Timeouts,
}

struct Subject<T> {
    apply: Apply<T>,
    prefetch: Option<u64>,
    ratio: u64,
    deterministic: bool,
    clock: Option<(VirtualTime, Duration)>,
}

impl<T> Debug for OperatorVerification<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorVerification")
            .field("prefetch_bound", &self.subject.prefetch)
            .field("demand_ratio", &self.subject.ratio)
            .field("deterministic", &self.subject.deterministic)
            .field(
                "virtual_time",
                &self.subject.clock.as_ref().map(|(_, step)| step),
            )
            .finish()
    }
}

impl<T: Send + Clone + PartialEq + Debug + 'static> OperatorVerification<T> {
    /// Verifies the operator that `apply` puts on an [`Upstream`].
    pub fn new<F, P>(apply: F) -> Self
    where
        F: Fn(Upstream) -> P + Send + Sync + 'static,
        P: Publisher<Item = T> + 'static,
    {
        OperatorVerification {
            subject: Arc::new(Subject {
                apply: Arc::new(move |up| {
                    let p = apply(up);
                    Box::new(move |rec: Recorder<T>| p.subscribe(rec))
                }),
                prefetch: None,
                ratio: 1,
                deterministic: true,
                clock: None,
            }),
            timeouts: Timeouts::from_env(),
        }
    }

    /// How far ahead of downstream demand the operator may request from upstream. Without it
    /// the bounded-demand check is skipped.
    pub fn prefetch_bound(mut self, k: u64) -> Self {
        self.subject_mut().prefetch = Some(k);
        self
    }

    /// How many upstream elements one downstream element may need (`buffer(size)`: `size`).
    /// Default 1.
    pub fn demand_ratio(mut self, ratio: u64) -> Self {
        self.subject_mut().ratio = ratio.max(1);
        self
    }

    /// Declares that the output may depend on timing or demand (a merge of racing sources), so
    /// the determinism check is skipped.
    pub fn nondeterministic(mut self) -> Self {
        self.subject_mut().deterministic = false;
        self
    }

    /// For a time-based operator built on `clock`: while the checks run, the kit advances the
    /// clock by `step` about every millisecond, so that the operator's timers fire and its
    /// output flows. The checks are about the protocol, not timing; the operator's own tests
    /// pin its timing with the clock in hand.
    pub fn virtual_time(mut self, clock: VirtualTime, step: Duration) -> Self {
        self.subject_mut().clock = Some((clock, step));
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

    /// Runs the check named `name` only.
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
        let _ticking = self
            .subject
            .clock
            .clone()
            .map(|(clock, step)| Ticker::start(clock, step));
        let checks = run_checks(&self.subject, &defs, self.timeouts, only);
        Report {
            subject: "operator".into(),
            checks,
            not_checked: Vec::new(),
        }
    }
}

/// Advances a virtual clock from a thread of its own until dropped.
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    fn start(clock: VirtualTime, step: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("tck-virtual-time".into())
            .spawn(move || {
                while !s.load(Ordering::Acquire) {
                    clock.advance_by(step);
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
            .ok();
        Ticker { stop, thread }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            // A task on the clock may be stuck in the code under test; do not wait for it.
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

fn checks<T: Send + Clone + PartialEq + Debug + 'static>() -> Vec<CheckDef<Subject<T>>> {
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
    vec![
        def(
            "op_rule_1_1_never_emits_more_than_downstream_demand",
            "1.1",
            over_emission,
        ),
        def(
            "op_upstream_demand_stays_within_downstream_demand_plus_prefetch",
            "K.2",
            bounded_demand,
        ),
        def(
            "op_rule_3_8_downstream_demand_reaches_upstream",
            "3.8",
            no_stall,
        ),
        def(
            "op_rule_3_9_request_zero_signals_error",
            "3.9",
            request_zero,
        ),
        def(
            "op_rule_3_12_cancel_reaches_upstream",
            "3.12",
            cancel_reaches_upstream,
        ),
        def(
            "op_rule_3_13_cancel_releases_the_downstream_subscriber",
            "3.13",
            cancel_releases,
        ),
        def(
            "op_rule_4_2_upstream_error_reaches_downstream_without_demand",
            "4.2",
            error_passes,
        ),
        def(
            "op_rule_1_5_upstream_completion_reaches_downstream",
            "1.5",
            completion_passes,
        ),
        def(
            "op_output_does_not_depend_on_the_demand_schedule",
            "K.1",
            determinism,
        ),
    ]
}

// ===== helpers =====

impl<T: Send + 'static> Subject<T> {
    fn start(&self, ctx: &Arc<Ctx>, up: &Upstream, initial: u64) -> (Recorder<T>, Weak<()>) {
        let rec = Recorder::new(initial, Some(Arc::clone(ctx)));
        let (subscriber, weak) = rec.subscriber();
        ctx.step(Step::Subscribe);
        let subscribe = ctx.call("applying the operator", "1.9", || (self.apply)(up.clone()));
        ctx.call("subscribe", "1.9", || subscribe(subscriber));
        // on_subscribe may come asynchronously; checks that need it wait for what follows.
        rec.wait_until(ctx.timeouts.signal, |s| s.subscribe_count > 0);
        (rec, weak)
    }

    /// Upstream's outstanding demand within the declared bound of downstream's?
    fn within_bound(&self, rec: &Recorder<T>, up: &Upstream) -> Result<(), Failure> {
        let Some(prefetch) = self.prefetch else {
            return Ok(());
        };
        let (down_requested, down_received) = {
            let s = rec.lock();
            (s.requested_total, s.received)
        };
        if down_requested == u64::MAX {
            return Ok(());
        }
        let down_outstanding = down_requested - down_received.min(down_requested);
        let bound = mul_cap(down_outstanding, self.ratio).saturating_add(prefetch);
        let up_outstanding = up.outstanding();
        if up_outstanding > bound {
            let stats = up.stats();
            return Err(rec.failure(
                "K.2",
                format!(
                    "upstream has {} outstanding ({} requested, {} emitted), but downstream has only {down_outstanding} outstanding (bound: {down_outstanding} × {} + prefetch {prefetch} = {bound}); an operator that runs ahead of demand like this queues without bound",
                    fmt_demand(up_outstanding),
                    fmt_demand(stats.requested),
                    stats.emitted,
                    self.ratio
                ),
            ));
        }
        Ok(())
    }
}

fn fmt_demand(n: u64) -> String {
    if n == u64::MAX {
        "unbounded demand".into()
    } else {
        n.to_string()
    }
}

fn clean<T>(rec: &Recorder<T>) -> Result<(), Failure> {
    rec.first_violation().map_or(Ok(()), Err)
}

/// Lets in-flight signals land: waits for a quiet window (bounded by the signal timeout).
fn settle<T>(rec: &Recorder<T>, ctx: &Ctx) {
    let deadline = Instant::now() + ctx.timeouts.signal;
    while !rec.quiet_for(ctx.timeouts.quiet) && Instant::now() < deadline {}
}

// ===== checks =====

fn over_emission<T: Send + Clone + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    generated(ctx, demand_schedule(8), |steps| {
        let up = Upstream::emitting(60);
        let (rec, _) = s.start(ctx, &up, 0);
        for step in steps {
            apply_step(&rec, step);
            clean(&rec)?;
        }
        // Over-emission is caught inside on_next as it happens; the demand bound is compared
        // once signals have settled, so that an element in flight is not miscounted.
        settle(&rec, ctx);
        clean(&rec)?;
        s.within_bound(&rec, &up)?;
        let cancelled_live = {
            let st = rec.lock();
            st.cancelled && !st.complete && st.error.is_none()
        };
        // An upstream that has ended needs no cancel (§1.6); a live one must get it.
        if cancelled_live && !wait(ctx, || up.is_cancelled() || up.is_terminated()) {
            return Err(rec.failure(
                "3.12",
                "downstream cancelled, but the cancel never reached upstream",
            ));
        }
        clean(&rec)
    })
}

fn bounded_demand<T: Send + Clone + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    if s.prefetch.is_none() {
        return Verdict::Skip("no prefetch_bound declared".into());
    }
    let up = Upstream::emitting(1_000);
    let (rec, _) = s.start(ctx, &up, 0);
    (|| {
        settle(&rec, ctx);
        s.within_bound(&rec, &up)?;
        for n in [1, 5, 3, 16, 1] {
            rec.request(n);
            settle(&rec, ctx);
            clean(&rec)?;
            s.within_bound(&rec, &up)?;
        }
        Ok(())
    })()
    .into()
}

fn no_stall<T: Send + Clone + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let up = Upstream::emitting(1_000);
    let (rec, _) = s.start(ctx, &up, 0);
    rec.request(5);
    let t = ctx.timeouts.signal;
    let deadline = Instant::now() + t;
    loop {
        if rec.received() >= 5 || rec.is_terminated() {
            return clean(&rec).into();
        }
        let asked_for_nothing = up.outstanding() == 0 && up.emitted() < up.elements();
        if Instant::now() >= deadline {
            if asked_for_nothing {
                let stats = up.stats();
                return Verdict::Fail(rec.failure(
                    "3.8",
                    format!(
                        "stalled: downstream requested 5 and received {}; upstream was asked for {} and emitted {} of {}; no signal for {t:?}",
                        rec.received(),
                        fmt_demand(stats.requested),
                        stats.emitted,
                        up.elements()
                    ),
                ));
            }
            return clean(&rec).into();
        }
        rec.quiet_for(ctx.timeouts.quiet);
    }
}

fn request_zero<T: Send + Clone + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    // A live stream: an upstream that never completes, so an operator that drains it without
    // demand (on_backpressure_drop) has not ended when request(0) comes.
    let up = Upstream::never_completing(10);
    let (rec, _) = s.start(ctx, &up, 0);
    settle(&rec, ctx);
    if rec.is_terminated() {
        return Verdict::Skip(
            "the operator ended before any request, so request(0) has nothing to fail (§1.7)"
                .into(),
        );
    }
    rec.request(0);
    rec.wait_until(ctx.timeouts.signal, |st| st.error.is_some() || st.complete);
    if rec.lock().error.is_none() {
        return Verdict::Fail(rec.failure(
            "3.9",
            format!(
                "request(0) did not lead to on_error within {:?} ({})",
                ctx.timeouts.signal,
                rec.summary()
            ),
        ));
    }
    clean(&rec).into()
}

fn wait(ctx: &Ctx, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + ctx.timeouts.signal;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    true
}

fn cancel_reaches_upstream<T: Send + Clone + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let up = Upstream::never_completing(1_000);
    let (rec, _) = s.start(ctx, &up, 1);
    rec.wait_until(ctx.timeouts.signal, |st| {
        st.received > 0 || st.complete || st.error.is_some()
    });
    rec.cancel();
    if !wait(ctx, || up.is_cancelled()) {
        return Verdict::Fail(rec.failure(
            "3.12",
            format!(
                "downstream cancelled, but upstream saw no cancel within {:?}",
                ctx.timeouts.signal
            ),
        ));
    }
    clean(&rec).into()
}

fn cancel_releases<T: Send + Clone + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let up = Upstream::never_completing(1_000);
    let (rec, weak) = s.start(ctx, &up, 1);
    rec.wait_until(ctx.timeouts.signal, |st| {
        st.received > 0 || st.complete || st.error.is_some()
    });
    rec.cancel();
    if !wait(ctx, || weak.strong_count() == 0) {
        return Verdict::Fail(rec.failure(
            "3.13",
            format!(
                "the downstream subscriber was still referenced {:?} after cancel",
                ctx.timeouts.signal
            ),
        ));
    }
    Verdict::Pass
}

fn error_passes<T: Send + Clone + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let up = Upstream::failing_after(0, Error::msg("tck: upstream failure"));
    let (rec, _) = s.start(ctx, &up, 0);
    rec.wait_until(ctx.timeouts.signal, |st| st.error.is_some() || st.complete);
    let error = rec.lock().error.clone();
    match error {
        Some(_) => {}
        None => {
            return Verdict::Fail(rec.failure(
                "4.2",
                format!(
                "upstream failed, but downstream (with no demand) saw no on_error within {:?} ({})",
                ctx.timeouts.signal,
                rec.summary()
            ),
            ))
        }
    }
    clean(&rec).into()
}

fn completion_passes<T: Send + Clone + 'static>(s: &Subject<T>, ctx: &Arc<Ctx>) -> Verdict {
    let up = Upstream::emitting(5);
    let (rec, _) = s.start(ctx, &up, u64::MAX);
    rec.wait_until(ctx.timeouts.signal, |st| st.error.is_some() || st.complete);
    if !rec.lock().complete {
        return Verdict::Fail(rec.failure(
            "1.5",
            format!(
                "upstream completed, but downstream saw no on_complete within {:?} ({})",
                ctx.timeouts.signal,
                rec.summary()
            ),
        ));
    }
    // An empty upstream: completion may come without demand, or once demand arrives (an
    // operator that adds elements of its own, like merge or concat, has those to deliver).
    let empty = Upstream::emitting(0);
    let (rec, _) = s.start(ctx, &empty, 0);
    settle(&rec, ctx);
    if !rec.is_terminated() {
        rec.request(u64::MAX);
    }
    rec.wait_until(ctx.timeouts.signal, |st| st.error.is_some() || st.complete);
    if !rec.lock().complete {
        return Verdict::Fail(rec.failure(
            "1.5",
            format!(
                "an empty upstream completed, but downstream saw no on_complete within {:?} ({})",
                ctx.timeouts.signal,
                rec.summary()
            ),
        ));
    }
    clean(&rec).into()
}

fn determinism<T: Send + Clone + PartialEq + Debug + 'static>(
    s: &Subject<T>,
    ctx: &Arc<Ctx>,
) -> Verdict {
    if !s.deterministic {
        return Verdict::Skip("declared nondeterministic".into());
    }
    // The reference: everything at once.
    let up = Upstream::emitting(40);
    let (rec, _) = s.start(ctx, &up, u64::MAX);
    rec.wait_until(ctx.timeouts.signal, |st| st.complete || st.error.is_some());
    let reference = rec.lock().values.clone();
    let reference_complete = rec.lock().complete;
    generated(ctx, request_schedule(10), |steps| {
        let up = Upstream::emitting(40);
        let (rec, _) = s.start(ctx, &up, 0);
        for step in steps {
            apply_step(&rec, step);
        }
        settle(&rec, ctx);
        clean(&rec)?;
        let got = rec.lock().values.clone();
        if got.len() > reference.len() || got[..] != reference[..got.len()] {
            return Err(rec.failure(
                "K.1",
                format!(
                    "the output depends on the demand schedule: with unbounded demand it was {reference:?}, with this schedule {got:?}"
                ),
            ));
        }
        // Ask for the rest: the output must then be the whole reference.
        rec.request(u64::MAX);
        rec.wait_until(ctx.timeouts.signal, |st| st.complete || st.error.is_some());
        let got = rec.lock().values.clone();
        if got != reference || rec.lock().complete != reference_complete {
            return Err(rec.failure(
                "K.1",
                format!("the output depends on the demand schedule: with unbounded demand it was {reference:?}, with this schedule then unbounded {got:?}"),
            ));
        }
        clean(&rec)
    })
}

fn apply_step<T: Send + 'static>(rec: &Recorder<T>, step: &Step) {
    match step {
        Step::Request(k) => rec.request(*k),
        Step::RequestFromThread(k) => rec.request_from_thread(*k),
        Step::RequestInOnNext(k) => rec.arm(InNext::Request(*k)),
        Step::Cancel => rec.cancel(),
        Step::CancelInOnNext => rec.arm(InNext::Cancel),
        _ => {}
    }
}

/// Runs `case` over generated schedules; a failure is shrunk and replayed for its account.
fn generated(
    ctx: &Arc<Ctx>,
    strategy: impl proptest::strategy::Strategy<Value = Vec<Step>>,
    case: impl Fn(&[Step]) -> Result<(), Failure>,
) -> Verdict {
    let mut runner = TestRunner::new(shrinking_config(ctx));
    let run = |steps: &[Step]| {
        ctx.reset_steps();
        case(steps)
    };
    match runner.run(&strategy, |steps| {
        run(&steps).map_err(|f| TestCaseError::fail(f.message))
    }) {
        Ok(()) => Verdict::Pass,
        Err(TestError::Fail(_, steps)) => match run(&steps) {
            Err(f) => Verdict::Fail(f),
            Ok(()) => Verdict::Fail(Failure {
                rule: "1.1",
                message: "a generated schedule failed once but passed on replay (a race?)".into(),
                schedule: steps,
            }),
        },
        Err(TestError::Abort(reason)) => Verdict::Skip(format!("generation aborted: {reason}")),
    }
}
