//! The [`Registry`] of named stages, and what it reports: [`StageSnapshot`] per subscription,
//! [`StageTotals`] per name.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rstreams_core::scheduler::Scheduler;
use rstreams_core::support::Dropped;
use rstreams_core::support::UNBOUNDED;
use rstreams_core::sync::{AtomicUsize, Mutex, Ordering};

use crate::clock::{between, Clock, Nanos};
use crate::stage::{Reading, Registration, StageCell, StageState};

/// How many ended subscriptions a registry keeps listing by default.
const KEEP_ENDED: usize = 16;

/// Where named stages report: every subscription through a named point is listed here from its
/// `on_subscribe` until its upstream releases it, and a bounded number of ended ones after.
///
/// - [`snapshot`](Self::snapshot): one [`StageSnapshot`] per subscription, live ones first in
///   the order they subscribed (for a linear pipeline: upstream first), then the most recently
///   ended ones (at most [`keep_ended`](Self::keep_ended), 16 by default).
/// - [`totals`](Self::totals): one [`StageTotals`] per name, aggregating its subscriptions,
///   ended ones included in the running sums (`items`, the outcome counts), so they only grow.
/// - [`export_metrics`](Self::export_metrics): the totals, to the `metrics` facade.
///
/// The [`global`](Self::global) registry reads the monotonic clock; a registry made with
/// [`with_scheduler`](Self::with_scheduler) reads that scheduler's clock
/// ([`VirtualTime`](rstreams_core::scheduler::VirtualTime) in tests). A `Registry` is a cheap
/// handle: clones share the same tables.
///
/// Memory: the registry holds the counters of live subscriptions, the last ended ones, and one
/// small record of running sums per stage *name* ever seen, so use a bounded set of names (as
/// for metric labels).
///
/// ```
/// use rstreams::{sink, source};
/// use rstreams::observe::{ObserveExt, Registry, Stage, StageState};
///
/// let registry = Registry::new();
/// let out = source::range(0, 5).observe(Stage::new("source").registry(&registry));
/// sink::collect(&out).unwrap();
///
/// let stages = registry.snapshot();
/// assert_eq!(stages.len(), 1); // the ended subscription, still listed
/// assert_eq!(stages[0].name.as_ref(), "source");
/// assert_eq!(stages[0].items, 5);
/// assert_eq!(stages[0].state, StageState::Completed);
/// ```
#[derive(Clone)]
pub struct Registry {
    pub(crate) inner: Arc<RegistryInner>,
}

pub(crate) struct RegistryInner {
    pub(crate) clock: Clock,
    keep_ended: AtomicUsize,
    tables: Mutex<Tables>,
}

#[derive(Default)]
struct Tables {
    next_id: u64,
    /// Registered and not yet released subscriptions, by id (ids grow with registration).
    live: BTreeMap<u64, Arc<StageCell>>,
    /// One record per name ever registered: what its released subscriptions added up to.
    names: BTreeMap<Arc<str>, Retired>,
    /// The drop counts attached to live points.
    drop_sources: Vec<DropSource>,
    /// The most recently released subscriptions, oldest first.
    ended: VecDeque<Ended>,
}

struct DropSource {
    key: u64,
    name: Arc<str>,
    dropped: Dropped,
}

/// The running sums of a name's released subscriptions (and points).
#[derive(Default, Clone)]
struct Retired {
    items: u64,
    completed: u64,
    failed: u64,
    cancelled: u64,
    abandoned: u64,
    dropped: u64,
    has_dropped: bool,
    segment: bool,
}

struct Ended {
    name: Arc<str>,
    id: u64,
    reading: Reading,
    dropped: Option<u64>,
}

/// What one subscription through a named point has seen, as read by
/// [`Registry::snapshot`].
///
/// Every number is counted at the named point itself, for this subscription; none is
/// estimated. Counts are read with relaxed atomics: exact once the stream is quiet, and a
/// recent value while it runs.
///
/// ```
/// use rstreams::{source, Publisher};
/// use rstreams::observe::{ObserveExt, Registry, Stage, StageState};
/// use rstreams_tck::TestSubscriber;
///
/// let registry = Registry::new();
/// let probe = TestSubscriber::new(4);
/// source::range(0, 10)
///     .observe(Stage::new("numbers").registry(&registry))
///     .subscribe(probe.clone());
///
/// let s = &registry.snapshot()[0];
/// assert_eq!((s.items, s.requested, s.outstanding), (4, 4, 0));
/// assert_eq!(s.state, StageState::Running);
/// assert_eq!(s.to_string().lines().count(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StageSnapshot {
    /// The stage's name.
    pub name: Arc<str>,
    /// The subscription's id in its registry (unique in that registry, growing in the order
    /// subscriptions registered).
    pub subscription: u64,
    /// Running, or how it ended.
    pub state: StageState,
    /// Elements passed downstream through this point (`on_next` and `try_on_next` calls),
    /// including those a filter below refused on the `try_on_next` fast path.
    pub items: u64,
    /// Of `items`, those a filter below refused through `try_on_next`: they used no demand.
    pub rejected: u64,
    /// The downstream's `request(n)` calls, summed with saturation; `u64::MAX` means
    /// unbounded (§3.17).
    pub requested: u64,
    /// `requested − (items − rejected)`: demand the downstream has asked for and not received;
    /// `u64::MAX` while the demand is unbounded.
    pub outstanding: u64,
    /// The time since the last signal through this point, on the registry's clock, as a
    /// **lower bound**: the last request, cancel, `on_subscribe` or terminal signal is
    /// timestamped when it passes (one clock read per request, never per element); elements
    /// are not timestamped, so an element count that changed is dated by the first snapshot
    /// (or stall scan) that saw it change. The true time since the last signal is therefore at
    /// least this, and at most this plus the interval between two observations.
    pub since_last_signal: Duration,
    /// The count of the attached [`Dropped`] handle (see
    /// [`Stage::dropped`](crate::Stage::dropped)): elements the operator above dropped, over
    /// all of *its* subscriptions, read when this snapshot was taken (for an ended
    /// subscription: when it ended). `None` when no drop count is attached.
    pub dropped: Option<u64>,
    /// For a segment ([`observe_segment`](crate::ObserveExt::observe_segment)): elements that
    /// entered it in this subscription. `None` for a plain named point, or when the segment's
    /// entry was subscribed outside the exit's `subscribe` call (asynchronously, on another
    /// thread), so the two could not be paired.
    pub entered: Option<u64>,
    /// For a running segment: `entered − items − dropped in this subscription`, the elements
    /// inside the segment now (queued, or in transit between its stages). Meaningful only for
    /// a segment that passes every element on or counts it as dropped (queues, `publish_on`,
    /// `map`, the `on_backpressure_*` operators), not for one that filters, batches or
    /// multiplies elements. `None` when not derivable: not a (paired) segment, not running, a
    /// drop count is attached and the segment has more than one running subscription (the
    /// count cannot be split between them), or the counts are inconsistent with a 1:1
    /// segment (more left than entered).
    pub in_flight: Option<u64>,
}

/// The aggregate of every subscription of one stage name, as read by [`Registry::totals`] and
/// exported by [`Registry::export_metrics`].
///
/// `items` and the outcome counts include released subscriptions, so they never decrease
/// (they are counters); the other figures are over the **running** subscriptions now (they are
/// gauges).
///
/// ```
/// use rstreams::{sink, source};
/// use rstreams::observe::{ObserveExt, Registry, Stage};
///
/// let registry = Registry::new();
/// let numbers = source::range(0, 3).observe(Stage::new("numbers").registry(&registry));
/// sink::collect(&numbers).unwrap();
/// sink::collect(&numbers).unwrap();
/// let t = &registry.totals()[0];
/// assert_eq!((t.items, t.completed, t.running), (6, 2, 0));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StageTotals {
    /// The stage's name.
    pub name: Arc<str>,
    /// Elements passed downstream, over every subscription ever made under this name.
    pub items: u64,
    /// Subscriptions running now.
    pub running: u64,
    /// The sum of `outstanding` over the running subscriptions whose demand is bounded
    /// (saturating).
    pub outstanding: u64,
    /// Running subscriptions whose demand is unbounded (left out of `outstanding`).
    pub unbounded: u64,
    /// Subscriptions that ended with `on_complete`.
    pub completed: u64,
    /// Subscriptions that ended with `on_error`.
    pub failed: u64,
    /// Subscriptions the downstream cancelled.
    pub cancelled: u64,
    /// Subscriptions released without a terminal signal or a cancel.
    pub abandoned: u64,
    /// The sum of the attached drop counts (each attached [`Dropped`] once, those of points
    /// that no longer exist as they were last read); `None` when none was ever attached.
    pub dropped: Option<u64>,
    /// For a segment: the sum of `in_flight` over its running subscriptions (0 when none
    /// runs); `None` for a plain point, or when any running subscription's figure is not
    /// derivable.
    pub in_flight: Option<u64>,
    /// The shortest `since_last_signal` of the running subscriptions (a lower bound, see
    /// [`StageSnapshot::since_last_signal`]); `None` when none runs.
    pub since_last_signal: Option<Duration>,
}

/// One live subscription's reading, for the snapshot, the totals and the stall detector.
pub(crate) struct LiveReading {
    pub(crate) name: Arc<str>,
    pub(crate) id: u64,
    pub(crate) reading: Reading,
    pub(crate) dropped: Option<u64>,
    pub(crate) in_flight: Option<u64>,
}

impl Registry {
    /// A registry on the monotonic clock.
    ///
    /// ```
    /// use rstreams::observe::Registry;
    /// assert!(Registry::new().snapshot().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::with_clock(Clock::wall())
    }

    /// A registry on `scheduler`'s clock: a
    /// [`VirtualTime`](rstreams_core::scheduler::VirtualTime) makes every time it reports
    /// deterministic.
    ///
    /// ```
    /// use rstreams::scheduler::VirtualTime;
    /// use rstreams::source;
    /// use rstreams::observe::{ObserveExt, Registry, Stage};
    /// use rstreams_tck::TestSubscriber;
    /// use rstreams::Publisher;
    /// use std::time::Duration;
    ///
    /// let clock = VirtualTime::new();
    /// let registry = Registry::with_scheduler(clock.clone());
    /// source::never::<u64>()
    ///     .observe(Stage::new("idle").registry(&registry))
    ///     .subscribe(TestSubscriber::new(1));
    /// clock.advance_by(Duration::from_secs(30));
    /// assert_eq!(registry.snapshot()[0].since_last_signal, Duration::from_secs(30));
    /// ```
    pub fn with_scheduler(scheduler: impl Scheduler) -> Self {
        Self::with_clock(Clock::of(Arc::new(scheduler)))
    }

    fn with_clock(clock: Clock) -> Self {
        Registry {
            inner: Arc::new(RegistryInner {
                clock,
                keep_ended: AtomicUsize::new(KEEP_ENDED),
                tables: Mutex::new(Tables::default()),
            }),
        }
    }

    /// The process-wide registry that [`ObserveExt::name`](crate::ObserveExt::name) reports
    /// to, on the monotonic clock.
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::observe::{ObserveExt, Registry};
    ///
    /// sink::collect(&source::range(0, 2).name("doc-global")).unwrap();
    /// assert!(Registry::global().totals().iter().any(|t| t.name.as_ref() == "doc-global"));
    /// ```
    pub fn global() -> &'static Registry {
        static GLOBAL: OnceLock<Registry> = OnceLock::new();
        GLOBAL.get_or_init(Registry::new)
    }

    /// Keeps listing the last `n` ended subscriptions in [`snapshot`](Self::snapshot) (16 by
    /// default; 0 lists only live ones). Applies to every clone of this registry.
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::observe::{ObserveExt, Registry, Stage};
    ///
    /// let registry = Registry::new().keep_ended(0);
    /// sink::collect(&source::range(0, 2).observe(Stage::new("s").registry(&registry))).unwrap();
    /// assert!(registry.snapshot().is_empty());
    /// assert_eq!(registry.totals()[0].completed, 1);
    /// ```
    pub fn keep_ended(self, n: usize) -> Self {
        self.inner.keep_ended.store(n, Ordering::Relaxed);
        self.inner.trim_ended();
        self
    }

    /// One [`StageSnapshot`] per subscription: the live ones in the order they registered,
    /// then the most recently ended ones, oldest first.
    ///
    /// Taking a snapshot is an observation: it dates element counts that changed since the
    /// last one (see [`StageSnapshot::since_last_signal`]).
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::observe::{ObserveExt, Registry, Stage};
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let registry = Registry::new();
    /// let numbers = source::range(0, 10).observe(Stage::new("numbers").registry(&registry));
    /// numbers.subscribe(TestSubscriber::new(2));
    /// numbers.subscribe(TestSubscriber::new(3));
    /// let items: Vec<u64> = registry.snapshot().iter().map(|s| s.items).collect();
    /// assert_eq!(items, vec![2, 3]);
    /// ```
    pub fn snapshot(&self) -> Vec<StageSnapshot> {
        let (now, live, ended, _) = self.inner.read_all();
        let mut out: Vec<StageSnapshot> = live
            .into_iter()
            .map(|r| StageSnapshot {
                since_last_signal: between(r.reading.last_signal_at, now),
                name: r.name,
                subscription: r.id,
                state: r.reading.state,
                items: r.reading.items,
                rejected: r.reading.rejected,
                requested: r.reading.requested,
                outstanding: r.reading.outstanding,
                dropped: r.dropped,
                entered: r.reading.entered,
                in_flight: r.in_flight,
            })
            .collect();
        out.extend(ended.into_iter().map(|e| StageSnapshot {
            since_last_signal: between(e.reading.last_signal_at, now),
            name: e.name,
            subscription: e.id,
            state: e.reading.state,
            items: e.reading.items,
            rejected: e.reading.rejected,
            requested: e.reading.requested,
            outstanding: e.reading.outstanding,
            dropped: e.dropped,
            entered: e.reading.entered,
            in_flight: None,
        }));
        out
    }

    /// The snapshots of the subscriptions named `name`.
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::observe::{ObserveExt, Registry, Stage};
    ///
    /// let registry = Registry::new();
    /// let out = source::range(0, 4)
    ///     .observe(Stage::new("in").registry(&registry))
    ///     .observe(Stage::new("out").registry(&registry));
    /// sink::collect(&out).unwrap();
    /// assert_eq!(registry.stage("out")[0].items, 4);
    /// ```
    pub fn stage(&self, name: &str) -> Vec<StageSnapshot> {
        let mut all = self.snapshot();
        all.retain(|s| s.name.as_ref() == name);
        all
    }

    /// One [`StageTotals`] per stage name ever registered, in name order.
    ///
    /// ```
    /// use rstreams::{source, Publisher};
    /// use rstreams::observe::{ObserveExt, Registry, Stage};
    /// use rstreams_tck::TestSubscriber;
    ///
    /// let registry = Registry::new();
    /// let numbers = source::range(0, 10).observe(Stage::new("numbers").registry(&registry));
    /// numbers.subscribe(TestSubscriber::new(2));
    /// numbers.subscribe(TestSubscriber::new(u64::MAX));
    /// let t = &registry.totals()[0];
    /// assert_eq!((t.items, t.running, t.completed), (12, 1, 1));
    /// ```
    pub fn totals(&self) -> Vec<StageTotals> {
        let (now, live, _, names) = self.inner.read_all();
        let mut totals: BTreeMap<Arc<str>, StageTotals> = names
            .into_iter()
            .map(|(name, retired, live_dropped)| {
                let dropped = retired
                    .has_dropped
                    .then(|| retired.dropped.saturating_add(live_dropped));
                let totals = StageTotals {
                    name: Arc::clone(&name),
                    items: retired.items,
                    running: 0,
                    outstanding: 0,
                    unbounded: 0,
                    completed: retired.completed,
                    failed: retired.failed,
                    cancelled: retired.cancelled,
                    abandoned: retired.abandoned,
                    dropped,
                    in_flight: retired.segment.then_some(0),
                    since_last_signal: None,
                };
                (name, totals)
            })
            .collect();
        for r in live {
            let Some(t) = totals.get_mut(&r.name) else {
                continue;
            };
            t.items = t.items.saturating_add(r.reading.items);
            match r.reading.state {
                StageState::Running => {
                    t.running += 1;
                    if r.reading.outstanding == UNBOUNDED {
                        t.unbounded += 1;
                    } else {
                        t.outstanding = t.outstanding.saturating_add(r.reading.outstanding);
                    }
                    let since = between(r.reading.last_signal_at, now);
                    t.since_last_signal = Some(t.since_last_signal.map_or(since, |s| s.min(since)));
                    t.in_flight = match (t.in_flight, r.in_flight) {
                        (Some(sum), Some(mine)) => Some(sum.saturating_add(mine)),
                        _ => None,
                    };
                }
                StageState::Completed => t.completed += 1,
                StageState::Failed => t.failed += 1,
                StageState::Cancelled => t.cancelled += 1,
                StageState::Abandoned => t.abandoned += 1,
            }
        }
        totals.into_values().collect()
    }

    /// Live readings for the stall detector, with the time they were taken.
    pub(crate) fn live_readings(&self) -> (Nanos, Vec<LiveReading>) {
        let (now, live, _, _) = self.inner.read_all();
        (now, live)
    }

    pub(crate) fn register(&self, cell: &Arc<StageCell>) -> Registration {
        self.inner.register(cell)
    }
}

impl RegistryInner {
    pub(crate) fn register(&self, cell: &Arc<StageCell>) -> Registration {
        cell.start(self.clock.now());
        let point = &cell.point;
        let mut t = self.tables.lock();
        t.next_id += 1;
        let id = t.next_id;
        // Set before the cell is listed, so that no reading finds it without its id.
        let _ = cell.id.set(id);
        t.live.insert(id, Arc::clone(cell));
        let retired = t.names.entry(Arc::clone(&point.name)).or_default();
        retired.segment |= point.segment;
        if let Some(dropped) = point.dropped.get() {
            retired.has_dropped = true;
            if !point.listed.swap(true, Ordering::AcqRel) {
                t.drop_sources.push(DropSource {
                    key: point.key,
                    name: Arc::clone(&point.name),
                    dropped: dropped.clone(),
                });
            }
        }
        drop(t);
        Registration {
            cell: Arc::clone(cell),
        }
    }

    /// Moves a released subscription from the live table to its name's sums and the ended list.
    pub(crate) fn retire(&self, cell: &Arc<StageCell>) {
        let Some(&id) = cell.id.get() else {
            return;
        };
        let reading = cell.read(self.clock.now());
        let dropped = cell.point.dropped.get().map(Dropped::count);
        let keep = self.keep_ended.load(Ordering::Relaxed);
        let mut t = self.tables.lock();
        let Some(removed) = t.live.remove(&id) else {
            return;
        };
        let retired = t.names.entry(Arc::clone(&cell.point.name)).or_default();
        retired.items = retired.items.saturating_add(reading.items);
        match reading.state {
            StageState::Running | StageState::Abandoned => retired.abandoned += 1,
            StageState::Completed => retired.completed += 1,
            StageState::Failed => retired.failed += 1,
            StageState::Cancelled => retired.cancelled += 1,
        }
        if keep > 0 {
            t.ended.push_back(Ended {
                name: Arc::clone(&cell.point.name),
                id,
                reading,
                dropped,
            });
            while t.ended.len() > keep {
                t.ended.pop_front();
            }
        }
        drop(t);
        // Dropped outside the lock: it may be the last reference to its point, whose drop
        // takes the lock.
        drop(removed);
    }

    /// Folds a dropped point's drop count into its name's sums.
    pub(crate) fn retire_point(&self, key: u64, name: &Arc<str>, dropped: Option<&Dropped>) {
        let count = dropped.map_or(0, Dropped::count);
        let mut t = self.tables.lock();
        let before = t.drop_sources.len();
        t.drop_sources.retain(|s| s.key != key);
        if t.drop_sources.len() != before {
            let retired = t.names.entry(Arc::clone(name)).or_default();
            retired.dropped = retired.dropped.saturating_add(count);
        }
    }

    fn trim_ended(&self) {
        let keep = self.keep_ended.load(Ordering::Relaxed);
        let mut t = self.tables.lock();
        while t.ended.len() > keep {
            t.ended.pop_front();
        }
    }

    /// Reads every live subscription (outside the lock), the ended list, and per name its
    /// sums plus the live drop counts.
    #[allow(clippy::type_complexity)]
    fn read_all(
        &self,
    ) -> (
        Nanos,
        Vec<LiveReading>,
        Vec<Ended>,
        Vec<(Arc<str>, Retired, u64)>,
    ) {
        let (cells, ended, names, sources) = {
            let t = self.tables.lock();
            let cells: Vec<(u64, Arc<StageCell>)> = t
                .live
                .iter()
                .map(|(id, cell)| (*id, Arc::clone(cell)))
                .collect();
            let ended: Vec<Ended> = t
                .ended
                .iter()
                .map(|e| Ended {
                    name: Arc::clone(&e.name),
                    id: e.id,
                    reading: e.reading.clone(),
                    dropped: e.dropped,
                })
                .collect();
            let names: Vec<(Arc<str>, Retired)> = t
                .names
                .iter()
                .map(|(n, r)| (Arc::clone(n), r.clone()))
                .collect();
            let sources: Vec<(Arc<str>, Dropped)> = t
                .drop_sources
                .iter()
                .map(|s| (Arc::clone(&s.name), s.dropped.clone()))
                .collect();
            (cells, ended, names, sources)
        };
        let now = self.clock.now();
        let mut readings: Vec<(u64, Arc<StageCell>, Reading)> = cells
            .into_iter()
            .map(|(id, cell)| {
                let reading = cell.read(now);
                (id, cell, reading)
            })
            .collect();
        // A drop count shared by several running subscriptions of one point cannot be split
        // between them: their in-flight figures are not derivable.
        let mut running_per_point: BTreeMap<u64, u32> = BTreeMap::new();
        for (_, cell, reading) in &readings {
            if reading.state == StageState::Running && cell.point.dropped.get().is_some() {
                *running_per_point.entry(cell.point.key).or_default() += 1;
            }
        }
        let live = readings
            .drain(..)
            .map(|(id, cell, reading)| {
                let shared = running_per_point
                    .get(&cell.point.key)
                    .is_some_and(|&n| n > 1);
                LiveReading {
                    name: Arc::clone(&cell.point.name),
                    id,
                    dropped: cell.point.dropped.get().map(Dropped::count),
                    in_flight: if shared { None } else { reading.in_flight },
                    reading,
                }
            })
            .collect();
        let names = names
            .into_iter()
            .map(|(name, retired)| {
                let live_dropped = sources
                    .iter()
                    .filter(|(n, _)| *n == name)
                    .fold(0u64, |sum, (_, d)| sum.saturating_add(d.count()));
                (name, retired, live_dropped)
            })
            .collect();
        (now, live, ended, names)
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.inner.tables.lock();
        f.debug_struct("Registry")
            .field("clock", &self.inner.clock)
            .field("live", &t.live.len())
            .field("ended", &t.ended.len())
            .field("names", &t.names.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn fmt_demand(n: u64) -> String {
    if n == UNBOUNDED {
        "unbounded".into()
    } else {
        n.to_string()
    }
}

impl fmt::Display for StageSnapshot {
    /// One line: `numbers #1 running: 4 items, 4 requested, 0 outstanding, last signal at
    /// least 0ns ago`, then the optional figures.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} #{} {}: {} items",
            self.name, self.subscription, self.state, self.items
        )?;
        if self.rejected > 0 {
            write!(f, " ({} refused below)", self.rejected)?;
        }
        write!(
            f,
            ", {} requested, {} outstanding, last signal at least {:?} ago",
            fmt_demand(self.requested),
            fmt_demand(self.outstanding),
            self.since_last_signal
        )?;
        if let Some(d) = self.dropped {
            write!(f, ", {d} dropped above")?;
        }
        if let Some(e) = self.entered {
            write!(f, ", {e} entered")?;
        }
        if let Some(i) = self.in_flight {
            write!(f, ", {i} in flight")?;
        }
        Ok(())
    }
}
