//! `on_error_resume(f)`: on an upstream error, continues with the publisher `f` makes for it,
//! on the support [`Arbiter`]. `on_error_return` is built on the same switch.

use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;

use rstreams_core::support::{catch_panic, Arbiter};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// Names the stage in errors.
const NAME: &str = "on_error_resume";

/// The publisher returned by
/// [`PublisherExt::on_error_resume`](crate::PublisherExt::on_error_resume).
#[must_use = "publishers do nothing until subscribed"]
pub struct OnErrorResume<P, F> {
    source: P,
    f: Arc<F>,
}

impl<P, F> OnErrorResume<P, F> {
    pub(crate) fn new(source: P, f: F) -> Self {
        OnErrorResume {
            source,
            f: Arc::new(f),
        }
    }
}

impl<P: Clone, F> Clone for OnErrorResume<P, F> {
    fn clone(&self) -> Self {
        OnErrorResume {
            source: self.source.clone(),
            f: Arc::clone(&self.f),
        }
    }
}

impl<P: fmt::Debug, F> fmt::Debug for OnErrorResume<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnErrorResume")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<P, F, Q> Publisher for OnErrorResume<P, F>
where
    P: Publisher,
    P::Item: 'static,
    F: Fn(Error) -> Q + Send + Sync + 'static,
    Q: Publisher<Item = P::Item>,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        let f = Arc::clone(&self.f);
        subscribe_resuming(
            &self.source,
            subscriber,
            move |error, fallback| match catch_panic(NAME, || f(error)) {
                Ok(next) => next.subscribe(fallback),
                Err(panicked) => fallback.fail(panicked.in_stage(NAME)),
            },
        );
    }
}

/// Subscribes `downstream` to `source` through an [`Arbiter`]; on the source's first error
/// (unless the downstream called `request(0)` or cancelled) calls `resume` with the error and
/// the [`Fallback`] subscriber that carries the downstream on: `resume` subscribes it to the
/// next publisher, or fails it.
pub(crate) fn subscribe_resuming<P, S, R>(source: &P, mut downstream: S, resume: R)
where
    P: Publisher,
    P::Item: 'static,
    S: Subscriber<P::Item> + 'static,
    R: FnOnce(Error, Fallback<S>) + Send + 'static,
{
    let arbiter = Arc::new(Arbiter::new());
    let subscription: Arc<dyn Subscription> = arbiter.clone();
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| downstream.on_subscribe(subscription))) {
        arbiter.cancel(); // §2.13: treated as a cancel
        resume_unwind(payload);
    }
    if arbiter.is_cancelled() {
        return; // §3.13: the downstream is dropped here
    }
    source.subscribe(Primary {
        downstream: Some(downstream),
        produced: 0,
        subscribed: false,
        arbiter,
        resume: Some(resume),
    });
}

/// The subscriber given to the source: passes its signals on and counts what it delivered; on
/// an error hands the downstream to `resume`.
struct Primary<S, R> {
    /// `None` once handed over or ended: later signals are ignored (§1.7).
    downstream: Option<S>,
    /// Elements delivered, for the arbiter's carry-over.
    produced: u64,
    /// §2.5: a second `on_subscribe` is cancelled.
    subscribed: bool,
    arbiter: Arc<Arbiter>,
    resume: Option<R>,
}

impl<T, S, R> Subscriber<T> for Primary<S, R>
where
    S: Subscriber<T>,
    R: FnOnce(Error, Fallback<S>) + Send,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if std::mem::replace(&mut self.subscribed, true) || self.downstream.is_none() {
            subscription.cancel(); // §2.5
            return;
        }
        self.arbiter.switch_to(subscription, 0);
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if let Some(downstream) = self.downstream.as_mut() {
            self.produced += 1;
            downstream.on_next(item);
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        match self.downstream.as_mut() {
            Some(downstream) => {
                let used = downstream.try_on_next(item);
                self.produced += used as u64;
                used
            }
            None => true,
        }
    }

    fn on_error(&mut self, error: Error) {
        let Some(mut downstream) = self.downstream.take() else {
            return;
        };
        self.arbiter.clear();
        if self.arbiter.is_cancelled() {
            return; // nobody is listening; the downstream is dropped here (§3.13)
        }
        match self.resume.take() {
            // A request(0) error is the downstream's own fault: never resumed (§3.9).
            Some(resume) if !self.arbiter.is_bad_request() => resume(
                error,
                Fallback {
                    downstream: Some(downstream),
                    produced: self.produced,
                    subscribed: false,
                    arbiter: Arc::clone(&self.arbiter),
                },
            ),
            _ => downstream.on_error(error),
        }
    }

    fn on_complete(&mut self) {
        if let Some(mut downstream) = self.downstream.take() {
            self.arbiter.clear();
            downstream.on_complete();
        }
    }
}

/// The subscriber given to the publisher that takes over after an error: asks it, through the
/// arbiter, for exactly the demand still outstanding, and passes everything on.
pub(crate) struct Fallback<S> {
    downstream: Option<S>,
    produced: u64,
    subscribed: bool,
    arbiter: Arc<Arbiter>,
}

impl<S> Fallback<S> {
    /// Ends the stream with `error` instead of subscribing to anything (the function that was
    /// to make the next publisher panicked).
    pub(crate) fn fail<T>(mut self, error: Error)
    where
        S: Subscriber<T>,
    {
        if let Some(mut downstream) = self.downstream.take() {
            downstream.on_error(error);
        }
    }
}

impl<T, S: Subscriber<T>> Subscriber<T> for Fallback<S> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if std::mem::replace(&mut self.subscribed, true) || self.downstream.is_none() {
            subscription.cancel(); // §2.5
            return;
        }
        // Cancels `subscription` instead if the downstream cancelled meanwhile.
        self.arbiter.switch_to(subscription, self.produced);
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if let Some(downstream) = self.downstream.as_mut() {
            downstream.on_next(item);
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        match self.downstream.as_mut() {
            Some(downstream) => downstream.try_on_next(item),
            None => true,
        }
    }

    fn on_error(&mut self, error: Error) {
        if let Some(mut downstream) = self.downstream.take() {
            self.arbiter.clear();
            downstream.on_error(error);
        }
    }

    fn on_complete(&mut self) {
        if let Some(mut downstream) = self.downstream.take() {
            self.arbiter.clear();
            downstream.on_complete();
        }
    }
}
