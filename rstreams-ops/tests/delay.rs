//! delay: every element `by` later, in order; requested only against the downstream's demand
//! (at most `capacity` held), so a due element always has demand.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use common::*;
use rstreams_core::scheduler::VirtualTime;
use rstreams_core::{sink, source, Error, Publisher};
use rstreams_ops::PublisherExt;
use rstreams_tck::{TestPublisher, TestSubscriber};

const SECOND: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

#[test]
fn each_element_goes_out_by_after_it_arrived_in_order() {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let probe = TestSubscriber::new(u64::MAX);
    input
        .clone()
        .delay_on(SECOND, vt.clone())
        .subscribe(probe.clone());
    input.emit(1);
    vt.advance_by(MS * 300);
    input.emit(2);
    vt.advance_by(MS * 699);
    assert_eq!(probe.count(), 0);
    vt.advance_by(MS);
    probe.assert_values(&[1]);
    vt.advance_by(MS * 299);
    probe.assert_values(&[1]);
    vt.advance_by(MS);
    probe.assert_values(&[1, 2]);
    input.complete();
    assert!(probe.is_complete(), "completion is not delayed itself");
    probe.assert_no_violations();
}

#[test]
fn only_the_downstreams_demand_is_requested_so_a_due_element_never_waits_for_demand() {
    let vt = VirtualTime::new();
    let (upstream, log) = spy(source::range(0, 10));
    let probe = TestSubscriber::new(0);
    upstream
        .delay_on(SECOND, vt.clone())
        .subscribe(probe.clone());
    vt.advance_by(SECOND * 5);
    assert_eq!(
        log.total_requested(),
        0,
        "nothing is requested without demand"
    );
    probe.request(3);
    assert_eq!(log.total_requested(), 3);
    vt.advance_by(SECOND);
    probe.assert_values(&[0, 1, 2]);
    probe.request(2);
    assert_eq!(log.total_requested(), 5);
    vt.advance_by(SECOND);
    probe.assert_values(&[0, 1, 2, 3, 4]);
    probe.assert_no_violations();
}

#[test]
fn at_most_capacity_elements_are_held_or_requested_under_unbounded_demand() {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let probe = TestSubscriber::new(u64::MAX);
    input
        .clone()
        .delay_on(SECOND, vt.clone())
        .capacity(3)
        .subscribe(probe.clone());
    assert_eq!(input.requested(), 3);
    for i in 0..3 {
        input.emit(i);
    }
    assert!(input.try_emit(3).is_err(), "a fourth was not requested");
    vt.advance_by(SECOND);
    probe.assert_values(&[0, 1, 2]);
    assert_eq!(input.requested(), 6, "room again for three");
}

#[test]
fn the_default_capacity_is_256() {
    let probe = TestSubscriber::new(u64::MAX);
    let input = TestPublisher::<u32>::new();
    input
        .clone()
        .delay_on(SECOND, VirtualTime::new())
        .subscribe(probe.clone());
    assert_eq!(input.requested(), 256);
}

#[test]
fn a_capacity_of_zero_is_rejected_when_built_naming_the_argument_and_its_range() {
    let panic = catch_unwind(AssertUnwindSafe(|| {
        let _ = source::range(0, 3).delay(SECOND).capacity(0);
    }))
    .unwrap_err();
    let message = panic.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("delay: capacity"), "{message}");
    assert!(message.contains("valid range 1..=usize::MAX"), "{message}");
}

#[test]
fn a_delay_of_zero_is_rejected_when_built_naming_the_argument_and_its_range() {
    let panic = catch_unwind(AssertUnwindSafe(|| {
        let _ = source::range(0, 3).delay(Duration::ZERO);
    }))
    .unwrap_err();
    let message = panic.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("delay: by"), "{message}");
    assert!(message.contains("valid range"), "{message}");
}

#[test]
fn a_delay_of_duration_max_means_never_and_the_stream_waits_behind_its_elements() {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let probe = TestSubscriber::new(u64::MAX);
    input
        .clone()
        .delay_on(Duration::MAX, vt.clone())
        .subscribe(probe.clone());
    input.emit(1);
    input.complete();
    vt.advance_by(SECOND * 3600 * 24 * 365 * 10);
    assert_eq!(probe.count(), 0);
    assert!(!probe.is_terminated());
    probe.cancel();
    assert_eq!(vt.pending(), 0);
    // Nothing held: it completes.
    let probe = TestSubscriber::<u64>::new(u64::MAX);
    source::range(0, 0)
        .delay(Duration::MAX)
        .subscribe(probe.clone());
    assert!(probe.is_complete());
}

#[test]
fn partial_demand_is_exact_on_the_default_timer() {
    partial_demand_is_exact(|n| source::range(0, n).delay(MS));
}

#[test]
fn everything_arrives_once_in_order_on_the_default_timer() {
    let all = sink::collect(&source::range(0, 2_000).delay(MS)).unwrap();
    assert!(all.into_iter().eq(0..2_000));
}

#[test]
fn rule_4_2_an_upstream_error_goes_out_at_once_without_demand_and_drops_the_held_elements() {
    upstream_error_passes_through_without_demand(|up| up.delay_on(SECOND, VirtualTime::new()));
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let probe = TestSubscriber::new(5);
    input
        .clone()
        .delay_on(SECOND, vt.clone())
        .subscribe(probe.clone());
    input.emit(1);
    input.fail(Error::msg("broken"));
    assert_eq!(probe.error().unwrap().to_string(), "broken");
    assert_eq!(probe.count(), 0);
    vt.advance_by(SECOND);
    assert_eq!(probe.count(), 0);
    assert_eq!(vt.pending(), 0);
}

#[test]
fn an_empty_upstream_completes_at_once_without_demand() {
    an_empty_upstream_completes_without_demand(|n| {
        source::range(0, n).delay_on(SECOND, VirtualTime::new())
    });
}

#[test]
fn rule_3_13_cancel_cancels_the_upstream_stops_the_timer_and_releases_the_subscriber() {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let probe = TestSubscriber::new(3);
    let (subscriber, weak) = track(probe.clone());
    input
        .clone()
        .delay_on(SECOND, vt.clone())
        .subscribe(subscriber);
    input.emit(1);
    assert_eq!(vt.pending(), 1);
    probe.cancel();
    assert!(input.is_cancelled(), "§3.12: cancel reaches the upstream");
    assert_eq!(vt.pending(), 0);
    assert!(released(&weak), "§3.13: subscriber kept after cancel");
}

#[test]
fn rule_3_9_request_zero_fails_the_stream() {
    request_zero_fails_the_stream_with_rule_3_9(|n| {
        source::range(0, n).delay_on(SECOND, VirtualTime::new())
    });
}

#[test]
fn rule_1_1_an_upstream_that_ignores_demand_is_cancelled_and_the_stream_fails() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(1);
    upstream
        .clone()
        .delay_on(SECOND, VirtualTime::new())
        .subscribe(probe.clone());
    upstream.next(0);
    upstream.next(1); // not requested
    assert!(upstream.is_cancelled());
    let error = probe.error().expect("the stream fails");
    assert_eq!(error.rule(), Some("1.1"), "{error}");
    assert_eq!(error.stage(), Some("delay"));
}
