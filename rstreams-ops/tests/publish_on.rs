//! publish_on: delivery on a worker, bounded prefetch with 75 % replenishment, error modes.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use rstreams_core::scheduler::{ThreadPool, VirtualTime};
use rstreams_core::{sink, source, Error, Publisher};
use rstreams_ops::{ErrorMode, PublisherExt};
use rstreams_tck::{TestSubscriber, Upstream};

fn pool() -> ThreadPool {
    ThreadPool::with_name(1, "consumer")
}

#[test]
fn the_protocol_holds_across_the_boundary() {
    let p = pool();
    zero_demand_emits_nothing(|n| source::range(0, n).publish_on(p.clone(), 4));
    partial_demand_is_exact(|n| source::range(0, n).publish_on(p.clone(), 4));
    reentrant_request_one_from_on_next_runs_to_completion(|n| {
        source::range(0, n).publish_on(p.clone(), 64)
    });
    concurrent_requests_deliver_everything_once_in_order(|n| {
        source::range(0, n).publish_on(p.clone(), 16)
    });
    request_zero_fails_the_stream_with_rule_3_9(|n| source::range(0, n).publish_on(p.clone(), 4));
    demand_overflowing_u64_is_unbounded(|n| source::range(0, n).publish_on(p.clone(), 4));
    upstream_error_passes_through_without_demand(|f| f.publish_on(p.clone(), 4));
    an_empty_upstream_completes_without_demand(|n| source::range(0, n).publish_on(p.clone(), 4));
}

#[test]
fn elements_are_delivered_in_order_on_the_schedulers_thread() {
    let threads = Arc::new(Mutex::new(Vec::new()));
    let t = threads.clone();
    let s = sink::for_each(move |x: u64| {
        t.lock()
            .unwrap()
            .push((x, std::thread::current().name().map(str::to_owned)));
    });
    let h = s.handle();
    source::range(0, 500).publish_on(pool(), 32).subscribe(s);
    h.wait().unwrap();
    let seen = threads.lock().unwrap();
    assert!(seen.iter().map(|(x, _)| *x).eq(0..500));
    assert!(seen
        .iter()
        .all(|(_, name)| name.as_deref() == Some("consumer-0")));
}

#[test]
fn upstream_is_asked_for_the_prefetch_then_replenished_at_75_percent() {
    let up = Upstream::emitting(1_000);
    let probe = TestSubscriber::new(0);
    up.clone().publish_on(pool(), 16).subscribe(probe.clone());
    assert!(probe.await_subscribed(WAIT));
    // Nothing requested downstream: the queue fills to the prefetch and stops.
    probe.assert_no_more_within(QUIET);
    assert_eq!(up.stats().requests, vec![16]);
    assert_eq!(up.emitted(), 16);
    // Consuming 12 (16 - 16/4) replenishes 12.
    probe.request(12);
    assert!(probe.await_count(12, WAIT));
    probe.assert_no_more_within(QUIET);
    assert_eq!(up.stats().requests, vec![16, 12]);
    // Queued + outstanding never exceeds the prefetch: 16 + 12 requested, 12 consumed.
    assert_eq!(up.requested() - probe.count() as u64, 16);
    probe.cancel();
}

#[test]
fn memory_stays_bounded_by_the_prefetch_with_a_slow_consumer() {
    // An endless fast producer, a consumer that takes 1 at a time: the producer is never more
    // than the prefetch ahead of the consumer.
    let up = Upstream::never_completing(u64::MAX);
    let probe = TestSubscriber::new(1).request_on_next(1);
    up.clone().publish_on(pool(), 8).subscribe(probe.clone());
    assert!(probe.await_count(2_000, WAIT));
    probe.cancel();
    let ahead = up.emitted() - probe.count() as u64;
    assert!(
        ahead <= 8,
        "the producer ran {ahead} elements ahead (prefetch 8)"
    );
}

#[test]
fn an_error_comes_after_the_queued_elements_by_default() {
    let up = Upstream::failing_after(5, Error::msg("broke"));
    let probe = TestSubscriber::new(0);
    up.publish_on(pool(), 8).subscribe(probe.clone());
    assert!(probe.await_subscribed(WAIT));
    probe.assert_no_more_within(QUIET);
    assert!(
        !probe.is_terminated(),
        "the error waits behind 5 queued elements"
    );
    probe.request(5);
    assert!(probe.await_terminal(WAIT));
    probe.assert_values(&[0, 1, 2, 3, 4]);
    assert_eq!(probe.error().unwrap().to_string(), "broke");
    probe.assert_no_violations();
}

#[test]
fn an_immediate_error_discards_the_queue() {
    let up = Upstream::failing_after(5, Error::msg("broke"));
    let probe = TestSubscriber::new(0);
    up.publish_on_with(pool(), 8, ErrorMode::Immediate)
        .subscribe(probe.clone());
    assert!(probe.await_terminal(WAIT));
    assert_eq!(probe.count(), 0);
    assert_eq!(probe.error().unwrap().to_string(), "broke");
}

#[test]
fn cancel_reaches_upstream_and_releases_the_subscriber_on_the_worker() {
    let up = Upstream::never_completing(u64::MAX);
    let probe = TestSubscriber::new(5);
    let (subscriber, weak) = track(probe.clone());
    up.clone().publish_on(pool(), 4).subscribe(subscriber);
    assert!(probe.await_count(5, WAIT));
    probe.cancel();
    assert!(up.is_cancelled());
    assert!(released(&weak), "§3.13: subscriber kept after cancel");
    probe.assert_no_more_within(QUIET);
    assert_eq!(probe.count(), 5);
}

#[test]
fn a_downstream_that_drops_its_subscription_still_gets_everything() {
    // for_each keeps no handle past the end; the boundary must keep itself alive while a
    // drain is scheduled.
    for _ in 0..50 {
        let all = sink::collect(&source::range(0, 100).publish_on(pool(), 4)).unwrap();
        assert!(all.into_iter().eq(0..100));
    }
}

#[test]
fn on_virtual_time_delivery_happens_when_the_clock_runs_tasks() {
    // VirtualTime runs zero-delay tasks at once, on the scheduling thread.
    let vt = VirtualTime::new();
    let probe = TestSubscriber::new(u64::MAX);
    source::range(0, 10)
        .publish_on(vt, 2)
        .subscribe(probe.clone());
    assert!(probe.await_terminal(Duration::from_millis(100)));
    assert_eq!(probe.count(), 10);
}

#[test]
#[should_panic(expected = "prefetch must be at least 1")]
fn a_prefetch_of_zero_is_rejected_when_built() {
    let _ = source::range(0, 1).publish_on(pool(), 0);
}

/// Requests everything and panics at the first element; `alive` is released when it is dropped.
struct PanicsOnNext {
    _alive: std::sync::Arc<()>,
}

impl rstreams_core::Subscriber<u64> for PanicsOnNext {
    fn on_subscribe(&mut self, s: std::sync::Arc<dyn rstreams_core::Subscription>) {
        s.request(u64::MAX);
    }
    fn on_next(&mut self, _: u64) {
        panic!("downstream bug");
    }
    fn on_error(&mut self, _: rstreams_core::Error) {}
    fn on_complete(&mut self) {}
}

#[test]
fn rule_2_13_a_panicking_downstream_cancels_the_upstream_and_is_released() {
    let upstream = rstreams_tck::Upstream::never_completing(1_000);
    let alive = std::sync::Arc::new(());
    let weak = std::sync::Arc::downgrade(&alive);
    upstream
        .clone()
        .publish_on(ThreadPool::new(1), 4)
        .subscribe(PanicsOnNext { _alive: alive });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !(upstream.is_cancelled() && weak.upgrade().is_none()) {
        assert!(
            std::time::Instant::now() < deadline,
            "upstream cancelled: {}, subscriber released: {}",
            upstream.is_cancelled(),
            weak.upgrade().is_none()
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    // Nothing more is requested after the panic: at most the first prefetch.
    assert_eq!(upstream.requested(), 4);
}

/// Elements from a producer thread that sometimes pauses (so the drain side spins, parks and
/// is woken, at every prefetch), to a consumer that sometimes pauses too (so the queue also
/// fills): every element arrives, once, in order.
#[test]
fn a_producer_and_a_consumer_on_two_threads_lose_nothing_whoever_waits() {
    const N: u64 = 200_000;
    let producer = ThreadPool::with_name(1, "producer");
    let consumer = ThreadPool::with_name(1, "consumer");
    for prefetch in [1, 2, 16, 256] {
        let seen = Arc::new(Mutex::new((0u64, 0u64, true)));
        let s = {
            let seen = Arc::clone(&seen);
            sink::for_each(move |x: u64| {
                let mut seen = seen.lock().unwrap();
                seen.2 &= x == seen.0;
                seen.0 += 1;
                seen.1 = seen.1.wrapping_add(x);
                if x.is_multiple_of(9_973) {
                    std::thread::sleep(Duration::from_micros(50));
                }
            })
        };
        let done = s.handle();
        source::range(0, N)
            .inspect(|x| {
                if x.is_multiple_of(7_919) {
                    std::thread::sleep(Duration::from_micros(50));
                }
            })
            .subscribe_on(producer.clone())
            .publish_on(consumer.clone(), prefetch)
            .subscribe(s);
        done.wait().unwrap();
        let (count, sum, in_order) = *seen.lock().unwrap();
        assert_eq!(count, N, "prefetch {prefetch}: every element, once");
        assert_eq!(
            sum,
            N * (N - 1) / 2,
            "prefetch {prefetch}: the same elements"
        );
        assert!(in_order, "prefetch {prefetch}: in order");
    }
}
