//! Demand schedules: the steps a check takes, printable and replayable, and the proptest
//! strategies that generate them.

use std::fmt;

use proptest::prelude::*;

/// One action the kit takes against the code under test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Subscribe the probe.
    Subscribe,
    /// `request(n)` from the check's thread.
    Request(u64),
    /// `request(n)` from a newly spawned thread (joined before the next step).
    RequestFromThread(u64),
    /// Arm the next `on_next` to call `request(n)` from inside itself (§3.2, §3.3).
    RequestInOnNext(u64),
    /// `cancel()` from the check's thread.
    Cancel,
    /// Arm the next `on_next` to call `cancel()` from inside itself.
    CancelInOnNext,
    /// Signal `on_next` to the subscriber under test (subscriber checks).
    SendNext(u64),
    /// Signal `on_complete` to the subscriber under test.
    SendComplete,
    /// Signal `on_error` to the subscriber under test.
    SendError,
    /// Signal a second `on_subscribe` to the subscriber under test.
    SendSecondSubscription,
    /// Connect the connectable operator under test (its upstream is subscribed then).
    Connect,
    /// End the connection of the connectable operator under test (what cancels its upstream).
    Disconnect,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Subscribe => write!(f, "subscribe"),
            Step::Request(n) => write!(f, "request({})", show(*n)),
            Step::RequestFromThread(n) => write!(f, "request({}) from another thread", show(*n)),
            Step::RequestInOnNext(n) => {
                write!(f, "request({}) from inside the next on_next", show(*n))
            }
            Step::Cancel => write!(f, "cancel()"),
            Step::CancelInOnNext => write!(f, "cancel() from inside the next on_next"),
            Step::SendNext(x) => write!(f, "on_next({x})"),
            Step::SendComplete => write!(f, "on_complete()"),
            Step::SendError => write!(f, "on_error(..)"),
            Step::SendSecondSubscription => write!(f, "on_subscribe(second subscription)"),
            Step::Connect => write!(f, "connect"),
            Step::Disconnect => write!(f, "end the connection"),
        }
    }
}

fn show(n: u64) -> String {
    match n {
        u64::MAX => "u64::MAX".into(),
        n if n > u64::MAX / 2 => format!("u64::MAX - {}", u64::MAX - n),
        n => n.to_string(),
    }
}

/// Request sizes worth trying: 1, small, large, `u64::MAX`, and values whose sum overflows.
pub fn request_size() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => Just(1u64),
        4 => 2u64..=8,
        2 => 9u64..=1_000,
        1 => Just(u64::MAX),
        1 => Just(u64::MAX / 2 + 1),
        1 => Just(u64::MAX - 1),
    ]
}

/// A demand schedule: requests from the check's thread, from other threads and from inside
/// `on_next`, with an occasional cancel. Shrinks towards fewer, smaller, simpler steps.
pub fn demand_schedule(max_steps: usize) -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        6 => request_size().prop_map(Step::Request),
        2 => request_size().prop_map(Step::RequestFromThread),
        2 => request_size().prop_map(Step::RequestInOnNext),
        1 => Just(Step::Cancel),
        1 => Just(Step::CancelInOnNext),
    ];
    proptest::collection::vec(step, 1..=max_steps)
}

/// A schedule of requests only (no cancel), for checks that compare whole outputs.
pub fn request_schedule(max_steps: usize) -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        6 => (1u64..=16).prop_map(Step::Request),
        2 => (1u64..=16).prop_map(Step::RequestFromThread),
        2 => (1u64..=4).prop_map(Step::RequestInOnNext),
    ];
    proptest::collection::vec(step, 1..=max_steps)
}

/// The number of generated cases: `PROPTEST_CASES` or 32.
pub(crate) fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}
