//! `concat_map(f, prefetch)`: each element mapped to a publisher whose elements go out in
//! order, one inner publisher at a time.
//!
//! Three parts: the outer's elements wait in an [`Inbox`] (the prefetch); a chain of inners
//! runs one after another, moved on by a [`Drain`] loop (an inner that completes inside its
//! own `subscribe` hands over without recursing), each asked through the [`Arbiter`] for
//! exactly what the downstream still wants; and the [`Engine`] the downstream holds delivers
//! the inners' elements in order and keeps the protocol. The inners' queues hold only elements
//! on their way to the downstream: their demand is the downstream's.
//!
//! A synchronous upstream (`Publisher::sync_iter`) is fused instead: the hand-over loop pulls
//! its iterator for the next element, and when a fused inner ends inside the engine's loop
//! and the upstream's next element maps to a fused inner too, that inner takes over in place
//! (`Successor`): nothing is subscribed there, so the rule that a subscribed inner is started
//! outside the engine's loop holds; an inner that is not fusable is left (`pending`) for the
//! hand-over loop to start.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Weak};

use rstreams_core::support::{
    catch_panic, Arbiter, Drain, Engine, EngineConfig, ErrorMode, Inbox, InboxSubscriber, Pull,
    Pulled, Replenish, Wake, UNBOUNDED,
};
use rstreams_core::sync::{AtomicBool, Mutex, Ordering};
use rstreams_core::{Error, Publisher, Subscriber, Subscription, SyncIter};

use crate::relay::Relayed;

const STAGE: &str = "concat_map";

/// The publisher returned by [`concat_map`](crate::PublisherExt::concat_map).
#[must_use = "publishers do nothing until subscribed"]
pub struct ConcatMap<P, F> {
    source: P,
    f: Arc<F>,
    prefetch: usize,
}

impl<P, F> ConcatMap<P, F> {
    pub(crate) fn new(source: P, f: F, prefetch: usize) -> Self {
        assert!(
            prefetch > 0,
            "concat_map: prefetch must be at least 1 (valid range 1..=usize::MAX), got 0: an outer that may send nothing never progresses"
        );
        ConcatMap {
            source,
            f: Arc::new(f),
            prefetch,
        }
    }
}

impl<P: Clone, F> Clone for ConcatMap<P, F> {
    fn clone(&self) -> Self {
        ConcatMap {
            source: self.source.clone(),
            f: Arc::clone(&self.f),
            prefetch: self.prefetch,
        }
    }
}

impl<P: fmt::Debug, F> fmt::Debug for ConcatMap<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcatMap")
            .field("source", &self.source)
            .field("prefetch", &self.prefetch)
            .finish_non_exhaustive()
    }
}

impl<P, F, Q> Publisher for ConcatMap<P, F>
where
    P: Publisher,
    P::Item: Send + 'static,
    F: Fn(P::Item) -> Q + Send + Sync + 'static,
    Q: Publisher + Send + 'static,
    Q::Item: Send + 'static,
{
    type Item = Q::Item;

    fn subscribe<S: Subscriber<Q::Item> + 'static>(&self, subscriber: S) {
        // A synchronous upstream is fused: its iterator is pulled for the next inner, by the
        // hand-over loop or, when the inner that ended was fused, in the engine's loop.
        let (source, failed) = match catch_panic("outer iterator", || self.source.sync_iter()) {
            Ok(iter) => (iter, None),
            // As a subscription to a source whose iterator panicked fails.
            Err(error) => (None, Some(error.in_stage(STAGE))),
        };
        let fused = source.is_some() || failed.is_some();
        let outer = Arc::new(
            Inbox::new(STAGE, self.prefetch, ErrorMode::Immediate)
                .expect("prefetch checked when built"),
        );
        let arbiter = Arc::new(Arbiter::new());
        let handover_due = Arc::new(AtomicBool::new(false));
        let route = Arc::new(Route {
            arbiter: Arc::clone(&arbiter),
            due: Arc::clone(&handover_due),
            chain: Mutex::new(None),
        });
        let mut made = None;
        let engine = Engine::start_cyclic(
            |engine| {
                let chain = Arc::new_cyclic(|me| Chain {
                    me: me.clone(),
                    engine: engine.clone() as Weak<dyn Wake>,
                    outer: Arc::clone(&outer),
                    replenish: Mutex::new(outer.replenish()),
                    arbiter: Arc::clone(&arbiter),
                    f: Arc::clone(&self.f),
                    hops: Drain::new(),
                    parked: Mutex::new(Some(0)),
                    inners: Mutex::new(VecDeque::new()),
                    outer_done: AtomicBool::new(false),
                    failure: Mutex::new(None),
                    failed: AtomicBool::new(false),
                    handover_due: Arc::clone(&handover_due),
                    source: Mutex::new(source),
                    pending: Mutex::new(None),
                });
                made = Some(Arc::clone(&chain));
                Sequence {
                    successor: fused.then(|| Arc::clone(&chain) as Arc<dyn Successor<Q::Item>>),
                    chain,
                    current: None,
                    replenish: Replenish::for_prefetch(UNBOUNDED),
                }
            },
            Relayed::new(subscriber, Arc::clone(&route) as Arc<dyn Subscription>),
            EngineConfig::new().upstream(Arc::clone(outer.upstream())),
        );
        let chain = made.expect("made when the engine started");
        *route.chain.lock() = Some(Arc::downgrade(&chain) as Weak<dyn Handover>);
        if fused {
            drop(engine); // the downstream holds it; nothing upstream does
            match failed {
                Some(error) => chain.fail(error),
                // The first inner starts now, as a subscribed upstream's first element would
                // start it (a fused one is pulled as demand allows).
                None => chain.advance(),
            }
            return;
        }
        // The outer's signals run the hand-over loop; its subscriber keeps the engine alive
        // for as long as the outer may hand over elements.
        let hop = Arc::new(Hop {
            chain,
            _engine: engine,
        });
        self.source.subscribe(InboxSubscriber::new(outer, hop));
    }
}

/// What the outer's side, the inners and the engine share.
struct Chain<X, T, F> {
    me: Weak<Self>,
    /// The engine the downstream holds: woken by the chain's own events (an outer error, the
    /// outer's end); the inners' queues wake it themselves.
    engine: Weak<dyn Wake>,
    /// The outer's elements, `prefetch` ahead.
    outer: Arc<Inbox<X>>,
    /// The outer's replenish counter; only the hand-over loop takes from the outer.
    replenish: Mutex<Replenish>,
    /// The inners' demand: the downstream's requests go to the active inner, and the next one
    /// is asked for what is outstanding.
    arbiter: Arc<Arbiter>,
    f: Arc<F>,
    /// Moves from one inner to the next run as a loop: an event during a pass (an inner that
    /// completes inside its own `subscribe`, the outer's next element) makes one more pass.
    hops: Drain,
    /// `Some(received)` while no inner is active: the elements all inners sent so far, which
    /// the next inner's demand is computed from. `None` while an inner runs.
    parked: Mutex<Option<u64>>,
    /// The inners not yet taken by the engine, in order.
    inners: Mutex<VecDeque<Queued<T>>>,
    /// The outer completed and every inner was started: once the queues are drained, done.
    outer_done: AtomicBool,
    /// The outer's error or a panic of `f`: the stream fails at once.
    failure: Mutex<Option<Error>>,
    /// `failure` was set: read without locking.
    failed: AtomicBool,
    /// A fused inner ended inside the engine's loop and parked the chain; the next inner is
    /// started by whoever drove that loop, outside it (the downstream's request, through
    /// [`Route`], or the hand-over loop that woke the engine). Set by the engine's side when a
    /// fused inner ends; cleared by `Route` before it runs the hand-over, and by the hand-over
    /// loop when it starts an inner (whoever starts it, it is no longer due).
    handover_due: Arc<AtomicBool>,
    /// A synchronous upstream, fused: the next inner is its iterator's next element, mapped
    /// (the `outer` queue is then unused). `None` for a subscribed upstream, and once the
    /// fused one has ended or the stage stopped.
    source: Mutex<Option<SyncIter<X>>>,
    /// The next inner, taken from the fused upstream in the engine's loop but not fusable
    /// itself: started by the hand-over loop, outside that loop, before the upstream is
    /// asked for another.
    pending: Mutex<Option<PendingStart<X, T, F>>>,
}

/// A publisher to subscribe as the next inner, with the count its demand starts from.
type PendingStart<X, T, F> = Box<dyn FnOnce(&Chain<X, T, F>, u64) + Send>;

/// What [`Successor::next_in_place`] found.
enum InPlace<T> {
    /// The next inner is fused: it runs at once, in the engine's loop.
    Next(Queued<T>),
    /// Nothing runs in place: the chain is to be parked for the hand-over loop (which starts
    /// a pending inner first, if one was taken).
    Park,
    /// The upstream ended, or the chain failed: no inner follows.
    Done,
}

/// The chain as the engine's side sees it (without its type parameters): the inner after a
/// fused one that ended, when the upstream is fused.
trait Successor<T>: Send + Sync {
    /// Takes the upstream's next element and maps it: a fused inner is returned to run in
    /// place, with `received` carried over; anything else is left to the hand-over loop.
    fn next_in_place(&self, received: u64) -> InPlace<T>;
}

/// One inner in the queue of inners.
enum Queued<T> {
    /// Subscribed: its elements arrive in this queue (made `on_demand`, its demand through the
    /// arbiter).
    Inbox(Arc<Inbox<T>>),
    /// A synchronous source fused into the stage ([`Publisher::sync_iter`]): not subscribed,
    /// its elements pulled by the engine as the downstream's demand allows. `received` counts
    /// the elements of all inners so far, this one's included, for the next inner's demand;
    /// `ahead` is an element taken early by `poll_end` to learn whether it has ended.
    Fused {
        iter: SyncIter<T>,
        ahead: Option<T>,
        received: u64,
    },
}

impl<T> Queued<T> {
    /// Cancels a subscribed inner and drops what it queued; a fused one is just dropped.
    fn discard(self) {
        if let Queued::Inbox(inbox) = self {
            inbox.discard();
        }
    }
}

/// The route of the downstream's requests beside the engine: the arbiter (the active inner's
/// demand), and then, if a fused inner ended inside the engine's loop, the hand-over to the
/// next inner, here, outside that loop.
struct Route {
    arbiter: Arc<Arbiter>,
    /// The chain's `handover_due`: read first, so that a request pays for the chain only when
    /// a hand-over may be due.
    due: Arc<AtomicBool>,
    /// The chain, once made (weak: the engine holds it).
    chain: Mutex<Option<Weak<dyn Handover>>>,
}

/// The chain's hand-over, as [`Route`] sees it (without the chain's type parameters).
trait Handover: Send + Sync {
    /// Runs the hand-over loop if a fused inner ended and none has run it yet.
    fn handover_if_due(&self);
}

impl Subscription for Route {
    fn request(&self, n: u64) {
        self.arbiter.request(n);
        if !self.due.load(Ordering::Acquire) {
            return;
        }
        let chain = self.chain.lock().as_ref().and_then(Weak::upgrade);
        if let Some(chain) = chain {
            chain.handover_if_due();
        }
    }

    fn cancel(&self) {
        self.arbiter.cancel();
    }
}

impl<X, T, F> Chain<X, T, F> {
    fn wake_engine(&self) {
        if let Some(engine) = self.engine.upgrade() {
            engine.wake();
        }
    }

    fn fail(&self, error: Error) {
        {
            let mut failure = self.failure.lock();
            if failure.is_none() {
                *failure = Some(error);
            }
        }
        self.failed.store(true, Ordering::Release);
        self.wake_engine();
    }

    /// The failure to end with, once (the engine ends the stream with it).
    fn failure(&self) -> Option<Error> {
        if self.failed.load(Ordering::Acquire) {
            self.failure.lock().take()
        } else {
            None
        }
    }

    /// An inner completed having brought the total to `received`: the next may start.
    fn park(&self, received: u64) {
        self.arbiter.clear();
        *self.parked.lock() = Some(received);
    }
}

/// What one pass of the hand-over loop found.
enum Next<X, T, F> {
    /// Nothing to do now.
    Wait,
    /// The outer completed and no inner is active: no inner will start any more.
    Ended,
    /// The outer's next element, and the count the next inner's demand starts from.
    Start(X, u64),
    /// An inner taken in the engine's loop, to be started here.
    Pending(PendingStart<X, T, F>, u64),
    Fail(Error),
}

impl<X, T, F, Q> Handover for Chain<X, T, F>
where
    X: Send + 'static,
    T: Send + 'static,
    F: Fn(X) -> Q + Send + Sync + 'static,
    Q: Publisher<Item = T>,
{
    fn handover_if_due(&self) {
        if self.handover_due.swap(false, Ordering::AcqRel) {
            self.advance();
        }
    }
}

impl<X, T, F, Q> Chain<X, T, F>
where
    X: Send + 'static,
    T: Send + 'static,
    F: Fn(X) -> Q + Send + Sync + 'static,
    Q: Publisher<Item = T>,
{
    /// Runs the hand-over loop here, or has the thread running it make one more pass.
    fn advance(&self) {
        self.hops.run(|| self.step());
    }

    fn step(&self) {
        loop {
            if self.failed.load(Ordering::Acquire) || self.arbiter.is_cancelled() {
                return;
            }
            let next = {
                let mut parked = self.parked.lock();
                let mut replenish = self.replenish.lock();
                match *parked {
                    // An inner is active: only an error of the outer matters now; it goes
                    // downstream at once, without waiting for the inner.
                    None => match self.outer.poll_end(&mut replenish) {
                        Some(Err(error)) => Next::Fail(error),
                        _ => Next::Wait,
                    },
                    Some(received) => {
                        let pending = self.pending.lock().take();
                        let pulled = match pending {
                            Some(start) => Some(Next::Pending(start, received)),
                            None => self.source_next().map(|next| match next {
                                Ok(Some(item)) => Next::Start(item, received),
                                Ok(None) => Next::Ended,
                                Err(error) => Next::Fail(error),
                            }),
                        };
                        match pulled {
                            Some(next) => {
                                if matches!(next, Next::Start(..) | Next::Pending(..)) {
                                    *parked = None;
                                }
                                next
                            }
                            None => match self.outer.pull(&mut replenish) {
                                Pulled::Ready(item) => {
                                    *parked = None;
                                    Next::Start(item, received)
                                }
                                Pulled::Pending => Next::Wait,
                                Pulled::End => Next::Ended,
                                Pulled::Error(error) => Next::Fail(error),
                            },
                        }
                    }
                }
            };
            match next {
                Next::Wait => return,
                Next::Ended => {
                    self.outer_done.store(true, Ordering::Release);
                    return self.wake_engine();
                }
                Next::Fail(error) => return self.fail(error),
                Next::Start(item, received) => {
                    self.handover_due.store(false, Ordering::Release);
                    self.start(item, received)
                }
                Next::Pending(start, received) => {
                    self.handover_due.store(false, Ordering::Release);
                    start(self, received)
                }
            }
        }
    }

    /// The fused upstream's next element: `Ok(None)` once it ended, an error (named after the
    /// stage) when its iterator panicked; in both cases it is dropped, so `None` from then on
    /// (an iterator need not keep returning `None`), as for an upstream that is not fused.
    #[inline(always)]
    fn source_next(&self) -> Option<Result<Option<X>, Error>> {
        let mut source = self.source.lock();
        let iter = source.as_mut()?;
        let next = catch_panic("outer iterator", || iter.next()).map_err(|e| e.in_stage(STAGE));
        if !matches!(next, Ok(Some(_))) {
            *source = None;
        }
        Some(next)
    }

    /// Maps `item` and subscribes its publisher, which will be asked for what the downstream
    /// has requested beyond the `received` elements of the inners before it.
    fn start(&self, item: X, received: u64) {
        let publisher = match catch_panic("closure", || (self.f)(item)) {
            Ok(publisher) => publisher,
            Err(error) => return self.fail(error.in_stage(STAGE)),
        };
        self.start_publisher(publisher, received);
    }

    /// Starts `publisher` as the next inner: fused if it is a synchronous source, else
    /// subscribed.
    fn start_publisher(&self, publisher: Q, received: u64) {
        let Some(engine) = self.engine.upgrade() else {
            return; // the subscription ended
        };
        // A synchronous source is not subscribed: the engine pulls its iterator.
        match catch_panic("inner iterator", || publisher.sync_iter()) {
            Ok(Some(iter)) => {
                self.inners.lock().push_back(Queued::Fused {
                    iter,
                    ahead: None,
                    received,
                });
                return engine.wake();
            }
            Ok(None) => {}
            Err(error) => return self.fail(error.in_stage(STAGE)),
        }
        // Only a subscribed inner holds the chain (a fused one needs no upgrade).
        let Some(me) = self.me.upgrade() else {
            return; // the subscription ended
        };
        let inbox = Arc::new(
            Inbox::new(STAGE, usize::MAX, ErrorMode::Immediate)
                .expect("a capacity of usize::MAX is valid")
                .on_demand(),
        );
        self.inners
            .lock()
            .push_back(Queued::Inbox(Arc::clone(&inbox)));
        publisher.subscribe(Inner {
            queue: InboxSubscriber::new(Arc::clone(&inbox), engine),
            inbox,
            chain: me,
            received,
            subscribed: false,
            done: false,
        });
    }
}

impl<X, T, F, Q> Successor<T> for Chain<X, T, F>
where
    X: Send + 'static,
    T: Send + 'static,
    F: Fn(X) -> Q + Send + Sync + 'static,
    Q: Publisher<Item = T> + Send + 'static,
{
    fn next_in_place(&self, received: u64) -> InPlace<T> {
        if self.failed.load(Ordering::Acquire) || self.arbiter.is_cancelled() {
            return InPlace::Done;
        }
        let item = match self.source_next() {
            Some(Ok(Some(item))) => item,
            Some(Ok(None)) => {
                self.outer_done.store(true, Ordering::Release);
                return InPlace::Done;
            }
            Some(Err(error)) => {
                self.fail(error);
                return InPlace::Done;
            }
            None => return InPlace::Park,
        };
        let publisher = match catch_panic("closure", || (self.f)(item)) {
            Ok(publisher) => publisher,
            Err(error) => {
                self.fail(error.in_stage(STAGE));
                return InPlace::Done;
            }
        };
        match catch_panic("inner iterator", || publisher.sync_iter()) {
            Ok(Some(iter)) => InPlace::Next(Queued::Fused {
                iter,
                ahead: None,
                received,
            }),
            Ok(None) => {
                // Subscribed outside the engine's loop, by the hand-over loop, before the
                // upstream is asked for another element.
                *self.pending.lock() = Some(Box::new(move |chain: &Self, received| {
                    chain.start_publisher(publisher, received)
                }));
                InPlace::Park
            }
            Err(error) => {
                self.fail(error.in_stage(STAGE));
                InPlace::Done
            }
        }
    }
}

/// What the outer's queue wakes: the hand-over loop.
struct Hop<C> {
    chain: Arc<C>,
    /// Held while the outer is subscribed (the chain itself only has a weak reference, as the
    /// engine holds the chain).
    _engine: Arc<dyn Wake>,
}

impl<X, T, F, Q> Wake for Hop<Chain<X, T, F>>
where
    X: Send + 'static,
    T: Send + 'static,
    F: Fn(X) -> Q + Send + Sync + 'static,
    Q: Publisher<Item = T>,
{
    /// The outer signalled.
    fn wake(&self) {
        self.chain.advance();
    }
}

/// The subscriber given to one inner: queues its elements for the engine, counts them, and at
/// its completion hands over to the next.
struct Inner<X, T, F> {
    queue: InboxSubscriber<T, dyn Wake>,
    inbox: Arc<Inbox<T>>,
    chain: Arc<Chain<X, T, F>>,
    /// Elements all inners sent, this one's included.
    received: u64,
    /// `on_subscribe` was received (§2.5: a second one is cancelled).
    subscribed: bool,
    /// A terminal signal arrived: later signals are ignored (§1.7).
    done: bool,
}

impl<X, T, F, Q> Subscriber<T> for Inner<X, T, F>
where
    X: Send + 'static,
    T: Send + 'static,
    F: Fn(X) -> Q + Send + Sync + 'static,
    Q: Publisher<Item = T>,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if std::mem::replace(&mut self.subscribed, true) {
            subscription.cancel(); // §2.5
            return;
        }
        // The queue keeps it to cancel with the stage; it asks for nothing itself.
        self.queue.on_subscribe(Arc::clone(&subscription));
        if self.inbox.upstream().get().is_some() {
            // Exactly what is outstanding: everything requested minus what came before.
            self.chain.arbiter.switch_to(subscription, self.received);
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if !self.done {
            self.received += 1;
            self.queue.on_next(item);
        }
    }

    fn on_error(&mut self, error: Error) {
        if !std::mem::replace(&mut self.done, true) {
            self.queue.on_error(error); // the engine fails the stream with it at once
        }
    }

    fn on_complete(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.queue.on_complete();
        self.chain.park(self.received);
        self.chain.advance();
    }
}

/// The downstream's side: the inners' elements, one inner after another.
struct Sequence<X, T, F> {
    /// The chain, when its upstream is fused: a fused inner that ends is followed in place
    /// (see [`fused_ended`](Self::fused_ended)). `None` for a subscribed upstream.
    successor: Option<Arc<dyn Successor<T>>>,
    chain: Arc<Chain<X, T, F>>,
    /// The inner whose elements go out now.
    current: Option<Queued<T>>,
    /// Never asks anything: the inners' demand goes through the arbiter.
    replenish: Replenish,
}

impl<X, T, F> Sequence<X, T, F> {
    /// Moves on to the next inner's queue if the current one is done; `false` if none is
    /// there.
    fn next_inner(&mut self) -> bool {
        if self.current.is_none() {
            self.current = self.chain.inners.lock().pop_front();
        }
        self.current.is_some()
    }

    /// Whether the outer completed and every inner was drained.
    fn is_complete(&self) -> bool {
        self.chain.outer_done.load(Ordering::Acquire) && self.chain.inners.lock().is_empty()
    }

    /// Ends the stage: the outer and every inner cancelled (those that ended are left alone),
    /// and what they queued dropped.
    fn stop(&mut self) {
        self.chain.arbiter.cancel();
        self.chain.outer.discard();
        *self.chain.source.lock() = None;
        *self.chain.pending.lock() = None;
        if let Some(inner) = self.current.take() {
            inner.discard();
        }
        for inner in self.chain.inners.lock().drain(..) {
            inner.discard();
        }
    }

    /// The current fused inner ended having brought the count to `received`. With a fused
    /// upstream whose next inner is fused too, that inner takes over here, in the engine's
    /// loop: nothing is subscribed, and the demand is the engine's either way. Otherwise the
    /// chain is parked for the next inner, which is started outside the engine's loop (see
    /// `handover_due`).
    fn fused_ended(&mut self, received: u64) {
        self.current = None;
        if let Some(successor) = &self.successor {
            match successor.next_in_place(received) {
                InPlace::Next(inner) => {
                    self.current = Some(inner);
                    return;
                }
                // The upstream's end or the chain's failure: the full path ends the stream.
                InPlace::Done => return,
                InPlace::Park => {}
            }
        }
        self.chain.park(received);
        // Not started from here, inside the engine's loop: a synchronous inner subscribed now
        // would emit into its queue with nobody draining it. Whoever drove this loop starts
        // it once the loop has returned: the downstream's request (through `Route`, after
        // the engine), or the hand-over loop whose `start` woke this engine (it loops on
        // while the chain is parked). A wake from anywhere else comes with no fused inner
        // running (the outer's end, a failure) or ends the stream.
        self.chain.handover_due.store(true, Ordering::Release);
    }

    fn end(&mut self, end: Result<(), Error>) -> Pulled<T> {
        self.stop();
        match end {
            Ok(()) => Pulled::End,
            Err(error) => Pulled::Error(error),
        }
    }
}

impl<X, T, F> Pull for Sequence<X, T, F>
where
    X: Send + 'static,
    T: Send + 'static,
    F: Send + Sync + 'static,
{
    type Item = T;

    fn name(&self) -> &'static str {
        STAGE
    }

    #[inline(always)]
    fn pull(&mut self, demand: u64) -> Pulled<T> {
        // The fast path, inlined into the engine's loop: the current inner is fused and the
        // chain has not failed. Its end, a panic and everything else take the full path.
        if !self.chain.failed.load(Ordering::Acquire) {
            if let Some(Queued::Fused {
                iter,
                ahead: None,
                received,
            }) = &mut self.current
            {
                match catch_panic("inner iterator", || iter.next()) {
                    Ok(Some(item)) => {
                        *received += 1;
                        return Pulled::Ready(item);
                    }
                    // Ended: parked here (the iterator is not asked again: it need not keep
                    // returning `None`); the full path moves on.
                    Ok(None) => {
                        let received = *received;
                        self.fused_ended(received);
                    }
                    Err(error) => return self.end(Err(error.in_stage(STAGE))),
                }
            }
        }
        self.pull_slow(demand)
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        self.poll_end_inner()
    }

    /// The current fused inner's run: its elements in one loop, as far as `max` and `emit`
    /// allow. Its end, a panic, a failure of the chain and a subscribed inner are the full
    /// path's (`None`: [`pull`](Pull::pull) handles them).
    #[inline]
    fn pull_run(&mut self, max: u64, emit: &mut impl FnMut(T) -> bool) -> Option<Pulled<()>> {
        if self.chain.failed.load(Ordering::Acquire) {
            return None;
        }
        let Some(Queued::Fused {
            iter,
            ahead: None,
            received,
        }) = &mut self.current
        else {
            return None;
        };
        let mut count = *received;
        let stop = count.wrapping_add(max);
        let end = loop {
            match catch_panic("inner iterator", || iter.next()) {
                Ok(Some(item)) => {
                    count += 1;
                    if !emit(item) || count == stop {
                        *received = count;
                        return Some(Pulled::Ready(()));
                    }
                }
                Ok(None) => break Ok(()),
                Err(error) => break Err(error.in_stage(STAGE)),
            }
        };
        let produced = count != *received;
        *received = count;
        match end {
            // Ended: parked here (the iterator is not asked again), as on the per-element
            // path; `pull` moves on if nothing was produced.
            Ok(()) => {
                self.fused_ended(count);
                produced.then_some(Pulled::Ready(()))
            }
            Err(error) => {
                self.stop();
                Some(Pulled::Error(error))
            }
        }
    }
}

impl<X, T, F> Sequence<X, T, F>
where
    X: Send + 'static,
    T: Send + 'static,
    F: Send + Sync + 'static,
{
    #[inline(never)]
    fn pull_slow(&mut self, _demand: u64) -> Pulled<T> {
        loop {
            if let Some(error) = self.chain.failure() {
                return self.end(Err(error));
            }
            if !self.next_inner() {
                return if self.is_complete() {
                    self.end(Ok(()))
                } else {
                    Pulled::Pending
                };
            }
            match self.current.as_mut().expect("checked above") {
                Queued::Inbox(inbox) => match inbox.pull(&mut self.replenish) {
                    Pulled::Ready(item) => return Pulled::Ready(item),
                    Pulled::Pending => return Pulled::Pending,
                    Pulled::End => self.current = None, // on to the next inner
                    Pulled::Error(error) => return self.end(Err(error)),
                },
                Queued::Fused {
                    iter,
                    ahead,
                    received,
                } => {
                    if let Some(item) = ahead.take() {
                        *received += 1;
                        return Pulled::Ready(item);
                    }
                    match catch_panic("inner iterator", || iter.next()) {
                        Ok(Some(item)) => {
                            *received += 1;
                            return Pulled::Ready(item);
                        }
                        Ok(None) => {
                            let received = *received;
                            self.fused_ended(received);
                        }
                        Err(error) => return self.end(Err(error.in_stage(STAGE))),
                    }
                }
            }
        }
    }

    fn poll_end_inner(&mut self) -> Option<Result<(), Error>> {
        loop {
            if let Some(error) = self.chain.failure() {
                self.stop();
                return Some(Err(error));
            }
            if !self.next_inner() {
                if self.is_complete() {
                    self.stop();
                    return Some(Ok(()));
                }
                return None;
            }
            match self.current.as_mut().expect("checked above") {
                Queued::Inbox(inbox) => match inbox.poll_end(&mut self.replenish) {
                    Some(Ok(())) => self.current = None,
                    Some(Err(error)) => {
                        self.stop();
                        return Some(Err(error));
                    }
                    None => return None,
                },
                Queued::Fused {
                    iter,
                    ahead,
                    received,
                } => {
                    if ahead.is_some() {
                        return None;
                    }
                    match catch_panic("inner iterator", || iter.next()) {
                        Ok(Some(item)) => {
                            *ahead = Some(item);
                            return None;
                        }
                        Ok(None) => {
                            let received = *received;
                            self.fused_ended(received);
                        }
                        Err(error) => {
                            self.stop();
                            return Some(Err(error.in_stage(STAGE)));
                        }
                    }
                }
            }
        }
    }
}

impl<X, T, F> Drop for Sequence<X, T, F> {
    /// However the subscription ended: the outer and the inners cancelled, queues dropped.
    fn drop(&mut self) {
        self.stop();
    }
}
