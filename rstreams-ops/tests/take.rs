//! `take(n)`: the first `n` elements, total upstream demand capped at `n`.

mod common;

use common::*;
use rstreams_core::{sink, source, Error, Publisher};
use rstreams_ops::PublisherExt;
use rstreams_tck::TestSubscriber;

#[test]
fn emits_the_first_n_then_completes_and_cancels_upstream() {
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::new(u64::MAX);
    upstream.take(4).subscribe(probe.clone());
    probe.assert_values(&[0, 1, 2, 3]);
    assert!(probe.is_complete());
    assert_eq!(log.cancels(), 1);
    probe.assert_no_violations();
}

#[test]
fn total_upstream_demand_is_capped_at_n_under_unbounded_demand() {
    let (upstream, log) = spy(source::range(0, 100));
    sink::collect(&upstream.take(3)).unwrap();
    assert_eq!(log.requests(), vec![3]);
}

#[test]
fn total_upstream_demand_is_capped_at_n_over_many_requests() {
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::new(2);
    upstream.take(5).subscribe(probe.clone());
    probe.request(2);
    probe.request(10); // only 1 is left of the 5
    probe.request(10); // nothing is left: not forwarded
    probe.assert_values(&[0, 1, 2, 3, 4]);
    assert!(probe.is_complete());
    assert_eq!(log.requests(), vec![2, 2, 1]);
    assert_eq!(log.total_requested(), 5);
}

#[test]
fn total_upstream_demand_stays_capped_under_concurrent_requests() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::<u64>::new(0);
    upstream.clone().take(1_000).subscribe(probe.clone());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let probe = probe.clone();
            std::thread::spawn(move || {
                for _ in 0..1_000 {
                    probe.request(1);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(upstream.requested(), 1_000);
}

#[test]
fn take_zero_completes_at_once_and_cancels_upstream_without_requesting() {
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::<u64>::new(0);
    upstream.take(0).subscribe(probe.clone());
    assert!(probe.is_complete());
    assert_eq!(probe.count(), 0);
    assert_eq!(log.cancels(), 1);
    probe.request(5);
    assert!(log.requests().is_empty());
    probe.assert_no_violations();
}

#[test]
fn a_shorter_upstream_completes_normally() {
    assert_eq!(
        sink::collect(&source::range(0, 3).take(10)).unwrap(),
        vec![0, 1, 2]
    );
}

#[test]
fn completes_with_the_nth_element_without_further_demand() {
    let probe = TestSubscriber::new(3);
    source::range(0, 100).take(3).subscribe(probe.clone());
    assert!(
        probe.is_complete(),
        "no extra request needed to see the end"
    );
}

#[test]
fn a_downstream_that_cancels_on_the_last_element_gets_no_completion() {
    let probe = TestSubscriber::new(10).cancel_after(3);
    source::range(0, 100).take(3).subscribe(probe.clone());
    probe.assert_values(&[0, 1, 2]);
    assert!(!probe.is_complete());
    probe.assert_no_violations();
}

#[test]
fn zero_demand_emits_nothing() {
    common::zero_demand_emits_nothing(|n| source::range(0, n).take(u64::MAX));
}

#[test]
fn partial_demand_is_exact() {
    common::partial_demand_is_exact(|n| source::range(0, n).take(1_000));
}

#[test]
fn reentrant_request_one_from_on_next_runs_to_completion() {
    common::reentrant_request_one_from_on_next_runs_to_completion(|n| source::range(0, n).take(n));
}

#[test]
fn concurrent_requests_deliver_everything_once_in_order() {
    common::concurrent_requests_deliver_everything_once_in_order(|n| {
        source::range(0, n).take(u64::MAX)
    });
}

#[test]
fn cancel_mid_stream_cancels_upstream_and_releases_the_subscriber() {
    common::cancel_mid_stream_cancels_upstream_and_releases_the_subscriber(|up| up.take(500));
}

#[test]
fn request_zero_fails_the_stream_with_rule_3_9() {
    common::request_zero_fails_the_stream_with_rule_3_9(|n| source::range(0, n).take(5));
}

#[test]
fn demand_overflowing_u64_is_unbounded() {
    common::demand_overflowing_u64_is_unbounded(|n| source::range(0, n).take(u64::MAX));
}

#[test]
fn upstream_error_passes_through_without_demand() {
    common::upstream_error_passes_through_without_demand(|up| up.take(5));
}

#[test]
fn an_upstream_error_before_n_passes_through_at_once() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(5);
    upstream.clone().take(5).subscribe(probe.clone());
    upstream.next(7);
    upstream.error(Error::msg("cut"));
    probe.assert_values(&[7]);
    assert_eq!(probe.error().unwrap().to_string(), "cut");
    probe.assert_no_violations();
}

#[test]
fn the_subscriber_is_released_after_completion() {
    let probe = TestSubscriber::new(u64::MAX);
    let (subscriber, weak) = track(probe.clone());
    source::range(0, 100).take(2).subscribe(subscriber);
    assert!(probe.is_complete());
    assert!(released(&weak));
}

#[test]
fn an_empty_upstream_completes_without_demand() {
    common::an_empty_upstream_completes_without_demand(|n| source::range(0, n).take(5));
}

#[test]
fn rule_3_6_requests_and_cancels_after_the_upstreams_end_are_not_forwarded() {
    // The upstream completes with 2 of the 5 elements take allows.
    let (upstream, log) = spy(source::range(0, 2));
    let probe = TestSubscriber::new(2);
    upstream.take(5).subscribe(probe.clone());
    probe.assert_values(&[0, 1]);
    assert!(probe.is_complete());
    probe.request(3);
    probe.cancel();
    assert_eq!(log.requests(), vec![2], "§3.6: nothing after the end");
    assert_eq!(
        log.cancels(),
        0,
        "§3.6: the ended upstream is not cancelled"
    );
}

#[test]
fn rule_3_6_and_3_7_after_a_cancel_requests_do_nothing_and_the_upstream_is_cancelled_once() {
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::new(1);
    upstream.take(5).subscribe(probe.clone());
    probe.cancel();
    probe.cancel();
    probe.request(2);
    probe.assert_values(&[0]);
    assert_eq!(log.requests(), vec![1], "§3.6");
    assert_eq!(log.cancels(), 1, "§3.7");
}

/// `take` below a source (`wanted` asked by its engine) emits exactly what it takes, under
/// unbounded demand, with or without a filter in between; `inspect` counts what the source
/// emitted.
#[test]
fn below_a_source_the_source_emits_no_more_than_take_lets_through() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    let emitted = Arc::new(AtomicU64::new(0));
    let e = emitted.clone();
    let firsts = source::range(0, 1_000_000)
        .inspect(move |_| {
            e.fetch_add(1, Ordering::Relaxed);
        })
        .take(3);
    assert_eq!(sink::collect(&firsts).unwrap(), vec![0, 1, 2]);
    assert_eq!(emitted.load(Ordering::Relaxed), 3);

    let emitted = Arc::new(AtomicU64::new(0));
    let e = emitted.clone();
    let evens = source::range(0, 1_000_000)
        .inspect(move |_| {
            e.fetch_add(1, Ordering::Relaxed);
        })
        .filter(|x| x % 2 == 0)
        .take(3)
        .take(10);
    assert_eq!(sink::collect(&evens).unwrap(), vec![0, 2, 4]);
    assert_eq!(
        emitted.load(Ordering::Relaxed),
        5,
        "0..=4: the dropped ones are made up for, nothing beyond"
    );
}

#[test]
fn below_a_source_partial_demand_is_exact_and_the_stream_completes_with_the_nth() {
    let probe = TestSubscriber::new(2);
    source::range(0, 100).take(5).subscribe(probe.clone());
    probe.assert_values(&[0, 1]);
    assert!(!probe.is_complete());
    probe.request(2);
    probe.assert_values(&[0, 1, 2, 3]);
    probe.request(100);
    probe.assert_values(&[0, 1, 2, 3, 4]);
    assert!(probe.is_complete());
    // Passed through, the source's own subscription ignores calls after its end (§3.6).
    probe.request(5);
    probe.cancel();
    probe.assert_values(&[0, 1, 2, 3, 4]);
    probe.assert_no_violations();
}

#[test]
fn below_a_source_on_another_thread_take_stops_it_at_n() {
    let pool = rstreams_core::scheduler::ThreadPool::new(2);
    let firsts = source::range(0, 1_000_000)
        .subscribe_on(pool.clone())
        .publish_on(pool, 16)
        .take(20);
    assert!(sink::collect(&firsts).unwrap().into_iter().eq(0..20));
}
