//! `for_each_async` and `AsyncSubscriber`: the next element is requested only when the work on
//! a previous one is done, at most `concurrency` in flight; errors, panics and cancel.

mod support;

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::oneshot;
use futures::executor::block_on;
use futures::task::noop_waker;
use futures::Future;
use rstreams_core::source::{self, emitter, OverflowPolicy};
use rstreams_core::{Error, ErrorKind};
use rstreams_futures::{
    async_trait, for_each_async, subscribe_async, AsyncSubscriber, PublisherFuturesExt,
};
use rstreams_tck::{TestPublisher, Upstream};

fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    let waker = noop_waker();
    Pin::new(future).poll(&mut Context::from_waker(&waker))
}

/// Counts the futures in flight and remembers the most at once.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl InFlight {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn the_next_element_is_requested_only_when_the_previous_future_finishes() {
    let publisher = TestPublisher::<u64>::new();
    let gates: Arc<Mutex<Vec<oneshot::Sender<()>>>> = Arc::default();
    let g = Arc::clone(&gates);
    let mut consumer = publisher.clone().for_each_async(
        move |_x| {
            let (tx, rx) = oneshot::channel();
            g.lock().unwrap().push(tx);
            async move {
                let _ = rx.await;
            }
        },
        1,
    );
    assert_eq!(
        publisher.requested(),
        0,
        "nothing before the future is polled"
    );
    assert!(poll_once(&mut consumer).is_pending());
    assert_eq!(publisher.requested(), 1);
    publisher.emit(1);
    assert!(poll_once(&mut consumer).is_pending());
    assert_eq!(
        publisher.requested(),
        1,
        "the work on 1 is not done: no request"
    );
    gates.lock().unwrap().remove(0).send(()).unwrap();
    assert!(poll_once(&mut consumer).is_pending());
    assert_eq!(publisher.requested(), 2, "done: one more");
    publisher.emit(2);
    assert!(poll_once(&mut consumer).is_pending());
    gates.lock().unwrap().remove(0).send(()).unwrap();
    publisher.complete();
    assert!(matches!(poll_once(&mut consumer), Poll::Ready(Ok(()))));
}

#[test]
fn with_concurrency_one_elements_are_handled_one_after_the_other_in_order() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let flight = Arc::new(InFlight::default());
    let (s, f) = (Arc::clone(&seen), Arc::clone(&flight));
    block_on(for_each_async(
        source::range(0, 50),
        move |x| {
            let (s, f) = (Arc::clone(&s), Arc::clone(&f));
            async move {
                f.enter();
                futures::future::ready(()).await;
                s.lock().unwrap().push(x);
                f.leave();
            }
        },
        1,
    ))
    .unwrap();
    assert_eq!(*seen.lock().unwrap(), (0..50).collect::<Vec<_>>());
    assert_eq!(flight.most.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_than_concurrency_futures_run_at_once() {
    let flight = Arc::new(InFlight::default());
    let up = Upstream::emitting(60);
    let f = Arc::clone(&flight);
    up.clone()
        .for_each_async(
            move |x| {
                let f = Arc::clone(&f);
                async move {
                    f.enter();
                    tokio::time::sleep(Duration::from_millis(1 + x % 3)).await;
                    f.leave();
                }
            },
            4,
        )
        .await
        .unwrap();
    let most = flight.most.load(Ordering::SeqCst);
    assert!(most <= 4, "at most 4 in flight, saw {most}");
    assert!(most > 1, "they do run concurrently");
    let stats = up.stats();
    assert_eq!(stats.emitted, 60);
    assert_eq!(stats.requests[0], 4, "the concurrency first");
}

#[test]
fn an_error_from_the_work_cancels_the_publisher_and_is_the_result() {
    let up = Upstream::never_completing(100);
    let error = block_on(for_each_async(
        up.clone(),
        |x| async move {
            if x == 3 {
                Err(Error::msg("bad row 3"))
            } else {
                Ok(())
            }
        },
        2,
    ))
    .unwrap_err();
    assert_eq!(error.to_string(), "bad row 3");
    assert!(up.is_cancelled());
}

#[test]
fn a_panic_in_the_closure_or_its_future_becomes_an_error_and_cancels() {
    let up = Upstream::never_completing(100);
    let error = block_on(for_each_async(
        up.clone(),
        |x| {
            if x == 2 {
                panic!("closure blew up");
            }
            async {}
        },
        1,
    ))
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Panic);
    assert!(error.to_string().contains("closure blew up"), "{error}");
    assert!(up.is_cancelled());

    let up = Upstream::never_completing(100);
    let error = block_on(for_each_async(
        up.clone(),
        |x| async move {
            if x == 1 {
                panic!("future blew up");
            }
        },
        3,
    ))
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Panic);
    assert!(error.to_string().contains("future blew up"), "{error}");
    assert!(up.is_cancelled());
}

#[test]
fn a_failed_publisher_fails_after_the_work_in_flight_has_finished() {
    let publisher = TestPublisher::<u64>::new();
    let (gate_tx, gate_rx) = oneshot::channel::<()>();
    let finished = Arc::new(AtomicUsize::new(0));
    let fin = Arc::clone(&finished);
    let mut gate_rx = Some(gate_rx);
    let mut consumer = for_each_async(
        publisher.clone(),
        move |_| {
            let gate = gate_rx.take();
            let fin = Arc::clone(&fin);
            async move {
                if let Some(g) = gate {
                    let _ = g.await;
                }
                fin.fetch_add(1, Ordering::SeqCst);
            }
        },
        2,
    );
    assert!(poll_once(&mut consumer).is_pending());
    publisher.emit(1);
    publisher.fail(Error::msg("broken"));
    assert!(
        poll_once(&mut consumer).is_pending(),
        "waits for the work in flight"
    );
    gate_tx.send(()).unwrap();
    match poll_once(&mut consumer) {
        Poll::Ready(Err(e)) => assert_eq!(e.to_string(), "broken"),
        other => panic!("expected the error, got {other:?}"),
    }
    assert_eq!(finished.load(Ordering::SeqCst), 1);
}

#[test]
fn dropping_the_future_cancels_the_publisher() {
    let publisher = TestPublisher::<u64>::new();
    let mut consumer = for_each_async(publisher.clone(), |_| async {}, 3);
    assert!(poll_once(&mut consumer).is_pending());
    drop(consumer);
    assert!(publisher.is_cancelled());
}

#[test]
#[should_panic(expected = "concurrency must be at least 1")]
fn a_concurrency_of_zero_is_rejected_with_the_argument_named() {
    drop(for_each_async(source::range(0, 1), |_| async {}, 0));
}

// ===== AsyncSubscriber =====

#[derive(Default)]
struct Recorder {
    items: Mutex<Vec<u64>>,
    completed: AtomicUsize,
    errors: Mutex<Vec<String>>,
}

#[async_trait]
impl AsyncSubscriber<u64> for Recorder {
    async fn on_next(&self, item: u64) -> Result<(), Error> {
        tokio::task::yield_now().await;
        self.items.lock().unwrap().push(item);
        Ok(())
    }
    async fn on_error(&self, error: Error) {
        self.errors.lock().unwrap().push(error.to_string());
    }
    async fn on_complete(&self) {
        self.completed.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_subscriber_as_a_trait_object_sees_every_element_then_on_complete() {
    let recorder = Arc::new(Recorder::default());
    let dynamic: Arc<dyn AsyncSubscriber<u64>> = recorder.clone();
    subscribe_async(source::range(0, 100), dynamic, 1)
        .await
        .unwrap();
    assert_eq!(
        *recorder.items.lock().unwrap(),
        (0..100).collect::<Vec<_>>()
    );
    assert_eq!(recorder.completed.load(Ordering::SeqCst), 1);
    assert!(recorder.errors.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn an_async_subscriber_hears_of_a_failed_publisher_and_the_future_fails_too() {
    let recorder = Arc::new(Recorder::default());
    let error = Upstream::failing_after(3, Error::msg("gone"))
        .subscribe_async(Arc::clone(&recorder), 2)
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "gone");
    assert_eq!(recorder.items.lock().unwrap().len(), 3);
    assert_eq!(*recorder.errors.lock().unwrap(), vec!["gone".to_string()]);
    assert_eq!(recorder.completed.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_source_feeds_an_async_consumer_across_tasks() {
    let (tx, rx) = emitter::<u64>(4, OverflowPolicy::Block);
    let producer = tokio::spawn(async move {
        for i in 0..500 {
            tx.emit(i).await.unwrap();
        }
    });
    let recorder = Arc::new(Recorder::default());
    rx.subscribe_async(Arc::clone(&recorder), 3).await.unwrap();
    producer.await.unwrap();
    let mut items = recorder.items.lock().unwrap().clone();
    items.sort_unstable();
    assert_eq!(items, (0..500).collect::<Vec<_>>());
    assert_eq!(recorder.completed.load(Ordering::SeqCst), 1);
}
