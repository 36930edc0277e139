//! `scan(initial, f)`: a running state per subscription; demand passes through.

mod common;

use common::*;
use rstreams_core::{sink, source, Publisher};
use rstreams_ops::PublisherExt;
use rstreams_tck::TestSubscriber;

fn identity(n: u64) -> impl Publisher<Item = u64> {
    source::range(0, n).scan((), |_, x| x)
}

#[test]
fn emits_each_running_state_and_not_the_initial_one() {
    let sums = source::range(1, 5).scan(100, |sum, x| {
        *sum += x;
        *sum
    });
    assert_eq!(sink::collect(&sums).unwrap(), vec![101, 103, 106, 110, 115]);
}

#[test]
fn the_emitted_type_may_differ_from_the_state() {
    let labelled = source::range(0, 3).scan(String::new(), |seen, x| {
        seen.push_str(&x.to_string());
        seen.len()
    });
    assert_eq!(sink::collect(&labelled).unwrap(), vec![1, 2, 3]);
}

#[test]
fn each_subscription_starts_from_the_initial_state() {
    let count = source::range(0, 3).scan(0u32, |n, _| {
        *n += 1;
        *n
    });
    assert_eq!(sink::collect(&count).unwrap(), vec![1, 2, 3]);
    assert_eq!(sink::collect(&count).unwrap(), vec![1, 2, 3]);
}

#[test]
fn demand_passes_through_unchanged() {
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::new(4);
    upstream
        .scan(0, |s, x| {
            *s += x;
            *s
        })
        .subscribe(probe.clone());
    probe.request(1);
    probe.assert_values(&[0, 1, 3, 6, 10]);
    assert_eq!(log.requests(), vec![4, 1]);
}

#[test]
fn the_fast_path_answer_of_a_filter_downstream_reaches_the_upstream() {
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::new(3);
    upstream
        .scan(0, |s, x| {
            *s += x;
            *s
        })
        .filter(|s| s % 2 == 0)
        .subscribe(probe.clone());
    probe.assert_values(&[0, 6, 10]);
    assert_eq!(log.requests(), vec![3]);
}

#[test]
fn zero_demand_emits_nothing() {
    common::zero_demand_emits_nothing(identity);
}

#[test]
fn partial_demand_is_exact() {
    common::partial_demand_is_exact(identity);
}

#[test]
fn reentrant_request_one_from_on_next_runs_to_completion() {
    common::reentrant_request_one_from_on_next_runs_to_completion(identity);
}

#[test]
fn concurrent_requests_deliver_everything_once_in_order() {
    common::concurrent_requests_deliver_everything_once_in_order(identity);
}

#[test]
fn cancel_mid_stream_cancels_upstream_and_releases_the_subscriber() {
    common::cancel_mid_stream_cancels_upstream_and_releases_the_subscriber(|up| {
        up.scan((), |_, x| x)
    });
}

#[test]
fn request_zero_fails_the_stream_with_rule_3_9() {
    common::request_zero_fails_the_stream_with_rule_3_9(identity);
}

#[test]
fn demand_overflowing_u64_is_unbounded() {
    common::demand_overflowing_u64_is_unbounded(identity);
}

#[test]
fn upstream_error_passes_through_without_demand() {
    common::upstream_error_passes_through_without_demand(|up| up.scan((), |_, x| x));
}

#[test]
fn a_panic_in_the_closure_becomes_on_error_and_cancels_upstream() {
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::new(u64::MAX);
    upstream
        .scan(0, |sum, x| {
            *sum += x;
            if *sum > 5 {
                panic!("sum too large: {sum}");
            }
            *sum
        })
        .subscribe(probe.clone());
    probe.assert_values(&[0, 1, 3]);
    assert_panic_error(&probe.error().unwrap(), "scan", "sum too large: 6");
    assert_eq!(log.cancels(), 1);
    probe.assert_no_violations();
}

#[test]
fn a_panic_on_the_plain_path_becomes_on_error_and_cancels_upstream() {
    let upstream = Manual::<u64>::lagging();
    let probe = TestSubscriber::<u64>::new(5);
    upstream
        .clone()
        .scan(0u64, |_, _| -> u64 { panic!("no state") })
        .subscribe(probe.clone());
    upstream.next(0);
    assert!(upstream.is_cancelled());
    upstream.next(1);
    upstream.complete();
    assert_panic_error(&probe.error().unwrap(), "scan", "no state");
    probe.assert_no_violations();
}
