//! flat_map, merge, merge_all and concat: exactly-once delivery, fairness, bounded concurrency
//! and prefetch, errors and cancel.

mod common;

use std::time::Duration;

use common::*;
use proptest::prelude::*;
use rstreams_core::{sink, source, BoxPublisher, Error, ErrorKind, Publisher};
use rstreams_ops::{merge_all, PublisherExt};
use rstreams_tck::{TestPublisher, TestSubscriber, Upstream};

#[test]
fn the_protocol_holds_with_one_inner_at_a_time() {
    let one_at_a_time = |n: u64| source::range(0, n).flat_map(source::just, 1, 4);
    zero_demand_emits_nothing(one_at_a_time);
    partial_demand_is_exact(one_at_a_time);
    reentrant_request_one_from_on_next_runs_to_completion(one_at_a_time);
    concurrent_requests_deliver_everything_once_in_order(one_at_a_time);
    request_zero_fails_the_stream_with_rule_3_9(one_at_a_time);
    demand_overflowing_u64_is_unbounded(one_at_a_time);
    upstream_error_passes_through_without_demand(|f| f.flat_map(source::just, 2, 4));
    an_empty_upstream_completes_without_demand(one_at_a_time);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]

    /// Every element of every inner arrives exactly once, never beyond demand, whatever the
    /// demand schedule, concurrency and prefetch.
    #[test]
    fn flat_map_delivers_every_element_exactly_once_under_random_demand(
        outer in 0u64..12,
        inner in 0u64..12,
        concurrency in 1usize..5,
        prefetch in 1usize..6,
        requests in proptest::collection::vec(1u64..7, 1..40),
    ) {
        let p = source::range(0, outer)
            .flat_map(move |x| source::range(x * 100, inner), concurrency, prefetch);
        let probe = TestSubscriber::new(0);
        p.subscribe(probe.clone());
        let mut asked = 0u64;
        for r in requests {
            probe.request(r);
            asked += r;
            prop_assert!(probe.count() as u64 <= asked);
        }
        probe.request(u64::MAX);
        prop_assert!(probe.await_terminal(WAIT));
        prop_assert!(probe.is_complete());
        let mut got = probe.values();
        got.sort();
        let mut expected: Vec<u64> =
            (0..outer).flat_map(|x| (0..inner).map(move |i| x * 100 + i)).collect();
        expected.sort();
        prop_assert_eq!(got, expected);
        prop_assert!(probe.violations().is_empty(), "{:?}", probe.violations());
    }

    /// merge_all of sources of random sizes: every element once, never beyond demand.
    #[test]
    fn merge_delivers_every_element_exactly_once_under_random_demand(
        sizes in proptest::collection::vec(0u64..15, 0..5),
        prefetch in 1usize..5,
        requests in proptest::collection::vec(1u64..9, 1..30),
    ) {
        let sources: Vec<_> = sizes
            .iter()
            .enumerate()
            .map(|(k, &n)| source::range(k as u64 * 1_000, n))
            .collect();
        let probe = TestSubscriber::new(0);
        merge_all(sources, prefetch).subscribe(probe.clone());
        let mut asked = 0u64;
        for r in requests {
            probe.request(r);
            asked += r;
            prop_assert!(probe.count() as u64 <= asked);
        }
        probe.request(u64::MAX);
        prop_assert!(probe.await_terminal(WAIT));
        let mut got = probe.values();
        got.sort();
        let mut expected: Vec<u64> = sizes
            .iter()
            .enumerate()
            .flat_map(|(k, &n)| (0..n).map(move |i| k as u64 * 1_000 + i))
            .collect();
        expected.sort();
        prop_assert_eq!(got, expected);
        prop_assert!(probe.violations().is_empty(), "{:?}", probe.violations());
    }
}

#[test]
fn an_always_ready_inner_does_not_starve_a_slow_one() {
    // One endless synchronous inner, one slow inner fed by hand. Each element the slow inner
    // emits must go out within a couple of elements of the fast one, not after it "finishes".
    let slow = TestPublisher::<u64>::new();
    let fast = source::range(0, u64::MAX).map(|x| x + 1_000_000);
    let merged = fast.merge(slow.clone());
    let probe = TestSubscriber::new(0);
    merged.subscribe(probe.clone());
    for k in 0..20u64 {
        assert!(slow.await_requested(k + 1, WAIT));
        slow.emit(k);
        let before = probe.count();
        // Request one at a time until the slow element shows up.
        let mut waited = 0;
        while !probe.values()[before..].contains(&k) {
            probe.request(1);
            waited += 1;
            assert!(
                waited <= 3,
                "the slow inner's element {k} waited behind {waited} fast ones"
            );
        }
    }
    probe.cancel();
    assert!(slow.is_cancelled());
    probe.assert_no_violations();
}

#[test]
fn at_most_max_concurrency_inners_run_at_once() {
    // Inners that never complete: only max_concurrency of them are ever subscribed.
    let outer = Upstream::emitting(100);
    let inners: std::sync::Arc<std::sync::Mutex<Vec<Upstream>>> = Default::default();
    let i = inners.clone();
    let p = outer.clone().flat_map(
        move |_| {
            let up = Upstream::never_completing(1_000);
            i.lock().unwrap().push(up.clone());
            up
        },
        3,
        4,
    );
    let probe = TestSubscriber::new(u64::MAX);
    p.subscribe(probe.clone());
    assert!(probe.await_count(12, WAIT));
    probe.assert_no_more_within(QUIET);
    assert_eq!(
        outer.stats().requests,
        vec![3],
        "outer asked for max_concurrency only"
    );
    let inners = inners.lock().unwrap();
    assert_eq!(inners.len(), 3);
    // Each inner was asked for its prefetch, then replenished by 3 (4 - 4/4) per 3 consumed.
    for up in inners.iter() {
        assert!(up.requested() - up.emitted() <= 4, "{:?}", up.stats());
    }
    probe.cancel();
    assert!(outer.is_cancelled());
    assert!(
        inners.iter().all(Upstream::is_cancelled),
        "cancel reaches every inner"
    );
}

#[test]
fn a_finished_inner_makes_room_for_the_next() {
    let outer = Upstream::emitting(5);
    let p = outer.clone().flat_map(|x| source::range(x * 10, 2), 2, 2);
    let all = sink::collect(&p).unwrap();
    assert_eq!(all.len(), 10);
    // The outer is asked for max_concurrency, then for one more per finished inner (several
    // finishing in one sweep are asked for together): never more than 2 at a time, and at
    // most 2 + 5 in all.
    let requests = outer.stats().requests;
    assert_eq!(requests[0], 2, "{requests:?}");
    assert!(requests.iter().all(|&r| r <= 2), "{requests:?}");
    assert!(requests.iter().sum::<u64>() <= 7, "{requests:?}");
}

#[test]
fn an_inner_error_cancels_the_others_and_goes_downstream_at_once() {
    let healthy = Upstream::never_completing(1_000);
    let h = healthy.clone();
    let p = source::range(0, 2).flat_map(
        move |x| {
            if x == 0 {
                h.clone().boxed()
            } else {
                source::fail::<u64>(Error::msg("inner broke")).boxed()
            }
        },
        2,
        4,
    );
    let probe = TestSubscriber::new(0);
    p.subscribe(probe.clone());
    assert!(probe.await_terminal(WAIT));
    assert_eq!(probe.error().unwrap().to_string(), "inner broke");
    assert!(healthy.is_cancelled());
}

#[test]
fn a_panic_in_the_mapper_becomes_on_error_and_cancels_upstream() {
    let outer = Upstream::never_completing(10);
    let p = outer.clone().flat_map(
        |x: u64| {
            if x == 1 {
                panic!("no publisher for {x}")
            }
            source::just(x)
        },
        1,
        2,
    );
    let probe = TestSubscriber::new(u64::MAX);
    p.subscribe(probe.clone());
    assert!(probe.await_terminal(WAIT));
    let error = probe.error().unwrap();
    assert_panic_error(&error, "flat_map", "no publisher for 1");
    assert_eq!(error.kind(), ErrorKind::Panic);
    assert!(outer.is_cancelled());
    probe.assert_values(&[0]);
}

#[test]
fn cancel_releases_the_downstream_subscriber() {
    let outer = Upstream::never_completing(10);
    let probe = TestSubscriber::new(1);
    let (subscriber, weak) = track(probe.clone());
    outer
        .clone()
        .flat_map(|x| source::range(x, 100), 2, 4)
        .subscribe(subscriber);
    assert!(probe.await_count(1, WAIT));
    probe.cancel();
    assert!(outer.is_cancelled());
    assert!(released(&weak), "§3.13");
}

#[test]
fn concat_keeps_order_and_subscribes_the_second_only_after_the_first() {
    let second = Upstream::emitting(2);
    let probe = TestSubscriber::new(3);
    source::range(0, 3)
        .concat(second.clone())
        .subscribe(probe.clone());
    probe.assert_values(&[0, 1, 2]);
    probe.request(10);
    assert!(probe.await_terminal(WAIT));
    probe.assert_values(&[0, 1, 2, 0, 1]);
    assert_eq!(second.stats().subscriptions, 1);

    let second = Upstream::emitting(2);
    let probe = TestSubscriber::<u64>::new(10);
    source::fail::<u64>(Error::msg("first broke"))
        .concat(second.clone())
        .subscribe(probe.clone());
    assert!(probe.await_terminal(WAIT));
    assert_eq!(second.stats().subscriptions, 0, "nothing after an error");
}

#[test]
fn merge_of_nothing_completes_at_once() {
    let probe = TestSubscriber::<u64>::new(0);
    merge_all(Vec::<source::Range>::new(), 4).subscribe(probe.clone());
    assert!(probe.await_terminal(Duration::from_secs(1)));
    assert!(probe.is_complete());
}

#[test]
#[should_panic(expected = "max_concurrency must be at least 1")]
fn a_max_concurrency_of_zero_is_rejected_when_built() {
    let _ = source::range(0, 1).flat_map(source::just, 0, 4);
}

#[test]
#[should_panic(expected = "prefetch must be at least 1")]
fn a_prefetch_of_zero_is_rejected_when_built() {
    let _ = source::range(0, 1).flat_map(source::just, 1, 0);
}

#[test]
fn an_inner_error_cancels_the_outer_and_the_other_sources() {
    // The error ends the stream at once, and the sources still running are cancelled.
    let live = Upstream::never_completing(100);
    let probe = TestSubscriber::new(u64::MAX);
    live.clone()
        .merge(source::fail(Error::msg("broke")))
        .subscribe(probe.clone());
    assert_eq!(probe.error().unwrap().to_string(), "broke");
    assert!(live.is_cancelled());
    // flat_map: an inner's error cancels the outer too.
    let outer = Upstream::never_completing(100);
    let probe = TestSubscriber::new(u64::MAX);
    outer
        .clone()
        .flat_map(
            |x| -> BoxPublisher<u64> {
                if x == 1 {
                    source::fail(Error::msg("inner broke")).boxed()
                } else {
                    source::just(x).boxed()
                }
            },
            2,
            4,
        )
        .subscribe(probe.clone());
    assert_eq!(probe.error().unwrap().to_string(), "inner broke");
    assert!(outer.is_cancelled(), "the outer was left running");
}
