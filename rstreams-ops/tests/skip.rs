//! `skip(n)`: demand passes through; skipped elements are made up for as `filter` does.

mod common;

use common::*;
use rstreams_core::{sink, source, Error, Publisher};
use rstreams_ops::PublisherExt;
use rstreams_tck::TestSubscriber;

#[test]
fn drops_the_first_n_elements() {
    assert_eq!(
        sink::collect(&source::range(0, 6).skip(2)).unwrap(),
        vec![2, 3, 4, 5]
    );
}

#[test]
fn skipping_more_than_there_is_completes_empty() {
    assert!(sink::collect(&source::range(0, 3).skip(10))
        .unwrap()
        .is_empty());
}

#[test]
fn skipped_elements_cost_no_request_on_the_fast_path() {
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::new(2);
    upstream.skip(50).subscribe(probe.clone());
    probe.assert_values(&[50, 51]);
    assert_eq!(
        log.requests(),
        vec![2],
        "nothing requested for the 50 skipped"
    );
    probe.assert_no_violations();
}

#[test]
fn nothing_is_requested_ahead_of_downstream_demand() {
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::<u64>::new(0);
    upstream.skip(10).subscribe(probe.clone());
    assert!(log.requests().is_empty());
}

#[test]
fn on_the_plain_path_each_skipped_element_is_replaced_with_request_one() {
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::new(2);
    PlainOnly(upstream).skip(3).subscribe(probe.clone());
    probe.assert_values(&[3, 4]);
    assert_eq!(log.requests(), vec![2, 1, 1, 1]);
    probe.assert_no_violations();
}

#[test]
fn skipped_elements_return_false_on_the_fast_path() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(10);
    upstream.clone().skip(1).subscribe(probe.clone());
    assert_eq!(upstream.try_next(0), Some(false));
    assert_eq!(upstream.try_next(1), Some(true));
    probe.assert_values(&[1]);
}

#[test]
fn zero_demand_emits_nothing() {
    common::zero_demand_emits_nothing(|n| source::range(0, n).skip(0));
}

#[test]
fn partial_demand_is_exact() {
    common::partial_demand_is_exact(|n| source::range(0, n).skip(0));
}

#[test]
fn partial_demand_after_skipping_is_exact() {
    let probe = TestSubscriber::new(0);
    source::range(0, 20).skip(5).subscribe(probe.clone());
    probe.request(2);
    probe.assert_values(&[5, 6]);
    probe.assert_no_more_within(QUIET);
    probe.request(1);
    probe.assert_values(&[5, 6, 7]);
    probe.assert_no_violations();
}

#[test]
fn reentrant_request_one_from_on_next_runs_to_completion() {
    common::reentrant_request_one_from_on_next_runs_to_completion(|n| source::range(0, n).skip(0));
}

#[test]
fn concurrent_requests_deliver_everything_once_in_order() {
    common::concurrent_requests_deliver_everything_once_in_order(|n| source::range(0, n).skip(0));
}

#[test]
fn cancel_mid_stream_cancels_upstream_and_releases_the_subscriber() {
    common::cancel_mid_stream_cancels_upstream_and_releases_the_subscriber(|up| up.skip(0));
}

#[test]
fn request_zero_fails_the_stream_with_rule_3_9() {
    common::request_zero_fails_the_stream_with_rule_3_9(|n| source::range(0, n).skip(3));
}

#[test]
fn demand_overflowing_u64_is_unbounded() {
    common::demand_overflowing_u64_is_unbounded(|n| source::range(0, n).skip(0));
}

#[test]
fn upstream_error_passes_through_without_demand() {
    common::upstream_error_passes_through_without_demand(|up| up.skip(3));
}

#[test]
fn an_upstream_error_while_skipping_passes_through_at_once() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::<u64>::new(1);
    upstream.clone().skip(5).subscribe(probe.clone());
    upstream.next(0);
    upstream.error(Error::msg("early"));
    assert_eq!(probe.error().unwrap().to_string(), "early");
    assert_eq!(probe.count(), 0);
    probe.assert_no_violations();
}

#[test]
fn each_subscription_skips_anew() {
    let rest = source::range(0, 4).skip(2);
    assert_eq!(sink::collect(&rest).unwrap(), vec![2, 3]);
    assert_eq!(sink::collect(&rest).unwrap(), vec![2, 3]);
}
