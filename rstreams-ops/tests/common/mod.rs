//! Test helpers shared by the operator tests: a spy on upstream requests, a wrapper that takes
//! the conditional fast path away, a publisher driven by hand, and the protocol checks every
//! operator that emits `0..n` in order for `0..n` must pass.

#![allow(dead_code)] // each test file uses its own subset

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rstreams_core::{Error, ErrorKind, Publisher, Subscriber, Subscription};
pub use rstreams_tck::track;
use rstreams_tck::{await_released, TestSubscriber};

pub const WAIT: Duration = Duration::from_secs(10);
pub const QUIET: Duration = Duration::from_millis(20);

// ===== Spy: records what a stage asks of its upstream =====

/// What a [`Spy`] saw: every `request(n)` and every `cancel()` made on the upstream.
#[derive(Clone, Default)]
pub struct Log {
    requests: Arc<Mutex<Vec<u64>>>,
    cancels: Arc<AtomicUsize>,
}

impl Log {
    pub fn requests(&self) -> Vec<u64> {
        self.requests.lock().unwrap().clone()
    }
    /// The sum of all requests, saturating (`u64::MAX`: unbounded).
    pub fn total_requested(&self) -> u64 {
        self.requests()
            .iter()
            .fold(0u64, |sum, &n| sum.saturating_add(n))
    }
    pub fn cancels(&self) -> usize {
        self.cancels.load(Ordering::SeqCst)
    }
}

/// Wraps a publisher and records the requests and cancels that reach it. Forwards
/// `try_on_next`, so the conditional fast path is kept. Clones share the log.
#[derive(Clone)]
pub struct Spy<P> {
    inner: P,
    log: Log,
}

pub fn spy<P>(inner: P) -> (Spy<P>, Log) {
    let log = Log::default();
    (
        Spy {
            inner,
            log: log.clone(),
        },
        log,
    )
}

struct SpySubscriber<S> {
    inner: S,
    log: Log,
}

struct SpySubscription {
    inner: Arc<dyn Subscription>,
    log: Log,
}

impl Subscription for SpySubscription {
    fn request(&self, n: u64) {
        self.log.requests.lock().unwrap().push(n);
        self.inner.request(n)
    }
    fn cancel(&self) {
        self.log.cancels.fetch_add(1, Ordering::SeqCst);
        self.inner.cancel()
    }
}

impl<T, S: Subscriber<T>> Subscriber<T> for SpySubscriber<S> {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        self.inner.on_subscribe(Arc::new(SpySubscription {
            inner: s,
            log: self.log.clone(),
        }))
    }
    fn on_next(&mut self, item: T) {
        self.inner.on_next(item)
    }
    fn try_on_next(&mut self, item: T) -> bool {
        self.inner.try_on_next(item)
    }
    fn on_error(&mut self, e: Error) {
        self.inner.on_error(e)
    }
    fn on_complete(&mut self) {
        self.inner.on_complete()
    }
}

impl<P: Publisher> Publisher for Spy<P>
where
    P::Item: 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.inner.subscribe(SpySubscriber {
            inner: subscriber,
            log: self.log.clone(),
        })
    }
}

// ===== PlainOnly: an upstream that never uses the fast path =====

/// Wraps a publisher so that its subscriber only ever receives plain `on_next` (the wrapper
/// keeps the default `try_on_next`, which calls `on_next` and reports the element as used).
pub struct PlainOnly<P>(pub P);

struct PlainSubscriber<S>(S);

impl<T, S: Subscriber<T>> Subscriber<T> for PlainSubscriber<S> {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        self.0.on_subscribe(s)
    }
    fn on_next(&mut self, item: T) {
        self.0.on_next(item)
    }
    fn on_error(&mut self, e: Error) {
        self.0.on_error(e)
    }
    fn on_complete(&mut self) {
        self.0.on_complete()
    }
}

impl<P: Publisher> Publisher for PlainOnly<P>
where
    P::Item: 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.0.subscribe(PlainSubscriber(subscriber))
    }
}

// ===== Manual: a publisher the test drives by hand =====

/// A publisher for one subscriber that signals exactly what the test tells it to, on the test's
/// thread, whatever the demand (so tests can also make it break §1.1). Records the requests it
/// receives until it is cancelled (§3.6); on cancel it drops its subscriber (§3.13).
pub struct Manual<T> {
    shared: Arc<ManualShared<T>>,
}

struct ManualShared<T> {
    subscriber: Mutex<Option<Box<dyn Subscriber<T>>>>,
    log: Log,
    cancelled: Mutex<bool>,
    /// Keeps the subscriber (and signalling) after a cancel: an upstream that lags (§3.12
    /// only says "eventually").
    lagging: bool,
}

impl<T> Clone for Manual<T> {
    fn clone(&self) -> Self {
        Manual {
            shared: Arc::clone(&self.shared),
        }
    }
}

struct ManualSubscription<T> {
    shared: Weak<ManualShared<T>>,
}

impl<T: 'static> Subscription for ManualSubscription<T> {
    fn request(&self, n: u64) {
        if let Some(shared) = self.shared.upgrade() {
            if *shared.cancelled.lock().unwrap() {
                return; // §3.6
            }
            shared.log.requests.lock().unwrap().push(n);
        }
    }
    fn cancel(&self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.log.cancels.fetch_add(1, Ordering::SeqCst);
            *shared.cancelled.lock().unwrap() = true;
            if shared.lagging {
                return;
            }
            // Dropped here unless it is out for a signal; then dropped when that returns.
            let released = shared.subscriber.lock().unwrap().take();
            drop(released);
        }
    }
}

impl<T: Send + 'static> Manual<T> {
    pub fn new() -> Self {
        Self::build(false)
    }

    /// A publisher that goes on signalling what it is told after a cancel.
    pub fn lagging() -> Self {
        Self::build(true)
    }

    fn build(lagging: bool) -> Self {
        Manual {
            shared: Arc::new(ManualShared {
                subscriber: Mutex::new(None),
                log: Log::default(),
                cancelled: Mutex::new(false),
                lagging,
            }),
        }
    }

    pub fn log(&self) -> Log {
        self.shared.log.clone()
    }

    /// The sum of the requests received so far.
    pub fn requested(&self) -> u64 {
        self.shared.log.total_requested()
    }

    pub fn is_cancelled(&self) -> bool {
        *self.shared.cancelled.lock().unwrap()
    }

    /// Whether it still holds a subscriber.
    pub fn has_subscriber(&self) -> bool {
        self.shared.subscriber.lock().unwrap().is_some()
    }

    fn signal(&self, f: impl FnOnce(&mut dyn Subscriber<T>), terminal: bool) {
        let taken = self.shared.subscriber.lock().unwrap().take();
        if let Some(mut subscriber) = taken {
            f(&mut *subscriber);
            if !terminal && (self.shared.lagging || !self.is_cancelled()) {
                *self.shared.subscriber.lock().unwrap() = Some(subscriber);
            }
        }
    }

    pub fn next(&self, item: T) {
        self.signal(|s| s.on_next(item), false)
    }

    /// Offers on the fast path; `None` when there is no subscriber.
    pub fn try_next(&self, item: T) -> Option<bool> {
        let mut used = None;
        self.signal(|s| used = Some(s.try_on_next(item)), false);
        used
    }

    pub fn complete(&self) {
        self.signal(|s| s.on_complete(), true)
    }

    pub fn error(&self, error: Error) {
        self.signal(|s| s.on_error(error), true)
    }
}

impl<T: Send + 'static> Publisher for Manual<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + 'static>(&self, mut subscriber: S) {
        let subscription = Arc::new(ManualSubscription {
            shared: Arc::downgrade(&self.shared),
        });
        subscriber.on_subscribe(subscription);
        if self.shared.lagging || !self.is_cancelled() {
            *self.shared.subscriber.lock().unwrap() = Some(Box::new(subscriber));
        }
    }
}

// ===== Release: see when a publisher lets go of its subscriber (rstreams_tck::track) =====

/// Waits (bounded) until the `Weak` of a [`track`]ed subscriber is dead.
pub fn released(weak: &Weak<()>) -> bool {
    await_released(weak, WAIT)
}

/// A panic message as the stream's error shows it.
pub fn assert_panic_error(error: &Error, stage: &str, message: &str) {
    assert_eq!(error.kind(), ErrorKind::Panic, "{error}");
    assert_eq!(error.stage(), Some(stage), "{error}");
    assert!(error.to_string().contains(message), "{error}");
}

// ===== The protocol checks =====
//
// `make(n)` builds the operator under test over `range(0, n)` (possibly through a spy) so that
// it emits `0..n` in order.

pub fn zero_demand_emits_nothing<P: Publisher<Item = u64>>(make: impl Fn(u64) -> P) {
    let probe = TestSubscriber::new(0);
    make(10).subscribe(probe.clone());
    assert!(probe.await_subscribed(WAIT));
    probe.assert_no_more_within(QUIET);
    assert_eq!(probe.count(), 0);
    assert!(!probe.is_terminated());
    probe.assert_no_violations();
    probe.cancel();
}

pub fn partial_demand_is_exact<P: Publisher<Item = u64>>(make: impl Fn(u64) -> P) {
    let probe = TestSubscriber::new(0);
    make(10).subscribe(probe.clone());
    probe.request(3);
    assert!(probe.await_count(3, WAIT));
    probe.assert_no_more_within(QUIET);
    probe.assert_values(&[0, 1, 2]);
    probe.request(2);
    assert!(probe.await_count(5, WAIT));
    probe.assert_no_more_within(QUIET);
    probe.assert_values(&[0, 1, 2, 3, 4]);
    assert!(!probe.is_terminated());
    probe.request(5);
    assert!(probe.await_terminal(WAIT));
    assert!(probe.is_complete());
    assert_eq!(probe.values(), (0..10).collect::<Vec<_>>());
    probe.assert_no_violations();
}

pub fn reentrant_request_one_from_on_next_runs_to_completion<P: Publisher<Item = u64>>(
    make: impl Fn(u64) -> P,
) {
    // Recursion through request would overflow the stack long before 100 000 elements; the
    // probe also flags an on_next that starts inside another.
    let probe = TestSubscriber::new(1).request_on_next(1);
    make(100_000).subscribe(probe.clone());
    assert!(probe.await_terminal(WAIT));
    assert!(probe.is_complete());
    assert_eq!(probe.count(), 100_000);
    probe.assert_no_violations();
}

pub fn concurrent_requests_deliver_everything_once_in_order<P: Publisher<Item = u64>>(
    make: impl Fn(u64) -> P,
) {
    let probe = TestSubscriber::new(0);
    make(20_000).subscribe(probe.clone());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let probe = probe.clone();
            std::thread::spawn(move || {
                for _ in 0..5_000 {
                    probe.request(1);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(probe.await_terminal(WAIT), "stalled at {}", probe.count());
    assert!(probe.is_complete());
    let values = probe.values();
    assert!(
        values.iter().copied().eq(0..20_000),
        "out of order, lost or duplicated"
    );
    probe.assert_no_violations();
}

/// Emits `0, 1, 2, …` from `upstream` as far as it was asked for, and at most `limit` in
/// total; returns how many it emitted. The upstream stays live (no completion).
pub fn emit_as_requested(upstream: &Manual<u64>, from: u64, limit: u64) -> u64 {
    let mut sent = from;
    while sent < limit && sent < upstream.requested() && upstream.has_subscriber() {
        upstream.next(sent);
        sent += 1;
    }
    sent
}

/// `make(upstream)`: the operator over a live, hand-driven upstream.
pub fn cancel_mid_stream_cancels_upstream_and_releases_the_subscriber<P, M>(make: M)
where
    P: Publisher<Item = u64>,
    M: Fn(Manual<u64>) -> P,
{
    // From inside on_next, with more demand outstanding.
    let upstream = Manual::new();
    let probe = TestSubscriber::new(100).cancel_after(5);
    let (subscriber, weak) = track(probe.clone());
    make(upstream.clone()).subscribe(subscriber);
    emit_as_requested(&upstream, 0, 1_000);
    probe.assert_values(&[0, 1, 2, 3, 4]);
    assert!(!probe.is_terminated());
    assert!(upstream.is_cancelled(), "cancel did not reach the upstream");
    assert!(released(&weak), "§3.13: subscriber kept after cancel");

    // From outside; later requests do nothing (§3.6).
    let upstream = Manual::new();
    let probe = TestSubscriber::new(2);
    let (subscriber, weak) = track(probe.clone());
    make(upstream.clone()).subscribe(subscriber);
    let sent = emit_as_requested(&upstream, 0, 1_000);
    assert_eq!(probe.count(), 2);
    probe.cancel();
    probe.cancel(); // idempotent (§3.7)
    assert!(upstream.is_cancelled(), "cancel did not reach the upstream");
    assert!(released(&weak), "§3.13: subscriber kept after cancel");
    let requested = upstream.requested();
    probe.request(10);
    assert_eq!(
        upstream.requested(),
        requested,
        "§3.6: a request after cancel goes nowhere"
    );
    emit_as_requested(&upstream, sent, 1_000);
    probe.assert_no_more_within(QUIET);
    probe.assert_values(&[0, 1]);
    assert!(!probe.is_terminated());
    probe.assert_no_violations();
}

pub fn request_zero_fails_the_stream_with_rule_3_9<P: Publisher<Item = u64>>(
    make: impl Fn(u64) -> P,
) {
    let probe = TestSubscriber::new(0);
    make(10).subscribe(probe.clone());
    probe.request(0);
    assert!(probe.await_terminal(WAIT));
    let error = probe.error().expect("request(0) must fail the stream");
    assert_eq!(error.rule(), Some("3.9"), "{error}");
    assert_eq!(error.kind(), ErrorKind::Protocol);
    probe.request(5);
    probe.assert_no_more_within(QUIET);
    assert_eq!(probe.count(), 0);
    probe.assert_no_violations();
}

pub fn demand_overflowing_u64_is_unbounded<P: Publisher<Item = u64>>(make: impl Fn(u64) -> P) {
    let probe = TestSubscriber::new(u64::MAX - 1);
    make(50).subscribe(probe.clone());
    probe.request(u64::MAX - 1); // the sum overflows: unbounded, never an error
    assert!(probe.await_terminal(WAIT));
    assert!(probe.is_complete());
    assert_eq!(probe.count(), 50);
    probe.assert_no_violations();
}

pub fn upstream_error_passes_through_without_demand<P: Publisher<Item = u64>>(
    make: impl Fn(rstreams_core::source::Fail<u64>) -> P,
) {
    let probe = TestSubscriber::new(0);
    make(rstreams_core::source::fail(Error::msg("upstream broke"))).subscribe(probe.clone());
    assert!(probe.await_terminal(WAIT));
    let error = probe.error().expect("the error passes through");
    assert_eq!(error.to_string(), "upstream broke");
    assert_eq!(
        error.stage(),
        None,
        "an upstream error is passed on as it is"
    );
    assert_eq!(probe.count(), 0);
    probe.assert_no_violations();
}

pub fn an_empty_upstream_completes_without_demand<P: Publisher<Item = u64>>(
    make: impl Fn(u64) -> P,
) {
    let probe = TestSubscriber::new(0);
    make(0).subscribe(probe.clone());
    assert!(probe.await_terminal(WAIT));
    assert!(probe.is_complete());
    probe.assert_no_violations();
}

// ===== PanicsOnNext: a downstream that breaks §2.13 =====

/// A downstream that requests `initial` when subscribed and panics in its first `on_next`.
/// Counts the signals it receives after that panic, which a stage must not send (§2.13: the
/// subscription is treated as cancelled).
pub struct PanicsOnNext {
    initial: u64,
    panicked: bool,
    after_panic: Arc<AtomicUsize>,
}

impl PanicsOnNext {
    pub fn new(initial: u64) -> Self {
        PanicsOnNext {
            initial,
            panicked: false,
            after_panic: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The count of signals received after the panic.
    pub fn signals_after_panic(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.after_panic)
    }

    fn signal(&mut self) {
        if self.panicked {
            self.after_panic.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl<T> Subscriber<T> for PanicsOnNext {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        if self.initial > 0 {
            s.request(self.initial);
        }
    }
    fn on_next(&mut self, _: T) {
        self.signal();
        self.panicked = true;
        panic!("the downstream broke in on_next");
    }
    fn on_error(&mut self, _: Error) {
        self.signal();
    }
    fn on_complete(&mut self) {
        self.signal();
    }
}

// ===== A pipeline on the default timer whose subscriber blocks =====

/// The name of the thread running this code.
pub fn thread_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_owned()
}

/// A `buffer_timeout` pipeline on the default timer whose subscriber blocks on its first
/// batch, a timed one, until released: a slow subscriber, under the test's control.
pub struct BlockedPipeline {
    /// The thread the subscriber blocks.
    pub thread: String,
    release: std::sync::mpsc::Sender<()>,
    _input: rstreams_tck::TestPublisher<u32>,
}

impl BlockedPipeline {
    /// Starts the pipeline and returns once its subscriber is blocked.
    pub fn start() -> Self {
        use rstreams_ops::PublisherExt;
        let (blocked_tx, blocked_rx) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let input = rstreams_tck::TestPublisher::<u32>::new();
        input
            .clone()
            .buffer_timeout(10, Duration::from_millis(5))
            .subscribe(rstreams_core::sink::for_each(move |_batch: Vec<u32>| {
                let _ = blocked_tx.send(thread_name());
                // Blocks until released (or the test has long failed).
                let _ = released.recv_timeout(WAIT * 6);
            }));
        input.emit(1); // one element: the batch goes out when its timer fires
        let thread = blocked_rx
            .recv_timeout(WAIT)
            .expect("the timed batch of the blocking pipeline was delivered");
        BlockedPipeline {
            thread,
            release,
            _input: input,
        }
    }
}

impl Drop for BlockedPipeline {
    fn drop(&mut self) {
        let _ = self.release.send(());
    }
}
