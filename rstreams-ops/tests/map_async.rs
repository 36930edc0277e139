//! map_async, map_async_unordered and try_map_async: order, upstream demand as free slots,
//! nothing polled without a slot, bounded outputs, cancel dropping the futures in flight,
//! errors and panics, and futures that need a tokio runtime.

mod common;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use common::*;
use rstreams_core::{sink, source, Error, ErrorKind, Publisher};
use rstreams_ops::PublisherExt;
use rstreams_tck::{TestSubscriber, Upstream};

// ===== Gates: futures the test completes by hand =====

#[derive(Default)]
struct GateState {
    open: bool,
    waker: Option<Waker>,
    polls: usize,
}

/// The futures of one test, one per element, completed by hand; counts how many were made,
/// polled and dropped.
#[derive(Clone, Default)]
struct Gates {
    gates: Arc<Mutex<HashMap<u64, Arc<Mutex<GateState>>>>>,
    made: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

struct Gate {
    value: u64,
    state: Arc<Mutex<GateState>>,
    dropped: Arc<AtomicUsize>,
}

impl Gates {
    /// The future of element `x`: resolves to `x` once opened.
    fn future(&self, x: u64) -> Gate {
        self.made.fetch_add(1, Ordering::SeqCst);
        let state = Arc::clone(self.gates.lock().unwrap().entry(x).or_default());
        Gate {
            value: x,
            state,
            dropped: Arc::clone(&self.dropped),
        }
    }

    fn open(&self, x: u64) {
        let state = Arc::clone(self.gates.lock().unwrap().entry(x).or_default());
        let waker = {
            let mut state = state.lock().unwrap();
            state.open = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn made(&self) -> usize {
        self.made.load(Ordering::SeqCst)
    }

    fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }

    fn polls(&self, x: u64) -> usize {
        self.gates
            .lock()
            .unwrap()
            .get(&x)
            .map_or(0, |s| s.lock().unwrap().polls)
    }
}

impl Future for Gate {
    type Output = u64;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        let mut state = self.state.lock().unwrap();
        state.polls += 1;
        if state.open {
            Poll::Ready(self.value)
        } else {
            state.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

// ===== The protocol, with futures that are ready at once =====

#[test]
fn the_protocol_holds_with_ready_futures() {
    let ordered = |n: u64| source::range(0, n).map_async(4, std::future::ready);
    zero_demand_emits_nothing(ordered);
    partial_demand_is_exact(ordered);
    reentrant_request_one_from_on_next_runs_to_completion(ordered);
    concurrent_requests_deliver_everything_once_in_order(ordered);
    request_zero_fails_the_stream_with_rule_3_9(ordered);
    demand_overflowing_u64_is_unbounded(ordered);
    upstream_error_passes_through_without_demand(|f| f.map_async(2, std::future::ready));
    an_empty_upstream_completes_without_demand(ordered);
    cancel_mid_stream_cancels_upstream_and_releases_the_subscriber(|up: Manual<u64>| {
        up.map_async(3, std::future::ready)
    });
    // One slot: still everything, in order.
    partial_demand_is_exact(|n| source::range(0, n).map_async(1, std::future::ready));
    partial_demand_is_exact(|n| {
        source::range(0, n).try_map_async(3, |x| std::future::ready(Ok::<_, Error>(x)))
    });
}

// ===== Order =====

#[test]
fn map_async_emits_in_the_order_of_the_elements_whatever_order_the_futures_complete_in() {
    let gates = Gates::default();
    let g = gates.clone();
    let probe = TestSubscriber::new(u64::MAX);
    source::range(0, 3)
        .map_async(3, move |x| g.future(x))
        .subscribe(probe.clone());
    assert_eq!(gates.made(), 3);
    gates.open(2);
    gates.open(1);
    assert_eq!(probe.count(), 0, "1 and 2 wait behind 0");
    gates.open(0);
    probe.assert_values(&[0, 1, 2]);
    assert!(probe.is_complete());
}

#[test]
fn map_async_unordered_emits_as_the_futures_complete() {
    let gates = Gates::default();
    let g = gates.clone();
    let probe = TestSubscriber::new(u64::MAX);
    source::range(0, 3)
        .map_async_unordered(3, move |x| g.future(x))
        .subscribe(probe.clone());
    gates.open(2);
    probe.assert_values(&[2]);
    gates.open(0);
    gates.open(1);
    probe.assert_values(&[2, 0, 1]);
    assert!(probe.is_complete());
}

// ===== Demand: free slots =====

#[test]
fn upstream_demand_is_the_free_slots_and_a_slot_frees_when_its_output_went_downstream() {
    let up = Upstream::emitting(100);
    let gates = Gates::default();
    let g = gates.clone();
    let probe = TestSubscriber::new(0);
    up.clone()
        .map_async(3, move |x| g.future(x))
        .subscribe(probe.clone());
    // max_in_flight when subscribed, whatever the downstream asked (nothing here).
    assert_eq!(up.stats().requests, vec![3]);
    assert_eq!(gates.made(), 3);
    // A finished future without demand keeps its slot: nothing more is requested.
    gates.open(0);
    assert_eq!(up.requested(), 3);
    assert_eq!(gates.made(), 3);
    // Its output goes downstream, then its slot is asked for again.
    probe.request(1);
    probe.assert_values(&[0]);
    assert_eq!(up.stats().requests, vec![3, 1]);
    assert_eq!(gates.made(), 4);
    // Three delivered in one batch: one request of 3.
    for x in 1..4 {
        gates.open(x);
    }
    probe.request(3);
    probe.assert_values(&[0, 1, 2, 3]);
    assert_eq!(up.stats().requests, vec![3, 1, 3]);
    assert_eq!(gates.made(), 7);
}

#[test]
fn the_ordered_variant_holds_at_most_max_in_flight_outputs_behind_a_slow_future() {
    let up = Upstream::emitting(1_000);
    let gates = Gates::default();
    let g = gates.clone();
    let probe = TestSubscriber::new(u64::MAX);
    up.clone()
        .map_async(4, move |x| g.future(x))
        .subscribe(probe.clone());
    // Everything but element 0 completes: the outputs wait behind it, and nothing more starts.
    for x in 1..1_000 {
        gates.open(x);
    }
    assert_eq!(probe.count(), 0);
    assert_eq!(gates.made(), 4);
    assert_eq!(up.requested(), 4);
    gates.open(0);
    assert!(probe.await_terminal(WAIT));
    assert_eq!(probe.values(), (0..1_000).collect::<Vec<_>>());
    assert!(probe.is_complete());
}

#[test]
fn nothing_is_made_or_polled_without_a_slot() {
    let up = Upstream::emitting(10);
    let gates = Gates::default();
    let g = gates.clone();
    let probe = TestSubscriber::new(u64::MAX);
    up.clone()
        .map_async_unordered(2, move |x| g.future(x))
        .subscribe(probe.clone());
    assert_eq!(gates.made(), 2);
    assert_eq!((gates.polls(0), gates.polls(1)), (1, 1));
    // Wake one: only that one is polled again.
    gates.open(1);
    assert_eq!((gates.polls(0), gates.polls(1)), (1, 2));
    assert_eq!(gates.made(), 3, "the freed slot took element 2");
    assert_eq!(
        gates.polls(3),
        0,
        "element 3 has no slot: not made, not polled"
    );
}

// ===== Cancel =====

#[test]
fn a_cancel_drops_the_futures_in_flight_and_cancels_the_upstream() {
    let up = Upstream::never_completing(100);
    let gates = Gates::default();
    let g = gates.clone();
    let probe = TestSubscriber::new(u64::MAX);
    let (subscriber, weak) = track(probe.clone());
    up.clone()
        .map_async(5, move |x| g.future(x))
        .subscribe(subscriber);
    assert_eq!(gates.made(), 5);
    assert_eq!(gates.dropped(), 0);
    probe.cancel();
    assert_eq!(gates.dropped(), 5, "the futures in flight were not dropped");
    assert!(up.is_cancelled());
    assert!(released(&weak), "§3.13: subscriber kept after cancel");
}

// ===== Errors and panics =====

#[test]
fn zero_max_in_flight_is_rejected_where_the_operator_is_built() {
    let caught = std::panic::catch_unwind(|| source::range(0, 1).map_async(0, std::future::ready));
    let message = caught
        .err()
        .and_then(|p| p.downcast::<String>().ok())
        .unwrap();
    assert!(
        message.contains(
            "map_async: max_in_flight must be at least 1 (got 0; valid range 1..=usize::MAX)"
        ),
        "{message}"
    );
    assert!(std::panic::catch_unwind(
        || source::range(0, 1).map_async_unordered(0, std::future::ready)
    )
    .is_err());
    assert!(std::panic::catch_unwind(|| {
        source::range(0, 1).try_map_async(0, |x| std::future::ready(Ok::<_, Error>(x)))
    })
    .is_err());
}

#[test]
fn an_err_fails_the_stream_at_once_cancels_the_upstream_and_drops_the_rest() {
    let up = Upstream::never_completing(100);
    let gates = Gates::default();
    let g = gates.clone();
    let probe = TestSubscriber::new(u64::MAX);
    up.clone()
        .try_map_async(3, move |x| {
            let gate = g.future(x);
            async move {
                let x = gate.await;
                if x == 1 {
                    Err(Error::msg("element 1 failed"))
                } else {
                    Ok(x)
                }
            }
        })
        .subscribe(probe.clone());
    gates.open(1);
    let error = probe.error().expect("failed at once, before 0 completed");
    assert_eq!(
        error.to_string(),
        "in stage `try_map_async`: element 1 failed"
    );
    assert_eq!(probe.count(), 0);
    assert!(up.is_cancelled());
    assert_eq!(gates.dropped(), 3);
}

#[test]
fn an_upstream_error_goes_downstream_at_once_and_drops_the_futures_in_flight() {
    let upstream = Manual::new();
    let gates = Gates::default();
    let g = gates.clone();
    let probe = TestSubscriber::new(u64::MAX);
    upstream
        .clone()
        .map_async(3, move |x| g.future(x))
        .subscribe(probe.clone());
    upstream.next(0);
    upstream.next(1);
    upstream.error(Error::msg("source down"));
    assert_eq!(probe.error().unwrap().to_string(), "source down");
    assert_eq!(gates.dropped(), 2);
}

#[test]
fn completion_waits_for_the_futures_in_flight() {
    let upstream = Manual::new();
    let gates = Gates::default();
    let g = gates.clone();
    let probe = TestSubscriber::new(u64::MAX);
    upstream
        .clone()
        .map_async(3, move |x| g.future(x))
        .subscribe(probe.clone());
    upstream.next(7);
    upstream.complete();
    assert!(!probe.is_terminated());
    gates.open(7);
    probe.assert_values(&[7]);
    assert!(probe.is_complete());
}

#[test]
fn panics_in_the_closure_and_in_a_future_fail_the_stream_in_the_stage() {
    let up = Upstream::never_completing(10);
    let probe = TestSubscriber::new(u64::MAX);
    up.clone()
        .map_async(2, |x| {
            assert!(x != 1, "no 1 here");
            std::future::ready(x)
        })
        .subscribe(probe.clone());
    assert_panic_error(&probe.error().unwrap(), "map_async", "no 1 here");
    assert!(up.is_cancelled());

    let probe = TestSubscriber::new(u64::MAX);
    source::range(0, 5)
        .map_async_unordered(2, |x| async move {
            assert!(x != 3, "no 3 either");
            x
        })
        .subscribe(probe.clone());
    assert_panic_error(
        &probe.error().unwrap(),
        "map_async_unordered",
        "no 3 either",
    );
    assert_eq!(probe.values(), vec![0, 1, 2]);
}

#[test]
fn rule_1_1_an_upstream_that_ignores_demand_is_cancelled_and_fails_the_stream() {
    let upstream = Manual::new();
    let gates = Gates::default();
    let g = gates.clone();
    let probe = TestSubscriber::new(u64::MAX);
    upstream
        .clone()
        .map_async(2, move |x| g.future(x))
        .subscribe(probe.clone());
    for x in 0..5 {
        upstream.next(x);
    }
    let error = probe.error().expect("failed");
    assert_eq!(error.rule(), Some("1.1"), "{error}");
    assert_eq!(error.kind(), ErrorKind::Protocol);
    assert!(upstream.is_cancelled());
    assert!(
        gates.made() <= 2,
        "no future beyond the slots: {}",
        gates.made()
    );
}

// ===== Futures that need a tokio runtime =====

#[tokio::test(start_paused = true)]
async fn tokio_sleeps_complete_under_paused_time_and_the_order_is_kept() {
    let probe = TestSubscriber::new(u64::MAX);
    // Later elements sleep less: they complete first and wait for the earlier ones.
    source::range(0, 6)
        .map_async(3, |x| async move {
            tokio::time::sleep(Duration::from_millis(100 * (6 - x))).await;
            x * 10
        })
        .subscribe(probe.clone());
    let start = tokio::time::Instant::now();
    while !probe.is_terminated() {
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(start.elapsed() < Duration::from_secs(60), "stalled");
    }
    assert!(probe.is_complete());
    probe.assert_values(&[0, 10, 20, 30, 40, 50]);
    // Three at a time: 600 ms for 0..3 (0 is the slowest), then 3, 4, 5 started as slots
    // freed: far less than the 2.1 s of one at a time.
    assert!(
        start.elapsed() < Duration::from_millis(1_300),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokio_oneshot_completed_from_a_tokio_task_wakes_the_stage() {
    let senders = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&senders);
    let probe = TestSubscriber::new(u64::MAX);
    source::range(0, 4)
        .map_async_unordered(4, move |x| {
            let (tx, rx) = tokio::sync::oneshot::channel::<u64>();
            s.lock().unwrap().push((x, tx));
            async move { rx.await.expect("sent") }
        })
        .subscribe(probe.clone());
    let pending: Vec<_> = senders.lock().unwrap().drain(..).collect();
    assert_eq!(pending.len(), 4);
    for (x, tx) in pending.into_iter().rev() {
        tokio::spawn(async move { tx.send(x + 100).unwrap() })
            .await
            .unwrap();
    }
    assert!(probe.await_terminal(WAIT));
    assert!(probe.is_complete());
    probe.assert_values(&[103, 102, 101, 100]);
}

#[test]
fn collect_of_a_large_stream_through_a_small_window() {
    let out = source::range(0, 50_000).map_async(8, |x| async move { x + 1 });
    let all = sink::collect(&out).unwrap();
    assert!(all.into_iter().eq(1..=50_000));
}
