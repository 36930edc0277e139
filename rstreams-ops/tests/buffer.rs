//! `buffer(size)`: vectors of `size`; a request for `n` vectors is `n × size` upstream.

mod common;

use common::*;
use rstreams_core::{sink, source, Error, Publisher};
use rstreams_ops::PublisherExt;
use rstreams_tck::TestSubscriber;

#[test]
fn groups_elements_into_vectors_of_size() {
    let out = sink::collect(&source::range(0, 6).buffer(2)).unwrap();
    assert_eq!(out, vec![vec![0, 1], vec![2, 3], vec![4, 5]]);
}

#[test]
fn a_request_for_n_vectors_asks_n_times_size_upstream() {
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::new(2);
    upstream.buffer(3).subscribe(probe.clone());
    probe.request(1);
    assert_eq!(log.requests(), vec![6, 3]);
    probe.assert_values(&[vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8]]);
    probe.assert_no_violations();
}

#[test]
fn the_upstream_request_saturates_to_unbounded() {
    let (upstream, log) = spy(source::range(0, 10));
    let probe = TestSubscriber::new(u64::MAX / 2);
    upstream.buffer(3).subscribe(probe.clone());
    assert_eq!(log.requests(), vec![u64::MAX]);
    assert!(probe.is_complete());
}

#[test]
fn zero_demand_emits_nothing_and_requests_nothing() {
    let (upstream, log) = spy(source::range(0, 10));
    let probe = TestSubscriber::<Vec<u64>>::new(0);
    upstream.buffer(3).subscribe(probe.clone());
    probe.assert_no_more_within(QUIET);
    assert_eq!(probe.count(), 0);
    assert!(log.requests().is_empty());
}

#[test]
fn partial_demand_is_exact() {
    let probe = TestSubscriber::new(0);
    source::range(0, 100).buffer(4).subscribe(probe.clone());
    probe.request(1);
    probe.assert_values(&[vec![0, 1, 2, 3]]);
    probe.assert_no_more_within(QUIET);
    probe.request(2);
    probe.assert_values(&[vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9, 10, 11]]);
    assert!(!probe.is_terminated());
    probe.assert_no_violations();
}

#[test]
fn the_partial_buffer_is_flushed_on_complete() {
    let probe = TestSubscriber::new(1);
    source::range(0, 2).buffer(5).subscribe(probe.clone());
    probe.assert_values(&[vec![0, 1]]);
    assert!(probe.is_complete());
    probe.assert_no_violations();
}

#[test]
fn no_empty_buffer_is_emitted_on_complete() {
    let out = sink::collect(&source::range(0, 4).buffer(2)).unwrap();
    assert_eq!(out, vec![vec![0, 1], vec![2, 3]]);
    assert!(sink::collect(&source::range(0, 0).buffer(2))
        .unwrap()
        .is_empty());
}

#[test]
fn the_partial_buffer_is_dropped_on_error() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(5);
    upstream.clone().buffer(3).subscribe(probe.clone());
    for i in 0..5 {
        upstream.next(i);
    }
    upstream.error(Error::msg("disk gone"));
    probe.assert_values(&[vec![0, 1, 2]]);
    assert_eq!(probe.error().unwrap().to_string(), "disk gone");
    probe.assert_no_violations();
}

#[test]
#[should_panic(expected = "buffer(size): size must be at least 1")]
fn buffer_zero_is_rejected_where_it_is_built() {
    let _ = source::range(0, 10).buffer(0);
}

#[test]
fn a_huge_size_does_not_reserve_memory_up_front() {
    let out = sink::collect(&source::range(0, 3).buffer(usize::MAX)).unwrap();
    assert_eq!(out, vec![vec![0, 1, 2]]);
}

#[test]
fn reentrant_request_one_from_on_next_runs_to_completion() {
    let probe = TestSubscriber::new(1).request_on_next(1);
    source::range(0, 200_000).buffer(2).subscribe(probe.clone());
    assert!(probe.await_terminal(WAIT));
    assert_eq!(probe.count(), 100_000);
    probe.assert_no_violations();
}

#[test]
fn concurrent_requests_deliver_everything_once_in_order() {
    let probe = TestSubscriber::new(0);
    source::range(0, 30_000).buffer(3).subscribe(probe.clone());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let probe = probe.clone();
            std::thread::spawn(move || {
                for _ in 0..2_500 {
                    probe.request(1);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(probe.await_terminal(WAIT));
    let flat: Vec<u64> = probe.values().into_iter().flatten().collect();
    assert!(flat.iter().copied().eq(0..30_000));
    probe.assert_no_violations();
}

#[test]
fn cancel_mid_stream_cancels_upstream_and_releases_the_subscriber() {
    let (upstream, log) = spy(source::range(0, 1_000));
    let probe = TestSubscriber::new(100).cancel_after(2);
    let (subscriber, weak) = track(probe.clone());
    upstream.buffer(3).subscribe(subscriber);
    probe.assert_values(&[vec![0, 1, 2], vec![3, 4, 5]]);
    assert!(!probe.is_terminated());
    assert_eq!(log.cancels(), 1);
    assert!(released(&weak));
    probe.request(5);
    assert_eq!(probe.count(), 2);
}

#[test]
fn request_zero_fails_the_stream_with_rule_3_9() {
    let probe = TestSubscriber::<Vec<u64>>::new(0);
    source::range(0, 10).buffer(2).subscribe(probe.clone());
    probe.request(0);
    assert_eq!(probe.error().unwrap().rule(), Some("3.9"));
    probe.assert_no_violations();
}

#[test]
fn upstream_error_passes_through_without_demand() {
    let probe = TestSubscriber::<Vec<u64>>::new(0);
    source::fail::<u64>(Error::msg("no input"))
        .buffer(2)
        .subscribe(probe.clone());
    assert_eq!(probe.error().unwrap().to_string(), "no input");
}

#[test]
fn an_empty_upstream_completes_without_demand() {
    let probe = TestSubscriber::<Vec<u64>>::new(0);
    source::range(0, 0).buffer(2).subscribe(probe.clone());
    assert!(probe.is_complete());
    assert_eq!(probe.count(), 0);
}
