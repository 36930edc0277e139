//! [`TestPublisher`]: a publisher a test drives by hand.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rstreams_core::support::add_cap;
use rstreams_core::sync::{Condvar, Mutex};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// A publisher a test drives by hand: it emits, completes or fails when told to, and records
/// every request and cancel it receives. For testing subscribers and operators step by step.
///
/// It serves one subscriber at a time; a second concurrent subscriber is rejected with
/// `on_subscribe` then `on_error` (§1.9). [`emit`](Self::emit) keeps §1.1: it refuses to emit
/// without outstanding demand.
///
/// ```
/// use rstreams::Publisher;
/// use rstreams_tck::{TestPublisher, TestSubscriber};
///
/// let publisher = TestPublisher::<u32>::new();
/// let probe = TestSubscriber::new(2);
/// publisher.subscribe(probe.clone());
/// assert_eq!(publisher.requested(), 2);
/// publisher.emit(10);
/// publisher.emit(20);
/// assert!(publisher.try_emit(30).is_err()); // no demand left
/// publisher.complete();
/// probe.assert_values(&[10, 20]);
/// assert!(probe.is_complete());
/// ```
pub struct TestPublisher<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    /// The subscriber; held while signalling it.
    subscriber: Mutex<Option<Box<dyn Subscriber<T>>>>,
    ledger: Mutex<Ledger>,
    changed: Condvar,
}

#[derive(Default)]
struct Ledger {
    subscribed: bool,
    requested: u64,
    emitted: u64,
    requests: Vec<u64>,
    cancelled: bool,
    terminated: bool,
}

impl<T> Clone for TestPublisher<T> {
    fn clone(&self) -> Self {
        TestPublisher {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T: 'static> Default for TestPublisher<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: 'static> TestPublisher<T> {
    /// A publisher with no subscriber yet.
    pub fn new() -> Self {
        TestPublisher {
            inner: Arc::new(Inner {
                subscriber: Mutex::new(None),
                ledger: Mutex::new(Ledger::default()),
                changed: Condvar::new(),
            }),
        }
    }

    /// Emits `item`, or hands it back when there is no outstanding demand (§1.1), no
    /// subscriber, or the subscription is over.
    pub fn try_emit(&self, item: T) -> Result<(), T> {
        {
            let mut ledger = self.inner.ledger.lock();
            let outstanding = ledger.requested == u64::MAX || ledger.emitted < ledger.requested;
            if !ledger.subscribed || ledger.cancelled || ledger.terminated || !outstanding {
                return Err(item);
            }
            ledger.emitted += 1;
        }
        let mut subscriber = self.inner.subscriber.lock();
        match subscriber.as_mut() {
            Some(s) => s.on_next(item),
            None => return Err(item),
        }
        self.release_if_cancelled(&mut subscriber);
        Ok(())
    }

    /// Emits `item`.
    ///
    /// # Panics
    ///
    /// When there is no outstanding demand (emitting would break §1.1), no subscriber, or the
    /// subscription is over.
    pub fn emit(&self, item: T) {
        if self.try_emit(item).is_err() {
            panic!(
                "TestPublisher::emit: no outstanding demand or no live subscriber (§1.1); requested {}, emitted {}",
                self.requested(),
                self.emitted()
            );
        }
    }

    /// Signals `on_complete` (unless cancelled or already ended) and releases the subscriber.
    pub fn complete(&self) {
        self.terminate(None);
    }

    /// Signals `on_error(error)` (unless cancelled or already ended) and releases the
    /// subscriber. Needs no demand (§1.4).
    pub fn fail(&self, error: Error) {
        self.terminate(Some(error));
    }

    fn terminate(&self, error: Option<Error>) {
        {
            let mut ledger = self.inner.ledger.lock();
            if ledger.cancelled || ledger.terminated {
                return;
            }
            ledger.terminated = true;
        }
        let taken = self.inner.subscriber.lock().take();
        if let Some(mut s) = taken {
            match error {
                Some(e) => s.on_error(e),
                None => s.on_complete(),
            }
        }
        self.inner.changed.notify_all();
    }

    fn release_if_cancelled(&self, subscriber: &mut Option<Box<dyn Subscriber<T>>>) {
        if self.inner.ledger.lock().cancelled {
            *subscriber = None; // §3.13
        }
    }

    /// The demand requested in total (saturating; `u64::MAX` = unbounded).
    pub fn requested(&self) -> u64 {
        self.inner.ledger.lock().requested
    }

    /// The elements emitted so far.
    pub fn emitted(&self) -> u64 {
        self.inner.ledger.lock().emitted
    }

    /// Every `request(n)` received, in order (including `request(0)`).
    pub fn requests(&self) -> Vec<u64> {
        self.inner.ledger.lock().requests.clone()
    }

    /// Whether the subscription was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.inner.ledger.lock().cancelled
    }

    /// Whether a subscriber is subscribed now.
    pub fn has_subscriber(&self) -> bool {
        self.inner.subscriber.lock().is_some()
    }

    /// Waits until at least `total` has been requested in all; `false` on timeout.
    pub fn await_requested(&self, total: u64, timeout: Duration) -> bool {
        self.await_ledger(timeout, |l| l.requested >= total)
    }

    /// Waits until the subscription is cancelled; `false` on timeout.
    pub fn await_cancelled(&self, timeout: Duration) -> bool {
        self.await_ledger(timeout, |l| l.cancelled)
    }

    fn await_ledger(&self, timeout: Duration, done: impl Fn(&Ledger) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut ledger = self.inner.ledger.lock();
        while !done(&ledger) {
            if self.inner.changed.wait_until(&mut ledger, deadline) {
                return done(&ledger);
            }
        }
        true
    }
}

impl<T: 'static> Publisher for TestPublisher<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + 'static>(&self, subscriber: S) {
        let mut boxed: Box<dyn Subscriber<T>> = Box::new(subscriber);
        let mut slot = self.inner.subscriber.lock();
        if slot.is_some() {
            drop(slot);
            boxed.on_subscribe(Arc::new(rstreams_core::NoopSubscription));
            boxed.on_error(Error::protocol(
                "1.9",
                "TestPublisher serves one subscriber at a time; this one was rejected",
            ));
            return;
        }
        *self.inner.ledger.lock() = Ledger {
            subscribed: true,
            ..Ledger::default()
        };
        let subscription = Arc::new(Handle {
            inner: Arc::downgrade(&self.inner),
        });
        boxed.on_subscribe(subscription);
        if !self.inner.ledger.lock().cancelled {
            *slot = Some(boxed);
        }
        drop(slot);
        self.inner.changed.notify_all();
    }
}

/// The subscription a [`TestPublisher`] hands out: it only records.
struct Handle<T> {
    inner: std::sync::Weak<Inner<T>>,
}

impl<T> Subscription for Handle<T> {
    fn request(&self, n: u64) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        let mut ledger = inner.ledger.lock();
        ledger.requests.push(n);
        if !ledger.cancelled {
            ledger.requested = add_cap(ledger.requested, n);
        }
        drop(ledger);
        inner.changed.notify_all();
    }

    fn cancel(&self) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        inner.ledger.lock().cancelled = true;
        // Release the subscriber now unless it is being signalled (then the signaller does).
        if let Some(mut slot) = inner.subscriber.try_lock() {
            *slot = None;
        }
        inner.changed.notify_all();
    }
}

impl<T> fmt::Debug for TestPublisher<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = self.inner.ledger.lock();
        f.debug_struct("TestPublisher")
            .field("requested", &l.requested)
            .field("emitted", &l.emitted)
            .field("cancelled", &l.cancelled)
            .field("terminated", &l.terminated)
            .finish()
    }
}
