//! `finally(f)`: runs exactly once when the subscription ends, however it ends.

use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;

use rstreams_core::support::{catch_panic, Link};
use rstreams_core::sync::{AtomicBool, Ordering};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// Names the stage in errors.
const NAME: &str = "finally";

/// The publisher returned by [`PublisherExt::finally`](crate::PublisherExt::finally).
#[must_use = "publishers do nothing until subscribed"]
pub struct Finally<P, F> {
    source: P,
    f: Arc<F>,
}

impl<P, F> Finally<P, F> {
    pub(crate) fn new(source: P, f: F) -> Self {
        Finally {
            source,
            f: Arc::new(f),
        }
    }
}

impl<P: Clone, F> Clone for Finally<P, F> {
    fn clone(&self) -> Self {
        Finally {
            source: self.source.clone(),
            f: Arc::clone(&self.f),
        }
    }
}

impl<P: fmt::Debug, F> fmt::Debug for Finally<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Finally")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<P, F> Publisher for Finally<P, F>
where
    P: Publisher,
    F: Fn() + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.source.subscribe(FinallySubscriber {
            downstream: subscriber,
            once: Arc::new(Once {
                f: Arc::clone(&self.f),
                ran: AtomicBool::new(false),
            }),
            link: Link::new(),
        });
    }
}

/// The hook and whether it ran: the first end of any kind runs it, the others find it done.
struct Once<F> {
    f: Arc<F>,
    ran: AtomicBool,
}

impl<F: Fn()> Once<F> {
    fn run(&self) {
        if !self.ran.swap(true, Ordering::AcqRel) {
            // The subscription is over: a panic here has no one to be signalled to, and must
            // not unwind into whoever ended it (an upstream, a canceller, a timer).
            let _ = catch_panic(NAME, || (self.f)());
        }
    }
}

struct FinallySubscriber<S, F: Fn()> {
    downstream: S,
    once: Arc<Once<F>>,
    link: Link,
}

impl<S, F: Fn()> FinallySubscriber<S, F> {
    /// Calls the downstream; if it panics, the subscription is over (§2.13): the upstream is
    /// cancelled, the hook runs, and the panic goes on.
    #[inline]
    fn guarded<R>(&mut self, call: impl FnOnce(&mut S) -> R) -> R {
        match catch_unwind(AssertUnwindSafe(|| call(&mut self.downstream))) {
            Ok(result) => result,
            Err(payload) => {
                self.link.fail();
                self.once.run();
                resume_unwind(payload)
            }
        }
    }
}

impl<T, S, F> Subscriber<T> for FinallySubscriber<S, F>
where
    S: Subscriber<T>,
    F: Fn() + Send + Sync + 'static,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if let Some(upstream) = self.link.accept(subscription) {
            let subscription = Arc::new(FinallySubscription {
                upstream,
                once: Arc::clone(&self.once),
            });
            self.guarded(|downstream| downstream.on_subscribe(subscription));
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if !self.link.is_done() {
            self.guarded(|downstream| downstream.on_next(item));
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        if self.link.is_done() {
            return true;
        }
        self.guarded(|downstream| downstream.try_on_next(item))
    }

    fn on_error(&mut self, error: Error) {
        if self.link.finish() {
            self.guarded(|downstream| downstream.on_error(error));
            self.once.run();
        }
    }

    fn on_complete(&mut self) {
        if self.link.finish() {
            self.guarded(|downstream| downstream.on_complete());
            self.once.run();
        }
    }
}

impl<S, F: Fn()> Drop for FinallySubscriber<S, F> {
    /// The upstream let go of its subscriber without a terminal signal or a cancel from the
    /// downstream (it broke down, or was dropped): the subscription is over all the same.
    fn drop(&mut self) {
        self.once.run();
    }
}

/// The upstream's subscription, with the hook after the cancel.
struct FinallySubscription<F> {
    upstream: Arc<dyn Subscription>,
    once: Arc<Once<F>>,
}

impl<F: Fn() + Send + Sync> Subscription for FinallySubscription<F> {
    fn request(&self, n: u64) {
        self.upstream.request(n);
    }

    fn cancel(&self) {
        self.upstream.cancel();
        self.once.run();
    }
}
