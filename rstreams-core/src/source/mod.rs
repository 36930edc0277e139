//! Sources: publishers that make elements rather than transform them.
//!
//! | source | emits | ends |
//! |---|---|---|
//! | [`range`] | `count` consecutive `u64`s | completes |
//! | [`from_iter`] | an iterator's elements (cloned per subscription) | completes |
//! | [`just`] | one element | completes |
//! | [`empty`] | nothing | completes at once |
//! | [`fail`] | nothing | fails at once |
//! | [`never()`] | nothing | never |
//! | [`defer`] | what a publisher made per subscription emits | as that one does |
//! | [`interval`] | `0, 1, 2, …` once per period, on a scheduler | never |
//! | [`emitter`] | what application code pushes into its [`Emitter`], from any thread, through a bounded queue with an [`OverflowPolicy`]: wait ([`OverflowPolicy::Block`]) or an [`Overflow`] | on [`Emitter::complete`] / [`Emitter::fail`], or when the last `Emitter` is dropped |
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
mod interval;
mod iter;
mod range;

/// The overflow vocabulary of the emitter's [`OverflowPolicy`], here for its users; the same
/// type as [`support::Overflow`](crate::support::Overflow).
pub use crate::support::Overflow;
pub use defer::{defer, Defer};
pub use emitter::{
    emitter, Emit, Emitter, EmitterPublisher, EmitterStats, OverflowPolicy, RejectReason, Rejected,
};
pub use fail::{fail, never, Fail, Never};
pub use interval::{interval, Interval};
pub use iter::{empty, from_iter, just, Empty, FromIter};
pub use range::{range, Range};

/// Starts a source's subscription on the support engine: inline, no upstream.
fn start<P, S>(pull: P, subscriber: S) -> std::sync::Arc<crate::support::Engine<P, S>>
where
    P: crate::support::Pull,
    S: crate::Subscriber<P::Item> + 'static,
{
    crate::support::Engine::start(pull, subscriber, crate::support::EngineConfig::new())
}
