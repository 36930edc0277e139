//! Where and when work runs: the [`Scheduler`] trait and its built-ins.
//!
//! | scheduler | runs tasks | time |
//! |---|---|---|
//! | [`Immediate`] | on the calling thread, trampolined (a task scheduled from a task runs after it, not inside it) | the wall clock; delays block the caller |
//! | [`ThreadPool`] | on a fixed set of named threads; each [`Worker`] is pinned to one thread | the wall clock |
//! | [`VirtualTime`] | on the thread that advances the clock | a clock moved by hand, for tests |
//!
//! [`timer()`] is the shared default for time-based operators given no scheduler.
//!
//! Time-based operators and sources read the time only through [`Scheduler::now`] /
//! [`Worker::now`], never from the wall clock directly, so each of them can be tested on
//! [`VirtualTime`] deterministically.

mod immediate;
mod thread_pool;
mod virtual_time;

pub use immediate::Immediate;
pub use thread_pool::ThreadPool;
pub use virtual_time::VirtualTime;

/// The scheduler that time-based operators use when none is given: one process-wide
/// [`ThreadPool`] of one thread, named `rstreams-timer-0`, started on first use.
///
/// Each operator has a variant that takes a scheduler explicitly (for tests on
/// [`VirtualTime`], or to share a pool of your own).
///
/// ```
/// use rstreams_core::scheduler::{timer, Scheduler, Task};
/// use std::sync::mpsc;
///
/// let (tx, rx) = mpsc::channel();
/// timer().schedule(Task::new(move || {
///     tx.send(std::thread::current().name().unwrap().to_owned()).unwrap()
/// }));
/// assert_eq!(rx.recv().unwrap(), "rstreams-timer-0");
/// ```
pub fn timer() -> ThreadPool {
    static TIMER: std::sync::OnceLock<ThreadPool> = std::sync::OnceLock::new();
    TIMER
        .get_or_init(|| ThreadPool::with_name(1, "rstreams-timer"))
        .clone()
}

use crate::sync::{AtomicBool, Ordering};
use std::fmt;
use std::sync::Arc;
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
/// Cancelling is a flag: the task is dropped, not run, when its time comes. Cancelling a task
/// that already ran does nothing.
#[derive(Debug, Clone, Default)]
pub struct TaskHandle {
    cancelled: Arc<AtomicBool>,
}

impl TaskHandle {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Stops the task from running, if it has not run yet.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
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

    /// Runs `task` once `delay` has passed on this worker's clock.
    fn schedule_after(&self, delay: Duration, task: Task) -> TaskHandle;

    /// This worker's clock.
    fn now(&self) -> Instant;
}

/// Decides where and when work runs, and tells the time.
///
/// Implemented by [`Immediate`], [`ThreadPool`] and [`VirtualTime`]. Schedulers are cheap
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

/// A task waiting for its time in a timer queue, ordered by due time, then by arrival.
pub(crate) struct Timed {
    pub(crate) due: Instant,
    pub(crate) seq: u64,
    pub(crate) task: Task,
    pub(crate) handle: Option<TaskHandle>,
}

impl Timed {
    /// Runs the task unless its handle was cancelled.
    pub(crate) fn run(self) {
        if self.handle.as_ref().is_some_and(TaskHandle::is_cancelled) {
            return;
        }
        self.task.run();
    }
}

impl PartialEq for Timed {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due && self.seq == other.seq
    }
}
impl Eq for Timed {}
impl PartialOrd for Timed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timed {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest task first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}
