//! CircuitBreaker: its configuration, window and states on virtual time, its poll_ready gate,
//! and a dependency that fails for 10 s inside `call`: the breaker opens, the source sees no
//! demand while it is open, a half-open probe succeeds, it closes, and every element is
//! accounted for exactly once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use rstreams_core::scheduler::{Scheduler, Task, VirtualTime};
use rstreams_core::{source, Error, Publisher};
use rstreams_ops::{BreakerConfig, BreakerState, CircuitBreaker, CircuitOpen, PublisherExt};
use rstreams_tck::{TestSubscriber, Upstream};
use tower::{Service, ServiceBuilder, ServiceExt};

fn config() -> BreakerConfig {
    BreakerConfig {
        failure_rate: 0.5,
        window: 10,
        min_calls: 5,
        open_for: Duration::from_secs(2),
        half_open_probes: 2,
    }
}

#[derive(Default)]
struct CountingWaker(AtomicUsize);
impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

// ===== Configuration =====

#[test]
fn bad_configurations_fail_when_built_naming_the_field_and_its_range() {
    let cases = [
        (
            BreakerConfig { failure_rate: -0.1, ..config() },
            "circuit breaker: failure_rate must be in 0.0..=1.0 (got -0.1)",
        ),
        (
            BreakerConfig { failure_rate: f64::NAN, ..config() },
            "circuit breaker: failure_rate must be in 0.0..=1.0 (got NaN)",
        ),
        (
            BreakerConfig { window: 0, min_calls: 0, ..config() },
            "circuit breaker: window must be at least 1 call (got 0; valid range 1..=usize::MAX)",
        ),
        (
            BreakerConfig { min_calls: 0, ..config() },
            "circuit breaker: min_calls must be in 1..=window, here 1..=10 (got 0)",
        ),
        (
            BreakerConfig { min_calls: 11, ..config() },
            "circuit breaker: min_calls must be in 1..=window, here 1..=10 (got 11)",
        ),
        (
            BreakerConfig { open_for: Duration::ZERO, ..config() },
            "circuit breaker: open_for must be a positive duration (got 0s)",
        ),
        (
            BreakerConfig { half_open_probes: 0, ..config() },
            "circuit breaker: half_open_probes must be at least 1 (got 0; valid range 1..=usize::MAX)",
        ),
    ];
    for (bad, message) in cases {
        let error = CircuitBreaker::try_new_on(bad, VirtualTime::new()).unwrap_err();
        assert_eq!(error.to_string(), message);
        let panicked = std::panic::catch_unwind(|| CircuitBreaker::new_on(bad, VirtualTime::new()));
        let payload = panicked.expect_err("new panics");
        assert_eq!(payload.downcast_ref::<String>().unwrap(), message);
    }
    assert!(CircuitBreaker::try_new_on(BreakerConfig::default(), VirtualTime::new()).is_ok());
}

// ===== Window and states =====

#[test]
fn it_opens_only_once_min_calls_were_seen_and_the_rate_is_reached() {
    let vt = VirtualTime::new();
    let breaker = CircuitBreaker::new_on(config(), vt.clone());
    for _ in 0..4 {
        breaker.record_failure();
    }
    assert_eq!(
        breaker.state(),
        BreakerState::Closed,
        "4 calls < min_calls 5"
    );
    breaker.record_success();
    // 4 failures of 5 calls = 80 % ≥ 50 %.
    assert_eq!(breaker.state(), BreakerState::Open);
    let m = breaker.metrics();
    assert_eq!((m.calls, m.failures, m.successes, m.opened), (5, 4, 1, 1));
}

#[test]
fn the_window_slides_over_the_last_calls_only() {
    let vt = VirtualTime::new();
    let breaker = CircuitBreaker::new_on(config(), vt.clone());
    // 10 successes fill the 10-call window; 4 failures push 4 of them out: 40 % < 50 %.
    for _ in 0..10 {
        breaker.record_success();
    }
    for _ in 0..4 {
        breaker.record_failure();
    }
    let m = breaker.metrics();
    assert_eq!((m.window_calls, m.window_failures), (10, 4));
    assert_eq!(m.failure_rate(), Some(0.4));
    assert_eq!(breaker.state(), BreakerState::Closed);
    // A fifth failure makes 50 % of the last 10: open.
    breaker.record_failure();
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[test]
fn open_half_opens_on_its_timer_probes_close_it_or_a_failed_probe_opens_it_again() {
    let vt = VirtualTime::new();
    let breaker = CircuitBreaker::new_on(config(), vt.clone());
    let changes = Arc::new(Mutex::new(Vec::new()));
    let c = Arc::clone(&changes);
    let clock = vt.clone();
    breaker.on_state_change(move |change| {
        c.lock()
            .unwrap()
            .push((clock.elapsed().as_millis(), change.from, change.to));
    });
    for _ in 0..5 {
        breaker.record_failure();
    }
    vt.advance_by(Duration::from_millis(1_999));
    assert_eq!(breaker.state(), BreakerState::Open);
    vt.advance_by(Duration::from_millis(1));
    assert_eq!(
        breaker.state(),
        BreakerState::HalfOpen,
        "on time, with nobody calling"
    );
    breaker.record_failure(); // a failed probe
    assert_eq!(breaker.state(), BreakerState::Open);
    vt.advance_by(Duration::from_secs(2));
    breaker.record_success();
    assert_eq!(breaker.state(), BreakerState::HalfOpen, "1 of 2 probes");
    breaker.record_success();
    assert_eq!(breaker.state(), BreakerState::Closed);
    assert_eq!(
        breaker.metrics().window_calls,
        0,
        "closed with an empty window"
    );
    use BreakerState::*;
    assert_eq!(
        *changes.lock().unwrap(),
        vec![
            (0, Closed, Open),
            (2_000, Open, HalfOpen),
            (2_000, HalfOpen, Open),
            (4_000, Open, HalfOpen),
            (4_000, HalfOpen, Closed),
        ]
    );
}

// ===== The gate: poll_ready =====

#[test]
fn poll_ready_is_pending_while_open_and_wakes_when_it_half_opens_with_probes_limited() {
    let vt = VirtualTime::new();
    let breaker = CircuitBreaker::new_on(config(), vt.clone());
    let echo = tower::service_fn(|x: u64| std::future::ready(Ok::<_, Error>(x)));
    let mut a = ServiceBuilder::new().layer(breaker.clone()).service(echo);
    let mut b = a.clone();
    let mut c = a.clone();
    let counter = Arc::new(CountingWaker::default());
    let waker = Waker::from(Arc::clone(&counter));
    let mut cx = Context::from_waker(&waker);
    for _ in 0..5 {
        breaker.record_failure();
    }
    assert!(a.poll_ready(&mut cx).is_pending());
    assert!(b.poll_ready(&mut cx).is_pending());
    assert_eq!(breaker.metrics().waits, 2);
    vt.advance_by(Duration::from_secs(2));
    assert!(
        counter.0.load(Ordering::SeqCst) >= 1,
        "the waiters were woken"
    );
    // Half-open: two probes, the third waits.
    assert!(a.poll_ready(&mut cx).is_ready());
    assert!(b.poll_ready(&mut cx).is_ready());
    assert!(c.poll_ready(&mut cx).is_pending());
    // A reserved probe given back (its service dropped) lets the waiter through.
    drop(b);
    assert!(c.poll_ready(&mut cx).is_ready());
    let response = futures_block_on(a.call(7));
    assert_eq!(response.unwrap(), 7);
    let response = futures_block_on(c.call(8));
    assert_eq!(response.unwrap(), 8);
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[test]
fn a_call_whose_permit_went_stale_is_refused_with_circuit_open_without_reaching_the_service() {
    let vt = VirtualTime::new();
    let breaker = CircuitBreaker::new_on(config(), vt.clone());
    let reached = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&reached);
    let service = tower::service_fn(move |x: u64| {
        r.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok::<_, Error>(x))
    });
    let mut svc = ServiceBuilder::new()
        .layer(breaker.clone())
        .service(service);
    let waker = Waker::noop();
    assert!(svc.poll_ready(&mut Context::from_waker(waker)).is_ready());
    for _ in 0..5 {
        breaker.record_failure(); // opens between poll_ready and call
    }
    let error = futures_block_on(svc.call(1)).unwrap_err();
    assert!(error.is::<CircuitOpen>(), "{error}");
    assert_eq!(reached.load(Ordering::SeqCst), 0);
    assert_eq!(breaker.metrics().rejected, 1);
}

#[test]
fn outcomes_of_calls_started_before_a_change_do_not_count_after_it() {
    let vt = VirtualTime::new();
    let breaker = CircuitBreaker::new_on(config(), vt.clone());
    let (tx, rx) = std::sync::mpsc::channel::<tokio::sync::oneshot::Sender<()>>();
    let service = tower::service_fn(move |_x: u64| {
        let (done, wait) = tokio::sync::oneshot::channel();
        tx.send(done).unwrap();
        async move {
            let _ = wait.await;
            Err::<u64, Error>(Error::msg("late failure"))
        }
    });
    let mut svc = ServiceBuilder::new()
        .layer(breaker.clone())
        .service(service);
    let waker = Waker::noop();
    assert!(svc.poll_ready(&mut Context::from_waker(waker)).is_ready());
    let slow = svc.call(1); // started while closed
    let release = rx.recv().unwrap();
    for _ in 0..5 {
        breaker.record_failure();
    }
    vt.advance_by(Duration::from_secs(2));
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    release.send(()).unwrap();
    assert!(futures_block_on(slow).is_err());
    // Its failure is from the closed epoch: the half-open breaker does not reopen for it.
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    assert_eq!(breaker.metrics().stale, 1);
}

/// Polls a future to completion on this thread (the futures here complete without I/O).
fn futures_block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    for _ in 0..1_000 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::yield_now();
    }
    panic!("did not complete")
}

// ===== The outage: a dependency down for 10 s, inside `call` =====

/// A call that takes `latency` of virtual time: woken by a task on the clock.
struct VirtualCall {
    clock: VirtualTime,
    due: Duration,
    scheduled: bool,
}

impl std::future::Future for VirtualCall {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let now = self.clock.elapsed();
        if now >= self.due {
            return Poll::Ready(());
        }
        if !self.scheduled {
            self.scheduled = true;
            let waker = cx.waker().clone();
            self.clock
                .schedule_after(self.due - now, Task::new(move || waker.wake()));
        }
        Poll::Pending
    }
}

#[test]
fn a_ten_second_outage_opens_the_breaker_withholds_demand_and_every_element_is_delivered_once() {
    const ELEMENTS: u64 = 300;
    const OUTAGE: Duration = Duration::from_secs(10);
    const LATENCY: Duration = Duration::from_millis(100);
    let vt = VirtualTime::new();
    let breaker = CircuitBreaker::new_on(config(), vt.clone());
    let up = Upstream::emitting(ELEMENTS);

    // Every change of state, with the time and the demand the source had seen by then.
    let changes = Arc::new(Mutex::new(Vec::new()));
    let (c, clock, seen) = (Arc::clone(&changes), vt.clone(), up.clone());
    breaker.on_state_change(move |change| {
        c.lock()
            .unwrap()
            .push((clock.elapsed(), change.to, seen.requested()));
    });

    // The dependency: every call started before 10 s fails, after 100 ms; then it recovers.
    // It records the breaker's state at each call that reaches it.
    let reached_while = Arc::new(Mutex::new(Vec::new()));
    let (clock, gate, states) = (vt.clone(), breaker.clone(), Arc::clone(&reached_while));
    let dependency = tower::service_fn(move |x: u64| {
        let started = clock.elapsed();
        states.lock().unwrap().push(gate.state());
        let call = VirtualCall {
            clock: clock.clone(),
            due: started + LATENCY,
            scheduled: false,
        };
        async move {
            call.await;
            if started < OUTAGE {
                Err(Error::msg(format!("dependency down (element {x})")))
            } else {
                Ok(x)
            }
        }
    });
    let service = ServiceBuilder::new()
        .layer(breaker.clone())
        .service(dependency);

    // Failed elements go to a dead-letter list, to be retried.
    let dead = Arc::new(Mutex::new(Vec::new()));
    let d = Arc::clone(&dead);
    let probe = TestSubscriber::new(u64::MAX);
    up.clone()
        .call(service.clone(), 4)
        .on_failure(move |x, _error| d.lock().unwrap().push(x))
        .subscribe(probe.clone());
    while !probe.is_terminated() {
        vt.advance_by(LATENCY);
        assert!(vt.elapsed() < Duration::from_secs(120), "stalled");
    }
    assert!(probe.is_complete(), "{:?}", probe.error());

    let changes = changes.lock().unwrap().clone();
    use BreakerState::*;
    // It opened after its minimum of 5 calls: 4 failed at 100 ms, the fifth at 200 ms.
    assert_eq!(changes[0], (Duration::from_millis(200), Open, changes[0].2));
    // While open the source saw no demand: the same requested total when it half-opened as
    // when it opened, each time; and it stayed open for exactly open_for.
    for pair in changes.windows(2) {
        if pair[0].1 == Open {
            assert_eq!(pair[1].1, HalfOpen, "{changes:?}");
            assert_eq!(pair[1].0 - pair[0].0, Duration::from_secs(2), "{changes:?}");
            assert_eq!(pair[1].2, pair[0].2, "demand while open: {changes:?}");
        }
    }
    // Half-open probes failed during the outage and reopened it; after the outage two probes
    // succeeded and it closed, for good.
    let (closed_at, last, _) = *changes.last().unwrap();
    assert_eq!(last, Closed, "{changes:?}");
    assert!(
        closed_at >= OUTAGE && closed_at < OUTAGE + Duration::from_secs(3),
        "{closed_at:?}"
    );
    assert_eq!(
        changes.iter().filter(|c| c.1 == Closed).count(),
        1,
        "{changes:?}"
    );
    assert!(
        changes.iter().filter(|c| c.1 == Open).count() >= 4,
        "reopened by failed probes during the outage: {changes:?}"
    );
    // No call reached the dependency while the breaker was open.
    assert!(!reached_while.lock().unwrap().contains(&Open));

    // Nothing lost, nothing twice: delivered + dead letters = every element, once.
    let delivered = probe.values();
    let failed = dead.lock().unwrap().clone();
    let mut all: Vec<u64> = delivered.iter().chain(&failed).copied().collect();
    all.sort();
    assert_eq!(all, (0..ELEMENTS).collect::<Vec<_>>());
    assert!(
        !failed.is_empty() && failed.len() < 40,
        "{} failed",
        failed.len()
    );

    // The retry: the dead letters through the same breaker, now closed, all succeed.
    let retried = TestSubscriber::new(u64::MAX);
    source::from_iter(failed.clone())
        .call(service, 4)
        .subscribe(retried.clone());
    while !retried.is_terminated() {
        vt.advance_by(LATENCY);
    }
    assert!(retried.is_complete(), "{:?}", retried.error());
    assert_eq!(retried.values(), failed);
    let mut once: Vec<u64> = delivered.into_iter().chain(retried.values()).collect();
    once.sort();
    assert_eq!(
        once,
        (0..ELEMENTS).collect::<Vec<_>>(),
        "delivered exactly once"
    );
    assert_eq!(breaker.state(), Closed);
}

#[test]
fn a_breaker_is_usable_with_ready_and_oneshot() {
    // ServiceExt::ready: the breaker composes with tower's own helpers.
    let vt = VirtualTime::new();
    let breaker = CircuitBreaker::new_on(config(), vt);
    let echo = tower::service_fn(|x: u64| std::future::ready(Ok::<_, Error>(x + 1)));
    let svc = ServiceBuilder::new().layer(breaker).service(echo);
    assert_eq!(futures_block_on(svc.oneshot(41)).unwrap(), 42);
}
