//! A pipeline riding through a flaky dependency: a latency spike, then an outage (100 % of the
//! calls fail for seconds), then recovery, handled by `timeout`, `retry` and a
//! `CircuitBreaker`, with every element accounted for and the whole run drawn to
//! `resilience.svg`.
//!
//! Run: `cargo run --release -p rstreams-showcase --example resilience` (6 000 elements over
//! about 30 s of virtual time). For CI:
//! `cargo run --release -p rstreams-showcase --example resilience -- --small` (2 000 elements,
//! about 13 s of virtual time). Add `--out PATH` to write the chart elsewhere than
//! `./resilience.svg`. Everything runs on `VirtualTime`: the dependency's latencies, the
//! outage, the breaker's open period, the timeout and the retry delays are virtual, so a run
//! takes a fraction of a second of real time and prints the same numbers on every machine.
//!
//! The dependency is a hand-written `tower::Service` whose behaviour depends on the virtual
//! time a call starts at:
//!
//! - **healthy**: 10–39 ms per call, 1 call in 100 fails (background noise);
//! - **latency spike**: 3 calls in 4 take 2 s (and then succeed);
//! - **outage**: every call fails after 25 ms ("503 service unavailable").
//!
//! The pipeline:
//!
//! ```text
//! source (resumes from a ledger: what is not done yet, failed elements first)
//!   .on_request(count)                        -- the demand the source sees
//!   .call(breaker ∘ dependency, 8)            -- 8 calls at most; asks the source only when ready
//!   .unordered()
//!   .on_failure(route to the ledger's redo queue)
//!   .timeout_on(400 ms, clock)                -- no response for 400 ms of demand: cut the attempt
//!   .concat(fail if failed elements still wait to be redone)
//!   .retry(exponential 100 ms..1 s, full jitter, on the clock)
//!   -> for_each(mark delivered in the ledger)
//! ```
//!
//! What each part does here:
//!
//! - The **circuit breaker** (a tower layer: `ServiceBuilder::new().layer(breaker.clone())`)
//!   opens at 50 % failures over the last 20 calls. Open, its `poll_ready` is pending, so
//!   `call` requests **nothing** from the source: the elements wait upstream instead of being
//!   failed. After 1 s it lets 3 probes through; during the outage they fail and it opens
//!   again; after recovery they succeed and it closes (a probe can also hit one of the 1 %
//!   background errors: then it stays open one more second).
//! - **`on_failure`** routes each failed call's element back to the source's redo queue (the
//!   failure route); the source emits those first, as soon as `call` asks for elements again.
//! - **`timeout_on`** cuts an attempt that has delivered nothing for 400 ms while demand was
//!   outstanding: the calls stuck in the latency spike (their futures are dropped, which the
//!   breaker counts as nothing, so a spike does not open it), and the waiting while the breaker
//!   is open. **`retry`** then subscribes again after a jittered backoff, and the source
//!   resumes from the ledger: the cut elements are issued again, nothing already delivered is.
//! - The final `concat` fails the attempt when failed elements are still waiting to be redone
//!   after the source ran dry, so `retry` runs one more attempt for them.
//!
//! The example prints a table per second of virtual time and exits with status 1 unless: every
//! element was delivered exactly once (failed calls routed, then redone and delivered); the
//! source was asked for nothing while the breaker was open; no call reached the dependency
//! while it was open; the breaker opened during the outage and not before, and was closed again
//! after recovery; the timeout cut calls in the latency spike; and the stream completed.

use std::collections::VecDeque;
use std::error::Error as StdError;
use std::future::Future;
use std::ops::Range;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use plotters::prelude::*;
use rstreams::ops::{
    BoxError, BreakerConfig, BreakerState, CircuitBreaker, Jitter, PublisherExt, RetryPolicy,
};
use rstreams::scheduler::{Scheduler, Task, VirtualTime};
use rstreams::{sink, source, Error, ErrorKind, Publisher};
use tower::ServiceBuilder;

/// At most this many calls at once (`call`'s `max_in_flight`).
const MAX_IN_FLIGHT: usize = 8;
/// An attempt that delivers nothing for this long while demand is outstanding is cut.
const STALL: Duration = Duration::from_millis(400);
/// How long a slow call takes in the latency spike.
const SPIKE_LATENCY: Duration = Duration::from_secs(2);
/// How long a call takes to fail in the outage.
const OUTAGE_LATENCY: Duration = Duration::from_millis(25);
/// The driver moves the clock by this much at a time, and samples the gauges after each step.
const TICK: Duration = Duration::from_millis(10);
/// The chart's resolution.
const BUCKET: Duration = Duration::from_millis(100);

fn breaker_config() -> BreakerConfig {
    BreakerConfig {
        failure_rate: 0.5,
        window: 20,
        min_calls: 10,
        open_for: Duration::from_secs(1),
        half_open_probes: 3,
    }
}

fn retry_policy(clock: &VirtualTime) -> RetryPolicy {
    RetryPolicy::exponential(Duration::from_millis(100), Duration::from_secs(1))
        .max_attempts(30)
        .jitter(Jitter::Full)
        .seed(7)
        .on(clock.clone())
}

/// When the dependency misbehaves, in virtual time since the start, and how much work there is.
#[derive(Clone)]
struct Scenario {
    elements: u64,
    spike: Range<Duration>,
    outage: Range<Duration>,
}

impl Scenario {
    fn new(small: bool) -> Self {
        let s = Duration::from_secs_f64;
        if small {
            Scenario {
                elements: 2_000,
                spike: s(2.0)..s(3.5),
                outage: s(5.0)..s(8.0),
            }
        } else {
            Scenario {
                elements: 6_000,
                spike: s(5.0)..s(8.0),
                outage: s(12.0)..s(19.0),
            }
        }
    }

    fn phase(&self, t: Duration) -> &'static str {
        if self.outage.contains(&t) {
            "outage"
        } else if self.spike.contains(&t) {
            "spike"
        } else if t >= self.outage.end {
            "recovered"
        } else {
            "healthy"
        }
    }

    /// How a call started at `t` behaves: its latency, and whether it succeeds. `draw` is a
    /// pseudo-random number fixed by the call's sequence number.
    fn behaviour(&self, t: Duration, draw: u64) -> (Duration, bool) {
        if self.outage.contains(&t) {
            (OUTAGE_LATENCY, false)
        } else if self.spike.contains(&t) && !draw.is_multiple_of(4) {
            (SPIKE_LATENCY, true)
        } else {
            (Duration::from_millis(10 + draw % 30), draw % 100 != 42)
        }
    }
}

/// splitmix64: a deterministic pseudo-random number per call.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ===== what is measured =====

/// The counts of one `BUCKET` of virtual time.
#[derive(Default, Clone, Copy)]
struct Bucket {
    /// Calls that reached the dependency.
    calls: u64,
    succeeded: u64,
    failed: u64,
    /// Calls dropped before they completed (their attempt was cut by the timeout).
    cut: u64,
    delivered: u64,
    /// Elements requested from the source.
    requested: u64,
    /// Of those, while the breaker was open (must stay 0).
    requested_while_open: u64,
    /// Subscriptions of the source after the first (the retries).
    retries: u64,
    /// The most calls in flight, and the most demand outstanding at the source, at a tick.
    max_in_flight: u64,
    max_outstanding: u64,
    /// Ticks spent in each state: closed, half-open, open.
    ticks: [u32; 3],
    /// The state at the end of the bucket.
    state: Option<BreakerState>,
}

/// Everything measured, by bucket, plus the gauges and the breaker's changes of state.
#[derive(Default)]
struct Timeline {
    buckets: Vec<Bucket>,
    in_flight: u64,
    /// Requested from the source minus emitted by it, in the current subscription.
    outstanding: u64,
    /// (virtual time, state entered, total requested from the source by then).
    changes: Vec<(Duration, BreakerState, u64)>,
    requested_total: u64,
    /// Calls that reached the dependency while the breaker was open (must stay 0).
    reached_while_open: u64,
    /// The errors `retry` retried: (virtual time, whether it was a timeout).
    retried: Vec<(Duration, bool)>,
}

impl Timeline {
    fn at(&mut self, t: Duration) -> &mut Bucket {
        let i = (t.as_nanos() / BUCKET.as_nanos()) as usize;
        if self.buckets.len() <= i {
            self.buckets.resize(i + 1, Bucket::default());
        }
        &mut self.buckets[i]
    }
}

fn state_index(state: BreakerState) -> usize {
    match state {
        BreakerState::Closed => 0,
        BreakerState::HalfOpen => 1,
        BreakerState::Open => 2,
    }
}

fn state_name(state: BreakerState) -> &'static str {
    ["closed", "half-open", "open"][state_index(state)]
}

// ===== the ledger: where every element is =====

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Slot {
    /// Not taken by the source yet.
    Fresh,
    /// Taken by the source in the current subscription (called, or about to be).
    Taken,
    /// Its call failed: routed to the redo queue.
    Routed,
    Delivered,
}

/// Where each element is, and what must be done again. The source reads it on every
/// subscription, so a retried pipeline resumes instead of starting over.
struct Ledger {
    slots: Vec<Slot>,
    next_fresh: usize,
    /// Elements to issue again, before fresh ones: failed calls, and the elements of a cut
    /// attempt.
    redo: VecDeque<u64>,
    /// Elements delivered more than once, or delivered / routed while not taken (must stay 0).
    anomalies: Vec<String>,
    routed: u64,
    /// Elements issued again because the attempt that held them was cut.
    reissued: u64,
    subscriptions: u64,
}

impl Ledger {
    fn new(elements: u64) -> Self {
        Ledger {
            slots: vec![Slot::Fresh; elements as usize],
            next_fresh: 0,
            redo: VecDeque::new(),
            anomalies: Vec::new(),
            routed: 0,
            reissued: 0,
            subscriptions: 0,
        }
    }

    /// A new subscription of the source: the elements the previous one took and did not
    /// finish (its calls were dropped when the attempt was cut) are issued again, first.
    fn subscribed(&mut self) {
        self.subscriptions += 1;
        let mut stranded: Vec<u64> = (0..self.next_fresh)
            .filter(|&id| self.slots[id] == Slot::Taken)
            .map(|id| id as u64)
            .collect();
        stranded.sort_unstable();
        for &id in stranded.iter().rev() {
            self.slots[id as usize] = Slot::Routed;
            self.redo.push_front(id);
        }
        self.reissued += stranded.len() as u64;
    }

    /// The next element for the source: a failed or stranded one first, else a fresh one.
    fn take(&mut self) -> Option<u64> {
        let id = match self.redo.pop_front() {
            Some(id) => id,
            None if self.next_fresh < self.slots.len() => {
                self.next_fresh += 1;
                (self.next_fresh - 1) as u64
            }
            None => return None,
        };
        self.slots[id as usize] = Slot::Taken;
        Some(id)
    }

    fn route(&mut self, id: u64) {
        let slot = &mut self.slots[id as usize];
        if *slot != Slot::Taken {
            self.anomalies
                .push(format!("element {id} routed while {slot:?}"));
        }
        *slot = Slot::Routed;
        self.redo.push_back(id);
        self.routed += 1;
    }

    fn deliver(&mut self, id: u64) {
        let slot = &mut self.slots[id as usize];
        if *slot != Slot::Taken {
            self.anomalies
                .push(format!("element {id} delivered while {slot:?}"));
        }
        *slot = Slot::Delivered;
    }

    fn waiting(&self) -> usize {
        self.redo.len()
    }
}

/// The source's iterator: takes from the ledger.
struct Pending(Arc<Mutex<Ledger>>);

impl Iterator for Pending {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        lock(&self.0).take()
    }
}

// ===== the flaky dependency: a hand-written tower Service on virtual time =====

#[derive(Clone)]
struct Dependency {
    clock: VirtualTime,
    scenario: Scenario,
    timeline: Arc<Mutex<Timeline>>,
    /// Only to check that no call reaches the dependency while the breaker is open.
    breaker: CircuitBreaker,
    calls: Arc<Mutex<u64>>,
}

impl tower::Service<u64> for Dependency {
    type Response = u64;
    type Error = Error;
    type Future = DependencyCall;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, id: u64) -> DependencyCall {
        let now = self.clock.elapsed();
        let seq = {
            let mut calls = lock(&self.calls);
            *calls += 1;
            *calls
        };
        let (latency, ok) = self.scenario.behaviour(now, mix(seq));
        let open = self.breaker.state() == BreakerState::Open;
        {
            let mut tl = lock(&self.timeline);
            tl.at(now).calls += 1;
            tl.in_flight += 1;
            tl.reached_while_open += u64::from(open);
        }
        DependencyCall {
            clock: self.clock.clone(),
            timeline: Arc::clone(&self.timeline),
            id,
            due: now + latency,
            ok,
            scheduled: false,
            done: false,
        }
    }
}

/// One call in flight: completes at `due` on the virtual clock (a task on the clock wakes it).
/// Dropped before that, it counts as cut.
struct DependencyCall {
    clock: VirtualTime,
    timeline: Arc<Mutex<Timeline>>,
    id: u64,
    due: Duration,
    ok: bool,
    scheduled: bool,
    done: bool,
}

impl Future for DependencyCall {
    type Output = Result<u64, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let now = self.clock.elapsed();
        if now < self.due {
            if !self.scheduled {
                self.scheduled = true;
                let waker = cx.waker().clone();
                self.clock
                    .schedule_after(self.due - now, Task::new(move || waker.wake()));
            }
            return Poll::Pending;
        }
        self.done = true;
        {
            let mut tl = lock(&self.timeline);
            tl.in_flight -= 1;
            let bucket = tl.at(now);
            if self.ok {
                bucket.succeeded += 1;
            } else {
                bucket.failed += 1;
            }
        }
        Poll::Ready(if self.ok {
            Ok(self.id)
        } else {
            Err(Error::msg(format!(
                "503 service unavailable (element {})",
                self.id
            )))
        })
    }
}

impl Drop for DependencyCall {
    fn drop(&mut self) {
        if !self.done {
            let now = self.clock.elapsed();
            let mut tl = lock(&self.timeline);
            tl.in_flight -= 1;
            tl.at(now).cut += 1;
        }
    }
}

// ===== the run =====

struct Outcome {
    scenario: Scenario,
    timeline: Timeline,
    ledger: Ledger,
    /// How each element ended downstream: times delivered.
    deliveries: Vec<u32>,
    end: Result<(), Error>,
    finished_at: Duration,
    breaker_end: BreakerState,
    breaker_opened: u64,
}

fn run(scenario: Scenario) -> Outcome {
    let clock = VirtualTime::new();
    let breaker = CircuitBreaker::new_on(breaker_config(), clock.clone());
    let timeline = Arc::new(Mutex::new(Timeline::default()));
    let ledger = Arc::new(Mutex::new(Ledger::new(scenario.elements)));
    let deliveries = Arc::new(Mutex::new(vec![0u32; scenario.elements as usize]));

    {
        let (tl, clock) = (Arc::clone(&timeline), clock.clone());
        breaker.on_state_change(move |change| {
            let mut tl = lock(&tl);
            let requested = tl.requested_total;
            tl.changes.push((clock.elapsed(), change.to, requested));
        });
    }

    let dependency = Dependency {
        clock: clock.clone(),
        scenario: scenario.clone(),
        timeline: Arc::clone(&timeline),
        breaker: breaker.clone(),
        calls: Arc::new(Mutex::new(0)),
    };
    let service = ServiceBuilder::new()
        .layer(breaker.clone())
        .service(dependency);

    // The source: resumes from the ledger on every subscription; counts what it is asked for.
    let source = {
        let (ledger, tl, clock) = (Arc::clone(&ledger), Arc::clone(&timeline), clock.clone());
        source::defer(move || {
            let retry = {
                let mut ledger = lock(&ledger);
                ledger.subscribed();
                ledger.subscriptions > 1
            };
            let mut tl = lock(&tl);
            tl.outstanding = 0;
            tl.at(clock.elapsed()).retries += u64::from(retry);
            source::from_iter_once(Pending(Arc::clone(&ledger)))
        })
    };
    let counted = {
        let (tl, clock, breaker) = (Arc::clone(&timeline), clock.clone(), breaker.clone());
        source.on_request(move |n| {
            let open = breaker.state() == BreakerState::Open;
            let mut tl = lock(&tl);
            tl.requested_total = tl.requested_total.saturating_add(n);
            tl.outstanding = tl.outstanding.saturating_add(n);
            let bucket = tl.at(clock.elapsed());
            bucket.requested = bucket.requested.saturating_add(n);
            if open {
                bucket.requested_while_open = bucket.requested_while_open.saturating_add(n);
            }
        })
    };
    let emitted = {
        let tl = Arc::clone(&timeline);
        counted.inspect(move |_| {
            let mut tl = lock(&tl);
            tl.outstanding = tl.outstanding.saturating_sub(1);
        })
    };

    let route = Arc::clone(&ledger);
    let check = Arc::clone(&ledger);
    let log = (Arc::clone(&timeline), clock.clone());
    let pipeline = emitted
        .call(service, MAX_IN_FLIGHT)
        .unordered()
        .on_failure(move |id, _error: BoxError| lock(&route).route(id))
        .timeout_on(STALL, clock.clone())
        .concat(source::defer(move || match lock(&check).waiting() {
            0 => source::empty().boxed(),
            n => source::fail(Error::msg(format!("{n} failed elements wait to be redone"))).boxed(),
        }))
        .map_err(move |error| {
            let timeout = error.kind() == ErrorKind::Timeout;
            lock(&log.0).retried.push((log.1.elapsed(), timeout));
            error
        })
        .retry(retry_policy(&clock));

    let consumer = {
        let (ledger, tl, clock, deliveries) = (
            Arc::clone(&ledger),
            Arc::clone(&timeline),
            clock.clone(),
            Arc::clone(&deliveries),
        );
        sink::for_each(move |id: u64| {
            lock(&ledger).deliver(id);
            lock(&deliveries)[id as usize] += 1;
            lock(&tl).at(clock.elapsed()).delivered += 1;
        })
    };
    let handle = consumer.handle();
    pipeline.subscribe(consumer);

    // Drive the clock, sampling the gauges after each step.
    let limit = scenario.outage.end + Duration::from_secs(120);
    while !handle.is_done() && clock.elapsed() < limit {
        clock.advance_by(TICK);
        let state = breaker.state();
        let mut tl = lock(&timeline);
        let (in_flight, outstanding) = (tl.in_flight, tl.outstanding);
        // The sample at the end of a step belongs to the bucket that step ran in.
        let bucket = tl.at(clock.elapsed() - TICK);
        bucket.max_in_flight = bucket.max_in_flight.max(in_flight);
        bucket.max_outstanding = bucket.max_outstanding.max(outstanding);
        bucket.ticks[state_index(state)] += 1;
        bucket.state = Some(state);
    }
    let end = match handle.wait_timeout(Duration::ZERO) {
        Some(end) => end,
        None => {
            handle.cancel();
            Err(Error::msg(format!(
                "the stream had not ended after {limit:?} of virtual time"
            )))
        }
    };
    let finished_at = clock.elapsed();
    let metrics = breaker.metrics();
    let timeline = std::mem::take(&mut *lock(&timeline));
    let ledger = std::mem::replace(&mut *lock(&ledger), Ledger::new(0));
    let deliveries = std::mem::take(&mut *lock(&deliveries));
    Outcome {
        scenario,
        timeline,
        ledger,
        deliveries,
        end,
        finished_at,
        breaker_end: metrics.state,
        breaker_opened: metrics.opened,
    }
}

// ===== the report =====

/// The buckets of second `s`.
fn second(timeline: &Timeline, s: usize) -> Bucket {
    let per = (Duration::from_secs(1).as_nanos() / BUCKET.as_nanos()) as usize;
    let mut sum = Bucket::default();
    for b in timeline.buckets.iter().skip(s * per).take(per) {
        sum.calls += b.calls;
        sum.succeeded += b.succeeded;
        sum.failed += b.failed;
        sum.cut += b.cut;
        sum.delivered += b.delivered;
        sum.requested += b.requested;
        sum.requested_while_open += b.requested_while_open;
        sum.retries += b.retries;
        sum.max_in_flight = sum.max_in_flight.max(b.max_in_flight);
        sum.max_outstanding = sum.max_outstanding.max(b.max_outstanding);
        for i in 0..3 {
            sum.ticks[i] += b.ticks[i];
        }
        sum.state = b.state.or(sum.state);
    }
    sum
}

fn print_table(outcome: &Outcome) {
    let tl = &outcome.timeline;
    let seconds = tl.buckets.len().div_ceil(10);
    println!();
    println!(
        "  {:>5} {:<9} {:>6} {:>6} {:>6} {:>5} {:>9} {:>8} {:>7} {:>17} {:>9} {:>11}",
        "t (s)",
        "phase",
        "calls",
        "ok",
        "failed",
        "cut",
        "delivered",
        "retries",
        "breaker",
        "closed/half/open",
        "in flight",
        "requested"
    );
    for s in 0..seconds {
        let b = second(tl, s);
        let total: u32 = b.ticks.iter().sum::<u32>().max(1);
        let pct = |i: usize| b.ticks[i] * 100 / total;
        println!(
            "  {:>5} {:<9} {:>6} {:>6} {:>6} {:>5} {:>9} {:>8} {:>7} {:>17} {:>9} {:>7} ({})",
            format!("{s}-{}", s + 1),
            outcome.scenario.phase(Duration::from_secs(s as u64)),
            b.calls,
            b.succeeded,
            b.failed,
            b.cut,
            b.delivered,
            b.retries,
            b.state.map_or("-", state_name),
            format!("{}/{}/{} %", pct(0), pct(1), pct(2)),
            b.max_in_flight,
            b.requested,
            b.max_outstanding,
        );
    }
    println!();
    println!("  calls = calls that reached the dependency (started in that second); ok / failed = calls that");
    println!("  completed; cut = calls dropped when the timeout cut their attempt; retries = resubscriptions by");
    println!("  retry; breaker = its state at the end of the second, then the share of the second in each state;");
    println!("  in flight = the most calls in flight at once; requested = elements requested from the source");
    println!("  (in brackets: the most demand outstanding at the source at once).");
}

// ===== the chart =====

fn draw(path: &PathBuf, outcome: &Outcome) -> Result<(), Box<dyn StdError>> {
    let tl = &outcome.timeline;
    let bucket_s = BUCKET.as_secs_f64();
    let t_max = (tl.buckets.len() as f64 * bucket_s).max(1.0);
    let per_s = 1.0 / bucket_s;
    let series = |f: &dyn Fn(&Bucket) -> f64| -> Vec<(f64, f64)> {
        // A step line: each bucket's value held over its width.
        tl.buckets
            .iter()
            .enumerate()
            .flat_map(|(i, b)| {
                let v = f(b);
                [(i as f64 * bucket_s, v), ((i + 1) as f64 * bucket_s, v)]
            })
            .collect()
    };
    let delivered = series(&|b| b.delivered as f64 * per_s);
    let failed = series(&|b| b.failed as f64 * per_s);
    let cut = series(&|b| b.cut as f64 * per_s);
    let in_flight = series(&|b| b.max_in_flight as f64);
    let requested = series(&|b| b.requested as f64 * per_s);
    let outstanding = series(&|b| b.max_outstanding as f64);
    // The breaker's state from its exact changes, not sampled: a half-open of 30 ms shows.
    let mut state = vec![(0.0, 0.0)];
    let mut current = 0.0;
    for &(t, to, _) in &tl.changes {
        state.push((t.as_secs_f64(), current));
        current = state_index(to) as f64;
        state.push((t.as_secs_f64(), current));
    }
    state.push((t_max, current));

    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let root = SVGBackend::new(path, (1000, 1160)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "{} elements through call(breaker + flaky dependency, {MAX_IN_FLIGHT}), timeout {} ms, retry; virtual time",
        outcome.scenario.elements,
        STALL.as_millis()
    );
    let root = root.titled(&title, ("sans-serif", 18))?;
    let panels = root.split_evenly((4, 1));
    let spike = RGBColor(255, 200, 120).mix(0.35);
    let outage = RGBColor(240, 120, 120).mix(0.3);
    let phases = [
        ("latency spike", &outcome.scenario.spike, spike),
        ("outage", &outcome.scenario.outage, outage),
    ];
    let mut first = true;
    let top = |points: &[Vec<(f64, f64)>]| {
        points
            .iter()
            .flatten()
            .map(|&(_, y)| y)
            .fold(1.0_f64, f64::max)
            * 1.6
    };

    type Lines<'a> = Vec<(&'a str, RGBColor, &'a Vec<(f64, f64)>)>;
    let charts: [(&str, &str, Lines); 4] = [
        (
            "throughput: elements delivered, calls failed, calls cut by the timeout (per second)",
            "per s",
            vec![
                ("delivered", BLUE, &delivered),
                ("failed calls", RED, &failed),
                ("cut calls", RGBColor(230, 140, 0), &cut),
            ],
        ),
        (
            "circuit breaker state (open: the source is asked for nothing)",
            "state",
            vec![("breaker", BLACK, &state)],
        ),
        (
            "calls in flight (most at once in each 100 ms)",
            "calls",
            vec![("in flight", RGBColor(0, 140, 0), &in_flight)],
        ),
        (
            "the source: elements requested (per second), demand outstanding (most at once; it answers at once)",
            "elements",
            vec![
                ("requested per s", RGBColor(120, 0, 160), &requested),
                ("outstanding", RGBColor(0, 150, 150), &outstanding),
            ],
        ),
    ];
    for (area, (caption, unit, lines)) in panels.iter().zip(charts) {
        let y_max = if unit == "state" {
            2.4
        } else {
            top(&lines.iter().map(|l| l.2.clone()).collect::<Vec<_>>())
        };
        let mut chart = ChartBuilder::on(area)
            .caption(caption, ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(76)
            .build_cartesian_2d(0.0..t_max, 0.0..y_max)?;
        let mut mesh = chart.configure_mesh();
        mesh.x_desc("virtual time (s)").y_desc(unit);
        if unit == "state" {
            mesh.y_labels(3)
                .y_label_formatter(&|y| match y.round() as i64 {
                    0 => "closed".into(),
                    1 => "half-open".into(),
                    _ => "open".into(),
                });
        } else {
            mesh.y_label_formatter(&|y| format!("{y:.0}"));
        }
        mesh.draw()?;
        // The scenario's phases, shaded (named in the first panel's legend).
        for (name, range, color) in &phases {
            let shade = chart.draw_series(std::iter::once(Rectangle::new(
                [
                    (range.start.as_secs_f64(), 0.0),
                    (range.end.as_secs_f64(), y_max),
                ],
                color.filled(),
            )))?;
            if first {
                let color = *color;
                shade.label(*name).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 20, y + 5)], color.filled())
                });
            }
        }
        first = false;
        for (label, color, points) in lines {
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

// ===== the checks =====

fn checks(outcome: &Outcome) -> Vec<String> {
    let mut failures = Vec::new();
    let tl = &outcome.timeline;
    let scenario = &outcome.scenario;
    if let Err(e) = &outcome.end {
        failures.push(format!("the stream did not complete: {e}"));
    }
    let once = outcome.deliveries.iter().filter(|&&n| n == 1).count();
    let never = outcome.deliveries.iter().filter(|&&n| n == 0).count();
    let twice = outcome.deliveries.iter().filter(|&&n| n > 1).count();
    if once as u64 != scenario.elements {
        failures.push(format!(
            "{once} of {} elements delivered exactly once ({never} never, {twice} more than once)",
            scenario.elements
        ));
    }
    if !outcome.ledger.anomalies.is_empty() {
        failures.push(format!(
            "the ledger saw {} anomalies, the first: {}",
            outcome.ledger.anomalies.len(),
            outcome.ledger.anomalies[0]
        ));
    }
    if outcome.ledger.waiting() != 0 {
        failures.push(format!(
            "{} routed elements were never redone",
            outcome.ledger.waiting()
        ));
    }
    let while_open: u64 = tl.buckets.iter().map(|b| b.requested_while_open).sum();
    if while_open != 0 {
        failures.push(format!(
            "the source was asked for {while_open} elements while the breaker was open"
        ));
    }
    // The same requested total when it left the open state as when it entered it.
    for pair in tl.changes.windows(2) {
        if pair[0].1 == BreakerState::Open && pair[1].2 != pair[0].2 {
            failures.push(format!(
                "demand reached the source while the breaker was open from {:?} to {:?}",
                pair[0].0, pair[1].0
            ));
        }
    }
    if tl.reached_while_open != 0 {
        failures.push(format!(
            "{} calls reached the dependency while the breaker was open",
            tl.reached_while_open
        ));
    }
    let opened: Vec<Duration> = tl
        .changes
        .iter()
        .filter(|c| c.1 == BreakerState::Open)
        .map(|c| c.0)
        .collect();
    match opened.first() {
        None => failures.push("the breaker never opened".to_string()),
        Some(&t) if !scenario.outage.contains(&t) => failures.push(format!(
            "the breaker first opened at {t:?}, outside the outage {:?}",
            scenario.outage
        )),
        Some(_) => {}
    }
    match tl.changes.last() {
        Some(&(t, BreakerState::Closed, _)) if t >= scenario.outage.end => {}
        last => failures.push(format!(
            "the breaker did not close after the recovery at {:?} (last change: {last:?})",
            scenario.outage.end
        )),
    }
    if outcome.breaker_end != BreakerState::Closed {
        failures.push(format!(
            "the breaker ended {}",
            state_name(outcome.breaker_end)
        ));
    }
    let cut: u64 = tl.buckets.iter().map(|b| b.cut).sum();
    if cut == 0 {
        failures.push("the timeout never cut an attempt in the latency spike".to_string());
    }
    failures
}

fn main() {
    let mut small = false;
    let mut out = PathBuf::from("resilience.svg");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--small" => small = true,
            "--out" => match args.next() {
                Some(path) => out = PathBuf::from(path),
                None => {
                    eprintln!("usage: resilience [--small] [--out PATH]");
                    std::process::exit(2);
                }
            },
            _ => {
                eprintln!("usage: resilience [--small] [--out PATH]");
                std::process::exit(2);
            }
        }
    }
    let scenario = Scenario::new(small);
    let config = breaker_config();
    let secs = |d: Duration| d.as_secs_f64();
    println!(
        "resilience: {} elements through a flaky dependency, on virtual time.",
        scenario.elements
    );
    println!(
        "  dependency: healthy 10-39 ms per call, 1 % errors; latency spike {:.1}-{:.1} s (3 calls in 4 take {} s);",
        secs(scenario.spike.start),
        secs(scenario.spike.end),
        SPIKE_LATENCY.as_secs()
    );
    println!(
        "  outage {:.1}-{:.1} s (every call fails after {} ms); healthy again after.",
        secs(scenario.outage.start),
        secs(scenario.outage.end),
        OUTAGE_LATENCY.as_millis()
    );
    println!(
        "  pipeline: source (resumes from a ledger) -> call(breaker + dependency, {MAX_IN_FLIGHT}).unordered()"
    );
    println!(
        "    .on_failure(back to the source's redo queue) -> timeout_on({} ms) -> concat(fail if redo left)",
        STALL.as_millis()
    );
    println!("    -> retry(exponential 100 ms..1 s, full jitter, 30 attempts) -> for_each");
    println!(
        "  breaker: opens at {:.0} % failures over the last {} calls (once {} seen), open {} s, {} probes to close.",
        config.failure_rate * 100.0,
        config.window,
        config.min_calls,
        config.open_for.as_secs(),
        config.half_open_probes
    );

    let started = std::time::Instant::now();
    let outcome = run(scenario);
    let real = started.elapsed();
    print_table(&outcome);

    let tl = &outcome.timeline;
    let sum = |f: fn(&Bucket) -> u64| tl.buckets.iter().map(f).sum::<u64>();
    let delivered_once = outcome.deliveries.iter().filter(|&&n| n == 1).count();
    println!();
    println!(
        "  elements: {}; delivered exactly once: {delivered_once}; calls: {} ({} ok, {} failed, {} cut by the timeout)",
        outcome.scenario.elements,
        sum(|b| b.calls),
        sum(|b| b.succeeded),
        sum(|b| b.failed),
        sum(|b| b.cut),
    );
    println!(
        "  failed calls routed and redone: {}; issued again after a cut attempt (its cut calls, and the element its source had looked ahead): {}; subscriptions: {} (retries: {})",
        outcome.ledger.routed,
        outcome.ledger.reissued,
        outcome.ledger.subscriptions,
        outcome.ledger.subscriptions.saturating_sub(1)
    );
    let timeouts = tl.retried.iter().filter(|r| r.1).count();
    println!(
        "  errors retried: {} ({} timeouts, {} ends with failed elements left to redo)",
        tl.retried.len(),
        timeouts,
        tl.retried.len() - timeouts
    );
    println!(
        "  breaker: opened {} times; changes: {}",
        outcome.breaker_opened,
        tl.changes
            .iter()
            .map(|(t, s, _)| format!("{:.2}s {}", secs(*t), state_name(*s)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  requested from the source while the breaker was open: {}; calls that reached the dependency while open: {}",
        sum(|b| b.requested_while_open),
        tl.reached_while_open
    );
    println!(
        "  finished at {:.2} s of virtual time, in {:.0} ms of real time",
        secs(outcome.finished_at),
        real.as_secs_f64() * 1e3
    );

    match draw(&out, &outcome) {
        Ok(()) => println!("  chart: {}", out.display()),
        Err(e) => {
            eprintln!("resilience: FAILED: could not write {}: {e}", out.display());
            std::process::exit(1);
        }
    }

    let failures = checks(&outcome);
    if !failures.is_empty() {
        for f in failures {
            eprintln!("resilience: FAILED: {f}");
        }
        std::process::exit(1);
    }
    println!("  checks: passed");
}
