//! `buffer_skip(size, skip)`: vectors of `size` elements, one starting every `skip` elements.
//!
//! The upstream's subscriber cuts the buffers (several open at once when they overlap) and
//! queues each one as it fills; an [`Engine`] emits them as the downstream demands. The
//! upstream is asked for exactly the elements the requested buffers need (see
//! [`BufferDemand`]), so the queue holds only buffers the downstream asked for, plus the
//! partial ones flushed at completion, which go out as demand allows: never more buffers than
//! requested.

use std::collections::VecDeque;
use std::sync::Arc;

use rstreams_core::support::{
    add_cap, mul_cap, Engine, EngineConfig, ErrorMode, Inbox, InboxSubscriber, Pull, Pulled,
    Replenish, UpstreamSlot,
};
use rstreams_core::sync::{AtomicBool, Ordering};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

use crate::relay::Relayed;

const STAGE: &str = "buffer_skip";

/// Vectors start with room for this many elements at most, so that a huge `size` does not
/// reserve memory no element may ever fill.
const MAX_PREALLOCATION: usize = 1024;

/// The publisher returned by [`buffer_skip`](crate::PublisherExt::buffer_skip).
#[derive(Debug, Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct BufferSkip<P> {
    source: P,
    size: usize,
    skip: usize,
}

impl<P> BufferSkip<P> {
    pub(crate) fn new(source: P, size: usize, skip: usize) -> Self {
        assert!(
            size > 0,
            "buffer_skip(size, skip): size must be at least 1 (valid range 1..=usize::MAX), got 0"
        );
        assert!(
            skip > 0,
            "buffer_skip(size, skip): skip must be at least 1 (valid range 1..=usize::MAX), got 0"
        );
        BufferSkip { source, size, skip }
    }
}

impl<P> Publisher for BufferSkip<P>
where
    P: Publisher,
    P::Item: Clone + Send + 'static,
{
    type Item = Vec<P::Item>;

    fn subscribe<S: Subscriber<Vec<P::Item>> + 'static>(&self, subscriber: S) {
        let inbox = Arc::new(
            Inbox::new(STAGE, usize::MAX, ErrorMode::AfterQueued)
                .expect("a capacity of usize::MAX is valid")
                .on_demand(),
        );
        let demand = Arc::new(BufferDemand {
            upstream: Arc::clone(inbox.upstream()),
            size: wide(self.size),
            skip: wide(self.skip),
            first: AtomicBool::new(true),
        });
        let engine = Engine::start(
            Buffers {
                replenish: inbox.replenish(),
                inbox: Arc::clone(&inbox),
            },
            Relayed::new(subscriber, demand),
            EngineConfig::new().upstream(Arc::clone(inbox.upstream())),
        );
        self.source.subscribe(Cutting {
            queue: InboxSubscriber::new(inbox, engine),
            open: VecDeque::new(),
            size: self.size,
            skip: self.skip,
            until_next: 0,
            done: false,
        });
    }
}

fn wide(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// What the downstream's requests ask of the upstream: `n` buffers need
/// `size + (n - 1) × skip` elements at first (the first buffer whole, then one start every
/// `skip`), and `n × skip` more for each later request. Saturating: a huge request is
/// unbounded.
struct BufferDemand {
    upstream: Arc<UpstreamSlot>,
    size: u64,
    skip: u64,
    /// No request has been made yet.
    first: AtomicBool,
}

impl Subscription for BufferDemand {
    fn request(&self, n: u64) {
        let Some(more) = n.checked_sub(1) else {
            return; // request(0): the engine fails the stream with §3.9 and cancels upstream
        };
        let elements = if self.first.swap(false, Ordering::AcqRel) {
            add_cap(self.size, mul_cap(more, self.skip))
        } else {
            mul_cap(n, self.skip)
        };
        self.upstream.request(elements);
    }

    fn cancel(&self) {
        self.upstream.cancel();
    }
}

/// The subscriber given to the upstream: cuts the buffers and queues each one as it fills.
struct Cutting<T, Q> {
    queue: Q,
    /// The buffers being filled, oldest first (at most `ceil(size / skip)`).
    open: VecDeque<Vec<T>>,
    size: usize,
    skip: usize,
    /// Elements until the next buffer starts; 0: the next element starts one.
    until_next: usize,
    /// A terminal signal arrived: later signals are ignored (§1.7).
    done: bool,
}

impl<T: Clone + Send, Q: Subscriber<Vec<T>>> Subscriber<T> for Cutting<T, Q> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        self.queue.on_subscribe(subscription);
    }

    fn on_next(&mut self, item: T) {
        if self.done {
            return;
        }
        if self.until_next == 0 {
            self.open
                .push_back(Vec::with_capacity(self.size.min(MAX_PREALLOCATION)));
            self.until_next = self.skip;
        }
        self.until_next -= 1;
        // Every open buffer takes the element (a clone for all but the newest); in a gap
        // between buffers none is open and the element is dropped.
        if let Some((newest, older)) = self.open.make_contiguous().split_last_mut() {
            for buffer in older {
                buffer.push(item.clone());
            }
            newest.push(item);
        }
        if self
            .open
            .front()
            .is_some_and(|oldest| oldest.len() == self.size)
        {
            let full = self.open.pop_front().expect("checked above");
            self.queue.on_next(full);
        }
    }

    fn on_error(&mut self, error: Error) {
        if !std::mem::replace(&mut self.done, true) {
            self.open.clear(); // the partial buffers are dropped: the stream failed
            self.queue.on_error(error);
        }
    }

    fn on_complete(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        // The partial buffers, oldest first; they go out as the downstream asks for them.
        for partial in self.open.drain(..) {
            self.queue.on_next(partial);
        }
        self.queue.on_complete();
    }
}

/// The downstream's side: the queued buffers, as demanded.
struct Buffers<T> {
    inbox: Arc<Inbox<Vec<T>>>,
    /// Never asks anything: the upstream's demand follows the downstream's requests.
    replenish: Replenish,
}

impl<T: Send + 'static> Pull for Buffers<T> {
    type Item = Vec<T>;

    fn name(&self) -> &'static str {
        STAGE
    }

    fn pull(&mut self, _demand: u64) -> Pulled<Vec<T>> {
        self.inbox.pull(&mut self.replenish)
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        self.inbox.poll_end(&mut self.replenish)
    }
}

impl<T> Drop for Buffers<T> {
    /// However the subscription ended: the upstream cancelled (unless it ended), queued
    /// buffers dropped.
    fn drop(&mut self) {
        self.inbox.discard();
    }
}
