//! The stage behind `reduce`, `fold`, `count`, `first`, `last`, `collect_vec` and `take_last`:
//! an accumulator fed by the upstream, whose results go out as the downstream asks.
//!
//! The accumulator lives in the upstream's subscriber (no lock per element); when the upstream
//! completes (or the accumulator has decided early, as `first` does), its results move to the
//! downstream's side, an [`Engine`] that emits them under demand and completes.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use rstreams_core::support::{
    catch_panic, Engine, EngineConfig, Pull, Pulled, UpstreamSlot, Wake, UNBOUNDED,
};
use rstreams_core::sync::Mutex;
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// What an aggregate accumulates, per subscription (a fresh clone each time).
pub trait Accumulate<T>: Clone + Send + 'static {
    /// What it emits.
    type Out: Send + 'static;
    /// Names the stage in errors.
    const NAME: &'static str;
    /// What it asks of its upstream, once, at subscription: everything for most; `first`
    /// asks for one.
    const UPSTREAM: u64 = UNBOUNDED;
    /// Takes an element. `false`: the result is decided; the upstream is cancelled.
    fn push(&mut self, item: T) -> bool;
    /// The results, in order, once the upstream completed or `push` decided.
    fn finish(self) -> VecDeque<Self::Out>;
}

/// The publisher returned by the aggregating operators of [`PublisherExt`](crate::PublisherExt)
/// (`reduce`, `fold`, `count`, `first`, `last`, `collect_vec`, `take_last`).
#[must_use = "publishers do nothing until subscribed"]
pub struct Aggregate<P, A> {
    source: P,
    initial: A,
}

impl<P, A> Aggregate<P, A> {
    pub(crate) fn new(source: P, initial: A) -> Self {
        Aggregate { source, initial }
    }
}

impl<P: Clone, A: Clone> Clone for Aggregate<P, A> {
    fn clone(&self) -> Self {
        Aggregate {
            source: self.source.clone(),
            initial: self.initial.clone(),
        }
    }
}

impl<P: fmt::Debug, A> fmt::Debug for Aggregate<P, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aggregate")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<P, A> Publisher for Aggregate<P, A>
where
    P: Publisher,
    A: Accumulate<P::Item>,
{
    type Item = A::Out;

    fn subscribe<S: Subscriber<A::Out> + 'static>(&self, subscriber: S) {
        let shared = Arc::new(Shared {
            upstream: Arc::new(UpstreamSlot::new()),
            result: Mutex::new(None),
        });
        let engine = Engine::start(
            Results {
                shared: Arc::clone(&shared),
                out: None,
                name: A::NAME,
            },
            subscriber,
            EngineConfig::new().upstream(Arc::clone(&shared.upstream)),
        );
        self.source.subscribe(Accumulating {
            acc: Some(self.initial.clone()),
            shared,
            engine: engine as Arc<dyn Wake>,
        });
    }
}

/// What the two sides share.
struct Shared<O> {
    upstream: Arc<UpstreamSlot>,
    /// The outcome, once decided: the results to emit, or the error to end with.
    result: Mutex<Option<Result<VecDeque<O>, Error>>>,
}

/// The subscriber given to the upstream: accumulates.
struct Accumulating<A, O> {
    /// `None` once decided (the upstream ended, or the accumulator decided early): later
    /// signals are ignored (§1.7, §2.8).
    acc: Option<A>,
    shared: Arc<Shared<O>>,
    engine: Arc<dyn Wake>,
}

impl<A, O> Accumulating<A, O> {
    fn decide(&mut self, outcome: Result<VecDeque<O>, Error>) {
        *self.shared.result.lock() = Some(outcome);
        self.engine.wake();
    }
}

impl<T, A> Subscriber<T> for Accumulating<A, A::Out>
where
    A: Accumulate<T>,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if self.shared.upstream.set(subscription) {
            self.shared.upstream.request(A::UPSTREAM);
        }
    }

    fn on_next(&mut self, item: T) {
        let Some(acc) = self.acc.as_mut() else {
            return;
        };
        match catch_panic("closure", || acc.push(item)) {
            Ok(true) => {}
            Ok(false) => {
                self.shared.upstream.cancel(); // decided: nothing more is needed
                let acc = self.acc.take().expect("checked above");
                match catch_panic("closure", || acc.finish()) {
                    Ok(results) => self.decide(Ok(results)),
                    Err(error) => self.decide(Err(error.in_stage(A::NAME))),
                }
            }
            Err(error) => {
                self.acc = None;
                self.shared.upstream.cancel();
                self.decide(Err(error.in_stage(A::NAME)));
            }
        }
    }

    fn on_error(&mut self, error: Error) {
        if self.acc.take().is_some() {
            self.shared.upstream.clear();
            self.decide(Err(error));
        }
    }

    fn on_complete(&mut self) {
        if let Some(acc) = self.acc.take() {
            self.shared.upstream.clear();
            match catch_panic("closure", || acc.finish()) {
                Ok(results) => self.decide(Ok(results)),
                Err(error) => self.decide(Err(error.in_stage(A::NAME))),
            }
        }
    }
}

/// The downstream's side: emits the results under demand, then completes.
struct Results<O> {
    shared: Arc<Shared<O>>,
    /// The results not yet emitted, once decided.
    out: Option<VecDeque<O>>,
    name: &'static str,
}

impl<O> Results<O> {
    /// Takes the outcome once it is decided; `Err` to end with.
    fn settle(&mut self) -> Result<(), Error> {
        if self.out.is_none() {
            match self.shared.result.lock().take() {
                Some(Ok(results)) => self.out = Some(results),
                Some(Err(error)) => return Err(error),
                None => {}
            }
        }
        Ok(())
    }
}

impl<O: Send + 'static> Pull for Results<O> {
    type Item = O;

    fn name(&self) -> &'static str {
        self.name
    }

    fn pull(&mut self, _demand: u64) -> Pulled<O> {
        if let Err(error) = self.settle() {
            return Pulled::Error(error);
        }
        match self.out.as_mut() {
            None => Pulled::Pending,
            Some(out) => match out.pop_front() {
                Some(item) => Pulled::Ready(item),
                None => Pulled::End,
            },
        }
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        if let Err(error) = self.settle() {
            return Some(Err(error));
        }
        match &self.out {
            Some(out) if out.is_empty() => Some(Ok(())),
            _ => None,
        }
    }
}
