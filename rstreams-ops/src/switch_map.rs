//! `switch_map(f)`: each element mapped to a publisher that replaces the previous one.
//!
//! The outer's subscriber does the switch, in its own `on_next`: it marks the previous inner
//! stale (a generation number), cancels it and drops what it queued, and only then subscribes
//! the next, which the [`Arbiter`] asks for exactly what the downstream still wants. The
//! [`Engine`] the downstream holds delivers from the current inner's queue only, and drops an
//! element that a stale inner sent before it saw the switch: nothing a cancelled inner sends
//! reaches the downstream after an element of its successor, and nothing it sends after the
//! switch at all.

use std::fmt;
use std::sync::Arc;

use rstreams_core::support::{
    catch_panic, Arbiter, Engine, EngineConfig, ErrorMode, Inbox, InboxSubscriber, Pull, Pulled,
    Replenish, UpstreamSlot, Wake, UNBOUNDED,
};
use rstreams_core::sync::{AtomicBool, AtomicU64, Mutex, Ordering};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

use crate::relay::Relayed;

const STAGE: &str = "switch_map";

/// The publisher returned by [`switch_map`](crate::PublisherExt::switch_map).
#[must_use = "publishers do nothing until subscribed"]
pub struct SwitchMap<P, F> {
    source: P,
    f: Arc<F>,
}

impl<P, F> SwitchMap<P, F> {
    pub(crate) fn new(source: P, f: F) -> Self {
        SwitchMap {
            source,
            f: Arc::new(f),
        }
    }
}

impl<P: Clone, F> Clone for SwitchMap<P, F> {
    fn clone(&self) -> Self {
        SwitchMap {
            source: self.source.clone(),
            f: Arc::clone(&self.f),
        }
    }
}

impl<P: fmt::Debug, F> fmt::Debug for SwitchMap<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SwitchMap")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<P, F, Q> Publisher for SwitchMap<P, F>
where
    P: Publisher,
    F: Fn(P::Item) -> Q + Send + Sync + 'static,
    Q: Publisher,
    Q::Item: Send + 'static,
{
    type Item = Q::Item;

    fn subscribe<S: Subscriber<Q::Item> + 'static>(&self, subscriber: S) {
        let shared = Arc::new(Switch {
            arbiter: Arc::new(Arbiter::new()),
            outer: Arc::new(UpstreamSlot::new()),
            current: Mutex::new(Current {
                generation: 0,
                inbox: None,
            }),
            generation: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            outer_done: AtomicBool::new(false),
            failure: Mutex::new(None),
            failed: AtomicBool::new(false),
        });
        let route: Arc<dyn Subscription> = shared.arbiter.clone();
        let engine = Engine::start(
            Latest {
                shared: Arc::clone(&shared),
                current: None,
                delivered: 0,
                replenish: Replenish::for_prefetch(UNBOUNDED),
            },
            Relayed::new(subscriber, route),
            EngineConfig::new().upstream(Arc::clone(&shared.outer)),
        );
        self.source.subscribe(Outer {
            shared,
            f: Arc::clone(&self.f),
            engine,
            done: false,
        });
    }
}

/// What the outer's subscriber, the inners and the engine share.
struct Switch<T> {
    /// The inners' demand: the downstream's requests go to the current inner, and each new
    /// one is asked for what is outstanding.
    arbiter: Arc<Arbiter>,
    /// The outer's subscription, asked for everything: each element replaces the last, so
    /// nothing waits.
    outer: Arc<UpstreamSlot>,
    /// The current inner: changed by the outer's `on_next`, under this lock, which also
    /// orders an inner's arrival at the arbiter after every switch before it.
    current: Mutex<Current<T>>,
    /// `current.generation`, read per element without locking.
    generation: AtomicU64,
    /// Elements the engine delivered in all: the arbiter's count for the carry-over.
    delivered: AtomicU64,
    /// The outer completed: once the current inner is done, so is the stream.
    outer_done: AtomicBool,
    /// The outer's error or a panic of `f`: the stream fails at once.
    failure: Mutex<Option<Error>>,
    /// `failure` was set: read without locking.
    failed: AtomicBool,
}

struct Current<T> {
    /// Counts the inners; 0 before the first.
    generation: u64,
    /// The current inner's queue; `None` before the first.
    inbox: Option<Arc<Inbox<T>>>,
}

impl<T> Switch<T> {
    fn fail(&self, error: Error) {
        {
            let mut failure = self.failure.lock();
            if failure.is_none() {
                *failure = Some(error);
            }
        }
        self.failed.store(true, Ordering::Release);
    }

    fn failure(&self) -> Option<Error> {
        if self.failed.load(Ordering::Acquire) {
            self.failure.lock().take()
        } else {
            None
        }
    }
}

/// The subscriber given to the outer: maps each element and switches to its publisher.
struct Outer<T, F, E: ?Sized> {
    shared: Arc<Switch<T>>,
    f: Arc<F>,
    engine: Arc<E>,
    /// A terminal signal arrived or `f` panicked: later signals are ignored (§1.7).
    done: bool,
}

impl<X, T, F, Q, E> Subscriber<X> for Outer<T, F, E>
where
    T: Send + 'static,
    F: Fn(X) -> Q + Send + Sync + 'static,
    Q: Publisher<Item = T>,
    E: Wake + 'static,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if self.shared.outer.set(subscription) {
            self.shared.outer.request(UNBOUNDED);
        }
    }

    fn on_next(&mut self, item: X) {
        if self.done {
            return;
        }
        let publisher = match catch_panic("closure", || (self.f)(item)) {
            Ok(publisher) => publisher,
            Err(error) => {
                self.done = true;
                self.shared.outer.cancel();
                self.shared.fail(error.in_stage(STAGE));
                return self.engine.wake();
            }
        };
        let inbox = Arc::new(
            Inbox::new(STAGE, usize::MAX, ErrorMode::Immediate)
                .expect("a capacity of usize::MAX is valid")
                .on_demand(),
        );
        let (generation, previous) = {
            let mut current = self.shared.current.lock();
            current.generation += 1;
            self.shared
                .generation
                .store(current.generation, Ordering::SeqCst);
            (
                current.generation,
                current.inbox.replace(Arc::clone(&inbox)),
            )
        };
        // The previous inner is cancelled, and what it queued dropped, before the next one is
        // subscribed.
        if let Some(previous) = previous {
            previous.discard();
        }
        let engine: Arc<dyn Wake> = self.engine.clone();
        publisher.subscribe(Inner {
            queue: InboxSubscriber::new(Arc::clone(&inbox), engine),
            inbox,
            shared: Arc::clone(&self.shared),
            generation,
            subscribed: false,
        });
    }

    fn on_error(&mut self, error: Error) {
        if !std::mem::replace(&mut self.done, true) {
            self.shared.outer.clear();
            self.shared.fail(error);
            self.engine.wake();
        }
    }

    fn on_complete(&mut self) {
        if !std::mem::replace(&mut self.done, true) {
            self.shared.outer.clear();
            self.shared.outer_done.store(true, Ordering::Release);
            self.engine.wake();
        }
    }
}

/// The subscriber given to one inner: queues its elements for the engine while it is current.
struct Inner<T> {
    queue: InboxSubscriber<T, dyn Wake>,
    inbox: Arc<Inbox<T>>,
    shared: Arc<Switch<T>>,
    /// Which inner this is: it delivers while it is the current one.
    generation: u64,
    /// `on_subscribe` was received (§2.5: a second one is cancelled).
    subscribed: bool,
}

impl<T: Send + 'static> Subscriber<T> for Inner<T> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if std::mem::replace(&mut self.subscribed, true) {
            subscription.cancel(); // §2.5
            return;
        }
        // The queue keeps it to cancel with the switch; it asks for nothing itself.
        self.queue.on_subscribe(Arc::clone(&subscription));
        // Under the switch lock: an inner superseded meanwhile does not become the arbiter's
        // upstream after its successor did. The lock is held while the inner is asked for the
        // outstanding demand, so a synchronous inner delivers from here; a downstream that
        // made the outer emit from inside that delivery, on this thread, would deadlock on it
        // (only possible for an inner that subscribes on another thread: one subscribed
        // synchronously runs inside the outer's own `on_next`, which the outer cannot
        // re-enter).
        let current = self.shared.current.lock();
        if current.generation == self.generation && self.inbox.upstream().get().is_some() {
            let delivered = self.shared.delivered.load(Ordering::SeqCst);
            self.shared.arbiter.switch_to(subscription, delivered);
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        // Sent after the switch: cancelled, dropped.
        if self.shared.generation.load(Ordering::SeqCst) == self.generation {
            self.queue.on_next(item);
        }
    }

    fn on_error(&mut self, error: Error) {
        self.queue.on_error(error);
    }

    fn on_complete(&mut self) {
        self.queue.on_complete();
    }
}

/// The downstream's side: the current inner's elements.
struct Latest<T> {
    shared: Arc<Switch<T>>,
    /// The generation and queue of the inner read from, as last seen.
    current: Option<(u64, Arc<Inbox<T>>)>,
    /// Elements delivered, published in `shared.delivered`.
    delivered: u64,
    /// Never asks anything: the inners' demand goes through the arbiter.
    replenish: Replenish,
}

impl<T> Latest<T> {
    /// Reads from the current inner, if the outer switched since the last look.
    fn refresh(&mut self) {
        let generation = self.shared.generation.load(Ordering::SeqCst);
        if self.current.as_ref().map(|(g, _)| *g) != Some(generation) {
            let current = self.shared.current.lock();
            self.current = current
                .inbox
                .as_ref()
                .map(|inbox| (current.generation, Arc::clone(inbox)));
        }
    }

    /// Whether nothing more can come once inner `generation` is done (0: no inner was ever
    /// subscribed): the outer completed, and did not switch after it. (The outer's `on_next`
    /// comes before its `on_complete`, so a switch is seen once the end is.)
    fn is_over(&self, generation: u64) -> bool {
        self.shared.outer_done.load(Ordering::Acquire)
            && self.shared.generation.load(Ordering::SeqCst) == generation
    }

    /// Ends the stage: the outer and the current inner cancelled (those that ended are left
    /// alone), what it queued dropped.
    fn stop(&mut self) {
        self.shared.arbiter.cancel();
        self.shared.outer.cancel();
        if let Some(inbox) = self.shared.current.lock().inbox.take() {
            inbox.discard();
        }
        self.current = None;
    }

    fn end(&mut self, end: Result<(), Error>) -> Pulled<T> {
        self.stop();
        match end {
            Ok(()) => Pulled::End,
            Err(error) => Pulled::Error(error),
        }
    }
}

impl<T: Send + 'static> Pull for Latest<T> {
    type Item = T;

    fn name(&self) -> &'static str {
        STAGE
    }

    fn pull(&mut self, _demand: u64) -> Pulled<T> {
        loop {
            if let Some(error) = self.shared.failure() {
                return self.end(Err(error));
            }
            self.refresh();
            let (generation, pulled) = match &self.current {
                None => (0, None),
                Some((generation, inbox)) => (*generation, Some(inbox.pull(&mut self.replenish))),
            };
            match pulled {
                None if self.is_over(0) => return self.end(Ok(())),
                None => return Pulled::Pending,
                Some(Pulled::Ready(item)) => {
                    if self.shared.generation.load(Ordering::SeqCst) != generation {
                        continue; // taken as the outer switched: from a cancelled inner
                    }
                    self.delivered += 1;
                    self.shared
                        .delivered
                        .store(self.delivered, Ordering::SeqCst);
                    return Pulled::Ready(item);
                }
                Some(Pulled::Pending) => return Pulled::Pending,
                // The current inner is done: the outer's next element, or its end, is waited
                // for.
                Some(Pulled::End) => {
                    if self.is_over(generation) {
                        return self.end(Ok(()));
                    }
                    if self.shared.generation.load(Ordering::SeqCst) == generation {
                        return Pulled::Pending;
                    }
                }
                Some(Pulled::Error(error)) => return self.end(Err(error)),
            }
        }
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        if let Some(error) = self.shared.failure() {
            self.stop();
            return Some(Err(error));
        }
        self.refresh();
        let end = match &self.current {
            None if self.is_over(0) => Ok(()),
            None => return None,
            Some((generation, inbox)) => match inbox.poll_end(&mut self.replenish) {
                Some(Err(error)) => Err(error),
                Some(Ok(())) if self.is_over(*generation) => Ok(()),
                _ => return None,
            },
        };
        self.stop();
        Some(end)
    }
}

impl<T> Drop for Latest<T> {
    /// However the subscription ended: the outer and the current inner cancelled.
    fn drop(&mut self) {
        self.stop();
    }
}
