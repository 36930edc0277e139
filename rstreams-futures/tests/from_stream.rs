//! `from_stream` / `defer_stream` / `from_future` / `defer_future`: polled only as far as
//! demand allows, woken by the stream's own waker, cancel drops the stream, panics become
//! errors, single use is explicit, and the compliance kit passes.

mod support;

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use futures::channel::{mpsc, oneshot};
use futures::{stream, FutureExt, Stream, StreamExt};
use rstreams_core::{sink, source, Error, ErrorKind, Publisher};
use rstreams_futures::{
    defer_future, defer_stream, from_future, from_stream, into_stream, PublisherFuturesExt,
};
use rstreams_tck::{publisher_tck, PublisherVerification, TestSubscriber};
use support::{counting, track, WAIT};

// ===== demand =====

#[test]
fn the_stream_is_polled_once_per_element_requested_and_never_ahead() {
    let (stream, polls, _) = counting(stream::iter(0..100u64));
    let publisher = from_stream(stream);
    let probe = TestSubscriber::new(0);
    publisher.subscribe(probe.clone());
    assert_eq!(
        polls.load(Ordering::SeqCst),
        0,
        "nothing polled without demand"
    );
    probe.request(3);
    probe.assert_values(&[0, 1, 2]);
    assert_eq!(polls.load(Ordering::SeqCst), 3);
    probe.request(2);
    probe.assert_values(&[0, 1, 2, 3, 4]);
    assert_eq!(polls.load(Ordering::SeqCst), 5);
    probe.assert_no_violations();
}

#[test]
fn a_stream_that_is_not_ready_is_polled_again_only_when_it_wakes() {
    let (tx, rx) = mpsc::unbounded::<u64>();
    let (stream, polls, _) = counting(rx);
    let probe = TestSubscriber::new(10);
    from_stream(stream).subscribe(probe.clone());
    assert_eq!(polls.load(Ordering::SeqCst), 1, "one poll found nothing");
    // Nothing sent: no wake-up, no polling (no spinning).
    thread::sleep(Duration::from_millis(20));
    assert_eq!(polls.load(Ordering::SeqCst), 1);
    tx.unbounded_send(7).unwrap();
    probe.assert_values(&[7]);
    assert_eq!(
        polls.load(Ordering::SeqCst),
        3,
        "woken: one item, then pending again"
    );
    drop(tx);
    assert!(probe.is_complete());
}

#[test]
fn elements_sent_from_another_thread_arrive_in_order_under_partial_demand() {
    let (mut tx, rx) = mpsc::channel::<u64>(4);
    let producer = thread::spawn(move || {
        futures::executor::block_on(async {
            for i in 0..1_000 {
                futures::SinkExt::send(&mut tx, i).await.unwrap();
            }
        })
    });
    let probe = TestSubscriber::new(0);
    from_stream(rx).subscribe(probe.clone());
    while !probe.is_terminated() {
        let before = probe.count();
        probe.request(7);
        assert!(
            probe.await_count(before + 7, WAIT) || probe.is_terminated(),
            "stalled: {probe:?}"
        );
    }
    producer.join().unwrap();
    assert_eq!(probe.values(), (0..1_000).collect::<Vec<_>>());
    assert!(probe.is_complete());
    probe.assert_no_violations();
}

#[test]
fn a_stream_known_to_be_exhausted_completes_without_another_request() {
    // stream::iter reports an exact size hint: after the last element it is known to be done.
    let probe = TestSubscriber::new(3);
    from_stream(stream::iter(0..3u64)).subscribe(probe.clone());
    probe.assert_values(&[0, 1, 2]);
    assert!(probe.is_complete());
}

#[test]
fn a_stream_whose_end_is_unknown_completes_on_the_next_request() {
    let (stream, polls, _) = counting(stream::iter(0..3u64));
    let probe = TestSubscriber::new(3);
    from_stream(stream).subscribe(probe.clone());
    probe.assert_values(&[0, 1, 2]);
    assert!(
        !probe.is_terminated(),
        "it cannot know without polling ahead"
    );
    assert_eq!(polls.load(Ordering::SeqCst), 3);
    probe.request(1);
    assert!(probe.is_complete());
}

/// A stream whose size hint claims it is exhausted while it still has an element.
struct LyingHint {
    left: u64,
}

impl Stream for LyingHint {
    type Item = u64;
    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<u64>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        Poll::Ready(Some(self.left))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(0))
    }
}

#[test]
fn an_element_found_while_looking_for_the_end_waits_for_demand() {
    let probe = TestSubscriber::new(1);
    from_stream(LyingHint { left: 3 }).subscribe(probe.clone());
    probe.assert_values(&[2]);
    assert!(!probe.is_terminated());
    probe.request(1);
    probe.assert_values(&[2, 1]);
    probe.request(5);
    probe.assert_values(&[2, 1, 0]);
    assert!(probe.is_complete());
    probe.assert_no_violations();
}

/// A stream whose size hint always says it is exhausted: yields `1`, then stays pending and
/// keeps the waker it was given, counting its polls.
struct ExhaustedThenPending {
    polls: Arc<AtomicUsize>,
    waker: Arc<std::sync::Mutex<Option<std::task::Waker>>>,
}

impl Stream for ExhaustedThenPending {
    type Item = u64;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<u64>> {
        if self.polls.fetch_add(1, Ordering::SeqCst) == 0 {
            return Poll::Ready(Some(1));
        }
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(0))
    }
}

#[test]
fn a_wake_up_that_finds_no_demand_does_not_poll_the_stream() {
    let polls = Arc::new(AtomicUsize::new(0));
    let waker = Arc::new(std::sync::Mutex::new(None));
    let stream = ExhaustedThenPending {
        polls: Arc::clone(&polls),
        waker: Arc::clone(&waker),
    };
    let probe = TestSubscriber::new(1);
    from_stream(stream).subscribe(probe.clone());
    probe.assert_values(&[1]);
    assert_eq!(
        polls.load(Ordering::SeqCst),
        2,
        "the element, then one look for the end"
    );
    let woken = waker
        .lock()
        .unwrap()
        .take()
        .expect("the stream kept its waker");
    woken.wake();
    assert_eq!(
        polls.load(Ordering::SeqCst),
        2,
        "no demand: the wake-up is kept for the next request"
    );
    probe.request(1);
    assert_eq!(polls.load(Ordering::SeqCst), 3, "woken: polled again");
    assert!(!probe.is_terminated());
    probe.assert_no_violations();
}

#[test]
fn a_request_from_inside_on_next_does_not_recurse() {
    let probe = TestSubscriber::new(1).request_on_next(1);
    from_stream(stream::iter(0..10_000u64)).subscribe(probe.clone());
    assert_eq!(probe.count(), 10_000);
    assert!(probe.is_complete());
    probe.assert_no_violations();
}

// ===== cancel, errors, panics =====

#[test]
fn cancel_drops_the_stream_and_releases_the_subscriber() {
    let (tx, rx) = mpsc::unbounded::<u64>();
    let (stream, _, stream_alive) = counting(rx);
    let probe = TestSubscriber::new(5);
    let (subscriber, subscriber_alive) = track(probe.clone());
    from_stream(stream).subscribe(subscriber);
    tx.unbounded_send(1).unwrap();
    probe.assert_values(&[1]);
    probe.cancel();
    assert!(stream_alive.upgrade().is_none(), "the stream was dropped");
    assert!(subscriber_alive.upgrade().is_none(), "§3.13");
    assert!(tx.unbounded_send(2).is_err(), "the receiving end is gone");
    probe.cancel();
    probe.assert_no_violations();
}

#[test]
fn request_zero_fails_the_stream_naming_rule_3_9() {
    let probe = TestSubscriber::<u64>::new(0);
    from_stream(stream::iter(0..3u64)).subscribe(probe.clone());
    probe.request(0);
    let error = probe.error().expect("failed");
    assert_eq!(error.rule(), Some("3.9"));
    assert_eq!(error.stage(), Some("from_stream"));
}

#[test]
fn a_panic_in_poll_next_fails_the_stream() {
    let polls = AtomicUsize::new(0);
    let panicking = stream::poll_fn(move |_| {
        if polls.fetch_add(1, Ordering::SeqCst) == 2 {
            panic!("sensor on fire");
        }
        Poll::Ready(Some(1u8))
    });
    let probe = TestSubscriber::new(10);
    from_stream(panicking).subscribe(probe.clone());
    probe.assert_values(&[1, 1]);
    let error = probe.error().expect("failed");
    assert_eq!(error.kind(), ErrorKind::Panic);
    assert!(error.to_string().contains("sensor on fire"), "{error}");
}

#[test]
fn a_panic_in_a_stream_woken_from_another_thread_fails_the_stream_there() {
    let (tx, rx) = oneshot::channel::<()>();
    let mut rx = Some(rx);
    let stream = stream::poll_fn(move |cx| match rx.as_mut() {
        Some(r) => match r.poll_unpin(cx) {
            Poll::Ready(_) => {
                rx = None;
                panic!("late failure")
            }
            Poll::Pending => Poll::<Option<u8>>::Pending,
        },
        None => Poll::Ready(None),
    });
    let probe = TestSubscriber::new(1);
    from_stream(stream).subscribe(probe.clone());
    thread::spawn(move || tx.send(()).unwrap()).join().unwrap();
    assert!(probe.await_terminal(WAIT));
    assert_eq!(probe.error().unwrap().kind(), ErrorKind::Panic);
}

#[test]
fn a_panic_in_the_factory_fails_that_subscription() {
    let publisher = defer_stream(|| -> stream::Iter<std::ops::Range<u64>> { panic!("no config") });
    let probe = TestSubscriber::new(1);
    publisher.subscribe(probe.clone());
    assert!(probe.is_subscribed());
    assert_eq!(probe.error().unwrap().kind(), ErrorKind::Panic);
}

// ===== single use, factories =====

#[test]
fn a_second_subscriber_of_a_single_use_stream_is_rejected_naming_rule_1_9() {
    let publisher = from_stream(stream::iter(0..2u64));
    assert!(publisher.is_available());
    assert_eq!(sink::collect(&publisher).unwrap(), vec![0, 1]);
    assert!(!publisher.is_available());
    let second = TestSubscriber::<u64>::new(1);
    publisher.subscribe(second.clone());
    assert!(second.is_subscribed(), "on_subscribe first (§1.9)");
    let error = second.error().expect("rejected");
    assert_eq!(error.rule(), Some("1.9"));
    assert!(error.to_string().contains("defer_stream"), "{error}");
    second.assert_no_violations();
}

#[test]
fn a_deferred_stream_is_made_anew_for_every_subscriber() {
    let made = Arc::new(AtomicUsize::new(0));
    let m = Arc::clone(&made);
    let publisher = defer_stream(move || {
        m.fetch_add(1, Ordering::SeqCst);
        stream::iter(0..3u64)
    });
    assert_eq!(
        made.load(Ordering::SeqCst),
        0,
        "nothing made before a subscriber"
    );
    for _ in 0..3 {
        assert_eq!(sink::collect(&publisher).unwrap(), vec![0, 1, 2]);
    }
    assert_eq!(made.load(Ordering::SeqCst), 3);
}

#[test]
fn a_future_is_polled_only_once_requested_and_emits_its_value() {
    let polled = Arc::new(AtomicUsize::new(0));
    let p = Arc::clone(&polled);
    let publisher = from_future(async move {
        p.fetch_add(1, Ordering::SeqCst);
        "value"
    });
    let probe = TestSubscriber::new(0);
    publisher.subscribe(probe.clone());
    assert_eq!(
        polled.load(Ordering::SeqCst),
        0,
        "futures are lazy: no demand, no run"
    );
    probe.request(1);
    probe.assert_values(&["value"]);
    assert!(probe.is_complete());
    assert_eq!(
        sink::collect(&publisher).unwrap_err().rule(),
        Some("1.9"),
        "single use"
    );
}

#[test]
fn a_future_resolved_from_another_thread_is_delivered() {
    let (tx, rx) = oneshot::channel::<u32>();
    let probe = TestSubscriber::new(1);
    from_future(rx).subscribe(probe.clone());
    assert!(probe.values().is_empty());
    thread::spawn(move || tx.send(9).unwrap());
    assert!(probe.await_terminal(WAIT));
    assert_eq!(probe.values(), vec![Ok(9)]);
}

// ===== the compliance kit =====

fn failing_stream() -> rstreams_futures::DeferStream<impl Fn() -> stream::Iter<std::ops::Range<u64>>>
{
    defer_stream(|| -> stream::Iter<std::ops::Range<u64>> { panic!("tck: failed publisher") })
}

publisher_tck!(
    defer_stream_over_iter,
    PublisherVerification::new(|n| defer_stream(move || stream::iter(0..n)))
        .failed_publisher(failing_stream)
);

// Single use as it is: every check passes; §1.11 (several subscribers) is optional and reported
// as not implemented.
publisher_tck!(
    from_stream_single_use,
    PublisherVerification::new(|n| from_stream(stream::iter(0..n)))
);

/// A stream of `0..n` that is not ready every other poll and wakes itself from another thread:
/// the waker path under the kit's schedules.
fn hesitant(n: u64) -> impl Stream<Item = u64> + Send {
    let mut next = 0;
    let mut ready = false;
    stream::poll_fn(move |cx| {
        if next == n {
            return Poll::Ready(None);
        }
        ready = !ready;
        if !ready {
            let waker = cx.waker().clone();
            thread::spawn(move || waker.wake());
            return Poll::Pending;
        }
        next += 1;
        Poll::Ready(Some(next - 1))
    })
}

publisher_tck!(
    defer_stream_woken_from_other_threads,
    PublisherVerification::new(|n| defer_stream(move || hesitant(n))).max_elements(1_000)
);

publisher_tck!(
    defer_future,
    PublisherVerification::new(|n| match n {
        0 => source::empty::<u64>().boxed(),
        _ => defer_future(|| async { 7u64 }).boxed(),
    })
    .max_elements(1)
);

publisher_tck!(
    from_future_single_use,
    PublisherVerification::new(|n| match n {
        0 => source::empty::<u64>().boxed(),
        _ => from_future(async { 7u64 }).boxed(),
    })
    .max_elements(1)
    .failed_publisher(|| source::fail::<u64>(Error::msg("tck: failed publisher")))
);

// ===== under tokio =====

/// Elements from a tokio task, through a tokio channel, with timers in between.
fn tokio_channel_stream(n: u64) -> impl Stream<Item = u64> + Send {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(2);
    tokio::spawn(async move {
        for i in 0..n {
            if i % 10 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            if tx.send(i).await.is_err() {
                return;
            }
        }
    });
    stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokio_stream_round_trips_through_a_publisher_on_a_multi_threaded_runtime() {
    let publisher = from_stream(tokio_channel_stream(500));
    let items: Vec<u64> = publisher.into_stream(8).map(|r| r.unwrap()).collect().await;
    assert_eq!(items, (0..500).collect::<Vec<_>>());
}

#[tokio::test(flavor = "current_thread")]
async fn a_tokio_stream_round_trips_through_a_publisher_on_a_current_thread_runtime() {
    let publisher = from_stream(tokio_channel_stream(200));
    let items: Vec<u64> = into_stream(publisher, 3)
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert_eq!(items, (0..200).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_consumer_stops_the_tokio_producer() {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(1);
    let producer = tokio::spawn(async move {
        let mut sent = 0u64;
        while tx.send(sent).await.is_ok() {
            sent += 1;
        }
        sent
    });
    let mut consumer = from_stream(stream::poll_fn(move |cx| rx.poll_recv(cx))).into_stream(4);
    for expected in 0..10 {
        assert_eq!(consumer.next().await.unwrap().unwrap(), expected);
    }
    drop(consumer);
    let sent = tokio::time::timeout(WAIT, producer).await.unwrap().unwrap();
    assert!(sent >= 10, "the channel closed once the stream was dropped");
}
