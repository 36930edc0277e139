//! `try_map(f)`: demand passes through, each `Ok` goes downstream, the first `Err` cancels the
//! upstream and ends the stream with it, naming the stage.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use rstreams_core::{sink, source, Error, ErrorKind, Publisher};
use rstreams_ops::PublisherExt;
use rstreams_tck::TestSubscriber;

/// `x + 1`, failing with "cannot map x" at `bad`.
fn fails_at(bad: u64) -> impl Fn(u64) -> Result<u64, Error> + Send + Sync + 'static {
    move |x| {
        if x == bad {
            Err(Error::msg(format!("cannot map {x}")))
        } else {
            Ok(x + 1)
        }
    }
}

#[test]
fn maps_every_ok_element_in_order_and_completes() {
    let out = sink::collect(&source::range(0, 5).try_map(|x| Ok::<_, Error>(x * 10))).unwrap();
    assert_eq!(out, vec![0, 10, 20, 30, 40]);
}

#[test]
fn zero_demand_emits_nothing() {
    common::zero_demand_emits_nothing(|n| source::range(0, n).try_map(Ok::<u64, Error>));
}

#[test]
fn zero_demand_requests_nothing_upstream() {
    let (upstream, log) = spy(source::range(0, 10));
    let probe = TestSubscriber::<u64>::new(0);
    upstream.try_map(Ok::<u64, Error>).subscribe(probe.clone());
    assert!(log.requests().is_empty());
}

#[test]
fn partial_demand_is_exact() {
    common::partial_demand_is_exact(|n| source::range(0, n).try_map(Ok::<u64, Error>));
}

#[test]
fn demand_passes_through_unchanged() {
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::new(3);
    upstream.try_map(fails_at(1_000)).subscribe(probe.clone());
    probe.assert_values(&[1, 2, 3]);
    probe.request(7);
    probe.request(u64::MAX);
    assert!(probe.is_complete());
    assert_eq!(probe.count(), 100);
    assert_eq!(log.requests(), vec![3, 7, u64::MAX]);
}

#[test]
fn an_err_under_partial_demand_cancels_upstream_and_fails_the_stream_naming_the_stage() {
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::new(2);
    upstream.try_map(fails_at(3)).subscribe(probe.clone());
    probe.assert_values(&[1, 2]);
    assert!(
        !probe.is_terminated(),
        "no failure before the bad element is requested"
    );
    probe.request(5);
    probe.assert_values(&[1, 2, 3]);
    let error = probe.error().expect("the Err fails the stream");
    assert_eq!(error.stage(), Some("try_map"), "{error}");
    assert_eq!(error.to_string(), "in stage `try_map`: cannot map 3");
    assert_eq!(log.cancels(), 1, "the upstream is cancelled once");
    probe.assert_no_violations(); // §1.7: nothing after the error
}

#[test]
fn an_err_converts_with_into_error() {
    let probe = TestSubscriber::new(u64::MAX);
    source::from_iter(["7", "seven"])
        .try_map(|s| s.parse::<u32>().map_err(|e| e.to_string())) // String: Into<Error>
        .subscribe(probe.clone());
    probe.assert_values(&[7]);
    let error = probe.error().unwrap();
    assert_eq!(error.stage(), Some("try_map"));
    assert!(error.to_string().contains("invalid digit"), "{error}");
}

#[test]
fn an_error_that_names_its_stage_keeps_it() {
    let probe = TestSubscriber::new(u64::MAX);
    source::range(0, 3)
        .try_map(|_| Err::<u64, _>(Error::msg("lookup failed").in_stage("lookup")))
        .subscribe(probe.clone());
    assert_eq!(probe.error().unwrap().stage(), Some("lookup"));
}

#[test]
fn an_err_on_the_plain_path_cancels_and_releases_the_upstream() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(10);
    upstream
        .clone()
        .try_map(fails_at(1))
        .subscribe(probe.clone());
    upstream.next(0);
    upstream.next(1);
    assert!(upstream.is_cancelled());
    assert!(!upstream.has_subscriber(), "released on cancel");
    probe.assert_values(&[1]);
    assert_eq!(
        probe.error().unwrap().to_string(),
        "in stage `try_map`: cannot map 1"
    );
    probe.assert_no_violations();
}

#[test]
fn signals_arriving_after_an_err_are_ignored_and_the_closure_is_not_called_again() {
    // An upstream that keeps signalling after the cancel (allowed for a while, §3.12).
    let upstream = Manual::<u64>::lagging();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let probe = TestSubscriber::new(10);
    upstream
        .clone()
        .try_map(move |x| {
            c.fetch_add(1, Ordering::SeqCst);
            Err::<u64, _>(Error::msg(format!("refused {x}")))
        })
        .subscribe(probe.clone());
    upstream.next(0);
    assert!(upstream.is_cancelled());
    assert!(probe.error().is_some());
    upstream.next(1);
    assert_eq!(
        upstream.try_next(2),
        Some(true),
        "a late element is not refused"
    );
    upstream.error(Error::msg("late"));
    upstream.complete();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the closure never runs after the failure"
    );
    assert_eq!(probe.count(), 0);
    probe.assert_no_violations(); // §1.7: one terminal signal
}

#[test]
fn a_panic_in_the_closure_becomes_on_error_and_cancels_upstream() {
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::new(u64::MAX);
    upstream
        .try_map(|x| {
            if x == 2 {
                panic!("cannot map {x}")
            }
            Ok::<_, Error>(x)
        })
        .subscribe(probe.clone());
    probe.assert_values(&[0, 1]);
    let error = probe.error().unwrap();
    assert_eq!(error.kind(), ErrorKind::Panic);
    assert_panic_error(&error, "try_map", "cannot map 2");
    assert_eq!(log.cancels(), 1);
    probe.assert_no_violations();
}

#[test]
fn an_upstream_error_after_elements_passes_through_at_once_unchanged() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(1);
    upstream
        .clone()
        .try_map(fails_at(1_000))
        .subscribe(probe.clone());
    upstream.next(1);
    upstream.error(Error::msg("late failure"));
    probe.assert_values(&[2]);
    let error = probe.error().unwrap();
    assert_eq!(error.to_string(), "late failure");
    assert_eq!(error.stage(), None, "an upstream error is not renamed");
    probe.assert_no_violations();
}

#[test]
fn upstream_error_passes_through_without_demand() {
    common::upstream_error_passes_through_without_demand(|up| up.try_map(Ok::<u64, Error>));
}

#[test]
fn an_empty_upstream_completes_without_demand() {
    common::an_empty_upstream_completes_without_demand(|n| {
        source::range(0, n).try_map(Ok::<u64, Error>)
    });
}

#[test]
fn completion_after_every_element_was_ok_passes_through() {
    let upstream = Manual::<u64>::new();
    let probe = TestSubscriber::new(5);
    upstream
        .clone()
        .try_map(fails_at(1_000))
        .subscribe(probe.clone());
    upstream.next(0);
    upstream.next(1);
    upstream.complete();
    probe.assert_values(&[1, 2]);
    assert!(probe.is_complete());
    assert!(
        !upstream.is_cancelled(),
        "a completed upstream is not cancelled"
    );
    probe.assert_no_violations();
}

#[test]
fn cancel_mid_stream_cancels_upstream_and_releases_the_subscriber() {
    common::cancel_mid_stream_cancels_upstream_and_releases_the_subscriber(|up| {
        up.try_map(Ok::<u64, Error>)
    });
}

#[test]
fn request_zero_fails_the_stream_with_rule_3_9() {
    common::request_zero_fails_the_stream_with_rule_3_9(|n| {
        source::range(0, n).try_map(Ok::<u64, Error>)
    });
}

#[test]
fn reentrant_request_one_from_on_next_runs_to_completion() {
    common::reentrant_request_one_from_on_next_runs_to_completion(|n| {
        source::range(0, n).try_map(Ok::<u64, Error>)
    });
}

#[test]
fn concurrent_requests_deliver_everything_once_in_order() {
    common::concurrent_requests_deliver_everything_once_in_order(|n| {
        source::range(0, n).try_map(Ok::<u64, Error>)
    });
}

#[test]
fn a_filter_after_it_keeps_the_fast_path_without_a_request_per_rejected_element() {
    let (upstream, log) = spy(source::range(0, 100));
    let probe = TestSubscriber::new(10);
    upstream
        .try_map(Ok::<u64, Error>)
        .filter(|x| x % 10 == 0)
        .subscribe(probe.clone());
    probe.assert_values(&[0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
    assert_eq!(
        log.requests(),
        vec![10],
        "no request(1) per rejected element"
    );
}
