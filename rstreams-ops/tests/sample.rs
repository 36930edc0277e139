//! sample: the newest element of each period; a sample that finds no demand waits for it (at
//! most one, a newer sample replaces it, counted); the timer pauses while nothing arrives.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use common::*;
use rstreams_core::scheduler::VirtualTime;
use rstreams_core::{sink, source, Error, Publisher};
use rstreams_ops::PublisherExt;
use rstreams_tck::{TestPublisher, TestSubscriber};

const SECOND: Duration = Duration::from_secs(1);

/// A sample of one second on virtual time over a hand-driven input.
fn sampled(probe: &TestSubscriber<u32>) -> (VirtualTime, TestPublisher<u32>) {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    input
        .clone()
        .sample_on(SECOND, vt.clone())
        .subscribe(probe.clone());
    (vt, input)
}

#[test]
fn each_period_emits_its_newest_element_and_an_empty_period_emits_nothing() {
    let probe = TestSubscriber::new(u64::MAX);
    let (vt, input) = sampled(&probe);
    input.emit(1);
    input.emit(2);
    vt.advance_by(SECOND / 2);
    assert_eq!(probe.count(), 0, "the period is not over");
    vt.advance_by(SECOND / 2);
    probe.assert_values(&[2]);
    vt.advance_by(SECOND * 3); // three empty periods
    probe.assert_values(&[2]);
    input.emit(3);
    vt.advance_by(SECOND);
    probe.assert_values(&[2, 3]);
    probe.assert_no_violations();
}

#[test]
fn periods_stay_on_the_grid_of_the_subscription_after_the_timer_paused() {
    let probe = TestSubscriber::new(u64::MAX);
    let (vt, input) = sampled(&probe);
    vt.advance_by(SECOND * 5 / 2); // 2.5 s, nothing arrived: no timer
    assert_eq!(vt.pending(), 0, "no tick while nothing arrives");
    input.emit(1);
    vt.advance_by(SECOND / 2 - Duration::from_nanos(1));
    assert_eq!(probe.count(), 0);
    vt.advance_by(Duration::from_nanos(1)); // 3 s: the end of the period 1 arrived in
    probe.assert_values(&[1]);
}

#[test]
fn a_sample_that_finds_no_demand_is_kept_and_emitted_when_demand_arrives() {
    let probe = TestSubscriber::new(0);
    let (vt, input) = sampled(&probe);
    input.emit(7);
    vt.advance_by(SECOND * 10);
    assert_eq!(probe.count(), 0, "never emitted without demand (§1.1)");
    probe.request(1);
    probe.assert_values(&[7]);
    probe.assert_no_violations();
}

#[test]
fn a_later_sample_replaces_one_that_found_no_demand_and_the_loss_is_counted() {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let stage = input.clone().sample_on(SECOND, vt.clone());
    let dropped = stage.dropped();
    let probe = TestSubscriber::new(0);
    stage.subscribe(probe.clone());
    input.emit(1); // skipped by design: not counted
    input.emit(2);
    vt.advance_by(SECOND);
    input.emit(3);
    vt.advance_by(SECOND); // 3 replaces the undelivered 2
    assert_eq!(dropped.count(), 1);
    probe.request(10);
    probe.assert_values(&[3]);
}

#[test]
fn completion_flushes_the_due_sample_and_the_unfinished_period_then_completes_as_demand_allows() {
    let probe = TestSubscriber::new(0);
    let (vt, input) = sampled(&probe);
    input.emit(1);
    vt.advance_by(SECOND); // 1 is due
    input.emit(2); // the unfinished period's newest
    input.complete();
    assert!(!probe.is_terminated());
    probe.request(1);
    probe.assert_values(&[1]);
    probe.request(1);
    probe.assert_values(&[1, 2]);
    assert!(probe.is_complete());
    assert_eq!(vt.pending(), 0);
    probe.assert_no_violations();
}

#[test]
fn an_empty_upstream_completes_at_once_without_demand() {
    an_empty_upstream_completes_without_demand(|n| {
        source::range(0, n).sample_on(SECOND, VirtualTime::new())
    });
}

#[test]
fn rule_4_2_an_upstream_error_goes_out_at_once_without_demand_and_drops_the_held_elements() {
    upstream_error_passes_through_without_demand(|up| up.sample_on(SECOND, VirtualTime::new()));
    let probe = TestSubscriber::new(0);
    let (vt, input) = sampled(&probe);
    input.emit(1);
    vt.advance_by(SECOND);
    input.emit(2);
    input.fail(Error::msg("feed lost"));
    assert_eq!(probe.error().unwrap().to_string(), "feed lost");
    assert_eq!(probe.count(), 0);
    assert_eq!(vt.pending(), 0);
}

#[test]
fn requests_unbounded_demand_upstream_once_whatever_the_downstream_asks() {
    let (upstream, log) = spy(source::range(0, 10));
    let probe = TestSubscriber::new(1);
    upstream
        .sample_on(SECOND, VirtualTime::new())
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
        .sample_on(SECOND, vt.clone())
        .subscribe(subscriber);
    input.emit(1);
    assert_eq!(vt.pending(), 1);
    probe.cancel();
    assert!(input.is_cancelled(), "§3.12: cancel reaches the upstream");
    assert_eq!(vt.pending(), 0);
    assert!(released(&weak), "§3.13: subscriber kept after cancel");
    vt.advance_by(SECOND * 10);
    assert_eq!(probe.count(), 0);
}

#[test]
fn rule_3_9_request_zero_fails_the_stream() {
    request_zero_fails_the_stream_with_rule_3_9(|n| {
        source::range(0, n).sample_on(SECOND, VirtualTime::new())
    });
}

#[test]
fn a_period_of_zero_is_rejected_when_built_naming_the_argument_and_its_range() {
    let panic = catch_unwind(AssertUnwindSafe(|| {
        let _ = source::range(0, 3).sample(Duration::ZERO);
    }))
    .unwrap_err();
    let message = panic.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("sample: period"), "{message}");
    assert!(message.contains("valid range"), "{message}");
}

#[test]
fn a_period_of_duration_max_means_never_so_only_the_last_element_goes_out_at_completion() {
    assert_eq!(
        sink::collect(&source::range(0, 5).sample(Duration::MAX)).unwrap(),
        vec![4]
    );
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let probe = TestSubscriber::new(u64::MAX);
    input
        .clone()
        .sample_on(Duration::MAX, vt.clone())
        .subscribe(probe.clone());
    input.emit(1);
    vt.advance_by(SECOND * 3600 * 24 * 365);
    assert_eq!(probe.count(), 0);
    input.complete();
    probe.assert_values(&[1]);
    assert!(probe.is_complete());
}
