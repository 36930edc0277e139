//! [`Outbox`]: a sink that hands what it receives to a writer thread (a broker producer, a
//! blocking client), with a bound on the elements in flight.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::thread;

use crate::support::catch_panic;
use crate::sync::{Condvar, Mutex};
use crate::{Error, Subscription};

/// A hook run on every change a writer may wait for (see [`Outbox::on_work`]).
type Hook = Box<dyn Fn() + Send + Sync>;

/// The subscriber side of a sink whose writes run on a writer thread: the connector's
/// `Subscriber` owns one and forwards its signals to it; the writer thread gets an
/// [`OutboxWriter`]; the user waits on a [`Written`].
///
/// It keeps, once, what a writing sink owes the protocol:
///
/// - a second subscription is cancelled (§2.5); the first is asked for `in_flight` elements,
///   then for one more per completed write ([`OutboxWriter::written`]), so at most
///   `in_flight` elements are received and not yet written;
/// - an upstream that sends more than that is cancelled and the sink fails naming §1.1;
/// - an upstream failure ends the upstream, not the writes: what was received is still
///   written, then [`Written::wait`] returns the failure;
/// - a write failure is recorded first and the upstream cancelled second (cancelling may drop
///   the sink, whose drop would otherwise record "dropped before the upstream completed"),
///   and what was queued is dropped unwritten;
/// - elements after the end are dropped (§2.8: demand already in flight);
/// - a sink dropped before its upstream ended fails (nothing is silently cut short).
///
/// # Backpressure
///
/// The upstream is never asked for more than `in_flight` beyond what was written.
///
/// ```
/// use std::sync::Arc;
///
/// use rstreams::support::{Outbox, Written};
/// use rstreams::sync::Mutex;
/// use rstreams::{source, Error, Publisher, Subscriber, Subscription};
///
/// /// Appends every element to a shared log, as a writer thread would write to a server.
/// struct LogSink {
///     outbox: Outbox<u64>,
///     log: Arc<Mutex<Vec<u64>>>,
/// }
///
/// impl Subscriber<u64> for LogSink {
///     fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
///         let log = Arc::clone(&self.log);
///         self.outbox.subscribe(subscription, 4, "log writer".into(), move |writer| {
///             while let Some(x) = writer.next() {
///                 log.lock().push(x); // the write
///                 writer.written(1);
///             }
///             Ok(())
///         });
///     }
///     fn on_next(&mut self, x: u64) {
///         self.outbox.offer(x);
///     }
///     fn on_error(&mut self, error: Error) {
///         self.outbox.fail(error);
///     }
///     fn on_complete(&mut self) {
///         self.outbox.complete();
///     }
/// }
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let outbox = Outbox::new("log sink");
/// let written: Written = outbox.handle();
/// source::range(0, 10).subscribe(LogSink { outbox, log: Arc::clone(&log) });
/// assert_eq!(written.wait().unwrap(), 10);
/// assert_eq!(*log.lock(), (0..10).collect::<Vec<_>>());
/// ```
pub struct Outbox<T> {
    shared: Arc<Shared<T>>,
    /// The subscription, once `subscribe` accepted one: cancelled on a §1.1 violation.
    upstream: Option<Arc<dyn Subscription>>,
    /// The bound on elements received and not written; set by `subscribe`.
    in_flight: u64,
}

struct Shared<T> {
    name: &'static str,
    state: Mutex<State<T>>,
    /// Notified on every change: new work for a blocking writer, the end for [`Written`].
    signal: Condvar,
    on_work: Option<Hook>,
}

struct State<T> {
    /// Received, not yet taken by the writer, oldest first.
    queue: VecDeque<T>,
    /// Received and not yet written (queued, being written, or awaiting the server's ack):
    /// what `in_flight` bounds.
    in_flight: u64,
    /// Written and confirmed, in all.
    written: u64,
    /// The upstream will send nothing more to be written: it completed or failed, the sink
    /// was dropped, or a write failed. Set once.
    upstream_done: bool,
    /// The failure [`Written::wait`] returns; the first wins.
    error: Option<Error>,
    /// The writer has stopped (or never started): [`Written::wait`] returns. Set once.
    finished: bool,
}

impl<T> fmt::Debug for Outbox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.lock();
        f.debug_struct("Outbox")
            .field("name", &self.shared.name)
            .field("in_flight", &state.in_flight)
            .field("written", &state.written)
            .field("upstream_done", &state.upstream_done)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Outbox<T> {
    /// An outbox for the sink `name` (named in its errors), not subscribed yet.
    pub fn new(name: &'static str) -> Self {
        Self::with_hook(name, None)
    }

    /// An outbox whose writer waits asynchronously: `hook` runs on every change the writer
    /// may wait for (an element, the upstream's end, a failure, the sink dropped), e.g.
    /// `notify.notify_one()` on a `tokio::sync::Notify` it selects on. A blocking writer
    /// ([`OutboxWriter::next`]) needs none.
    pub fn on_work(name: &'static str, hook: impl Fn() + Send + Sync + 'static) -> Self {
        Self::with_hook(name, Some(Box::new(hook)))
    }

    fn with_hook(name: &'static str, on_work: Option<Hook>) -> Self {
        Outbox {
            shared: Arc::new(Shared {
                name,
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    in_flight: 0,
                    written: 0,
                    upstream_done: false,
                    error: None,
                    finished: false,
                }),
                signal: Condvar::new(),
                on_work,
            }),
            upstream: None,
            in_flight: 0,
        }
    }

    /// The handle the user waits on.
    pub fn handle(&self) -> Written {
        Written {
            state: Arc::clone(&self.shared) as Arc<dyn Outcome>,
        }
    }

    /// `on_subscribe`: cancels a second subscription (§2.5); otherwise starts `write` on a
    /// thread named `thread_name` and requests `in_flight`. An error `write` returns (or a
    /// panic in it) fails the sink as [`OutboxWriter::fail`] does; a thread that cannot be
    /// started fails it ("starting the writer thread") and cancels the upstream.
    ///
    /// # Panics
    ///
    /// If `in_flight` is 0 (the connector validates it when the sink is built).
    pub fn subscribe(
        &mut self,
        subscription: Arc<dyn Subscription>,
        in_flight: u64,
        thread_name: String,
        write: impl FnOnce(&OutboxWriter<T>) -> Result<(), Error> + Send + 'static,
    ) {
        assert!(in_flight > 0, "in_flight must be at least 1 (got 0)");
        if self.upstream.is_some() {
            subscription.cancel(); // §2.5
            return;
        }
        self.upstream = Some(Arc::clone(&subscription));
        self.in_flight = in_flight;
        let writer = OutboxWriter {
            shared: Arc::clone(&self.shared),
            subscription: Arc::clone(&subscription),
        };
        let spawned = thread::Builder::new().name(thread_name).spawn(move || {
            let name = writer.shared.name;
            let result = catch_panic(name, || write(&writer)).and_then(|written| written);
            if let Err(error) = result {
                writer.fail(error);
            }
            writer.shared.finish();
        });
        match spawned {
            Ok(_) => subscription.request(in_flight),
            Err(error) => {
                // The cause first: an upstream that drops the sink on cancel must find it.
                self.fail(Error::new(error).context("starting the writer thread"));
                subscription.cancel();
                self.shared.finish();
            }
        }
    }

    /// `on_next`: queues `item` for the writer. Beyond `in_flight` unwritten, cancels the
    /// upstream and fails the sink naming §1.1; after the end, drops it (§2.8).
    pub fn offer(&mut self, item: T) {
        let mut state = self.shared.state.lock();
        if state.upstream_done {
            return; // after a failure: §2.8, demand already in flight
        }
        if state.in_flight >= self.in_flight {
            drop(state);
            self.fail(Error::protocol(
                "1.1",
                format!(
                    "more elements than requested (in flight: {})",
                    self.in_flight
                ),
            ));
            if let Some(upstream) = &self.upstream {
                upstream.cancel();
            }
            return;
        }
        state.in_flight += 1;
        state.queue.push_back(item);
        drop(state);
        self.shared.notify();
    }

    /// `on_error`: the upstream failed. What was received is still written; then
    /// [`Written::wait`] returns `error` (the first failure wins).
    pub fn fail(&mut self, error: Error) {
        let error = error.in_stage(self.shared.name);
        let mut state = self.shared.state.lock();
        state.error.get_or_insert(error);
        state.upstream_done = true;
        drop(state);
        self.shared.notify();
    }

    /// `on_complete`: the writer finishes once what was received is written.
    pub fn complete(&mut self) {
        self.shared.state.lock().upstream_done = true;
        self.shared.notify();
    }
}

impl<T> Outbox<T> {
    /// What `subscribe` sets up, without a thread: for the loom models, which run the writer
    /// on a model thread.
    #[cfg(all(test, loom))]
    pub(crate) fn attach(
        &mut self,
        subscription: Arc<dyn Subscription>,
        in_flight: u64,
    ) -> OutboxWriter<T> {
        self.upstream = Some(Arc::clone(&subscription));
        self.in_flight = in_flight;
        subscription.request(in_flight);
        OutboxWriter {
            shared: Arc::clone(&self.shared),
            subscription,
        }
    }
}

impl<T> Drop for Outbox<T> {
    fn drop(&mut self) {
        let subscribed = self.upstream.is_some();
        let mut state = self.shared.state.lock();
        if !state.upstream_done {
            state.upstream_done = true;
            if state.error.is_none() && subscribed {
                state.error = Some(
                    Error::msg("dropped before the upstream completed").in_stage(self.shared.name),
                );
            }
        }
        if !subscribed {
            state.finished = true; // no writer will ever run
        }
        drop(state);
        self.shared.notify();
    }
}

impl<T> Shared<T> {
    fn notify(&self) {
        self.signal.notify_all();
        if let Some(hook) = &self.on_work {
            hook();
        }
    }

    fn finish(&self) {
        self.state.lock().finished = true;
        self.signal.notify_all();
    }
}

/// The writer thread's side of an [`Outbox`]: takes what to write, reports what was written.
pub struct OutboxWriter<T> {
    shared: Arc<Shared<T>>,
    subscription: Arc<dyn Subscription>,
}

impl<T> fmt::Debug for OutboxWriter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxWriter")
            .field("name", &self.shared.name)
            .finish_non_exhaustive()
    }
}

impl<T> OutboxWriter<T> {
    /// The next element to write, waiting for one; `None` once the upstream has ended (or
    /// the sink failed or was dropped) and everything received has been taken: then return.
    pub fn next(&self) -> Option<T> {
        let mut state = self.shared.state.lock();
        loop {
            if let Some(item) = state.queue.pop_front() {
                return Some(item);
            }
            if state.upstream_done {
                return None;
            }
            self.shared.signal.wait(&mut state);
        }
    }

    /// Everything queued now, without waiting (for a writer that pipelines), and whether the
    /// upstream has ended: when it has and the batch is empty, nothing more will come.
    pub fn take(&self) -> (VecDeque<T>, bool) {
        let mut state = self.shared.state.lock();
        (std::mem::take(&mut state.queue), state.upstream_done)
    }

    /// `n` writes completed (confirmed by the server): counted, and `n` more elements
    /// requested unless the upstream has ended.
    pub fn written(&self, n: u64) {
        let mut state = self.shared.state.lock();
        state.written += n;
        state.in_flight -= n;
        let more = !state.upstream_done;
        drop(state);
        self.shared.signal.notify_all();
        if more {
            self.subscription.request(n);
        }
    }

    /// A write failed for good: the failure is recorded first (the first wins), what is
    /// queued is dropped unwritten, then the upstream is cancelled. Return after it.
    pub fn fail(&self, error: Error) {
        let error = error.in_stage(self.shared.name);
        let mut state = self.shared.state.lock();
        state.error.get_or_insert(error);
        state.upstream_done = true;
        let dropped = std::mem::take(&mut state.queue);
        state.in_flight -= dropped.len() as u64;
        drop(state);
        drop(dropped);
        self.subscription.cancel();
    }
}

/// The outcome side of [`Shared`], without its element type.
trait Outcome: Send + Sync {
    fn written(&self) -> u64;
    fn wait(&self) -> Result<u64, Error>;
}

impl<T: Send> Outcome for Shared<T> {
    fn written(&self) -> u64 {
        self.state.lock().written
    }

    fn wait(&self) -> Result<u64, Error> {
        let mut state = self.state.lock();
        while !state.finished {
            self.signal.wait(&mut state);
        }
        match state.error.clone() {
            Some(error) => Err(error),
            None => Ok(state.written),
        }
    }
}

/// What an [`Outbox`] has written, and a wait for its end. Cheap to clone.
#[derive(Clone)]
pub struct Written {
    state: Arc<dyn Outcome>,
}

impl fmt::Debug for Written {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Written")
            .field("written", &self.written())
            .finish()
    }
}

impl Written {
    /// How many elements have been written so far.
    pub fn written(&self) -> u64 {
        self.state.written()
    }

    /// Waits until the writer has stopped; returns how many elements were written, or the
    /// first failure (the upstream's, a write's, a §1.1 violation, the sink dropped before
    /// its upstream ended).
    ///
    /// # Errors
    ///
    /// As above. Returns at once, with `Ok(0)`, for a sink dropped without a subscription.
    pub fn wait(&self) -> Result<u64, Error> {
        self.state.wait()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::support::test_support::Recording;
    use crate::sync::Ordering;

    fn subscribed(
        in_flight: u64,
        write: impl FnOnce(&OutboxWriter<u64>) -> Result<(), Error> + Send + 'static,
    ) -> (Outbox<u64>, Arc<Recording>, Written) {
        let mut outbox = Outbox::new("test sink");
        let written = outbox.handle();
        let upstream = Arc::new(Recording::default());
        outbox.subscribe(upstream.clone(), in_flight, "writer".into(), write);
        (outbox, upstream, written)
    }

    /// Writes every element, one at a time, into `log`.
    fn logging(log: Arc<Mutex<Vec<u64>>>) -> impl FnOnce(&OutboxWriter<u64>) -> Result<(), Error> {
        move |writer| {
            while let Some(x) = writer.next() {
                log.lock().push(x);
                writer.written(1);
            }
            Ok(())
        }
    }

    #[test]
    fn the_upstream_is_asked_for_in_flight_then_one_per_completed_write() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (mut outbox, upstream, written) = subscribed(3, logging(Arc::clone(&log)));
        for x in 0..3 {
            outbox.offer(x);
        }
        outbox.complete();
        assert_eq!(written.wait().unwrap(), 3);
        assert_eq!(*log.lock(), vec![0, 1, 2]);
        // 3 at first, then 1 per write until the upstream completed.
        let asked = upstream.requested.load(Ordering::SeqCst);
        assert!((3..=6).contains(&asked), "asked for {asked}");
        assert_eq!(upstream.cancels.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn an_upstream_sending_beyond_in_flight_is_cancelled_and_the_sink_fails_naming_1_1() {
        // A writer that never writes: everything stays in flight.
        let (mut outbox, upstream, written) = subscribed(2, |writer| {
            while writer.next().is_some() {}
            Ok(())
        });
        outbox.offer(1);
        outbox.offer(2);
        outbox.offer(3);
        assert_eq!(upstream.cancels.load(Ordering::SeqCst), 1);
        let error = written.wait().unwrap_err();
        assert!(error.to_string().contains("1.1"), "§1.1 named: {error}");
        assert_eq!(error.stage(), Some("test sink"));
    }

    #[test]
    fn a_failed_write_is_recorded_before_the_upstream_is_cancelled() {
        let (mut outbox, upstream, written) = subscribed(4, |writer| match writer.next() {
            Some(_) => Err(Error::msg("server gone")),
            None => Ok(()),
        });
        outbox.offer(1);
        let error = written.wait().unwrap_err();
        assert!(error.to_string().contains("server gone"), "{error}");
        assert_eq!(upstream.cancels.load(Ordering::SeqCst), 1);
        outbox.offer(2); // §2.8: late, dropped
        assert_eq!(written.written(), 0);
    }

    #[test]
    fn an_upstream_failure_still_writes_what_was_received_then_reports_it() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (mut outbox, _upstream, written) = subscribed(4, logging(Arc::clone(&log)));
        outbox.offer(1);
        outbox.offer(2);
        outbox.fail(Error::msg("upstream broke"));
        let error = written.wait().unwrap_err();
        assert!(error.to_string().contains("upstream broke"), "{error}");
        assert_eq!(*log.lock(), vec![1, 2], "what was received was written");
        assert_eq!(written.written(), 2);
    }

    #[test]
    fn a_sink_dropped_before_its_upstream_ended_fails() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (outbox, _upstream, written) = subscribed(4, logging(log));
        drop(outbox);
        let error = written.wait().unwrap_err();
        assert!(
            error
                .to_string()
                .contains("dropped before the upstream completed"),
            "{error}"
        );
    }

    #[test]
    fn a_second_subscription_is_cancelled_2_5() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (mut outbox, first, written) = subscribed(4, logging(Arc::clone(&log)));
        let second = Arc::new(Recording::default());
        outbox.subscribe(second.clone(), 4, "writer".into(), logging(log));
        assert_eq!(second.cancels.load(Ordering::SeqCst), 1);
        assert_eq!(second.requested.load(Ordering::SeqCst), 0);
        assert_eq!(first.cancels.load(Ordering::SeqCst), 0);
        outbox.complete();
        assert_eq!(written.wait().unwrap(), 0);
    }

    #[test]
    fn a_panicking_writer_fails_the_sink_and_cancels_the_upstream() {
        let (_outbox, upstream, written) = subscribed(4, |_| panic!("bug in the writer"));
        let error = written.wait().unwrap_err();
        assert!(error.to_string().contains("bug in the writer"), "{error}");
        assert_eq!(upstream.cancels.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_sink_dropped_unsubscribed_has_written_nothing_and_did_not_fail() {
        let outbox: Outbox<u64> = Outbox::new("test sink");
        let written = outbox.handle();
        drop(outbox);
        assert_eq!(written.wait().unwrap(), 0);
    }

    #[test]
    #[should_panic(expected = "in_flight must be at least 1")]
    fn an_in_flight_of_zero_is_refused() {
        let _ = subscribed(0, |_| Ok(()));
    }
}
