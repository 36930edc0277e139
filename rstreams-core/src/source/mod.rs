//! Sources: publishers that make elements rather than transform them.
//!
//! | source | emits | ends |
//! |---|---|---|
//! | [`range()`] | `count` consecutive `u64`s | completes |
//! | [`from_iter`] | an iterator's elements (cloned per subscription) | completes |
//! | [`from_iter_once`] | any `IntoIterator`'s elements (not `Clone`: one subscription; a second gets a §1.9 error) | completes |
//! | [`try_from_iter`] / [`try_from_iter_once`] | the `Ok` values of an iterator of `Result` (cloned per subscription / any iterator, one subscription) | completes, or fails with the first `Err` |
//! | [`generate()`] | what `f(&mut state)` makes, until it returns `None` | completes |
//! | [`unfold`] | what `f(state) -> Option<(item, state)>` unfolds | completes |
//! | [`using()`] | what the publisher made from a resource emits; the resource is closed exactly once, however it ends | as that publisher does |
//! | [`just`] | one element | completes |
//! | [`empty`] | nothing | completes at once |
//! | [`fail()`] | nothing | fails at once |
//! | [`never()`] | nothing | never |
//! | [`defer()`] | what a publisher made per subscription emits | as that one does |
//! | [`interval()`] | `0, 1, 2, …` once per period, on a scheduler | never |
//! | [`emitter()`] | what application code pushes into its [`Emitter`], from any thread, through a bounded queue with an [`OverflowPolicy`]: wait ([`OverflowPolicy::Block`]) or an [`Overflow`] | on [`Emitter::complete`] / [`Emitter::fail`], or when the last `Emitter` is dropped |
//!
//! Every source keeps the same guarantees: exact under partial demand (never more than
//! requested, §1.1); a `request` from inside `on_next` or from several threads at once is
//! added up and never recurses (§3.3); `request(0)` fails the stream naming §3.9; `cancel`
//! stops emission and drops the subscriber (§3.12, §3.13); a panic in user code (an iterator,
//! a factory) fails the stream and never unwinds into the caller; completion is signalled as
//! soon as the last element is out, without waiting for more demand.

mod defer;
mod emitter;
mod fail;
mod generate;
mod interval;
mod iter;
mod once;
mod range;
mod using;

/// The overflow vocabulary of the emitter's [`OverflowPolicy`], here for its users; the same
/// type as [`support::Overflow`](crate::support::Overflow).
pub use crate::support::Overflow;
pub use defer::{defer, Defer};
pub use emitter::{
    emitter, Emit, Emitter, EmitterPublisher, EmitterStats, OverflowPolicy, RejectReason, Rejected,
};
pub use fail::{fail, never, Fail, Never};
pub use generate::{generate, unfold, Generate, Unfold};
pub use interval::{interval, Interval};
pub use iter::{empty, from_iter, just, Empty, FromIter};
pub use once::{
    from_iter_once, try_from_iter, try_from_iter_once, FromIterOnce, TryFromIter, TryFromIterOnce,
};
pub use range::{range, Range};
pub use using::{using, Using};

/// Starts a source's subscription on the support engine: inline, no upstream.
fn start<P, S>(pull: P, subscriber: S) -> std::sync::Arc<crate::support::Engine<P, S>>
where
    P: crate::support::Pull,
    S: crate::Subscriber<P::Item> + 'static,
{
    crate::support::Engine::start(pull, subscriber, crate::support::EngineConfig::new())
}
