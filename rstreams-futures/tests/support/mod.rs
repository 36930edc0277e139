//! Helpers shared by the bridge tests: instrumented streams and sinks, a subscriber whose release
//! can be observed, and a publisher that breaks the rules on purpose.

#![allow(dead_code)] // each test file uses a different subset

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::{Sink, Stream};
use rstreams_core::{NoopSubscription, Publisher, Subscriber, Subscription};
#[allow(unused_imports)] // used by some of the test files that share this module
pub use rstreams_tck::track;

pub const WAIT: Duration = Duration::from_secs(10);

/// Waits until `done` holds, sleeping between looks; `false` after `WAIT`.
pub fn eventually(done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// A stream that counts how often it is polled. Its size hint says nothing (`(0, None)`), so
/// the bridge cannot know it is exhausted before polling it.
pub struct Counting<S> {
    inner: S,
    polls: Arc<AtomicUsize>,
    _token: Arc<()>,
}

/// Wraps `inner`; returns the poll counter and a `Weak` that dies with the stream.
pub fn counting<S>(inner: S) -> (Counting<S>, Arc<AtomicUsize>, Weak<()>) {
    let polls = Arc::new(AtomicUsize::new(0));
    let token = Arc::new(());
    let weak = Arc::downgrade(&token);
    (
        Counting {
            inner,
            polls: Arc::clone(&polls),
            _token: token,
        },
        polls,
        weak,
    )
}

impl<S: Stream + Unpin> Stream for Counting<S> {
    type Item = S::Item;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

/// What a [`RecordingSink`] was asked to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkCall {
    Send(u64),
    Flush,
    Close,
}

/// A sink that records its calls; it is ready only every other `poll_ready` (and wakes itself),
/// and can be told to fail on an element.
#[derive(Clone, Default)]
pub struct RecordingSink {
    pub calls: Arc<Mutex<Vec<SinkCall>>>,
    pub fail_on: Option<u64>,
    pub not_ready_next: Arc<Mutex<bool>>,
}

#[derive(Debug)]
pub struct SinkFailed(pub u64);

impl std::fmt::Display for SinkFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the sink refused {}", self.0)
    }
}

impl std::error::Error for SinkFailed {}

impl RecordingSink {
    pub fn calls(&self) -> Vec<SinkCall> {
        self.calls.lock().unwrap().clone()
    }
    pub fn sent(&self) -> Vec<u64> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                SinkCall::Send(x) => Some(x),
                _ => None,
            })
            .collect()
    }
}

impl Sink<u64> for RecordingSink {
    type Error = SinkFailed;
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SinkFailed>> {
        let mut toggle = self.not_ready_next.lock().unwrap();
        *toggle = !*toggle;
        if *toggle {
            cx.waker().wake_by_ref();
            Poll::Pending
        } else {
            Poll::Ready(Ok(()))
        }
    }
    fn start_send(self: Pin<&mut Self>, item: u64) -> Result<(), SinkFailed> {
        if self.fail_on == Some(item) {
            return Err(SinkFailed(item));
        }
        self.calls.lock().unwrap().push(SinkCall::Send(item));
        Ok(())
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), SinkFailed>> {
        let mut calls = self.calls.lock().unwrap();
        if calls.last() != Some(&SinkCall::Flush) {
            calls.push(SinkCall::Flush);
        }
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), SinkFailed>> {
        self.calls.lock().unwrap().push(SinkCall::Close);
        Poll::Ready(Ok(()))
    }
}

/// A publisher that breaks §1.1 on purpose: on the first request it emits `count` elements,
/// whatever was asked.
pub struct OverEmitting {
    pub count: u64,
}

struct OverEmittingSubscription<S> {
    subscriber: Mutex<Option<S>>,
    count: u64,
}

impl<S: Subscriber<u64> + 'static> Subscription for OverEmittingSubscription<S> {
    fn request(&self, _n: u64) {
        let taken = self.subscriber.lock().unwrap().take();
        if let Some(mut s) = taken {
            for i in 0..self.count {
                s.on_next(i);
            }
        }
    }
    fn cancel(&self) {}
}

impl Publisher for OverEmitting {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
        let sub = Arc::new(OverEmittingSubscription {
            subscriber: Mutex::new(None),
            count: self.count,
        });
        subscriber.on_subscribe(sub.clone());
        *sub.subscriber.lock().unwrap() = Some(subscriber);
    }
}

/// A publisher that subscribes and then drops its subscriber without any other signal.
pub struct Forgetful;

impl Publisher for Forgetful {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
        subscriber.on_subscribe(Arc::new(NoopSubscription));
    }
}
