//! `map(f)`: demand passes through, the fast path reaches the downstream, a panic in `f`
//! fails the stream.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use rstreams_core::{sink, source, Error, Publisher, Subscriber, Subscription};
use rstreams_ops::PublisherExt;
use rstreams_tck::TestSubscriber;

#[test]
fn maps_every_element_in_order() {
    let out = sink::collect(&source::range(0, 5).map(|x| format!("#{x}"))).unwrap();
    assert_eq!(out, vec!["#0", "#1", "#2", "#3", "#4"]);
}

#[test]
fn zero_demand_emits_nothing() {
    common::zero_demand_emits_nothing(|n| source::range(0, n).map(|x| x));
}

#[test]
fn zero_demand_requests_nothing_upstream() {
    let (upstream, log) = spy(source::range(0, 10));
    let probe = TestSubscriber::<u64>::new(0);
    upstream.map(|x| x).subscribe(probe.clone());
    assert!(log.requests().is_empty());
}

#[test]
fn partial_demand_is_exact() {
    common::partial_demand_is_exact(|n| source::range(0, n).map(|x| x));
}

#[test]
fn demand_passes_through_unchanged() {
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::new(3);
    upstream.map(|x| x * 2).subscribe(probe.clone());
    probe.request(7);
    probe.request(u64::MAX);
    assert!(probe.is_complete());
    assert_eq!(log.requests(), vec![3, 7, u64::MAX]);
}

/// Records the subscription it is given.
struct Grab(Arc<Mutex<Option<Arc<dyn Subscription>>>>);

impl Subscriber<u64> for Grab {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        *self.0.lock().unwrap() = Some(s);
    }
    fn on_next(&mut self, _: u64) {}
    fn on_error(&mut self, _: Error) {}
    fn on_complete(&mut self) {}
}

/// A publisher that hands out a known subscription.
struct Known(Arc<dyn Subscription>);

impl Publisher for Known {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
        subscriber.on_subscribe(Arc::clone(&self.0));
    }
}

#[test]
fn the_downstream_gets_the_upstream_subscription_itself_without_a_layer() {
    let upstream: Arc<dyn Subscription> = Arc::new(rstreams_core::NoopSubscription);
    let got = Arc::new(Mutex::new(None));
    Known(Arc::clone(&upstream))
        .map(|x| x + 1)
        .map(|x| x * 2)
        .subscribe(Grab(got.clone()));
    let got = got.lock().unwrap().clone().expect("subscribed");
    assert!(Arc::ptr_eq(&got, &upstream));
}

#[test]
fn reentrant_request_one_from_on_next_runs_to_completion() {
    common::reentrant_request_one_from_on_next_runs_to_completion(|n| {
        source::range(0, n).map(|x| x)
    });
}

#[test]
fn concurrent_requests_deliver_everything_once_in_order() {
    common::concurrent_requests_deliver_everything_once_in_order(|n| {
        source::range(0, n).map(|x| x)
    });
}

#[test]
fn cancel_mid_stream_cancels_upstream_and_releases_the_subscriber() {
    common::cancel_mid_stream_cancels_upstream_and_releases_the_subscriber(|up| up.map(|x| x));
}

#[test]
fn request_zero_fails_the_stream_with_rule_3_9() {
    common::request_zero_fails_the_stream_with_rule_3_9(|n| source::range(0, n).map(|x| x));
}

#[test]
fn demand_overflowing_u64_is_unbounded() {
    common::demand_overflowing_u64_is_unbounded(|n| source::range(0, n).map(|x| x));
}

#[test]
fn upstream_error_passes_through_without_demand() {
    common::upstream_error_passes_through_without_demand(|up| up.map(|x| x));
}

#[test]
fn an_upstream_error_after_elements_passes_through_at_once() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(1);
    upstream.clone().map(|x| x + 1).subscribe(probe.clone());
    upstream.next(1);
    upstream.error(Error::msg("late failure"));
    probe.assert_values(&[2]);
    assert_eq!(probe.error().unwrap().to_string(), "late failure");
    probe.assert_no_violations();
}

#[test]
fn an_empty_upstream_completes_without_demand() {
    common::an_empty_upstream_completes_without_demand(|n| source::range(0, n).map(|x| x));
}

#[test]
fn a_panic_in_the_closure_becomes_on_error_and_cancels_upstream() {
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::new(u64::MAX);
    upstream
        .map(|x| if x == 3 { panic!("cannot map {x}") } else { x })
        .subscribe(probe.clone());
    probe.assert_values(&[0, 1, 2]);
    assert_panic_error(&probe.error().unwrap(), "map", "cannot map 3");
    assert_eq!(log.cancels(), 1);
    probe.assert_no_violations(); // nothing after the error
}

#[test]
fn a_panic_on_the_plain_path_also_fails_the_stream_once() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(10);
    upstream
        .clone()
        .map(|x| if x == 1 { panic!("boom") } else { x })
        .subscribe(probe.clone());
    upstream.next(0);
    upstream.next(1);
    assert!(upstream.is_cancelled());
    assert!(!upstream.has_subscriber(), "released on cancel");
    probe.assert_values(&[0]);
    assert_panic_error(&probe.error().unwrap(), "map", "boom");
    probe.assert_no_violations();
}

#[test]
fn signals_arriving_after_a_panic_are_ignored() {
    // An upstream that keeps signalling after the cancel (allowed for a while, §3.12).
    let upstream = Manual::<u64>::lagging();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let probe = TestSubscriber::new(10);
    upstream
        .clone()
        .map(move |x| {
            c.fetch_add(1, Ordering::SeqCst);
            if x == 0 {
                panic!("first")
            }
            x
        })
        .subscribe(probe.clone());
    upstream.next(0);
    assert!(upstream.is_cancelled());
    assert!(probe.error().is_some());
    upstream.next(1);
    assert_eq!(
        upstream.try_next(2),
        Some(true),
        "a late element is not the filter's to refuse"
    );
    upstream.complete();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the closure never runs after the failure"
    );
    assert_eq!(probe.count(), 0);
    probe.assert_no_violations(); // no signal after the error
}

#[test]
fn the_fast_path_answer_of_a_filter_downstream_reaches_the_upstream() {
    // range -> spy -> map -> filter: the filter's `false` goes back through map, so rejected
    // elements cost no request.
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::new(5);
    upstream
        .map(|x| x * 3)
        .filter(|x| x % 2 == 0)
        .subscribe(probe.clone());
    probe.assert_values(&[0, 6, 12, 18, 24]);
    assert_eq!(log.requests(), vec![5]);
}

#[test]
fn the_fast_path_answer_is_forwarded_as_given() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(10);
    upstream
        .clone()
        .map(|x| x + 1)
        .filter(|x| x % 2 == 0)
        .subscribe(probe.clone());
    assert_eq!(upstream.try_next(0), Some(false)); // 1 rejected by the filter
    assert_eq!(upstream.try_next(1), Some(true)); // 2 kept
    probe.assert_values(&[2]);
}

#[test]
fn a_map_can_be_subscribed_many_times_sharing_its_closure() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let doubled = source::range(0, 3).map(move |x| {
        c.fetch_add(1, Ordering::SeqCst);
        x * 2
    });
    assert_eq!(sink::collect(&doubled).unwrap(), vec![0, 2, 4]);
    assert_eq!(sink::collect(&doubled).unwrap(), vec![0, 2, 4]);
    assert_eq!(calls.load(Ordering::SeqCst), 6);
}
