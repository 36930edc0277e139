//! The stall detector: names the stage whose demand goes unanswered, once per stall, and
//! stays silent for a healthy pipeline.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rstreams_core::scheduler::VirtualTime;
use rstreams_core::{source, Error, Publisher, Subscriber, Subscription};
use rstreams_observe::{ObserveExt, Registry, Stage, Stall, StallDetector, StallWatch};
use rstreams_ops::PublisherExt;
use rstreams_tck::{TestPublisher, TestSubscriber};

const THRESHOLD: Duration = Duration::from_secs(10);
const PERIOD: Duration = Duration::from_secs(1);

/// A deliberately broken operator: passes elements through, but never forwards a request.
struct SwallowDemand<P>(P);

impl<P: Publisher> Publisher for SwallowDemand<P> {
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.0.subscribe(Swallower(subscriber));
    }
}

struct Swallower<S>(S);

impl<T, S: Subscriber<T>> Subscriber<T> for Swallower<S> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        self.0.on_subscribe(Arc::new(Swallowing(subscription)));
    }
    fn on_next(&mut self, item: T) {
        self.0.on_next(item);
    }
    fn on_error(&mut self, error: Error) {
        self.0.on_error(error);
    }
    fn on_complete(&mut self) {
        self.0.on_complete();
    }
}

struct Swallowing(Arc<dyn Subscription>);

impl Subscription for Swallowing {
    fn request(&self, _n: u64) {}
    fn cancel(&self) {
        self.0.cancel();
    }
}

struct Setup {
    clock: VirtualTime,
    registry: Registry,
    reports: Arc<Mutex<Vec<Stall>>>,
}

impl Setup {
    fn new() -> Self {
        let clock = VirtualTime::new();
        Setup {
            registry: Registry::with_scheduler(clock.clone()),
            clock,
            reports: Arc::default(),
        }
    }

    fn stage(&self, name: &'static str) -> Stage {
        Stage::new(name).registry(&self.registry)
    }

    fn start(&self) -> StallWatch {
        let reports = Arc::clone(&self.reports);
        StallDetector::new(THRESHOLD)
            .period(PERIOD)
            .registry(&self.registry)
            .on_stall(move |stall| reports.lock().push(stall.clone()))
            .start_on(self.clock.clone())
    }

    fn advance(&self, seconds: u64) {
        self.clock.advance_by(Duration::from_secs(seconds));
    }

    /// The names reported so far, in order.
    fn reported(&self) -> Vec<String> {
        self.reports
            .lock()
            .iter()
            .map(|s| s.name.to_string())
            .collect()
    }
}

#[test]
fn the_detector_names_the_stage_below_an_operator_that_swallows_demand() {
    let t = Setup::new();
    let probe = TestSubscriber::new(5);
    SwallowDemand(source::range(0, 100).observe(t.stage("a")))
        .observe(t.stage("b"))
        .subscribe(probe.clone());
    let _watch = t.start();

    t.advance(10);
    assert!(t.reported().is_empty(), "not longer than the threshold yet");
    t.advance(1);
    assert_eq!(t.reported(), vec!["b"]);
    let stall = t.reports.lock()[0].clone();
    assert_eq!((stall.outstanding, stall.requested, stall.items), (5, 5, 0));
    assert_eq!(stall.since_last_signal, Duration::from_secs(11));
    // `a` was never asked for anything: the demand was lost between `a` and `b`.
    let a = &t.registry.stage("a")[0];
    assert_eq!((a.requested, a.outstanding), (0, 0));
    assert!(probe.values().is_empty());
}

#[test]
fn each_stall_is_reported_once_while_the_stage_does_not_move() {
    let t = Setup::new();
    SwallowDemand(source::range(0, 100).observe(t.stage("a")))
        .observe(t.stage("b"))
        .subscribe(TestSubscriber::new(5));
    let watch = t.start();
    t.advance(300);
    assert_eq!(t.reported(), vec!["b"]);
    assert_eq!(watch.stalled().len(), 1);
    assert!(
        watch.scan().is_empty(),
        "an explicit scan does not repeat it either"
    );
}

#[test]
fn a_stalled_source_stalls_every_point_below_it_and_is_reported_again_after_it_moves() {
    let t = Setup::new();
    let publisher = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(3);
    publisher
        .clone()
        .observe(t.stage("a"))
        .map(|x| x + 1)
        .observe(t.stage("b"))
        .subscribe(probe.clone());
    let watch = t.start();

    t.advance(11);
    assert_eq!(t.reported(), vec!["a", "b"]);
    assert!(t.reports.lock().iter().all(|s| s.outstanding == 3));

    // The source moves: no longer stalled...
    t.advance(5);
    publisher.emit(7);
    t.advance(1);
    assert!(watch.stalled().is_empty(), "the stalls moved");
    assert_eq!(t.reported().len(), 2);
    // ... until it has been silent for longer than the threshold again, counted from the
    // scan that saw the element (17 s): elements are dated by the scan that sees them.
    t.advance(10);
    assert_eq!(t.reported().len(), 2, "silent for 10 s, not longer");
    t.advance(1);
    assert_eq!(t.reported(), vec!["a", "b", "a", "b"]);
    assert!(t.reports.lock()[2..].iter().all(|s| s.outstanding == 2));
    probe.assert_values(&[8]);
}

#[test]
fn a_healthy_pipeline_reports_no_stall() {
    let t = Setup::new();
    let probe = TestSubscriber::new(0);
    source::range(0, 1_000)
        .observe(t.stage("a"))
        .map(|x| x * 2)
        .observe(t.stage("b"))
        .subscribe(probe.clone());
    let _watch = t.start();

    // A consumer that takes 10 elements a second.
    for _ in 0..60 {
        probe.request(10);
        t.advance(1);
    }
    assert_eq!(probe.count(), 600);
    // A consumer that stops asking is idle, not stalled: nothing is outstanding.
    t.advance(3_600);
    probe.request(1_000);
    assert!(probe.is_complete());
    t.advance(3_600);
    assert!(t.reported().is_empty(), "{:?}", t.reports.lock());
}

#[test]
fn a_slow_source_that_keeps_moving_is_not_stalled() {
    let t = Setup::new();
    let publisher = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(1_000);
    publisher
        .clone()
        .observe(t.stage("slow"))
        .subscribe(probe.clone());
    let _watch = t.start();
    // Outstanding demand all along, and an element every 8 s (under the 10 s threshold).
    for x in 0..50 {
        t.advance(8);
        publisher.emit(x);
    }
    assert_eq!(probe.count(), 50);
    assert!(t.reported().is_empty(), "{:?}", t.reports.lock());
}

#[test]
fn unbounded_demand_that_goes_unanswered_is_a_stall() {
    let t = Setup::new();
    source::never::<u64>()
        .observe(t.stage("never"))
        .subscribe(TestSubscriber::new(u64::MAX));
    let _watch = t.start();
    t.advance(11);
    let stall = t.reports.lock()[0].clone();
    assert_eq!(stall.outstanding, u64::MAX);
    assert!(
        stall
            .to_string()
            .contains("unbounded outstanding of unbounded requested"),
        "{stall}"
    );
}

#[test]
fn the_detector_stops_when_its_watch_is_dropped() {
    let t = Setup::new();
    source::never::<u64>()
        .observe(t.stage("never"))
        .subscribe(TestSubscriber::new(1));
    let watch = t.start();
    t.advance(5);
    drop(watch);
    t.advance(60);
    assert!(t.reported().is_empty());
}

#[test]
fn a_panicking_callback_does_not_stop_the_scans() {
    let t = Setup::new();
    let calls = Arc::new(Mutex::new(0u32));
    let counted = Arc::clone(&calls);
    let _watch = StallDetector::new(THRESHOLD)
        .period(PERIOD)
        .registry(&t.registry)
        .on_stall(move |_| {
            *counted.lock() += 1;
            panic!("the callback panics");
        })
        .start_on(t.clock.clone());
    source::never::<u64>()
        .observe(t.stage("first"))
        .subscribe(TestSubscriber::new(1));
    t.advance(11);
    source::never::<u64>()
        .observe(t.stage("second"))
        .subscribe(TestSubscriber::new(1));
    t.advance(11);
    assert_eq!(*calls.lock(), 2);
}

#[test]
fn a_stage_that_ended_is_not_stalled() {
    let t = Setup::new();
    let publisher = TestPublisher::<u64>::new();
    publisher
        .clone()
        .observe(t.stage("ended"))
        .subscribe(TestSubscriber::new(10));
    let _watch = t.start();
    t.advance(3);
    publisher.complete();
    t.advance(60);
    assert!(t.reported().is_empty());
}

fn thread_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_owned()
}

#[test]
fn the_default_detector_reports_a_stall_while_another_pipelines_subscriber_blocks() {
    // A pipeline on the default timer whose subscriber blocks on its timed batch, until
    // released at the end of the test.
    let (blocked_tx, blocked_rx) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let input = TestPublisher::<u32>::new();
    input
        .clone()
        .buffer_timeout(10, Duration::from_millis(5))
        .subscribe(rstreams_core::sink::for_each(move |_batch: Vec<u32>| {
            let _ = blocked_tx.send(thread_name());
            let _ = released.recv_timeout(Duration::from_secs(60));
        }));
    input.emit(1);
    let blocked = blocked_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the blocking subscriber got its batch");

    let registry = Registry::new();
    source::never::<u64>()
        .observe(Stage::new("starved").registry(&registry))
        .subscribe(TestSubscriber::new(3));
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let watch = StallDetector::new(Duration::from_millis(50))
        .registry(&registry)
        .on_stall(move |stall| {
            let _ = tx.lock().send((stall.name.to_string(), thread_name()));
        })
        .start();
    let (name, scanned_on) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the scans waited for another pipeline's blocked subscriber");
    assert_eq!(name, "starved");
    assert_eq!(scanned_on, "rstreams-stall-watch-0");
    assert_ne!(scanned_on, blocked);
    drop(watch);
    release.send(()).unwrap();
}

#[test]
fn the_default_detector_scans_on_its_own_thread_with_the_monotonic_clock() {
    let registry = Registry::new();
    source::never::<u64>()
        .observe(Stage::new("wall-clock").registry(&registry))
        .subscribe(TestSubscriber::new(2));
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let _watch = StallDetector::new(Duration::from_millis(20))
        .registry(&registry)
        .on_stall(move |stall| {
            let _ = tx.lock().send(stall.clone());
        })
        .start();
    let stall = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("a stall is reported");
    assert_eq!(stall.name.as_ref(), "wall-clock");
    assert_eq!(stall.outstanding, 2);
    assert!(stall.since_last_signal > Duration::from_millis(20));
}

#[test]
fn a_threshold_or_period_of_duration_max_means_never() {
    let registry = Registry::new();
    source::never::<u64>()
        .observe(Stage::new("quiet").registry(&registry))
        .subscribe(TestSubscriber::new(1));
    let watch = StallDetector::new(Duration::MAX)
        .registry(&registry)
        .start();
    assert!(watch.scan().is_empty());
    drop(watch);
    let watch = StallDetector::new(Duration::from_secs(1))
        .period(Duration::MAX)
        .registry(&registry)
        .start();
    drop(watch);
    let clock = VirtualTime::new();
    let watch = StallDetector::new(Duration::MAX)
        .registry(&Registry::with_scheduler(clock.clone()))
        .start_on(clock.clone());
    clock.advance_by(Duration::from_secs(50 * 365 * 24 * 3600));
    assert!(watch.stalled().is_empty());
}

#[test]
#[should_panic(expected = "threshold must be greater than zero")]
fn a_zero_threshold_is_rejected() {
    let _ = StallDetector::new(Duration::ZERO);
}
