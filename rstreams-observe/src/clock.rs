//! The clock a registry reads: a scheduler's, or the process-wide monotonic clock.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rstreams_core::scheduler::Scheduler;

/// Time as a registry keeps it: nanoseconds since the clock's origin, in one `u64` (enough for
/// 584 years), so that a stage can store it in an atomic.
pub(crate) type Nanos = u64;

/// Where a registry's time comes from.
#[derive(Clone)]
pub(crate) enum Clock {
    /// The monotonic clock (`Instant::now`), as time since a process-wide origin.
    Wall,
    /// A scheduler's clock ([`Scheduler::now`]), as time since the registry was made: a
    /// [`VirtualTime`](rstreams_core::scheduler::VirtualTime) in tests.
    Scheduler {
        scheduler: Arc<dyn Scheduler>,
        origin: Instant,
    },
}

fn process_origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

impl Clock {
    pub(crate) fn wall() -> Self {
        process_origin();
        Clock::Wall
    }

    pub(crate) fn of(scheduler: Arc<dyn Scheduler>) -> Self {
        let origin = scheduler.now();
        Clock::Scheduler { scheduler, origin }
    }

    /// The time now.
    pub(crate) fn now(&self) -> Nanos {
        let since = match self {
            Clock::Wall => Instant::now().saturating_duration_since(process_origin()),
            Clock::Scheduler { scheduler, origin } => {
                scheduler.now().saturating_duration_since(*origin)
            }
        };
        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
    }
}

/// The time between two readings, `later` not before `earlier`.
pub(crate) fn between(earlier: Nanos, later: Nanos) -> Duration {
    Duration::from_nanos(later.saturating_sub(earlier))
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Clock::Wall => f.write_str("Clock::Wall"),
            Clock::Scheduler { .. } => f.write_str("Clock::Scheduler"),
        }
    }
}
