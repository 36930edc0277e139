//! conflate: unbounded upstream demand, one pending value into which everything that arrives
//! while the downstream is slow is combined.

mod common;

use std::sync::atomic::Ordering;

use common::*;
use rstreams_core::{source, Error, Publisher};
use rstreams_ops::PublisherExt;
use rstreams_tck::{TestPublisher, TestSubscriber};

#[test]
fn with_demand_elements_pass_one_by_one_uncombined() {
    let probe = TestSubscriber::new(u64::MAX);
    source::range(0, 5)
        .conflate(|a, b| a + b)
        .subscribe(probe.clone());
    probe.assert_values(&[0, 1, 2, 3, 4]);
    assert!(probe.is_complete());
}

#[test]
fn without_demand_everything_that_arrives_is_combined_into_one_value_in_order() {
    let input = TestPublisher::<String>::new();
    let probe = TestSubscriber::new(1);
    input
        .clone()
        .conflate(|a, b| format!("{a}{b}"))
        .subscribe(probe.clone());
    input.emit("a".into());
    input.emit("b".into());
    input.emit("c".into());
    input.emit("d".into());
    probe.assert_values(&["a".to_string()]);
    probe.request(1);
    probe.assert_values(&["a".to_string(), "bcd".to_string()]);
    input.emit("e".into());
    probe.request(1);
    probe.assert_values(&["a".to_string(), "bcd".to_string(), "e".to_string()]);
    probe.assert_no_violations();
}

#[test]
fn requests_unbounded_demand_upstream_once_and_never_emits_without_demand() {
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::new(0);
    upstream.conflate(|a, b| a.max(b)).subscribe(probe.clone());
    assert_eq!(log.requests(), vec![u64::MAX]);
    probe.assert_no_more_within(QUIET);
    assert_eq!(probe.count(), 0, "§1.1: nothing without demand");
    assert!(
        !probe.is_terminated(),
        "completion waits behind the pending value"
    );
    probe.request(3);
    probe.assert_values(&[99]);
    assert!(probe.is_complete());
}

#[test]
fn partial_demand_is_exact_and_each_request_takes_what_is_pending() {
    let input = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(0);
    input
        .clone()
        .conflate(|a, b| a * 10 + b)
        .subscribe(probe.clone());
    input.emit(1);
    input.emit(2);
    probe.request(2);
    probe.assert_values(&[12]);
    input.emit(3); // the second unit of demand takes it as it arrives
    probe.assert_values(&[12, 3]);
    input.emit(4);
    input.emit(5);
    probe.assert_no_more_within(QUIET);
    probe.assert_values(&[12, 3]);
    probe.request(1);
    probe.assert_values(&[12, 3, 45]);
    probe.assert_no_violations();
}

#[test]
fn with_no_demand_nothing_is_emitted() {
    zero_demand_emits_nothing(|n| source::range(0, n).conflate(|a, b| a + b));
}

#[test]
fn an_error_follows_the_pending_value_and_passes_at_once_when_nothing_is_pending() {
    upstream_error_passes_through_without_demand(|up| up.conflate(|a, b| a + b));
    let input = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(0);
    input
        .clone()
        .conflate(|a, b| a + b)
        .subscribe(probe.clone());
    input.emit(1);
    input.emit(2);
    input.fail(Error::msg("gone"));
    assert!(
        !probe.is_terminated(),
        "the error waits behind the pending value"
    );
    probe.request(1);
    probe.assert_values(&[3]);
    assert_eq!(probe.error().unwrap().to_string(), "gone");
}

#[test]
fn an_empty_upstream_completes_at_once_without_demand() {
    an_empty_upstream_completes_without_demand(|n| source::range(0, n).conflate(|a, b| a + b));
}

#[test]
fn a_panic_in_the_combining_function_cancels_the_upstream_and_fails_the_stream() {
    let input = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(0);
    input
        .clone()
        .conflate(|_, _| -> u64 { panic!("cannot combine") })
        .subscribe(probe.clone());
    input.emit(1);
    input.emit(2);
    assert!(input.is_cancelled());
    assert_panic_error(&probe.error().unwrap(), "conflate", "cannot combine");
    assert_eq!(probe.count(), 0);
}

#[test]
fn rule_3_13_cancel_cancels_the_upstream_and_releases_the_subscriber() {
    cancel_mid_stream_cancels_upstream_and_releases_the_subscriber(|up| up.conflate(|a, b| a + b));
}

#[test]
fn rule_3_9_request_zero_fails_the_stream() {
    request_zero_fails_the_stream_with_rule_3_9(|n| source::range(0, n).conflate(|a, b| a + b));
}

#[test]
fn rule_3_3_a_request_from_on_next_does_not_recurse() {
    reentrant_request_one_from_on_next_runs_to_completion(|n| {
        PlainOnly(source::range(0, n)).conflate(|a, _| a)
    });
}

#[test]
fn rule_2_13_a_panicking_downstream_cancels_the_upstream_and_the_panic_stops_at_the_stage() {
    let input = TestPublisher::<u64>::new();
    let downstream = PanicsOnNext::new(1);
    let after = downstream.signals_after_panic();
    input.clone().conflate(|a, b| a + b).subscribe(downstream);
    // Delivered from the upstream's signal, a wake-up: the panic stops at the stage.
    input.emit(1);
    assert!(input.is_cancelled());
    assert_eq!(after.load(Ordering::SeqCst), 0);
}
