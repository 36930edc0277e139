//! What [`debounce`](crate::PublisherExt::debounce) and [`sample`](crate::PublisherExt::sample)
//! hold between their two sides: the newest element of the window that is still open, the
//! element that fell due and waits for demand, and how the upstream ended.
//!
//! Each stage keeps a `Held` in its state, under the lock its upstream's subscriber (which
//! stores elements and the end) and its engine's pull (which takes them) share; what a window
//! is, and when its element falls due, is the stage's own (a quiet period, a tick): the stage's
//! shared state says so by implementing [`Holds`], and [`HeldPull`] (the engine's side) and
//! [`HeldInlet`] (the upstream's subscriber) do the rest. Elements taken out to be dropped are
//! returned, to be dropped outside that lock.

use std::marker::PhantomData;
use std::sync::Arc;

use rstreams_core::support::{Pull, Pulled, TimerSlot, UpstreamSlot, Wake, UNBOUNDED};
use rstreams_core::{Error, Subscriber, Subscription};

/// Elements taken out to be dropped after the lock is released.
pub(crate) type Released<T> = (Option<T>, Option<T>);

/// One subscription's held elements and end.
pub(crate) struct Held<T> {
    /// The newest element of the open window (debounce: in its quiet period; sample: of the
    /// current period).
    pub(crate) open: Option<T>,
    /// An element whose window closed, waiting for demand.
    pub(crate) due: Option<T>,
    /// How the upstream ended; an error goes out at once, a completion after both elements.
    end: Option<Result<(), Error>>,
    /// Nothing is accepted any more (the upstream ended, or the subscription did).
    pub(crate) closed: bool,
}

impl<T> Held<T> {
    pub(crate) fn new() -> Self {
        Held {
            open: None,
            due: None,
            end: None,
            closed: false,
        }
    }

    /// Stops accepting elements and takes what is held out.
    pub(crate) fn close(&mut self) -> Released<T> {
        self.closed = true;
        (self.open.take(), self.due.take())
    }

    /// The open window's element falls due; returns the due element it replaces, which never
    /// found demand (the stage counts it as dropped). `None` when the window had none.
    pub(crate) fn fall_due(&mut self) -> Option<Option<T>> {
        let item = self.open.take()?;
        Some(self.due.replace(item))
    }

    /// The upstream ended: records it, unless the subscription is closed already (§1.7), and
    /// returns what an error releases (a completion lets both elements go out first). `None`
    /// when closed.
    pub(crate) fn end(&mut self, end: Result<(), Error>) -> Option<Released<T>> {
        if self.closed {
            return None; // after a cancel or an end (§1.7)
        }
        self.closed = true;
        let released = if end.is_err() {
            (self.open.take(), self.due.take())
        } else {
            (None, None)
        };
        self.end = Some(end);
        Some(released)
    }

    /// The engine's pull: an error first (releasing what is held), then the due element, then
    /// after a completion the open window's element, then the end.
    pub(crate) fn pull(&mut self) -> (Pulled<T>, Released<T>) {
        if matches!(self.end, Some(Err(_))) {
            let Some(Err(error)) = self.end.take() else {
                unreachable!("checked above")
            };
            return (Pulled::Error(error), self.close());
        }
        if let Some(item) = self.due.take() {
            return (Pulled::Ready(item), (None, None));
        }
        let pulled = match (&self.end, self.open.take()) {
            (Some(_), Some(item)) => Pulled::Ready(item),
            (Some(_), None) => Pulled::End,
            (None, open) => {
                self.open = open;
                Pulled::Pending
            }
        };
        (pulled, (None, None))
    }

    /// The engine's end check: an error at once (releasing what is held), a completion once
    /// both elements went out.
    pub(crate) fn poll_end(&mut self) -> (Option<Result<(), Error>>, Released<T>) {
        match &self.end {
            Some(Err(_)) => (self.end.take(), self.close()),
            Some(Ok(())) if self.due.is_none() && self.open.is_none() => {
                (Some(Ok(())), (None, None))
            }
            _ => (None, (None, None)),
        }
    }
}

/// The state one subscription of a holding stage shares between its two sides.
pub(crate) trait Holds<T>: Send + Sync + Sized + 'static {
    /// Names the stage in errors.
    const NAME: &'static str;

    /// Runs `f` on the held elements, under the state's lock.
    fn with_held<R>(&self, f: impl FnOnce(&mut Held<T>) -> R) -> R;

    /// The timer that closes windows; cancelled when the subscription or the upstream ends.
    fn timer(&self) -> &TimerSlot;

    /// The upstream's subscription.
    fn upstream(&self) -> &UpstreamSlot;

    /// An element arrived: it becomes the open one (unless the subscription is closed), and
    /// the stage's window starts or goes on.
    fn arrive(self: &Arc<Self>, item: T, engine: &Arc<dyn Wake>);
}

/// The downstream's side, in the engine: emits the due element, and after a completion the
/// open window's one.
pub(crate) struct HeldPull<T, H: Holds<T>> {
    shared: Arc<H>,
    _item: PhantomData<fn() -> T>,
}

impl<T, H: Holds<T>> HeldPull<T, H> {
    pub(crate) fn new(shared: Arc<H>) -> Self {
        HeldPull {
            shared,
            _item: PhantomData,
        }
    }
}

impl<T: Send + 'static, H: Holds<T>> Pull for HeldPull<T, H> {
    type Item = T;

    fn name(&self) -> &'static str {
        H::NAME
    }

    fn pull(&mut self, _demand: u64) -> Pulled<T> {
        let (pulled, released) = self.shared.with_held(Held::pull);
        drop(released);
        pulled
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        let (end, released) = self.shared.with_held(Held::poll_end);
        drop(released);
        end
    }
}

impl<T, H: Holds<T>> Drop for HeldPull<T, H> {
    /// The subscription ended: what is held goes with it and the timer is stopped.
    fn drop(&mut self) {
        let released = self.shared.with_held(Held::close);
        self.shared.timer().cancel();
        drop(released);
    }
}

/// The subscriber given to the upstream: requests everything (the stage drops what it skips),
/// hands elements to the stage, and records the end.
pub(crate) struct HeldInlet<T, H: Holds<T>> {
    shared: Arc<H>,
    engine: Arc<dyn Wake>,
    _item: PhantomData<fn(T)>,
}

impl<T, H: Holds<T>> HeldInlet<T, H> {
    pub(crate) fn new(shared: Arc<H>, engine: Arc<dyn Wake>) -> Self {
        HeldInlet {
            shared,
            engine,
            _item: PhantomData,
        }
    }

    fn end(&self, end: Result<(), Error>) {
        self.shared.upstream().clear();
        let Some(released) = self.shared.with_held(|held| held.end(end)) else {
            return; // after a cancel or an end (§1.7)
        };
        self.shared.timer().cancel();
        drop(released);
        self.engine.wake();
    }
}

impl<T: Send + 'static, H: Holds<T>> Subscriber<T> for HeldInlet<T, H> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        // §2.5: a second subscription, or one after the downstream cancelled, is cancelled.
        if self.shared.upstream().set(subscription) {
            self.shared.upstream().request(UNBOUNDED);
        }
    }

    fn on_next(&mut self, item: T) {
        self.shared.arrive(item, &self.engine);
    }

    fn on_error(&mut self, error: Error) {
        self.end(Err(error));
    }

    fn on_complete(&mut self) {
        self.end(Ok(()));
    }
}
