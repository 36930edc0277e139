//! `retry(policy)`: resubscription, attempts, delays on virtual time, demand carried over,
//! cancel during a delay, and constant stack depth.

mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use rstreams_core::scheduler::VirtualTime;
use rstreams_core::{sink, source, BoxPublisher, Error, ErrorKind, Publisher};
use rstreams_ops::{Jitter, PublisherExt, RetryPolicy};
use rstreams_tck::TestSubscriber;

const SECOND: Duration = Duration::from_secs(1);

/// A source whose `k`-th subscription (from 0) is `script(k)`; counts its subscriptions.
fn scripted<F>(script: F) -> (impl Publisher<Item = u64> + Clone, Arc<AtomicUsize>)
where
    F: Fn(usize) -> BoxPublisher<u64> + Send + Sync + 'static,
{
    let subscriptions = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&subscriptions);
    let script = Arc::new(script);
    let source = source::defer(move || script(counter.fetch_add(1, Ordering::SeqCst)));
    (ArcSource(Arc::new(source)), subscriptions)
}

/// Makes a `Defer` cloneable for the tests.
struct ArcSource<P>(Arc<P>);
impl<P> Clone for ArcSource<P> {
    fn clone(&self) -> Self {
        ArcSource(Arc::clone(&self.0))
    }
}
impl<P: Publisher> Publisher for ArcSource<P> {
    type Item = P::Item;
    fn subscribe<S: rstreams_core::Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.0.subscribe(subscriber)
    }
}

fn down() -> BoxPublisher<u64> {
    source::fail(Error::msg("down")).boxed()
}

/// A source that always fails, and when each subscription came (virtual time).
fn always_failing(
    clock: &VirtualTime,
) -> (
    impl Publisher<Item = u64> + Clone,
    Arc<Mutex<Vec<Duration>>>,
) {
    let times = Arc::new(Mutex::new(Vec::new()));
    let (log, clock) = (Arc::clone(&times), clock.clone());
    let (source, _) = scripted(move |_| {
        log.lock().unwrap().push(clock.elapsed());
        down()
    });
    (source, times)
}

/// `0..n` over one failure half-way: the first subscription emits the first half and fails,
/// the second emits the rest (as a source that resumes from a cursor would).
fn recovering(n: u64) -> impl Publisher<Item = u64> {
    let half = n / 2;
    let (source, _) = scripted(move |k| match k {
        0 => source::range(0, half).concat(down()).boxed(),
        _ => source::range(half, n - half).boxed(),
    });
    source.retry(RetryPolicy::immediate())
}

#[test]
fn resubscribes_after_an_error_and_delivers_what_the_next_subscription_emits() {
    let (source, subscriptions) = scripted(|k| {
        if k < 2 {
            down()
        } else {
            source::range(7, 2).boxed()
        }
    });
    let out = source.retry(RetryPolicy::immediate());
    assert_eq!(sink::collect(&out).unwrap(), vec![7, 8]);
    assert_eq!(subscriptions.load(Ordering::SeqCst), 3);
}

#[test]
fn max_attempts_counts_subscriptions_the_first_included_and_names_the_count_when_giving_up() {
    let (source, subscriptions) = scripted(|_| source::fail(Error::timeout("slow")).boxed());
    let out = source.retry(RetryPolicy::immediate().max_attempts(4));
    let error = sink::collect(&out).unwrap_err();
    assert_eq!(subscriptions.load(Ordering::SeqCst), 4);
    assert_eq!(error.to_string(), "gave up after 4 attempts: slow");
    assert_eq!(
        error.kind(),
        ErrorKind::Timeout,
        "the last error's kind is kept"
    );
}

#[test]
fn max_attempts_one_never_retries() {
    let (source, subscriptions) = scripted(|_| down());
    let error = sink::collect(&source.retry(RetryPolicy::immediate().max_attempts(1))).unwrap_err();
    assert_eq!(subscriptions.load(Ordering::SeqCst), 1);
    assert_eq!(error.to_string(), "gave up after 1 attempt: down");
}

#[test]
fn the_default_policy_makes_three_attempts() {
    let (source, subscriptions) = scripted(|_| down());
    assert!(sink::collect(&source.retry(RetryPolicy::immediate())).is_err());
    assert_eq!(subscriptions.load(Ordering::SeqCst), 3);
}

#[test]
#[should_panic(expected = "max_attempts: n must be at least 1 (valid range: 1..=u32::MAX")]
fn max_attempts_zero_is_rejected_when_built_naming_the_argument_and_its_range() {
    let _ = RetryPolicy::immediate().max_attempts(0);
}

#[test]
#[should_panic(expected = "initial must be above zero")]
fn an_exponential_backoff_from_zero_is_rejected_when_built() {
    let _ = RetryPolicy::exponential(Duration::ZERO, SECOND);
}

#[test]
#[should_panic(expected = "max must be at least initial")]
fn an_exponential_backoff_whose_max_is_below_its_initial_delay_is_rejected_when_built() {
    let _ = RetryPolicy::exponential(SECOND, Duration::from_millis(1));
}

#[test]
#[should_panic(expected = "max_elapsed: limit must be above zero")]
fn a_zero_max_elapsed_is_rejected_when_built() {
    let _ = RetryPolicy::immediate().max_elapsed(Duration::ZERO);
}

#[test]
fn rule_3_8_the_next_subscription_is_asked_for_exactly_the_outstanding_demand() {
    let (source, _) = scripted(|k| match k {
        0 => source::range(0, 2).concat(down()).boxed(),
        _ => source::range(100, 1_000).boxed(),
    });
    let (source, log) = spy(source);
    let probe = TestSubscriber::new(5);
    source
        .retry(RetryPolicy::immediate())
        .subscribe(probe.clone());
    assert_eq!(
        log.requests(),
        vec![5, 3],
        "2 of 5 delivered: the retry asks for 3"
    );
    probe.assert_values(&[0, 1, 100, 101, 102]);
    probe.request(1);
    assert_eq!(log.requests(), vec![5, 3, 1]);
    probe.assert_no_violations();
}

#[test]
fn requests_made_during_a_delay_are_counted_and_go_to_the_next_subscription() {
    let clock = VirtualTime::new();
    let (source, _) = scripted(|k| match k {
        0 => down(),
        _ => source::range(0, 100).boxed(),
    });
    let (source, log) = spy(source);
    let probe = TestSubscriber::new(2);
    let policy = RetryPolicy::fixed(SECOND)
        .jitter(Jitter::None)
        .on(clock.clone());
    source.retry(policy).subscribe(probe.clone());
    probe.request(3); // while the retry waits
    assert_eq!(
        log.requests(),
        vec![2],
        "nothing requested during the delay"
    );
    clock.advance_by(SECOND);
    assert_eq!(log.requests(), vec![2, 5]);
    assert_eq!(probe.count(), 5);
}

#[test]
fn the_delays_follow_the_policy_on_virtual_time_doubling_up_to_the_cap() {
    let clock = VirtualTime::new();
    let (source, times) = always_failing(&clock);
    let policy = RetryPolicy::exponential(SECOND, 4 * SECOND)
        .jitter(Jitter::None)
        .max_attempts(6)
        .on(clock.clone());
    let probe = TestSubscriber::new(1);
    source.retry(policy).subscribe(probe.clone());
    clock.advance_by(Duration::from_millis(999));
    assert_eq!(
        times.lock().unwrap().len(),
        1,
        "nothing before the first delay ends"
    );
    clock.advance_by(Duration::from_secs(60));
    let seconds: Vec<u64> = times.lock().unwrap().iter().map(|t| t.as_secs()).collect();
    assert_eq!(seconds, vec![0, 1, 3, 7, 11, 15]); // delays 1, 2, 4, 4, 4
    assert_eq!(
        probe.error().unwrap().to_string(),
        "gave up after 6 attempts: down"
    );
}

#[test]
fn jitter_draws_come_from_the_injected_random_source() {
    let clock = VirtualTime::new();
    let (source, times) = always_failing(&clock);
    let policy = RetryPolicy::fixed(10 * SECOND)
        .random(|| 0.25)
        .max_attempts(2)
        .on(clock.clone());
    source
        .retry(policy)
        .subscribe(TestSubscriber::<u64>::new(1));
    clock.advance_by(Duration::from_secs(60));
    assert_eq!(
        *times.lock().unwrap(),
        vec![Duration::ZERO, Duration::from_millis(2_500)]
    );
}

#[test]
fn an_element_delivered_resets_the_attempt_count_and_the_backoff() {
    let clock = VirtualTime::new();
    let times = Arc::new(Mutex::new(Vec::new()));
    let (log, at) = (Arc::clone(&times), clock.clone());
    // Five subscriptions each deliver one element and fail; then two fail at once.
    let (source, _) = scripted(move |k| {
        log.lock().unwrap().push(at.elapsed().as_secs());
        if k < 5 {
            source::just(k as u64).concat(down()).boxed()
        } else {
            down()
        }
    });
    let policy = RetryPolicy::exponential(SECOND, Duration::from_secs(60))
        .jitter(Jitter::None)
        .max_attempts(2)
        .on(clock.clone());
    let probe = TestSubscriber::new(u64::MAX);
    source.retry(policy).subscribe(probe.clone());
    clock.advance_by(Duration::from_secs(60));
    probe.assert_values(&[0, 1, 2, 3, 4]);
    // Always the first delay after an element (never 2, 4, 8…), and never given up on, though
    // max_attempts is 2. The 5th subscription (an element, then the failure) begins a run of
    // failures; the 6th fails without an element and is the 2nd attempt of that run.
    assert_eq!(*times.lock().unwrap(), vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(
        probe.error().unwrap().to_string(),
        "gave up after 2 attempts: down"
    );
}

#[test]
fn max_elapsed_gives_up_instead_of_a_retry_that_would_start_too_late() {
    let clock = VirtualTime::new();
    let (source, times) = always_failing(&clock);
    let policy = RetryPolicy::fixed(10 * SECOND)
        .jitter(Jitter::None)
        .max_attempts(100)
        .max_elapsed(25 * SECOND)
        .on(clock.clone());
    let probe = TestSubscriber::new(1);
    source.retry(policy).subscribe(probe.clone());
    clock.advance_by(Duration::from_secs(100));
    assert_eq!(times.lock().unwrap().len(), 3); // at 0, 10 and 20 s; 30 s is past the limit
    assert_eq!(
        probe.error().unwrap().to_string(),
        "gave up after 3 attempts (max_elapsed 25s): down"
    );
}

#[test]
fn rule_3_13_a_cancel_during_the_delay_stops_everything() {
    let clock = VirtualTime::new();
    let (source, times) = always_failing(&clock);
    let probe = TestSubscriber::new(1);
    let (subscriber, weak) = track(probe.clone());
    let policy = RetryPolicy::fixed(10 * SECOND)
        .jitter(Jitter::None)
        .on(clock.clone());
    source.retry(policy).subscribe(subscriber);
    assert_eq!(clock.pending(), 1, "the delay is pending");
    probe.cancel();
    assert!(released(&weak), "§3.13: the downstream is released at once");
    clock.advance_by(Duration::from_secs(60));
    assert_eq!(
        times.lock().unwrap().len(),
        1,
        "nothing resubscribed after the cancel"
    );
    assert_eq!(clock.pending(), 0);
    assert!(!probe.is_terminated());
}

#[test]
fn an_upstream_failing_synchronously_10_000_times_runs_in_constant_stack_depth() {
    // A recursion per retry would overflow this 256 KiB stack long before 10 000.
    let result = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let (source, subscriptions) = scripted(|_| down());
            let out = source.retry(RetryPolicy::immediate().max_attempts(10_001));
            let error = sink::collect(&out).unwrap_err();
            (subscriptions.load(Ordering::SeqCst), error.to_string())
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(
        result,
        (10_001, "gave up after 10001 attempts: down".to_string())
    );
}

#[test]
fn errors_the_policy_does_not_retry_pass_through_unchanged() {
    let (source, subscriptions) = scripted(|_| source::fail(Error::msg("404")).boxed());
    let policy = RetryPolicy::immediate().retry_if(|e| e.message() != "404");
    let error = sink::collect(&source.retry(policy)).unwrap_err();
    assert_eq!(error.to_string(), "404");
    assert_eq!(subscriptions.load(Ordering::SeqCst), 1);
}

#[test]
fn a_panic_in_retry_if_fails_the_stream_naming_the_stage() {
    let (source, _) = scripted(|_| down());
    let policy = RetryPolicy::immediate().retry_if(|_| panic!("bad predicate"));
    let error = sink::collect(&source.retry(policy)).unwrap_err();
    assert_panic_error(&error, "retry", "bad predicate");
}

#[test]
fn rule_3_9_the_error_answering_a_request_zero_is_never_retried() {
    let (source, subscriptions) = scripted(|_| source::range(0, 10).boxed());
    let probe = TestSubscriber::new(0);
    source
        .retry(RetryPolicy::immediate().max_attempts(5))
        .subscribe(probe.clone());
    probe.request(0);
    assert_eq!(probe.error().unwrap().rule(), Some("3.9"));
    assert_eq!(subscriptions.load(Ordering::SeqCst), 1);
}

#[test]
fn rule_3_9_a_request_zero_during_a_delay_fails_the_stream_at_once() {
    let clock = VirtualTime::new();
    let (source, times) = always_failing(&clock);
    let probe = TestSubscriber::new(1);
    let policy = RetryPolicy::fixed(Duration::from_secs(60))
        .jitter(Jitter::None)
        .max_attempts(10)
        .on(clock.clone());
    source.retry(policy).subscribe(probe.clone());
    probe.request(0);
    let error = probe.error().expect("failed without waiting for the delay");
    assert_eq!(error.rule(), Some("3.9"));
    assert_eq!(times.lock().unwrap().len(), 2);
    assert_eq!(clock.elapsed(), Duration::ZERO);
}

#[test]
fn a_resubscribed_cold_source_emits_its_elements_again() {
    // Each subscription of a cold source starts over: 0 and 1 come twice.
    let (source, _) = scripted(|k| match k {
        0 => source::range(0, 2).concat(down()).boxed(),
        _ => source::range(0, 4).boxed(),
    });
    let out = source.retry(RetryPolicy::immediate());
    assert_eq!(sink::collect(&out).unwrap(), vec![0, 1, 0, 1, 2, 3]);
}

#[test]
fn a_source_that_resumes_from_a_cursor_delivers_each_element_once() {
    // The consumer's cursor: the next element wanted. Each subscription resumes there.
    let cursor = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let (at, failed) = (Arc::clone(&cursor), Arc::clone(&failures));
    let resuming = source::defer(move || {
        let from = at.load(Ordering::SeqCst);
        // Fails twice, each time after two elements.
        if failed.fetch_add(1, Ordering::SeqCst) < 2 {
            source::range(from, 2).concat(down())
        } else {
            source::range(from, 10 - from).concat(source::empty())
        }
    });
    let out = resuming
        .retry(RetryPolicy::immediate())
        .inspect(move |x| cursor.store(x + 1, Ordering::SeqCst));
    assert_eq!(sink::collect(&out).unwrap(), (0..10).collect::<Vec<_>>());
}

#[test]
fn partial_demand_is_exact_across_a_retry() {
    partial_demand_is_exact(recovering);
}

#[test]
fn reentrant_request_one_from_on_next_runs_to_completion() {
    common::reentrant_request_one_from_on_next_runs_to_completion(recovering);
}

#[test]
fn concurrent_requests_deliver_everything_once_in_order() {
    common::concurrent_requests_deliver_everything_once_in_order(recovering);
}

#[test]
fn demand_overflowing_u64_is_unbounded() {
    common::demand_overflowing_u64_is_unbounded(recovering);
}

#[test]
fn rule_3_9_request_zero_fails_the_stream() {
    request_zero_fails_the_stream_with_rule_3_9(recovering);
}

#[test]
fn cancel_mid_stream_cancels_upstream_and_releases_the_subscriber() {
    common::cancel_mid_stream_cancels_upstream_and_releases_the_subscriber(|up| {
        up.retry(RetryPolicy::immediate())
    });
}
