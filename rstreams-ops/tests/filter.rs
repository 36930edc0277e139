//! `filter(p)`: demand passes through; a rejected element costs no request on the fast path
//! and one `request(1)` on the plain path.

mod common;

use common::*;
use rstreams_core::{sink, source, Error, Publisher};
use rstreams_ops::PublisherExt;
use rstreams_tck::TestSubscriber;

#[test]
fn keeps_only_the_elements_the_predicate_accepts() {
    let odd = sink::collect(&source::range(0, 10).filter(|x| x % 2 == 1)).unwrap();
    assert_eq!(odd, vec![1, 3, 5, 7, 9]);
}

#[test]
fn rejected_elements_cost_no_request_on_the_fast_path() {
    // 1 in 10 kept: 5 kept elements need 41 upstream elements, all under one request(5).
    let (upstream, log) = spy(source::range(0, 1_000));
    let probe = TestSubscriber::new(5);
    upstream.filter(|x| x % 10 == 0).subscribe(probe.clone());
    probe.assert_values(&[0, 10, 20, 30, 40]);
    assert_eq!(
        log.requests(),
        vec![5],
        "one request, no request(1) per rejected element"
    );
    assert!(!probe.is_terminated());
    probe.assert_no_violations();
}

#[test]
fn rejected_elements_return_false_on_the_fast_path() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(10);
    upstream.clone().filter(|x| *x > 1).subscribe(probe.clone());
    assert_eq!(upstream.try_next(0), Some(false));
    assert_eq!(upstream.try_next(1), Some(false));
    assert_eq!(upstream.try_next(2), Some(true));
    probe.assert_values(&[2]);
    assert_eq!(
        upstream.log().requests(),
        vec![10],
        "no replacement requested"
    );
}

#[test]
fn on_the_plain_path_each_rejected_element_is_replaced_with_request_one() {
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::new(3);
    PlainOnly(upstream)
        .filter(|x| x % 4 == 0)
        .subscribe(probe.clone());
    probe.assert_values(&[0, 4, 8]);
    // 3 kept, 6 rejected before the 3rd kept one (1,2,3,5,6,7): six request(1).
    assert_eq!(log.requests(), vec![3, 1, 1, 1, 1, 1, 1]);
    probe.assert_no_violations();
}

#[test]
fn zero_demand_emits_nothing() {
    common::zero_demand_emits_nothing(|n| source::range(0, n).filter(|_| true));
}

#[test]
fn partial_demand_is_exact() {
    common::partial_demand_is_exact(|n| source::range(0, n).filter(|_| true));
}

#[test]
fn partial_demand_counts_kept_elements_only() {
    let probe = TestSubscriber::new(0);
    source::range(0, 100)
        .filter(|x| x % 3 == 0)
        .subscribe(probe.clone());
    probe.request(2);
    probe.assert_values(&[0, 3]);
    probe.request(2);
    probe.assert_values(&[0, 3, 6, 9]);
    probe.assert_no_violations();
}

#[test]
fn a_filter_that_rejects_everything_completes_without_emitting() {
    let probe = TestSubscriber::<u64>::new(1);
    source::range(0, 10_000)
        .filter(|_| false)
        .subscribe(probe.clone());
    assert!(probe.is_complete());
    assert_eq!(probe.count(), 0);
}

#[test]
fn reentrant_request_one_from_on_next_runs_to_completion() {
    common::reentrant_request_one_from_on_next_runs_to_completion(|n| {
        source::range(0, n).filter(|_| true)
    });
}

#[test]
fn reentrant_request_one_on_the_plain_path_runs_to_completion() {
    // Half rejected: each rejection is a request(1) from inside on_next.
    let probe = TestSubscriber::new(1).request_on_next(1);
    PlainOnly(source::range(0, 200_000))
        .filter(|x| x % 2 == 0)
        .subscribe(probe.clone());
    assert!(probe.await_terminal(WAIT));
    assert_eq!(probe.count(), 100_000);
    probe.assert_no_violations();
}

#[test]
fn concurrent_requests_deliver_everything_once_in_order() {
    common::concurrent_requests_deliver_everything_once_in_order(|n| {
        source::range(0, n).filter(|_| true)
    });
}

#[test]
fn cancel_mid_stream_cancels_upstream_and_releases_the_subscriber() {
    common::cancel_mid_stream_cancels_upstream_and_releases_the_subscriber(|up| {
        up.filter(|_| true)
    });
}

#[test]
fn request_zero_fails_the_stream_with_rule_3_9() {
    common::request_zero_fails_the_stream_with_rule_3_9(|n| source::range(0, n).filter(|_| true));
}

#[test]
fn demand_overflowing_u64_is_unbounded() {
    common::demand_overflowing_u64_is_unbounded(|n| source::range(0, n).filter(|_| true));
}

#[test]
fn upstream_error_passes_through_without_demand() {
    common::upstream_error_passes_through_without_demand(|up| up.filter(|_| true));
}

#[test]
fn an_empty_upstream_completes_without_demand() {
    common::an_empty_upstream_completes_without_demand(|n| source::range(0, n).filter(|_| true));
}

#[test]
fn a_panic_in_the_closure_becomes_on_error_and_cancels_upstream() {
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::new(u64::MAX);
    upstream
        .filter(|x| {
            if *x == 4 {
                panic!("cannot judge {x}")
            } else {
                true
            }
        })
        .subscribe(probe.clone());
    probe.assert_values(&[0, 1, 2, 3]);
    assert_panic_error(&probe.error().unwrap(), "filter", "cannot judge 4");
    assert_eq!(log.cancels(), 1);
    probe.assert_no_violations();
}

#[test]
fn a_panic_on_the_plain_path_becomes_on_error_and_cancels_upstream() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::<u64>::new(5);
    upstream
        .clone()
        .filter(|_| panic!("always"))
        .subscribe(probe.clone());
    upstream.next(0);
    assert!(upstream.is_cancelled());
    assert_eq!(
        upstream.log().requests(),
        vec![5],
        "no replacement for a failed element"
    );
    assert_panic_error(&probe.error().unwrap(), "filter", "always");
    upstream.complete();
    probe.assert_no_violations();
}

#[test]
fn an_upstream_error_while_rejecting_passes_through_at_once() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::<u64>::new(1);
    upstream.clone().filter(|_| false).subscribe(probe.clone());
    upstream.next(1);
    upstream.error(Error::msg("gone"));
    assert_eq!(probe.error().unwrap().to_string(), "gone");
    probe.assert_no_violations();
}
