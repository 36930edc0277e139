//! The core of rstreams: the Reactive Streams protocol for Rust, with sources, sinks,
//! schedulers, and the support toolkit that operators are built from.
//!
//! # The protocol
//!
//! A [`Publisher`] emits elements to a [`Subscriber`] only as fast as the subscriber asks for
//! them through its [`Subscription`]. Nothing is pushed without demand, so a pipeline of
//! stages that each keep the protocol runs in bounded memory however fast its source is.
//!
//! **Signal order.** Each subscription signals `on_subscribe` exactly once, first (§1.9); then
//! any number of `on_next`, never more than requested in total (§1.1); then at most one
//! terminal signal, `on_error` or `on_complete`, after which nothing follows (§1.7). A stream
//! may end before the demand is met (§1.2), and an empty or failed stream signals its end
//! without any demand (§2.9, §2.10).
//!
//! **Demand.** [`Subscription::request`]`(n)` adds `n` to the outstanding demand (§3.8),
//! saturating: a total of `u64::MAX` means unbounded and is never used up (§3.17).
//! `request(0)` is a protocol violation: the publisher cancels and signals `on_error` with an
//! error naming §3.9 ([`Error::request_zero`]). Negative demand cannot be expressed (`u64`).
//!
//! **Re-entrancy.** A subscriber may call `request` from inside `on_subscribe` and `on_next`
//! (§3.2). The call only records the demand; it never calls back into `on_next` on the same
//! stack (§3.3), so a subscriber that requests one element at a time from `on_next` runs in
//! constant stack space over any number of elements.
//!
//! **Cancellation.** [`Subscription::cancel`] is idempotent and thread-safe (§3.5, §3.7).
//! After it, requests do nothing (§3.6), signals stop (§3.12), and the publisher drops its
//! reference to the subscriber (§3.13). Operators propagate cancel upstream.
//!
//! **Threading.** Signals to one subscriber are serial (§1.3): never concurrent, always with a
//! happens-before edge between them, possibly from different threads over time. The
//! `&mut self` receivers of [`Subscriber`] express this: a publisher owns its subscriber and
//! hands it over between threads, it never shares it. `request` and `cancel` may be called
//! from any thread, at any time, concurrently.
//!
//! **Errors.** [`Error`] is cheap to clone and tells what happened, in which stage, and for
//! protocol violations which rule. Panics in user code (an iterator, a closure) are caught and
//! signalled as errors; they never unwind into a caller of `request`.
//!
//! # Quick start
//!
//! ```
//! use rstreams::{sink, source, Publisher};
//!
//! // Sources emit only what is requested; `collect` requests everything and waits.
//! let squares: Vec<u64> = sink::collect(&source::range(1, 4)).unwrap();
//! assert_eq!(squares, vec![1, 2, 3, 4]);
//!
//! // A subscriber that asks for 2 elements at a time.
//! let subscriber = sink::for_each(|x: u64| println!("got {x}")).batch(2);
//! let done = subscriber.handle();
//! source::range(0, 5).subscribe(subscriber);
//! done.wait().unwrap();
//! ```
//!
//! # Modules
//!
//! - [`source`]: `range`, `from_iter`, `just`, `empty`, `fail`, `never`, `defer`, `interval`,
//!   and [`source::emitter`] for hot sources that cannot slow down (a bounded queue with a
//!   named overflow policy).
//! - [`sink`]: `for_each` / [`sink::LambdaSubscriber`], blocking [`sink::collect`].
//! - [`scheduler`]: [`scheduler::Immediate`], [`scheduler::ThreadPool`], [`scheduler::Timer`],
//!   [`scheduler::VirtualTime`].
//! - [`support`]: demand arithmetic, the drain loop, the upstream slot, the bounded queue —
//!   the pieces every operator of rstreams is built from, for writing your own.

#![forbid(unsafe_code)] // no unsafe of its own: crossbeam and parking_lot hold what it needs
#![warn(clippy::disallowed_types)] // shared state goes through rstreams_core::sync (clippy.toml)

mod error;
mod publisher;
mod subscriber;
mod subscription;
#[doc(hidden)]
pub mod sync;

pub mod scheduler;
pub mod sink;
pub mod source;
pub mod support;

pub use error::{Error, ErrorKind};
pub use publisher::{BoxPublisher, DynPublisher, Publisher, Ran, SyncIter};
pub use subscriber::Subscriber;
pub use subscription::{NoopSubscription, Subscription};
