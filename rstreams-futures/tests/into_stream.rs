//! `into_stream`: the stream's consumption is the demand (prefetch, then refills at 75 %),
//! dropping it cancels, errors come out as one `Err` item, and a publisher that breaks the
//! rules is caught.

mod support;

use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use futures::executor::block_on;
use futures::stream::FusedStream;
use futures::task::noop_waker;
use futures::{Stream, StreamExt, TryStreamExt};
use rstreams_core::source::{self, emitter, OverflowPolicy};
use rstreams_core::Error;
use rstreams_futures::{into_stream, PublisherFuturesExt, PublisherStream};
use rstreams_tck::{TestPublisher, Upstream};
use support::{Forgetful, OverEmitting, WAIT};

fn poll_once<T>(stream: &mut PublisherStream<T>) -> Poll<Option<Result<T, Error>>> {
    let waker = noop_waker();
    Pin::new(stream).poll_next(&mut Context::from_waker(&waker))
}

#[test]
fn nothing_is_requested_until_the_stream_is_first_polled() {
    let publisher = TestPublisher::<u64>::new();
    let mut stream = into_stream(publisher.clone(), 4);
    assert!(publisher.has_subscriber(), "subscribed at once");
    assert_eq!(publisher.requested(), 0, "but nothing requested");
    assert!(poll_once(&mut stream).is_pending());
    assert_eq!(
        publisher.requests(),
        vec![4],
        "the prefetch, when first polled"
    );
}

#[test]
fn demand_is_the_prefetch_then_refills_of_three_quarters() {
    let up = Upstream::emitting(20);
    let items: Vec<u64> = block_on(into_stream(up.clone(), 8).try_collect()).unwrap();
    assert_eq!(items, (0..20).collect::<Vec<_>>());
    // 8 first, then 6 (= 8 - 8/4) each time six were taken; the 20th element completes it.
    assert_eq!(up.stats().requests, vec![8, 6, 6]);
}

#[test]
fn at_most_prefetch_elements_are_ever_outstanding_or_queued() {
    let publisher = TestPublisher::<u64>::new();
    let mut stream = into_stream(publisher.clone(), 4);
    assert!(poll_once(&mut stream).is_pending());
    let mut next = 0;
    for taken in 0..50 {
        // The publisher emits everything it may; the consumer takes one.
        while publisher.try_emit(next).is_ok() {
            next += 1;
        }
        assert!(
            publisher.emitted() - taken <= 4,
            "queued elements never exceed the prefetch"
        );
        assert!(
            publisher.requested() - taken <= 4,
            "nor does outstanding demand"
        );
        match poll_once(&mut stream) {
            Poll::Ready(Some(Ok(x))) => assert_eq!(x, taken),
            other => panic!("expected an element, got {other:?}"),
        }
    }
}

#[test]
fn a_prefetch_of_one_asks_for_one_element_at_a_time() {
    let up = Upstream::emitting(3);
    let items: Vec<u64> = block_on(up.clone().into_stream(1).try_collect()).unwrap();
    assert_eq!(items, vec![0, 1, 2]);
    assert_eq!(up.stats().requests, vec![1, 1, 1]);
}

#[test]
fn dropping_the_stream_cancels_the_upstream() {
    let publisher = TestPublisher::<u64>::new();
    let mut stream = into_stream(publisher.clone(), 4);
    assert!(poll_once(&mut stream).is_pending());
    publisher.emit(1);
    assert!(matches!(poll_once(&mut stream), Poll::Ready(Some(Ok(1)))));
    drop(stream);
    assert!(publisher.is_cancelled());
    assert!(
        !publisher.has_subscriber(),
        "§3.13: the subscriber was released"
    );
}

#[test]
fn dropping_an_unpolled_stream_cancels_the_upstream() {
    let up = Upstream::never_completing(10);
    let stream = into_stream(up.clone(), 4);
    drop(stream);
    assert!(up.is_cancelled());
    assert_eq!(up.requested(), 0);
}

#[test]
fn an_error_comes_out_once_after_the_elements_sent_before_it_then_the_stream_ends() {
    let up = Upstream::failing_after(3, Error::msg("broker gone"));
    let mut stream = into_stream(up, 16);
    let items: Vec<Result<u64, Error>> = block_on((&mut stream).collect());
    assert_eq!(items.len(), 4);
    assert_eq!(
        items[..3]
            .iter()
            .map(|r| *r.as_ref().unwrap())
            .collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert_eq!(items[3].as_ref().unwrap_err().to_string(), "broker gone");
    assert!(stream.is_terminated());
    assert!(block_on(stream.next()).is_none(), "fused");
}

#[test]
fn errors_work_with_try_stream_combinators() {
    let err =
        block_on(into_stream(source::fail::<u8>(Error::msg("nope")), 2).try_collect::<Vec<_>>())
            .unwrap_err();
    assert_eq!(err.to_string(), "nope");
}

#[test]
fn a_publisher_that_emits_beyond_demand_fails_the_stream_naming_rule_1_1() {
    let mut stream = into_stream(OverEmitting { count: 10 }, 4);
    let items: Vec<Result<u64, Error>> = block_on((&mut stream).collect());
    let error = items.last().unwrap().as_ref().unwrap_err();
    assert_eq!(error.rule(), Some("1.1"));
    assert!(items.len() <= 5, "at most the prefetch, then the error");
}

#[test]
fn a_publisher_that_drops_its_subscriber_without_ending_fails_the_stream() {
    let result = block_on(into_stream(Forgetful, 2).try_collect::<Vec<_>>());
    assert!(result
        .unwrap_err()
        .to_string()
        .contains("without a terminal signal"));
}

#[test]
#[should_panic(expected = "prefetch must be at least 1")]
fn a_prefetch_of_zero_is_rejected_with_the_argument_named() {
    let _ = into_stream(source::range(0, 1), 0);
}

#[test]
fn a_hot_emitter_on_another_thread_is_consumed_within_the_prefetch() {
    let (tx, rx) = emitter::<u64>(4, OverflowPolicy::Block);
    let producer = thread::spawn(move || {
        for i in 0..2_000 {
            tx.emit_blocking(i).unwrap();
        }
    });
    let items: Vec<u64> = block_on(rx.into_stream(16).try_collect()).unwrap();
    producer.join().unwrap();
    assert_eq!(items, (0..2_000).collect::<Vec<_>>());
}

#[test]
fn a_stream_is_woken_by_an_element_from_another_thread() {
    let publisher = TestPublisher::<u64>::new();
    let emitter_side = publisher.clone();
    let mut stream = into_stream(publisher, 2);
    let producer = thread::spawn(move || {
        assert!(emitter_side.await_requested(2, WAIT));
        thread::sleep(Duration::from_millis(10));
        emitter_side.emit(5);
        emitter_side.complete();
    });
    assert_eq!(block_on(stream.next()).unwrap().unwrap(), 5);
    assert!(block_on(stream.next()).is_none());
    producer.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_streams_are_consumed_concurrently_on_a_multi_threaded_runtime() {
    let tasks: Vec<_> = (0..4u64)
        .map(|k| {
            tokio::spawn(async move {
                let (tx, rx) = emitter::<u64>(2, OverflowPolicy::Block);
                let producer = tokio::spawn(async move {
                    for i in 0..300 {
                        tx.emit(i * k).await.unwrap();
                        if i % 50 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                });
                let items: Vec<u64> = rx.into_stream(4).try_collect().await.unwrap();
                producer.await.unwrap();
                items
            })
        })
        .collect();
    for (k, task) in tasks.into_iter().enumerate() {
        let items = task.await.unwrap();
        assert_eq!(items, (0..300).map(|i| i * k as u64).collect::<Vec<_>>());
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_synchronous_publisher_is_consumed_on_a_current_thread_runtime() {
    let sum = source::range(0, 10_000)
        .into_stream(64)
        .try_fold(0u64, |acc, x| async move { Ok(acc + x) })
        .await
        .unwrap();
    assert_eq!(sum, (0..10_000).sum::<u64>());
}

#[test]
fn a_publisher_subscribed_through_a_reference_can_be_streamed_again() {
    let range = source::range(0, 3);
    for _ in 0..2 {
        let items: Vec<u64> = block_on(into_stream(&range, 2).try_collect()).unwrap();
        assert_eq!(items, vec![0, 1, 2]);
    }
}

#[test]
fn a_prefetch_of_usize_max_allocates_nothing_up_front_and_delivers() {
    let stream = source::range(0, 100).into_stream(usize::MAX);
    let all: Vec<u64> = block_on(stream.map(Result::unwrap).collect());
    assert_eq!(all, (0..100).collect::<Vec<u64>>());
}
