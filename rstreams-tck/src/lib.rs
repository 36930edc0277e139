//! The rstreams compliance kit (TCK): tells you, with the rule number and a minimal replayable
//! schedule, that a publisher, subscriber or operator over-emits, stalls, or breaks another rule
//! of the Reactive Streams specification.
//!
//! # Verifications
//!
//! - [`PublisherVerification`]: give it a factory `elements -> publisher` (emitting exactly
//!   `elements`, then completing); optionally a failed publisher and a largest size.
//! - [`OperatorVerification`]: give it `|up: Upstream| up.your_operator(..)`; it drives the
//!   operator with its own instrumented [`Upstream`] and a probe downstream, and checks both
//!   sides — including that upstream is asked for no more than downstream's demand plus the
//!   declared [`prefetch_bound`](OperatorVerification::prefetch_bound), the check that catches
//!   an unbounded queue before it exhausts memory.
//! - [`SubscriberVerification`]: the kit plays the publisher; black-box, with optional
//!   white-box triggers.
//! - [`ProcessorVerification`]: an identity processor, checked as a publisher, as a subscriber
//!   and as an operator over its upstream (§4.1, §4.2).
//!
//! Each returns a [`Report`]: [`is_compliant`](Report::is_compliant),
//! [`failed_rules`](Report::failed_rules), [`assert_compliant`](Report::assert_compliant), and a
//! `Display` that says, per failure, the rule, what happened, the steps to reproduce and what to
//! look at. [`publisher_tck!`], [`operator_tck!`] and [`subscriber_tck!`] expand a verification
//! into one `#[test]` per check, named after its rule. `RULES.md` in this crate is the table of
//! all 43 rules and the checks that cover them.
//!
//! ```
//! use rstreams_core::{source, Error};
//! use rstreams_tck::PublisherVerification;
//!
//! let report = PublisherVerification::new(|n| source::range(0, n))
//!     .failed_publisher(|| source::fail::<u64>(Error::msg("unavailable")))
//!     .run();
//! assert!(report.is_compliant(), "{report}");
//! ```
//!
//! # How it detects
//!
//! - **Over-emission** is flagged inside the `on_next` that exceeds the demand ledger, at once,
//!   with no sleep. An emitter that keeps going is stopped by the probe (it panics out of
//!   `on_next` with a marker the kit catches).
//! - **Stalls**: outstanding demand, elements left, and no signal for the signal timeout —
//!   reported with the numbers ("expected 3 elements; 3 requested, 1 received; no signal for
//!   1s").
//! - **Deadlocks, panics, calls that never return**: every check runs on its own thread under a
//!   deadline with panics caught; the report names the call that did not return and its rule.
//!   The kit itself never hangs and never crashes (a deadlocked thread is left parked).
//! - **Generated schedules** (proptest): request sizes (1, small, large, `u64::MAX`, pairs that
//!   overflow), requests from other threads and from inside `on_next`, cancels. A failure is
//!   shrunk and printed as numbered steps.
//!
//! # Time-based operators
//!
//! An operator whose timers run on a [`VirtualTime`](rstreams_core::scheduler::VirtualTime)
//! clock is verified with [`OperatorVerification::virtual_time`]: the kit advances the clock
//! while its checks run, so the operator's output flows and a real stall is still told apart.
//!
//! # Timeouts
//!
//! From one place, [`Timeouts`], overridable by `RSTREAMS_TCK_TIMEOUT_MS`,
//! `RSTREAMS_TCK_QUIET_MS` and `RSTREAMS_TCK_CHECK_TIMEOUT_MS`; `PROPTEST_CASES` sets the number
//! of generated schedules (32 by default). Waits end as soon as their condition holds.
//!
//! # Probes for your own tests
//!
//! [`TestSubscriber`] (a demand ledger and violation log behind a cloneable subscriber),
//! [`TestPublisher`] (a publisher you drive by hand: emit, complete, fail; it records requests
//! and cancels), [`Upstream`] (a source that records requests and cancels), and [`track`] (see
//! through a `Weak` when a publisher lets go of its subscriber, §3.13).
//!
//! # Not yet
//!
//! A processor that multicasts to several subscribers is checked one subscriber at a time; the
//! JVM kit's multi-subscriber processor checks are not ported. See `RULES.md`.

#![warn(clippy::disallowed_types)] // shared state goes through rstreams_core::sync (clippy.toml)

mod check;
mod env;
#[doc(hidden)]
pub mod macros;
mod operator;
mod probe;
mod processor;
mod publisher;
mod recorder;
mod report;
pub mod rules;
/// Demand schedules and their proptest strategies.
pub mod schedule;
mod subscriber;
mod test_publisher;
mod tracked;
mod upstream;

pub use env::Timeouts;
pub use operator::OperatorVerification;
pub use probe::TestSubscriber;
pub use processor::ProcessorVerification;
pub use publisher::PublisherVerification;
pub use report::{CheckReport, Outcome, Report};
pub use rules::{Rule, RuleKind};
pub use subscriber::SubscriberVerification;
pub use test_publisher::TestPublisher;
pub use tracked::{await_released, track, Tracked};
pub use upstream::{Upstream, UpstreamStats};
