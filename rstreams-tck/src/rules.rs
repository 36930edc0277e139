//! The 43 rules of the Reactive Streams specification, how this kit treats each one, and what
//! to look at when a check of it fails.

use std::fmt;

/// How the kit treats a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// A MUST rule with a deterministic check: a failure fails the verification.
    Required,
    /// A MAY/SHOULD rule, or one that needs something the user may not provide: a failure is
    /// reported as skipped with the reason.
    Optional,
    /// Checked by repeated runs that catch a violation with high probability, not certainty.
    Stochastic,
    /// Not checked; [`Rule::why`] says why.
    Untested,
    /// Ruled out by Rust's types; [`Rule::why`] says how.
    EnforcedByTypes,
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuleKind::Required => "required",
            RuleKind::Optional => "optional",
            RuleKind::Stochastic => "stochastic",
            RuleKind::Untested => "untested",
            RuleKind::EnforcedByTypes => "enforced by types",
        })
    }
}

/// One rule of the specification.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The rule's number, e.g. `"3.9"`.
    pub id: &'static str,
    /// What the rule says, in short.
    pub text: &'static str,
    /// How the kit treats it.
    pub kind: RuleKind,
    /// For untested and type-enforced rules, why; for checked rules, what to look at when the
    /// check fails.
    pub why: &'static str,
}

use RuleKind::*;

/// Every rule of the specification, in order.
pub const RULES: &[Rule] = &[
    Rule { id: "1.1", text: "on_next is never signalled more than the total demand requested", kind: Required,
        why: "the emission loop: is demand read before each batch and decremented by what was emitted? Use support::Demand and emit while emitted < requested" },
    Rule { id: "1.2", text: "a publisher may signal fewer elements than requested and then terminate", kind: Required,
        why: "does the publisher complete when its data ends although demand remains?" },
    Rule { id: "1.3", text: "signals to a subscriber are serial: never concurrent", kind: Stochastic,
        why: "two threads signalled at once: route every signal through one drain loop (support::Drain / DrainCell)" },
    Rule { id: "1.4", text: "a failed publisher signals on_error", kind: Optional,
        why: "the failed publisher must call on_subscribe and then on_error, and must not panic in subscribe" },
    Rule { id: "1.5", text: "a finite stream that ends successfully signals on_complete", kind: Required,
        why: "is on_complete signalled once the last element is out (possibly after one more request)?" },
    Rule { id: "1.6", text: "after on_error/on_complete the subscription counts as cancelled", kind: Optional,
        why: "a terminated subscription must release its subscriber, as a cancelled one does (§3.13)" },
    Rule { id: "1.7", text: "no signal follows a terminal signal", kind: Required,
        why: "after on_complete/on_error, later requests must do nothing; mark the subscription terminated before signalling" },
    Rule { id: "1.8", text: "after cancel, signals stop eventually", kind: Required,
        why: "the emission loop must check for cancel between elements" },
    Rule { id: "1.9", text: "subscribe signals on_subscribe first, exactly once, and returns normally", kind: Required,
        why: "call on_subscribe before anything else, report failures through on_error after it, and never panic or block in subscribe" },
    Rule { id: "1.10", text: "subscribe may be called repeatedly, each time with a different subscriber", kind: Untested,
        why: "an obligation of the caller; Rust moves the subscriber into subscribe, so the same value cannot be subscribed twice" },
    Rule { id: "1.11", text: "a publisher may support several subscribers (unicast or multicast)", kind: Optional,
        why: "subscribing twice must give two working subscriptions, or a rejection through on_error" },
    Rule { id: "2.1", text: "a subscriber signals demand with request(n) to receive on_next", kind: Required,
        why: "the subscriber must call request(n) (in on_subscribe or later) or it receives nothing" },
    Rule { id: "2.2", text: "a subscriber that would slow its publisher should dispatch asynchronously", kind: Untested,
        why: "a recommendation about responsiveness; nothing to observe" },
    Rule { id: "2.3", text: "on_complete/on_error must not call the subscription or publisher", kind: Required,
        why: "drop the subscription in on_complete/on_error instead of cancelling it; the stream is over" },
    Rule { id: "2.4", text: "after on_complete/on_error the subscriber treats the subscription as cancelled", kind: Untested,
        why: "internal state of the subscriber; its observable part is §2.3" },
    Rule { id: "2.5", text: "a second on_subscribe while a subscription is active is cancelled", kind: Required,
        why: "keep the first subscription; cancel (and do not request from) any later one (support::UpstreamSlot::set)" },
    Rule { id: "2.6", text: "a subscriber cancels a subscription it no longer needs", kind: Untested,
        why: "intent of the subscriber; not observable" },
    Rule { id: "2.7", text: "calls on a subscription are serial", kind: Untested,
        why: "Subscription is Sync: implementations must accept concurrent calls, so serial calls are not required of subscribers here" },
    Rule { id: "2.8", text: "a subscriber accepts on_next after it cancelled", kind: Required,
        why: "elements already in flight may arrive after cancel: ignore them, do not panic" },
    Rule { id: "2.9", text: "a subscriber accepts on_complete with or without prior request", kind: Required,
        why: "on_complete may come right after on_subscribe; do not panic" },
    Rule { id: "2.10", text: "a subscriber accepts on_error with or without prior request", kind: Required,
        why: "on_error may come right after on_subscribe; do not panic" },
    Rule { id: "2.11", text: "signal calls happen-before their processing", kind: Untested,
        why: "a memory-model property; Rust's Send/Sync and the &mut receivers already require a happens-before edge" },
    Rule { id: "2.12", text: "on_subscribe is called at most once per subscriber", kind: EnforcedByTypes,
        why: "subscribe takes the subscriber by value, so one value cannot be subscribed twice; a second on_subscribe from one publisher is flagged by the probes as a §1.9 violation" },
    Rule { id: "2.13", text: "signal methods return normally; null arguments are rejected", kind: Required,
        why: "null arguments cannot be written in Rust (enforced by types); the check catches a panic from on_subscribe, on_next, on_error or on_complete" },
    Rule { id: "3.1", text: "request/cancel are called only from within the subscriber's context", kind: Untested,
        why: "a constraint on callers that the publisher cannot observe" },
    Rule { id: "3.2", text: "request may be called synchronously from on_subscribe and on_next", kind: Required,
        why: "request from inside a signal must only record demand; the emission loop picks it up" },
    Rule { id: "3.3", text: "request bounds the recursion between on_next and request", kind: Required,
        why: "a request from inside on_next recursed into on_next, or deadlocked on a lock held during on_next: use the drain loop (support::Drain) instead of emitting from inside request" },
    Rule { id: "3.4", text: "request should return quickly", kind: Untested,
        why: "a timing heuristic; a request that never returns is caught as §3.16" },
    Rule { id: "3.5", text: "cancel is idempotent, thread-safe and returns quickly", kind: Required,
        why: "cancel from several threads and several times must do no harm (checked with §3.7)" },
    Rule { id: "3.6", text: "after cancel, request does nothing", kind: Required,
        why: "check the cancelled flag before emitting" },
    Rule { id: "3.7", text: "after cancel, cancel does nothing", kind: Required,
        why: "cancel must be idempotent; a second cancel must not signal anything" },
    Rule { id: "3.8", text: "request(n) adds n to the outstanding demand", kind: Required,
        why: "demand added from several threads or from inside on_next must never be lost (a compare-and-swap loop: support::Demand::add)" },
    Rule { id: "3.9", text: "request(0) signals on_error; negative demand is impossible", kind: Required,
        why: "request(0) must cancel and signal on_error (Error::request_zero); negative n cannot be written: n is a u64 (enforced by types)" },
    Rule { id: "3.10", text: "request may call on_next synchronously", kind: Untested,
        why: "a permission, nothing to check" },
    Rule { id: "3.11", text: "request may call on_complete/on_error synchronously", kind: Untested,
        why: "a permission, nothing to check" },
    Rule { id: "3.12", text: "cancel makes the publisher stop signalling eventually", kind: Required,
        why: "a publisher's emission loop must check for cancel between elements, also under unbounded demand; an operator must also forward cancel to its upstream" },
    Rule { id: "3.13", text: "cancel makes the publisher drop its reference to the subscriber", kind: Required,
        why: "on cancel, drop the subscriber (take it out of its slot); the check watches a Weak, no GC or sleep involved" },
    Rule { id: "3.14", text: "cancel may shut down a publisher with no other subscription", kind: Untested,
        why: "a permission, nothing to check" },
    Rule { id: "3.15", text: "cancel returns normally", kind: Required,
        why: "cancel panicked or never returned" },
    Rule { id: "3.16", text: "request returns normally", kind: Required,
        why: "request panicked or never returned (a deadlock?)" },
    Rule { id: "3.17", text: "demand up to and beyond u64::MAX is supported (u64::MAX = unbounded)", kind: Required,
        why: "add demand with saturation (support::add_cap); never fail or wrap on overflow" },
    Rule { id: "4.1", text: "a processor is both a subscriber and a publisher", kind: Required,
        why: "ProcessorVerification runs the publisher, subscriber and operator suites on it: look at the failing side's check" },
    Rule { id: "4.2", text: "an operator forwards upstream on_error downstream at once", kind: Required,
        why: "an error from upstream must reach downstream without waiting for demand, and a completion too" },
];

/// What the kit checks of operators beyond the specification's rules.
pub const KIT_RULES: &[Rule] = &[
    Rule { id: "K.1", text: "an operator's output does not depend on the demand schedule (as a sequence; as a multiset when declared nondeterministic)", kind: Required,
        why: "the operator reorders, drops or duplicates elements depending on how demand arrives; if its order may differ (a race between sources), declare it nondeterministic(); if it drops elements by design, lossy()" },
    Rule { id: "K.2", text: "an operator asks upstream for no more than downstream's outstanding demand (times the declared ratio) plus its declared prefetch", kind: Required,
        why: "the operator requests ahead of demand: an unbounded queue in the making. Request only what downstream asked for plus a bounded prefetch, replenished as it is consumed" },
];

/// The rule with number `id` (a rule of the specification, or one of [`KIT_RULES`]).
///
/// # Panics
///
/// When `id` is not a rule of the specification (a bug in the kit).
pub fn rule(id: &str) -> &'static Rule {
    RULES
        .iter()
        .chain(KIT_RULES)
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no rule {id} in the specification"))
}
