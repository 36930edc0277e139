//! The inbox: where a Reactive Streams subscriber leaves elements for an async consumer
//! (a `Stream`, a sink driver, an async `for_each`) to poll.
//!
//! The subscriber half pushes into a bounded queue and wakes the consumer's task; the consumer
//! half pops, and asks for more through the upstream subscription when it decides to (the
//! consumer owns the demand policy). The queue's capacity is the most the consumer ever has
//! outstanding, so a publisher that keeps §1.1 never finds it full; one that does not is caught
//! and the stream fails naming §1.1.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::task::Context;

use futures_util::task::AtomicWaker;
use rstreams_core::support::{BoundedQueue, UpstreamSlot};
use rstreams_core::{Error, Subscriber, Subscription};

pub(crate) struct Inbox<T> {
    queue: BoundedQueue<T>,
    /// The consumer's task, woken on every element and on the end.
    waker: AtomicWaker,
    /// How the stream ended, set once: by a terminal signal, by the consumer cancelling, or by
    /// a protocol breach of the publisher.
    end: OnceLock<Result<(), Error>>,
    upstream: UpstreamSlot,
    /// Names the bridge in errors ("into_stream").
    name: &'static str,
}

/// What the consumer finds.
pub(crate) enum Next<T> {
    Item(T),
    /// The stream ended (repeatable: the end stays readable).
    End(Result<(), Error>),
    /// Nothing yet; the task is woken when something arrives.
    Pending,
}

/// Makes the two halves of an inbox holding up to `capacity` elements.
pub(crate) fn inbox<T>(capacity: usize, name: &'static str) -> (InboxSubscriber<T>, Receiver<T>) {
    let inbox = Arc::new(Inbox {
        queue: BoundedQueue::new(capacity).expect("capacity checked by the caller"),
        waker: AtomicWaker::new(),
        end: OnceLock::new(),
        upstream: UpstreamSlot::new(),
        name,
    });
    (
        InboxSubscriber {
            inbox: Arc::clone(&inbox),
        },
        Receiver { inbox },
    )
}

impl<T> Inbox<T> {
    fn finish(&self, end: Result<(), Error>) {
        // Only the first end counts; later ones (an on_complete after a cancel) are moot.
        let _ = self.end.set(end);
        self.waker.wake();
    }

    fn ready(&self) -> Option<Next<T>> {
        if let Some(item) = self.queue.pop() {
            return Some(Next::Item(item));
        }
        let end = self.end.get()?;
        // Signals are serial: every element was pushed before the end was set, so a pop after
        // seeing the end finds any element the first pop raced with.
        Some(match self.queue.pop() {
            Some(item) => Next::Item(item),
            None => Next::End(end.clone()),
        })
    }
}

/// The consumer half. Dropping it cancels the upstream.
pub(crate) struct Receiver<T> {
    inbox: Arc<Inbox<T>>,
}

impl<T> Receiver<T> {
    /// Asks the upstream for `n` more (deferred until it has subscribed).
    pub(crate) fn request(&self, n: u64) {
        self.inbox.upstream.request(n);
    }

    /// The next element or the end; otherwise registers the task to be woken.
    pub(crate) fn poll_next(&self, cx: &mut Context<'_>) -> Next<T> {
        if let Some(next) = self.inbox.ready() {
            return next;
        }
        self.inbox.waker.register(cx.waker());
        // Re-check after registering: an element pushed in between found no waker.
        self.inbox.ready().unwrap_or(Next::Pending)
    }

    /// The next element if one is queued now (does not register for a wake-up, does not report
    /// the end).
    pub(crate) fn try_pop(&self) -> Option<T> {
        self.inbox.queue.pop()
    }

    /// The number of elements queued now.
    pub(crate) fn len(&self) -> usize {
        self.inbox.queue.len()
    }

    /// Cancels the upstream (idempotent; nothing after a terminal signal) and drops what is
    /// queued.
    pub(crate) fn cancel(&self) {
        let _ = self.inbox.end.set(Err(
            Error::msg("cancelled by the consumer").in_stage(self.inbox.name)
        ));
        self.inbox.upstream.cancel();
        self.inbox.queue.clear();
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("queued", &self.inbox.queue.len())
            .field("ended", &self.inbox.end.get().is_some())
            .finish()
    }
}

/// The subscriber half.
pub(crate) struct InboxSubscriber<T> {
    inbox: Arc<Inbox<T>>,
}

impl<T: Send> Subscriber<T> for InboxSubscriber<T> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        // A second subscription (§2.5), or one arriving after the consumer cancelled, is
        // cancelled by the slot.
        self.inbox.upstream.set(subscription);
    }

    fn on_next(&mut self, item: T) {
        if self.inbox.end.get().is_some() {
            return; // §2.8: in flight after a cancel (or after a breach): dropped
        }
        if self.inbox.queue.push(item).is_err() {
            // More than was requested: the queue is as large as the consumer's demand.
            self.inbox.upstream.cancel();
            self.inbox.finish(Err(Error::protocol(
                "1.1",
                format!(
                    "{}: the publisher emitted more elements than were requested",
                    self.inbox.name
                ),
            )));
            return;
        }
        self.inbox.waker.wake();
    }

    fn on_error(&mut self, error: Error) {
        self.inbox.upstream.clear();
        self.inbox.finish(Err(error));
    }

    fn on_complete(&mut self) {
        self.inbox.upstream.clear();
        self.inbox.finish(Ok(()));
    }
}

impl<T> Drop for InboxSubscriber<T> {
    fn drop(&mut self) {
        if self.inbox.end.get().is_none() {
            // The publisher let go of its subscriber without ending the stream: fail instead
            // of leaving the consumer waiting forever.
            self.inbox.finish(Err(Error::msg(format!(
                "{}: the publisher dropped its subscriber without a terminal signal",
                self.inbox.name
            ))));
        }
    }
}

impl<T> fmt::Debug for InboxSubscriber<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxSubscriber")
            .field("queued", &self.inbox.queue.len())
            .field("ended", &self.inbox.end.get().is_some())
            .finish()
    }
}
