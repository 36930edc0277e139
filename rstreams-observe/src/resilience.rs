//! Export of the tower layers of rstreams-ops ([`CircuitBreaker`], [`Bulkhead`]) to the
//! `metrics` facade: the layers count with plain atomics, and only this crate knows `metrics`.

use std::sync::Arc;
use std::time::Duration;

use metrics::{counter, gauge, SharedString};
use rstreams_core::scheduler::{timer, Scheduler};
use rstreams_ops::{BreakerState, Bulkhead, CircuitBreaker};

use crate::periodic::PeriodicTask;

/// The metric names [`export_breaker`] and [`export_bulkhead`] record, labelled `breaker` or
/// `bulkhead` (the name given).
pub mod resilience_names {
    /// Gauge: the breaker's state, 0 closed, 1 half-open, 2 open.
    pub const BREAKER_STATE: &str = "rstreams_breaker_state";
    /// Counter, with a second label `outcome` (`success`, `failure`): calls that completed so
    /// ([`BreakerMetrics`](rstreams_ops::BreakerMetrics) `successes`, `failures`).
    pub const BREAKER_CALLS_TOTAL: &str = "rstreams_breaker_calls_total";
    /// Counter: times the breaker opened.
    pub const BREAKER_OPENED_TOTAL: &str = "rstreams_breaker_opened_total";
    /// Counter: times a `poll_ready` waited because of the breaker (demand withheld).
    pub const BREAKER_WAITS_TOTAL: &str = "rstreams_breaker_waits_total";
    /// Counter: calls refused with `CircuitOpen` (made without a fresh readiness).
    pub const BREAKER_REJECTED_TOTAL: &str = "rstreams_breaker_rejected_total";
    /// Gauge: failures ÷ calls in the window; only while the window holds a call.
    pub const BREAKER_FAILURE_RATE: &str = "rstreams_breaker_failure_rate";
    /// Gauge: permits free.
    pub const BULKHEAD_AVAILABLE: &str = "rstreams_bulkhead_available";
    /// Gauge: waiters for a permit.
    pub const BULKHEAD_WAITING: &str = "rstreams_bulkhead_waiting";
    /// Gauge: the limit.
    pub const BULKHEAD_MAX_CONCURRENT: &str = "rstreams_bulkhead_max_concurrent";
}

use resilience_names as names;

/// Records `breaker`'s state and counters ([`CircuitBreaker::metrics`]) in the `metrics`
/// recorder of the calling thread, labelled `breaker = name`: counters as absolute values,
/// gauges set. Call it when a scrape comes, or every period with [`export_breaker_every`].
///
/// ```
/// use metrics_util::debugging::{DebugValue, DebuggingRecorder};
/// use rstreams::scheduler::VirtualTime;
/// use rstreams::observe::{export_breaker, resilience_names};
/// use rstreams::ops::{BreakerConfig, CircuitBreaker};
///
/// let breaker = CircuitBreaker::new_on(
///     BreakerConfig { min_calls: 2, window: 2, ..BreakerConfig::default() },
///     VirtualTime::new(),
/// );
/// breaker.record_failure();
/// breaker.record_failure(); // 100 % of 2 calls: open
/// let recorder = DebuggingRecorder::new();
/// let snapshotter = recorder.snapshotter();
/// metrics::with_local_recorder(&recorder, || export_breaker("payments", &breaker));
/// let state = snapshotter.snapshot().into_vec().into_iter().find(|(key, ..)| {
///     key.key().name() == resilience_names::BREAKER_STATE
/// });
/// assert!(matches!(state, Some((_, _, _, DebugValue::Gauge(v))) if v.into_inner() == 2.0));
/// ```
pub fn export_breaker(name: &str, breaker: &CircuitBreaker) {
    let m = breaker.metrics();
    let label = SharedString::from(name.to_owned());
    let state = match m.state {
        BreakerState::Closed => 0.0,
        BreakerState::HalfOpen => 1.0,
        BreakerState::Open => 2.0,
    };
    gauge!(names::BREAKER_STATE, "breaker" => label.clone()).set(state);
    for (outcome, n) in [("success", m.successes), ("failure", m.failures)] {
        counter!(names::BREAKER_CALLS_TOTAL, "breaker" => label.clone(), "outcome" => outcome)
            .absolute(n);
    }
    counter!(names::BREAKER_OPENED_TOTAL, "breaker" => label.clone()).absolute(m.opened);
    counter!(names::BREAKER_WAITS_TOTAL, "breaker" => label.clone()).absolute(m.waits);
    counter!(names::BREAKER_REJECTED_TOTAL, "breaker" => label.clone()).absolute(m.rejected);
    if let Some(rate) = m.failure_rate() {
        gauge!(names::BREAKER_FAILURE_RATE, "breaker" => label).set(rate);
    }
}

/// Calls [`export_breaker`] every `period` on the shared [`timer()`] thread (so into the
/// global recorder), until the returned task is stopped or dropped.
///
/// # Panics
///
/// When `period` is zero.
pub fn export_breaker_every(
    name: &str,
    breaker: &CircuitBreaker,
    period: Duration,
) -> PeriodicTask {
    export_breaker_every_on(name, breaker, timer(), period)
}

/// [`export_breaker_every`] on `scheduler`.
///
/// # Panics
///
/// When `period` is zero.
pub fn export_breaker_every_on(
    name: &str,
    breaker: &CircuitBreaker,
    scheduler: impl Scheduler,
    period: Duration,
) -> PeriodicTask {
    let (name, breaker) = (name.to_owned(), breaker.clone());
    PeriodicTask::start(Arc::new(scheduler), period, move || {
        export_breaker(&name, &breaker)
    })
}

/// Records `bulkhead`'s permits (free, waiting, limit) as gauges labelled `bulkhead = name`.
///
/// ```
/// use metrics_util::debugging::{DebugValue, DebuggingRecorder};
/// use rstreams::observe::{export_bulkhead, resilience_names};
/// use rstreams::ops::Bulkhead;
///
/// let bulkhead = Bulkhead::new(4);
/// let _held = bulkhead.try_acquire();
/// let recorder = DebuggingRecorder::new();
/// let snapshotter = recorder.snapshotter();
/// metrics::with_local_recorder(&recorder, || export_bulkhead("db", &bulkhead));
/// let free = snapshotter.snapshot().into_vec().into_iter().find(|(key, ..)| {
///     key.key().name() == resilience_names::BULKHEAD_AVAILABLE
/// });
/// assert!(matches!(free, Some((_, _, _, DebugValue::Gauge(v))) if v.into_inner() == 3.0));
/// ```
pub fn export_bulkhead(name: &str, bulkhead: &Bulkhead) {
    let label = SharedString::from(name.to_owned());
    gauge!(names::BULKHEAD_AVAILABLE, "bulkhead" => label.clone()).set(bulkhead.available() as f64);
    gauge!(names::BULKHEAD_WAITING, "bulkhead" => label.clone()).set(bulkhead.waiting() as f64);
    gauge!(names::BULKHEAD_MAX_CONCURRENT, "bulkhead" => label)
        .set(bulkhead.max_concurrent() as f64);
}
