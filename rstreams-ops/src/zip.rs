//! `zip(other)` and `zip_with(other, f)`: the upstream's and `other`'s elements in pairs, by
//! position.

use std::fmt;
use std::sync::Arc;

use rstreams_core::support::{
    catch_panic, Engine, EngineConfig, ErrorMode, Inbox, InboxSubscriber, Pull, Pulled, Replenish,
};
use rstreams_core::{Error, Publisher, Subscriber};

const STAGE: &str = "zip";

/// What each side is asked for ahead of the pairs going out, and how many of its elements are
/// held at most: a side much faster than the other waits upstream, not in memory.
pub(crate) const SIDE_PREFETCH: usize = 32;

/// The publisher returned by [`zip`](crate::PublisherExt::zip) and
/// [`zip_with`](crate::PublisherExt::zip_with).
#[must_use = "publishers do nothing until subscribed"]
pub struct Zip<P, Q, F> {
    source: P,
    other: Q,
    f: Arc<F>,
}

/// The pairing of [`zip`](crate::PublisherExt::zip).
pub type Pair<A, B> = fn(A, B) -> (A, B);

impl<P, Q, F> Zip<P, Q, F> {
    pub(crate) fn new(source: P, other: Q, f: F) -> Self {
        Zip {
            source,
            other,
            f: Arc::new(f),
        }
    }
}

impl<P: Clone, Q: Clone, F> Clone for Zip<P, Q, F> {
    fn clone(&self) -> Self {
        Zip {
            source: self.source.clone(),
            other: self.other.clone(),
            f: Arc::clone(&self.f),
        }
    }
}

impl<P: fmt::Debug, Q: fmt::Debug, F> fmt::Debug for Zip<P, Q, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Zip")
            .field("source", &self.source)
            .field("other", &self.other)
            .finish_non_exhaustive()
    }
}

impl<P, Q, F, C> Publisher for Zip<P, Q, F>
where
    P: Publisher,
    P::Item: Send + 'static,
    Q: Publisher,
    Q::Item: Send + 'static,
    F: Fn(P::Item, Q::Item) -> C + Send + Sync + 'static,
    C: Send + 'static,
{
    type Item = C;

    fn subscribe<S: Subscriber<C> + 'static>(&self, subscriber: S) {
        subscribe_two(
            STAGE,
            &self.source,
            &self.other,
            |left, right| Pairs {
                left,
                right,
                held_left: None,
                held_right: None,
                f: Arc::clone(&self.f),
            },
            subscriber,
        );
    }
}

/// Subscribes a two-input stage: one queue per input ([`side`]), the stage's pull `make`s
/// from the two, started as the downstream's engine; both inputs subscribed with the loop
/// held, so that a synchronous input fills its prefetch and returns instead of being drained
/// alone before the other is subscribed.
pub(crate) fn subscribe_two<P, Q, X, S>(
    stage: &'static str,
    source: &P,
    other: &Q,
    make: impl FnOnce(Side<P::Item>, Side<Q::Item>) -> X,
    subscriber: S,
) where
    P: Publisher + ?Sized,
    P::Item: Send + 'static,
    Q: Publisher + ?Sized,
    Q::Item: Send + 'static,
    X: Pull,
    S: Subscriber<X::Item> + 'static,
{
    let left = Arc::new(side(stage));
    let right = Arc::new(side(stage));
    let engine = Engine::start(
        make(Side::new(&left), Side::new(&right)),
        subscriber,
        EngineConfig::new().upstream(Arc::clone(left.upstream())),
    );
    engine.deferring(|| {
        source.subscribe(InboxSubscriber::new(left, Arc::clone(&engine)));
        other.subscribe(InboxSubscriber::new(right, Arc::clone(&engine)));
    });
}

/// The queue of one input of a two-input stage: [`SIDE_PREFETCH`] ahead, replenished at 75 %;
/// an error goes downstream at once.
fn side<T>(stage: &'static str) -> Inbox<T> {
    Inbox::new(stage, SIDE_PREFETCH, ErrorMode::Immediate).expect("the prefetch is not 0")
}

/// One input of a two-input stage, as its drain loop reads it.
pub(crate) struct Side<T> {
    pub(crate) inbox: Arc<Inbox<T>>,
    pub(crate) replenish: Replenish,
}

impl<T> Side<T> {
    pub(crate) fn new(inbox: &Arc<Inbox<T>>) -> Self {
        Side {
            inbox: Arc::clone(inbox),
            replenish: inbox.replenish(),
        }
    }

    pub(crate) fn pull(&mut self) -> Pulled<T> {
        self.inbox.pull(&mut self.replenish)
    }

    pub(crate) fn poll_end(&mut self) -> Option<Result<(), Error>> {
        self.inbox.poll_end(&mut self.replenish)
    }
}

/// The downstream's side: takes one element from each input and emits the pair.
struct Pairs<A, B, F> {
    left: Side<A>,
    right: Side<B>,
    /// An element of one input waiting for its partner from the other: at most one each.
    held_left: Option<A>,
    held_right: Option<B>,
    f: Arc<F>,
}

/// What one input gave towards the next pair.
enum Took<T> {
    /// An element, or none yet (the input is pending).
    Item(Option<T>),
    /// The input ended and everything it sent was paired: no more pairs can be made.
    Over(Result<(), Error>),
}

fn take<T>(side: &mut Side<T>, held: Option<T>) -> Took<T> {
    if held.is_some() {
        return Took::Item(held);
    }
    match side.pull() {
        Pulled::Ready(item) => Took::Item(Some(item)),
        Pulled::Pending => Took::Item(None),
        Pulled::End => Took::Over(Ok(())),
        Pulled::Error(error) => Took::Over(Err(error)),
    }
}

impl<A, B, F> Pairs<A, B, F> {
    /// Ends the stage: both inputs are cancelled (one that ended is left alone) and what they
    /// queued is dropped.
    fn stop(&mut self) {
        self.left.inbox.discard();
        self.right.inbox.discard();
        self.held_left = None;
        self.held_right = None;
    }

    fn finish<C>(&mut self, end: Result<(), Error>) -> Pulled<C> {
        self.stop();
        match end {
            Ok(()) => Pulled::End,
            Err(error) => Pulled::Error(error),
        }
    }
}

impl<A, B, F, C> Pull for Pairs<A, B, F>
where
    A: Send + 'static,
    B: Send + 'static,
    F: Fn(A, B) -> C + Send + Sync + 'static,
    C: Send + 'static,
{
    type Item = C;

    fn name(&self) -> &'static str {
        STAGE
    }

    fn pull(&mut self, _demand: u64) -> Pulled<C> {
        let a = match take(&mut self.left, self.held_left.take()) {
            Took::Item(a) => a,
            Took::Over(end) => return self.finish(end),
        };
        let b = match take(&mut self.right, self.held_right.take()) {
            Took::Item(b) => b,
            Took::Over(end) => return self.finish(end),
        };
        match (a, b) {
            (Some(a), Some(b)) => match catch_panic("closure", || (self.f)(a, b)) {
                Ok(pair) => Pulled::Ready(pair),
                Err(error) => self.finish(Err(error.in_stage(STAGE))),
            },
            (a, b) => {
                self.held_left = a;
                self.held_right = b;
                Pulled::Pending
            }
        }
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        // An input that ended with nothing of it left unpaired ends the zip (Reactor's rule):
        // the other's queued elements can never be paired. An error ends it at once.
        let left = self.left.poll_end();
        let right = self.right.poll_end();
        let end = match (left, right) {
            (Some(Err(error)), _) | (_, Some(Err(error))) => Err(error),
            (left, right) => {
                let over = (left.is_some() && self.held_left.is_none())
                    || (right.is_some() && self.held_right.is_none());
                if !over {
                    return None;
                }
                Ok(())
            }
        };
        self.stop();
        Some(end)
    }
}

impl<A, B, F> Drop for Pairs<A, B, F> {
    /// However the subscription ended: both inputs cancelled, queued elements dropped.
    fn drop(&mut self) {
        self.left.inbox.discard();
        self.right.inbox.discard();
    }
}
