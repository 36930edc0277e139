//! The `metrics` export: what a scripted run records, read back through metrics-util's
//! debugging recorder.

use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use rstreams_core::scheduler::VirtualTime;
use rstreams_core::{source, Publisher};
use rstreams_observe::{names, ObserveExt, Registry, Stage};
use rstreams_ops::{Overflow, PublisherExt};
use rstreams_tck::{TestPublisher, TestSubscriber};

/// A recorded value.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Counter(u64),
    Gauge(f64),
    Histogram,
}

/// The values recorded for `stage`, by metric name (with `outcome` appended for the ended
/// counter), from one snapshot of the recorder.
fn recorded(snapshotter: &Snapshotter, stage: &str) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| {
            key.key()
                .labels()
                .any(|l| l.key() == "stage" && l.value() == stage)
        })
        .map(|(key, _, _, value)| {
            let outcome = key
                .key()
                .labels()
                .find(|l| l.key() == "outcome")
                .map(|l| format!("{{{}}}", l.value()))
                .unwrap_or_default();
            let value = match value {
                DebugValue::Counter(c) => Value::Counter(c),
                DebugValue::Gauge(g) => Value::Gauge(g.into_inner()),
                DebugValue::Histogram(_) => Value::Histogram,
            };
            (format!("{}{outcome}", key.key().name()), value)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn value(values: &[(String, Value)], name: &str) -> Option<Value> {
    values
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

fn gauge(v: f64) -> Option<Value> {
    Some(Value::Gauge(v))
}

fn counter(v: u64) -> Option<Value> {
    Some(Value::Counter(v))
}

#[test]
fn the_export_records_the_figures_of_a_scripted_run() {
    let clock = VirtualTime::new();
    let registry = Registry::with_scheduler(clock.clone());
    let publisher = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(5);
    publisher
        .clone()
        .observe(Stage::new("parse").registry(&registry))
        .subscribe(probe.clone());
    publisher.emit(1);
    publisher.emit(2);
    publisher.emit(3);
    registry.snapshot(); // an observation at 0 s dates the elements
    clock.advance_by(Duration::from_millis(2_500));

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || registry.export_metrics());
    let v = recorded(&snapshotter, "parse");
    assert_eq!(value(&v, names::ITEMS_TOTAL), counter(3));
    assert_eq!(value(&v, names::OUTSTANDING_DEMAND), gauge(2.0));
    assert_eq!(value(&v, names::RUNNING_SUBSCRIPTIONS), gauge(1.0));
    assert_eq!(value(&v, names::UNBOUNDED_SUBSCRIPTIONS), gauge(0.0));
    assert_eq!(value(&v, names::SECONDS_SINCE_LAST_SIGNAL), gauge(2.5));
    assert_eq!(
        value(&v, "rstreams_stage_ended_total{completed}"),
        counter(0)
    );
    // Not a segment, no drop count attached: those are not recorded at all.
    assert_eq!(value(&v, names::IN_FLIGHT), None);
    assert_eq!(value(&v, names::DROPPED_TOTAL), None);

    probe.request(u64::MAX);
    publisher.emit(4);
    metrics::with_local_recorder(&recorder, || registry.export_metrics());
    let v = recorded(&snapshotter, "parse");
    assert_eq!(value(&v, names::ITEMS_TOTAL), counter(4));
    assert_eq!(value(&v, names::OUTSTANDING_DEMAND), gauge(0.0));
    assert_eq!(value(&v, names::UNBOUNDED_SUBSCRIPTIONS), gauge(1.0));

    publisher.complete();
    metrics::with_local_recorder(&recorder, || registry.export_metrics());
    let v = recorded(&snapshotter, "parse");
    assert_eq!(value(&v, names::ITEMS_TOTAL), counter(4));
    assert_eq!(value(&v, names::RUNNING_SUBSCRIPTIONS), gauge(0.0));
    assert_eq!(
        value(&v, "rstreams_stage_ended_total{completed}"),
        counter(1)
    );
    assert_eq!(
        value(&v, "rstreams_stage_ended_total{cancelled}"),
        counter(0)
    );
}

#[test]
fn the_items_counter_keeps_the_counts_of_ended_subscriptions() {
    let registry = Registry::new().keep_ended(0);
    let numbers = source::range(0, 10).observe(Stage::new("numbers").registry(&registry));
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();

    let first = TestSubscriber::new(4);
    numbers.subscribe(first.clone());
    metrics::with_local_recorder(&recorder, || registry.export_metrics());
    assert_eq!(
        value(&recorded(&snapshotter, "numbers"), names::ITEMS_TOTAL),
        counter(4)
    );

    first.cancel();
    drop(first);
    let second = TestSubscriber::new(u64::MAX);
    numbers.subscribe(second);
    metrics::with_local_recorder(&recorder, || registry.export_metrics());
    let v = recorded(&snapshotter, "numbers");
    assert_eq!(value(&v, names::ITEMS_TOTAL), counter(14));
    assert_eq!(
        value(&v, "rstreams_stage_ended_total{cancelled}"),
        counter(1)
    );
    assert_eq!(
        value(&v, "rstreams_stage_ended_total{completed}"),
        counter(1)
    );
}

#[test]
fn drops_and_the_queue_depth_of_a_segment_are_exported() {
    let registry = Registry::new();
    let publisher = TestPublisher::<u64>::new();
    let probe = TestSubscriber::new(1);
    publisher
        .clone()
        .observe_segment(Stage::new("queue").registry(&registry), |entry| {
            entry.on_backpressure_buffer(3, Overflow::EvictOldest)
        })
        .dropped_from(|buffer| buffer.dropped())
        .subscribe(probe.clone());
    for x in 0..10 {
        publisher.emit(x); // one delivered, three queued, six evicted
    }

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || registry.export_metrics());
    let v = recorded(&snapshotter, "queue");
    assert_eq!(value(&v, names::ITEMS_TOTAL), counter(1));
    assert_eq!(value(&v, names::DROPPED_TOTAL), counter(6));
    assert_eq!(value(&v, names::IN_FLIGHT), gauge(3.0));
    probe.assert_values(&[0]);
}

#[test]
fn the_periodic_export_runs_on_the_given_scheduler_until_stopped() {
    let clock = VirtualTime::new();
    let registry = Registry::with_scheduler(clock.clone());
    source::range(0, 100)
        .observe(Stage::new("ticking").registry(&registry))
        .subscribe(TestSubscriber::new(7));
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();

    let export = registry.export_metrics_every_on(clock.clone(), Duration::from_secs(10));
    metrics::with_local_recorder(&recorder, || clock.advance_by(Duration::from_secs(9)));
    assert!(
        recorded(&snapshotter, "ticking").is_empty(),
        "nothing before the first period"
    );
    metrics::with_local_recorder(&recorder, || clock.advance_by(Duration::from_secs(1)));
    assert_eq!(
        value(&recorded(&snapshotter, "ticking"), names::ITEMS_TOTAL),
        counter(7)
    );

    export.stop();
    metrics::with_local_recorder(&recorder, || clock.advance_by(Duration::from_secs(60)));
    // The recorder hands each value out once (a snapshot resets it): nothing new was recorded.
    assert_eq!(
        value(&recorded(&snapshotter, "ticking"), names::ITEMS_TOTAL),
        counter(0)
    );
}
