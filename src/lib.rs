#![doc = include_str!("../README.md")]
//!
//! # The facade's modules
//!
//! This crate re-exports the workspace's crates:
//!
//! - [`rstreams_core`] (everything at the top level): the protocol traits
//!   ([`Publisher`], [`Subscriber`], [`Subscription`]), [`Error`], [`source`]s, [`sink`]s,
//!   [`scheduler`]s, and the [`support`] toolkit for operator authors.
//! - [`ops`]: the operator library.
//! - `observe` (feature `observe`, on by default): named stages, snapshots, a stall detector
//!   and a protocol guard; with the feature `metrics`, export through the `metrics` facade.
//! - `bridge` (feature `futures`, off by default): bridges to the `futures` ecosystem
//!   (`Stream`, `Sink`, `Future`, async subscribers). Named `bridge`, not `futures`, so that it
//!   never shadows the `futures` crate in a module that glob-imports this one.
//! - `tokio` (feature `tokio`, off by default): `TokioScheduler`, a scheduler that runs
//!   pipelines on a tokio runtime, with tokio's (pausable) clock.
//!
//! [`prelude`] brings the traits and the common items into scope in one line:
//!
//! ```
//! use rstreams::prelude::*;
//!
//! let evens: Vec<u64> = sink::collect(&source::from_iter((0..10).filter(|x| x % 2 == 0))).unwrap();
//! assert_eq!(evens, vec![0, 2, 4, 6, 8]);
//! ```

#[doc(inline)]
pub use rstreams_core::*;

/// The operator library (re-export of `rstreams-ops`).
pub use rstreams_ops as ops;

/// Bridges to the `futures` ecosystem (re-export of `rstreams-futures`; cargo feature
/// `futures`, off by default).
///
/// ```
/// use futures::executor::block_on;
/// use futures::TryStreamExt;
/// use rstreams::bridge::PublisherFuturesExt;
/// use rstreams::source;
///
/// let v: Vec<u64> = block_on(source::range(0, 3).into_stream(4).try_collect()).unwrap();
/// assert_eq!(v, vec![0, 1, 2]);
/// ```
#[cfg(feature = "futures")]
pub use rstreams_futures as bridge;

/// A [`Scheduler`](scheduler::Scheduler) on a tokio runtime (re-export of `rstreams-tokio`;
/// cargo feature `tokio`, off by default).
#[cfg(feature = "tokio")]
pub use rstreams_tokio as tokio;

/// Stage observability: named stages, snapshots, stall detection, the protocol guard, and with
/// the feature `metrics` the export to the `metrics` facade (re-export of `rstreams-observe`;
/// cargo feature `observe`, on by default).
#[cfg(feature = "observe")]
pub use rstreams_observe as observe;

/// The traits and the items most pipelines use, for a glob import:
/// `use rstreams::prelude::*;`.
///
/// | brought in | what for |
/// |---|---|
/// | [`Publisher`], [`Subscriber`], [`Subscription`] | the protocol traits (`subscribe`, `request`, `cancel`) |
/// | [`PublisherExt`](crate::ops::PublisherExt) | the operators as methods (`map`, `filter`, `publish_on`, …) |
/// | `PublisherFuturesExt` (feature `futures`) | the futures bridges as methods (`into_stream`, `forward_to`, `for_each_async`, …) |
/// | [`Error`] | the error every stream fails with |
/// | [`source`], [`sink`] | the modules of sources (`source::range`) and sinks (`sink::collect`) |
///
/// It holds no module or item named like a crate (`futures`, `tokio`) or like a
/// `std`/`futures` prelude trait, so it combines with explicit imports from other crates
/// (`use futures::StreamExt;`, `use tokio::sync::mpsc;`). With `futures::prelude::*` also
/// glob-imported, the module `sink` is in both preludes: name one of them explicitly
/// (`use rstreams::sink;` wins over both globs).
///
/// ```
/// use rstreams::prelude::*;
///
/// let doubled = source::range(1, 3).map(|x| x * 2); // 3 elements from 1
/// assert_eq!(sink::collect(&doubled).unwrap(), vec![2, 4, 6]);
/// ```
///
/// With the feature `futures`, the bridges too:
///
#[cfg_attr(feature = "futures", doc = "```")]
#[cfg_attr(not(feature = "futures"), doc = "```ignore")]
/// use futures::executor::block_on;
/// use futures::StreamExt;
/// use rstreams::prelude::*;
///
/// let doubled = source::range(1, 3).map(|x| x * 2);
/// let streamed: Vec<Result<u64, Error>> = block_on(doubled.into_stream(2).collect());
/// assert_eq!(streamed.len(), 3);
/// ```
pub mod prelude {
    pub use rstreams_core::{sink, source, Error, Publisher, Subscriber, Subscription};
    #[cfg(feature = "futures")]
    pub use rstreams_futures::PublisherFuturesExt;
    pub use rstreams_ops::PublisherExt;
}
