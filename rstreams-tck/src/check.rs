//! The plumbing every verification shares: what a check finds ([`Failure`], [`Halt`]), the
//! context a running check shares with its probes ([`Ctx`]), the runner that puts each check on
//! its own thread under a deadline with panics caught, generated schedules with fast shrinking,
//! and the panic hook that keeps deliberate panics of the code under test out of the output.

use std::cell::RefCell;
use std::fmt::{self, Debug};
use std::panic::{catch_unwind, AssertUnwindSafe, PanicHookInfo};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use rstreams_core::sync::{AtomicBool, AtomicU64, Mutex, Ordering};

use crate::env::Timeouts;
use crate::report::{CheckReport, Outcome};
use crate::rules::{rule, RuleKind, RULES};
use crate::schedule::Step;
use crate::upstream::SignalPath;

/// A broken rule, found by a check.
#[derive(Debug, Clone)]
pub struct Failure {
    pub(crate) rule: &'static str,
    pub(crate) message: String,
    pub(crate) schedule: Vec<Step>,
    /// Where to look first, when the failure knows better than its rule's general hint.
    pub(crate) look_at: Option<String>,
    /// Found by waiting (a stall, a signal that never came) rather than seen happen: only a
    /// wait as long as the signal timeout confirms it.
    pub(crate) waited: bool,
}

impl Failure {
    pub(crate) fn new(rule: &'static str, message: impl Into<String>, schedule: Vec<Step>) -> Self {
        Failure {
            rule,
            message: message.into(),
            schedule,
            look_at: None,
            waited: false,
        }
    }

    /// Marks a failure found by waiting for something that did not come.
    pub(crate) fn waited(mut self) -> Self {
        self.waited = true;
        self
    }
}

/// Why a check stopped before passing.
#[derive(Debug)]
pub enum Halt {
    /// A rule was broken.
    Fail(Failure),
    /// The check could not run (it needs something the verification was not given).
    Skip(String),
}

impl From<Failure> for Halt {
    fn from(f: Failure) -> Self {
        Halt::Fail(f)
    }
}

/// What a check returns: `Ok(())` when the rule held.
pub(crate) type Checked = Result<(), Halt>;

/// Skips the check, saying why.
pub(crate) fn skip<T>(reason: impl Into<String>) -> Result<T, Halt> {
    Err(Halt::Skip(reason.into()))
}

/// The payload a probe panics with to stop a runaway emitter from inside `on_next`.
pub(crate) struct TckAbort(pub(crate) Failure);

/// The configuration every verification shares (the builder methods of
/// [`Verification`](crate::Verification)).
#[derive(Debug, Clone)]
pub struct Settings {
    pub(crate) name: Option<String>,
    pub(crate) timeouts: Timeouts,
    pub(crate) cases: Option<u32>,
    pub(crate) shrink: Option<Duration>,
}

impl Settings {
    pub(crate) fn from_env() -> Self {
        Settings {
            name: None,
            timeouts: Timeouts::from_env(),
            cases: None,
            shrink: None,
        }
    }

    /// The number of generated schedules per generated check: the builder's, else
    /// `PROPTEST_CASES`, else 32.
    pub(crate) fn cases(&self) -> u32 {
        self.cases.unwrap_or_else(crate::schedule::cases)
    }

    /// How long a failing generated check may spend shrinking: the builder's, else
    /// `RSTREAMS_TCK_SHRINK_MS`, else 250 ms.
    pub(crate) fn shrink_time(&self) -> Duration {
        self.shrink.unwrap_or_else(|| {
            let ms = std::env::var("RSTREAMS_TCK_SHRINK_MS")
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(DEFAULT_SHRINK_MS);
            Duration::from_millis(ms)
        })
    }
}

/// The default shrinking budget of a failing generated check.
pub(crate) const DEFAULT_SHRINK_MS: u64 = 250;

/// A call into the code under test that has not returned yet.
#[derive(Clone)]
struct Call {
    label: String,
    /// The rule broken if the call never returns (a re-entrant request that deadlocks: §3.3).
    rule: &'static str,
    /// The rule broken if the call panics (a request that panics: §3.16).
    panic_rule: &'static str,
}

/// What a running check shares with its probes: the timeouts, the check's rule, the steps
/// taken so far, the calls into the code under test that have not returned yet, the panics
/// caught, and which signal path the kit's upstream uses.
pub struct Ctx {
    timeouts: Timeouts,
    settings: Settings,
    /// The rule of the check: the one its expectations fail unless told otherwise.
    pub(crate) rule: &'static str,
    started: Instant,
    /// While a failing schedule is shrunk, waits are short (a confirmed failure is known).
    shrinking: AtomicBool,
    /// Milliseconds since `started` of the last sign of life: a signal, a step, a call.
    progress: AtomicU64,
    steps: Mutex<Vec<Step>>,
    calls: Mutex<Vec<Call>>,
    panics: Mutex<Vec<String>>,
    path: Mutex<SignalPath>,
}

impl Ctx {
    pub(crate) fn new(settings: Settings, rule: &'static str) -> Arc<Self> {
        Arc::new(Ctx {
            timeouts: settings.timeouts,
            settings,
            rule,
            started: Instant::now(),
            shrinking: AtomicBool::new(false),
            progress: AtomicU64::new(0),
            steps: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
            panics: Mutex::new(Vec::new()),
            path: Mutex::new(SignalPath::Conditional),
        })
    }

    /// The longest wait for an expected signal (short while a failure is being shrunk).
    pub(crate) fn signal(&self) -> Duration {
        let full = self.timeouts.signal;
        if self.shrinking.load(Ordering::Acquire) {
            (full / 10).max(Duration::from_millis(20)).min(full)
        } else {
            full
        }
    }

    /// The window in which no unexpected signal may arrive.
    pub(crate) fn quiet(&self) -> Duration {
        self.timeouts.quiet
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    fn set_shrinking(&self, on: bool) {
        self.shrinking.store(on, Ordering::Release);
    }

    /// Records a sign of life from the code under test.
    pub(crate) fn touch(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.progress.fetch_max(ms, Ordering::AcqRel);
    }

    fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.progress.load(Ordering::Acquire));
        self.started.elapsed().saturating_sub(last)
    }

    /// Records a step of the schedule.
    pub(crate) fn step(&self, step: Step) {
        self.touch();
        self.steps.lock().push(step);
    }

    /// Forgets the steps so far, and any call left recorded by a panic caught inside the check
    /// (a new generated case starts; no call is in flight).
    pub(crate) fn reset_steps(&self) {
        self.steps.lock().clear();
        self.calls.lock().clear();
    }

    /// The steps so far.
    pub(crate) fn steps(&self) -> Vec<Step> {
        self.steps.lock().clone()
    }

    /// The signal path the kit's upstream uses now (operator checks run on both).
    pub(crate) fn set_path(&self, path: SignalPath) {
        *self.path.lock() = path;
    }

    pub(crate) fn path(&self) -> SignalPath {
        *self.path.lock()
    }

    /// A failure of `rule`, with the steps so far.
    pub(crate) fn fail(&self, rule: &'static str, message: impl Into<String>) -> Failure {
        Failure::new(rule, message, self.steps())
    }

    /// A failure of the check's own rule, with the steps so far.
    pub(crate) fn fail_here(&self, message: impl Into<String>) -> Failure {
        self.fail(self.rule, message)
    }

    /// Runs `f`, a call into the code under test, remembering it while it runs: if it does
    /// not return, the failure names it and `rule`.
    pub(crate) fn call<R>(
        &self,
        label: impl Into<String>,
        rule: &'static str,
        f: impl FnOnce() -> R,
    ) -> R {
        self.call_with(label, rule, rule, f)
    }

    /// Like [`call`](Self::call), for a call that breaks one rule by never returning and
    /// another by panicking.
    pub(crate) fn call_with<R>(
        &self,
        label: impl Into<String>,
        rule: &'static str,
        panic_rule: &'static str,
        f: impl FnOnce() -> R,
    ) -> R {
        let call = Call {
            label: label.into(),
            rule,
            panic_rule,
        };
        self.touch();
        self.calls.lock().push(call);
        struct Pop<'a>(&'a Ctx);
        impl Drop for Pop<'_> {
            fn drop(&mut self) {
                // While unwinding, keep the entry: it names the call that panicked, and the
                // runner reads it once the panic reaches the check's thread boundary.
                if !std::thread::panicking() {
                    self.0.calls.lock().pop();
                    self.0.touch();
                }
            }
        }
        let _pop = Pop(self);
        f()
    }

    fn stuck_in(&self) -> Option<Call> {
        self.calls.lock().last().cloned()
    }

    /// Runs `f` on a new thread whose panics are captured into this check's report, and waits
    /// for it; `Err` if it panicked.
    pub(crate) fn spawn_join<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> std::thread::Result<R> {
        let ctx = Arc::clone(self);
        std::thread::spawn(move || {
            capture_into(Some(ctx));
            f()
        })
        .join()
    }

    fn record_panic(&self, what: String) {
        let mut panics = self.panics.lock();
        if panics.len() < 16 {
            panics.push(what);
        }
    }

    /// The failure for a panic that reached the kit: a runaway stopped by a probe, or a panic
    /// of the code under test (named with the call it happened in and where it was raised).
    pub(crate) fn panic_failure(&self, payload: Box<dyn std::any::Any + Send>) -> Failure {
        if let Some(abort) = payload.downcast_ref::<TckAbort>() {
            return abort.0.clone();
        }
        let text = panic_text(payload.as_ref());
        let at = self
            .panics
            .lock()
            .iter()
            .rev()
            .find(|p| p.starts_with(&text))
            .cloned()
            .unwrap_or(text);
        let (rule, during) = match self.stuck_in() {
            Some(call) => (call.panic_rule, format!(" during `{}`", call.label)),
            None => (self.rule, String::new()),
        };
        self.fail(
            rule,
            format!("the code under test panicked{during}: {at} (every call must return normally)"),
        )
    }

    /// A failure if a call into the code under test has made no progress for `limit`.
    fn stuck(&self, limit: Duration) -> Option<Failure> {
        let call = self.stuck_in()?;
        let idle = self.idle();
        (idle >= limit).then(|| {
            self.fail(
                call.rule,
                format!(
                    "`{}` did not return within {idle:?}, and nothing was signalled meanwhile: the code under test deadlocked or never returns",
                    call.label
                ),
            )
        })
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".into())
}

/// One check of a suite `V`.
pub struct CheckDef<V> {
    pub(crate) name: &'static str,
    pub(crate) rule: &'static str,
    /// Overrides the registry's kind for this check (an optional check of a required rule).
    pub(crate) kind: Option<RuleKind>,
    pub(crate) run: fn(&V, &Arc<Ctx>) -> Checked,
    /// Where to look when this check fails its own rule (instead of the rule's general hint).
    pub(crate) look_at: Option<&'static str>,
    /// What else the check verifies on the way, for a failure of another rule than its name's.
    pub(crate) also: Option<&'static str>,
}

impl<V> fmt::Debug for CheckDef<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckDef")
            .field("name", &self.name)
            .field("rule", &self.rule)
            .finish()
    }
}

impl<V> CheckDef<V> {
    pub(crate) fn new(
        name: &'static str,
        rule: &'static str,
        run: fn(&V, &Arc<Ctx>) -> Checked,
    ) -> Self {
        CheckDef {
            name,
            rule,
            kind: None,
            run,
            look_at: None,
            also: None,
        }
    }

    /// A check whose failure is reported as skipped (an optional part of a required rule).
    pub(crate) fn optional(mut self) -> Self {
        self.kind = Some(RuleKind::Optional);
        self
    }

    pub(crate) fn look_at(mut self, hint: &'static str) -> Self {
        self.look_at = Some(hint);
        self
    }

    pub(crate) fn also(mut self, what: &'static str) -> Self {
        self.also = Some(what);
        self
    }
}

/// How often the runner looks for a call that stopped making progress.
const POLL: Duration = Duration::from_millis(20);

/// Runs the checks (all, or the one named `only`) concurrently, each on its own thread, and
/// collects their outcomes in definition order.
pub(crate) fn run_checks<V: Send + Sync + 'static>(
    subject: &Arc<V>,
    defs: &[CheckDef<V>],
    settings: &Settings,
    only: Option<&str>,
) -> Vec<CheckReport> {
    let selected: Vec<&CheckDef<V>> = defs
        .iter()
        .filter(|d| only.is_none_or(|o| o == d.name))
        .collect();
    assert!(
        only.is_none() || !selected.is_empty(),
        "no check named {:?}",
        only.unwrap_or_default()
    );
    let _hook = PanicCapture::install();
    let timeouts = settings.timeouts;
    let started: Vec<_> = selected
        .iter()
        .map(|def| {
            let ctx = Ctx::new(settings.clone(), def.rule);
            let (tx, rx) = mpsc::channel();
            let v = Arc::clone(subject);
            let c = Arc::clone(&ctx);
            let run = def.run;
            let spawned = std::thread::Builder::new()
                .name(format!("tck-{}", def.name))
                .spawn(move || {
                    capture_into(Some(Arc::clone(&c)));
                    let result = catch_unwind(AssertUnwindSafe(|| run(&v, &c)));
                    let _ = tx.send(result);
                });
            (def, ctx, rx, spawned.is_ok(), Instant::now())
        })
        .collect();
    started
        .into_iter()
        .map(|(def, ctx, rx, spawned, start)| {
            let kind = def.kind.unwrap_or(rule(def.rule).kind);
            let result = if !spawned {
                skip("the kit could not start a thread for this check")
            } else {
                loop {
                    let elapsed = start.elapsed();
                    if elapsed >= timeouts.check {
                        break Err(timeout_failure(&ctx).into());
                    }
                    match rx.recv_timeout((timeouts.check - elapsed).min(POLL)) {
                        Ok(Ok(result)) => break result,
                        Ok(Err(payload)) => break Err(ctx.panic_failure(payload).into()),
                        Err(RecvTimeoutError::Timeout) => {
                            if let Some(f) = ctx.stuck(timeouts.signal) {
                                break Err(f.into());
                            }
                        }
                        Err(RecvTimeoutError::Disconnected) => {
                            break Err(timeout_failure(&ctx).into())
                        }
                    }
                }
            };
            CheckReport {
                name: def.name,
                rule: def.rule,
                kind,
                outcome: outcome(def, kind, result),
            }
        })
        .collect()
}

fn outcome<V>(def: &CheckDef<V>, kind: RuleKind, result: Checked) -> Outcome {
    match result {
        Ok(()) => Outcome::Passed,
        Err(Halt::Skip(reason)) => Outcome::Skipped { reason },
        Err(Halt::Fail(f)) if kind == RuleKind::Optional => Outcome::Skipped {
            reason: format!("optional §{} not implemented: {}", f.rule, f.message),
        },
        Err(Halt::Fail(f)) => {
            let own = f.rule == def.rule;
            let look_at = f
                .look_at
                .clone()
                .or_else(|| def.look_at.filter(|_| own).map(str::to_owned))
                .unwrap_or_else(|| rule(f.rule).why.to_owned());
            let note = (!own).then(|| {
                let also = def.also.map_or_else(String::new, |a| format!(": {a}"));
                format!(
                    "this check is named after §{}, but what it found breaks §{}{also}",
                    def.rule, f.rule
                )
            });
            Outcome::Failed {
                rule: f.rule.to_owned(),
                message: f.message,
                schedule: f.schedule,
                look_at,
                note,
            }
        }
    }
}

fn timeout_failure(ctx: &Ctx) -> Failure {
    let limit = ctx.timeouts.check;
    match ctx.stuck_in() {
        Some(call) => ctx.fail(
            call.rule,
            format!(
                "`{}` did not return within {limit:?}: the code under test deadlocked or never returns",
                call.label
            ),
        ),
        None => ctx.fail_here(format!(
            "the check did not finish within {limit:?}: the code under test never made progress"
        )),
    }
}

/// The rules of the given sections that no check covers.
pub(crate) fn not_checked(sections: &[&str], covered: &[&str]) -> Vec<&'static str> {
    RULES
        .iter()
        .filter(|r| sections.iter().any(|s| r.id.starts_with(s)))
        .filter(|r| !covered.contains(&r.id))
        .map(|r| r.id)
        .collect()
}

/// The proptest configuration of a generated check: its cases, and shrinking bounded by the
/// shrinking budget (250 ms unless deeper shrinking was asked for).
pub(crate) fn shrinking_config(ctx: &Ctx) -> Config {
    let settings = ctx.settings();
    Config {
        cases: settings.cases(),
        failure_persistence: None,
        max_shrink_time: settings.shrink_time().as_millis().min(u32::MAX as u128) as u32,
        ..Config::default()
    }
}

/// Runs `case` over generated values. On a failure, the value is shrunk with short waits (a
/// failure is already known, so a stall need not be waited out in full), and the failure of
/// the smallest value is reported with its own account; a stall found only with short waits
/// is confirmed by a replay with full waits, and if the replay passes, the first failure
/// stands.
pub(crate) fn generated<V, S>(
    ctx: &Arc<Ctx>,
    strategy: S,
    case: impl Fn(&V) -> Result<(), Failure>,
) -> Checked
where
    S: Strategy<Value = V>,
    V: Clone + PartialEq + Debug,
{
    let first: RefCell<Option<Failure>> = RefCell::new(None);
    let last: RefCell<Option<(V, Failure)>> = RefCell::new(None);
    let run_case = |v: &V| -> Result<(), Failure> {
        ctx.reset_steps();
        match catch_unwind(AssertUnwindSafe(|| case(v))) {
            Ok(result) => result,
            Err(payload) => Err(ctx.panic_failure(payload)),
        }
    };
    let mut runner = TestRunner::new(shrinking_config(ctx));
    let result = runner.run(&strategy, |v| match run_case(&v) {
        Ok(()) => Ok(()),
        Err(f) => {
            let reason = TestCaseError::fail(f.message.clone());
            if first.borrow().is_none() {
                *first.borrow_mut() = Some(f.clone());
                ctx.set_shrinking(true);
            }
            *last.borrow_mut() = Some((v, f));
            Err(reason)
        }
    });
    ctx.set_shrinking(false);
    match result {
        Ok(()) => Ok(()),
        Err(TestError::Abort(reason)) => skip(format!("generation aborted: {reason}")),
        Err(TestError::Fail(_, minimal)) => {
            let first = first.into_inner().expect("a failing case was recorded");
            let recorded = last
                .into_inner()
                .filter(|(v, _)| *v == minimal)
                .map(|(_, f)| f);
            let trusted = |f: &Failure| !f.waited || (first.waited && first.rule == f.rule);
            let failure = match recorded {
                Some(f) if trusted(&f) => f,
                _ => run_case(&minimal).err().unwrap_or(first),
            };
            Err(failure.into())
        }
    }
}

// ===== the panic hook =====

thread_local! {
    /// The check whose report a panic on this thread belongs to.
    static CAPTURE: RefCell<Option<Arc<Ctx>>> = const { RefCell::new(None) };
}

/// Makes panics on this thread (the check's own, or one the kit spawned for it) go into the
/// check's report instead of through the panic hook found at start.
pub(crate) fn capture_into(ctx: Option<Arc<Ctx>>) {
    CAPTURE.with(|c| *c.borrow_mut() = ctx);
}

type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

// A process-wide registry of the kit's panic hook, not stream state (loom's types cannot be
// statics): how many verifications are running, and the hook found when the first started.
#[allow(clippy::disallowed_types)]
static USERS: std::sync::Mutex<usize> = std::sync::Mutex::new(0);
#[allow(clippy::disallowed_types)]
static PREVIOUS: std::sync::Mutex<Option<Hook>> = std::sync::Mutex::new(None);

/// While alive, a panic on a thread of a check is captured into that check's report (message
/// and location) and not printed; every other panic goes to the hook found when the first
/// verification started. The last one to finish puts that hook back as it was.
pub(crate) struct PanicCapture(());

impl PanicCapture {
    pub(crate) fn install() -> Self {
        let mut users = USERS.lock().unwrap_or_else(|p| p.into_inner());
        if *users == 0 {
            let previous = std::panic::take_hook();
            *PREVIOUS.lock().unwrap_or_else(|p| p.into_inner()) = Some(previous);
            std::panic::set_hook(Box::new(kit_hook));
        }
        *users += 1;
        PanicCapture(())
    }
}

impl Drop for PanicCapture {
    fn drop(&mut self) {
        let mut users = USERS.lock().unwrap_or_else(|p| p.into_inner());
        *users -= 1;
        if *users == 0 {
            let _kit = std::panic::take_hook();
            let previous = PREVIOUS.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(previous) = previous {
                std::panic::set_hook(previous);
            }
        }
    }
}

fn kit_hook(info: &PanicHookInfo<'_>) {
    if info.payload().is::<TckAbort>() {
        return; // the kit's own stop of a runaway emitter: reported as a failure
    }
    let ctx = CAPTURE.with(|c| c.borrow().clone());
    match ctx {
        Some(ctx) => {
            let at = info
                .location()
                .map(|l| format!(" (at {}:{}:{})", l.file(), l.line(), l.column()))
                .unwrap_or_default();
            ctx.record_panic(format!("{}{at}", panic_text(info.payload())));
        }
        None => {
            let previous = PREVIOUS.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(previous) = previous.as_ref() {
                previous(info);
            }
        }
    }
}
