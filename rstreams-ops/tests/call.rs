//! call(service, max_in_flight) with real tower layers: "not ready" is withheld demand (a
//! concurrency limit bounds the upstream's demand, a rate limit paces it, a bulkhead shared by
//! two pipelines gates both), a failed call ends the stream or goes through `on_failure`, and
//! nothing is lost silently.

mod common;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use common::*;
use rstreams_core::{source, Error, ErrorKind, Publisher};
use rstreams_ops::{BoxError, Bulkhead, PublisherExt};
use rstreams_tck::{TestSubscriber, Upstream};
use tower::ServiceBuilder;

// ===== Calls completed by hand =====

#[derive(Default)]
struct GateState {
    open: Option<Result<u64, String>>,
    waker: Option<Waker>,
}

/// One call per element, completed by hand (`ok` or `fail`); counts the calls made and the
/// calls running.
#[derive(Clone, Default)]
struct Calls {
    gates: Arc<Mutex<HashMap<u64, Arc<Mutex<GateState>>>>>,
    made: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    max_running: Arc<AtomicUsize>,
    /// Call futures not dropped yet.
    alive: Arc<AtomicUsize>,
}

struct Gate {
    state: Arc<Mutex<GateState>>,
    running: Arc<AtomicUsize>,
    alive: Arc<AtomicUsize>,
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Calls {
    fn gate(&self, x: u64) -> Arc<Mutex<GateState>> {
        Arc::clone(self.gates.lock().unwrap().entry(x).or_default())
    }

    fn call(&self, x: u64) -> Gate {
        self.made.fetch_add(1, Ordering::SeqCst);
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        self.alive.fetch_add(1, Ordering::SeqCst);
        Gate {
            state: self.gate(x),
            running: Arc::clone(&self.running),
            alive: Arc::clone(&self.alive),
        }
    }

    fn finish(&self, x: u64, outcome: Result<u64, String>) {
        let gate = self.gate(x);
        let waker = {
            let mut state = gate.lock().unwrap();
            state.open = Some(outcome);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn ok(&self, x: u64) {
        self.finish(x, Ok(x * 10));
    }

    fn fail(&self, x: u64) {
        self.finish(x, Err(format!("call {x} failed")));
    }

    fn made(&self) -> usize {
        self.made.load(Ordering::SeqCst)
    }

    fn alive(&self) -> usize {
        self.alive.load(Ordering::SeqCst)
    }

    fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    fn max_running(&self) -> usize {
        self.max_running.load(Ordering::SeqCst)
    }

    /// A service whose call of `x` completes when the test says so.
    fn service(
        &self,
    ) -> impl tower::Service<u64, Response = u64, Error = Error, Future = impl Send> + Clone + Send
    {
        let calls = self.clone();
        tower::service_fn(move |x: u64| {
            let gate = calls.call(x);
            async move { gate.await.map_err(Error::msg) }
        })
    }
}

impl Future for Gate {
    type Output = Result<u64, String>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.state.lock().unwrap();
        match state.open.clone() {
            Some(outcome) => {
                self.running.fetch_sub(1, Ordering::SeqCst);
                Poll::Ready(outcome)
            }
            None => {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

fn echo(
) -> impl tower::Service<u64, Response = u64, Error = Error, Future = impl Send> + Clone + Send {
    tower::service_fn(|x: u64| std::future::ready(Ok::<_, Error>(x)))
}

// ===== The protocol =====

#[test]
fn the_protocol_holds_with_a_ready_service() {
    let calling = |n: u64| source::range(0, n).call(echo(), 4);
    zero_demand_emits_nothing(calling);
    partial_demand_is_exact(calling);
    reentrant_request_one_from_on_next_runs_to_completion(calling);
    concurrent_requests_deliver_everything_once_in_order(calling);
    request_zero_fails_the_stream_with_rule_3_9(calling);
    demand_overflowing_u64_is_unbounded(calling);
    upstream_error_passes_through_without_demand(|f| f.call(echo(), 2));
    an_empty_upstream_completes_without_demand(calling);
    cancel_mid_stream_cancels_upstream_and_releases_the_subscriber(|up: Manual<u64>| {
        up.call(echo(), 3)
    });
}

#[test]
fn zero_max_in_flight_is_rejected_where_the_operator_is_built() {
    let caught = std::panic::catch_unwind(|| source::range(0, 1).call(echo(), 0));
    let payload = caught.expect_err("rejected");
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap();
    assert!(
        message
            .contains("call: max_in_flight must be at least 1 (got 0; valid range 1..=usize::MAX)"),
        "{message}"
    );
}

// ===== Readiness is demand =====

#[test]
fn a_concurrency_limit_bounds_the_upstreams_demand_not_just_the_calls() {
    let calls = Calls::default();
    let service = ServiceBuilder::new()
        .concurrency_limit(3)
        .service(calls.service());
    let up = Upstream::emitting(30);
    let probe = TestSubscriber::new(u64::MAX);
    up.clone().call(service, 16).subscribe(probe.clone());
    // Three permits: three elements requested, one at a time as each permit was granted.
    assert_eq!(up.stats().requests, vec![1, 1, 1]);
    assert_eq!(calls.running(), 3);
    let mut finished = 0;
    for x in 0..30 {
        calls.ok(x);
        finished += 1;
        let requested = up.requested() as usize;
        assert!(
            requested <= finished + 3,
            "demand beyond the limit: {requested} requested, {finished} finished"
        );
    }
    assert!(probe.await_terminal(WAIT));
    assert!(probe.is_complete());
    assert_eq!(probe.values(), (0..30).map(|x| x * 10).collect::<Vec<_>>());
    assert_eq!(calls.max_running(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_paces_the_upstreams_demand() {
    let service = ServiceBuilder::new()
        .rate_limit(2, Duration::from_secs(1))
        .service(echo());
    let up = Upstream::emitting(7);
    let probe = TestSubscriber::new(u64::MAX);
    up.clone().call(service, 8).subscribe(probe.clone());
    let start = tokio::time::Instant::now();
    let mut seen = Vec::new();
    while !probe.is_terminated() {
        let seconds = start.elapsed().as_secs();
        let requested = up.requested();
        assert!(
            requested <= 2 * (seconds + 1),
            "{requested} requested within {seconds} s at 2 per second"
        );
        seen.push(requested);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(start.elapsed() < Duration::from_secs(30), "stalled");
    }
    assert!(probe.is_complete());
    assert_eq!(probe.values(), (0..7).collect::<Vec<_>>());
    // Paced: it took the 3 s that 7 calls at 2 per second need, not one go.
    assert!(
        start.elapsed() >= Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(seen.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn a_bulkhead_shared_by_two_pipelines_gates_both_and_the_waiting_one_requests_nothing() {
    let bulkhead = Bulkhead::new(2);
    let calls = Calls::default();
    let service = ServiceBuilder::new()
        .layer(bulkhead.clone())
        .service(calls.service());
    let (a, b) = (Upstream::emitting(4), Upstream::emitting(4));
    let (pa, pb) = (TestSubscriber::new(u64::MAX), TestSubscriber::new(u64::MAX));
    // A's elements are 0..4, B's 100..104.
    a.clone().call(service.clone(), 8).subscribe(pa.clone());
    b.clone()
        .map(|x| x + 100)
        .call(service, 8)
        .subscribe(pb.clone());
    assert_eq!(a.requested(), 2, "A took both permits");
    assert_eq!(
        b.requested(),
        0,
        "B waits for a permit and requests nothing meanwhile"
    );
    assert_eq!(
        bulkhead.waiting(),
        2,
        "A's next call and B's first wait in turn"
    );
    // A freed permit goes to the first waiter: A's own next call was queued first.
    calls.ok(0);
    assert_eq!((a.requested(), b.requested()), (3, 0));
    calls.ok(1);
    assert_eq!((a.requested(), b.requested()), (3, 1));
    for x in [2, 100, 3, 101, 102, 103] {
        calls.ok(x);
        assert!(calls.running() <= 2);
    }
    assert!(pa.await_terminal(WAIT) && pb.await_terminal(WAIT));
    assert_eq!(pa.values(), vec![0, 10, 20, 30]);
    assert_eq!(pb.values(), vec![1000, 1010, 1020, 1030]);
    assert_eq!(calls.max_running(), 2);
    assert_eq!(bulkhead.available(), 2);
    assert_eq!(bulkhead.waiting(), 0);
}

// ===== Failures =====

#[test]
fn a_failed_call_ends_the_stream_by_default_and_cancels_the_upstream() {
    let calls = Calls::default();
    let up = Upstream::never_completing(100);
    let probe = TestSubscriber::new(u64::MAX);
    up.clone().call(calls.service(), 4).subscribe(probe.clone());
    calls.ok(0);
    calls.fail(1);
    let error = probe.error().expect("failed");
    assert_eq!(error.to_string(), "in stage `call`: call 1 failed");
    assert_eq!(error.stage(), Some("call"));
    assert_eq!(probe.values(), vec![0]);
    assert!(up.is_cancelled());
    // 0 and 1 completed, 2, 3 and 4 (started in 0's freed slot) were in flight: dropped.
    assert_eq!(calls.made(), 5);
    assert_eq!(calls.alive(), 0, "the calls in flight were not dropped");
}

#[test]
fn on_failure_routes_each_failed_element_and_the_stream_goes_on_exactly_once() {
    let calls = Calls::default();
    let dead = Arc::new(Mutex::new(Vec::new()));
    let d = Arc::clone(&dead);
    let probe = TestSubscriber::new(u64::MAX);
    source::range(0, 20)
        .call(calls.service(), 4)
        .on_failure(move |x, error: Error| d.lock().unwrap().push((x, error.to_string())))
        .subscribe(probe.clone());
    for x in 0..20 {
        if x % 3 == 0 {
            calls.fail(x);
        } else {
            calls.ok(x);
        }
    }
    assert!(probe.await_terminal(WAIT));
    assert!(probe.is_complete());
    let delivered: Vec<u64> = probe.values().into_iter().map(|r| r / 10).collect();
    let routed: Vec<u64> = dead.lock().unwrap().iter().map(|(x, _)| *x).collect();
    assert_eq!(
        delivered,
        (0..20).filter(|x| x % 3 != 0).collect::<Vec<_>>()
    );
    assert_eq!(routed, (0..20).filter(|x| x % 3 == 0).collect::<Vec<_>>());
    assert_eq!(dead.lock().unwrap()[0].1, "call 0 failed");
}

#[test]
fn unordered_emits_responses_as_the_calls_complete_and_routes_failures_at_once() {
    let calls = Calls::default();
    let dead = Arc::new(Mutex::new(Vec::new()));
    let d = Arc::clone(&dead);
    let probe = TestSubscriber::new(u64::MAX);
    source::range(0, 3)
        .call(calls.service(), 3)
        .on_failure(move |x, _error: Error| d.lock().unwrap().push(x))
        .unordered()
        .subscribe(probe.clone());
    calls.ok(2);
    calls.fail(0);
    calls.ok(1);
    probe.assert_values(&[20, 10]);
    assert_eq!(*dead.lock().unwrap(), vec![0]);
    assert!(probe.is_complete());
}

#[tokio::test(start_paused = true)]
async fn a_timeout_layer_fails_slow_calls_per_element_and_on_failure_gets_elapsed() {
    let service = ServiceBuilder::new()
        .timeout(Duration::from_millis(100))
        .service_fn(|x: u64| async move {
            let slow = x % 2 == 1;
            tokio::time::sleep(Duration::from_millis(if slow { 500 } else { 10 })).await;
            Ok::<_, Error>(x)
        });
    let timed_out = Arc::new(Mutex::new(Vec::new()));
    let t = Arc::clone(&timed_out);
    let probe = TestSubscriber::new(u64::MAX);
    source::range(0, 6)
        .call(service, 2)
        .on_failure(move |x, error: BoxError| {
            assert!(error.is::<tower::timeout::error::Elapsed>(), "{error}");
            t.lock().unwrap().push(x);
        })
        .subscribe(probe.clone());
    while !probe.is_terminated() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(probe.is_complete());
    assert_eq!(probe.values(), vec![0, 2, 4]);
    assert_eq!(*timed_out.lock().unwrap(), vec![1, 3, 5]);
}

#[tokio::test(start_paused = true)]
async fn without_a_route_a_timeout_ends_the_stream_with_an_error_that_downcasts() {
    let service = ServiceBuilder::new()
        .timeout(Duration::from_millis(100))
        .service_fn(|x: u64| async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, Error>(x)
        });
    let probe = TestSubscriber::new(u64::MAX);
    source::range(0, 3)
        .call(service, 2)
        .subscribe(probe.clone());
    while !probe.is_terminated() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let error = probe.error().expect("failed");
    assert_eq!(error.kind(), ErrorKind::Other);
    assert!(error
        .downcast_ref::<tower::timeout::error::Elapsed>()
        .is_some());
}

#[test]
fn load_shedding_turns_not_ready_into_failed_calls_which_on_failure_accounts_for() {
    let calls = Calls::default();
    let service = ServiceBuilder::new()
        .load_shed()
        .concurrency_limit(1)
        .service(calls.service());
    let shed = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&shed);
    let probe = TestSubscriber::new(u64::MAX);
    source::range(0, 5)
        .call(service, 8)
        .on_failure(move |x, error: BoxError| {
            assert!(error.is::<tower::load_shed::error::Overloaded>(), "{error}");
            s.lock().unwrap().push(x);
        })
        .subscribe(probe.clone());
    // Element 0 holds the only permit: every later element is shed at once, not withheld.
    assert_eq!(*shed.lock().unwrap(), vec![1, 2, 3, 4]);
    calls.ok(0);
    assert!(probe.is_complete());
    probe.assert_values(&[0]);
}

#[test]
fn an_error_from_poll_ready_ends_the_stream_whatever_the_route() {
    #[derive(Clone)]
    struct Broken;
    impl tower::Service<u64> for Broken {
        type Response = u64;
        type Error = Error;
        type Future = std::future::Ready<Result<u64, Error>>;
        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
            Poll::Ready(Err(Error::msg("connection lost")))
        }
        fn call(&mut self, x: u64) -> Self::Future {
            std::future::ready(Ok(x))
        }
    }
    let up = Upstream::emitting(5);
    let probe = TestSubscriber::new(u64::MAX);
    up.clone()
        .call(Broken, 2)
        .on_failure(|_x, _e: Error| panic!("not a per-element failure"))
        .subscribe(probe.clone());
    assert_eq!(
        probe.error().unwrap().to_string(),
        "in stage `call`: connection lost"
    );
    assert_eq!(up.requested(), 0, "nothing requested from a broken service");
}

#[test]
fn a_panic_in_the_route_fails_the_stream_in_the_stage() {
    let calls = Calls::default();
    let probe = TestSubscriber::new(u64::MAX);
    source::range(0, 3)
        .call(calls.service(), 2)
        .on_failure(|_x, _e: Error| panic!("dead-letter queue full"))
        .subscribe(probe.clone());
    calls.fail(0);
    assert_panic_error(&probe.error().unwrap(), "call", "dead-letter queue full");
}

#[test]
fn a_cancel_drops_the_calls_in_flight() {
    let calls = Calls::default();
    let up = Upstream::never_completing(100);
    let probe = TestSubscriber::new(u64::MAX);
    let bulkhead = Bulkhead::new(3);
    let service = ServiceBuilder::new()
        .layer(bulkhead.clone())
        .service(calls.service());
    up.clone().call(service, 8).subscribe(probe.clone());
    assert_eq!(bulkhead.available(), 0);
    probe.cancel();
    assert!(up.is_cancelled());
    // The calls' futures were dropped: their permits are back.
    assert_eq!(bulkhead.available(), 3);
}

#[test]
fn rule_1_9_the_service_serves_one_subscription_at_a_time_and_comes_back_when_it_ends() {
    let calls = Calls::default();
    let pipeline = source::range(0, 2).call(calls.service(), 2);
    let first = TestSubscriber::new(u64::MAX);
    pipeline.subscribe(first.clone());
    let second = TestSubscriber::new(u64::MAX);
    pipeline.subscribe(second.clone());
    let error = second.error().expect("rejected");
    assert_eq!(error.rule(), Some("1.9"), "{error}");
    assert!(second.is_subscribed());
    // The first one ends: the service is back, and the pipeline can run again.
    calls.ok(0);
    calls.ok(1);
    assert!(first.is_complete());
    let again = TestSubscriber::new(u64::MAX);
    pipeline.subscribe(again.clone());
    assert!(again.is_complete(), "{:?}", again.error());
    again.assert_values(&[0, 10]);
}
