//! An upstream that ignores demand (§1.1 broken upstream of the stage) into every stage that
//! queues: the stage cancels it, fails the stream naming §1.1, and holds no more than its
//! declared bound — it never grows a queue to fit what was not asked for.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rstreams_core::scheduler::{ThreadPool, VirtualTime};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};
use rstreams_ops::PublisherExt;
use rstreams_tck::TestSubscriber;

const WAIT: Duration = Duration::from_secs(10);
const FLOOD: u64 = 100_000;

/// Emits `FLOOD` elements from inside `subscribe`, whatever was requested, unless cancelled;
/// records whether it was cancelled and how many it sent.
#[derive(Clone, Default)]
struct Flood {
    cancelled: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
}

struct FloodSubscription(Arc<AtomicBool>);

impl Subscription for FloodSubscription {
    fn request(&self, _n: u64) {}
    fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Publisher for Flood {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
        subscriber.on_subscribe(Arc::new(FloodSubscription(Arc::clone(&self.cancelled))));
        for i in 0..FLOOD {
            if self.cancelled.load(Ordering::SeqCst) {
                return;
            }
            self.sent.fetch_add(1, Ordering::SeqCst);
            subscriber.on_next(i);
        }
        subscriber.on_complete();
    }
}

/// Subscribes `probe` (requesting `initial`) through `stage(flood)`, which floods it inside
/// `subscribe`; then asks for everything, so that a stage that delivers errors after its
/// queued elements gets to the error. Checks: the flood was cancelled long before its end,
/// the stream failed naming §1.1, and the downstream received at most `initial + bound`
/// elements: what it asked for during the flood plus what the stage may hold, nothing more.
fn check<P>(stage: impl FnOnce(Flood) -> P, initial: u64, bound: u64)
where
    P: Publisher,
    P::Item: Send + 'static,
{
    let flood = Flood::default();
    let probe = TestSubscriber::<P::Item>::new(initial);
    stage(flood.clone()).subscribe(probe.clone());
    assert!(
        flood.cancelled.load(Ordering::SeqCst),
        "the flood was cancelled before anyone asked for more"
    );
    probe.request(u64::MAX);
    assert!(probe.await_terminal(WAIT), "no terminal signal");
    let error: Error = probe.error().expect("the stream fails");
    assert_eq!(error.rule(), Some("1.1"), "{error}");
    assert!(
        flood.cancelled.load(Ordering::SeqCst),
        "the flood was cancelled"
    );
    assert!(
        flood.sent.load(Ordering::SeqCst) < FLOOD,
        "cancelled before its end"
    );
    assert!(
        probe.count() as u64 <= initial + bound,
        "{} delivered, {initial} asked during the flood, bound {bound}",
        probe.count()
    );
}

#[test]
fn rule_1_1_publish_on_fails_an_upstream_that_ignores_demand() {
    check(|f| f.publish_on(ThreadPool::new(1), 16), 0, 16);
}

#[test]
fn rule_1_1_flat_map_fails_an_inner_that_ignores_demand() {
    check(
        |f| rstreams_core::source::just(0u64).flat_map(move |_| f.clone(), 1, 16),
        0,
        16,
    );
}

#[test]
fn rule_1_1_merge_fails_a_source_that_ignores_demand() {
    check(|f| f.merge(rstreams_core::source::never::<u64>()), 0, 32);
}

#[test]
fn rule_1_1_limit_rate_fails_an_upstream_that_ignores_demand() {
    check(|f| f.limit_rate(8, 4), 1, 8);
    check(|f| f.limit_rate(8, 4), 0, 8);
}

#[test]
fn rule_1_1_buffer_timeout_fails_an_upstream_that_ignores_demand() {
    let clock = VirtualTime::new();
    check(
        |f| f.buffer_timeout_on(4, Duration::from_secs(1), clock.clone()),
        1,
        1,
    );
}
