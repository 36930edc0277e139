//! `scan(initial, f)`: emits a running state.

use std::fmt;
use std::sync::Arc;

use crate::shared_fn::SharedFn;
use rstreams_core::support::catch_panic;
use rstreams_core::support::Link;
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// The publisher returned by [`PublisherExt::scan`](crate::PublisherExt::scan): keeps a state
/// per subscription, starting from a clone of `initial`, and emits `f(&mut state, x)` for each
/// element `x`.
///
/// Pass-through: the downstream's requests and cancel go straight to the source.
#[must_use = "publishers do nothing until subscribed"]
pub struct Scan<P, A, F: 'static> {
    source: P,
    initial: A,
    f: SharedFn<F>,
}

impl<P, A, F: 'static> Scan<P, A, F> {
    pub(crate) fn new(source: P, initial: A, f: F) -> Self {
        Scan {
            source,
            initial,
            f: SharedFn::new(f),
        }
    }
}

impl<P: Clone, A: Clone, F: 'static> Clone for Scan<P, A, F> {
    fn clone(&self) -> Self {
        Scan {
            source: self.source.clone(),
            initial: self.initial.clone(),
            f: self.f.clone(),
        }
    }
}

impl<P: fmt::Debug, A: fmt::Debug, F: 'static> fmt::Debug for Scan<P, A, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scan")
            .field("source", &self.source)
            .field("initial", &self.initial)
            .finish_non_exhaustive()
    }
}

impl<P, A, F: 'static, U> Publisher for Scan<P, A, F>
where
    P: Publisher,
    A: Clone + Send + 'static,
    F: Fn(&mut A, P::Item) -> U + Send + Sync + 'static,
{
    type Item = U;

    fn subscribe<S: Subscriber<U> + 'static>(&self, subscriber: S) {
        self.source.subscribe(ScanSubscriber {
            downstream: subscriber,
            state: self.initial.clone(),
            f: self.f.clone(),
            link: Link::new(),
        });
    }
}

struct ScanSubscriber<S, A, F: 'static> {
    downstream: S,
    state: A,
    f: SharedFn<F>,
    link: Link,
}

impl<S, A, F: 'static> ScanSubscriber<S, A, F> {
    /// Runs the accumulator; on a panic fails the stage and returns `None`.
    #[inline(always)]
    fn step<T, U>(&mut self, item: T) -> Option<U>
    where
        S: Subscriber<U>,
        F: Fn(&mut A, T) -> U,
    {
        let (f, state) = (&self.f, &mut self.state);
        match catch_panic("accumulator", || f(state, item)) {
            Ok(out) => Some(out),
            Err(error) => {
                if self.link.fail() {
                    self.downstream.on_error(error.in_stage("scan"));
                }
                None
            }
        }
    }
}

impl<T, U, S, A, F: 'static> Subscriber<T> for ScanSubscriber<S, A, F>
where
    S: Subscriber<U>,
    A: Send,
    F: Fn(&mut A, T) -> U + Send + Sync,
{
    rstreams_core::forward_wanted!(downstream);

    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if let Some(subscription) = self.link.accept(subscription) {
            self.downstream.on_subscribe(subscription);
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if self.link.is_done() {
            return;
        }
        if let Some(out) = self.step(item) {
            self.downstream.on_next(out);
        }
    }

    #[inline(always)]
    fn try_on_next(&mut self, item: T) -> bool {
        if self.link.is_done() {
            return true;
        }
        match self.step(item) {
            Some(out) => self.downstream.try_on_next(out),
            None => true,
        }
    }

    fn on_error(&mut self, error: Error) {
        if self.link.finish() {
            self.downstream.on_error(error);
        }
    }

    fn on_complete(&mut self) {
        if self.link.finish() {
            self.downstream.on_complete();
        }
    }
}
