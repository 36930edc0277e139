//! The timer slot: one pending timer per stage, re-armed and cancelled with a generation so
//! that a stale tick does nothing.

use std::sync::Arc;
use std::time::Duration;

use crate::scheduler::{Task, TaskHandle, Worker};
use crate::sync::Mutex;

/// At most one pending timer of a stage (a batch deadline, a timeout, a debounce window).
///
/// [`arm`](Self::arm) cancels the timer it replaces and returns a generation; the task
/// [`fire`](Self::fire)s with it, and firing succeeds only if the slot still holds that
/// generation — a tick of a timer that was re-armed or cancelled meanwhile does nothing, even
/// if it raced past its cancel. [`cancel`](Self::cancel) disarms.
///
/// ```
/// use rstreams::scheduler::{Scheduler, VirtualTime};
/// use rstreams::support::TimerSlot;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let clock = VirtualTime::new();
/// let slot = Arc::new(TimerSlot::new());
/// let fired = Arc::new(AtomicUsize::new(0));
/// let arm = |delay| {
///     let (slot2, fired2) = (Arc::clone(&slot), Arc::clone(&fired));
///     slot.arm(&clock.worker(), delay, move |generation| {
///         if slot2.fire(generation) {
///             fired2.fetch_add(1, Ordering::SeqCst);
///         }
///     });
/// };
/// arm(Duration::from_secs(1));
/// arm(Duration::from_secs(5)); // re-armed: the first tick is stale
/// clock.advance_by(Duration::from_secs(2));
/// assert_eq!(fired.load(Ordering::SeqCst), 0);
/// clock.advance_by(Duration::from_secs(3));
/// assert_eq!(fired.load(Ordering::SeqCst), 1);
/// ```
#[derive(Debug, Default)]
pub struct TimerSlot {
    state: Mutex<SlotState>,
}

#[derive(Debug, Default)]
struct SlotState {
    /// Counts arms and cancels; a tick is current only if it carries the latest value.
    generation: u64,
    /// The pending timer, to cancel when re-armed or disarmed; `None` when disarmed or fired.
    pending: Option<TaskHandle>,
}

impl TimerSlot {
    /// A disarmed slot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms the slot: cancels the pending timer, if any, and schedules `tick` on `worker`
    /// after `delay`, with the new generation. Returns that generation.
    pub fn arm(
        &self,
        worker: &Arc<dyn Worker>,
        delay: Duration,
        tick: impl FnOnce(u64) + Send + 'static,
    ) -> u64 {
        let (generation, old) = {
            let mut state = self.state.lock();
            state.generation = state.generation.wrapping_add(1);
            (state.generation, state.pending.take())
        };
        // Outside the lock: cancelling drops the old tick, which may run arbitrary code.
        if let Some(old) = old {
            old.cancel();
        }
        let handle = worker.schedule_after(delay, Task::new(move || tick(generation)));
        let mut state = self.state.lock();
        if state.generation == generation {
            state.pending = Some(handle);
        } else {
            drop(state);
            handle.cancel(); // re-armed or cancelled while scheduling
        }
        generation
    }

    /// Called by the tick: `true` (and the slot disarmed) if `generation` is still current,
    /// `false` for a stale tick.
    pub fn fire(&self, generation: u64) -> bool {
        let mut state = self.state.lock();
        if state.generation != generation {
            return false;
        }
        state.generation = state.generation.wrapping_add(1);
        state.pending = None;
        true
    }

    /// Disarms: the pending timer, if any, is cancelled and its tick will do nothing.
    pub fn cancel(&self) {
        let pending = {
            let mut state = self.state.lock();
            state.generation = state.generation.wrapping_add(1);
            state.pending.take()
        };
        if let Some(handle) = pending {
            handle.cancel();
        }
    }

    /// Whether a timer is pending.
    pub fn is_armed(&self) -> bool {
        self.state.lock().pending.is_some()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::scheduler::{Scheduler, VirtualTime};
    use crate::sync::{AtomicU64, Ordering};

    fn counting(slot: &Arc<TimerSlot>, hits: &Arc<AtomicU64>) -> impl FnOnce(u64) + Send {
        let (slot, hits) = (Arc::clone(slot), Arc::clone(hits));
        move |generation| {
            if slot.fire(generation) {
                hits.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    #[test]
    fn a_cancelled_timer_never_fires() {
        let clock = VirtualTime::new();
        let slot = Arc::new(TimerSlot::new());
        let hits = Arc::new(AtomicU64::new(0));
        slot.arm(
            &clock.worker(),
            Duration::from_secs(1),
            counting(&slot, &hits),
        );
        assert!(slot.is_armed());
        slot.cancel();
        assert!(!slot.is_armed());
        clock.advance_by(Duration::from_secs(10));
        assert_eq!(hits.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_stale_tick_that_raced_its_cancel_does_nothing() {
        let slot = TimerSlot::new();
        let clock = VirtualTime::new();
        let generation = slot.arm(&clock.worker(), Duration::from_secs(1), |_| {});
        slot.cancel();
        assert!(!slot.fire(generation));
    }

    #[test]
    fn a_current_tick_fires_once_and_disarms() {
        let slot = TimerSlot::new();
        let clock = VirtualTime::new();
        let generation = slot.arm(&clock.worker(), Duration::from_secs(1), |_| {});
        assert!(slot.fire(generation));
        assert!(!slot.fire(generation));
        assert!(!slot.is_armed());
    }
}
