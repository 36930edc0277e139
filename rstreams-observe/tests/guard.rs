//! The protocol guard: names the stage that breaks the protocol, and leaves a correct one
//! alone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rstreams_core::{sink, source, Error, ErrorKind, Publisher, Subscriber, Subscription};
use rstreams_observe::ObserveExt;
use rstreams_ops::PublisherExt;
use rstreams_tck::{TestPublisher, TestSubscriber, Upstream};

/// A deliberately broken operator: emits every element twice, on the demand for one (§1.1).
struct Duplicate<P>(P);

impl<P> Publisher for Duplicate<P>
where
    P: Publisher,
    P::Item: Clone,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.0.subscribe(Duplicating(subscriber));
    }
}

struct Duplicating<S>(S);

impl<T: Clone, S: Subscriber<T>> Subscriber<T> for Duplicating<S> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        self.0.on_subscribe(subscription); // the upstream's demand, passed through
    }
    fn on_next(&mut self, item: T) {
        self.0.on_next(item.clone());
        self.0.on_next(item);
    }
    fn try_on_next(&mut self, item: T) -> bool {
        let first = self.0.try_on_next(item.clone());
        let second = self.0.try_on_next(item);
        first || second
    }
    fn on_error(&mut self, error: Error) {
        self.0.on_error(error);
    }
    fn on_complete(&mut self) {
        self.0.on_complete();
    }
}

/// A subscription that records whether it was cancelled.
#[derive(Clone, Default)]
struct Recorded(Arc<AtomicBool>);

impl Subscription for Recorded {
    fn request(&self, _: u64) {}
    fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Recorded {
    fn cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A publisher that signals a fixed, possibly broken, script.
#[derive(Clone, Copy)]
enum Script {
    NextBeforeSubscribe,
    CompleteBeforeSubscribe,
    NextAfterComplete,
    CompleteTwice,
}

struct Scripted(Script, Recorded);

impl Publisher for Scripted {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut s: S) {
        let sub = Arc::new(self.1.clone());
        match self.0 {
            Script::NextBeforeSubscribe => {
                s.on_next(1);
                s.on_subscribe(sub);
                s.on_next(2);
            }
            Script::CompleteBeforeSubscribe => {
                s.on_complete();
                s.on_subscribe(sub);
            }
            Script::NextAfterComplete => {
                s.on_subscribe(sub);
                s.on_complete();
                s.on_next(7);
            }
            Script::CompleteTwice => {
                s.on_subscribe(sub);
                s.on_complete();
                s.on_complete();
            }
        }
    }
}

#[test]
fn the_operator_really_over_emits_without_a_guard() {
    let probe = TestSubscriber::new(3);
    Duplicate(source::range(0, 10)).subscribe(probe.clone());
    let violations = probe.violations();
    assert!(
        violations.iter().any(|v| v.starts_with("§1.1")),
        "{violations:?}"
    );
}

#[test]
fn the_guard_names_the_stage_that_emits_beyond_demand_and_cancels_it() {
    let upstream = Upstream::emitting(10);
    let guarded = Duplicate(upstream.clone()).guard("duplicate");
    let violations = guarded.violations();
    let probe = TestSubscriber::new(3);
    guarded.subscribe(probe.clone());

    // Three fit in the demand (0, 0, 1); the fourth is the violation.
    probe.assert_values(&[0, 0, 1]);
    let error = probe.error().expect("the violation became on_error");
    assert_eq!(error.kind(), ErrorKind::Protocol);
    assert_eq!(error.rule(), Some("1.1"));
    assert_eq!(error.stage(), Some("duplicate"));
    assert!(
        error.message().starts_with(
            "stage `duplicate` signalled on_next #4 beyond the demand: 3 requested in total"
        ),
        "{error}"
    );
    assert!(upstream.is_cancelled(), "the offending stage was cancelled");
    probe.assert_no_violations(); // the guard kept the downstream's protocol intact
    assert_eq!(violations.count(), 1);
    assert_eq!(violations.errors()[0].rule(), Some("1.1"));
}

#[test]
fn the_guard_checks_the_plain_on_next_path_too() {
    // TestPublisher signals through on_next (Upstream, above, through try_on_next).
    let publisher = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(3);
    Duplicate(publisher.clone())
        .guard("duplicate")
        .subscribe(probe.clone());
    publisher.emit(0);
    publisher.emit(1);
    probe.assert_values(&[0, 0, 1]);
    assert_eq!(probe.error().and_then(|e| e.rule()), Some("1.1"));
    assert!(publisher.is_cancelled());
    probe.assert_no_violations();
}

#[test]
fn the_guard_passes_a_correct_pipeline_untouched() {
    let guarded = source::range(0, 100).map(|x| x + 1).guard("plus-one");
    let violations = guarded.violations();
    let expected: Vec<u64> = (1..=100).collect();
    assert_eq!(sink::collect(&guarded).unwrap(), expected);

    let probe = TestSubscriber::new(0);
    guarded.subscribe(probe.clone());
    probe.request(3);
    probe.request_in_next_on_next(2);
    probe.request(1);
    probe.assert_values(&[1, 2, 3, 4, 5, 6]);
    probe.request(u64::MAX);
    assert!(probe.is_complete());
    probe.assert_no_violations();
    assert!(violations.is_empty());
}

#[test]
fn the_guard_keeps_the_filter_fast_path() {
    let upstream = Upstream::emitting(100);
    let probe = TestSubscriber::new(10);
    upstream
        .clone()
        .guard("source")
        .filter(|x| x % 2 == 0)
        .subscribe(probe.clone());
    probe.assert_values(&[0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
    assert_eq!(upstream.stats().requests, vec![10]);
}

#[test]
fn demand_requested_from_other_threads_is_counted() {
    let guarded = source::range(0, 10_000).guard("range");
    let probe = TestSubscriber::new(0);
    guarded.subscribe(probe.clone());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let p = probe.clone();
            std::thread::spawn(move || {
                for _ in 0..1_000 {
                    p.request(1);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(probe.count(), 4_000);
    assert!(guarded.violations().is_empty());
    probe.assert_no_violations();
}

#[test]
fn on_next_before_on_subscribe_fails_the_stream_naming_rule_1_9() {
    let late = Recorded::default();
    let guarded = Scripted(Script::NextBeforeSubscribe, late.clone()).guard("early");
    let probe = TestSubscriber::<u64>::new(1);
    guarded.subscribe(probe.clone());

    assert!(
        probe.is_subscribed(),
        "the downstream got on_subscribe first"
    );
    assert!(probe.values().is_empty());
    let error = probe.error().expect("on_error");
    assert_eq!((error.rule(), error.stage()), (Some("1.9"), Some("early")));
    assert_eq!(
        error.message(),
        "stage `early` signalled on_next before on_subscribe"
    );
    assert!(late.cancelled(), "the late subscription was cancelled");
    probe.assert_no_violations();
    assert_eq!(guarded.violations().count(), 1);
}

#[test]
fn completion_before_on_subscribe_fails_the_stream_naming_rule_1_9() {
    let late = Recorded::default();
    let probe = TestSubscriber::<u64>::new(1);
    Scripted(Script::CompleteBeforeSubscribe, late.clone())
        .guard("hasty")
        .subscribe(probe.clone());
    assert!(!probe.is_complete());
    assert_eq!(probe.error().and_then(|e| e.rule()), Some("1.9"));
    assert!(late.cancelled());
    probe.assert_no_violations();
}

#[test]
fn a_signal_after_completion_is_kept_from_the_downstream_and_recorded_as_rule_1_7() {
    let guarded = Scripted(Script::NextAfterComplete, Recorded::default()).guard("zombie");
    let probe = TestSubscriber::<u64>::new(u64::MAX);
    guarded.subscribe(probe.clone());
    assert!(probe.is_complete());
    assert!(probe.values().is_empty());
    probe.assert_no_violations();
    let errors = guarded.violations().errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        (errors[0].rule(), errors[0].stage()),
        (Some("1.7"), Some("zombie"))
    );
    assert_eq!(
        errors[0].message(),
        "stage `zombie` signalled on_next after on_complete"
    );
}

#[test]
fn a_second_completion_is_recorded_as_rule_1_7() {
    let guarded = Scripted(Script::CompleteTwice, Recorded::default()).guard("twice");
    let probe = TestSubscriber::<u64>::new(1);
    guarded.subscribe(probe.clone());
    assert!(probe.is_complete());
    probe.assert_no_violations();
    assert_eq!(
        guarded.violations().errors()[0].message(),
        "stage `twice` signalled on_complete after on_complete"
    );
}

#[test]
fn an_upstream_error_passes_the_guard_unchanged() {
    let probe = TestSubscriber::<u64>::new(0);
    source::fail::<u64>(Error::msg("broken pipe"))
        .guard("source")
        .subscribe(probe.clone());
    assert_eq!(
        probe.error().map(|e| e.to_string()),
        Some("broken pipe".into())
    );
}
