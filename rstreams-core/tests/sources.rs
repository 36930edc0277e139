//! Behaviour of every source under partial demand, re-entrant and concurrent requests, cancel,
//! `request(0)`, and release of the subscriber.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rstreams_core::scheduler::{timer, ThreadPool, VirtualTime};
use rstreams_core::{sink, source, Error, ErrorKind, Publisher, Subscriber, Subscription};
use rstreams_tck::{track, TestSubscriber};

const WAIT: Duration = Duration::from_secs(10);

/// Requests one element from inside each `on_next` and records how far the stack pointer moves.
struct StackProbe {
    subscription: Option<Arc<dyn Subscription>>,
    received: u64,
    low: usize,
    high: usize,
    done: Arc<Mutex<Option<(u64, usize)>>>,
}

impl Subscriber<u64> for StackProbe {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        s.request(1);
        self.subscription = Some(s);
    }
    fn on_next(&mut self, _item: u64) {
        let marker = 0u8;
        let at = std::hint::black_box(&marker) as *const u8 as usize;
        self.low = self.low.min(at);
        self.high = self.high.max(at);
        self.received += 1;
        self.subscription.as_ref().unwrap().request(1);
    }
    fn on_error(&mut self, e: Error) {
        panic!("unexpected error {e}");
    }
    fn on_complete(&mut self) {
        *self.done.lock().unwrap() = Some((self.received, self.high - self.low));
        self.subscription = None;
    }
}

/// The suite every finite source that emits `0..n` must pass.
fn finite_source_suite<P: Publisher<Item = u64>>(make: impl Fn(u64) -> P) {
    zero_demand_emits_nothing(&make);
    request_3_emits_exactly_3(&make);
    reentrant_request_one_from_on_next_does_not_grow_the_stack(&make);
    concurrent_request_storm_delivers_everything_once_in_order(&make);
    cancel_mid_stream_stops_emission(&make);
    rule_3_9_request_zero_signals_error(&make);
    rule_3_13_subscriber_is_released_after_cancel(&make);
    subscriber_is_released_after_completion(&make);
    completes_without_extra_demand_after_the_last_element(&make);
    rule_3_17_demand_overflowing_u64_is_unbounded(&make);
}

fn zero_demand_emits_nothing<P: Publisher<Item = u64>>(make: &impl Fn(u64) -> P) {
    let probe = TestSubscriber::new(0);
    make(10).subscribe(probe.clone());
    assert!(probe.await_subscribed(WAIT));
    probe.assert_no_more_within(Duration::from_millis(20));
    assert_eq!(probe.count(), 0);
    assert!(!probe.is_terminated());
    probe.cancel();
}

fn request_3_emits_exactly_3<P: Publisher<Item = u64>>(make: &impl Fn(u64) -> P) {
    let probe = TestSubscriber::new(0);
    make(10).subscribe(probe.clone());
    probe.request(3);
    assert!(probe.await_count(3, WAIT));
    probe.assert_no_more_within(Duration::from_millis(20));
    probe.assert_values(&[0, 1, 2]);
    probe.request(2);
    assert!(probe.await_count(5, WAIT));
    probe.assert_values(&[0, 1, 2, 3, 4]);
    assert!(!probe.is_terminated());
    probe.assert_no_violations();
    probe.cancel();
}

fn reentrant_request_one_from_on_next_does_not_grow_the_stack<P: Publisher<Item = u64>>(
    make: &impl Fn(u64) -> P,
) {
    let done = Arc::new(Mutex::new(None));
    make(100_000).subscribe(StackProbe {
        subscription: None,
        received: 0,
        low: usize::MAX,
        high: 0,
        done: done.clone(),
    });
    let (received, stack_span) = done.lock().unwrap().expect("completed synchronously");
    assert_eq!(received, 100_000);
    // Recursion would move the stack pointer by at least one frame per element (megabytes).
    assert!(
        stack_span < 16 * 1024,
        "on_next ran at stack depths {stack_span} bytes apart: requests recursed (§3.3)"
    );
}

fn concurrent_request_storm_delivers_everything_once_in_order<P: Publisher<Item = u64>>(
    make: &impl Fn(u64) -> P,
) {
    let rounds: usize = std::env::var("RSTREAMS_STORM_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    for _ in 0..rounds {
        let probe = TestSubscriber::new(0);
        make(40_000).subscribe(probe.clone());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let probe = probe.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        probe.request(1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(probe.await_terminal(WAIT), "stalled at {}", probe.count());
        assert!(probe.is_complete());
        let values = probe.values();
        assert_eq!(values.len(), 40_000);
        assert!(
            values.iter().copied().eq(0..40_000),
            "out of order or duplicated"
        );
        probe.assert_no_violations();
    }
}

fn cancel_mid_stream_stops_emission<P: Publisher<Item = u64>>(make: &impl Fn(u64) -> P) {
    // Cancel from inside on_next, with more demand outstanding.
    let probe = TestSubscriber::new(100).cancel_after(5);
    make(1_000).subscribe(probe.clone());
    probe.assert_no_more_within(Duration::from_millis(20));
    probe.assert_values(&[0, 1, 2, 3, 4]);
    assert!(!probe.is_terminated());
    // Cancel from outside; later requests do nothing (§3.6).
    let probe = TestSubscriber::new(2);
    make(1_000).subscribe(probe.clone());
    assert!(probe.await_count(2, WAIT));
    probe.cancel();
    probe.cancel(); // idempotent (§3.7)
    probe.request(10);
    probe.assert_no_more_within(Duration::from_millis(20));
    assert_eq!(probe.count(), 2);
    assert!(!probe.is_terminated());
}

fn rule_3_9_request_zero_signals_error<P: Publisher<Item = u64>>(make: &impl Fn(u64) -> P) {
    let probe = TestSubscriber::new(0);
    make(10).subscribe(probe.clone());
    probe.request(0);
    assert!(probe.await_terminal(WAIT));
    let error = probe.error().expect("request(0) must fail the stream");
    assert_eq!(error.rule(), Some("3.9"));
    assert_eq!(error.kind(), ErrorKind::Protocol);
    assert!(error.to_string().contains("§3.9"), "{error}");
    probe.request(5);
    probe.assert_no_more_within(Duration::from_millis(20));
    assert_eq!(probe.count(), 0);
}

fn rule_3_13_subscriber_is_released_after_cancel<P: Publisher<Item = u64>>(
    make: &impl Fn(u64) -> P,
) {
    let probe = TestSubscriber::new(1);
    let (subscriber, weak) = track(probe.clone());
    make(10).subscribe(subscriber);
    assert!(probe.await_count(1, WAIT));
    assert!(weak.upgrade().is_some());
    probe.cancel();
    // Released by the cancel itself, or by the emitting thread as soon as it notices.
    let deadline = std::time::Instant::now() + WAIT;
    while weak.upgrade().is_some() && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert!(
        weak.upgrade().is_none(),
        "§3.13: subscriber kept after cancel"
    );
}

fn subscriber_is_released_after_completion<P: Publisher<Item = u64>>(make: &impl Fn(u64) -> P) {
    let probe = TestSubscriber::new(u64::MAX);
    let (subscriber, weak) = track(probe.clone());
    make(3).subscribe(subscriber);
    assert!(probe.await_terminal(WAIT));
    let deadline = std::time::Instant::now() + WAIT;
    while weak.upgrade().is_some() && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert!(weak.upgrade().is_none(), "subscriber kept after completion");
}

fn completes_without_extra_demand_after_the_last_element<P: Publisher<Item = u64>>(
    make: &impl Fn(u64) -> P,
) {
    let probe = TestSubscriber::new(3);
    make(3).subscribe(probe.clone());
    assert!(
        probe.await_terminal(WAIT),
        "did not complete with demand == elements"
    );
    assert!(probe.is_complete());
    probe.assert_values(&[0, 1, 2]);
    let empty = TestSubscriber::new(0);
    make(0).subscribe(empty.clone());
    assert!(
        empty.await_terminal(WAIT),
        "an empty source must complete without demand"
    );
    assert!(empty.is_complete());
}

fn rule_3_17_demand_overflowing_u64_is_unbounded<P: Publisher<Item = u64>>(
    make: &impl Fn(u64) -> P,
) {
    let probe = TestSubscriber::new(u64::MAX - 1);
    make(50).subscribe(probe.clone());
    probe.request(u64::MAX - 1); // the sum overflows: unbounded, never an error
    assert!(probe.await_terminal(WAIT));
    assert!(probe.is_complete());
    assert_eq!(probe.count(), 50);
    probe.assert_no_violations();
}

#[test]
fn range_keeps_the_protocol() {
    finite_source_suite(|n| source::range(0, n));
}

#[test]
fn from_iter_keeps_the_protocol() {
    finite_source_suite(|n| source::from_iter(0..n));
}

#[test]
fn defer_keeps_the_protocol() {
    finite_source_suite(|n| source::defer(move || source::range(0, n)));
}

#[test]
fn boxed_range_keeps_the_protocol() {
    finite_source_suite(|n| source::range(0, n).boxed());
}

#[test]
fn an_unbounded_range_delivers_nothing_after_the_element_on_which_the_sink_cancelled() {
    // §3.7 / §3.13 under unbounded demand: the drain loop checks the cancel before every
    // element, so the element after the cancel is never pulled or delivered.
    let calls = Arc::new(AtomicUsize::new(0));
    let handle_slot = Arc::new(Mutex::new(None::<sink::SubscriberHandle>));
    let (c, h) = (calls.clone(), handle_slot.clone());
    let subscriber = sink::for_each(move |x: u64| {
        c.fetch_add(1, Ordering::SeqCst);
        if x == 5 {
            h.lock().unwrap().as_ref().expect("handle stored").cancel();
        }
    });
    *handle_slot.lock().unwrap() = Some(subscriber.handle());
    let handle = subscriber.handle();
    source::range(0, 1_000_000).subscribe(subscriber);
    handle.wait().unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        6,
        "§3.7: elements after the cancel"
    );
}

#[test]
fn range_starting_near_u64_max_ends_at_u64_max() {
    let all = sink::collect(&source::range(u64::MAX - 2, 3)).unwrap();
    assert_eq!(all, vec![u64::MAX - 2, u64::MAX - 1, u64::MAX]);
}

#[test]
#[should_panic(expected = "overflows u64")]
fn range_past_u64_max_is_rejected_when_built() {
    let _ = source::range(u64::MAX, 2);
}

#[test]
fn from_iter_can_be_subscribed_many_times() {
    let p = source::from_iter(vec![1, 2, 3]);
    assert_eq!(sink::collect(&p).unwrap(), vec![1, 2, 3]);
    assert_eq!(sink::collect(&p).unwrap(), vec![1, 2, 3]);
}

#[derive(Clone)]
struct PanicsAt(u64, u64);
impl Iterator for PanicsAt {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        if self.0 == self.1 {
            panic!("iterator broke at {}", self.1);
        }
        self.0 += 1;
        Some(self.0 - 1)
    }
}

#[test]
fn a_panicking_iterator_fails_the_stream_instead_of_the_caller() {
    let probe = TestSubscriber::new(0);
    source::from_iter(PanicsAt(0, 2)).subscribe(probe.clone());
    probe.request(10); // must return normally (§3.16)
    assert!(probe.await_terminal(WAIT));
    probe.assert_values(&[0, 1]);
    let error = probe.error().expect("the panic becomes on_error");
    assert_eq!(error.kind(), ErrorKind::Panic);
    assert!(error.to_string().contains("iterator broke at 2"), "{error}");
    probe.assert_no_violations();
}

#[test]
fn a_panicking_defer_factory_fails_the_subscription() {
    let p = source::defer(|| -> source::Range { panic!("no config") });
    let probe = TestSubscriber::<u64>::new(1);
    p.subscribe(probe.clone());
    assert!(probe.is_subscribed(), "§1.9: on_subscribe comes first");
    let error = probe.error().expect("factory panic is signalled");
    assert!(error.to_string().contains("no config"));
}

#[test]
fn just_emits_one_element_only_when_requested() {
    let probe = TestSubscriber::new(0);
    source::just(7u64).subscribe(probe.clone());
    probe.assert_no_more_within(Duration::from_millis(10));
    assert!(
        !probe.is_terminated(),
        "completion waits for the element to go out"
    );
    probe.request(1);
    probe.assert_values(&[7]);
    assert!(probe.is_complete());
    probe.assert_no_violations();
}

#[test]
fn just_and_empty_and_fail_and_never_reject_request_zero() {
    let p = TestSubscriber::<u64>::new(0);
    source::just(1u64).subscribe(p.clone());
    p.request(0);
    assert_eq!(p.error().unwrap().rule(), Some("3.9"));
    assert_eq!(p.count(), 0);

    let p = TestSubscriber::<u64>::new(0);
    source::never::<u64>().subscribe(p.clone());
    p.request(0);
    assert_eq!(p.error().unwrap().rule(), Some("3.9"));
}

#[test]
fn empty_completes_and_fail_fails_without_demand() {
    let p = TestSubscriber::<u64>::new(0);
    source::empty::<u64>().subscribe(p.clone());
    assert!(p.is_subscribed() && p.is_complete());
    p.assert_no_violations();

    let p = TestSubscriber::<u64>::new(0);
    source::fail::<u64>(Error::msg("down")).subscribe(p.clone());
    assert!(p.is_subscribed());
    assert_eq!(p.error().unwrap().to_string(), "down");
    p.assert_no_violations();
}

#[test]
fn never_signals_nothing_and_releases_its_subscriber_on_cancel() {
    let probe = TestSubscriber::<u64>::new(u64::MAX);
    let (subscriber, weak) = track(probe.clone());
    source::never::<u64>().subscribe(subscriber);
    probe.assert_no_more_within(Duration::from_millis(20));
    assert!(!probe.is_terminated());
    probe.cancel();
    assert!(weak.upgrade().is_none(), "§3.13");
}

#[test]
fn just_releases_its_subscriber_after_completion_and_cancel() {
    let probe = TestSubscriber::<u64>::new(1);
    let (subscriber, weak) = track(probe.clone());
    source::just(1u64).subscribe(subscriber);
    assert!(weak.upgrade().is_none());

    let probe = TestSubscriber::<u64>::new(0);
    let (subscriber, weak) = track(probe.clone());
    source::just(1u64).subscribe(subscriber);
    probe.cancel();
    assert!(weak.upgrade().is_none());
}

// ===== interval =====

#[test]
fn interval_ticks_once_per_period_on_virtual_time() {
    let vt = VirtualTime::new();
    let probe = TestSubscriber::new(u64::MAX);
    source::interval(Duration::from_secs(1), vt.clone()).subscribe(probe.clone());
    vt.advance_by(Duration::from_millis(999));
    assert_eq!(probe.count(), 0);
    vt.advance_by(Duration::from_millis(1));
    probe.assert_values(&[0]);
    vt.advance_by(Duration::from_secs(4));
    probe.assert_values(&[0, 1, 2, 3, 4]);
    probe.cancel();
    vt.advance_by(Duration::from_secs(10));
    assert_eq!(probe.count(), 5);
    assert_eq!(vt.pending(), 0, "a cancelled interval stops rescheduling");
}

#[test]
fn interval_with_a_period_of_duration_max_never_ticks_and_leaves_no_timer_when_cancelled() {
    let vt = VirtualTime::new();
    let probe = TestSubscriber::new(u64::MAX);
    source::interval(Duration::MAX, vt.clone()).subscribe(probe.clone());
    vt.advance_by(Duration::from_secs(50 * 365 * 24 * 3600));
    assert_eq!(probe.count(), 0);
    assert!(!probe.is_terminated());
    assert_eq!(vt.pending(), 1);
    probe.cancel();
    assert_eq!(
        vt.pending(),
        0,
        "the century-long tick went with the subscription"
    );
    // On the default timer too.
    let probe = TestSubscriber::new(u64::MAX);
    source::interval(Duration::MAX, timer()).subscribe(probe.clone());
    probe.assert_no_more_within(Duration::from_millis(20));
    probe.cancel();
}

#[test]
fn interval_holds_a_tick_without_demand_and_never_skips_values() {
    let vt = VirtualTime::new();
    let probe = TestSubscriber::new(0);
    source::interval(Duration::from_secs(1), vt.clone()).subscribe(probe.clone());
    vt.advance_by(Duration::from_secs(5));
    assert_eq!(probe.count(), 0, "zero demand emits nothing");
    probe.request(3);
    // One held tick goes out at once; the next two follow the clock.
    probe.assert_values(&[0]);
    vt.advance_by(Duration::from_secs(2));
    probe.assert_values(&[0, 1, 2]);
    vt.advance_by(Duration::from_secs(5));
    assert_eq!(probe.count(), 3, "exact under partial demand");
    probe.request(1);
    probe.assert_values(&[0, 1, 2, 3]);
    probe.assert_no_violations();
    probe.cancel();
}

#[test]
fn interval_with_reentrant_request_one_runs_100_000_ticks() {
    let vt = VirtualTime::new();
    let probe = TestSubscriber::new(1).request_on_next(1);
    source::interval(Duration::from_millis(1), vt.clone()).subscribe(probe.clone());
    vt.advance_by(Duration::from_millis(100_000));
    assert_eq!(probe.count(), 100_000);
    probe.assert_no_violations();
    probe.cancel();
}

#[test]
fn interval_request_zero_and_cancel_release_the_subscriber() {
    let vt = VirtualTime::new();
    let probe = TestSubscriber::<u64>::new(0);
    let (subscriber, weak) = track(probe.clone());
    source::interval(Duration::from_secs(1), vt.clone()).subscribe(subscriber);
    probe.request(0);
    assert_eq!(probe.error().unwrap().rule(), Some("3.9"));
    assert!(weak.upgrade().is_none());
    vt.advance_by(Duration::from_secs(3));
    assert_eq!(vt.pending(), 0);

    let probe = TestSubscriber::<u64>::new(5);
    let (subscriber, weak) = track(probe.clone());
    source::interval(Duration::from_secs(1), vt.clone()).subscribe(subscriber);
    vt.advance_by(Duration::from_secs(2));
    probe.cancel();
    assert!(weak.upgrade().is_none(), "§3.13");
    assert_eq!(probe.count(), 2);
}

#[test]
fn interval_on_a_thread_pool_with_a_request_storm_is_exact() {
    let pool = ThreadPool::new(2);
    let probe = TestSubscriber::new(0);
    source::interval(Duration::from_micros(50), pool.clone()).subscribe(probe.clone());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let probe = probe.clone();
            std::thread::spawn(move || {
                for _ in 0..250 {
                    probe.request(1);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(probe.await_count(1_000, WAIT), "got {}", probe.count());
    probe.assert_no_more_within(Duration::from_millis(20));
    let values = probe.values();
    assert!(values.iter().copied().eq(0..1_000));
    probe.assert_no_violations();
    probe.cancel();
}

#[test]
#[should_panic(expected = "period must be greater than zero")]
fn interval_rejects_a_zero_period_when_built() {
    let _ = source::interval(Duration::ZERO, VirtualTime::new());
}

// ===== subscriber panics (§2.13) =====

struct PanicsOnNext;
impl Subscriber<u64> for PanicsOnNext {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        s.request(10);
    }
    fn on_next(&mut self, _: u64) {
        panic!("subscriber bug");
    }
    fn on_error(&mut self, _: Error) {}
    fn on_complete(&mut self) {}
}

#[test]
fn rule_2_13_a_panicking_subscriber_is_treated_as_cancelled() {
    let drops = Arc::new(AtomicUsize::new(0));
    struct CountDrop(Arc<AtomicUsize>);
    impl Drop for CountDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    struct Wrapper(PanicsOnNext, #[allow(dead_code)] CountDrop);
    impl Subscriber<u64> for Wrapper {
        fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
            self.0.on_subscribe(s)
        }
        fn on_next(&mut self, x: u64) {
            self.0.on_next(x)
        }
        fn on_error(&mut self, e: Error) {
            self.0.on_error(e)
        }
        fn on_complete(&mut self) {
            self.0.on_complete()
        }
    }
    let result = std::panic::catch_unwind(|| {
        source::range(0, 5).subscribe(Wrapper(PanicsOnNext, CountDrop(drops.clone())));
    });
    assert!(
        result.is_err(),
        "the subscriber's own panic reaches the caller"
    );
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "and the subscriber was released"
    );
}

/// An iterator whose `Clone` panics (from_iter clones it once per subscription).
#[derive(Debug)]
struct PanicsOnClone;

impl Iterator for PanicsOnClone {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        Some(1)
    }
}

impl Clone for PanicsOnClone {
    fn clone(&self) -> Self {
        panic!("clone is broken")
    }
}

#[test]
fn a_panic_in_the_iterators_clone_fails_the_subscription_instead_of_unwinding_out_of_subscribe() {
    let result = std::panic::catch_unwind(|| sink::collect(&source::from_iter(PanicsOnClone)));
    let collected = result.expect("no panic escapes subscribe");
    let error = collected.unwrap_err();
    assert_eq!(error.kind(), rstreams_core::ErrorKind::Panic);
    assert!(error.to_string().contains("clone is broken"), "{error}");
}

#[test]
fn from_iter_once_keeps_the_protocol() {
    finite_source_suite(|n| source::defer(move || source::from_iter_once(0..n)));
}

#[test]
fn try_from_iter_keeps_the_protocol() {
    finite_source_suite(|n| source::try_from_iter((0..n).map(Ok::<u64, Error>)));
}

#[test]
fn generate_keeps_the_protocol() {
    finite_source_suite(|n| {
        source::generate(0u64, move |i| {
            let value = *i;
            *i += 1;
            (value < n).then_some(value)
        })
    });
}

#[test]
fn unfold_keeps_the_protocol() {
    finite_source_suite(|n| source::unfold(0u64, move |i| (i < n).then_some((i, i + 1))));
}

#[test]
fn using_keeps_the_protocol() {
    finite_source_suite(|n| {
        source::using(
            move || Ok::<_, Error>(n),
            |count: &u64| source::range(0, *count),
            |_| {},
        )
    });
}

/// A value that is not `Clone`: only a single-use source can emit it from a moved iterator.
#[derive(Debug, PartialEq)]
struct Token(u64);

#[test]
fn from_iter_once_emits_a_non_clone_iterator_once_and_rejects_a_second_subscriber_naming_1_9() {
    let tokens = source::from_iter_once(vec![Token(1), Token(2)]);
    assert!(tokens.is_available());
    assert_eq!(sink::collect(&tokens).unwrap(), vec![Token(1), Token(2)]);
    assert!(!tokens.is_available());
    let error = sink::collect(&tokens).unwrap_err();
    assert_eq!(error.rule(), Some("1.9"));
    assert!(error.to_string().contains("single use"), "{error}");
}

#[test]
fn from_iter_once_reads_lines_of_a_reader() {
    use std::io::BufRead;
    let reader = std::io::BufReader::new(std::io::Cursor::new("alpha\nbeta\ngamma\n"));
    let lines = source::from_iter_once(reader.lines()).boxed();
    let all: Vec<String> = sink::collect(&lines)
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(all, vec!["alpha", "beta", "gamma"]);
}

#[test]
fn try_from_iter_ends_with_the_first_err_without_demand_and_reads_nothing_after_it() {
    let read = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&read);
    let items = vec![Ok(1u64), Err(Error::msg("corrupt record")), Ok(3)];
    let source = source::try_from_iter(items.into_iter().inspect(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    }));
    let probe = TestSubscriber::new(1);
    source.subscribe(probe.clone());
    // One element requested; the Err right behind it goes out without more demand.
    assert_eq!(probe.values(), vec![1]);
    assert_eq!(
        probe.error().map(|e| e.to_string()),
        Some("corrupt record".into())
    );
    assert_eq!(
        read.load(Ordering::SeqCst),
        2,
        "nothing after the Err was read"
    );
}

#[test]
fn generate_calls_its_function_for_demand_plus_one_look_ahead() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let naturals = source::generate(0u64, move |i| {
        c.fetch_add(1, Ordering::SeqCst);
        *i += 1;
        Some(*i)
    });
    let probe = TestSubscriber::new(3);
    naturals.subscribe(probe.clone());
    assert_eq!(probe.values(), vec![1, 2, 3]);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        4,
        "one call per element requested, plus one of look-ahead"
    );
    probe.cancel();
}

#[test]
fn unfold_gives_each_subscriber_its_own_state() {
    let countdown = source::unfold(3u64, |n| (n > 0).then(|| (n, n - 1)));
    assert_eq!(sink::collect(&countdown).unwrap(), vec![3, 2, 1]);
    assert_eq!(sink::collect(&countdown).unwrap(), vec![3, 2, 1]);
}

#[test]
fn a_panic_in_generate_fails_the_stream() {
    let broken = source::generate(0u64, |_| -> Option<u64> { panic!("generator bug") });
    let error = sink::collect(&broken).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Panic);
}

/// Counts opens and closes of a `using` resource.
#[derive(Clone, Default)]
struct Ledger {
    opened: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

impl Ledger {
    /// `using` over a resource holding `n`, emitting `range(0, n)` (or what `make` makes).
    fn source(&self, n: u64) -> impl Publisher<Item = u64> {
        let (opened, closed) = (self.opened.clone(), self.closed.clone());
        source::using(
            move || {
                opened.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Error>(n)
            },
            |count: &u64| source::range(0, *count),
            move |_| {
                closed.fetch_add(1, Ordering::SeqCst);
            },
        )
    }
    fn counts(&self) -> (usize, usize) {
        (
            self.opened.load(Ordering::SeqCst),
            self.closed.load(Ordering::SeqCst),
        )
    }
}

#[test]
fn using_closes_the_resource_once_on_completion_before_on_complete_arrives() {
    let ledger = Ledger::default();
    assert_eq!(sink::collect(&ledger.source(3)).unwrap(), vec![0, 1, 2]);
    assert_eq!(ledger.counts(), (1, 1));
}

#[test]
fn using_closes_the_resource_once_on_cancel() {
    let ledger = Ledger::default();
    let probe = TestSubscriber::new(1);
    ledger.source(10).subscribe(probe.clone());
    probe.cancel();
    probe.cancel();
    assert_eq!(ledger.counts(), (1, 1));
}

#[test]
fn using_closes_the_resource_once_on_an_error_of_the_used_publisher() {
    let closed = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&closed);
    let failing = source::using(
        || Ok::<_, Error>(()),
        |_: &()| source::fail::<u64>(Error::msg("read failed")),
        move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        },
    );
    assert_eq!(
        sink::collect(&failing).unwrap_err().to_string(),
        "read failed"
    );
    assert_eq!(closed.load(Ordering::SeqCst), 1);
}

#[test]
fn using_closes_the_resource_once_when_the_downstream_panics() {
    struct Panics;
    impl Subscriber<u64> for Panics {
        fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
            s.request(u64::MAX);
        }
        fn on_next(&mut self, _: u64) {
            panic!("downstream bug");
        }
        fn on_error(&mut self, _: Error) {}
        fn on_complete(&mut self) {}
    }
    let ledger = Ledger::default();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ledger.source(5).subscribe(Panics);
    }));
    assert!(result.is_err());
    assert_eq!(ledger.counts(), (1, 1), "closed by the released subscriber");
}

#[test]
fn using_with_a_failing_open_fails_the_subscription_and_closes_nothing() {
    let closed = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&closed);
    let never_opens = source::using(
        || Err::<u64, _>(std::io::Error::other("no such file")),
        |n: &u64| source::range(0, *n),
        move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        },
    );
    let error = sink::collect(&never_opens).unwrap_err();
    assert!(error.to_string().contains("no such file"), "{error}");
    assert_eq!(closed.load(Ordering::SeqCst), 0);
}

#[test]
fn using_turns_a_panic_in_close_after_completion_into_the_streams_error() {
    let broken_close = source::using(
        || Ok::<_, Error>(2u64),
        |n: &u64| source::range(0, *n),
        |_| panic!("close failed"),
    );
    let probe = TestSubscriber::new(u64::MAX);
    broken_close.subscribe(probe.clone());
    assert_eq!(probe.values(), vec![0, 1]);
    let error = probe.error().expect("the completion became an error");
    assert_eq!(error.kind(), ErrorKind::Panic);
    assert!(!probe.is_complete());
}

/// A stage on the engine whose `pull` panics at its second element while its upstream is live.
struct PanicsSecond {
    pulled: u64,
}

impl rstreams_core::support::Pull for PanicsSecond {
    type Item = u64;
    fn name(&self) -> &'static str {
        "panics_second"
    }
    fn pull(&mut self, _demand: u64) -> rstreams_core::support::Pulled<u64> {
        self.pulled += 1;
        if self.pulled == 2 {
            panic!("stage bug");
        }
        rstreams_core::support::Pulled::Ready(self.pulled)
    }
}

#[test]
fn an_engine_stage_that_fails_on_its_own_cancels_its_live_upstream() {
    use rstreams_core::support::{Engine, EngineConfig, UpstreamSlot};
    let upstream = rstreams_tck::Upstream::never_completing(0);
    let slot = Arc::new(UpstreamSlot::new());
    // The upstream is live in the slot before the stage runs.
    upstream.subscribe(SlotFiller(Arc::clone(&slot)));
    assert!(!upstream.is_cancelled());
    let probe = TestSubscriber::new(5);
    Engine::start(
        PanicsSecond { pulled: 0 },
        probe.clone(),
        EngineConfig::new().upstream(Arc::clone(&slot)),
    );
    assert_eq!(probe.error().map(|e| e.kind()), Some(ErrorKind::Panic));
    assert!(upstream.is_cancelled(), "the live upstream was cancelled");
}

/// Hands the subscription it receives to an upstream slot.
struct SlotFiller(Arc<rstreams_core::support::UpstreamSlot>);

impl Subscriber<u64> for SlotFiller {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        self.0.set(s);
    }
    fn on_next(&mut self, _: u64) {}
    fn on_error(&mut self, _: Error) {}
    fn on_complete(&mut self) {}
}

#[test]
fn try_from_iter_once_reads_a_readers_lines_and_ends_with_an_io_error() {
    use std::io::{BufRead, Read};
    /// Gives two lines, then fails like a broken disk.
    struct Flaky(std::io::Cursor<&'static str>);
    impl Read for Flaky {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self.0.read(buf)? {
                0 => Err(std::io::Error::other("disk on fire")),
                n => Ok(n),
            }
        }
    }
    let lines = source::try_from_iter_once(
        std::io::BufReader::new(Flaky(std::io::Cursor::new("a\nb\n"))).lines(),
    );
    let probe = TestSubscriber::new(u64::MAX);
    lines.subscribe(probe.clone());
    assert_eq!(probe.values(), vec!["a".to_string(), "b".to_string()]);
    let error = probe.error().expect("the io error ends the stream");
    assert!(error.to_string().contains("disk on fire"), "{error}");
    assert!(error.downcast_ref::<std::io::Error>().is_some());
    assert_eq!(sink::collect(&lines).unwrap_err().rule(), Some("1.9"));
}
