//! `TokioScheduler` under current-thread and multi-thread runtimes: the operators that take a
//! scheduler, tokio's paused clock, cancellation, and the serial-worker contract.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rstreams_core::scheduler::{Scheduler, Task};
use rstreams_core::{sink, source, Error, ErrorKind, Publisher};
use rstreams_ops::PublisherExt;
use rstreams_tck::TestPublisher;
use rstreams_tokio::TokioScheduler;
use tokio::sync::mpsc;

/// What a subscriber saw, sent over a tokio channel so that async tests can await it without
/// blocking the runtime.
#[derive(Debug)]
enum Signal<T> {
    Next(T),
    End(Result<(), Error>),
}

/// Subscribes to `publisher` and returns the receiving end of its signals.
fn observe<P>(publisher: &P) -> mpsc::UnboundedReceiver<Signal<P::Item>>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let (on_error, on_complete) = (tx.clone(), tx.clone());
    publisher.subscribe(
        sink::for_each(move |item| {
            let _ = tx.send(Signal::Next(item));
        })
        .on_error(move |e| {
            let _ = on_error.send(Signal::End(Err(e)));
        })
        .on_complete(move || {
            let _ = on_complete.send(Signal::End(Ok(())));
        }),
    );
    rx
}

/// Awaits every element and the end.
async fn collect<P>(publisher: &P) -> Result<Vec<P::Item>, Error>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    let mut rx = observe(publisher);
    let mut items = Vec::new();
    loop {
        match rx
            .recv()
            .await
            .expect("the subscriber ended without a terminal signal")
        {
            Signal::Next(item) => items.push(item),
            Signal::End(end) => return end.map(|()| items),
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn publish_on_delivers_every_element_in_order_on_a_current_thread_runtime() {
    let scheduler = TokioScheduler::current();
    let items = collect(&source::range(0, 1000).publish_on(scheduler, 16)).await;
    assert_eq!(items.unwrap(), (0..1000).collect::<Vec<u64>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_on_delivers_every_element_in_order_on_a_multi_thread_runtime() {
    let scheduler = TokioScheduler::current();
    let items = collect(&source::range(0, 10_000).publish_on(scheduler, 16)).await;
    assert_eq!(items.unwrap(), (0..10_000).collect::<Vec<u64>>());
}

#[test]
fn publish_on_works_for_a_blocking_collect_from_outside_the_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let scheduler = TokioScheduler::new(runtime.handle().clone());
    let items = sink::collect(
        &source::range(0, 100)
            .map(|x| x * 2)
            .publish_on(scheduler, 8),
    );
    assert_eq!(
        items.unwrap(),
        (0..100).map(|x| x * 2).collect::<Vec<u64>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_on_subscribes_on_a_runtime_thread() {
    let scheduler = TokioScheduler::current();
    let test_thread = std::thread::current().id();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let subscribed_from = source::defer(move || {
        let _ = tx.send((
            tokio::runtime::Handle::try_current().is_ok(),
            std::thread::current().id(),
        ));
        source::range(0, 3)
    });
    let items = collect(&subscribed_from.subscribe_on(scheduler)).await;
    assert_eq!(items.unwrap(), vec![0, 1, 2]);
    let (in_runtime, thread) = rx.recv().await.unwrap();
    assert!(in_runtime, "the source was subscribed outside the runtime");
    assert_ne!(
        thread, test_thread,
        "subscribe_on subscribed on the caller's thread"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn subscribe_on_works_on_a_current_thread_runtime() {
    let scheduler = TokioScheduler::current();
    let items = collect(&source::range(0, 5).subscribe_on(scheduler)).await;
    assert_eq!(items.unwrap(), vec![0, 1, 2, 3, 4]);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn buffer_timeout_on_emits_a_partial_batch_when_the_paused_clock_reaches_the_timeout() {
    let scheduler = TokioScheduler::current();
    let input = TestPublisher::<u32>::new();
    let mut rx = observe(
        &input
            .clone()
            .buffer_timeout_on(3, Duration::from_secs(1), scheduler),
    );
    input.emit(1);
    input.emit(2);
    tokio::time::advance(Duration::from_millis(999)).await;
    tokio::task::yield_now().await;
    assert!(
        rx.try_recv().is_err(),
        "the batch went out before its timeout"
    );
    tokio::time::advance(Duration::from_millis(1)).await;
    match rx.recv().await.unwrap() {
        Signal::Next(batch) => assert_eq!(batch, vec![1, 2]),
        other => panic!("expected the partial batch, got {other:?}"),
    }
    // A full batch goes out at once, without waiting for the clock.
    input.emit(3);
    input.emit(4);
    input.emit(5);
    match rx.recv().await.unwrap() {
        Signal::Next(batch) => assert_eq!(batch, vec![3, 4, 5]),
        other => panic!("expected the full batch, got {other:?}"),
    }
    input.complete();
    assert!(matches!(rx.recv().await.unwrap(), Signal::End(Ok(()))));
}

// tokio pauses time on current-thread runtimes only.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn timeout_on_fails_with_a_timeout_at_the_deadline_of_the_paused_clock() {
    let scheduler = TokioScheduler::current();
    let start = tokio::time::Instant::now();
    let end =
        collect(&source::never::<u64>().timeout_on(Duration::from_secs(3600), scheduler.clone()))
            .await;
    assert_eq!(end.unwrap_err().kind(), ErrorKind::Timeout);
    // The runtime auto-advanced its paused clock to the deadline: an hour, waited in no time.
    assert!(start.elapsed() >= Duration::from_secs(3600));
    assert!(scheduler.now() >= start.into_std() + Duration::from_secs(3600));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_on_and_buffer_timeout_on_fire_on_a_multi_thread_runtime() {
    // Real time here (tokio pauses only current-thread runtimes): short timeouts, and no
    // assertion on how long anything took.
    let scheduler = TokioScheduler::current();
    let end =
        collect(&source::never::<u64>().timeout_on(Duration::from_millis(10), scheduler.clone()))
            .await;
    assert_eq!(end.unwrap_err().kind(), ErrorKind::Timeout);
    let input = TestPublisher::<u32>::new();
    let mut rx = observe(&input.clone().buffer_timeout_on(
        10,
        Duration::from_millis(10),
        scheduler,
    ));
    input.emit(7);
    match rx.recv().await.unwrap() {
        Signal::Next(batch) => assert_eq!(batch, vec![7]),
        other => panic!("expected the partial batch, got {other:?}"),
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn timeout_on_does_not_fire_while_elements_arrive_in_time() {
    let scheduler = TokioScheduler::current();
    let input = TestPublisher::<u32>::new();
    let mut rx = observe(&input.clone().timeout_on(Duration::from_secs(5), scheduler));
    for i in 0..3 {
        tokio::time::advance(Duration::from_secs(4)).await;
        input.emit(i);
        match rx.recv().await.unwrap() {
            Signal::Next(item) => assert_eq!(item, i),
            other => panic!("expected element {i}, got {other:?}"),
        }
    }
    tokio::time::advance(Duration::from_secs(5)).await;
    match rx.recv().await.unwrap() {
        Signal::End(Err(e)) => assert_eq!(e.kind(), ErrorKind::Timeout),
        other => panic!("expected the timeout, got {other:?}"),
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn now_reads_the_paused_tokio_clock() {
    let scheduler = TokioScheduler::current();
    let worker = scheduler.worker();
    let before = scheduler.now();
    tokio::time::advance(Duration::from_secs(42)).await;
    assert_eq!(scheduler.now() - before, Duration::from_secs(42));
    assert_eq!(worker.now() - before, Duration::from_secs(42));
}

/// Schedules tasks on one worker from several threads at once; each task checks that no other
/// task of the worker runs and records its sender's sequence number.
fn one_workers_tasks_never_overlap_and_keep_each_senders_order(runtime: &tokio::runtime::Runtime) {
    const SENDERS: usize = 4;
    const TASKS: usize = 500;
    let worker = TokioScheduler::new(runtime.handle().clone()).worker();
    let running = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(vec![Vec::new(); SENDERS]));
    let done = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for sender in 0..SENDERS {
            let (worker, running, seen, done) = (&worker, &running, &seen, &done);
            scope.spawn(move || {
                for i in 0..TASKS {
                    let (running, seen, done) = (running.clone(), seen.clone(), done.clone());
                    worker.schedule(Task::new(move || {
                        assert!(
                            !running.swap(true, Ordering::SeqCst),
                            "two tasks overlapped"
                        );
                        std::hint::spin_loop();
                        seen.lock().unwrap()[sender].push(i);
                        running.store(false, Ordering::SeqCst);
                        done.fetch_add(1, Ordering::SeqCst);
                    }));
                }
            });
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while done.load(Ordering::SeqCst) < SENDERS * TASKS {
        assert!(
            std::time::Instant::now() < deadline,
            "the tasks did not all run"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    for per_sender in seen.lock().unwrap().iter() {
        assert_eq!(*per_sender, (0..TASKS).collect::<Vec<_>>());
    }
}

#[test]
fn a_workers_tasks_run_one_at_a_time_in_order_on_a_multi_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    one_workers_tasks_never_overlap_and_keep_each_senders_order(&runtime);
}

#[test]
fn a_workers_tasks_run_one_at_a_time_in_order_on_a_current_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A current-thread runtime runs its tasks only while driven: drive it from another thread.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::scope(|scope| {
        let runtime = &runtime;
        scope.spawn(move || runtime.block_on(async { stop_rx.await.ok() }));
        one_workers_tasks_never_overlap_and_keep_each_senders_order(runtime);
        stop_tx.send(()).unwrap();
    });
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn delayed_tasks_due_at_the_same_instant_run_in_the_order_they_were_given() {
    let worker = TokioScheduler::current().worker();
    let (tx, mut rx) = mpsc::unbounded_channel();
    for i in 0..100 {
        let tx = tx.clone();
        worker.schedule_after(
            Duration::from_secs(1),
            Task::new(move || tx.send(i).unwrap()),
        );
    }
    let earlier = tx.clone();
    worker.schedule_after(
        Duration::from_millis(500),
        Task::new(move || earlier.send(-1).unwrap()),
    );
    drop(tx);
    let mut order = Vec::new();
    while let Some(i) = rx.recv().await {
        order.push(i);
    }
    let expected: Vec<i32> = std::iter::once(-1).chain(0..100).collect();
    assert_eq!(order, expected);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_cancelled_delayed_task_never_runs_and_is_dropped_at_once() {
    let worker = TokioScheduler::current().worker();
    let ran = Arc::new(AtomicBool::new(false));
    let token = Arc::new(());
    let (r, t) = (ran.clone(), token.clone());
    let handle = worker.schedule_after(
        Duration::from_secs(10),
        Task::new(move || {
            let _token = t;
            r.store(true, Ordering::SeqCst);
        }),
    );
    tokio::time::advance(Duration::from_secs(5)).await;
    handle.cancel();
    assert_eq!(
        Arc::strong_count(&token),
        1,
        "the cancelled task was not dropped"
    );
    tokio::time::advance(Duration::from_secs(60)).await;
    tokio::task::yield_now().await;
    assert!(!ran.load(Ordering::SeqCst));
    // The worker still runs what comes next.
    let (tx, rx) = tokio::sync::oneshot::channel();
    worker.schedule(Task::new(move || tx.send(()).unwrap()));
    rx.await.unwrap();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_delay_of_duration_max_means_never_and_does_not_panic() {
    let worker = TokioScheduler::current().worker();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let handle = worker.schedule_after(
        Duration::MAX,
        Task::new(move || r.store(true, Ordering::SeqCst)),
    );
    tokio::time::advance(Duration::from_secs(365 * 24 * 3600)).await;
    tokio::task::yield_now().await;
    assert!(!ran.load(Ordering::SeqCst));
    handle.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_task_does_not_stop_the_tasks_after_it() {
    let worker = TokioScheduler::current().worker();
    worker.schedule(Task::new(|| {
        panic!("a task panicked (expected by this test)")
    }));
    let (tx, rx) = tokio::sync::oneshot::channel();
    worker.schedule(Task::new(move || tx.send(()).unwrap()));
    tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .expect("the worker stopped after a panic")
        .unwrap();
}
