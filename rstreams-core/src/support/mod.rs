//! The toolkit for stage authors: the protocol state machine written once ([`Engine`]), the
//! queue of an asynchronous boundary ([`Inbox`]), the arbiter for stages that switch upstreams,
//! the timer slot, and the small pieces they are made of.
//!
//! Every source and operator of rstreams is built from these; a custom source, operator or
//! connector should be too, instead of writing its own `request(0)` check, cancel flag or drain
//! loop. Each piece states the rules it keeps.
//!
//! | piece | what it does | rules it keeps |
//! |---|---|---|
//! | [`Engine`] + [`Pull`] | the subscription of a stage that owns its subscriber: demand, `request(0)`, cancel, one drain loop (inline or on a [`Worker`](crate::scheduler::Worker)), a panicking downstream, terminal signals once | §1.1, §1.3, §1.7, §1.9, §2.13, §3.3, §3.5–§3.9, §3.13, §3.17 |
//! | [`Inbox`], [`InboxSubscriber`], [`subscribe_through`], [`Replenish`] | an asynchronous boundary: bounded queue, prefetch, replenish at 75 %, an over-emitting upstream failed with §1.1, [`ErrorMode`] | §1.1, §1.7, bounded memory |
//! | [`Feed`], [`Feeder`], [`Unsettled`] | a source fed by a fetcher thread (a broker consumer): demand published to the fetcher, a bound on unsettled elements, a failure after the buffer and at zero demand, cancel that wakes the fetcher | §1.1, §1.2, §1.4, §3.5, bounded memory |
//! | [`Outbox`], [`OutboxWriter`], [`Written`] | a sink whose writes run on a writer thread: `in_flight` requested then one per completed write, §1.1 against an over-emitting upstream, a write failure recorded before the cancel, a wait for the end | §1.1, §2.5, §2.8, bounded memory |
//! | [`Arbiter`] | a subscription whose upstream is replaced with the outstanding demand carried over exactly | §3.8, §3.9, §3.13 |
//! | [`TimerSlot`] | one pending timer per stage: arm, re-arm, cancel; a stale tick does nothing | |
//! | [`Link`] | the guard of a pass-through stage that signals straight from its upstream's calls | §1.7, §2.5 |
//! | [`Control`] | the request/cancel bookkeeping alone (inside `Engine`) | §3.6, §3.9 |
//! | [`Demand`], [`add_cap`], [`mul_cap`], [`UNBOUNDED`], [`Budget`] | saturating demand; `u64::MAX` is unbounded and never decremented; a capped total | §3.8, §3.17 |
//! | [`Drain`], [`DrainCell`] | one loop at a time; re-entrant events do not recurse | §1.3, §3.3 |
//! | [`UpstreamSlot`] | set-once upstream, deferred requests, idempotent cancel | §2.5, §3.5, §3.7 |
//! | [`BoundedQueue`] | fixed-capacity lock-free queue | bounded memory |
//! | [`catch_panic`] | a panic in user code becomes an [`Error`] | §2.13 |
//! | [`Counter`] | a count of events (drops, evictions) that anyone reads | no silent loss |
//! | [`Overflow`], [`Pushed`] | what a full bounded queue does with one more element, applied in one place ([`Overflow::push`]) | bounded memory |
//! | [`Dropped`] | the shared handle on a stage's drop count that the overload operators give out | no silent loss |
//!
//! # Writing a source
//!
//! A source says how to produce its next element given the demand it may fill; the engine does
//! the rest. `pull` sees the demand (a broker source asks its server for that many at once),
//! returns [`Pulled::Pending`] when it has nothing now and calls [`Engine::wake`] when it has,
//! and [`Pull::poll_end`] lets the stream complete without waiting for demand. Release work
//! goes in the state's `Drop`: it runs however the subscription ends.
//!
//! ```
//! use rstreams::support::{Engine, EngineConfig, Pull, Pulled};
//! use rstreams::{sink, Error, Publisher, Subscriber};
//! use rstreams_tck::PublisherVerification;
//!
//! /// The first `n` Fibonacci numbers.
//! #[derive(Clone, Copy)]
//! struct Fibonacci(u64);
//!
//! struct State {
//!     left: u64,
//!     current: u64,
//!     next: u64,
//! }
//!
//! impl Pull for State {
//!     type Item = u64;
//!     fn name(&self) -> &'static str {
//!         "fibonacci"
//!     }
//!     fn pull(&mut self, _demand: u64) -> Pulled<u64> {
//!         if self.left == 0 {
//!             return Pulled::End;
//!         }
//!         self.left -= 1;
//!         let value = self.current;
//!         (self.current, self.next) = (self.next, self.current.wrapping_add(self.next));
//!         Pulled::Ready(value)
//!     }
//!     fn poll_end(&mut self) -> Option<Result<(), Error>> {
//!         (self.left == 0).then_some(Ok(()))
//!     }
//! }
//!
//! impl Publisher for Fibonacci {
//!     type Item = u64;
//!     fn subscribe<S: Subscriber<u64> + 'static>(&self, subscriber: S) {
//!         let state = State { left: self.0, current: 0, next: 1 };
//!         Engine::start(state, subscriber, EngineConfig::new());
//!     }
//! }
//!
//! assert_eq!(sink::collect(&Fibonacci(7)).unwrap(), vec![0, 1, 1, 2, 3, 5, 8]);
//! // The kit checks every testable rule against it.
//! PublisherVerification::new(|n| Fibonacci(n)).run().assert_compliant();
//! ```
//!
//! # Writing an operator
//!
//! An operator that holds elements between its upstream and its downstream puts an [`Inbox`]
//! in front of an engine: the [`InboxSubscriber`] fills it (prefetch, replenish, §1.1 against an
//! upstream that ignores demand), the operator's [`Pull`] takes from it as the downstream
//! demands, and the engine cancels the upstream with the subscription. This one emits the sum
//! of each pair of elements (a trailing single element is emitted alone):
//!
//! ```
//! use std::sync::Arc;
//!
//! use rstreams::support::{
//!     Engine, EngineConfig, ErrorMode, Inbox, InboxSubscriber, Pull, Pulled, Replenish,
//! };
//! use rstreams::{sink, source, Error, Publisher, Subscriber};
//! use rstreams_tck::{OperatorVerification, Upstream};
//!
//! struct Pairs<P>(P);
//!
//! struct PairsPull {
//!     inbox: Arc<Inbox<u64>>,
//!     replenish: Replenish,
//!     /// The first of a pair, waiting for its partner.
//!     held: Option<u64>,
//! }
//!
//! impl Pull for PairsPull {
//!     type Item = u64;
//!     fn name(&self) -> &'static str {
//!         "pairs"
//!     }
//!     fn pull(&mut self, _demand: u64) -> Pulled<u64> {
//!         loop {
//!             match self.inbox.pull(&mut self.replenish) {
//!                 Pulled::Ready(x) => match self.held.take() {
//!                     Some(first) => return Pulled::Ready(first + x),
//!                     None => self.held = Some(x),
//!                 },
//!                 // The upstream ended: a held element goes out alone, then the end.
//!                 Pulled::End => match self.held.take() {
//!                     Some(last) => return Pulled::Ready(last),
//!                     None => return Pulled::End,
//!                 },
//!                 other => return other, // Pending, or the upstream's error
//!             }
//!         }
//!     }
//!     fn poll_end(&mut self) -> Option<Result<(), Error>> {
//!         if self.held.is_some() {
//!             return None; // one more element is owed first
//!         }
//!         self.inbox.poll_end(&mut self.replenish)
//!     }
//! }
//!
//! impl<P: Publisher<Item = u64>> Publisher for Pairs<P> {
//!     type Item = u64;
//!     fn subscribe<S: Subscriber<u64> + 'static>(&self, subscriber: S) {
//!         let inbox = Arc::new(Inbox::new("pairs", 16, ErrorMode::AfterQueued).unwrap());
//!         let engine = Engine::start(
//!             PairsPull { inbox: Arc::clone(&inbox), replenish: inbox.replenish(), held: None },
//!             subscriber,
//!             EngineConfig::new().upstream(Arc::clone(inbox.upstream())),
//!         );
//!         self.0.subscribe(InboxSubscriber::new(inbox, engine));
//!     }
//! }
//!
//! assert_eq!(sink::collect(&Pairs(source::range(1, 5))).unwrap(), vec![3, 7, 5]);
//! // Verified as an operator: both sides of its demand, cancel, errors, determinism.
//! OperatorVerification::new(|up: Upstream| Pairs(up))
//!     .prefetch_bound(16)
//!     .run()
//!     .assert_compliant();
//! ```
//!
//! A stage that moves from one upstream to the next (a retry, a fallback) hands its downstream
//! an [`Arbiter`]; a stage with a deadline keeps its timer in a [`TimerSlot`]; a pass-through
//! stage that signals straight from its upstream's calls keeps a [`Link`].
//!
//! # The fast path
//!
//! A synchronous chain pays no atomic read-modify-write per element: the engine reads the
//! demand once per batch ([`Demand::get`]), emits up to it, and subtracts what it emitted once
//! ([`Demand::produced`]). Per element it only loads a flag. Filtering stages use
//! [`Subscriber::try_on_next`](crate::Subscriber::try_on_next) so that a dropped element costs
//! no `request(1)`.

mod arbiter;
mod counter;
mod demand;
mod drain;
mod dropped;
mod engine;
mod feed;
mod inbox;
mod link;
mod outbox;
mod overflow;
mod queue;
mod timer;
mod upstream;

#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(all(test, not(loom)))]
mod test_support;

pub use arbiter::Arbiter;
pub use counter::Counter;
pub use demand::{add_cap, mul_cap, Budget, Demand, UNBOUNDED};
pub use drain::{Drain, DrainCell, Entered};
pub use dropped::Dropped;
pub use engine::{Control, Engine, EngineConfig, Pull, Pulled, Stop};
pub use feed::{Feed, Feeder, Unsettled};
pub use inbox::{subscribe_through, ErrorMode, Inbox, InboxSubscriber, Replenish, Wake};
pub use link::Link;
pub use outbox::{Outbox, OutboxWriter, Written};
pub use overflow::{Overflow, Pushed};
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
/// use rstreams::support::catch_panic;
///
/// assert_eq!(catch_panic("double", || 2 * 21).unwrap(), 42);
/// let err = catch_panic("parse", || -> u32 { panic!("not a number") }).unwrap_err();
/// assert_eq!(err.to_string(), "parse panicked: not a number");
/// ```
#[inline]
pub fn catch_panic<R>(what: &str, f: impl FnOnce() -> R) -> Result<R, Error> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| Error::from_panic(payload, what))
}
