//! [`Script`]: a step-by-step verifier for users' own tests (what Reactor users have in
//! `StepVerifier`), on virtual time when a clock is given.

use std::error::Error as StdError;
use std::fmt;
use std::time::{Duration, Instant};

use rstreams_core::scheduler::VirtualTime;
use rstreams_core::Publisher;

use crate::env::Timeouts;
use crate::recorder::{Recorder, State};

/// A script of what a publisher must do, step by step, checked by [`verify`](Self::verify).
///
/// The script subscribes a probe that requests everything on subscription (or what
/// [`initial_request`](Self::initial_request) says), then runs its steps in order:
/// expectations (`expect_*`) wait for what must arrive (up to [`timeout`](Self::timeout)),
/// actions (`then_*`) drive the subscription or the clock. Every signal also goes through the
/// probe's demand ledger, so an element beyond demand or a signal after the end fails the step
/// where it is seen, with its rule.
///
/// With a [`VirtualTime`] clock (given by [`then_advance`](Self::then_advance) or
/// [`virtual_time`](Self::virtual_time)), the script runs on virtual time:
/// [`expect_no_event`](Self::expect_no_event) advances the clock by its duration and checks
/// that nothing arrived meanwhile, so a ten-minute timeout is tested in microseconds.
/// Without one, `expect_no_event` waits in real time.
///
/// A failure names the first step that did not hold: what it expected, what arrived instead,
/// and the steps so far.
///
/// ```
/// use std::time::Duration;
///
/// use rstreams::scheduler::VirtualTime;
/// use rstreams::source;
/// use rstreams_tck::Script;
///
/// // Synchronous: elements, demand and completion.
/// Script::new(source::range(0, 5))
///     .initial_request(2)
///     .expect_next(0)
///     .expect_next(1)
///     .expect_no_event(Duration::from_millis(5)) // no demand, so nothing
///     .then_request(10)
///     .expect_next_count(3)
///     .expect_complete()
///     .verify();
///
/// // On virtual time: an interval of one element a minute, cancelled after two.
/// let clock = VirtualTime::new();
/// Script::new(source::interval(Duration::from_secs(60), clock.clone()))
///     .expect_no_event(Duration::from_secs(59))
///     .then_advance(&clock, Duration::from_secs(1))
///     .expect_next(0)
///     .then_advance(&clock, Duration::from_secs(60))
///     .expect_next(1)
///     .then_cancel()
///     .expect_no_event(Duration::from_secs(600))
///     .verify();
///
/// // A failure says which step did not hold, and what arrived instead.
/// let failure = Script::new(source::range(0, 3))
///     .expect_next(0)
///     .expect_next(2)
///     .try_verify()
///     .unwrap_err();
/// assert_eq!(failure.step(), 2);
/// assert!(failure.to_string().contains("expected: on_next(2)"));
/// assert!(failure.to_string().contains("arrived:  on_next(1)"));
/// ```
#[must_use = "a script checks nothing until verify() or try_verify() runs it"]
pub struct Script<T> {
    subscribe: Box<dyn FnOnce(Recorder<T>)>,
    steps: Vec<ScriptStep<T>>,
    clock: Option<VirtualTime>,
    initial: u64,
    timeout: Duration,
}

enum ScriptStep<T> {
    Next(T),
    NextCount(u64),
    Request(u64),
    Cancel,
    NoEvent(Duration),
    Advance(VirtualTime, Duration),
    Complete,
    Error,
}

impl<T: fmt::Debug> ScriptStep<T> {
    fn describe(&self) -> String {
        match self {
            ScriptStep::Next(x) => format!("expect_next({x:?})"),
            ScriptStep::NextCount(n) => format!("expect_next_count({n})"),
            ScriptStep::Request(n) => format!("then_request({})", show(*n)),
            ScriptStep::Cancel => "then_cancel()".into(),
            ScriptStep::NoEvent(d) => format!("expect_no_event({d:?})"),
            ScriptStep::Advance(_, d) => format!("then_advance({d:?})"),
            ScriptStep::Complete => "expect_complete()".into(),
            ScriptStep::Error => "expect_error()".into(),
        }
    }
}

fn show(n: u64) -> String {
    if n == u64::MAX {
        "u64::MAX".into()
    } else {
        n.to_string()
    }
}

impl<T> fmt::Debug for Script<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Script")
            .field("steps", &self.steps.len())
            .field("virtual_time", &self.clock.is_some())
            .field("initial_request", &self.initial)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl<T: Clone + PartialEq + fmt::Debug + Send + 'static> Script<T> {
    /// A script for `publisher`; its probe requests everything (`u64::MAX`) on subscription
    /// unless [`initial_request`](Self::initial_request) says otherwise.
    ///
    /// ```
    /// use rstreams::source;
    /// use rstreams_tck::Script;
    ///
    /// Script::new(source::just(7)).expect_next(7).expect_complete().verify();
    /// ```
    pub fn new<P: Publisher<Item = T> + 'static>(publisher: P) -> Self {
        Script {
            subscribe: Box::new(move |probe| publisher.subscribe(probe)),
            steps: Vec::new(),
            clock: None,
            initial: u64::MAX,
            timeout: Timeouts::from_env().signal,
        }
    }

    /// Requests `n` on subscription instead of everything (0: nothing until
    /// [`then_request`](Self::then_request)).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use rstreams::source;
    /// use rstreams_tck::Script;
    ///
    /// Script::new(source::range(0, 3))
    ///     .initial_request(0)
    ///     .expect_no_event(Duration::from_millis(1))
    ///     .then_request(1)
    ///     .expect_next(0)
    ///     .verify();
    /// ```
    pub fn initial_request(mut self, n: u64) -> Self {
        self.initial = n;
        self
    }

    /// How long an expectation waits for what it expects (default: the kit's signal timeout,
    /// `RSTREAMS_TCK_TIMEOUT_MS` or 1 s). Real time, also on virtual time: a publisher on
    /// another thread needs real time to deliver.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use rstreams::source;
    /// use rstreams_tck::Script;
    ///
    /// let failure = Script::new(source::never::<u64>())
    ///     .timeout(Duration::from_millis(10))
    ///     .expect_next(1)
    ///     .try_verify()
    ///     .unwrap_err();
    /// assert!(failure.to_string().contains("nothing within 10ms"));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs the script on virtual time on `clock`: [`expect_no_event`](Self::expect_no_event)
    /// advances it. ([`then_advance`](Self::then_advance) does the same with its clock.)
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use rstreams::scheduler::VirtualTime;
    /// use rstreams::source;
    /// use rstreams_tck::Script;
    ///
    /// let clock = VirtualTime::new();
    /// Script::new(source::interval(Duration::from_secs(3600), clock.clone()))
    ///     .virtual_time(&clock)
    ///     .expect_no_event(Duration::from_secs(3599)) // an hour, in no time
    ///     .then_cancel()
    ///     .verify();
    /// assert_eq!(clock.elapsed(), Duration::from_secs(3599));
    /// ```
    pub fn virtual_time(mut self, clock: &VirtualTime) -> Self {
        self.clock = Some(clock.clone());
        self
    }

    /// Expects the next element to be `item`.
    ///
    /// ```
    /// use rstreams::source;
    /// use rstreams_tck::Script;
    ///
    /// Script::new(source::range(3, 1)).expect_next(3).verify();
    /// ```
    pub fn expect_next(mut self, item: T) -> Self {
        self.steps.push(ScriptStep::Next(item));
        self
    }

    /// Expects `n` more elements, whatever they are.
    ///
    /// ```
    /// use rstreams::source;
    /// use rstreams_tck::Script;
    ///
    /// Script::new(source::range(0, 100)).expect_next_count(100).expect_complete().verify();
    /// ```
    pub fn expect_next_count(mut self, n: u64) -> Self {
        self.steps.push(ScriptStep::NextCount(n));
        self
    }

    /// Requests `n` more.
    ///
    /// ```
    /// use rstreams::source;
    /// use rstreams_tck::Script;
    ///
    /// Script::new(source::range(0, 2))
    ///     .initial_request(1)
    ///     .expect_next(0)
    ///     .then_request(1)
    ///     .expect_next(1)
    ///     .verify();
    /// ```
    pub fn then_request(mut self, n: u64) -> Self {
        self.steps.push(ScriptStep::Request(n));
        self
    }

    /// Cancels the subscription.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use rstreams::source;
    /// use rstreams_tck::Script;
    ///
    /// Script::new(source::range(0, 10))
    ///     .initial_request(1)
    ///     .expect_next(0)
    ///     .then_cancel()
    ///     .then_request(5) // after cancel: nothing (§3.6)
    ///     .expect_no_event(Duration::from_millis(5))
    ///     .verify();
    /// ```
    pub fn then_cancel(mut self) -> Self {
        self.steps.push(ScriptStep::Cancel);
        self
    }

    /// Expects no signal at all for `duration`, and no element left unexpected by the steps
    /// before: on virtual time the clock is advanced by `duration`; otherwise the script waits
    /// that long.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use rstreams::source;
    /// use rstreams_tck::Script;
    ///
    /// Script::new(source::never::<u64>())
    ///     .expect_no_event(Duration::from_millis(2))
    ///     .verify();
    /// ```
    pub fn expect_no_event(mut self, duration: Duration) -> Self {
        self.steps.push(ScriptStep::NoEvent(duration));
        self
    }

    /// Advances `clock` by `by`, running what falls due; the script then runs on virtual time
    /// on that clock (see [`virtual_time`](Self::virtual_time)).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use rstreams::scheduler::VirtualTime;
    /// use rstreams::source;
    /// use rstreams_tck::Script;
    ///
    /// let clock = VirtualTime::new();
    /// Script::new(source::interval(Duration::from_secs(1), clock.clone()))
    ///     .then_advance(&clock, Duration::from_secs(3))
    ///     .expect_next(0)
    ///     .expect_next(1)
    ///     .expect_next(2)
    ///     .then_cancel()
    ///     .verify();
    /// ```
    pub fn then_advance(mut self, clock: &VirtualTime, by: Duration) -> Self {
        if self.clock.is_none() {
            self.clock = Some(clock.clone());
        }
        self.steps.push(ScriptStep::Advance(clock.clone(), by));
        self
    }

    /// Expects `on_complete` next.
    ///
    /// ```
    /// use rstreams::source;
    /// use rstreams_tck::Script;
    ///
    /// Script::new(source::empty::<u64>()).expect_complete().verify();
    /// ```
    pub fn expect_complete(mut self) -> Self {
        self.steps.push(ScriptStep::Complete);
        self
    }

    /// Expects `on_error` next.
    ///
    /// ```
    /// use rstreams::{source, Error};
    /// use rstreams_tck::Script;
    ///
    /// Script::new(source::fail::<u64>(Error::msg("down"))).expect_error().verify();
    /// ```
    pub fn expect_error(mut self) -> Self {
        self.steps.push(ScriptStep::Error);
        self
    }

    /// Runs the script.
    ///
    /// # Panics
    ///
    /// With the account of the first step that did not hold (see [`ScriptFailure`]).
    ///
    /// ```should_panic
    /// use rstreams::source;
    /// use rstreams_tck::Script;
    ///
    /// // Panics: "step 2 of 2 did not hold: expect_complete() ... arrived: on_next(1)".
    /// Script::new(source::range(0, 2)).expect_next(0).expect_complete().verify();
    /// ```
    pub fn verify(self) {
        if let Err(failure) = self.try_verify() {
            panic!("\n{failure}");
        }
    }

    /// Runs the script; the account of the first step that did not hold, if one did not.
    ///
    /// ```
    /// use rstreams::source;
    /// use rstreams_tck::Script;
    ///
    /// assert!(Script::new(source::range(0, 1)).expect_next(0).try_verify().is_ok());
    /// ```
    pub fn try_verify(self) -> Result<(), ScriptFailure> {
        let Script {
            subscribe,
            steps,
            clock,
            initial,
            timeout,
        } = self;
        let probe = Recorder::<T>::new(initial, None);
        let mut run = Run {
            probe: probe.clone(),
            seen: 0,
            timeout,
            clock,
            done: vec![format!(
                "subscribe, request({}) on subscription",
                show(initial)
            )],
            total: steps.len(),
        };
        let (subscriber, _) = probe.subscriber();
        subscribe(subscriber);
        run.check_violations(0, "subscribe")?;
        let total = run.total;
        for (i, step) in steps.into_iter().enumerate() {
            let number = i + 1;
            let label = step.describe();
            run.step(step).map_err(|(expected, arrived)| {
                ScriptFailure::new(Account {
                    step: number,
                    total,
                    label: label.clone(),
                    expected,
                    arrived,
                    so_far: run.done.clone(),
                    received: run.received(),
                })
            })?;
            run.check_violations(number, &label)?;
            run.done.push(label);
        }
        Ok(())
    }
}

/// A script being run: the probe, how many of its elements the steps have accounted for.
struct Run<T> {
    probe: Recorder<T>,
    seen: u64,
    timeout: Duration,
    clock: Option<VirtualTime>,
    done: Vec<String>,
    total: usize,
}

type Mismatch = (String, String);

impl<T: Clone + PartialEq + fmt::Debug + Send + 'static> Run<T> {
    fn received(&self) -> String {
        let s = self.probe.lock();
        let mut text = format!("{:?}", s.values);
        if text.len() > 200 {
            text = format!("{} elements", s.values.len());
        }
        if s.complete {
            text.push_str(", then on_complete");
        } else if let Some(e) = &s.error {
            text.push_str(&format!(", then on_error({e})"));
        }
        if s.cancelled {
            text.push_str(" (cancelled)");
        }
        text
    }

    /// What arrived after the elements accounted for: the next element, the end, or nothing.
    fn next_event(&self, s: &State<T>) -> Option<String> {
        if let Some(x) = s.values.get(self.seen as usize) {
            return Some(format!("on_next({x:?})"));
        }
        if s.complete {
            return Some("on_complete()".into());
        }
        s.error.as_ref().map(|e| format!("on_error({e})"))
    }

    fn nothing(&self) -> String {
        format!("nothing within {:?}", self.timeout)
    }

    fn step(&mut self, step: ScriptStep<T>) -> Result<(), Mismatch> {
        match step {
            ScriptStep::Next(expected) => {
                let want = self.seen + 1;
                self.probe.wait_until(self.timeout, |s| {
                    s.received >= want || s.complete || s.error.is_some()
                });
                let s = self.probe.lock();
                let expected_text = format!("on_next({expected:?})");
                match s.values.get(self.seen as usize) {
                    Some(x) if *x == expected => {}
                    _ => {
                        let arrived = self.next_event(&s).unwrap_or_else(|| self.nothing());
                        return Err((expected_text, arrived));
                    }
                }
                drop(s);
                self.seen = want;
            }
            ScriptStep::NextCount(n) => {
                let want = self.seen.saturating_add(n);
                self.probe.wait_until(self.timeout, |s| {
                    s.received >= want || s.complete || s.error.is_some()
                });
                let s = self.probe.lock();
                if s.received < want {
                    let got = s.received - self.seen;
                    let end = if s.complete {
                        "then on_complete()".to_string()
                    } else if let Some(e) = &s.error {
                        format!("then on_error({e})")
                    } else {
                        format!("then nothing within {:?}", self.timeout)
                    };
                    return Err((format!("{n} elements"), format!("{got} elements, {end}")));
                }
                drop(s);
                self.seen = want;
            }
            ScriptStep::Request(n) => self.probe.request(n),
            ScriptStep::Cancel => self.probe.cancel(),
            ScriptStep::Advance(clock, by) => clock.advance_by(by),
            ScriptStep::NoEvent(duration) => {
                match &self.clock {
                    Some(clock) => clock.advance_by(duration),
                    None => {
                        let until = Instant::now() + duration;
                        // Wake early only to report an event sooner.
                        let seen = self.seen;
                        self.probe.wait_until(duration, |s| {
                            s.received > seen || s.complete || s.error.is_some()
                        });
                        if let Some(left) = until.checked_duration_since(Instant::now()) {
                            if self.next_event(&self.probe.lock()).is_none() {
                                std::thread::sleep(left);
                            }
                        }
                    }
                }
                let s = self.probe.lock();
                if let Some(event) = self.next_event(&s) {
                    let on = if self.clock.is_some() {
                        " (virtual time)"
                    } else {
                        ""
                    };
                    return Err((format!("no event for {duration:?}{on}"), event));
                }
            }
            ScriptStep::Complete | ScriptStep::Error => {
                let complete = matches!(step, ScriptStep::Complete);
                let seen = self.seen;
                self.probe.wait_until(self.timeout, |s| {
                    s.received > seen || s.complete || s.error.is_some()
                });
                let s = self.probe.lock();
                let ok = s.received == seen
                    && if complete {
                        s.complete
                    } else {
                        s.error.is_some()
                    };
                if !ok {
                    let expected = if complete {
                        "on_complete()"
                    } else {
                        "on_error(..)"
                    };
                    let arrived = self.next_event(&s).unwrap_or_else(|| self.nothing());
                    return Err((expected.into(), arrived));
                }
            }
        }
        Ok(())
    }

    fn check_violations(&self, number: usize, label: &str) -> Result<(), ScriptFailure> {
        let violations = self.probe.violations();
        match violations.first() {
            None => Ok(()),
            Some(v) => Err(ScriptFailure::new(Account {
                step: number,
                total: self.total,
                label: label.to_owned(),
                expected: "signals that keep the protocol".into(),
                arrived: format!("§{}: {}", v.rule, v.message),
                so_far: self.done.clone(),
                received: self.received(),
            })),
        }
    }
}

/// The account of the first step of a [`Script`] that did not hold.
///
/// ```
/// use rstreams::source;
/// use rstreams_tck::Script;
///
/// let failure = Script::new(source::range(0, 2))
///     .expect_next(0)
///     .expect_next(1)
///     .expect_next(2)
///     .try_verify()
///     .unwrap_err();
/// assert_eq!(failure.step(), 3);
/// assert_eq!(failure.expected(), "on_next(2)");
/// assert_eq!(failure.arrived(), "on_complete()");
/// println!("{failure}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptFailure(Box<Account>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Account {
    step: usize,
    total: usize,
    label: String,
    expected: String,
    arrived: String,
    so_far: Vec<String>,
    received: String,
}

impl ScriptFailure {
    fn new(account: Account) -> Self {
        ScriptFailure(Box::new(account))
    }

    /// The number of the step that did not hold, from 1 (0: the subscription itself).
    pub fn step(&self) -> usize {
        self.0.step
    }

    /// What the step expected.
    pub fn expected(&self) -> &str {
        &self.0.expected
    }

    /// What arrived instead.
    pub fn arrived(&self) -> &str {
        &self.0.arrived
    }
}

impl fmt::Display for ScriptFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = &self.0;
        writeln!(
            f,
            "script step {} of {} did not hold: {}",
            a.step, a.total, a.label
        )?;
        writeln!(f, "  expected: {}", a.expected)?;
        writeln!(f, "  arrived:  {}", a.arrived)?;
        writeln!(f, "  steps so far:")?;
        for (i, s) in a.so_far.iter().enumerate() {
            writeln!(f, "    {i}. {s}")?;
        }
        writeln!(f, "    {}. {}  <- here", a.step, a.label)?;
        writeln!(f, "  received in all: {}", a.received)
    }
}

impl StdError for ScriptFailure {}
