//! Loom models of the demand counter and the drain guard.
//!
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p rstreams-core --release --lib loom`.

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

use super::{Budget, Demand, Drain, DrainCell, UNBOUNDED};

#[test]
fn loom_demand_concurrent_adds_and_produced_lose_nothing() {
    loom::model(|| {
        let demand = Arc::new(Demand::new());
        demand.add(1);
        let a = {
            let d = Arc::clone(&demand);
            thread::spawn(move || {
                d.add(2);
            })
        };
        let b = {
            let d = Arc::clone(&demand);
            thread::spawn(move || {
                d.add(3);
            })
        };
        // The emitter uses what it saw, concurrently with the adds.
        demand.produced(1);
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(demand.get(), 5);
    });
}

#[test]
fn loom_demand_saturates_and_unbounded_is_never_decremented() {
    loom::model(|| {
        let demand = Arc::new(Demand::new());
        demand.add(UNBOUNDED - 1);
        let adder = {
            let d = Arc::clone(&demand);
            thread::spawn(move || {
                d.add(2);
            })
        };
        let current = demand.get();
        // Emitting one element is always allowed here; if the add already saturated the
        // counter, produced must leave it unbounded.
        let left = demand.produced(1);
        if current == UNBOUNDED {
            assert_eq!(left, UNBOUNDED);
        }
        adder.join().unwrap();
        assert_eq!(demand.get(), UNBOUNDED);
    });
}

#[test]
fn loom_drain_sees_every_event_and_passes_never_overlap() {
    loom::model(|| {
        let drain = Arc::new(Drain::new());
        let events = Arc::new(AtomicUsize::new(0));
        let handled = Arc::new(AtomicUsize::new(0));
        let in_pass = Arc::new(AtomicBool::new(false));

        let signal = {
            let drain = Arc::clone(&drain);
            let events = Arc::clone(&events);
            let handled = Arc::clone(&handled);
            let in_pass = Arc::clone(&in_pass);
            move || {
                events.fetch_add(1, Ordering::SeqCst);
                drain.run(|| {
                    assert!(
                        !in_pass.swap(true, Ordering::SeqCst),
                        "two passes overlapped"
                    );
                    let seen = events.swap(0, Ordering::SeqCst);
                    handled.fetch_add(seen, Ordering::SeqCst);
                    in_pass.store(false, Ordering::SeqCst);
                });
            }
        };
        let other = {
            let signal = signal.clone();
            thread::spawn(signal)
        };
        signal();
        other.join().unwrap();
        assert_eq!(handled.load(Ordering::SeqCst), 2, "an event was lost");
        assert!(!drain.is_busy());
    });
}

#[test]
fn loom_drain_cell_entered_before_setup_defers_concurrent_events() {
    loom::model(|| {
        let cell = Arc::new(DrainCell::new(0usize));
        let pending = Arc::new(AtomicUsize::new(0));
        let mut entered = cell.enter().expect("fresh cell");
        *entered.get() += 0;
        let other = {
            let cell = Arc::clone(&cell);
            let pending = Arc::clone(&pending);
            thread::spawn(move || {
                pending.fetch_add(1, Ordering::SeqCst);
                cell.drain(|count| *count += pending.swap(0, Ordering::SeqCst));
            })
        };
        {
            let pending = Arc::clone(&pending);
            entered.drain(move |count| *count += pending.swap(0, Ordering::SeqCst));
        }
        other.join().unwrap();
        // Whichever thread ran the last pass, the event was handled exactly once.
        let mut total = 0;
        cell.drain(|count| total = *count);
        assert_eq!(total, 1);
    });
}

#[test]
fn loom_budget_concurrent_claims_never_exceed_the_budget() {
    loom::model(|| {
        let budget = Arc::new(Budget::new(5));
        let other = {
            let b = Arc::clone(&budget);
            thread::spawn(move || b.claim(3))
        };
        let mine = budget.claim(4);
        let theirs = other.join().unwrap();
        assert_eq!(
            mine + theirs,
            5,
            "granted {mine} + {theirs} of a budget of 5"
        );
        assert_eq!(budget.remaining(), 0);
    });
}

// ===== the engine, the inbox, the arbiter =====

use std::sync::Arc as StdArc;

use super::{Arbiter, Engine, EngineConfig, ErrorMode, Inbox, InboxSubscriber, Pull, Pulled};
use crate::sync::Mutex;
use crate::{Error, Subscriber, Subscription};

/// What a model subscriber saw.
#[derive(Default)]
struct Seen {
    values: Vec<u64>,
    completed: usize,
    errors: usize,
    subscription: Option<StdArc<dyn Subscription>>,
}

#[derive(Clone, Default)]
struct Recorder(StdArc<Mutex<Seen>>);

impl Subscriber<u64> for Recorder {
    fn on_subscribe(&mut self, s: StdArc<dyn Subscription>) {
        self.0.lock().subscription = Some(s);
    }
    fn on_next(&mut self, item: u64) {
        self.0.lock().values.push(item);
    }
    fn on_error(&mut self, _: Error) {
        self.0.lock().errors += 1;
    }
    fn on_complete(&mut self) {
        self.0.lock().completed += 1;
    }
}

impl Recorder {
    fn subscription(&self) -> StdArc<dyn Subscription> {
        self.0.lock().subscription.clone().expect("subscribed")
    }
}

/// `0..limit`, then complete.
struct Count {
    next: u64,
    limit: u64,
}

impl Pull for Count {
    type Item = u64;
    fn name(&self) -> &'static str {
        "count"
    }
    fn pull(&mut self, _demand: u64) -> Pulled<u64> {
        if self.next == self.limit {
            return Pulled::End;
        }
        self.next += 1;
        Pulled::Ready(self.next - 1)
    }
    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        (self.next == self.limit).then_some(Ok(()))
    }
}

#[test]
fn loom_engine_requests_from_two_threads_deliver_in_order_once_and_complete_once() {
    loom::model(|| {
        let probe = Recorder::default();
        Engine::start(
            Count { next: 0, limit: 3 },
            probe.clone(),
            EngineConfig::new(),
        );
        let subscription = probe.subscription();
        let other = {
            let s = StdArc::clone(&subscription);
            thread::spawn(move || s.request(2))
        };
        subscription.request(1);
        other.join().unwrap();
        let seen = probe.0.lock();
        assert_eq!(seen.values, vec![0, 1, 2], "in order, each once, all three");
        assert_eq!(seen.completed, 1, "completion exactly once");
        assert_eq!(seen.errors, 0);
    });
}

#[test]
fn loom_engine_cancel_racing_a_request_never_over_emits_or_signals_after_cancel() {
    loom::model(|| {
        let probe = Recorder::default();
        Engine::start(
            Count { next: 0, limit: 5 },
            probe.clone(),
            EngineConfig::new(),
        );
        let subscription = probe.subscription();
        let other = {
            let s = StdArc::clone(&subscription);
            thread::spawn(move || s.cancel())
        };
        subscription.request(2);
        other.join().unwrap();
        // After cancel returned on both threads, nothing more may arrive.
        let before = probe.0.lock().values.len();
        subscription.request(3);
        let seen = probe.0.lock();
        assert!(
            seen.values.len() <= 2,
            "at most the demand: {:?}",
            seen.values
        );
        assert_eq!(seen.values.len(), before, "§3.6: nothing after cancel");
        assert_eq!(
            seen.completed + seen.errors,
            0,
            "no terminal signal after cancel"
        );
    });
}

#[test]
fn loom_engine_request_zero_racing_a_request_fails_exactly_once() {
    loom::model(|| {
        let probe = Recorder::default();
        Engine::start(
            Count { next: 0, limit: 5 },
            probe.clone(),
            EngineConfig::new(),
        );
        let subscription = probe.subscription();
        let other = {
            let s = StdArc::clone(&subscription);
            thread::spawn(move || s.request(0))
        };
        subscription.request(1);
        other.join().unwrap();
        let seen = probe.0.lock();
        assert_eq!(seen.errors, 1, "§3.9 exactly once");
        assert_eq!(seen.completed, 0);
        assert!(seen.values.len() <= 1);
    });
}

#[test]
fn loom_inbox_an_element_pushed_on_one_thread_is_delivered_on_demand_from_another() {
    loom::model(|| {
        let probe = Recorder::default();
        let inbox = StdArc::new(Inbox::new("model", 2, ErrorMode::AfterQueued).unwrap());
        let engine = Engine::start(
            InboxDrain(StdArc::clone(&inbox), inbox.replenish()),
            probe.clone(),
            EngineConfig::new().upstream(StdArc::clone(inbox.upstream())),
        );
        let mut inlet = InboxSubscriber::new(StdArc::clone(&inbox), engine);
        inlet.on_subscribe(StdArc::new(crate::NoopSubscription));
        let producer = thread::spawn(move || {
            inlet.on_next(7);
            inlet.on_complete();
        });
        probe.subscription().request(1);
        producer.join().unwrap();
        let seen = probe.0.lock();
        assert_eq!(seen.values, vec![7], "the element was delivered, once");
        assert_eq!(seen.completed, 1, "and then the completion, once");
    });
}

/// An inbox's drain side, for the model (what `subscribe_through` runs).
struct InboxDrain(StdArc<Inbox<u64>>, super::Replenish);

impl Pull for InboxDrain {
    type Item = u64;
    fn name(&self) -> &'static str {
        "model"
    }
    fn pull(&mut self, _demand: u64) -> Pulled<u64> {
        self.0.pull(&mut self.1)
    }
    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        self.0.poll_end(&mut self.1)
    }
}

/// An upstream subscription that adds up what it is asked for.
#[derive(Default)]
struct Asked(AtomicUsize);

impl Subscription for Asked {
    fn request(&self, n: u64) {
        self.0.fetch_add(n as usize, Ordering::SeqCst);
    }
    fn cancel(&self) {}
}

#[test]
fn loom_arbiter_a_request_racing_a_switch_is_carried_over_exactly_once() {
    loom::model(|| {
        let arbiter = StdArc::new(Arbiter::new());
        arbiter.request(2);
        let first = StdArc::new(Asked::default());
        arbiter.switch_to(first.clone(), 0);
        // The first upstream delivered 1 and completed; a request races the switch.
        arbiter.clear();
        let other = {
            let a = StdArc::clone(&arbiter);
            thread::spawn(move || a.request(3))
        };
        let second = StdArc::new(Asked::default());
        arbiter.switch_to(second.clone(), 1);
        other.join().unwrap();
        // Requested 5 in all, 1 produced: the second upstream was asked for exactly 4.
        assert_eq!(second.0.load(Ordering::SeqCst), 4);
        assert_eq!(first.0.load(Ordering::SeqCst), 2);
    });
}

// ===== the feed: a fetcher thread and the subscription =====

use super::{Feed, Feeder};

fn fed(feed: Feed) -> (Recorder, Feeder<u64>) {
    let probe = Recorder::default();
    let feeder = feed.start(probe.clone(), EngineConfig::new());
    (probe, feeder)
}

#[test]
fn loom_feed_demand_published_while_the_fetcher_waits_is_never_lost() {
    loom::model(|| {
        let (probe, feeder) = fed(Feed::new("model"));
        let fetcher = thread::spawn(move || {
            // Waits (the model checks the notify reaches it), then fetches what it was asked.
            let n = feeder.wait_for_demand().expect("live");
            assert!(n <= 2, "§1.1: asked for at most the demand");
            assert!(feeder.push_batch(0..n));
            if n < 2 {
                let m = feeder.wait_for_demand().expect("live");
                assert_eq!(n + m, 2, "the demand left beyond the buffer");
                assert!(feeder.push_batch(n..n + m));
            }
        });
        probe.subscription().request(2);
        fetcher.join().unwrap();
        let seen = probe.0.lock();
        assert_eq!(
            seen.values,
            vec![0, 1],
            "every fetched element, once, in order"
        );
        assert_eq!(seen.completed + seen.errors, 0);
    });
}

#[test]
fn loom_feed_cancel_racing_a_push_stops_the_fetcher_and_signals_nothing() {
    loom::model(|| {
        let (probe, feeder) = fed(Feed::new("model"));
        probe.subscription().request(1);
        let handle = feeder.clone();
        let fetcher = thread::spawn(move || {
            let pushed = handle.push(7);
            // After a cancel the fetcher is told to stop, wherever it looks.
            (pushed, handle.wait_for_demand())
        });
        probe.subscription().cancel();
        let (pushed, next) = fetcher.join().unwrap();
        assert_eq!(next, None, "§3.5: the fetcher stops after cancel");
        assert_eq!(
            feeder.buffered(),
            0,
            "nothing is left buffered after cancel"
        );
        assert!(!feeder.push(8), "a push after cancel is refused");
        let seen = probe.0.lock();
        assert!(
            seen.values.len() <= usize::from(pushed),
            "{:?}",
            seen.values
        );
        assert_eq!(
            seen.completed + seen.errors,
            0,
            "no terminal signal after cancel"
        );
    });
}

#[test]
fn loom_feed_a_release_at_the_bound_wakes_the_waiting_fetcher() {
    loom::model(|| {
        let (probe, feeder) = fed(Feed::new("model").max_held(1));
        let unsettled = feeder.unsettled();
        unsettled.hold();
        probe.subscription().request(3);
        let fetcher = thread::spawn(move || feeder.wait_for_demand());
        unsettled.release();
        assert_eq!(
            fetcher.join().unwrap(),
            Some(1),
            "woken by the release, capped by the bound"
        );
    });
}

#[test]
fn loom_feed_a_failure_racing_a_request_is_signalled_once_after_the_buffer() {
    loom::model(|| {
        let (probe, feeder) = fed(Feed::new("model"));
        probe.subscription().request(1);
        let fetcher = thread::spawn(move || {
            assert!(feeder.push(1));
            feeder.fail(Error::msg("broken"));
        });
        probe.subscription().request(1);
        fetcher.join().unwrap();
        let seen = probe.0.lock();
        assert_eq!(seen.values, vec![1]);
        assert_eq!(seen.errors, 1, "§1.4: the failure, once, after the element");
        assert_eq!(seen.completed, 0);
    });
}

// ===== the outbox: a sink's writer thread =====

use super::Outbox;

#[test]
fn loom_outbox_elements_offered_while_the_writer_waits_are_all_written_then_it_ends() {
    loom::model(|| {
        let mut outbox: Outbox<u64> = Outbox::new("model");
        let written = outbox.handle();
        let upstream = StdArc::new(Asked::default());
        let writer = outbox.attach(upstream.clone(), 2);
        let thread = thread::spawn(move || {
            let mut seen = Vec::new();
            // Waits (the model checks every offer and the completion reach it).
            while let Some(x) = writer.next() {
                seen.push(x);
                writer.written(1);
            }
            seen
        });
        outbox.offer(1);
        outbox.offer(2);
        outbox.complete();
        assert_eq!(
            thread.join().unwrap(),
            vec![1, 2],
            "each written once, in order"
        );
        assert_eq!(written.written(), 2);
        let asked = upstream.0.load(Ordering::SeqCst);
        assert!(
            (2..=4).contains(&asked),
            "in_flight, then one per write before the end: {asked}"
        );
    });
}

// ===== an asynchronous boundary: the drain side parks, the producer wakes it =====

use super::subscribe_through;
use crate::scheduler::{Task, TaskHandle, Worker};
use crate::Publisher;

/// A worker that runs each task at once on the scheduling thread: the drain loop then runs on
/// whichever thread woke it, the hand-off loom should explore.
struct Inline;

impl Worker for Inline {
    fn schedule(&self, task: Task) {
        task.run();
    }
    fn schedule_after(&self, _delay: std::time::Duration, task: Task) -> TaskHandle {
        task.run();
        TaskHandle::default()
    }
    fn now(&self) -> std::time::Instant {
        std::time::Instant::now()
    }
}

/// A publisher that hands its subscriber to the model, to signal from a model thread.
#[derive(Clone, Default)]
struct Handoff(StdArc<Mutex<Option<Box<dyn Subscriber<u64> + Send>>>>);

impl Publisher for Handoff {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
        subscriber.on_subscribe(StdArc::new(crate::NoopSubscription));
        *self.0.lock() = Some(Box::new(subscriber));
    }
}

#[test]
fn loom_boundary_an_element_pushed_while_the_drain_side_parks_is_never_stranded() {
    loom::model(|| {
        let probe = Recorder::default();
        let source = Handoff::default();
        let inbox = Inbox::new("model", 2, ErrorMode::AfterQueued).unwrap();
        subscribe_through(&source, probe.clone(), inbox, Some(StdArc::new(Inline)));
        let mut inlet = source.0.lock().take().expect("subscribed");
        // No completion after the elements: nothing may rescue a missed wake-up.
        let producer = thread::spawn(move || {
            inlet.on_next(7);
            inlet.on_next(8);
        });
        probe.subscription().request(2);
        producer.join().unwrap();
        assert_eq!(
            probe.0.lock().values,
            vec![7, 8],
            "each element delivered once, in order, with no later signal to rescue it"
        );
    });
}
