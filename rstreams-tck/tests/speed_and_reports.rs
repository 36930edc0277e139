//! A failing check is reported fast with the default timeouts, and a report can be named, its
//! number of generated schedules set, and its shrinking deepened.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rstreams_core::{source, NoopSubscription, Publisher, Subscriber, Subscription};
use rstreams_tck::PublisherVerification;

/// Emits two elements before anyone asks: over-emission, seen at once.
#[derive(Clone)]
struct Eager;

impl Publisher for Eager {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut s: S) {
        s.on_subscribe(Arc::new(NoopSubscription));
        s.on_next(0);
        s.on_next(1);
    }
}

/// Hands out a subscription that does nothing: every check that waits for an element stalls.
#[derive(Clone)]
struct Silent;

impl Publisher for Silent {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut s: S) {
        s.on_subscribe(Arc::new(NoopSubscription));
    }
}

/// A subscription whose `request` never returns.
struct Stuck;

impl Subscription for Stuck {
    fn request(&self, _: u64) {
        loop {
            std::thread::park();
        }
    }
    fn cancel(&self) {}
}

#[derive(Clone)]
struct Deadlocking;

impl Publisher for Deadlocking {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut s: S) {
        s.on_subscribe(Arc::new(Stuck));
    }
}

/// The default timeouts, whatever the environment says (a signal timeout of 1 s).
fn defaults() -> rstreams_tck::Timeouts {
    rstreams_tck::Timeouts {
        signal: Duration::from_secs(1),
        quiet: Duration::from_millis(10),
        check: Duration::from_secs(10),
    }
}

/// Runs `f` and prints how long it took (`-- --nocapture` shows the figures README.md quotes).
fn timed(what: &str, f: impl FnOnce() -> rstreams_tck::Report) -> (rstreams_tck::Report, Duration) {
    let start = Instant::now();
    let report = f();
    let took = start.elapsed();
    eprintln!("timing: {what}: {took:.2?}");
    (report, took)
}

#[test]
fn a_passing_publisher_verification_of_a_synchronous_source_takes_well_under_a_second() {
    let (report, took) = timed(
        "passing PublisherVerification of source::range (26 checks)",
        || {
            PublisherVerification::new(|n| source::range(0, n))
                .timeouts(defaults())
                .run()
        },
    );
    report.assert_compliant();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let (report, _) = timed(
        "passing OperatorVerification of the identity (9 checks, both paths)",
        || {
            rstreams_tck::OperatorVerification::new(|up: rstreams_tck::Upstream| up)
                .prefetch_bound(0)
                .timeouts(defaults())
                .run()
        },
    );
    report.assert_compliant();
}

#[test]
fn rule_1_1_a_failing_generated_check_is_reported_within_about_a_second() {
    // Seen at once, then shrunk for at most 250 ms (before: up to 5 s of shrinking).
    let (report, took) = timed("failing generated check (over-emission, shrunk)", || {
        PublisherVerification::new(|_| Eager)
            .timeouts(defaults())
            .run_check("rule_3_8_generated_demand_schedules")
    });
    assert!(!report.is_compliant());
    assert!(took < Duration::from_secs(2), "took {took:?}\n{report}");
}

#[test]
fn rule_1_5_a_stall_is_reported_after_one_signal_timeout() {
    let (report, took) = timed("failing check (a stall)", || {
        PublisherVerification::new(|_| Silent)
            .timeouts(defaults())
            .run_check("rule_1_5_completes_after_the_last_element")
    });
    assert_eq!(report.failed_rules(), vec!["1.5".to_string()], "{report}");
    assert!(took < Duration::from_secs(3), "took {took:?}\n{report}");
}

#[test]
fn rule_3_16_a_call_that_never_returns_is_reported_without_waiting_for_the_check_deadline() {
    // The deadline of a check is 10 s; a call that makes no progress for the signal timeout
    // (1 s) is reported as stuck.
    let (report, took) = timed("failing check (a request that never returns)", || {
        PublisherVerification::new(|_| Deadlocking)
            .timeouts(defaults())
            .run_check("rule_1_1_emits_no_more_than_requested")
    });
    assert_eq!(report.failed_rules(), vec!["3.16".to_string()], "{report}");
    assert!(report.to_string().contains("did not return"), "{report}");
    assert!(took < Duration::from_secs(4), "took {took:?}\n{report}");
}

#[test]
fn a_verification_is_named_in_its_report() {
    let report = PublisherVerification::new(|n| source::range(0, n))
        .name("my range")
        .run_check("rule_1_1_emits_no_more_than_requested");
    assert!(
        report
            .to_string()
            .starts_with("rstreams TCK: publisher `my range`: 1 check(s), 1 passed"),
        "{report}"
    );
}

#[test]
fn rule_3_8_the_number_of_generated_schedules_is_a_builder_method() {
    for cases in [3u32, 40] {
        let made = Arc::new(AtomicUsize::new(0));
        let m = Arc::clone(&made);
        PublisherVerification::new(move |n| {
            m.fetch_add(1, Ordering::SeqCst);
            source::range(0, n)
        })
        .cases(cases)
        .run_check("rule_3_8_generated_demand_schedules")
        .assert_compliant();
        // One publisher per generated schedule.
        assert_eq!(made.load(Ordering::SeqCst), cases as usize);
    }
}

#[test]
fn rule_3_8_deeper_shrinking_is_opt_in() {
    let deep = PublisherVerification::new(|_| Eager).shrink_time(Duration::from_secs(2));
    assert!(format!("{deep:?}").contains("shrink_time: 2s"), "{deep:?}");
    let report = deep.run_check("rule_3_8_generated_demand_schedules");
    // Shrunk to the minimum: subscribe, and the first step of the schedule.
    let steps = report
        .to_string()
        .lines()
        .filter(|l| l.trim_start().starts_with(char::is_numeric))
        .count();
    assert!(steps <= 2, "{report}");
}

/// Passes elements through, but emits 3 twice: beyond demand when demand is tight.
struct DuplicatesThree {
    up: rstreams_tck::Upstream,
}

struct DuplicatesThreeSubscriber<S> {
    down: S,
    slot: Arc<rstreams_core::support::UpstreamSlot>,
}

struct Forward(Arc<rstreams_core::support::UpstreamSlot>);

impl Subscription for Forward {
    fn request(&self, n: u64) {
        self.0.request(n)
    }
    fn cancel(&self) {
        self.0.cancel()
    }
}

impl<S: Subscriber<u64>> Subscriber<u64> for DuplicatesThreeSubscriber<S> {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        self.slot.set(s);
        self.down.on_subscribe(Arc::new(Forward(self.slot.clone())));
    }
    fn on_next(&mut self, x: u64) {
        self.down.on_next(x);
        if x == 3 {
            self.down.on_next(x);
        }
    }
    fn on_error(&mut self, e: rstreams_core::Error) {
        self.down.on_error(e)
    }
    fn on_complete(&mut self) {
        self.down.on_complete()
    }
}

impl Publisher for DuplicatesThree {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, s: S) {
        self.up.subscribe(DuplicatesThreeSubscriber {
            down: s,
            slot: Arc::new(rstreams_core::support::UpstreamSlot::new()),
        });
    }
}

#[test]
fn rule_1_1_a_failing_generated_operator_check_is_shrunk_and_reported_within_about_a_second() {
    let (report, took) = timed(
        "failing generated operator check (shrunk within 250 ms)",
        || {
            rstreams_tck::OperatorVerification::new(|up| DuplicatesThree { up })
                .timeouts(defaults())
                .run_check("op_rule_1_1_never_emits_more_than_downstream_demand")
        },
    );
    assert_eq!(report.failed_rules(), vec!["1.1".to_string()], "{report}");
    assert!(
        report.to_string().contains("steps to reproduce"),
        "{report}"
    );
    assert!(took < Duration::from_secs(2), "took {took:?}\n{report}");
}
