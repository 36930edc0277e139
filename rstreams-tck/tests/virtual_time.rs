//! Time-based operators on VirtualTime through OperatorVerification::virtual_time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rstreams_core::scheduler::{Scheduler, Task, VirtualTime};
use rstreams_core::support::UpstreamSlot;
use rstreams_core::{Error, Publisher, Subscriber, Subscription};
use rstreams_tck::{OperatorVerification, Timeouts, Upstream};

/// Delays every signal from upstream by 10 ms on a virtual clock. All downstream signals run on
/// the clock, in due order, so they stay serial.
struct Delay {
    up: Upstream,
    clock: VirtualTime,
}

struct Shared<S> {
    down: Mutex<Option<S>>,
    cancelled: AtomicBool,
}

struct DelaySubscriber<S> {
    shared: Arc<Shared<S>>,
    slot: Arc<UpstreamSlot>,
    clock: VirtualTime,
}

impl<S: Subscriber<u64> + 'static> DelaySubscriber<S> {
    fn later(&self, signal: impl FnOnce(&mut S) -> bool + Send + 'static) {
        let shared = Arc::clone(&self.shared);
        self.clock.schedule_after(
            Duration::from_millis(10),
            Task::new(move || {
                let mut down = shared.down.lock();
                if shared.cancelled.load(Ordering::Acquire) {
                    *down = None;
                    return;
                }
                if let Some(d) = down.as_mut() {
                    if signal(d) {
                        *down = None; // terminal: release downstream
                    }
                }
            }),
        );
    }
}

struct DelaySubscription<S> {
    shared: Arc<Shared<S>>,
    slot: Arc<UpstreamSlot>,
    clock: VirtualTime,
}

impl<S: Send + 'static> Subscription for DelaySubscription<S> {
    fn request(&self, n: u64) {
        self.slot.request(n);
    }
    fn cancel(&self) {
        self.shared.cancelled.store(true, Ordering::Release);
        self.slot.cancel();
        // Release the downstream now if no signal is running; otherwise on the clock, after
        // the running task (a cancel from inside on_next must not wait for its own lock).
        match self.shared.down.try_lock() {
            Some(mut down) => *down = None,
            None => {
                let shared = Arc::clone(&self.shared);
                self.clock
                    .schedule(Task::new(move || *shared.down.lock() = None));
            }
        }
    }
}

impl<S: Subscriber<u64> + 'static> Subscriber<u64> for DelaySubscriber<S> {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        self.slot.set(s);
    }
    fn on_next(&mut self, x: u64) {
        self.later(move |d| {
            d.on_next(x);
            false
        });
    }
    fn on_error(&mut self, e: Error) {
        self.later(move |d| {
            d.on_error(e);
            true
        });
    }
    fn on_complete(&mut self) {
        self.later(|d| {
            d.on_complete();
            true
        });
    }
}

impl Publisher for Delay {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut s: S) {
        let shared = Arc::new(Shared {
            down: Mutex::new(None),
            cancelled: AtomicBool::new(false),
        });
        let slot = Arc::new(UpstreamSlot::new());
        s.on_subscribe(Arc::new(DelaySubscription {
            shared: Arc::clone(&shared),
            slot: Arc::clone(&slot),
            clock: self.clock.clone(),
        }));
        if !shared.cancelled.load(Ordering::Acquire) {
            *shared.down.lock() = Some(s);
        }
        self.up.subscribe(DelaySubscriber {
            shared,
            slot,
            clock: self.clock.clone(),
        });
    }
}

fn quick() -> Timeouts {
    Timeouts {
        signal: Duration::from_millis(300),
        quiet: Duration::from_millis(5),
        check: Duration::from_secs(5),
    }
}

#[test]
fn a_time_based_operator_passes_when_the_kit_advances_its_virtual_clock() {
    let clock = VirtualTime::new();
    let c = clock.clone();
    OperatorVerification::new(move |up| Delay {
        up,
        clock: c.clone(),
    })
    .virtual_time(clock, Duration::from_millis(5))
    .prefetch_bound(0)
    .timeouts(quick())
    .run()
    .assert_compliant();
}

#[test]
fn without_the_clock_advancing_the_same_operator_looks_stalled() {
    let clock = VirtualTime::new();
    let report = OperatorVerification::new(move |up| Delay {
        up,
        clock: clock.clone(),
    })
    .timeouts(quick())
    .run_check("op_rule_4_2_upstream_error_reaches_downstream_without_demand");
    assert_eq!(report.failed_rules(), vec!["4.2".to_string()], "{report}");
}
