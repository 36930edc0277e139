//! `on_backpressure_drop()`: unbounded upstream demand; an element without downstream demand
//! is dropped, counted and handed to the callback.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use rstreams_core::{source, Error, Publisher};
use rstreams_ops::PublisherExt;
use rstreams_tck::TestSubscriber;

#[test]
fn with_no_demand_nothing_is_delivered_and_every_element_is_counted() {
    let stage = source::range(0, 100).on_backpressure_drop();
    let dropped = stage.dropped();
    let probe = TestSubscriber::new(0);
    stage.subscribe(probe.clone());
    assert_eq!(dropped.count(), 100);
    assert!(probe.is_complete(), "completion needs no demand");
    probe.request(u64::MAX);
    assert_eq!(probe.count(), 0, "dropped elements are gone");
    probe.assert_no_violations();
}

#[test]
fn elements_pass_while_demand_lasts_and_the_rest_are_dropped() {
    let stage = source::range(0, 100).on_backpressure_drop();
    let dropped = stage.dropped();
    let probe = TestSubscriber::new(5);
    stage.subscribe(probe.clone());
    probe.assert_values(&[0, 1, 2, 3, 4]);
    assert!(probe.is_complete());
    assert_eq!(dropped.count(), 95);
    probe.assert_no_violations();
}

#[test]
fn demand_added_later_takes_the_elements_arriving_after_it() {
    let upstream = Manual::<u64>::new();
    let stage = upstream.clone().on_backpressure_drop();
    let dropped = stage.dropped();
    let probe = TestSubscriber::new(0);
    stage.subscribe(probe.clone());
    upstream.next(0);
    probe.request(2);
    for i in 1..5 {
        upstream.next(i);
    }
    probe.request(1);
    upstream.next(5);
    probe.assert_values(&[1, 2, 5]);
    assert_eq!(dropped.count(), 3);
    probe.assert_no_violations();
}

#[test]
fn requests_unbounded_upstream_once_whatever_the_downstream_asks() {
    let (upstream, log) = spy(source::range(0, 10));
    let probe = TestSubscriber::new(1);
    upstream.on_backpressure_drop().subscribe(probe.clone());
    probe.request(4);
    assert_eq!(log.requests(), vec![u64::MAX]);
}

#[test]
fn the_callback_receives_every_dropped_element_in_order() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let probe = TestSubscriber::new(3);
    source::range(0, 10)
        .on_backpressure_drop_with(move |x| log.lock().unwrap().push(x))
        .subscribe(probe.clone());
    probe.assert_values(&[0, 1, 2]);
    assert_eq!(*seen.lock().unwrap(), (3..10).collect::<Vec<_>>());
}

#[test]
fn an_element_a_filter_downstream_rejects_uses_no_demand_and_is_not_dropped() {
    let upstream = Manual::<u64>::new();
    let stage = upstream.clone().on_backpressure_drop();
    let dropped = stage.dropped();
    let probe = TestSubscriber::new(1);
    stage.filter(|x| x % 2 == 0).subscribe(probe.clone());
    upstream.next(1); // rejected by the filter: the one unit of demand is still there
    upstream.next(2);
    upstream.next(4); // no demand left
    probe.assert_values(&[2]);
    assert_eq!(dropped.count(), 1);
}

#[test]
fn zero_demand_emits_nothing() {
    let probe = TestSubscriber::<u64>::new(0);
    source::never::<u64>()
        .on_backpressure_drop()
        .subscribe(probe.clone());
    probe.assert_no_more_within(QUIET);
    assert_eq!(probe.count(), 0);
    probe.cancel();
}

#[test]
fn partial_demand_is_exact_under_a_fast_producer() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(0);
    upstream
        .clone()
        .on_backpressure_drop()
        .subscribe(probe.clone());
    for round in 0..100u64 {
        probe.request(round % 3);
        for i in 0..5 {
            upstream.next(round * 5 + i);
        }
    }
    let expected: u64 = (0..100u64).map(|r| r % 3).sum();
    assert_eq!(probe.count() as u64, expected);
    probe.assert_no_violations();
}

#[test]
fn reentrant_request_one_from_on_next_runs_to_completion() {
    common::reentrant_request_one_from_on_next_runs_to_completion(|n| {
        source::range(0, n).on_backpressure_drop()
    });
}

#[test]
fn concurrent_requests_never_over_deliver_and_lose_nothing_uncounted() {
    let upstream = Manual::<u64>::new();
    let stage = upstream.clone().on_backpressure_drop();
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
                for _ in 0..5_000 {
                    probe.request(1);
                }
            })
        })
        .collect();
    producer.join().unwrap();
    for c in consumers {
        c.join().unwrap();
    }
    assert!(probe.is_complete());
    let values = probe.values();
    assert!(values.len() <= 15_000);
    assert!(values.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(values.len() as u64 + dropped.count(), N);
    probe.assert_no_violations();
}

#[test]
fn cancel_mid_stream_cancels_upstream_and_releases_the_subscriber() {
    common::cancel_mid_stream_cancels_upstream_and_releases_the_subscriber(|up| {
        up.on_backpressure_drop()
    });
}

#[test]
fn request_zero_fails_the_stream_with_rule_3_9() {
    let probe = TestSubscriber::<u64>::new(0);
    source::never::<u64>()
        .on_backpressure_drop()
        .subscribe(probe.clone());
    probe.request(0);
    assert!(probe.await_terminal(WAIT));
    assert_eq!(probe.error().unwrap().rule(), Some("3.9"));
    probe.assert_no_violations();
}

#[test]
fn upstream_error_passes_through_without_demand() {
    common::upstream_error_passes_through_without_demand(|up| up.on_backpressure_drop());
}

#[test]
fn an_upstream_error_passes_through_at_once_mid_stream() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(1);
    upstream
        .clone()
        .on_backpressure_drop()
        .subscribe(probe.clone());
    upstream.next(0);
    upstream.next(1);
    upstream.error(Error::msg("gone"));
    probe.assert_values(&[0]);
    assert_eq!(probe.error().unwrap().to_string(), "gone");
}

#[test]
fn a_panic_in_the_callback_becomes_on_error_and_cancels_upstream() {
    let upstream = Manual::<u64>::lagging();
    let probe = TestSubscriber::new(1);
    upstream
        .clone()
        .on_backpressure_drop_with(|x| panic!("cannot drop {x}"))
        .subscribe(probe.clone());
    upstream.next(0);
    upstream.next(1); // dropped: the callback panics
    assert!(upstream.is_cancelled());
    probe.request(5);
    upstream.next(2); // late: nothing is signalled after the error
    upstream.complete();
    probe.assert_values(&[0]);
    assert_panic_error(
        &probe.error().unwrap(),
        "on_backpressure_drop",
        "cannot drop 1",
    );
    probe.assert_no_violations();
}

#[test]
fn a_filter_downstream_rejects_on_the_fast_path_without_a_request() {
    // Spy on the link between the stage and the filter.
    let upstream = Manual::<u64>::new();
    let (stage, log) = spy(upstream.clone().on_backpressure_drop());
    let probe = TestSubscriber::new(1);
    stage.filter(|x| x % 2 == 0).subscribe(probe.clone());
    upstream.next(1);
    upstream.next(3);
    upstream.next(2);
    probe.assert_values(&[2]);
    assert_eq!(
        log.requests(),
        vec![1],
        "no request(1) for the rejected 1 and 3"
    );
}
