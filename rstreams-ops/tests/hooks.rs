//! The hooks: `inspect`, `on_request`, `on_cancel`, `on_terminate`, `finally`. What each sees,
//! when, how often, and what a panic in each does.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use rstreams_core::{sink, source, Error, ErrorKind, Publisher, Subscriber};
use rstreams_ops::PublisherExt;
use rstreams_tck::TestSubscriber;

fn counter() -> (Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let c = Arc::new(AtomicUsize::new(0));
    (Arc::clone(&c), c)
}

fn count(c: &AtomicUsize) -> usize {
    c.load(Ordering::SeqCst)
}

/// The protocol checks every pass-through stage must pass.
macro_rules! protocol_checks {
    ($make:expr, $over:expr) => {
        #[test]
        fn partial_demand_is_exact() {
            common::partial_demand_is_exact($make);
        }

        #[test]
        fn reentrant_request_one_from_on_next_runs_to_completion() {
            common::reentrant_request_one_from_on_next_runs_to_completion($make);
        }

        #[test]
        fn concurrent_requests_deliver_everything_once_in_order() {
            common::concurrent_requests_deliver_everything_once_in_order($make);
        }

        #[test]
        fn rule_3_9_request_zero_fails_the_stream() {
            request_zero_fails_the_stream_with_rule_3_9($make);
        }

        #[test]
        fn upstream_errors_pass_through_without_demand() {
            upstream_error_passes_through_without_demand($over);
        }

        #[test]
        fn cancel_mid_stream_cancels_upstream_and_releases_the_subscriber() {
            common::cancel_mid_stream_cancels_upstream_and_releases_the_subscriber($over);
        }
    };
}

mod inspect {
    use super::*;

    #[test]
    fn sees_each_element_in_order_before_the_downstream() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let out = source::range(0, 4).inspect(move |x| log.lock().unwrap().push(*x));
        assert_eq!(sink::collect(&out).unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(*seen.lock().unwrap(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn the_fast_path_is_kept_a_filter_after_it_costs_no_request_per_rejected_element() {
        let (source, log) = spy(source::range(0, 100));
        let probe = TestSubscriber::new(5);
        source
            .inspect(|_| {})
            .filter(|x| x % 10 == 0)
            .subscribe(probe.clone());
        probe.assert_values(&[0, 10, 20, 30, 40]);
        assert_eq!(log.requests(), vec![5]);
    }

    #[test]
    fn a_panic_in_the_hook_cancels_the_upstream_and_fails_the_stream_naming_the_stage() {
        let upstream = Manual::new();
        let probe = TestSubscriber::new(10);
        upstream
            .clone()
            .inspect(|x| assert!(*x < 2, "too big"))
            .subscribe(probe.clone());
        emit_as_requested(&upstream, 0, 5);
        probe.assert_values(&[0, 1]);
        assert_panic_error(&probe.error().unwrap(), "inspect", "too big");
        assert!(upstream.is_cancelled());
        probe.assert_no_violations();
    }

    protocol_checks!(|n| source::range(0, n).inspect(|_| {}), |up| up
        .inspect(|_| {}));
}

mod on_request {
    use super::*;

    #[test]
    fn sees_each_request_before_it_goes_upstream() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let upstream = Manual::<u64>::new();
        let probe = TestSubscriber::new(2);
        let up = upstream.clone();
        upstream
            .clone()
            .on_request(move |n| log.lock().unwrap().push((n, up.requested())))
            .subscribe(probe.clone());
        probe.request(3);
        // The hook saw 2 when nothing was requested yet, 3 when 2 had been.
        assert_eq!(*seen.lock().unwrap(), vec![(2, 0), (3, 2)]);
        assert_eq!(upstream.requested(), 5);
    }

    #[test]
    fn a_panic_in_the_hook_ends_the_upstream_and_fails_the_stream_naming_the_stage() {
        let probe = TestSubscriber::new(2);
        source::range(0, 100)
            .on_request(|n| assert!(n < 3, "asked for too much"))
            .subscribe(probe.clone());
        probe.assert_values(&[0, 1]);
        probe.request(5);
        assert_panic_error(&probe.error().unwrap(), "on_request", "asked for too much");
        probe.request(1);
        probe.assert_values(&[0, 1]);
        probe.assert_no_violations();
    }

    #[test]
    fn a_panic_in_a_request_made_inside_on_next_is_signalled_after_on_next_returned() {
        // The probe requests from inside on_next; the failure must not be signalled inside it
        // (§1.3, §3.3): the probe flags overlapping signals.
        let requests = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&requests);
        let probe = TestSubscriber::new(1).request_on_next(1);
        source::range(0, 100)
            .on_request(move |_| {
                assert!(
                    seen.fetch_add(1, Ordering::SeqCst) < 3,
                    "the fourth request"
                );
            })
            .subscribe(probe.clone());
        assert_panic_error(&probe.error().unwrap(), "on_request", "the fourth request");
        assert_eq!(probe.count(), 3);
        probe.assert_no_violations();
    }

    #[test]
    fn a_panic_in_a_request_from_another_thread_is_signalled_serially_with_the_upstream() {
        let upstream = Manual::<u64>::new();
        let probe = TestSubscriber::new(1);
        upstream
            .clone()
            .on_request(|n| assert!(n != 7, "seven"))
            .subscribe(probe.clone());
        let other = {
            let probe = probe.clone();
            std::thread::spawn(move || probe.request(7))
        };
        other.join().unwrap();
        assert!(
            !probe.is_terminated(),
            "signalled from the requester's thread"
        );
        // The upstream answers the §3.9 request from its own context.
        upstream.error(Error::request_zero());
        assert_panic_error(&probe.error().unwrap(), "on_request", "seven");
        assert_eq!(upstream.log().requests(), vec![1, 0]);
    }

    protocol_checks!(|n| source::range(0, n).on_request(|_| {}), |up| up
        .on_request(|_| {}));
}

mod on_cancel {
    use super::*;

    #[test]
    fn runs_once_when_the_downstream_cancels_then_the_cancel_goes_upstream() {
        let upstream = Manual::<u64>::new();
        let (runs, c) = counter();
        let up = upstream.clone();
        let cancelled_before_hook = Arc::new(AtomicBool::new(true));
        let flag = Arc::clone(&cancelled_before_hook);
        let probe = TestSubscriber::new(1);
        upstream
            .clone()
            .on_cancel(move || {
                c.fetch_add(1, Ordering::SeqCst);
                flag.store(up.is_cancelled(), Ordering::SeqCst);
            })
            .subscribe(probe.clone());
        probe.cancel();
        probe.cancel();
        assert_eq!(count(&runs), 1);
        assert!(
            !cancelled_before_hook.load(Ordering::SeqCst),
            "the hook runs first"
        );
        assert!(upstream.is_cancelled());
    }

    #[test]
    fn does_not_run_when_the_stream_completes_or_fails() {
        for failing in [false, true] {
            let (runs, c) = counter();
            let source = if failing {
                source::fail(Error::msg("x")).boxed()
            } else {
                source::range(0, 3).boxed()
            };
            let out = source.on_cancel(move || {
                c.fetch_add(1, Ordering::SeqCst);
            });
            let _ = sink::collect(&out);
            assert_eq!(count(&runs), 0);
        }
    }

    #[test]
    fn does_not_run_for_a_cancel_after_the_stream_ended() {
        let (runs, c) = counter();
        let probe = TestSubscriber::new(10);
        source::range(0, 3)
            .on_cancel(move || {
                c.fetch_add(1, Ordering::SeqCst);
            })
            .subscribe(probe.clone());
        assert!(probe.is_complete());
        probe.cancel();
        assert_eq!(count(&runs), 0);
    }

    #[test]
    fn a_panic_in_the_hook_is_caught_and_the_upstream_is_cancelled_all_the_same() {
        let upstream = Manual::<u64>::new();
        let probe = TestSubscriber::new(1);
        upstream
            .clone()
            .on_cancel(|| panic!("cleanup failed"))
            .subscribe(probe.clone());
        probe.cancel(); // does not unwind here
        assert!(upstream.is_cancelled());
        assert!(
            !probe.is_terminated(),
            "nothing is signalled to a cancelled downstream"
        );
    }

    protocol_checks!(|n| source::range(0, n).on_cancel(|| {}), |up| up
        .on_cancel(|| {}));
}

mod on_terminate {
    use super::*;

    #[test]
    fn sees_completion_and_errors_before_the_downstream() {
        let ends = Arc::new(Mutex::new(Vec::new()));
        for failing in [false, true] {
            let probe = TestSubscriber::new(10);
            let (log, p) = (Arc::clone(&ends), probe.clone());
            let source = if failing {
                source::fail(Error::msg("broke")).boxed()
            } else {
                source::range(0, 2).boxed()
            };
            source
                .on_terminate(move |e| {
                    log.lock()
                        .unwrap()
                        .push((e.map(|e| e.to_string()), p.is_terminated()));
                })
                .subscribe(probe.clone());
            assert!(probe.is_terminated());
        }
        assert_eq!(
            *ends.lock().unwrap(),
            vec![(None, false), (Some("broke".to_string()), false)]
        );
    }

    #[test]
    fn does_not_run_on_cancel() {
        let (runs, c) = counter();
        let probe = TestSubscriber::new(1);
        source::range(0, 10)
            .on_terminate(move |_| {
                c.fetch_add(1, Ordering::SeqCst);
            })
            .subscribe(probe.clone());
        probe.cancel();
        assert_eq!(count(&runs), 0);
    }

    #[test]
    fn a_panic_on_completion_becomes_the_streams_error() {
        let out = source::range(0, 2).on_terminate(|_| panic!("flush failed"));
        let error = sink::collect(&out).unwrap_err();
        assert_panic_error(&error, "on_terminate", "flush failed");
    }

    #[test]
    fn a_panic_on_an_error_replaces_it_naming_the_error_it_was_given() {
        let out = source::fail::<u64>(Error::msg("disk full")).on_terminate(|_| panic!("oops"));
        let error = sink::collect(&out).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Panic);
        assert_eq!(error.stage(), Some("on_terminate"));
        assert!(error.to_string().contains("disk full"), "{error}");
        assert!(error.to_string().contains("oops"), "{error}");
    }

    protocol_checks!(|n| source::range(0, n).on_terminate(|_| {}), |up| up
        .on_terminate(|_| {}));
}

mod finally {
    use super::*;

    fn finally_counting<P: Publisher>(
        source: P,
    ) -> (impl Publisher<Item = P::Item>, Arc<AtomicUsize>) {
        let (runs, c) = counter();
        (
            source.finally(move || {
                c.fetch_add(1, Ordering::SeqCst);
            }),
            runs,
        )
    }

    #[test]
    fn runs_once_after_completion_went_downstream() {
        let probe = TestSubscriber::new(10);
        let (after, flag) = (Arc::new(AtomicBool::new(false)), probe.clone());
        let seen = Arc::clone(&after);
        source::range(0, 3)
            .finally(move || seen.store(flag.is_complete(), Ordering::SeqCst))
            .subscribe(probe.clone());
        assert!(
            after.load(Ordering::SeqCst),
            "ran after on_complete returned"
        );
    }

    #[test]
    fn runs_once_on_an_error() {
        let (out, runs) = finally_counting(source::fail::<u64>(Error::msg("x")));
        assert!(sink::collect(&out).is_err());
        assert_eq!(count(&runs), 1);
    }

    #[test]
    fn runs_once_on_cancel_after_the_cancel_reached_the_upstream() {
        let upstream = Manual::<u64>::new();
        let (runs, c) = counter();
        let up = upstream.clone();
        let probe = TestSubscriber::new(1);
        upstream
            .clone()
            .finally(move || {
                assert!(up.is_cancelled());
                c.fetch_add(1, Ordering::SeqCst);
            })
            .subscribe(probe.clone());
        probe.cancel();
        probe.cancel();
        upstream.complete(); // a lagging end after the cancel: still once
        assert_eq!(count(&runs), 1);
    }

    #[test]
    fn rule_2_13_runs_once_when_the_downstream_panics_and_the_panic_goes_on() {
        let upstream = Manual::<u64>::new();
        let (out, runs) = finally_counting(upstream.clone());
        out.subscribe(PanicsOnNext::new(5));
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| upstream.next(0)));
        assert!(
            caught.is_err(),
            "the downstream's panic goes on to the caller"
        );
        assert_eq!(count(&runs), 1);
        assert!(upstream.is_cancelled());
        upstream.complete();
        assert_eq!(count(&runs), 1);
    }

    #[test]
    fn runs_once_when_a_cancel_races_with_the_completion_from_two_threads() {
        for _ in 0..500 {
            let upstream = Manual::<u64>::lagging();
            let (out, runs) = finally_counting(upstream.clone());
            let probe = TestSubscriber::new(1);
            out.subscribe(probe.clone());
            let barrier = Arc::new(std::sync::Barrier::new(2));
            let canceller = {
                let (probe, barrier) = (probe.clone(), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    probe.cancel();
                })
            };
            barrier.wait();
            upstream.complete();
            canceller.join().unwrap();
            assert_eq!(count(&runs), 1);
        }
    }

    #[test]
    fn runs_when_the_upstream_lets_go_of_the_subscriber_without_a_signal() {
        struct Dropping;
        impl Publisher for Dropping {
            type Item = u64;
            fn subscribe<S: Subscriber<u64> + 'static>(&self, subscriber: S) {
                drop(subscriber);
            }
        }
        let (out, runs) = finally_counting(Dropping);
        out.subscribe(TestSubscriber::<u64>::new(1));
        assert_eq!(count(&runs), 1);
    }

    #[test]
    fn a_panic_in_the_hook_is_caught_and_the_stream_ends_as_it_would_have() {
        let out = source::range(0, 2).finally(|| panic!("close failed"));
        assert_eq!(sink::collect(&out).unwrap(), vec![0, 1]);
    }

    protocol_checks!(|n| source::range(0, n).finally(|| {}), |up| up
        .finally(|| {}));
}
