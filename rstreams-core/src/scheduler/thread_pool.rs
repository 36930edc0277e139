//! The [`ThreadPool`] scheduler.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crate::sync::{AtomicUsize, Condvar, Mutex, Ordering};

use super::{deadline, Reclaim, Scheduler, Task, TaskHandle, Timed, TimerKey, TimerQueue, Worker};

/// A fixed set of named threads that run tasks.
///
/// - Each [`worker`](Scheduler::worker) is pinned to one thread (assigned round-robin), so the
///   tasks of one worker run serially and in order: a subscription that takes a worker gets
///   serial signals (§1.3) while different subscriptions spread over the threads.
/// - An idle thread watches for a new task for up to 20 µs (spinning for 1 µs, then yielding)
///   before it sleeps, so that the next batch of a stream hopping between threads does not pay
///   a system call to wake it; a thread whose tasks arrive more than 1 ms apart watches less
///   (halved per such gap, down to 1 µs). A thread with only delayed tasks then sleeps until
///   the earliest is due. [`ThreadPool::builder`] sets another watch, or none.
/// - Handles are cheap clones. The threads stop when the last handle, including every
///   [`Worker`] taken from the pool, is dropped: tasks already due still run, delayed ones are
///   dropped. When that last drop happens outside the pool, it waits for the threads to exit.
/// - A panicking task is caught and dropped; the thread goes on with the next task.
///
/// ```
/// use rstreams::scheduler::{Scheduler, Task, ThreadPool};
/// use std::sync::mpsc;
///
/// let pool = ThreadPool::new(2);
/// let (tx, rx) = mpsc::channel();
/// pool.schedule(Task::new(move || {
///     tx.send(std::thread::current().name().unwrap().to_owned()).unwrap();
/// }));
/// assert!(rx.recv().unwrap().starts_with("rstreams-pool-"));
/// ```
#[derive(Clone)]
pub struct ThreadPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    queues: Vec<Arc<ThreadQueue>>,
    joins: Mutex<Vec<JoinHandle<()>>>,
    thread_ids: Vec<ThreadId>,
    next: AtomicUsize,
    name: String,
}

struct ThreadQueue {
    state: Mutex<QueueState>,
    wakeup: Condvar,
    /// `state.ready.len()`, written under the lock whenever `ready` changes, so that an idle
    /// thread can watch for work without taking the lock.
    ready_len: AtomicUsize,
}

struct QueueState {
    ready: VecDeque<Timed>,
    timers: TimerQueue<Timed>,
    shutdown: bool,
}

// A process-wide id counter (names pool threads), not stream state; loom's atomics cannot be
// statics.
#[allow(clippy::disallowed_types)]
static POOL_IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl ThreadPool {
    /// A pool of `threads` threads named `rstreams-pool-<pool>-<index>`.
    ///
    /// # Panics
    ///
    /// When `threads` is 0, or the operating system refuses to start a thread.
    pub fn new(threads: usize) -> Self {
        let id = POOL_IDS.fetch_add(1, Ordering::Relaxed);
        Self::with_name(threads, &format!("rstreams-pool-{id}"))
    }

    /// A pool of `threads` threads named `<prefix>-<index>`.
    ///
    /// # Panics
    ///
    /// When `threads` is 0, or the operating system refuses to start a thread.
    pub fn with_name(threads: usize, prefix: &str) -> Self {
        Self::start(threads, prefix, Spin::MAX)
    }

    /// A builder for a pool of `threads` threads with settings of its own: its threads' name
    /// and how long an idle thread watches for a task before it sleeps.
    ///
    /// ```
    /// use rstreams::scheduler::{Scheduler, Task, ThreadPool};
    /// use std::time::Duration;
    ///
    /// // No watch: an idle thread sleeps at once (no spinning on a shared machine), and each
    /// // task that finds it asleep pays a system call to wake it.
    /// let pool = ThreadPool::builder(2).name("io").idle_watch(Duration::ZERO).build();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// pool.schedule(Task::new(move || {
    ///     tx.send(std::thread::current().name().unwrap().to_owned()).unwrap()
    /// }));
    /// assert!(rx.recv().unwrap().starts_with("io-"));
    /// ```
    ///
    /// # Panics
    ///
    /// [`build`](ThreadPoolBuilder::build) panics when `threads` is 0.
    pub fn builder(threads: usize) -> ThreadPoolBuilder {
        ThreadPoolBuilder {
            threads,
            name: None,
            idle_watch: Spin::MAX,
        }
    }

    fn start(threads: usize, prefix: &str, idle_watch: Duration) -> Self {
        assert!(
            threads > 0,
            "ThreadPool: threads must be at least 1 (got 0)"
        );
        let queues: Vec<Arc<ThreadQueue>> = (0..threads)
            .map(|_| {
                Arc::new(ThreadQueue {
                    state: Mutex::new(QueueState {
                        ready: VecDeque::new(),
                        timers: TimerQueue::new(),
                        shutdown: false,
                    }),
                    wakeup: Condvar::new(),
                    ready_len: AtomicUsize::new(0),
                })
            })
            .collect();
        let joins: Vec<JoinHandle<()>> = queues
            .iter()
            .enumerate()
            .map(|(i, q)| {
                let q = Arc::clone(q);
                std::thread::Builder::new()
                    .name(format!("{prefix}-{i}"))
                    .spawn(move || q.run(idle_watch))
                    .expect("ThreadPool: the operating system refused to start a thread")
            })
            .collect();
        let thread_ids = joins.iter().map(|j| j.thread().id()).collect();
        ThreadPool {
            inner: Arc::new(PoolInner {
                queues,
                joins: Mutex::new(joins),
                thread_ids,
                next: AtomicUsize::new(0),
                name: prefix.to_owned(),
            }),
        }
    }

    /// The number of threads.
    pub fn threads(&self) -> usize {
        self.inner.queues.len()
    }

    /// The number of delayed tasks waiting for their time, over all threads.
    ///
    /// A cancelled task is taken out at once (see [`TaskHandle::cancel`]), so this counts the
    /// live timers only, however many were armed and cancelled.
    ///
    /// ```
    /// use rstreams::scheduler::{Scheduler, Task, ThreadPool};
    /// use std::time::Duration;
    ///
    /// let pool = ThreadPool::new(1);
    /// let handle = pool.schedule_after(Duration::from_secs(3600), Task::new(|| {}));
    /// assert_eq!(pool.pending_timers(), 1);
    /// handle.cancel();
    /// assert_eq!(pool.pending_timers(), 0);
    /// ```
    pub fn pending_timers(&self) -> usize {
        self.inner
            .queues
            .iter()
            .map(|q| q.state.lock().timers.len())
            .sum()
    }

    fn pinned(&self) -> PoolWorker {
        let i = self.inner.next.fetch_add(1, Ordering::Relaxed) % self.inner.queues.len();
        PoolWorker {
            queue: Arc::clone(&self.inner.queues[i]),
            _pool: Arc::clone(&self.inner),
        }
    }
}

/// Settings for a [`ThreadPool`]: [`ThreadPool::builder`], then [`build`](Self::build).
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct ThreadPoolBuilder {
    threads: usize,
    /// The threads' name prefix; `None`: `rstreams-pool-<pool>`.
    name: Option<String>,
    idle_watch: Duration,
}

impl ThreadPoolBuilder {
    /// The most an idle thread may watch for work, 1 ms: the gap between tasks beyond which
    /// the pool counts its work as sparse (a longer watch would only keep a processor busy).
    pub const MAX_IDLE_WATCH: Duration = Duration::from_millis(1);

    /// Names the threads `<prefix>-<index>`.
    pub fn name(mut self, prefix: impl Into<String>) -> Self {
        self.name = Some(prefix.into());
        self
    }

    /// How long an idle thread watches for a new task before it sleeps (default 20 µs): the
    /// first microsecond spinning, the rest yielding between looks; halved for each gap of
    /// more than 1 ms between tasks, down to 1 µs (or to `watch`, if shorter), and back to
    /// `watch` when tasks come closer. [`Duration::ZERO`] turns the watch off: a thread sleeps
    /// as soon as it is idle, and a task that finds it asleep wakes it with a system call
    /// (tens of microseconds on a virtual machine).
    ///
    /// # Panics
    ///
    /// When `watch` is longer than [`MAX_IDLE_WATCH`](Self::MAX_IDLE_WATCH) (1 ms).
    pub fn idle_watch(mut self, watch: Duration) -> Self {
        assert!(
            watch <= Self::MAX_IDLE_WATCH,
            "ThreadPool::builder(..).idle_watch: watch must be at most 1 ms (valid range 0..=1 ms), got {watch:?}"
        );
        self.idle_watch = watch;
        self
    }

    /// Starts the pool's threads.
    ///
    /// # Panics
    ///
    /// When `threads` is 0, or the operating system refuses to start a thread.
    pub fn build(self) -> ThreadPool {
        match self.name {
            Some(prefix) => ThreadPool::start(self.threads, &prefix, self.idle_watch),
            None => {
                let id = POOL_IDS.fetch_add(1, Ordering::Relaxed);
                ThreadPool::start(
                    self.threads,
                    &format!("rstreams-pool-{id}"),
                    self.idle_watch,
                )
            }
        }
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("name", &self.inner.name)
            .field("threads", &self.inner.queues.len())
            .finish()
    }
}

impl Scheduler for ThreadPool {
    fn worker(&self) -> Arc<dyn Worker> {
        Arc::new(self.pinned())
    }
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn schedule(&self, task: Task) {
        self.pinned().schedule(task)
    }
    fn schedule_after(&self, delay: Duration, task: Task) -> TaskHandle {
        self.pinned().schedule_after(delay, task)
    }
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        for q in &self.queues {
            q.state.lock().shutdown = true;
            q.wakeup.notify_one();
        }
        // Wait for the threads, unless this drop runs on one of them (it would wait for itself).
        let current = std::thread::current().id();
        if !self.thread_ids.contains(&current) {
            for join in self.joins.lock().drain(..) {
                // A thread only ends by returning from its loop; task panics are caught there.
                let _ = join.join();
            }
        }
    }
}

/// A worker of a [`ThreadPool`]: pinned to one thread, keeps the pool alive.
struct PoolWorker {
    queue: Arc<ThreadQueue>,
    _pool: Arc<PoolInner>,
}

impl Worker for PoolWorker {
    fn schedule(&self, task: Task) {
        let mut state = self.queue.state.lock();
        state.ready.push_back(Timed::now(task));
        self.queue
            .ready_len
            .store(state.ready.len(), Ordering::Release);
        drop(state);
        // Cheap when the thread is running or spinning: parking_lot only makes a system call
        // for a thread that waits.
        self.queue.wakeup.notify_one();
    }

    fn runs_on_own_threads(&self) -> bool {
        true
    }

    fn schedule_after(&self, delay: Duration, task: Task) -> TaskHandle {
        let due = deadline(Instant::now(), delay);
        // Coerced first: the handle holds the queue weakly, as a queue it can reclaim from.
        let queue: Arc<dyn Reclaim> = self.queue.clone();
        let queue = Arc::downgrade(&queue);
        let mut state = self.queue.state.lock();
        let key = state.timers.key(due);
        let handle = TaskHandle::queued(queue, key);
        state.timers.insert(
            key,
            Timed {
                task,
                handle: Some(handle.clone()),
            },
        );
        drop(state);
        self.queue.wakeup.notify_one();
        handle
    }

    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// How long an idle pool thread watches for a task before it sleeps: a task that arrives
/// within it (the next batch of a stream that hops threads) costs no system call to wake the
/// thread, which on a virtual machine is tens of microseconds.
///
/// Bounded and adaptive: the pool's watch (`max`, by default `Spin::MAX`) while tasks arrive
/// less than `Spin::SPARSE` apart (a stream flowing through the pool), halved for each longer
/// gap down to `Spin::MIN`, or `max` if that is shorter (a pool
/// with sparse work spins a microsecond per idle moment). The first microsecond only spins;
/// the rest yields between looks, so that other threads get the processor, perhaps the other
/// side of the hand-off itself. (A two-thread hop at prefetch 16 still has a mode about 3.5×
/// slower, when both threads share one processor; see ARCHITECTURE.md, the thread hop.)
struct Spin {
    /// The watch of the next idle moment: `max` while work flows, halved per sparse gap down
    /// to `MIN` (or `max`, if shorter).
    budget: Duration,
    /// The pool's watch (`ThreadPoolBuilder::idle_watch`; `MAX` by default).
    max: Duration,
}

impl Spin {
    const MAX: Duration = Duration::from_micros(20);
    const MIN: Duration = Duration::from_micros(1);
    /// Work that arrives further apart than this is sparse: watching for it would mostly
    /// waste the processor, so each such gap halves the watch.
    const SPARSE: Duration = Duration::from_millis(1);
    /// Spin without yielding up to this long.
    const BUSY: Duration = Duration::from_micros(1);

    fn new(max: Duration) -> Self {
        Spin { budget: max, max }
    }

    /// A task arrived `gap` after the thread went idle: a gap shorter than `SPARSE` means work
    /// is flowing, and the watch is worth its full length; a longer one halves it.
    fn arrived_after(&mut self, gap: Duration) {
        self.budget = if gap <= Self::SPARSE {
            self.max
        } else {
            (self.budget / 2).max(Self::MIN.min(self.max))
        };
    }

    /// Whether the next idle moment is watched at all (a pool built with a zero watch: never).
    fn watches(&self) -> bool {
        !self.budget.is_zero()
    }

    /// Watches `ready_len` until it is non-zero or the budget is spent.
    fn watch(&mut self, ready_len: &AtomicUsize) {
        if cfg!(loom) || self.budget.is_zero() {
            return; // a model must not depend on spinning; a zero watch is no watch
        }
        let start = Instant::now();
        loop {
            for _ in 0..16 {
                if ready_len.load(Ordering::Acquire) != 0 {
                    return;
                }
                crate::sync::spin_loop();
            }
            let spent = start.elapsed();
            if spent >= self.budget {
                return;
            }
            if spent >= Self::BUSY {
                std::thread::yield_now();
            }
        }
    }
}

impl Reclaim for ThreadQueue {
    fn reclaim(&self, key: TimerKey) {
        let removed = self.state.lock().timers.remove(key);
        drop(removed); // outside the lock
    }
}

impl ThreadQueue {
    /// The loop of one pool thread.
    fn run(&self, idle_watch: Duration) {
        let mut spin = Spin::new(idle_watch);
        loop {
            let next = {
                let mut state = self.state.lock();
                // When this thread went idle (and watched for work without the lock), since
                // its last task; `None` while it has not.
                let mut idle_since: Option<Instant> = None;
                loop {
                    let now = Instant::now();
                    while let Some((_, due)) = state.timers.pop_due(now) {
                        state.ready.push_back(due);
                    }
                    if let Some(task) = state.ready.pop_front() {
                        self.ready_len.store(state.ready.len(), Ordering::Release);
                        if let Some(since) = idle_since {
                            spin.arrived_after(since.elapsed());
                        }
                        break Some(task);
                    }
                    if state.shutdown {
                        break None;
                    }
                    if idle_since.is_none() {
                        idle_since = Some(Instant::now());
                        if spin.watches() {
                            drop(state);
                            spin.watch(&self.ready_len);
                            state = self.state.lock();
                            continue;
                        }
                    }
                    match state.timers.next_due() {
                        Some(due) => {
                            self.wakeup.wait_until(&mut state, due);
                        }
                        None => self.wakeup.wait(&mut state),
                    }
                }
            };
            match next {
                // A panicking task must not take the thread, and every later task, with it.
                Some(task) => drop(catch_unwind(AssertUnwindSafe(|| task.run()))),
                None => return,
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::time::Duration;

    use super::Spin;

    const CLOSE: Duration = Duration::from_micros(100);
    const SPARSE_GAP: Duration = Duration::from_millis(5);

    #[test]
    fn the_watch_halves_per_sparse_gap_down_to_a_microsecond_and_returns_when_work_flows() {
        let mut spin = Spin::new(Duration::from_micros(20));
        assert!(spin.watches());
        spin.arrived_after(SPARSE_GAP);
        assert_eq!(spin.budget, Duration::from_micros(10));
        for _ in 0..10 {
            spin.arrived_after(SPARSE_GAP);
        }
        assert_eq!(spin.budget, Duration::from_micros(1));
        spin.arrived_after(CLOSE);
        assert_eq!(spin.budget, Duration::from_micros(20));
    }

    #[test]
    fn a_zero_watch_stays_zero_whatever_the_gaps() {
        let mut spin = Spin::new(Duration::ZERO);
        assert!(!spin.watches(), "an idle moment is not watched at all");
        spin.arrived_after(SPARSE_GAP);
        assert_eq!(spin.budget, Duration::ZERO);
        spin.arrived_after(CLOSE);
        assert_eq!(spin.budget, Duration::ZERO);
        // Returns at once, whatever is queued (nothing here).
        spin.watch(&crate::sync::AtomicUsize::new(0));
    }

    #[test]
    fn a_watch_shorter_than_a_microsecond_is_its_own_floor() {
        let mut spin = Spin::new(Duration::from_nanos(500));
        spin.arrived_after(SPARSE_GAP);
        assert_eq!(
            spin.budget,
            Duration::from_nanos(250).max(Duration::from_nanos(500))
        );
    }
}
