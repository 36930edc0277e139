//! `limit_rate(high, low)`: `high` at the first downstream demand, then `low` each time `low`
//! went downstream; never more than `high` outstanding or queued.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::*;
use rstreams_core::{sink, source, Error, ErrorKind, Publisher};
use rstreams_ops::PublisherExt;
use rstreams_tck::{TestSubscriber, Upstream};

#[test]
fn requests_high_first_then_low_each_time_low_went_downstream() {
    let (upstream, log) = spy(source::range(0, 20));
    let all = sink::collect(&upstream.limit_rate(10, 2)).unwrap();
    assert_eq!(all, (0..20).collect::<Vec<_>>());
    // Unbounded downstream demand is split: 10, then 2 per 2 delivered. The range signals
    // its completion after its last element went downstream, so the last pair is topped up
    // too: 30 requested for 20 elements, never more than 10 ahead.
    let mut expected = vec![10];
    expected.extend([2; 10]);
    assert_eq!(log.requests(), expected);
}

#[test]
fn a_demand_of_14_with_high_10_and_low_2_makes_seven_requests_of_2() {
    // The example of Reactor's limitRate javadoc.
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::new(14);
    upstream.limit_rate(10, 2).subscribe(probe.clone());
    assert_eq!(probe.values(), (0..14).collect::<Vec<_>>());
    assert_eq!(log.requests(), vec![10, 2, 2, 2, 2, 2, 2, 2]);
    probe.assert_no_violations();
}

#[test]
fn low_equal_to_high_replenishes_only_when_all_high_are_gone() {
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::new(9);
    upstream.limit_rate(4, 4).subscribe(probe.clone());
    assert_eq!(probe.count(), 9);
    assert_eq!(log.requests(), vec![4, 4, 4]);
}

#[test]
fn zero_demand_requests_nothing_upstream() {
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::<u64>::new(0);
    upstream.limit_rate(10, 5).subscribe(probe.clone());
    probe.assert_no_more_within(QUIET);
    assert!(log.requests().is_empty());
}

#[test]
fn a_small_first_request_still_fetches_high_and_delivers_only_what_was_asked() {
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::new(1);
    upstream.limit_rate(8, 4).subscribe(probe.clone());
    probe.assert_values(&[0]);
    assert_eq!(log.requests(), vec![8]);
    probe.request(2);
    probe.assert_values(&[0, 1, 2]);
    assert_eq!(log.requests(), vec![8], "3 delivered: not yet low (4)");
    probe.request(1);
    assert_eq!(log.requests(), vec![8, 4]);
    probe.assert_no_violations();
}

#[test]
fn never_more_than_high_are_outstanding_or_queued() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(0);
    upstream.clone().limit_rate(6, 2).subscribe(probe.clone());
    let mut sent = 0u64;
    for round in 0..50u64 {
        probe.request(round % 4 + 1);
        // Emit everything the stage asked for.
        while sent < upstream.requested() {
            upstream.next(sent);
            sent += 1;
        }
        let delivered = probe.count() as u64;
        assert!(
            upstream.requested() - delivered <= 6,
            "round {round}: {} requested upstream, {delivered} delivered",
            upstream.requested()
        );
    }
    assert!(probe.values().iter().copied().eq(0..probe.count() as u64));
    probe.assert_no_violations();
}

#[test]
fn partial_demand_is_exact() {
    common::partial_demand_is_exact(|n| source::range(0, n).limit_rate(4, 3));
}

#[test]
fn zero_demand_emits_nothing() {
    common::zero_demand_emits_nothing(|n| source::range(0, n).limit_rate(4, 3));
}

#[test]
fn completes_after_the_queue_drains_without_extra_demand() {
    let probe = TestSubscriber::new(0);
    source::range(0, 3)
        .limit_rate(10, 5)
        .subscribe(probe.clone());
    probe.request(2);
    assert!(!probe.is_terminated(), "one element still queued");
    probe.request(1);
    probe.assert_values(&[0, 1, 2]);
    assert!(probe.is_complete());
}

#[test]
fn queued_elements_are_delivered_before_an_upstream_error() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(1);
    upstream.clone().limit_rate(4, 4).subscribe(probe.clone());
    for i in 0..3 {
        upstream.next(i);
    }
    upstream.error(Error::msg("late"));
    probe.assert_values(&[0]);
    assert!(
        !probe.is_terminated(),
        "two elements are queued before the error"
    );
    probe.request(2);
    probe.assert_values(&[0, 1, 2]);
    assert_eq!(probe.error().unwrap().to_string(), "late");
    probe.assert_no_violations();
}

#[test]
fn upstream_error_passes_through_without_demand() {
    common::upstream_error_passes_through_without_demand(|up| up.limit_rate(4, 2));
}

#[test]
fn an_empty_upstream_completes_without_demand() {
    common::an_empty_upstream_completes_without_demand(|n| source::range(0, n).limit_rate(4, 2));
}

#[test]
fn an_upstream_emitting_beyond_high_fails_the_stream_with_rule_1_1() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::<u64>::new(0);
    upstream.clone().limit_rate(2, 2).subscribe(probe.clone());
    for i in 0..3 {
        upstream.next(i); // nothing was requested at all
    }
    assert!(upstream.is_cancelled());
    probe.request(10);
    probe.assert_values(&[0, 1]);
    let error = probe.error().expect("over-emission fails the stream");
    assert_eq!(error.rule(), Some("1.1"), "{error}");
    assert_eq!(error.kind(), ErrorKind::Protocol);
    assert_eq!(error.stage(), Some("limit_rate"));
    probe.assert_no_violations();
}

#[test]
fn reentrant_request_one_from_on_next_runs_to_completion() {
    common::reentrant_request_one_from_on_next_runs_to_completion(|n| {
        source::range(0, n).limit_rate(64, 48)
    });
}

#[test]
fn concurrent_requests_deliver_everything_once_in_order() {
    common::concurrent_requests_deliver_everything_once_in_order(|n| {
        source::range(0, n).limit_rate(16, 12)
    });
}

#[test]
fn cancel_mid_stream_cancels_upstream_and_releases_the_subscriber() {
    common::cancel_mid_stream_cancels_upstream_and_releases_the_subscriber(|up| {
        up.limit_rate(8, 4)
    });
}

#[test]
fn request_zero_fails_the_stream_with_rule_3_9() {
    common::request_zero_fails_the_stream_with_rule_3_9(|n| source::range(0, n).limit_rate(4, 2));
}

#[test]
fn request_zero_cancels_upstream_and_names_the_stage() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::<u64>::new(1);
    upstream.clone().limit_rate(4, 2).subscribe(probe.clone());
    probe.request(0);
    assert!(upstream.is_cancelled());
    assert_eq!(probe.error().unwrap().stage(), Some("limit_rate"));
}

#[test]
fn demand_overflowing_u64_is_unbounded() {
    common::demand_overflowing_u64_is_unbounded(|n| source::range(0, n).limit_rate(4, 2));
}

#[test]
#[should_panic(expected = "limit_rate(high, low): high must be at least 1")]
fn a_high_of_zero_is_rejected_where_it_is_built() {
    let _ = source::range(0, 1).limit_rate(0, 0);
}

#[test]
#[should_panic(expected = "limit_rate(high, low): low must be in 1..=high (1..=10), got 0")]
fn a_low_of_zero_is_rejected_where_it_is_built() {
    let _ = source::range(0, 1).limit_rate(10, 0);
}

#[test]
#[should_panic(expected = "limit_rate(high, low): low must be in 1..=high (1..=5), got 6")]
fn a_low_above_high_is_rejected_where_it_is_built() {
    let _ = source::range(0, 1).limit_rate(5, 6);
}

#[test]
fn an_element_a_filter_downstream_rejects_costs_no_request() {
    // Spy on the link between limit_rate and the filter: the filter answers `false` on the
    // fast path instead of asking for a replacement.
    let (stage, log) = spy(source::range(0, 100).limit_rate(10, 5));
    let probe = TestSubscriber::new(3);
    stage.filter(|x| x % 2 == 0).subscribe(probe.clone());
    probe.assert_values(&[0, 2, 4]);
    assert_eq!(log.requests(), vec![3]);
}

#[test]
fn an_upstream_that_ended_is_not_asked_for_more() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(1);
    upstream.clone().limit_rate(4, 1).subscribe(probe.clone());
    for i in 0..4 {
        upstream.next(i);
    }
    upstream.complete();
    assert_eq!(
        upstream.requested(),
        5,
        "4, then 1 after the first went downstream"
    );
    probe.request(3);
    probe.assert_values(&[0, 1, 2, 3]);
    assert!(probe.is_complete());
    assert_eq!(
        upstream.requested(),
        5,
        "no top-up after the upstream completed"
    );
}

#[test]
fn a_panicking_downstream_cancels_the_upstream_rule_2_13() {
    let upstream = Upstream::never_completing(1_000);
    let downstream = PanicsOnNext::new(u64::MAX);
    let after_panic = downstream.signals_after_panic();
    upstream.clone().limit_rate(8, 4).subscribe(downstream);
    assert!(
        upstream.is_cancelled(),
        "the panic did not reach the upstream"
    );
    assert_eq!(upstream.requested(), 8, "nothing asked after the panic");
    assert_eq!(
        after_panic.load(Ordering::SeqCst),
        0,
        "signalled after the panic"
    );
}

#[test]
fn an_upstream_that_ignores_demand_fails_with_rule_1_1_and_is_held_to_high_elements() {
    // Lagging: it goes on emitting after the cancel, as a broken upstream would.
    let upstream = Manual::<Arc<()>>::lagging();
    let token = Arc::new(());
    let probe = TestSubscriber::<Arc<()>>::new(0);
    upstream.clone().limit_rate(4, 2).subscribe(probe.clone());
    for _ in 0..100 {
        upstream.next(token.clone()); // nothing was requested at all
    }
    assert!(upstream.is_cancelled());
    assert_eq!(
        Arc::strong_count(&token) - 1,
        4,
        "the stage holds `high` elements, not what the upstream pushed"
    );
    assert!(
        !probe.is_terminated(),
        "the error waits behind the 4 queued"
    );
    probe.request(10);
    assert_eq!(probe.count(), 4);
    let error = probe.error().expect("over-emission fails the stream");
    assert_eq!(error.rule(), Some("1.1"), "{error}");
    assert_eq!(error.stage(), Some("limit_rate"));
    probe.assert_no_violations();
}
