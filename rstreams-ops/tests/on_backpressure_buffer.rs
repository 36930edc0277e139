//! `on_backpressure_buffer(capacity, overflow)`: unbounded upstream demand, a bounded queue,
//! a named overflow policy, and every dropped element counted and handed to the callback.

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use common::*;
use rstreams_core::{source, Error, ErrorKind, Publisher};
use rstreams_ops::{ErrorMode, Overflow, PublisherExt};
use rstreams_tck::{TestSubscriber, Upstream};

/// `range(0, 100)` into a buffer of 10 with no demand, then unbounded demand.
fn overflow_100_into_10(overflow: Overflow) -> (TestSubscriber<u64>, u64, Vec<u64>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let stage = source::range(0, 100)
        .on_backpressure_buffer_with(10, overflow, move |x| log.lock().unwrap().push(x));
    let dropped = stage.dropped();
    let probe = TestSubscriber::new(0);
    stage.subscribe(probe.clone());
    assert_eq!(probe.count(), 0, "no demand, nothing delivered");
    probe.request(u64::MAX);
    probe.assert_no_violations();
    let seen = seen.lock().unwrap().clone();
    (probe, dropped.count(), seen)
}

#[test]
fn evict_oldest_keeps_the_newest_ten() {
    let (probe, dropped, seen) = overflow_100_into_10(Overflow::EvictOldest);
    assert_eq!(probe.values(), (90..100).collect::<Vec<_>>());
    assert!(probe.is_complete());
    assert_eq!(dropped, 90);
    assert_eq!(seen, (0..90).collect::<Vec<_>>(), "evicted oldest first");
}

#[test]
fn drop_incoming_keeps_the_first_ten() {
    let (probe, dropped, seen) = overflow_100_into_10(Overflow::DropIncoming);
    assert_eq!(probe.values(), (0..10).collect::<Vec<_>>());
    assert!(probe.is_complete());
    assert_eq!(dropped, 90);
    assert_eq!(seen, (10..100).collect::<Vec<_>>());
}

#[test]
fn evict_newest_keeps_the_first_nine_and_the_last_one() {
    // Each arrival beyond 10 evicts the newest queued element and takes its place: the nine
    // oldest stay, the tenth slot ends up holding the last element.
    let (probe, dropped, seen) = overflow_100_into_10(Overflow::EvictNewest);
    let mut expected: Vec<u64> = (0..9).collect();
    expected.push(99);
    assert_eq!(probe.values(), expected);
    assert!(probe.is_complete());
    assert_eq!(dropped, 90);
    assert_eq!(seen, (9..99).collect::<Vec<_>>());
}

#[test]
fn fail_fails_with_an_overflow_error_after_the_queued_elements() {
    let (upstream, log) = spy(source::range(0, 100));
    let stage = upstream.on_backpressure_buffer(10, Overflow::Fail);
    let dropped = stage.dropped();
    let probe = TestSubscriber::new(0);
    stage.subscribe(probe.clone());
    assert_eq!(
        log.cancels(),
        1,
        "the upstream is cancelled at the overflow"
    );
    assert!(
        !probe.is_terminated(),
        "the error waits behind the queued elements"
    );
    probe.request(u64::MAX);
    assert_eq!(probe.values(), (0..10).collect::<Vec<_>>());
    let error = probe.error().expect("overflow fails the stream");
    assert_eq!(error.kind(), ErrorKind::Overflow);
    assert_eq!(error.stage(), Some("on_backpressure_buffer"));
    assert_eq!(dropped.count(), 1, "the element that did not fit");
    probe.assert_no_violations();
}

#[test]
fn requests_unbounded_upstream_once_whatever_the_downstream_asks() {
    let (upstream, log) = spy(source::range(0, 10));
    let probe = TestSubscriber::new(2);
    upstream
        .on_backpressure_buffer(16, Overflow::Fail)
        .subscribe(probe.clone());
    probe.request(3);
    assert_eq!(log.requests(), vec![u64::MAX]);
}

#[test]
fn nothing_is_dropped_while_demand_keeps_up() {
    let stage = source::range(0, 10_000).on_backpressure_buffer(4, Overflow::Fail);
    let dropped = stage.dropped();
    let probe = TestSubscriber::new(u64::MAX);
    stage.subscribe(probe.clone());
    assert!(probe.is_complete());
    assert_eq!(probe.count(), 10_000);
    assert_eq!(dropped.count(), 0);
}

fn roomy(n: u64) -> impl Publisher<Item = u64> {
    source::range(0, n).on_backpressure_buffer(1 << 20, Overflow::Fail)
}

#[test]
fn zero_demand_emits_nothing() {
    common::zero_demand_emits_nothing(roomy);
}

#[test]
fn partial_demand_is_exact() {
    common::partial_demand_is_exact(roomy);
}

#[test]
fn reentrant_request_one_from_on_next_runs_to_completion() {
    common::reentrant_request_one_from_on_next_runs_to_completion(roomy);
}

#[test]
fn concurrent_requests_deliver_everything_once_in_order() {
    common::concurrent_requests_deliver_everything_once_in_order(roomy);
}

#[test]
fn demand_overflowing_u64_is_unbounded() {
    common::demand_overflowing_u64_is_unbounded(roomy);
}

#[test]
fn completes_after_the_queue_drains_without_extra_demand() {
    let probe = TestSubscriber::new(0);
    roomy(5).subscribe(probe.clone());
    assert!(
        !probe.is_terminated(),
        "completion waits behind the queued elements"
    );
    probe.request(5);
    assert_eq!(probe.count(), 5);
    assert!(probe.is_complete());
}

#[test]
fn queued_elements_are_delivered_before_an_upstream_error() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(0);
    upstream
        .clone()
        .on_backpressure_buffer(8, Overflow::Fail)
        .subscribe(probe.clone());
    for i in 0..3 {
        upstream.next(i);
    }
    upstream.error(Error::msg("source down"));
    assert!(!probe.is_terminated());
    probe.request(2);
    probe.assert_values(&[0, 1]);
    assert!(!probe.is_terminated());
    probe.request(1);
    probe.assert_values(&[0, 1, 2]);
    assert_eq!(probe.error().unwrap().to_string(), "source down");
    probe.assert_no_violations();
}

#[test]
fn upstream_error_passes_through_without_demand() {
    common::upstream_error_passes_through_without_demand(|up| {
        up.on_backpressure_buffer(8, Overflow::Fail)
    });
}

#[test]
fn an_empty_upstream_completes_without_demand() {
    common::an_empty_upstream_completes_without_demand(roomy);
}

#[test]
fn cancel_mid_stream_cancels_upstream_and_releases_the_subscriber() {
    common::cancel_mid_stream_cancels_upstream_and_releases_the_subscriber(|up| {
        up.on_backpressure_buffer(2_000, Overflow::Fail)
    });
}

#[test]
fn cancel_discards_the_queued_elements() {
    let upstream = Manual::<Arc<()>>::new();
    let token = Arc::new(());
    let probe = TestSubscriber::new(0);
    let (subscriber, weak) = track(probe.clone());
    upstream
        .clone()
        .on_backpressure_buffer(8, Overflow::Fail)
        .subscribe(subscriber);
    for _ in 0..3 {
        upstream.next(token.clone());
    }
    assert_eq!(Arc::strong_count(&token), 4);
    probe.cancel();
    assert!(upstream.is_cancelled());
    assert_eq!(
        Arc::strong_count(&token),
        1,
        "queued elements dropped on cancel"
    );
    assert!(released(&weak));
    probe.request(3);
    assert_eq!(probe.count(), 0);
}

#[test]
fn request_zero_fails_the_stream_with_rule_3_9() {
    common::request_zero_fails_the_stream_with_rule_3_9(roomy);
}

#[test]
fn request_zero_fails_at_once_discarding_the_queue_and_cancelling_upstream() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(0);
    upstream
        .clone()
        .on_backpressure_buffer(8, Overflow::Fail)
        .subscribe(probe.clone());
    upstream.next(1);
    probe.request(0);
    let error = probe.error().unwrap();
    assert_eq!(error.rule(), Some("3.9"));
    assert_eq!(error.stage(), Some("on_backpressure_buffer"));
    assert!(upstream.is_cancelled());
    assert_eq!(probe.count(), 0);
    probe.assert_no_violations();
}

#[test]
fn a_panic_in_the_callback_becomes_on_error_and_cancels_upstream() {
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::new(0);
    upstream
        .on_backpressure_buffer_with(2, Overflow::DropIncoming, |x| panic!("cannot drop {x}"))
        .subscribe(probe.clone());
    assert_eq!(log.cancels(), 1);
    probe.request(u64::MAX);
    probe.assert_values(&[0, 1]);
    assert_panic_error(
        &probe.error().unwrap(),
        "on_backpressure_buffer",
        "cannot drop 2",
    );
    probe.assert_no_violations();
}

#[test]
fn elements_arriving_after_the_overflow_failure_are_counted_as_dropped() {
    let upstream = Manual::<u64>::lagging();
    let stage = upstream.clone().on_backpressure_buffer(1, Overflow::Fail);
    let dropped = stage.dropped();
    let probe = TestSubscriber::new(0);
    stage.subscribe(probe.clone());
    upstream.next(0);
    upstream.next(1); // overflow
    upstream.next(2); // in flight after the cancel
    upstream.complete();
    assert_eq!(dropped.count(), 2);
    probe.request(5);
    probe.assert_values(&[0]);
    assert_eq!(probe.error().unwrap().kind(), ErrorKind::Overflow);
    probe.assert_no_violations();
}

#[test]
fn the_dropped_count_covers_every_subscription() {
    let stage = source::range(0, 20).on_backpressure_buffer(5, Overflow::DropIncoming);
    let dropped = stage.dropped();
    for _ in 0..3 {
        stage.subscribe(TestSubscriber::<u64>::new(0));
    }
    assert_eq!(dropped.count(), 45);
}

#[test]
fn a_producer_and_concurrent_consumers_lose_nothing_uncounted() {
    let upstream = Manual::<u64>::new();
    let stage = upstream
        .clone()
        .on_backpressure_buffer(16, Overflow::EvictOldest);
    let dropped = stage.dropped();
    let probe = TestSubscriber::new(0);
    stage.subscribe(probe.clone());
    const N: u64 = 50_000;
    let producer = {
        let upstream = upstream.clone();
        std::thread::spawn(move || {
            for i in 0..N {
                upstream.next(i);
            }
            upstream.complete();
        })
    };
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let probe = probe.clone();
            std::thread::spawn(move || {
                for _ in 0..10_000 {
                    probe.request(1);
                }
            })
        })
        .collect();
    producer.join().unwrap();
    for c in consumers {
        c.join().unwrap();
    }
    probe.request(u64::MAX); // whatever is still queued
    assert!(probe.await_terminal(WAIT));
    assert!(probe.is_complete());
    let values = probe.values();
    assert!(
        values.windows(2).all(|w| w[0] < w[1]),
        "out of order or duplicated"
    );
    assert_eq!(
        values.len() as u64 + dropped.count(),
        N,
        "every element delivered or counted"
    );
    probe.assert_no_violations();
}

#[test]
#[should_panic(
    expected = "on_backpressure_buffer(capacity, overflow): capacity must be at least 1"
)]
fn a_capacity_of_zero_is_rejected_where_it_is_built() {
    let _ = source::range(0, 1).on_backpressure_buffer(0, Overflow::DropIncoming);
}

#[test]
fn a_filter_downstream_rejects_on_the_fast_path_without_a_request() {
    let (stage, log) = spy(source::range(0, 50).on_backpressure_buffer(64, Overflow::Fail));
    let probe = TestSubscriber::new(4);
    stage.filter(|x| x % 3 == 0).subscribe(probe.clone());
    probe.assert_values(&[0, 3, 6, 9]);
    assert_eq!(log.requests(), vec![4]);
}

#[test]
fn a_panicking_downstream_cancels_the_upstream_rule_2_13() {
    let upstream = Upstream::never_completing(1_000);
    let downstream = PanicsOnNext::new(u64::MAX);
    let after_panic = downstream.signals_after_panic();
    upstream
        .clone()
        .on_backpressure_buffer(8, Overflow::Fail)
        .subscribe(downstream);
    assert!(
        upstream.is_cancelled(),
        "the panic did not reach the upstream"
    );
    assert!(
        upstream.emitted() < upstream.elements(),
        "the upstream went on emitting: {:?}",
        upstream.stats()
    );
    assert_eq!(
        after_panic.load(Ordering::SeqCst),
        0,
        "signalled after the panic"
    );
}

/// `Manual` into `on_backpressure_buffer(2, Fail)` with a demand of 1: `0` goes downstream,
/// `1` and `2` are queued, `3` overflows. The consumer requests nothing more.
fn overflow_with_two_queued(errors: ErrorMode) -> (Manual<u64>, TestSubscriber<u64>) {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(1);
    upstream
        .clone()
        .on_backpressure_buffer(2, Overflow::Fail)
        .error_mode(errors)
        .subscribe(probe.clone());
    for i in 0..4 {
        upstream.next(i);
    }
    assert!(
        upstream.is_cancelled(),
        "the upstream is cancelled at the overflow"
    );
    (upstream, probe)
}

#[test]
fn immediate_mode_delivers_the_overflow_error_while_elements_are_still_queued() {
    let (_upstream, probe) = overflow_with_two_queued(ErrorMode::Immediate);
    probe.assert_values(&[0]);
    let error = probe
        .error()
        .expect("the overflow error goes out without more demand");
    assert_eq!(error.kind(), ErrorKind::Overflow);
    assert_eq!(error.stage(), Some("on_backpressure_buffer"));
    probe.request(5);
    probe.assert_values(&[0]); // the queued 1 and 2 were discarded
    probe.assert_no_violations();
}

#[test]
fn after_queued_mode_delivers_the_overflow_error_after_the_queued_elements() {
    let (_upstream, probe) = overflow_with_two_queued(ErrorMode::AfterQueued);
    probe.assert_values(&[0]);
    assert!(
        !probe.is_terminated(),
        "the error waits behind the queued 1 and 2"
    );
    probe.request(1);
    probe.assert_values(&[0, 1]);
    assert!(!probe.is_terminated(), "2 is still queued");
    probe.request(1);
    probe.assert_values(&[0, 1, 2]);
    assert_eq!(probe.error().unwrap().kind(), ErrorKind::Overflow);
    probe.assert_no_violations();
}

#[test]
fn after_queued_is_the_default_error_mode() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(0);
    upstream
        .clone()
        .on_backpressure_buffer(1, Overflow::Fail)
        .subscribe(probe.clone());
    upstream.next(0);
    upstream.next(1); // overflow
    assert!(!probe.is_terminated());
    probe.request(1);
    probe.assert_values(&[0]);
    assert_eq!(probe.error().unwrap().kind(), ErrorKind::Overflow);
}

#[test]
fn immediate_mode_drops_the_queued_elements_with_the_error() {
    let upstream = Manual::<Arc<()>>::new();
    let token = Arc::new(());
    let probe = TestSubscriber::new(0);
    upstream
        .clone()
        .on_backpressure_buffer(3, Overflow::Fail)
        .error_mode(ErrorMode::Immediate)
        .subscribe(probe.clone());
    for _ in 0..3 {
        upstream.next(token.clone());
    }
    assert_eq!(Arc::strong_count(&token), 4);
    upstream.error(Error::msg("source down"));
    assert_eq!(probe.error().unwrap().to_string(), "source down");
    assert_eq!(Arc::strong_count(&token), 1, "queued elements dropped");
    assert_eq!(probe.count(), 0);
}

#[test]
fn immediate_mode_still_completes_after_the_queued_elements() {
    let probe = TestSubscriber::new(0);
    source::range(0, 3)
        .on_backpressure_buffer(8, Overflow::Fail)
        .error_mode(ErrorMode::Immediate)
        .subscribe(probe.clone());
    assert!(!probe.is_terminated(), "completion waits for the queue");
    probe.request(3);
    probe.assert_values(&[0, 1, 2]);
    assert!(probe.is_complete());
}
