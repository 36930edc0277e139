//! The instrumented subscriber behind every check and behind [`TestSubscriber`]: a demand
//! ledger, a serial-signal monitor, a recursion-depth counter and a terminal-state automaton,
//! each flagging a violation the moment it happens.
//!
//! [`TestSubscriber`]: crate::TestSubscriber

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::tracked::await_released;

use rstreams_core::support::{add_cap, UNBOUNDED};
use rstreams_core::sync::{AtomicU64, Condvar, Mutex, MutexGuard, Ordering};
use rstreams_core::{Error, Subscriber, Subscription};

use crate::check::{Ctx, Failure, TckAbort};
use crate::schedule::Step;

/// A protocol violation seen by a recorder.
#[derive(Debug, Clone)]
pub(crate) struct Violation {
    pub(crate) rule: &'static str,
    pub(crate) message: String,
}

/// An action armed to run from inside a later `on_next`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum InNext {
    Request(u64),
    Cancel,
}

/// Over-emission beyond this many elements is a runaway: the recorder stops it by panicking out
/// of `on_next` (the kit catches the panic), as a bounded buffer would.
const RUNAWAY: u64 = 64;

pub(crate) struct State<T> {
    pub(crate) subscription: Option<Arc<dyn Subscription>>,
    pub(crate) subscribe_count: u64,
    pub(crate) deferred: u64,
    /// A `request(0)` made before `on_subscribe`: forwarded on subscription (§3.9).
    pub(crate) deferred_zero: bool,
    pub(crate) initial_request: u64,
    /// Requested and not yet used (the ledger); `UNBOUNDED` once unbounded.
    pub(crate) outstanding: u64,
    pub(crate) requested_total: u64,
    pub(crate) values: Vec<T>,
    pub(crate) received: u64,
    pub(crate) excess: u64,
    pub(crate) complete: bool,
    pub(crate) error: Option<Error>,
    pub(crate) cancelled: bool,
    pub(crate) received_at_cancel: Option<u64>,
    pub(crate) violations: Vec<Violation>,
    pub(crate) signals: u64,
    pub(crate) in_next: VecDeque<InNext>,
    pub(crate) request_each_next: u64,
    pub(crate) cancel_after: Option<u64>,
    /// The most elements the stream may carry (a publisher asked for exactly `n`), and the rule
    /// an element beyond it breaks.
    pub(crate) limit: Option<(u64, &'static str)>,
    pub(crate) max_depth: u32,
}

pub(crate) struct Inner<T> {
    pub(crate) state: Mutex<State<T>>,
    changed: Condvar,
    /// The id of the thread inside a signal now, 0 when none (the §1.3 monitor).
    signalling: AtomicU64,
    ctx: Option<Arc<Ctx>>,
    token: Mutex<Option<Weak<()>>>,
}

/// The instrumented subscriber; a cheap clone handle.
pub(crate) struct Recorder<T> {
    pub(crate) inner: Arc<Inner<T>>,
    /// Held by the clone handed to a publisher, so a check sees through a `Weak` whether the
    /// publisher has dropped its subscriber (§3.13).
    _token: Option<Arc<()>>,
}

impl<T> Clone for Recorder<T> {
    fn clone(&self) -> Self {
        Recorder {
            inner: Arc::clone(&self.inner),
            _token: self._token.clone(),
        }
    }
}

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    static THREAD_ID: u64 = {
        // A process-wide id counter, not stream state; loom's atomics cannot be statics.
        #[allow(clippy::disallowed_types)]
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    };
}

impl<T> Recorder<T> {
    pub(crate) fn new(initial_request: u64, ctx: Option<Arc<Ctx>>) -> Self {
        Recorder {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    subscription: None,
                    subscribe_count: 0,
                    deferred: 0,
                    deferred_zero: false,
                    initial_request,
                    outstanding: 0,
                    requested_total: 0,
                    values: Vec::new(),
                    received: 0,
                    excess: 0,
                    complete: false,
                    error: None,
                    cancelled: false,
                    received_at_cancel: None,
                    violations: Vec::new(),
                    signals: 0,
                    in_next: VecDeque::new(),
                    request_each_next: 0,
                    cancel_after: None,
                    limit: None,
                    max_depth: 0,
                }),
                changed: Condvar::new(),
                signalling: AtomicU64::new(0),
                ctx,
                token: Mutex::new(None),
            }),
            _token: None,
        }
    }

    /// A clone to hand to a publisher, and a `Weak` that dies when the publisher drops it.
    pub(crate) fn subscriber(&self) -> (Recorder<T>, Weak<()>) {
        let token = Arc::new(());
        let weak = Arc::downgrade(&token);
        *self.inner.token.lock() = Some(weak.clone());
        (
            Recorder {
                inner: Arc::clone(&self.inner),
                _token: Some(token),
            },
            weak,
        )
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.inner.state.lock()
    }

    fn step(&self, step: Step) {
        if let Some(ctx) = &self.inner.ctx {
            ctx.step(step);
        }
    }

    fn touch(&self) {
        if let Some(ctx) = &self.inner.ctx {
            ctx.touch();
        }
    }

    /// The check this recorder works for, if any.
    pub(crate) fn ctx(&self) -> Option<&Arc<Ctx>> {
        self.inner.ctx.as_ref()
    }

    /// The rule of the check this recorder works for: the one its expectations fail.
    fn rule(&self) -> &'static str {
        self.inner.ctx.as_ref().map_or("1.1", |c| c.rule)
    }

    fn signal_timeout(&self) -> Duration {
        self.inner
            .ctx
            .as_ref()
            .map_or(Duration::from_secs(1), |c| c.signal())
    }

    fn quiet_window(&self) -> Duration {
        self.inner
            .ctx
            .as_ref()
            .map_or(Duration::from_millis(10), |c| c.quiet())
    }

    fn call<R>(&self, label: impl Into<String>, rule: &'static str, f: impl FnOnce() -> R) -> R {
        self.call_with(label, rule, rule, f)
    }

    /// A call that breaks `rule` by never returning and `panic_rule` by panicking.
    fn call_with<R>(
        &self,
        label: impl Into<String>,
        rule: &'static str,
        panic_rule: &'static str,
        f: impl FnOnce() -> R,
    ) -> R {
        match &self.inner.ctx {
            Some(ctx) => ctx.call_with(label, rule, panic_rule, f),
            None => f(),
        }
    }

    /// Requests `n`, now, or on subscription if it has not arrived.
    pub(crate) fn request(&self, n: u64) {
        self.step(Step::Request(n));
        self.request_quietly(n);
    }

    fn request_quietly(&self, n: u64) {
        let mut state = self.lock();
        match state.subscription.clone() {
            Some(s) => {
                state.outstanding = add_cap(state.outstanding, n);
                state.requested_total = add_cap(state.requested_total, n);
                drop(state);
                self.call(format!("request({n})"), "3.16", || s.request(n));
            }
            None if n == 0 => state.deferred_zero = true,
            None => state.deferred = add_cap(state.deferred, n),
        }
    }

    /// Requests `n` from a new thread and waits for that thread.
    pub(crate) fn request_from_thread(&self, n: u64)
    where
        T: Send + 'static,
    {
        self.step(Step::RequestFromThread(n));
        let me = self.clone();
        match &self.inner.ctx {
            Some(ctx) => {
                let _ = ctx.spawn_join(move || me.request_quietly(n));
            }
            None => {
                let _ = std::thread::spawn(move || me.request_quietly(n)).join();
            }
        }
    }

    /// Requests `n` from the calling thread without recording a step (the caller recorded one
    /// step for a batch of such requests).
    pub(crate) fn request_from_thread_quiet(&self, n: u64) {
        self.request_quietly(n);
    }

    /// Cancels (idempotent from the recorder's side; the subscription is called every time).
    pub(crate) fn cancel(&self) {
        self.step(Step::Cancel);
        self.cancel_quiet();
    }

    /// Cancels without recording a step.
    pub(crate) fn cancel_quiet(&self) {
        let mut state = self.lock();
        state.cancelled = true;
        if state.received_at_cancel.is_none() {
            state.received_at_cancel = Some(state.received);
        }
        let s = state.subscription.clone();
        drop(state);
        if let Some(s) = s {
            self.call("cancel()", "3.15", || s.cancel());
        }
    }

    /// Arms the next `on_next` to run `action` from inside itself.
    pub(crate) fn arm(&self, action: InNext) {
        self.step(match action {
            InNext::Request(n) => Step::RequestInOnNext(n),
            InNext::Cancel => Step::CancelInOnNext,
        });
        self.lock().in_next.push_back(action);
    }

    pub(crate) fn set_request_each_next(&self, n: u64) {
        self.lock().request_each_next = n;
    }

    pub(crate) fn set_cancel_after(&self, count: u64) {
        self.lock().cancel_after = Some(count);
    }

    pub(crate) fn set_limit(&self, elements: u64, rule: &'static str) {
        self.lock().limit = Some((elements, rule));
    }

    /// Waits until `done` holds; returns whether it does.
    pub(crate) fn wait_until(&self, timeout: Duration, done: impl Fn(&State<T>) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while !done(&state) {
            if self.inner.changed.wait_until(&mut state, deadline) {
                return done(&state);
            }
        }
        true
    }

    /// Waits until `done` holds, for as long as signals keep arriving: gives up only after
    /// `idle` passes with no signal at all (a stall), so a slow but steady stream is not one.
    pub(crate) fn wait_progress(&self, idle: Duration, done: impl Fn(&State<T>) -> bool) -> bool {
        loop {
            let before = self.lock().signals;
            if self.wait_until(idle, |s| done(s) || s.signals != before) {
                if done(&self.lock()) {
                    return true;
                }
                continue;
            }
            return false;
        }
    }

    /// Waits until nothing is signalled for `window`; `false` if a signal arrived.
    pub(crate) fn quiet_for(&self, window: Duration) -> bool {
        let before = self.lock().signals;
        !self.wait_until(window, |s| s.signals != before)
    }

    pub(crate) fn received(&self) -> u64 {
        self.lock().received
    }

    pub(crate) fn is_terminated(&self) -> bool {
        let s = self.lock();
        s.complete || s.error.is_some()
    }

    pub(crate) fn violations(&self) -> Vec<Violation> {
        self.lock().violations.clone()
    }

    /// The first violation as a failure with the schedule so far.
    pub(crate) fn first_violation(&self) -> Option<Failure> {
        let v = self.lock().violations.first().cloned()?;
        Some(self.failure(v.rule, v.message))
    }

    pub(crate) fn failure(&self, rule: &'static str, message: impl Into<String>) -> Failure {
        let schedule = self
            .inner
            .ctx
            .as_ref()
            .map(|c| c.steps())
            .unwrap_or_default();
        Failure::new(rule, message, schedule)
    }

    /// A failure of the check's own rule.
    pub(crate) fn fail(&self, message: impl Into<String>) -> Failure {
        self.failure(self.rule(), message)
    }

    // ===== expectations: each fails the check's rule unless told otherwise =====

    /// Fails with the first violation seen so far, if any.
    pub(crate) fn clean(&self) -> Result<(), Failure> {
        self.first_violation().map_or(Ok(()), Err)
    }

    /// Waits for `n` elements in total, for as long as signals keep coming; a stall or an end
    /// with fewer fails the check's rule.
    pub(crate) fn expect_count(&self, n: u64) -> Result<(), Failure> {
        self.expect_count_as(n, self.rule())
    }

    /// [`expect_count`](Self::expect_count), failing `rule`.
    pub(crate) fn expect_count_as(&self, n: u64, rule: &'static str) -> Result<(), Failure> {
        let t = self.signal_timeout();
        self.wait_progress(t, |s| s.received >= n || s.complete || s.error.is_some());
        self.clean()?;
        let got = self.received();
        if got >= n {
            return Ok(());
        }
        if self.is_terminated() {
            return Err(self.failure(
                rule,
                format!(
                    "ended after {got} elements, expected {n} ({})",
                    self.summary()
                ),
            ));
        }
        Err(self
            .failure(
                rule,
                format!(
                    "stalled: expected {n} elements; {}; no signal for {t:?}",
                    self.summary()
                ),
            )
            .waited())
    }

    /// Waits for `on_complete`; `on_error`, or nothing within the signal timeout, fails the
    /// check's rule.
    pub(crate) fn expect_complete(&self) -> Result<(), Failure> {
        self.expect_complete_as(self.rule())
    }

    /// [`expect_complete`](Self::expect_complete), failing `rule`.
    pub(crate) fn expect_complete_as(&self, rule: &'static str) -> Result<(), Failure> {
        let t = self.signal_timeout();
        self.wait_until(t, |s| s.complete || s.error.is_some());
        self.clean()?;
        let state = self.lock();
        if state.complete {
            return Ok(());
        }
        let e = state.error.clone();
        drop(state);
        Err(match e {
            Some(e) => self.failure(rule, format!("expected on_complete, got on_error: {e}")),
            None => self
                .failure(
                    rule,
                    format!("no on_complete within {t:?} ({})", self.summary()),
                )
                .waited(),
        })
    }

    /// Waits for `on_error`; `what` says what should have caused it.
    pub(crate) fn expect_error(&self, what: &str) -> Result<(), Failure> {
        let t = self.signal_timeout();
        self.wait_until(t, |s| s.error.is_some() || s.complete);
        self.clean()?;
        if self.lock().error.is_some() {
            return Ok(());
        }
        Err(self
            .fail(format!(
                "{what}, but no on_error within {t:?} ({})",
                self.summary()
            ))
            .waited())
    }

    /// Fails if `on_error` was received: `what` says what caused it.
    pub(crate) fn expect_no_error(&self, what: &str) -> Result<(), Failure> {
        let error = self.lock().error.clone();
        match error {
            Some(e) => Err(self.fail(format!("{what} signalled on_error: {e}"))),
            None => Ok(()),
        }
    }

    /// Lets in-flight signals land (until the stream is quiet for one window, within the
    /// signal timeout), then fails with any violation they brought: an element beyond demand,
    /// a signal after the end. A stream that never falls quiet fails the check's rule.
    pub(crate) fn expect_quiet(&self) -> Result<(), Failure> {
        self.expect_quiet_as(self.rule())
    }

    /// [`expect_quiet`](Self::expect_quiet), failing `rule` if the stream never falls quiet
    /// (a violation it brings fails its own rule).
    pub(crate) fn expect_quiet_as(&self, rule: &'static str) -> Result<(), Failure> {
        let t = self.signal_timeout();
        let deadline = Instant::now() + t;
        while !self.quiet_for(self.quiet_window()) {
            self.clean()?;
            if Instant::now() > deadline {
                return Err(self.failure(
                    rule,
                    format!("still signalling {t:?} later ({})", self.summary()),
                ));
            }
        }
        self.clean()
    }

    /// Lets in-flight signals land, without judging them (a quiet window, within the signal
    /// timeout).
    pub(crate) fn settle(&self) {
        let deadline = Instant::now() + self.signal_timeout();
        while !self.quiet_for(self.quiet_window()) && Instant::now() < deadline {}
    }

    /// Waits until the publisher has dropped the subscriber behind `weak`; `what` says when it
    /// should have.
    pub(crate) fn expect_released(&self, weak: &Weak<()>, what: &str) -> Result<(), Failure> {
        let t = self.signal_timeout();
        if await_released(weak, t) {
            return Ok(());
        }
        Err(self
            .fail(format!("{what} was still referenced {t:?} later"))
            .waited())
    }

    /// A one-line account of what the recorder has seen, for failure messages.
    pub(crate) fn summary(&self) -> String {
        let s = self.lock();
        let requested = if s.requested_total == UNBOUNDED {
            "unbounded".to_string()
        } else {
            s.requested_total.to_string()
        };
        let end = if s.complete {
            ", completed".to_string()
        } else if let Some(e) = &s.error {
            format!(", failed with `{e}`")
        } else {
            String::new()
        };
        let cancelled = if s.cancelled { ", cancelled" } else { "" };
        format!(
            "{requested} requested, {} received{end}{cancelled}",
            s.received
        )
    }

    fn violation(state: &mut State<T>, rule: &'static str, message: String) {
        state.violations.push(Violation { rule, message });
    }

    fn enter_signal(&self, state: &mut State<T>, what: &str) -> Option<SignalGuard<'_, T>> {
        let me = THREAD_ID.with(|id| *id);
        match self
            .inner
            .signalling
            .compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Some(SignalGuard { rec: self }),
            Err(other) if other == me => None, // re-entry on one thread: §3.3's business
            Err(_) => {
                Self::violation(
                    state,
                    "1.3",
                    format!(
                        "{what} signalled on one thread while another thread was inside a signal"
                    ),
                );
                None
            }
        }
    }
}

struct SignalGuard<'a, T> {
    rec: &'a Recorder<T>,
}

impl<T> Drop for SignalGuard<'_, T> {
    fn drop(&mut self) {
        self.rec.inner.signalling.store(0, Ordering::Release);
    }
}

struct DepthGuard;

impl DepthGuard {
    fn enter() -> (Self, u32) {
        let depth = DEPTH.with(|d| {
            let v = d.get() + 1;
            d.set(v);
            v
        });
        (DepthGuard, depth)
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get() - 1));
    }
}

impl<T: Send> Subscriber<T> for Recorder<T> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        let mut state = self.lock();
        let _guard = self.enter_signal(&mut state, "on_subscribe");
        self.touch();
        state.signals += 1;
        state.subscribe_count += 1;
        if state.subscribe_count > 1 {
            let n = state.subscribe_count;
            Self::violation(
                &mut state,
                "1.9",
                format!("on_subscribe signalled {n} times to one subscriber"),
            );
            drop(state);
            self.inner.changed.notify_all();
            subscription.cancel(); // §2.5
            return;
        }
        if state.received > 0 || state.complete || state.error.is_some() {
            Self::violation(&mut state, "1.9", "on_subscribe after other signals".into());
        }
        state.subscription = Some(Arc::clone(&subscription));
        let cancelled = state.cancelled;
        let zero = std::mem::take(&mut state.deferred_zero);
        let request = add_cap(state.initial_request, std::mem::take(&mut state.deferred));
        if request > 0 && !cancelled {
            state.outstanding = add_cap(state.outstanding, request);
            state.requested_total = add_cap(state.requested_total, request);
        }
        drop(state);
        self.inner.changed.notify_all();
        if cancelled {
            self.call("cancel() from inside on_subscribe", "3.15", || {
                subscription.cancel()
            });
            return;
        }
        if zero {
            self.call("request(0) from inside on_subscribe", "3.16", || {
                subscription.request(0)
            });
        }
        if request > 0 {
            self.call_with(
                format!("request({request}) from inside on_subscribe"),
                "3.3",
                "3.16",
                || subscription.request(request),
            );
        }
    }

    fn on_next(&mut self, item: T) {
        let (_depth_guard, depth) = DepthGuard::enter();
        let mut state = self.lock();
        let _guard = self.enter_signal(&mut state, "on_next");
        self.touch();
        state.signals += 1;
        state.received += 1;
        let k = state.received;
        state.max_depth = state.max_depth.max(depth);
        if depth > 1 {
            Self::violation(
                &mut state,
                "3.3",
                format!("on_next #{k} was called from inside a request made in on_next (recursion depth {depth})"),
            );
        }
        if state.subscribe_count == 0 {
            Self::violation(
                &mut state,
                "1.9",
                format!("on_next #{k} before on_subscribe"),
            );
        }
        if state.complete || state.error.is_some() {
            Self::violation(
                &mut state,
                "1.7",
                format!("on_next #{k} after a terminal signal"),
            );
        }
        let mut runaway = false;
        if state.outstanding == 0 {
            state.excess += 1;
            let total = state.requested_total;
            Self::violation(
                &mut state,
                "1.1",
                format!("on_next #{k} exceeds the demand: only {total} requested in total"),
            );
            runaway = state.excess > RUNAWAY;
        } else if state.outstanding != UNBOUNDED {
            state.outstanding -= 1;
        }
        if let Some((limit, rule)) = state.limit {
            if k == limit + 1 {
                Self::violation(
                    &mut state,
                    rule,
                    format!("on_next #{k}: the publisher was asked for exactly {limit} elements"),
                );
            }
            runaway |= k > limit + RUNAWAY;
        }
        state.values.push(item);
        if runaway {
            let v = state.violations[0].clone();
            let _ = state.subscription.take();
            drop(state);
            self.inner.changed.notify_all();
            std::panic::panic_any(TckAbort(self.failure(
                v.rule,
                format!("{} (and it kept emitting: stopped by the kit)", v.message),
            )));
        }
        let mut action = state.in_next.pop_front();
        if depth > 1 {
            // Recursing already: request nothing more from here, or a naive publisher would
            // recurse until the stack overflows.
            action = None;
            state.request_each_next = 0;
        }
        if action.is_none() && state.request_each_next > 0 {
            action = Some(InNext::Request(state.request_each_next));
        }
        if state.cancel_after == Some(k) {
            action = Some(InNext::Cancel);
        }
        match action {
            Some(InNext::Request(n)) => {
                state.outstanding = add_cap(state.outstanding, n);
                state.requested_total = add_cap(state.requested_total, n);
            }
            Some(InNext::Cancel) => {
                state.cancelled = true;
                if state.received_at_cancel.is_none() {
                    state.received_at_cancel = Some(k);
                }
            }
            None => {}
        }
        let subscription = state.subscription.clone();
        drop(state);
        self.inner.changed.notify_all();
        if let (Some(s), Some(action)) = (subscription, action) {
            match action {
                InNext::Request(n) => self.call_with(
                    format!("request({n}) from inside on_next #{k}"),
                    "3.3",
                    "3.16",
                    || s.request(n),
                ),
                InNext::Cancel => {
                    self.call(format!("cancel() from inside on_next #{k}"), "3.15", || {
                        s.cancel()
                    })
                }
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

impl<T> Recorder<T> {
    fn terminal(&mut self, error: Option<Error>) {
        let what = if error.is_some() {
            "on_error"
        } else {
            "on_complete"
        };
        let mut state = self.lock();
        let _guard = self.enter_signal(&mut state, what);
        self.touch();
        state.signals += 1;
        if state.subscribe_count == 0 {
            Self::violation(&mut state, "1.9", format!("{what} before on_subscribe"));
        }
        if state.complete || state.error.is_some() {
            Self::violation(&mut state, "1.7", format!("{what} after a terminal signal"));
        }
        match error {
            Some(e) => {
                if state.error.is_none() {
                    state.error = Some(e);
                }
            }
            None => state.complete = true,
        }
        // §2.4: the subscription is over; drop it (and with it, often, the publisher).
        state.subscription = None;
        drop(state);
        self.inner.changed.notify_all();
    }
}
