//! A [`Scheduler`] that runs rstreams work on a tokio runtime: [`TokioScheduler`].
//!
//! Users reach this crate through the facade as `rstreams::tokio`, with the facade's cargo
//! feature `tokio` (off by default): `rstreams = { version = "0.1", features = ["tokio"] }`.
//! The examples here use those paths.
//!
//! Give it to any operator that takes a scheduler (`publish_on`, `subscribe_on`, the `*_on`
//! variants of the time-based operators) to keep a pipeline's work on the runtime that the
//! rest of an async application already uses, instead of rstreams' own threads.
//!
//! - Each [`worker`](Scheduler::worker) is a serial executor: its tasks run one at a time, in
//!   order, as a task spawned on the runtime that exists only while the worker has work.
//! - Time is tokio's: delays sleep with `tokio::time::sleep_until` and
//!   [`now`](Scheduler::now) reads tokio's clock, so `tokio::time::pause()` and `advance` drive
//!   the timed operators in tests (no wall-clock waits).
//! - [`TaskHandle::cancel`] takes a delayed task out of its worker's queue and drops it at once.
//!
//! Tasks are synchronous closures run on the runtime's threads: as with any tokio task, they
//! must not block (a blocking wait, such as `SubscriberHandle::wait`, inside a task on a
//! current-thread runtime never returns). From async code, await the end of a pipeline with
//! `SubscriberHandle::wait_async` or `sink::collect_async` instead.
//!
//! ```
//! use rstreams::{sink, source};
//! use rstreams::ops::PublisherExt;
//! use rstreams::tokio::TokioScheduler;
//!
//! let runtime = tokio::runtime::Runtime::new().unwrap();
//! let on_tokio = source::range(0, 4).publish_on(TokioScheduler::new(runtime.handle().clone()), 2);
//! // `collect` blocks this (non-runtime) thread; the elements are delivered by tokio's threads.
//! assert_eq!(sink::collect(&on_tokio).unwrap(), vec![0, 1, 2, 3]);
//! ```

#![warn(clippy::disallowed_types)] // shared state goes through rstreams_core::sync (clippy.toml)

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rstreams_core::scheduler::{deadline, Scheduler, Task, TaskHandle, Worker};
use rstreams_core::sync::Mutex;
use tokio::runtime::Handle;
use tokio::sync::Notify;

/// How many tasks a worker runs in a row before it yields to the runtime, so that a busy
/// worker does not starve the other tasks of its runtime thread.
const BUDGET: u32 = 64;

/// A [`Scheduler`] on a tokio runtime: serial workers spawned on the runtime, and tokio's clock.
///
/// Cheap to clone (a runtime [`Handle`]). Works on current-thread and multi-thread runtimes;
/// on a current-thread runtime the work runs only while the runtime is driven (inside its
/// `block_on`).
///
/// With a paused clock (`tokio::time::pause()`, or `#[tokio::test(start_paused = true)]`),
/// delayed tasks fall due as the test advances the time, or as the runtime auto-advances when
/// idle:
///
/// ```
/// use rstreams::scheduler::{Scheduler, Task};
/// use rstreams::tokio::TokioScheduler;
/// use std::time::Duration;
///
/// let runtime = tokio::runtime::Builder::new_current_thread()
///     .enable_time()
///     .start_paused(true)
///     .build()
///     .unwrap();
/// runtime.block_on(async {
///     let scheduler = TokioScheduler::current();
///     let start = scheduler.now();
///     let (tx, rx) = tokio::sync::oneshot::channel();
///     scheduler.schedule_after(Duration::from_secs(60), Task::new(move || {
///         tx.send(()).unwrap();
///     }));
///     rx.await.unwrap(); // the paused clock jumps to the timer: no minute is waited
///     assert_eq!(scheduler.now() - start, Duration::from_secs(60));
/// });
/// ```
#[derive(Clone, Debug)]
pub struct TokioScheduler {
    handle: Handle,
}

impl TokioScheduler {
    /// A scheduler that runs its workers on the runtime of `handle`.
    ///
    /// The runtime needs its time driver (`enable_time`, or `enable_all`) for delayed tasks.
    ///
    /// ```
    /// use rstreams::scheduler::Scheduler;
    /// use rstreams::tokio::TokioScheduler;
    ///
    /// let runtime = tokio::runtime::Runtime::new().unwrap();
    /// let scheduler = TokioScheduler::new(runtime.handle().clone());
    /// let _worker = scheduler.worker();
    /// ```
    pub fn new(handle: Handle) -> Self {
        TokioScheduler { handle }
    }

    /// A scheduler on the runtime this is called from ([`Handle::current`]).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    ///
    /// ```
    /// use rstreams::tokio::TokioScheduler;
    ///
    /// let runtime = tokio::runtime::Runtime::new().unwrap();
    /// let scheduler = runtime.block_on(async { TokioScheduler::current() });
    /// # drop(scheduler);
    /// ```
    pub fn current() -> Self {
        TokioScheduler::new(Handle::current())
    }

    /// The runtime this scheduler spawns on.
    ///
    /// ```
    /// use rstreams::tokio::TokioScheduler;
    ///
    /// let runtime = tokio::runtime::Runtime::new().unwrap();
    /// let scheduler = TokioScheduler::new(runtime.handle().clone());
    /// assert_eq!(scheduler.handle().id(), runtime.handle().id());
    /// ```
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

/// tokio's clock for the runtime of `handle` (paused or not), as a std `Instant`.
fn tokio_now(handle: &Handle) -> Instant {
    // Entered, so that a call from outside the runtime reads the runtime's clock too.
    let _entered = handle.enter();
    tokio::time::Instant::now().into_std()
}

impl Scheduler for TokioScheduler {
    fn worker(&self) -> Arc<dyn Worker> {
        Arc::new(TokioWorker {
            shared: Arc::new(Shared {
                handle: self.handle.clone(),
                state: Mutex::new(State {
                    ready: VecDeque::new(),
                    timers: BTreeMap::new(),
                    seq: 0,
                    driving: false,
                }),
                wake: Notify::new(),
            }),
        })
    }

    fn now(&self) -> Instant {
        tokio_now(&self.handle)
    }
}

/// A serial worker of a [`TokioScheduler`].
struct TokioWorker {
    shared: Arc<Shared>,
}

impl fmt::Debug for TokioWorker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.lock();
        f.debug_struct("TokioWorker")
            .field("ready", &state.ready.len())
            .field("timers", &state.timers.len())
            .field("driving", &state.driving)
            .finish()
    }
}

struct Shared {
    handle: Handle,
    state: Mutex<State>,
    /// Wakes the driver when a task or a timer arrives while it waits.
    wake: Notify,
}

struct State {
    /// Tasks to run now, in order.
    ready: VecDeque<Timed>,
    /// Delayed tasks by due time, then arrival order.
    timers: BTreeMap<(Instant, u64), Timed>,
    seq: u64,
    /// Whether a driver task is spawned: at most one at a time, which is what makes the
    /// worker serial.
    driving: bool,
}

/// A task and, for a delayed one, the handle that may cancel it.
struct Timed {
    task: Task,
    handle: Option<TaskHandle>,
}

impl Timed {
    fn run(self) {
        if self.handle.as_ref().is_some_and(TaskHandle::is_cancelled) {
            return;
        }
        self.task.run();
    }
}

impl Shared {
    /// Spawns the driver if none runs, or wakes the one that waits. Called with the lock held.
    fn kick(self: &Arc<Self>, state: &mut State) {
        if state.driving {
            self.wake.notify_one(); // stored if the driver is not waiting yet: never lost
        } else {
            state.driving = true;
            self.handle.spawn(drive(Arc::clone(self)));
        }
    }
}

impl Worker for TokioWorker {
    fn schedule(&self, task: Task) {
        let mut state = self.shared.state.lock();
        state.ready.push_back(Timed { task, handle: None });
        self.shared.kick(&mut state);
    }

    fn schedule_after(&self, delay: Duration, task: Task) -> TaskHandle {
        let due = deadline(self.now(), delay);
        let mut state = self.shared.state.lock();
        state.seq += 1;
        let key = (due, state.seq);
        let queue: Weak<Shared> = Arc::downgrade(&self.shared);
        let handle = TaskHandle::on_cancel(move || {
            if let Some(shared) = queue.upgrade() {
                let removed = shared.state.lock().timers.remove(&key);
                drop(removed); // outside the lock: dropping a task runs arbitrary code
            }
        });
        state.timers.insert(
            key,
            Timed {
                task,
                handle: Some(handle.clone()),
            },
        );
        self.shared.kick(&mut state);
        handle
    }

    fn now(&self) -> Instant {
        tokio_now(&self.shared.handle)
    }
}

/// What the driver does next.
enum Step {
    Run(Timed),
    Sleep(Instant),
}

/// Runs a worker's tasks, one at a time, until it has none left (ready or delayed).
async fn drive(shared: Arc<Shared>) {
    // If a task panics (tokio catches it and drops this future) or the runtime shuts down,
    // the worker must not stay marked as driven: a panic hands the rest to a new driver.
    struct Driving<'a> {
        shared: &'a Arc<Shared>,
        armed: bool,
    }
    impl Drop for Driving<'_> {
        fn drop(&mut self) {
            if !self.armed {
                return;
            }
            let mut state = self.shared.state.lock();
            state.driving = false;
            let more = !state.ready.is_empty() || !state.timers.is_empty();
            if std::thread::panicking() && more {
                self.shared.kick(&mut state);
            }
        }
    }
    let mut guard = Driving {
        shared: &shared,
        armed: true,
    };
    let mut ran = 0u32;
    loop {
        let step = {
            let mut state = shared.state.lock();
            let now = tokio::time::Instant::now().into_std();
            while let Some(entry) = state.timers.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let timed = entry.remove();
                state.ready.push_back(timed);
            }
            if let Some(timed) = state.ready.pop_front() {
                Step::Run(timed)
            } else if let Some((due, _)) = state.timers.keys().next() {
                Step::Sleep(*due)
            } else {
                state.driving = false;
                guard.armed = false;
                return;
            }
        };
        match step {
            Step::Run(timed) => {
                timed.run();
                ran += 1;
                if ran == BUDGET {
                    ran = 0;
                    tokio::task::yield_now().await;
                }
            }
            Step::Sleep(due) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(tokio::time::Instant::from_std(due)) => {}
                    _ = shared.wake.notified() => {}
                }
            }
        }
    }
}
