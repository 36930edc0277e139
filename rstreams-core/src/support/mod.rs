//! The toolkit for operator authors: the one home of demand arithmetic, the drain loop, the
//! upstream slot, the bounded queue and panic capture.
//!
//! Every source and operator of rstreams is built from these pieces; a custom operator should
//! be too, instead of writing its own atomics. Each helper states the rule it implements.
//!
//! | helper | what it does | rules |
//! |---|---|---|
//! | [`Demand`], [`add_cap`], [`mul_cap`], [`UNBOUNDED`] | saturating demand; `u64::MAX` is unbounded and never decremented | §3.8, §3.17 |
//! | [`Budget`] | a fixed total of demand handed out in pieces (`take(n)` caps its upstream requests) | §3.17 |
//! | [`validate_request`] | `request(0)` becomes the error the stream fails with | §3.9 |
//! | [`Drain`], [`DrainCell`] | one emission loop at a time; re-entrant requests do not recurse | §1.3, §3.3 |
//! | [`UpstreamSlot`] | set-once upstream, deferred requests, idempotent cancel | §2.5, §3.5, §3.7 |
//! | [`BoundedQueue`] | fixed-capacity queue for asynchronous boundaries | bounded memory |
//! | [`catch_panic`] | a panic in user code becomes an [`Error`] | §2.13 |
//! | [`Counter`] | a count of events (drops, evictions) that a stage adds to and anyone reads | no silent loss |
//!
//! # The fast path
//!
//! A synchronous chain pays no atomic read-modify-write per element: the emitter reads the
//! demand once per batch ([`Demand::get`]), emits up to it, and subtracts what it emitted once
//! ([`Demand::produced`]). Per element it only loads a cancellation flag. Filtering stages use
//! [`Subscriber::try_on_next`](crate::Subscriber::try_on_next) so that a dropped element costs
//! no `request(1)`.

mod arbiter;
mod counter;
mod demand;
mod drain;
mod engine;
mod inbox;
mod queue;
mod timer;
mod upstream;

#[cfg(all(test, loom))]
mod loom_tests;

pub use arbiter::Arbiter;
pub use counter::Counter;
pub use demand::{add_cap, mul_cap, Budget, Demand, UNBOUNDED};
pub use drain::{Drain, DrainCell, Entered};
pub use engine::{Control, Engine, EngineConfig, Pull, Pulled, Stop};
pub use inbox::{subscribe_through, ErrorMode, Inbox, InboxSubscriber, Replenish, Wake};
pub use queue::BoundedQueue;
pub use timer::TimerSlot;
pub use upstream::UpstreamSlot;

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::Error;

/// Runs user code (an operator's closure, a source's iterator) and turns a panic into an
/// [`Error`] of kind [`Panic`](crate::ErrorKind::Panic) whose message starts with `what`.
///
/// On the path where nothing panics this costs nothing beyond the call itself.
///
/// ```
/// use rstreams_core::support::catch_panic;
///
/// assert_eq!(catch_panic("double", || 2 * 21).unwrap(), 42);
/// let err = catch_panic("parse", || -> u32 { panic!("not a number") }).unwrap_err();
/// assert_eq!(err.to_string(), "parse panicked: not a number");
/// ```
#[inline]
pub fn catch_panic<R>(what: &str, f: impl FnOnce() -> R) -> Result<R, Error> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| Error::from_panic(payload, what))
}
