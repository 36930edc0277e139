//! Script: the step-script verifier for users' own tests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rstreams_core::scheduler::VirtualTime;
use rstreams_core::{source, Error, NoopSubscription, Publisher, Subscriber};
use rstreams_tck::{Script, TestPublisher};

#[test]
fn a_script_of_elements_demand_and_completion_holds_for_a_range() {
    Script::new(source::range(0, 6))
        .initial_request(1)
        .expect_next(0)
        .expect_no_event(Duration::from_millis(2))
        .then_request(2)
        .expect_next(1)
        .expect_next(2)
        .then_request(u64::MAX)
        .expect_next_count(3)
        .expect_complete()
        .verify();
}

#[test]
fn a_script_on_virtual_time_tests_an_hour_of_an_interval_in_no_real_time() {
    let clock = VirtualTime::new();
    let start = Instant::now();
    Script::new(source::interval(Duration::from_secs(60), clock.clone()))
        .expect_no_event(Duration::from_secs(59))
        .then_advance(&clock, Duration::from_secs(1))
        .expect_next(0)
        .then_advance(&clock, Duration::from_secs(120))
        .expect_next(1)
        .expect_next(2)
        .then_cancel()
        .expect_no_event(Duration::from_secs(3600))
        .verify();
    assert_eq!(clock.elapsed(), Duration::from_secs(59 + 1 + 120 + 3600));
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_script_expects_an_error() {
    Script::new(source::fail::<u64>(Error::msg("down")))
        .expect_error()
        .verify();
}

#[test]
fn a_failing_step_names_what_it_expected_what_arrived_and_the_steps_so_far() {
    let failure = Script::new(source::range(0, 3))
        .expect_next(0)
        .expect_next(5)
        .expect_complete()
        .try_verify()
        .unwrap_err();
    assert_eq!(failure.step(), 2);
    assert_eq!(failure.expected(), "on_next(5)");
    assert_eq!(failure.arrived(), "on_next(1)");
    let text = failure.to_string();
    assert!(
        text.starts_with("script step 2 of 3 did not hold: expect_next(5)"),
        "{text}"
    );
    assert!(
        text.contains("0. subscribe, request(u64::MAX) on subscription"),
        "{text}"
    );
    assert!(text.contains("1. expect_next(0)"), "{text}");
    assert!(text.contains("2. expect_next(5)  <- here"), "{text}");
    assert!(
        text.contains("received in all: [0, 1, 2], then on_complete"),
        "{text}"
    );
}

#[test]
fn a_script_fails_on_an_early_end_a_late_element_and_silence() {
    let early = Script::new(source::range(0, 2))
        .expect_next_count(3)
        .try_verify()
        .unwrap_err();
    assert_eq!(early.arrived(), "2 elements, then on_complete()");

    let late = Script::new(source::range(0, 2))
        .expect_next(0)
        .expect_complete()
        .try_verify()
        .unwrap_err();
    assert_eq!(late.expected(), "on_complete()");
    assert_eq!(late.arrived(), "on_next(1)");

    let silent = Script::new(source::never::<u64>())
        .timeout(Duration::from_millis(20))
        .expect_error()
        .try_verify()
        .unwrap_err();
    assert_eq!(silent.arrived(), "nothing within 20ms");

    let clock = VirtualTime::new();
    let noisy = Script::new(source::interval(Duration::from_secs(1), clock.clone()))
        .virtual_time(&clock)
        .expect_no_event(Duration::from_secs(2))
        .try_verify()
        .unwrap_err();
    assert_eq!(noisy.expected(), "no event for 2s (virtual time)");
    assert_eq!(noisy.arrived(), "on_next(0)");
}

/// Emits two elements for a request of one.
struct Doubling;

impl Publisher for Doubling {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut s: S) {
        s.on_subscribe(Arc::new(NoopSubscription));
        s.on_next(1);
        s.on_next(2);
    }
}

#[test]
fn rule_1_1_a_script_fails_at_the_step_where_a_protocol_violation_is_seen() {
    let failure = Script::new(Doubling)
        .initial_request(1)
        .expect_next(1)
        .expect_next(2)
        .try_verify()
        .unwrap_err();
    assert_eq!(failure.step(), 0, "seen on subscription: {failure}");
    assert!(
        failure
            .arrived()
            .starts_with("§1.1: on_next #2 exceeds the demand"),
        "{failure}"
    );
}

#[test]
fn a_script_drives_a_test_publisher_from_its_steps() {
    let publisher = TestPublisher::<u32>::new();
    let p = publisher.clone();
    let feeder = std::thread::spawn(move || {
        assert!(p.await_requested(2, Duration::from_secs(5)));
        p.emit(7);
        p.emit(8);
        p.complete();
    });
    Script::new(publisher.clone())
        .initial_request(2)
        .expect_next(7)
        .expect_next(8)
        .expect_complete()
        .verify();
    feeder.join().unwrap();
}

#[test]
#[should_panic(expected = "script step 1 of 1 did not hold: expect_next(1)")]
fn verify_panics_with_the_account_of_the_first_step_that_did_not_hold() {
    Script::new(source::range(0, 1)).expect_next(1).verify();
}
