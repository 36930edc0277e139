//! buffer_timeout: batches by size or time, waiting for demand, one batch in flight.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::*;
use rstreams_core::scheduler::{timer, ThreadPool, VirtualTime};
use rstreams_core::{sink, source, Error, Publisher, Subscriber, Subscription};
use rstreams_ops::PublisherExt;
use rstreams_tck::{TestPublisher, TestSubscriber, Upstream};

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn full_batches_go_out_by_size_and_the_rest_on_completion() {
    let batches = source::range(0, 7).buffer_timeout(3, SECOND * 60);
    assert_eq!(
        sink::collect(&batches).unwrap(),
        vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]
    );
}

#[test]
fn a_partial_batch_goes_out_when_its_time_is_up() {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let probe = TestSubscriber::new(10);
    input
        .clone()
        .buffer_timeout_on(3, SECOND, vt.clone())
        .subscribe(probe.clone());
    input.emit(1);
    input.emit(2);
    vt.advance_by(Duration::from_millis(999));
    assert_eq!(probe.count(), 0);
    vt.advance_by(Duration::from_millis(1));
    probe.assert_values(&[vec![1, 2]]);
    // The timer of a batch that went out full does not cut the next one short.
    input.emit(3);
    input.emit(4);
    input.emit(5);
    probe.assert_values(&[vec![1, 2], vec![3, 4, 5]]);
    input.emit(6);
    vt.advance_by(Duration::from_millis(500));
    assert_eq!(probe.count(), 2);
    vt.advance_by(Duration::from_millis(500));
    probe.assert_values(&[vec![1, 2], vec![3, 4, 5], vec![6]]);
    probe.assert_no_violations();
}

#[test]
fn batches_that_go_out_full_leave_no_timer_behind_on_virtual_time() {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let probe = TestSubscriber::new(u64::MAX);
    input
        .clone()
        .buffer_timeout_on(2, SECOND * 3600, vt.clone())
        .subscribe(probe.clone());
    for i in 0..20_000 {
        input.emit(i);
        // One live timer at most: the one of the batch being filled.
        assert!(vt.pending() <= 1, "{} timers pending", vt.pending());
    }
    assert_eq!(probe.count(), 10_000);
    assert_eq!(vt.pending(), 0);
}

#[test]
fn batches_that_go_out_full_leave_no_timer_behind_on_a_pool() {
    let pool = ThreadPool::new(1);
    let batches = source::range(0, 20_000).buffer_timeout_on(2, SECOND * 3600, pool.clone());
    assert_eq!(sink::collect(&batches).unwrap().len(), 10_000);
    assert_eq!(pool.pending_timers(), 0);
}

#[test]
fn batches_that_go_out_full_leave_no_timer_behind_on_the_default_timer() {
    let batches = source::range(0, 20_000).buffer_timeout(2, SECOND * 3600);
    assert_eq!(sink::collect(&batches).unwrap().len(), 10_000);
    // Other tests of this binary may hold a live timer or two meanwhile; 10 000 cancelled
    // ones must not be there.
    let pending = timer().pending_timers();
    assert!(pending < 100, "{pending} timers pending");
}

#[test]
fn a_subscriber_blocked_on_a_timed_batch_does_not_hold_up_another_pipelines_batch() {
    let blocked = BlockedPipeline::start();
    assert_ne!(
        blocked.thread, "rstreams-timer-clock",
        "the timer's clock thread ran a subscriber"
    );
    let (tx, rx) = mpsc::channel();
    let input = TestPublisher::<u32>::new();
    input
        .clone()
        .buffer_timeout(10, Duration::from_millis(5))
        .subscribe(sink::for_each(move |batch: Vec<u32>| {
            let _ = tx.send((batch, thread_name()));
        }));
    input.emit(7);
    let (batch, thread) = rx
        .recv_timeout(WAIT)
        .expect("the timed batch waited for another pipeline's blocked subscriber");
    assert_eq!(batch, vec![7]);
    assert_ne!(thread, blocked.thread);
    assert!(thread.starts_with("rstreams-timer-") && thread != "rstreams-timer-clock");
    drop(blocked);
}

#[test]
fn a_timeout_of_duration_max_means_batches_go_out_full_or_at_the_end() {
    // The default timer: the stream completes (before, the timer's panic unwound into the
    // source and no terminal signal came).
    let (tx, rx) = mpsc::channel();
    let subscriber = sink::for_each(move |batch: Vec<u64>| {
        let _ = tx.send(batch);
    });
    let done = subscriber.handle();
    source::range(0, 5)
        .buffer_timeout(2, Duration::MAX)
        .subscribe(subscriber);
    assert!(
        matches!(done.wait_timeout(WAIT), Some(Ok(()))),
        "the stream completes"
    );
    assert_eq!(
        rx.try_iter().collect::<Vec<_>>(),
        vec![vec![0, 1], vec![2, 3], vec![4]]
    );
    // VirtualTime: a partial batch waits "forever", then goes out at the end.
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let probe = TestSubscriber::new(10);
    input
        .clone()
        .buffer_timeout_on(3, Duration::MAX, vt.clone())
        .subscribe(probe.clone());
    input.emit(1);
    vt.advance_by(SECOND * 3600 * 24 * 365 * 50);
    assert_eq!(probe.count(), 0);
    input.complete();
    probe.assert_values(&[vec![1]]);
    assert!(probe.is_complete());
    assert_eq!(vt.pending(), 0);
}

#[test]
fn a_due_batch_waits_for_demand_instead_of_failing_or_dropping() {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let probe = TestSubscriber::new(1);
    input
        .clone()
        .buffer_timeout_on(10, SECOND, vt.clone())
        .subscribe(probe.clone());
    input.emit(1);
    vt.advance_by(SECOND);
    probe.assert_values(&[vec![1]]);
    // No demand left: the next batch fills, its timer fires, and it waits.
    input.emit(2);
    input.emit(3);
    vt.advance_by(SECOND * 10);
    assert_eq!(probe.count(), 1);
    assert!(
        !probe.is_terminated(),
        "no overflow error for a slow consumer"
    );
    assert_eq!(
        input.requested(),
        10,
        "nothing more requested while a batch waits"
    );
    probe.request(1);
    probe.assert_values(&[vec![1], vec![2, 3]]);
    probe.assert_no_violations();
}

#[test]
fn at_most_one_batch_is_queued_or_outstanding_upstream() {
    let up = Upstream::never_completing(1_000);
    let probe = TestSubscriber::new(0);
    up.clone()
        .buffer_timeout_on(4, SECOND, VirtualTime::new())
        .subscribe(probe.clone());
    assert_eq!(up.requested(), 0, "no demand, nothing requested");
    probe.request(100);
    assert_eq!(probe.count(), 100);
    assert!(up.requested() - up.emitted() <= 4, "{:?}", up.stats());
    assert_eq!(up.emitted(), 400);
    probe.cancel();
    assert!(up.is_cancelled());
}

#[test]
fn an_error_goes_at_once_and_drops_the_partial_batch() {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let probe = TestSubscriber::new(10);
    input
        .clone()
        .buffer_timeout_on(3, SECOND, vt)
        .subscribe(probe.clone());
    input.emit(1);
    input.fail(Error::msg("down"));
    assert_eq!(probe.count(), 0);
    assert_eq!(probe.error().unwrap().to_string(), "down");
}

#[test]
fn cancel_stops_the_timer_and_releases_the_subscriber() {
    let vt = VirtualTime::new();
    let input = TestPublisher::<u32>::new();
    let probe = TestSubscriber::new(10);
    let (subscriber, weak) = track(probe.clone());
    input
        .clone()
        .buffer_timeout_on(3, SECOND, vt.clone())
        .subscribe(subscriber);
    input.emit(1);
    probe.cancel();
    assert!(input.is_cancelled());
    vt.advance_by(SECOND * 2);
    assert_eq!(probe.count(), 0);
    assert!(released(&weak), "§3.13");
}

#[test]
fn the_protocol_holds_for_the_batches() {
    // One element per batch, so the shared checks (which count elements) apply as they are.
    let vt = VirtualTime::new();
    let singles = |n: u64| {
        source::range(0, n)
            .buffer_timeout_on(1, SECOND, vt.clone())
            .map(|batch| batch[0])
    };
    zero_demand_emits_nothing(singles);
    partial_demand_is_exact(singles);
    reentrant_request_one_from_on_next_runs_to_completion(singles);
    concurrent_requests_deliver_everything_once_in_order(singles);
    request_zero_fails_the_stream_with_rule_3_9(singles);
    an_empty_upstream_completes_without_demand(singles);
}

// ===== rule breakers on either side =====

/// A downstream that asks for ten batches and panics in every `on_next`.
struct PanicsOnNext {
    calls: Arc<AtomicUsize>,
}

impl<T> Subscriber<T> for PanicsOnNext {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        subscription.request(10);
    }
    fn on_next(&mut self, _batch: T) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        panic!("downstream on fire");
    }
    fn on_error(&mut self, _error: Error) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
    fn on_complete(&mut self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn rule_2_13_a_panicking_downstream_cancels_the_upstream() {
    let vt = VirtualTime::new();
    let up = Upstream::never_completing(1_000);
    let calls = Arc::new(AtomicUsize::new(0));
    let (subscriber, weak) = track(PanicsOnNext {
        calls: Arc::clone(&calls),
    });
    let subscribed = catch_unwind(AssertUnwindSafe(|| {
        up.clone()
            .buffer_timeout_on(2, SECOND, vt.clone())
            .subscribe(subscriber)
    }));
    assert!(
        subscribed.is_ok(),
        "the panic stops in the stage: the upstream signalled, not the subscriber's caller"
    );
    assert!(up.is_cancelled(), "§2.13: treated as a cancel");
    assert_eq!(up.emitted(), 2, "one batch was asked for, nothing after");
    assert!(
        released(&weak),
        "§3.13: the panicked subscriber is released"
    );
    vt.advance_by(SECOND * 10);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "no signal after the panic");
}

#[test]
fn rule_2_13_a_downstream_panicking_on_a_timed_batch_does_not_unwind_into_the_timer() {
    let vt = VirtualTime::new();
    let input = Manual::<u32>::lagging();
    let calls = Arc::new(AtomicUsize::new(0));
    let (subscriber, weak) = track(PanicsOnNext {
        calls: Arc::clone(&calls),
    });
    input
        .clone()
        .buffer_timeout_on(3, SECOND, vt.clone())
        .subscribe(subscriber);
    input.next(1);
    let ticked = catch_unwind(AssertUnwindSafe(|| vt.advance_by(SECOND)));
    assert!(
        ticked.is_ok(),
        "the panic stops in the stage, not in the clock"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(input.is_cancelled(), "§2.13: treated as a cancel");
    assert!(
        released(&weak),
        "§3.13: the panicked subscriber is released"
    );
    // Nothing is stuck: what the lagging upstream still sends is dropped quietly.
    input.next(2);
    input.next(3);
    input.complete();
    vt.advance_by(SECOND * 10);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "no signal after the panic");
}

/// An element that counts its live instances, to see how many a stage holds.
struct Live(Arc<AtomicUsize>);

impl Live {
    fn new(alive: &Arc<AtomicUsize>) -> Self {
        alive.fetch_add(1, Ordering::SeqCst);
        Live(Arc::clone(alive))
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn rule_1_1_an_upstream_that_ignores_demand_is_cancelled_and_the_stream_fails_holding_at_most_one_batch(
) {
    let vt = VirtualTime::new();
    let rogue = Manual::<Live>::lagging();
    let probe = TestSubscriber::new(1);
    rogue
        .clone()
        .buffer_timeout_on(4, SECOND, vt.clone())
        .subscribe(probe.clone());
    assert_eq!(rogue.requested(), 4, "one batch in flight");
    let alive = Arc::new(AtomicUsize::new(0));
    for sent in 0..100_000 {
        rogue.next(Live::new(&alive));
        assert!(
            alive.load(Ordering::SeqCst) <= 4,
            "{} elements alive after {} sent",
            alive.load(Ordering::SeqCst),
            sent + 1
        );
    }
    assert_eq!(probe.count(), 1, "the batch that was requested");
    let error = probe.error().expect("the stream failed");
    assert_eq!(error.rule(), Some("1.1"), "{error}");
    assert_eq!(error.stage(), Some("buffer_timeout"), "{error}");
    assert_eq!(rogue.log().cancels(), 1, "the upstream is cancelled once");
    assert_eq!(
        alive.load(Ordering::SeqCst),
        4,
        "only the delivered batch is alive"
    );
    vt.advance_by(SECOND * 10);
    assert_eq!(probe.count(), 1);
    probe.assert_no_violations();
}

#[test]
#[should_panic(expected = "size must be at least 1")]
fn a_size_of_zero_is_rejected_when_built() {
    let _ = source::range(0, 1).buffer_timeout(0, SECOND);
}
