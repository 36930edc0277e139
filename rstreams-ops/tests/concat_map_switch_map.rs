//! concat_map and switch_map: one inner at a time, the demand carried over from one inner to
//! the next, the switch under a multi-threaded race, errors, completion, cancel.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use rstreams_core::{sink, source, Error, ErrorKind, Publisher, Subscriber, Subscription};
use rstreams_ops::PublisherExt;
use rstreams_tck::{TestPublisher, TestSubscriber, Upstream};

/// Inner publishers driven by hand, one per outer element `0..n`.
fn inners<T: 'static>(n: usize) -> Vec<TestPublisher<T>> {
    (0..n).map(|_| TestPublisher::new()).collect()
}

// ===== concat_map =====

#[test]
fn concat_map_keeps_the_protocol() {
    let mapped = |n| source::range(0, n).concat_map(source::just, 4);
    zero_demand_emits_nothing(mapped);
    partial_demand_is_exact(mapped);
    reentrant_request_one_from_on_next_runs_to_completion(mapped);
    concurrent_requests_deliver_everything_once_in_order(mapped);
    request_zero_fails_the_stream_with_rule_3_9(mapped);
    demand_overflowing_u64_is_unbounded(mapped);
    an_empty_upstream_completes_without_demand(mapped);
    upstream_error_passes_through_without_demand(|up| up.concat_map(source::just, 4));
    cancel_mid_stream_cancels_upstream_and_releases_the_subscriber(|up| {
        up.concat_map(source::just, 4)
    });
    // Inners of several elements, in order.
    partial_demand_is_exact(|n| source::range(0, n / 2).concat_map(|x| source::range(2 * x, 2), 3));
}

#[test]
fn concat_map_runs_one_inner_at_a_time_in_order() {
    let inner = inners::<u64>(2);
    let mapped = inner.clone();
    let probe = TestSubscriber::new(u64::MAX);
    source::range(0, 2)
        .concat_map(move |x| mapped[x as usize].clone(), 2)
        .subscribe(probe.clone());
    assert!(inner[0].has_subscriber());
    assert!(
        !inner[1].has_subscriber(),
        "the next waits for the first to complete"
    );
    inner[0].emit(1);
    inner[0].emit(2);
    inner[0].complete();
    assert!(inner[1].has_subscriber());
    inner[1].emit(3);
    inner[1].complete();
    probe.assert_values(&[1, 2, 3]);
    assert!(probe.is_complete());
}

#[test]
fn concat_map_carries_the_outstanding_demand_over_to_the_next_inner_exactly() {
    let inner = inners::<u64>(2);
    let mapped = inner.clone();
    let probe = TestSubscriber::new(5);
    source::range(0, 2)
        .concat_map(move |x| mapped[x as usize].clone(), 2)
        .subscribe(probe.clone());
    assert_eq!(inner[0].requests(), vec![5]);
    inner[0].emit(10);
    inner[0].emit(11);
    inner[0].complete();
    assert_eq!(inner[1].requests(), vec![3], "5 requested, 2 received");
    probe.request(4);
    assert_eq!(inner[1].requests(), vec![3, 4], "passed on as it comes");
    assert_eq!(inner[0].requests(), vec![5], "not to the finished inner");
}

#[test]
fn concat_map_prefetches_the_outer_and_replenishes_it_at_three_quarters() {
    let (outer, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::new(0);
    outer.concat_map(source::just, 8).subscribe(probe.clone());
    assert_eq!(
        log.requests(),
        vec![8],
        "asked when subscribed, whatever the demand"
    );
    probe.request(20);
    assert_eq!(probe.count(), 20);
    let requests = log.requests();
    assert_eq!(requests[0], 8);
    assert!(requests[1..].iter().all(|&n| n == 6), "{requests:?}");
    // Held or outstanding never exceeds the prefetch.
    assert!(log.total_requested() <= 20 + 8, "{requests:?}");
    probe.request(u64::MAX);
    assert!(probe.is_complete());
    assert_eq!(probe.count(), 100);
}

#[test]
fn an_endless_synchronous_inner_streams_under_unbounded_demand() {
    // Nothing piles up: each element goes out as the inner emits it, until the cancel.
    let probe = TestSubscriber::new(u64::MAX).cancel_after(100_000);
    source::range(0, 2)
        .concat_map(|_| source::range(0, u64::MAX), 1)
        .subscribe(probe.clone());
    assert_eq!(probe.count(), 100_000);
    probe.assert_no_violations();
}

#[test]
fn a_long_run_of_synchronous_inners_hands_over_without_recursing() {
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let all = source::range(0, 100_000).concat_map(source::just, 16);
            sink::collect(&all).unwrap().len()
        })
        .unwrap();
    assert_eq!(handle.join().unwrap(), 100_000);
}

#[test]
fn an_outer_error_fails_concat_map_at_once_and_cancels_the_active_inner() {
    let outer = TestPublisher::<u64>::new();
    let inner = Upstream::never_completing(100);
    let probe = TestSubscriber::new(1);
    let mapped = inner.clone();
    outer
        .clone()
        .concat_map(move |_| mapped.clone(), 2)
        .subscribe(probe.clone());
    outer.emit(0);
    outer.emit(1); // queued behind the active inner
    probe.assert_values(&[0]);
    outer.fail(Error::msg("outer broke"));
    assert_eq!(probe.error().unwrap().to_string(), "outer broke");
    assert!(inner.is_cancelled(), "the active inner is not waited for");
}

#[test]
fn an_inner_error_fails_concat_map_and_cancels_the_outer() {
    let outer = Upstream::never_completing(10);
    let probe = TestSubscriber::new(u64::MAX);
    outer
        .clone()
        .concat_map(
            |x| {
                if x == 2 {
                    source::fail(Error::msg("inner broke")).boxed()
                } else {
                    source::just(x).boxed()
                }
            },
            4,
        )
        .subscribe(probe.clone());
    probe.assert_values(&[0, 1]);
    assert_eq!(probe.error().unwrap().to_string(), "inner broke");
    assert!(outer.is_cancelled());
}

#[test]
fn a_panic_in_concat_maps_closure_fails_the_stream_and_cancels_the_outer() {
    let outer = Upstream::never_completing(10);
    let probe = TestSubscriber::new(u64::MAX);
    outer
        .clone()
        .concat_map(
            |x| {
                if x == 1 {
                    panic!("mapping bug")
                }
                source::just(x)
            },
            4,
        )
        .subscribe(probe.clone());
    probe.assert_values(&[0]);
    assert_panic_error(&probe.error().unwrap(), "concat_map", "mapping bug");
    assert!(outer.is_cancelled());
}

#[test]
fn rule_3_9_request_zero_fails_concat_map_with_no_inner_active() {
    let outer = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(0);
    outer
        .clone()
        .concat_map(source::just, 2)
        .subscribe(probe.clone());
    probe.request(0);
    assert_eq!(probe.error().unwrap().rule(), Some("3.9"));
    assert!(outer.is_cancelled());
}

#[test]
fn rule_3_13_cancelling_concat_map_cancels_the_outer_and_the_inner() {
    let outer = Upstream::never_completing(10);
    let inner = Upstream::never_completing(100);
    let mapped = inner.clone();
    let probe = TestSubscriber::new(1);
    let (subscriber, weak) = track(probe.clone());
    outer
        .clone()
        .concat_map(move |_| mapped.clone(), 2)
        .subscribe(subscriber);
    probe.assert_values(&[0]);
    probe.cancel();
    assert!(outer.is_cancelled() && inner.is_cancelled());
    assert!(released(&weak));
}

#[test]
#[should_panic(expected = "prefetch must be at least 1 (valid range 1..=usize::MAX), got 0")]
fn concat_map_rejects_a_prefetch_of_zero_when_built() {
    let _ = source::range(0, 3).concat_map(source::just, 0);
}

// ===== switch_map =====

#[test]
fn switch_map_keeps_the_protocol() {
    // Synchronous inners run to their end before the next outer element.
    let mapped = |n| source::range(0, n).switch_map(source::just);
    zero_demand_emits_nothing(mapped);
    reentrant_request_one_from_on_next_runs_to_completion(mapped);
    request_zero_fails_the_stream_with_rule_3_9(mapped);
    demand_overflowing_u64_is_unbounded(mapped);
    an_empty_upstream_completes_without_demand(mapped);
    upstream_error_passes_through_without_demand(|up| up.switch_map(source::just));
    cancel_mid_stream_cancels_upstream_and_releases_the_subscriber(|up| {
        up.switch_map(source::just)
    });
}

#[test]
fn switch_map_asks_the_outer_for_everything_and_keeps_only_the_latest_inner() {
    let outer = Upstream::emitting(10);
    let probe = TestSubscriber::new(0);
    outer
        .clone()
        .switch_map(|x| source::range(x * 10, 2))
        .subscribe(probe.clone());
    assert_eq!(outer.requested(), u64::MAX);
    // Every inner but the last was switched away from before anything was asked of it.
    probe.request(u64::MAX);
    probe.assert_values(&[90, 91]);
    assert!(probe.is_complete());
}

/// A publisher that logs its subscription and its cancel as they happen.
struct Logged {
    id: u64,
    log: Arc<Mutex<Vec<String>>>,
}

struct LoggedSubscription {
    id: u64,
    log: Arc<Mutex<Vec<String>>>,
}

impl Subscription for LoggedSubscription {
    fn request(&self, _: u64) {}
    fn cancel(&self) {
        self.log.lock().unwrap().push(format!("cancel {}", self.id));
    }
}

impl Publisher for Logged {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
        self.log
            .lock()
            .unwrap()
            .push(format!("subscribe {}", self.id));
        subscriber.on_subscribe(Arc::new(LoggedSubscription {
            id: self.id,
            log: Arc::clone(&self.log),
        }));
    }
}

#[test]
fn each_new_element_cancels_the_previous_inner_before_subscribing_the_next() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = Arc::clone(&log);
    source::range(0, 3)
        .switch_map(move |id| Logged {
            id,
            log: Arc::clone(&l),
        })
        .subscribe(TestSubscriber::<u64>::new(1));
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            "subscribe 0",
            "cancel 0",
            "subscribe 1",
            "cancel 1",
            "subscribe 2"
        ]
    );
}

#[test]
fn switch_map_carries_the_outstanding_demand_over_to_the_next_inner_exactly() {
    let outer = TestPublisher::<usize>::new();
    let inner = inners::<u64>(2);
    let mapped = inner.clone();
    let probe = TestSubscriber::new(5);
    outer
        .clone()
        .switch_map(move |i| mapped[i].clone())
        .subscribe(probe.clone());
    outer.emit(0);
    assert_eq!(inner[0].requests(), vec![5]);
    inner[0].emit(10);
    inner[0].emit(11);
    outer.emit(1);
    assert!(inner[0].is_cancelled());
    assert_eq!(inner[1].requests(), vec![3], "5 requested, 2 delivered");
    probe.request(4);
    assert_eq!(inner[1].requests(), vec![3, 4]);
    inner[1].emit(20);
    probe.assert_values(&[10, 11, 20]);
}

#[test]
fn switch_map_drops_what_a_cancelled_inner_had_queued() {
    let outer = TestPublisher::<usize>::new();
    let inner = inners::<u64>(2);
    let mapped = inner.clone();
    let probe = TestSubscriber::new(0);
    outer
        .clone()
        .switch_map(move |i| mapped[i].clone())
        .subscribe(probe.clone());
    outer.emit(0);
    probe.request(2);
    inner[0].emit(1);
    inner[0].emit(2);
    outer.emit(1);
    inner[1].complete();
    outer.complete();
    probe.assert_values(&[1, 2]);
    assert!(probe.is_complete());
}

/// An inner that emits from a thread of its own, as fast as its demand allows, and goes on for
/// a while after it was cancelled (§3.12 only says "eventually"). Each element carries the
/// inner's id, its position, and whether the inner had seen its cancel before sending it.
struct Racing {
    id: u64,
    elements: u64,
}

#[derive(Default)]
struct RacingState {
    requested: AtomicU64,
    cancelled: AtomicBool,
}

struct RacingSubscription(Arc<RacingState>);

impl Subscription for RacingSubscription {
    fn request(&self, n: u64) {
        let _ = self
            .0
            .requested
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| {
                Some(r.saturating_add(n))
            });
    }
    fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
    }
}

type Tagged = (u64, u64, bool);

/// A downstream that takes a little while over each element, so that the thread delivering
/// holds the stage's loop while the inners' threads go on sending.
struct Slow<S>(S);

impl<T, S: Subscriber<T>> Subscriber<T> for Slow<S> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        self.0.on_subscribe(subscription);
    }
    fn on_next(&mut self, item: T) {
        let until = std::time::Instant::now() + Duration::from_micros(20);
        while std::time::Instant::now() < until {
            std::hint::spin_loop();
        }
        self.0.on_next(item);
    }
    fn on_error(&mut self, error: Error) {
        self.0.on_error(error);
    }
    fn on_complete(&mut self) {
        self.0.on_complete();
    }
}

impl Publisher for Racing {
    type Item = Tagged;
    fn subscribe<S: Subscriber<Tagged> + 'static>(&self, mut subscriber: S) {
        let state = Arc::new(RacingState::default());
        subscriber.on_subscribe(Arc::new(RacingSubscription(Arc::clone(&state))));
        let (id, elements) = (self.id, self.elements);
        std::thread::spawn(move || {
            let (mut sent, mut after_cancel) = (0, 0);
            while sent < elements && after_cancel < 200 {
                if sent >= state.requested.load(Ordering::SeqCst) {
                    std::thread::yield_now();
                    continue;
                }
                let seen_cancel = state.cancelled.load(Ordering::SeqCst);
                after_cancel += u64::from(seen_cancel);
                subscriber.on_next((id, sent, seen_cancel));
                sent += 1;
            }
            if !state.cancelled.load(Ordering::SeqCst) {
                subscriber.on_complete();
            }
        });
    }
}

#[test]
fn nothing_from_a_cancelled_inner_arrives_after_the_switch_under_a_multi_threaded_race() {
    const SWITCHES: u64 = 200;
    const ELEMENTS: u64 = 500;
    let outer = TestPublisher::<u64>::new();
    let probe = TestSubscriber::<Tagged>::new(u64::MAX);
    outer
        .clone()
        .switch_map(|id| Racing {
            id,
            elements: ELEMENTS,
        })
        .subscribe(Slow(probe.clone()));
    for id in 0..SWITCHES {
        outer.emit(id);
        // Let the inner get going on its thread before the next switch.
        let target = probe.count() + 5;
        let _ = probe.await_count(target, Duration::from_millis(20));
    }
    outer.complete();
    assert!(
        probe.await_terminal(WAIT),
        "the last inner completes the stream"
    );
    probe.assert_no_violations(); // one signal at a time (§1.3), within demand (§1.1)
    let values = probe.values();
    let late: Vec<_> = values.iter().filter(|(_, _, seen)| *seen).collect();
    assert!(
        late.is_empty(),
        "elements sent after their inner's cancel reached the downstream: {late:?}"
    );
    for pair in values.windows(2) {
        let ((a, i, _), (b, j, _)) = (pair[0], pair[1]);
        assert!(
            a < b || (a == b && j == i + 1),
            "out of order: {:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
    let last: Vec<_> = values
        .iter()
        .filter(|(id, _, _)| *id == SWITCHES - 1)
        .collect();
    assert_eq!(
        last.len() as u64,
        ELEMENTS,
        "the last inner runs to its end"
    );
    assert!(probe.is_complete());
}

#[test]
fn switch_map_completes_once_the_outer_and_the_last_inner_have() {
    let outer = TestPublisher::<usize>::new();
    let inner = inners::<u64>(1);
    let mapped = inner.clone();
    let probe = TestSubscriber::new(u64::MAX);
    outer
        .clone()
        .switch_map(move |i| mapped[i].clone())
        .subscribe(probe.clone());
    outer.emit(0);
    outer.complete();
    assert!(!probe.is_terminated(), "the inner is still running");
    inner[0].emit(7);
    inner[0].complete();
    probe.assert_values(&[7]);
    assert!(probe.is_complete());
}

#[test]
fn an_outer_error_fails_switch_map_at_once_and_cancels_the_inner() {
    let outer = TestPublisher::<u64>::new();
    let inner = Upstream::never_completing(100);
    let mapped = inner.clone();
    let probe = TestSubscriber::new(1);
    outer
        .clone()
        .switch_map(move |_| mapped.clone())
        .subscribe(probe.clone());
    outer.emit(0);
    outer.fail(Error::msg("outer broke"));
    assert_eq!(probe.error().unwrap().to_string(), "outer broke");
    assert!(inner.is_cancelled());
}

#[test]
fn an_error_of_the_current_inner_fails_switch_map_but_one_of_a_cancelled_inner_does_not() {
    let outer = TestPublisher::<usize>::new();
    let inner = inners::<u64>(2);
    let mapped = inner.clone();
    let probe = TestSubscriber::new(u64::MAX);
    outer
        .clone()
        .switch_map(move |i| mapped[i].clone())
        .subscribe(probe.clone());
    outer.emit(0);
    outer.emit(1);
    inner[0].fail(Error::msg("too late")); // cancelled already: ignored
    assert!(!probe.is_terminated());
    inner[1].fail(Error::msg("current broke"));
    assert_eq!(probe.error().unwrap().to_string(), "current broke");
    assert!(outer.is_cancelled());
}

#[test]
fn a_panic_in_switch_maps_closure_fails_the_stream_and_cancels_the_outer() {
    let outer = Upstream::never_completing(10);
    let probe = TestSubscriber::new(u64::MAX);
    outer
        .clone()
        .switch_map(|x| {
            if x == 2 {
                panic!("mapping bug")
            }
            source::just(x)
        })
        .subscribe(probe.clone());
    probe.assert_values(&[0, 1]);
    let error = probe.error().unwrap();
    assert_eq!(error.kind(), ErrorKind::Panic);
    assert_panic_error(&error, "switch_map", "mapping bug");
    assert!(outer.is_cancelled());
}

#[test]
fn rule_3_9_request_zero_fails_switch_map_with_no_inner_yet() {
    let outer = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(0);
    outer
        .clone()
        .switch_map(source::just)
        .subscribe(probe.clone());
    probe.request(0);
    assert_eq!(probe.error().unwrap().rule(), Some("3.9"));
    assert!(outer.is_cancelled());
}
