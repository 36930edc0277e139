//! `with_latest_from(other, f)`: each upstream element combined with `other`'s latest one.

use std::fmt;
use std::sync::Arc;

use rstreams_core::support::{
    catch_panic, Engine, EngineConfig, ErrorMode, Inbox, InboxSubscriber, Pull, Pulled, Replenish,
    UpstreamSlot, Wake, UNBOUNDED,
};
use rstreams_core::sync::{AtomicBool, Mutex, Ordering};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

use crate::relay::Relayed;

const STAGE: &str = "with_latest_from";

/// The publisher returned by [`with_latest_from`](crate::PublisherExt::with_latest_from).
#[must_use = "publishers do nothing until subscribed"]
pub struct WithLatestFrom<P, Q, F> {
    source: P,
    other: Q,
    f: Arc<F>,
}

impl<P, Q, F> WithLatestFrom<P, Q, F> {
    pub(crate) fn new(source: P, other: Q, f: F) -> Self {
        WithLatestFrom {
            source,
            other,
            f: Arc::new(f),
        }
    }
}

impl<P: Clone, Q: Clone, F> Clone for WithLatestFrom<P, Q, F> {
    fn clone(&self) -> Self {
        WithLatestFrom {
            source: self.source.clone(),
            other: self.other.clone(),
            f: Arc::clone(&self.f),
        }
    }
}

impl<P: fmt::Debug, Q, F> fmt::Debug for WithLatestFrom<P, Q, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithLatestFrom")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<P, Q, F, C> Publisher for WithLatestFrom<P, Q, F>
where
    P: Publisher,
    P::Item: Send + 'static,
    Q: Publisher,
    Q::Item: Send + 'static,
    F: Fn(&P::Item, &Q::Item) -> C + Send + Sync + 'static,
    C: Send + 'static,
{
    type Item = C;

    fn subscribe<S: Subscriber<C> + 'static>(&self, subscriber: S) {
        // The upstream's demand passes through; the inbox holds combined elements on their
        // way to the downstream, never more than it requested.
        let inbox = Arc::new(
            Inbox::new(STAGE, usize::MAX, ErrorMode::Immediate)
                .expect("a capacity of usize::MAX is valid")
                .on_demand(),
        );
        let latest = Arc::new(Latest {
            upstream: UpstreamSlot::new(),
            value: Mutex::new(None),
            end: Mutex::new(None),
            ended: AtomicBool::new(false),
        });
        let route = Arc::clone(inbox.upstream());
        let engine = Engine::start(
            Combined {
                replenish: inbox.replenish(),
                inbox: Arc::clone(&inbox),
                latest: Arc::clone(&latest),
            },
            Relayed::to_slot(subscriber, route.clone()),
            EngineConfig::new().upstream(route),
        );
        // `other` first, so that one with a value at hand (a `just`, a replaying source) has
        // it before the upstream's first element arrives.
        self.other.subscribe(Tracker {
            latest: Arc::clone(&latest),
            engine: engine.clone() as Arc<dyn Wake>,
            done: false,
        });
        self.source.subscribe(Main {
            upstream: Arc::clone(inbox.upstream()),
            queue: InboxSubscriber::new(inbox, engine),
            latest,
            f: Arc::clone(&self.f),
            done: false,
        });
    }
}

/// `other`'s side: its latest element, and how it ended if that ends the stream.
struct Latest<B> {
    /// `other`'s subscription, asked for everything at once.
    upstream: UpstreamSlot,
    /// The latest element of `other`; `None` until its first.
    value: Mutex<Option<B>>,
    /// `Err`: `other` failed; `Ok`: `other` completed without emitting. Set once.
    end: Mutex<Option<Result<(), Error>>>,
    /// `end` is set: read per element instead of locking.
    ended: AtomicBool,
}

impl<B> Latest<B> {
    fn decide(&self, end: Result<(), Error>) {
        let mut slot = self.end.lock();
        if slot.is_none() {
            *slot = Some(end);
            self.ended.store(true, Ordering::Release);
        }
    }

    fn take(&self) -> Option<Result<(), Error>> {
        if self.ended.load(Ordering::Acquire) {
            self.end.lock().take().or(Some(Ok(())))
        } else {
            None
        }
    }
}

/// The subscriber given to `other`: keeps its latest element.
struct Tracker<B> {
    latest: Arc<Latest<B>>,
    engine: Arc<dyn Wake>,
    /// A terminal signal arrived: later signals are ignored (§1.7).
    done: bool,
}

impl<B: Send + 'static> Subscriber<B> for Tracker<B> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if self.latest.upstream.set(subscription) {
            // Only the latest element is kept (one slot): taking every element costs no
            // memory, and keeps the value as fresh as `other` makes it.
            self.latest.upstream.request(UNBOUNDED);
        }
    }

    fn on_next(&mut self, item: B) {
        if !self.done {
            *self.latest.value.lock() = Some(item);
        }
    }

    fn on_error(&mut self, error: Error) {
        if !std::mem::replace(&mut self.done, true) {
            self.latest.upstream.clear();
            self.latest.decide(Err(error));
            self.engine.wake();
        }
    }

    fn on_complete(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.latest.upstream.clear();
        // With a value, it stays the latest for good; without one, nothing can ever be
        // combined: the stream completes.
        if self.latest.value.lock().is_none() {
            self.latest.decide(Ok(()));
            self.engine.wake();
        }
    }
}

/// The subscriber given to the upstream: combines each element as it arrives with `other`'s
/// latest, or drops it while `other` has not emitted.
struct Main<B, F, Q> {
    /// The upstream's subscription (the inbox's), for the replacement of a dropped element.
    upstream: Arc<UpstreamSlot>,
    /// Queues the combined elements for the engine.
    queue: Q,
    latest: Arc<Latest<B>>,
    f: Arc<F>,
    /// A terminal signal went on, or `f` panicked: later signals are ignored (§1.7).
    done: bool,
}

impl<B, F, Q> Main<B, F, Q> {
    /// `f(&item, latest)`, or `None` while `other` has not emitted. `Err`: `f` panicked.
    fn combine<A, C>(&self, item: A) -> Option<Result<C, Error>>
    where
        F: Fn(&A, &B) -> C,
    {
        let value = self.latest.value.lock();
        let latest = value.as_ref()?;
        Some(catch_panic("closure", || (self.f)(&item, latest)))
    }
}

impl<A, B, C, F, Q> Subscriber<A> for Main<B, F, Q>
where
    B: Send + 'static,
    F: Fn(&A, &B) -> C + Send + Sync + 'static,
    Q: Subscriber<C>,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        self.queue.on_subscribe(subscription);
    }

    fn on_next(&mut self, item: A) {
        if !self.try_on_next(item) {
            self.upstream.request(1); // dropped: made up for
        }
    }

    fn try_on_next(&mut self, item: A) -> bool {
        if self.done {
            return true;
        }
        match self.combine(item) {
            // `other` has not emitted: dropped, and it used no demand.
            None => false,
            Some(Ok(combined)) => {
                self.queue.on_next(combined);
                true
            }
            Some(Err(error)) => {
                self.done = true;
                self.upstream.cancel();
                self.queue.on_error(error.in_stage(STAGE));
                true
            }
        }
    }

    fn on_error(&mut self, error: Error) {
        if !std::mem::replace(&mut self.done, true) {
            self.queue.on_error(error);
        }
    }

    fn on_complete(&mut self) {
        if !std::mem::replace(&mut self.done, true) {
            self.queue.on_complete();
        }
    }
}

/// The downstream's side: the combined elements as demanded.
struct Combined<C, B> {
    inbox: Arc<Inbox<C>>,
    replenish: Replenish,
    latest: Arc<Latest<B>>,
}

impl<C, B> Combined<C, B> {
    /// Ends the stage: both sources are cancelled (those that ended are left alone).
    fn stop(&self) {
        self.inbox.discard();
        self.latest.upstream.cancel();
    }

    fn end(&self, end: Result<(), Error>) -> Pulled<C> {
        self.stop();
        match end {
            Ok(()) => Pulled::End,
            Err(error) => Pulled::Error(error),
        }
    }
}

impl<C: Send + 'static, B: Send + 'static> Pull for Combined<C, B> {
    type Item = C;

    fn name(&self) -> &'static str {
        STAGE
    }

    fn pull(&mut self, _demand: u64) -> Pulled<C> {
        if let Some(end) = self.latest.take() {
            return self.end(end);
        }
        match self.inbox.pull(&mut self.replenish) {
            Pulled::Ready(item) => Pulled::Ready(item),
            Pulled::Pending => Pulled::Pending,
            Pulled::End => self.end(Ok(())),
            Pulled::Error(error) => self.end(Err(error)),
        }
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        let end = self
            .latest
            .take()
            .or_else(|| self.inbox.poll_end(&mut self.replenish))?;
        self.stop();
        Some(end)
    }
}

impl<C, B> Drop for Combined<C, B> {
    /// However the subscription ended: both sources cancelled, queued elements dropped.
    fn drop(&mut self) {
        self.stop();
    }
}
