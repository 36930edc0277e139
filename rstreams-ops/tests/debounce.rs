//! debounce: the last element of each burst, once `quiet` passed without a newer one; a due
//! element waits for demand (at most one, a newer due one replaces it, counted).

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use common::*;
use rstreams_core::scheduler::VirtualTime;
use rstreams_core::{sink, source, Error, Publisher};
use rstreams_ops::PublisherExt;
use rstreams_tck::{TestPublisher, TestSubscriber};

const MS: Duration = Duration::from_millis(1);

/// A debounce of 100 ms on virtual time over a hand-driven input.
fn debounced(probe: &TestSubscriber<u32>) -> (VirtualTime, TestPublisher<u32>) {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    input
        .clone()
        .debounce_on(MS * 100, vt.clone())
        .subscribe(probe.clone());
    (vt, input)
}

#[test]
fn only_the_last_element_of_each_burst_goes_out_once_the_quiet_period_passed() {
    let probe = TestSubscriber::new(u64::MAX);
    let (vt, input) = debounced(&probe);
    input.emit(1);
    vt.advance_by(MS * 60);
    input.emit(2); // within 100 ms of 1: 1 is skipped
    vt.advance_by(MS * 99);
    assert_eq!(probe.count(), 0, "2 is still in its quiet period");
    vt.advance_by(MS);
    probe.assert_values(&[2]);
    input.emit(3);
    input.emit(4);
    vt.advance_by(MS * 100);
    probe.assert_values(&[2, 4]);
    probe.assert_no_violations();
}

#[test]
fn an_element_due_without_demand_is_kept_and_emitted_when_demand_arrives() {
    let probe = TestSubscriber::new(0);
    let (vt, input) = debounced(&probe);
    input.emit(1);
    vt.advance_by(MS * 500);
    assert_eq!(probe.count(), 0, "never emitted without demand (§1.1)");
    probe.request(1);
    probe.assert_values(&[1]);
    probe.assert_no_violations();
}

#[test]
fn a_newer_due_element_replaces_one_that_found_no_demand_and_the_loss_is_counted() {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let stage = input.clone().debounce_on(MS * 100, vt.clone());
    let dropped = stage.dropped();
    let probe = TestSubscriber::new(0);
    stage.subscribe(probe.clone());
    input.emit(1);
    input.emit(2); // skipped by design: not counted
    vt.advance_by(MS * 100); // 2 is due, no demand
    input.emit(3);
    vt.advance_by(MS * 100); // 3 is due too: it replaces 2
    assert_eq!(dropped.count(), 1);
    probe.request(5);
    probe.assert_values(&[3]);
    probe.assert_no_violations();
}

#[test]
fn completion_flushes_the_due_and_the_quiet_element_in_order_then_completes_as_demand_allows() {
    let probe = TestSubscriber::new(0);
    let (vt, input) = debounced(&probe);
    input.emit(1);
    vt.advance_by(MS * 100); // 1 due
    input.emit(2); // 2 in its quiet period
    input.complete();
    assert!(
        !probe.is_terminated(),
        "completion waits behind the held elements"
    );
    probe.request(1);
    probe.assert_values(&[1]);
    assert!(!probe.is_terminated());
    probe.request(1);
    probe.assert_values(&[1, 2]);
    assert!(probe.is_complete());
    assert_eq!(vt.pending(), 0, "no timer is left behind");
    probe.assert_no_violations();
}

#[test]
fn an_empty_upstream_completes_at_once_without_demand() {
    an_empty_upstream_completes_without_demand(|n| {
        source::range(0, n).debounce_on(MS, VirtualTime::new())
    });
}

#[test]
fn rule_4_2_an_upstream_error_goes_out_at_once_without_demand_and_drops_the_held_elements() {
    upstream_error_passes_through_without_demand(|up| up.debounce_on(MS, VirtualTime::new()));
    let probe = TestSubscriber::new(0);
    let (vt, input) = debounced(&probe);
    input.emit(1);
    vt.advance_by(MS * 100); // due, no demand
    input.emit(2);
    input.fail(Error::msg("sensor lost"));
    assert_eq!(probe.error().unwrap().to_string(), "sensor lost");
    assert_eq!(probe.count(), 0);
    assert_eq!(vt.pending(), 0);
}

#[test]
fn requests_unbounded_demand_upstream_once_whatever_the_downstream_asks() {
    let (upstream, log) = spy(source::range(0, 10));
    let probe = TestSubscriber::new(1);
    upstream
        .debounce_on(MS, VirtualTime::new())
        .subscribe(probe.clone());
    probe.request(3);
    assert_eq!(log.requests(), vec![u64::MAX]);
}

#[test]
fn rule_3_13_cancel_cancels_the_upstream_stops_the_timer_and_releases_the_subscriber() {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let probe = TestSubscriber::new(1);
    let (subscriber, weak) = track(probe.clone());
    input
        .clone()
        .debounce_on(MS * 100, vt.clone())
        .subscribe(subscriber);
    input.emit(1);
    assert_eq!(vt.pending(), 1);
    probe.cancel();
    assert!(input.is_cancelled(), "§3.12: cancel reaches the upstream");
    assert_eq!(vt.pending(), 0, "the quiet-period timer was stopped");
    assert!(released(&weak), "§3.13: subscriber kept after cancel");
    vt.advance_by(MS * 1000);
    assert_eq!(probe.count(), 0);
    probe.assert_no_violations();
}

#[test]
fn rule_3_9_request_zero_fails_the_stream() {
    request_zero_fails_the_stream_with_rule_3_9(|n| {
        source::range(0, n).debounce_on(MS, VirtualTime::new())
    });
}

#[test]
fn rule_2_13_a_downstream_that_panics_on_a_timed_element_is_cancelled_and_the_panic_stops_at_the_timer(
) {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let downstream = PanicsOnNext::new(10);
    let after = downstream.signals_after_panic();
    input
        .clone()
        .debounce_on(MS * 10, vt.clone())
        .subscribe(downstream);
    input.emit(1);
    vt.advance_by(MS * 10); // the tick delivers: the panic does not unwind into advance_by
    assert!(input.is_cancelled());
    input.complete();
    assert_eq!(after.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[test]
fn a_quiet_period_of_zero_is_rejected_when_built_naming_the_argument_and_its_range() {
    let panic = catch_unwind(AssertUnwindSafe(|| {
        let _ = source::range(0, 3).debounce(Duration::ZERO);
    }))
    .unwrap_err();
    let message = panic.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("debounce: quiet"), "{message}");
    assert!(message.contains("valid range"), "{message}");
}

#[test]
fn a_quiet_period_of_duration_max_means_never_so_only_the_last_element_goes_out_at_completion() {
    assert_eq!(
        sink::collect(&source::range(0, 5).debounce(Duration::MAX)).unwrap(),
        vec![4]
    );
    let probe = TestSubscriber::new(u64::MAX);
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    input
        .clone()
        .debounce_on(Duration::MAX, vt.clone())
        .subscribe(probe.clone());
    input.emit(1);
    vt.advance_by(Duration::from_secs(3600 * 24 * 365));
    assert_eq!(probe.count(), 0);
    input.complete();
    probe.assert_values(&[1]);
    assert!(probe.is_complete());
}

#[test]
fn on_the_default_timer_a_burst_is_debounced_in_real_time() {
    let input = TestPublisher::<u32>::new();
    let probe = TestSubscriber::new(u64::MAX);
    input.clone().debounce(MS * 20).subscribe(probe.clone());
    input.emit(1);
    input.emit(2);
    assert!(probe.await_count(1, WAIT));
    probe.assert_values(&[2]);
}
