//! Every operator of `PublisherExt` that passes signals on, fed by a rogue upstream that ignores
//! the protocol: it calls `on_subscribe` twice (§2.5), and signals again after its terminal
//! signal (§1.7). Whatever the upstream does, the downstream must see one subscription, at most
//! one terminal signal, and nothing after it.
//!
//! One module per operator, so a failure names the operator and the rule.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rstreams_core::scheduler::ThreadPool;
use rstreams_core::{source, Error, Publisher, Subscriber, Subscription};
use rstreams_ops::{Overflow, PublisherExt, ThrottleMode};
use rstreams_tck::TestSubscriber;

/// How long to wait for something that must happen (a thread hop, a request).
const WAIT: Duration = Duration::from_secs(10);
/// How long to watch for a signal that must not come, after the terminal one.
const QUIET: Duration = Duration::from_millis(100);
/// The element the rogue sends after its terminal signal; no operator may pass it on.
const LATE: u64 = 1_000;

// ===== The rogue upstream =====

/// A subscription of the rogue: records the requests and cancels it receives, and ignores
/// them (a rogue keeps signalling after a cancel, as it pleases).
#[derive(Default)]
struct Recorded {
    requested: AtomicU64,
    cancels: AtomicUsize,
}

impl Subscription for Recorded {
    fn request(&self, n: u64) {
        let _ = self
            .requested
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| {
                Some(r.saturating_add(n))
            });
    }

    fn cancel(&self) {
        self.cancels.fetch_add(1, Ordering::SeqCst);
    }
}

impl Recorded {
    fn requested(&self) -> u64 {
        self.requested.load(Ordering::SeqCst)
    }

    fn cancels(&self) -> usize {
        self.cancels.load(Ordering::SeqCst)
    }
}

struct RogueState {
    /// The subscriber, once `subscribe` has returned.
    subscriber: Mutex<Option<Box<dyn Subscriber<u64>>>>,
    /// The subscription every `on_subscribe` hands over first.
    first: Arc<Recorded>,
    /// The subscription a second `on_subscribe` hands over (§2.5 says it must be cancelled).
    second: Arc<Recorded>,
    subscribe_twice: bool,
    emitted: AtomicU64,
}

/// A publisher, for one subscriber, that signals what the test tells it to, whether the
/// protocol allows it or not. It emits elements only within the demand of its first
/// subscription, so that the operators under test see a well-behaved stream up to the point
/// where the rogue breaks the rule a test is about.
#[derive(Clone)]
struct Rogue(Arc<RogueState>);

impl Rogue {
    /// A rogue that subscribes once and signals after its terminal signal (§1.7).
    fn new() -> Self {
        Self::build(false)
    }

    /// A rogue that calls `on_subscribe` twice, with two subscriptions (§2.5).
    fn subscribing_twice() -> Self {
        Self::build(true)
    }

    fn build(subscribe_twice: bool) -> Self {
        Rogue(Arc::new(RogueState {
            subscriber: Mutex::new(None),
            first: Arc::new(Recorded::default()),
            second: Arc::new(Recorded::default()),
            subscribe_twice,
            emitted: AtomicU64::new(0),
        }))
    }

    fn first_subscription(&self) -> &Recorded {
        &self.0.first
    }

    fn second(&self) -> &Recorded {
        &self.0.second
    }

    /// Waits until it has been subscribed (some operators subscribe on another thread).
    fn await_subscribed(&self) {
        wait_for("the rogue to be subscribed", || {
            self.0.subscriber.lock().unwrap().is_some()
        });
    }

    /// Signals to the subscriber; the lock is not held meanwhile, so the subscriber may call
    /// back into the subscriptions freely.
    fn signal(&self, f: impl FnOnce(&mut dyn Subscriber<u64>)) {
        let mut subscriber = self
            .0
            .subscriber
            .lock()
            .unwrap()
            .take()
            .expect("the rogue has a subscriber");
        f(&mut *subscriber);
        *self.0.subscriber.lock().unwrap() = Some(subscriber);
    }

    /// Emits `item` once the first subscription has demand for it.
    fn emit(&self, item: u64) {
        let n = self.0.emitted.load(Ordering::SeqCst);
        wait_for("demand for the next element", || {
            self.first_subscription().requested() > n
        });
        self.0.emitted.store(n + 1, Ordering::SeqCst);
        self.signal(|s| s.on_next(item));
    }

    /// Emits `0..count`, each within demand.
    fn emit_range(&self, count: u64) {
        for item in 0..count {
            self.emit(item);
        }
    }

    /// `on_next` without looking at the demand: the rogue's signal after the end.
    fn next_regardless(&self, item: u64) {
        self.signal(|s| s.on_next(item));
    }

    fn complete(&self) {
        self.signal(|s| s.on_complete());
    }

    fn error(&self, message: &str) {
        self.signal(|s| s.on_error(Error::msg(message.to_owned())));
    }
}

impl Publisher for Rogue {
    type Item = u64;

    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
        subscriber.on_subscribe(self.0.first.clone());
        if self.0.subscribe_twice {
            subscriber.on_subscribe(self.0.second.clone());
        }
        *self.0.subscriber.lock().unwrap() = Some(Box::new(subscriber));
    }
}

/// Polls `condition` until it holds; panics naming `what` after `WAIT`.
fn wait_for(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits for the probe's terminal signal, then watches it for `QUIET` more: an operator on a
/// thread may pass a late signal on a moment after the terminal one.
fn settle<T>(probe: &TestSubscriber<T>) {
    assert!(
        probe.await_terminal(WAIT),
        "no terminal signal reached the downstream: {probe:?}"
    );
    probe.assert_no_more_within(QUIET);
}

// ===== The checks =====

/// §2.5: the rogue subscribes twice, then behaves. The second subscription is cancelled and
/// never reaches the downstream (which would flag a second `on_subscribe` as §1.9); the first
/// one carries the stream to its end.
fn a_second_subscription_is_cancelled_and_not_passed_on<P, T>(
    make: impl FnOnce(Rogue) -> P,
    expected: Vec<T>,
) where
    P: Publisher<Item = T>,
    T: Clone + PartialEq + std::fmt::Debug + Send + 'static,
{
    let rogue = Rogue::subscribing_twice();
    let probe = TestSubscriber::new(u64::MAX);
    make(rogue.clone()).subscribe(probe.clone());
    rogue.await_subscribed();
    assert!(
        probe.await_subscribed(WAIT),
        "the downstream was not subscribed"
    );
    assert_eq!(
        rogue.second().cancels(),
        1,
        "§2.5: the second subscription was not cancelled"
    );
    assert_eq!(
        rogue.first_subscription().cancels(),
        0,
        "the first subscription was cancelled because of the second"
    );
    rogue.emit_range(3);
    rogue.complete();
    settle(&probe);
    probe.assert_no_violations();
    assert_eq!(
        rogue.second().requested(),
        0,
        "a request reached the second subscription"
    );
    probe.assert_values(&expected);
    assert!(probe.is_complete());
}

/// §1.7: after `on_complete` the rogue sends `on_next`, `on_error` and `on_complete` again;
/// none of them is passed on (the error is dropped, not delivered).
fn signals_after_complete_are_not_passed_on<P, T>(make: impl FnOnce(Rogue) -> P, expected: Vec<T>)
where
    P: Publisher<Item = T>,
    T: Clone + PartialEq + std::fmt::Debug + Send + 'static,
{
    let rogue = Rogue::new();
    let probe = TestSubscriber::new(u64::MAX);
    make(rogue.clone()).subscribe(probe.clone());
    rogue.await_subscribed();
    rogue.emit_range(3);
    rogue.complete();
    rogue.next_regardless(LATE);
    rogue.error("late error");
    rogue.complete();
    settle(&probe);
    probe.assert_no_violations();
    probe.assert_values(&expected);
    assert!(probe.is_complete());
    assert!(
        probe.error().is_none(),
        "an error after on_complete was passed on: {:?}",
        probe.error()
    );
}

/// §1.7: after `on_error` the rogue sends `on_next`, `on_complete` and a second `on_error`;
/// none of them is passed on, and the downstream's error is the first one.
fn signals_after_an_error_are_not_passed_on<P, T>(make: impl FnOnce(Rogue) -> P, expected: Vec<T>)
where
    P: Publisher<Item = T>,
    T: Clone + PartialEq + std::fmt::Debug + Send + 'static,
{
    let rogue = Rogue::new();
    let probe = TestSubscriber::new(u64::MAX);
    make(rogue.clone()).subscribe(probe.clone());
    rogue.await_subscribed();
    rogue.emit_range(3);
    rogue.error("first error");
    rogue.next_regardless(LATE);
    rogue.complete();
    rogue.error("late error");
    settle(&probe);
    probe.assert_no_violations();
    probe.assert_values(&expected);
    assert!(
        !probe.is_complete(),
        "an on_complete after on_error was passed on"
    );
    let error = probe.error().expect("the first error was passed on");
    assert_eq!(error.to_string(), "first error");
}

/// One module per operator: `make` builds it over the rogue; the downstream receives
/// `on_complete` after `completed`, or the error after `failed` (operators that drop a partial
/// batch on error differ).
macro_rules! rogue_upstream_tests {
    ($name:ident, $make:expr, completed: $completed:expr, failed: $failed:expr $(,)?) => {
        mod $name {
            use super::*;

            #[test]
            fn rule_2_5_a_second_subscription_is_cancelled_and_not_passed_on() {
                a_second_subscription_is_cancelled_and_not_passed_on($make, $completed);
            }

            #[test]
            fn rule_1_7_signals_after_complete_are_not_passed_on() {
                signals_after_complete_are_not_passed_on($make, $completed);
            }

            #[test]
            fn rule_1_7_signals_after_an_error_are_not_passed_on() {
                signals_after_an_error_are_not_passed_on($make, $failed);
            }
        }
    };
    ($name:ident, $make:expr, $expected:expr $(,)?) => {
        rogue_upstream_tests!($name, $make, completed: $expected, failed: $expected);
    };
}

fn pool() -> ThreadPool {
    ThreadPool::new(1)
}

rogue_upstream_tests!(map, |r: Rogue| r.map(|x| x * 10), vec![0, 10, 20]);
rogue_upstream_tests!(filter, |r: Rogue| r.filter(|x| x % 2 == 0), vec![0, 2]);
rogue_upstream_tests!(take, |r: Rogue| r.take(10), vec![0, 1, 2]);
rogue_upstream_tests!(skip, |r: Rogue| r.skip(1), vec![1, 2]);
rogue_upstream_tests!(
    scan,
    |r: Rogue| r.scan(0u64, |sum, x| {
        *sum += x;
        *sum
    }),
    vec![0, 1, 3],
);
rogue_upstream_tests!(
    buffer,
    |r: Rogue| r.buffer(2),
    completed: vec![vec![0, 1], vec![2]],
    failed: vec![vec![0, 1]],
);
rogue_upstream_tests!(limit_rate, |r: Rogue| r.limit_rate(4, 2), vec![0, 1, 2]);
rogue_upstream_tests!(
    on_backpressure_buffer,
    |r: Rogue| r.on_backpressure_buffer(8, Overflow::Fail),
    vec![0, 1, 2],
);
rogue_upstream_tests!(
    on_backpressure_drop,
    |r: Rogue| r.on_backpressure_drop(),
    vec![0, 1, 2]
);
rogue_upstream_tests!(
    on_backpressure_latest,
    |r: Rogue| r.on_backpressure_latest(),
    vec![0, 1, 2],
);
rogue_upstream_tests!(
    publish_on,
    |r: Rogue| r.publish_on(pool(), 8),
    vec![0, 1, 2]
);
rogue_upstream_tests!(
    subscribe_on,
    |r: Rogue| r.subscribe_on(pool()),
    vec![0, 1, 2]
);
rogue_upstream_tests!(
    throttle_shaping,
    |r: Rogue| r.throttle(1_000, Duration::from_secs(1), 1_000, ThrottleMode::Shaping),
    vec![0, 1, 2],
);
rogue_upstream_tests!(
    throttle_enforcing,
    |r: Rogue| r.throttle(
        1_000,
        Duration::from_secs(1),
        1_000,
        ThrottleMode::Enforcing
    ),
    vec![0, 1, 2],
);
rogue_upstream_tests!(
    buffer_timeout,
    |r: Rogue| r.buffer_timeout(2, Duration::from_secs(60)),
    completed: vec![vec![0, 1], vec![2]],
    failed: vec![vec![0, 1]],
);
rogue_upstream_tests!(
    flat_map,
    |r: Rogue| r.flat_map(source::just, 4, 4),
    vec![0, 1, 2]
);
rogue_upstream_tests!(
    merge,
    |r: Rogue| r.merge(source::empty::<u64>()),
    vec![0, 1, 2]
);
rogue_upstream_tests!(
    concat,
    |r: Rogue| r.concat(source::empty::<u64>()),
    vec![0, 1, 2]
);

// ===== errors, retry, timeout, hooks =====

rogue_upstream_tests!(
    on_error_resume,
    |r: Rogue| r.on_error_resume(source::fail),
    vec![0, 1, 2]
);
rogue_upstream_tests!(map_err, |r: Rogue| r.map_err(|e| e), vec![0, 1, 2]);
rogue_upstream_tests!(
    retry,
    |r: Rogue| r.retry(rstreams_ops::RetryPolicy::immediate().retry_if(|_| false)),
    vec![0, 1, 2]
);
rogue_upstream_tests!(
    timeout,
    |r: Rogue| r.timeout(Duration::from_secs(60)),
    vec![0, 1, 2]
);
rogue_upstream_tests!(inspect, |r: Rogue| r.inspect(|_| {}), vec![0, 1, 2]);
rogue_upstream_tests!(on_request, |r: Rogue| r.on_request(|_| {}), vec![0, 1, 2]);
rogue_upstream_tests!(on_cancel, |r: Rogue| r.on_cancel(|| {}), vec![0, 1, 2]);
rogue_upstream_tests!(
    on_terminate,
    |r: Rogue| r.on_terminate(|_| {}),
    vec![0, 1, 2]
);
rogue_upstream_tests!(finally, |r: Rogue| r.finally(|| {}), vec![0, 1, 2]);

// ===== time, multicast, grouping =====

// debounce and sample: a synchronous burst then the end: only the last element, at completion;
// an error drops what is held. Windows and groups are flattened back into their elements.
rogue_upstream_tests!(
    debounce,
    |r: Rogue| r.debounce(Duration::from_secs(60)),
    completed: vec![2],
    failed: vec![],
);
rogue_upstream_tests!(
    sample,
    |r: Rogue| r.sample(Duration::from_secs(60)),
    completed: vec![2],
    failed: vec![],
);
rogue_upstream_tests!(conflate, |r: Rogue| r.conflate(|a, b| a + b), vec![0, 1, 2]);
rogue_upstream_tests!(share, |r: Rogue| r.share(), vec![0, 1, 2]);
rogue_upstream_tests!(
    publish,
    |r: Rogue| {
        let published = r.publish();
        published.connect();
        published
    },
    vec![0, 1, 2],
);
rogue_upstream_tests!(
    replay,
    |r: Rogue| {
        let replayed = r.replay(2);
        replayed.connect();
        replayed
    },
    vec![0, 1, 2],
);
rogue_upstream_tests!(
    window,
    |r: Rogue| r.window(2).flat_map(|w| w, 1, 4),
    vec![0, 1, 2]
);
rogue_upstream_tests!(
    window_timeout,
    |r: Rogue| r
        .window_timeout(2, Duration::from_secs(60))
        .flat_map(|w| w, 1, 4),
    vec![0, 1, 2],
);
rogue_upstream_tests!(
    group_by,
    |r: Rogue| r.group_by(|x| x % 2, 2).flat_map(|g| g, 2, 4),
    vec![0, 1, 2],
);

// ===== combining =====
// Each input of a combining operator is checked as the rogue: the main input with the macro,
// the other input (`other`, an inner publisher) where the operator's result still ends with
// the rogue's end; the inputs whose end does not end the stream have tests of their own below.

rogue_upstream_tests!(
    zip,
    |r: Rogue| r.zip(source::range(100, 10)),
    vec![(0, 100), (1, 101), (2, 102)],
);
rogue_upstream_tests!(
    zip_with_the_rogue_as_other,
    |r: Rogue| source::range(100, 10).zip_with(r, |a, b| a + b),
    vec![100, 102, 104],
);
rogue_upstream_tests!(
    combine_latest,
    |r: Rogue| r.combine_latest(source::just(100u64), |a, b| a * 1_000 + b),
    vec![100, 1_100, 2_100],
);
rogue_upstream_tests!(
    combine_latest_with_the_rogue_as_other,
    |r: Rogue| source::just(100u64).combine_latest(r, |a, b| a * 1_000 + b),
    vec![100_000, 100_001, 100_002],
);
rogue_upstream_tests!(
    with_latest_from,
    |r: Rogue| r.with_latest_from(source::just(100u64), |a, b| a + b),
    vec![100, 101, 102],
);
rogue_upstream_tests!(
    take_until,
    |r: Rogue| r.take_until(source::never::<()>()),
    vec![0, 1, 2],
);
rogue_upstream_tests!(
    merge_delay_error,
    |r: Rogue| r.merge_delay_error(source::empty::<u64>()),
    vec![0, 1, 2],
);
rogue_upstream_tests!(
    merge_delay_error_with_the_rogue_second,
    |r: Rogue| source::empty::<u64>().merge_delay_error(r),
    vec![0, 1, 2],
);
rogue_upstream_tests!(
    concat_map,
    |r: Rogue| r.concat_map(source::just, 4),
    vec![0, 1, 2]
);
rogue_upstream_tests!(
    concat_map_with_the_rogue_as_the_inner,
    |r: Rogue| source::just(7u64).concat_map(move |_| r.clone(), 1),
    vec![0, 1, 2],
);
rogue_upstream_tests!(
    switch_map,
    |r: Rogue| r.switch_map(source::just),
    vec![0, 1, 2]
);
rogue_upstream_tests!(
    switch_map_with_the_rogue_as_the_inner,
    |r: Rogue| source::just(7u64).switch_map(move |_| r.clone()),
    vec![0, 1, 2],
);
rogue_upstream_tests!(
    buffer_skip,
    |r: Rogue| r.buffer_skip(2, 1),
    completed: vec![vec![0, 1], vec![1, 2], vec![2]],
    failed: vec![vec![0, 1], vec![1, 2]],
);

// delay: completion waits for the held elements (a short delay lets them out); an error goes
// out at once and drops what is held (a long delay holds all three).
mod delay {
    use super::*;

    #[test]
    fn rule_2_5_a_second_subscription_is_cancelled_and_not_passed_on() {
        a_second_subscription_is_cancelled_and_not_passed_on(
            |r: Rogue| r.delay(Duration::from_millis(1)),
            vec![0, 1, 2],
        );
    }

    #[test]
    fn rule_1_7_signals_after_complete_are_not_passed_on() {
        signals_after_complete_are_not_passed_on(
            |r: Rogue| r.delay(Duration::from_millis(1)),
            vec![0, 1, 2],
        );
    }

    #[test]
    fn rule_1_7_signals_after_an_error_are_not_passed_on() {
        signals_after_an_error_are_not_passed_on(
            |r: Rogue| r.delay(Duration::from_secs(3_600)),
            vec![],
        );
    }
}

// ===== the inputs whose end does not end the stream =====

/// A main input driven by hand for the operators whose `other` is the rogue.
fn main_input() -> rstreams_tck::TestPublisher<u64> {
    rstreams_tck::TestPublisher::new()
}

mod with_latest_from_the_rogue_as_other {
    use super::*;

    #[test]
    fn rule_2_5_a_second_subscription_is_cancelled_and_not_passed_on() {
        let (rogue, main) = (Rogue::subscribing_twice(), main_input());
        let probe = TestSubscriber::new(u64::MAX);
        main.clone()
            .with_latest_from(rogue.clone(), |a, b| a * 1_000 + b)
            .subscribe(probe.clone());
        rogue.await_subscribed();
        assert_eq!(rogue.second().cancels(), 1, "§2.5: not cancelled");
        assert_eq!(rogue.first_subscription().cancels(), 0);
        rogue.emit_range(3);
        main.emit(5);
        main.complete();
        settle(&probe);
        probe.assert_no_violations();
        probe.assert_values(&[5_002]);
        assert_eq!(rogue.second().requested(), 0);
    }

    #[test]
    fn rule_1_7_an_element_after_the_others_complete_does_not_become_the_latest() {
        let (rogue, main) = (Rogue::new(), main_input());
        let probe = TestSubscriber::new(u64::MAX);
        main.clone()
            .with_latest_from(rogue.clone(), |a, b| a * 1_000 + b)
            .subscribe(probe.clone());
        rogue.await_subscribed();
        rogue.emit_range(3);
        rogue.complete();
        rogue.next_regardless(LATE);
        rogue.error("late error");
        rogue.complete();
        main.emit(5);
        main.complete();
        settle(&probe);
        probe.assert_no_violations();
        probe.assert_values(&[5_002]);
        assert!(probe.error().is_none(), "{:?}", probe.error());
    }

    #[test]
    fn rule_1_7_signals_after_the_others_error_are_not_passed_on() {
        let (rogue, main) = (Rogue::new(), main_input());
        let probe = TestSubscriber::new(u64::MAX);
        main.clone()
            .with_latest_from(rogue.clone(), |a, b| a * 1_000 + b)
            .subscribe(probe.clone());
        rogue.await_subscribed();
        rogue.emit_range(3);
        main.emit(5);
        rogue.error("first error");
        assert!(main.is_cancelled(), "the error cancels the main input");
        rogue.next_regardless(LATE);
        rogue.complete();
        rogue.error("late error");
        settle(&probe);
        probe.assert_no_violations();
        probe.assert_values(&[5_002]);
        assert_eq!(probe.error().unwrap().to_string(), "first error");
    }
}

mod take_until_the_rogue_as_other {
    use super::*;

    #[test]
    fn rule_2_5_a_second_subscription_is_cancelled_and_not_passed_on() {
        let (rogue, main) = (Rogue::subscribing_twice(), main_input());
        let probe = TestSubscriber::new(u64::MAX);
        main.clone()
            .take_until(rogue.clone())
            .subscribe(probe.clone());
        rogue.await_subscribed();
        assert_eq!(rogue.second().cancels(), 1, "§2.5: not cancelled");
        main.emit(1);
        rogue.emit(0); // ends the stream
        settle(&probe);
        probe.assert_no_violations();
        probe.assert_values(&[1]);
        assert!(probe.is_complete());
        assert_eq!(rogue.second().requested(), 0);
    }

    #[test]
    fn rule_1_7_an_element_after_the_others_completion_does_not_end_the_stream() {
        let (rogue, main) = (Rogue::new(), main_input());
        let probe = TestSubscriber::new(u64::MAX);
        main.clone()
            .take_until(rogue.clone())
            .subscribe(probe.clone());
        rogue.await_subscribed();
        rogue.complete(); // without emitting: changes nothing
        rogue.next_regardless(LATE);
        rogue.error("late error");
        rogue.complete();
        main.emit(1);
        main.emit(2);
        main.complete();
        settle(&probe);
        probe.assert_no_violations();
        probe.assert_values(&[1, 2]);
        assert!(probe.error().is_none(), "{:?}", probe.error());
    }

    #[test]
    fn rule_1_7_signals_after_the_others_first_element_are_not_passed_on() {
        let (rogue, main) = (Rogue::new(), main_input());
        let probe = TestSubscriber::new(u64::MAX);
        main.clone()
            .take_until(rogue.clone())
            .subscribe(probe.clone());
        rogue.await_subscribed();
        main.emit(1);
        rogue.emit(0);
        assert!(probe.is_complete());
        rogue.next_regardless(LATE);
        rogue.error("late error");
        rogue.complete();
        settle(&probe);
        probe.assert_no_violations();
        probe.assert_values(&[1]);
        assert!(probe.error().is_none(), "{:?}", probe.error());
    }

    #[test]
    fn rule_1_7_signals_after_the_others_error_are_not_passed_on() {
        let (rogue, main) = (Rogue::new(), main_input());
        let probe = TestSubscriber::new(u64::MAX);
        main.clone()
            .take_until(rogue.clone())
            .subscribe(probe.clone());
        rogue.await_subscribed();
        main.emit(1);
        rogue.error("first error");
        rogue.next_regardless(LATE);
        rogue.complete();
        rogue.error("late error");
        settle(&probe);
        probe.assert_no_violations();
        probe.assert_values(&[1]);
        assert_eq!(probe.error().unwrap().to_string(), "first error");
    }
}

mod zip_the_rogue_as_other_after_its_partner_ended {
    use super::*;

    /// zip completes when a side ended and all it sent was paired: the rogue's late element
    /// must not be paired with anything after that.
    #[test]
    fn rule_1_7_signals_after_the_zip_completed_are_not_passed_on() {
        let (rogue, main) = (Rogue::new(), main_input());
        let probe = TestSubscriber::new(u64::MAX);
        main.clone().zip(rogue.clone()).subscribe(probe.clone());
        rogue.await_subscribed();
        main.emit(10);
        rogue.emit(0);
        main.complete();
        assert!(probe.is_complete(), "everything main sent was paired");
        rogue.next_regardless(LATE);
        rogue.error("late error");
        rogue.complete();
        settle(&probe);
        probe.assert_no_violations();
        probe.assert_values(&[(10, 0)]);
        assert!(probe.error().is_none(), "{:?}", probe.error());
    }
}

// An inner that keeps signalling after it completed must not leak into the next inner's
// demand or output.
rogue_upstream_tests!(
    concat_map_with_the_rogue_as_the_first_of_two_inners,
    |r: Rogue| source::from_iter(vec![1u64, 2]).concat_map(
        move |x| if x == 1 {
            r.clone().boxed()
        } else {
            source::range(10, 2).boxed()
        },
        1
    ),
    completed: vec![0, 1, 2, 10, 11],
    failed: vec![0, 1, 2],
);

mod switch_map_an_inner_switched_away_from {
    use super::*;

    /// The outer switches to a second inner while the rogue (the first) is live: whatever the
    /// rogue sends after its cancel (elements, an error, a completion) is not delivered.
    #[test]
    fn rule_1_7_signals_of_a_cancelled_inner_are_not_passed_on() {
        let (rogue, outer) = (Rogue::new(), main_input());
        let probe = TestSubscriber::new(u64::MAX);
        let inner = rogue.clone();
        outer
            .clone()
            .switch_map(move |x| {
                if x == 1 {
                    inner.clone().boxed()
                } else {
                    source::range(10, 2).boxed()
                }
            })
            .subscribe(probe.clone());
        outer.emit(1);
        rogue.await_subscribed();
        rogue.emit(0);
        outer.emit(2); // cancels the rogue, then subscribes range(10, 2)
        assert_eq!(
            rogue.first_subscription().cancels(),
            1,
            "the switch cancels the previous inner"
        );
        rogue.next_regardless(LATE);
        rogue.error("late error");
        rogue.complete();
        outer.complete();
        settle(&probe);
        probe.assert_no_violations();
        probe.assert_values(&[0, 10, 11]);
        assert!(probe.is_complete());
        assert!(probe.error().is_none(), "{:?}", probe.error());
    }
}
