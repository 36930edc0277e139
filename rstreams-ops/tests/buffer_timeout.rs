//! buffer_timeout: batches by size or time, waiting for demand, one batch in flight.

mod common;

use std::time::Duration;

use common::*;
use rstreams_core::scheduler::VirtualTime;
use rstreams_core::{sink, source, Error, Publisher};
use rstreams_ops::PublisherExt;
use rstreams_tck::{TestPublisher, TestSubscriber, Upstream};

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn full_batches_go_out_by_size_and_the_rest_on_completion() {
    let batches = source::range(0, 7).buffer_timeout(3, SECOND * 60);
    assert_eq!(
        sink::collect(&batches).unwrap(),
        vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]
    );
}

#[test]
fn a_partial_batch_goes_out_when_its_time_is_up() {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let probe = TestSubscriber::new(10);
    input
        .clone()
        .buffer_timeout_on(3, SECOND, vt.clone())
        .subscribe(probe.clone());
    input.emit(1);
    input.emit(2);
    vt.advance_by(Duration::from_millis(999));
    assert_eq!(probe.count(), 0);
    vt.advance_by(Duration::from_millis(1));
    probe.assert_values(&[vec![1, 2]]);
    // The timer of a batch that went out full does not cut the next one short.
    input.emit(3);
    input.emit(4);
    input.emit(5);
    probe.assert_values(&[vec![1, 2], vec![3, 4, 5]]);
    input.emit(6);
    vt.advance_by(Duration::from_millis(500));
    assert_eq!(probe.count(), 2);
    vt.advance_by(Duration::from_millis(500));
    probe.assert_values(&[vec![1, 2], vec![3, 4, 5], vec![6]]);
    probe.assert_no_violations();
}

#[test]
fn a_due_batch_waits_for_demand_instead_of_failing_or_dropping() {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let probe = TestSubscriber::new(1);
    input
        .clone()
        .buffer_timeout_on(10, SECOND, vt.clone())
        .subscribe(probe.clone());
    input.emit(1);
    vt.advance_by(SECOND);
    probe.assert_values(&[vec![1]]);
    // No demand left: the next batch fills, its timer fires, and it waits.
    input.emit(2);
    input.emit(3);
    vt.advance_by(SECOND * 10);
    assert_eq!(probe.count(), 1);
    assert!(
        !probe.is_terminated(),
        "no overflow error for a slow consumer"
    );
    assert_eq!(
        input.requested(),
        10,
        "nothing more requested while a batch waits"
    );
    probe.request(1);
    probe.assert_values(&[vec![1], vec![2, 3]]);
    probe.assert_no_violations();
}

#[test]
fn at_most_one_batch_is_queued_or_outstanding_upstream() {
    let up = Upstream::never_completing(1_000);
    let probe = TestSubscriber::new(0);
    up.clone()
        .buffer_timeout_on(4, SECOND, VirtualTime::new())
        .subscribe(probe.clone());
    assert_eq!(up.requested(), 0, "no demand, nothing requested");
    probe.request(100);
    assert_eq!(probe.count(), 100);
    assert!(up.requested() - up.emitted() <= 4, "{:?}", up.stats());
    assert_eq!(up.emitted(), 400);
    probe.cancel();
    assert!(up.is_cancelled());
}

#[test]
fn an_error_goes_at_once_and_drops_the_partial_batch() {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let probe = TestSubscriber::new(10);
    input
        .clone()
        .buffer_timeout_on(3, SECOND, vt)
        .subscribe(probe.clone());
    input.emit(1);
    input.fail(Error::msg("down"));
    assert_eq!(probe.count(), 0);
    assert_eq!(probe.error().unwrap().to_string(), "down");
}

#[test]
fn cancel_stops_the_timer_and_releases_the_subscriber() {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let probe = TestSubscriber::new(10);
    let (subscriber, weak) = track(probe.clone());
    input
        .clone()
        .buffer_timeout_on(3, SECOND, vt.clone())
        .subscribe(subscriber);
    input.emit(1);
    probe.cancel();
    assert!(input.is_cancelled());
    vt.advance_by(SECOND * 2);
    assert_eq!(probe.count(), 0);
    assert!(released(&weak), "§3.13");
}

#[test]
fn the_protocol_holds_for_the_batches() {
    // One element per batch, so the shared checks (which count elements) apply as they are.
    let vt = VirtualTime::new();
    let singles = |n: u64| {
        source::range(0, n)
            .buffer_timeout_on(1, SECOND, vt.clone())
            .map(|batch| batch[0])
    };
    zero_demand_emits_nothing(singles);
    partial_demand_is_exact(singles);
    reentrant_request_one_from_on_next_runs_to_completion(singles);
    concurrent_requests_deliver_everything_once_in_order(singles);
    request_zero_fails_the_stream_with_rule_3_9(singles);
    an_empty_upstream_completes_without_demand(singles);
}

#[test]
#[should_panic(expected = "size must be at least 1")]
fn a_size_of_zero_is_rejected_when_built() {
    let _ = source::range(0, 1).buffer_timeout(0, SECOND);
}
