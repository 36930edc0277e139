//! The [`VirtualTime`] scheduler.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sync::Mutex;

use super::{deadline, Reclaim, Scheduler, Task, TaskHandle, Timed, TimerKey, TimerQueue, Worker};

/// A scheduler whose clock moves only when told to: time-based operators tested on it run
/// deterministically and in no time.
///
/// - A task scheduled without delay runs at once, on the calling thread (trampolined: one
///   scheduled from inside a task runs after that task).
/// - A delayed task runs when [`advance_by`](Self::advance_by) moves the clock past its due
///   time; during that call the clock reads the task's due time, and tasks run in due order.
/// - All workers share the one clock and queue, so every task runs serially.
///
/// ```
/// use rstreams::scheduler::{Scheduler, Task, VirtualTime};
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let vt = VirtualTime::new();
/// let fired = Arc::new(AtomicBool::new(false));
/// let f = fired.clone();
/// vt.schedule_after(Duration::from_secs(60), Task::new(move || f.store(true, Ordering::SeqCst)));
/// vt.advance_by(Duration::from_secs(59));
/// assert!(!fired.load(Ordering::SeqCst));
/// vt.advance_by(Duration::from_secs(1));
/// assert!(fired.load(Ordering::SeqCst));
/// assert_eq!(vt.elapsed(), Duration::from_secs(60));
/// ```
#[derive(Clone)]
pub struct VirtualTime {
    inner: Arc<Inner>,
}

struct Inner {
    origin: Instant,
    state: Mutex<State>,
}

struct State {
    /// Time since `origin` as the clock reads it now.
    now: Duration,
    /// How far the clock has been told to go; tasks due up to here run.
    horizon: Duration,
    queue: TimerQueue<Timed>,
    running: bool,
}

impl VirtualTime {
    /// A clock at zero with no tasks.
    pub fn new() -> Self {
        VirtualTime {
            inner: Arc::new(Inner {
                origin: Instant::now(),
                state: Mutex::new(State {
                    now: Duration::ZERO,
                    horizon: Duration::ZERO,
                    queue: TimerQueue::new(),
                    running: false,
                }),
            }),
        }
    }

    /// How much virtual time has passed since the scheduler was made.
    pub fn elapsed(&self) -> Duration {
        self.inner.state.lock().now
    }

    /// Moves the clock forward by `by`, running every task that falls due, in due order.
    ///
    /// Called from inside a task, it extends how far the running call goes and returns.
    pub fn advance_by(&self, by: Duration) {
        {
            let mut state = self.inner.state.lock();
            let target = deadline(self.inner.origin + state.now, by) - self.inner.origin;
            state.horizon = state.horizon.max(target);
        }
        self.run_due();
    }

    /// Moves the clock to `instant` (if it is ahead), running what falls due.
    pub fn advance_to(&self, instant: Instant) {
        let target = instant.saturating_duration_since(self.inner.origin);
        let now = self.elapsed();
        if target > now {
            self.advance_by(target - now);
        }
    }

    /// The number of tasks waiting for their time.
    ///
    /// A cancelled task is taken out at once (see [`TaskHandle::cancel`]), so this counts the
    /// live timers only, however many were armed and cancelled.
    ///
    /// ```
    /// use rstreams::scheduler::{Scheduler, Task, VirtualTime};
    /// use std::time::Duration;
    ///
    /// let vt = VirtualTime::new();
    /// let handle = vt.schedule_after(Duration::from_secs(1), Task::new(|| {}));
    /// assert_eq!(vt.pending(), 1);
    /// handle.cancel();
    /// assert_eq!(vt.pending(), 0);
    /// ```
    pub fn pending(&self) -> usize {
        self.inner.state.lock().queue.len()
    }

    /// Queues `task` to run `delay` from now; with a handle that can take it out again when
    /// `cancellable`.
    fn push(&self, delay: Duration, task: Task, cancellable: bool) -> Option<TaskHandle> {
        // Coerced first: the handle holds the queue weakly, as a queue it can reclaim from.
        let inner: Arc<dyn Reclaim> = self.inner.clone();
        let queue = Arc::downgrade(&inner);
        let mut state = self.inner.state.lock();
        let due = deadline(self.inner.origin + state.now, delay);
        let key = state.queue.key(due);
        let handle = cancellable.then(|| TaskHandle::queued(queue, key));
        let timed = Timed {
            task,
            handle: handle.clone(),
        };
        state.queue.insert(key, timed);
        handle
    }

    fn run_due(&self) {
        {
            let mut state = self.inner.state.lock();
            if state.running {
                return; // the running loop picks the new work up
            }
            state.running = true;
        }
        // Clears `running` even when a task panics (the panic reaches the test).
        struct Done<'a>(&'a Inner);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                let mut state = self.0.state.lock();
                state.running = false;
                state.now = state.now.max(state.horizon);
            }
        }
        let _done = Done(&self.inner);
        loop {
            let task = {
                let mut state = self.inner.state.lock();
                let horizon = self.inner.origin + state.horizon.max(state.now);
                if let Some((due, task)) = state.queue.pop_due(horizon) {
                    let at = due.saturating_duration_since(self.inner.origin);
                    state.now = state.now.max(at);
                    task
                } else {
                    state.now = state.now.max(state.horizon);
                    break;
                }
            };
            task.run();
        }
    }
}

impl Reclaim for Inner {
    fn reclaim(&self, key: TimerKey) {
        let removed = self.state.lock().queue.remove(key);
        drop(removed); // outside the lock
    }
}

impl Default for VirtualTime {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for VirtualTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.lock();
        f.debug_struct("VirtualTime")
            .field("elapsed", &state.now)
            .field("pending", &state.queue.len())
            .finish()
    }
}

/// The worker of [`VirtualTime`]: every worker shares the one clock and queue.
struct VirtualWorker(VirtualTime);

impl Worker for VirtualWorker {
    fn schedule(&self, task: Task) {
        Scheduler::schedule(&self.0, task)
    }
    fn schedule_after(&self, delay: Duration, task: Task) -> TaskHandle {
        Scheduler::schedule_after(&self.0, delay, task)
    }
    fn now(&self) -> Instant {
        Scheduler::now(&self.0)
    }
}

impl Scheduler for VirtualTime {
    fn worker(&self) -> Arc<dyn Worker> {
        Arc::new(VirtualWorker(self.clone()))
    }

    fn now(&self) -> Instant {
        self.inner.origin + self.inner.state.lock().now
    }

    fn schedule(&self, task: Task) {
        self.push(Duration::ZERO, task, false);
        self.run_due();
    }

    fn schedule_after(&self, delay: Duration, task: Task) -> TaskHandle {
        let handle = self
            .push(delay, task, true)
            .expect("a cancellable task has a handle");
        if delay.is_zero() {
            self.run_due();
        }
        handle
    }
}
