//! Running checks: each on its own thread, under a deadline, with panics caught, so that code
//! under test that deadlocks, loops or panics is reported instead of hanging or crashing the kit.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use rstreams_core::sync::Mutex;

use crate::env::Timeouts;
use crate::report::{CheckReport, Outcome};
use crate::rules::{rule, RuleKind};
use crate::schedule::Step;

/// A broken rule, found by a check.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) rule: &'static str,
    pub(crate) message: String,
    pub(crate) schedule: Vec<Step>,
}

/// The verdict of one check.
pub(crate) enum Verdict {
    Pass,
    Fail(Failure),
    Skip(String),
}

impl From<Result<(), Failure>> for Verdict {
    fn from(r: Result<(), Failure>) -> Self {
        match r {
            Ok(()) => Verdict::Pass,
            Err(f) => Verdict::Fail(f),
        }
    }
}

/// The payload a probe panics with to stop a runaway emitter from inside `on_next`.
pub(crate) struct TckAbort(pub(crate) Failure);

/// A call into the code under test that has not returned yet.
#[derive(Clone)]
struct Call {
    label: String,
    /// The rule broken if the call never returns (a re-entrant request that deadlocks: §3.3).
    rule: &'static str,
    /// The rule broken if the call panics (a request that panics: §3.16).
    panic_rule: &'static str,
}

/// What a running check shares with its probes: the timeouts, the steps taken so far, and the
/// calls into the code under test that have not returned yet.
pub(crate) struct Ctx {
    pub(crate) timeouts: Timeouts,
    steps: Mutex<Vec<Step>>,
    calls: Mutex<Vec<Call>>,
}

impl Ctx {
    pub(crate) fn new(timeouts: Timeouts) -> Arc<Self> {
        Arc::new(Ctx {
            timeouts,
            steps: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
        })
    }

    /// Records a step of the schedule.
    pub(crate) fn step(&self, step: Step) {
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

    /// A failure of `rule`, with the steps so far.
    pub(crate) fn fail(&self, rule: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            rule,
            message: message.into(),
            schedule: self.steps(),
        }
    }

    /// Runs `f`, a call into the code under test, remembering it while it runs: if the check's
    /// deadline passes while it has not returned, the failure names it and `rule`.
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
        self.calls.lock().push(call.clone());
        struct Pop<'a>(&'a Ctx);
        impl Drop for Pop<'_> {
            fn drop(&mut self) {
                // While unwinding, keep the entry: it names the call that panicked, and the
                // runner reads it once the panic reaches the check's thread boundary.
                if !std::thread::panicking() {
                    self.0.calls.lock().pop();
                }
            }
        }
        let _pop = Pop(self);
        f()
    }

    fn stuck_in(&self) -> Option<Call> {
        self.calls.lock().last().cloned()
    }
}

/// One check of a verification `V`.
pub(crate) struct CheckDef<V> {
    pub(crate) name: &'static str,
    pub(crate) rule: &'static str,
    /// Overrides the registry's kind for this check (an optional check of a required rule).
    pub(crate) kind: Option<RuleKind>,
    pub(crate) run: fn(&V, &Arc<Ctx>) -> Verdict,
}

/// Runs the checks (all, or the one named `only`) concurrently, each on its own thread, and
/// collects their outcomes in definition order.
pub(crate) fn run_checks<V: Send + Sync + 'static>(
    subject: &Arc<V>,
    defs: &[CheckDef<V>],
    timeouts: Timeouts,
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
    let started: Vec<_> = selected
        .iter()
        .map(|def| {
            let ctx = Ctx::new(timeouts);
            let (tx, rx) = mpsc::channel();
            let v = Arc::clone(subject);
            let c = Arc::clone(&ctx);
            let run = def.run;
            let spawned = std::thread::Builder::new()
                .name(format!("tck-{}", def.name))
                .spawn(move || {
                    let verdict = catch_unwind(AssertUnwindSafe(|| run(&v, &c)));
                    let _ = tx.send(verdict);
                });
            (def, ctx, rx, spawned.is_ok(), Instant::now())
        })
        .collect();
    started
        .into_iter()
        .map(|(def, ctx, rx, spawned, start)| {
            let kind = def.kind.unwrap_or(rule(def.rule).kind);
            let verdict = if !spawned {
                Verdict::Skip("the kit could not start a thread for this check".into())
            } else {
                let left = timeouts.check.saturating_sub(start.elapsed());
                match rx.recv_timeout(left) {
                    Ok(Ok(verdict)) => verdict,
                    Ok(Err(payload)) => panic_verdict(def, &ctx, payload),
                    Err(_) => timeout_verdict(def, &ctx),
                }
            };
            CheckReport {
                name: def.name,
                rule: def.rule,
                kind,
                outcome: outcome(kind, verdict),
            }
        })
        .collect()
}

fn outcome(kind: RuleKind, verdict: Verdict) -> Outcome {
    match verdict {
        Verdict::Pass => Outcome::Passed,
        Verdict::Skip(reason) => Outcome::Skipped { reason },
        Verdict::Fail(f) if kind == RuleKind::Optional => Outcome::Skipped {
            reason: format!("optional §{} not implemented: {}", f.rule, f.message),
        },
        Verdict::Fail(f) => Outcome::Failed {
            rule: f.rule.to_owned(),
            message: f.message,
            schedule: f.schedule,
        },
    }
}

fn panic_verdict<V>(
    def: &CheckDef<V>,
    ctx: &Ctx,
    payload: Box<dyn std::any::Any + Send>,
) -> Verdict {
    if let Some(abort) = payload.downcast_ref::<TckAbort>() {
        return Verdict::Fail(abort.0.clone());
    }
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".into());
    let (rule, during) = match ctx.stuck_in() {
        Some(call) => (call.panic_rule, format!(" during `{}`", call.label)),
        None => (def.rule, String::new()),
    };
    Verdict::Fail(ctx.fail(
        rule,
        format!("the code under test panicked{during}: {text} (every call must return normally)"),
    ))
}

fn timeout_verdict<V>(def: &CheckDef<V>, ctx: &Ctx) -> Verdict {
    let limit = ctx.timeouts.check;
    let (rule, message) = match ctx.stuck_in() {
        Some(call) => (
            call.rule,
            format!(
                "`{}` did not return within {limit:?}: the code under test deadlocked or never returns",
                call.label
            ),
        ),
        None => (
            def.rule,
            format!("the check did not finish within {limit:?}: the code under test never made progress"),
        ),
    };
    Verdict::Fail(ctx.fail(rule, message))
}
