//! replay(n): publish, keeping the last n elements for late subscribers; bounded.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use common::*;
use rstreams_core::{sink, source, Error, Publisher};
use rstreams_ops::PublisherExt;
use rstreams_tck::{TestPublisher, TestSubscriber};

#[test]
fn a_late_subscriber_first_receives_the_last_n_then_the_live_elements() {
    let input = TestPublisher::<u32>::new();
    let replayed = input.clone().replay(2);
    let early = TestSubscriber::new(u64::MAX);
    replayed.subscribe(early.clone());
    replayed.connect();
    for i in 0..5 {
        input.emit(i);
    }
    let late = TestSubscriber::new(u64::MAX);
    replayed.subscribe(late.clone());
    late.assert_values(&[3, 4]);
    input.emit(5);
    late.assert_values(&[3, 4, 5]);
    early.assert_values(&[0, 1, 2, 3, 4, 5]);
}

#[test]
fn fewer_than_n_arrived_so_far_a_late_subscriber_gets_them_all() {
    let input = TestPublisher::<u32>::new();
    let replayed = input.clone().replay(10);
    let early = TestSubscriber::new(u64::MAX);
    replayed.subscribe(early.clone());
    replayed.connect();
    input.emit(1);
    input.emit(2);
    let late = TestSubscriber::new(u64::MAX);
    replayed.subscribe(late.clone());
    late.assert_values(&[1, 2]);
}

#[test]
fn after_the_end_a_late_subscriber_gets_the_last_n_as_it_demands_then_the_end() {
    let replayed = source::range(0, 100).replay(3);
    let first = TestSubscriber::new(u64::MAX);
    replayed.subscribe(first.clone());
    replayed.connect();
    assert!(first.is_complete());
    let late = TestSubscriber::new(0);
    replayed.subscribe(late.clone());
    assert!(
        !late.is_terminated(),
        "the kept elements come first, as demanded"
    );
    late.request(2);
    late.assert_values(&[97, 98]);
    late.request(1);
    late.assert_values(&[97, 98, 99]);
    assert!(late.is_complete());
    late.assert_no_violations();
}

#[test]
fn an_error_reaches_a_late_subscriber_after_the_kept_elements() {
    let input = TestPublisher::<u32>::new();
    let replayed = input.clone().replay(1);
    let first = TestSubscriber::new(u64::MAX);
    replayed.subscribe(first.clone());
    replayed.connect();
    input.emit(7);
    input.fail(Error::msg("lost"));
    let late = TestSubscriber::new(1);
    replayed.subscribe(late.clone());
    late.assert_values(&[7]);
    assert_eq!(late.error().unwrap().to_string(), "lost");
}

#[test]
fn a_late_subscriber_holds_back_the_others_until_it_has_caught_up() {
    let input = TestPublisher::<u32>::new();
    let replayed = input.clone().replay(4);
    let early = TestSubscriber::new(u64::MAX);
    replayed.subscribe(early.clone());
    replayed.connect();
    for i in 0..4 {
        input.emit(i);
    }
    let requested = input.requested();
    let late = TestSubscriber::new(0);
    replayed.subscribe(late.clone());
    // late is at 0 with no demand: nothing beyond what was requested before it came.
    for i in 4..requested as u32 {
        input.emit(i);
    }
    assert_eq!(input.requested(), requested);
    late.request(u64::MAX);
    assert!(input.requested() > requested, "caught up: the others go on");
}

#[test]
fn with_no_subscriber_only_the_last_n_elements_are_kept() {
    let token = Arc::new(());
    let items: Vec<(u64, Arc<()>)> = (0..1_000).map(|i| (i, Arc::clone(&token))).collect();
    let replayed = source::from_iter(items).replay(5);
    let first = TestSubscriber::new(u64::MAX);
    replayed.subscribe(first.clone());
    replayed.connect();
    assert_eq!(first.count(), 1_000);
    drop(first);
    // The source's own list (1 000), plus the probe's values released above, plus 5 kept.
    let alive = Arc::strong_count(&token) - 1;
    assert_eq!(alive, 1_000 + 5, "{alive} elements alive");
}

#[test]
fn a_new_connection_starts_with_nothing_kept() {
    let replayed = source::range(0, 3).replay(2);
    let first = TestSubscriber::new(u64::MAX);
    replayed.subscribe(first.clone());
    replayed.connect();
    let second = TestSubscriber::new(u64::MAX);
    replayed.connect(); // after the end: a new connection, with no subscriber, requests nothing
    replayed.subscribe(second.clone());
    second.assert_values(&[0, 1, 2]);
    assert_eq!(sink::collect(&replayed).unwrap(), vec![1, 2]);
}

#[test]
fn a_replay_of_zero_is_rejected_when_built_naming_the_argument_and_its_range() {
    let panic = catch_unwind(AssertUnwindSafe(|| {
        let _ = source::range(0, 3).replay(0);
    }))
    .unwrap_err();
    let message = panic.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("replay: n"), "{message}");
    assert!(message.contains("valid range 1..=usize::MAX"), "{message}");
}

#[test]
fn rule_3_13_a_subscriber_that_cancels_is_released_and_the_connection_stays() {
    let input = TestPublisher::<u32>::new();
    let replayed = input.clone().replay(2);
    let probe = TestSubscriber::new(1);
    let (subscriber, weak) = track(probe.clone());
    replayed.subscribe(subscriber);
    let connection = replayed.connect();
    probe.cancel();
    assert!(released(&weak));
    assert!(connection.is_connected());
    assert!(!input.is_cancelled());
}
