//! `conflate(f)`: while the downstream is slow, combines what arrives into one pending value.
//!
//! The downstream's subscription is an [`Engine`] around a [`ConflatePull`] that takes the
//! pending value; the upstream's subscriber ([`Inlet`]) asks for everything and folds each
//! element into the pending value with `f`, outside the lock.

use std::fmt;
use std::sync::Arc;

use rstreams_core::support::{
    catch_panic, Engine, EngineConfig, Pull, Pulled, UpstreamSlot, Wake, UNBOUNDED,
};
use rstreams_core::sync::Mutex;
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// Names the stage in errors.
const NAME: &str = "conflate";

/// The publisher returned by [`conflate`](crate::PublisherExt::conflate).
#[must_use = "publishers do nothing until subscribed"]
pub struct Conflate<P, F> {
    source: P,
    f: Arc<F>,
}

impl<P, F> Conflate<P, F> {
    pub(crate) fn new(source: P, f: F) -> Self {
        Conflate {
            source,
            f: Arc::new(f),
        }
    }
}

impl<P: Clone, F> Clone for Conflate<P, F> {
    fn clone(&self) -> Self {
        Conflate {
            source: self.source.clone(),
            f: Arc::clone(&self.f),
        }
    }
}

impl<P: fmt::Debug, F> fmt::Debug for Conflate<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conflate")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<P, F> Publisher for Conflate<P, F>
where
    P: Publisher,
    P::Item: Send + 'static,
    F: Fn(P::Item, P::Item) -> P::Item + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        let shared = Arc::new(Shared {
            upstream: Arc::new(UpstreamSlot::new()),
            state: Mutex::new(State {
                pending: None,
                end: None,
                closed: false,
            }),
        });
        let engine = Engine::start(
            ConflatePull {
                shared: Arc::clone(&shared),
            },
            subscriber,
            EngineConfig::new().upstream(Arc::clone(&shared.upstream)),
        );
        self.source.subscribe(Inlet {
            shared,
            f: Arc::clone(&self.f),
            engine: engine as Arc<dyn Wake>,
        });
    }
}

struct Shared<T> {
    upstream: Arc<UpstreamSlot>,
    state: Mutex<State<T>>,
}

struct State<T> {
    /// Everything that arrived since the downstream last took a value, combined.
    pending: Option<T>,
    /// How the upstream ended, or `f` failed; delivered after the pending value.
    end: Option<Result<(), Error>>,
    /// Nothing is accepted any more.
    closed: bool,
}

/// The downstream's side: takes the pending value, then the end.
struct ConflatePull<T> {
    shared: Arc<Shared<T>>,
}

impl<T: Send + 'static> Pull for ConflatePull<T> {
    type Item = T;

    fn name(&self) -> &'static str {
        NAME
    }

    fn pull(&mut self, _demand: u64) -> Pulled<T> {
        let mut state = self.shared.state.lock();
        if let Some(item) = state.pending.take() {
            return Pulled::Ready(item);
        }
        match state.end.take() {
            Some(Ok(())) => Pulled::End,
            Some(Err(error)) => Pulled::Error(error),
            None => Pulled::Pending,
        }
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        let mut state = self.shared.state.lock();
        if state.pending.is_some() {
            return None; // the value goes out first, when demand allows
        }
        state.end.take()
    }
}

impl<T> Drop for ConflatePull<T> {
    /// The subscription ended: the pending value goes with it.
    fn drop(&mut self) {
        let pending = {
            let mut state = self.shared.state.lock();
            state.closed = true;
            state.pending.take()
        };
        drop(pending);
    }
}

/// The subscriber given to the upstream: folds elements into the pending value.
struct Inlet<T, F> {
    shared: Arc<Shared<T>>,
    f: Arc<F>,
    engine: Arc<dyn Wake>,
}

impl<T, F> Inlet<T, F> {
    fn end(&self, end: Result<(), Error>) {
        {
            let mut state = self.shared.state.lock();
            if state.closed {
                return; // after a cancel, a failure of `f` or an end (§1.7)
            }
            state.closed = true;
            state.end = Some(end);
        }
        self.engine.wake();
    }
}

impl<T, F> Subscriber<T> for Inlet<T, F>
where
    T: Send + 'static,
    F: Fn(T, T) -> T + Send + Sync + 'static,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        // §2.5: a second subscription, or one after the downstream cancelled, is cancelled.
        if self.shared.upstream.set(subscription) {
            self.shared.upstream.request(UNBOUNDED);
        }
    }

    fn on_next(&mut self, item: T) {
        let previous = {
            let mut state = self.shared.state.lock();
            if state.closed {
                return; // after a cancel, a failure or the end: dropped (§2.8, §1.7)
            }
            match state.pending.take() {
                None => {
                    state.pending = Some(item);
                    drop(state);
                    self.engine.wake();
                    return;
                }
                Some(previous) => previous,
            }
        };
        // The value is out of the state while `f` runs (user code, outside the lock): the
        // downstream finds nothing meanwhile, and is woken when the combined value is back.
        let f = &self.f;
        match catch_panic("closure", || f(previous, item)) {
            Ok(combined) => {
                let late = {
                    let mut state = self.shared.state.lock();
                    if state.closed {
                        Some(combined) // the subscription ended meanwhile
                    } else {
                        state.pending = Some(combined);
                        None
                    }
                };
                drop(late);
                self.engine.wake();
            }
            Err(error) => {
                self.shared.upstream.cancel();
                self.end(Err(error.in_stage(NAME)));
            }
        }
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
