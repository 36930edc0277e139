//! `delay(by)`: shifts every element `by` later, keeping their order.
//!
//! The downstream's subscription is an [`Engine`] around a [`DelayPull`]. Elements are
//! requested upstream only against the downstream's outstanding demand (and at most
//! `capacity` at a time), so an element always has demand reserved when it falls due; each
//! arrives stamped with its due time into a queue, and one [`TimerSlot`] is armed for the
//! head of the queue.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rstreams_core::scheduler::{deadline, Scheduler, Worker};
use rstreams_core::support::{Engine, EngineConfig, Pull, Pulled, TimerSlot, UpstreamSlot, Wake};
use rstreams_core::sync::Mutex;
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// Names the stage in errors.
const NAME: &str = "delay";

/// How many elements a `delay` holds at most unless told otherwise.
pub(crate) const DEFAULT_CAPACITY: usize = 256;

/// The publisher returned by [`delay`](crate::PublisherExt::delay) and
/// [`delay_on`](crate::PublisherExt::delay_on).
#[must_use = "publishers do nothing until subscribed"]
pub struct Delay<P, S> {
    source: P,
    by: Duration,
    capacity: usize,
    scheduler: S,
}

impl<P, S> Delay<P, S> {
    pub(crate) fn new(source: P, by: Duration, scheduler: S) -> Self {
        assert!(
            !by.is_zero(),
            "delay: by must be a positive duration (got 0; valid range 1ns..=Duration::MAX, where Duration::MAX means never)"
        );
        Delay {
            source,
            by,
            capacity: DEFAULT_CAPACITY,
            scheduler,
        }
    }

    /// How many elements the stage holds at most: requested upstream and not yet emitted
    /// (256 unless set). It bounds memory, and with it the rate: at most `capacity` elements
    /// go out per `by`.
    ///
    /// # Panics
    ///
    /// When `capacity` is 0 (valid range `1..=usize::MAX`).
    ///
    /// ```
    /// use rstreams::scheduler::VirtualTime;
    /// use rstreams::{source, Publisher};
    /// use rstreams::ops::PublisherExt;
    /// use rstreams_tck::TestSubscriber;
    /// use std::time::Duration;
    ///
    /// let vt = VirtualTime::new();
    /// let probe = TestSubscriber::new(u64::MAX);
    /// source::range(0, 5)
    ///     .delay_on(Duration::from_secs(1), vt.clone())
    ///     .capacity(2)
    ///     .subscribe(probe.clone());
    /// vt.advance_by(Duration::from_secs(1));
    /// assert_eq!(probe.values(), vec![0, 1]); // two held at a time
    /// vt.advance_by(Duration::from_secs(1));
    /// assert_eq!(probe.values(), vec![0, 1, 2, 3]);
    /// ```
    pub fn capacity(mut self, capacity: usize) -> Self {
        assert!(
            capacity > 0,
            "delay: capacity must be at least 1 (got 0; valid range 1..=usize::MAX): a stage that holds nothing passes nothing on"
        );
        self.capacity = capacity;
        self
    }
}

impl<P: Clone, S: Clone> Clone for Delay<P, S> {
    fn clone(&self) -> Self {
        Delay {
            source: self.source.clone(),
            by: self.by,
            capacity: self.capacity,
            scheduler: self.scheduler.clone(),
        }
    }
}

impl<P: fmt::Debug, S> fmt::Debug for Delay<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delay")
            .field("source", &self.source)
            .field("by", &self.by)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<P, Sch> Publisher for Delay<P, Sch>
where
    P: Publisher,
    P::Item: Send + 'static,
    Sch: Scheduler,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        let upstream = Arc::new(UpstreamSlot::new());
        let shared = Arc::new(Shared {
            by: self.by,
            capacity: self.capacity as u64,
            worker: self.scheduler.worker(),
            upstream: Arc::clone(&upstream),
            timer: TimerSlot::new(),
            state: Mutex::new(State {
                queue: VecDeque::new(),
                outstanding: 0,
                armed_for: None,
                end: None,
                closed: false,
            }),
        });
        let engine = Engine::start_cyclic(
            |engine| DelayPull {
                shared: Arc::clone(&shared),
                engine: engine.clone() as Weak<dyn Wake>,
            },
            subscriber,
            EngineConfig::new().upstream(upstream),
        );
        self.source.subscribe(Inlet {
            shared,
            engine: engine as Arc<dyn Wake>,
        });
    }
}

/// What the two sides of one subscription share.
struct Shared<T> {
    by: Duration,
    capacity: u64,
    worker: Arc<dyn Worker>,
    upstream: Arc<UpstreamSlot>,
    /// The timer of the head of the queue.
    timer: TimerSlot,
    state: Mutex<State<T>>,
}

struct State<T> {
    /// Elements with their due times, oldest first (due times never decrease).
    queue: VecDeque<(Instant, T)>,
    /// Requested upstream and not received: `queue.len() + outstanding` never exceeds the
    /// downstream's outstanding demand, nor `capacity`. An element that arrives while this is
    /// zero breaks §1.1.
    outstanding: u64,
    /// The due time the timer is armed for.
    armed_for: Option<Instant>,
    /// How the upstream ended (or the §1.1 fault); an error goes out at once.
    end: Option<Result<(), Error>>,
    /// Nothing is accepted any more.
    closed: bool,
}

/// The downstream's side: emits the head once it is due, keeps the upstream asked for what
/// the demand allows, and arms the timer for the head.
struct DelayPull<T> {
    shared: Arc<Shared<T>>,
    engine: Weak<dyn Wake>,
}

impl<T: Send + 'static> DelayPull<T> {
    fn arm(&self, at: Instant) {
        let shared: Weak<Shared<T>> = Arc::downgrade(&self.shared);
        let engine = self.engine.clone();
        let delay = at.saturating_duration_since(self.shared.worker.now());
        self.shared
            .timer
            .arm(&self.shared.worker, delay, move |generation| {
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                {
                    let mut state = shared.state.lock();
                    if !shared.timer.fire(generation) {
                        return;
                    }
                    state.armed_for = None;
                }
                if let Some(engine) = engine.upgrade() {
                    engine.wake();
                }
            });
    }
}

impl<T: Send + 'static> Pull for DelayPull<T> {
    type Item = T;

    fn name(&self) -> &'static str {
        NAME
    }

    fn pull(&mut self, demand: u64) -> Pulled<T> {
        let shared = &self.shared;
        loop {
            let mut state = shared.state.lock();
            if matches!(state.end, Some(Err(_))) {
                let Some(Err(error)) = state.end.take() else {
                    unreachable!("checked above")
                };
                state.closed = true;
                let held = std::mem::take(&mut state.queue);
                drop(state);
                drop(held);
                return Pulled::Error(error);
            }
            let now = shared.worker.now();
            match state.queue.front() {
                Some((due, _)) if *due <= now => {
                    let (_, item) = state.queue.pop_front().expect("checked above");
                    return Pulled::Ready(item);
                }
                None if state.end.is_some() => return Pulled::End,
                _ => {}
            }
            // Reserve demand: held + outstanding never above what the downstream may still
            // take (the engine pulls only with demand), nor above the capacity.
            if state.end.is_none() {
                let held = state.queue.len() as u64 + state.outstanding;
                let want = demand.min(shared.capacity).saturating_sub(held);
                if want > 0 {
                    state.outstanding += want;
                    drop(state);
                    // The upstream may emit (or end) inside this call: look again.
                    shared.upstream.request(want);
                    continue;
                }
            }
            let head = state.queue.front().map(|(due, _)| *due);
            if let Some(due) = head {
                if state.armed_for != Some(due) {
                    state.armed_for = Some(due);
                    drop(state);
                    self.arm(due);
                }
            }
            return Pulled::Pending;
        }
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        let mut state = self.shared.state.lock();
        match &state.end {
            Some(Err(_)) => {
                state.closed = true;
                let end = state.end.take();
                let held = std::mem::take(&mut state.queue);
                drop(state);
                drop(held);
                end
            }
            Some(Ok(())) if state.queue.is_empty() => Some(Ok(())),
            _ => None,
        }
    }
}

impl<T> Drop for DelayPull<T> {
    /// The subscription ended: the held elements go with it and the timer is stopped.
    fn drop(&mut self) {
        let held = {
            let mut state = self.shared.state.lock();
            state.closed = true;
            std::mem::take(&mut state.queue)
        };
        self.shared.timer.cancel();
        drop(held);
    }
}

/// The subscriber given to the upstream: stamps each element with its due time.
struct Inlet<T> {
    shared: Arc<Shared<T>>,
    engine: Arc<dyn Wake>,
}

impl<T: Send + 'static> Inlet<T> {
    /// The upstream ended: an error drops what is held and stops the timer, a completion waits
    /// behind the held elements. Ignored once closed: a terminal signal after the end (a rogue
    /// upstream, §1.7) must not stop the timer that the held elements and the completion wait
    /// for.
    fn end(&self, end: Result<(), Error>) {
        let failed = end.is_err();
        let held = {
            let mut state = self.shared.state.lock();
            if state.closed {
                return; // after a cancel, a fault or an end (§1.7)
            }
            state.closed = true;
            let held = if end.is_err() {
                std::mem::take(&mut state.queue)
            } else {
                VecDeque::new() // the held elements go out when due, then the completion
            };
            state.end = Some(end);
            held
        };
        self.shared.upstream.clear();
        if failed {
            self.shared.timer.cancel();
        }
        drop(held);
        self.engine.wake();
    }
}

impl<T: Send + 'static> Subscriber<T> for Inlet<T> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        // Forwards what the pull reserved meanwhile; §2.5: a second subscription, or one after
        // the downstream cancelled, is cancelled by the slot.
        self.shared.upstream.set(subscription);
    }

    fn on_next(&mut self, item: T) {
        let shared = &self.shared;
        {
            let mut state = shared.state.lock();
            if state.closed {
                return; // after a cancel, a fault or the end: dropped (§2.8, §1.7)
            }
            if state.outstanding == 0 {
                state.closed = true;
                state.end = Some(Err(Error::protocol(
                    "1.1",
                    format!(
                        "the upstream emitted more elements than {NAME} requested (at most {} at a time)",
                        shared.capacity
                    ),
                )
                .in_stage(NAME)));
                let held = std::mem::take(&mut state.queue);
                drop(state);
                shared.upstream.cancel();
                shared.timer.cancel();
                drop(held);
                drop(item);
                self.engine.wake();
                return;
            }
            state.outstanding -= 1;
            let due = deadline(shared.worker.now(), shared.by);
            state.queue.push_back((due, item));
        }
        self.engine.wake();
    }

    fn on_error(&mut self, error: Error) {
        self.end(Err(error));
    }

    fn on_complete(&mut self) {
        self.end(Ok(()));
    }
}
