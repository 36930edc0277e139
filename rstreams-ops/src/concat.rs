//! `concat`, `concat_all`: sources one after another, on the support arbiter.

use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;

use rstreams_core::support::{Arbiter, Drain};
use rstreams_core::sync::Mutex;
use rstreams_core::{BoxPublisher, Error, Publisher, Subscriber, Subscription};

/// Emits the elements of each publisher in turn: the next is subscribed once the previous
/// completed.
///
/// # Backpressure
///
/// Passes demand through exactly, with no prefetch: the downstream's requests go to the active
/// source, and when it completes, the next is asked for exactly what is still outstanding
/// ([`Arbiter`]). Nothing is queued.
///
/// # Errors
///
/// An error of the active source ends the stream at once; later sources are not subscribed.
/// A `request(0)` reaches the active source, which fails the stream naming §3.9.
///
/// # Panics
///
/// Never. An empty list completes at once.
///
/// ```
/// use rstreams::{sink, source};
/// use rstreams::ops::concat_all;
///
/// let all = concat_all(vec![source::range(0, 2), source::range(10, 2)]);
/// assert_eq!(sink::collect(&all).unwrap(), vec![0, 1, 10, 11]);
/// ```
pub fn concat_all<P>(publishers: Vec<P>) -> Concat<P>
where
    P: Publisher + Send + Sync + 'static,
{
    Concat {
        sources: Arc::new(publishers),
    }
}

/// The publisher returned by [`concat_all`] and [`concat`](crate::PublisherExt::concat).
///
/// Concatenating a `Concat` of boxed publishers again (`c.concat(x)`, in a loop) appends `x`
/// instead of nesting, and moving from one source to the next is a loop, not a recursion: a
/// chain of 10 000 synchronous sources runs in constant stack depth.
#[must_use = "publishers do nothing until subscribed"]
pub struct Concat<P> {
    sources: Arc<Vec<P>>,
}

impl<T: Send + 'static> Concat<BoxPublisher<T>> {
    /// Appends `other` (the same as [`PublisherExt::concat`](crate::PublisherExt::concat),
    /// flattened).
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let mut all = source::just(0u64).concat(source::just(1));
    /// for i in 2..1_000 {
    ///     all = all.concat(source::just(i));
    /// }
    /// assert_eq!(sink::collect(&all).unwrap(), (0..1_000).collect::<Vec<u64>>());
    /// ```
    pub fn concat<Q>(self, other: Q) -> Self
    where
        Q: Publisher<Item = T> + Send + Sync + 'static,
    {
        let mut sources = Arc::try_unwrap(self.sources).unwrap_or_else(|shared| (*shared).clone());
        sources.push(other.boxed());
        Concat {
            sources: Arc::new(sources),
        }
    }
}

impl<P> Clone for Concat<P> {
    fn clone(&self) -> Self {
        Concat {
            sources: Arc::clone(&self.sources),
        }
    }
}

impl<P> fmt::Debug for Concat<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Concat")
            .field("sources", &self.sources.len())
            .finish()
    }
}

impl<P> Publisher for Concat<P>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, mut subscriber: S) {
        let chain = Arc::new(Chain {
            sources: Arc::clone(&self.sources),
            arbiter: Arc::new(Arbiter::new()),
            hops: Drain::new(),
            next: Mutex::new(None),
        });
        let subscription: Arc<dyn Subscription> = chain.arbiter.clone();
        if let Err(payload) =
            catch_unwind(AssertUnwindSafe(|| subscriber.on_subscribe(subscription)))
        {
            chain.arbiter.cancel(); // §2.13: treated as a cancel
            resume_unwind(payload);
        }
        chain.hand_over(Link {
            downstream: Some(subscriber),
            index: 0,
            produced: 0,
            subscribed: false,
            chain: Arc::clone(&chain),
        });
    }
}

/// What the links of one subscription share.
struct Chain<P> {
    sources: Arc<Vec<P>>,
    /// The downstream's subscription: requests go to the active source.
    arbiter: Arc<Arbiter>,
    /// Moves to the next source run as a loop: whoever takes the counter from zero subscribes,
    /// a completion during that subscribe only records the next hop.
    hops: Drain,
    /// The link to subscribe next, handed over by the one that completed.
    next: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl<P> Chain<P>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: 'static,
{
    /// Subscribes `link` to its source, or completes the downstream after the last one; then
    /// any link handed over meanwhile, in a loop.
    fn hand_over<S: Subscriber<P::Item> + 'static>(&self, link: Link<P, S>) {
        let sources = Arc::clone(&self.sources);
        *self.next.lock() = Some(Box::new(move || link.start(&sources)));
        self.hops.run(|| {
            let next = self.next.lock().take();
            if let Some(start) = next {
                start();
            }
        });
    }
}

/// The subscriber given to one source: passes its signals on, counts what it delivered, and at
/// completion hands the downstream to the link of the next source.
struct Link<P, S> {
    /// `None` once handed over or ended: later signals are ignored (§1.7).
    downstream: Option<S>,
    /// Which source this link subscribes.
    index: usize,
    /// Elements delivered by every source so far (for the arbiter's carry-over).
    produced: u64,
    /// `on_subscribe` was received (§2.5: a second one is cancelled).
    subscribed: bool,
    chain: Arc<Chain<P>>,
}

impl<P, S> Link<P, S>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: 'static,
    S: Subscriber<P::Item> + 'static,
{
    fn start(mut self, sources: &[P]) {
        if self.chain.arbiter.is_cancelled() {
            return; // §3.13: the downstream is dropped with this link
        }
        match sources.get(self.index) {
            Some(source) => source.subscribe(self),
            None => {
                if let Some(mut downstream) = self.downstream.take() {
                    downstream.on_complete();
                }
            }
        }
    }
}

impl<P, S> Subscriber<P::Item> for Link<P, S>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: 'static,
    S: Subscriber<P::Item> + 'static,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if std::mem::replace(&mut self.subscribed, true) || self.downstream.is_none() {
            subscription.cancel(); // §2.5
            return;
        }
        self.chain.arbiter.switch_to(subscription, self.produced);
    }

    #[inline]
    fn on_next(&mut self, item: P::Item) {
        if let Some(downstream) = self.downstream.as_mut() {
            self.produced += 1;
            downstream.on_next(item);
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: P::Item) -> bool {
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
        if let Some(mut downstream) = self.downstream.take() {
            self.chain.arbiter.clear();
            downstream.on_error(error);
        }
    }

    fn on_complete(&mut self) {
        let Some(downstream) = self.downstream.take() else {
            return;
        };
        self.chain.arbiter.clear();
        self.chain.hand_over(Link {
            downstream: Some(downstream),
            index: self.index + 1,
            produced: self.produced,
            subscribed: false,
            chain: Arc::clone(&self.chain),
        });
    }
}
