//! Where and when work runs: the [`Scheduler`] trait and its built-ins.
//!
//! | scheduler | runs tasks | time |
//! |---|---|---|
//! | [`Immediate`] | on the calling thread, trampolined (a task scheduled from a task runs after it, not inside it) | the wall clock; delays block the caller |
//! | [`ThreadPool`] | on a fixed set of named threads; each [`Worker`] is pinned to one thread | the wall clock |
//! | [`Timer`] | on a pool that grows when its threads are busy; each [`Worker`] is a serial queue run by any free thread; a clock thread that runs no task hands due tasks over | the wall clock |
//! | [`VirtualTime`] | on the thread that advances the clock | a clock moved by hand, for tests |
//!
//! [`timer()`] is the shared default for time-based operators given no scheduler.
//!
//! Time-based operators and sources read the time only through [`Scheduler::now`] /
//! [`Worker::now`], never from the wall clock directly, so each of them can be tested on
//! [`VirtualTime`] deterministically.

mod immediate;
mod thread_pool;
mod timer;
mod virtual_time;

pub use immediate::Immediate;
pub use thread_pool::{ThreadPool, ThreadPoolBuilder};
pub use timer::Timer;
pub use virtual_time::VirtualTime;

/// The scheduler that time-based operators use when none is given: one process-wide
/// [`Timer`] named `rstreams-timer`, started on first use.
///
/// Its clock thread, `rstreams-timer-clock`, only keeps the time: each tick that falls due is
/// handed to its subscription's worker and runs on a pool thread (`rstreams-timer-<n>`), so a
/// subscriber that is slow or blocks in one pipeline holds up its own worker, not the timers
/// of the others (see [`Timer`] for the pool's limits).
///
/// Each operator has a variant that takes a scheduler explicitly (for tests on
/// [`VirtualTime`], or to share a pool of your own).
///
/// ```
/// use rstreams::scheduler::{timer, Scheduler, Task};
/// use std::sync::mpsc;
///
/// let (tx, rx) = mpsc::channel();
/// timer().schedule(Task::new(move || {
///     tx.send(std::thread::current().name().unwrap().to_owned()).unwrap()
/// }));
/// let ran_on = rx.recv().unwrap();
/// assert!(ran_on.starts_with("rstreams-timer-"));
/// assert_ne!(ran_on, "rstreams-timer-clock");
/// ```
pub fn timer() -> Timer {
    static TIMER: std::sync::OnceLock<Timer> = std::sync::OnceLock::new();
    TIMER
        .get_or_init(|| Timer::with_name("rstreams-timer"))
        .clone()
}

/// `now + after`, saturating: the instant `after` from `now`, or for a delay too long to be
/// practical (more than a century, up to `Duration::MAX`) an instant about a century away —
/// "practically never" — instead of an overflow panic.
///
/// Every built-in scheduler, time-based operator and timed wait of rstreams computes its
/// deadlines with this, so a timeout, period or delay of `Duration::MAX` means "never". Use it
/// for the deadlines of your own operators.
///
/// ```
/// use rstreams::scheduler::deadline;
/// use std::time::{Duration, Instant};
///
/// let now = Instant::now();
/// assert_eq!(deadline(now, Duration::from_secs(5)), now + Duration::from_secs(5));
/// let never = deadline(now, Duration::MAX); // no panic
/// assert!(never > now + Duration::from_secs(50 * 365 * 24 * 3600));
/// assert!(deadline(never, Duration::MAX) > never); // and again from there
/// ```
pub fn deadline(now: Instant, after: Duration) -> Instant {
    /// About a century: further than any timer of a running process needs to look.
    const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
    let mut after = after.min(FAR);
    loop {
        // A platform whose `Instant` cannot reach a century ahead gets the furthest it can.
        if let Some(at) = now.checked_add(after) {
            return at;
        }
        after /= 2;
    }
}

use crate::sync::{AtomicBool, Ordering};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// A unit of work for a [`Worker`].
///
/// Made from a closure ([`Task::new`], or `From`), or from a shared `Arc` that is run again each
/// time it is scheduled ([`Task::shared`]): a drain loop that reschedules itself per batch uses
/// the latter and allocates nothing per wake-up.
pub struct Task(TaskKind);

enum TaskKind {
    Once(Box<dyn FnOnce() + Send + 'static>),
    Shared(Arc<dyn Fn() + Send + Sync + 'static>),
}

impl Task {
    /// A task that runs `f` once.
    pub fn new(f: impl FnOnce() + Send + 'static) -> Self {
        Task(TaskKind::Once(Box::new(f)))
    }

    /// A task that calls a shared function; scheduling it again costs a reference count, not
    /// an allocation.
    pub fn shared(f: Arc<dyn Fn() + Send + Sync + 'static>) -> Self {
        Task(TaskKind::Shared(f))
    }

    /// Runs the task.
    pub fn run(self) {
        match self.0 {
            TaskKind::Once(f) => f(),
            TaskKind::Shared(f) => f(),
        }
    }
}

impl<F: FnOnce() + Send + 'static> From<F> for Task {
    fn from(f: F) -> Self {
        Task::new(f)
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            TaskKind::Once(_) => "Task::Once",
            TaskKind::Shared(_) => "Task::Shared",
        })
    }
}

/// A handle to a delayed task, to cancel it before it runs.
///
/// Cancelling frees the task at once: the built-in schedulers take it out of their timer
/// queue and drop it on the cancelling thread, so a task that is armed and cancelled over and
/// over (a batch timer, a timeout) holds no memory once cancelled. A task that was already
/// handed to its worker does not start; cancelling a task that already ran does nothing.
#[derive(Clone, Default)]
pub struct TaskHandle {
    shared: Arc<HandleShared>,
}

#[derive(Default)]
struct HandleShared {
    cancelled: AtomicBool,
    /// What takes the task out on cancel: the timer queue holding it (with its key there),
    /// or a scheduler's own hook; `None` for a task that is not queued by time (or a
    /// scheduler that runs it at once).
    queued: Option<Reclaimer>,
}

/// How a cancelled [`TaskHandle`] frees its task.
enum Reclaimer {
    /// A built-in timer queue, held weakly, and the task's key there.
    Queue(Weak<dyn Reclaim>, TimerKey),
    /// A scheduler's own hook ([`TaskHandle::on_cancel`]).
    Hook(Box<dyn Fn() + Send + Sync>),
}

impl TaskHandle {
    /// A handle that only records the cancel.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A handle whose cancel also takes the task with key `key` out of `queue`.
    pub(crate) fn queued(queue: Weak<dyn Reclaim>, key: TimerKey) -> Self {
        TaskHandle {
            shared: Arc::new(HandleShared {
                cancelled: AtomicBool::new(false),
                queued: Some(Reclaimer::Queue(queue, key)),
            }),
        }
    }

    /// A handle whose first [`cancel`](Self::cancel) also calls `reclaim`: for a scheduler
    /// outside this crate, to take the cancelled task out of its own timer queue and drop it
    /// at once. `reclaim` runs at most once, on the cancelling thread; it should hold its
    /// queue weakly (the queue usually holds the handle).
    ///
    /// The scheduler still checks [`is_cancelled`](Self::is_cancelled) before it runs the
    /// task, for a cancel that comes after the task left the queue.
    ///
    /// ```
    /// use rstreams::scheduler::TaskHandle;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let reclaimed = Arc::new(AtomicUsize::new(0));
    /// let r = reclaimed.clone();
    /// let handle = TaskHandle::on_cancel(move || {
    ///     r.fetch_add(1, Ordering::SeqCst);
    /// });
    /// handle.cancel();
    /// handle.cancel(); // idempotent: the hook ran once
    /// assert!(handle.is_cancelled());
    /// assert_eq!(reclaimed.load(Ordering::SeqCst), 1);
    /// ```
    pub fn on_cancel(reclaim: impl Fn() + Send + Sync + 'static) -> Self {
        TaskHandle {
            shared: Arc::new(HandleShared {
                cancelled: AtomicBool::new(false),
                queued: Some(Reclaimer::Hook(Box::new(reclaim))),
            }),
        }
    }

    /// Stops the task from running, if it has not run yet, and frees it.
    pub fn cancel(&self) {
        if self.shared.cancelled.swap(true, Ordering::AcqRel) {
            return; // cancelled before: freed then
        }
        match &self.shared.queued {
            Some(Reclaimer::Queue(queue, key)) => {
                if let Some(queue) = queue.upgrade() {
                    queue.reclaim(*key);
                }
            }
            Some(Reclaimer::Hook(reclaim)) => reclaim(),
            None => {}
        }
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.shared.cancelled.load(Ordering::Acquire)
    }
}

impl fmt::Debug for TaskHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// A serial executor: tasks given to one worker run one at a time, never concurrently, in the
/// order they become due (tasks due at the same instant run in the order they were given).
///
/// Operators take one worker per subscription, which keeps that subscription's signals serial
/// (§1.3) even on a multi-threaded scheduler.
pub trait Worker: Send + Sync {
    /// Runs `task` as soon as possible.
    fn schedule(&self, task: Task);

    /// Runs `task` once `delay` has passed on this worker's clock. A delay too long to be
    /// practical (up to `Duration::MAX`) means "never" (see [`deadline`]), not a panic.
    fn schedule_after(&self, delay: Duration, task: Task) -> TaskHandle;

    /// This worker's clock.
    fn now(&self) -> Instant;

    /// Whether this worker runs its tasks on threads of its own, beside the threads that
    /// schedule them ([`ThreadPool`]'s workers): a task may then wait a moment, spinning, for
    /// a signal another thread is about to give, as the drain loop of an asynchronous
    /// boundary and `subscribe_on`'s request task do, to save a wake-up per batch.
    ///
    /// `false` by default, and for workers that may run a task on the thread that scheduled
    /// it or that drives them ([`Immediate`], [`VirtualTime`]): there such a wait could only
    /// wait for itself.
    fn runs_on_own_threads(&self) -> bool {
        false
    }
}

/// Decides where and when work runs, and tells the time.
///
/// Implemented by [`Immediate`], [`ThreadPool`], [`Timer`] and [`VirtualTime`]. Schedulers are cheap
/// handles (`Clone`), passed by value to the operators that need one.
pub trait Scheduler: Send + Sync + 'static {
    /// A new serial worker. Each subscription that needs one takes its own.
    fn worker(&self) -> Arc<dyn Worker>;

    /// The scheduler's clock.
    fn now(&self) -> Instant;

    /// Runs `task` on some worker as soon as possible.
    fn schedule(&self, task: Task) {
        self.worker().schedule(task)
    }

    /// Runs `task` on some worker once `delay` has passed.
    fn schedule_after(&self, delay: Duration, task: Task) -> TaskHandle {
        self.worker().schedule_after(delay, task)
    }
}

impl<S: Scheduler + ?Sized> Scheduler for Arc<S> {
    fn worker(&self) -> Arc<dyn Worker> {
        (**self).worker()
    }
    fn now(&self) -> Instant {
        (**self).now()
    }
    fn schedule(&self, task: Task) {
        (**self).schedule(task)
    }
    fn schedule_after(&self, delay: Duration, task: Task) -> TaskHandle {
        (**self).schedule_after(delay, task)
    }
}

/// Where a delayed task sits in a [`TimerQueue`]: its due time, then its arrival order (so
/// that tasks due at the same instant run in the order they were given).
pub(crate) type TimerKey = (Instant, u64);

/// A timer queue that can take a cancelled task out: what a [`TaskHandle`] calls on cancel.
pub(crate) trait Reclaim: Send + Sync {
    /// Takes the task with key `key` out of the queue, if it is still there, and drops it
    /// (outside the queue's lock: dropping a task runs arbitrary code).
    fn reclaim(&self, key: TimerKey);
}

/// Delayed tasks by due time: the timer heap of every built-in scheduler.
///
/// Ordered by [`TimerKey`], so that the earliest task comes first and any task can be taken
/// out by its key when it is cancelled: the queue holds live timers only, however many are
/// armed and cancelled.
#[derive(Debug)]
pub(crate) struct TimerQueue<V> {
    entries: BTreeMap<TimerKey, V>,
    seq: u64,
}

impl<V> TimerQueue<V> {
    pub(crate) fn new() -> Self {
        TimerQueue {
            entries: BTreeMap::new(),
            seq: 0,
        }
    }

    /// A fresh key for a task due at `due`: after every task given before it.
    pub(crate) fn key(&mut self, due: Instant) -> TimerKey {
        self.seq += 1;
        (due, self.seq)
    }

    pub(crate) fn insert(&mut self, key: TimerKey, value: V) {
        self.entries.insert(key, value);
    }

    /// Takes the task with `key` out, if it is still queued.
    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<V> {
        self.entries.remove(&key)
    }

    /// When the earliest task is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.entries.first_key_value().map(|((due, _), _)| *due)
    }

    /// Takes out the earliest task if it is due at `now`, with its due time.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, V)> {
        let entry = self.entries.first_entry()?;
        if entry.key().0 > now {
            return None;
        }
        let due = entry.key().0;
        Some((due, entry.remove()))
    }

    /// How many tasks wait.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// A task with the handle that may cancel it.
pub(crate) struct Timed {
    pub(crate) task: Task,
    pub(crate) handle: Option<TaskHandle>,
}

impl Timed {
    /// A task that cannot be cancelled.
    pub(crate) fn now(task: Task) -> Self {
        Timed { task, handle: None }
    }

    /// Runs the task unless its handle was cancelled.
    pub(crate) fn run(self) {
        if self.handle.as_ref().is_some_and(TaskHandle::is_cancelled) {
            return;
        }
        self.task.run();
    }
}
