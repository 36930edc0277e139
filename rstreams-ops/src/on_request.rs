//! `on_request(f)`: sees each downstream `request(n)` before it goes upstream.

use std::fmt;
use std::sync::Arc;

use rstreams_core::support::{catch_panic, Link};
use rstreams_core::sync::{AtomicBool, Mutex, Ordering};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// Names the stage in errors.
const NAME: &str = "on_request";

/// The publisher returned by [`PublisherExt::on_request`](crate::PublisherExt::on_request).
#[must_use = "publishers do nothing until subscribed"]
pub struct OnRequest<P, F> {
    source: P,
    f: Arc<F>,
}

impl<P, F> OnRequest<P, F> {
    pub(crate) fn new(source: P, f: F) -> Self {
        OnRequest {
            source,
            f: Arc::new(f),
        }
    }
}

impl<P: Clone, F> Clone for OnRequest<P, F> {
    fn clone(&self) -> Self {
        OnRequest {
            source: self.source.clone(),
            f: Arc::clone(&self.f),
        }
    }
}

impl<P: fmt::Debug, F> fmt::Debug for OnRequest<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnRequest")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<P, F> Publisher for OnRequest<P, F>
where
    P: Publisher,
    F: Fn(u64) + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.source.subscribe(OnRequestSubscriber {
            downstream: subscriber,
            shared: Arc::new(Shared {
                f: Arc::clone(&self.f),
                failed: AtomicBool::new(false),
                failure: Mutex::new(None),
            }),
            link: Link::new(),
        });
    }
}

/// The hook, and its failure waiting to be signalled.
struct Shared<F> {
    f: Arc<F>,
    /// `failure` was set: elements are no longer passed on (one load per element).
    failed: AtomicBool,
    failure: Mutex<Option<Error>>,
}

struct OnRequestSubscriber<S, F> {
    downstream: S,
    shared: Arc<Shared<F>>,
    link: Link,
}

impl<S, F> OnRequestSubscriber<S, F> {
    /// The terminal signal: the hook's failure, if there is one, replaces it.
    fn end<T>(&mut self, end: Result<(), Error>)
    where
        S: Subscriber<T>,
    {
        if !self.link.finish() {
            return;
        }
        let failure = self.shared.failure.lock().take();
        match (failure, end) {
            (Some(error), _) | (None, Err(error)) => self.downstream.on_error(error),
            (None, Ok(())) => self.downstream.on_complete(),
        }
    }
}

impl<T, S, F> Subscriber<T> for OnRequestSubscriber<S, F>
where
    S: Subscriber<T>,
    F: Fn(u64) + Send + Sync + 'static,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if let Some(upstream) = self.link.accept(subscription) {
            self.downstream
                .on_subscribe(Arc::new(OnRequestSubscription {
                    upstream,
                    shared: Arc::clone(&self.shared),
                }));
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if !self.link.is_done() && !self.shared.failed.load(Ordering::Acquire) {
            self.downstream.on_next(item);
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        if self.link.is_done() || self.shared.failed.load(Ordering::Acquire) {
            return true;
        }
        self.downstream.try_on_next(item)
    }

    fn on_error(&mut self, error: Error) {
        self.end(Err(error));
    }

    fn on_complete(&mut self) {
        self.end(Ok(()));
    }
}

/// The upstream's subscription with the hook in front of each request.
struct OnRequestSubscription<F> {
    upstream: Arc<dyn Subscription>,
    shared: Arc<Shared<F>>,
}

impl<F: Fn(u64) + Send + Sync + 'static> Subscription for OnRequestSubscription<F> {
    fn request(&self, n: u64) {
        if self.shared.failed.load(Ordering::Acquire) {
            return;
        }
        match catch_panic(NAME, || (self.shared.f)(n)) {
            Ok(()) => self.upstream.request(n),
            Err(error) => {
                *self.shared.failure.lock() = Some(error.in_stage(NAME));
                self.shared.failed.store(true, Ordering::Release);
                // The failure must reach the downstream serially with the upstream's own
                // signals, which may be under way on another thread (or be this very
                // request's caller, inside `on_next`). `request(0)` makes the upstream end the
                // subscription itself and signal `on_error` from its own context (§3.9); that
                // signal is replaced with the hook's failure.
                self.upstream.request(0);
            }
        }
    }

    fn cancel(&self) {
        self.upstream.cancel();
    }
}
