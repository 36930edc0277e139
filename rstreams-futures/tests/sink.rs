//! `forward_to` / `sink_subscriber`: one element at a time as the sink becomes ready, flush
//! while waiting, close on completion, errors from either side, cancel on drop, and the
//! subscriber half through the compliance kit.

mod support;

use std::pin::Pin;
use std::task::Context;
use std::thread;

use futures::channel::mpsc;
use futures::executor::block_on;
use futures::task::noop_waker;
use futures::{Future, StreamExt};
use rstreams_core::source::{self, emitter, OverflowPolicy};
use rstreams_core::{Error, ErrorKind, Publisher};
use rstreams_futures::{forward_to, sink_subscriber, PublisherFuturesExt};
use rstreams_tck::{subscriber_tck, SubscriberVerification, TestPublisher, Upstream};
use support::{RecordingSink, SinkCall, SinkFailed, WAIT};

fn poll_once<F: Future + Unpin>(future: &mut F) -> std::task::Poll<F::Output> {
    let waker = noop_waker();
    Pin::new(future).poll(&mut Context::from_waker(&waker))
}

#[test]
fn every_element_reaches_the_sink_which_is_closed_on_completion() {
    let sink = RecordingSink::default();
    block_on(forward_to(source::range(0, 5), sink.clone())).unwrap();
    assert_eq!(sink.sent(), vec![0, 1, 2, 3, 4]);
    assert_eq!(sink.calls().last(), Some(&SinkCall::Close));
}

#[test]
fn one_element_is_requested_at_a_time_and_only_when_the_sink_is_ready() {
    let up = Upstream::emitting(6);
    let sink = RecordingSink::default(); // ready only every other poll_ready
    block_on(up.clone().forward_to(sink.clone())).unwrap();
    assert_eq!(sink.sent(), (0..6).collect::<Vec<_>>());
    assert!(
        up.stats().requests.iter().all(|&n| n == 1),
        "{:?}",
        up.stats()
    );
}

#[test]
fn a_slow_sink_holds_the_publisher_to_one_outstanding_element() {
    let publisher = TestPublisher::<u64>::new();
    let (tx, mut rx) = mpsc::channel::<u64>(0); // capacity: one per sender
    let mut forward = forward_to(publisher.clone(), tx);
    assert_eq!(
        publisher.requested(),
        0,
        "nothing before the future is polled"
    );
    assert!(poll_once(&mut forward).is_pending());
    assert_eq!(publisher.requested(), 1);
    publisher.emit(10);
    assert!(poll_once(&mut forward).is_pending()); // sends 10; the channel is now full
    assert!(
        publisher.try_emit(11).is_err(),
        "no demand beyond one element"
    );
    assert_eq!(block_on(rx.next()), Some(10));
    assert!(poll_once(&mut forward).is_pending());
    assert_eq!(publisher.requested(), 2, "room again: one more requested");
    publisher.emit(11);
    publisher.complete();
    assert!(poll_once(&mut forward).is_ready());
    assert_eq!(block_on(rx.collect::<Vec<_>>()), vec![11]);
}

#[test]
fn the_sink_is_flushed_while_waiting_for_the_publisher() {
    let publisher = TestPublisher::<u64>::new();
    let sink = RecordingSink::default();
    let mut forward = forward_to(publisher.clone(), sink.clone());
    while publisher.requested() == 0 {
        assert!(poll_once(&mut forward).is_pending());
    }
    publisher.emit(1);
    while !sink.sent().contains(&1) || publisher.requested() < 2 {
        assert!(poll_once(&mut forward).is_pending());
    }
    assert!(poll_once(&mut forward).is_pending());
    assert_eq!(
        sink.calls(),
        vec![SinkCall::Flush, SinkCall::Send(1), SinkCall::Flush]
    );
}

#[test]
fn a_failed_publisher_fails_the_future_without_closing_the_sink() {
    let sink = RecordingSink::default();
    let up = Upstream::failing_after(2, Error::msg("upstream broke"));
    let error = block_on(forward_to(up, sink.clone())).unwrap_err();
    assert_eq!(error.to_string(), "upstream broke");
    assert_eq!(sink.sent(), vec![0, 1]);
    assert!(!sink.calls().contains(&SinkCall::Close));
}

#[test]
fn a_failing_sink_cancels_the_publisher_and_its_error_is_reachable() {
    let up = Upstream::never_completing(100);
    let sink = RecordingSink {
        fail_on: Some(3),
        ..RecordingSink::default()
    };
    let error = block_on(forward_to(up.clone(), sink.clone())).unwrap_err();
    assert_eq!(error.downcast_ref::<SinkFailed>().map(|e| e.0), Some(3));
    assert!(up.is_cancelled());
    assert_eq!(sink.sent(), vec![0, 1, 2]);
}

#[test]
fn a_panicking_sink_fails_the_future_and_cancels_the_publisher() {
    struct Exploding;
    impl futures::Sink<u64> for Exploding {
        type Error = std::convert::Infallible;
        fn poll_ready(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn start_send(self: Pin<&mut Self>, item: u64) -> Result<(), Self::Error> {
            assert!(item < 2, "the sink cannot take {item}");
            Ok(())
        }
        fn poll_flush(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_close(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }
    }
    let up = Upstream::never_completing(10);
    let error = block_on(forward_to(up.clone(), Exploding)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Panic);
    assert!(error.to_string().contains("cannot take 2"), "{error}");
    assert!(up.is_cancelled());
}

#[test]
fn dropping_the_future_cancels_the_publisher() {
    let publisher = TestPublisher::<u64>::new();
    let mut forward = forward_to(publisher.clone(), RecordingSink::default());
    let _ = poll_once(&mut forward);
    drop(forward);
    assert!(publisher.is_cancelled());
    assert!(!publisher.has_subscriber(), "§3.13");
}

#[test]
fn the_two_halves_work_with_a_publisher_subscribed_elsewhere() {
    let (subscriber, forward) = sink_subscriber::<u64, _>(RecordingSink::default());
    let (tx, rx) = emitter::<u64>(4, OverflowPolicy::Block);
    let driver = thread::spawn(move || block_on(forward));
    rx.subscribe(subscriber);
    for i in 0..100 {
        tx.emit_blocking(i).unwrap();
    }
    drop(tx);
    driver.join().unwrap().unwrap();
}

#[test]
fn a_sink_of_errors_of_type_error_passes_them_through() {
    struct Refusing;
    impl futures::Sink<u64> for Refusing {
        type Error = Error;
        fn poll_ready(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> std::task::Poll<Result<(), Error>> {
            std::task::Poll::Ready(Err(Error::msg("closed for maintenance")))
        }
        fn start_send(self: Pin<&mut Self>, _: u64) -> Result<(), Error> {
            unreachable!()
        }
        fn poll_flush(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> std::task::Poll<Result<(), Error>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_close(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> std::task::Poll<Result<(), Error>> {
            std::task::Poll::Ready(Ok(()))
        }
    }
    let error = block_on(forward_to(source::range(0, 3), Refusing)).unwrap_err();
    assert_eq!(error.to_string(), "closed for maintenance");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_into_a_channel_read_by_another_task_delivers_everything() {
    let (tx, rx) = mpsc::channel::<u64>(4);
    let reader = tokio::spawn(rx.collect::<Vec<_>>());
    let (etx, erx) = emitter::<u64>(8, OverflowPolicy::Block);
    let producer = tokio::spawn(async move {
        for i in 0..1_000 {
            etx.emit(i).await.unwrap();
        }
    });
    tokio::time::timeout(WAIT, erx.forward_to(tx))
        .await
        .unwrap()
        .unwrap();
    producer.await.unwrap();
    assert_eq!(reader.await.unwrap(), (0..1_000).collect::<Vec<_>>());
}

#[tokio::test(flavor = "current_thread")]
async fn forwarding_on_a_current_thread_runtime_yields_to_other_tasks() {
    let (tx, rx) = mpsc::channel::<u64>(1);
    let reader = tokio::spawn(rx.collect::<Vec<_>>());
    source::range(0, 2_000).forward_to(tx).await.unwrap();
    assert_eq!(reader.await.unwrap().len(), 2_000);
}

// The subscriber half through the kit: a driver thread polls the future into a sink that
// drains everything.
fn driven_sink_subscriber() -> rstreams_futures::SinkSubscriber<u64> {
    let (subscriber, forward) = sink_subscriber::<u64, _>(futures::sink::drain());
    thread::spawn(move || {
        let _ = block_on(forward);
    });
    subscriber
}

subscriber_tck!(
    sink_subscriber_driven,
    SubscriberVerification::new(driven_sink_subscriber)
);
