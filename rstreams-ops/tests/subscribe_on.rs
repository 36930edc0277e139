//! subscribe_on: subscription and requests on a worker.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use rstreams_core::scheduler::{Scheduler, ThreadPool};
use rstreams_core::{sink, source, Publisher};
use rstreams_ops::PublisherExt;
use rstreams_tck::{TestSubscriber, Upstream};

fn pool() -> ThreadPool {
    ThreadPool::with_name(1, "producer")
}

#[test]
fn the_protocol_holds() {
    let p = pool();
    zero_demand_emits_nothing(|n| source::range(0, n).subscribe_on(p.clone()));
    partial_demand_is_exact(|n| source::range(0, n).subscribe_on(p.clone()));
    reentrant_request_one_from_on_next_runs_to_completion(|n| {
        source::range(0, n).subscribe_on(p.clone())
    });
    concurrent_requests_deliver_everything_once_in_order(|n| {
        source::range(0, n).subscribe_on(p.clone())
    });
    request_zero_fails_the_stream_with_rule_3_9(|n| source::range(0, n).subscribe_on(p.clone()));
    upstream_error_passes_through_without_demand(|f| f.subscribe_on(p.clone()));
    an_empty_upstream_completes_without_demand(|n| source::range(0, n).subscribe_on(p.clone()));
}

#[test]
fn a_synchronous_source_produces_on_the_workers_thread() {
    let names = Arc::new(Mutex::new(Vec::new()));
    let n = names.clone();
    let produced = source::from_iter(0..3u64).map(move |x| {
        n.lock()
            .unwrap()
            .push(std::thread::current().name().map(str::to_owned));
        x
    });
    let all = sink::collect(&produced.subscribe_on(pool())).unwrap();
    assert_eq!(all, vec![0, 1, 2]);
    assert!(names
        .lock()
        .unwrap()
        .iter()
        .all(|n| n.as_deref() == Some("producer-0")));
}

#[test]
fn cancel_reaches_upstream_and_releases_the_subscriber() {
    let up = Upstream::never_completing(u64::MAX);
    let probe = TestSubscriber::new(3);
    let (subscriber, weak) = track(probe.clone());
    up.clone().subscribe_on(pool()).subscribe(subscriber);
    assert!(probe.await_count(3, WAIT));
    probe.cancel();
    assert!(up.is_cancelled());
    assert!(released(&weak));
}

/// Requests made while the worker is busy are passed on together, when it gets to them: one
/// task per batch of requests (and their sum is what the upstream is asked for, §3.17).
#[test]
fn requests_made_while_the_worker_is_busy_reach_the_upstream_as_one() {
    let p = pool();
    let up = Upstream::never_completing(u64::MAX);
    let probe = TestSubscriber::new(0);
    up.clone().subscribe_on(p.clone()).subscribe(probe.clone());
    assert!(probe.await_subscribed(WAIT));
    // Hold the worker.
    let (release, held) = std::sync::mpsc::channel::<()>();
    let (started, running) = std::sync::mpsc::channel::<()>();
    p.schedule(rstreams_core::scheduler::Task::new(move || {
        started.send(()).unwrap();
        held.recv().unwrap();
    }));
    running.recv().unwrap();
    probe.request(1);
    probe.request(2);
    probe.request(3);
    release.send(()).unwrap();
    assert!(probe.await_count(6, WAIT));
    assert_eq!(up.stats().requests, vec![6], "one request, the sum");
    probe.request(u64::MAX);
    probe.request(5);
    assert!(probe.await_count(7, WAIT));
    assert_eq!(up.requested(), u64::MAX, "saturating (§3.17)");
}

/// A subscriber that asks for one more element from inside each `on_next`: on a pool worker
/// the requests are passed on in a loop, not a task each, and that loop makes way for the
/// worker's other tasks every few requests.
struct OneMoreEach {
    subscription: Arc<Mutex<Option<Arc<dyn rstreams_core::Subscription>>>>,
    seen: Arc<std::sync::atomic::AtomicU64>,
}

impl rstreams_core::Subscriber<u64> for OneMoreEach {
    fn on_subscribe(&mut self, subscription: Arc<dyn rstreams_core::Subscription>) {
        *self.subscription.lock().unwrap() = Some(Arc::clone(&subscription));
        subscription.request(1);
    }
    fn on_next(&mut self, _: u64) {
        self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let s = self.subscription.lock().unwrap().clone();
        if let Some(s) = s {
            s.request(1);
        }
    }
    fn on_error(&mut self, _: rstreams_core::Error) {}
    fn on_complete(&mut self) {}
}

#[test]
fn a_stream_that_requests_from_its_own_on_next_does_not_hold_the_worker_from_its_other_tasks() {
    let p = pool();
    let seen = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let holder: Arc<Mutex<Option<Arc<dyn rstreams_core::Subscription>>>> = Default::default();
    let subscriber = OneMoreEach {
        subscription: holder.clone(),
        seen: seen.clone(),
    };
    source::range(0, u64::MAX)
        .subscribe_on(p.clone())
        .subscribe(subscriber);
    // The endless stream runs on the pool's only thread; another task still gets its turn.
    while seen.load(std::sync::atomic::Ordering::SeqCst) < 1_000 {
        std::thread::yield_now();
    }
    let (ran, done) = std::sync::mpsc::channel();
    p.schedule(rstreams_core::scheduler::Task::new(move || {
        ran.send(()).unwrap();
    }));
    done.recv_timeout(WAIT)
        .expect("the worker's other task ran while the stream flowed");
    let before = seen.load(std::sync::atomic::Ordering::SeqCst);
    while seen.load(std::sync::atomic::Ordering::SeqCst) < before + 1_000 {
        std::thread::yield_now(); // and the stream flows on
    }
    let subscription = holder.lock().unwrap().take();
    subscription.expect("subscribed").cancel();
}

#[test]
fn rule_3_9_request_zero_gets_through_while_requests_flow() {
    let p = pool();
    let probe = TestSubscriber::new(0);
    source::range(0, u64::MAX)
        .subscribe_on(p.clone())
        .subscribe(probe.clone());
    assert!(probe.await_subscribed(WAIT));
    for _ in 0..100 {
        probe.request(16);
    }
    probe.request(0);
    assert!(probe.await_terminal(WAIT), "§3.9: the stream fails");
    let error = probe.error().expect("an error, not a completion");
    assert!(error.to_string().contains("3.9"), "{error}");
}
