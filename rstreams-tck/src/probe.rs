//! [`TestSubscriber`]: the probe for users' own tests.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rstreams_core::{Error, Subscriber, Subscription};

use crate::recorder::{InNext, Recorder};

/// A subscriber for tests: it records every signal, keeps a demand ledger, and flags protocol
/// violations the moment they happen (an `on_next` beyond demand, a signal after the end, two
/// threads signalling at once, `on_next` recursing through a request).
///
/// It is a cheap `Clone` handle: give one clone to the publisher, keep another to drive and
/// inspect it from the test or from other threads.
///
/// ```
/// use rstreams::{source, Publisher};
/// use rstreams_tck::TestSubscriber;
/// use std::time::Duration;
///
/// let probe = TestSubscriber::<u64>::new(0); // request nothing on subscribe
/// source::range(0, 10).subscribe(probe.clone());
/// assert!(probe.values().is_empty());
/// probe.request(3);
/// probe.assert_values(&[0, 1, 2]);
/// probe.request(100);
/// assert!(probe.await_terminal(Duration::from_secs(1)));
/// assert!(probe.is_complete());
/// probe.assert_no_violations();
/// ```
pub struct TestSubscriber<T> {
    rec: Recorder<T>,
}

impl<T> Clone for TestSubscriber<T> {
    fn clone(&self) -> Self {
        TestSubscriber {
            rec: self.rec.clone(),
        }
    }
}

impl<T> TestSubscriber<T> {
    /// A probe that requests `initial_request` in `on_subscribe` (0: nothing; `u64::MAX`:
    /// unbounded).
    pub fn new(initial_request: u64) -> Self {
        TestSubscriber {
            rec: Recorder::new(initial_request, None),
        }
    }

    /// Makes the probe call `request(n)` from inside each `on_next` (a re-entrant request,
    /// §3.2 / §3.3).
    pub fn request_on_next(self, n: u64) -> Self {
        self.rec.set_request_each_next(n);
        self
    }

    /// Makes the probe cancel from inside `on_next` once it has received `count` elements.
    pub fn cancel_after(self, count: u64) -> Self {
        self.rec.set_cancel_after(count);
        self
    }

    /// Makes the next `on_next` call `request(n)` from inside itself (once).
    pub fn request_in_next_on_next(&self, n: u64) {
        self.rec.arm(InNext::Request(n));
    }

    /// Requests `n` more elements, now or (before `on_subscribe`) as soon as subscribed.
    pub fn request(&self, n: u64) {
        self.rec.request(n);
    }

    /// Cancels the subscription. Calling it again calls the subscription's `cancel` again,
    /// which must do nothing (§3.7).
    pub fn cancel(&self) {
        self.rec.cancel();
    }

    /// Whether [`cancel`](Self::cancel) was called (or `cancel_after` fired).
    pub fn is_cancelled(&self) -> bool {
        self.rec.lock().cancelled
    }

    /// Whether `on_subscribe` has been received.
    pub fn is_subscribed(&self) -> bool {
        self.rec.lock().subscribe_count > 0
    }

    /// Whether `on_complete` has been received.
    pub fn is_complete(&self) -> bool {
        self.rec.lock().complete
    }

    /// The error received by `on_error`, if any.
    pub fn error(&self) -> Option<Error> {
        self.rec.lock().error.clone()
    }

    /// Whether a terminal signal (`on_complete` or `on_error`) has been received.
    pub fn is_terminated(&self) -> bool {
        self.rec.is_terminated()
    }

    /// The number of elements received since subscription: cumulative, it counts the elements
    /// that [`take_values`](Self::take_values) handed out too (for those still held, see
    /// [`untaken`](Self::untaken)).
    pub fn count(&self) -> usize {
        self.rec.received() as usize
    }

    /// The number of elements received and not yet handed out by
    /// [`take_values`](Self::take_values): what the next `take_values` would return now, and
    /// what [`values`](Self::values) copies. Equal to [`count`](Self::count) until the first
    /// `take_values`.
    pub fn untaken(&self) -> usize {
        self.rec.lock().values.len()
    }

    /// Moves out the elements received so far and not yet taken, in the order they arrived,
    /// leaving the probe holding none ([`untaken`](Self::untaken) is 0 after it, until the next
    /// `on_next`). [`count`](Self::count) is not changed: it stays cumulative.
    ///
    /// It needs no `T: Clone`, so it works for elements that are capabilities the test must own
    /// to use, such as a delivery that is acknowledged by value. The elements it returns are the
    /// test's: dropping one drops it (a connector may treat that as "not acknowledged").
    ///
    /// ```
    /// use rstreams::prelude::*;
    /// use rstreams_tck::TestSubscriber;
    ///
    /// // Not Clone: a value the test has to own.
    /// #[derive(Debug, PartialEq)]
    /// struct Token(u64);
    ///
    /// let probe = TestSubscriber::<Token>::new(0);
    /// source::range(0, 5).map(Token).subscribe(probe.clone());
    /// probe.request(2);
    /// assert_eq!(probe.take_values(), vec![Token(0), Token(1)]);
    /// assert_eq!((probe.count(), probe.untaken()), (2, 0));
    /// probe.request(1);
    /// assert_eq!((probe.count(), probe.untaken()), (3, 1));
    /// assert_eq!(probe.take_values(), vec![Token(2)]);
    /// assert!(probe.take_values().is_empty());
    /// ```
    pub fn take_values(&self) -> Vec<T> {
        std::mem::take(&mut self.rec.lock().values)
    }

    /// Panics, naming the error, if the stream failed (`on_error` was received).
    pub fn assert_no_error(&self) {
        if let Some(e) = self.rec.lock().error.as_ref() {
            panic!("the stream failed: {e}");
        }
    }

    /// The protocol violations seen so far, each starting with its rule (`"§1.1: …"`).
    pub fn violations(&self) -> Vec<String> {
        self.rec
            .violations()
            .into_iter()
            .map(|v| format!("§{}: {}", v.rule, v.message))
            .collect()
    }

    /// Panics, listing them, if any protocol violation was seen.
    pub fn assert_no_violations(&self) {
        let v = self.violations();
        assert!(v.is_empty(), "protocol violations: {v:#?}");
    }

    /// Waits until at least `n` elements have been received; `false` if `timeout` passed
    /// first, or the stream ended with fewer.
    pub fn await_count(&self, n: usize, timeout: Duration) -> bool {
        let n = n as u64;
        self.rec.wait_until(timeout, |s| {
            s.received >= n || s.complete || s.error.is_some()
        });
        self.rec.received() >= n
    }

    /// Waits for a terminal signal; `false` if `timeout` passed first.
    pub fn await_terminal(&self, timeout: Duration) -> bool {
        self.rec
            .wait_until(timeout, |s| s.complete || s.error.is_some())
    }

    /// Waits until the probe has been subscribed; `false` if `timeout` passed first.
    pub fn await_subscribed(&self, timeout: Duration) -> bool {
        self.rec.wait_until(timeout, |s| s.subscribe_count > 0)
    }

    /// Asserts that no signal at all arrives within `window`.
    pub fn assert_no_more_within(&self, window: Duration) {
        assert!(
            self.rec.quiet_for(window),
            "expected no signal within {window:?}, but one arrived ({})",
            self.rec.summary()
        );
    }
}

impl<T: Clone> TestSubscriber<T> {
    /// A copy of the elements received so far and not taken by
    /// [`take_values`](Self::take_values) (all of them if it was never called).
    pub fn values(&self) -> Vec<T> {
        self.rec.lock().values.clone()
    }
}

impl<T: Clone + PartialEq + fmt::Debug> TestSubscriber<T> {
    /// Asserts that exactly `expected` has been received so far (and not taken by
    /// [`take_values`](Self::take_values)).
    pub fn assert_values(&self, expected: &[T]) {
        let values = self.values();
        assert_eq!(values, expected, "received elements differ from expected");
    }
}

impl<T: Send> Subscriber<T> for TestSubscriber<T> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        self.rec.on_subscribe(subscription)
    }
    fn on_next(&mut self, item: T) {
        self.rec.on_next(item)
    }
    fn on_error(&mut self, error: Error) {
        self.rec.on_error(error)
    }
    fn on_complete(&mut self) {
        self.rec.on_complete()
    }
}

impl<T> fmt::Debug for TestSubscriber<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestSubscriber")
            .field("state", &self.rec.summary())
            .field("violations", &self.violations())
            .finish()
    }
}
