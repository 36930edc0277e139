//! `emitter(capacity, policy)`: a hot source that application code pushes into, from any thread,
//! with a bounded queue and a named overflow policy.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex};

use super::fail::end_at_once;
use super::start;
use crate::support::{Counter, Engine, Overflow, Pull, Pulled, Pushed};
use crate::{Error, Publisher, Subscriber};

/// What an [`Emitter`] does with an element offered while its queue holds `capacity` elements
/// that the subscriber has not asked for yet: make the producer wait ([`Block`](Self::Block)),
/// or never wait and apply an [`Overflow`] policy, the overflow vocabulary the emitter shares
/// with `on_backpressure_buffer`.
///
/// An [`Overflow`] converts into a policy, so `emitter(16, Overflow::EvictOldest)` and
/// `emitter(16, OverflowPolicy::Block)` both read as what they do. With `capacity` 3, queue
/// `[a, b, c]` (oldest first) and `d` offered:
///
/// | policy | queue after | `d` | counted as |
/// |---|---|---|---|
/// | `OverflowPolicy::Block` | `[a, b, c]` until the subscriber takes `a`, then `[b, c, d]` | waits | — |
/// | `Overflow::DropIncoming` | `[a, b, c]` | dropped | `dropped` |
/// | `Overflow::EvictOldest` | `[b, c, d]` | queued, `a` dropped | `dropped` |
/// | `Overflow::EvictNewest` | `[a, b, d]` | queued, `c` dropped | `dropped` |
/// | `Overflow::Fail` | `[a, b, c]`, then the stream fails | handed back in [`Rejected`] | `rejected` |
///
/// Only `Block` ever makes a producer wait, and only in the calls that say so
/// ([`emit_blocking`](Emitter::emit_blocking), [`emit_timeout`](Emitter::emit_timeout),
/// [`emit`](Emitter::emit)); [`try_emit`](Emitter::try_emit) under `Block` hands the element
/// back with [`RejectReason::Full`] instead of waiting. The [`Overflow`] policies never wait.
///
/// `Block` is a variant of this type and not of [`Overflow`] because only a producer that
/// calls a waiting method can be made to wait: an operator such as `on_backpressure_buffer`,
/// which receives its elements through `on_next`, cannot block its upstream, and its
/// `Overflow` argument cannot name `Block` at all.
///
/// ```
/// use rstreams::source::{emitter, Overflow};
/// use rstreams::{sink, Publisher};
///
/// // A sensor that reads faster than anyone looks: keep only the latest reading.
/// let (readings, latest) = emitter::<f64>(1, Overflow::EvictNewest);
/// for r in [20.5, 20.7, 21.0] {
///     readings.try_emit(r).unwrap();
/// }
/// assert_eq!(readings.dropped(), 2);
/// drop(readings);
/// assert_eq!(sink::collect(&latest).unwrap(), vec![21.0]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OverflowPolicy {
    /// The producer waits for space: backpressure reaches the producer itself. For producers
    /// that can slow down (a file reader, a batch job). Each freed slot wakes one waiting
    /// thread and one waiting task; which producer gets the slot is not specified.
    Block,
    /// The producer never waits: a full queue applies this policy (see [`Overflow`]). Under
    /// [`Overflow::Fail`] the offered element is handed back ([`RejectReason::Overflowed`]),
    /// the stream fails with an error of kind [`ErrorKind::Overflow`](crate::ErrorKind::Overflow)
    /// signalled after the queued elements have been delivered, and later offers are rejected
    /// as [`RejectReason::Closed`].
    Overflow(Overflow),
}

impl From<Overflow> for OverflowPolicy {
    fn from(overflow: Overflow) -> Self {
        OverflowPolicy::Overflow(overflow)
    }
}

/// Why an [`Emitter`] did not take an element; see [`Rejected`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectReason {
    /// The queue was full under [`OverflowPolicy::Block`] and the call does not wait
    /// ([`try_emit`](Emitter::try_emit)).
    Full,
    /// The queue stayed full for the whole timeout of [`emit_timeout`](Emitter::emit_timeout).
    TimedOut,
    /// The queue was full under [`Overflow::Fail`]: this element made the stream fail.
    Overflowed,
    /// The stream was ended already: by [`complete`](Emitter::complete), by
    /// [`fail`](Emitter::fail), or by an overflow under [`Overflow::Fail`].
    Closed,
    /// Nobody will consume any more: the subscriber cancelled, or the [`EmitterPublisher`] was
    /// dropped without being subscribed.
    Cancelled,
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RejectReason::Full => "the emitter's queue is full",
            RejectReason::TimedOut => "the emitter's queue stayed full until the timeout",
            RejectReason::Overflowed => "the emitter's queue overflowed and the stream failed",
            RejectReason::Closed => "the emitter's stream has ended",
            RejectReason::Cancelled => "the emitter's subscriber cancelled",
        })
    }
}

/// An element an [`Emitter`] did not take, handed back with the reason: nothing is lost
/// without the caller knowing.
///
/// ```
/// use rstreams::source::{emitter, OverflowPolicy, RejectReason};
///
/// let (tx, _rx) = emitter::<String>(1, OverflowPolicy::Block);
/// tx.try_emit("a".to_string()).unwrap();
/// let rejected = tx.try_emit("b".to_string()).unwrap_err();
/// assert_eq!(rejected.reason(), RejectReason::Full);
/// assert_eq!(rejected.into_inner(), "b");
/// ```
pub struct Rejected<T> {
    item: T,
    reason: RejectReason,
}

impl<T> Rejected<T> {
    /// Why the element was not taken.
    pub fn reason(&self) -> RejectReason {
        self.reason
    }

    /// The element.
    pub fn item(&self) -> &T {
        &self.item
    }

    /// Takes the element back.
    pub fn into_inner(self) -> T {
        self.item
    }
}

impl<T> fmt::Debug for Rejected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for Rejected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "element rejected: {}", self.reason)
    }
}

impl<T> std::error::Error for Rejected<T> {}

/// What an emitter has done with the elements offered to it, as one consistent snapshot
/// ([`Emitter::stats`]).
///
/// At every snapshot `emitted == delivered + dropped + rejected + queued`: every element
/// offered is accounted for. Once the stream has ended and its queue is empty (or was
/// discarded), `queued` is 0.
///
/// ```
/// use rstreams::source::{emitter, Overflow};
///
/// let (tx, _rx) = emitter::<u32>(2, Overflow::EvictOldest);
/// for i in 0..5 {
///     tx.try_emit(i).unwrap();
/// }
/// let stats = tx.stats();
/// assert_eq!((stats.emitted, stats.dropped, stats.queued), (5, 3, 2));
/// assert_eq!(stats.emitted, stats.delivered + stats.dropped + stats.rejected + stats.queued as u64);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct EmitterStats {
    /// Elements offered (every call of an `emit` method that returned; a call still waiting
    /// is not counted yet).
    pub emitted: u64,
    /// Elements handed to the subscriber.
    pub delivered: u64,
    /// Elements the emitter dropped: by its policy ([`Overflow::DropIncoming`],
    /// [`EvictOldest`](Overflow::EvictOldest), [`EvictNewest`](Overflow::EvictNewest)),
    /// or queued elements discarded because nobody would consume them any more (the subscriber
    /// cancelled, or the publisher was dropped unsubscribed).
    pub dropped: u64,
    /// Elements handed back to the caller in a [`Rejected`].
    pub rejected: u64,
    /// Elements in the queue now.
    pub queued: usize,
}

/// Makes a hot source: an [`Emitter`] that application code pushes elements into, from any
/// number of threads, and the [`EmitterPublisher`] that delivers them to one subscriber as it
/// requests them.
///
/// For producers that cannot be asked to slow down through `request(n)` (sensors, sockets, UI
/// events, callbacks of another library). The emitter holds at most `capacity` elements that the
/// subscriber has not requested yet; what happens beyond that is the policy you choose (an
/// [`Overflow`], or [`OverflowPolicy::Block`] to make the producer wait), and every element is
/// accounted for ([`EmitterStats`]).
///
/// # Subscribers
///
/// **Unicast**: the publisher serves one subscription over its life. Elements emitted before it
/// subscribes are queued (up to `capacity`, under the policy) and delivered once it requests
/// them. A second subscriber gets `on_subscribe` then `on_error` (an error naming §1.9), as a
/// publisher that rejects a subscription must signal it.
///
/// # The end of the stream
///
/// - [`complete`](Emitter::complete) / [`fail`](Emitter::fail) end the stream after the queued
///   elements have been delivered (the error too waits for them). Offering an element after the
///   end returns `Err` ([`RejectReason::Closed`]), never panics.
/// - Dropping the last `Emitter` handle completes the stream, as dropping the last sender
///   closes a channel.
/// - When the subscriber cancels, queued elements are discarded (counted as `dropped`), waiting
///   producers are released, and later offers return `Err` ([`RejectReason::Cancelled`]). The
///   emitter drops its reference to the subscriber (§3.13). Dropping the publisher without
///   subscribing has the same effect.
///
/// # Threads
///
/// Elements are delivered on the thread that finds the subscriber idle: the emitting thread
/// when demand is outstanding, otherwise the thread that calls `request`. Move delivery off the
/// producer's thread with `publish_on`. A producer must not wait for space
/// ([`emit_blocking`](Emitter::emit_blocking)) from inside the subscriber's own `on_next`: the
/// space can only come from that same call returning.
///
/// # Panics
///
/// When `capacity` is 0.
///
/// ```
/// use rstreams::source::{emitter, OverflowPolicy};
/// use rstreams::{sink, Publisher};
///
/// let (tx, events) = emitter::<u32>(16, OverflowPolicy::Block);
/// let producer = std::thread::spawn(move || {
///     for i in 0..100 {
///         tx.emit_blocking(i).unwrap(); // waits while 16 are queued
///     }
///     tx.complete();
/// });
/// let all = sink::collect(&events).unwrap();
/// producer.join().unwrap();
/// assert_eq!(all, (0..100).collect::<Vec<_>>());
/// ```
pub fn emitter<T: Send + 'static>(
    capacity: usize,
    policy: impl Into<OverflowPolicy>,
) -> (Emitter<T>, EmitterPublisher<T>) {
    let policy = policy.into();
    assert!(
        capacity > 0,
        "emitter(capacity, policy): capacity must be at least 1 (valid range 1..=usize::MAX), got 0"
    );
    let shared = Arc::new(Shared {
        capacity,
        policy,
        state: Mutex::new(State {
            queue: VecDeque::new(),
            end: End::Open,
            subscribed: false,
            consumer_live: false,
            drain: None,
            handles: 1,
            blocked: 0,
            waiters: VecDeque::new(),
            next_waiter: 0,
        }),
        space: Condvar::new(),
        emitted: Counter::new(),
        delivered: Counter::new(),
        dropped: Counter::new(),
        rejected: Counter::new(),
    });
    (
        Emitter {
            shared: Arc::clone(&shared),
        },
        EmitterPublisher { shared },
    )
}

/// The producer's handle of an [`emitter`]: cloneable, `Send + Sync`, usable from any thread.
///
/// Dropping the last handle completes the stream.
pub struct Emitter<T> {
    shared: Arc<Shared<T>>,
}

/// The publisher of an [`emitter`]: delivers the emitted elements to its one subscriber as
/// demand allows (§1.1), never more.
#[must_use = "publishers do nothing until subscribed"]
pub struct EmitterPublisher<T> {
    shared: Arc<Shared<T>>,
}

struct Shared<T> {
    capacity: usize,
    policy: OverflowPolicy,
    state: Mutex<State<T>>,
    /// Producers blocked in `emit_blocking` / `emit_timeout` wait here for space or the end.
    space: Condvar,
    // Updated under the state lock, so that `stats()` is consistent; read without it.
    emitted: Counter,
    delivered: Counter,
    dropped: Counter,
    rejected: Counter,
}

struct State<T> {
    queue: VecDeque<T>,
    end: End,
    /// The one subscription has been made, or the publisher was dropped before any was (none
    /// can come any more).
    subscribed: bool,
    /// The subscription's source side is alive (between subscribe and its release).
    consumer_live: bool,
    /// Runs the subscription's drain loop; held while the subscription is live.
    drain: Option<Arc<dyn DrainHandle>>,
    /// Live `Emitter` handles.
    handles: usize,
    /// Threads waiting on `space`.
    blocked: usize,
    /// Tasks waiting in `emit(..).await`, oldest first.
    waiters: VecDeque<(u64, Waker)>,
    next_waiter: u64,
}

#[derive(Clone)]
enum End {
    Open,
    Completed,
    Failed(Error),
    Cancelled,
}

impl End {
    fn reason(&self) -> Option<RejectReason> {
        match self {
            End::Open => None,
            End::Completed | End::Failed(_) => Some(RejectReason::Closed),
            End::Cancelled => Some(RejectReason::Cancelled),
        }
    }
}

/// Runs the drain loop of the subscription (type-erased over its subscriber).
trait DrainHandle: Send + Sync {
    fn wake(&self);
}

impl<T, S> DrainHandle for Engine<EmitterPull<T>, S>
where
    T: Send + 'static,
    S: Subscriber<T> + 'static,
{
    fn wake(&self) {
        Engine::wake(self)
    }
}

/// What to do once the state lock is released: calls that must not run under it (waking
/// tasks and the drain loop may run arbitrary code; dropping an element may too).
#[must_use]
struct After<T> {
    /// The drain loop to run.
    drain: Option<Arc<dyn DrainHandle>>,
    /// A drain released by the subscription's end, dropped (not run): it may hold the last
    /// reference to the subscription.
    released: Option<Arc<dyn DrainHandle>>,
    wakers: Vec<Waker>,
    garbage: Vec<T>,
}

impl<T> After<T> {
    fn none() -> Self {
        After {
            drain: None,
            released: None,
            wakers: Vec::new(),
            garbage: Vec::new(),
        }
    }

    fn run(self) {
        for waker in self.wakers {
            waker.wake();
        }
        if let Some(drain) = self.drain {
            drain.wake();
        }
        drop(self.released);
        drop(self.garbage);
    }
}

/// The outcome of offering an element under the lock.
enum Offer<T> {
    /// Decided: the caller gets this result.
    Done(Result<(), Rejected<T>>),
    /// The queue is full under `Block` and the caller may wait: the element is handed back
    /// to wait with, and nothing is counted yet.
    Wait(T),
}

impl<T> Shared<T> {
    /// Offers `item`, applying the policy when the queue is full. Counts the outcome unless
    /// it is `Wait`.
    fn offer(&self, st: &mut State<T>, item: T, may_wait: bool, after: &mut After<T>) -> Offer<T> {
        if let Some(reason) = st.end.reason() {
            return Offer::Done(self.reject(item, reason));
        }
        let was_empty = st.queue.is_empty();
        let pushed = match self.policy {
            OverflowPolicy::Overflow(overflow) => overflow.push(&mut st.queue, self.capacity, item),
            OverflowPolicy::Block if st.queue.len() < self.capacity => {
                st.queue.push_back(item);
                Pushed::Queued
            }
            OverflowPolicy::Block if may_wait => return Offer::Wait(item),
            OverflowPolicy::Block => return Offer::Done(self.reject(item, RejectReason::Full)),
        };
        match pushed {
            Pushed::Queued => {
                self.emitted.increment();
                if was_empty {
                    // The drain stops when it finds the queue empty; restart it. With a
                    // non-empty queue it is either running or waiting for demand, which wakes
                    // it itself.
                    after.drain = st.drain.clone();
                }
                Offer::Done(Ok(()))
            }
            // The queue was full (the capacity is at least 1), so the drain needs no wake-up.
            Pushed::Dropped(dropped) => {
                self.emitted.increment();
                self.dropped.increment();
                after.garbage.push(dropped);
                Offer::Done(Ok(()))
            }
            Pushed::Overflowed(item) => {
                let error = Error::overflow(format!(
                    "emitter: {} elements queued without demand (capacity {}); the policy is Fail",
                    st.queue.len(),
                    self.capacity
                ))
                .in_stage("emitter");
                self.end(st, End::Failed(error), after);
                Offer::Done(self.reject(item, RejectReason::Overflowed))
            }
        }
    }

    fn reject(&self, item: T, reason: RejectReason) -> Result<(), Rejected<T>> {
        self.emitted.increment();
        self.rejected.increment();
        Err(Rejected { item, reason })
    }

    /// Ends the stream (if it is open): releases every waiting producer and wakes the drain so
    /// that it signals the end once the queue is empty.
    fn end(&self, st: &mut State<T>, end: End, after: &mut After<T>) -> bool {
        if !matches!(st.end, End::Open) {
            return false;
        }
        st.end = end;
        self.space.notify_all();
        after.wakers.extend(st.waiters.drain(..).map(|(_, w)| w));
        after.drain = st.drain.clone();
        true
    }

    /// Nobody will consume any more: discards the queue (counted as dropped) and releases the
    /// drain and every waiting producer.
    fn release_consumer(&self, st: &mut State<T>, after: &mut After<T>) {
        st.consumer_live = false;
        self.end(st, End::Cancelled, after);
        after.drain = None;
        after.released = st.drain.take();
        self.dropped.add(st.queue.len() as u64);
        after.garbage.extend(st.queue.drain(..));
    }

    fn emit_waiting(&self, item: T, deadline: Option<Instant>) -> Result<(), Rejected<T>> {
        let mut after = After::none();
        let mut st = self.state.lock();
        let mut item = item;
        let result = loop {
            match self.offer(&mut st, item, true, &mut after) {
                Offer::Done(result) => break result,
                Offer::Wait(back) => item = back,
            }
            st.blocked += 1;
            let timed_out = match deadline {
                Some(deadline) => self.space.wait_until(&mut st, deadline),
                None => {
                    self.space.wait(&mut st);
                    false
                }
            };
            st.blocked -= 1;
            if timed_out {
                break match self.offer(&mut st, item, true, &mut after) {
                    Offer::Done(result) => result,
                    Offer::Wait(back) => self.reject(back, RejectReason::TimedOut),
                };
            }
        };
        drop(st);
        after.run();
        result
    }

    fn stats(&self, st: &State<T>) -> EmitterStats {
        EmitterStats {
            emitted: self.emitted.get(),
            delivered: self.delivered.get(),
            dropped: self.dropped.get(),
            rejected: self.rejected.get(),
            queued: st.queue.len(),
        }
    }
}

impl<T: Send + 'static> Emitter<T> {
    /// Offers `item` without waiting.
    ///
    /// `Ok(())` means the emitter took the element: it is queued, or (under a dropping policy
    /// with a full queue) it or an older one was dropped and counted. `Err` hands the element
    /// back: the queue is full under [`OverflowPolicy::Block`] ([`RejectReason::Full`]), it
    /// overflowed under [`Overflow::Fail`], or the stream has ended.
    ///
    /// ```
    /// use rstreams::source::{emitter, Overflow};
    ///
    /// let (tx, _rx) = emitter::<u8>(2, Overflow::DropIncoming);
    /// for i in 0..5 {
    ///     tx.try_emit(i).unwrap(); // never fails under DropIncoming while the stream is open
    /// }
    /// assert_eq!(tx.stats().queued, 2);
    /// assert_eq!(tx.dropped(), 3);
    /// ```
    pub fn try_emit(&self, item: T) -> Result<(), Rejected<T>> {
        let mut after = After::none();
        let mut st = self.shared.state.lock();
        let result = match self.shared.offer(&mut st, item, false, &mut after) {
            Offer::Done(result) => result,
            Offer::Wait(_) => unreachable!("offer without waiting never asks to wait"),
        };
        drop(st);
        after.run();
        result
    }

    /// Offers `item`; under [`OverflowPolicy::Block`], parks the calling thread while the queue
    /// is full, until the subscriber takes an element or the stream ends. Under the other
    /// policies it is [`try_emit`](Self::try_emit).
    ///
    /// Waiting parks the thread (no spinning). Do not call it from inside the subscriber's
    /// `on_next`.
    ///
    /// ```
    /// use rstreams::source::{emitter, OverflowPolicy};
    /// use rstreams::{sink, Publisher};
    ///
    /// let (tx, rx) = emitter::<u64>(1, OverflowPolicy::Block);
    /// let consumer = std::thread::spawn(move || sink::collect(&rx).unwrap());
    /// for i in 0..10 {
    ///     tx.emit_blocking(i).unwrap();
    /// }
    /// drop(tx); // the last handle: completes
    /// assert_eq!(consumer.join().unwrap(), (0..10).collect::<Vec<_>>());
    /// ```
    pub fn emit_blocking(&self, item: T) -> Result<(), Rejected<T>> {
        self.shared.emit_waiting(item, None)
    }

    /// Like [`emit_blocking`](Self::emit_blocking), but waits at most `timeout`; then hands the
    /// element back with [`RejectReason::TimedOut`].
    ///
    /// ```
    /// use rstreams::source::{emitter, OverflowPolicy, RejectReason};
    /// use std::time::Duration;
    ///
    /// let (tx, _rx) = emitter::<u8>(1, OverflowPolicy::Block);
    /// tx.emit_timeout(1, Duration::from_millis(10)).unwrap();
    /// let err = tx.emit_timeout(2, Duration::from_millis(10)).unwrap_err(); // nobody consumes
    /// assert_eq!(err.reason(), RejectReason::TimedOut);
    /// ```
    pub fn emit_timeout(&self, item: T, timeout: Duration) -> Result<(), Rejected<T>> {
        let deadline = Instant::now().checked_add(timeout);
        self.shared.emit_waiting(item, deadline)
    }

    /// Offers `item` from async code: under [`OverflowPolicy::Block`] the returned future waits
    /// (without blocking the thread) while the queue is full; under the other policies it is
    /// ready at once, with the result of [`try_emit`](Self::try_emit).
    ///
    /// The future is written against `std::task` only, so it runs on any executor. Dropping it
    /// before it is ready withdraws the element (it is neither queued nor counted).
    ///
    /// ```
    /// use rstreams::source::{emitter, OverflowPolicy};
    /// use rstreams::{sink, Publisher};
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     use std::task::{Context, Poll, Wake, Waker};
    /// #     use std::sync::Arc;
    /// #     struct Unpark(std::thread::Thread);
    /// #     impl Wake for Unpark { fn wake(self: Arc<Self>) { self.0.unpark() } }
    /// #     let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop {
    /// #         if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(&waker)) { return v; }
    /// #         std::thread::park();
    /// #     }
    /// # }
    ///
    /// let (tx, rx) = emitter::<u32>(4, OverflowPolicy::Block);
    /// let consumer = std::thread::spawn(move || sink::collect(&rx).unwrap());
    /// block_on(async {
    ///     for i in 0..20 {
    ///         tx.emit(i).await.unwrap(); // waits for space without blocking the executor
    ///     }
    /// });
    /// drop(tx);
    /// assert_eq!(consumer.join().unwrap(), (0..20).collect::<Vec<_>>());
    /// ```
    pub fn emit(&self, item: T) -> Emit<'_, T> {
        Emit {
            shared: &self.shared,
            item: Some(item),
            waiter: None,
        }
    }

    /// Ends the stream normally, once the queued elements have been delivered. Returns `false`
    /// (and does nothing) if the stream had ended already.
    pub fn complete(&self) -> bool {
        self.close(End::Completed)
    }

    /// Ends the stream with `error`, signalled after the queued elements have been delivered.
    /// Returns `false` (and does nothing) if the stream had ended already.
    ///
    /// ```
    /// use rstreams::source::{emitter, OverflowPolicy, RejectReason};
    /// use rstreams::{sink, Error};
    ///
    /// let (tx, rx) = emitter::<u8>(4, OverflowPolicy::Block);
    /// tx.try_emit(1).unwrap();
    /// assert!(tx.fail(Error::msg("sensor unplugged")));
    /// assert!(!tx.complete()); // already ended
    /// assert_eq!(tx.try_emit(2).unwrap_err().reason(), RejectReason::Closed);
    /// assert_eq!(sink::collect(&rx).unwrap_err().to_string(), "sensor unplugged");
    /// ```
    pub fn fail(&self, error: Error) -> bool {
        self.close(End::Failed(error))
    }

    fn close(&self, end: End) -> bool {
        let mut after = After::none();
        let mut st = self.shared.state.lock();
        let ended = self.shared.end(&mut st, end, &mut after);
        drop(st);
        after.run();
        ended
    }
}

impl<T> Emitter<T> {
    /// Whether the stream has ended (completed, failed, or cancelled by its subscriber): every
    /// later offer is rejected.
    pub fn is_closed(&self) -> bool {
        !matches!(self.shared.state.lock().end, End::Open)
    }

    /// Whether the stream was cancelled: the subscriber cancelled, or the publisher was dropped
    /// without being subscribed.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.shared.state.lock().end, End::Cancelled)
    }

    /// The most elements the queue holds.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// The overflow policy.
    pub fn policy(&self) -> OverflowPolicy {
        self.shared.policy
    }

    /// A consistent snapshot of the counts: `emitted == delivered + dropped + rejected +
    /// queued` holds in it.
    pub fn stats(&self) -> EmitterStats {
        let st = self.shared.state.lock();
        self.shared.stats(&st)
    }

    /// Elements handed to the subscriber so far (read without locking).
    pub fn delivered(&self) -> u64 {
        self.shared.delivered.get()
    }

    /// Elements dropped so far (read without locking); see [`EmitterStats::dropped`].
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.get()
    }

    /// Elements handed back to callers so far (read without locking).
    pub fn rejected(&self) -> u64 {
        self.shared.rejected.get()
    }
}

impl<T> Clone for Emitter<T> {
    fn clone(&self) -> Self {
        self.shared.state.lock().handles += 1;
        Emitter {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for Emitter<T> {
    fn drop(&mut self) {
        let mut after = After::none();
        let mut st = self.shared.state.lock();
        st.handles -= 1;
        if st.handles == 0 {
            self.shared.end(&mut st, End::Completed, &mut after);
        }
        drop(st);
        after.run();
    }
}

impl<T> fmt::Debug for Emitter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emitter")
            .field("capacity", &self.shared.capacity)
            .field("policy", &self.shared.policy)
            .field("stats", &self.stats())
            .finish()
    }
}

impl<T> EmitterPublisher<T> {
    /// A consistent snapshot of the emitter's counts (see [`Emitter::stats`]).
    pub fn stats(&self) -> EmitterStats {
        let st = self.shared.state.lock();
        self.shared.stats(&st)
    }
}

impl<T> fmt::Debug for EmitterPublisher<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.state.lock();
        f.debug_struct("EmitterPublisher")
            .field("subscribed", &st.subscribed)
            .field("stats", &self.shared.stats(&st))
            .finish()
    }
}

impl<T: Send + 'static> Publisher for EmitterPublisher<T> {
    type Item = T;

    fn subscribe<S: Subscriber<T> + 'static>(&self, subscriber: S) {
        {
            let mut st = self.shared.state.lock();
            if st.subscribed {
                drop(st);
                let error = Error::protocol(
                    "1.9",
                    "emitter: the publisher is unicast and already has its subscriber; this \
                     subscription was rejected",
                )
                .in_stage("emitter");
                end_at_once(subscriber, Err(error));
                return;
            }
            st.subscribed = true;
            st.consumer_live = true;
        }
        let engine = start(
            EmitterPull {
                shared: Arc::clone(&self.shared),
            },
            subscriber,
        );
        // Elements emitted while `start` ran found no drain to wake: wake it once now.
        let mut st = self.shared.state.lock();
        if st.consumer_live {
            st.drain = Some(engine.clone() as Arc<dyn DrainHandle>);
            drop(st);
            engine.wake();
        }
    }
}

impl<T> Drop for EmitterPublisher<T> {
    fn drop(&mut self) {
        let mut after = After::none();
        let mut st = self.shared.state.lock();
        if !st.subscribed {
            // Nobody can ever consume: release the producers instead of letting them wait.
            st.subscribed = true;
            self.shared.release_consumer(&mut st, &mut after);
        }
        drop(st);
        after.run();
    }
}

/// The subscription's source side: pulls from the queue inside the engine's drain loop.
struct EmitterPull<T> {
    shared: Arc<Shared<T>>,
}

impl<T: Send + 'static> Pull for EmitterPull<T> {
    type Item = T;

    fn name(&self) -> &'static str {
        "emitter"
    }

    fn pull(&mut self, _demand: u64) -> Pulled<T> {
        let mut st = self.shared.state.lock();
        match st.queue.pop_front() {
            Some(item) => {
                self.shared.delivered.increment();
                let mut waiter = None;
                if let OverflowPolicy::Block = self.shared.policy {
                    // One slot freed: one waiting thread and one waiting task may try for it.
                    if st.blocked > 0 {
                        self.shared.space.notify_one();
                    }
                    waiter = st.waiters.pop_front().map(|(_, w)| w);
                }
                drop(st);
                if let Some(w) = waiter {
                    w.wake();
                }
                Pulled::Ready(item)
            }
            None => match &st.end {
                End::Open => Pulled::Pending,
                End::Failed(error) => Pulled::Error(error.clone()),
                _ => Pulled::End,
            },
        }
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        let st = self.shared.state.lock();
        if !st.queue.is_empty() {
            return None;
        }
        match &st.end {
            End::Open => None,
            End::Failed(error) => Some(Err(error.clone())),
            _ => Some(Ok(())),
        }
    }
}

impl<T> Drop for EmitterPull<T> {
    /// The subscription ended (terminal signal, cancel, or a panicking subscriber) and the
    /// engine released its source side.
    fn drop(&mut self) {
        let mut after = After::none();
        let mut st = self.shared.state.lock();
        self.shared.release_consumer(&mut st, &mut after);
        drop(st);
        after.run();
    }
}

/// The future of [`Emitter::emit`]: resolves to the result of offering the element, waiting for
/// space under [`OverflowPolicy::Block`].
#[must_use = "futures do nothing unless polled; the element is offered when this is awaited"]
pub struct Emit<'a, T> {
    shared: &'a Shared<T>,
    item: Option<T>,
    /// Our place among the waiting tasks, once we have waited.
    waiter: Option<u64>,
}

// The element is only ever moved out by value, never pinned in place.
impl<T> Unpin for Emit<'_, T> {}

impl<T> Future for Emit<'_, T> {
    type Output = Result<(), Rejected<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let item = this
            .item
            .take()
            .expect("Emit polled after it returned Ready");
        let mut after = After::none();
        let mut st = this.shared.state.lock();
        let result = match this.shared.offer(&mut st, item, true, &mut after) {
            Offer::Done(result) => {
                if let Some(id) = this.waiter.take() {
                    st.waiters.retain(|(w, _)| *w != id);
                }
                result
            }
            Offer::Wait(back) => {
                this.item = Some(back);
                let id = match this.waiter {
                    Some(id) => id,
                    None => {
                        let id = st.next_waiter;
                        st.next_waiter += 1;
                        this.waiter = Some(id);
                        id
                    }
                };
                match st.waiters.iter_mut().find(|(w, _)| *w == id) {
                    Some((_, waker)) => waker.clone_from(cx.waker()),
                    // First wait, or woken since (and removed): queue up (again).
                    None => st.waiters.push_back((id, cx.waker().clone())),
                }
                drop(st);
                after.run();
                return Poll::Pending;
            }
        };
        drop(st);
        after.run();
        Poll::Ready(result)
    }
}

impl<T> Drop for Emit<'_, T> {
    fn drop(&mut self) {
        let (Some(id), Some(_)) = (self.waiter, &self.item) else {
            return;
        };
        let mut st = self.shared.state.lock();
        let before = st.waiters.len();
        st.waiters.retain(|(w, _)| *w != id);
        let mut pass_on = None;
        if st.waiters.len() == before {
            // We were woken for a free slot but are not going to use it: pass the wake-up on.
            pass_on = st.waiters.pop_front().map(|(_, w)| w);
            if st.blocked > 0 {
                self.shared.space.notify_one();
            }
        }
        drop(st);
        if let Some(w) = pass_on {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for Emit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emit")
            .field("pending", &self.item.is_some())
            .field("waiting", &self.waiter.is_some())
            .finish()
    }
}
