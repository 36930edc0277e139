//! Named points: what passes them is unchanged, and what they count is what happened.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rstreams_core::scheduler::{ThreadPool, VirtualTime};
use rstreams_core::{sink, source, Error, NoopSubscription, Publisher, Subscriber};
use rstreams_observe::{ObserveExt, Registry, Stage, StageSnapshot, StageState};
use rstreams_ops::{Overflow, PublisherExt};
use rstreams_tck::{TestPublisher, TestSubscriber, Upstream};

const WAIT: Duration = Duration::from_secs(5);

fn virtual_registry() -> (VirtualTime, Registry) {
    let clock = VirtualTime::new();
    let registry = Registry::with_scheduler(clock.clone());
    (clock, registry)
}

/// Waits (up to `WAIT`) until `done` holds for the only subscription of `name`: counts made
/// on another thread land a moment after the downstream got the element.
fn eventually(
    registry: &Registry,
    name: &str,
    done: impl Fn(&StageSnapshot) -> bool,
) -> StageSnapshot {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let s = only(registry, name);
        if done(&s) || std::time::Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn only(registry: &Registry, name: &str) -> StageSnapshot {
    let mut found = registry.stage(name);
    assert_eq!(found.len(), 1, "one subscription of `{name}`: {found:#?}");
    found.remove(0)
}

#[test]
fn a_named_stage_passes_every_element_through_unchanged() {
    let registry = Registry::new();
    let out = source::range(0, 100)
        .map(|x| x * 3)
        .observe(Stage::new("tripled").registry(&registry));
    let expected: Vec<u64> = (0..100).map(|x| x * 3).collect();
    assert_eq!(sink::collect(&out).unwrap(), expected);
    assert_eq!(only(&registry, "tripled").items, 100);
}

#[test]
fn a_named_stage_counts_items_requested_and_outstanding_demand() {
    let registry = Registry::new();
    let publisher = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(0);
    publisher
        .clone()
        .observe(Stage::new("counted").registry(&registry))
        .subscribe(probe.clone());

    let s = only(&registry, "counted");
    assert_eq!((s.items, s.requested, s.outstanding), (0, 0, 0));
    assert_eq!(s.state, StageState::Running);

    probe.request(5);
    publisher.emit(10);
    publisher.emit(11);
    let s = only(&registry, "counted");
    assert_eq!((s.items, s.requested, s.outstanding), (2, 5, 3));

    probe.request(4);
    assert_eq!(only(&registry, "counted").outstanding, 7);

    probe.request(u64::MAX);
    let s = only(&registry, "counted");
    assert_eq!((s.requested, s.outstanding), (u64::MAX, u64::MAX));

    publisher.complete();
    let s = only(&registry, "counted");
    assert_eq!(s.state, StageState::Completed);
    assert_eq!(s.items, 2);
    probe.assert_values(&[10, 11]);
    probe.assert_no_violations();
}

#[test]
fn requests_are_summed_with_saturation_and_u64_max_means_unbounded() {
    let registry = Registry::new();
    let probe = TestSubscriber::new(u64::MAX - 1);
    source::never::<u64>()
        .observe(Stage::new("saturating").registry(&registry))
        .subscribe(probe.clone());
    assert_eq!(only(&registry, "saturating").requested, u64::MAX - 1);
    probe.request(5);
    assert_eq!(only(&registry, "saturating").requested, u64::MAX);
}

#[test]
fn the_filter_fast_path_survives_a_named_stage() {
    let registry = Registry::new();
    let upstream = Upstream::emitting(100);
    let probe = TestSubscriber::new(10);
    upstream
        .clone()
        .observe(Stage::new("before-filter").registry(&registry))
        .filter(|x| x % 2 == 0)
        .subscribe(probe.clone());

    probe.assert_values(&[0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
    // One request, no request(1) per refused element: the filter's try_on_next reached the
    // source through the named point.
    assert_eq!(upstream.stats().requests, vec![10]);
    let s = only(&registry, "before-filter");
    assert_eq!((s.items, s.rejected, s.outstanding), (19, 9, 0));
}

#[test]
fn the_time_since_the_last_signal_is_read_from_the_registry_clock() {
    let (clock, registry) = virtual_registry();
    let publisher = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(3);
    publisher
        .clone()
        .observe(Stage::new("timed").registry(&registry))
        .subscribe(probe.clone());

    clock.advance_by(Duration::from_secs(5));
    // The request at 0 s was the last signal.
    assert_eq!(
        only(&registry, "timed").since_last_signal,
        Duration::from_secs(5)
    );

    publisher.emit(1);
    // This snapshot is the first to see the element: it dates it now.
    assert_eq!(only(&registry, "timed").since_last_signal, Duration::ZERO);
    clock.advance_by(Duration::from_secs(7));
    assert_eq!(
        only(&registry, "timed").since_last_signal,
        Duration::from_secs(7)
    );

    probe.request(1); // a request is timestamped as it passes
    clock.advance_by(Duration::from_secs(2));
    assert_eq!(
        only(&registry, "timed").since_last_signal,
        Duration::from_secs(2)
    );
}

#[test]
fn an_element_is_dated_by_the_first_observation_that_sees_it_so_the_time_is_a_lower_bound() {
    let (clock, registry) = virtual_registry();
    let publisher = TestPublisher::<u64>::new();
    publisher
        .clone()
        .observe(Stage::new("lower-bound").registry(&registry))
        .subscribe(TestSubscriber::new(3));
    clock.advance_by(Duration::from_secs(1));
    publisher.emit(1); // at 1 s, not observed
    clock.advance_by(Duration::from_secs(9));
    // Really 9 s since the element; no observation saw it before 10 s, so 0 is what is known.
    assert_eq!(
        only(&registry, "lower-bound").since_last_signal,
        Duration::ZERO
    );
    clock.advance_by(Duration::from_secs(4));
    assert_eq!(
        only(&registry, "lower-bound").since_last_signal,
        Duration::from_secs(4)
    );
}

#[test]
fn a_cancelled_subscription_is_marked_cancelled_and_leaves_the_live_list() {
    let registry = Registry::new();
    let publisher = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(2);
    publisher
        .clone()
        .observe(Stage::new("cancelled").registry(&registry))
        .subscribe(probe.clone());
    publisher.emit(1);
    probe.cancel();

    assert!(publisher.is_cancelled(), "the cancel reached the upstream");
    assert!(
        !publisher.has_subscriber(),
        "the upstream released the stage"
    );
    let s = only(&registry, "cancelled");
    assert_eq!(s.state, StageState::Cancelled);
    let totals = &registry.totals()[0];
    assert_eq!((totals.running, totals.cancelled, totals.items), (0, 1, 1));
}

#[test]
fn an_upstream_error_marks_the_stage_failed_and_passes_unchanged() {
    let registry = Registry::new();
    let probe = TestSubscriber::<u64>::new(1);
    source::fail::<u64>(Error::msg("disk full"))
        .observe(Stage::new("failing").registry(&registry))
        .subscribe(probe.clone());
    let error = probe.error().expect("the error passed");
    assert_eq!(error.to_string(), "disk full");
    assert_eq!(error.stage(), None, "a named point does not relabel errors");
    assert_eq!(only(&registry, "failing").state, StageState::Failed);
    assert_eq!(registry.totals()[0].failed, 1);
}

#[test]
fn a_stage_released_without_a_terminal_signal_or_a_cancel_is_abandoned() {
    /// Subscribes, then drops the subscriber without another signal.
    struct Abandoning;
    impl Publisher for Abandoning {
        type Item = u64;
        fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
            subscriber.on_subscribe(Arc::new(NoopSubscription));
        }
    }
    let registry = Registry::new();
    Abandoning
        .observe(Stage::new("abandoned").registry(&registry))
        .subscribe(TestSubscriber::new(1));
    assert_eq!(only(&registry, "abandoned").state, StageState::Abandoned);
    let t = &registry.totals()[0];
    assert_eq!((t.running, t.abandoned), (0, 1));
}

#[test]
fn several_subscriptions_of_one_name_are_listed_apart_and_summed_in_the_totals() {
    let registry = Registry::new();
    let numbers = source::range(0, 100).observe(Stage::new("shared").registry(&registry));
    let first = TestSubscriber::new(3);
    let second = TestSubscriber::new(5);
    numbers.subscribe(first.clone());
    numbers.clone().subscribe(second.clone());

    let listed: Vec<(u64, u64)> = registry
        .stage("shared")
        .iter()
        .map(|s| (s.items, s.outstanding))
        .collect();
    assert_eq!(listed, vec![(3, 0), (5, 0)]);
    let ids: Vec<u64> = registry
        .stage("shared")
        .iter()
        .map(|s| s.subscription)
        .collect();
    assert_ne!(ids[0], ids[1]);

    second.request(2);
    let t = &registry.totals()[0];
    assert_eq!((t.items, t.running, t.outstanding), (10, 2, 0));

    second.request(u64::MAX);
    let t = &registry.totals()[0];
    assert_eq!((t.items, t.running, t.completed), (103, 1, 1));
}

#[test]
fn ended_subscriptions_leave_the_registry_but_their_counts_stay_in_the_totals() {
    let registry = Registry::new().keep_ended(3);
    let numbers = source::range(0, 10).observe(Stage::new("many").registry(&registry));
    for _ in 0..200 {
        sink::collect(&numbers).unwrap();
    }
    let listed = registry.snapshot();
    assert_eq!(listed.len(), 3, "only the last three ended ones are kept");
    assert!(listed.iter().all(|s| s.state == StageState::Completed));
    let t = &registry.totals()[0];
    assert_eq!((t.items, t.completed, t.running), (2_000, 200, 0));

    let forgetful = registry.keep_ended(0);
    assert!(forgetful.snapshot().is_empty());
}

#[test]
fn name_with_reports_the_drop_count_of_the_operator_above() {
    let registry = Registry::new();
    let shed = source::range(0, 10).on_backpressure_drop();
    let dropped = shed.dropped();
    let probe = TestSubscriber::new(3);
    let named = shed.observe(Stage::new("shed").registry(&registry).dropped(dropped));
    named.subscribe(probe.clone());

    let s = only(&registry, "shed");
    assert_eq!((s.items, s.dropped), (3, Some(7)));
    assert_eq!(registry.totals()[0].dropped, Some(7));

    // Once the point and its subscriptions are gone, its drops stay in the name's total.
    drop(named);
    drop(probe);
    assert_eq!(registry.totals()[0].dropped, Some(7));
}

#[test]
fn a_drop_count_attached_to_a_cloned_point_is_reported_once() {
    let registry = Registry::new();
    let shed = source::range(0, 10).on_backpressure_drop();
    let named = shed
        .observe(Stage::new("shed-twice").registry(&registry))
        .dropped_from(|op| op.dropped());
    named.subscribe(TestSubscriber::new(0));
    named.clone().subscribe(TestSubscriber::new(0));
    assert_eq!(registry.totals()[0].dropped, Some(20));
}

#[test]
fn a_segment_reports_the_depth_of_the_queue_inside_it() {
    let registry = Registry::new();
    let publisher = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(0);
    publisher
        .clone()
        .observe_segment(Stage::new("queue").registry(&registry), |entry| {
            entry.on_backpressure_buffer(4, Overflow::DropIncoming)
        })
        .dropped_from(|buffer| buffer.dropped())
        .subscribe(probe.clone());

    let figures = |registry: &Registry| {
        let s = only(registry, "queue");
        (s.entered, s.items, s.dropped, s.in_flight)
    };
    for x in 0..3 {
        publisher.emit(x);
    }
    assert_eq!(figures(&registry), (Some(3), 0, Some(0), Some(3)));

    probe.request(2);
    assert_eq!(figures(&registry), (Some(3), 2, Some(0), Some(1)));

    for x in 3..9 {
        publisher.emit(x); // room for 3 more, the other 3 are dropped
    }
    assert_eq!(figures(&registry), (Some(9), 2, Some(3), Some(4)));

    probe.request(10);
    assert_eq!(figures(&registry), (Some(9), 6, Some(3), Some(0)));

    publisher.complete();
    let s = only(&registry, "queue");
    assert_eq!(s.state, StageState::Completed);
    assert_eq!(
        s.in_flight, None,
        "an ended subscription has nothing in flight to report"
    );
    assert_eq!(registry.totals()[0].in_flight, Some(0));
}

#[test]
fn a_segment_without_a_drop_count_reports_entered_minus_left() {
    let registry = Registry::new();
    let publisher = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(0);
    publisher
        .clone()
        .observe_segment(Stage::new("limited").registry(&registry), |entry| {
            entry.map(|x| x + 1).limit_rate(8, 4)
        })
        .subscribe(probe.clone());
    probe.request(1);
    assert!(publisher.await_requested(8, WAIT));
    for x in 0..5 {
        publisher.emit(x);
    }
    let s = only(&registry, "limited");
    assert_eq!((s.entered, s.items, s.in_flight), (Some(5), 1, Some(4)));
}

#[test]
fn a_segment_whose_entry_is_subscribed_on_another_thread_reports_no_in_flight_figure() {
    let registry = Registry::new();
    let pool = ThreadPool::new(1);
    let out = source::range(0, 5).observe_segment(Stage::new("hop").registry(&registry), |entry| {
        entry.subscribe_on(pool.clone())
    });
    let probe = TestSubscriber::new(2);
    out.subscribe(probe.clone());
    assert!(probe.await_count(2, WAIT));
    let s = eventually(&registry, "hop", |s| s.items == 2);
    assert_eq!(s.items, 2);
    assert_eq!((s.entered, s.in_flight), (None, None));
    assert_eq!(registry.totals()[0].in_flight, None);
}

#[test]
fn a_segment_around_publish_on_reports_the_elements_waiting_in_its_queue() {
    let registry = Registry::new();
    let pool = ThreadPool::new(1);
    let probe = TestSubscriber::new(2);
    source::range(0, 100)
        .observe_segment(Stage::new("hop").registry(&registry), |entry| {
            entry.publish_on(pool.clone(), 8)
        })
        .subscribe(probe.clone());
    assert!(probe.await_count(2, WAIT));
    // publish_on prefetched 8 and handed 2 on (it replenishes only after 6): 6 wait.
    let s = eventually(&registry, "hop", |s| s.items == 2);
    assert_eq!((s.entered, s.items, s.in_flight), (Some(8), 2, Some(6)));
}

#[test]
fn nested_segments_pair_each_entry_with_its_own_exit() {
    let registry = Registry::new();
    let out = source::range(0, 6).observe_segment(Stage::new("outer").registry(&registry), |e| {
        e.filter(|x| x % 2 == 0)
            .observe_segment(Stage::new("inner").registry(&registry), |e| {
                e.map(|x| x * 10)
            })
    });
    assert_eq!(sink::collect(&out).unwrap(), vec![0, 20, 40]);
    let outer = only(&registry, "outer");
    let inner = only(&registry, "inner");
    assert_eq!((outer.entered, outer.items), (Some(6), 3));
    assert_eq!((inner.entered, inner.items), (Some(3), 3));
}

#[test]
fn a_second_on_subscribe_is_cancelled() {
    struct Twice(Arc<AtomicBool>);
    impl Publisher for Twice {
        type Item = u64;
        fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
            subscriber.on_subscribe(Arc::new(NoopSubscription));
            subscriber.on_subscribe(Arc::new(Flag(Arc::clone(&self.0))));
        }
    }
    struct Flag(Arc<AtomicBool>);
    impl rstreams_core::Subscription for Flag {
        fn request(&self, _: u64) {}
        fn cancel(&self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let cancelled = Arc::new(AtomicBool::new(false));
    let registry = Registry::new();
    let probe = TestSubscriber::new(1);
    Twice(Arc::clone(&cancelled))
        .observe(Stage::new("twice").registry(&registry))
        .subscribe(probe.clone());
    assert!(cancelled.load(Ordering::SeqCst));
    probe.assert_no_violations();
}

/// A source that ignores §1.7: it emits `0, 1, 2` (the probe below requests unbounded), ends
/// with `on_complete` (or `on_error` when `error_first`), then sends `on_next(1000)`,
/// `on_error` and `on_complete` after its terminal signal.
struct SignalsAfterItsEnd {
    error_first: bool,
}

impl Publisher for SignalsAfterItsEnd {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
        subscriber.on_subscribe(Arc::new(NoopSubscription));
        for x in 0..3 {
            subscriber.on_next(x);
        }
        if self.error_first {
            subscriber.on_error(Error::msg("first error"));
        } else {
            subscriber.on_complete();
        }
        subscriber.on_next(1_000);
        subscriber.on_error(Error::msg("late error"));
        subscriber.on_complete();
    }
}

#[test]
fn rule_1_7_signals_after_complete_are_not_passed_on_by_a_named_stage() {
    let probe = TestSubscriber::new(u64::MAX);
    let named = SignalsAfterItsEnd { error_first: false }.name("rule-1-7-after-complete");
    named.subscribe(probe.clone());
    probe.assert_no_violations();
    probe.assert_values(&[0, 1, 2]);
    assert!(probe.is_complete());
    assert!(
        probe.error().is_none(),
        "an error after on_complete was passed on: {:?}",
        probe.error()
    );
    let s = only(&named.registry(), "rule-1-7-after-complete");
    assert_eq!(s.state, StageState::Completed);
    assert_eq!(s.items, 3, "the late element was counted as delivered");
}

#[test]
fn rule_1_7_signals_after_an_error_are_not_passed_on_by_a_named_stage() {
    let probe = TestSubscriber::new(u64::MAX);
    let named = SignalsAfterItsEnd { error_first: true }.name("rule-1-7-after-error");
    named.subscribe(probe.clone());
    probe.assert_no_violations();
    probe.assert_values(&[0, 1, 2]);
    assert!(
        !probe.is_complete(),
        "an on_complete after on_error was passed on"
    );
    assert_eq!(
        probe.error().expect("the error passed").to_string(),
        "first error"
    );
    let s = only(&named.registry(), "rule-1-7-after-error");
    assert_eq!(s.state, StageState::Failed);
    assert_eq!(s.items, 3, "the late element was counted as delivered");
}

#[test]
fn a_snapshot_line_shows_every_figure_it_has() {
    let registry = Registry::new();
    let probe = TestSubscriber::new(2);
    source::range(0, 10)
        .observe(Stage::new("line").registry(&registry))
        .subscribe(probe);
    let line = only(&registry, "line").to_string();
    assert!(
        line.starts_with(
            "line #1 running: 2 items, 2 requested, 0 outstanding, last signal at least"
        ),
        "{line}"
    );
}

#[test]
fn subscriptions_and_readings_from_many_threads_lose_no_count() {
    let registry = Registry::new().keep_ended(2);
    let numbers = source::range(0, 10).observe(Stage::new("busy").registry(&registry));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let registry = registry.clone();
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut last_items = 0;
            while !stop.load(Ordering::SeqCst) {
                registry.snapshot();
                if let Some(t) = registry.totals().first() {
                    assert!(t.items >= last_items, "the items total went down");
                    last_items = t.items;
                }
            }
        })
    };
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let numbers = numbers.clone();
            std::thread::spawn(move || {
                for _ in 0..200 {
                    assert_eq!(sink::collect(&numbers).unwrap().len(), 10);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    reader.join().unwrap();
    let t = &registry.totals()[0];
    assert_eq!((t.items, t.completed, t.running), (8_000, 800, 0));
    assert_eq!(registry.snapshot().len(), 2);
}

#[test]
fn in_flight_read_during_a_flood_is_exact_or_none_never_more_than_the_queue_holds() {
    use rstreams_ops::{Overflow, PublisherExt};
    let registry = rstreams_observe::Registry::new();
    let probe = rstreams_tck::TestSubscriber::<u64>::new(0);
    // A hot source on its own thread floods a queue of 32 that nobody drains: elements enter
    // and are dropped as fast as the thread can go while the reader samples.
    let flood = rstreams_core::source::from_iter(0u64..5_000_000)
        .subscribe_on(rstreams_core::scheduler::ThreadPool::new(1));
    flood
        .observe_segment(
            rstreams_observe::Stage::new("queue").registry(&registry),
            |entry| entry.on_backpressure_buffer(32, Overflow::DropIncoming),
        )
        .dropped_from(|buffer| buffer.dropped())
        .subscribe(probe.clone());
    // While the flood runs: every figure is exact or None. Exact means at most the 32 queued
    // plus the one element the single producing thread is offering (entered, not yet
    // queued or dropped).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let Some(stage) = registry.stage("queue").first().cloned() else {
            continue; // subscribed on the pool's thread: not registered yet
        };
        if let Some(in_flight) = stage.in_flight {
            assert!(in_flight <= 33, "in_flight {in_flight} for a queue of 32");
        }
        if stage.entered == Some(5_000_000) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the flood did not finish"
        );
    }
    // Once quiet, the figure is there and exact: the 32 queued elements.
    let stage = registry.stage("queue")[0].clone();
    assert_eq!(stage.in_flight, Some(32));
    probe.cancel();
}
