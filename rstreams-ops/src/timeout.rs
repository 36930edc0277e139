//! `timeout(d)` and its variants: fails (or switches to a fallback) when outstanding downstream
//! demand goes unmet for `d`.
//!
//! The downstream's subscription is an [`Engine`] around a [`TimeoutPull`], which takes the
//! elements the current upstream's subscriber ([`Inlet`]) hands over and asks the upstream,
//! through an [`Arbiter`], for what the downstream wants. The clock is a [`TimerSlot`] armed
//! lazily: a tick re-arms it for whatever is left of the deadline, so an element costs no timer
//! operation. A timeout with a fallback cancels the current upstream alone and subscribes the
//! fallback, which the arbiter asks for exactly what was outstanding.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rstreams_core::scheduler::{Scheduler, Worker};
use rstreams_core::support::{
    Arbiter, Engine, EngineConfig, Pull, Pulled, TimerSlot, UpstreamSlot, Wake,
};
use rstreams_core::sync::{AtomicBool, Mutex, Ordering};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// Names the stage in errors.
const NAME: &str = "timeout";

/// At most this many elements are asked of the upstream and not yet delivered: a synchronous
/// upstream under unbounded demand hands over a batch at a time, not everything at once.
const MAX_IN_FLIGHT: u64 = 256;

/// The publisher returned by [`timeout`](crate::PublisherExt::timeout),
/// [`timeout_on`](crate::PublisherExt::timeout_on),
/// [`timeout_or`](crate::PublisherExt::timeout_or) and
/// [`timeout_or_on`](crate::PublisherExt::timeout_or_on). `Q` is the fallback's type
/// ([`Never`](rstreams_core::source::Never) for the variants without one, which never
/// subscribe it).
#[must_use = "publishers do nothing until subscribed"]
pub struct Timeout<P, Q, S> {
    source: P,
    fallback: Option<Arc<Q>>,
    duration: Duration,
    scheduler: S,
}

impl<P, Q, S> Timeout<P, Q, S> {
    pub(crate) fn new(source: P, duration: Duration, fallback: Option<Q>, scheduler: S) -> Self {
        assert!(
            !duration.is_zero(),
            "timeout: duration must be above zero (valid range: 1ns..=Duration::MAX, where Duration::MAX never fires), got 0"
        );
        Timeout {
            source,
            fallback: fallback.map(Arc::new),
            duration,
            scheduler,
        }
    }
}

impl<P: Clone, Q, S: Clone> Clone for Timeout<P, Q, S> {
    fn clone(&self) -> Self {
        Timeout {
            source: self.source.clone(),
            fallback: self.fallback.clone(),
            duration: self.duration,
            scheduler: self.scheduler.clone(),
        }
    }
}

impl<P: fmt::Debug, Q, S> fmt::Debug for Timeout<P, Q, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("source", &self.source)
            .field("duration", &self.duration)
            .field("fallback", &self.fallback.is_some())
            .finish_non_exhaustive()
    }
}

impl<P, Q, Sch> Publisher for Timeout<P, Q, Sch>
where
    P: Publisher,
    P::Item: Send + 'static,
    Q: Publisher<Item = P::Item> + Send + Sync + 'static,
    Sch: Scheduler,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        let arbiter = Arc::new(Arbiter::new());
        // The engine cancels the arbiter (and so the current upstream) with the subscription.
        let upstream = Arc::new(UpstreamSlot::new());
        upstream.set(arbiter.clone());
        let shared = Arc::new(Shared {
            duration: self.duration,
            worker: self.scheduler.worker(),
            arbiter,
            timer: TimerSlot::new(),
            tick: AtomicBool::new(false),
            state: Mutex::new(Handover {
                queue: VecDeque::new(),
                end: None,
                epoch: 0,
                asked: 0,
                received: 0,
            }),
        });
        let first = Arc::new(UpstreamSlot::new());
        let fallback = self.fallback.clone();
        let engine = Engine::start_cyclic(
            |weak| {
                let engine: Weak<dyn Wake> = weak.clone();
                TimeoutPull {
                    shared: Arc::clone(&shared),
                    engine,
                    fallback,
                    current: Arc::clone(&first),
                    since: None,
                    timing: true,
                }
            },
            subscriber,
            EngineConfig::new().upstream(upstream),
        );
        self.source.subscribe(Inlet {
            shared,
            engine,
            slot: first,
            epoch: 0,
        });
    }
}

/// What the pull side and the upstream's subscriber share.
struct Shared<T> {
    duration: Duration,
    worker: Arc<dyn Worker>,
    /// Requests go to the current upstream through it; a new upstream is asked for what is
    /// outstanding.
    arbiter: Arc<Arbiter>,
    /// The deadline. Re-armed lazily by the pull side.
    timer: TimerSlot,
    /// A current tick came: the pull side checks the deadline.
    tick: AtomicBool,
    state: Mutex<Handover<T>>,
}

/// Elements on their way from the upstream to the pull side, and the upstream's end.
struct Handover<T> {
    /// At most `asked - received` elements ever wait here (at most [`MAX_IN_FLIGHT`]).
    queue: VecDeque<T>,
    /// How the current upstream ended (or its §1.1 fault).
    end: Option<Result<(), Error>>,
    /// Which upstream is current: 0 the source, 1 the fallback. Signals of an earlier one
    /// are late and dropped.
    epoch: u32,
    /// Asked of the upstreams in all (through the arbiter).
    asked: u64,
    /// Received from the current and earlier upstreams in all.
    received: u64,
}

impl<T> Shared<T> {
    /// Arms the deadline `delay` from now, unless that instant is beyond what the clock can
    /// represent (`Duration::MAX`: never).
    fn arm(self: &Arc<Self>, delay: Duration, engine: &Weak<dyn Wake>)
    where
        T: Send + 'static,
    {
        if self.worker.now().checked_add(delay).is_none() {
            return;
        }
        let shared = Arc::downgrade(self);
        let engine = engine.clone();
        self.timer.arm(&self.worker, delay, move |generation| {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            if shared.timer.fire(generation) {
                shared.tick.store(true, Ordering::Release);
                // Only wakes the engine: its drain loop checks the deadline.
                if let Some(engine) = engine.upgrade() {
                    engine.wake();
                }
            }
        });
    }
}

/// The pull side: hands over elements as the downstream demands, keeps the upstream asked for
/// that demand, and keeps the clock while it waits.
struct TimeoutPull<T, Q> {
    shared: Arc<Shared<T>>,
    engine: Weak<dyn Wake>,
    /// Taken when it is switched to: the fallback runs without a deadline.
    fallback: Option<Arc<Q>>,
    /// The current upstream, to cancel it alone on a timeout.
    current: Arc<UpstreamSlot>,
    /// Since when outstanding demand has been waiting (from the last element or from the
    /// demand's arrival); `None` while nothing is owed.
    since: Option<Instant>,
    /// The deadline applies: until the switch to the fallback, which runs without one.
    timing: bool,
}

impl<T, Q> TimeoutPull<T, Q>
where
    T: Send + 'static,
    Q: Publisher<Item = T> + Send + Sync + 'static,
{
    /// Outstanding demand went unmet for the duration: switch to the fallback (`None`), or fail.
    fn time_out(&mut self) -> Option<Pulled<T>> {
        let shared = &self.shared;
        self.since = None;
        self.timing = false;
        shared.timer.cancel();
        self.current.cancel();
        shared.arbiter.clear();
        let Some(fallback) = self.fallback.take() else {
            shared.arbiter.cancel();
            return Some(Pulled::Error(
                Error::timeout(format!(
                    "no element within {:?} of outstanding demand",
                    shared.duration
                ))
                .in_stage(NAME),
            ));
        };
        let epoch = {
            let mut state = shared.state.lock();
            state.epoch += 1;
            state.epoch
        };
        let slot = Arc::new(UpstreamSlot::new());
        self.current = Arc::clone(&slot);
        // The engine is alive: this runs in its drain loop.
        let engine = self.engine.upgrade()?;
        // Inside the drain loop: what the fallback hands over synchronously is queued and
        // taken by this pull.
        fallback.subscribe(Inlet {
            shared: Arc::clone(shared),
            engine,
            slot,
            epoch,
        });
        None
    }
}

impl<T, Q> Pull for TimeoutPull<T, Q>
where
    T: Send + 'static,
    Q: Publisher<Item = T> + Send + Sync + 'static,
{
    type Item = T;

    fn name(&self) -> &'static str {
        NAME
    }

    fn pull(&mut self, demand: u64) -> Pulled<T> {
        loop {
            let ask = {
                let mut state = self.shared.state.lock();
                if let Some(item) = state.queue.pop_front() {
                    self.since = None; // an element: the clock starts again if demand remains
                    return Pulled::Ready(item);
                }
                match state.end.take() {
                    Some(Ok(())) => return Pulled::End,
                    Some(Err(error)) => return Pulled::Error(error),
                    None => {}
                }
                // Keep the upstream asked for the demand (at most MAX_IN_FLIGHT ahead).
                let in_flight = state.asked - state.received;
                let want = demand.min(MAX_IN_FLIGHT);
                let ask = want.saturating_sub(in_flight);
                state.asked += ask;
                ask
            };
            if ask == 0 {
                break;
            }
            // A synchronous upstream hands its elements over inside this call.
            self.shared.arbiter.request(ask);
        }
        // Nothing to hand over and demand outstanding: the clock runs (until a switch).
        if self.timing {
            let shared = &self.shared;
            let now = shared.worker.now();
            let since = *self.since.get_or_insert(now);
            let tick = shared.tick.swap(false, Ordering::AcqRel);
            let waited = now.saturating_duration_since(since);
            if tick && waited >= shared.duration {
                return match self.time_out() {
                    Some(failed) => failed,
                    // Switched: the fallback may have handed something over already.
                    None => self.pull(demand),
                };
            }
            if tick || !shared.timer.is_armed() {
                shared.arm(shared.duration - waited, &self.engine);
            }
        }
        Pulled::Pending
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        let mut state = self.shared.state.lock();
        if state.queue.is_empty() {
            state.end.take()
        } else {
            None
        }
    }
}

impl<T, Q> Drop for TimeoutPull<T, Q> {
    /// The subscription ended: no deadline outlives it, nor any queued element.
    fn drop(&mut self) {
        self.shared.timer.cancel();
        self.shared.state.lock().queue.clear();
    }
}

/// The subscriber given to an upstream (the source, then the fallback): hands elements and the
/// end over to the pull side and wakes it.
struct Inlet<T> {
    shared: Arc<Shared<T>>,
    engine: Arc<dyn Wake>,
    /// This upstream's subscription, to cancel it alone.
    slot: Arc<UpstreamSlot>,
    epoch: u32,
}

impl<T: Send + 'static> Subscriber<T> for Inlet<T> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        // §2.5: a second subscription, or one after a timeout or cancel, is cancelled.
        if self.slot.set(Arc::clone(&subscription)) {
            let received = self.shared.state.lock().received;
            self.shared.arbiter.switch_to(subscription, received);
        }
    }

    fn on_next(&mut self, item: T) {
        {
            let mut state = self.shared.state.lock();
            if state.epoch != self.epoch || state.end.is_some() {
                return; // late: after a timeout or the end (§1.7)
            }
            if state.received == state.asked {
                drop(state);
                self.slot.cancel();
                return self.end(Err(Error::protocol(
                    "1.1",
                    "the upstream emitted more elements than were requested",
                )
                .in_stage(NAME)));
            }
            state.received += 1;
            state.queue.push_back(item);
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

impl<T> Inlet<T> {
    fn end(&mut self, end: Result<(), Error>) {
        {
            let mut state = self.shared.state.lock();
            if state.epoch != self.epoch || state.end.is_some() {
                return;
            }
            state.end = Some(end);
        }
        self.slot.clear();
        self.engine.wake();
    }
}
