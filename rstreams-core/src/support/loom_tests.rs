//! Loom models of the demand counter and the drain guard.
//!
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p rstreams-core --release --lib loom`.

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

use super::{Budget, Demand, Drain, DrainCell, UNBOUNDED};

#[test]
fn loom_demand_concurrent_adds_and_produced_lose_nothing() {
    loom::model(|| {
        let demand = Arc::new(Demand::new());
        demand.add(1);
        let a = {
            let d = Arc::clone(&demand);
            thread::spawn(move || {
                d.add(2);
            })
        };
        let b = {
            let d = Arc::clone(&demand);
            thread::spawn(move || {
                d.add(3);
            })
        };
        // The emitter uses what it saw, concurrently with the adds.
        demand.produced(1);
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(demand.get(), 5);
    });
}

#[test]
fn loom_demand_saturates_and_unbounded_is_never_decremented() {
    loom::model(|| {
        let demand = Arc::new(Demand::new());
        demand.add(UNBOUNDED - 1);
        let adder = {
            let d = Arc::clone(&demand);
            thread::spawn(move || {
                d.add(2);
            })
        };
        let current = demand.get();
        // Emitting one element is always allowed here; if the add already saturated the
        // counter, produced must leave it unbounded.
        let left = demand.produced(1);
        if current == UNBOUNDED {
            assert_eq!(left, UNBOUNDED);
        }
        adder.join().unwrap();
        assert_eq!(demand.get(), UNBOUNDED);
    });
}

#[test]
fn loom_drain_sees_every_event_and_passes_never_overlap() {
    loom::model(|| {
        let drain = Arc::new(Drain::new());
        let events = Arc::new(AtomicUsize::new(0));
        let handled = Arc::new(AtomicUsize::new(0));
        let in_pass = Arc::new(AtomicBool::new(false));

        let signal = {
            let drain = Arc::clone(&drain);
            let events = Arc::clone(&events);
            let handled = Arc::clone(&handled);
            let in_pass = Arc::clone(&in_pass);
            move || {
                events.fetch_add(1, Ordering::SeqCst);
                drain.run(|| {
                    assert!(
                        !in_pass.swap(true, Ordering::SeqCst),
                        "two passes overlapped"
                    );
                    let seen = events.swap(0, Ordering::SeqCst);
                    handled.fetch_add(seen, Ordering::SeqCst);
                    in_pass.store(false, Ordering::SeqCst);
                });
            }
        };
        let other = {
            let signal = signal.clone();
            thread::spawn(signal)
        };
        signal();
        other.join().unwrap();
        assert_eq!(handled.load(Ordering::SeqCst), 2, "an event was lost");
        assert!(!drain.is_busy());
    });
}

#[test]
fn loom_drain_cell_entered_before_setup_defers_concurrent_events() {
    loom::model(|| {
        let cell = Arc::new(DrainCell::new(0usize));
        let pending = Arc::new(AtomicUsize::new(0));
        let mut entered = cell.enter().expect("fresh cell");
        *entered.get() += 0;
        let other = {
            let cell = Arc::clone(&cell);
            let pending = Arc::clone(&pending);
            thread::spawn(move || {
                pending.fetch_add(1, Ordering::SeqCst);
                cell.drain(|count| *count += pending.swap(0, Ordering::SeqCst));
            })
        };
        {
            let pending = Arc::clone(&pending);
            entered.drain(move |count| *count += pending.swap(0, Ordering::SeqCst));
        }
        other.join().unwrap();
        // Whichever thread ran the last pass, the event was handled exactly once.
        let mut total = 0;
        cell.drain(|count| total = *count);
        assert_eq!(total, 1);
    });
}

#[test]
fn loom_budget_concurrent_claims_never_exceed_the_budget() {
    loom::model(|| {
        let budget = Arc::new(Budget::new(5));
        let other = {
            let b = Arc::clone(&budget);
            thread::spawn(move || b.claim(3))
        };
        let mine = budget.claim(4);
        let theirs = other.join().unwrap();
        assert_eq!(
            mine + theirs,
            5,
            "granted {mine} + {theirs} of a budget of 5"
        );
        assert_eq!(budget.remaining(), 0);
    });
}
