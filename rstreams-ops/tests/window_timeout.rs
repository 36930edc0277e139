//! window_timeout(size, timeout): windows that close full or `timeout` after they opened; an
//! unsubscribed window closes at its timeout (no hang); elements requested for a window that
//! timed out open the next.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use rstreams_core::scheduler::VirtualTime;
use rstreams_core::{sink, source, Error, Publisher};
use rstreams_ops::{Pane, PublisherExt};
use rstreams_tck::{TestPublisher, TestSubscriber};

const SECOND: Duration = Duration::from_secs(1);

/// The windows of `input.window_timeout_on(size, 1 s, vt)`, kept alive by the probe.
fn windows(input: &TestPublisher<u32>, size: usize, vt: &VirtualTime) -> TestSubscriber<Pane<u32>> {
    let outer = TestSubscriber::new(100);
    input
        .clone()
        .window_timeout_on(size, SECOND, vt.clone())
        .subscribe(outer.clone());
    outer
}

fn open(outer: &TestSubscriber<Pane<u32>>, i: usize, demand: u64) -> TestSubscriber<u32> {
    let probe = TestSubscriber::new(demand);
    outer.values()[i].subscribe(probe.clone());
    probe
}

#[test]
fn a_window_closes_timeout_after_it_opened_with_what_it_holds() {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let outer = windows(&input, 10, &vt);
    input.emit(0);
    let first = open(&outer, 0, u64::MAX);
    input.emit(1);
    vt.advance_by(SECOND - Duration::from_nanos(1));
    assert!(!first.is_terminated());
    vt.advance_by(Duration::from_nanos(1));
    first.assert_values(&[0, 1]);
    assert!(first.is_complete());
    input.emit(2); // opens the next window
    assert_eq!(outer.count(), 2);
    first.assert_no_violations();
}

#[test]
fn a_window_that_goes_out_full_stops_its_timer() {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let outer = windows(&input, 2, &vt);
    input.emit(0);
    let first = open(&outer, 0, u64::MAX);
    assert_eq!(vt.pending(), 1);
    input.emit(1);
    assert!(first.is_complete());
    assert_eq!(vt.pending(), 0, "no timer left behind");
}

#[test]
fn an_open_window_kept_but_not_subscribed_closes_at_its_timeout_so_the_stream_goes_on() {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let outer = windows(&input, 10, &vt);
    input.emit(0);
    assert_eq!(
        input.requested(),
        1,
        "nothing requested for an unsubscribed window"
    );
    vt.advance_by(SECOND);
    assert_eq!(input.requested(), 2, "it closed: the next one is asked for");
    input.emit(1);
    assert_eq!(outer.count(), 2);
    // Subscribed later, the first window still has its element, and its end.
    let first = open(&outer, 0, 5);
    first.assert_values(&[0]);
    assert!(first.is_complete());
}

#[test]
fn elements_requested_for_a_window_that_timed_out_open_the_next_one() {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let outer = TestSubscriber::new(1);
    input
        .clone()
        .window_timeout_on(10, SECOND, vt.clone())
        .subscribe(outer.clone());
    input.emit(0);
    let first = open(&outer, 0, 5);
    assert_eq!(input.requested(), 5);
    vt.advance_by(SECOND); // closes with [0]; 4 are on their way
    assert!(first.is_complete());
    input.emit(1);
    input.emit(2);
    assert_eq!(
        outer.count(),
        1,
        "the outer stream has not asked for another window"
    );
    outer.request(1);
    let second = open(&outer, 1, u64::MAX);
    second.assert_values(&[1, 2]);
    input.emit(3);
    input.emit(4);
    second.assert_values(&[1, 2, 3, 4]);
}

#[test]
fn a_timeout_of_duration_max_means_windows_close_only_full_or_at_the_end() {
    let all = source::range(0, 5)
        .window_timeout(2, Duration::MAX)
        .flat_map(|w| w.collect_vec(), 1, 1);
    assert_eq!(
        sink::collect(&all).unwrap(),
        vec![vec![0, 1], vec![2, 3], vec![4]]
    );
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let outer = TestSubscriber::new(10);
    input
        .clone()
        .window_timeout_on(5, Duration::MAX, vt.clone())
        .subscribe(outer.clone());
    input.emit(0);
    let first = open(&outer, 0, 10);
    vt.advance_by(SECOND * 3600 * 24 * 365);
    assert!(!first.is_terminated());
    input.complete();
    assert!(first.is_complete());
}

#[test]
fn rule_4_2_an_upstream_error_reaches_the_outer_stream_and_the_open_window_at_once() {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let outer = windows(&input, 10, &vt);
    input.emit(0);
    let first = open(&outer, 0, 0);
    input.fail(Error::msg("cut"));
    assert_eq!(outer.error().unwrap().to_string(), "cut");
    assert_eq!(first.error().unwrap().to_string(), "cut");
    assert_eq!(vt.pending(), 0);
}

#[test]
fn rule_3_12_cancelling_the_outer_stream_and_the_window_stops_the_timer_and_the_upstream() {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let outer = windows(&input, 10, &vt);
    input.emit(0);
    let first = open(&outer, 0, 1);
    outer.cancel();
    assert!(!input.is_cancelled(), "the open window is still subscribed");
    first.cancel();
    assert!(input.is_cancelled());
    assert_eq!(vt.pending(), 0);
}

#[test]
fn flattened_one_window_at_a_time_everything_arrives_once_in_order() {
    let all = source::range(0, 5_000)
        .window_timeout(7, Duration::from_millis(1))
        .flat_map(|w| w, 1, 16);
    assert!(sink::collect(&all).unwrap().into_iter().eq(0..5_000));
}

#[test]
fn a_size_of_zero_or_a_timeout_of_zero_is_rejected_when_built_naming_the_argument() {
    for (build, what) in [
        (
            Box::new(|| drop(source::range(0, 3).window_timeout(0, SECOND))) as Box<dyn Fn()>,
            "window_timeout: size",
        ),
        (
            Box::new(|| drop(source::range(0, 3).window_timeout(2, Duration::ZERO))),
            "window_timeout: timeout",
        ),
    ] {
        let panic = catch_unwind(AssertUnwindSafe(build)).unwrap_err();
        let message = panic.downcast_ref::<&str>().copied().unwrap_or_default();
        assert!(message.contains(what), "{message}");
        assert!(message.contains("valid range"), "{message}");
    }
}
