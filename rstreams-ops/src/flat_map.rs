//! `flat_map(f, max_concurrency, prefetch)`: maps each element to a publisher and merges them;
//! the merger behind `merge` and `merge_all` too.

use std::fmt;
use std::sync::{Arc, Weak};

use rstreams_core::support::{
    catch_panic, Engine, EngineConfig, ErrorMode, Inbox, InboxSubscriber, Pull, Pulled, Replenish,
    UpstreamSlot, Wake,
};
use rstreams_core::sync::{AtomicBool, Mutex, Ordering};
use rstreams_core::{Error, Publisher, Subscriber, Subscription, SyncIter};

/// The publisher returned by [`flat_map`](crate::PublisherExt::flat_map).
#[must_use = "publishers do nothing until subscribed"]
pub struct FlatMap<P, F> {
    source: P,
    f: Arc<F>,
    max_concurrency: usize,
    prefetch: usize,
    stage: &'static str,
}

impl<P, F> FlatMap<P, F> {
    pub(crate) fn new(
        source: P,
        f: F,
        max_concurrency: usize,
        prefetch: usize,
        stage: &'static str,
    ) -> Self {
        assert!(
            max_concurrency > 0,
            "{stage}: max_concurrency must be at least 1 (got 0): nothing could ever be subscribed"
        );
        assert!(
            prefetch > 0,
            "{stage}: prefetch must be at least 1 (got 0): an inner that may send nothing never progresses"
        );
        FlatMap {
            source,
            f: Arc::new(f),
            max_concurrency,
            prefetch,
            stage,
        }
    }
}

impl<P: Clone, F> Clone for FlatMap<P, F> {
    fn clone(&self) -> Self {
        FlatMap {
            source: self.source.clone(),
            f: Arc::clone(&self.f),
            max_concurrency: self.max_concurrency,
            prefetch: self.prefetch,
            stage: self.stage,
        }
    }
}

impl<P: fmt::Debug, F> fmt::Debug for FlatMap<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlatMap")
            .field("source", &self.source)
            .field("max_concurrency", &self.max_concurrency)
            .field("prefetch", &self.prefetch)
            .finish_non_exhaustive()
    }
}

impl<P, F, Q> Publisher for FlatMap<P, F>
where
    P: Publisher,
    P::Item: 'static,
    F: Fn(P::Item) -> Q + Send + Sync + 'static,
    Q: Publisher + Send + 'static,
    Q::Item: Send + 'static,
{
    type Item = Q::Item;

    fn subscribe<S: Subscriber<Q::Item> + 'static>(&self, subscriber: S) {
        let shared = Arc::new(Shared::new(self.stage, self.prefetch, Vec::new(), false));
        // A synchronous upstream is fused: the merger pulls its iterator for the next inner
        // whenever a slot is free, instead of subscribing to it and being handed each inner.
        match catch_panic("outer iterator", || self.source.sync_iter()) {
            Ok(Some(iter)) => {
                shared.outer.clear(); // nothing to request from or cancel
                let fused = FusedOuter::new(iter, Arc::clone(&self.f), self.stage);
                start_fused(&shared, subscriber, Some((fused, self.max_concurrency)));
                return;
            }
            Ok(None) => {}
            Err(error) => {
                // As a subscription to a source whose iterator panicked fails.
                shared.outer.clear();
                shared.fail(error.in_stage(self.stage));
                start(&shared, subscriber);
                return;
            }
        }
        let engine = start(&shared, subscriber);
        let outer = Outer {
            shared: Arc::clone(&shared),
            f: Arc::clone(&self.f),
            engine: engine.clone() as Arc<dyn Wake>,
            max_concurrency: self.max_concurrency as u64,
            done: false,
        };
        // The loop is held while the upstream subscribes: inners that a synchronous upstream
        // hands over meanwhile are subscribed together afterwards, each filling its prefetch,
        // so that none is drained to its end before the next is subscribed.
        engine.deferring(|| self.source.subscribe(outer));
    }
}

/// Starts the merger's engine for `downstream`: `on_subscribe`, then the publishers already in
/// `shared` (a `merge_all`'s sources) are subscribed by the first pass, together.
pub(crate) fn start<Q, S>(shared: &Arc<Shared<Q>>, downstream: S) -> Arc<Engine<Merger<Q>, S>>
where
    Q: Publisher + Send + 'static,
    Q::Item: Send + 'static,
    S: Subscriber<Q::Item> + 'static,
{
    start_fused(shared, downstream, None)
}

/// [`start`], with the upstream's iterator fused into the merger (and the most inners it may
/// run at once), or not.
fn start_fused<Q, S>(
    shared: &Arc<Shared<Q>>,
    downstream: S,
    source: Option<(FusedOuter<Q>, usize)>,
) -> Arc<Engine<Merger<Q>, S>>
where
    Q: Publisher + Send + 'static,
    Q::Item: Send + 'static,
    S: Subscriber<Q::Item> + 'static,
{
    Engine::start_cyclic(
        |engine| Merger {
            source,
            shared: Arc::clone(shared),
            engine: engine.clone() as Weak<dyn Wake>,
            inners: Vec::new(),
            failed_fused: Vec::new(),
            spare: Vec::new(),
            cursor: 0,
            turn: turn_len(shared.prefetch),
            stale_sweeps: 0,
        },
        downstream,
        EngineConfig::new().upstream(Arc::clone(&shared.outer)),
    )
}

/// The most elements one inner gives in a row before the next inner's turn.
const MAX_TURN: usize = 64;

/// The length of a fused inner's turn: as many elements as a subscribed inner's queue holds
/// (`prefetch`), and at most [`MAX_TURN`], so that a synchronous inner under a large prefetch
/// does not hold the others (and the checks for failures and arrivals made between turns)
/// back for long. A subscribed inner's turn is one element: its elements go out in the order
/// the inners delivered them, as far as the round allows, and a slow inner's element waits
/// behind at most one of each other subscribed inner.
fn turn_len(prefetch: usize) -> usize {
    prefetch.clamp(1, MAX_TURN)
}

/// What the upstream side (the outer subscriber, or a `merge_all`'s list) and the merger share.
pub(crate) struct Shared<Q> {
    stage: &'static str,
    prefetch: usize,
    /// The outer subscription (`flat_map`); unused and ended for `merge_all`.
    outer: Arc<UpstreamSlot>,
    /// Publishers handed over and not yet subscribed; the merger subscribes them.
    arrived: Mutex<Vec<Q>>,
    /// `arrived` is not empty: read per element instead of locking. Set and cleared under
    /// `arrived`'s lock; while it is set, the merger has been woken for the list and has not
    /// taken it yet, so the outer does not wake it again.
    has_arrived: AtomicBool,
    /// The outer completed: no publisher will arrive any more.
    outer_done: AtomicBool,
    /// The first failure of the outer side (upstream error, panicking mapper): goes
    /// downstream at once.
    error: Mutex<Option<Error>>,
    /// `error` is set: read per element instead of locking.
    failed: AtomicBool,
    /// `merge_delay_error`: the inners' errors, kept until every inner has ended. `None`: an
    /// inner's error ends the stream at once.
    delayed: Option<Mutex<Vec<Error>>>,
}

impl<Q> Shared<Q> {
    pub(crate) fn new(stage: &'static str, prefetch: usize, sources: Vec<Q>, done: bool) -> Self {
        let outer = Arc::new(UpstreamSlot::new());
        if done {
            outer.clear();
        }
        Shared {
            stage,
            prefetch,
            outer,
            has_arrived: AtomicBool::new(!sources.is_empty()),
            arrived: Mutex::new(sources),
            outer_done: AtomicBool::new(done),
            error: Mutex::new(None),
            failed: AtomicBool::new(false),
            delayed: None,
        }
    }

    /// An inner's error no longer ends the stream: the other inners run on, and the errors go
    /// downstream, combined by `combine`, once every inner has ended.
    pub(crate) fn delaying_errors(mut self) -> Self {
        self.delayed = Some(Mutex::new(Vec::new()));
        self
    }

    /// Records the first failure; the merger ends the stream with it at once.
    fn fail(&self, error: Error) {
        self.outer.cancel();
        let mut slot = self.error.lock();
        if slot.is_none() {
            *slot = Some(error);
        }
        self.failed.store(true, Ordering::Release);
    }
}

/// A synchronous upstream of `flat_map`, fused into the merger: its iterator and the mapper,
/// called by the merger for the next inner as a slot frees (the demand a subscribed upstream
/// would have been given: `max_concurrency`, then one per ended inner).
pub(crate) struct FusedOuter<Q> {
    /// The next inner: the upstream's next element mapped; an error when the iterator or the
    /// mapper panicked (named after the stage); `None` once the upstream has ended.
    next: Box<dyn FnMut() -> Option<Result<Q, Error>> + Send>,
}

impl<Q> FusedOuter<Q> {
    fn new<X, F>(mut iter: SyncIter<X>, f: Arc<F>, stage: &'static str) -> Self
    where
        X: 'static,
        F: Fn(X) -> Q + Send + Sync + 'static,
    {
        FusedOuter {
            next: Box::new(
                move || match catch_panic("outer iterator", || iter.next()) {
                    Ok(Some(x)) => {
                        Some(catch_panic("closure", || f(x)).map_err(|e| e.in_stage(stage)))
                    }
                    Ok(None) => None,
                    Err(error) => Some(Err(error.in_stage(stage))),
                },
            ),
        }
    }
}

/// One inner of the merger.
pub(crate) enum Inner<T> {
    /// Subscribed, delivering into its queue; with the queue's replenish counter.
    Queued(Arc<Inbox<T>>, Replenish),
    /// A synchronous source fused into the merger ([`Publisher::sync_iter`]): no subscription
    /// and no queue, its elements are pulled from the iterator as the downstream's demand
    /// allows. `ahead` is an element taken early by `poll_end` to learn whether the iterator
    /// has ended (the look-ahead `from_iter` does too); it goes out first.
    Fused { iter: SyncIter<T>, ahead: Option<T> },
    /// A fused inner that ended (its iterator ran out or panicked): removed by `retire`.
    Ended,
}

impl<T: 'static> Inner<T> {
    /// Takes the next element: for a fused inner, from its look-ahead or its iterator (a
    /// panic there fails the inner, named after the stage).
    #[inline]
    fn pull(&mut self, stage: &'static str) -> Pulled<T> {
        match self {
            Inner::Queued(inbox, replenish) => inbox.pull(replenish),
            Inner::Fused { iter, ahead } => {
                if let Some(item) = ahead.take() {
                    return Pulled::Ready(item);
                }
                match catch_panic("inner iterator", || iter.next()) {
                    Ok(Some(item)) => Pulled::Ready(item),
                    Ok(None) => {
                        *self = Inner::Ended;
                        Pulled::End
                    }
                    Err(error) => {
                        *self = Inner::Ended;
                        Pulled::Error(error.in_stage(stage))
                    }
                }
            }
            Inner::Ended => Pulled::End,
        }
    }

    /// Whether the inner has ended without demand; `Some(Err)` when it failed.
    fn poll_end(&mut self, stage: &'static str) -> Option<Result<(), Error>> {
        match self {
            Inner::Queued(inbox, replenish) => inbox.poll_end(replenish),
            Inner::Fused { iter, ahead } => {
                if ahead.is_some() {
                    return None;
                }
                match catch_panic("inner iterator", || iter.next()) {
                    Ok(Some(item)) => {
                        *ahead = Some(item);
                        None
                    }
                    Ok(None) => {
                        *self = Inner::Ended;
                        Some(Ok(()))
                    }
                    Err(error) => {
                        *self = Inner::Ended;
                        Some(Err(error.in_stage(stage)))
                    }
                }
            }
            Inner::Ended => Some(Ok(())),
        }
    }

    /// Ended and nothing left to deliver: `retire` removes it.
    fn is_drained(&self) -> bool {
        match self {
            Inner::Queued(inbox, _) => inbox.is_drained(),
            Inner::Fused { .. } => false,
            Inner::Ended => true,
        }
    }
}

/// The merger: the [`Pull`] of the engine the downstream holds. It subscribes the publishers
/// that arrived, and serves the inners that have elements in turn: a subscribed inner one
/// element per turn, a fused one up to [`turn_len`] in a row.
pub(crate) struct Merger<Q: Publisher> {
    /// `flat_map` over a synchronous upstream: its fused iterator, and the most inners to run
    /// at once; `None` once it has ended (or failed), and for every other merger (their
    /// inners arrive through `shared.arrived`).
    source: Option<(FusedOuter<Q>, usize)>,
    shared: Arc<Shared<Q>>,
    /// The engine this merger runs in: inners wake it.
    engine: Weak<dyn Wake>,
    /// The live inners.
    inners: Vec<Inner<Q::Item>>,
    /// Errors of fused inners that panicked (in `sync_iter` while being adopted, or in the
    /// iterator on the fast path): reported by the next sweep / `poll_end` as those inners'
    /// errors.
    failed_fused: Vec<Error>,
    /// An empty list with capacity, swapped with `shared.arrived` by `adopt`.
    spare: Vec<Q>,
    /// The inner whose turn it is: where the next element is looked for first.
    cursor: usize,
    /// Elements the inner at `cursor` may still give in its turn, from [`turn_len`]
    /// (≥ 1) down to 1; when it reaches 0 the cursor moves on and it starts again. Kept across
    /// pulls and runs, so that small requests cannot keep one inner's turn going.
    turn: usize,
    /// Sweeps since the last `retire` that passed an ended inner and took an element from
    /// another. Ended inners are retired when a sweep finds nothing else, or once this reaches
    /// the number of inners (about a round): so inners that end together are still replaced
    /// together (one request for all), and an always-ready neighbour cannot hold an ended
    /// inner's slot, and the outer's next inner, back forever.
    stale_sweeps: usize,
}

impl<Q> Merger<Q>
where
    Q: Publisher + Send + 'static,
    Q::Item: Send + 'static,
{
    /// Subscribes the publishers that arrived, and takes the next inners from a fused
    /// upstream while slots are free. Runs inside the drain loop, so an inner that emits
    /// synchronously fills its inbox (at most `prefetch`) and returns.
    #[inline]
    fn adopt(&mut self) {
        if self.shared.has_arrived.load(Ordering::Acquire) {
            self.adopt_arrived();
        }
        if self.has_room() {
            self.adopt_from_source();
        }
    }

    /// A fused upstream has not ended and a slot is free for its next inner.
    #[inline]
    fn has_room(&self) -> bool {
        matches!(&self.source, Some((_, max)) if self.inners.len() < *max)
    }

    /// Whether a sweep that retired inners should look again: publishers arrived, or a fused
    /// upstream can fill the freed slots.
    fn has_arrivals(&self) -> bool {
        self.shared.has_arrived.load(Ordering::Acquire) || self.has_room()
    }

    fn adopt_arrived(&mut self) {
        // Upgraded once, and only for an inner that is subscribed (a fused one needs none).
        let mut engine: Option<Arc<dyn Wake>> = None;
        // The arrived list and `spare` swap places, so neither is reallocated per hand-over.
        let mut batch = std::mem::take(&mut self.spare);
        loop {
            {
                let mut arrived = self.shared.arrived.lock();
                self.shared.has_arrived.store(false, Ordering::Release);
                std::mem::swap(&mut *arrived, &mut batch);
            }
            if batch.is_empty() {
                self.spare = batch;
                return;
            }
            for publisher in batch.drain(..) {
                match self.inner_for(publisher, &mut engine) {
                    Some(inner) => self.inners.push(inner),
                    None => return, // the subscription ended: nothing is subscribed any more
                }
            }
        }
    }

    /// Fills the free slots from the fused upstream.
    #[inline(never)]
    fn adopt_from_source(&mut self) {
        let mut engine: Option<Arc<dyn Wake>> = None;
        while self.has_room() {
            match self.next_inner(&mut engine) {
                Some(inner) => self.inners.push(inner),
                None => return,
            }
        }
    }

    /// Slot `i`'s inner ended inside a run: the fused upstream's next inner takes the slot at
    /// once (no retire, no sweep); without one it stays ended, for the sweep.
    #[inline(never)]
    fn refill(&mut self, i: usize) {
        let mut engine: Option<Arc<dyn Wake>> = None;
        if let Some(inner) = self.next_inner(&mut engine) {
            self.inners[i] = inner;
        }
    }

    /// The fused upstream's next inner; `None` when it has ended (then the outer side is
    /// done), failed (then the stream fails, as when a subscribed upstream errs) or the
    /// subscription ended.
    fn next_inner(&mut self, engine: &mut Option<Arc<dyn Wake>>) -> Option<Inner<Q::Item>> {
        let (fused, _) = self.source.as_mut()?;
        match (fused.next)() {
            Some(Ok(publisher)) => self.inner_for(publisher, engine),
            Some(Err(error)) => {
                self.source = None;
                self.shared.fail(error);
                None
            }
            None => {
                self.source = None;
                self.shared.outer_done.store(true, Ordering::Release);
                None
            }
        }
    }

    /// The inner for `publisher`: a synchronous source is fused (its iterator is pulled
    /// directly, no subscription); any other is subscribed into an inbox of its own. `None`
    /// when the subscription ended (nothing is subscribed any more).
    fn inner_for(
        &mut self,
        publisher: Q,
        engine: &mut Option<Arc<dyn Wake>>,
    ) -> Option<Inner<Q::Item>> {
        match catch_panic("inner iterator", || publisher.sync_iter()) {
            Ok(Some(iter)) => return Some(Inner::Fused { iter, ahead: None }),
            Ok(None) => {}
            Err(error) => {
                // Failed as the subscription of a source whose iterator panicked does.
                self.failed_fused.push(error.in_stage(self.shared.stage));
                return Some(Inner::Ended);
            }
        }
        // A delayed error comes after the inner's queued elements; otherwise at once.
        let errors = match self.shared.delayed {
            Some(_) => ErrorMode::AfterQueued,
            None => ErrorMode::Immediate,
        };
        let inbox = Arc::new(
            Inbox::new(self.shared.stage, self.shared.prefetch, errors)
                .expect("prefetch checked at construction"),
        );
        if engine.is_none() {
            *engine = self.engine.upgrade();
        }
        let engine = engine.as_ref()?;
        let replenish = inbox.replenish();
        publisher.subscribe(InboxSubscriber::new(Arc::clone(&inbox), Arc::clone(engine)));
        Some(Inner::Queued(inbox, replenish))
    }

    /// Removes the inners that ended and were drained; asks the outer for as many new ones.
    fn retire(&mut self) {
        let before = self.inners.len();
        self.inners.retain(|inner| !inner.is_drained());
        let finished = (before - self.inners.len()) as u64;
        if finished > 0 {
            self.cursor = 0;
            self.turn = turn_len(self.shared.prefetch);
            self.stale_sweeps = 0;
            // A fused upstream needs no request: `adopt` takes as many as slots are free.
            if self.source.is_none() && !self.shared.outer_done.load(Ordering::Acquire) {
                self.shared.outer.request(finished);
            }
        }
    }

    /// The first error of a fused inner that panicked, as an inner's error (at once, or kept
    /// when errors are delayed).
    #[inline]
    fn fused_failure(&mut self) -> Option<Error> {
        if self.failed_fused.is_empty() {
            return None;
        }
        self.fused_failure_slow()
    }

    #[cold]
    fn fused_failure_slow(&mut self) -> Option<Error> {
        let mut first = None;
        for error in std::mem::take(&mut self.failed_fused) {
            if let Some(error) = self.inner_failed(error) {
                first.get_or_insert(error);
            }
        }
        first
    }

    fn failure(&self) -> Option<Error> {
        if self.shared.failed.load(Ordering::Acquire) {
            self.shared.error.lock().take()
        } else {
            None
        }
    }

    /// An inner failed: the error to end the stream with now, or `None` when errors are
    /// delayed (it is kept; the inner counts as ended).
    fn inner_failed(&self, error: Error) -> Option<Error> {
        match &self.shared.delayed {
            Some(delayed) => {
                delayed.lock().push(error);
                None
            }
            None => {
                // The engine releases the outer without cancelling it as the stream ends.
                self.shared.outer.cancel();
                Some(error)
            }
        }
    }

    /// The end of a stream whose every inner has ended: the delayed errors, if any.
    fn completion(&self) -> Result<(), Error> {
        match &self.shared.delayed {
            Some(delayed) => {
                let errors = std::mem::take(&mut *delayed.lock());
                if errors.is_empty() {
                    Ok(())
                } else {
                    Err(crate::merge_delay_error::combine(errors))
                }
            }
            None => Ok(()),
        }
    }

    /// Whether every publisher was subscribed, ran to its end and was drained.
    fn is_complete(&self) -> bool {
        self.shared.outer_done.load(Ordering::Acquire)
            && self.inners.is_empty()
            && !self.shared.has_arrived.load(Ordering::Acquire)
    }
}

impl<Q> Pull for Merger<Q>
where
    Q: Publisher + Send + 'static,
    Q::Item: Send + 'static,
{
    type Item = Q::Item;

    fn name(&self) -> &'static str {
        self.shared.stage
    }

    #[inline(always)]
    fn pull(&mut self, demand: u64) -> Pulled<Q::Item> {
        // The fast path, inlined into the engine's loop: the inner at the cursor is fused and
        // nothing else needs attention (no failure, nothing arrived). Anything else, including
        // that inner ending, goes through the full sweep.
        if let Some(item) = self.pull_fused() {
            return Pulled::Ready(item);
        }
        self.pull_sweep(demand)
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        self.poll_end_inner()
    }

    /// The fused inners' run: from the cursor, each fused inner with nothing taken ahead for
    /// the rest of its turn, then the next. Stops at anything else (an inner that is
    /// subscribed or ended, a panicking iterator), which [`pull`](Pull::pull) then handles;
    /// `None` when the run could not produce its first element. A failure or an arrival of
    /// the outer side is checked before the run and once per round: an inner that arrives
    /// mid-round is adopted at the end of the list either way, so it gets its turn in the same
    /// order.
    #[inline]
    fn pull_run(&mut self, max: u64, emit: &mut impl FnMut(Q::Item) -> bool) -> Option<Pulled<()>> {
        if self.needs_sweep() {
            return None;
        }
        let stage = self.shared.stage;
        let full = turn_len(self.shared.prefetch);
        let n = self.inners.len();
        let mut cursor = self.cursor;
        let mut turn = self.turn;
        let mut left = max;
        'run: while let Some(Inner::Fused { iter, ahead: None }) = self.inners.get_mut(cursor) {
            // The rest of this inner's turn, within the run's budget, in one internal run.
            let budget = left.min(turn as u64);
            let more;
            match catch_panic("inner iterator", || iter.run(budget, &mut *emit)) {
                Ok(ran) => {
                    left -= ran.passed;
                    more = !ran.refused;
                    // `passed` ≤ `turn`, a `usize`.
                    turn -= ran.passed as usize;
                    if ran.ended {
                        // Marked here (an iterator need not keep returning `None`); the turn
                        // passes on. A fused upstream's next inner takes the slot at once;
                        // otherwise the sweep retires it when the run next meets it.
                        self.inners[cursor] = Inner::Ended;
                        if self.source.is_some() {
                            self.refill(cursor);
                        }
                        turn = 0;
                    }
                }
                Err(error) => {
                    // Failed: handled by the sweep, as on the per-element path.
                    self.failed_fused.push(error.in_stage(stage));
                    self.inners[cursor] = Inner::Ended;
                    break 'run;
                }
            }
            if turn == 0 {
                turn = full;
                cursor += 1;
                if cursor == n {
                    cursor = 0;
                    if more && left != 0 && self.needs_sweep() {
                        break 'run;
                    }
                }
            }
            if !more || left == 0 {
                break 'run;
            }
        }
        self.cursor = cursor;
        self.turn = turn;
        (left != max).then_some(Pulled::Ready(()))
    }
}

impl<Q> Merger<Q>
where
    Q: Publisher + Send + 'static,
    Q::Item: Send + 'static,
{
    /// Something other than the fused inners needs attention: a failure, an arrival, a fused
    /// inner's panic.
    #[inline(always)]
    fn needs_sweep(&self) -> bool {
        self.shared.failed.load(Ordering::Acquire)
            || self.shared.has_arrived.load(Ordering::Acquire)
            || !self.failed_fused.is_empty()
    }

    /// The next element of the fused inner at the cursor, when nothing else needs attention;
    /// `None` sends the caller to [`pull_sweep`](Self::pull_sweep). Keeps the turns: the
    /// cursor moves on when the inner's turn is used up.
    #[inline(always)]
    fn pull_fused(&mut self) -> Option<Q::Item> {
        if self.needs_sweep() {
            return None;
        }
        let n = self.inners.len();
        let Some(Inner::Fused { iter, ahead: None }) = self.inners.get_mut(self.cursor) else {
            return None;
        };
        let item = match catch_panic("inner iterator", || iter.next()) {
            Ok(Some(item)) => item,
            // Ended or failed: marked here (an iterator need not keep returning `None`), and
            // handled by the sweep: it retires the inner, or reports the panic as its error.
            Ok(None) => {
                self.inners[self.cursor] = Inner::Ended;
                return None;
            }
            Err(error) => {
                self.failed_fused.push(error.in_stage(self.shared.stage));
                self.inners[self.cursor] = Inner::Ended;
                return None;
            }
        };
        self.gave(self.cursor, n);
        Some(item)
    }

    /// Inner `i` (of `n`) gave an element: a fused inner's turn goes on (a new turn if the
    /// cursor was elsewhere), or, used up, passes to the next inner; a subscribed inner's
    /// turn is one element.
    #[inline(always)]
    fn gave(&mut self, i: usize, n: usize) {
        if i != self.cursor {
            self.cursor = i;
            self.turn = turn_len(self.shared.prefetch);
        }
        self.turn -= 1;
        if self.turn == 0 || matches!(self.inners[i], Inner::Queued(..)) {
            self.turn = turn_len(self.shared.prefetch);
            self.cursor = if i + 1 == n { 0 } else { i + 1 };
        }
    }

    #[inline(never)]
    fn pull_sweep(&mut self, _demand: u64) -> Pulled<Q::Item> {
        loop {
            if let Some(error) = self.failure() {
                return Pulled::Error(error);
            }
            self.adopt();
            if let Some(error) = self.fused_failure() {
                return Pulled::Error(error);
            }
            let n = self.inners.len();
            let stage = self.shared.stage;
            let start = self.cursor;
            let mut ended = false;
            for k in 0..n {
                let mut i = start + k;
                if i >= n {
                    i -= n;
                }
                match self.inners[i].pull(stage) {
                    Pulled::Ready(item) => {
                        self.gave(i, n);
                        if ended {
                            self.stale_sweeps += 1;
                            if self.stale_sweeps >= n {
                                self.retire();
                            }
                        }
                        return Pulled::Ready(item);
                    }
                    Pulled::Pending => {}
                    Pulled::End => ended = true,
                    Pulled::Error(error) => match self.inner_failed(error) {
                        Some(error) => return Pulled::Error(error),
                        None => ended = true,
                    },
                }
            }
            if !ended {
                break;
            }
            // Inners ended: the outer may hand over their successors at once (a synchronous
            // outer does so inside the request `retire` makes).
            self.retire();
            if !self.has_arrivals() {
                break;
            }
        }
        if self.is_complete() {
            match self.completion() {
                Ok(()) => Pulled::End,
                Err(error) => Pulled::Error(error),
            }
        } else {
            Pulled::Pending
        }
    }

    fn poll_end_inner(&mut self) -> Option<Result<(), Error>> {
        loop {
            if let Some(error) = self.failure() {
                return Some(Err(error));
            }
            self.adopt();
            if let Some(error) = self.fused_failure() {
                return Some(Err(error));
            }
            let stage = self.shared.stage;
            let mut failed = Vec::new();
            for inner in &mut self.inners {
                if let Some(Err(error)) = inner.poll_end(stage) {
                    failed.push(error);
                }
            }
            for error in failed {
                if let Some(error) = self.inner_failed(error) {
                    return Some(Err(error));
                }
            }
            self.retire();
            // A fused upstream fills the slots that freed (or is found ended): look again.
            if !self.has_room() {
                break;
            }
        }
        self.is_complete().then(|| self.completion())
    }
}

impl<Q: Publisher> Drop for Merger<Q> {
    /// The subscription ended: every inner is cancelled and its queue dropped.
    fn drop(&mut self) {
        self.shared.outer.cancel();
        for inner in &self.inners {
            if let Inner::Queued(inbox, _) = inner {
                inbox.discard();
            }
        }
    }
}

/// The subscriber given to the outer publisher: maps each element to a publisher and hands it
/// to the merger.
struct Outer<Q, F> {
    shared: Arc<Shared<Q>>,
    f: Arc<F>,
    /// The merger's engine, woken for every signal.
    engine: Arc<dyn Wake>,
    max_concurrency: u64,
    /// The outer ended (or the mapper failed): later signals are ignored (§1.7).
    done: bool,
}

impl<X, Q, F> Subscriber<X> for Outer<Q, F>
where
    Q: Publisher + Send + 'static,
    Q::Item: Send + 'static,
    F: Fn(X) -> Q + Send + Sync + 'static,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if self.shared.outer.set(subscription) {
            self.shared.outer.request(self.max_concurrency);
        }
    }

    fn on_next(&mut self, item: X) {
        if self.done {
            return;
        }
        match catch_panic("closure", || (self.f)(item)) {
            Ok(publisher) => {
                let woken = {
                    let mut arrived = self.shared.arrived.lock();
                    arrived.push(publisher);
                    // Set under the lock, as `adopt` clears it under the lock: if it was set,
                    // no adopt has taken the list since an earlier element set it, and that
                    // element's wake (made before this call, §1.3) is still to be served by a
                    // pass, which adopts this publisher too. Only the first of a batch wakes.
                    // Every write of the flag is made under the lock, so a load and a store
                    // do here what a swap would (and cost no read-modify-write).
                    let woken = self.shared.has_arrived.load(Ordering::Relaxed);
                    if !woken {
                        self.shared.has_arrived.store(true, Ordering::Release);
                    }
                    woken
                };
                if woken {
                    return;
                }
            }
            Err(error) => {
                self.done = true;
                self.shared.fail(error.in_stage(self.shared.stage));
            }
        }
        self.engine.wake();
    }

    fn on_error(&mut self, error: Error) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.shared.outer.clear();
        self.shared.fail(error);
        self.engine.wake();
    }

    fn on_complete(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.shared.outer.clear();
        self.shared.outer_done.store(true, Ordering::Release);
        self.engine.wake();
    }
}
