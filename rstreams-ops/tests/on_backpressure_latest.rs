//! `on_backpressure_latest()`: unbounded upstream demand; holds the newest element, a newer
//! one replaces it (counted and handed to the callback).

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use common::*;
use rstreams_core::{source, Error, Publisher};
use rstreams_ops::{ErrorMode, PublisherExt};
use rstreams_tck::{TestSubscriber, Upstream};

#[test]
fn with_no_demand_only_the_last_element_is_kept() {
    let stage = source::range(0, 100).on_backpressure_latest();
    let dropped = stage.dropped();
    let probe = TestSubscriber::new(0);
    stage.subscribe(probe.clone());
    assert!(
        !probe.is_terminated(),
        "completion waits behind the held element"
    );
    probe.request(u64::MAX);
    probe.assert_values(&[99]);
    assert!(probe.is_complete());
    assert_eq!(dropped.count(), 99);
    probe.assert_no_violations();
}

#[test]
fn delivers_with_demand_and_then_the_newest_when_demand_returns() {
    let stage = source::range(0, 100).on_backpressure_latest();
    let dropped = stage.dropped();
    let probe = TestSubscriber::new(1);
    stage.subscribe(probe.clone());
    probe.assert_values(&[0]);
    probe.request(1);
    probe.assert_values(&[0, 99]);
    assert!(probe.is_complete());
    assert_eq!(dropped.count(), 98);
}

#[test]
fn the_callback_receives_every_replaced_element_in_order() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let probe = TestSubscriber::new(0);
    source::range(0, 5)
        .on_backpressure_latest_with(move |x| log.lock().unwrap().push(x))
        .subscribe(probe.clone());
    probe.request(1);
    probe.assert_values(&[4]);
    assert_eq!(*seen.lock().unwrap(), vec![0, 1, 2, 3]);
}

#[test]
fn requests_unbounded_upstream_once_whatever_the_downstream_asks() {
    let (upstream, log) = spy(source::range(0, 10));
    let probe = TestSubscriber::new(1);
    upstream.on_backpressure_latest().subscribe(probe.clone());
    probe.request(4);
    assert_eq!(log.requests(), vec![u64::MAX]);
}

#[test]
fn zero_demand_emits_nothing() {
    let probe = TestSubscriber::<u64>::new(0);
    source::range(0, 10)
        .on_backpressure_latest()
        .subscribe(probe.clone());
    probe.assert_no_more_within(QUIET);
    assert_eq!(probe.count(), 0);
    assert!(!probe.is_terminated());
    probe.cancel();
}

#[test]
fn partial_demand_is_exact_under_a_fast_producer() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(0);
    upstream
        .clone()
        .on_backpressure_latest()
        .subscribe(probe.clone());
    for round in 0..100u64 {
        for i in 0..5 {
            upstream.next(round * 5 + i);
        }
        probe.request(round % 3 + 1);
    }
    let values = probe.values();
    assert!(values.windows(2).all(|w| w[0] < w[1]));
    probe.assert_no_violations();
}

#[test]
fn a_held_element_is_delivered_before_an_upstream_error() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(0);
    upstream
        .clone()
        .on_backpressure_latest()
        .subscribe(probe.clone());
    upstream.next(4);
    upstream.next(5);
    upstream.error(Error::msg("stopped"));
    assert!(!probe.is_terminated());
    probe.request(1);
    probe.assert_values(&[5]);
    assert_eq!(probe.error().unwrap().to_string(), "stopped");
    probe.assert_no_violations();
}

#[test]
fn upstream_error_passes_through_without_demand() {
    common::upstream_error_passes_through_without_demand(|up| up.on_backpressure_latest());
}

#[test]
fn an_empty_upstream_completes_without_demand() {
    common::an_empty_upstream_completes_without_demand(|n| {
        source::range(0, n).on_backpressure_latest()
    });
}

#[test]
fn reentrant_request_one_from_on_next_runs_to_completion() {
    common::reentrant_request_one_from_on_next_runs_to_completion(|n| {
        source::range(0, n).on_backpressure_latest()
    });
}

#[test]
fn cancel_mid_stream_cancels_upstream_and_releases_the_subscriber() {
    common::cancel_mid_stream_cancels_upstream_and_releases_the_subscriber(|up| {
        up.on_backpressure_latest()
    });
}

#[test]
fn cancel_drops_the_held_element() {
    let upstream = Manual::<Arc<()>>::new();
    let token = Arc::new(());
    let probe = TestSubscriber::new(0);
    upstream
        .clone()
        .on_backpressure_latest()
        .subscribe(probe.clone());
    upstream.next(token.clone());
    assert_eq!(Arc::strong_count(&token), 2);
    probe.cancel();
    assert!(upstream.is_cancelled());
    assert_eq!(Arc::strong_count(&token), 1);
}

#[test]
fn request_zero_fails_the_stream_with_rule_3_9() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::<u64>::new(0);
    upstream
        .clone()
        .on_backpressure_latest()
        .subscribe(probe.clone());
    upstream.next(1);
    probe.request(0);
    let error = probe.error().unwrap();
    assert_eq!(error.rule(), Some("3.9"));
    assert_eq!(error.stage(), Some("on_backpressure_latest"));
    assert!(upstream.is_cancelled());
    assert_eq!(probe.count(), 0);
    probe.assert_no_violations();
}

#[test]
fn a_panic_in_the_callback_becomes_on_error_and_cancels_upstream() {
    let (upstream, log) = spy(source::range(0, 10));
    let probe = TestSubscriber::new(0);
    upstream
        .on_backpressure_latest_with(|x| panic!("cannot replace {x}"))
        .subscribe(probe.clone());
    assert_eq!(log.cancels(), 1);
    probe.request(10);
    // The newer element took the held one's place before the callback ran.
    probe.assert_values(&[1]);
    assert_panic_error(
        &probe.error().unwrap(),
        "on_backpressure_latest",
        "cannot replace 0",
    );
    probe.assert_no_violations();
}

#[test]
fn immediate_mode_delivers_a_callback_panic_while_an_element_is_held() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(0);
    upstream
        .clone()
        .on_backpressure_latest_with(|x| panic!("cannot replace {x}"))
        .error_mode(ErrorMode::Immediate)
        .subscribe(probe.clone());
    upstream.next(0);
    upstream.next(1); // replaces 0: the callback panics, 1 is held
    assert!(upstream.is_cancelled());
    let error = probe.error().expect("the failure goes out without demand");
    assert_panic_error(&error, "on_backpressure_latest", "cannot replace 0");
    probe.request(1);
    assert_eq!(probe.count(), 0, "the held 1 was discarded");
    probe.assert_no_violations();
}

#[test]
fn after_queued_mode_delivers_a_callback_panic_after_the_held_element() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(0);
    upstream
        .clone()
        .on_backpressure_latest_with(|x| panic!("cannot replace {x}"))
        .error_mode(ErrorMode::AfterQueued)
        .subscribe(probe.clone());
    upstream.next(0);
    upstream.next(1);
    assert!(upstream.is_cancelled());
    assert!(
        !probe.is_terminated(),
        "the failure waits behind the held 1"
    );
    probe.request(1);
    probe.assert_values(&[1]);
    assert_panic_error(
        &probe.error().unwrap(),
        "on_backpressure_latest",
        "cannot replace 0",
    );
    probe.assert_no_violations();
}

#[test]
fn immediate_mode_delivers_an_upstream_error_while_an_element_is_held() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(0);
    upstream
        .clone()
        .on_backpressure_latest()
        .error_mode(ErrorMode::Immediate)
        .subscribe(probe.clone());
    upstream.next(4);
    upstream.error(Error::msg("stopped"));
    assert_eq!(probe.error().unwrap().to_string(), "stopped");
    assert_eq!(probe.count(), 0);
    probe.assert_no_violations();
}

#[test]
fn a_panicking_downstream_cancels_the_upstream_rule_2_13() {
    let upstream = Upstream::never_completing(1_000);
    let downstream = PanicsOnNext::new(u64::MAX);
    let after_panic = downstream.signals_after_panic();
    upstream
        .clone()
        .on_backpressure_latest()
        .subscribe(downstream);
    assert!(
        upstream.is_cancelled(),
        "the panic did not reach the upstream"
    );
    assert!(upstream.emitted() < upstream.elements());
    assert_eq!(
        after_panic.load(Ordering::SeqCst),
        0,
        "signalled after the panic"
    );
}
