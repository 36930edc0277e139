//! The result of a verification: one outcome per check, readable by a person.

use std::fmt;

use crate::rules::{rule, RuleKind, KIT_RULES, RULES};
use crate::schedule::Step;

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The rule held.
    Passed,
    /// The rule was broken.
    Failed {
        /// The rule broken, e.g. `"1.1"` (a check may find a different rule broken than the one
        /// it is named after: a stall found while checking §1.1 is reported as §3.8).
        rule: String,
        /// What happened, with the numbers.
        message: String,
        /// The steps the kit took, in order, to get there: replay them to reproduce.
        schedule: Vec<Step>,
        /// Where to look first: the likely cause, as far as the check can tell.
        look_at: String,
        /// Why the rule broken differs from the one the check is named after, when it does.
        note: Option<String>,
    },
    /// The check did not run, or it checks an optional rule that is not implemented.
    Skipped {
        /// Why.
        reason: String,
    },
}

/// One check's entry in a [`Report`].
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The check's name, e.g. `rule_3_9_request_zero_signals_error`.
    pub name: &'static str,
    /// The rule the check is about.
    pub rule: &'static str,
    /// How the kit treats that rule.
    pub kind: RuleKind,
    /// What the check found.
    pub outcome: Outcome,
}

/// The result of a verification.
#[derive(Debug, Clone)]
pub struct Report {
    pub(crate) subject: String,
    pub(crate) checks: Vec<CheckReport>,
    /// Rules of the verified side that no check covers: untested or enforced by types.
    pub(crate) not_checked: Vec<&'static str>,
}

impl Report {
    /// Whether no check failed.
    pub fn is_compliant(&self) -> bool {
        self.checks
            .iter()
            .all(|c| !matches!(c.outcome, Outcome::Failed { .. }))
    }

    /// The rules broken, sorted and without repeats, e.g. `["1.1", "3.9"]`.
    pub fn failed_rules(&self) -> Vec<String> {
        let mut rules: Vec<String> = self
            .checks
            .iter()
            .filter_map(|c| match &c.outcome {
                Outcome::Failed { rule, .. } => Some(rule.clone()),
                _ => None,
            })
            .collect();
        rules.sort_by(|a, b| rule_order(a).cmp(&rule_order(b)).then(a.cmp(b)));
        rules.dedup();
        rules
    }

    /// Every check and its outcome.
    pub fn checks(&self) -> &[CheckReport] {
        &self.checks
    }

    /// The outcome of the check named `name`, if it ran.
    pub fn outcome(&self, name: &str) -> Option<&Outcome> {
        self.checks
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.outcome)
    }

    /// Panics with the whole report unless [`is_compliant`](Self::is_compliant).
    pub fn assert_compliant(&self) {
        if !self.is_compliant() {
            panic!("\n{self}");
        }
    }
}

fn rule_order(id: &str) -> (u32, u32) {
    if id.starts_with('K') {
        return (u32::MAX, id[2..].parse().unwrap_or(u32::MAX));
    }
    let mut parts = id.split('.').map(|p| p.parse::<u32>().unwrap_or(u32::MAX));
    (
        parts.next().unwrap_or(u32::MAX),
        parts.next().unwrap_or(u32::MAX),
    )
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let passed = self
            .checks
            .iter()
            .filter(|c| c.outcome == Outcome::Passed)
            .count();
        let failed: Vec<&CheckReport> = self
            .checks
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failed { .. }))
            .collect();
        let skipped = self.checks.len() - passed - failed.len();
        writeln!(
            f,
            "rstreams TCK: {}: {} check(s), {passed} passed, {} failed, {skipped} skipped",
            self.subject,
            self.checks.len(),
            failed.len()
        )?;
        for c in &failed {
            if let Outcome::Failed {
                rule: broken,
                message,
                schedule,
                look_at,
                note,
            } = &c.outcome
            {
                let r = RULES
                    .iter()
                    .chain(KIT_RULES)
                    .find(|r| r.id == broken.as_str());
                writeln!(f)?;
                writeln!(f, "FAILED §{broken} in {}", c.name)?;
                if let Some(r) = r {
                    writeln!(f, "  rule:    {}", r.text)?;
                }
                if let Some(note) = note {
                    writeln!(f, "  note:    {note}")?;
                }
                writeln!(f, "  found:   {message}")?;
                if !schedule.is_empty() {
                    writeln!(f, "  steps to reproduce:")?;
                    for (i, step) in schedule.iter().enumerate() {
                        writeln!(f, "    {}. {step}", i + 1)?;
                    }
                }
                writeln!(f, "  look at: {look_at}")?;
            }
        }
        let skips: Vec<&CheckReport> = self
            .checks
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Skipped { .. }))
            .collect();
        if !skips.is_empty() {
            writeln!(f)?;
            writeln!(f, "skipped:")?;
            for c in skips {
                if let Outcome::Skipped { reason } = &c.outcome {
                    writeln!(f, "  {} (§{}, {}): {reason}", c.name, c.rule, c.kind)?;
                }
            }
        }
        if !self.not_checked.is_empty() {
            writeln!(f)?;
            writeln!(f, "not checked:")?;
            for id in &self.not_checked {
                let r = rule(id);
                writeln!(f, "  §{id} ({}): {}", r.kind, r.why)?;
            }
        }
        Ok(())
    }
}
