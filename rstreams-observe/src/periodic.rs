//! [`PeriodicTask`]: a job run every period on a scheduler, until stopped.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rstreams_core::scheduler::{Scheduler, Task, TaskHandle};
use rstreams_core::support::catch_panic;
use rstreams_core::sync::Mutex;

/// A job that runs every period on a scheduler until [`stop`](Self::stop) is called or the
/// handle is dropped: the periodic metrics export
/// ([`Registry::export_metrics_every`](crate::Registry::export_metrics_every)) and the stall
/// detector's scans ([`StallWatch`](crate::StallWatch)) run on one.
///
/// The first run is one period after the start; each run schedules the next when it is done,
/// so runs never overlap and a slow run delays the next rather than piling up. A panic in the
/// job is caught and the schedule goes on. Use a scheduler that runs delayed tasks later
/// ([`ThreadPool`](rstreams_core::scheduler::ThreadPool), the default
/// [`timer()`](rstreams_core::scheduler::timer),
/// [`VirtualTime`](rstreams_core::scheduler::VirtualTime)); on
/// [`Immediate`](rstreams_core::scheduler::Immediate), which blocks the caller for a delay,
/// the start would never return.
///
/// ```
/// use rstreams::scheduler::VirtualTime;
/// use rstreams::observe::Registry;
/// use std::time::Duration;
///
/// let clock = VirtualTime::new();
/// let export = Registry::new().export_metrics_every_on(clock.clone(), Duration::from_secs(10));
/// clock.advance_by(Duration::from_secs(30)); // three exports (to no recorder: a no-op)
/// export.stop();
/// assert!(export.is_stopped());
/// ```
pub struct PeriodicTask {
    inner: Arc<Inner>,
}

struct Inner {
    scheduler: Arc<dyn Scheduler>,
    period: Duration,
    job: Box<dyn Fn() + Send + Sync>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    stopped: bool,
    next: Option<TaskHandle>,
}

impl PeriodicTask {
    /// Runs `job` every `period` on `scheduler`.
    ///
    /// # Panics
    ///
    /// When `period` is zero.
    pub(crate) fn start(
        scheduler: Arc<dyn Scheduler>,
        period: Duration,
        job: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        assert!(
            !period.is_zero(),
            "the period must be greater than zero (got {period:?})"
        );
        let inner = Arc::new(Inner {
            scheduler,
            period,
            job: Box::new(job),
            state: Mutex::new(State::default()),
        });
        Inner::schedule_next(&inner);
        PeriodicTask { inner }
    }

    /// Stops the job: a run in progress finishes, no other starts. Idempotent.
    ///
    /// ```
    /// use rstreams::scheduler::VirtualTime;
    /// use rstreams::observe::Registry;
    /// use std::time::Duration;
    ///
    /// let clock = VirtualTime::new();
    /// let export = Registry::new().export_metrics_every_on(clock.clone(), Duration::from_secs(1));
    /// export.stop();
    /// export.stop();
    /// assert!(export.is_stopped());
    /// ```
    pub fn stop(&self) {
        let next = {
            let mut state = self.inner.state.lock();
            state.stopped = true;
            state.next.take()
        };
        if let Some(next) = next {
            next.cancel();
        }
    }

    /// Whether [`stop`](Self::stop) was called (or the handle is being dropped).
    ///
    /// ```
    /// use rstreams::scheduler::VirtualTime;
    /// use rstreams::observe::Registry;
    /// use std::time::Duration;
    ///
    /// let export = Registry::new().export_metrics_every_on(VirtualTime::new(), Duration::from_secs(1));
    /// assert!(!export.is_stopped());
    /// ```
    pub fn is_stopped(&self) -> bool {
        self.inner.state.lock().stopped
    }
}

impl Inner {
    fn schedule_next(this: &Arc<Self>) {
        if this.state.lock().stopped {
            return;
        }
        let me = Arc::clone(this);
        // Not under the lock: a scheduler may run the task before returning.
        let handle = this
            .scheduler
            .schedule_after(this.period, Task::new(move || Inner::run(&me)));
        let mut state = this.state.lock();
        if state.stopped {
            drop(state);
            handle.cancel();
        } else {
            state.next = Some(handle);
        }
    }

    fn run(this: &Arc<Self>) {
        if this.state.lock().stopped {
            return;
        }
        let _ = catch_panic("periodic job", || (this.job)());
        Inner::schedule_next(this);
    }
}

impl Drop for PeriodicTask {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for PeriodicTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeriodicTask")
            .field("period", &self.inner.period)
            .field("stopped", &self.is_stopped())
            .finish()
    }
}
