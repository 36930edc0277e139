//! `skip_last(n)`: every element but the last `n`.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use rstreams_core::support::Link;
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// The publisher returned by [`skip_last`](crate::PublisherExt::skip_last).
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct SkipLast<P> {
    source: P,
    n: usize,
}

impl<P> SkipLast<P> {
    pub(crate) fn new(source: P, n: usize) -> Self {
        SkipLast { source, n }
    }
}

impl<P: fmt::Debug> fmt::Debug for SkipLast<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkipLast")
            .field("source", &self.source)
            .field("n", &self.n)
            .finish()
    }
}

impl<P> Publisher for SkipLast<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.source.subscribe(SkipLastSubscriber {
            downstream: subscriber,
            held: VecDeque::new(),
            n: self.n,
            link: Link::new(),
        });
    }
}

struct SkipLastSubscriber<S, T> {
    downstream: S,
    /// The most recent elements, at most `n`: each goes on when `n` more have arrived after it,
    /// and the last `n` are dropped at completion.
    held: VecDeque<T>,
    n: usize,
    link: Link,
}

impl<T, S> SkipLastSubscriber<S, T> {
    /// Holds `item`; returns the element it pushes out, if the window is full.
    #[inline]
    fn hold(&mut self, item: T) -> Option<T> {
        if self.n == 0 {
            return Some(item);
        }
        self.held.push_back(item);
        if self.held.len() > self.n {
            self.held.pop_front()
        } else {
            None
        }
    }
}

impl<T, S> Subscriber<T> for SkipLastSubscriber<S, T>
where
    S: Subscriber<T>,
    T: Send,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if let Some(subscription) = self.link.accept(subscription) {
            self.downstream.on_subscribe(subscription);
            // The window: `n` elements beyond what the downstream asks for, asked once.
            if self.n > 0 {
                self.link.request(self.n as u64);
            }
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if self.link.is_done() {
            return;
        }
        if let Some(out) = self.hold(item) {
            self.downstream.on_next(out);
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        if self.link.is_done() {
            return true;
        }
        match self.hold(item) {
            Some(out) => self.downstream.try_on_next(out),
            // Filling the window used the stage's own request, not the downstream's demand.
            None => true,
        }
    }

    fn on_error(&mut self, error: Error) {
        if self.link.finish() {
            self.held.clear();
            self.downstream.on_error(error);
        }
    }

    fn on_complete(&mut self) {
        if self.link.finish() {
            self.held.clear(); // the last n
            self.downstream.on_complete();
        }
    }
}
