//! Ordering, delays, serial workers and shutdown of the built-in schedulers.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use rstreams_core::scheduler::{Immediate, Scheduler, Task, ThreadPool, Timer, VirtualTime};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn tasks_on_one_pool_worker_run_in_order_and_never_overlap() {
    let pool = ThreadPool::new(4);
    let worker = pool.worker();
    let log = Arc::new(Mutex::new(Vec::new()));
    let busy = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    for i in 0..1_000 {
        let log = log.clone();
        let busy = busy.clone();
        let tx = tx.clone();
        worker.schedule(Task::new(move || {
            assert!(
                !busy.swap(true, Ordering::SeqCst),
                "two tasks of one worker overlapped"
            );
            log.lock().unwrap().push(i);
            busy.store(false, Ordering::SeqCst);
            if i == 999 {
                tx.send(()).unwrap();
            }
        }));
    }
    rx.recv_timeout(WAIT).unwrap();
    assert!(log.lock().unwrap().iter().copied().eq(0..1_000));
}

#[test]
fn pool_threads_are_named_and_workers_spread_over_them() {
    let pool = ThreadPool::with_name(2, "ingest");
    let (tx, rx) = mpsc::channel();
    for _ in 0..2 {
        let tx = tx.clone();
        pool.worker().schedule(Task::new(move || {
            tx.send(std::thread::current().name().unwrap().to_owned())
                .unwrap();
        }));
    }
    let mut names = vec![
        rx.recv_timeout(WAIT).unwrap(),
        rx.recv_timeout(WAIT).unwrap(),
    ];
    names.sort();
    assert_eq!(names, vec!["ingest-0", "ingest-1"]);
}

#[test]
fn delayed_pool_tasks_run_after_their_delay_in_due_order() {
    let pool = ThreadPool::new(1);
    let worker = pool.worker();
    let (tx, rx) = mpsc::channel();
    let start = std::time::Instant::now();
    for (i, ms) in [(2, 30u64), (1, 10), (3, 50)] {
        let tx = tx.clone();
        worker.schedule_after(
            Duration::from_millis(ms),
            Task::new(move || tx.send(i).unwrap()),
        );
    }
    let order: Vec<i32> = (0..3).map(|_| rx.recv_timeout(WAIT).unwrap()).collect();
    assert_eq!(order, vec![1, 2, 3]);
    assert!(start.elapsed() >= Duration::from_millis(50));
}

#[test]
fn a_cancelled_delayed_task_never_runs() {
    let vt = VirtualTime::new();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let handle = vt.schedule_after(
        Duration::from_secs(1),
        Task::new(move || r.store(true, Ordering::SeqCst)),
    );
    handle.cancel();
    vt.advance_by(Duration::from_secs(2));
    assert!(!ran.load(Ordering::SeqCst));
}

#[test]
fn pool_shuts_down_when_the_last_handle_drops() {
    let pool = ThreadPool::new(2);
    let clone = pool.clone();
    let worker = pool.worker();
    // A task holding a token; after shutdown every queued closure has been run or dropped.
    let token = Arc::new(());
    let delayed_token = Arc::downgrade(&token);
    worker.schedule_after(Duration::from_secs(3600), Task::new(move || drop(token)));
    let (tx, rx) = mpsc::channel();
    worker.schedule(Task::new(move || {
        tx.send(std::thread::current().name().map(str::to_owned))
            .unwrap()
    }));
    let thread_name = rx.recv_timeout(WAIT).unwrap().unwrap();
    drop(pool);
    drop(clone);
    assert!(
        delayed_token.upgrade().is_some(),
        "a live worker keeps the pool running"
    );
    drop(worker);
    // The last drop joined the threads: the hour-long task was dropped, not run or leaked.
    assert!(delayed_token.upgrade().is_none());
    assert!(thread_name.starts_with("rstreams-pool-"));
}

#[test]
fn a_panicking_task_does_not_kill_its_pool_thread() {
    let pool = ThreadPool::new(1);
    let worker = pool.worker();
    worker.schedule(Task::new(|| panic!("task bug")));
    let (tx, rx) = mpsc::channel();
    worker.schedule(Task::new(move || tx.send(()).unwrap()));
    rx.recv_timeout(WAIT)
        .expect("the thread survived the panic");
}

#[test]
fn shared_tasks_can_be_scheduled_again_without_a_new_closure() {
    let pool = ThreadPool::new(1);
    let worker = pool.worker();
    let count = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel::<()>();
    let tx = Mutex::new(tx);
    let c = count.clone();
    let f: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
        if c.fetch_add(1, Ordering::SeqCst) == 2 {
            tx.lock().unwrap().send(()).unwrap();
        }
    });
    for _ in 0..3 {
        worker.schedule(Task::shared(f.clone()));
    }
    rx.recv_timeout(WAIT).unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[test]
fn virtual_time_runs_delayed_tasks_in_due_order_with_the_clock_at_their_due_time() {
    let vt = VirtualTime::new();
    let start = Scheduler::now(&vt);
    let log = Arc::new(Mutex::new(Vec::new()));
    for (name, secs) in [("c", 30), ("a", 10), ("b", 20), ("a2", 10)] {
        let log = log.clone();
        let clock = vt.clone();
        vt.schedule_after(
            Duration::from_secs(secs),
            Task::new(move || {
                let at = Scheduler::now(&clock) - start;
                log.lock().unwrap().push((name, at.as_secs()));
            }),
        );
    }
    vt.advance_by(Duration::from_secs(15));
    assert_eq!(*log.lock().unwrap(), vec![("a", 10), ("a2", 10)]);
    assert_eq!(vt.elapsed(), Duration::from_secs(15));
    vt.advance_by(Duration::from_secs(100));
    assert_eq!(
        *log.lock().unwrap(),
        vec![("a", 10), ("a2", 10), ("b", 20), ("c", 30)]
    );
    assert_eq!(vt.pending(), 0);
}

#[test]
fn virtual_time_runs_tasks_scheduled_by_tasks_within_the_same_advance() {
    let vt = VirtualTime::new();
    let count = Arc::new(AtomicUsize::new(0));
    fn tick(vt: VirtualTime, count: Arc<AtomicUsize>) {
        let (v, c) = (vt.clone(), count.clone());
        vt.schedule_after(
            Duration::from_secs(1),
            Task::new(move || {
                c.fetch_add(1, Ordering::SeqCst);
                tick(v, c);
            }),
        );
    }
    tick(vt.clone(), count.clone());
    vt.advance_by(Duration::from_secs(10));
    assert_eq!(count.load(Ordering::SeqCst), 10);
    assert_eq!(vt.pending(), 1);
}

#[test]
fn immediate_runs_now_and_trampolines_nested_tasks() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    Immediate.schedule(Task::new(move || {
        let inner = l.clone();
        Immediate.schedule(Task::new(move || inner.lock().unwrap().push(2)));
        l.lock().unwrap().push(1);
    }));
    assert_eq!(*log.lock().unwrap(), vec![1, 2]);
    // Deep self-rescheduling does not grow the stack.
    let count = Arc::new(AtomicUsize::new(0));
    fn again(count: Arc<AtomicUsize>) {
        if count.fetch_add(1, Ordering::Relaxed) < 200_000 {
            Immediate.schedule(Task::new(move || again(count)));
        }
    }
    again(count.clone());
    assert_eq!(count.load(Ordering::Relaxed), 200_001);
}

/// Arms `count` hour-long timers on `scheduler`, each holding a clone of `token`, and cancels
/// each right away, as a batch timer of a batch that went out full is.
fn arm_and_cancel(scheduler: &impl Scheduler, token: &Arc<()>, count: usize) {
    let worker = scheduler.worker();
    for _ in 0..count {
        let held = Arc::clone(token);
        worker
            .schedule_after(Duration::from_secs(3600), Task::new(move || drop(held)))
            .cancel();
    }
}

#[test]
fn a_cancelled_timer_is_freed_at_once_on_virtual_time() {
    let vt = VirtualTime::new();
    let token = Arc::new(());
    arm_and_cancel(&vt, &token, 10_000);
    assert_eq!(vt.pending(), 0, "cancelled timers stay queued");
    assert_eq!(Arc::strong_count(&token), 1, "cancelled tasks are held");
    // A live timer is still counted, and still runs.
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    vt.schedule_after(
        Duration::from_secs(1),
        Task::new(move || r.store(true, Ordering::SeqCst)),
    );
    assert_eq!(vt.pending(), 1);
    vt.advance_by(Duration::from_secs(1));
    assert!(ran.load(Ordering::SeqCst));
    assert_eq!(vt.pending(), 0);
}

#[test]
fn a_cancelled_timer_is_freed_at_once_on_a_pool() {
    let pool = ThreadPool::new(2);
    let token = Arc::new(());
    arm_and_cancel(&pool, &token, 10_000);
    assert_eq!(pool.pending_timers(), 0, "cancelled timers stay queued");
    assert_eq!(Arc::strong_count(&token), 1, "cancelled tasks are held");
    let live = pool.schedule_after(Duration::from_secs(3600), Task::new(|| {}));
    assert_eq!(pool.pending_timers(), 1);
    live.cancel();
    live.cancel(); // idempotent
    assert_eq!(pool.pending_timers(), 0);
}

fn thread_name() -> String {
    std::thread::current().name().unwrap().to_owned()
}

#[test]
fn a_timer_task_that_blocks_does_not_hold_up_another_workers_timers() {
    let timer = Timer::with_name("blocking");
    let (blocked_tx, blocked_rx) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    timer.worker().schedule_after(
        Duration::from_millis(1),
        Task::new(move || {
            blocked_tx.send(thread_name()).unwrap();
            let _ = released.recv_timeout(WAIT * 6);
        }),
    );
    let blocked = blocked_rx.recv_timeout(WAIT).unwrap();
    let (tx, rx) = mpsc::channel();
    for _ in 0..3 {
        let tx = tx.clone();
        timer.worker().schedule_after(
            Duration::from_millis(1),
            Task::new(move || tx.send(thread_name()).unwrap()),
        );
    }
    for _ in 0..3 {
        let ran_on = rx
            .recv_timeout(WAIT)
            .expect("a blocked task held up another worker's timer");
        assert_ne!(ran_on, blocked);
        assert_ne!(ran_on, "blocking-clock", "the clock thread ran a task");
        assert!(ran_on.starts_with("blocking-"));
    }
    assert_ne!(blocked, "blocking-clock", "the clock thread ran a task");
    release.send(()).unwrap();
}

#[test]
fn tasks_on_one_timer_worker_run_in_order_and_never_overlap() {
    let timer = Timer::with_name("serial");
    let worker = timer.worker();
    let log = Arc::new(Mutex::new(Vec::new()));
    let busy = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    for i in 0..1_000 {
        let log = log.clone();
        let busy = busy.clone();
        let tx = tx.clone();
        let task = Task::new(move || {
            assert!(
                !busy.swap(true, Ordering::SeqCst),
                "two tasks of one worker overlapped"
            );
            log.lock().unwrap().push(i);
            busy.store(false, Ordering::SeqCst);
            if i == 999 {
                tx.send(()).unwrap();
            }
        });
        worker.schedule(task);
    }
    rx.recv_timeout(WAIT).unwrap();
    assert!(log.lock().unwrap().iter().copied().eq(0..1_000));
    // Delayed tasks of one worker run in due order, then in the order given.
    let (tx, rx) = mpsc::channel();
    for (i, ms) in [(3, 20u64), (1, 5), (2, 5)] {
        let tx = tx.clone();
        worker.schedule_after(
            Duration::from_millis(ms),
            Task::new(move || tx.send(i).unwrap()),
        );
    }
    let order: Vec<i32> = (0..3).map(|_| rx.recv_timeout(WAIT).unwrap()).collect();
    assert_eq!(order, vec![1, 2, 3]);
}

#[test]
fn a_panicking_timer_task_does_not_stop_its_worker() {
    let timer = Timer::with_name("panicky");
    let worker = timer.worker();
    worker.schedule_after(Duration::from_millis(1), Task::new(|| panic!("task bug")));
    let (tx, rx) = mpsc::channel();
    worker.schedule_after(
        Duration::from_millis(2),
        Task::new(move || tx.send(()).unwrap()),
    );
    rx.recv_timeout(WAIT)
        .expect("the worker survived the panic");
}

#[test]
fn a_timer_drops_its_delayed_tasks_when_the_last_handle_drops() {
    let timer = Timer::with_name("dropping");
    let worker = timer.worker();
    let token = Arc::new(());
    let delayed = Arc::downgrade(&token);
    worker.schedule_after(Duration::from_secs(3600), Task::new(move || drop(token)));
    assert_eq!(timer.pending_timers(), 1);
    drop(timer);
    assert!(delayed.upgrade().is_some(), "a live worker keeps the timer");
    drop(worker);
    assert!(
        delayed.upgrade().is_none(),
        "the hour-long task was dropped"
    );
}

#[test]
fn a_cancelled_timer_is_freed_at_once_on_a_timer() {
    let timer = Timer::with_name("freeing");
    let token = Arc::new(());
    arm_and_cancel(&timer, &token, 10_000);
    assert_eq!(timer.pending_timers(), 0, "cancelled timers stay queued");
    assert_eq!(Arc::strong_count(&token), 1, "cancelled tasks are held");
}

#[test]
fn a_delay_of_duration_max_means_never_on_every_scheduler() {
    let ran = Arc::new(AtomicBool::new(false));
    let task = |ran: &Arc<AtomicBool>| {
        let ran = ran.clone();
        Task::new(move || ran.store(true, Ordering::SeqCst))
    };
    let vt = VirtualTime::new();
    let handle = vt.schedule_after(Duration::MAX, task(&ran));
    vt.advance_by(Duration::from_secs(50 * 365 * 24 * 3600));
    assert_eq!(vt.pending(), 1);
    handle.cancel();
    vt.advance_by(Duration::MAX); // saturates too
    let pool = ThreadPool::new(1);
    let on_pool = pool.schedule_after(Duration::MAX, task(&ran));
    assert_eq!(pool.pending_timers(), 1);
    on_pool.cancel();
    let timer = Timer::with_name("forever");
    let on_timer = timer.schedule_after(Duration::MAX, task(&ran));
    assert_eq!(timer.pending_timers(), 1);
    on_timer.cancel();
    assert!(!ran.load(Ordering::SeqCst));
}

/// Only a worker whose tasks run on threads of its own may have a task spin for another
/// thread's signal: a pool's may; an immediate worker (which runs a task on the scheduling
/// thread) and a virtual-time one (driven by the test's thread) may not, nor may a worker
/// that does not say.
#[test]
fn only_a_pools_workers_say_they_run_on_threads_of_their_own() {
    use rstreams::scheduler::{Immediate, Scheduler, ThreadPool, VirtualTime, Worker};
    assert!(ThreadPool::new(1).worker().runs_on_own_threads());
    assert!(!Immediate.worker().runs_on_own_threads());
    assert!(!VirtualTime::new().worker().runs_on_own_threads());

    struct Silent;
    impl Worker for Silent {
        fn schedule(&self, task: rstreams::scheduler::Task) {
            task.run();
        }
        fn schedule_after(
            &self,
            _: std::time::Duration,
            task: rstreams::scheduler::Task,
        ) -> rstreams::scheduler::TaskHandle {
            task.run();
            rstreams::scheduler::TaskHandle::default()
        }
        fn now(&self) -> std::time::Instant {
            std::time::Instant::now()
        }
    }
    assert!(!Silent.runs_on_own_threads(), "the default");
}

#[test]
fn a_pool_built_without_an_idle_watch_runs_every_task_and_timer_in_order() {
    let pool = ThreadPool::builder(1)
        .name("sleepy")
        .idle_watch(Duration::ZERO)
        .build();
    let worker = pool.worker();
    let (tx, rx) = mpsc::channel();
    for i in 0..100u32 {
        let tx = tx.clone();
        // Some of them after the thread went to sleep: each must wake it.
        if i % 10 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        worker.schedule(Task::new(move || {
            tx.send((i, std::thread::current().name().unwrap().to_owned()))
                .unwrap()
        }));
    }
    {
        let tx = tx.clone();
        worker.schedule_after(
            Duration::from_millis(5),
            Task::new(move || tx.send((100, String::new())).unwrap()),
        );
    }
    let got: Vec<(u32, String)> = (0..101).map(|_| rx.recv_timeout(WAIT).unwrap()).collect();
    assert!(got.iter().map(|(i, _)| *i).eq(0..101), "in order");
    assert!(got[..100].iter().all(|(_, name)| name == "sleepy-0"));
}

#[test]
#[should_panic(expected = "idle_watch: watch must be at most 1 ms (valid range 0..=1 ms), got 2ms")]
fn an_idle_watch_beyond_a_millisecond_is_refused_when_it_is_set() {
    let _ = ThreadPool::builder(1).idle_watch(Duration::from_millis(2));
}

#[test]
#[should_panic(expected = "threads must be at least 1 (got 0)")]
fn a_builder_of_zero_threads_is_refused_when_built() {
    let _ = ThreadPool::builder(0).build();
}
