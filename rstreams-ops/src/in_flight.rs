//! The machinery of the asynchronous-call stages (`map_async`, `call`): a [`Pull`] that
//! requests upstream only for free slots, starts a call per element, polls the calls from the
//! engine's drain loop, and emits their outputs in order or as they complete.
//!
//! The futures in flight live in a small slab of pinned futures, each with its own waker:
//!
//! - **No task per element.** The futures are polled inside the engine's drain loop, never
//!   spawned: nothing needs an executor, and a future that needs one (a tokio timer, a tokio
//!   channel) works once its waker fires from that runtime.
//! - **Only woken futures are polled.** Each slot has its own waker; waking it queues the slot
//!   (once: a `queued` flag, as `FuturesUnordered` does) and wakes the engine. A pass polls the
//!   queued slots only, so one completion costs O(1), not a sweep over every future in flight.
//! - **No allocation per element.** A slot is a `Pin<Box<Option<Fut>>>` made once and reused:
//!   a new future is written in place ([`Pin::set`]) and dropped in place when it completes.
//!   Slots are made as needed, up to the stage's bound: a capacity is a bound, not an
//!   allocation.

use std::collections::VecDeque;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};

use rstreams_core::support::{
    catch_panic, Engine, EngineConfig, ErrorMode, Inbox, InboxSubscriber, Pull, Pulled, Replenish,
    Wake, UNBOUNDED,
};
use rstreams_core::sync::{AtomicBool, Mutex, Ordering};
use rstreams_core::{Error, Publisher, Subscriber};

// ===== the stage =====

/// What an asynchronous-call stage does with each element: the part that differs between
/// `map_async` (a closure) and `call` (a tower service).
pub(crate) trait Caller<T>: Send + 'static {
    /// The call of one element.
    type Future: Future + Send + 'static;
    /// What the stage keeps with a call until it completes (the element, for a failure route).
    type Tag: Send + 'static;
    /// What goes downstream.
    type Item: Send + 'static;

    /// May one more element be requested? `Ready(Ok)`: yes, and whatever was reserved for it
    /// is held until [`start`](Self::start). `Pending`: not now; `waker` is woken when that
    /// changes (or the stage asks again after its next `start`). `woken`: `waker` fired since
    /// the last call. `Ready(Err)` fails the stream.
    fn poll_room(&mut self, waker: &Waker, woken: bool) -> Poll<Result<(), Error>>;

    /// Starts the call of `item`. An error fails the stream.
    fn start(&mut self, item: T) -> Result<(Self::Future, Self::Tag), Error>;

    /// The call of `tag` completed with `output`: `Ok(Some)` goes downstream, `Ok(None)` was
    /// handed elsewhere (a failure route) and frees its slot, `Err` fails the stream.
    fn finish(
        &mut self,
        tag: Self::Tag,
        output: <Self::Future as Future>::Output,
    ) -> Result<Option<Self::Item>, Error>;
}

/// Subscribes `subscriber` to `source` through an asynchronous-call stage: `caller` starts a
/// call per element, at most `max_in_flight` in flight or waiting to go out.
///
/// `on_demand`: the upstream is asked only as [`Caller::poll_room`] allows, one at a time (a
/// service's readiness); otherwise it is asked for every free slot at once.
pub(crate) fn subscribe<P, C, S>(
    source: &P,
    subscriber: S,
    caller: C,
    stage: &'static str,
    max_in_flight: usize,
    ordered: bool,
    on_demand: bool,
) where
    P: Publisher,
    P::Item: Send + 'static,
    C: Caller<P::Item>,
    S: Subscriber<C::Item> + 'static,
{
    // The inbox only passes elements through (each is started as soon as it is taken), so it
    // never holds more than the slots asked for; its capacity is the §1.1 bound. The stage
    // makes every request itself, the first one included (deferred until the upstream
    // subscribes).
    let capacity = if on_demand { 1 } else { max_in_flight };
    let inbox = Inbox::new(stage, capacity, ErrorMode::Immediate)
        .expect("max_in_flight checked when the stage was built")
        .on_demand();
    let inbox = Arc::new(inbox);
    let engine = Engine::start_cyclic(
        |engine| {
            let engine: Weak<dyn Wake> = engine.clone();
            let room = Arc::new(RoomWaker {
                woken: AtomicBool::new(false),
                engine: engine.clone(),
            });
            Calls {
                stage,
                inbox: Arc::clone(&inbox),
                // Never replenishes: the stage requests for its free slots itself.
                replenish: Replenish::every(UNBOUNDED),
                caller,
                in_flight: InFlight::new(engine),
                outputs: Outputs::new(ordered),
                max: max_in_flight,
                used: 0,
                requested: 0,
                upstream_done: false,
                on_demand,
                room_waker: Waker::from(Arc::clone(&room)),
                room,
            }
        },
        subscriber,
        EngineConfig::new().upstream(Arc::clone(inbox.upstream())),
    );
    source.subscribe(InboxSubscriber::new(inbox, engine));
}

/// The waker of a caller's room (a service's readiness): records the wake-up, wakes the
/// engine.
struct RoomWaker {
    woken: AtomicBool,
    engine: Weak<dyn Wake>,
}

impl std::task::Wake for RoomWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        if let Some(engine) = self.engine.upgrade() {
            engine.wake();
        }
    }
}

/// The [`Pull`] of an asynchronous-call stage.
///
/// Slots: an element holds one from the moment it is requested upstream until its output went
/// downstream (or its failure was routed elsewhere): `requested + used ≤ max`. So the upstream
/// is asked only for free slots, a future is started only in a slot, and the outputs waiting
/// for demand (in order, behind a slow call) are bounded by `max` too.
struct Calls<T, C: Caller<T>> {
    stage: &'static str,
    inbox: Arc<Inbox<T>>,
    replenish: Replenish,
    caller: C,
    in_flight: InFlight<C::Future, (u64, C::Tag)>,
    outputs: Outputs<C::Item>,
    max: usize,
    /// Slots held by elements that arrived: calls in flight and outputs not yet emitted.
    used: usize,
    /// Slots held by elements requested and not yet arrived.
    requested: usize,
    upstream_done: bool,
    on_demand: bool,
    room: Arc<RoomWaker>,
    room_waker: Waker,
}

impl<T: Send + 'static, C: Caller<T>> Calls<T, C> {
    /// Cancels the upstream and fails the stream with `error`, named in this stage.
    fn fail(&self, error: Error) -> Error {
        self.inbox.upstream().cancel();
        error.in_stage(self.stage)
    }

    /// Requests for the free slots, starts the elements that arrived and polls the calls that
    /// were woken, until nothing changes.
    fn work(&mut self) -> Result<(), Error> {
        loop {
            self.request()?;
            let started = self.admit()?;
            let completed = self.poll()?;
            if started == 0 && completed == 0 {
                return Ok(());
            }
        }
    }

    /// Asks the upstream for the free slots the caller has room for.
    fn request(&mut self) -> Result<(), Error> {
        if self.upstream_done {
            return Ok(());
        }
        let mut n = 0usize;
        while self.used + self.requested + n < self.max {
            let woken = self.room.woken.swap(false, Ordering::AcqRel);
            let (caller, waker) = (&mut self.caller, &self.room_waker);
            match catch_panic(self.stage, || caller.poll_room(waker, woken)) {
                Ok(Poll::Ready(Ok(()))) => n += 1,
                Ok(Poll::Ready(Err(error))) | Err(error) => return Err(self.fail(error)),
                Ok(Poll::Pending) => break,
            }
            if self.on_demand {
                break; // one at a time: the caller holds one reservation
            }
        }
        if n > 0 {
            self.requested += n;
            // A synchronous upstream delivers inside this call, into the inbox.
            self.inbox.upstream().request(n as u64);
        }
        Ok(())
    }

    /// Starts a call for each element that arrived.
    fn admit(&mut self) -> Result<usize, Error> {
        let mut started = 0;
        loop {
            match self.inbox.pull(&mut self.replenish) {
                Pulled::Ready(item) => {
                    if self.requested == 0 {
                        return Err(self.fail(Error::protocol(
                            "1.1",
                            format!(
                                "the upstream emitted an element that {} did not request \
                                 (at most {} in flight)",
                                self.stage, self.max
                            ),
                        )));
                    }
                    self.requested -= 1;
                    self.used += 1;
                    let caller = &mut self.caller;
                    let (future, tag) = match catch_panic(self.stage, || caller.start(item)) {
                        Ok(Ok(started)) => started,
                        Ok(Err(error)) | Err(error) => return Err(self.fail(error)),
                    };
                    let seq = self.outputs.admit();
                    self.in_flight.push(future, (seq, tag));
                    started += 1;
                }
                Pulled::Pending => return Ok(started),
                Pulled::End => {
                    self.upstream_done = true;
                    self.requested = 0;
                    return Ok(started);
                }
                // The upstream failed: at once, the calls in flight are dropped.
                Pulled::Error(error) => return Err(error),
            }
        }
    }

    /// Polls the woken calls; hands each output to the caller.
    fn poll(&mut self) -> Result<usize, Error> {
        let Calls {
            stage,
            caller,
            in_flight,
            outputs,
            used,
            ..
        } = self;
        let mut failure = None;
        let polled = in_flight.poll(stage, |(seq, tag), output| {
            if failure.is_some() {
                return;
            }
            match catch_panic(stage, || caller.finish(tag, output)) {
                Ok(Ok(Some(item))) => {
                    outputs.complete(seq, Some(item));
                }
                Ok(Ok(None)) => {
                    if outputs.complete(seq, None) {
                        // Routed elsewhere, and nothing to wait for in order: free at once.
                        *used -= 1;
                    }
                }
                Ok(Err(error)) | Err(error) => failure = Some(error),
            }
        });
        match (polled, failure) {
            (Err(error), _) | (Ok(_), Some(error)) => Err(self.fail(error)),
            (Ok(completed), None) => Ok(completed),
        }
    }

    /// Passes over the calls at the front whose failure was routed elsewhere (in order),
    /// freeing their slots.
    fn skip_routed(&mut self) {
        self.used -= self.outputs.skip_routed();
    }

    fn is_finished(&self) -> bool {
        debug_assert!(self.in_flight.len() <= self.used);
        self.upstream_done && self.used == 0
    }
}

impl<T: Send + 'static, C: Caller<T>> Pull for Calls<T, C> {
    type Item = C::Item;

    fn name(&self) -> &'static str {
        self.stage
    }

    fn pull(&mut self, _demand: u64) -> Pulled<C::Item> {
        loop {
            self.skip_routed();
            if let Some(item) = self.outputs.pop() {
                // Its slot is requested again by the next `work`, after it was delivered.
                self.used -= 1;
                return Pulled::Ready(item);
            }
            if let Err(error) = self.work() {
                return Pulled::Error(error);
            }
            if !self.outputs.ready() {
                break;
            }
        }
        if self.is_finished() {
            Pulled::End
        } else {
            Pulled::Pending
        }
    }

    /// The demand is met: request for the slots the delivered elements freed, and go on
    /// starting and polling calls, so that up to `max_in_flight` run ahead of the demand.
    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        loop {
            self.skip_routed();
            if let Err(error) = self.work() {
                return Some(Err(error));
            }
            if !self.outputs.front_routed() {
                break;
            }
        }
        self.is_finished().then_some(Ok(()))
    }
}

impl<T, C: Caller<T>> Drop for Calls<T, C> {
    /// The subscription ended: the calls in flight are dropped with the stage (a cancel drops
    /// them), the upstream is cancelled and what it sent is dropped.
    fn drop(&mut self) {
        self.inbox.discard();
    }
}

// ===== the outputs, in order or as they complete =====

/// The outputs of the calls, in the order they go out.
///
/// In order: each call takes its place when it starts (`Waiting`), and the front goes out when
/// its call completed. As they complete: an output is queued when its call completes.
struct Outputs<U> {
    ordered: bool,
    /// `None` inside: a call routed elsewhere (no output), whose place is passed over.
    queue: VecDeque<Place<U>>,
    /// The sequence number of `queue[0]` (in order).
    head: u64,
    /// The sequence number of the next call started.
    next: u64,
}

enum Place<U> {
    Waiting,
    Done(Option<U>),
}

impl<U> Outputs<U> {
    fn new(ordered: bool) -> Self {
        Outputs {
            ordered,
            queue: VecDeque::new(),
            head: 0,
            next: 0,
        }
    }

    /// A call starts: its sequence number.
    fn admit(&mut self) -> u64 {
        let seq = self.next;
        self.next += 1;
        if self.ordered {
            self.queue.push_back(Place::Waiting);
        }
        seq
    }

    /// The call `seq` completed with `output` (`None`: routed elsewhere). Returns whether
    /// its slot is free at once (a routed call, as they complete).
    fn complete(&mut self, seq: u64, output: Option<U>) -> bool {
        if self.ordered {
            let place = (seq - self.head) as usize;
            self.queue[place] = Place::Done(output);
            false
        } else {
            match output {
                Some(item) => {
                    self.queue.push_back(Place::Done(Some(item)));
                    false
                }
                None => true,
            }
        }
    }

    /// Whether the front's call completed.
    fn ready(&self) -> bool {
        matches!(self.queue.front(), Some(Place::Done(_)))
    }

    /// Whether the front is a call routed elsewhere.
    fn front_routed(&self) -> bool {
        matches!(self.queue.front(), Some(Place::Done(None)))
    }

    /// Passes over the routed calls at the front; returns how many.
    fn skip_routed(&mut self) -> usize {
        let mut skipped = 0;
        while self.front_routed() {
            self.queue.pop_front();
            self.head += 1;
            skipped += 1;
        }
        skipped
    }

    /// The front output, if its call completed with one.
    fn pop(&mut self) -> Option<U> {
        if !matches!(self.queue.front(), Some(Place::Done(Some(_)))) {
            return None;
        }
        self.head += 1;
        match self.queue.pop_front() {
            Some(Place::Done(Some(item))) => Some(item),
            _ => None,
        }
    }
}

// ===== the futures in flight =====

/// The futures in flight, each with a tag the stage gives it (its place in the output order,
/// the element a failure route needs).
pub(crate) struct InFlight<Fut, Tag> {
    slots: Vec<Slot<Fut, Tag>>,
    /// Slots with no future, to reuse.
    free: Vec<usize>,
    /// Slots whose waker fired; shared with the wakers.
    woken: Arc<Woken>,
    /// The list being polled (swapped with `woken.list` so that neither allocates per pass).
    polling: Vec<usize>,
    /// Futures in flight.
    len: usize,
}

struct Slot<Fut, Tag> {
    future: Pin<Box<Option<Fut>>>,
    tag: Option<Tag>,
    signal: Arc<SlotWaker>,
    waker: Waker,
}

/// What the wakers share: the queue of woken slots, and the engine to wake.
struct Woken {
    list: Mutex<Vec<usize>>,
    engine: Weak<dyn Wake>,
}

/// The waker of one slot.
struct SlotWaker {
    index: usize,
    /// In `woken.list` already: a second wake-up before the poll queues nothing more.
    queued: AtomicBool,
    woken: Arc<Woken>,
}

impl std::task::Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.woken.list.lock().push(self.index);
        }
        // Outside the lock: the engine may run its drain loop right here.
        if let Some(engine) = self.woken.engine.upgrade() {
            engine.wake();
        }
    }
}

impl<Fut: Future, Tag> InFlight<Fut, Tag> {
    /// An empty set whose wakers wake `engine`.
    pub(crate) fn new(engine: Weak<dyn Wake>) -> Self {
        InFlight {
            slots: Vec::new(),
            free: Vec::new(),
            woken: Arc::new(Woken {
                list: Mutex::new(Vec::new()),
                engine,
            }),
            polling: Vec::new(),
            len: 0,
        }
    }

    /// Futures in flight.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Adds `future`, to be polled by the next [`poll`](Self::poll).
    pub(crate) fn push(&mut self, future: Fut, tag: Tag) {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = self.slots.len();
                let signal = Arc::new(SlotWaker {
                    index,
                    queued: AtomicBool::new(false),
                    woken: Arc::clone(&self.woken),
                });
                self.slots.push(Slot {
                    future: Box::pin(None),
                    tag: None,
                    waker: Waker::from(Arc::clone(&signal)),
                    signal,
                });
                index
            }
        };
        let slot = &mut self.slots[index];
        slot.future.set(Some(future));
        slot.tag = Some(tag);
        self.len += 1;
        // Polled first as if woken: a new future has not registered any waker yet.
        slot.signal.wake_queue_only();
    }

    /// Polls the futures whose wakers fired (and the new ones), handing each output to `done`
    /// with its tag. Returns how many completed.
    ///
    /// A panic in a future's `poll` is returned as an error of kind
    /// [`Panic`](rstreams_core::ErrorKind::Panic) naming `what`; the futures left are dropped
    /// with the stage.
    pub(crate) fn poll(
        &mut self,
        what: &str,
        mut done: impl FnMut(Tag, Fut::Output),
    ) -> Result<usize, Error> {
        mem::swap(&mut self.polling, &mut *self.woken.list.lock());
        let mut completed = 0;
        let mut result = Ok(());
        for index in self.polling.drain(..) {
            if result.is_err() {
                continue; // the stage fails: the rest is dropped with it
            }
            let slot = &mut self.slots[index];
            // Cleared before the poll: a wake-up during it queues the slot again.
            slot.signal.queued.store(false, Ordering::Release);
            let Some(future) = slot.future.as_mut().as_pin_mut() else {
                continue; // a late wake-up of a future that completed already
            };
            let mut cx = Context::from_waker(&slot.waker);
            match catch_panic(what, || future.poll(&mut cx)) {
                Ok(Poll::Pending) => {}
                Ok(Poll::Ready(output)) => {
                    slot.future.set(None);
                    let tag = slot.tag.take().expect("a future in flight has its tag");
                    self.free.push(index);
                    self.len -= 1;
                    completed += 1;
                    done(tag, output);
                }
                Err(error) => result = Err(error),
            }
        }
        result.map(|()| completed)
    }
}

impl SlotWaker {
    /// Queues the slot without waking the engine (the caller is the drain loop).
    fn wake_queue_only(&self) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.woken.list.lock().push(self.index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstreams_core::sync::AtomicUsize;

    struct Counter(AtomicUsize);
    impl Wake for Counter {
        fn wake(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A future that is ready once its flag is set, and keeps the last waker it saw.
    #[derive(Clone, Default)]
    struct Gate(Arc<Mutex<(bool, Option<Waker>)>>);
    impl Gate {
        fn open(&self) {
            let waker = {
                let mut state = self.0.lock();
                state.0 = true;
                state.1.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
    impl Future for Gate {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let mut state = self.0.lock();
            if state.0 {
                Poll::Ready(())
            } else {
                state.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    #[test]
    fn only_woken_futures_are_polled_and_slots_are_reused() {
        let engine: Arc<Counter> = Arc::new(Counter(AtomicUsize::new(0)));
        let weak: Weak<dyn Wake> = Arc::downgrade(&engine) as Weak<dyn Wake>;
        let mut set: InFlight<Gate, u32> = InFlight::new(weak);
        let gates: Vec<Gate> = (0..3).map(|_| Gate::default()).collect();
        for (k, gate) in gates.iter().enumerate() {
            set.push(gate.clone(), k as u32);
        }
        let mut out = Vec::new();
        assert_eq!(set.poll("t", |tag, ()| out.push(tag)).unwrap(), 0);
        assert_eq!(set.len(), 3);
        gates[1].open();
        assert_eq!(engine.0.load(Ordering::SeqCst), 1);
        assert_eq!(set.poll("t", |tag, ()| out.push(tag)).unwrap(), 1);
        assert_eq!(out, vec![1]);
        // Nothing woken: nothing polled, nothing completes even though gate 2 would be ready
        // (it was never woken: a future is polled again only after its waker fired).
        *gates[2].0.lock() = (true, None);
        assert_eq!(set.poll("t", |tag, ()| out.push(tag)).unwrap(), 0);
        // The freed slot is reused: no new slot for a fourth future.
        set.push(Gate(Arc::new(Mutex::new((true, None)))), 9);
        assert_eq!(set.slots.len(), 3);
        assert_eq!(set.poll("t", |tag, ()| out.push(tag)).unwrap(), 1);
        assert_eq!(out, vec![1, 9]);
    }
}
