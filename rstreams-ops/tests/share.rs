//! share: one subscription to the source for all subscribers, made at the first and cancelled
//! when the last leaves; the slowest subscriber holds back the others; late subscribers join
//! the live stream; after the end or the last cancel the next subscriber reconnects.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use rstreams_core::{sink, source, Error, Publisher};
use rstreams_ops::PublisherExt;
use rstreams_tck::{TestPublisher, TestSubscriber};

/// A cold source of `0..n` that counts its subscriptions.
fn counted(n: u64) -> (impl Publisher<Item = u64> + Clone, Arc<AtomicUsize>) {
    let subscriptions = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&subscriptions);
    let source = source::defer(move || {
        count.fetch_add(1, Ordering::SeqCst);
        source::range(0, n)
    });
    (source, subscriptions)
}

#[test]
fn the_first_subscriber_subscribes_the_source_and_later_ones_join_that_subscription() {
    let input = TestPublisher::<u32>::new();
    let shared = input.clone().share();
    assert!(
        !input.has_subscriber(),
        "nothing is subscribed before the first subscriber"
    );
    let (a, b) = (TestSubscriber::new(10), TestSubscriber::new(10));
    shared.subscribe(a.clone());
    assert!(input.has_subscriber());
    shared.subscribe(b.clone()); // a second TestPublisher subscription would be rejected
    assert_eq!(shared.subscribers(), 2);
    input.emit(1);
    input.emit(2);
    a.assert_values(&[1, 2]);
    b.assert_values(&[1, 2]);
    input.complete();
    assert!(a.is_complete() && b.is_complete());
    a.assert_no_violations();
    b.assert_no_violations();
}

#[test]
fn a_late_subscriber_receives_only_the_elements_that_arrive_after_it_subscribed() {
    let input = TestPublisher::<u32>::new();
    let shared = input.clone().share();
    let (early, late) = (TestSubscriber::new(10), TestSubscriber::new(10));
    shared.subscribe(early.clone());
    input.emit(1);
    input.emit(2);
    shared.subscribe(late.clone());
    input.emit(3);
    early.assert_values(&[1, 2, 3]);
    late.assert_values(&[3]);
}

#[test]
fn rule_1_1_the_slowest_subscriber_holds_back_the_others() {
    let input = TestPublisher::<u32>::new();
    let shared = input.clone().share();
    let (fast, slow) = (TestSubscriber::new(10), TestSubscriber::new(0));
    shared.subscribe(fast.clone());
    shared.subscribe(slow.clone());
    assert_eq!(
        input.requested(),
        10,
        "the first subscriber's demand went up alone"
    );
    for i in 0..10 {
        input.emit(i);
    }
    fast.assert_values(&(0..10).collect::<Vec<_>>());
    assert_eq!(slow.count(), 0, "§1.1: nothing without demand");
    fast.request(10);
    assert_eq!(
        input.requested(),
        10,
        "held back by the slower subscriber's zero demand"
    );
    slow.request(4);
    assert_eq!(input.requested(), 10, "the slower one is still behind");
    slow.request(16);
    assert_eq!(input.requested(), 20, "both asked for 20 in all");
    slow.assert_values(&(0..10).collect::<Vec<_>>());
    fast.assert_no_violations();
    slow.assert_no_violations();
}

#[test]
fn a_subscriber_that_leaves_no_longer_holds_the_others_back() {
    let input = TestPublisher::<u32>::new();
    let shared = input.clone().share();
    let (fast, slow) = (TestSubscriber::new(0), TestSubscriber::new(0));
    shared.subscribe(slow.clone());
    shared.subscribe(fast.clone());
    fast.request(5);
    assert_eq!(input.requested(), 0);
    slow.cancel();
    assert_eq!(input.requested(), 5);
    assert!(!input.is_cancelled(), "one subscriber is left");
}

#[test]
fn rule_3_12_when_the_last_subscriber_cancels_the_source_is_cancelled_and_the_subscribers_released()
{
    let input = TestPublisher::<u32>::new();
    let shared = input.clone().share();
    let (a, b) = (TestSubscriber::new(1), TestSubscriber::new(1));
    let (sub_a, weak_a) = track(a.clone());
    let (sub_b, weak_b) = track(b.clone());
    shared.subscribe(sub_a);
    shared.subscribe(sub_b);
    a.cancel();
    assert!(!input.is_cancelled());
    assert!(
        released(&weak_a),
        "§3.13: the cancelled subscriber is released"
    );
    b.cancel();
    assert!(input.is_cancelled(), "the count dropped to zero");
    assert!(released(&weak_b));
    assert_eq!(shared.subscribers(), 0);
}

#[test]
fn after_the_count_dropped_to_zero_the_next_subscriber_reconnects_and_a_cold_source_starts_over() {
    let (source, subscriptions) = counted(100);
    let shared = source.share();
    let first = TestSubscriber::new(3);
    shared.subscribe(first.clone());
    first.assert_values(&[0, 1, 2]);
    first.cancel();
    let second = TestSubscriber::new(2);
    shared.subscribe(second.clone());
    second.assert_values(&[0, 1]);
    assert_eq!(subscriptions.load(Ordering::SeqCst), 2);
}

#[test]
fn after_the_source_completed_the_next_subscriber_reconnects() {
    let (source, subscriptions) = counted(3);
    let shared = source.share();
    assert_eq!(sink::collect(&shared).unwrap(), vec![0, 1, 2]);
    assert_eq!(sink::collect(&shared).unwrap(), vec![0, 1, 2]);
    assert_eq!(subscriptions.load(Ordering::SeqCst), 2);
}

#[test]
fn rule_4_2_an_upstream_error_reaches_every_subscriber_after_the_elements_it_has_not_taken() {
    let input = TestPublisher::<u32>::new();
    let shared = input.clone().share();
    let (a, b) = (TestSubscriber::new(2), TestSubscriber::new(1));
    shared.subscribe(a.clone());
    shared.subscribe(b.clone());
    input.emit(1);
    input.fail(Error::msg("gone"));
    assert_eq!(
        a.error().unwrap().to_string(),
        "gone",
        "nothing left for it: at once"
    );
    b.assert_values(&[1]);
    assert_eq!(b.error().unwrap().to_string(), "gone");
    // Without demand at all, an error reaches a subscriber at once.
    upstream_error_passes_through_without_demand(|up| up.share());
}

#[test]
fn completion_reaches_every_subscriber_after_its_elements_as_its_demand_allows() {
    let input = TestPublisher::<u32>::new();
    let shared = input.clone().share();
    let (a, b) = (TestSubscriber::new(1), TestSubscriber::new(1));
    shared.subscribe(a.clone());
    shared.subscribe(b.clone());
    input.emit(1);
    input.complete();
    assert!(a.is_complete() && b.is_complete());
    an_empty_upstream_completes_without_demand(|n| source::range(0, n).share());
}

#[test]
fn rule_3_9_request_zero_fails_only_that_subscriber() {
    request_zero_fails_the_stream_with_rule_3_9(|n| source::range(0, n).share());
    let input = TestPublisher::<u32>::new();
    let shared = input.clone().share();
    let (good, bad) = (TestSubscriber::new(1), TestSubscriber::new(0));
    shared.subscribe(good.clone());
    shared.subscribe(bad.clone());
    bad.request(0);
    assert_eq!(bad.error().unwrap().rule(), Some("3.9"));
    assert_eq!(bad.error().unwrap().stage(), Some("share"));
    input.emit(7);
    good.assert_values(&[7]);
    assert!(!input.is_cancelled());
}

#[test]
fn rule_2_13_a_subscriber_that_panics_leaves_and_the_others_go_on() {
    let input = TestPublisher::<u32>::new();
    let shared = input.clone().share();
    let good = TestSubscriber::new(5);
    let bad = PanicsOnNext::new(5);
    let after = bad.signals_after_panic();
    shared.subscribe(good.clone());
    shared.subscribe(bad);
    input.emit(1); // the panic stops at the stage: the upstream's thread goes on
    input.emit(2);
    good.assert_values(&[1, 2]);
    assert_eq!(shared.subscribers(), 1);
    input.complete();
    assert_eq!(after.load(Ordering::SeqCst), 0);
}

#[test]
fn upstream_demand_never_runs_more_than_256_ahead_of_the_slowest_subscriber() {
    let (upstream, log) = spy(source::range(0, 10_000));
    let all = sink::collect(&upstream.share()).unwrap();
    assert!(all.into_iter().eq(0..10_000));
    let requests = log.requests();
    assert!(requests.iter().all(|&n| n <= 256), "{requests:?}");
    assert_eq!(requests[0], 256);
}

#[test]
fn partial_demand_is_exact_for_one_subscriber() {
    partial_demand_is_exact(|n| source::range(0, n).share());
}

#[test]
fn rule_3_3_a_request_from_on_next_does_not_recurse() {
    reentrant_request_one_from_on_next_runs_to_completion(|n| source::range(0, n).share());
}

#[test]
fn two_subscribers_requesting_from_four_threads_each_get_everything_once_in_order() {
    let shared = source::range(0, 20_000).share();
    let probes = [TestSubscriber::new(0), TestSubscriber::new(0)];
    for probe in &probes {
        shared.subscribe(probe.clone());
    }
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let probe = probes[i % 2].clone();
            std::thread::spawn(move || {
                for _ in 0..10_000 {
                    probe.request(1);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for probe in &probes {
        assert!(probe.await_terminal(WAIT), "stalled at {}", probe.count());
        assert!(probe.values().into_iter().eq(0..20_000));
        probe.assert_no_violations();
    }
}

#[test]
fn rule_1_1_an_upstream_that_ignores_demand_is_cancelled_and_every_subscriber_fails() {
    let upstream = Manual::<u64>::new();
    let shared = upstream.clone().share();
    let (a, b) = (TestSubscriber::new(1), TestSubscriber::new(1));
    shared.subscribe(a.clone());
    shared.subscribe(b.clone());
    upstream.next(0);
    upstream.next(1); // not requested
    assert!(upstream.is_cancelled());
    for probe in [&a, &b] {
        probe.assert_values(&[0]);
        assert_eq!(probe.error().unwrap().rule(), Some("1.1"));
    }
}

/// A subscriber that requests everything when subscribed and drops its subscription.
struct Forgetful(Arc<std::sync::Mutex<Vec<u64>>>);

impl rstreams_core::Subscriber<u64> for Forgetful {
    fn on_subscribe(&mut self, s: Arc<dyn rstreams_core::Subscription>) {
        s.request(u64::MAX);
    }
    fn on_next(&mut self, x: u64) {
        self.0.lock().unwrap().push(x);
    }
    fn on_error(&mut self, _: Error) {}
    fn on_complete(&mut self) {}
}

#[test]
fn a_subscriber_that_does_not_keep_its_subscription_still_receives_everything() {
    let upstream = Manual::<u64>::new();
    let shared = upstream.clone().share();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    shared.subscribe(Forgetful(Arc::clone(&seen)));
    emit_as_requested(&upstream, 0, 5);
    assert_eq!(*seen.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    assert!(!upstream.is_cancelled());
}
