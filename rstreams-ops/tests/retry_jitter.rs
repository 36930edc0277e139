//! The measured case for jitter: many clients retrying against a dependency that is down for a
//! while, then recovers with limited capacity; on virtual time, so the numbers are the same on
//! every machine and every run.
//!
//! ```sh
//! cargo test -p rstreams-ops --test retry_jitter -- --nocapture
//! ```
//!
//! prints the table that README.md shows ("Retry and jitter").

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rstreams_core::scheduler::VirtualTime;
use rstreams_core::{source, Error, Publisher};
use rstreams_ops::{Jitter, PublisherExt, RetryPolicy};
use rstreams_tck::TestSubscriber;

/// How many clients fail together.
const CLIENTS: usize = 100;
/// The dependency answers nothing but errors until then.
const DOWN_FOR: Duration = Duration::from_secs(2);
/// After that it accepts at most this many calls per window; the others fail (overloaded).
const CAPACITY: usize = 10;
/// The window capacity is counted in.
const WINDOW: Duration = Duration::from_millis(100);
/// The backoff every client uses.
const INITIAL: Duration = Duration::from_millis(100);
const MAX: Duration = Duration::from_secs(5);

/// The dependency: records every call; fails while down and beyond its capacity.
struct Dependency {
    clock: VirtualTime,
    /// The time of every call (virtual, from the start).
    calls: Mutex<Vec<Duration>>,
    /// Accepted calls per window index.
    accepted: Mutex<BTreeMap<u128, usize>>,
}

impl Dependency {
    fn call(&self) -> Result<(), Error> {
        let now = self.clock.elapsed();
        let window = now.as_nanos() / WINDOW.as_nanos();
        self.calls.lock().unwrap().push(now);
        if now < DOWN_FOR {
            return Err(Error::msg("503: down"));
        }
        let mut accepted = self.accepted.lock().unwrap();
        let taken = accepted.entry(window).or_default();
        if *taken >= CAPACITY {
            return Err(Error::msg("503: overloaded"));
        }
        *taken += 1;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Outcome {
    /// Calls made until every client succeeded (the first calls, all at 0, included).
    calls: usize,
    /// The most retries in one instant: clients that failed together and come back together.
    peak_instant: usize,
    /// The most calls in one window once the dependency is back: what the recovering
    /// dependency has to turn away.
    peak_window: usize,
    /// When the last client succeeded.
    done_at: Duration,
}

fn simulate(jitter: Jitter) -> Outcome {
    let clock = VirtualTime::new();
    let dependency = Arc::new(Dependency {
        clock: clock.clone(),
        calls: Mutex::default(),
        accepted: Mutex::default(),
    });
    let policy = RetryPolicy::exponential(INITIAL, MAX)
        .jitter(jitter)
        .max_attempts(u32::MAX)
        .seed(2015)
        .on(clock.clone());
    let done_at = Arc::new(Mutex::new(Duration::ZERO));
    let clients: Vec<TestSubscriber<Duration>> = (0..CLIENTS)
        .map(|_| {
            let (dependency, at) = (Arc::clone(&dependency), clock.clone());
            let call = source::defer(move || match dependency.call() {
                Ok(()) => source::just(at.elapsed()).boxed(),
                Err(e) => source::fail(e).boxed(),
            });
            let probe = TestSubscriber::new(1);
            call.retry(policy.clone()).subscribe(probe.clone());
            probe
        })
        .collect();
    clock.advance_by(Duration::from_secs(600));
    for client in &clients {
        assert!(
            client.is_complete(),
            "a client never got through: {:?}",
            client.error()
        );
        let mut last = done_at.lock().unwrap();
        *last = (*last).max(client.values()[0]);
    }
    let calls = dependency.calls.lock().unwrap();
    let mut instants: BTreeMap<Duration, usize> = BTreeMap::new();
    let mut windows: BTreeMap<u128, usize> = BTreeMap::new();
    for &at in calls.iter().filter(|at| !at.is_zero()) {
        *instants.entry(at).or_default() += 1;
        if at >= DOWN_FOR {
            *windows
                .entry(at.as_nanos() / WINDOW.as_nanos())
                .or_default() += 1;
        }
    }
    let done_at = *done_at.lock().unwrap();
    Outcome {
        calls: calls.len(),
        peak_instant: instants.values().copied().max().unwrap_or(0),
        peak_window: windows.values().copied().max().unwrap_or(0),
        done_at,
    }
}

#[test]
fn full_jitter_spreads_retries_out_where_no_jitter_sends_every_client_at_once() {
    let none = simulate(Jitter::None);
    let full = simulate(Jitter::Full);
    let equal = simulate(Jitter::Equal);
    println!(
        "{CLIENTS} clients, dependency down for {DOWN_FOR:?} then {CAPACITY} calls per {WINDOW:?}, backoff {INITIAL:?} doubling to {MAX:?}"
    );
    println!(
        "| jitter | calls until all succeeded | peak retries in one instant | peak calls in one {WINDOW:?} window after recovery | last success at |"
    );
    println!("|---|---|---|---|---|");
    for (name, o) in [("None", none), ("Full", full), ("Equal", equal)] {
        println!(
            "| `Jitter::{name}` | {} | {} | {} | {:.1} s |",
            o.calls,
            o.peak_instant,
            o.peak_window,
            o.done_at.as_secs_f64()
        );
    }
    // Without jitter the clients that failed together retry in the same instant, every time.
    assert_eq!(none.peak_instant, CLIENTS);
    assert!(
        full.peak_instant < none.peak_instant / 10,
        "full {full:?} vs none {none:?}"
    );
    assert!(
        equal.peak_instant < none.peak_instant / 10,
        "equal {equal:?} vs none {none:?}"
    );
    // The recovering dependency sees a smaller peak...
    assert!(
        full.peak_window < none.peak_window,
        "full {full:?} vs none {none:?}"
    );
    // ... and the clients get through it sooner, with fewer calls.
    assert!(
        full.done_at < none.done_at,
        "full {full:?} vs none {none:?}"
    );
    assert!(full.calls < none.calls, "full {full:?} vs none {none:?}");
}

#[test]
fn the_simulation_is_deterministic() {
    assert_eq!(simulate(Jitter::Full), simulate(Jitter::Full));
}
