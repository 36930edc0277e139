//! What a named point is ([`Stage`]) and what one subscription through it counts.

use std::fmt;
use std::sync::{Arc, OnceLock};

use rstreams_core::support::{Counter, Demand, Dropped, UNBOUNDED};
use rstreams_core::sync::{AtomicBool, AtomicU64, AtomicU8, Mutex, Ordering};

use crate::clock::Nanos;
use crate::registry::{Registry, RegistryInner};

/// How a named point is set up: its name, the [`Registry`] it reports to, and optionally the
/// [`Dropped`] count of the overload operator it sits below.
///
/// [`ObserveExt::name`](crate::ObserveExt::name) and
/// [`name_with`](crate::ObserveExt::name_with) build one on the [global](Registry::global)
/// registry; [`observe`](crate::ObserveExt::observe) and
/// [`observe_segment`](crate::ObserveExt::observe_segment) take one you built.
///
/// ```
/// use rstreams::{sink, source};
/// use rstreams::observe::{ObserveExt, Registry, Stage};
///
/// let registry = Registry::new();
/// let out = source::range(0, 3).observe(Stage::new("numbers").registry(&registry));
/// assert_eq!(sink::collect(&out).unwrap(), vec![0, 1, 2]);
/// assert_eq!(registry.totals()[0].items, 3);
/// ```
#[derive(Clone)]
pub struct Stage {
    pub(crate) name: Arc<str>,
    pub(crate) registry: Registry,
    pub(crate) dropped: Option<Dropped>,
}

impl Stage {
    /// A stage called `name`, reporting to the [global](Registry::global) registry.
    ///
    /// ```
    /// use rstreams::observe::Stage;
    /// assert_eq!(Stage::new("parse").name(), "parse");
    /// ```
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Stage {
            name: name.into(),
            registry: Registry::global().clone(),
            dropped: None,
        }
    }

    /// Reports to `registry` instead of the global one.
    ///
    /// ```
    /// use rstreams::observe::{Registry, Stage};
    /// let registry = Registry::new();
    /// let stage = Stage::new("parse").registry(&registry);
    /// # let _ = stage;
    /// ```
    pub fn registry(mut self, registry: &Registry) -> Self {
        self.registry = registry.clone();
        self
    }

    /// Attaches the drop count of the overload operator just above this point
    /// (`on_backpressure_drop().dropped()`, say), reported as the stage's `dropped` figure.
    ///
    /// A [`Dropped`] counts over every subscription of its operator, so attach it to one named
    /// point only; the point then reports it once however often it is subscribed.
    ///
    /// ```
    /// use rstreams::source;
    /// use rstreams::ops::PublisherExt;
    /// use rstreams::observe::Stage;
    ///
    /// let shed = source::range(0, 10).on_backpressure_drop();
    /// let stage = Stage::new("shed").dropped(shed.dropped());
    /// # let _ = stage;
    /// ```
    pub fn dropped(mut self, dropped: Dropped) -> Self {
        self.dropped = Some(dropped);
        self
    }

    /// The stage's name.
    ///
    /// ```
    /// use rstreams::observe::Stage;
    /// assert_eq!(Stage::new("sink").name(), "sink");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn into_point(self, segment: bool) -> Arc<Point> {
        // A process-wide key counter, not stream state; loom's atomics cannot be statics.
        #[allow(clippy::disallowed_types)]
        static KEYS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Arc::new(Point {
            key: KEYS.fetch_add(1, Ordering::Relaxed),
            name: self.name,
            registry: Arc::clone(&self.registry.inner),
            dropped: self.dropped.map(OnceLock::from).unwrap_or_default(),
            segment,
            listed: AtomicBool::new(false),
        })
    }
}

impl fmt::Debug for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stage")
            .field("name", &self.name)
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

/// The state of one subscription through a named point.
///
/// ```
/// use rstreams::{sink, source, Publisher};
/// use rstreams::observe::{ObserveExt, Registry, Stage, StageState};
/// use rstreams_tck::TestSubscriber;
///
/// let registry = Registry::new();
/// let numbers = source::range(0, 3).observe(Stage::new("numbers").registry(&registry));
/// numbers.subscribe(TestSubscriber::new(1)); // still wants more: running
/// sink::collect(&numbers).unwrap(); // completed
/// let states: Vec<StageState> = registry.snapshot().iter().map(|s| s.state).collect();
/// assert_eq!(states, vec![StageState::Running, StageState::Completed]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum StageState {
    /// Subscribed, no terminal signal passed and no cancel seen.
    Running,
    /// `on_complete` passed through.
    Completed,
    /// `on_error` passed through.
    Failed,
    /// The downstream cancelled.
    Cancelled,
    /// The upstream released the stage without a terminal signal and without a cancel from
    /// the downstream (a publisher does this when a subscriber below panicked, §2.13).
    Abandoned,
}

impl StageState {
    const RUNNING: u8 = 0;

    fn from_u8(v: u8) -> Self {
        match v {
            0 => StageState::Running,
            1 => StageState::Completed,
            2 => StageState::Failed,
            3 => StageState::Cancelled,
            _ => StageState::Abandoned,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            StageState::Running => 0,
            StageState::Completed => 1,
            StageState::Failed => 2,
            StageState::Cancelled => 3,
            StageState::Abandoned => 4,
        }
    }

    /// The lower-case name used in reports and metric labels (`"running"`, `"completed"`, …).
    ///
    /// ```
    /// use rstreams::observe::StageState;
    /// assert_eq!(StageState::Cancelled.as_str(), "cancelled");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            StageState::Running => "running",
            StageState::Completed => "completed",
            StageState::Failed => "failed",
            StageState::Cancelled => "cancelled",
            StageState::Abandoned => "abandoned",
        }
    }
}

impl fmt::Display for StageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A named point: one `.name(..)` / `.observe(..)` call, shared by the clones of its
/// publisher and by every subscription through it.
pub(crate) struct Point {
    /// Unique in the process: pairs a segment's entry with its exit, and tells points apart.
    pub(crate) key: u64,
    pub(crate) name: Arc<str>,
    pub(crate) registry: Arc<RegistryInner>,
    /// The attached drop count: set when the point is made ([`Stage::dropped`]) or once
    /// after ([`Named::dropped_from`](crate::Named::dropped_from)).
    pub(crate) dropped: OnceLock<Dropped>,
    /// Whether this point is the exit of a segment (`observe_segment`).
    pub(crate) segment: bool,
    /// Whether the registry lists this point's drop count (from its first subscription on).
    pub(crate) listed: AtomicBool,
}

impl Drop for Point {
    fn drop(&mut self) {
        if self.listed.load(Ordering::Acquire) {
            self.registry
                .retire_point(self.key, &self.name, self.dropped.get());
        }
    }
}

/// What one subscription through a named point counts. Written by the stage (one relaxed add
/// per element), read by anyone.
pub(crate) struct StageCell {
    pub(crate) point: Arc<Point>,
    /// The registry's id for this subscription, set when it registers (`on_subscribe`).
    pub(crate) id: OnceLock<u64>,
    /// Elements passed downstream that used a unit of demand (`on_next`, or `try_on_next`
    /// answered `true`).
    pub(crate) delivered: Counter,
    /// Elements passed downstream through `try_on_next` and refused (a filter below dropped
    /// them): they used no demand.
    pub(crate) rejected: Counter,
    /// For a segment: elements that entered it (counted by its entry).
    pub(crate) entered: Counter,
    /// Whether the segment's entry was subscribed within this subscription.
    pub(crate) paired: AtomicBool,
    /// The downstream's requests, summed with saturation (`UNBOUNDED` = unbounded). Only ever
    /// added to.
    pub(crate) requested: Demand,
    /// When the last control signal (subscribe, request, cancel, terminal) passed.
    pub(crate) last_control: AtomicU64,
    state: AtomicU8,
    /// The attached drop count when this subscription started (`None` when none was
    /// attached then).
    pub(crate) dropped_baseline: Option<u64>,
    /// Observers' memory of the element count: the count last seen and when it was first seen
    /// at that value. Touched by observers only, never on the element path.
    observed: Mutex<Observed>,
}

struct Observed {
    items: u64,
    at: Nanos,
}

/// One reading of a [`StageCell`].
#[derive(Debug, Clone)]
pub(crate) struct Reading {
    pub(crate) state: StageState,
    pub(crate) items: u64,
    pub(crate) rejected: u64,
    pub(crate) requested: u64,
    pub(crate) outstanding: u64,
    pub(crate) last_signal_at: Nanos,
    pub(crate) entered: Option<u64>,
    /// For a running, paired segment: `entered − items − drops since the start`, when that is
    /// not negative.
    pub(crate) in_flight: Option<u64>,
}

impl StageCell {
    pub(crate) fn new(point: Arc<Point>) -> Self {
        let dropped_baseline = point.dropped.get().map(Dropped::count);
        StageCell {
            point,
            id: OnceLock::new(),
            delivered: Counter::new(),
            rejected: Counter::new(),
            entered: Counter::new(),
            paired: AtomicBool::new(false),
            requested: Demand::new(),
            last_control: AtomicU64::new(0),
            state: AtomicU8::new(StageState::RUNNING),
            dropped_baseline,
            observed: Mutex::new(Observed { items: 0, at: 0 }),
        }
    }

    /// The registry's clock.
    #[inline]
    pub(crate) fn now(&self) -> Nanos {
        self.point.registry.clock.now()
    }

    /// Records a control signal at `at`.
    #[inline]
    pub(crate) fn touch(&self, at: Nanos) {
        self.last_control.fetch_max(at, Ordering::Relaxed);
    }

    /// Marks the start of the subscription at `at`: nothing has happened before it.
    pub(crate) fn start(&self, at: Nanos) {
        self.touch(at);
        let mut observed = self.observed.lock();
        observed.at = observed.at.max(at);
    }

    /// Moves a running stage to `state` (the first end wins) and records the signal.
    pub(crate) fn end(&self, state: StageState) {
        let _ = self.state.compare_exchange(
            StageState::RUNNING,
            state.as_u8(),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.touch(self.now());
    }

    pub(crate) fn state(&self) -> StageState {
        StageState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Reads the counts at `now`, as an observer: an element count that changed since the
    /// last observation is dated `now`.
    pub(crate) fn read(&self, now: Nanos) -> Reading {
        let state = self.state();
        let paired = self.paired.load(Ordering::Acquire);
        // `in_flight` is `entered − exits`, exact only if nothing entered while the exits were
        // read: read `entered` before and after them, and derive it only when the two agree
        // (a few tries; under a flood it is `None` rather than an estimate).
        let mut tries = 0;
        let (delivered, rejected, drops, entered, settled) = loop {
            let before = paired.then(|| self.entered.get());
            let delivered = self.delivered.get();
            let rejected = self.rejected.get();
            let drops = match (self.point.dropped.get(), self.dropped_baseline) {
                (Some(dropped), Some(baseline)) => Some(dropped.count().saturating_sub(baseline)),
                // Attached after this subscription started: its drops cannot be told apart.
                (Some(_), None) => None,
                (None, _) => Some(0),
            };
            let after = paired.then(|| self.entered.get());
            tries += 1;
            if before == after || tries == 4 {
                break (delivered, rejected, drops, after, before == after);
            }
        };
        let requested = self.requested.get();
        let items = delivered.wrapping_add(rejected);
        let outstanding = if requested == UNBOUNDED {
            UNBOUNDED
        } else {
            requested.saturating_sub(delivered)
        };
        let items_at = {
            let mut observed = self.observed.lock();
            if observed.items != items {
                observed.items = items;
                observed.at = observed.at.max(now);
            }
            observed.at
        };
        let last_signal_at = self.last_control.load(Ordering::Relaxed).max(items_at);
        let in_flight = match (state, entered, drops, settled) {
            (StageState::Running, Some(entered), Some(drops), true) => entered
                .checked_sub(items)
                .and_then(|inside| inside.checked_sub(drops)),
            _ => None,
        };
        Reading {
            state,
            items,
            rejected,
            requested,
            outstanding,
            last_signal_at,
            entered,
            in_flight,
        }
    }
}

/// A registered subscription: listed in its registry until this is dropped, which the stage's
/// subscriber does when its upstream releases it (after a terminal signal or a cancel, §1.6,
/// §3.13).
pub(crate) struct Registration {
    pub(crate) cell: Arc<StageCell>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if self.cell.state() == StageState::Running {
            let _ = self.cell.state.compare_exchange(
                StageState::RUNNING,
                StageState::Abandoned.as_u8(),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
        self.cell.point.registry.retire(&self.cell);
    }
}
