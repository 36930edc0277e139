//! Operators for rstreams, each with documented demand behaviour.
//!
//! Bring [`PublisherExt`] into scope and every [`Publisher`](rstreams_core::Publisher) gains the
//! operators as methods that take it by value:
//!
//! ```
//! use rstreams::{sink, source};
//! use rstreams::ops::PublisherExt;
//!
//! let out = source::range(1, 10)
//!     .filter(|x| x % 3 != 0)
//!     .map(|x| x * 10)
//!     .buffer(2)
//!     .take(2);
//! assert_eq!(sink::collect(&out).unwrap(), vec![vec![10, 20], vec![40, 50]]);
//! ```
//!
//! # Operators and their demand
//!
//! `n` is a downstream `request(n)`; "upstream" is what the operator asks of its source. All
//! arithmetic saturates, and `u64::MAX` means unbounded (§3.17).
//!
//! **Transform**
//!
//! | operator | upstream demand for `request(n)` |
//! |---|---|
//! | [`map(f)`](PublisherExt::map) | `n`, passed through (the downstream holds the upstream's subscription) |
//! | [`scan(initial, f)`](PublisherExt::scan) | `n`, passed through; emits `f(&mut state, x)`, not `initial` |
//! | [`filter_map(f)`](PublisherExt::filter_map) | `n`, passed through; a `None` is made up for as `filter` does |
//! | [`try_map(f)`](PublisherExt::try_map) | `n`, passed through; the first `Err` cancels the upstream and fails the stream |
//!
//! **Filter**
//!
//! | operator | upstream demand for `request(n)` |
//! |---|---|
//! | [`filter(p)`](PublisherExt::filter) | `n`, passed through; a rejected element costs no request on the `try_on_next` fast path, one `request(1)` on the plain path |
//! | [`skip(k)`](PublisherExt::skip) | `n`, passed through; the `k` skipped elements are made up for as `filter` does |
//! | [`take(k)`](PublisherExt::take) | `min(n, what is left of k)`: never more than `k` in total (below a source, `n` itself, the source emitting no more than what is left of `k`); `take(0)` requests nothing and completes at once |
//! | [`take_while(p)`](PublisherExt::take_while) / [`skip_while(p)`](PublisherExt::skip_while) | `n`, passed through; `take_while` cancels the upstream at the first rejected element |
//! | [`distinct()`](PublisherExt::distinct) / [`distinct_bounded(k)`](PublisherExt::distinct_bounded) / [`distinct_until_changed()`](PublisherExt::distinct_until_changed) | `n`, passed through; repeats made up for as `filter` does. `distinct` keeps every distinct element (memory grows with them), `distinct_bounded` the `k` most recent |
//! | [`skip_last(k)`](PublisherExt::skip_last) | `n`, passed through, plus `k` once at subscription; holds at most `k` |
//!
//! **Aggregate** (one result, or `take_last`'s `k`, emitted under demand once the upstream completed)
//!
//! | operator | upstream demand |
//! |---|---|
//! | [`reduce(f)`](PublisherExt::reduce), [`fold(init, f)`](PublisherExt::fold), [`count()`](PublisherExt::count), [`last()`](PublisherExt::last), [`take_last(k)`](PublisherExt::take_last) | unbounded, once; holds one value (`take_last`: `k`) |
//! | [`collect_vec()`](PublisherExt::collect_vec) | unbounded, once; holds every element until the end |
//! | [`first()`](PublisherExt::first) | 1, once; cancels the upstream when it arrived |
//!
//! **Fallback**
//!
//! | operator | upstream demand for `request(n)` |
//! |---|---|
//! | [`switch_if_empty(other)`](PublisherExt::switch_if_empty) / [`default_if_empty(x)`](PublisherExt::default_if_empty) | `n`, passed through; after an empty completion, `other` is asked for everything requested |
//! | [`start_with(items)`](PublisherExt::start_with) | as `concat`: the items first, then the upstream is subscribed and asked for what is outstanding |
//!
//! **Batching**
//!
//! | operator | upstream demand for `request(n)` |
//! |---|---|
//! | [`buffer(size)`](PublisherExt::buffer) | `n × size`; the partial vector is flushed on completion, dropped on error |
//! | [`buffer_skip(size, skip)`](PublisherExt::buffer_skip) | the first `request(n)`: `size + (n - 1) × skip`, each later one `n × skip`: exactly what `n` vectors need; overlapping (`skip < size`) or with gaps (`skip > size`); the partial vectors left at completion go out as demand allows |
//! | [`limit_rate(high, low)`](PublisherExt::limit_rate) | `high` at the first request, then `low` each time `low` went downstream, whatever `n`: at most `high` outstanding or queued |
//!
//! **Overload** (for a downstream slower than a source that cannot slow down)
//!
//! | operator | upstream demand | what it holds and drops |
//! |---|---|---|
//! | [`on_backpressure_buffer(cap, overflow)`](PublisherExt::on_backpressure_buffer) | unbounded, once | at most `cap` elements; beyond that the [`Overflow`] policy: `DropIncoming`, `EvictOldest`, `EvictNewest` or `Fail` |
//! | [`on_backpressure_drop()`](PublisherExt::on_backpressure_drop) | unbounded, once | nothing; an element without demand is dropped |
//! | [`on_backpressure_latest()`](PublisherExt::on_backpressure_latest) | unbounded, once | the newest element; an older one is dropped |
//! | [`conflate(f)`](PublisherExt::conflate) | unbounded, once | one value: what arrives without demand is combined into it with `f`, nothing dropped |
//!
//! **Time** (on [`timer()`](rstreams_core::scheduler::timer) by default; each has an `_on`
//! variant taking a [`Scheduler`](rstreams_core::scheduler::Scheduler), e.g. a
//! [`VirtualTime`](rstreams_core::scheduler::VirtualTime) in tests)
//!
//! | operator | upstream demand for `request(n)` |
//! |---|---|
//! | [`buffer_timeout(size, timeout)`](PublisherExt::buffer_timeout) | one batch at a time while downstream wants batches: queued plus outstanding never exceed `size`; a batch that is due waits for demand |
//! | [`throttle(elements, per, burst, mode)`](PublisherExt::throttle) | `Shaping`: only as much of `n` as the token bucket holds, the rest as it refills; `Enforcing`: `n`, passed through |
//! | [`debounce(quiet)`](PublisherExt::debounce), [`sample(period)`](PublisherExt::sample) | unbounded, once; hold the newest element and one due: a due element without demand waits for it, a newer due one replaces it (counted in `dropped()`) |
//! | [`delay(by)`](PublisherExt::delay) | `n`, within [`capacity`](Delay::capacity) (256) held or outstanding: a due element always has demand |
//!
//! **Combining**
//!
//! | operator | upstream demand for `request(n)` |
//! |---|---|
//! | [`flat_map(f, max_concurrency, prefetch)`](PublisherExt::flat_map) | outer: `max_concurrency`, then one more per finished inner; each inner: `prefetch`, then `prefetch - prefetch/4` each time that many were consumed |
//! | [`merge(other)`](PublisherExt::merge), [`merge_all(sources, prefetch)`](merge_all) | each source: `prefetch`, replenished at 75 %; fair (ready sources take turns: one element per turn, up to `min(prefetch, 64)` for a fused synchronous source) |
//! | [`merge_delay_error(other)`](PublisherExt::merge_delay_error) | as `merge`; an error waits until every source has ended (several: the first, counting the others, all in a [`CompositeError`]) |
//! | [`concat(other)`](PublisherExt::concat) | `n`, passed through to the active source; the next, subscribed once the previous completed, is asked for exactly what is outstanding |
//! | [`concat_map(f, prefetch)`](PublisherExt::concat_map) | outer: `prefetch`, then `prefetch - prefetch/4` each time that many were mapped (a synchronous outer is fused: one element per inner, no prefetch); the active inner: `n`, passed through, and the next inner exactly what is outstanding |
//! | [`switch_map(f)`](PublisherExt::switch_map) | outer: unbounded, once (each element replaces the last); the current inner: `n`, passed through, and each new inner exactly what is outstanding; the previous inner is cancelled before the next is subscribed |
//! | [`zip(other)`](PublisherExt::zip), [`zip_with(other, f)`](PublisherExt::zip_with) | each side: 32, then 24 each time 24 of its elements were paired, whatever `n`: at most 32 held per side; completes once a side has ended and all it sent was paired |
//! | [`combine_latest(other, f)`](PublisherExt::combine_latest) | each side: 32, then 24 each time 24 of its elements were taken; one output per element taken once both have emitted; completes when both have ended, or one ended without emitting |
//! | [`with_latest_from(other, f)`](PublisherExt::with_latest_from) | `n`, passed through (an element dropped before `other`'s first is made up for); `other`: unbounded, once (only its latest is kept) |
//! | [`take_until(other)`](PublisherExt::take_until) | `n`, passed through; `other`: 1 (its first element completes the stream) |
//!
//! **Threading**
//!
//! | operator | upstream demand for `request(n)` |
//! |---|---|
//! | [`publish_on(scheduler, prefetch)`](PublisherExt::publish_on) | `prefetch` on subscribe, then `prefetch - prefetch/4` each time that many were consumed downstream, whatever `n`: at most `prefetch` queued or outstanding |
//! | [`subscribe_on(scheduler)`](PublisherExt::subscribe_on) | `n`, passed through, requested from the scheduler's worker |
//!
//! **Asynchronous calls** (futures polled in the stage's own drain loop, no task per element;
//! `call` and the layers with the feature `tower`)
//!
//! | operator | upstream demand for `request(n)` |
//! |---|---|
//! | [`map_async(max_in_flight, f)`](PublisherExt::map_async), [`map_async_unordered`](PublisherExt::map_async_unordered), [`try_map_async`](PublisherExt::try_map_async) | the free slots, whatever `n`: `max_in_flight` when subscribed, then one per output delivered; requested + running + outputs waiting ≤ `max_in_flight` |
//! | `call(service, max_in_flight)` | one element per `poll_ready` readiness, within the free slots: a service that is not ready (a concurrency or rate limit, an open `CircuitBreaker`, a full `Bulkhead`) gets no demand |
//! **Errors, retries, timeouts, hooks** (the operators here that handle upstream errors, rather
//! than pass them through, hand the downstream the support
//! [`Arbiter`](rstreams_core::support::Arbiter): the next upstream is asked for exactly what is
//! outstanding)
//!
//! | operator | upstream demand for `request(n)` |
//! |---|---|
//! | [`on_error_resume(f)`](PublisherExt::on_error_resume), [`on_error_return(f)`](PublisherExt::on_error_return) | `n`, passed through; after an error the fallback is asked for what is outstanding |
//! | [`map_err(f)`](PublisherExt::map_err) | `n`, passed through |
//! | [`retry(policy)`](PublisherExt::retry) | `n`, passed through; each resubscription is asked for what is outstanding; nothing during a delay |
//! | [`timeout(d)`](PublisherExt::timeout), [`timeout_or(d, fallback)`](PublisherExt::timeout_or) (+ `_on`) | `n`, at most 256 ahead at a time; the clock runs only while demand is outstanding and unmet |
//! | [`inspect`](PublisherExt::inspect), [`on_request`](PublisherExt::on_request), [`on_cancel`](PublisherExt::on_cancel), [`on_terminate`](PublisherExt::on_terminate), [`finally`](PublisherExt::finally) | `n`, passed through |
//!
//! **Multicast** (one subscription to the source for many subscribers; elements must be
//! `Clone`)
//!
//! | operator | upstream demand for the subscribers' `request(n1)`, `request(n2)`, … |
//! |---|---|
//! | [`share()`](PublisherExt::share) | what every subscriber has demanded: the slowest holds back the others; never more than 256 ahead of the slowest. Subscribes the source at the first subscriber, cancels it when the last leaves; the next subscriber reconnects |
//! | [`publish()`](PublisherExt::publish) | as `share`, from [`connect()`](Publish::connect) until [`disconnect()`](Connection::disconnect) or the source's end; nothing while no subscriber is there |
//! | [`replay(n)`](PublisherExt::replay) | as `publish`; a late subscriber starts with the last `n` kept elements (and holds the others back until it caught up) |
//! | `.slow_subscriber(`[`SlowSubscriber::DropOldest`]` { buffer })` on any of the three | what the *fastest* subscriber has demanded, never more than 256 ahead of it; a subscriber holds at most its demand (up to 256) plus `buffer`, and its oldest element is dropped for it alone (counted in `dropped()`) when one more arrives: it sees a gap, no error |
//!
//! **Windows and groups** (each window or group is a publisher with its own demand and one
//! subscriber; one that is dropped without a subscriber is skipped, its elements counted in
//! `dropped()`)
//!
//! | operator | upstream demand |
//! |---|---|
//! | [`window(size)`](PublisherExt::window) | the open window's subscriber's: for its `request(n)`, `min(n, what the window lacks, 256)` minus what is on its way; the outer stream's demand asks for the one element that opens the next window. A window holds what its subscriber demanded plus its first element |
//! | [`window_timeout(size, timeout)`](PublisherExt::window_timeout) | as `window`; a window also closes `timeout` after it opened, so one that is not subscribed holds the stream back only that long |
//! | [`group_by(key, max_groups)`](PublisherExt::group_by) | a batch of `min(64, group_buffer)` whenever nothing is outstanding and the outer stream or a group's subscriber waits with demand: an unconsumed group never holds the others back. Each group holds at most [`group_buffer`](GroupBy::group_buffer) (256); beyond that, or for a new key beyond `max_groups`, the [`Overflow`] policy: by default the stream fails naming the group |
//!
//! Every element an overload operator drops is counted in its [`Dropped`] handle and, with the
//! `_with(callback)` variants, handed to the callback: nothing is lost silently.
//!
//! # Guarantees every operator keeps
//!
//! - **Exact demand**: never more `on_next` than the downstream requested (§1.1), and never
//!   more asked upstream than the table above says.
//! - **No re-entrancy**: a `request` from inside `on_next` never recurses into `on_next` (§3.3).
//!   Operators with a queue run one drain loop at a time (the support
//!   [`Engine`](rstreams_core::support::Engine), or a
//!   [`DrainCell`](rstreams_core::support::DrainCell)).
//! - **Cancel** reaches the upstream and releases the downstream subscriber (§3.13).
//! - **An upstream that breaks the protocol** is not relayed: a second `on_subscribe` is
//!   cancelled, not passed on (§2.5), and nothing the upstream signals after its `on_complete`
//!   or `on_error` goes downstream (§1.7). `tests/rogue_upstream.rs` checks every operator.
//! - **Errors**: an upstream error passes through at once, except that the queueing operators
//!   (`limit_rate`, `on_backpressure_buffer`, `on_backpressure_latest`) deliver the elements
//!   they already hold first, and `buffer_skip` the full vectors it already cut; with nothing
//!   held it passes at once, without demand. `merge_delay_error` holds errors back by design
//!   until every source has ended.
//!   `on_backpressure_buffer` and `on_backpressure_latest` can deliver errors (theirs and the
//!   upstream's) at once instead, discarding what they hold
//!   ([`error_mode`](OnBackpressureBuffer::error_mode)`(`[`ErrorMode::Immediate`]`)`), and
//!   `publish_on_with` takes the same [`ErrorMode`].
//! - **Panics in closures** (`map`, `filter`, `scan`, the drop callbacks) are caught and become
//!   `on_error` with an error of kind [`ErrorKind::Panic`](rstreams_core::ErrorKind::Panic)
//!   naming the stage ([`Error::stage`](rstreams_core::Error::stage)); the upstream is
//!   cancelled and nothing is signalled after the error.
//! - **Bad arguments fail fast**: `buffer(0)`, `buffer_skip(0, _)`, `buffer_skip(_, 0)`,
//!   `concat_map(_, 0)`, `limit_rate(0, _)`, `limit_rate(h, l)` with `l` outside `1..=h`, and
//!   `on_backpressure_buffer(0, _)` panic where they are built, naming the argument and its
//!   valid range.
//! - **Fast path**: `map`, `filter`, `skip` and `scan` add no subscription layer, allocate
//!   nothing and make no atomic read-modify-write per element, and implement
//!   [`Subscriber::try_on_next`](rstreams_core::Subscriber::try_on_next), so a chain of them
//!   over a source of rstreams runs as one loop.
//! - **Time, multicast, grouping**: time-based operators never emit without demand (a due
//!   element waits for it: `debounce` and `sample` keep the newest, `delay` requests only
//!   what is demanded); a duration of zero is rejected when built and `Duration::MAX` means
//!   never. Multicast stages hold no subscriber back except by its own demand (the slowest
//!   sets the pace, unless [`SlowSubscriber::DropOldest`] drops for it, counted) and buffer
//!   at most 256 beyond it. Windows and groups never hang silently:
//!   a window or group dropped unsubscribed is skipped (counted in `dropped()`), an
//!   unconsumed group fills a bounded buffer and then fails the stream naming it (or drops by
//!   a policy chosen by name).

#![warn(clippy::disallowed_types)] // shared state goes through rstreams_core::sync (clippy.toml)

// the vocabulary: filtering, aggregates, fallbacks
mod aggregate;
mod collect_vec;
mod count;
mod distinct;
mod filter_map;
mod first;
mod fold;
mod reduce;
mod shared_fn;
mod sieve;
mod skip_last;
mod skip_while;
mod switch_if_empty;
mod take_last;
mod take_while;

mod buffer;
mod buffer_timeout;
mod concat;
mod ext;
mod filter;
mod flat_map;
mod limit_rate;
mod map;
mod merge;
mod on_backpressure_buffer;
mod on_backpressure_drop;
mod on_backpressure_latest;
mod publish_on;
mod queued;
mod scan;
mod skip;
mod subscribe_on;
mod take;
mod throttle;
mod try_map;

// the vocabulary: filtering, aggregates, fallbacks
pub use aggregate::{Accumulate, Aggregate};
pub use collect_vec::Collecting;
pub use count::Counting;
pub use distinct::{Distinct, DistinctUntilChanged};
pub use filter_map::FilterMap;
pub use first::Firsting;
pub use fold::Folding;
pub use reduce::Reducing;
pub use skip_last::SkipLast;
pub use skip_while::SkipWhile;
pub use switch_if_empty::{DefaultIfEmpty, SwitchIfEmpty};
pub use take_last::Lasting;
pub use take_while::TakeWhile;

// combining
mod buffer_skip;
mod combine_latest;
mod concat_map;
mod merge_delay_error;
mod relay;
mod switch_map;
mod take_until;
mod with_latest_from;
mod zip;
pub use buffer_skip::BufferSkip;
pub use combine_latest::CombineLatest;
pub use concat_map::ConcatMap;
pub use merge_delay_error::{CompositeError, MergeDelayError};
pub use switch_map::SwitchMap;
pub use take_until::TakeUntil;
pub use with_latest_from::WithLatestFrom;
pub use zip::{Pair, Zip};

pub use buffer::Buffer;
pub use buffer_timeout::BufferTimeout;
pub use concat::{concat_all, Concat};
pub use ext::PublisherExt;
pub use filter::Filter;
pub use flat_map::FlatMap;
pub use limit_rate::LimitRate;
pub use map::Map;
pub use merge::{merge_all, MergeAll};
pub use on_backpressure_buffer::OnBackpressureBuffer;
pub use on_backpressure_drop::OnBackpressureDrop;
pub use on_backpressure_latest::OnBackpressureLatest;
pub use publish_on::{ErrorMode, PublishOn};
pub use scan::Scan;
pub use skip::Skip;
pub use subscribe_on::SubscribeOn;
pub use take::Take;
pub use throttle::{Throttle, ThrottleMode};
pub use try_map::TryMap;

// errors, retry, timeout, hooks
mod finally;
mod inspect;
mod map_err;
mod on_cancel;
mod on_error_resume;
mod on_error_return;
mod on_request;
mod on_terminate;
mod retry;
mod retry_policy;
mod timeout;
pub use finally::Finally;
pub use inspect::Inspect;
pub use map_err::MapErr;
pub use on_cancel::OnCancel;
pub use on_error_resume::OnErrorResume;
pub use on_error_return::OnErrorReturn;
pub use on_request::OnRequest;
pub use on_terminate::OnTerminate;
pub use retry::Retry;
pub use retry_policy::{Jitter, RetryPolicy};
pub use timeout::Timeout;

/// The drop count of the overload operators (`.dropped()`), from
/// [`rstreams_core::support`], where `rstreams-observe` and custom operators find it too.
pub use rstreams_core::support::Dropped;
/// The overflow policies of [`on_backpressure_buffer`](PublisherExt::on_backpressure_buffer),
/// from [`rstreams_core::support`]: the same vocabulary as the `emitter` source's.
pub use rstreams_core::support::Overflow;

// asynchronous calls
#[cfg(feature = "tower")]
mod bulkhead;
#[cfg(feature = "tower")]
mod call;
#[cfg(feature = "tower")]
mod circuit_breaker;
mod in_flight;
mod map_async;
#[cfg(feature = "tower")]
pub use bulkhead::{Bulkhead, BulkheadAcquire, BulkheadFuture, BulkheadPermit, BulkheadService};
#[cfg(feature = "tower")]
pub use call::{BoxError, Call, FailStream, FailureRoute, OnFailure};
#[cfg(feature = "tower")]
pub use circuit_breaker::{
    BreakerConfig, BreakerFuture, BreakerMetrics, BreakerService, BreakerState, CircuitBreaker,
    CircuitOpen, StateChange,
};
pub use map_async::MapAsync;

// time, multicast, grouping
mod conflate;
mod debounce;
mod delay;
mod group_by;
mod held;
mod multicast;
mod publish;
mod replay;
mod sample;
mod share;
mod slow_subscriber;
mod window;
mod window_timeout;
pub use conflate::Conflate;
pub use debounce::Debounce;
pub use delay::Delay;
pub use group_by::{Group, GroupBy};
pub use publish::{Connection, Publish};
pub use replay::Replay;
pub use sample::Sample;
pub use share::Share;
pub use slow_subscriber::SlowSubscriber;
pub use window::{Pane, Window};
pub use window_timeout::WindowTimeout;

/// The callback of the operators made without one.
pub(crate) fn ignore<T>(_: T) {}
