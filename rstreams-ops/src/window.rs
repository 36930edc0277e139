//! `window(size)`: splits the stream into windows of `size` elements, each a publisher of its
//! own ([`Pane`]) with its own demand; and the stage behind `window_timeout(size, timeout)`.
//!
//! One lock guards the whole stage: the outer stream (an [`Engine`] around a [`WindowsPull`]
//! that emits panes), the panes (each an engine around a [`PanePull`] once subscribed), and the
//! elements on their way. Upstream demand follows the open window's subscriber:
//!
//! - the outer stream, with demand for a window and none open, asks upstream for the element
//!   that opens the next one (or opens it with elements already on their way);
//! - the open window's subscriber, with demand, asks for up to what it demanded, what the window
//!   still lacks and [`AHEAD`] at a time;
//! - a window whose subscriber is gone (cancelled, or dropped without subscribing) has the rest
//!   of its elements requested and dropped, so that the windows after it keep their bounds.
//!
//! So a window holds at most what its subscriber demanded plus the elements it opened with, and
//! the elements between windows (still on their way when a timeout closed one) are at most
//! [`AHEAD`].

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use rstreams_core::scheduler::Worker;
use rstreams_core::support::{
    Dropped, Engine, EngineConfig, Pull, Pulled, TimerSlot, UpstreamSlot, Wake,
};
use rstreams_core::sync::Mutex;
use rstreams_core::{Error, NoopSubscription, Publisher, Subscriber, Subscription};

/// How many elements a window asks upstream for at most at a time.
pub(crate) const AHEAD: u64 = 256;

/// The publisher returned by [`window`](crate::PublisherExt::window).
#[must_use = "publishers do nothing until subscribed"]
pub struct Window<P> {
    source: P,
    size: u64,
    dropped: Dropped,
}

impl<P> Window<P> {
    pub(crate) fn new(source: P, size: usize) -> Self {
        assert!(
            size > 0,
            "window: size must be at least 1 (got 0; valid range 1..=usize::MAX): a window that holds nothing never ends"
        );
        Window {
            source,
            size: size as u64,
            dropped: Dropped::new(),
        }
    }

    /// The count of elements no subscriber took: those of a window dropped without being
    /// subscribed, and those that arrived for a window after its subscriber cancelled, over
    /// all subscriptions of this publisher and its clones. (Elements queued in a window when
    /// its subscriber cancels are discarded with the subscription, not counted.)
    pub fn dropped(&self) -> Dropped {
        self.dropped.clone()
    }
}

impl<P: Clone> Clone for Window<P> {
    /// A clone shares the [`Dropped`] count.
    fn clone(&self) -> Self {
        Window {
            source: self.source.clone(),
            size: self.size,
            dropped: self.dropped.clone(),
        }
    }
}

impl<P: fmt::Debug> fmt::Debug for Window<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Window")
            .field("source", &self.source)
            .field("size", &self.size)
            .field("dropped", &self.dropped.count())
            .finish()
    }
}

impl<P> Publisher for Window<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = Pane<P::Item>;

    fn subscribe<S: Subscriber<Pane<P::Item>> + 'static>(&self, subscriber: S) {
        subscribe(
            &self.source,
            subscriber,
            Setup {
                name: "window",
                size: self.size,
                timeout: None,
                dropped: self.dropped.clone(),
            },
        );
    }
}

/// What a windowing stage is.
pub(crate) struct Setup {
    pub(crate) name: &'static str,
    pub(crate) size: u64,
    /// `window_timeout`: how long a window stays open, and where its timer runs.
    pub(crate) timeout: Option<(Duration, Arc<dyn Worker>)>,
    pub(crate) dropped: Dropped,
}

/// Subscribes `subscriber` to the windows of `source`.
pub(crate) fn subscribe<P, S>(source: &P, subscriber: S, setup: Setup)
where
    P: Publisher,
    P::Item: Send + 'static,
    S: Subscriber<Pane<P::Item>> + 'static,
{
    let core = Arc::new(Core {
        name: setup.name,
        size: setup.size,
        timeout: setup.timeout,
        dropped: setup.dropped,
        upstream: Arc::new(UpstreamSlot::new()),
        timer: TimerSlot::new(),
        state: Mutex::new(State {
            panes: HashMap::new(),
            current: None,
            next_id: 0,
            between: VecDeque::new(),
            outstanding: 0,
            end: None,
            outer: None,
            outer_gone: false,
        }),
    });
    let engine = Engine::start_cyclic(
        |engine| {
            core.state.lock().outer = Some(engine.clone() as Weak<dyn Wake>);
            WindowsPull {
                core: Arc::clone(&core),
            }
        },
        subscriber,
        EngineConfig::new(),
    );
    // The upstream's subscriber keeps the outer stream alive while the upstream is.
    source.subscribe(Inlet {
        core,
        _outer: engine,
    });
}

/// The stage, shared by the outer stream, the panes and the upstream's subscriber.
pub(crate) struct Core<T> {
    name: &'static str,
    size: u64,
    timeout: Option<(Duration, Arc<dyn Worker>)>,
    dropped: Dropped,
    upstream: Arc<UpstreamSlot>,
    /// The open window's timer (`window_timeout`).
    timer: TimerSlot,
    state: Mutex<State<T>>,
}

struct State<T> {
    /// The windows emitted and not finished: by id.
    panes: HashMap<u64, PaneState<T>>,
    /// The open window: the one the next element goes to.
    current: Option<u64>,
    next_id: u64,
    /// Elements that arrived with no window open: the next window opens with them.
    between: VecDeque<T>,
    /// Requested upstream and not received.
    outstanding: u64,
    /// How the upstream ended; an error goes to the outer stream and every window at once.
    end: Option<Result<(), Error>>,
    /// The outer stream's engine.
    outer: Option<Weak<dyn Wake>>,
    /// The outer subscription ended (cancelled): no window opens any more.
    outer_gone: bool,
}

struct PaneState<T> {
    /// Elements for its subscriber, not yet taken.
    queue: VecDeque<T>,
    /// Elements that went to this window, in all.
    count: u64,
    /// No element goes to it any more (full, timed out, or the upstream ended).
    closed: bool,
    /// The upstream failed: delivered at once.
    error: Option<Error>,
    subscriber: Sub,
}

/// Where a window's subscriber stands.
enum Sub {
    /// Not subscribed yet: the window holds what it opened with.
    Waiting,
    /// Subscribed: its engine, to wake; and, until the upstream ends, the engine kept alive
    /// for the elements still to come (as a stage's upstream subscriber keeps its engine).
    Live {
        engine: Option<Weak<dyn Wake>>,
        keep: Option<Arc<dyn Wake>>,
    },
    /// Cancelled, finished, or the window was dropped without a subscriber.
    Gone,
}

/// Wake-ups to make after the lock is released.
#[derive(Default)]
struct Wakes {
    engines: Vec<Weak<dyn Wake>>,
    /// Engines no longer kept alive by the stage: released after the lock, after the wakes.
    released: Vec<Arc<dyn Wake>>,
}

impl Wakes {
    fn keep(&mut self, engine: Option<Arc<dyn Wake>>) {
        self.released.extend(engine);
    }

    fn add(&mut self, engine: Option<&Weak<dyn Wake>>) {
        if let Some(engine) = engine {
            self.engines.push(engine.clone());
        }
    }

    fn run(self) {
        for engine in self.engines {
            if let Some(engine) = engine.upgrade() {
                engine.wake();
            }
        }
        drop(self.released);
    }
}

impl<T> PaneState<T> {
    fn engine(&self) -> Option<&Weak<dyn Wake>> {
        match &self.subscriber {
            Sub::Live { engine, .. } => engine.as_ref(),
            _ => None,
        }
    }

    fn is_gone(&self) -> bool {
        matches!(self.subscriber, Sub::Gone)
    }
}

impl<T> State<T> {
    /// Whether nothing downstream needs the upstream any more: the outer stream is gone and
    /// the open window (if any) has no subscriber that could still take elements.
    fn unwanted(&self) -> bool {
        self.outer_gone
            && self.current.is_none_or(|id| {
                self.panes
                    .get(&id)
                    .is_none_or(|pane| pane.is_gone() || pane.closed)
            })
    }
}

impl<T: Send + 'static> Core<T> {
    /// Closes the open window (full, timed out, upstream ended): it completes once its
    /// subscriber took what it holds.
    fn close_current(&self, state: &mut State<T>, wakes: &mut Wakes) {
        if let Some(id) = state.current.take() {
            if let Some(pane) = state.panes.get_mut(&id) {
                pane.closed = true;
                wakes.add(pane.engine());
                if let Sub::Live { keep, .. } = &mut pane.subscriber {
                    // Nothing more comes from upstream for it: its own demand finishes it.
                    wakes.keep(keep.take());
                }
                if pane.is_gone() {
                    state.panes.remove(&id);
                }
            }
            self.timer.cancel();
            // With the outer stream gone, no window opens after this one.
            self.cancel_if_unwanted(state);
        }
    }

    /// Cancels the upstream when nothing needs it; returns whether it did.
    fn cancel_if_unwanted(&self, state: &mut State<T>) -> bool {
        if state.end.is_none() && state.unwanted() {
            state.end = Some(Ok(()));
            let between = std::mem::take(&mut state.between);
            for _ in &between {
                self.dropped.record();
            }
            self.upstream.cancel();
            self.timer.cancel();
            return true;
        }
        false
    }

    /// Starts the timer of window `id` (`window_timeout`).
    fn arm(self: &Arc<Self>, id: u64) {
        let Some((timeout, worker)) = &self.timeout else {
            return;
        };
        let core: Weak<Self> = Arc::downgrade(self);
        self.timer.arm(worker, *timeout, move |generation| {
            let Some(core) = core.upgrade() else {
                return;
            };
            let mut wakes = Wakes::default();
            {
                let mut state = core.state.lock();
                if !core.timer.fire(generation) || state.current != Some(id) {
                    return;
                }
                core.close_current(&mut state, &mut wakes);
                wakes.add(state.outer.as_ref());
            }
            wakes.run();
        });
    }
}

/// The outer stream: emits the windows.
struct WindowsPull<T: Send + 'static> {
    core: Arc<Core<T>>,
}

impl<T: Send + 'static> Pull for WindowsPull<T> {
    type Item = Pane<T>;

    fn name(&self) -> &'static str {
        self.core.name
    }

    fn pull(&mut self, _demand: u64) -> Pulled<Pane<T>> {
        let core = &self.core;
        loop {
            let mut state = core.state.lock();
            if let Some(Err(error)) = &state.end {
                return Pulled::Error(error.clone());
            }
            if let Some(id) = state.current {
                // A window is open: its subscriber drives the upstream; one whose subscriber is
                // gone has the rest of its elements skipped, so that the next can open.
                let pane = state.panes.get(&id);
                let skip = pane.is_none_or(|pane| pane.is_gone());
                if !skip || state.end.is_some() {
                    return Pulled::Pending;
                }
                let count = pane.map_or(0, |pane| pane.count);
                let want = (core.size - count)
                    .min(AHEAD)
                    .saturating_sub(state.outstanding);
                if want == 0 {
                    return Pulled::Pending;
                }
                state.outstanding += want;
                drop(state);
                core.upstream.request(want);
                continue;
            }
            if !state.between.is_empty() {
                // Open a window with what arrived meanwhile.
                let id = state.next_id;
                state.next_id += 1;
                let take = (state.between.len() as u64).min(core.size) as usize;
                let queue: VecDeque<T> = state.between.drain(..take).collect();
                let full = take as u64 == core.size;
                // The last window of a completed upstream, or a full one, is closed at once.
                let closed = full || (state.end.is_some() && state.between.is_empty());
                state.panes.insert(
                    id,
                    PaneState {
                        queue,
                        count: take as u64,
                        closed,
                        error: None,
                        subscriber: Sub::Waiting,
                    },
                );
                if !closed {
                    state.current = Some(id);
                }
                drop(state);
                if !closed {
                    core.arm(id);
                }
                return Pulled::Ready(Pane {
                    core: Arc::clone(core),
                    id,
                    guard: Arc::new(Guard {
                        core: Arc::clone(core) as Arc<dyn Abandon>,
                        id,
                    }),
                });
            }
            if state.end.is_some() {
                return Pulled::End;
            }
            if state.outstanding > 0 {
                return Pulled::Pending; // the element that opens the next window is on its way
            }
            state.outstanding = 1;
            drop(state);
            core.upstream.request(1);
        }
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        let state = self.core.state.lock();
        match &state.end {
            Some(Err(error)) => Some(Err(error.clone())),
            Some(Ok(())) if state.current.is_none() && state.between.is_empty() => Some(Ok(())),
            _ => None,
        }
    }
}

impl<T: Send + 'static> Drop for WindowsPull<T> {
    /// The outer subscription ended: no window opens any more; the upstream is cancelled
    /// unless the open window's subscriber still takes elements.
    fn drop(&mut self) {
        let mut state = self.core.state.lock();
        state.outer_gone = true;
        state.outer = None;
        self.core.cancel_if_unwanted(&mut state);
    }
}

/// What a pane's last handle tells the stage when dropped.
trait Abandon: Send + Sync {
    fn abandon(&self, id: u64);
}

impl<T: Send + 'static> Abandon for Core<T> {
    /// The window was dropped without a subscriber: what it holds and what still comes for it
    /// is dropped (counted).
    fn abandon(&self, id: u64) {
        let mut wakes = Wakes::default();
        let held = {
            let mut state = self.state.lock();
            let Some(pane) = state.panes.get_mut(&id) else {
                return;
            };
            if !matches!(pane.subscriber, Sub::Waiting) {
                return;
            }
            pane.subscriber = Sub::Gone;
            let held = std::mem::take(&mut pane.queue);
            for _ in &held {
                self.dropped.record();
            }
            if pane.closed {
                state.panes.remove(&id);
            }
            if !self.cancel_if_unwanted(&mut state) && state.current == Some(id) {
                wakes.add(state.outer.as_ref()); // to skip the rest of it
            }
            held
        };
        drop(held);
        wakes.run();
    }
}

/// Tells the stage when the last handle on a window goes.
struct Guard {
    core: Arc<dyn Abandon>,
    id: u64,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.core.abandon(self.id);
    }
}

/// One window of [`window`](crate::PublisherExt::window) or
/// [`window_timeout`](crate::PublisherExt::window_timeout): a publisher of its elements, with
/// its own demand.
///
/// It takes one subscriber: a second is rejected (`on_subscribe`, then `on_error` naming
/// §1.9). Until it is subscribed it holds the elements it opened with and asks for nothing
/// more, so a window that is kept but not subscribed holds the stream back (as a subscriber
/// that does not request would); a window whose every handle is dropped without a subscriber
/// is skipped: its elements are dropped and counted in the stage's `dropped()`.
pub struct Pane<T> {
    core: Arc<Core<T>>,
    id: u64,
    guard: Arc<Guard>,
}

impl<T> Clone for Pane<T> {
    /// A clone is a handle on the same window.
    fn clone(&self) -> Self {
        Pane {
            core: Arc::clone(&self.core),
            id: self.id,
            guard: Arc::clone(&self.guard),
        }
    }
}

impl<T> fmt::Debug for Pane<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pane")
            .field("stage", &self.core.name)
            .field("index", &self.id)
            .finish()
    }
}

impl<T> Pane<T> {
    /// The window's number in its stream: 0 for the first.
    pub fn index(&self) -> u64 {
        self.id
    }
}

impl<T: Send + 'static> Publisher for Pane<T> {
    type Item = T;

    fn subscribe<S: Subscriber<T> + 'static>(&self, mut subscriber: S) {
        let first = {
            let mut state = self.core.state.lock();
            match state.panes.get_mut(&self.id) {
                Some(pane) if matches!(pane.subscriber, Sub::Waiting) => {
                    pane.subscriber = Sub::Live {
                        engine: None,
                        keep: None,
                    };
                    true
                }
                _ => false,
            }
        };
        if !first {
            // §1.9: a rejected subscription gets on_subscribe, then on_error.
            subscriber.on_subscribe(Arc::new(NoopSubscription));
            subscriber.on_error(
                Error::protocol(
                    "1.9",
                    format!(
                        "{}: window {} takes one subscriber, and it has had one (or was skipped)",
                        self.core.name, self.id
                    ),
                )
                .in_stage(self.core.name),
            );
            return;
        }
        let core = Arc::clone(&self.core);
        let id = self.id;
        let engine = Engine::start_cyclic(
            |engine| {
                if let Some(pane) = core.state.lock().panes.get_mut(&id) {
                    if let Sub::Live { engine: slot, .. } = &mut pane.subscriber {
                        *slot = Some(engine.clone() as Weak<dyn Wake>);
                    }
                }
                PanePull { core, id }
            },
            subscriber,
            EngineConfig::new(),
        );
        let mut state = self.core.state.lock();
        let ended = state.end.is_some();
        if let Some(pane) = state.panes.get_mut(&self.id) {
            if let Sub::Live { keep, .. } = &mut pane.subscriber {
                if !ended && !pane.closed {
                    *keep = Some(engine);
                }
            }
        }
    }
}

/// A window's subscription: takes its elements, and asks for more while it is the open one.
struct PanePull<T: Send + 'static> {
    core: Arc<Core<T>>,
    id: u64,
}

impl<T: Send + 'static> Pull for PanePull<T> {
    type Item = T;

    fn name(&self) -> &'static str {
        self.core.name
    }

    fn pull(&mut self, demand: u64) -> Pulled<T> {
        let core = &self.core;
        loop {
            let mut guard = core.state.lock();
            let state = &mut *guard;
            let open = state.current == Some(self.id);
            let Some(pane) = state.panes.get_mut(&self.id) else {
                return Pulled::End;
            };
            if let Some(error) = &pane.error {
                return Pulled::Error(error.clone());
            }
            if let Some(item) = pane.queue.pop_front() {
                return Pulled::Ready(item);
            }
            if pane.closed {
                return Pulled::End;
            }
            if !open || state.end.is_some() {
                return Pulled::Pending;
            }
            // The open window: up to what its subscriber demanded, what it still lacks, and
            // AHEAD at a time.
            let target = demand.min(core.size - pane.count).min(AHEAD);
            let want = target.saturating_sub(state.outstanding);
            if want == 0 {
                return Pulled::Pending;
            }
            state.outstanding += want;
            drop(guard);
            // The upstream may emit (or end) inside this call: look again.
            core.upstream.request(want);
        }
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        let state = self.core.state.lock();
        let Some(pane) = state.panes.get(&self.id) else {
            return Some(Ok(()));
        };
        if let Some(error) = &pane.error {
            return Some(Err(error.clone()));
        }
        (pane.closed && pane.queue.is_empty()).then_some(Ok(()))
    }
}

impl<T: Send + 'static> Drop for PanePull<T> {
    /// The window's subscription ended (finished, cancelled, `request(0)`, a panic).
    fn drop(&mut self) {
        let mut wakes = Wakes::default();
        let held = {
            let mut state = self.core.state.lock();
            let Some(pane) = state.panes.get_mut(&self.id) else {
                return;
            };
            // Released after the lock (it holds this engine).
            let was = std::mem::replace(&mut pane.subscriber, Sub::Gone);
            let held = (std::mem::take(&mut pane.queue), was);
            if pane.closed || pane.error.is_some() {
                state.panes.remove(&self.id);
            } else if !self.core.cancel_if_unwanted(&mut state) {
                wakes.add(state.outer.as_ref()); // to skip the rest of this window
            }
            held
        };
        drop(held);
        wakes.run();
    }
}

/// The subscriber given to the upstream: routes each element to the open window, or keeps it
/// for the next.
struct Inlet<T> {
    core: Arc<Core<T>>,
    _outer: Arc<dyn Wake>,
}

impl<T: Send + 'static> Inlet<T> {
    fn end(&self, end: Result<(), Error>) {
        let core = &self.core;
        let mut wakes = Wakes::default();
        let discarded = {
            let mut state = core.state.lock();
            if state.end.is_some() {
                return; // after a cancel or an end (§1.7)
            }
            let mut discarded = Vec::new();
            match &end {
                Ok(()) => core.close_current(&mut state, &mut wakes),
                Err(error) => {
                    for pane in state.panes.values_mut() {
                        pane.error = Some(error.clone());
                        discarded.push(std::mem::take(&mut pane.queue));
                        wakes.add(pane.engine());
                        if let Sub::Live { keep, .. } = &mut pane.subscriber {
                            wakes.keep(keep.take());
                        }
                    }
                    state.current = None;
                    discarded.push(std::mem::take(&mut state.between));
                    core.timer.cancel();
                }
            }
            state.end = Some(end);
            wakes.add(state.outer.as_ref());
            discarded
        };
        drop(discarded);
        wakes.run();
    }
}

impl<T: Send + 'static> Subscriber<T> for Inlet<T> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        // Forwards what was requested meanwhile; §2.5: a second subscription, or one after
        // the stage was cancelled, is cancelled by the slot.
        self.core.upstream.set(subscription);
    }

    fn on_next(&mut self, item: T) {
        let core = &self.core;
        let mut wakes = Wakes::default();
        let mut fault = false;
        let late = {
            let mut guard = core.state.lock();
            let state = &mut *guard;
            if state.end.is_some() {
                Some(item) // after a cancel or the end (§1.7, §2.8)
            } else if state.outstanding == 0 {
                fault = true;
                Some(item)
            } else {
                state.outstanding -= 1;
                let current = state.current;
                match current.and_then(|id| state.panes.get_mut(&id)) {
                    Some(pane) => {
                        pane.count += 1;
                        let late = if pane.is_gone() {
                            core.dropped.record();
                            wakes.add(state.outer.as_ref()); // skip on
                            Some(item)
                        } else {
                            pane.queue.push_back(item);
                            wakes.add(pane.engine());
                            None
                        };
                        if pane.count == core.size {
                            core.close_current(state, &mut wakes);
                            wakes.add(state.outer.as_ref());
                        }
                        late
                    }
                    None => {
                        state.between.push_back(item);
                        wakes.add(state.outer.as_ref());
                        None
                    }
                }
            }
        };
        if fault {
            self.end(Err(Error::protocol(
                "1.1",
                format!(
                    "the upstream emitted an element {} did not request",
                    core.name
                ),
            )
            .in_stage(core.name)));
            core.upstream.cancel();
        }
        drop(late);
        wakes.run();
    }

    fn on_error(&mut self, error: Error) {
        self.core.upstream.clear();
        self.end(Err(error));
    }

    fn on_complete(&mut self) {
        self.core.upstream.clear();
        self.end(Ok(()));
    }
}
