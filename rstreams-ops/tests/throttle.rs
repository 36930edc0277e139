//! throttle: the token bucket's bound, shaping delays everything into time, enforcing fails.

mod common;

use std::time::Duration;

use common::*;
use proptest::prelude::*;
use rstreams_core::scheduler::VirtualTime;
use rstreams_core::{sink, source, Error, ErrorKind, Publisher};
use rstreams_ops::{PublisherExt, ThrottleMode};
use rstreams_tck::{TestPublisher, TestSubscriber, Upstream};

const SECOND: Duration = Duration::from_secs(1);

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]

    /// By time t at most burst + rate·⌊t/period⌋ elements have passed, and in shaping mode
    /// every element eventually does.
    #[test]
    fn shaping_emits_at_most_burst_plus_rate_times_periods_and_eventually_everything(
        rate in 1u64..6,
        burst in 1u64..8,
        period_ms in 1u64..50,
        total in 0u64..60,
        step_ms in 1u64..30,
    ) {
        let vt = VirtualTime::new();
        let period = Duration::from_millis(period_ms);
        let probe = TestSubscriber::new(u64::MAX);
        source::range(0, total)
            .throttle_on(rate, period, burst, ThrottleMode::Shaping, vt.clone())
            .subscribe(probe.clone());
        let mut t = 0u64;
        while !probe.is_terminated() {
            let allowed = burst + rate * (t / period_ms);
            prop_assert!(
                probe.count() as u64 <= allowed,
                "{} elements by {t} ms; the bucket allows {allowed}", probe.count()
            );
            vt.advance_by(Duration::from_millis(step_ms));
            t += step_ms;
            prop_assert!(t < 1_000_000, "never completed: {} of {total}", probe.count());
        }
        prop_assert!(probe.is_complete());
        prop_assert_eq!(probe.count() as u64, total);
        prop_assert!(probe.violations().is_empty());
    }
}

#[test]
fn shaping_refills_are_not_held_up_by_another_pipelines_blocked_subscriber() {
    let blocked = BlockedPipeline::start();
    // One element per millisecond: the second and third are asked for by refill timers, and
    // the synchronous range emits them on the thread that asks.
    let (tx, rx) = std::sync::mpsc::channel();
    let subscriber = sink::for_each(move |x: u64| {
        let _ = tx.send((x, thread_name()));
    });
    let done = subscriber.handle();
    source::range(0, 3)
        .throttle(1, Duration::from_millis(1), 1, ThrottleMode::Shaping)
        .subscribe(subscriber);
    assert!(
        done.wait_timeout(WAIT).is_some(),
        "the refills waited for another pipeline's blocked subscriber"
    );
    let emitted: Vec<(u64, String)> = rx.try_iter().collect();
    assert_eq!(
        emitted.iter().map(|(x, _)| *x).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    for (x, thread) in &emitted[1..] {
        assert!(
            thread.starts_with("rstreams-timer-") && *thread != "rstreams-timer-clock",
            "element {x} was emitted on {thread}"
        );
        assert_ne!(*thread, blocked.thread);
    }
}

#[test]
fn a_period_of_duration_max_never_refills() {
    for mode in [ThrottleMode::Shaping, ThrottleMode::Enforcing] {
        let vt = VirtualTime::new();
        let input = TestPublisher::<u64>::new();
        let probe = TestSubscriber::new(10);
        input
            .clone()
            .throttle_on(1, Duration::MAX, 2, mode, vt.clone())
            .subscribe(probe.clone());
        for i in 0..2 {
            input.emit(i);
        }
        vt.advance_by(SECOND * 3600 * 24 * 365 * 50);
        probe.assert_values(&[0, 1]);
        if mode == ThrottleMode::Shaping {
            assert_eq!(input.requested(), 2, "no refill in half a century");
        } else {
            input.emit(2);
            assert_eq!(probe.error().map(|e| e.kind()), Some(ErrorKind::Overflow));
        }
    }
    // The default timer.
    let (tx, rx) = std::sync::mpsc::channel();
    let subscriber = sink::for_each(move |x: u64| {
        let _ = tx.send(x);
    });
    let done = subscriber.handle();
    source::range(0, 3)
        .throttle(1, Duration::MAX, 2, ThrottleMode::Shaping)
        .subscribe(subscriber);
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), 0);
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), 1);
    assert!(!done.is_done());
    done.cancel();
}

#[test]
fn enforcing_passes_at_most_burst_at_one_instant_after_an_idle_spell() {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(u64::MAX);
    input
        .clone()
        .throttle_on(10, SECOND, 10, ThrottleMode::Enforcing, vt.clone())
        .subscribe(probe.clone());
    input.emit(0); // one token spent, nine left
    vt.advance_by(SECOND * 10); // idle: the bucket is full again, not fuller
                                // All at one instant; the stream fails at the first element without a token.
    for i in 1..20 {
        if input.try_emit(i).is_err() {
            break;
        }
    }
    assert_eq!(
        probe.count(),
        11,
        "the first element, then a full bucket of 10"
    );
    assert_eq!(probe.error().map(|e| e.kind()), Some(ErrorKind::Overflow));
}

#[test]
fn shaping_never_emits_without_demand() {
    let vt = VirtualTime::new();
    let probe = TestSubscriber::new(0);
    source::range(0, 100)
        .throttle_on(10, SECOND, 10, ThrottleMode::Shaping, vt.clone())
        .subscribe(probe.clone());
    vt.advance_by(SECOND * 5);
    assert_eq!(probe.count(), 0);
    probe.request(3);
    assert_eq!(probe.count(), 3);
    vt.advance_by(SECOND * 5);
    assert_eq!(probe.count(), 3, "exact under partial demand");
    probe.assert_no_violations();
}

#[test]
fn shaping_asks_upstream_only_for_what_the_bucket_allows() {
    let vt = VirtualTime::new();
    let up = Upstream::emitting(1_000);
    let probe = TestSubscriber::new(100);
    up.clone()
        .throttle_on(2, SECOND, 5, ThrottleMode::Shaping, vt.clone())
        .subscribe(probe.clone());
    assert_eq!(up.requested(), 5, "the burst, not the downstream's 100");
    vt.advance_by(SECOND);
    assert_eq!(up.requested(), 7);
    assert_eq!(probe.count(), 7);
    probe.cancel();
    assert!(up.is_cancelled());
    vt.advance_by(SECOND * 10);
    assert_eq!(up.requested(), 7, "no refill after cancel");
}

#[test]
fn enforcing_fails_the_stream_when_the_rate_is_exceeded() {
    let vt = VirtualTime::new();
    let up = Upstream::emitting(10);
    let probe = TestSubscriber::new(u64::MAX);
    up.clone()
        .throttle_on(1, SECOND, 3, ThrottleMode::Enforcing, vt)
        .subscribe(probe.clone());
    probe.assert_values(&[0, 1, 2]);
    let error = probe.error().expect("the fourth element exceeds the burst");
    assert_eq!(error.kind(), ErrorKind::Overflow);
    assert_eq!(error.stage(), Some("throttle"));
    assert!(error.to_string().contains("rate exceeded"), "{error}");
    assert!(up.is_cancelled());
    probe.assert_no_violations();
}

#[test]
fn enforcing_lets_a_stream_within_the_rate_through() {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(u64::MAX);
    input
        .clone()
        .throttle_on(1, SECOND, 1, ThrottleMode::Enforcing, vt.clone())
        .subscribe(probe.clone());
    for k in 0..5 {
        input.emit(k);
        vt.advance_by(SECOND);
    }
    input.complete();
    probe.assert_values(&[0, 1, 2, 3, 4]);
    assert!(probe.is_complete());
}

#[test]
fn the_protocol_holds() {
    let vt = VirtualTime::new();
    let fast = |n: u64| {
        source::range(0, n).throttle_on(
            1_000_000,
            SECOND,
            1_000_000,
            ThrottleMode::Shaping,
            vt.clone(),
        )
    };
    zero_demand_emits_nothing(fast);
    partial_demand_is_exact(fast);
    reentrant_request_one_from_on_next_runs_to_completion(fast);
    concurrent_requests_deliver_everything_once_in_order(fast);
    request_zero_fails_the_stream_with_rule_3_9(fast);
    demand_overflowing_u64_is_unbounded(fast);
    upstream_error_passes_through_without_demand(|f| {
        f.throttle_on(1, SECOND, 1, ThrottleMode::Shaping, VirtualTime::new())
    });
    an_empty_upstream_completes_without_demand(fast);
}

#[test]
fn errors_pass_through_in_enforcing_mode() {
    let probe = TestSubscriber::<u64>::new(0);
    source::fail::<u64>(Error::msg("down"))
        .throttle_on(1, SECOND, 1, ThrottleMode::Enforcing, VirtualTime::new())
        .subscribe(probe.clone());
    assert_eq!(probe.error().unwrap().to_string(), "down");
}

#[test]
#[should_panic(expected = "burst must be at least 1")]
fn a_zero_burst_is_rejected_when_built() {
    let _ = source::range(0, 1).throttle(1, SECOND, 0, ThrottleMode::Shaping);
}

#[test]
#[should_panic(expected = "per must be a positive duration")]
fn a_zero_period_is_rejected_when_built() {
    let _ = source::range(0, 1).throttle(1, Duration::ZERO, 1, ThrottleMode::Shaping);
}
