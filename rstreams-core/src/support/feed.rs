//! [`Feed`]: a source whose elements a fetcher thread brings in (a broker consumer, a blocking
//! client), as demand and a bound on unsettled elements allow.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{Engine, EngineConfig, Pull, Pulled, Wake};
use crate::sync::{AtomicU64, Condvar, Mutex, MutexGuard, Ordering};
use crate::{Error, Subscriber};

/// A hook run once when the subscription ends (see [`Feed::on_cancel`]).
type Hook = Box<dyn Fn() + Send + Sync>;

/// Builds a source fed by a fetcher thread: the subscription side (a [`Pull`] run by an
/// [`Engine`]) and the fetcher's handle, [`Feeder`], over one shared state.
///
/// A broker source is two halves that meet in a buffer. The subscription's drain loop takes
/// from the buffer and, when it is empty, publishes the demand left; the fetcher thread waits
/// for that demand ([`Feeder::wait_for_demand`]), asks its server for that many (capped by the
/// room under [`max_held`](Self::max_held)), pushes what came ([`Feeder::push_batch`]) and
/// wakes the drain loop. This type writes that meeting point once:
///
/// - the fetcher asks for the demand not yet met minus what is already buffered, so the buffer
///   never holds more than the demand (nothing is fetched ahead of `request`, §1.1);
/// - a failure ([`Feeder::fail`]) is delivered after the buffered elements, and needs no demand
///   (§1.4): it goes out at zero demand once the buffer is empty;
/// - the end of the subscription (cancel, `request(0)`, a panicking subscriber, a terminal
///   signal) marks the feed cancelled, drops what is buffered (outside the lock) and wakes the
///   fetcher, wherever it waits ([`Feeder::wait_for_demand`], [`Feeder::pause`], and through
///   [`on_cancel`](Self::on_cancel) an asynchronous wait of the caller's own);
/// - elements handed out and not settled yet (a delivery not acked) are counted
///   ([`Unsettled`]); at [`max_held`](Self::max_held) of them the fetcher asks for nothing
///   until one is settled, which wakes it.
///
/// The engine keeps everything else of the protocol (§3.9, §3.5–§3.7, §1.7, §2.13).
///
/// # Backpressure
///
/// The fetcher is never asked for more than the outstanding demand minus the buffer, nor for
/// more than the room under the bound: at zero demand, or at the bound, it waits.
///
/// ```
/// use rstreams::support::{EngineConfig, Feed};
/// use rstreams::{sink, Error, Publisher, Subscriber};
/// use rstreams_tck::PublisherVerification;
///
/// /// `0..n`, fetched by a thread in batches of at most the demand.
/// #[derive(Clone, Copy)]
/// struct Fetched(u64);
///
/// impl Publisher for Fetched {
///     type Item = u64;
///     fn subscribe<S: Subscriber<u64> + 'static>(&self, subscriber: S) {
///         let n = self.0;
///         let feeder = Feed::new("fetched").start(subscriber, EngineConfig::new());
///         feeder.spawn("fetched".into(), move |feeder| {
///             let mut next = 0;
///             while next < n {
///                 // None: the subscription ended; stop fetching.
///                 let Some(want) = feeder.wait_for_demand() else { return Ok(()) };
///                 let batch = next..n.min(next.saturating_add(want));
///                 next = batch.end;
///                 if !feeder.push_batch(batch) {
///                     return Ok(());
///                 }
///             }
///             feeder.complete();
///             Ok(())
///         });
///     }
/// }
///
/// assert_eq!(sink::collect(&Fetched(5)).unwrap(), vec![0, 1, 2, 3, 4]);
/// // The kit checks every testable rule against it.
/// PublisherVerification::new(|n| Fetched(n)).run().assert_compliant();
/// ```
#[must_use = "a feed does nothing until started"]
pub struct Feed {
    name: &'static str,
    max_held: u64,
    on_cancel: Option<Hook>,
}

impl fmt::Debug for Feed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Feed")
            .field("name", &self.name)
            .field("max_held", &self.max_held)
            .field("on_cancel", &self.on_cancel.is_some())
            .finish()
    }
}

impl Feed {
    /// A feed for the stage `name` (named in its errors), with no bound on unsettled
    /// elements.
    pub fn new(name: &'static str) -> Self {
        Feed {
            name,
            max_held: u64::MAX,
            on_cancel: None,
        }
    }

    /// At most `n` elements held at once ([`Unsettled::hold`] and not yet
    /// [`release`](Unsettled::release)d): at the bound the fetcher asks for nothing.
    ///
    /// # Panics
    ///
    /// If `n` is 0 (nothing could ever be fetched).
    pub fn max_held(mut self, n: u64) -> Self {
        assert!(n > 0, "max_held must be at least 1 (got 0)");
        self.max_held = n;
        self
    }

    /// Runs `hook` once when the subscription ends, after the feed is marked cancelled: for a
    /// fetcher that waits somewhere the feed cannot wake it (an `await` on its client), e.g.
    /// `notify.notify_one()` on a `tokio::sync::Notify` it selects on.
    pub fn on_cancel(mut self, hook: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_cancel = Some(Box::new(hook));
        self
    }

    /// Subscribes `subscriber` (its drain loop run as `config` says) and returns the
    /// fetcher's handle. Start the fetcher with [`Feeder::spawn`], or hand the handle to a
    /// thread of your own.
    ///
    /// # Panics
    ///
    /// When `on_subscribe` panics (see [`Engine::start`]).
    pub fn start<T, S>(self, subscriber: S, config: EngineConfig) -> Feeder<T>
    where
        T: Send + 'static,
        S: Subscriber<T> + 'static,
    {
        let shared = Arc::new(Shared {
            name: self.name,
            state: Mutex::new(State {
                demand: 0,
                buffer: VecDeque::new(),
                end: None,
                cancelled: false,
            }),
            signal: Condvar::new(),
            held: AtomicU64::new(0),
            max_held: self.max_held,
            on_cancel: self.on_cancel,
        });
        let pull = FeedPull {
            shared: Arc::clone(&shared),
        };
        let engine: Arc<dyn Wake> = Engine::start(pull, subscriber, config);
        Feeder {
            shared,
            wake: Arc::downgrade(&engine),
        }
    }
}

/// What the fetcher and the subscription share.
struct Shared<T> {
    name: &'static str,
    /// Everything the fetcher waits on, under one lock (so that a change and the notify that
    /// follows it cannot fall between the fetcher's check and its wait).
    state: Mutex<State<T>>,
    /// Notified on every change the fetcher waits for: new demand, cancel, a release.
    signal: Condvar,
    /// Elements held ([`Unsettled::hold`]) and not released: what `max_held` bounds. Changed
    /// without the lock; a release takes the lock before notifying.
    held: AtomicU64,
    /// The bound on `held`; `u64::MAX` when unbounded.
    max_held: u64,
    on_cancel: Option<Hook>,
}

struct State<T> {
    /// The subscriber's demand not yet met, as the pull last saw it: `left − 1` when it hands
    /// out an element (so met demand reads 0), `left` when it has none; 0 after the end.
    demand: u64,
    /// Fetched, not yet emitted, oldest first. Never longer than `demand` was when fetched.
    buffer: VecDeque<T>,
    /// How the stream ends once `buffer` is empty: `None` while open; the first
    /// [`Feeder::complete`] or [`Feeder::fail`] wins. Taken by the pull when signalled.
    end: Option<Result<(), Error>>,
    /// The subscription ended (the pull was dropped): the fetcher stops; set once.
    cancelled: bool,
}

impl<T> State<T> {
    /// The fetcher has nothing more to do: the subscription ended, or the feed did.
    fn over(&self) -> bool {
        self.cancelled || self.end.is_some()
    }
}

impl<T> Shared<T> {
    fn room(&self) -> u64 {
        self.max_held
            .saturating_sub(self.held.load(Ordering::Acquire))
    }

    /// The demand beyond the buffer, capped by the room; 0 when over.
    fn window(&self, state: &State<T>) -> u64 {
        if state.over() {
            return 0;
        }
        let want = state.demand.saturating_sub(state.buffer.len() as u64);
        want.min(self.room())
    }
}

/// The fetcher's handle on a [`Feed`]: waits for demand, pushes what it fetched, ends the
/// stream. Cheap to clone; every method is callable from any thread.
///
/// The fetcher stops when [`wait_for_demand`](Self::wait_for_demand) or
/// [`pause`](Self::pause) say so, or when [`push_batch`](Self::push_batch) returns `false`.
pub struct Feeder<T> {
    shared: Arc<Shared<T>>,
    /// The subscription's drain loop; gone once the subscription has ended and been dropped.
    wake: Weak<dyn Wake>,
}

impl<T> Clone for Feeder<T> {
    fn clone(&self) -> Self {
        Feeder {
            shared: Arc::clone(&self.shared),
            wake: Weak::clone(&self.wake),
        }
    }
}

impl<T> fmt::Debug for Feeder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.lock();
        f.debug_struct("Feeder")
            .field("name", &self.shared.name)
            .field("demand", &state.demand)
            .field("buffered", &state.buffer.len())
            .field("held", &self.shared.held.load(Ordering::Acquire))
            .field("cancelled", &state.cancelled)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Feeder<T> {
    /// Runs `fetch` on a new thread named `thread_name`, with a handle of its own. An error
    /// it returns fails the stream ([`fail`](Self::fail), after what is buffered); so does a
    /// thread that cannot be started ("starting the fetcher thread").
    pub fn spawn(
        &self,
        thread_name: String,
        fetch: impl FnOnce(&Feeder<T>) -> Result<(), Error> + Send + 'static,
    ) {
        let feeder = self.clone();
        let spawned = thread::Builder::new().name(thread_name).spawn(move || {
            if let Err(error) = fetch(&feeder) {
                feeder.fail(error);
            }
        });
        if let Err(error) = spawned {
            self.fail(Error::new(error).context("starting the fetcher thread"));
        }
    }
}

impl<T> Feeder<T> {
    /// Waits until the fetcher may fetch, and returns how many: the demand not yet met beyond
    /// what is buffered, capped by the room under the bound (at least 1). `None` when the
    /// subscription has ended or the feed has (then stop fetching).
    pub fn wait_for_demand(&self) -> Option<u64> {
        let mut state = self.shared.state.lock();
        loop {
            if state.over() || self.wake.strong_count() == 0 {
                return None;
            }
            let n = self.shared.window(&state);
            if n > 0 {
                return Some(n);
            }
            self.shared.signal.wait(&mut state);
        }
    }

    /// What [`wait_for_demand`](Self::wait_for_demand) would return now, without waiting: 0
    /// when there is no demand beyond the buffer, no room, or the feed is over. For a fetcher
    /// that polls its client anyway (and pauses it at 0).
    pub fn window(&self) -> u64 {
        let state = self.shared.state.lock();
        self.shared.window(&state)
    }

    /// How many more elements the bound allows now ([`Feed::max_held`] minus the held ones).
    pub fn room(&self) -> u64 {
        self.shared.room()
    }

    /// How many elements are buffered (fetched, not yet emitted).
    pub fn buffered(&self) -> usize {
        self.shared.state.lock().buffer.len()
    }

    /// Whether the fetcher should stop: the subscription has ended, or the feed has.
    pub fn is_cancelled(&self) -> bool {
        self.shared.state.lock().over() || self.wake.strong_count() == 0
    }

    /// Waits `delay` (a backoff between attempts), returning early when the subscription
    /// ends. Returns whether the fetcher should go on (`false`: stop).
    pub fn pause(&self, delay: Duration) -> bool {
        let deadline = Instant::now() + delay;
        let mut state = self.shared.state.lock();
        loop {
            if state.over() || self.wake.strong_count() == 0 {
                return false;
            }
            if Instant::now() >= deadline {
                return true;
            }
            self.shared.signal.wait_until(&mut state, deadline);
        }
    }

    /// Buffers `item` and wakes the subscription. See [`push_batch`](Self::push_batch).
    pub fn push(&self, item: T) -> bool {
        self.push_batch(std::iter::once(item))
    }

    /// Buffers `items` (oldest first) and wakes the subscription's drain loop once. Returns
    /// `false`, dropping the items (outside the lock: a delivery may settle itself on drop),
    /// when the subscription or the feed has ended: then stop fetching.
    ///
    /// The batch is collected before the lock is taken: producing it may use the feed.
    pub fn push_batch(&self, items: impl IntoIterator<Item = T>) -> bool {
        let mut batch: VecDeque<T> = items.into_iter().collect();
        let mut state = self.shared.state.lock();
        if state.over() {
            drop(state);
            drop(batch);
            return false;
        }
        if batch.is_empty() {
            return true;
        }
        if state.buffer.is_empty() {
            state.buffer = batch;
        } else {
            state.buffer.append(&mut batch);
        }
        drop(state);
        match self.wake.upgrade() {
            Some(engine) => {
                engine.wake();
                true
            }
            None => false,
        }
    }

    /// Drops the buffered elements `unwanted` picks (outside the lock), keeping the order of
    /// the others; returns how many it dropped. For elements that are no longer the
    /// fetcher's to hand out (a Kafka partition revoked in a rebalance).
    pub fn discard(&self, mut unwanted: impl FnMut(&T) -> bool) -> usize {
        let mut state = self.shared.state.lock();
        let (gone, kept): (VecDeque<T>, VecDeque<T>) = std::mem::take(&mut state.buffer)
            .into_iter()
            .partition(|item| unwanted(item));
        state.buffer = kept;
        drop(state);
        // The fetcher's window grew by as many: wake a fetcher waiting for demand.
        self.shared.signal.notify_all();
        let n = gone.len();
        drop(gone);
        n
    }

    /// Fails the stream with `error` (named in the feed's stage unless a stage is named
    /// already), after the elements already buffered; at zero demand too (§1.4). The first
    /// end wins; later ones are ignored. The fetcher should stop: nothing pushed after it is
    /// delivered.
    pub fn fail(&self, error: Error) {
        let error = error.in_stage(self.shared.name);
        self.end(Err(error), false);
    }

    /// As [`fail`](Self::fail), dropping what is buffered: for a fetcher whose elements
    /// cannot be settled any more (its client is gone), so that the failure goes out at once.
    pub fn abort(&self, error: Error) {
        let error = error.in_stage(self.shared.name);
        self.end(Err(error), true);
    }

    /// Completes the stream after the elements already buffered, at zero demand too (§1.2).
    pub fn complete(&self) {
        self.end(Ok(()), false);
    }

    fn end(&self, end: Result<(), Error>, discard: bool) {
        let mut state = self.shared.state.lock();
        if state.end.is_some() || state.cancelled {
            return;
        }
        state.end = Some(end);
        let dropped = if discard {
            std::mem::take(&mut state.buffer)
        } else {
            VecDeque::new()
        };
        drop(state);
        drop(dropped);
        if let Some(engine) = self.wake.upgrade() {
            engine.wake();
        }
    }

    /// The count of held elements, for the elements themselves to settle (a delivery holds a
    /// clone and releases on ack or drop).
    pub fn unsettled(&self) -> Unsettled
    where
        T: Send + 'static,
    {
        Unsettled {
            bound: Arc::clone(&self.shared) as Arc<dyn Bound>,
        }
    }
}

/// The held-elements side of [`Shared`], without its element type.
trait Bound: Send + Sync {
    fn hold(&self);
    fn release(&self);
    fn held(&self) -> u64;
}

impl<T: Send> Bound for Shared<T> {
    fn hold(&self) {
        self.held.fetch_add(1, Ordering::AcqRel);
    }

    fn release(&self) {
        self.held.fetch_sub(1, Ordering::AcqRel);
        // Take the lock so that a fetcher between its check and its wait sees the notify.
        drop(self.state.lock());
        self.signal.notify_all();
    }

    fn held(&self) -> u64 {
        self.held.load(Ordering::Acquire)
    }
}

/// The count of a [`Feed`]'s elements that are handed out and not settled (a delivery not
/// yet acked or dropped), which [`Feed::max_held`] bounds. Cheap to clone.
///
/// Each element calls [`hold`](Self::hold) once when it is made and
/// [`release`](Self::release) once when it is settled; a release wakes a fetcher waiting for
/// room.
#[derive(Clone)]
pub struct Unsettled {
    bound: Arc<dyn Bound>,
}

impl fmt::Debug for Unsettled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unsettled")
            .field("held", &self.bound.held())
            .finish()
    }
}

impl Unsettled {
    /// One more element held: one slot less under the bound.
    pub fn hold(&self) {
        self.bound.hold();
    }

    /// One held element settled: one slot more, and the fetcher is woken.
    pub fn release(&self) {
        self.bound.release();
    }

    /// How many elements are held now.
    pub fn held(&self) -> u64 {
        self.bound.held()
    }
}

/// The subscription's side: takes from the buffer, or publishes the demand to the fetcher.
struct FeedPull<T> {
    shared: Arc<Shared<T>>,
}

impl<T: Send + 'static> Pull for FeedPull<T> {
    type Item = T;

    fn name(&self) -> &'static str {
        self.shared.name
    }

    fn pull(&mut self, demand: u64) -> Pulled<T> {
        let mut state = self.shared.state.lock();
        if let Some(item) = state.buffer.pop_front() {
            // The demand left once this one is emitted; the fetcher's window is unchanged
            // (one less wanted, one less buffered), so no notify.
            state.demand = demand - 1;
            return Pulled::Ready(item);
        }
        match state.end.take() {
            Some(Ok(())) => Pulled::End,
            Some(Err(error)) => Pulled::Error(error),
            None => {
                publish(&self.shared, state, demand);
                Pulled::Pending
            }
        }
    }

    /// The end needs no demand (§1.2, §1.4): signalled once the buffer is empty, which it is
    /// when the demand is met (nothing is fetched beyond it).
    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        let mut state = self.shared.state.lock();
        if state.buffer.is_empty() {
            state.end.take()
        } else {
            None
        }
    }
}

/// Records `demand` and wakes the fetcher when it changed.
fn publish<T>(shared: &Shared<T>, mut state: MutexGuard<'_, State<T>>, demand: u64) {
    if state.demand != demand {
        state.demand = demand;
        drop(state);
        shared.signal.notify_all();
    }
}

impl<T> Drop for FeedPull<T> {
    fn drop(&mut self) {
        let mut state = self.shared.state.lock();
        state.cancelled = true;
        state.demand = 0;
        let buffered = std::mem::take(&mut state.buffer);
        drop(state);
        self.shared.signal.notify_all();
        if let Some(hook) = &self.shared.on_cancel {
            hook();
        }
        // Outside the lock: an element may settle itself (release) as it is dropped.
        drop(buffered);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::AtomicUsize;
    use crate::{sink, Publisher, Subscription};

    /// A subscriber that records what it saw and keeps its subscription.
    #[derive(Clone, Default)]
    struct Probe(Arc<Mutex<Seen>>);

    #[derive(Default)]
    struct Seen {
        values: Vec<u64>,
        completed: usize,
        errors: Vec<String>,
        subscription: Option<Arc<dyn Subscription>>,
    }

    impl Subscriber<u64> for Probe {
        fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
            self.0.lock().subscription = Some(s);
        }
        fn on_next(&mut self, item: u64) {
            self.0.lock().values.push(item);
        }
        fn on_error(&mut self, e: Error) {
            self.0.lock().errors.push(e.to_string());
        }
        fn on_complete(&mut self) {
            self.0.lock().completed += 1;
        }
    }

    impl Probe {
        fn request(&self, n: u64) {
            let s = self.0.lock().subscription.clone().expect("subscribed");
            s.request(n);
        }
        fn cancel(&self) {
            let s = self.0.lock().subscription.clone().expect("subscribed");
            s.cancel();
        }
    }

    fn started(feed: Feed) -> (Probe, Feeder<u64>) {
        let probe = Probe::default();
        let feeder = feed.start(probe.clone(), EngineConfig::new());
        (probe, feeder)
    }

    #[test]
    fn the_fetcher_is_asked_for_the_demand_beyond_the_buffer() {
        let (probe, feeder) = started(Feed::new("t"));
        assert_eq!(
            feeder.window(),
            0,
            "§1.1: nothing to fetch before a request"
        );
        probe.request(5);
        assert_eq!(feeder.wait_for_demand(), Some(5));
        // The subscriber takes what is pushed at once: the demand left is asked for.
        assert!(feeder.push_batch([1, 2]));
        assert_eq!(probe.0.lock().values, vec![1, 2]);
        assert_eq!(feeder.wait_for_demand(), Some(3));
        assert!(feeder.push_batch([3, 4, 5]));
        assert_eq!(feeder.window(), 0, "the demand is met");
        assert_eq!(probe.0.lock().values, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn the_bound_on_held_elements_caps_the_demand_asked_for_until_a_release() {
        let (probe, feeder) = started(Feed::new("t").max_held(2));
        let unsettled = feeder.unsettled();
        probe.request(10);
        assert_eq!(feeder.wait_for_demand(), Some(2), "capped by max_held");
        unsettled.hold();
        unsettled.hold();
        assert!(feeder.push_batch([1, 2]));
        assert_eq!(feeder.room(), 0);
        assert_eq!(feeder.window(), 0, "at the bound nothing is fetched");
        let waiter = {
            let feeder = feeder.clone();
            thread::spawn(move || feeder.wait_for_demand())
        };
        unsettled.release();
        assert_eq!(
            waiter.join().unwrap(),
            Some(1),
            "a release wakes the fetcher"
        );
        assert_eq!(unsettled.held(), 1);
    }

    #[test]
    fn a_failure_goes_out_after_the_buffer_and_needs_no_demand_1_4() {
        let (probe, feeder) = started(Feed::new("fed"));
        probe.request(1);
        assert!(feeder.push_batch([1]));
        feeder.fail(Error::msg("broken"));
        let seen = probe.0.lock();
        assert_eq!(seen.values, vec![1]);
        assert_eq!(seen.errors.len(), 1, "§1.4: failed at zero demand");
        assert!(seen.errors[0].contains("broken"), "{:?}", seen.errors);
        drop(seen);
        assert_eq!(
            feeder.wait_for_demand(),
            None,
            "the fetcher stops after its end"
        );
        assert!(!feeder.push_batch([2]), "nothing is taken after the end");
    }

    #[test]
    fn a_failure_waits_for_the_buffered_elements_to_be_demanded() {
        let (probe, feeder) = started(Feed::new("fed"));
        // Fetched, not yet demanded (as after a request the subscriber took back by failing
        // to keep up): the buffer goes out before the failure.
        feeder.shared.state.lock().buffer.extend([1, 2]);
        feeder.fail(Error::msg("late"));
        assert!(
            probe.0.lock().errors.is_empty(),
            "buffered elements are owed first"
        );
        probe.request(1);
        assert_eq!(probe.0.lock().values, vec![1]);
        assert!(probe.0.lock().errors.is_empty());
        probe.request(1);
        let seen = probe.0.lock();
        assert_eq!(seen.values, vec![1, 2]);
        assert_eq!(seen.errors.len(), 1, "then the failure, at zero demand");
    }

    #[test]
    fn abort_drops_the_buffer_and_fails_at_once() {
        let probe = Probe::default();
        let feeder: Feeder<u64> = Feed::new("fed").start(probe.clone(), EngineConfig::new());
        // Buffer without demand, as a fetcher racing a cancel-free slow subscriber would.
        feeder.shared.state.lock().buffer.extend([1, 2]);
        feeder.abort(Error::msg("gone"));
        let seen = probe.0.lock();
        assert!(seen.values.is_empty(), "the buffer was dropped");
        assert_eq!(seen.errors.len(), 1, "§1.4: failed without demand");
    }

    #[test]
    fn discard_drops_the_picked_buffered_elements_and_keeps_the_order_of_the_rest() {
        let (probe, feeder) = started(Feed::new("t"));
        feeder.shared.state.lock().buffer.extend([1, 2, 3, 4]);
        assert_eq!(feeder.discard(|x| x % 2 == 0), 2);
        assert_eq!(feeder.buffered(), 2);
        probe.request(5);
        assert_eq!(probe.0.lock().values, vec![1, 3]);
        assert_eq!(
            feeder.window(),
            3,
            "the demand beyond what is left buffered"
        );
    }

    #[test]
    fn complete_ends_the_stream_after_the_buffer_without_demand_1_2() {
        let (probe, feeder) = started(Feed::new("t"));
        probe.request(1);
        assert!(feeder.push(7));
        feeder.complete();
        let seen = probe.0.lock();
        assert_eq!(seen.values, vec![7]);
        assert_eq!(seen.completed, 1);
    }

    #[test]
    fn cancel_wakes_a_waiting_fetcher_runs_the_hook_and_drops_the_buffer() {
        let hooked = Arc::new(AtomicUsize::new(0));
        let hook = Arc::clone(&hooked);
        let (probe, feeder) = started(Feed::new("t").on_cancel(move || {
            hook.fetch_add(1, Ordering::SeqCst);
        }));
        let waiter = {
            let feeder = feeder.clone();
            thread::spawn(move || feeder.wait_for_demand())
        };
        probe.cancel();
        assert_eq!(waiter.join().unwrap(), None, "§3.5: the fetcher stops");
        assert_eq!(hooked.load(Ordering::SeqCst), 1, "the hook ran once");
        assert!(feeder.is_cancelled());
        assert!(
            !feeder.pause(Duration::from_secs(60)),
            "a pause ends at once"
        );
        assert!(!feeder.push(1), "pushed after cancel: dropped");
        assert_eq!(feeder.buffered(), 0);
    }

    #[test]
    fn a_pause_returns_early_when_the_subscription_ends() {
        let (probe, feeder) = started(Feed::new("t"));
        let pauser = {
            let feeder = feeder.clone();
            thread::spawn(move || feeder.pause(Duration::from_secs(3600)))
        };
        probe.cancel();
        assert!(!pauser.join().unwrap());
        let (_probe, live) = started(Feed::new("t"));
        assert!(
            live.pause(Duration::from_millis(1)),
            "a live feed pauses then goes on"
        );
    }

    #[test]
    fn a_fetcher_error_fails_the_stream_in_the_feeds_stage() {
        struct Failing;
        impl Publisher for Failing {
            type Item = u64;
            fn subscribe<S: Subscriber<u64> + 'static>(&self, subscriber: S) {
                let feeder = Feed::new("failing").start(subscriber, EngineConfig::new());
                feeder.spawn("failing".into(), |_| Err(Error::msg("cannot connect")));
            }
        }
        let error = sink::collect(&Failing).unwrap_err();
        assert_eq!(error.stage(), Some("failing"));
        assert!(error.to_string().contains("cannot connect"), "{error}");
    }

    #[test]
    #[should_panic(expected = "max_held must be at least 1")]
    fn a_zero_bound_is_refused_when_the_feed_is_built() {
        let _ = Feed::new("t").max_held(0);
    }
}
