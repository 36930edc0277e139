//! The [`Timer`] scheduler, behind [`timer()`](fn@super::timer).

use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex};

use super::{deadline, Reclaim, Scheduler, Task, TaskHandle, Timed, TimerKey, TimerQueue, Worker};

/// How long an idle pool thread waits for work before it exits (the last one stays).
const KEEP_ALIVE: Duration = Duration::from_secs(60);

/// How many tasks of one worker run in a row before the thread turns to other workers.
const BUDGET: usize = 64;

/// A scheduler whose clock never runs a task: one thread keeps the time and hands each task
/// that falls due to its worker; the workers run on a pool that grows when all its threads
/// are busy.
///
/// This is the scheduler behind [`timer()`](fn@super::timer), which the time-based operators use
/// when given none. Their ticks deliver batches, request from synchronous upstreams, scan for
/// stalls — they run subscribers' code, which may be slow or block. Here that code can hold
/// up only its own worker:
///
/// - The **clock thread** (`<prefix>-clock`) sleeps until the earliest delayed task is due,
///   then moves it to its worker's queue. It runs no task, so a task that blocks cannot delay
///   another worker's timers.
/// - A **worker** is a serial queue: its tasks run one at a time, in order (a subscription
///   that takes a worker gets serial signals, §1.3), on whichever pool thread is free; it
///   gives its thread up after 64 tasks in a row when others wait.
/// - The **pool threads** (`<prefix>-<n>`) run workers with tasks. When a worker has work and
///   no thread is idle, a thread is added, up to ten per core (at least 16): a blocked worker
///   holds one thread and the others go on. A thread idle for 60 s exits (the last one
///   stays). Past the cap, workers with work wait for a free thread.
/// - A panicking task is caught and dropped; its worker goes on with the next task.
/// - Handles are cheap clones. When the last one, including every [`Worker`] taken from the
///   timer, is dropped, the clock thread stops and the delayed tasks are dropped; tasks
///   already due still run, then the pool threads exit.
///
/// ```
/// use rstreams::scheduler::{Scheduler, Task, Timer};
/// use std::sync::mpsc;
/// use std::time::Duration;
///
/// let timer = Timer::with_name("ticks");
/// let (tx, rx) = mpsc::channel();
/// timer.schedule_after(Duration::from_millis(1), Task::new(move || {
///     tx.send(std::thread::current().name().unwrap().to_owned()).unwrap();
/// }));
/// let ran_on = rx.recv().unwrap();
/// assert!(ran_on.starts_with("ticks-") && ran_on != "ticks-clock");
/// ```
#[derive(Clone)]
pub struct Timer {
    inner: Arc<TimerInner>,
}

struct TimerInner {
    clock: Arc<Clock>,
    pool: Arc<Pool>,
    clock_thread: Mutex<Option<JoinHandle<()>>>,
    name: String,
}

/// The delayed tasks, each with the worker it goes to when due.
struct Clock {
    state: Mutex<ClockState>,
    wakeup: Condvar,
}

struct ClockState {
    timers: TimerQueue<(Arc<Strand>, Timed)>,
    shutdown: bool,
}

/// The threads that run workers.
struct Pool {
    state: Mutex<PoolState>,
    wakeup: Condvar,
    prefix: String,
    max_threads: usize,
}

struct PoolState {
    /// Workers with tasks, waiting for a thread.
    runnable: VecDeque<Arc<Strand>>,
    threads: usize,
    /// Threads waiting for work.
    idle: usize,
    /// Numbers the threads in their names.
    started: u64,
    shutdown: bool,
}

/// A worker's queue: its tasks run one at a time, on one pool thread at a time.
struct Strand {
    state: Mutex<StrandState>,
    pool: Arc<Pool>,
}

struct StrandState {
    tasks: VecDeque<Timed>,
    /// In the pool's queue or running: whoever set it runs the tasks.
    scheduled: bool,
}

impl Timer {
    /// A timer whose clock thread is named `<prefix>-clock` and whose pool threads are named
    /// `<prefix>-<n>`. One pool thread starts now, the others when work needs them.
    ///
    /// # Panics
    ///
    /// When the operating system refuses to start a thread.
    pub fn with_name(prefix: &str) -> Self {
        let clock = Arc::new(Clock {
            state: Mutex::new(ClockState {
                timers: TimerQueue::new(),
                shutdown: false,
            }),
            wakeup: Condvar::new(),
        });
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let pool = Arc::new(Pool {
            state: Mutex::new(PoolState {
                runnable: VecDeque::new(),
                threads: 0,
                idle: 0,
                started: 0,
                shutdown: false,
            }),
            wakeup: Condvar::new(),
            prefix: prefix.to_owned(),
            max_threads: (10 * cores).max(16),
        });
        pool.state.lock().threads = 1;
        Pool::spawn(&pool, 0).expect("Timer: the operating system refused to start a thread");
        let ticking = Arc::clone(&clock);
        let clock_thread = std::thread::Builder::new()
            .name(format!("{prefix}-clock"))
            .spawn(move || ticking.run())
            .expect("Timer: the operating system refused to start a thread");
        Timer {
            inner: Arc::new(TimerInner {
                clock,
                pool,
                clock_thread: Mutex::new(Some(clock_thread)),
                name: prefix.to_owned(),
            }),
        }
    }

    /// The number of delayed tasks waiting for their time.
    ///
    /// A cancelled task is taken out at once (see [`TaskHandle::cancel`]), so this counts the
    /// live timers only, however many were armed and cancelled.
    ///
    /// ```
    /// use rstreams::scheduler::{Scheduler, Task, Timer};
    /// use std::time::Duration;
    ///
    /// let timer = Timer::with_name("pending-doc");
    /// let handle = timer.schedule_after(Duration::from_secs(3600), Task::new(|| {}));
    /// assert_eq!(timer.pending_timers(), 1);
    /// handle.cancel();
    /// assert_eq!(timer.pending_timers(), 0);
    /// ```
    pub fn pending_timers(&self) -> usize {
        self.inner.clock.state.lock().timers.len()
    }

    fn strand(&self) -> TimerWorker {
        TimerWorker {
            strand: Arc::new(Strand {
                state: Mutex::new(StrandState {
                    tasks: VecDeque::new(),
                    scheduled: false,
                }),
                pool: Arc::clone(&self.inner.pool),
            }),
            timer: Arc::clone(&self.inner),
        }
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let threads = self.inner.pool.state.lock().threads;
        f.debug_struct("Timer")
            .field("name", &self.inner.name)
            .field("threads", &threads)
            .field("pending_timers", &self.pending_timers())
            .finish()
    }
}

impl Scheduler for Timer {
    fn worker(&self) -> Arc<dyn Worker> {
        Arc::new(self.strand())
    }
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn schedule(&self, task: Task) {
        self.strand().schedule(task)
    }
    fn schedule_after(&self, delay: Duration, task: Task) -> TaskHandle {
        self.strand().schedule_after(delay, task)
    }
}

impl Drop for TimerInner {
    fn drop(&mut self) {
        let timers = {
            let mut state = self.clock.state.lock();
            state.shutdown = true;
            std::mem::replace(&mut state.timers, TimerQueue::new())
        };
        self.clock.wakeup.notify_one();
        drop(timers); // the delayed tasks, outside the lock
        self.pool.state.lock().shutdown = true;
        self.pool.wakeup.notify_all();
        // The clock thread runs no task, so this drop never runs on it: wait for it. The pool
        // threads exit on their own once the tasks already due have run (this drop may run on
        // one of them).
        if let Some(clock) = self.clock_thread.lock().take() {
            let _ = clock.join();
        }
    }
}

/// A worker of a [`Timer`]: a serial queue of its own; keeps the timer alive.
struct TimerWorker {
    strand: Arc<Strand>,
    timer: Arc<TimerInner>,
}

impl Worker for TimerWorker {
    fn schedule(&self, task: Task) {
        Strand::push(&self.strand, Timed::now(task));
    }

    fn schedule_after(&self, delay: Duration, task: Task) -> TaskHandle {
        let clock = &self.timer.clock;
        let due = deadline(Instant::now(), delay);
        // Coerced first: the handle holds the clock weakly, as a queue it can reclaim from.
        let queue: Arc<dyn Reclaim> = clock.clone();
        let queue = Arc::downgrade(&queue);
        let mut state = clock.state.lock();
        let key = state.timers.key(due);
        let handle = TaskHandle::queued(queue, key);
        let earliest = state.timers.next_due().is_none_or(|next| due < next);
        let timed = Timed {
            task,
            handle: Some(handle.clone()),
        };
        state.timers.insert(key, (Arc::clone(&self.strand), timed));
        drop(state);
        if earliest {
            clock.wakeup.notify_one();
        }
        handle
    }

    fn now(&self) -> Instant {
        Instant::now()
    }
}

impl Reclaim for Clock {
    fn reclaim(&self, key: TimerKey) {
        let removed = self.state.lock().timers.remove(key);
        drop(removed); // outside the lock
    }
}

impl Clock {
    /// The loop of the clock thread: hands each task that falls due to its worker. Runs no
    /// task and drops none (a handed-off task is moved, a cancelled one is dropped by its
    /// canceller, the rest by the timer's last handle).
    fn run(&self) {
        let mut due = Vec::new();
        let mut state = self.state.lock();
        loop {
            if state.shutdown {
                return;
            }
            let now = Instant::now();
            while let Some((_, entry)) = state.timers.pop_due(now) {
                due.push(entry);
            }
            if !due.is_empty() {
                drop(state);
                for (strand, timed) in due.drain(..) {
                    Strand::push(&strand, timed);
                }
                state = self.state.lock();
                continue;
            }
            match state.timers.next_due() {
                Some(next) => {
                    self.wakeup.wait_until(&mut state, next);
                }
                None => self.wakeup.wait(&mut state),
            }
        }
    }
}

impl Strand {
    /// Queues `timed`; hands the worker to the pool if it was idle.
    fn push(this: &Arc<Self>, timed: Timed) {
        let idle = {
            let mut state = this.state.lock();
            state.tasks.push_back(timed);
            !std::mem::replace(&mut state.scheduled, true)
        };
        if idle {
            Pool::submit(&this.pool, Arc::clone(this));
        }
    }

    /// Runs the queued tasks, one at a time; after [`BUDGET`] of them, goes back to the end
    /// of the pool's queue so that other workers get a turn.
    fn run(this: &Arc<Self>) {
        for _ in 0..BUDGET {
            let next = {
                let mut state = this.state.lock();
                let next = state.tasks.pop_front();
                if next.is_none() {
                    state.scheduled = false;
                }
                next
            };
            match next {
                // A panicking task must not take the thread, or its worker, with it.
                Some(timed) => drop(catch_unwind(AssertUnwindSafe(|| timed.run()))),
                None => return,
            }
        }
        Pool::submit(&this.pool, Arc::clone(this));
    }
}

impl Pool {
    /// Queues a worker that has tasks; adds a thread if none is idle to take it.
    fn submit(this: &Arc<Self>, strand: Arc<Strand>) {
        let spawn = {
            let mut state = this.state.lock();
            state.runnable.push_back(strand);
            if state.runnable.len() > state.idle && state.threads < this.max_threads {
                state.threads += 1;
                state.started += 1;
                Some(state.started)
            } else {
                None
            }
        };
        match spawn {
            Some(n) => {
                if Pool::spawn(this, n).is_err() {
                    // The threads there are will take the work in turn.
                    this.state.lock().threads -= 1;
                }
            }
            None => this.wakeup.notify_one(),
        }
    }

    /// Starts pool thread number `n` (already counted in `threads`).
    fn spawn(this: &Arc<Self>, n: u64) -> std::io::Result<()> {
        let pool = Arc::clone(this);
        std::thread::Builder::new()
            .name(format!("{}-{n}", this.prefix))
            .spawn(move || pool.run())
            .map(drop)
    }

    /// The loop of a pool thread.
    fn run(&self) {
        let mut state = self.state.lock();
        loop {
            if let Some(strand) = state.runnable.pop_front() {
                drop(state);
                Strand::run(&strand);
                drop(strand);
                state = self.state.lock();
                continue;
            }
            if state.shutdown {
                state.threads -= 1;
                return;
            }
            state.idle += 1;
            let timed_out = self
                .wakeup
                .wait_until(&mut state, Instant::now() + KEEP_ALIVE);
            state.idle -= 1;
            if timed_out && state.runnable.is_empty() && state.threads > 1 {
                state.threads -= 1;
                return;
            }
        }
    }
}
