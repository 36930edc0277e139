//! publish: a connectable multicast; connect subscribes the source once, disconnect or the
//! source's end closes the connection, the next connect opens a new one.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use rstreams_core::{source, Error, Publisher};
use rstreams_ops::PublisherExt;
use rstreams_tck::{TestPublisher, TestSubscriber};

#[test]
fn nothing_flows_before_connect_and_connect_subscribes_the_source_once() {
    let input = TestPublisher::<u32>::new();
    let published = input.clone().publish();
    let (a, b) = (TestSubscriber::new(5), TestSubscriber::new(5));
    published.subscribe(a.clone());
    published.subscribe(b.clone());
    assert!(!input.has_subscriber());
    let connection = published.connect();
    assert!(connection.is_connected());
    assert_eq!(
        input.requested(),
        5,
        "what every subscriber demanded, deferred until now"
    );
    let again = published.connect(); // the same connection: no second subscription
    assert!(again.is_connected());
    input.emit(1);
    a.assert_values(&[1]);
    b.assert_values(&[1]);
    a.assert_no_violations();
}

#[test]
fn with_no_subscriber_a_connection_requests_nothing() {
    let input = TestPublisher::<u32>::new();
    let published = input.clone().publish();
    published.connect();
    assert!(input.has_subscriber());
    assert_eq!(input.requested(), 0);
    let late = TestSubscriber::new(3);
    published.subscribe(late.clone());
    assert_eq!(input.requested(), 3);
}

#[test]
fn a_late_subscriber_joins_from_the_next_element() {
    let input = TestPublisher::<u32>::new();
    let published = input.clone().publish();
    let early = TestSubscriber::new(10);
    published.subscribe(early.clone());
    published.connect();
    input.emit(1);
    let late = TestSubscriber::new(10);
    published.subscribe(late.clone());
    input.emit(2);
    early.assert_values(&[1, 2]);
    late.assert_values(&[2]);
}

#[test]
fn rule_1_1_the_slowest_subscriber_holds_back_the_others() {
    let input = TestPublisher::<u32>::new();
    let published = input.clone().publish();
    let (fast, slow) = (TestSubscriber::new(10), TestSubscriber::new(3));
    published.subscribe(fast.clone());
    published.subscribe(slow.clone());
    published.connect();
    assert_eq!(input.requested(), 3);
    for i in 0..3 {
        input.emit(i);
    }
    assert!(input.try_emit(3).is_err());
    fast.assert_values(&[0, 1, 2]);
    slow.assert_values(&[0, 1, 2]);
}

#[test]
fn subscribers_that_leave_keep_the_connection_open() {
    let input = TestPublisher::<u32>::new();
    let published = input.clone().publish();
    let probe = TestSubscriber::new(1);
    published.subscribe(probe.clone());
    let connection = published.connect();
    probe.cancel();
    assert!(
        !input.is_cancelled(),
        "only a disconnect closes a connection"
    );
    assert!(connection.is_connected());
}

#[test]
fn rule_3_12_disconnect_cancels_the_source_and_completes_the_subscribers_after_their_elements() {
    let input = TestPublisher::<u32>::new();
    let published = input.clone().publish();
    let (a, b) = (TestSubscriber::new(2), TestSubscriber::new(1));
    let (sub_a, weak_a) = track(a.clone());
    published.subscribe(sub_a);
    published.subscribe(b.clone());
    let connection = published.connect();
    input.emit(1);
    b.request(1);
    input.emit(2);
    let c = TestSubscriber::new(0);
    published.subscribe(c.clone()); // nothing taken: completes at once
    a.request(0); // (a still has demand; 0 fails a alone)
    connection.disconnect();
    assert!(input.is_cancelled());
    assert!(!connection.is_connected());
    assert!(b.is_complete());
    b.assert_values(&[1, 2]);
    assert!(c.is_complete());
    assert!(released(&weak_a));
    connection.disconnect(); // does nothing more
}

#[test]
fn a_subscriber_after_the_end_receives_it_at_once_and_connect_starts_a_new_connection() {
    let subscriptions = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&subscriptions);
    let published = source::defer(move || {
        count.fetch_add(1, Ordering::SeqCst);
        source::range(0, 3)
    })
    .publish();
    let first = TestSubscriber::new(u64::MAX);
    published.subscribe(first.clone());
    let connection = published.connect();
    first.assert_values(&[0, 1, 2]);
    assert!(first.is_complete());
    assert!(!connection.is_connected());
    let after = TestSubscriber::<u64>::new(0);
    published.subscribe(after.clone());
    assert!(after.is_complete(), "the end, at once, without demand");
    let next = TestSubscriber::new(u64::MAX);
    published.connect(); // a new connection: subscribed again, with no subscriber yet
    published.subscribe(next.clone());
    next.assert_values(&[0, 1, 2]);
    assert_eq!(subscriptions.load(Ordering::SeqCst), 2);
}

#[test]
fn rule_4_2_an_upstream_error_reaches_every_subscriber() {
    let input = TestPublisher::<u32>::new();
    let published = input.clone().publish();
    let (a, b) = (TestSubscriber::new(0), TestSubscriber::new(0));
    published.subscribe(a.clone());
    published.subscribe(b.clone());
    published.connect();
    input.fail(Error::msg("down"));
    for probe in [&a, &b] {
        assert_eq!(probe.error().unwrap().to_string(), "down");
    }
    let late = TestSubscriber::<u32>::new(0);
    published.subscribe(late.clone());
    assert_eq!(late.error().unwrap().to_string(), "down");
}

#[test]
fn rule_3_9_request_zero_fails_only_that_subscriber() {
    let input = TestPublisher::<u32>::new();
    let published = input.clone().publish();
    let (good, bad) = (TestSubscriber::new(1), TestSubscriber::new(0));
    published.subscribe(good.clone());
    published.subscribe(bad.clone());
    published.connect();
    bad.request(0);
    assert_eq!(bad.error().unwrap().rule(), Some("3.9"));
    assert_eq!(bad.error().unwrap().stage(), Some("publish"));
    input.emit(1);
    good.assert_values(&[1]);
}
