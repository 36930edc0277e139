//! `take_until(other)`: the upstream's elements until `other` emits, then completion.

use std::fmt;
use std::sync::Arc;

use rstreams_core::support::{
    Engine, EngineConfig, ErrorMode, Inbox, InboxSubscriber, Pull, Pulled, Replenish, UpstreamSlot,
    Wake,
};
use rstreams_core::sync::{AtomicBool, Mutex, Ordering};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

use crate::relay::Relayed;

const STAGE: &str = "take_until";

/// The publisher returned by [`take_until`](crate::PublisherExt::take_until).
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct TakeUntil<P, Q> {
    source: P,
    other: Q,
}

impl<P, Q> TakeUntil<P, Q> {
    pub(crate) fn new(source: P, other: Q) -> Self {
        TakeUntil { source, other }
    }
}

impl<P: fmt::Debug, Q> fmt::Debug for TakeUntil<P, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TakeUntil")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<P, Q> Publisher for TakeUntil<P, Q>
where
    P: Publisher,
    P::Item: Send + 'static,
    Q: Publisher,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        // Demand passes through: the inbox asks nothing on its own, and holds at most what the
        // downstream requested (elements on their way to it).
        let inbox = Arc::new(
            Inbox::new(STAGE, usize::MAX, ErrorMode::Immediate)
                .expect("a capacity of usize::MAX is valid")
                .on_demand(),
        );
        let signal = Arc::new(Signal {
            upstream: UpstreamSlot::new(),
            end: Mutex::new(None),
            ended: AtomicBool::new(false),
        });
        let route = Arc::clone(inbox.upstream());
        let engine = Engine::start(
            Until {
                replenish: inbox.replenish(),
                inbox: Arc::clone(&inbox),
                signal: Arc::clone(&signal),
            },
            Relayed::to_slot(subscriber, route.clone()),
            EngineConfig::new().upstream(route),
        );
        // `other` first: one that fires at once ends the stream before the upstream is asked
        // for anything (the upstream's subscription is then cancelled as it arrives).
        self.other.subscribe(Trigger {
            signal,
            engine: engine.clone() as Arc<dyn Wake>,
            done: false,
        });
        self.source.subscribe(InboxSubscriber::new(inbox, engine));
    }
}

/// What `other` decided: the stream ends (its first element) or fails (its error).
struct Signal {
    /// `other`'s subscription, asked for one element.
    upstream: UpstreamSlot,
    /// `Ok`: `other` emitted, complete; `Err`: `other` failed. Set once.
    end: Mutex<Option<Result<(), Error>>>,
    /// `end` is set: read per element instead of locking.
    ended: AtomicBool,
}

impl Signal {
    fn decide(&self, end: Result<(), Error>) -> bool {
        let mut slot = self.end.lock();
        if slot.is_some() {
            return false;
        }
        *slot = Some(end);
        self.ended.store(true, Ordering::Release);
        true
    }

    /// The decision, once made (taken: the stage ends with it).
    fn take(&self) -> Option<Result<(), Error>> {
        if self.ended.load(Ordering::Acquire) {
            self.end.lock().take().or(Some(Ok(())))
        } else {
            None
        }
    }
}

/// The subscriber given to `other`.
struct Trigger {
    signal: Arc<Signal>,
    engine: Arc<dyn Wake>,
    /// A terminal signal or the first element arrived: later signals are ignored (§1.7).
    done: bool,
}

impl<U> Subscriber<U> for Trigger {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if self.signal.upstream.set(subscription) {
            self.signal.upstream.request(1); // its first signal is all that matters
        }
    }

    fn on_next(&mut self, _: U) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.signal.upstream.cancel();
        if self.signal.decide(Ok(())) {
            self.engine.wake();
        }
    }

    fn on_error(&mut self, error: Error) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.signal.upstream.clear();
        if self.signal.decide(Err(error)) {
            self.engine.wake();
        }
    }

    fn on_complete(&mut self) {
        // `other` ended without emitting: the upstream runs on to its own end.
        if !std::mem::replace(&mut self.done, true) {
            self.signal.upstream.clear();
        }
    }
}

/// The downstream's side: the upstream's elements as demanded, until `other` decides.
struct Until<T> {
    inbox: Arc<Inbox<T>>,
    replenish: Replenish,
    signal: Arc<Signal>,
}

impl<T> Until<T> {
    /// Ends the stage: both sources are cancelled (those that ended are left alone).
    fn stop(&self) {
        self.inbox.discard();
        self.signal.upstream.cancel();
    }

    fn end(&self, end: Result<(), Error>) -> Pulled<T> {
        self.stop();
        match end {
            Ok(()) => Pulled::End,
            Err(error) => Pulled::Error(error),
        }
    }
}

impl<T: Send + 'static> Pull for Until<T> {
    type Item = T;

    fn name(&self) -> &'static str {
        STAGE
    }

    fn pull(&mut self, _demand: u64) -> Pulled<T> {
        if let Some(end) = self.signal.take() {
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
            .signal
            .take()
            .or_else(|| self.inbox.poll_end(&mut self.replenish))?;
        self.stop();
        Some(end)
    }
}

impl<T> Drop for Until<T> {
    /// However the subscription ended: both sources cancelled, queued elements dropped.
    fn drop(&mut self) {
        self.stop();
    }
}
