//! zip, zip_with, combine_latest, with_latest_from, take_until, merge_delay_error and
//! buffer_skip: partial demand, what each asks of its inputs, completion, errors, cancel.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use rstreams_core::{sink, source, Error, ErrorKind, Publisher};
use rstreams_ops::{CompositeError, PublisherExt};
use rstreams_tck::{TestPublisher, TestSubscriber, Upstream};

// ===== zip =====

#[test]
fn zip_keeps_the_protocol() {
    let zipped = |n| source::range(0, n).zip_with(source::range(0, n + 5), |a, _| a);
    zero_demand_emits_nothing(zipped);
    partial_demand_is_exact(zipped);
    reentrant_request_one_from_on_next_runs_to_completion(zipped);
    concurrent_requests_deliver_everything_once_in_order(zipped);
    request_zero_fails_the_stream_with_rule_3_9(zipped);
    demand_overflowing_u64_is_unbounded(zipped);
    an_empty_upstream_completes_without_demand(zipped);
    upstream_error_passes_through_without_demand(|up| up.zip_with(source::range(0, 3), |a, _| a));
    cancel_mid_stream_cancels_upstream_and_releases_the_subscriber(|up| {
        up.zip_with(source::range(0, 10_000), |a, _| a)
    });
}

#[test]
fn zip_pairs_by_position_and_completes_when_the_shorter_side_is_used_up() {
    let up = Upstream::emitting(3);
    let other = Upstream::never_completing(100);
    let pairs = up.clone().zip(other.clone());
    assert_eq!(sink::collect(&pairs).unwrap(), vec![(0, 0), (1, 1), (2, 2)]);
    assert!(
        other.is_cancelled(),
        "the longer side, which can never be paired again, is cancelled"
    );
}

#[test]
fn zip_asks_each_side_for_32_ahead_and_24_more_as_they_are_paired() {
    let (left, left_log) = spy(source::range(0, 1_000));
    let (right, right_log) = spy(source::range(0, 1_000));
    let probe = TestSubscriber::new(0);
    left.zip(right).subscribe(probe.clone());
    assert_eq!(left_log.requests(), vec![32]);
    assert_eq!(right_log.requests(), vec![32]);
    probe.request(30);
    assert_eq!(probe.count(), 30);
    assert_eq!(left_log.requests(), vec![32, 24]);
    assert_eq!(right_log.requests(), vec![32, 24]);
    probe.request(u64::MAX);
    assert!(probe.is_complete());
    assert_eq!(probe.count(), 1_000);
    assert!(
        left_log.requests().iter().all(|&n| n <= 32),
        "unbounded downstream demand still goes up in prefetch-sized requests"
    );
}

#[test]
fn zip_holds_no_more_than_its_prefetch_of_a_side_much_faster_than_the_other() {
    let fast = Upstream::emitting(1_000_000);
    let slow = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(u64::MAX);
    fast.clone().zip(slow.clone()).subscribe(probe.clone());
    for i in 0..100 {
        slow.emit(i);
    }
    assert_eq!(probe.count(), 100);
    // 100 paired, at most 32 queued ahead: the fast side waits upstream, not in memory.
    assert!(fast.requested() <= 132, "asked for {}", fast.requested());
    assert!(fast.emitted() <= 132, "sent {}", fast.emitted());
    assert_eq!(slow.requested(), 32 + 24 * 4);
}

#[test]
fn zip_completes_once_an_ended_sides_queued_elements_are_paired_even_without_demand() {
    let left = TestPublisher::<u64>::new();
    let right = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(0);
    left.clone().zip(right.clone()).subscribe(probe.clone());
    left.emit(1);
    left.emit(2);
    left.complete();
    right.emit(10);
    assert!(
        !probe.is_terminated(),
        "two of left's elements wait for pairing"
    );
    probe.request(1);
    probe.assert_values(&[(1, 10)]);
    assert!(!probe.is_terminated(), "left's 2 may still be paired");
    right.emit(20);
    assert!(
        !probe.is_terminated(),
        "the last pair is owed to the downstream first"
    );
    probe.request(1);
    probe.assert_values(&[(1, 10), (2, 20)]);
    assert!(probe.is_complete(), "left is used up: no demand needed");
    assert!(right.is_cancelled());
}

#[test]
fn an_error_of_either_side_of_zip_goes_downstream_at_once_and_cancels_the_other() {
    let left = TestPublisher::<u64>::new();
    let right = Upstream::never_completing(100);
    let probe = TestSubscriber::new(0);
    left.clone().zip(right.clone()).subscribe(probe.clone());
    left.fail(Error::msg("left broke"));
    assert_eq!(probe.error().unwrap().to_string(), "left broke");
    assert!(right.is_cancelled());
    assert!(probe.values().is_empty());
}

#[test]
fn a_panic_in_zip_withs_closure_fails_the_stream_and_cancels_both_sides() {
    let left = Upstream::never_completing(10);
    let right = Upstream::never_completing(10);
    let probe = TestSubscriber::new(u64::MAX);
    left.clone()
        .zip_with(right.clone(), |a, b| {
            if a == 2 {
                panic!("pairing bug")
            }
            a + b
        })
        .subscribe(probe.clone());
    probe.assert_values(&[0, 2]);
    assert_panic_error(&probe.error().unwrap(), "zip", "pairing bug");
    assert!(left.is_cancelled() && right.is_cancelled());
}

#[test]
fn rule_3_13_cancelling_zip_cancels_both_sides_and_releases_the_subscriber() {
    let left = Upstream::never_completing(100);
    let right = Upstream::never_completing(100);
    let probe = TestSubscriber::new(1);
    let (subscriber, weak) = track(probe.clone());
    left.clone().zip(right.clone()).subscribe(subscriber);
    probe.cancel();
    assert!(left.is_cancelled() && right.is_cancelled());
    assert!(released(&weak));
}

#[test]
fn each_subscription_of_zip_pairs_afresh() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let zipped = source::range(0, 3).zip_with(source::range(10, 3), move |a, b| {
        c.fetch_add(1, Ordering::SeqCst);
        a + b
    });
    assert_eq!(sink::collect(&zipped).unwrap(), vec![10, 12, 14]);
    assert_eq!(sink::collect(&zipped).unwrap(), vec![10, 12, 14]);
    assert_eq!(calls.load(Ordering::SeqCst), 6);
}

// ===== combine_latest =====

#[test]
fn combine_latest_keeps_the_protocol() {
    let combined = |n| source::range(0, n).combine_latest(source::just(()), |a, _| *a);
    zero_demand_emits_nothing(combined);
    partial_demand_is_exact(combined);
    reentrant_request_one_from_on_next_runs_to_completion(combined);
    concurrent_requests_deliver_everything_once_in_order(combined);
    request_zero_fails_the_stream_with_rule_3_9(combined);
    demand_overflowing_u64_is_unbounded(combined);
    an_empty_upstream_completes_without_demand(combined);
    upstream_error_passes_through_without_demand(|up| {
        up.combine_latest(source::just(()), |a, _| *a)
    });
    cancel_mid_stream_cancels_upstream_and_releases_the_subscriber(|up| {
        up.combine_latest(source::just(()), |a, _| *a)
    });
}

#[test]
fn combine_latest_emits_whenever_either_side_emits_once_both_have() {
    let left = TestPublisher::<u64>::new();
    let right = TestPublisher::<&str>::new();
    let probe = TestSubscriber::new(u64::MAX);
    left.clone()
        .combine_latest(right.clone(), |n, s| format!("{s}{n}"))
        .subscribe(probe.clone());
    left.emit(1);
    left.emit(2); // replaces 1: right has not emitted yet
    assert!(probe.values().is_empty());
    right.emit("a");
    left.emit(3);
    right.emit("b");
    right.emit("c");
    probe.assert_values(&["a2".to_string(), "a3".into(), "b3".into(), "c3".into()]);
}

#[test]
fn combine_latest_waits_for_demand_and_asks_each_side_for_32_ahead() {
    let (left, left_log) = spy(source::range(0, 100));
    let (right, right_log) = spy(source::just(1_000u64));
    let probe = TestSubscriber::new(0);
    left.combine_latest(right, |a, b| a + b)
        .subscribe(probe.clone());
    assert!(probe.values().is_empty());
    assert_eq!(left_log.requests(), vec![32]);
    assert_eq!(right_log.requests(), vec![32]);
    probe.request(2);
    probe.assert_values(&[1_000, 1_001]);
    probe.request(u64::MAX);
    assert_eq!(probe.count(), 100);
    assert!(probe.is_complete(), "both ended and were taken");
    assert!(left_log.requests().iter().all(|&n| n <= 32));
}

#[test]
fn combine_latest_completes_at_once_when_a_side_ends_without_emitting() {
    let left = Upstream::never_completing(100);
    let probe = TestSubscriber::new(0);
    left.clone()
        .combine_latest(source::empty::<u64>(), |a, b| a + b)
        .subscribe(probe.clone());
    assert!(probe.is_complete(), "nothing can ever be combined");
    assert!(left.is_cancelled());
    assert!(probe.values().is_empty());
}

#[test]
fn combine_latest_runs_on_with_the_last_value_of_a_side_that_completed() {
    let left = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(u64::MAX);
    left.clone()
        .combine_latest(source::just(10u64), |a, b| a * b)
        .subscribe(probe.clone());
    left.emit(1);
    left.emit(2);
    assert!(!probe.is_terminated());
    left.complete();
    probe.assert_values(&[10, 20]);
    assert!(probe.is_complete());
}

#[test]
fn an_error_of_either_side_of_combine_latest_goes_downstream_at_once() {
    let left = Upstream::never_completing(5);
    let right = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(0);
    left.clone()
        .combine_latest(right.clone(), |a, b| a + b)
        .subscribe(probe.clone());
    right.fail(Error::msg("right broke"));
    assert_eq!(probe.error().unwrap().to_string(), "right broke");
    assert!(left.is_cancelled());
}

#[test]
fn a_panic_in_combine_latests_closure_fails_the_stream() {
    let left = Upstream::never_completing(10);
    let probe = TestSubscriber::new(u64::MAX);
    left.clone()
        .combine_latest(source::just(1u64), |a, _| {
            if *a == 1 {
                panic!("combining bug")
            }
            *a
        })
        .subscribe(probe.clone());
    probe.assert_values(&[0]);
    assert_panic_error(&probe.error().unwrap(), "combine_latest", "combining bug");
    assert!(left.is_cancelled());
}

// ===== with_latest_from =====

#[test]
fn with_latest_from_keeps_the_protocol() {
    let combined = |n| source::range(0, n).with_latest_from(source::just(()), |a, _| *a);
    zero_demand_emits_nothing(combined);
    partial_demand_is_exact(combined);
    reentrant_request_one_from_on_next_runs_to_completion(combined);
    concurrent_requests_deliver_everything_once_in_order(combined);
    request_zero_fails_the_stream_with_rule_3_9(combined);
    demand_overflowing_u64_is_unbounded(combined);
    an_empty_upstream_completes_without_demand(combined);
    upstream_error_passes_through_without_demand(|up| {
        up.with_latest_from(source::just(()), |a, _| *a)
    });
    cancel_mid_stream_cancels_upstream_and_releases_the_subscriber(|up| {
        up.with_latest_from(source::just(()), |a, _| *a)
    });
}

#[test]
fn with_latest_from_combines_each_element_with_others_value_when_it_arrived() {
    let main = TestPublisher::<u64>::new();
    let other = TestPublisher::<&str>::new();
    let probe = TestSubscriber::new(u64::MAX);
    main.clone()
        .with_latest_from(other.clone(), |n, s| format!("{s}{n}"))
        .subscribe(probe.clone());
    assert_eq!(other.requested(), u64::MAX, "other is asked for everything");
    main.emit(1); // other has not emitted: dropped
    other.emit("a");
    other.emit("b");
    main.emit(2);
    other.emit("c");
    main.emit(3);
    probe.assert_values(&["b2".to_string(), "c3".into()]);
    other.complete(); // its last value stays
    main.emit(4);
    main.complete();
    probe.assert_values(&["b2".to_string(), "c3".into(), "c4".into()]);
    assert!(probe.is_complete());
}

#[test]
fn with_latest_from_passes_demand_through_and_makes_up_for_dropped_elements() {
    // The plain path: each element dropped before `other`'s first costs a request(1).
    let main = Manual::<u64>::new();
    let other = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(0);
    main.clone()
        .with_latest_from(other.clone(), |a, b| a + b)
        .subscribe(probe.clone());
    probe.request(2);
    assert_eq!(main.log().requests(), vec![2]);
    main.next(0);
    main.next(1);
    assert_eq!(
        main.log().requests(),
        vec![2, 1, 1],
        "two dropped, two replacements"
    );
    other.emit(100);
    main.next(2);
    main.next(3);
    probe.assert_values(&[102, 103]);
    assert_eq!(
        main.requested(),
        4,
        "the downstream's 2 and the 2 made up for"
    );

    // The conditional path: a dropped element uses no demand, so nothing more is asked.
    let (main, log) = spy(source::range(0, 10));
    let other = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(0);
    main.with_latest_from(other.clone(), |a, b| a + b)
        .subscribe(probe.clone());
    probe.request(3);
    assert!(
        probe.values().is_empty(),
        "all ten dropped: other is silent"
    );
    assert!(probe.is_complete());
    assert_eq!(log.requests(), vec![3]);
}

#[test]
fn with_latest_from_completes_when_other_completes_without_emitting() {
    let main = Upstream::never_completing(100);
    let probe = TestSubscriber::new(0);
    main.clone()
        .with_latest_from(source::empty::<u64>(), |a, b| a + b)
        .subscribe(probe.clone());
    assert!(probe.is_complete());
    assert!(main.is_cancelled() || main.stats().subscriptions == 0);
}

#[test]
fn an_error_of_other_fails_with_latest_from_at_once_and_cancels_the_upstream() {
    let main = Upstream::never_completing(100);
    let other = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(0);
    main.clone()
        .with_latest_from(other.clone(), |a, b| a + b)
        .subscribe(probe.clone());
    other.fail(Error::msg("other broke"));
    assert_eq!(probe.error().unwrap().to_string(), "other broke");
    assert!(main.is_cancelled());
}

#[test]
fn a_panic_in_with_latest_froms_closure_fails_the_stream_and_cancels_both() {
    let main = Upstream::never_completing(10);
    let other = Upstream::never_completing(1);
    let probe = TestSubscriber::new(u64::MAX);
    main.clone()
        .with_latest_from(other.clone(), |a, _| {
            if *a == 3 {
                panic!("label bug")
            }
            *a
        })
        .subscribe(probe.clone());
    probe.assert_values(&[0, 1, 2]);
    assert_panic_error(&probe.error().unwrap(), "with_latest_from", "label bug");
    assert!(main.is_cancelled() && other.is_cancelled());
}

// ===== take_until =====

#[test]
fn take_until_keeps_the_protocol() {
    let taken = |n| source::range(0, n).take_until(source::never::<()>());
    zero_demand_emits_nothing(taken);
    partial_demand_is_exact(taken);
    reentrant_request_one_from_on_next_runs_to_completion(taken);
    concurrent_requests_deliver_everything_once_in_order(taken);
    request_zero_fails_the_stream_with_rule_3_9(taken);
    demand_overflowing_u64_is_unbounded(taken);
    an_empty_upstream_completes_without_demand(taken);
    upstream_error_passes_through_without_demand(|up| up.take_until(source::never::<()>()));
    cancel_mid_stream_cancels_upstream_and_releases_the_subscriber(|up| {
        up.take_until(source::never::<()>())
    });
}

#[test]
fn take_until_completes_when_other_emits_and_cancels_both() {
    let main = Upstream::never_completing(1_000);
    let stop = TestPublisher::<()>::new();
    let probe = TestSubscriber::new(3);
    main.clone()
        .take_until(stop.clone())
        .subscribe(probe.clone());
    probe.assert_values(&[0, 1, 2]);
    assert_eq!(
        stop.requested(),
        1,
        "other is asked for its first element only"
    );
    stop.emit(());
    assert!(probe.is_complete(), "at once, without demand");
    assert!(main.is_cancelled());
    assert!(stop.is_cancelled());
    probe.request(10);
    probe.assert_values(&[0, 1, 2]);
}

#[test]
fn take_until_passes_demand_through_exactly() {
    let main = Upstream::never_completing(1_000);
    let probe = TestSubscriber::new(0);
    main.clone()
        .take_until(source::never::<()>())
        .subscribe(probe.clone());
    assert_eq!(main.requested(), 0, "nothing fetched ahead");
    probe.request(2);
    probe.request(5);
    assert_eq!(main.stats().requests, vec![2, 5]);
    assert_eq!(probe.count(), 7);
}

#[test]
fn take_until_runs_to_the_upstreams_end_when_other_completes_without_emitting() {
    let taken = source::range(0, 4).take_until(source::empty::<()>());
    assert_eq!(sink::collect(&taken).unwrap(), vec![0, 1, 2, 3]);
}

#[test]
fn take_until_with_an_other_that_emits_at_once_completes_empty() {
    let main = Upstream::emitting(10);
    let taken = main.clone().take_until(source::just(()));
    assert!(sink::collect(&taken).unwrap().is_empty());
    assert_eq!(main.emitted(), 0);
}

#[test]
fn an_error_of_other_fails_take_until_and_cancels_the_upstream() {
    let main = Upstream::never_completing(1_000);
    let probe = TestSubscriber::new(1);
    main.clone()
        .take_until(source::fail::<()>(Error::msg("stop broke")))
        .subscribe(probe.clone());
    assert_eq!(probe.error().unwrap().to_string(), "stop broke");
    assert!(probe.values().is_empty());
}

// ===== merge_delay_error =====

#[test]
fn merge_delay_error_keeps_the_protocol() {
    let merged = |n| source::range(0, n).merge_delay_error(source::empty());
    zero_demand_emits_nothing(merged);
    partial_demand_is_exact(merged);
    reentrant_request_one_from_on_next_runs_to_completion(merged);
    concurrent_requests_deliver_everything_once_in_order(merged);
    request_zero_fails_the_stream_with_rule_3_9(merged);
    demand_overflowing_u64_is_unbounded(merged);
    an_empty_upstream_completes_without_demand(merged);
    upstream_error_passes_through_without_demand(|up| up.merge_delay_error(source::empty()));
}

#[test]
fn merge_delay_error_delivers_every_other_sources_elements_before_the_error() {
    let failing = Upstream::failing_after(2, Error::msg("one broke"));
    let probe = TestSubscriber::new(0);
    failing
        .merge_delay_error(source::range(100, 3))
        .subscribe(probe.clone());
    assert!(
        !probe.is_terminated(),
        "the other source's elements come first"
    );
    probe.request(4);
    assert!(!probe.is_terminated());
    probe.request(1);
    let mut values = probe.values();
    values.sort();
    assert_eq!(values, vec![0, 1, 100, 101, 102]);
    let error = probe.error().expect("then the error");
    assert_eq!(error.to_string(), "one broke", "one error passes as it is");
    assert_eq!(error.kind(), ErrorKind::Other);
}

#[test]
fn merge_delay_error_with_several_errors_fails_with_the_first_and_counts_the_others() {
    let merged = source::fail::<u64>(Error::msg("first"))
        .merge_delay_error(source::range(0, 2))
        .merge_delay_error(source::fail(Error::timeout("second")))
        .merge_delay_error(source::fail(Error::msg("third")));
    let probe = TestSubscriber::new(u64::MAX);
    merged.subscribe(probe.clone());
    assert_eq!(probe.count(), 2);
    let error = probe.error().unwrap();
    assert_eq!(error.stage(), Some("merge_delay_error"));
    assert_eq!(error.message(), "first (and 2 more errors)");
    let composite = error
        .downcast_ref::<CompositeError>()
        .expect("every error, in a CompositeError");
    let messages: Vec<_> = composite.errors().iter().map(|e| e.to_string()).collect();
    assert_eq!(messages, vec!["first", "second", "third"]);
    assert_eq!(composite.errors()[1].kind(), ErrorKind::Timeout);
}

#[test]
fn merge_delay_error_again_adds_a_source_instead_of_nesting() {
    let mut merged = source::range(0, 1).merge_delay_error(source::range(1, 1));
    for i in 2..10_000 {
        merged = merged.merge_delay_error(source::range(i, 1));
    }
    assert!(format!("{merged:?}").contains("sources: 10000"));
    // One operator: subscribing and emitting do not recurse per source.
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || sink::collect(&merged).unwrap().len())
        .unwrap();
    assert_eq!(handle.join().unwrap(), 10_000);
}

#[test]
fn rule_3_12_cancelling_merge_delay_error_cancels_every_source() {
    let a = Upstream::never_completing(100);
    let b = Upstream::never_completing(100);
    let probe = TestSubscriber::new(1);
    let (subscriber, weak) = track(probe.clone());
    a.clone().merge_delay_error(b.clone()).subscribe(subscriber);
    probe.cancel();
    assert!(a.is_cancelled() && b.is_cancelled());
    assert!(released(&weak));
}

// ===== buffer_skip =====

#[test]
fn buffer_skip_keeps_the_protocol() {
    let probe = TestSubscriber::new(0);
    source::range(0, 10)
        .buffer_skip(3, 2)
        .subscribe(probe.clone());
    probe.request(0);
    assert_eq!(probe.error().unwrap().rule(), Some("3.9"));

    let up = Upstream::never_completing(1_000);
    let probe = TestSubscriber::new(2);
    let (subscriber, weak) = track(probe.clone());
    up.clone().buffer_skip(3, 2).subscribe(subscriber);
    assert_eq!(probe.count(), 2);
    probe.cancel();
    assert!(up.is_cancelled());
    assert!(released(&weak), "§3.13");
}

#[test]
fn buffer_skip_overlaps_when_skip_is_less_than_size() {
    let windows = source::range(0, 6).buffer_skip(3, 2);
    assert_eq!(
        sink::collect(&windows).unwrap(),
        vec![vec![0, 1, 2], vec![2, 3, 4], vec![4, 5]]
    );
}

#[test]
fn buffer_skip_leaves_gaps_when_skip_is_more_than_size() {
    let samples = source::range(0, 10).buffer_skip(2, 4);
    assert_eq!(
        sink::collect(&samples).unwrap(),
        vec![vec![0, 1], vec![4, 5], vec![8, 9]]
    );
}

#[test]
fn buffer_skip_with_equal_size_and_skip_is_buffer() {
    let p = source::range(0, 7);
    assert_eq!(
        sink::collect(&p.buffer_skip(3, 3)).unwrap(),
        sink::collect(&p.buffer(3)).unwrap()
    );
}

#[test]
fn buffer_skip_asks_for_size_plus_n_minus_one_skips_first_then_n_skips() {
    let up = Upstream::emitting(1_000);
    let probe = TestSubscriber::new(0);
    up.clone().buffer_skip(5, 2).subscribe(probe.clone());
    assert_eq!(up.requested(), 0);
    probe.request(3);
    assert_eq!(up.stats().requests, vec![5 + 2 * 2]);
    assert_eq!(
        probe.values(),
        vec![
            vec![0, 1, 2, 3, 4],
            vec![2, 3, 4, 5, 6],
            vec![4, 5, 6, 7, 8]
        ]
    );
    probe.request(2);
    assert_eq!(up.stats().requests, vec![9, 4]);
    assert_eq!(probe.count(), 5);
    assert_eq!(probe.values()[4], vec![8, 9, 10, 11, 12]);

    // With gaps: 2 + (n - 1) × 3, then n × 3.
    let up = Upstream::emitting(1_000);
    let probe = TestSubscriber::new(0);
    up.clone().buffer_skip(2, 3).subscribe(probe.clone());
    probe.request(4);
    probe.request(1);
    assert_eq!(up.stats().requests, vec![2 + 3 * 3, 3]);
    assert_eq!(probe.count(), 5);
}

#[test]
fn buffer_skip_demand_saturates_to_unbounded() {
    let up = Upstream::emitting(10);
    let probe = TestSubscriber::new(u64::MAX / 2);
    up.clone().buffer_skip(4, 3).subscribe(probe.clone());
    assert_eq!(up.requested(), u64::MAX);
    probe.request(u64::MAX / 2);
    assert!(probe.is_complete());
    assert_eq!(
        probe.values(),
        vec![
            vec![0, 1, 2, 3],
            vec![3, 4, 5, 6],
            vec![6, 7, 8, 9],
            vec![9]
        ]
    );
}

#[test]
fn buffer_skip_sends_the_partial_buffers_at_completion_as_demand_allows() {
    let up = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(1);
    up.clone().buffer_skip(3, 1).subscribe(probe.clone());
    assert_eq!(up.requested(), 3);
    for x in 0..3 {
        up.emit(x);
    }
    probe.assert_values(&[vec![0, 1, 2]]);
    up.complete();
    // Two partial buffers are left, [1, 2] and [2]: one at a time, as they are asked for.
    assert!(!probe.is_terminated());
    probe.request(1);
    probe.assert_values(&[vec![0, 1, 2], vec![1, 2]]);
    assert!(!probe.is_terminated());
    probe.request(1);
    probe.assert_values(&[vec![0, 1, 2], vec![1, 2], vec![2]]);
    assert!(probe.is_complete());
    probe.assert_no_violations();
}

#[test]
fn buffer_skip_delivers_full_buffers_then_the_error_and_drops_the_partial_ones() {
    let up = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(u64::MAX);
    up.clone().buffer_skip(2, 1).subscribe(probe.clone());
    for x in 0..3 {
        up.emit(x);
    }
    up.fail(Error::msg("broke"));
    probe.assert_values(&[vec![0, 1], vec![1, 2]]);
    assert_eq!(probe.error().unwrap().to_string(), "broke");
}

#[test]
#[should_panic(expected = "size must be at least 1 (valid range 1..=usize::MAX), got 0")]
fn buffer_skip_rejects_a_size_of_zero_when_built() {
    let _ = source::range(0, 3).buffer_skip(0, 1);
}

#[test]
#[should_panic(expected = "skip must be at least 1 (valid range 1..=usize::MAX), got 0")]
fn buffer_skip_rejects_a_skip_of_zero_when_built() {
    let _ = source::range(0, 3).buffer_skip(2, 0);
}

#[test]
fn each_subscription_of_buffer_skip_cuts_afresh() {
    let windows = source::range(0, 4).buffer_skip(2, 1);
    let expected = vec![vec![0, 1], vec![1, 2], vec![2, 3], vec![3]];
    assert_eq!(sink::collect(&windows).unwrap(), expected);
    assert_eq!(sink::collect(&windows).unwrap(), expected);
}
