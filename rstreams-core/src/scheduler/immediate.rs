//! The [`Immediate`] scheduler.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Scheduler, Task, TaskHandle, Worker};

/// Runs tasks on the calling thread.
///
/// Trampolined: a task scheduled while another task runs on the same thread is queued and runs
/// after it, so a task that reschedules itself does not grow the stack. A delayed task blocks
/// the calling thread for the delay (use [`ThreadPool`](super::ThreadPool) or
/// [`VirtualTime`](super::VirtualTime) for timers).
///
/// ```
/// use rstreams::scheduler::{Immediate, Scheduler, Task};
/// use std::sync::{Arc, Mutex};
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let l = log.clone();
/// Immediate.schedule(Task::new(move || {
///     let inner = l.clone();
///     Immediate.schedule(Task::new(move || inner.lock().unwrap().push("second")));
///     l.lock().unwrap().push("first");
/// }));
/// assert_eq!(*log.lock().unwrap(), vec!["first", "second"]);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Immediate;

thread_local! {
    /// The tasks queued behind the one running on this thread; `None` when none runs.
    static TRAMPOLINE: RefCell<Option<VecDeque<Task>>> = const { RefCell::new(None) };
}

fn run_trampolined(task: Task) {
    let queued = TRAMPOLINE.with(|t| {
        let mut t = t.borrow_mut();
        match t.as_mut() {
            Some(queue) => {
                queue.push_back(task);
                None
            }
            None => {
                *t = Some(VecDeque::new());
                Some(task)
            }
        }
    });
    let Some(first) = queued else { return };
    // Clears the trampoline even if a task panics, so the thread can schedule again.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            TRAMPOLINE.with(|t| *t.borrow_mut() = None);
        }
    }
    let _reset = Reset;
    first.run();
    while let Some(next) =
        TRAMPOLINE.with(|t| t.borrow_mut().as_mut().and_then(VecDeque::pop_front))
    {
        next.run();
    }
}

/// The worker of [`Immediate`]: the same behaviour, as a [`Worker`].
struct ImmediateWorker;

impl Worker for ImmediateWorker {
    fn schedule(&self, task: Task) {
        run_trampolined(task);
    }

    fn schedule_after(&self, delay: Duration, task: Task) -> TaskHandle {
        schedule_after(delay, task)
    }

    fn now(&self) -> Instant {
        Instant::now()
    }
}

fn schedule_after(delay: Duration, task: Task) -> TaskHandle {
    let handle = TaskHandle::new();
    std::thread::sleep(delay);
    run_trampolined(task);
    handle
}

impl Scheduler for Immediate {
    fn worker(&self) -> Arc<dyn Worker> {
        Arc::new(ImmediateWorker)
    }
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn schedule(&self, task: Task) {
        run_trampolined(task);
    }
    fn schedule_after(&self, delay: Duration, task: Task) -> TaskHandle {
        schedule_after(delay, task)
    }
}
