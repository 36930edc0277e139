//! Probes for tests: [`TestSubscriber`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use rstreams_core::support::{add_cap, UNBOUNDED};
use rstreams_core::{Error, Subscriber, Subscription};

/// A subscriber for tests: it records every signal, keeps a demand ledger, and flags protocol
/// violations as they happen.
///
/// It is a cheap `Clone` handle: give one clone to the publisher, keep another to drive and
/// inspect it from the test (or from another thread).
///
/// ```
/// use rstreams_core::{source, Publisher};
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
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    state: Mutex<State<T>>,
    changed: Condvar,
}

struct State<T> {
    initial_request: u64,
    request_on_next: u64,
    cancel_after: Option<usize>,
    subscription: Option<Arc<dyn Subscription>>,
    subscribe_count: usize,
    deferred: u64,
    /// Demand requested and not yet used by an `on_next` (the ledger).
    outstanding: u64,
    values: Vec<T>,
    complete: bool,
    error: Option<Error>,
    cancelled: bool,
    violations: Vec<String>,
    signals: u64,
}

impl<T> Clone for TestSubscriber<T> {
    fn clone(&self) -> Self {
        TestSubscriber {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> TestSubscriber<T> {
    /// A probe that requests `initial_request` in `on_subscribe` (0: nothing; `u64::MAX`:
    /// unbounded).
    pub fn new(initial_request: u64) -> Self {
        TestSubscriber {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    initial_request,
                    request_on_next: 0,
                    cancel_after: None,
                    subscription: None,
                    subscribe_count: 0,
                    deferred: 0,
                    outstanding: 0,
                    values: Vec::new(),
                    complete: false,
                    error: None,
                    cancelled: false,
                    violations: Vec::new(),
                    signals: 0,
                }),
                changed: Condvar::new(),
            }),
        }
    }

    /// Makes the probe call `request(n)` from inside each `on_next` (a re-entrant request,
    /// §3.2 / §3.3).
    pub fn request_on_next(self, n: u64) -> Self {
        self.inner.state.lock().request_on_next = n;
        self
    }

    /// Makes the probe cancel from inside `on_next` once it has received `count` elements.
    pub fn cancel_after(self, count: usize) -> Self {
        self.inner.state.lock().cancel_after = Some(count);
        self
    }

    /// Requests `n` more elements, now or (before `on_subscribe`) as soon as subscribed.
    pub fn request(&self, n: u64) {
        let mut state = self.inner.state.lock();
        match state.subscription.clone() {
            Some(s) => {
                state.outstanding = add_cap(state.outstanding, n);
                drop(state);
                s.request(n);
            }
            None => state.deferred = add_cap(state.deferred, n),
        }
    }

    /// Cancels the subscription (idempotent).
    pub fn cancel(&self) {
        let mut state = self.inner.state.lock();
        state.cancelled = true;
        let s = state.subscription.clone();
        drop(state);
        if let Some(s) = s {
            s.cancel();
        }
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.state.lock().cancelled
    }

    /// Whether `on_subscribe` has been received.
    pub fn is_subscribed(&self) -> bool {
        self.inner.state.lock().subscribe_count > 0
    }

    /// Whether `on_complete` has been received.
    pub fn is_complete(&self) -> bool {
        self.inner.state.lock().complete
    }

    /// The error received by `on_error`, if any.
    pub fn error(&self) -> Option<Error> {
        self.inner.state.lock().error.clone()
    }

    /// Whether a terminal signal (`on_complete` or `on_error`) has been received.
    pub fn is_terminated(&self) -> bool {
        let state = self.inner.state.lock();
        state.complete || state.error.is_some()
    }

    /// The number of elements received.
    pub fn count(&self) -> usize {
        self.inner.state.lock().values.len()
    }

    /// The protocol violations seen so far, each naming its rule.
    pub fn violations(&self) -> Vec<String> {
        self.inner.state.lock().violations.clone()
    }

    /// Panics, listing them, if any protocol violation was seen.
    pub fn assert_no_violations(&self) {
        let v = self.violations();
        assert!(v.is_empty(), "protocol violations: {v:#?}");
    }

    /// Waits until at least `n` elements have been received; `false` if `timeout` passed
    /// first, or the stream ended with fewer.
    pub fn await_count(&self, n: usize, timeout: Duration) -> bool {
        self.await_until(timeout, |s| {
            s.values.len() >= n || s.complete || s.error.is_some()
        });
        self.count() >= n
    }

    /// Waits for a terminal signal; `false` if `timeout` passed first.
    pub fn await_terminal(&self, timeout: Duration) -> bool {
        self.await_until(timeout, |s| s.complete || s.error.is_some())
    }

    /// Waits until the probe has been subscribed; `false` if `timeout` passed first.
    pub fn await_subscribed(&self, timeout: Duration) -> bool {
        self.await_until(timeout, |s| s.subscribe_count > 0)
    }

    /// Asserts that no signal at all arrives within `window`.
    pub fn assert_no_more_within(&self, window: Duration) {
        let before = self.inner.state.lock().signals;
        let changed = self.await_until(window, |s| s.signals != before);
        assert!(
            !changed,
            "expected no signal within {window:?}, but one arrived ({} elements now, complete: {}, error: {:?})",
            self.count(),
            self.is_complete(),
            self.error()
        );
    }

    fn await_until(&self, timeout: Duration, done: impl Fn(&State<T>) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.inner.state.lock();
        while !done(&state) {
            if self
                .inner
                .changed
                .wait_until(&mut state, deadline)
                .timed_out()
            {
                return done(&state);
            }
        }
        true
    }

    fn violation(state: &mut State<T>, message: String) {
        state.violations.push(message);
    }
}

impl<T: Clone> TestSubscriber<T> {
    /// A copy of the elements received so far.
    pub fn values(&self) -> Vec<T> {
        self.inner.state.lock().values.clone()
    }
}

impl<T: Clone + PartialEq + fmt::Debug> TestSubscriber<T> {
    /// Asserts that exactly `expected` has been received so far.
    pub fn assert_values(&self, expected: &[T]) {
        let values = self.values();
        assert_eq!(values, expected, "received elements differ from expected");
    }
}

impl<T: Send> Subscriber<T> for TestSubscriber<T> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        let mut state = self.inner.state.lock();
        state.signals += 1;
        state.subscribe_count += 1;
        if state.subscribe_count > 1 {
            let n = state.subscribe_count;
            Self::violation(
                &mut state,
                format!("§2.12: on_subscribe called {n} times; the extra subscription was cancelled (§2.5)"),
            );
            drop(state);
            subscription.cancel();
            return;
        }
        state.subscription = Some(Arc::clone(&subscription));
        let request = add_cap(state.initial_request, std::mem::take(&mut state.deferred));
        let cancelled = state.cancelled;
        if request > 0 && !cancelled {
            state.outstanding = add_cap(state.outstanding, request);
        }
        drop(state);
        self.inner.changed.notify_all();
        if cancelled {
            subscription.cancel();
        } else if request > 0 {
            subscription.request(request);
        }
    }

    fn on_next(&mut self, item: T) {
        let mut state = self.inner.state.lock();
        state.signals += 1;
        if state.subscribe_count == 0 {
            Self::violation(&mut state, "§1.9: on_next before on_subscribe".to_owned());
        }
        if state.complete || state.error.is_some() {
            Self::violation(
                &mut state,
                "§1.7: on_next after a terminal signal".to_owned(),
            );
        }
        if state.outstanding == 0 {
            let n = state.values.len() + 1;
            Self::violation(
                &mut state,
                format!("§1.1: on_next #{n} exceeds the requested demand"),
            );
        } else if state.outstanding != UNBOUNDED {
            state.outstanding -= 1;
        }
        state.values.push(item);
        let count = state.values.len();
        let mut again = state.request_on_next;
        let cancel = state.cancel_after.is_some_and(|c| count >= c) && !state.cancelled;
        if cancel {
            state.cancelled = true;
            again = 0;
        }
        if again > 0 {
            state.outstanding = add_cap(state.outstanding, again);
        }
        let subscription = state.subscription.clone();
        drop(state);
        self.inner.changed.notify_all();
        if let Some(s) = subscription {
            if cancel {
                s.cancel();
            } else if again > 0 {
                s.request(again);
            }
        }
    }

    fn on_error(&mut self, error: Error) {
        self.terminal(Some(error));
    }

    fn on_complete(&mut self) {
        self.terminal(None);
    }
}

impl<T> TestSubscriber<T> {
    fn terminal(&mut self, error: Option<Error>) {
        let mut state = self.inner.state.lock();
        state.signals += 1;
        if state.subscribe_count == 0 {
            Self::violation(
                &mut state,
                "§1.9: terminal signal before on_subscribe".to_owned(),
            );
        }
        if state.complete || state.error.is_some() {
            Self::violation(&mut state, "§1.7: a second terminal signal".to_owned());
        }
        match error {
            Some(e) => state.error = Some(e),
            None => state.complete = true,
        }
        // §2.4: the subscription is over; release it (and with it the publisher).
        state.subscription = None;
        drop(state);
        self.inner.changed.notify_all();
    }
}

impl<T> fmt::Debug for TestSubscriber<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.lock();
        f.debug_struct("TestSubscriber")
            .field("received", &state.values.len())
            .field("outstanding", &state.outstanding)
            .field("complete", &state.complete)
            .field("error", &state.error)
            .field("violations", &state.violations)
            .finish()
    }
}
