//! `timeout` and its variants, on virtual time: the clock runs only while outstanding demand
//! is unmet; a fallback takes over with the outstanding demand.

mod common;

use std::time::Duration;

use common::*;
use rstreams_core::scheduler::VirtualTime;
use rstreams_core::{sink, source, ErrorKind, Publisher};
use rstreams_ops::PublisherExt;
use rstreams_tck::TestSubscriber;

const D: Duration = Duration::from_secs(5);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The operator over a hand-driven upstream, on a fresh clock.
fn timed(d: Duration) -> (Manual<u64>, TestSubscriber<u64>, VirtualTime) {
    let clock = VirtualTime::new();
    let upstream = Manual::new();
    let probe = TestSubscriber::new(0);
    upstream
        .clone()
        .timeout_on(d, clock.clone())
        .subscribe(probe.clone());
    (upstream, probe, clock)
}

fn assert_timed_out(probe: &TestSubscriber<u64>) {
    let error = probe.error().expect("a timeout");
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert_eq!(error.stage(), Some("timeout"));
}

#[test]
fn a_source_that_answers_in_time_is_passed_through() {
    let out = source::range(0, 5).timeout_on(D, VirtualTime::new());
    assert_eq!(sink::collect(&out).unwrap(), vec![0, 1, 2, 3, 4]);
}

#[test]
fn outstanding_demand_unmet_for_the_duration_cancels_the_upstream_and_fails_with_a_timeout() {
    let (upstream, probe, clock) = timed(D);
    probe.request(1);
    clock.advance_by(D - ms(1));
    assert!(!probe.is_terminated());
    clock.advance_by(ms(1));
    assert_timed_out(&probe);
    assert!(upstream.is_cancelled());
    probe.assert_no_violations();
}

#[test]
fn a_consumer_that_requests_nothing_for_an_hour_gets_no_timeout() {
    let (upstream, probe, clock) = timed(D);
    clock.advance_by(Duration::from_secs(3_600));
    assert!(!probe.is_terminated());
    assert_eq!(clock.pending(), 0, "no timer armed without demand");
    // Once it asks, the clock runs.
    probe.request(1);
    upstream.next(0);
    clock.advance_by(Duration::from_secs(3_600));
    assert!(
        !probe.is_terminated(),
        "its demand was met: a slow consumer is not a timeout"
    );
    probe.assert_values(&[0]);
}

#[test]
fn the_clock_starts_again_at_each_element_while_demand_remains() {
    let (upstream, probe, clock) = timed(D);
    probe.request(3);
    clock.advance_by(ms(3_000));
    upstream.next(0);
    clock.advance_by(ms(4_000)); // 7 s: 4 s after the element
    upstream.next(1);
    clock.advance_by(ms(4_999)); // 11.999 s
    assert!(!probe.is_terminated());
    clock.advance_by(ms(1)); // 12 s: 5 s after the last element
    assert_timed_out(&probe);
    probe.assert_values(&[0, 1]);
}

#[test]
fn the_clock_stops_when_the_demand_is_met_and_starts_when_demand_arrives() {
    let (upstream, probe, clock) = timed(D);
    probe.request(1);
    clock.advance_by(ms(1_000));
    upstream.next(0);
    clock.advance_by(Duration::from_secs(100));
    assert!(!probe.is_terminated());
    probe.request(1); // at 101 s
    clock.advance_by(D - ms(1));
    assert!(!probe.is_terminated());
    clock.advance_by(ms(1));
    assert_timed_out(&probe);
}

#[test]
fn more_demand_while_waiting_does_not_restart_the_clock() {
    let (_upstream, probe, clock) = timed(D);
    probe.request(1);
    clock.advance_by(ms(3_000));
    probe.request(1);
    clock.advance_by(ms(2_000));
    assert_timed_out(&probe);
}

#[test]
fn rule_3_8_timeout_or_switches_to_the_fallback_asking_it_for_exactly_what_is_outstanding() {
    let clock = VirtualTime::new();
    let primary = Manual::new();
    let (fallback, log) = spy(source::range(100, 1_000));
    let probe = TestSubscriber::new(5);
    primary
        .clone()
        .timeout_or_on(D, fallback, clock.clone())
        .subscribe(probe.clone());
    emit_as_requested(&primary, 0, 2);
    clock.advance_by(D);
    assert!(primary.is_cancelled());
    assert_eq!(log.requests(), vec![3]);
    probe.assert_values(&[0, 1, 100, 101, 102]);
    probe.request(2);
    assert_eq!(log.requests(), vec![3, 2]);
    assert_eq!(probe.count(), 7);
    assert!(!probe.is_terminated());
    probe.assert_no_violations();
}

#[test]
fn the_fallback_runs_without_a_deadline() {
    let clock = VirtualTime::new();
    let fallback = Manual::new();
    let probe = TestSubscriber::new(1);
    source::never()
        .timeout_or_on(D, fallback.clone(), clock.clone())
        .subscribe(probe.clone());
    clock.advance_by(D);
    assert_eq!(fallback.requested(), 1);
    clock.advance_by(Duration::from_secs(3_600));
    assert!(!probe.is_terminated());
    fallback.next(9);
    fallback.complete();
    probe.assert_values(&[9]);
    assert!(probe.is_complete());
}

#[test]
#[should_panic(expected = "timeout: duration must be above zero (valid range: 1ns..=Duration::MAX")]
fn a_zero_duration_is_rejected_when_built_naming_the_argument_and_its_range() {
    let _ = source::never::<u64>().timeout(Duration::ZERO);
}

#[test]
fn duration_max_never_fires_and_does_not_overflow() {
    let (_upstream, probe, clock) = timed(Duration::MAX);
    probe.request(1);
    clock.advance_by(Duration::from_secs(10 * 365 * 24 * 3_600));
    assert!(!probe.is_terminated());
}

#[test]
fn upstream_errors_pass_through_without_demand() {
    upstream_error_passes_through_without_demand(|up| up.timeout_on(D, VirtualTime::new()));
}

#[test]
fn an_empty_upstream_completes_without_demand() {
    common::an_empty_upstream_completes_without_demand(|n| {
        source::range(0, n).timeout_on(D, VirtualTime::new())
    });
}

#[test]
fn rule_3_13_cancel_stops_the_clock_reaches_the_upstream_and_releases_the_subscriber() {
    let clock = VirtualTime::new();
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(1);
    let (subscriber, weak) = track(probe.clone());
    upstream
        .clone()
        .timeout_on(D, clock.clone())
        .subscribe(subscriber);
    probe.cancel();
    assert!(upstream.is_cancelled());
    assert!(released(&weak));
    clock.advance_by(D * 2);
    assert!(!probe.is_terminated());
    assert_eq!(clock.pending(), 0);
}

#[test]
fn a_synchronous_upstream_under_unbounded_demand_is_asked_at_most_256_at_a_time() {
    let (source, log) = spy(source::range(0, 1_000));
    let out = source.timeout_on(D, VirtualTime::new());
    assert_eq!(sink::collect(&out).unwrap(), (0..1_000).collect::<Vec<_>>());
    assert!(
        log.requests().iter().all(|&n| n <= 256),
        "{:?}",
        log.requests()
    );
}

#[test]
fn rule_1_1_an_upstream_that_emits_more_than_asked_is_cancelled_and_fails_the_stream() {
    let (upstream, probe, _clock) = timed(D);
    probe.request(1);
    upstream.next(0);
    upstream.next(1);
    assert_eq!(probe.error().unwrap().rule(), Some("1.1"));
    assert!(upstream.is_cancelled());
    probe.assert_values(&[0]);
    probe.assert_no_violations();
}

#[test]
fn a_timeout_inside_retry_bounds_each_attempt() {
    use rstreams_ops::{Jitter, RetryPolicy};
    let clock = VirtualTime::new();
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&attempts);
    let probe = TestSubscriber::new(1);
    let c = clock.clone();
    source::defer(move || {
        // Hangs twice, then answers.
        if counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
            source::never().boxed()
        } else {
            source::just(1u64).boxed()
        }
        .timeout_on(D, c.clone())
    })
    .retry(
        RetryPolicy::fixed(Duration::from_secs(1))
            .jitter(Jitter::None)
            .on(clock.clone()),
    )
    .subscribe(probe.clone());
    clock.advance_by(Duration::from_secs(60));
    probe.assert_values(&[1]);
    assert!(probe.is_complete());
    assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 3);
}

fn make(n: u64) -> impl Publisher<Item = u64> {
    source::range(0, n).timeout_on(Duration::from_secs(60), VirtualTime::new())
}

#[test]
fn zero_demand_emits_nothing() {
    common::zero_demand_emits_nothing(make);
}

#[test]
fn partial_demand_is_exact() {
    common::partial_demand_is_exact(make);
}

#[test]
fn reentrant_request_one_from_on_next_runs_to_completion() {
    common::reentrant_request_one_from_on_next_runs_to_completion(make);
}

#[test]
fn concurrent_requests_deliver_everything_once_in_order() {
    common::concurrent_requests_deliver_everything_once_in_order(make);
}

#[test]
fn demand_overflowing_u64_is_unbounded() {
    common::demand_overflowing_u64_is_unbounded(make);
}

#[test]
fn rule_3_9_request_zero_fails_the_stream() {
    request_zero_fails_the_stream_with_rule_3_9(make);
}

#[test]
fn cancel_mid_stream_cancels_upstream_and_releases_the_subscriber() {
    common::cancel_mid_stream_cancels_upstream_and_releases_the_subscriber(|up| {
        up.timeout_on(Duration::from_secs(60), VirtualTime::new())
    });
}
