//! `on_error_resume`, `on_error_return` and `map_err`: what the downstream sees after an
//! upstream error, and that demand is carried across the switch exactly.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use rstreams_core::{sink, source, Error, ErrorKind, Publisher};
use rstreams_ops::PublisherExt;
use rstreams_tck::TestSubscriber;

/// `0..n` over a switch: the first half from a source that then fails, the rest from the
/// fallback.
fn resumed(n: u64) -> impl Publisher<Item = u64> {
    let half = n / 2;
    source::range(0, half)
        .concat(source::fail(Error::msg("half way")))
        .on_error_resume(move |_| source::range(half, n - half))
}

/// `0..n` with the last element made from the error.
fn returned(n: u64) -> impl Publisher<Item = u64> {
    source::range(0, n.saturating_sub(1))
        .concat(source::fail(Error::msg("at the end")))
        .on_error_return(move |_| n - 1)
}

mod on_error_resume {
    use super::*;

    #[test]
    fn continues_with_the_fallback_after_the_sources_elements() {
        let out = resumed(6);
        assert_eq!(sink::collect(&out).unwrap(), vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn the_function_receives_the_sources_error() {
        let out = source::fail::<String>(Error::msg("primary down"))
            .on_error_resume(|e| source::just(format!("fallback for: {e}")));
        assert_eq!(
            sink::collect(&out).unwrap(),
            vec!["fallback for: primary down".to_string()]
        );
    }

    #[test]
    fn rule_3_8_after_the_switch_the_fallback_is_asked_for_exactly_the_outstanding_demand() {
        let primary = Manual::new();
        let (fallback, log) = spy(source::range(100, 1_000));
        let probe = TestSubscriber::new(5);
        primary
            .clone()
            .on_error_resume(move |_| fallback.clone())
            .subscribe(probe.clone());
        emit_as_requested(&primary, 0, 2);
        primary.error(Error::msg("broke after 2 of 5"));
        assert_eq!(log.requests(), vec![3], "the outstanding 3, no more");
        probe.assert_values(&[0, 1, 100, 101, 102]);
        probe.request(2);
        assert_eq!(log.requests(), vec![3, 2]);
        assert_eq!(probe.count(), 7);
        probe.assert_no_violations();
    }

    #[test]
    fn rule_1_1_a_request_racing_the_switch_is_counted_once() {
        for _ in 0..200 {
            let primary = Manual::new();
            let probe = TestSubscriber::new(1);
            primary
                .clone()
                .on_error_resume(|_| source::range(100, 1_000))
                .subscribe(probe.clone());
            let requester = {
                let probe = probe.clone();
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        probe.request(1);
                    }
                })
            };
            emit_as_requested(&primary, 0, 1);
            primary.error(Error::msg("switch now"));
            requester.join().unwrap();
            assert!(probe.await_count(21, WAIT), "stalled at {}", probe.count());
            probe.assert_no_more_within(std::time::Duration::from_millis(1));
            assert_eq!(probe.count(), 21, "delivered more or less than requested");
            probe.assert_no_violations();
        }
    }

    #[test]
    fn rule_3_9_the_error_answering_a_request_zero_is_never_resumed() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let probe = TestSubscriber::new(0);
        source::range(0, 10)
            .on_error_resume(move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
                source::range(0, 10)
            })
            .subscribe(probe.clone());
        probe.request(0);
        assert_eq!(probe.error().unwrap().rule(), Some("3.9"));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn an_error_of_the_fallback_ends_the_stream() {
        let out = source::fail::<u64>(Error::msg("first"))
            .on_error_resume(|_| source::fail(Error::msg("second")));
        assert_eq!(sink::collect(&out).unwrap_err().to_string(), "second");
    }

    #[test]
    fn a_panic_in_the_function_fails_the_stream_naming_the_stage() {
        let out = source::fail::<u64>(Error::msg("first"))
            .on_error_resume(|_| -> source::Range { panic!("no fallback today") });
        let error = sink::collect(&out).unwrap_err();
        assert_panic_error(&error, "on_error_resume", "no fallback today");
    }

    #[test]
    fn rule_3_13_a_cancel_before_the_switch_means_the_fallback_is_never_subscribed() {
        let primary = Manual::<u64>::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let probe = TestSubscriber::new(1);
        let (subscriber, weak) = track(probe.clone());
        primary
            .clone()
            .on_error_resume(move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
                source::range(0, 10)
            })
            .subscribe(subscriber);
        probe.cancel();
        assert!(primary.is_cancelled());
        primary.error(Error::msg("late"));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        assert!(released(&weak));
        assert!(!probe.is_terminated());
    }

    #[test]
    fn rule_3_12_a_cancel_after_the_switch_reaches_the_fallback() {
        let fallback = Manual::<u64>::new();
        let probe = TestSubscriber::new(3);
        let (subscriber, weak) = track(probe.clone());
        let f = fallback.clone();
        source::fail(Error::msg("down"))
            .on_error_resume(move |_| f.clone())
            .subscribe(subscriber);
        assert_eq!(fallback.requested(), 3);
        fallback.next(1);
        probe.cancel();
        assert!(fallback.is_cancelled());
        assert!(released(&weak));
    }

    #[test]
    fn partial_demand_is_exact_across_the_switch() {
        partial_demand_is_exact(resumed);
    }

    #[test]
    fn reentrant_request_one_from_on_next_runs_to_completion() {
        common::reentrant_request_one_from_on_next_runs_to_completion(resumed);
    }

    #[test]
    fn concurrent_requests_deliver_everything_once_in_order() {
        common::concurrent_requests_deliver_everything_once_in_order(resumed);
    }

    #[test]
    fn demand_overflowing_u64_is_unbounded() {
        common::demand_overflowing_u64_is_unbounded(resumed);
    }

    #[test]
    fn rule_3_9_request_zero_fails_the_stream() {
        request_zero_fails_the_stream_with_rule_3_9(resumed);
    }

    #[test]
    fn cancel_mid_stream_cancels_upstream_and_releases_the_subscriber() {
        common::cancel_mid_stream_cancels_upstream_and_releases_the_subscriber(|up| {
            up.on_error_resume(|_| source::range(0, 10))
        });
    }
}

mod on_error_return {
    use super::*;

    #[test]
    fn emits_one_last_element_made_from_the_error_then_completes() {
        let out = source::range(0, 2)
            .map(Ok)
            .concat(source::fail(Error::msg("gone")))
            .on_error_return(|e| Err(e.to_string()));
        assert_eq!(
            sink::collect(&out).unwrap(),
            vec![Ok(0), Ok(1), Err("gone".to_string())]
        );
    }

    #[test]
    fn rule_1_1_the_last_element_waits_for_demand_and_completion_follows_it() {
        let probe = TestSubscriber::new(0);
        source::fail(Error::msg("down"))
            .on_error_return(|_| 42u64)
            .subscribe(probe.clone());
        probe.assert_no_more_within(QUIET);
        assert!(!probe.is_terminated(), "nothing before demand");
        probe.request(1);
        probe.assert_values(&[42]);
        assert!(probe.is_complete());
        probe.assert_no_violations();
    }

    #[test]
    fn rule_3_9_the_error_answering_a_request_zero_is_not_replaced() {
        let probe = TestSubscriber::new(0);
        source::range(0, 5)
            .on_error_return(|_| 99)
            .subscribe(probe.clone());
        probe.request(0);
        assert_eq!(probe.error().unwrap().rule(), Some("3.9"));
        assert_eq!(probe.count(), 0);
    }

    #[test]
    fn a_panic_in_the_function_fails_the_stream_naming_the_stage() {
        let out =
            source::fail::<u64>(Error::msg("first")).on_error_return(|_| panic!("cannot make one"));
        assert_panic_error(
            &sink::collect(&out).unwrap_err(),
            "on_error_return",
            "cannot make one",
        );
    }

    #[test]
    fn completion_without_an_error_is_passed_on_unchanged() {
        let out = source::range(0, 3).on_error_return(|_| 99);
        assert_eq!(sink::collect(&out).unwrap(), vec![0, 1, 2]);
    }

    #[test]
    fn partial_demand_is_exact_up_to_the_last_element() {
        partial_demand_is_exact(returned);
    }

    #[test]
    fn reentrant_request_one_from_on_next_runs_to_completion() {
        common::reentrant_request_one_from_on_next_runs_to_completion(returned);
    }

    #[test]
    fn concurrent_requests_deliver_everything_once_in_order() {
        common::concurrent_requests_deliver_everything_once_in_order(returned);
    }

    #[test]
    fn cancel_mid_stream_cancels_upstream_and_releases_the_subscriber() {
        common::cancel_mid_stream_cancels_upstream_and_releases_the_subscriber(|up| {
            up.on_error_return(|_| 0)
        });
    }
}

mod map_err {
    use super::*;

    #[test]
    fn the_upstreams_error_goes_downstream_transformed() {
        let out = source::fail::<u64>(Error::msg("reset")).map_err(Error::timeout);
        let error = sink::collect(&out).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Timeout);
        assert_eq!(error.to_string(), "reset");
    }

    #[test]
    fn elements_and_demand_pass_through_unchanged() {
        let (source, log) = spy(source::range(0, 10));
        let probe = TestSubscriber::new(3);
        source.map_err(|e| e).subscribe(probe.clone());
        probe.request(2);
        assert_eq!(log.requests(), vec![3, 2]);
        probe.assert_values(&[0, 1, 2, 3, 4]);
    }

    #[test]
    fn rule_3_9_the_error_answering_a_request_zero_is_passed_on_as_it_is() {
        let probe = TestSubscriber::new(0);
        source::range(0, 5)
            .map_err(|_| Error::msg("hidden"))
            .subscribe(probe.clone());
        probe.request(0);
        assert_eq!(probe.error().unwrap().rule(), Some("3.9"));
    }

    #[test]
    fn a_panic_in_the_function_fails_the_stream_naming_the_stage() {
        let out = source::fail::<u64>(Error::msg("first")).map_err(|_| panic!("bad mapping"));
        assert_panic_error(&sink::collect(&out).unwrap_err(), "map_err", "bad mapping");
    }

    #[test]
    fn partial_demand_is_exact() {
        common::partial_demand_is_exact(|n| source::range(0, n).map_err(|e| e));
    }
}
