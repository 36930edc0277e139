//! `buffer_timeout(size, duration)`: batches by size or by time, waiting for demand.
//!
//! The downstream's subscription is an [`Engine`] around a [`BatchPull`], which takes batches
//! out of the state that the upstream's subscriber ([`Inlet`]) fills; the batch timer is a
//! [`TimerSlot`] whose tick marks the batch due and wakes the engine.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use rstreams_core::scheduler::{Scheduler, Worker};
use rstreams_core::support::{Engine, EngineConfig, Pull, Pulled, TimerSlot, UpstreamSlot, Wake};
use rstreams_core::sync::Mutex;
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// Names the stage in errors.
const NAME: &str = "buffer_timeout";

/// The publisher returned by [`buffer_timeout`](crate::PublisherExt::buffer_timeout).
#[must_use = "publishers do nothing until subscribed"]
pub struct BufferTimeout<P, S> {
    source: P,
    size: usize,
    timeout: Duration,
    scheduler: S,
}

impl<P, S> BufferTimeout<P, S> {
    pub(crate) fn new(source: P, size: usize, timeout: Duration, scheduler: S) -> Self {
        assert!(size > 0, "buffer_timeout: size must be at least 1 (got 0)");
        assert!(
            !timeout.is_zero(),
            "buffer_timeout: timeout must be a positive duration (got 0)"
        );
        BufferTimeout {
            source,
            size,
            timeout,
            scheduler,
        }
    }
}

impl<P: Clone, S: Clone> Clone for BufferTimeout<P, S> {
    fn clone(&self) -> Self {
        BufferTimeout {
            source: self.source.clone(),
            size: self.size,
            timeout: self.timeout,
            scheduler: self.scheduler.clone(),
        }
    }
}

impl<P: fmt::Debug, S> fmt::Debug for BufferTimeout<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferTimeout")
            .field("source", &self.source)
            .field("size", &self.size)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<P, Sch> Publisher for BufferTimeout<P, Sch>
where
    P: Publisher,
    P::Item: Send + 'static,
    Sch: Scheduler,
{
    type Item = Vec<P::Item>;

    fn subscribe<S: Subscriber<Vec<P::Item>> + 'static>(&self, subscriber: S) {
        let upstream = Arc::new(UpstreamSlot::new());
        let shared = Arc::new(Shared {
            size: self.size,
            timeout: self.timeout,
            worker: self.scheduler.worker(),
            upstream: Arc::clone(&upstream),
            timer: TimerSlot::new(),
            state: Mutex::new(Batching {
                // Grown as elements arrive: a declared size of `usize::MAX` allocates nothing up
                // front.
                items: Vec::with_capacity(self.size.min(1024)),
                outstanding: 0,
                batch: 0,
                due: false,
                end: None,
                closed: false,
            }),
        });
        // The downstream is subscribed first; what it requests is asked of the upstream (by
        // the pull's top-up, deferred in the slot) once the upstream has subscribed.
        let engine: Arc<dyn Wake> = Engine::start(
            BatchPull {
                shared: Arc::clone(&shared),
            },
            subscriber,
            EngineConfig::new().upstream(upstream),
        );
        self.source.subscribe(Inlet { shared, engine });
    }
}

/// What the two sides of one subscription share.
struct Shared<T> {
    size: usize,
    timeout: Duration,
    worker: Arc<dyn Worker>,
    upstream: Arc<UpstreamSlot>,
    /// The timer of the batch being filled.
    timer: TimerSlot,
    state: Mutex<Batching<T>>,
}

/// The batch being filled, and how the upstream stands.
struct Batching<T> {
    /// At most `size` (with `outstanding`, see below).
    items: Vec<T>,
    /// Requested upstream and not received: `items.len() + outstanding <= size` always. An
    /// element that arrives while this is zero breaks §1.1.
    outstanding: u64,
    /// Counts the batches taken out: a timer tick is current only for the batch it was armed
    /// for (a batch that went out full does not cut the next one short).
    batch: u64,
    /// The timer of the current batch fired: emit it as soon as there is demand.
    due: bool,
    /// How the upstream ended (or the §1.1 fault); an error is taken out at once.
    end: Option<Result<(), Error>>,
    /// No element is accepted any more: the upstream ended or broke §1.1, or the
    /// subscription ended.
    closed: bool,
}

impl<T> Shared<T> {
    /// Starts the timer of batch `batch`, which just got its first element. Called outside the
    /// state lock: a scheduler may run the tick inline.
    fn arm(self: &Arc<Self>, batch: u64, engine: &Arc<dyn Wake>)
    where
        T: Send + 'static,
    {
        let shared: Weak<Self> = Arc::downgrade(self);
        let engine: Weak<dyn Wake> = Arc::downgrade(engine);
        self.timer
            .arm(&self.worker, self.timeout, move |generation| {
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                let current = {
                    let mut state = shared.state.lock();
                    // Checked under the state lock, where batches are taken out and the timer
                    // cancelled: a tick that raced with its batch going out full does nothing.
                    let current = shared.timer.fire(generation) && state.batch == batch;
                    if current {
                        state.due = true;
                    }
                    current
                };
                if current {
                    // Only wakes the engine: the drain loop delivers the batch.
                    if let Some(engine) = engine.upgrade() {
                        engine.wake();
                    }
                }
            });
    }

    /// Stops accepting elements and takes the partial batch out (to drop it outside the
    /// lock).
    fn close(&self, state: &mut Batching<T>) -> Vec<T> {
        state.closed = true;
        std::mem::take(&mut state.items)
    }
}

/// The pull side: takes out batches that are full or due, and keeps one batch in flight
/// upstream while the downstream has demand.
struct BatchPull<T> {
    shared: Arc<Shared<T>>,
}

impl<T: Send + 'static> Pull for BatchPull<T> {
    type Item = Vec<T>;

    fn name(&self) -> &'static str {
        NAME
    }

    fn pull(&mut self, _demand: u64) -> Pulled<Vec<T>> {
        let shared = &self.shared;
        loop {
            let mut state = shared.state.lock();
            if matches!(state.end, Some(Err(_))) {
                // An error goes at once; the partial batch is dropped.
                let Some(Err(error)) = state.end.take() else {
                    unreachable!("checked above")
                };
                let dropped = shared.close(&mut state);
                drop(state);
                drop(dropped);
                return Pulled::Error(error);
            }
            let ended = state.end.is_some();
            let len = state.items.len();
            if len >= shared.size || ((state.due || ended) && len > 0) {
                let take = len.min(shared.size);
                let batch: Vec<T> = state.items.drain(..take).collect();
                state.due = false;
                state.batch = state.batch.wrapping_add(1);
                // Under the state lock, so that no tick of this batch can mark the next one due.
                shared.timer.cancel();
                return Pulled::Ready(batch);
            }
            if ended {
                return Pulled::End; // completed, and the last batch is out
            }
            // There is demand (the engine pulls only then): one batch in flight, queued plus
            // outstanding never above `size`.
            let held = len as u64 + state.outstanding;
            let want = (shared.size as u64).saturating_sub(held);
            if want == 0 {
                return Pulled::Pending;
            }
            state.outstanding += want;
            drop(state);
            // The upstream may emit (or end) inside this call: look again.
            shared.upstream.request(want);
        }
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        let mut state = self.shared.state.lock();
        match &state.end {
            Some(Err(_)) => {
                let end = state.end.take();
                let dropped = self.shared.close(&mut state);
                drop(state);
                drop(dropped);
                end
            }
            Some(Ok(())) if state.items.is_empty() => Some(Ok(())),
            _ => None,
        }
    }
}

impl<T> Drop for BatchPull<T> {
    /// The subscription ended: the partial batch goes with it, the timer is stopped, and
    /// whatever the upstream still sends is dropped.
    fn drop(&mut self) {
        let dropped = {
            let mut state = self.shared.state.lock();
            self.shared.close(&mut state)
        };
        self.shared.timer.cancel();
        drop(dropped);
    }
}

/// The subscriber given to the upstream: adds elements to the batch, arms its timer, and
/// wakes the engine.
struct Inlet<T> {
    shared: Arc<Shared<T>>,
    engine: Arc<dyn Wake>,
}

impl<T> Inlet<T> {
    /// Records how the upstream ended (the first end wins) and wakes the engine.
    fn end(&self, end: Result<(), Error>) {
        let shared = &self.shared;
        let dropped = {
            let mut state = shared.state.lock();
            if state.closed {
                return; // after a cancel, a fault or an end (§1.7)
            }
            let dropped = if end.is_err() {
                shared.close(&mut state) // the partial batch goes with the error
            } else {
                state.closed = true; // the partial batch goes out on demand
                Vec::new()
            };
            state.end = Some(end);
            dropped
        };
        shared.timer.cancel();
        drop(dropped);
        self.engine.wake();
    }
}

impl<T: Send + 'static> Subscriber<T> for Inlet<T> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        // Forwards what the pull asked for meanwhile; a second subscription (§2.5), or one
        // arriving after the downstream cancelled, is cancelled by the slot.
        self.shared.upstream.set(subscription);
    }

    fn on_next(&mut self, item: T) {
        let shared = &self.shared;
        let first = {
            let mut state = shared.state.lock();
            if state.closed {
                return; // after a cancel, a fault or the end: dropped (§2.8, §1.7)
            }
            if state.outstanding == 0 {
                let dropped = shared.close(&mut state);
                state.end = Some(Err(Error::protocol(
                    "1.1",
                    format!(
                        "the upstream emitted more elements than {NAME} requested (at most {} at a time)",
                        shared.size
                    ),
                )
                .in_stage(NAME)));
                drop(state);
                shared.upstream.cancel();
                shared.timer.cancel();
                drop(dropped);
                drop(item);
                self.engine.wake();
                return;
            }
            state.outstanding -= 1;
            state.items.push(item);
            // A batch of one element that is already full needs no timer.
            (state.items.len() == 1 && shared.size > 1).then_some(state.batch)
        };
        if let Some(batch) = first {
            shared.arm(batch, &self.engine);
        }
        self.engine.wake();
    }

    fn on_error(&mut self, error: Error) {
        self.shared.upstream.clear();
        self.end(Err(error));
    }

    fn on_complete(&mut self) {
        self.shared.upstream.clear();
        self.end(Ok(()));
    }
}
