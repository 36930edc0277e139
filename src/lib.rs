//! rstreams: Reactive Streams for Rust — push with explicit demand, so that multi-stage
//! pipelines stay within bounded memory however fast their sources are.
//!
//! This facade re-exports the workspace's crates:
//!
//! - [`rstreams_core`] (everything at the top level): the protocol traits
//!   ([`Publisher`], [`Subscriber`], [`Subscription`]), [`Error`], [`source`]s, [`sink`]s,
//!   [`scheduler`]s, and the [`support`] toolkit for operator authors.
//! - [`ops`]: the operator library.
//! - [`futures`]: bridges to the `futures` ecosystem (`Stream`, `Sink`, `Future`, async
//!   subscribers).
//! - `tokio` (cargo feature `tokio`, off by default): `TokioScheduler`, a scheduler that runs
//!   pipelines on a tokio runtime, with tokio's (pausable) clock.
//! - [`observe`]: named stages, snapshots, `metrics` export, a stall detector and a protocol
//!   guard.
//!
//! ```
//! use rstreams::{sink, source};
//!
//! let evens: Vec<u64> = sink::collect(&source::from_iter((0..10).filter(|x| x % 2 == 0))).unwrap();
//! assert_eq!(evens, vec![0, 2, 4, 6, 8]);
//! ```

#[doc(inline)]
pub use rstreams_core::*;

/// The operator library (re-export of `rstreams-ops`).
pub use rstreams_ops as ops;

/// Bridges to the `futures` ecosystem (re-export of `rstreams-futures`).
pub use rstreams_futures as futures;

/// A [`Scheduler`](scheduler::Scheduler) on a tokio runtime (re-export of `rstreams-tokio`;
/// cargo feature `tokio`, off by default).
#[cfg(feature = "tokio")]
pub use rstreams_tokio as tokio;

/// Stage observability: named stages, metrics, stall detection, the protocol guard
/// (re-export of `rstreams-observe`).
pub use rstreams_observe as observe;

// Compiles and runs the README's quick start as a doctest, so it cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
