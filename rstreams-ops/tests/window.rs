//! window(size): windows of `size` consecutive elements, each a publisher with its own demand;
//! the upstream follows the open window's subscriber; a window must be subscribed or dropped.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use common::*;
use rstreams_core::{sink, source, Error, ErrorKind, Publisher, Subscriber, Subscription};
use rstreams_ops::{Pane, PublisherExt};
use rstreams_tck::{TestPublisher, TestSubscriber};

/// The windows of `input.window(size)` as the outer probe received them (kept alive by it).
fn windows(input: &TestPublisher<u32>, size: usize, demand: u64) -> TestSubscriber<Pane<u32>> {
    let outer = TestSubscriber::new(demand);
    input.clone().window(size).subscribe(outer.clone());
    outer
}

/// Subscribes a probe with `demand` to window `i` of `outer`.
fn open(outer: &TestSubscriber<Pane<u32>>, i: usize, demand: u64) -> TestSubscriber<u32> {
    let probe = TestSubscriber::new(demand);
    outer.values()[i].subscribe(probe.clone());
    probe
}

#[test]
fn windows_hold_size_consecutive_elements_and_the_last_may_be_shorter() {
    let all = source::range(0, 8)
        .window(3)
        .flat_map(|w| w.collect_vec(), 1, 1);
    assert_eq!(
        sink::collect(&all).unwrap(),
        vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7]]
    );
    let exact = source::range(0, 6)
        .window(3)
        .flat_map(|w| w.collect_vec(), 1, 1);
    assert_eq!(
        sink::collect(&exact).unwrap().len(),
        2,
        "no empty window at the end"
    );
}

#[test]
fn the_outer_demand_asks_only_for_the_element_that_opens_the_next_window() {
    let input = TestPublisher::<u32>::new();
    let outer = windows(&input, 3, 10);
    assert_eq!(input.requested(), 1, "one element, to open a window");
    input.emit(0);
    assert_eq!(
        outer.count(),
        1,
        "the window went out with its first element"
    );
    assert_eq!(outer.values()[0].index(), 0);
    assert_eq!(
        input.requested(),
        1,
        "nothing more until the window's subscriber asks"
    );
}

#[test]
fn upstream_demand_follows_the_open_windows_subscriber_and_each_window_has_its_own_demand() {
    let input = TestPublisher::<u32>::new();
    let outer = windows(&input, 3, 10);
    input.emit(0);
    let first = open(&outer, 0, 1);
    first.assert_values(&[0]);
    assert_eq!(
        input.requested(),
        1,
        "the element it opened with met its demand"
    );
    first.request(1);
    assert_eq!(input.requested(), 2);
    input.emit(1);
    first.assert_values(&[0, 1]);
    first.request(10);
    assert_eq!(
        input.requested(),
        3,
        "never beyond what the window still lacks"
    );
    input.emit(2);
    assert!(first.is_complete(), "full: the window completes");
    assert_eq!(
        input.requested(),
        4,
        "the outer stream's demand opens the next one"
    );
    input.emit(3);
    let second = open(&outer, 1, 0);
    assert_eq!(second.count(), 0, "§1.1: its own demand");
    second.request(1);
    second.assert_values(&[3]);
    first.assert_no_violations();
    second.assert_no_violations();
}

#[test]
fn without_outer_demand_no_window_opens_and_nothing_is_requested() {
    let input = TestPublisher::<u32>::new();
    let outer = windows(&input, 3, 0);
    assert_eq!(input.requested(), 0);
    outer.request(1);
    assert_eq!(input.requested(), 1);
}

#[test]
fn a_window_kept_but_not_subscribed_holds_the_stream_back_holding_only_its_first_element() {
    let input = TestPublisher::<u32>::new();
    let outer = windows(&input, 3, 10);
    input.emit(0);
    assert_eq!(outer.count(), 1);
    outer.assert_no_more_within(QUIET);
    assert_eq!(
        input.requested(),
        1,
        "nothing is requested for an unsubscribed window"
    );
    // Subscribed late, it gets what it held and the stream goes on.
    let first = open(&outer, 0, u64::MAX);
    input.emit(1);
    input.emit(2);
    first.assert_values(&[0, 1, 2]);
    assert!(first.is_complete());
}

/// An outer subscriber that drops every window it receives, or subscribes `keep` to the
/// windows whose index it lists.
struct Dropping {
    keep: Vec<(u64, TestSubscriber<u32>)>,
}

impl Subscriber<Pane<u32>> for Dropping {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        s.request(u64::MAX);
    }
    fn on_next(&mut self, pane: Pane<u32>) {
        if let Some((_, probe)) = self.keep.iter().find(|(i, _)| *i == pane.index()) {
            pane.subscribe(probe.clone());
        }
    }
    fn on_error(&mut self, _: Error) {}
    fn on_complete(&mut self) {}
}

#[test]
fn a_window_dropped_without_a_subscriber_is_skipped_counted_and_the_next_keeps_its_bounds() {
    let input = TestPublisher::<u32>::new();
    let stage = input.clone().window(3);
    let dropped = stage.dropped();
    let second = TestSubscriber::new(u64::MAX);
    stage.subscribe(Dropping {
        keep: vec![(1, second.clone())],
    });
    for i in 0..6 {
        input.emit(i);
    }
    second.assert_values(&[3, 4, 5]);
    assert!(second.is_complete());
    assert_eq!(
        dropped.count(),
        3,
        "the three elements of the dropped window"
    );
}

#[test]
fn the_rest_of_a_window_whose_subscriber_cancelled_is_skipped_and_counted() {
    let input = TestPublisher::<u32>::new();
    let stage = input.clone().window(4);
    let dropped = stage.dropped();
    let outer = TestSubscriber::new(10);
    stage.subscribe(outer.clone());
    input.emit(0);
    let first = TestSubscriber::new(2).cancel_after(2);
    outer.values()[0].subscribe(first.clone());
    input.emit(1);
    first.assert_values(&[0, 1]);
    for i in 2..5 {
        input.emit(i); // 2 and 3 belong to the cancelled window; 4 opens the next
    }
    assert_eq!(dropped.count(), 2);
    let second = open(&outer, 1, 1);
    second.assert_values(&[4]);
}

#[test]
fn a_second_subscriber_of_a_window_is_rejected_naming_rule_1_9() {
    let input = TestPublisher::<u32>::new();
    let outer = windows(&input, 3, 10);
    input.emit(0);
    let _first = open(&outer, 0, 1);
    let second = open(&outer, 0, 1);
    let error = second.error().expect("rejected");
    assert_eq!(error.rule(), Some("1.9"), "{error}");
    assert_eq!(error.stage(), Some("window"));
}

#[test]
fn rule_4_2_an_upstream_error_reaches_the_outer_stream_and_the_open_window_at_once() {
    let input = TestPublisher::<u32>::new();
    let outer = windows(&input, 3, 10);
    input.emit(0);
    let first = open(&outer, 0, 0);
    input.fail(Error::msg("broken"));
    assert_eq!(outer.error().unwrap().to_string(), "broken");
    assert_eq!(
        first.error().unwrap().to_string(),
        "broken",
        "without demand, at once"
    );
    assert_eq!(first.count(), 0, "what it held is discarded");
    let probe = TestSubscriber::<Pane<u64>>::new(0);
    source::fail::<u64>(Error::msg("none"))
        .window(2)
        .subscribe(probe.clone());
    assert_eq!(probe.error().unwrap().to_string(), "none");
}

#[test]
fn on_completion_the_open_window_completes_after_its_elements_then_the_outer_stream() {
    let input = TestPublisher::<u32>::new();
    let outer = windows(&input, 3, 10);
    input.emit(0);
    let first = open(&outer, 0, 0);
    input.complete();
    assert!(outer.is_complete());
    assert!(!first.is_terminated(), "its element first");
    first.request(1);
    first.assert_values(&[0]);
    assert!(first.is_complete());
    let empty = TestSubscriber::<Pane<u64>>::new(0);
    source::range(0, 0).window(2).subscribe(empty.clone());
    assert!(
        empty.is_complete(),
        "an empty upstream: no window, completion at once"
    );
}

#[test]
fn rule_3_12_cancelling_the_outer_stream_cancels_the_upstream_once_the_open_window_is_done() {
    // No window open: at once.
    let input = TestPublisher::<u32>::new();
    let outer = windows(&input, 3, 10);
    outer.cancel();
    assert!(input.is_cancelled());
    // A window open with a subscriber: it gets its elements, then the upstream is cancelled.
    let input = TestPublisher::<u32>::new();
    let outer = windows(&input, 3, 10);
    input.emit(0);
    let first = open(&outer, 0, u64::MAX);
    outer.cancel();
    assert!(
        !input.is_cancelled(),
        "the open window still takes elements"
    );
    input.emit(1);
    input.emit(2);
    first.assert_values(&[0, 1, 2]);
    assert!(first.is_complete());
    assert!(input.is_cancelled(), "no window opens any more");
}

#[test]
fn rule_3_13_the_outer_subscriber_and_a_windows_subscriber_are_released_on_cancel() {
    let input = TestPublisher::<u32>::new();
    let outer = TestSubscriber::new(10);
    let (subscriber, weak_outer) = track(outer.clone());
    input.clone().window(3).subscribe(subscriber);
    input.emit(0);
    let first = TestSubscriber::new(1);
    let (inner, weak_first) = track(first.clone());
    outer.values()[0].subscribe(inner);
    first.cancel();
    outer.cancel();
    assert!(released(&weak_first));
    assert!(released(&weak_outer));
    assert!(input.is_cancelled());
}

#[test]
fn rule_3_9_request_zero_fails_the_stream_it_was_made_on() {
    let input = TestPublisher::<u32>::new();
    let outer = windows(&input, 3, 0);
    outer.request(0);
    assert_eq!(outer.error().unwrap().rule(), Some("3.9"));
    assert_eq!(outer.error().unwrap().stage(), Some("window"));
    let input = TestPublisher::<u32>::new();
    let outer = windows(&input, 3, 1);
    input.emit(0);
    let first = open(&outer, 0, 0);
    first.request(0);
    assert_eq!(first.error().unwrap().rule(), Some("3.9"));
}

#[test]
fn rule_1_1_an_upstream_that_ignores_demand_is_cancelled_and_everything_fails() {
    let upstream = Manual::<u64>::new();
    let outer = TestSubscriber::new(10);
    upstream.clone().window(3).subscribe(outer.clone());
    upstream.next(0);
    upstream.next(1); // not requested: the window has no subscriber yet
    assert!(upstream.is_cancelled());
    let error = outer.error().unwrap();
    assert_eq!(error.rule(), Some("1.1"), "{error}");
    assert_eq!(error.kind(), ErrorKind::Protocol);
}

#[test]
fn flattened_one_window_at_a_time_everything_arrives_once_in_order() {
    let all = source::range(0, 10_000).window(7).flat_map(|w| w, 1, 16);
    assert!(sink::collect(&all).unwrap().into_iter().eq(0..10_000));
}

#[test]
fn a_size_of_zero_is_rejected_when_built_naming_the_argument_and_its_range() {
    let panic = catch_unwind(AssertUnwindSafe(|| {
        let _ = source::range(0, 3).window(0);
    }))
    .unwrap_err();
    let message = panic.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("window: size"), "{message}");
    assert!(message.contains("valid range 1..=usize::MAX"), "{message}");
}

#[test]
fn windows_subscribed_from_other_threads_each_get_their_elements_in_order() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let pool = rstreams_core::scheduler::ThreadPool::new(2);
    let all = source::range(0, 3_000).window(10).flat_map(
        move |w| w.subscribe_on(pool.clone()).collect_vec(),
        1,
        1,
    );
    for batch in sink::collect(&all).unwrap() {
        log.lock().unwrap().push(batch);
    }
    let batches = seen.lock().unwrap();
    assert_eq!(batches.len(), 300);
    assert!(batches.iter().flatten().copied().eq(0..3_000));
}
