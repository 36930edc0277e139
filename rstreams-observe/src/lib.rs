//! Stage observability for rstreams: name points of a pipeline and read what passes them,
//! export the figures through the `metrics` facade, detect stalls at run time, and guard a
//! stage you do not trust against protocol violations.
//!
//! Users reach this crate through the facade as `rstreams::observe` (the facade's cargo feature
//! `observe`, on by default; its feature `metrics` adds the export, see "Cargo features"
//! below). The examples here use those paths.
//!
//! Bring [`ObserveExt`] into scope; every [`Publisher`] gains:
//!
//! | method | what it adds |
//! |---|---|
//! | [`.name("parse")`](ObserveExt::name) | a pass-through point that counts, per subscription, in the [global](Registry::global) [`Registry`] |
//! | [`.name_with("shed", dropped)`](ObserveExt::name_with) | the same, reporting the [`Dropped`] count of the overload operator above it |
//! | [`.observe(Stage::new(..)..)`](ObserveExt::observe) | the same, with the registry and drop count chosen explicitly |
//! | [`.observe_segment(stage, \|entry\| ..)`](ObserveExt::observe_segment) | a point around a segment of operators, which also reports how many elements are inside it |
//! | [`.guard("stage")`](ObserveExt::guard) | a protocol checker that turns a violation by the stage above into an error naming the stage and the rule |
//!
//! ```
//! use rstreams::scheduler::VirtualTime;
//! use rstreams::{source, Publisher};
//! use rstreams::ops::PublisherExt;
//! use rstreams::observe::{ObserveExt, Registry, Stage, StageState, StallDetector};
//! use rstreams_tck::TestSubscriber;
//! use std::time::Duration;
//!
//! let clock = VirtualTime::new();
//! let registry = Registry::with_scheduler(clock.clone());
//! let stage = |name| Stage::new(name).registry(&registry);
//!
//! let probe = TestSubscriber::new(5);
//! source::range(0, 100)
//!     .observe(stage("source"))
//!     .filter(|x| x % 2 == 0)
//!     .observe(stage("evens"))
//!     .subscribe(probe.clone());
//!
//! let [source, evens] = &registry.snapshot()[..] else { panic!() };
//! assert_eq!((source.items, source.rejected), (9, 4)); // 0..=8 offered, 4 odd ones refused
//! assert_eq!((evens.items, evens.requested, evens.outstanding), (5, 5, 0));
//! assert_eq!(evens.state, StageState::Running);
//!
//! // Nothing is outstanding, so nothing is stalled however long the consumer waits.
//! clock.advance_by(Duration::from_secs(3600));
//! let detector = StallDetector::new(Duration::from_secs(60)).registry(&registry);
//! assert!(detector.scan().is_empty());
//! ```
//!
//! # What is measured, exactly
//!
//! A named point counts the signals that pass it, for each subscription; the
//! [`StageSnapshot`] of a subscription holds:
//!
//! | figure | meaning |
//! |---|---|
//! | `items` | elements passed downstream (`on_next` and `try_on_next` calls) |
//! | `rejected` | of those, the ones a filter below refused through `try_on_next`: they used no demand |
//! | `requested` | the downstream's `request(n)`, summed with saturation; `u64::MAX` = unbounded (§3.17) |
//! | `outstanding` | `requested − (items − rejected)`: asked for, not yet received; `u64::MAX` while unbounded |
//! | `state` | running, completed (`on_complete` passed), failed (`on_error` passed), cancelled (by the downstream), abandoned (released by the upstream without either) |
//! | `since_last_signal` | a **lower bound** on the time since the last signal: requests, cancel, `on_subscribe` and terminal signals are timestamped as they pass; elements are dated by the first observation (snapshot or stall scan) that sees their count change, so the truth is within one observation interval above it |
//! | `dropped` | the count of an attached [`Dropped`] ([`Stage::dropped`]): what the operator above dropped, over all *its* subscriptions |
//! | `entered`, `in_flight` | for a segment only: elements that entered it, and `entered − items − dropped` while it runs — the elements inside it (its queue, for a segment around one queueing operator), when that is derivable |
//!
//! Nothing is estimated and nothing is reported that was not counted: a figure that cannot
//! be derived is `None`. [`Registry::totals`] aggregates per name ([`StageTotals`]);
//! with the feature `metrics`, `Registry::export_metrics` records the totals in the
//! `metrics` facade (names in `names`).
//!
//! # Cargo features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `metrics` | on (off in the `rstreams` facade, whose feature `metrics` turns it on) | `Registry::export_metrics` / `_every` / `_every_on` and the metric `names`: the `metrics` crate. Named points, snapshots, totals, the stall detector and the guard never need it |
//! | `tower` | off (on in the facade, with its `tower`) | with `metrics`: `export_breaker` and `export_bulkhead`, which record the state and counters of rstreams-ops' `CircuitBreaker` and `Bulkhead` the same way (names in `resilience_names`); those layers count with plain atomics and know nothing of `metrics` |
//!
//! # Cost
//!
//! Naming is opt-in, and costs per element **one relaxed atomic add** on a counter of the
//! subscription (a segment's entry adds one more): no lock, no allocation, no clock read, no
//! dynamic call. The `try_on_next` fast path is forwarded. Per request: one saturating add and
//! one clock read. Per subscription: a few small allocations and one registry lock on each
//! end.
//! Snapshots, totals, exports and stall scans do their work on the reading side.
//!
//! # Lifetime in the registry
//!
//! A subscription is listed from its `on_subscribe` until its upstream releases the named
//! point's subscriber (as a compliant publisher does after a terminal signal or a cancel,
//! §1.6, §3.13). Then its counts go into its name's running sums (so counters in
//! [`StageTotals`] and the exported metrics never go down) and it stays listed among the last
//! [`keep_ended`](Registry::keep_ended) ended subscriptions. Several live subscriptions of one
//! name are listed separately in the snapshot and summed in the totals.
//!
//! # Stalls
//!
//! [`StallDetector`] scans a registry every period on a scheduler and reports each running
//! subscription with `outstanding > 0` and no signal for longer than its threshold, once per
//! stall. See its documentation for how soon.
//!
//! # The guard
//!
//! [`Guard`] (from [`.guard(name)`](ObserveExt::guard)) checks the signals of the stage above
//! it: `on_next` beyond demand (§1.1), signals before `on_subscribe` (§1.9), signals after a
//! terminal signal (§1.7). It is always available, not behind a feature: it is opt-in per
//! stage and costs a local comparison per element.

#![warn(clippy::disallowed_types)] // shared state goes through rstreams_core::sync (clippy.toml)

mod clock;
#[cfg(feature = "metrics")]
mod export;
mod guard;
mod named;
mod periodic;
mod registry;
mod stage;
mod stall;

use std::sync::Arc;

#[cfg(feature = "metrics")]
pub use export::names;
pub use guard::{Guard, Violations};
pub use named::{Named, SegmentEntry};
pub use periodic::PeriodicTask;
pub use registry::{Registry, StageSnapshot, StageTotals};
pub use rstreams_core::support::Dropped;
pub use stage::{Stage, StageState};
pub use stall::{Stall, StallDetector, StallWatch};

// asynchronous calls: the tower layers' counters, exported
#[cfg(all(feature = "tower", feature = "metrics"))]
mod resilience;
#[cfg(all(feature = "tower", feature = "metrics"))]
pub use resilience::{
    export_breaker, export_breaker_every, export_breaker_every_on, export_bulkhead,
    resilience_names,
};

use rstreams_core::Publisher;

/// Observation methods for every [`Publisher`]: named points, segments, the guard.
///
/// ```
/// use rstreams::{sink, source};
/// use rstreams::observe::ObserveExt;
///
/// let out = source::range(0, 3).name("numbers").guard("numbers");
/// assert_eq!(sink::collect(&out).unwrap(), vec![0, 1, 2]);
/// ```
pub trait ObserveExt: Publisher + Sized {
    /// A pass-through point named `name`, reporting to the [global](Registry::global)
    /// registry. See [`Named`].
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::observe::{ObserveExt, Registry};
    ///
    /// sink::collect(&source::range(0, 3).name("doc-name")).unwrap();
    /// let totals = Registry::global().totals();
    /// let mine = totals.iter().find(|t| t.name.as_ref() == "doc-name").unwrap();
    /// assert_eq!(mine.items, 3);
    /// ```
    fn name(self, name: impl Into<Arc<str>>) -> Named<Self> {
        self.observe(Stage::new(name))
    }

    /// A pass-through point named `name` on the global registry that also reports `dropped`,
    /// the drop count of the overload operator just above it.
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams::observe::ObserveExt;
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let shed = source::range(0, 10).on_backpressure_drop();
    /// let dropped = shed.dropped();
    /// let named = shed.name_with("doc-shed", dropped);
    /// let registry = named.registry();
    /// named.subscribe(TestSubscriber::new(0)); // no demand: all ten are dropped
    /// let mine = registry.stage("doc-shed");
    /// assert_eq!(mine.last().unwrap().dropped, Some(10));
    /// ```
    fn name_with(self, name: impl Into<Arc<str>>, dropped: Dropped) -> Named<Self> {
        self.observe(Stage::new(name).dropped(dropped))
    }

    /// A pass-through point set up by `stage` (its name, registry, drop count). See
    /// [`Named`].
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::observe::{ObserveExt, Registry, Stage};
    ///
    /// let registry = Registry::new();
    /// sink::collect(&source::range(0, 3).observe(Stage::new("numbers").registry(&registry))).unwrap();
    /// assert_eq!(registry.stage("numbers")[0].items, 3);
    /// ```
    fn observe(self, stage: Stage) -> Named<Self> {
        Named::new(self, stage.into_point(false))
    }

    /// A named point around a segment: `build` gets this publisher as a [`SegmentEntry`],
    /// puts the segment's operators on it, and the result is observed as `stage`. Besides
    /// the figures of a plain point (counted at the segment's exit), the stage reports
    /// `entered` and `in_flight` (see [`StageSnapshot::in_flight`]): for a segment around one
    /// queueing operator, its queue depth. Attach the operator's drop count with
    /// [`Named::dropped_from`] to have its drops subtracted.
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::{Overflow, PublisherExt};
    /// use rstreams::observe::{ObserveExt, Registry, Stage};
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let registry = Registry::new();
    /// let probe = TestSubscriber::new(2);
    /// source::range(0, 10)
    ///     .observe_segment(Stage::new("queue").registry(&registry), |entry| {
    ///         entry.on_backpressure_buffer(100, Overflow::Fail)
    ///     })
    ///     .subscribe(probe.clone());
    /// let queue = &registry.stage("queue")[0];
    /// assert_eq!((queue.entered, queue.items, queue.in_flight), (Some(10), 2, Some(8)));
    /// ```
    fn observe_segment<Q, F>(self, stage: Stage, build: F) -> Named<Q>
    where
        F: FnOnce(SegmentEntry<Self>) -> Q,
        Q: Publisher,
    {
        let point = stage.into_point(true);
        let inner = build(SegmentEntry::new(self, point.key));
        Named::new(inner, point)
    }

    /// Checks the protocol of the stage above, named `stage` in the errors it raises. See
    /// [`Guard`].
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::observe::ObserveExt;
    ///
    /// let checked = source::range(0, 3).guard("numbers");
    /// assert_eq!(sink::collect(&checked).unwrap(), vec![0, 1, 2]);
    /// ```
    fn guard(self, stage: impl Into<Arc<str>>) -> Guard<Self> {
        Guard::new(self, stage.into())
    }
}

impl<P: Publisher> ObserveExt for P {}
