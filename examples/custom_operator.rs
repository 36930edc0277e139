//! Writes an operator of your own (`window_sum(n)`) from `rstreams::support`, proves it keeps
//! the protocol with the compliance kit, and shows the kit catching two broken variants.
//!
//! Run: `cargo run --release --example custom_operator` (a few seconds). For CI:
//! `cargo run --release --example custom_operator -- --small`, which runs fewer generated demand
//! schedules per check (8 instead of the kit's default 32, unless `PROPTEST_CASES` is set).
//!
//! The operator sums each window of `n` consecutive elements: `1, 2, 3, 4, 5` with `n = 2`
//! becomes `3, 7, 5` (the last, shorter window is flushed on completion). Its demand is exact:
//! a downstream `request(k)` (k sums) becomes `request(k × n)` upstream, saturating at
//! `u64::MAX` (unbounded). It holds no queue, only the running sum of the current window.
//!
//! Then the kit checks it (`OperatorVerification`) and two deliberately broken variants:
//!
//! - `eager_window_sum`: the same sums, but it asks upstream for everything at once
//!   (`u64::MAX`) and keeps finished windows in a queue until the downstream asks. Its output
//!   is right; its memory is not: with a fast source and a slow consumer the queue grows
//!   without bound. The kit must name rule K.2 (upstream demand within downstream demand plus
//!   the declared prefetch).
//! - `window_sum` with a subscription that forgets to forward `cancel`: the kit must name §3.12.
//!
//! The example exits with status 1 unless the good operator is compliant and each broken one
//! fails with its expected rule.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rstreams::support::{mul_cap, Engine, EngineConfig, Pull, Pulled, UpstreamSlot, UNBOUNDED};
use rstreams::{sink, source, Error, Publisher, Subscriber, Subscription};
use rstreams_tck::{OperatorVerification, Report, TestSubscriber, Timeouts, Upstream};

// ===== the operator =====

/// The publisher: `window_sum(n)` applied to `source`.
#[derive(Debug, Clone)]
struct WindowSum<P> {
    source: P,
    n: u64,
    /// `false` only for the deliberately broken variant at the end of the example.
    forward_cancel: bool,
}

/// `window_sum` as a method of every publisher of `u64`, as `PublisherExt` does for the
/// built-in operators.
trait WindowSumExt: Publisher<Item = u64> + Sized {
    /// Sums each window of `n` consecutive elements.
    ///
    /// Panics when `n` is 0: bad arguments fail where the operator is built.
    fn window_sum(self, n: u64) -> WindowSum<Self> {
        assert!(n > 0, "window_sum: n must be at least 1 (got 0)");
        WindowSum {
            source: self,
            n,
            forward_cancel: true,
        }
    }
}

impl<P: Publisher<Item = u64>> WindowSumExt for P {}

impl<P: Publisher<Item = u64>> Publisher for WindowSum<P> {
    type Item = u64;

    fn subscribe<S: Subscriber<u64> + 'static>(&self, subscriber: S) {
        // Each subscription gets its own state; the source is subscribed with our subscriber,
        // which hands the downstream our own subscription in `on_subscribe`.
        self.source.subscribe(WindowSumSubscriber {
            downstream: subscriber,
            shared: Arc::new(WindowSumSubscription {
                upstream: UpstreamSlot::new(),
                n: self.n,
                forward_cancel: self.forward_cancel,
            }),
            n: self.n,
            sum: 0,
            count: 0,
            done: false,
        });
    }
}

/// The subscription the downstream holds. `UpstreamSlot` does the protocol's bookkeeping:
/// requests made before the upstream's subscription arrived are deferred and summed, a second
/// subscription is cancelled (§2.5), and cancel is idempotent (§3.5, §3.7).
struct WindowSumSubscription {
    upstream: UpstreamSlot,
    n: u64,
    forward_cancel: bool,
}

impl Subscription for WindowSumSubscription {
    fn request(&self, k: u64) {
        // `request(0)` goes upstream as it is: the source fails the stream naming §3.9 and the
        // error passes through `on_error` below. Otherwise k sums need k × n elements;
        // `mul_cap` saturates, so `u64::MAX` stays unbounded (§3.17).
        let upstream_demand = if k == 0 { 0 } else { mul_cap(k, self.n) };
        self.upstream.request(upstream_demand);
    }

    fn cancel(&self) {
        if self.forward_cancel {
            self.upstream.cancel();
        }
        // The broken variant returns here without telling the upstream: it keeps emitting into
        // a subscriber nobody wants, and holds on to it (§3.12, §3.13).
    }
}

/// The subscriber given to the source: adds up the current window and emits it when full.
struct WindowSumSubscriber<S> {
    downstream: S,
    shared: Arc<WindowSumSubscription>,
    n: u64,
    sum: u64,
    count: u64,
    done: bool,
}

impl<S: Subscriber<u64>> Subscriber<u64> for WindowSumSubscriber<S> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        // `set` refuses (and cancels) a second subscription, or one arriving after a cancel.
        if self.shared.upstream.set(subscription) {
            let own: Arc<dyn Subscription> = self.shared.clone();
            self.downstream.on_subscribe(own);
        }
    }

    fn on_next(&mut self, item: u64) {
        if self.done {
            return;
        }
        self.sum = self.sum.wrapping_add(item);
        self.count += 1;
        if self.count == self.n {
            let sum = std::mem::take(&mut self.sum);
            self.count = 0;
            // Demand for it is there: n elements were requested for each sum.
            self.downstream.on_next(sum);
        }
    }

    fn on_error(&mut self, error: Error) {
        // Errors pass at once (§4.2); the partial window is dropped.
        if !std::mem::replace(&mut self.done, true) {
            self.shared.upstream.clear();
            self.downstream.on_error(error);
        }
    }

    fn on_complete(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.shared.upstream.clear();
        // The shorter last window: fewer than k × n elements came for k sums, so the demand
        // for one more sum is there.
        if self.count > 0 {
            self.downstream.on_next(std::mem::take(&mut self.sum));
        }
        self.downstream.on_complete();
    }
}

// ===== broken variant 1: eager, with an unbounded queue =====

/// The same sums, computed eagerly: it requests `u64::MAX` from upstream so that it "never
/// has to wait", and queues finished windows until the downstream asks. Everything else is
/// done properly — the downstream's subscription is the support engine (`Engine`: demand,
/// `request(0)`, cancel, one emission loop, errors and completion once), its upstream cancelled
/// with it — so the only thing wrong is its memory.
#[derive(Debug, Clone)]
struct EagerWindowSum<P> {
    source: P,
    n: u64,
}

fn eager_window_sum<P: Publisher<Item = u64>>(source: P, n: u64) -> EagerWindowSum<P> {
    assert!(n > 0, "eager_window_sum: n must be at least 1 (got 0)");
    EagerWindowSum { source, n }
}

/// What the upstream's subscriber and the emission side share.
#[derive(Default)]
struct Eager {
    /// THE BUG: nothing bounds this queue.
    queue: Mutex<VecDeque<u64>>,
    /// How the upstream ended, once it has.
    end: Mutex<Option<Result<(), Error>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The emission side, run by the engine as the downstream demands.
struct EagerPull(Arc<Eager>);

impl Pull for EagerPull {
    type Item = u64;

    fn name(&self) -> &'static str {
        "eager_window_sum"
    }

    fn pull(&mut self, _demand: u64) -> Pulled<u64> {
        if let Some(sum) = lock(&self.0.queue).pop_front() {
            return Pulled::Ready(sum);
        }
        match lock(&self.0.end).take() {
            Some(Ok(())) => Pulled::End,
            Some(Err(error)) => Pulled::Error(error),
            None => Pulled::Pending,
        }
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        let mut end = lock(&self.0.end);
        match &*end {
            // Errors go at once; completion after the queued sums.
            Some(Err(_)) => end.take(),
            Some(Ok(())) if lock(&self.0.queue).is_empty() => end.take(),
            _ => None,
        }
    }
}

struct EagerInlet<S> {
    shared: Arc<Eager>,
    engine: Arc<Engine<EagerPull, S>>,
    upstream: Arc<UpstreamSlot>,
    n: u64,
    sum: u64,
    count: u64,
}

impl<S: Subscriber<u64> + 'static> Subscriber<u64> for EagerInlet<S> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if self.upstream.set(subscription) {
            self.upstream.request(UNBOUNDED); // THE BUG: everything, whatever was asked
        }
    }

    fn on_next(&mut self, item: u64) {
        self.sum = self.sum.wrapping_add(item);
        self.count += 1;
        if self.count == self.n {
            self.count = 0;
            lock(&self.shared.queue).push_back(std::mem::take(&mut self.sum));
            self.engine.wake();
        }
    }

    fn on_error(&mut self, error: Error) {
        lock(&self.shared.end).get_or_insert(Err(error));
        self.engine.wake();
    }

    fn on_complete(&mut self) {
        if self.count > 0 {
            lock(&self.shared.queue).push_back(std::mem::take(&mut self.sum));
        }
        lock(&self.shared.end).get_or_insert(Ok(()));
        self.engine.wake();
    }
}

impl<P: Publisher<Item = u64>> Publisher for EagerWindowSum<P> {
    type Item = u64;

    fn subscribe<S: Subscriber<u64> + 'static>(&self, subscriber: S) {
        let shared = Arc::new(Eager::default());
        let upstream = Arc::new(UpstreamSlot::new());
        let engine = Engine::start(
            EagerPull(Arc::clone(&shared)),
            subscriber,
            EngineConfig::new().upstream(Arc::clone(&upstream)),
        );
        self.source.subscribe(EagerInlet {
            shared,
            engine,
            upstream,
            n: self.n,
            sum: 0,
            count: 0,
        });
    }
}

// ===== running it =====

fn fail(message: &str) -> ! {
    eprintln!("custom_operator: FAILED: {message}");
    std::process::exit(1);
}

/// Short waits for the broken variants: they stall on purpose, and each wait for a signal that
/// never comes costs `signal`.
fn short_timeouts() -> Timeouts {
    Timeouts {
        signal: Duration::from_millis(100),
        quiet: Duration::from_millis(5),
        check: Duration::from_secs(3),
    }
}

fn timed(label: &str, run: impl FnOnce() -> Report) -> Report {
    let started = Instant::now();
    let report = run();
    println!("{label} ({:.2} s):", started.elapsed().as_secs_f64());
    print!("{report}");
    report
}

const N: u64 = 3;

fn main() {
    let small = std::env::args().skip(1).any(|a| a == "--small");
    if small && std::env::var_os("PROPTEST_CASES").is_none() {
        // Read by the kit when it generates demand schedules; set before any thread starts.
        std::env::set_var("PROPTEST_CASES", "8");
    }

    // 1. What it does.
    println!("== window_sum({N}) on 1..=10");
    let sums = sink::collect(&source::range(1, 10).window_sum(N)).unwrap_or_else(|e| {
        fail(&format!("collect failed: {e}"));
    });
    println!("   sums: {sums:?}");
    if sums != [6, 15, 24, 10] {
        fail(&format!("expected [6, 15, 24, 10], got {sums:?}"));
    }

    // 2. Its demand, seen from both sides: one sum requested, N elements asked upstream.
    let up = Upstream::emitting(100);
    let probe = TestSubscriber::new(1);
    up.clone().window_sum(N).subscribe(probe.clone());
    println!(
        "   request(1) downstream -> upstream asked for {}, emitted {}; downstream got {:?}",
        up.requested(),
        up.emitted(),
        probe.values()
    );
    probe.request(2);
    println!(
        "   request(2) more       -> upstream asked for {} in total, emitted {}; downstream got {:?}",
        up.requested(),
        up.emitted(),
        probe.values()
    );
    if up.requested() != 3 * N || probe.values() != [3, 12, 21] {
        fail("window_sum did not request k × n upstream");
    }
    probe.cancel();

    // 3. The kit, on the good operator. `demand_ratio(N)`: one sum needs N elements;
    //    `prefetch_bound(0)`: it never asks for more than that.
    println!();
    println!("== the compliance kit on window_sum({N})");
    let good = timed("   report", || {
        OperatorVerification::new(|up: Upstream| up.window_sum(N))
            .demand_ratio(N)
            .prefetch_bound(0)
            .run()
    });

    // 4. The kit on the eager variant, declared with the same bounds as the good one.
    println!();
    println!(
        "== the compliance kit on eager_window_sum({N}) (requests u64::MAX, queues without bound)"
    );
    let eager = timed("   report", || {
        OperatorVerification::new(|up: Upstream| eager_window_sum(up, N))
            .demand_ratio(N)
            .prefetch_bound(0)
            .timeouts(short_timeouts())
            .run()
    });

    // 5. The kit on a window_sum whose subscription does not forward cancel.
    println!();
    println!("== the compliance kit on window_sum({N}) with a cancel that is not forwarded");
    let forgetful = timed("   report", || {
        OperatorVerification::new(|up: Upstream| WindowSum {
            forward_cancel: false,
            ..up.window_sum(N)
        })
        .demand_ratio(N)
        .prefetch_bound(0)
        .timeouts(short_timeouts())
        .run()
    });

    // 6. The example's own assertions.
    println!();
    println!("== verdicts");
    println!(
        "   window_sum:                 compliant = {}",
        good.is_compliant()
    );
    println!(
        "   eager_window_sum:           compliant = {}, failed rules = {:?}",
        eager.is_compliant(),
        eager.failed_rules()
    );
    println!(
        "   window_sum, cancel dropped: compliant = {}, failed rules = {:?}",
        forgetful.is_compliant(),
        forgetful.failed_rules()
    );
    if !good.is_compliant() {
        fail("the good window_sum is not compliant (report above)");
    }
    if eager.is_compliant() || !eager.failed_rules().iter().any(|r| r == "K.2") {
        fail("the kit did not fail eager_window_sum with rule K.2");
    }
    if forgetful.is_compliant() || !forgetful.failed_rules().iter().any(|r| r == "3.12") {
        fail("the kit did not fail the cancel-dropping window_sum with §3.12");
    }
    println!("   ok: the good operator passes; each broken one fails with its rule named");
}
