//! The [`StallDetector`]: finds stages whose demand goes unanswered.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rstreams_core::scheduler::{Scheduler, ThreadPool};
use rstreams_core::support::{catch_panic, UNBOUNDED};
use rstreams_core::sync::Mutex;

use crate::clock::{between, Nanos};
use crate::periodic::PeriodicTask;
use crate::registry::Registry;
use crate::stage::StageState;

type Callback = Arc<dyn Fn(&Stall) + Send + Sync>;

/// Scans a [`Registry`] for **stalls**: running subscriptions of named stages with outstanding
/// demand (`outstanding > 0`) and no signal for longer than a threshold. Each stall is
/// reported once (to the [`on_stall`](Self::on_stall) callback and in the scan's result) and
/// again only after the stage has moved (any signal) and stalled anew.
///
/// A stall reported at a named point means the stage(s) above it, up to the next named point
/// upstream, hold its demand without answering: compare with that point, which shows whether
/// the demand reached it.
///
/// Time comes from the registry's clock
/// ([`Registry::with_scheduler`]); scans run every [`period`](Self::period) (half the
/// threshold by default) on the scheduler given to [`start_on`](Self::start_on), or on a
/// thread of the detector's own with [`start`](Self::start), which no stage's code can hold
/// up. Give both the same scheduler. Since elements
/// are dated by the scan that sees them (see
/// [`StageSnapshot::since_last_signal`](crate::StageSnapshot::since_last_signal)), a stall is
/// reported no earlier than `threshold` and no later than `threshold + 2 × period` after the
/// last signal.
///
/// ```
/// use rstreams::scheduler::VirtualTime;
/// use rstreams::{source, Publisher};
/// use rstreams::observe::{ObserveExt, Registry, Stage, StallDetector};
/// use rstreams_tck::TestSubscriber;
/// use std::time::Duration;
///
/// let clock = VirtualTime::new();
/// let registry = Registry::with_scheduler(clock.clone());
/// source::never::<u64>()
///     .observe(Stage::new("upstream-of-nothing").registry(&registry))
///     .subscribe(TestSubscriber::new(8));
///
/// let watch = StallDetector::new(Duration::from_secs(10))
///     .registry(&registry)
///     .on_stall(|stall| eprintln!("{stall}"))
///     .start_on(clock.clone());
/// clock.advance_by(Duration::from_secs(60));
/// let stalls = watch.stalled();
/// assert_eq!(stalls.len(), 1);
/// assert_eq!(stalls[0].name.as_ref(), "upstream-of-nothing");
/// assert_eq!(stalls[0].outstanding, 8);
/// ```
pub struct StallDetector {
    threshold: Duration,
    period: Duration,
    registry: Registry,
    callback: Option<Callback>,
    /// The stalls reported and not yet moved, by subscription id.
    reported: Mutex<BTreeMap<u64, Stall>>,
}

/// One stall, as reported by a [`StallDetector`]: the numbers as read by the scan that found
/// it.
///
/// ```
/// use rstreams::scheduler::VirtualTime;
/// use rstreams::{source, Publisher};
/// use rstreams::observe::{ObserveExt, Registry, Stage, StallDetector};
/// use rstreams_tck::TestSubscriber;
/// use std::time::Duration;
///
/// let clock = VirtualTime::new();
/// let registry = Registry::with_scheduler(clock.clone());
/// source::never::<u64>()
///     .observe(Stage::new("silent").registry(&registry))
///     .subscribe(TestSubscriber::new(3));
/// clock.advance_by(Duration::from_secs(2));
/// let stalls = StallDetector::new(Duration::from_secs(1)).registry(&registry).scan();
/// assert_eq!(
///     stalls[0].to_string(),
///     "stage `silent` (subscription 1) stalled: 3 outstanding of 3 requested, 0 items passed; no signal for at least 2s"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stall {
    /// The stage's name.
    pub name: Arc<str>,
    /// The subscription's id in the registry.
    pub subscription: u64,
    /// Demand requested and not delivered (`u64::MAX`: unbounded demand).
    pub outstanding: u64,
    /// Demand requested in total (`u64::MAX`: unbounded).
    pub requested: u64,
    /// Elements passed downstream so far.
    pub items: u64,
    /// The time since the last signal when the stall was found (a lower bound).
    pub since_last_signal: Duration,
    /// When the last signal was, on the registry's clock: the stage has moved once this
    /// changes.
    last_signal_at: Nanos,
}

impl StallDetector {
    /// A detector for stalls longer than `threshold`, on the [global](Registry::global)
    /// registry, scanning every `threshold / 2`.
    ///
    /// # Panics
    ///
    /// When `threshold` is zero.
    ///
    /// ```
    /// use rstreams::observe::StallDetector;
    /// use std::time::Duration;
    /// let detector = StallDetector::new(Duration::from_secs(30));
    /// # let _ = detector;
    /// ```
    pub fn new(threshold: Duration) -> Self {
        assert!(
            !threshold.is_zero(),
            "StallDetector::new: the threshold must be greater than zero"
        );
        let half = threshold / 2;
        StallDetector {
            threshold,
            period: if half.is_zero() { threshold } else { half },
            registry: Registry::global().clone(),
            callback: None,
            reported: Mutex::new(BTreeMap::new()),
        }
    }

    /// Scans `registry` instead of the global one.
    ///
    /// ```
    /// use rstreams::observe::{Registry, StallDetector};
    /// use std::time::Duration;
    /// let registry = Registry::new();
    /// let detector = StallDetector::new(Duration::from_secs(30)).registry(&registry);
    /// assert!(detector.scan().is_empty());
    /// ```
    pub fn registry(mut self, registry: &Registry) -> Self {
        self.registry = registry.clone();
        self
    }

    /// Scans every `period` once started.
    ///
    /// # Panics
    ///
    /// When `period` is zero.
    ///
    /// ```
    /// use rstreams::observe::StallDetector;
    /// use std::time::Duration;
    /// let detector = StallDetector::new(Duration::from_secs(30)).period(Duration::from_secs(5));
    /// # let _ = detector;
    /// ```
    pub fn period(mut self, period: Duration) -> Self {
        assert!(
            !period.is_zero(),
            "StallDetector::period: the period must be greater than zero"
        );
        self.period = period;
        self
    }

    /// Calls `callback` with each new stall, from the thread that scans (outside any lock of
    /// the detector or the registry). A panic in it is caught and ignored.
    ///
    /// ```
    /// use rstreams::observe::StallDetector;
    /// use std::time::Duration;
    /// let detector = StallDetector::new(Duration::from_secs(30))
    ///     .on_stall(|stall| eprintln!("{stall}"));
    /// # let _ = detector;
    /// ```
    pub fn on_stall(mut self, callback: impl Fn(&Stall) + Send + Sync + 'static) -> Self {
        self.callback = Some(Arc::new(callback));
        self
    }

    /// Scans once, now: forgets the reported stalls that moved or ended, and returns (after
    /// calling the callback with each) the new ones.
    ///
    /// ```
    /// use rstreams::observe::{Registry, StallDetector};
    /// use std::time::Duration;
    /// let detector = StallDetector::new(Duration::from_secs(1)).registry(&Registry::new());
    /// assert!(detector.scan().is_empty());
    /// ```
    pub fn scan(&self) -> Vec<Stall> {
        let (now, live) = self.registry.live_readings();
        let mut found = Vec::new();
        {
            let mut reported = self.reported.lock();
            let mut still = BTreeMap::new();
            for r in &live {
                let stalled = r.reading.state == StageState::Running
                    && r.reading.outstanding > 0
                    && between(r.reading.last_signal_at, now) > self.threshold;
                if !stalled {
                    continue;
                }
                match reported.remove(&r.id) {
                    // Reported, and has not moved since: still the same stall.
                    Some(stall) if stall.last_signal_at == r.reading.last_signal_at => {
                        still.insert(r.id, stall);
                    }
                    // New, or moved and stalled again.
                    _ => {
                        let stall = Stall {
                            name: Arc::clone(&r.name),
                            subscription: r.id,
                            outstanding: r.reading.outstanding,
                            requested: r.reading.requested,
                            items: r.reading.items,
                            since_last_signal: between(r.reading.last_signal_at, now),
                            last_signal_at: r.reading.last_signal_at,
                        };
                        still.insert(r.id, stall.clone());
                        found.push(stall);
                    }
                }
            }
            // What is left in `reported` moved, ended, or was released.
            *reported = still;
        }
        if let Some(callback) = &self.callback {
            for stall in &found {
                let _ = catch_panic("the on_stall callback", || callback(stall));
            }
        }
        found
    }

    /// The stalls reported and not yet moved, as reported.
    ///
    /// ```
    /// use rstreams::observe::StallDetector;
    /// use std::time::Duration;
    /// assert!(StallDetector::new(Duration::from_secs(1)).stalled().is_empty());
    /// ```
    pub fn stalled(&self) -> Vec<Stall> {
        self.reported.lock().values().cloned().collect()
    }

    /// Starts scanning every period on a thread of its own, `rstreams-stall-watch-0`, which
    /// it shares with no stage: a subscriber that blocks the threads of the pipelines (the
    /// stall to report) cannot hold up the scans. The thread ends when the watch is stopped
    /// and dropped.
    ///
    /// ```
    /// use rstreams::observe::StallDetector;
    /// use std::time::Duration;
    ///
    /// let watch = StallDetector::new(Duration::from_secs(30))
    ///     .on_stall(|stall| eprintln!("{stall}"))
    ///     .start();
    /// // ... keep `watch` for as long as the pipelines run.
    /// drop(watch);
    /// ```
    pub fn start(self) -> StallWatch {
        self.start_on(ThreadPool::with_name(1, "rstreams-stall-watch"))
    }

    /// Starts scanning every period on `scheduler`.
    ///
    /// ```
    /// use rstreams::scheduler::VirtualTime;
    /// use rstreams::observe::{Registry, StallDetector};
    /// use std::time::Duration;
    ///
    /// let clock = VirtualTime::new();
    /// let registry = Registry::with_scheduler(clock.clone());
    /// let watch = StallDetector::new(Duration::from_secs(30)).registry(&registry).start_on(clock.clone());
    /// clock.advance_by(Duration::from_secs(60));
    /// assert!(watch.stalled().is_empty());
    /// ```
    pub fn start_on(self, scheduler: impl Scheduler) -> StallWatch {
        let detector = Arc::new(self);
        let scanning = Arc::clone(&detector);
        let task = PeriodicTask::start(Arc::new(scheduler), detector.period, move || {
            scanning.scan();
        });
        StallWatch { detector, task }
    }
}

impl fmt::Debug for StallDetector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StallDetector")
            .field("threshold", &self.threshold)
            .field("period", &self.period)
            .field("registry", &self.registry)
            .field("on_stall", &self.callback.is_some())
            .field("stalled", &self.reported.lock().len())
            .finish()
    }
}

/// A running [`StallDetector`]: it scans until [`stop`](Self::stop) is called or this is
/// dropped.
///
/// ```
/// use rstreams::scheduler::VirtualTime;
/// use rstreams::observe::{Registry, StallDetector};
/// use std::time::Duration;
///
/// let clock = VirtualTime::new();
/// let watch = StallDetector::new(Duration::from_secs(1))
///     .registry(&Registry::with_scheduler(clock.clone()))
///     .start_on(clock.clone());
/// watch.stop();
/// assert!(watch.stalled().is_empty());
/// ```
pub struct StallWatch {
    detector: Arc<StallDetector>,
    task: PeriodicTask,
}

impl StallWatch {
    /// The stalls reported and not yet moved, as reported.
    ///
    /// ```
    /// use rstreams::scheduler::VirtualTime;
    /// use rstreams::observe::{Registry, StallDetector};
    /// use std::time::Duration;
    ///
    /// let clock = VirtualTime::new();
    /// let watch = StallDetector::new(Duration::from_secs(1))
    ///     .registry(&Registry::with_scheduler(clock.clone()))
    ///     .start_on(clock.clone());
    /// assert!(watch.stalled().is_empty());
    /// ```
    pub fn stalled(&self) -> Vec<Stall> {
        self.detector.stalled()
    }

    /// Scans once now, besides the periodic scans (see [`StallDetector::scan`]).
    ///
    /// ```
    /// use rstreams::scheduler::VirtualTime;
    /// use rstreams::observe::{Registry, StallDetector};
    /// use std::time::Duration;
    ///
    /// let clock = VirtualTime::new();
    /// let watch = StallDetector::new(Duration::from_secs(1))
    ///     .registry(&Registry::with_scheduler(clock.clone()))
    ///     .start_on(clock.clone());
    /// assert!(watch.scan().is_empty());
    /// ```
    pub fn scan(&self) -> Vec<Stall> {
        self.detector.scan()
    }

    /// Stops the scans. Idempotent; dropping the watch does the same.
    ///
    /// ```
    /// use rstreams::scheduler::VirtualTime;
    /// use rstreams::observe::{Registry, StallDetector};
    /// use std::time::Duration;
    ///
    /// let clock = VirtualTime::new();
    /// let watch = StallDetector::new(Duration::from_secs(1))
    ///     .registry(&Registry::with_scheduler(clock.clone()))
    ///     .start_on(clock.clone());
    /// watch.stop();
    /// watch.stop();
    /// ```
    pub fn stop(&self) {
        self.task.stop();
    }
}

impl fmt::Debug for StallWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StallWatch")
            .field("detector", &self.detector)
            .field("task", &self.task)
            .finish()
    }
}

impl fmt::Display for Stall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let demand = |n: u64| {
            if n == UNBOUNDED {
                "unbounded".to_string()
            } else {
                n.to_string()
            }
        };
        write!(
            f,
            "stage `{}` (subscription {}) stalled: {} outstanding of {} requested, {} items passed; no signal for at least {:?}",
            self.name,
            self.subscription,
            demand(self.outstanding),
            demand(self.requested),
            self.items,
            self.since_last_signal
        )
    }
}
