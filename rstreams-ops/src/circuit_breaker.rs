//! `CircuitBreaker`: a failure-rate breaker over the last `window` calls, shared, and a tower
//! `Layer` whose `poll_ready` waits while it is open, so that inside `call` an open breaker
//! withholds demand instead of failing elements.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;
use rstreams_core::scheduler::{timer, Scheduler, Worker};
use rstreams_core::support::{catch_panic, TimerSlot};
use rstreams_core::sync::{AtomicU64, Mutex, Ordering};
use rstreams_core::Error;
use tower_layer::Layer;
use tower_service::Service;

use crate::call::BoxError;

/// The settings of a [`CircuitBreaker`]. Checked when the breaker is built.
///
/// The defaults are resilience4j's: open at 50 % failures over the last 100 calls, once 100
/// were seen; stay open 60 s; close after 10 successful probes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    /// The failure rate (failed ÷ calls in the window) at or above which the breaker opens,
    /// in `0.0..=1.0`. With `0.0` any failure opens it (once `min_calls` were seen).
    pub failure_rate: f64,
    /// How many of the latest calls the rate is computed over (a count-based sliding window),
    /// at least 1.
    pub window: usize,
    /// How many calls the window must hold before the rate counts, in `1..=window`.
    pub min_calls: usize,
    /// How long the breaker stays open before it lets probes through; positive.
    pub open_for: Duration,
    /// How many probe calls half-open lets through; all must succeed to close (one failure
    /// opens again). At least 1.
    pub half_open_probes: usize,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_rate: 0.5,
            window: 100,
            min_calls: 100,
            open_for: Duration::from_secs(60),
            half_open_probes: 10,
        }
    }
}

impl BreakerConfig {
    /// Checks every field; the error names the first bad one and its valid range.
    ///
    /// ```
    /// use rstreams::ops::BreakerConfig;
    ///
    /// let bad = BreakerConfig { failure_rate: 1.5, ..BreakerConfig::default() };
    /// assert_eq!(
    ///     bad.validate().unwrap_err().to_string(),
    ///     "circuit breaker: failure_rate must be in 0.0..=1.0 (got 1.5)"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |message: String| Err(Error::msg(format!("circuit breaker: {message}")));
        if !(0.0..=1.0).contains(&self.failure_rate) {
            return bad(format!(
                "failure_rate must be in 0.0..=1.0 (got {})",
                self.failure_rate
            ));
        }
        if self.window == 0 {
            return bad(
                "window must be at least 1 call (got 0; valid range 1..=usize::MAX)".into(),
            );
        }
        if self.min_calls == 0 || self.min_calls > self.window {
            return bad(format!(
                "min_calls must be in 1..=window, here 1..={} (got {})",
                self.window, self.min_calls
            ));
        }
        if self.open_for.is_zero() {
            return bad("open_for must be a positive duration (got 0s)".into());
        }
        if self.half_open_probes == 0 {
            return bad(
                "half_open_probes must be at least 1 (got 0; valid range 1..=usize::MAX)".into(),
            );
        }
        Ok(())
    }
}

/// The state of a [`CircuitBreaker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls go through; their outcomes fill the window.
    Closed,
    /// No call goes through: `poll_ready` is pending until `open_for` has passed.
    Open,
    /// Up to `half_open_probes` calls go through to test the dependency.
    HalfOpen,
}

/// A change of a [`CircuitBreaker`]'s state, as given to
/// [`on_state_change`](CircuitBreaker::on_state_change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateChange {
    /// The state left.
    pub from: BreakerState,
    /// The state entered.
    pub to: BreakerState,
    /// When, on the breaker's clock (its scheduler's).
    pub at: Instant,
}

/// What a [`CircuitBreaker`] has counted since it was made; see
/// [`metrics`](CircuitBreaker::metrics).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerMetrics {
    /// The state now.
    pub state: BreakerState,
    /// Calls let through (started).
    pub calls: u64,
    /// Of those, completed with `Ok`.
    pub successes: u64,
    /// Of those, completed with `Err`.
    pub failures: u64,
    /// Outcomes that did not count: calls started before the last change of state, completed
    /// after it (a call in flight when the breaker opened).
    pub stale: u64,
    /// Times the breaker opened.
    pub opened: u64,
    /// Times `poll_ready` was pending because of the breaker (open, or no probe left): each
    /// is demand withheld, not a rejection.
    pub waits: u64,
    /// Calls refused because the breaker opened between `poll_ready` and `call`: they fail
    /// with [`CircuitOpen`] without reaching the service.
    pub rejected: u64,
    /// Calls in the window now.
    pub window_calls: usize,
    /// Of those, failed.
    pub window_failures: usize,
}

impl BreakerMetrics {
    /// `window_failures ÷ window_calls`, if the window holds any call.
    pub fn failure_rate(&self) -> Option<f64> {
        (self.window_calls > 0).then(|| self.window_failures as f64 / self.window_calls as f64)
    }
}

/// The error of a call refused by an open [`CircuitBreaker`]: it opened after `poll_ready`
/// said ready and before the call was made. The service was not called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CircuitOpen;

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("circuit breaker open: the call was not let through")
    }
}

impl std::error::Error for CircuitOpen {}

/// A circuit breaker shared by every service, stage and pipeline that holds a clone of it.
///
/// **Window and states.** Closed, it keeps the outcomes of the last
/// [`window`](BreakerConfig::window) calls (a count-based sliding window); once it holds at
/// least [`min_calls`](BreakerConfig::min_calls) and the share of failures reaches
/// [`failure_rate`](BreakerConfig::failure_rate), it opens. Open, it lets nothing through for
/// [`open_for`](BreakerConfig::open_for), measured on its scheduler (a timer: it half-opens on
/// time even when nobody calls); then, half-open, it lets
/// [`half_open_probes`](BreakerConfig::half_open_probes) calls through: the first failure
/// opens it again, and when all of them succeeded it closes, with an empty window. A call
/// that started before a change of state and completes after it does not count
/// ([`BreakerMetrics::stale`]). A call whose future is dropped before it completed counts as
/// nothing (a probe is given back). An `Err` of the wrapped service is a failure.
///
/// **As a tower [`Layer`]** (`ServiceBuilder::new().layer(breaker.clone())`) its
/// `poll_ready` is **pending** while open (and half-open with every probe out), and wakes
/// when that changes: inside [`call`](crate::PublisherExt::call) that is withheld demand, so
/// the elements wait upstream, none is failed or lost, and the probes are the first
/// elements requested once it half-opens. A service that calls without waiting for
/// `poll_ready` gets [`CircuitOpen`] errors instead.
///
/// **Observable**: [`state`](Self::state), [`metrics`](Self::metrics) (counters that
/// `rstreams-observe` exports through the `metrics` facade), and a callback per change of
/// state ([`on_state_change`](Self::on_state_change)).
///
/// ```
/// use std::time::Duration;
/// use rstreams::scheduler::VirtualTime;
/// use rstreams::ops::{BreakerConfig, BreakerState, CircuitBreaker};
///
/// let clock = VirtualTime::new();
/// let breaker = CircuitBreaker::new_on(
///     BreakerConfig {
///         failure_rate: 0.5,
///         window: 10,
///         min_calls: 4,
///         open_for: Duration::from_secs(5),
///         half_open_probes: 1,
///     },
///     clock.clone(),
/// );
/// for _ in 0..4 {
///     breaker.record_failure();
/// }
/// assert_eq!(breaker.state(), BreakerState::Open);
/// clock.advance_by(Duration::from_secs(5));
/// assert_eq!(breaker.state(), BreakerState::HalfOpen);
/// ```
#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

type Listener = Arc<dyn Fn(StateChange) + Send + Sync>;

struct Inner {
    config: BreakerConfig,
    core: Mutex<Core>,
    worker: Arc<dyn Worker>,
    timer: TimerSlot,
    listeners: Mutex<Vec<Listener>>,
    calls: AtomicU64,
    successes: AtomicU64,
    failures: AtomicU64,
    stale: AtomicU64,
    opened: AtomicU64,
    waits: AtomicU64,
    rejected: AtomicU64,
}

impl CircuitBreaker {
    /// A closed breaker timed on the shared [`timer()`].
    ///
    /// # Panics
    ///
    /// When `config` is invalid ([`BreakerConfig::validate`] names the field and its range);
    /// [`try_new`](Self::try_new) returns the error instead.
    pub fn new(config: BreakerConfig) -> Self {
        Self::new_on(config, timer())
    }

    /// [`new`](Self::new), timed on `scheduler` ([`VirtualTime`] in tests).
    ///
    /// [`VirtualTime`]: rstreams_core::scheduler::VirtualTime
    ///
    /// # Panics
    ///
    /// When `config` is invalid.
    pub fn new_on<S: Scheduler>(config: BreakerConfig, scheduler: S) -> Self {
        match Self::try_new_on(config, scheduler) {
            Ok(breaker) => breaker,
            Err(error) => panic!("{error}"),
        }
    }

    /// A closed breaker timed on the shared [`timer()`], or the error naming the bad field.
    pub fn try_new(config: BreakerConfig) -> Result<Self, Error> {
        Self::try_new_on(config, timer())
    }

    /// [`try_new`](Self::try_new), timed on `scheduler`.
    pub fn try_new_on<S: Scheduler>(config: BreakerConfig, scheduler: S) -> Result<Self, Error> {
        config.validate()?;
        Ok(CircuitBreaker {
            inner: Arc::new(Inner {
                config,
                core: Mutex::new(Core::new(config)),
                worker: scheduler.worker(),
                timer: TimerSlot::new(),
                listeners: Mutex::new(Vec::new()),
                calls: AtomicU64::new(0),
                successes: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                stale: AtomicU64::new(0),
                opened: AtomicU64::new(0),
                waits: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
            }),
        })
    }

    /// The settings it was built with.
    pub fn config(&self) -> BreakerConfig {
        self.inner.config
    }

    /// The state now.
    pub fn state(&self) -> BreakerState {
        self.inner.core.lock().state
    }

    /// The counters and the window now.
    pub fn metrics(&self) -> BreakerMetrics {
        let inner = &self.inner;
        let (state, window_calls, window_failures) = {
            let core = inner.core.lock();
            (core.state, core.outcomes.len(), core.failures)
        };
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        BreakerMetrics {
            state,
            calls: load(&inner.calls),
            successes: load(&inner.successes),
            failures: load(&inner.failures),
            stale: load(&inner.stale),
            opened: load(&inner.opened),
            waits: load(&inner.waits),
            rejected: load(&inner.rejected),
            window_calls,
            window_failures,
        }
    }

    /// Calls `listener` with every change of state, after the change and before the services
    /// waiting for it are woken, on the thread that made it (the one that recorded the
    /// outcome, or the scheduler's for open → half-open), outside the breaker's lock. A panic in it is caught and ignored: observing must not
    /// break the breaker.
    pub fn on_state_change(&self, listener: impl Fn(StateChange) + Send + Sync + 'static) {
        self.inner.listeners.lock().push(Arc::new(listener));
    }

    /// Records a successful call made outside a [`BreakerService`] (a call guarded by hand):
    /// as if a call let through now completed with `Ok`.
    pub fn record_success(&self) {
        let epoch = self.inner.core.lock().epoch;
        self.inner.calls.fetch_add(1, Ordering::Relaxed);
        self.settle(epoch, Some(false));
    }

    /// Records a failed call made outside a [`BreakerService`]: as if a call let through now
    /// completed with `Err`.
    pub fn record_failure(&self) {
        let epoch = self.inner.core.lock().epoch;
        self.inner.calls.fetch_add(1, Ordering::Relaxed);
        self.settle(epoch, Some(true));
    }

    /// A permit for one call, or `None` (with `waker` registered, woken at the next change).
    fn permit(&self, waker: &Waker) -> Option<u64> {
        let permit = self.inner.core.lock().permit(waker);
        if permit.is_none() {
            self.inner.waits.fetch_add(1, Ordering::Relaxed);
        }
        permit
    }

    fn is_current(&self, epoch: u64) -> bool {
        self.inner.core.lock().is_current(epoch)
    }

    /// A call of `epoch` completed (`Some(failed)`) or was given up (`None`).
    fn settle(&self, epoch: u64, outcome: Option<bool>) {
        let (change, wake) = {
            let mut core = self.inner.core.lock();
            let current = core.is_current(epoch);
            match outcome {
                Some(failed) => {
                    let counter = if failed {
                        &self.inner.failures
                    } else {
                        &self.inner.successes
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    if !current {
                        self.inner.stale.fetch_add(1, Ordering::Relaxed);
                    }
                    (core.record(epoch, failed), Vec::new())
                }
                None => (None, core.release(epoch)),
            }
        };
        wake.into_iter().for_each(Waker::wake);
        if let Some(change) = change {
            self.changed(change);
        }
    }

    /// After a change of state: arms the open timer, wakes the waiters, tells the listeners.
    fn changed(&self, change: Change) {
        let Change {
            from,
            to,
            epoch,
            waiters,
        } = change;
        if to == BreakerState::Open {
            self.inner.opened.fetch_add(1, Ordering::Relaxed);
            let weak: Weak<Inner> = Arc::downgrade(&self.inner);
            self.inner.timer.arm(
                &self.inner.worker,
                self.inner.config.open_for,
                move |generation| {
                    if let Some(inner) = weak.upgrade() {
                        if inner.timer.fire(generation) {
                            CircuitBreaker { inner }.open_elapsed(epoch);
                        }
                    }
                },
            );
        }
        // The listeners first: they see the change before the woken services act on it.
        let at = self.inner.worker.now();
        let listeners = self.inner.listeners.lock().clone();
        for listener in listeners {
            let _ = catch_panic("on_state_change", || listener(StateChange { from, to, at }));
        }
        waiters.into_iter().for_each(Waker::wake);
    }

    fn open_elapsed(&self, epoch: u64) {
        let change = self.inner.core.lock().open_elapsed(epoch);
        if let Some(change) = change {
            self.changed(change);
        }
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("config", &self.inner.config)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

// ===== the policy: a pure state machine, no clock, no I/O =====

/// A change of state, with the waiters to wake.
struct Change {
    from: BreakerState,
    to: BreakerState,
    /// The epoch entered.
    epoch: u64,
    waiters: Vec<Waker>,
}

/// The breaker's state machine. Every change of state starts a new epoch; a permit carries
/// the epoch it was given in, and its outcome counts only in that epoch.
struct Core {
    config: BreakerConfig,
    state: BreakerState,
    epoch: u64,
    /// Closed: the outcomes of the last `window` calls, `true` for a failure.
    outcomes: VecDeque<bool>,
    /// Failures in `outcomes`.
    failures: usize,
    /// Half-open: probes given out (reserved or in flight) and probes that succeeded.
    probes_out: usize,
    probes_ok: usize,
    /// Waiting for a permit: woken at the next change of state (or a probe given back).
    waiters: Vec<Waker>,
}

impl Core {
    fn new(config: BreakerConfig) -> Self {
        Core {
            config,
            state: BreakerState::Closed,
            epoch: 0,
            outcomes: VecDeque::new(),
            failures: 0,
            probes_out: 0,
            probes_ok: 0,
            waiters: Vec::new(),
        }
    }

    fn permit(&mut self, waker: &Waker) -> Option<u64> {
        match self.state {
            BreakerState::Closed => return Some(self.epoch),
            BreakerState::HalfOpen if self.probes_out < self.config.half_open_probes => {
                self.probes_out += 1;
                return Some(self.epoch);
            }
            _ => {}
        }
        if !self.waiters.iter().any(|w| w.will_wake(waker)) {
            self.waiters.push(waker.clone());
        }
        None
    }

    /// Whether a permit of `epoch` still lets a call through.
    fn is_current(&self, epoch: u64) -> bool {
        epoch == self.epoch && self.state != BreakerState::Open
    }

    fn record(&mut self, epoch: u64, failed: bool) -> Option<Change> {
        if !self.is_current(epoch) {
            return None;
        }
        match self.state {
            BreakerState::Closed => {
                self.outcomes.push_back(failed);
                self.failures += usize::from(failed);
                if self.outcomes.len() > self.config.window {
                    let oldest = self.outcomes.pop_front().unwrap_or(false);
                    self.failures -= usize::from(oldest);
                }
                let calls = self.outcomes.len();
                let tripped = calls >= self.config.min_calls
                    && self.failures > 0
                    && self.failures as f64 >= self.config.failure_rate * calls as f64;
                tripped.then(|| self.enter(BreakerState::Open))
            }
            BreakerState::HalfOpen if failed => Some(self.enter(BreakerState::Open)),
            BreakerState::HalfOpen => {
                self.probes_ok += 1;
                (self.probes_ok >= self.config.half_open_probes)
                    .then(|| self.enter(BreakerState::Closed))
            }
            BreakerState::Open => None,
        }
    }

    /// A permit of `epoch` given back without an outcome: a probe is free again. Returns the
    /// waiters to wake.
    fn release(&mut self, epoch: u64) -> Vec<Waker> {
        if self.state == BreakerState::HalfOpen && epoch == self.epoch && self.probes_out > 0 {
            self.probes_out -= 1;
            return std::mem::take(&mut self.waiters);
        }
        Vec::new()
    }

    fn open_elapsed(&mut self, epoch: u64) -> Option<Change> {
        (self.state == BreakerState::Open && self.epoch == epoch)
            .then(|| self.enter(BreakerState::HalfOpen))
    }

    fn enter(&mut self, to: BreakerState) -> Change {
        let from = std::mem::replace(&mut self.state, to);
        self.epoch += 1;
        self.outcomes.clear();
        self.failures = 0;
        self.probes_out = 0;
        self.probes_ok = 0;
        Change {
            from,
            to,
            epoch: self.epoch,
            waiters: std::mem::take(&mut self.waiters),
        }
    }
}

// ===== the tower layer =====

impl<S> Layer<S> for CircuitBreaker {
    type Service = BreakerService<S>;

    fn layer(&self, inner: S) -> BreakerService<S> {
        BreakerService {
            inner,
            breaker: self.clone(),
            reserved: None,
        }
    }
}

/// The service a [`CircuitBreaker`] layer makes: `poll_ready` waits while the breaker lets
/// nothing through, and each call's outcome is recorded.
pub struct BreakerService<S> {
    inner: S,
    breaker: CircuitBreaker,
    /// The permit `poll_ready` obtained, for the next call.
    reserved: Option<u64>,
}

impl<S: Clone> Clone for BreakerService<S> {
    /// A clone shares the breaker, not the permit.
    fn clone(&self) -> Self {
        BreakerService {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            reserved: None,
        }
    }
}

impl<S> fmt::Debug for BreakerService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerService")
            .field("breaker", &self.breaker)
            .field("reserved", &self.reserved.is_some())
            .finish_non_exhaustive()
    }
}

impl<S> Drop for BreakerService<S> {
    /// A permit reserved and never used is given back (a probe, half-open).
    fn drop(&mut self) {
        if let Some(epoch) = self.reserved.take() {
            self.breaker.settle(epoch, None);
        }
    }
}

impl<S, Request> Service<Request> for BreakerService<S>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BreakerFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        loop {
            match self.reserved {
                None => match self.breaker.permit(cx.waker()) {
                    Some(epoch) => self.reserved = Some(epoch),
                    None => return Poll::Pending,
                },
                Some(epoch) if !self.breaker.is_current(epoch) => {
                    // The breaker changed since: this permit lets nothing through any more.
                    self.reserved = None;
                    self.breaker.settle(epoch, None);
                }
                Some(_) => return self.inner.poll_ready(cx).map_err(Into::into),
            }
        }
    }

    fn call(&mut self, request: Request) -> BreakerFuture<S::Future> {
        match self.reserved.take() {
            Some(epoch) if self.breaker.is_current(epoch) => {
                self.breaker.inner.calls.fetch_add(1, Ordering::Relaxed);
                BreakerFuture {
                    inner: Some(self.inner.call(request)),
                    settle: Some(Settle {
                        breaker: self.breaker.clone(),
                        epoch,
                        settled: false,
                    }),
                }
            }
            reserved => {
                if let Some(epoch) = reserved {
                    self.breaker.settle(epoch, None);
                }
                self.breaker.inner.rejected.fetch_add(1, Ordering::Relaxed);
                BreakerFuture {
                    inner: None,
                    settle: None,
                }
            }
        }
    }
}

pin_project! {
    /// The response future of a [`BreakerService`]: records the outcome when it completes;
    /// dropped before that, it gives its permit back.
    pub struct BreakerFuture<F> {
        #[pin]
        inner: Option<F>,
        settle: Option<Settle>,
    }
}

impl<F> fmt::Debug for BreakerFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerFuture")
            .field("rejected", &self.inner.is_none())
            .finish_non_exhaustive()
    }
}

/// The permit of a call in flight: settled with the call's outcome, or given back when
/// dropped without one.
struct Settle {
    breaker: CircuitBreaker,
    epoch: u64,
    settled: bool,
}

impl Settle {
    fn outcome(mut self, failed: bool) {
        self.settled = true;
        self.breaker.settle(self.epoch, Some(failed));
    }
}

impl Drop for Settle {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.settle(self.epoch, None);
        }
    }
}

impl<F, T, E> Future for BreakerFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(Err(Box::new(CircuitOpen)));
        };
        let output = std::task::ready!(inner.poll(cx));
        if let Some(settle) = this.settle.take() {
            settle.outcome(output.is_err());
        }
        Poll::Ready(output.map_err(Into::into))
    }
}
