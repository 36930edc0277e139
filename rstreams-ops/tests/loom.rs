//! Loom models of the operators whose state crosses threads: publish_on, flat_map (which
//! merge and concat are built on), and the queueing stage behind on_backpressure_buffer,
//! on_backpressure_latest and limit_rate.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p rstreams-ops --release --test loom`.
//! The operators take their atomics and locks from `rstreams_core::sync`, which is loom's under
//! `--cfg loom`, so these models explore the operators' own code, not a copy.

#![cfg(loom)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use loom::sync::atomic::{AtomicU64, Ordering};
use loom::sync::Mutex;
use loom::thread;
use rstreams_core::scheduler::{Scheduler, Task, TaskHandle, Worker};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};
use rstreams_ops::{Overflow, PublisherExt};

/// A scheduler whose worker runs each task at once, on the thread that scheduled it: a
/// publish_on drain then runs on whichever thread won the drain loop, which is the handoff
/// loom should explore.
#[derive(Clone, Copy)]
struct Inline;

impl Worker for Inline {
    fn schedule(&self, task: Task) {
        task.run();
    }
    fn schedule_after(&self, _delay: Duration, task: Task) -> TaskHandle {
        task.run();
        TaskHandle::default()
    }
    fn now(&self) -> Instant {
        Instant::now()
    }
}

impl Scheduler for Inline {
    fn worker(&self) -> Arc<dyn Worker> {
        Arc::new(Inline)
    }
    fn now(&self) -> Instant {
        Instant::now()
    }
}

#[derive(Debug, PartialEq, Eq, Clone)]
enum Signal {
    Next(u64),
    Complete,
    Error,
}

/// Records signals; keeps its subscription so the model can request from another thread.
#[derive(Clone)]
struct Recorder {
    log: Arc<Mutex<Vec<Signal>>>,
    subscription: Arc<Mutex<Option<Arc<dyn Subscription>>>>,
    initial: u64,
}

impl Recorder {
    fn new(initial: u64) -> Self {
        Recorder {
            log: Arc::new(Mutex::new(Vec::new())),
            subscription: Arc::new(Mutex::new(None)),
            initial,
        }
    }
    fn request(&self, n: u64) {
        let s = self.subscription.lock().unwrap().clone();
        if let Some(s) = s {
            s.request(n);
        }
    }
    fn log(&self) -> Vec<Signal> {
        self.log.lock().unwrap().clone()
    }
}

impl Subscriber<u64> for Recorder {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        *self.subscription.lock().unwrap() = Some(Arc::clone(&s));
        if self.initial > 0 {
            s.request(self.initial);
        }
    }
    fn on_next(&mut self, x: u64) {
        self.log.lock().unwrap().push(Signal::Next(x));
    }
    fn on_error(&mut self, _: Error) {
        self.log.lock().unwrap().push(Signal::Error);
    }
    fn on_complete(&mut self) {
        self.log.lock().unwrap().push(Signal::Complete);
    }
}

/// A publisher driven from a model thread: `emit` and `complete` signal its subscriber; it
/// records the demand it was given.
#[derive(Clone)]
struct Manual {
    subscriber: Arc<Mutex<Option<Box<dyn Subscriber<u64>>>>>,
    requested: Arc<AtomicU64>,
}

struct ManualSubscription(Arc<AtomicU64>);

impl Subscription for ManualSubscription {
    fn request(&self, n: u64) {
        self.0.fetch_add(n, Ordering::SeqCst);
    }
    fn cancel(&self) {}
}

impl Manual {
    fn new() -> Self {
        Manual {
            subscriber: Arc::new(Mutex::new(None)),
            requested: Arc::new(AtomicU64::new(0)),
        }
    }
    fn emit(&self, x: u64) {
        if let Some(s) = self.subscriber.lock().unwrap().as_mut() {
            s.on_next(x);
        }
    }
    fn complete(&self) {
        if let Some(mut s) = self.subscriber.lock().unwrap().take() {
            s.on_complete();
        }
    }
}

impl Publisher for Manual {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
        subscriber.on_subscribe(Arc::new(ManualSubscription(Arc::clone(&self.requested))));
        *self.subscriber.lock().unwrap() = Some(Box::new(subscriber));
    }
}

#[test]
fn loom_publish_on_delivers_in_order_exactly_once_whoever_drains() {
    loom::model(|| {
        let upstream = Manual::new();
        let probe = Recorder::new(0);
        upstream
            .clone()
            .publish_on(Inline, 2)
            .subscribe(probe.clone());
        assert_eq!(upstream.requested.load(Ordering::SeqCst), 2, "the prefetch");

        let producer = {
            let up = upstream.clone();
            thread::spawn(move || {
                up.emit(10);
                up.emit(11);
            })
        };
        let consumer = {
            let p = probe.clone();
            thread::spawn(move || {
                p.request(1);
                p.request(1);
            })
        };
        producer.join().unwrap();
        consumer.join().unwrap();
        // Both elements out before any later event could rescue a missed wake-up.
        assert_eq!(
            probe.log(),
            vec![Signal::Next(10), Signal::Next(11)],
            "lost, reordered or duplicated across the boundary"
        );
        upstream.complete();
        assert_eq!(probe.log().last(), Some(&Signal::Complete));
    });
}

#[test]
fn loom_publish_on_never_emits_beyond_demand() {
    loom::model(|| {
        let upstream = Manual::new();
        let probe = Recorder::new(1);
        upstream
            .clone()
            .publish_on(Inline, 2)
            .subscribe(probe.clone());
        let producer = {
            let up = upstream.clone();
            thread::spawn(move || {
                up.emit(1);
                up.emit(2);
            })
        };
        let canceller = {
            let p = probe.clone();
            thread::spawn(move || {
                let s = p.subscription.lock().unwrap().clone();
                if let Some(s) = s {
                    s.cancel();
                }
            })
        };
        producer.join().unwrap();
        canceller.join().unwrap();
        let log = probe.log();
        assert!(log.len() <= 1, "beyond the demand of 1: {log:?}");
        assert!(log.iter().all(|s| *s == Signal::Next(1)), "{log:?}");
    });
}

#[test]
fn loom_flat_map_merges_two_inners_emitting_from_two_threads() {
    loom::model(|| {
        let a = Manual::new();
        let b = Manual::new();
        let inners = [a.clone(), b.clone()];
        let probe = Recorder::new(u64::MAX);
        rstreams_core::source::range(0, 2)
            .flat_map(move |k| inners[k as usize].clone(), 2, 1)
            .subscribe(probe.clone());
        let ta = {
            let a = a.clone();
            thread::spawn(move || a.emit(100))
        };
        let tb = {
            let b = b.clone();
            thread::spawn(move || b.emit(200))
        };
        ta.join().unwrap();
        tb.join().unwrap();
        // Both out before any later event could rescue a missed wake-up.
        let mut log = probe.log();
        log.sort_by_key(|s| match s {
            Signal::Next(x) => *x,
            _ => u64::MAX,
        });
        assert_eq!(log, vec![Signal::Next(100), Signal::Next(200)]);
        a.complete();
        b.complete();
        assert_eq!(probe.log().len(), 3);
        assert_eq!(
            probe.log().last(),
            Some(&Signal::Complete),
            "completes once, last"
        );
    });
}

#[test]
fn loom_flat_map_adopts_every_inner_an_outer_on_another_thread_hands_over() {
    // The outer wakes the merger only for the first publisher of a batch that the merger has
    // not taken yet: the second `on_next` may skip its wake while the merger, on the
    // requesting thread, adopts. Neither publisher may be left behind.
    loom::model(|| {
        let outer = Manual::new();
        let probe = Recorder::new(0);
        outer
            .clone()
            .flat_map(|k| rstreams_core::source::range(k * 10, 1), 2, 1)
            .subscribe(probe.clone());
        let producer = {
            let outer = outer.clone();
            thread::spawn(move || {
                outer.emit(0);
                outer.emit(1);
            })
        };
        let consumer = {
            let p = probe.clone();
            thread::spawn(move || p.request(2))
        };
        producer.join().unwrap();
        consumer.join().unwrap();
        let mut log = probe.log();
        log.sort_by_key(|s| match s {
            Signal::Next(x) => *x,
            _ => u64::MAX,
        });
        assert_eq!(log, vec![Signal::Next(0), Signal::Next(10)]);
        outer.complete();
        assert_eq!(probe.log().last(), Some(&Signal::Complete));
    });
}

#[test]
fn loom_on_backpressure_buffer_delivers_in_order_exactly_once_whoever_drains() {
    loom::model(|| {
        let upstream = Manual::new();
        let probe = Recorder::new(0);
        upstream
            .clone()
            .on_backpressure_buffer(2, Overflow::Fail)
            .subscribe(probe.clone());
        let producer = {
            let up = upstream.clone();
            thread::spawn(move || {
                up.emit(10);
                up.emit(11);
            })
        };
        let consumer = {
            let p = probe.clone();
            thread::spawn(move || {
                p.request(1);
                p.request(1);
            })
        };
        producer.join().unwrap();
        consumer.join().unwrap();
        // Both elements out before any later event could rescue a missed wake-up.
        assert_eq!(
            probe.log(),
            vec![Signal::Next(10), Signal::Next(11)],
            "lost, reordered or duplicated through the queue"
        );
        upstream.complete();
        assert_eq!(probe.log().last(), Some(&Signal::Complete));
    });
}

#[test]
fn loom_limit_rate_tops_up_and_never_emits_beyond_demand() {
    loom::model(|| {
        let upstream = Manual::new();
        let probe = Recorder::new(1);
        upstream.clone().limit_rate(2, 1).subscribe(probe.clone());
        assert_eq!(upstream.requested.load(Ordering::SeqCst), 2, "high");
        let producer = {
            let up = upstream.clone();
            thread::spawn(move || {
                up.emit(1);
                up.emit(2);
            })
        };
        let consumer = {
            let p = probe.clone();
            thread::spawn(move || p.request(1))
        };
        producer.join().unwrap();
        consumer.join().unwrap();
        assert_eq!(probe.log(), vec![Signal::Next(1), Signal::Next(2)]);
        assert_eq!(
            upstream.requested.load(Ordering::SeqCst),
            4,
            "one more for each element that went downstream"
        );
    });
}

/// subscribe_on: a request made on one thread while the task passing requests on (running on
/// another, which requested first) looks for more and ends, is passed on all the same: either
/// the request sees the task active and the ending task then sees its demand, or it schedules
/// a task of its own (Dekker's pattern on `active` and the demand, with fences on both sides).
#[test]
fn loom_subscribe_on_a_request_made_while_the_pass_on_task_ends_is_never_stranded() {
    loom::model(|| {
        let upstream = Manual::new();
        let probe = Recorder::new(0);
        upstream
            .clone()
            .subscribe_on(Inline)
            .subscribe(probe.clone());
        let other = probe.clone();
        let t = thread::spawn(move || other.request(2));
        probe.request(1);
        t.join().unwrap();
        assert_eq!(upstream.requested.load(Ordering::SeqCst), 3);
    });
}
