//! Export to the `metrics` facade.

use std::sync::Arc;
use std::time::Duration;

use metrics::{counter, gauge, SharedString};
use rstreams_core::scheduler::{timer, Scheduler};

use crate::periodic::PeriodicTask;
use crate::registry::Registry;

/// The metric names [`Registry::export_metrics`] records, each labelled `stage` (the stage's
/// name). Values are those of [`StageTotals`](crate::StageTotals).
///
/// ```
/// use metrics_util::debugging::DebuggingRecorder;
/// use rstreams::{sink, source};
/// use rstreams::observe::{names, ObserveExt, Registry, Stage};
///
/// let registry = Registry::new();
/// sink::collect(&source::range(0, 2).observe(Stage::new("two").registry(&registry))).unwrap();
/// let recorder = DebuggingRecorder::new();
/// let snapshotter = recorder.snapshotter();
/// metrics::with_local_recorder(&recorder, || registry.export_metrics());
/// let recorded: Vec<String> = snapshotter
///     .snapshot()
///     .into_vec()
///     .into_iter()
///     .map(|(key, ..)| key.key().name().to_string())
///     .collect();
/// for name in [
///     names::ITEMS_TOTAL,
///     names::OUTSTANDING_DEMAND,
///     names::UNBOUNDED_SUBSCRIPTIONS,
///     names::RUNNING_SUBSCRIPTIONS,
///     names::ENDED_TOTAL,
/// ] {
///     assert!(recorded.iter().any(|r| r == name), "{name}");
/// }
/// // Not a segment, no drop count, nothing running: those figures do not exist here.
/// for name in [names::IN_FLIGHT, names::DROPPED_TOTAL, names::SECONDS_SINCE_LAST_SIGNAL] {
///     assert!(!recorded.iter().any(|r| r == name), "{name}");
/// }
/// ```
pub mod names {
    /// Counter: elements passed downstream, over every subscription of the stage
    /// ([`StageTotals::items`](crate::StageTotals::items)).
    pub const ITEMS_TOTAL: &str = "rstreams_stage_items_total";
    /// Gauge: demand requested and not yet delivered, summed over the running subscriptions
    /// with bounded demand ([`StageTotals::outstanding`](crate::StageTotals::outstanding)).
    pub const OUTSTANDING_DEMAND: &str = "rstreams_stage_outstanding_demand";
    /// Gauge: running subscriptions with unbounded demand (not in the outstanding sum).
    pub const UNBOUNDED_SUBSCRIPTIONS: &str = "rstreams_stage_unbounded_subscriptions";
    /// Gauge: running subscriptions.
    pub const RUNNING_SUBSCRIPTIONS: &str = "rstreams_stage_running_subscriptions";
    /// Counter, with a second label `outcome` (`completed`, `failed`, `cancelled`,
    /// `abandoned`): subscriptions that ended so.
    pub const ENDED_TOTAL: &str = "rstreams_stage_ended_total";
    /// Counter: elements dropped by the overload operator attached with
    /// [`Stage::dropped`](crate::Stage::dropped); only for stages with one.
    pub const DROPPED_TOTAL: &str = "rstreams_stage_dropped_total";
    /// Gauge: elements inside a segment, summed over its running subscriptions; only for
    /// segments, and only when derivable ([`StageTotals::in_flight`](crate::StageTotals::in_flight)).
    pub const IN_FLIGHT: &str = "rstreams_stage_in_flight";
    /// Gauge: the shortest time since the last signal among the running subscriptions, in
    /// seconds, a lower bound; only while one runs.
    pub const SECONDS_SINCE_LAST_SIGNAL: &str = "rstreams_stage_seconds_since_last_signal";
}

impl Registry {
    /// Records the current [`totals`](Self::totals) of every stage in the `metrics` recorder
    /// of the calling thread (the global one, or one set with
    /// [`metrics::with_local_recorder`]), under the names in [`names`]: counters as absolute
    /// values, gauges set. Nothing is recorded per element; call this when a scrape comes, or
    /// periodically with [`export_metrics_every`](Self::export_metrics_every).
    ///
    /// A figure that is not derivable (an in-flight count, the time since the last signal
    /// with nothing running) is not recorded: the recorder keeps what it last had.
    ///
    /// ```
    /// use metrics_util::debugging::DebuggingRecorder;
    /// use rstreams::{sink, source};
    /// use rstreams::observe::{ObserveExt, Registry, Stage};
    ///
    /// let registry = Registry::new();
    /// sink::collect(&source::range(0, 7).observe(Stage::new("parse").registry(&registry))).unwrap();
    ///
    /// let recorder = DebuggingRecorder::new();
    /// let snapshotter = recorder.snapshotter();
    /// metrics::with_local_recorder(&recorder, || registry.export_metrics());
    /// let items = snapshotter.snapshot().into_vec().into_iter().find(|(key, ..)| {
    ///     key.key().name() == "rstreams_stage_items_total"
    /// });
    /// assert!(matches!(items, Some((_, _, _, metrics_util::debugging::DebugValue::Counter(7)))));
    /// ```
    pub fn export_metrics(&self) {
        for t in self.totals() {
            let stage = SharedString::from(Arc::clone(&t.name));
            counter!(names::ITEMS_TOTAL, "stage" => stage.clone()).absolute(t.items);
            gauge!(names::OUTSTANDING_DEMAND, "stage" => stage.clone()).set(t.outstanding as f64);
            gauge!(names::UNBOUNDED_SUBSCRIPTIONS, "stage" => stage.clone())
                .set(t.unbounded as f64);
            gauge!(names::RUNNING_SUBSCRIPTIONS, "stage" => stage.clone()).set(t.running as f64);
            for (outcome, n) in [
                ("completed", t.completed),
                ("failed", t.failed),
                ("cancelled", t.cancelled),
                ("abandoned", t.abandoned),
            ] {
                counter!(names::ENDED_TOTAL, "stage" => stage.clone(), "outcome" => outcome)
                    .absolute(n);
            }
            if let Some(dropped) = t.dropped {
                counter!(names::DROPPED_TOTAL, "stage" => stage.clone()).absolute(dropped);
            }
            if let Some(in_flight) = t.in_flight {
                gauge!(names::IN_FLIGHT, "stage" => stage.clone()).set(in_flight as f64);
            }
            if let Some(since) = t.since_last_signal {
                gauge!(names::SECONDS_SINCE_LAST_SIGNAL, "stage" => stage.clone())
                    .set(since.as_secs_f64());
            }
        }
    }

    /// Calls [`export_metrics`](Self::export_metrics) every `period` on the shared
    /// [`timer()`] (so into the global recorder), until the returned task is stopped or
    /// dropped.
    ///
    /// # Panics
    ///
    /// When `period` is zero.
    ///
    /// ```
    /// use rstreams::observe::Registry;
    /// use std::time::Duration;
    ///
    /// let export = Registry::global().export_metrics_every(Duration::from_secs(15));
    /// // ... keep `export` for as long as the application runs.
    /// export.stop();
    /// ```
    pub fn export_metrics_every(&self, period: Duration) -> PeriodicTask {
        self.export_metrics_every_on(timer(), period)
    }

    /// Calls [`export_metrics`](Self::export_metrics) every `period` on `scheduler`, until the
    /// returned task is stopped or dropped.
    ///
    /// # Panics
    ///
    /// When `period` is zero.
    ///
    /// ```
    /// use rstreams::scheduler::VirtualTime;
    /// use rstreams::observe::Registry;
    /// use std::time::Duration;
    ///
    /// let clock = VirtualTime::new();
    /// let export = Registry::new().export_metrics_every_on(clock.clone(), Duration::from_secs(5));
    /// clock.advance_by(Duration::from_secs(5)); // one export, on this thread
    /// # drop(export);
    /// ```
    pub fn export_metrics_every_on(
        &self,
        scheduler: impl Scheduler,
        period: Duration,
    ) -> PeriodicTask {
        let registry = self.clone();
        PeriodicTask::start(Arc::new(scheduler), period, move || {
            registry.export_metrics()
        })
    }
}
