//! The pull engine: the subscription state machine of every stage that owns a subscriber,
//! written once.
//!
//! A stage describes how to produce its next elements ([`Pull`]); the [`Engine`] is the
//! subscription its downstream holds, and keeps the protocol for it:
//!
//! - `on_subscribe` first, exactly once, with emission deferred until it has returned (§1.9,
//!   §3.3), and a panic in it treated as a cancel (§2.13);
//! - `request(n)` adds saturating demand (§3.8, §3.17); `request(0)` cancels and fails the
//!   stream naming §3.9, in the stage's name;
//! - `cancel` is idempotent and thread-safe (§3.5, §3.7), cancels the stage's upstream at once,
//!   and drops the subscriber and the stage's state (§3.13);
//! - one drain loop, reading the demand once per batch and never recursing from a re-entrant
//!   `request` (§1.3, §3.3); on an executor ([`EngineConfig::on`]) the loop runs as a task there;
//! - a panicking downstream is treated as cancelled (§2.13); a panicking [`Pull`] fails the
//!   stream; a terminal signal goes out exactly once (§1.7), and nothing follows it.

use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::scheduler::{Task, Worker};
use crate::support::{catch_panic, Demand, DrainCell, UpstreamSlot, UNBOUNDED};
use crate::sync::{AtomicUsize, Mutex, Ordering};
use crate::{Error, Subscriber, Subscription};

/// `Control::flags`: the downstream cancelled, or the subscription ended (terminal signal
/// sent, or the downstream panicked). Set once, never cleared.
const CANCELLED: usize = 1;
/// `Control::flags`: the downstream called `request(0)` (§3.9); the loop turns it into
/// `on_error`. Set once, never cleared.
const BAD_REQUEST: usize = 2;

/// The request/cancel bookkeeping of one subscription: outstanding demand and two flags.
///
/// This is what every `Subscription` of rstreams records when it is called; the drain loop
/// reads it. [`Engine`] embeds one; a stage that cannot use the engine (a pass-through whose
/// subscriber is owned elsewhere) uses it alone instead of writing its own flags.
///
/// ```
/// use rstreams::support::{Control, Stop};
///
/// let control = Control::new();
/// control.request(3);
/// assert_eq!(control.demand().get(), 3);
/// assert_eq!(control.stop(), None);
/// control.request(0);                      // §3.9: recorded, the loop fails the stream
/// assert_eq!(control.stop(), Some(Stop::BadRequest));
/// assert!(control.cancel());               // the first cancel
/// assert!(!control.cancel());              // idempotent (§3.5)
/// assert_eq!(control.stop(), Some(Stop::Cancelled));
/// ```
#[derive(Debug, Default)]
pub struct Control {
    demand: Demand,
    /// Bits [`CANCELLED`] and [`BAD_REQUEST`]; zero while the subscription is live.
    flags: AtomicUsize,
}

/// Why a subscription must stop emitting, as read by [`Control::stop`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Cancelled by the downstream, or already ended.
    Cancelled,
    /// The downstream called `request(0)`: fail with §3.9.
    BadRequest,
}

impl Control {
    /// A live subscription with no demand.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `request(n)`: adds `n` to the demand, or for `n == 0` raises the §3.9 flag.
    /// Does nothing after a cancel (§3.6).
    #[inline]
    pub fn request(&self, n: u64) {
        if n == 0 {
            self.flags.fetch_or(BAD_REQUEST, Ordering::AcqRel);
        } else {
            self.demand.add(n);
        }
    }

    /// Records `cancel()`. Returns `true` for the first call only, so that the caller cancels
    /// its upstream once (§3.5, §3.7).
    #[inline]
    pub fn cancel(&self) -> bool {
        self.flags.fetch_or(CANCELLED, Ordering::AcqRel) & CANCELLED == 0
    }

    /// The outstanding demand.
    #[inline]
    pub fn demand(&self) -> &Demand {
        &self.demand
    }

    /// Whether emission must stop, and why. One atomic load: cheap enough per element.
    #[inline]
    pub fn stop(&self) -> Option<Stop> {
        let flags = self.flags.load(Ordering::Acquire);
        if flags == 0 {
            None
        } else if flags & CANCELLED != 0 {
            Some(Stop::Cancelled)
        } else {
            Some(Stop::BadRequest)
        }
    }

    /// Whether the subscription was cancelled or has ended.
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.flags.load(Ordering::Acquire) & CANCELLED != 0
    }

    /// Whether a flag is raised, for the drain loop's per-element check. Relaxed: a raised
    /// flag publishes nothing but itself, and the loop reads it again with [`stop`](Self::stop)
    /// (acquire) before acting on it. A relaxed load is still one plain load, but it lets the
    /// compiler keep the loop's own state in registers across it.
    #[inline]
    fn is_flagged(&self) -> bool {
        self.flags.load(Ordering::Relaxed) != 0
    }
}

/// What a [`Pull`] produced.
#[derive(Debug)]
pub enum Pulled<T> {
    /// The next element.
    Ready(T),
    /// Nothing now. The stage calls [`Engine::wake`] when it has something (an element, its
    /// end); until then the engine does not ask again, except for new demand.
    Pending,
    /// The stream is complete: `on_complete` follows.
    End,
    /// The stream failed: `on_error` follows. The stage has cancelled its upstreams.
    Error(Error),
}

/// How a stage produces its elements, given the demand it may fill. The one thing a source or
/// an operator writes; [`Engine`] does everything else.
///
/// Every method runs inside the engine's drain loop: one call at a time, never concurrently,
/// never re-entered. A panic in `pull` or `poll_end` fails the stream (kind
/// [`Panic`](crate::ErrorKind::Panic), message starting with [`name`](Self::name)).
///
/// The state is dropped when the subscription ends, however it ends (completion, failure,
/// cancel, `request(0)`, a panicking downstream), before the terminal signal goes out: put
/// release work (cancel inner subscriptions, return a connection) in its `Drop`.
pub trait Pull: Send + 'static {
    /// The elements.
    type Item;

    /// Names the stage in errors ("range", "publish_on").
    fn name(&self) -> &'static str;

    /// The next element. `demand` (at least 1) is how many the downstream may still take in
    /// this batch: a source that fetches in bulk (`XREADGROUP COUNT n`, a pull batch) asks
    /// for that many. Called again for each element until the demand is met or it returns
    /// something other than [`Pulled::Ready`].
    fn pull(&mut self, demand: u64) -> Pulled<Self::Item>;

    /// Called when all demand is met: has the stream ended? `Some(Ok(()))` completes it and
    /// `Some(Err(e))` fails it without waiting for more demand (§1.2: completion needs no
    /// demand); `None` (the default) waits for demand or a wake-up.
    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        None
    }

    /// The bulk path of a source that can produce a run of elements in one tight loop (a
    /// `range`): produces up to `max` elements (at least 1), handing each to `emit`, and stops
    /// early when `emit` returns `false`. `None` (the default) means the stage has no bulk
    /// path, or no run to offer now: the engine calls [`pull`](Self::pull) for the next
    /// element instead, and asks for a run again after it.
    ///
    /// `emit` delivers the element downstream and returns whether the run may go on: `false`
    /// once the subscription is cancelled or failed (checked after every element, so nothing
    /// more is produced after a cancel from inside `on_next`, §3.12), or when the downstream
    /// panicked. The stage keeps its position in locals during the run and stores it back when
    /// the run ends. Returns `Some(Pulled::End)` when the stream ended (the last element went
    /// out, or there was none), `Some(Pulled::Ready(()))` when the run stopped with elements
    /// left (it produced `max`, or `emit` said stop), and `Some(Pulled::Pending)` or
    /// `Some(Pulled::Error(_))` as [`pull`](Self::pull) would. A run that returns `Ready` has
    /// produced at least one element or been stopped.
    ///
    /// A panic in the stage's own code fails the stream, as in `pull`; a panic in the
    /// downstream is caught inside `emit` and treated as today, after the run returns.
    #[inline]
    fn pull_run(
        &mut self,
        max: u64,
        emit: &mut impl FnMut(Self::Item) -> bool,
    ) -> Option<Pulled<()>>
    where
        Self: Sized,
    {
        let _ = (max, emit);
        None
    }
}

/// Where an [`Engine`] runs its drain loop, and which upstream it cancels with its
/// subscription. Made with [`EngineConfig::new`] and the builder methods.
#[derive(Default)]
pub struct EngineConfig {
    upstream: Option<Arc<UpstreamSlot>>,
    worker: Option<Arc<dyn Worker>>,
}

impl EngineConfig {
    /// Inline (the loop runs on whichever thread requests, cancels or wakes), no upstream.
    pub fn new() -> Self {
        Self::default()
    }

    /// The stage's upstream: cancelled at once (on the cancelling thread) when the downstream
    /// cancels, calls `request(0)` or panics, and when the stage ends the stream itself (its
    /// `pull` failed, panicked or ended early).
    pub fn upstream(mut self, upstream: Arc<UpstreamSlot>) -> Self {
        self.upstream = Some(upstream);
        self
    }

    /// Runs the drain loop as a task on `worker` (an asynchronous boundary): every
    /// `on_next` and terminal signal is delivered there, one task per batch of work.
    /// `on_subscribe` is still delivered on the subscribing thread.
    pub fn on(mut self, worker: Arc<dyn Worker>) -> Self {
        self.worker = Some(worker);
        self
    }
}

impl fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineConfig")
            .field("upstream", &self.upstream.is_some())
            .field("on_worker", &self.worker.is_some())
            .finish()
    }
}

/// The loop task of an engine on a worker: scheduling it costs a reference count, no
/// allocation.
type Run = Arc<dyn Fn() + Send + Sync>;

/// The subscription of a stage built on a [`Pull`]: it holds the downstream subscriber and the
/// stage's state, and runs the drain loop.
///
/// It keeps, for every stage built on it: `on_subscribe` first and once, with emission after
/// it returned (§1.9, §3.3); saturating demand (§3.8, §3.17); `request(0)` failing the stream
/// in the stage's name (§3.9); an idempotent, thread-safe `cancel` that cancels the stage's
/// upstream at once and drops the subscriber and the state (§3.5, §3.7, §3.13); a panicking
/// downstream treated as cancelled (§2.13); one drain loop that reads the demand once per
/// batch (§1.3); a terminal signal exactly once, with nothing after it (§1.7).
///
/// ```
/// use rstreams::support::{Engine, EngineConfig, Pull, Pulled};
/// use rstreams::{sink, Publisher, Subscriber};
///
/// /// Counts down from `from` to 1.
/// struct Countdown(u64);
///
/// impl Pull for Countdown {
///     type Item = u64;
///     fn name(&self) -> &'static str { "countdown" }
///     fn pull(&mut self, _demand: u64) -> Pulled<u64> {
///         if self.0 == 0 { return Pulled::End; }
///         self.0 -= 1;
///         Pulled::Ready(self.0 + 1)
///     }
///     fn poll_end(&mut self) -> Option<Result<(), rstreams::Error>> {
///         (self.0 == 0).then_some(Ok(()))
///     }
/// }
///
/// struct CountdownFrom(u64);
/// impl Publisher for CountdownFrom {
///     type Item = u64;
///     fn subscribe<S: Subscriber<u64> + 'static>(&self, subscriber: S) {
///         Engine::start(Countdown(self.0), subscriber, EngineConfig::new());
///     }
/// }
///
/// assert_eq!(sink::collect(&CountdownFrom(3)).unwrap(), vec![3, 2, 1]);
/// ```
pub struct Engine<P: Pull, S> {
    control: Control,
    upstream: Option<Arc<UpstreamSlot>>,
    worker: Option<Arc<dyn Worker>>,
    /// On a worker: the loop task, holding the engine strongly so that a loop scheduled after
    /// both ends let go still delivers. `None` inline, and once the subscription ended (which
    /// breaks that reference cycle).
    run: Mutex<Option<Run>>,
    /// The stage's state and the downstream; `None` once the subscription ended (§3.13).
    cell: DrainCell<Option<Active<P, S>>>,
}

struct Active<P, S> {
    pull: P,
    subscriber: S,
}

/// How an emission run ended.
enum Step {
    /// No demand left, or the stage is pending: wait for the next event.
    Idle,
    /// A flag was raised (cancel, request(0)): handle it.
    Flagged,
    /// The stream ended.
    End(Result<(), Error>),
}

impl<P, S> Engine<P, S>
where
    P: Pull,
    S: Subscriber<P::Item> + 'static,
{
    /// Subscribes `subscriber` to the stage `pull`: calls `on_subscribe` (on this thread, with
    /// requests made inside it only recorded), then emits as demand allows.
    ///
    /// Returns the subscription, which the stage's other side (an upstream's subscriber, a
    /// timer, a waker) keeps to [`wake`](Self::wake) it.
    ///
    /// # Panics
    ///
    /// When `on_subscribe` panics: the subscription is cancelled (§2.13) and the panic goes
    /// on to the caller.
    #[inline]
    pub fn start(pull: P, subscriber: S, config: EngineConfig) -> Arc<Self> {
        Self::start_cyclic(|_| pull, subscriber, config)
    }

    /// [`start`](Self::start) for a stage that needs a handle on its own engine (a waker, a
    /// timer task): `make` gets a weak reference to the engine being built.
    #[inline]
    pub fn start_cyclic(
        make: impl FnOnce(&std::sync::Weak<Self>) -> P,
        subscriber: S,
        config: EngineConfig,
    ) -> Arc<Self> {
        // The engine is allocated with an empty slot, and the subscriber moved into it once the
        // loop is owned: the chain is copied from the caller's frame straight into the heap
        // (measured with callgrind: one memcpy of it instead of three, when it went through
        // the `Engine` value `new_cyclic`'s closure returns).
        let mut made = None;
        let engine = Arc::new_cyclic(|weak| {
            made = Some(make(weak));
            Engine {
                control: Control::new(),
                upstream: config.upstream,
                worker: config.worker,
                run: Mutex::new(None),
                cell: DrainCell::new(None),
            }
        });
        if engine.worker.is_some() {
            let me = Arc::clone(&engine);
            *engine.run.lock() = Some(Arc::new(move || {
                me.cell.drain_entered(|slot| me.pass(slot, false))
            }));
        }
        // Own the loop while the downstream subscribes, so that its requests only record
        // demand and emission starts after on_subscribe returned (§1.9, §3.3).
        let mut entered = engine.cell.enter().expect("a new engine is not draining");
        let pull = made.expect("new_cyclic ran its closure");
        // Every run of emissions asks the chain's `wanted` first (`emit`), so a `take` in it
        // can pass this subscription through instead of capping it with one of its own.
        let mut subscriber = subscriber;
        subscriber.upstream_asks_wanted();
        *entered.get() = Some(Active { pull, subscriber });
        let subscription: Arc<dyn Subscription> = engine.clone();
        let subscribed = catch_unwind(AssertUnwindSafe(|| {
            if let Some(active) = entered.get().as_mut() {
                active.subscriber.on_subscribe(subscription);
            }
        }));
        if let Err(payload) = subscribed {
            engine.shut(entered.get()); // §2.13: treated as a cancel
            entered.drain(|_| {});
            resume_unwind(payload);
        }
        if engine.worker.is_some() {
            // Events during on_subscribe were requests: the first pass runs on the worker.
            entered.drain(|_| {});
            engine.wake();
        } else {
            entered.drain(|slot| engine.pass(slot, true));
        }
        engine
    }

    /// Something changed on the stage's side (an element arrived, the upstream ended, a timer
    /// fired, a future woke): runs the drain loop here (inline) or schedules it (on a worker),
    /// unless it is running already, in which case it runs one more pass.
    ///
    /// A downstream that panics during a pass run from here is treated as cancelled, and the
    /// panic stops here: it does not unwind into the waking thread.
    #[inline]
    pub fn wake(&self) {
        self.signal(false);
    }

    /// Runs `f` with the drain loop held, then serves what it raised in one go: wake-ups and
    /// requests made while `f` runs are only recorded.
    ///
    /// For setup that signals synchronously: a merge subscribes its synchronous sources inside
    /// this, so that each fills its prefetch and returns instead of one being drained to the
    /// end before the next is even subscribed. When the loop is busy elsewhere, `f` just runs
    /// (its signals are then served by that loop).
    pub fn deferring<R>(&self, f: impl FnOnce() -> R) -> R {
        let Some(entered) = self.cell.enter() else {
            return f();
        };
        let result = catch_unwind(AssertUnwindSafe(f));
        if self.worker.is_some() {
            entered.drain(|_| {});
            self.wake();
        } else {
            entered.drain(|slot| self.pass(slot, true));
        }
        result.unwrap_or_else(|payload| resume_unwind(payload))
    }

    /// The request/cancel state: the demand the stage may look at, and whether it was
    /// cancelled.
    #[inline]
    pub fn control(&self) -> &Control {
        &self.control
    }

    /// Whether the subscription was cancelled or has ended.
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.control.is_cancelled()
    }

    /// `resume`: let a downstream's panic continue to the caller (one that called into the
    /// subscription: `request`, `cancel`) rather than stop here (a waker, a worker).
    #[inline]
    fn signal(&self, resume: bool) {
        match &self.worker {
            None => self.cell.drain(|slot| self.pass(slot, resume)),
            // Usually the loop is running or scheduled already: one atomic add, nothing more.
            Some(_) => {
                if self.cell.guard().try_enter() {
                    self.schedule();
                }
            }
        }
    }

    /// Schedules the loop on the worker, for a caller that took it from idle (once per batch
    /// of work, not per element).
    #[inline(never)]
    fn schedule(&self) {
        let run = self.run.lock().clone();
        match (run, &self.worker) {
            (Some(run), Some(worker)) => worker.schedule(Task::shared(run)),
            // Ended already: nothing to deliver; just leave the loop.
            _ => self.cell.drain_entered(|_| {}),
        }
    }

    /// Ends the subscription from the downstream's side (cancel, request(0), panic): marks it,
    /// cancels the upstream, drops the stage's state and the subscriber.
    fn shut(&self, slot: &mut Option<Active<P, S>>) {
        self.control.cancel();
        if let Some(upstream) = &self.upstream {
            upstream.cancel();
        }
        self.end_loop_task();
        // Dropped where it lies, not moved out first (a copy of the whole subscriber chain):
        // calls back into the engine from a drop only record, as this loop is owned.
        *slot = None;
    }

    /// Drops the loop task, which holds the engine strongly (breaking that cycle once the
    /// subscription ended). Only an engine on a worker has one (made in `start_cyclic`):
    /// inline, `run` is `None` from the start and its lock is not taken.
    fn end_loop_task(&self) {
        if self.worker.is_some() {
            *self.run.lock() = None;
        }
    }

    /// Ends the subscription with a terminal signal: exactly once (§1.7), after the stage's
    /// state is dropped.
    fn finish(&self, slot: &mut Option<Active<P, S>>, end: Result<(), Error>) {
        self.control.cancel(); // later requests and cancels do nothing (§1.6)
        if let Some(upstream) = &self.upstream {
            // Cancelled, not just released: the stage may end while its upstream is live (its
            // pull failed or panicked, it decided early). An upstream that ended already was
            // released by the stage, and cancelling it is a no-op anyway (§3.7).
            upstream.cancel();
        }
        self.end_loop_task();
        if !std::mem::needs_drop::<P>() {
            // Dropping the state does nothing (a `range`'s counters), so "dropped before the
            // terminal signal" holds with it still in place: the subscriber is signalled where
            // it lies and dropped after, instead of being moved out of the slot first (a copy
            // of the whole subscriber chain; callgrind: 1377 -> 1330 per subscription on `subscribe_5_ops_range`).
            // Re-entrant calls from the signal only record (this loop is owned), and a panic
            // in it leaves the slot to `pass`, which releases it as for any downstream panic.
            let Some(active) = slot.as_mut() else { return };
            match end {
                Ok(()) => active.subscriber.on_complete(),
                Err(error) => active.subscriber.on_error(error),
            }
            *slot = None;
            return;
        }
        let Some(Active {
            pull,
            mut subscriber,
        }) = slot.take()
        else {
            return;
        };
        drop(pull);
        match end {
            Ok(()) => subscriber.on_complete(),
            Err(error) => subscriber.on_error(error),
        }
    }

    fn pass(&self, slot: &mut Option<Active<P, S>>, resume: bool) {
        if slot.is_none() {
            return; // ended or cancelled: nothing more is signalled (§1.7, §3.6)
        }
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| self.pass_inner(slot))) {
            // The downstream panicked (§2.13): treat it as cancelled and release it.
            self.shut(slot);
            if resume {
                resume_unwind(payload);
            }
        }
    }

    fn pass_inner(&self, slot: &mut Option<Active<P, S>>) {
        loop {
            let Some(active) = slot.as_mut() else { return };
            match self.control.stop() {
                Some(Stop::Cancelled) => {
                    self.shut(slot); // §3.13: drop the subscriber and the stage
                    return;
                }
                Some(Stop::BadRequest) => {
                    if let Some(upstream) = &self.upstream {
                        upstream.cancel();
                    }
                    let error = Error::request_zero().in_stage(active.pull.name());
                    self.finish(slot, Err(error));
                    return;
                }
                None => {}
            }
            match self.emit(active) {
                Step::Idle => return,
                Step::Flagged => continue,
                Step::End(end) => {
                    self.finish(slot, end);
                    return;
                }
            }
        }
    }

    /// Emits up to the outstanding demand. The demand is read once per batch and decremented
    /// once per batch; per element there is one flag load and no read-modify-write.
    ///
    /// Out of line (once per pass): measured with callgrind, the drain loop's registers are
    /// then allocated for this function's loops alone, which kept both the bounded and the
    /// unbounded run tighter (17.0 → 12.0 and 21.3 → 18.1 instructions per element with the
    /// bulk path) than inlining it into `pass`.
    #[inline(never)]
    fn emit(&self, active: &mut Active<P, S>) -> Step {
        let demand = self.control.demand();
        let mut requested = demand.get();
        if requested == UNBOUNDED {
            return self.emit_unbounded(active);
        }
        let mut emitted = 0u64;
        loop {
            while emitted != requested {
                if self.control.is_flagged() {
                    demand.produced(emitted);
                    return Step::Flagged;
                }
                // No more than the chain can use (a `take` in it): at least 1, since a chain
                // that wants nothing more has cancelled (the flags checked above stop it).
                let left = (requested - emitted).min(active.subscriber.wanted().max(1));
                // A branch, not `emitted += u64::from(accepted)`: measured, the add made the
                // loop 1.5 instructions per element longer.
                if let Some(step) = self.run(active, left, |accepted| {
                    if accepted {
                        emitted += 1;
                    }
                }) {
                    match step {
                        Some(Step::Idle) => {
                            demand.produced(emitted);
                            return Step::Idle;
                        }
                        Some(Step::Flagged) => {
                            demand.produced(emitted);
                            return Step::Flagged;
                        }
                        Some(step) => return step,
                        None => continue,
                    }
                }
                let pull = &mut active.pull;
                // The stage's name is read only if it panicked, not per element.
                let pulled = match catch_unwind(AssertUnwindSafe(|| pull.pull(left))) {
                    Ok(pulled) => pulled,
                    Err(payload) => {
                        return Step::End(Err(Error::from_panic(payload, active.pull.name())))
                    }
                };
                match pulled {
                    Pulled::Ready(item) => {
                        if active.subscriber.try_on_next(item) {
                            emitted += 1;
                        }
                    }
                    Pulled::Pending => {
                        demand.produced(emitted);
                        return Step::Idle;
                    }
                    Pulled::End => return Step::End(Ok(())),
                    Pulled::Error(error) => return Step::End(Err(error)),
                }
            }
            if self.control.stop().is_some() {
                demand.produced(emitted);
                return Step::Flagged;
            }
            let pull = &mut active.pull;
            match catch_panic(pull.name(), || pull.poll_end()) {
                Ok(Some(end)) => return Step::End(end),
                Ok(None) => {}
                Err(error) => return Step::End(Err(error)),
            }
            requested = demand.produced(emitted);
            emitted = 0;
            if requested == 0 {
                return Step::Idle;
            }
        }
    }
}

impl<P, S> Engine<P, S>
where
    P: Pull,
    S: Subscriber<P::Item> + 'static,
{
    /// [`emit`](Self::emit) under unbounded demand, which stays unbounded (§3.17): nothing to
    /// count and no demand to meet, so per element only the flag check, the pull and the
    /// delivery.
    #[inline]
    fn emit_unbounded(&self, active: &mut Active<P, S>) -> Step {
        loop {
            if self.control.is_flagged() {
                return Step::Flagged;
            }
            let wanted = active.subscriber.wanted().max(1);
            if let Some(step) = self.run(active, wanted, |_| {}) {
                match step {
                    Some(step) => return step,
                    None => continue,
                }
            }
            let pull = &mut active.pull;
            let pulled = match catch_unwind(AssertUnwindSafe(|| pull.pull(wanted))) {
                Ok(pulled) => pulled,
                Err(payload) => {
                    return Step::End(Err(Error::from_panic(payload, active.pull.name())))
                }
            };
            match pulled {
                Pulled::Ready(item) => {
                    active.subscriber.try_on_next(item);
                }
                Pulled::Pending => return Step::Idle,
                Pulled::End => return Step::End(Ok(())),
                Pulled::Error(error) => return Step::End(Err(error)),
            }
        }
    }
}

impl<P, S> Engine<P, S>
where
    P: Pull,
    S: Subscriber<P::Item> + 'static,
{
    /// One bulk run of the stage ([`Pull::pull_run`]) of up to `max` elements: `None` when the
    /// stage has no bulk path; `Some(None)` when the run stopped with elements left and demand
    /// to go on (the caller loops, checking the flags first); `Some(Some(step))` otherwise.
    /// `count` sees, per delivered element, whether the downstream took it (`try_on_next`).
    ///
    /// Per element: the delivery and one relaxed flag load. The downstream's panic is caught
    /// per element, carried out of the run and resumed here, so that it is treated as the
    /// downstream's (§2.13, by [`pass`](Self::pass)) and never as the stage's; a panic in the
    /// stage's own code fails the stream in the stage's name, as in `pull`.
    #[inline]
    fn run(
        &self,
        active: &mut Active<P, S>,
        max: u64,
        mut count: impl FnMut(bool),
    ) -> Option<Option<Step>> {
        let Active { pull, subscriber } = active;
        let control = &self.control;
        let mut downstream_panic = None;
        let mut emit =
            |item: P::Item| match catch_unwind(AssertUnwindSafe(|| subscriber.try_on_next(item))) {
                Ok(accepted) => {
                    count(accepted);
                    !control.is_flagged()
                }
                Err(payload) => {
                    downstream_panic = Some(payload);
                    false
                }
            };
        let ran = catch_unwind(AssertUnwindSafe(|| pull.pull_run(max, &mut emit)));
        if let Some(payload) = downstream_panic {
            resume_unwind(payload);
        }
        let pulled = match ran {
            Ok(pulled) => pulled?,
            Err(payload) => {
                return Some(Some(Step::End(Err(Error::from_panic(
                    payload,
                    active.pull.name(),
                )))))
            }
        };
        Some(match pulled {
            Pulled::Ready(()) => None,
            Pulled::Pending => Some(Step::Idle),
            // A flag raised by the last element's `on_next` wins over the end, as it does
            // on the per-element path (the flags are checked before the next pull).
            Pulled::End if control.is_flagged() => Some(Step::Flagged),
            Pulled::End => Some(Step::End(Ok(()))),
            Pulled::Error(error) => Some(Step::End(Err(error))),
        })
    }
}

impl<P, S> Subscription for Engine<P, S>
where
    P: Pull,
    S: Subscriber<P::Item> + 'static,
{
    fn request(&self, n: u64) {
        self.control.request(n);
        self.signal(true);
    }

    fn cancel(&self) {
        self.cancel_first();
    }

    fn cancel_first(&self) -> bool {
        let first = self.control.cancel();
        if first {
            if let Some(upstream) = &self.upstream {
                upstream.cancel();
            }
        }
        self.signal(true);
        first
    }
}

impl<P: Pull, S> fmt::Debug for Engine<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("control", &self.control)
            .field("on_worker", &self.worker.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::source::range;
    use crate::{ErrorKind, Publisher};

    /// What a [`Probe`] saw.
    #[derive(Default)]
    struct Seen {
        values: Vec<u64>,
        end: Option<Result<(), Error>>,
        subscription: Option<Arc<dyn Subscription>>,
    }

    /// A subscriber that records, takes only even elements when `even_only` (a filter:
    /// `try_on_next` returns `false` for the others), cancels on `cancel_at` and panics on
    /// `panic_at`.
    struct Probe {
        seen: Arc<Mutex<Seen>>,
        first: u64,
        even_only: bool,
        cancel_at: Option<u64>,
        panic_at: Option<u64>,
    }

    impl Probe {
        fn new(first: u64) -> (Self, Arc<Mutex<Seen>>) {
            let seen = Arc::new(Mutex::new(Seen::default()));
            let probe = Probe {
                seen: Arc::clone(&seen),
                first,
                even_only: false,
                cancel_at: None,
                panic_at: None,
            };
            (probe, seen)
        }
    }

    impl Subscriber<u64> for Probe {
        fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
            self.seen.lock().subscription = Some(Arc::clone(&subscription));
            subscription.request(self.first);
        }
        fn on_next(&mut self, item: u64) {
            self.try_on_next(item);
        }
        fn try_on_next(&mut self, item: u64) -> bool {
            if self.panic_at == Some(item) {
                panic!("downstream bug at {item}");
            }
            if self.even_only && item % 2 == 1 {
                return false;
            }
            let subscription = {
                let mut seen = self.seen.lock();
                seen.values.push(item);
                seen.subscription.clone()
            };
            if self.cancel_at == Some(item) {
                if let Some(s) = subscription {
                    s.cancel();
                }
            }
            true
        }
        fn on_error(&mut self, error: Error) {
            self.seen.lock().end = Some(Err(error));
        }
        fn on_complete(&mut self) {
            self.seen.lock().end = Some(Ok(()));
        }
    }

    fn request(seen: &Arc<Mutex<Seen>>, n: u64) {
        let subscription = seen.lock().subscription.clone().expect("subscribed");
        subscription.request(n);
    }

    #[test]
    fn a_range_run_under_bounded_demand_counts_only_the_elements_the_downstream_took() {
        let (mut probe, seen) = Probe::new(3);
        probe.even_only = true;
        range(10, 20).subscribe(probe);
        assert_eq!(seen.lock().values, vec![10, 12, 14], "§1.1: three taken");
        assert!(seen.lock().end.is_none());
        // The range's position was stored back after the run: it goes on from 15.
        request(&seen, 2);
        assert_eq!(seen.lock().values, vec![10, 12, 14, 16, 18]);
        request(&seen, u64::MAX);
        assert_eq!(seen.lock().values.len(), 10);
        assert!(matches!(seen.lock().end, Some(Ok(()))));
    }

    #[test]
    fn a_range_run_completes_with_its_last_element_without_more_demand() {
        let (probe, seen) = Probe::new(3);
        range(0, 3).subscribe(probe);
        assert_eq!(seen.lock().values, vec![0, 1, 2]);
        assert!(
            matches!(seen.lock().end, Some(Ok(()))),
            "§1.2: no demand needed"
        );
    }

    #[test]
    fn a_range_run_stops_at_the_element_whose_on_next_cancelled_under_bounded_demand() {
        for last in [0u64, 4, 9] {
            let (mut probe, seen) = Probe::new(10);
            probe.cancel_at = Some(last);
            range(0, 10).subscribe(probe);
            let seen = seen.lock();
            assert_eq!(seen.values, (0..=last).collect::<Vec<_>>(), "§3.12");
            assert!(
                seen.end.is_none(),
                "§1.7: a cancel, even on the last element, ends silently"
            );
        }
    }

    #[test]
    fn a_downstream_panic_in_a_range_run_is_the_downstreams_not_the_ranges() {
        for first in [u64::MAX, 100] {
            let (mut probe, seen) = Probe::new(first);
            probe.panic_at = Some(5);
            let unwound = catch_unwind(AssertUnwindSafe(|| range(0, 100).subscribe(probe)));
            let payload = unwound.expect_err("§2.13: the panic goes on to the caller");
            assert_eq!(
                crate::error::panic_message(payload.as_ref()),
                "downstream bug at 5"
            );
            let seen = seen.lock();
            assert_eq!(seen.values, vec![0, 1, 2, 3, 4]);
            assert!(
                seen.end.is_none(),
                "treated as cancelled: no error in the range's name"
            );
        }
    }

    /// A stage whose bulk path emits two elements and then panics in its own code.
    struct PanicsInRun;

    impl Pull for PanicsInRun {
        type Item = u64;
        fn name(&self) -> &'static str {
            "panics_in_run"
        }
        fn pull(&mut self, _demand: u64) -> Pulled<u64> {
            unreachable!("the engine takes the bulk path")
        }
        fn pull_run(
            &mut self,
            _max: u64,
            emit: &mut impl FnMut(u64) -> bool,
        ) -> Option<Pulled<()>> {
            if emit(1) && emit(2) {
                panic!("stage bug");
            }
            Some(Pulled::Ready(()))
        }
    }

    #[test]
    fn a_panic_in_a_stages_own_run_fails_the_stream_in_the_stages_name() {
        for first in [u64::MAX, 10] {
            let (probe, seen) = Probe::new(first);
            Engine::start(PanicsInRun, probe, EngineConfig::new());
            let seen = seen.lock();
            assert_eq!(seen.values, vec![1, 2]);
            let Some(Err(error)) = &seen.end else {
                panic!("the stream failed")
            };
            assert_eq!(error.kind(), ErrorKind::Panic);
            assert!(
                error
                    .to_string()
                    .starts_with("panics_in_run panicked: stage bug"),
                "{error}"
            );
        }
    }

    #[test]
    fn a_request_zero_raised_inside_a_run_fails_the_stream_naming_3_9() {
        /// Requests 0 from inside its second `on_next`.
        struct BadRequester(Arc<Mutex<Seen>>);
        impl Subscriber<u64> for BadRequester {
            fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
                self.0.lock().subscription = Some(Arc::clone(&s));
                s.request(u64::MAX);
            }
            fn on_next(&mut self, item: u64) {
                let s = {
                    let mut seen = self.0.lock();
                    seen.values.push(item);
                    seen.subscription.clone()
                };
                if item == 1 {
                    s.expect("subscribed").request(0);
                }
            }
            fn on_error(&mut self, error: Error) {
                self.0.lock().end = Some(Err(error));
            }
            fn on_complete(&mut self) {
                self.0.lock().end = Some(Ok(()));
            }
        }
        let seen = Arc::new(Mutex::new(Seen::default()));
        range(0, 10).subscribe(BadRequester(Arc::clone(&seen)));
        let seen = seen.lock();
        assert_eq!(seen.values, vec![0, 1]);
        let Some(Err(error)) = &seen.end else {
            panic!("the stream failed")
        };
        assert_eq!(error.rule(), Some("3.9"));
    }

    /// Counts its terminal signals, calls back into its subscription from inside them, and
    /// panics in `on_complete` when `panic_on_complete`; `_alive` is dropped with it.
    struct Ender {
        subscription: Option<Arc<dyn Subscription>>,
        ends: Arc<crate::sync::AtomicUsize>,
        panic_on_complete: bool,
        _alive: Arc<()>,
    }

    impl Subscriber<u64> for Ender {
        fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
            s.request(10);
            self.subscription = Some(s);
        }
        fn on_next(&mut self, _: u64) {}
        fn on_error(&mut self, _: Error) {
            self.ends.fetch_add(1, Ordering::SeqCst);
        }
        fn on_complete(&mut self) {
            self.ends.fetch_add(1, Ordering::SeqCst);
            let s = self.subscription.clone().expect("subscribed first (§1.9)");
            s.request(5); // §3.6: after the end, these do nothing
            s.request(0);
            s.cancel();
            if self.panic_on_complete {
                panic!("downstream bug in on_complete");
            }
        }
    }

    #[test]
    fn a_subscriber_calling_back_from_a_ranges_on_complete_gets_nothing_more_and_is_released() {
        for count in [0u64, 3] {
            let ends = Arc::new(crate::sync::AtomicUsize::new(0));
            let alive = Arc::new(());
            range(0, count).subscribe(Ender {
                subscription: None,
                ends: Arc::clone(&ends),
                panic_on_complete: false,
                _alive: Arc::clone(&alive),
            });
            assert_eq!(ends.load(Ordering::SeqCst), 1, "§1.7: one terminal signal");
            assert_eq!(
                Arc::strong_count(&alive),
                1,
                "§3.13: the subscriber is dropped"
            );
        }
    }

    #[test]
    fn a_panic_in_on_complete_of_a_range_reaches_the_caller_and_the_subscriber_is_released() {
        let ends = Arc::new(crate::sync::AtomicUsize::new(0));
        let alive = Arc::new(());
        let unwound = catch_unwind(AssertUnwindSafe(|| {
            range(0, 2).subscribe(Ender {
                subscription: None,
                ends: Arc::clone(&ends),
                panic_on_complete: true,
                _alive: Arc::clone(&alive),
            })
        }));
        let payload = unwound.expect_err("§2.13: the panic goes on to the subscribing caller");
        assert_eq!(
            crate::error::panic_message(payload.as_ref()),
            "downstream bug in on_complete"
        );
        assert_eq!(
            ends.load(Ordering::SeqCst),
            1,
            "§1.7: no second terminal signal"
        );
        assert_eq!(
            Arc::strong_count(&alive),
            1,
            "§3.13: the subscriber is dropped"
        );
    }
}
