//! [`OperatorVerification`]: checks an operator from both sides, driving it with the kit's
//! [`Upstream`] (on both signal paths) and a probe downstream.
//!
//! [`OperatorVerification`]: crate::OperatorVerification

use std::fmt::{self, Debug};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rstreams_core::scheduler::VirtualTime;
use rstreams_core::support::mul_cap;
use rstreams_core::sync::{AtomicBool, Ordering};
use rstreams_core::{Error, Publisher};

use crate::check::{generated, skip, CheckDef, Checked, Ctx, Failure, Halt, Settings};
use crate::recorder::{InNext, Recorder};
use crate::report::Report;
use crate::schedule::{demand_schedule, request_schedule, Step};
use crate::upstream::{SignalPath, Upstream};
use crate::verification::{run_suite, sealed::Sealed, Verification};

/// Ends the connection of a connectable operator: what a connectable's `connect` returned.
type Disconnect = Box<dyn FnOnce() + Send>;

/// The operator put on an upstream: how to subscribe a probe to it, and for a connectable one,
/// how to connect it.
struct Applied<T> {
    subscribe: Box<dyn Fn(Recorder<T>)>,
    connect: Option<Box<dyn Fn() -> Disconnect>>,
}

type Apply<T> = Arc<dyn Fn(Upstream) -> Applied<T> + Send + Sync>;

/// What the determinism check (K.1) compares between a generated demand schedule and
/// unbounded demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    /// The same elements in the same order.
    Sequence,
    /// The same elements, in any order: nothing lost, nothing duplicated.
    Multiset,
    /// Some of the elements, in any order: nothing duplicated, nothing invented.
    SubMultiset,
}

/// The checks of an [`OperatorVerification`](crate::OperatorVerification) and the operator
/// they run against.
///
/// ```
/// use rstreams_tck::{OperatorSuite, Verification};
///
/// let names = Verification::<OperatorSuite<u64>>::check_names();
/// assert!(names.contains(&"op_rule_3_8_downstream_demand_reaches_upstream"));
/// ```
pub struct OperatorSuite<T> {
    apply: Apply<T>,
    prefetch: Option<u64>,
    ratio: u64,
    output: Output,
    clock: Option<(VirtualTime, Duration)>,
    /// The operator subscribes its upstream only once downstream demand reached it.
    lazy: bool,
    /// Made by [`connectable`](Verification::connectable): connected after its probe.
    connectable: bool,
}

impl<T: Send + Clone + PartialEq + Debug + 'static> Verification<OperatorSuite<T>> {
    /// Verifies the operator that `apply` puts on an [`Upstream`].
    ///
    /// ```
    /// use rstreams_tck::{OperatorVerification, Upstream};
    ///
    /// // An identity "operator": the upstream itself. Real ones come from rstreams-ops,
    /// // e.g. `|up: Upstream| up.map(|x| x + 1)`.
    /// OperatorVerification::new(|up: Upstream| up).prefetch_bound(0).run().assert_compliant();
    /// ```
    pub fn new<F, P>(apply: F) -> Self
    where
        F: Fn(Upstream) -> P + Send + Sync + 'static,
        P: Publisher<Item = T> + 'static,
    {
        Verification::with(OperatorSuite {
            apply: Arc::new(move |up| {
                let p = apply(up);
                Applied {
                    subscribe: Box::new(move |rec: Recorder<T>| p.subscribe(rec)),
                    connect: None,
                }
            }),
            prefetch: None,
            ratio: 1,
            output: Output::Sequence,
            clock: None,
            lazy: false,
            connectable: false,
        })
    }

    /// Verifies a **connectable** operator: `apply` builds it on an [`Upstream`] (without
    /// subscribing that yet), and `connect` connects it, subscribing the upstream, and returns
    /// what ends the connection. Such an operator (`publish()` + `connect()`, `replay(n)`)
    /// subscribes its upstream at `connect`, not when it is subscribed, and keeps its
    /// connection when its subscribers leave: only the end of the connection cancels the
    /// upstream.
    ///
    /// The kit subscribes its probe, then connects (so the probe is there from the first
    /// element on), and runs every check. Where a check expects the downstream's cancel to
    /// reach upstream (§3.12), it cancels, then ends the connection with what `connect`
    /// returned, and expects *that* to reach upstream. Elsewhere it drops what `connect`
    /// returned without calling it: the connection runs on.
    ///
    /// ```
    /// use rstreams::{Publisher, Subscriber, Subscription};
    /// use rstreams_tck::{OperatorVerification, Upstream};
    /// use std::sync::{Arc, Mutex};
    ///
    /// /// A connectable identity: holds its one subscriber until `connect` subscribes the
    /// /// upstream to it; the connection ends by cancelling the upstream's subscription.
    /// #[derive(Clone)]
    /// struct Gate {
    ///     up: Upstream,
    ///     waiting: Arc<Mutex<Option<Box<dyn Subscriber<u64>>>>>,
    /// }
    ///
    /// struct Held(Arc<Mutex<Option<Arc<dyn Subscription>>>>, Box<dyn Subscriber<u64>>);
    ///
    /// impl Subscriber<u64> for Held {
    ///     fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
    ///         *self.0.lock().unwrap() = Some(Arc::clone(&s));
    ///         self.1.on_subscribe(s);
    ///     }
    ///     fn on_next(&mut self, x: u64) { self.1.on_next(x) }
    ///     fn on_error(&mut self, e: rstreams::Error) { self.1.on_error(e) }
    ///     fn on_complete(&mut self) { self.1.on_complete() }
    /// }
    ///
    /// impl Publisher for Gate {
    ///     type Item = u64;
    ///     fn subscribe<S: Subscriber<u64> + 'static>(&self, s: S) {
    ///         *self.waiting.lock().unwrap() = Some(Box::new(s));
    ///     }
    /// }
    ///
    /// impl Gate {
    ///     /// Subscribes the upstream; returns what ends the connection.
    ///     fn connect(&self) -> impl FnOnce() + Send + 'static {
    ///         let subscription = Arc::new(Mutex::new(None));
    ///         let down = self.waiting.lock().unwrap().take().expect("subscribed first");
    ///         self.up.subscribe(Held(Arc::clone(&subscription), down));
    ///         move || {
    ///             if let Some(s) = subscription.lock().unwrap().take() {
    ///                 s.cancel();
    ///             }
    ///         }
    ///     }
    /// }
    ///
    /// // The gate passes its subscriber's cancel on too, so only the §3.12 check needs the
    /// // connection's end; a real multicast (rstreams-ops' publish) needs it for every cancel.
    /// OperatorVerification::connectable(
    ///     |up: Upstream| Gate { up, waiting: Arc::default() },
    ///     |gate| gate.connect(),
    /// )
    /// .prefetch_bound(0)
    /// .run_check("op_rule_3_12_cancel_reaches_upstream")
    /// .assert_compliant();
    /// ```
    pub fn connectable<F, P, C, D>(apply: F, connect: C) -> Self
    where
        F: Fn(Upstream) -> P + Send + Sync + 'static,
        P: Publisher<Item = T> + 'static,
        C: Fn(&P) -> D + Send + Sync + 'static,
        D: FnOnce() + Send + 'static,
    {
        let connect = Arc::new(connect);
        Verification::with(OperatorSuite {
            apply: Arc::new(move |up| {
                let p = Arc::new(apply(up));
                let (to_subscribe, to_connect) = (Arc::clone(&p), p);
                let connect = Arc::clone(&connect);
                Applied {
                    subscribe: Box::new(move |rec: Recorder<T>| to_subscribe.subscribe(rec)),
                    connect: Some(Box::new(move || {
                        Box::new(connect(&to_connect)) as Disconnect
                    })),
                }
            }),
            prefetch: None,
            ratio: 1,
            output: Output::Sequence,
            clock: None,
            lazy: false,
            connectable: true,
        })
    }

    /// Declares that the operator subscribes its upstream **only once downstream demand
    /// reached it**, not when it is subscribed: `start_with(items)` delivers its items first
    /// and subscribes the upstream after them, as `concat` does with its second source.
    ///
    /// Before the checks that need the upstream subscribed (an upstream error reaching a
    /// downstream without demand, §4.2; a cancel reaching upstream, §3.12), the kit requests
    /// one element at a time until the upstream is subscribed, and fails §3.8 if it never is.
    /// A cancel that comes before the upstream was subscribed has no upstream to reach: the
    /// kit checks instead that the operator does not subscribe it afterwards (or cancels it as
    /// it does).
    ///
    /// An operator that subscribes its upstream at once passes too (the identity here; in
    /// rstreams-ops, `start_with` is verified this way, and `tests/later_upstream.rs` holds
    /// one that subscribes at the first request):
    ///
    /// ```
    /// use rstreams_tck::{OperatorVerification, Upstream};
    ///
    /// OperatorVerification::new(|up: Upstream| up)
    ///     .subscribes_upstream_on_demand()
    ///     .prefetch_bound(0)
    ///     .run()
    ///     .assert_compliant();
    /// ```
    pub fn subscribes_upstream_on_demand(mut self) -> Self {
        self.suite_mut().lazy = true;
        self
    }

    /// How far ahead of downstream demand the operator may request from upstream. Without it
    /// the bounded-demand check (K.2) is skipped.
    ///
    /// ```
    /// use rstreams_tck::{OperatorVerification, Upstream};
    ///
    /// let report = OperatorVerification::new(|up: Upstream| up)
    ///     .prefetch_bound(0)
    ///     .run_check("op_upstream_demand_stays_within_downstream_demand_plus_prefetch");
    /// report.assert_compliant();
    /// ```
    pub fn prefetch_bound(mut self, k: u64) -> Self {
        self.suite_mut().prefetch = Some(k);
        self
    }

    /// How many upstream elements one downstream element may need (`buffer(size)`: `size`).
    /// Default 1.
    ///
    /// ```
    /// use rstreams_tck::{OperatorVerification, Upstream};
    ///
    /// // The identity asks for no more than 1 per element, well within a ratio of 3.
    /// OperatorVerification::new(|up: Upstream| up)
    ///     .demand_ratio(3)
    ///     .prefetch_bound(0)
    ///     .run()
    ///     .assert_compliant();
    /// ```
    pub fn demand_ratio(mut self, ratio: u64) -> Self {
        self.suite_mut().ratio = ratio.max(1);
        self
    }

    /// Declares that the order of the output may depend on timing or demand (a merge of racing
    /// sources). The determinism check (K.1) then compares multisets: whatever the demand
    /// schedule, the same elements come out, nothing lost and nothing duplicated.
    ///
    /// ```
    /// use rstreams_tck::{OperatorVerification, Upstream};
    ///
    /// OperatorVerification::new(|up: Upstream| up)
    ///     .nondeterministic()
    ///     .run_check("op_output_does_not_depend_on_the_demand_schedule")
    ///     .assert_compliant();
    /// ```
    pub fn nondeterministic(mut self) -> Self {
        self.suite_mut().output = Output::Multiset;
        self
    }

    /// Declares that the operator drops elements by design when downstream is slow
    /// (`on_backpressure_drop`, `on_backpressure_latest`, an evicting buffer). The determinism
    /// check (K.1) then accepts any part of the output of unbounded demand, in any order, and
    /// still fails an element duplicated or made up.
    ///
    /// ```
    /// use rstreams_tck::{OperatorVerification, Upstream};
    ///
    /// OperatorVerification::new(|up: Upstream| up)
    ///     .lossy()
    ///     .run_check("op_output_does_not_depend_on_the_demand_schedule")
    ///     .assert_compliant();
    /// ```
    pub fn lossy(mut self) -> Self {
        self.suite_mut().output = Output::SubMultiset;
        self
    }

    /// For a time-based operator built on `clock`: while the checks run, the kit advances the
    /// clock by `step` about every millisecond, so that the operator's timers fire and its
    /// output flows. The checks are about the protocol, not timing; the operator's own tests
    /// pin its timing with the clock in hand (see [`Script`](crate::Script)).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use rstreams::scheduler::VirtualTime;
    /// use rstreams_tck::{OperatorVerification, Upstream};
    ///
    /// OperatorVerification::new(|up: Upstream| up)
    ///     .virtual_time(VirtualTime::new(), Duration::from_millis(5))
    ///     .prefetch_bound(0)
    ///     .run()
    ///     .assert_compliant();
    /// ```
    pub fn virtual_time(mut self, clock: VirtualTime, step: Duration) -> Self {
        self.suite_mut().clock = Some((clock, step));
        self
    }
}

impl<T: Send + Clone + PartialEq + Debug + 'static> Sealed for OperatorSuite<T> {
    const SUBJECT: &'static str = "operator";

    fn defs() -> Vec<CheckDef<Self>> {
        checks()
    }

    fn report(suite: &Arc<Self>, settings: &Settings, only: Option<&str>) -> Report {
        let _ticking = suite
            .clock
            .clone()
            .map(|(clock, step)| Ticker::start(clock, step));
        run_suite(suite, settings, only)
    }

    fn describe(&self, f: &mut fmt::DebugStruct<'_, '_>) {
        f.field("prefetch_bound", &self.prefetch)
            .field("demand_ratio", &self.ratio)
            .field("output", &self.output)
            .field("virtual_time", &self.clock.as_ref().map(|(_, step)| step))
            .field("subscribes_upstream_on_demand", &self.lazy)
            .field("connectable", &self.connectable);
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

/// Where to look when an operator stalls on the plain path.
const PLAIN_STALL: &str = "on the plain path every element uses a unit of demand: an operator that drops an element in on_next (a filter, a skip) must request(1) upstream to replace it. try_on_next may return false instead, on_next cannot; a publisher outside rstreams only calls on_next";

fn checks<T: Send + Clone + PartialEq + Debug + 'static>() -> Vec<CheckDef<OperatorSuite<T>>> {
    type D<T> = CheckDef<OperatorSuite<T>>;
    vec![
        D::new(
            "op_rule_1_1_never_emits_more_than_downstream_demand",
            "1.1",
            over_emission,
        )
        .look_at("the operator emitted beyond downstream's demand: count what downstream requested and emit only within it (support::Demand, or build the stage on support::Engine)")
        .also("after each generated schedule it also compares upstream's outstanding demand with downstream's (K.2, the demand bound), and checks that a cancel reached upstream (§3.12)"),
        D::new(
            "op_upstream_demand_stays_within_downstream_demand_plus_prefetch",
            "K.2",
            bounded_demand,
        ),
        D::new(
            "op_rule_3_8_downstream_demand_reaches_upstream",
            "3.8",
            no_stall,
        )
        .look_at("downstream's demand did not reach upstream: the operator must request from upstream what downstream asked for (times what one output needs), and replenish a prefetch as it is consumed"),
        D::new(
            "op_rule_3_9_request_zero_signals_error",
            "3.9",
            request_zero,
        ),
        D::new(
            "op_rule_3_12_cancel_reaches_upstream",
            "3.12",
            cancel_reaches_upstream,
        )
        .look_at("the operator's cancel must cancel its upstream subscription (support::UpstreamSlot::cancel, or EngineConfig::upstream)"),
        D::new(
            "op_rule_3_13_cancel_releases_the_downstream_subscriber",
            "3.13",
            cancel_releases,
        ),
        D::new(
            "op_rule_4_2_upstream_error_reaches_downstream_without_demand",
            "4.2",
            error_passes,
        ),
        D::new(
            "op_rule_1_5_upstream_completion_reaches_downstream",
            "1.5",
            completion_passes,
        ),
        D::new(
            "op_output_does_not_depend_on_the_demand_schedule",
            "K.1",
            determinism,
        ),
    ]
}

// ===== helpers =====

/// Runs `check` once with the kit's upstream on each signal path, conditional first; a
/// failure says which path it was found on.
pub(crate) fn on_both_paths(ctx: &Arc<Ctx>, check: impl Fn() -> Checked) -> Checked {
    for path in SignalPath::BOTH {
        ctx.set_path(path);
        ctx.reset_steps();
        check().map_err(|halt| match halt {
            Halt::Fail(mut f) => {
                f.message = format!("on {path}: {}", f.message);
                if path == SignalPath::Plain && f.rule == "3.8" && f.look_at.is_none() {
                    f.look_at = Some(PLAIN_STALL.into());
                }
                Halt::Fail(f)
            }
            skip => skip,
        })?;
    }
    Ok(())
}

impl<T: Send + 'static> OperatorSuite<T> {
    /// Whether the operator was made connectable (its checks connect it).
    fn connectable(&self) -> bool {
        self.connectable
    }

    /// `up` on the signal path of the pass that is running.
    fn upstream(&self, ctx: &Ctx, up: Upstream) -> Upstream {
        up.signalling(ctx.path())
    }

    fn start(&self, ctx: &Arc<Ctx>, up: &Upstream, initial: u64) -> (Recorder<T>, Weak<()>) {
        // A connectable's connection runs on: what ends it is dropped.
        let (rec, weak, _connection) = self.start_connected(ctx, up, initial);
        (rec, weak)
    }

    /// Applies the operator, subscribes a probe (requesting `initial` in `on_subscribe`), and
    /// connects a connectable operator: what ends its connection is returned.
    fn start_connected(
        &self,
        ctx: &Arc<Ctx>,
        up: &Upstream,
        initial: u64,
    ) -> (Recorder<T>, Weak<()>, Option<Disconnect>) {
        let rec = Recorder::new(initial, Some(Arc::clone(ctx)));
        let (subscriber, weak) = rec.subscriber();
        ctx.step(Step::Subscribe);
        let applied = ctx.call("applying the operator", "1.9", || (self.apply)(up.clone()));
        ctx.call("subscribe", "1.9", || (applied.subscribe)(subscriber));
        let connection = applied.connect.as_ref().map(|connect| {
            ctx.step(Step::Connect);
            ctx.call("connect", "1.9", connect)
        });
        // on_subscribe may come asynchronously; checks that need it wait for what follows.
        rec.wait_until(ctx.signal(), |s| s.subscribe_count > 0);
        (rec, weak, connection)
    }

    /// For an operator that subscribes its upstream on demand
    /// ([`subscribes_upstream_on_demand`](crate::OperatorVerification::subscribes_upstream_on_demand)):
    /// requests one element at a time until the upstream is subscribed (or the stream ended).
    /// Fails §3.8 when it never is. Does nothing for other operators.
    fn drive_to_upstream(&self, ctx: &Ctx, rec: &Recorder<T>, up: &Upstream) -> Checked {
        if !self.lazy {
            return Ok(());
        }
        let subscribed = || up.stats().subscriptions > 0;
        let deadline = Instant::now() + ctx.signal();
        let mut requests = 0u64;
        while !subscribed() && !rec.is_terminated() {
            if Instant::now() >= deadline {
                return Err(rec
                    .failure(
                        "3.8",
                        format!(
                            "the operator subscribes its upstream on demand (declared), but after {requests} request(1) one at a time (received {}) it still had not",
                            rec.received()
                        ),
                    )
                    .waited()
                    .into());
            }
            let before = rec.received();
            rec.request(1);
            requests += 1;
            rec.wait_until(ctx.signal(), |st| {
                st.received > before || st.complete || st.error.is_some() || subscribed()
            });
        }
        Ok(())
    }

    /// Ends a connectable operator's connection (the downstream cancelled; a connectable
    /// keeps its connection when its subscribers leave, so its end is what must reach
    /// upstream).
    fn end_connection(ctx: &Ctx, connection: Option<Disconnect>) {
        if let Some(disconnect) = connection {
            ctx.step(Step::Disconnect);
            ctx.call("end the connection", "3.12", disconnect);
        }
    }

    /// Upstream's outstanding demand within the declared bound of downstream's?
    ///
    /// Outstanding demand is compared: an operator that replaces a dropped element with
    /// `request(1)` asks for more in total than downstream did, but never holds more
    /// outstanding. At the top of the range, totals are compared with saturating arithmetic:
    /// when downstream's total demand (times the ratio) plus the prefetch (plus the elements
    /// the operator did not pass on one for one) saturates, an unbounded upstream demand is
    /// within the bound.
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
        let stats = up.stats();
        // Upstream's total may also run ahead of downstream's by the elements the operator
        // did not pass on one for one (dropped and replaced with request(1), or combined).
        let not_passed_on = stats.emitted.saturating_sub(down_received);
        if stats.requested == u64::MAX
            && mul_cap(down_requested, self.ratio)
                .saturating_add(prefetch)
                .saturating_add(not_passed_on)
                == u64::MAX
        {
            return Ok(());
        }
        let down_outstanding = down_requested - down_received.min(down_requested);
        let bound = mul_cap(down_outstanding, self.ratio).saturating_add(prefetch);
        let up_outstanding = up.outstanding();
        if up_outstanding > bound {
            return Err(rec.failure(
                "K.2",
                format!(
                    "upstream has {} outstanding ({} requested, {} emitted), but downstream has only {down_outstanding} outstanding ({} requested, {down_received} received; bound: {down_outstanding} × {} + prefetch {prefetch} = {bound}); an operator that runs ahead of demand like this queues without bound",
                    fmt_demand(up_outstanding),
                    fmt_demand(stats.requested),
                    stats.emitted,
                    fmt_demand(down_requested),
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

fn wait(ctx: &Ctx, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + ctx.signal();
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    true
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

// ===== checks =====

fn over_emission<T: Send + Clone + 'static>(s: &OperatorSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    on_both_paths(ctx, || {
        generated(ctx, demand_schedule(8), |steps: &Vec<Step>| {
            let up = s.upstream(ctx, Upstream::emitting(60));
            let (rec, _, connection) = s.start_connected(ctx, &up, 0);
            for step in steps {
                apply_step(&rec, step);
                rec.clean()?;
            }
            // Over-emission is caught inside on_next as it happens; the demand bound is
            // compared once signals have settled, so that an element in flight is not
            // miscounted.
            rec.settle();
            rec.clean()?;
            s.within_bound(&rec, &up)?;
            let cancelled_live = {
                let st = rec.lock();
                st.cancelled && !st.complete && st.error.is_none()
            };
            // An upstream that has ended needs no cancel (§1.6); a live one must get it (from
            // a connectable, when its connection ends). One that a lazy operator never
            // subscribed has nothing to cancel.
            if cancelled_live {
                OperatorSuite::<T>::end_connection(ctx, connection);
                let reached = || {
                    up.is_cancelled()
                        || up.is_terminated()
                        || (s.lazy && up.stats().subscriptions == 0)
                };
                if !wait(ctx, reached) {
                    return Err(rec
                        .failure(
                            "3.12",
                            if s.connectable() {
                                "downstream cancelled and the connection ended, but the cancel never reached upstream"
                            } else {
                                "downstream cancelled, but the cancel never reached upstream"
                            },
                        )
                        .waited());
                }
            }
            rec.clean()
        })
    })
}

fn bounded_demand<T: Send + Clone + 'static>(s: &OperatorSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    if s.prefetch.is_none() {
        return skip("no prefetch_bound declared");
    }
    on_both_paths(ctx, || {
        let up = s.upstream(ctx, Upstream::emitting(1_000));
        let (rec, _) = s.start(ctx, &up, 0);
        rec.settle();
        s.within_bound(&rec, &up)?;
        for n in [1, 5, 3, 16, 1] {
            rec.request(n);
            rec.settle();
            rec.clean()?;
            s.within_bound(&rec, &up)?;
        }
        // At the top of the range: downstream's total just short of unbounded.
        let total = rec.lock().requested_total;
        rec.request(u64::MAX - 1 - total);
        rec.settle();
        rec.clean()?;
        Ok(s.within_bound(&rec, &up)?)
    })
}

fn no_stall<T: Send + Clone + 'static>(s: &OperatorSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    on_both_paths(ctx, || {
        let up = s.upstream(ctx, Upstream::emitting(1_000));
        let (rec, _) = s.start(ctx, &up, 0);
        rec.request(5);
        let t = ctx.signal();
        let deadline = Instant::now() + t;
        loop {
            if rec.received() >= 5 || rec.is_terminated() {
                return Ok(rec.clean()?);
            }
            let asked_for_nothing = up.outstanding() == 0 && up.emitted() < up.elements();
            if Instant::now() >= deadline {
                if asked_for_nothing {
                    let stats = up.stats();
                    return Err(rec
                        .fail(format!(
                            "stalled: downstream requested 5 and received {}; upstream was asked for {} and emitted {} of {}; no signal for {t:?}",
                            rec.received(),
                            fmt_demand(stats.requested),
                            stats.emitted,
                            up.elements()
                        ))
                        .waited()
                        .into());
                }
                return Ok(rec.clean()?);
            }
            rec.quiet_for(ctx.quiet());
        }
    })
}

fn request_zero<T: Send + Clone + 'static>(s: &OperatorSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    on_both_paths(ctx, || {
        // A live stream: an upstream that never completes, so an operator that drains it
        // without demand (on_backpressure_drop) has not ended when request(0) comes.
        let up = s.upstream(ctx, Upstream::never_completing(10));
        let (rec, _) = s.start(ctx, &up, 0);
        rec.settle();
        if rec.is_terminated() {
            return skip(
                "the operator ended before any request, so request(0) has nothing to fail (§1.7)",
            );
        }
        rec.request(0);
        rec.expect_error("request(0) was called")?;
        Ok(rec.clean()?)
    })
}

fn cancel_reaches_upstream<T: Send + Clone + 'static>(
    s: &OperatorSuite<T>,
    ctx: &Arc<Ctx>,
) -> Checked {
    on_both_paths(ctx, || {
        if s.lazy {
            cancel_before_the_upstream_is_subscribed(s, ctx)?;
        }
        let up = s.upstream(ctx, Upstream::never_completing(1_000));
        let (rec, _, connection) = s.start_connected(ctx, &up, 1);
        rec.wait_until(ctx.signal(), |st| {
            st.received > 0 || st.complete || st.error.is_some()
        });
        s.drive_to_upstream(ctx, &rec, &up)?;
        rec.cancel();
        let connectable = connection.is_some();
        OperatorSuite::<T>::end_connection(ctx, connection);
        if !wait(ctx, || up.is_cancelled()) {
            return Err(rec
                .fail(format!(
                    "downstream cancelled{}, but upstream saw no cancel within {:?}",
                    if connectable {
                        " and the connection ended"
                    } else {
                        ""
                    },
                    ctx.signal()
                ))
                .waited()
                .into());
        }
        Ok(rec.clean()?)
    })
}

/// A lazy operator cancelled before it subscribed its upstream: it must not subscribe it
/// afterwards, or must cancel it as it does (§3.12: the cancel still stops everything).
fn cancel_before_the_upstream_is_subscribed<T: Send + Clone + 'static>(
    s: &OperatorSuite<T>,
    ctx: &Arc<Ctx>,
) -> Checked {
    let up = s.upstream(ctx, Upstream::never_completing(1_000));
    let (rec, _) = s.start(ctx, &up, 0);
    rec.settle();
    if up.stats().subscriptions > 0 || rec.is_terminated() {
        return Ok(()); // subscribed at once after all: the check below covers it
    }
    rec.cancel();
    rec.settle();
    if up.stats().subscriptions > 0 && !wait(ctx, || up.is_cancelled()) {
        return Err(rec
            .fail(
                "downstream cancelled before the operator subscribed its upstream, and the operator subscribed it afterwards without cancelling it",
            )
            .waited()
            .into());
    }
    Ok(rec.clean()?)
}

fn cancel_releases<T: Send + Clone + 'static>(s: &OperatorSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    on_both_paths(ctx, || {
        let up = s.upstream(ctx, Upstream::never_completing(1_000));
        let (rec, weak) = s.start(ctx, &up, 1);
        rec.wait_until(ctx.signal(), |st| {
            st.received > 0 || st.complete || st.error.is_some()
        });
        rec.cancel();
        Ok(rec.expect_released(&weak, "after cancel, the downstream subscriber")?)
    })
}

fn error_passes<T: Send + Clone + 'static>(s: &OperatorSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    on_both_paths(ctx, || {
        let up = s.upstream(
            ctx,
            Upstream::failing_after(0, Error::msg("tck: upstream failure")),
        );
        let (rec, _) = s.start(ctx, &up, 0);
        s.drive_to_upstream(ctx, &rec, &up)?;
        rec.expect_error("upstream failed, and downstream (with no demand) must hear of it")?;
        Ok(rec.clean()?)
    })
}

fn completion_passes<T: Send + Clone + 'static>(s: &OperatorSuite<T>, ctx: &Arc<Ctx>) -> Checked {
    on_both_paths(ctx, || {
        let up = s.upstream(ctx, Upstream::emitting(5));
        let (rec, _) = s.start(ctx, &up, u64::MAX);
        rec.expect_complete()
            .map_err(|f| with_context(f, "upstream completed"))?;
        // An empty upstream: completion may come without demand, or once demand arrives (an
        // operator that adds elements of its own, like merge or concat, has those to deliver).
        let empty = s.upstream(ctx, Upstream::emitting(0));
        let (rec, _) = s.start(ctx, &empty, 0);
        rec.settle();
        if !rec.is_terminated() {
            rec.request(u64::MAX);
        }
        rec.expect_complete()
            .map_err(|f| with_context(f, "an empty upstream completed"))?;
        Ok(rec.clean()?)
    })
}

fn with_context(mut f: Failure, what: &str) -> Failure {
    f.message = format!("{what}, but downstream: {}", f.message);
    f
}

/// Matches `got` against `reference` element by element, in any order: what `reference` has
/// that `got` lacks, and what `got` has beyond `reference` (a duplicate, or an element made up).
fn multiset_difference<T: PartialEq + Clone>(reference: &[T], got: &[T]) -> (Vec<T>, Vec<T>) {
    let mut used = vec![false; reference.len()];
    let mut extra = Vec::new();
    for x in got {
        match (0..reference.len()).find(|&i| !used[i] && reference[i] == *x) {
            Some(i) => used[i] = true,
            None => extra.push(x.clone()),
        }
    }
    let missing = reference
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(x, _)| x.clone())
        .collect();
    (missing, extra)
}

fn determinism<T: Send + Clone + PartialEq + Debug + 'static>(
    s: &OperatorSuite<T>,
    ctx: &Arc<Ctx>,
) -> Checked {
    // The reference: everything at once, on the conditional path.
    ctx.set_path(SignalPath::Conditional);
    let up = Upstream::emitting(40);
    let (rec, _) = s.start(ctx, &up, u64::MAX);
    rec.wait_until(ctx.signal(), |st| st.complete || st.error.is_some());
    let reference = rec.lock().values.clone();
    let reference_complete = rec.lock().complete;
    let output = s.output;
    let differs = |got: &[T], whole: bool| -> Option<String> {
        match output {
            Output::Sequence => {
                let ok = if whole {
                    got == &reference[..]
                } else {
                    got.len() <= reference.len() && got[..] == reference[..got.len()]
                };
                (!ok).then(String::new)
            }
            Output::Multiset | Output::SubMultiset => {
                let (missing, extra) = multiset_difference(&reference, got);
                let lost = whole && output == Output::Multiset && !missing.is_empty();
                (lost || !extra.is_empty()).then(|| {
                    let mut what = Vec::new();
                    if lost {
                        what.push(format!("lost {missing:?}"));
                    }
                    if !extra.is_empty() {
                        what.push(format!("duplicated or made up {extra:?}"));
                    }
                    format!(" ({}; compared as multisets)", what.join(", "))
                })
            }
        }
    };
    on_both_paths(ctx, || {
        generated(ctx, request_schedule(10), |steps: &Vec<Step>| {
            let up = s.upstream(ctx, Upstream::emitting(40));
            let (rec, _) = s.start(ctx, &up, 0);
            for step in steps {
                apply_step(&rec, step);
            }
            rec.settle();
            rec.clean()?;
            let got = rec.lock().values.clone();
            if let Some(how) = differs(&got, false) {
                return Err(rec.fail(format!(
                    "the output depends on the demand schedule: with unbounded demand it was {reference:?}, with this schedule so far {got:?}{how}"
                )));
            }
            // Ask for the rest: the output must then be the whole reference. (A reference
            // that never ended is waited for by its length, not for the full timeout.)
            rec.request(u64::MAX);
            let enough = reference.len();
            let by_length = !reference_complete && output != Output::SubMultiset;
            rec.wait_until(ctx.signal(), |st| {
                st.complete || st.error.is_some() || (by_length && st.values.len() >= enough)
            });
            if !reference_complete {
                rec.settle();
            }
            let got = rec.lock().values.clone();
            let complete = rec.lock().complete;
            if let Some(how) = differs(&got, true) {
                return Err(rec.fail(format!(
                    "the output depends on the demand schedule: with unbounded demand it was {reference:?}, with this schedule then unbounded {got:?}{how}"
                )));
            }
            if complete != reference_complete {
                return Err(rec.fail(format!(
                    "with unbounded demand the stream {} completed, with this schedule then unbounded it {} ({})",
                    if reference_complete { "" } else { "never" },
                    if complete { "did" } else { "did not" },
                    rec.summary()
                )));
            }
            rec.clean()
        })
    })
}
