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
//!   declared [`prefetch_bound`](Verification::prefetch_bound), the check that catches an
//!   unbounded queue before it exhausts memory.
//! - [`SubscriberVerification`]: the kit plays the publisher; black-box, with optional
//!   white-box triggers.
//! - [`ProcessorVerification`]: an identity processor, checked as a publisher, as a subscriber,
//!   as an operator over its upstream (§4.1, §4.2), and with two subscribers at once (an
//!   element and an error reach both; the slower holds back the faster, or the declared
//!   [`Multicast`] policy).
//!
//! All four are one builder, [`Verification`], over their own [`Suite`]: each can be
//! [named](Verification::name), given [timeouts](Verification::timeouts), a number of
//! generated schedules ([`cases`](Verification::cases)) and a deeper shrinking budget
//! ([`shrink_time`](Verification::shrink_time)). Each returns a [`Report`]:
//! [`is_compliant`](Report::is_compliant), [`failed_rules`](Report::failed_rules),
//! [`assert_compliant`](Report::assert_compliant), and a `Display` that says, per failure, the
//! rule, what happened, the steps to reproduce and where to look first.
//! [`publisher_tck!`], [`operator_tck!`] and [`subscriber_tck!`] expand a verification into one
//! `#[test]` per check, named after its rule. `RULES.md` in this crate is the table of all 43
//! rules and the checks that cover them.
//!
//! ```
//! use rstreams::{source, Error};
//! use rstreams_tck::PublisherVerification;
//!
//! let report = PublisherVerification::new(|n| source::range(0, n))
//!     .failed_publisher(|| source::fail::<u64>(Error::msg("unavailable")))
//!     .name("range")
//!     .run();
//! assert!(report.is_compliant(), "{report}");
//! ```
//!
//! # Both signal paths
//!
//! A publisher delivers an element through one of two methods ([`SignalPath`]):
//!
//! - the **conditional path**, [`Subscriber::try_on_next`](rstreams_core::Subscriber::try_on_next):
//!   a subscriber that drops the element returns `false`, the element uses no demand, and the
//!   publisher sends the next one. Every rstreams source and synchronous operator signals this
//!   way;
//! - the **plain path**, [`Subscriber::on_next`](rstreams_core::Subscriber::on_next) only:
//!   every element uses a unit of demand, so a subscriber that drops one must `request(1)` to
//!   replace it. A publisher outside rstreams signals this way.
//!
//! An operator must be right on both, so every operator check (and every multi-subscriber
//! processor check) runs twice, with the kit's [`Upstream`] on each path, and a failure says
//! which: `found: on the plain path (on_next only): stalled: …`. A filter whose `try_on_next`
//! is right but whose `on_next` forgets the `request(1)` passes on the conditional path and
//! stalls on the plain one. For your own tests, [`Upstream::signalling`] picks the path:
//!
//! ```
//! use rstreams::{sink, Publisher};
//! use rstreams_tck::{SignalPath, TestSubscriber, Upstream};
//!
//! let probe = TestSubscriber::<u64>::new(2);
//! Upstream::emitting(5).signalling(SignalPath::Plain).subscribe(probe.clone());
//! probe.assert_values(&[0, 1]);
//! ```
//!
//! # Scripts for your own tests
//!
//! [`Script`] checks what a publisher does step by step — what Reactor users have in
//! `StepVerifier`: expectations (`expect_next`, `expect_next_count`, `expect_no_event`,
//! `expect_complete`, `expect_error`) and actions (`then_request`, `then_cancel`,
//! `then_advance`), on virtual time when a [`VirtualTime`](rstreams_core::scheduler::VirtualTime)
//! clock is given. A failure names the first step that did not hold, what it expected, what
//! arrived, and the steps so far.
//!
//! ```
//! use std::time::Duration;
//!
//! use rstreams::scheduler::VirtualTime;
//! use rstreams::source;
//! use rstreams_tck::Script;
//!
//! let clock = VirtualTime::new();
//! Script::new(source::interval(Duration::from_secs(60), clock.clone()))
//!     .initial_request(2)
//!     .expect_no_event(Duration::from_secs(59)) // virtual time: no real wait
//!     .then_advance(&clock, Duration::from_secs(1))
//!     .expect_next(0)
//!     .then_advance(&clock, Duration::from_secs(60))
//!     .expect_next(1)
//!     .expect_no_event(Duration::from_secs(600)) // no demand left: nothing
//!     .then_cancel()
//!     .verify();
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
//! - **Deadlocks, panics, calls that never return**: every check runs on its own thread with
//!   panics caught; a call into the code under test that makes no progress for the signal
//!   timeout is reported with its rule, without waiting for the check's deadline. The kit
//!   itself never hangs and never crashes (a deadlocked thread is left parked). A panic of the
//!   code under test on a thread of the kit goes into the report, with its message and
//!   location, instead of printing a backtrace; the panic hook in place before a verification
//!   is in place again after it.
//! - **Generated schedules** (proptest): request sizes (1, small, large, `u64::MAX`, pairs that
//!   overflow), requests from other threads and from inside `on_next`, cancels. A failure is
//!   shrunk (for 250 ms by default, with short waits) and printed as numbered steps.
//!
//! # Time-based operators
//!
//! An operator whose timers run on a [`VirtualTime`](rstreams_core::scheduler::VirtualTime)
//! clock is verified with [`OperatorVerification::virtual_time`](Verification::virtual_time):
//! the kit advances the clock while its checks run, so the operator's output flows and a real
//! stall is still told apart. Its timing is pinned with a [`Script`].
//!
//! # Timeouts and speed
//!
//! From one place, [`Timeouts`], overridable by `RSTREAMS_TCK_TIMEOUT_MS`,
//! `RSTREAMS_TCK_QUIET_MS` and `RSTREAMS_TCK_CHECK_TIMEOUT_MS`. `PROPTEST_CASES` (or
//! [`cases`](Verification::cases)) sets the number of generated schedules (32 by default), and
//! `RSTREAMS_TCK_SHRINK_MS` (or [`shrink_time`](Verification::shrink_time)) how long a failing
//! one is shrunk (250 ms by default: a failure is reported within about a second). Waits end as
//! soon as their condition holds.
//!
//! # Probes for your own tests
//!
//! [`TestSubscriber`] (a demand ledger and violation log behind a cloneable subscriber),
//! [`TestPublisher`] (a publisher you drive by hand: emit, complete, fail; it records requests
//! and cancels), [`Upstream`] (a source that records requests and cancels, on either signal
//! path), [`track`] (see through a `Weak` when a publisher lets go of its subscriber, §3.13) and
//! [`Script`].

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
mod script;
mod subscriber;
mod test_publisher;
mod tracked;
mod upstream;
mod verification;

pub use env::Timeouts;
pub use operator::OperatorSuite;
pub use probe::TestSubscriber;
pub use processor::{Multicast, ProcessorSuite};
pub use publisher::PublisherSuite;
pub use report::{CheckReport, Outcome, Report};
pub use rules::{Rule, RuleKind};
pub use script::{Script, ScriptFailure};
pub use subscriber::SubscriberSuite;
pub use test_publisher::TestPublisher;
pub use tracked::{await_released, track, Tracked};
pub use upstream::{SignalPath, Upstream, UpstreamStats};
pub use verification::{Suite, Verification};

/// `RULES.md`, compiled as documentation so that its examples run with the doc tests.
#[cfg(doctest)]
#[doc = include_str!("../RULES.md")]
pub struct RulesMd;

/// Verifies a publisher: give it a factory that makes a publisher emitting exactly `elements`
/// elements and then completing.
///
/// ```
/// use rstreams::{source, Error};
/// use rstreams_tck::PublisherVerification;
///
/// let report = PublisherVerification::new(|elements| source::range(0, elements))
///     .failed_publisher(|| source::fail::<u64>(Error::msg("down")))
///     .run();
/// report.assert_compliant();
/// ```
///
/// Each check runs on its own thread under a deadline (see [`Timeouts`]): a publisher that
/// deadlocks, loops or panics fails the check that caught it, with the rule it breaks; the kit
/// itself does not hang or crash. Checks run concurrently; a synchronous publisher's whole
/// suite takes well under a second. The options every verification shares (a name, timeouts,
/// the number of generated schedules, the shrinking budget) are on [`Verification`].
pub type PublisherVerification<T> = Verification<PublisherSuite<T>>;

/// Verifies an operator: give it a function that applies the operator to the kit's
/// [`Upstream`].
///
/// ```
/// use rstreams::{Publisher, Subscriber};
/// use rstreams_tck::{OperatorVerification, Upstream};
///
/// // An identity "operator": the upstream itself. Real ones come from rstreams-ops,
/// // e.g. `|up: Upstream| up.map(|x| x + 1)`.
/// let report = OperatorVerification::new(|up: Upstream| up)
///     .prefetch_bound(0)
///     .run();
/// report.assert_compliant();
/// ```
///
/// The checks: downstream never receives more than it asked for (§1.1); upstream is never asked
/// for more than downstream's outstanding demand (times
/// [`demand_ratio`](Verification::demand_ratio)) plus the declared
/// [`prefetch_bound`](Verification::prefetch_bound) — the check that catches an unbounded
/// queue; downstream demand reaches upstream, so the operator does not stall (§3.8); cancel
/// reaches upstream (§3.12) and releases the downstream subscriber (§3.13); `request(0)` fails
/// the stream (§3.9); an upstream error reaches downstream at once, without demand (§4.2), and
/// so does completion (§1.5); and the output does not depend on the demand schedule (K.1: the
/// same sequence, or for a [`nondeterministic`](Verification::nondeterministic) operator the
/// same multiset). Schedules are generated and shrunk on failure.
///
/// An operator that subscribes its upstream later than when it is subscribed is verified as
/// such: [`subscribes_upstream_on_demand`](Verification::subscribes_upstream_on_demand) (once
/// downstream demand reached it, as `start_with`: the kit drives demand until the upstream is
/// subscribed before the checks that need it, and checks that a cancel before then leaves it
/// unsubscribed), or [`connectable`](Verification::connectable) (at `connect()`, as
/// `publish`: the kit connects after its probe subscribed, and ends the connection where a
/// cancel must reach upstream).
///
/// Every check runs twice: with the [`Upstream`] signalling through the conditional path
/// (`try_on_next`, as rstreams sources do) and through the plain path (`on_next` only, as
/// third-party publishers do); a failure says which path it was found on ([`SignalPath`]).
pub type OperatorVerification<T> = Verification<OperatorSuite<T>>;

/// Verifies a subscriber of `u64`: the kit plays the publisher, records every `request` and
/// `cancel`, and watches the subscriber's calls.
///
/// ```
/// use rstreams::sink;
/// use rstreams_tck::SubscriberVerification;
///
/// SubscriberVerification::new(|| sink::for_each(|_: u64| {}).batch(4))
///     .run()
///     .assert_compliant();
/// ```
///
/// Black-box by default; the white-box triggers
/// [`trigger_request`](Verification::trigger_request) and
/// [`trigger_cancel`](Verification::trigger_cancel) enable the checks that need the subscriber
/// to act on command. §2.8 (an element in flight after cancel) is checked black-box too, on a
/// subscriber that cancels by itself.
pub type SubscriberVerification<S> = Verification<SubscriberSuite<S>>;

/// Verifies an identity processor: as a publisher, as a subscriber, as an operator over its
/// upstream, and with two subscribers at once (see [`Verification::multicast`]).
///
/// ```
/// # #[derive(Clone)] struct P;
/// # impl rstreams::Subscriber<u64> for P {
/// #     fn on_subscribe(&mut self, _: std::sync::Arc<dyn rstreams::Subscription>) {}
/// #     fn on_next(&mut self, _: u64) {}
/// #     fn on_error(&mut self, _: rstreams::Error) {}
/// #     fn on_complete(&mut self) {}
/// # }
/// # impl rstreams::Publisher for P {
/// #     type Item = u64;
/// #     fn subscribe<S: rstreams::Subscriber<u64> + 'static>(&self, _: S) {}
/// # }
/// use rstreams_tck::ProcessorVerification;
///
/// let names = ProcessorVerification::<P>::check_names();
/// assert!(names.len() > 40);
/// ```
pub type ProcessorVerification<P> = Verification<ProcessorSuite<P>>;
