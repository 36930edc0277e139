//! The async waits: `SubscriberHandle::wait_async` and `sink::collect_async`, on
//! `futures::executor` and on tokio, and cancel on drop.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures::executor::block_on;
use rstreams_core::{sink, source, Error, ErrorKind, Publisher};
use rstreams_tck::TestPublisher;

/// A waker that does nothing, to poll a future by hand.
struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    let waker = Waker::from(Arc::new(Noop));
    Pin::new(future).poll(&mut Context::from_waker(&waker))
}

#[test]
fn collect_async_resolves_to_every_element_in_order() {
    let items = block_on(sink::collect_async(&source::range(0, 100)));
    assert_eq!(items.unwrap(), (0..100).collect::<Vec<u64>>());
}

#[test]
fn collect_async_resolves_to_the_error_of_a_failed_stream() {
    let failed = source::fail::<u64>(Error::from("boom"));
    let error = block_on(sink::collect_async(&failed)).unwrap_err();
    assert_eq!(
        error.to_string(),
        sink::collect(&failed).unwrap_err().to_string()
    );
}

#[test]
fn wait_async_resolves_to_what_wait_returns() {
    let input = TestPublisher::<u32>::new();
    let subscriber = sink::for_each(|_: u32| {});
    let handle = subscriber.handle();
    input.subscribe(subscriber);
    let mut waiting = handle.wait_async();
    assert!(poll_once(&mut waiting).is_pending());
    input.emit(1);
    input.fail(Error::from("upstream failed"));
    let end = block_on(waiting);
    assert_eq!(
        end.unwrap_err().to_string(),
        handle.wait().unwrap_err().to_string()
    );
}

#[test]
fn wait_async_is_woken_by_a_terminal_signal_from_another_thread() {
    let input = TestPublisher::<u32>::new();
    let subscriber = sink::for_each(|_: u32| {});
    let handle = subscriber.handle();
    input.subscribe(subscriber);
    let completer = {
        let input = input.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            input.complete();
        })
    };
    assert!(block_on(handle.wait_async()).is_ok());
    completer.join().unwrap();
}

#[test]
fn several_wait_async_futures_on_one_handle_all_resolve() {
    let input = TestPublisher::<u32>::new();
    let subscriber = sink::for_each(|_: u32| {});
    let handle = subscriber.handle();
    input.subscribe(subscriber);
    let (mut a, mut b) = (handle.wait_async(), handle.clone().wait_async());
    for _ in 0..3 {
        assert!(poll_once(&mut a).is_pending()); // polled again: still one waker entry
        assert!(poll_once(&mut b).is_pending());
    }
    input.complete();
    assert!(matches!(poll_once(&mut a), Poll::Ready(Ok(()))));
    assert!(matches!(poll_once(&mut b), Poll::Ready(Ok(()))));
}

#[test]
fn dropping_an_unresolved_collect_async_cancels_the_upstream() {
    let input = TestPublisher::<u32>::new();
    let mut collecting = sink::collect_async(&input);
    assert!(poll_once(&mut collecting).is_pending());
    input.emit(1);
    assert!(!input.is_cancelled());
    drop(collecting);
    assert!(input.is_cancelled());
}

#[test]
fn dropping_an_unresolved_wait_async_cancels_the_subscription() {
    let input = TestPublisher::<u32>::new();
    let subscriber = sink::for_each(|_: u32| {});
    let handle = subscriber.handle();
    input.subscribe(subscriber);
    drop(handle.wait_async()); // never polled: still cancels
    assert!(input.is_cancelled());
    assert!(handle.is_done());
    assert!(handle.wait().is_ok());
}

#[test]
fn dropping_a_resolved_wait_async_cancels_nothing() {
    let input = TestPublisher::<u32>::new();
    let subscriber = sink::for_each(|_: u32| {});
    let handle = subscriber.handle();
    input.subscribe(subscriber);
    input.fail(Error::from("failed first"));
    let mut waiting = handle.wait_async();
    assert!(matches!(poll_once(&mut waiting), Poll::Ready(Err(_))));
    drop(waiting);
    assert!(handle.wait().is_err(), "the error was replaced by a cancel");
}

#[test]
fn a_panicking_closure_resolves_wait_async_to_a_panic_error() {
    let subscriber = sink::for_each(|x: u64| assert!(x < 2, "too big"));
    let handle = subscriber.handle();
    source::range(0, 5).subscribe(subscriber);
    assert_eq!(
        block_on(handle.wait_async()).unwrap_err().kind(),
        ErrorKind::Panic
    );
}

#[tokio::test(flavor = "current_thread")]
async fn collect_async_is_awaited_on_a_current_thread_tokio_runtime() {
    let input = TestPublisher::<u32>::new();
    let collecting = sink::collect_async(&input);
    let producer = {
        let input = input.clone();
        tokio::spawn(async move {
            for i in 0..10 {
                tokio::task::yield_now().await;
                input.emit(i);
            }
            input.complete();
        })
    };
    assert_eq!(collecting.await.unwrap(), (0..10).collect::<Vec<u32>>());
    producer.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_async_is_awaited_on_a_multi_thread_tokio_runtime() {
    let subscriber = sink::for_each(|_: u64| {});
    let handle = subscriber.handle();
    let input = TestPublisher::<u64>::new();
    input.subscribe(subscriber);
    let feeder = {
        let input = input.clone();
        tokio::task::spawn_blocking(move || {
            for i in 0..1000 {
                input.emit(i);
            }
            input.complete();
        })
    };
    assert!(handle.wait_async().await.is_ok());
    feeder.await.unwrap();
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_tokio_timeout_that_gives_up_on_wait_async_cancels_the_upstream() {
    let input = TestPublisher::<u32>::new();
    let collecting = sink::collect_async(&input);
    let gave_up = tokio::time::timeout(Duration::from_secs(5), collecting).await;
    assert!(gave_up.is_err());
    assert!(input.is_cancelled());
}
