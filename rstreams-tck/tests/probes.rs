//! The probes for users' own tests: `TestSubscriber`, `TestPublisher`, `Upstream`.

use std::sync::Arc;
use std::time::Duration;

use rstreams_core::{sink, Error, NoopSubscription, Publisher, Subscriber};
use rstreams_tck::{TestPublisher, TestSubscriber, Upstream};

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn test_publisher_emits_only_within_demand_and_records_requests() {
    let publisher = TestPublisher::<u8>::new();
    let probe = TestSubscriber::new(0);
    publisher.subscribe(probe.clone());
    assert_eq!(publisher.try_emit(1), Err(1), "no demand yet");
    probe.request(2);
    probe.request(1);
    assert_eq!(publisher.requests(), vec![2, 1]);
    for x in [1, 2, 3] {
        publisher.emit(x);
    }
    assert_eq!(publisher.try_emit(4), Err(4));
    probe.assert_values(&[1, 2, 3]);
    probe.assert_no_violations();
}

#[test]
#[should_panic(expected = "no outstanding demand")]
fn test_publisher_emit_without_demand_panics_naming_the_rule() {
    let publisher = TestPublisher::<u8>::new();
    publisher.subscribe(TestSubscriber::new(0));
    publisher.emit(1);
}

#[test]
fn test_publisher_fails_without_demand_and_releases_its_subscriber() {
    let publisher = TestPublisher::<u8>::new();
    let probe = TestSubscriber::new(0);
    publisher.subscribe(probe.clone());
    publisher.fail(Error::msg("boom"));
    assert_eq!(probe.error().unwrap().to_string(), "boom");
    assert!(!publisher.has_subscriber());
    publisher.complete(); // after the end: nothing
    probe.assert_no_violations();
}

#[test]
fn test_publisher_cancel_releases_the_subscriber_even_from_inside_on_next() {
    let publisher = TestPublisher::<u8>::new();
    let probe = TestSubscriber::new(5).cancel_after(1);
    publisher.subscribe(probe.clone());
    publisher.emit(1);
    assert!(publisher.is_cancelled());
    assert!(!publisher.has_subscriber(), "§3.13");
    assert_eq!(publisher.try_emit(2), Err(2));
}

#[test]
fn test_publisher_rejects_a_second_concurrent_subscriber() {
    let publisher = TestPublisher::<u8>::new();
    publisher.subscribe(TestSubscriber::new(0));
    let second = TestSubscriber::<u8>::new(0);
    publisher.subscribe(second.clone());
    assert!(second.is_subscribed());
    assert_eq!(second.error().unwrap().rule(), Some("1.9"));
}

#[test]
fn test_publisher_waits_for_requests_from_another_thread() {
    let publisher = TestPublisher::<u8>::new();
    let probe = TestSubscriber::new(0);
    publisher.subscribe(probe.clone());
    let p = probe.clone();
    std::thread::spawn(move || p.request(3));
    assert!(publisher.await_requested(3, WAIT));
}

/// Emits two elements for every request(1), to show the probe's ledger at work.
struct Doubling;
impl Publisher for Doubling {
    type Item = u8;
    fn subscribe<S: Subscriber<u8> + 'static>(&self, mut s: S) {
        s.on_subscribe(Arc::new(NoopSubscription));
        s.on_next(1);
        s.on_next(2);
        s.on_complete();
        s.on_complete();
    }
}

#[test]
fn test_subscriber_flags_each_violation_with_its_rule_as_it_happens() {
    let probe = TestSubscriber::new(1);
    Doubling.subscribe(probe.clone());
    let v = probe.violations();
    assert!(
        v.iter()
            .any(|m| m.starts_with("§1.1: on_next #2 exceeds the demand")),
        "{v:?}"
    );
    assert!(v.iter().any(|m| m.starts_with("§1.7")), "{v:?}");
}

#[test]
fn test_subscriber_requests_made_before_subscription_are_deferred() {
    let probe = TestSubscriber::new(0);
    probe.request(2);
    Upstream::emitting(5).subscribe(probe.clone());
    probe.assert_values(&[0, 1]);
    probe.assert_no_violations();
}

#[test]
fn upstream_records_requests_cancel_and_fails_without_demand() {
    let up = Upstream::failing_after(0, Error::msg("down"));
    let probe = TestSubscriber::<u64>::new(0);
    up.subscribe(probe.clone());
    assert_eq!(probe.error().unwrap().to_string(), "down");

    let up = Upstream::never_completing(3);
    let probe = TestSubscriber::new(0);
    up.subscribe(probe.clone());
    probe.request(2);
    probe.request(5);
    probe.assert_values(&[0, 1, 2]);
    assert!(!probe.is_terminated());
    probe.cancel();
    let stats = up.stats();
    assert_eq!(stats.requests, vec![2, 5]);
    assert_eq!(stats.requested, 7);
    assert_eq!(stats.emitted, 3);
    assert!(stats.cancelled);
}

#[test]
fn upstream_releases_its_subscriber_on_cancel() {
    let probe = TestSubscriber::new(1);
    let (subscriber, weak) = rstreams_tck::track(probe.clone());
    Upstream::never_completing(10).subscribe(subscriber);
    assert!(weak.upgrade().is_some());
    probe.cancel();
    assert!(weak.upgrade().is_none());
    assert_eq!(sink::collect(&Upstream::emitting(2)).unwrap(), vec![0, 1]);
}

#[test]
fn test_subscriber_forwards_a_request_zero_made_before_subscription() {
    let probe = TestSubscriber::<u64>::new(0);
    probe.request(0);
    Upstream::emitting(5).subscribe(probe.clone());
    assert_eq!(probe.error().expect("§3.9 error").rule(), Some("3.9"));
}

/// Requests everything and panics at the first element; `alive` is released when dropped.
struct PanicsOnNext {
    _alive: std::sync::Arc<()>,
}

impl rstreams_core::Subscriber<u64> for PanicsOnNext {
    fn on_subscribe(&mut self, s: std::sync::Arc<dyn rstreams_core::Subscription>) {
        s.request(u64::MAX);
    }
    fn on_next(&mut self, _: u64) {
        panic!("subscriber bug");
    }
    fn on_error(&mut self, _: rstreams_core::Error) {}
    fn on_complete(&mut self) {}
}

#[test]
fn rule_2_13_the_upstream_treats_a_panicking_subscriber_as_cancelled_and_releases_it() {
    let upstream = rstreams_tck::Upstream::emitting(100);
    let alive = std::sync::Arc::new(());
    let weak = std::sync::Arc::downgrade(&alive);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rstreams_core::Publisher::subscribe(&upstream, PanicsOnNext { _alive: alive })
    }));
    assert!(result.is_err(), "the panic goes on to the caller");
    assert!(
        weak.upgrade().is_none(),
        "§3.13: the subscriber was released"
    );
    assert_eq!(
        upstream.emitted(),
        0,
        "nothing was accepted, nothing more was sent"
    );
    assert!(
        !upstream.is_terminated(),
        "no terminal signal after the panic"
    );
}

/// An element the test must own to use: not `Clone`, like a connector's delivery.
#[derive(Debug, PartialEq)]
struct Owned(u8);

#[test]
fn test_subscriber_take_values_moves_out_what_arrived_since_the_last_take_in_order() {
    let publisher = TestPublisher::<Owned>::new();
    let probe = TestSubscriber::new(0);
    publisher.subscribe(probe.clone());
    assert!(probe.take_values().is_empty(), "nothing arrived yet");
    probe.request(5);
    publisher.emit(Owned(1));
    publisher.emit(Owned(2));
    assert_eq!(probe.take_values(), vec![Owned(1), Owned(2)]);
    assert!(
        probe.take_values().is_empty(),
        "taken values are not handed out again"
    );
    publisher.emit(Owned(3));
    assert_eq!(probe.take_values(), vec![Owned(3)]);
    probe.assert_no_violations();
}

#[test]
fn test_subscriber_count_stays_cumulative_while_untaken_counts_what_take_values_would_return() {
    let publisher = TestPublisher::<Owned>::new();
    let probe = TestSubscriber::new(10);
    publisher.subscribe(probe.clone());
    publisher.emit(Owned(1));
    publisher.emit(Owned(2));
    assert_eq!((probe.count(), probe.untaken()), (2, 2));
    let taken = probe.take_values();
    assert_eq!(taken.len(), 2);
    assert_eq!(
        (probe.count(), probe.untaken()),
        (2, 0),
        "taking does not change the cumulative count"
    );
    publisher.emit(Owned(3));
    assert_eq!((probe.count(), probe.untaken()), (3, 1));
    assert!(probe.await_count(3, WAIT), "await_count is cumulative too");
}

#[test]
fn test_subscriber_values_copies_only_what_was_not_taken() {
    let publisher = TestPublisher::<u8>::new();
    let probe = TestSubscriber::new(10);
    publisher.subscribe(probe.clone());
    publisher.emit(1);
    publisher.emit(2);
    assert_eq!(probe.take_values(), vec![1, 2]);
    publisher.emit(3);
    probe.assert_values(&[3]);
    assert_eq!(probe.values(), vec![3], "values() does not take");
    assert_eq!(probe.take_values(), vec![3]);
}

#[test]
fn test_subscriber_assert_no_error_passes_while_the_stream_has_not_failed() {
    let publisher = TestPublisher::<u8>::new();
    let probe = TestSubscriber::new(1);
    publisher.subscribe(probe.clone());
    probe.assert_no_error();
    publisher.emit(1);
    publisher.complete();
    probe.assert_no_error();
    assert!(probe.is_complete());
}

#[test]
#[should_panic(expected = "the stream failed: boom")]
fn test_subscriber_assert_no_error_panics_naming_the_error() {
    let publisher = TestPublisher::<u8>::new();
    let probe = TestSubscriber::new(1);
    publisher.subscribe(probe.clone());
    publisher.fail(Error::msg("boom"));
    probe.assert_no_error();
}
