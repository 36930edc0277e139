//! [`Upstream`]: the kit's instrumented source for operator checks.

use std::fmt;
use std::sync::Arc;

use rstreams_core::support::{add_cap, Engine, EngineConfig, Pull, Pulled};
use rstreams_core::sync::Mutex;
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// The source an operator under test is applied to: it emits `0, 1, 2, …` as demand allows, and
/// records every request and cancel it receives.
///
/// It can be told to fail (after a number of elements, without waiting for demand) or to never
/// complete. Emission is synchronous, inside `request`, through the same drain loop as every
/// rstreams source. By default it signals through the conditional path
/// ([`Subscriber::try_on_next`]), as every rstreams source does, so a filtering operator's fast
/// path is exercised; [`signalling`](Self::signalling) with [`SignalPath::Plain`] makes it call
/// only the plain [`Subscriber::on_next`], as a third-party publisher does, so the path where a
/// dropped element must be replaced with `request(1)` is exercised too. The operator checks run
/// on both.
///
/// ```
/// use rstreams::{sink, Publisher};
/// use rstreams_tck::Upstream;
///
/// let up = Upstream::emitting(3);
/// assert_eq!(sink::collect(&up).unwrap(), vec![0, 1, 2]);
/// assert_eq!(up.requested(), u64::MAX);
/// ```
#[derive(Clone)]
pub struct Upstream {
    config: Config,
    stats: Arc<Mutex<Stats>>,
}

#[derive(Clone)]
struct Config {
    elements: u64,
    fail_after: Option<(u64, Error)>,
    complete: bool,
    path: SignalPath,
}

/// Which method a publisher calls to deliver an element.
///
/// ```
/// use rstreams::{sink, Publisher};
/// use rstreams_tck::{SignalPath, Upstream};
///
/// let up = Upstream::emitting(3).signalling(SignalPath::Plain);
/// assert_eq!(up.path(), SignalPath::Plain);
/// assert_eq!(sink::collect(&up).unwrap(), vec![0, 1, 2]);
/// assert_eq!(SignalPath::Plain.to_string(), "the plain path (on_next only)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalPath {
    /// [`Subscriber::try_on_next`]: an element the subscriber refuses (returns `false`) uses no
    /// demand, and the publisher sends the next one. Every rstreams source and synchronous
    /// operator signals this way.
    Conditional,
    /// [`Subscriber::on_next`] only: every element uses a unit of demand, so a subscriber that
    /// drops one must `request(1)` to replace it. Third-party publishers signal this way.
    Plain,
}

impl SignalPath {
    /// Both paths, conditional first: the order the operator checks run them in.
    pub const BOTH: [SignalPath; 2] = [SignalPath::Conditional, SignalPath::Plain];
}

impl fmt::Display for SignalPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignalPath::Conditional => "the conditional path (try_on_next)",
            SignalPath::Plain => "the plain path (on_next only)",
        })
    }
}

/// What an [`Upstream`] has seen, over all its subscriptions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamStats {
    /// How many times it was subscribed.
    pub subscriptions: u64,
    /// The demand requested in total (saturating; `u64::MAX` = unbounded).
    pub requested: u64,
    /// The elements emitted and accepted (an element refused through `try_on_next` does not
    /// use demand and is not counted; on the plain path every element counts).
    pub emitted: u64,
    /// Whether a subscription was cancelled.
    pub cancelled: bool,
    /// Whether `request(0)` was received.
    pub zero_requested: bool,
    /// Whether a subscription ended from the upstream's side (it completed or failed).
    pub terminated: bool,
    /// The first requests, in order (at most 1000 are kept).
    pub requests: Vec<u64>,
}

type Stats = UpstreamStats;

impl Upstream {
    /// Emits `0..elements`, then completes.
    pub fn emitting(elements: u64) -> Self {
        Upstream {
            config: Config {
                elements,
                fail_after: None,
                complete: true,
                path: SignalPath::Conditional,
            },
            stats: Arc::default(),
        }
    }

    /// Emits `0..elements`, then fails with `error` (at once, without waiting for demand).
    pub fn failing_after(elements: u64, error: Error) -> Self {
        let mut up = Self::emitting(elements);
        up.config.fail_after = Some((elements, error));
        up
    }

    /// Emits `0..elements`, then neither completes nor fails.
    pub fn never_completing(elements: u64) -> Self {
        let mut up = Self::emitting(elements);
        up.config.complete = false;
        up
    }

    /// Signals elements through `path`: [`SignalPath::Plain`] calls only `on_next`, as a
    /// third-party publisher does (see [`SignalPath`]).
    ///
    /// ```
    /// use rstreams::Publisher;
    /// use rstreams_tck::{SignalPath, TestSubscriber, Upstream};
    ///
    /// let up = Upstream::emitting(3).signalling(SignalPath::Plain);
    /// let probe = TestSubscriber::<u64>::new(u64::MAX);
    /// up.subscribe(probe.clone());
    /// probe.assert_values(&[0, 1, 2]);
    /// assert_eq!(up.emitted(), 3);
    /// ```
    pub fn signalling(mut self, path: SignalPath) -> Self {
        self.config.path = path;
        self
    }

    /// The signal path it uses: [`SignalPath::Conditional`] unless told otherwise.
    ///
    /// ```
    /// use rstreams_tck::{SignalPath, Upstream};
    ///
    /// assert_eq!(Upstream::emitting(1).path(), SignalPath::Conditional);
    /// ```
    pub fn path(&self) -> SignalPath {
        self.config.path
    }

    /// A snapshot of what it has seen.
    pub fn stats(&self) -> UpstreamStats {
        self.stats.lock().clone()
    }

    /// The demand requested in total.
    pub fn requested(&self) -> u64 {
        self.stats.lock().requested
    }

    /// The elements emitted in total.
    pub fn emitted(&self) -> u64 {
        self.stats.lock().emitted
    }

    /// Whether a subscription was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.stats.lock().cancelled
    }

    /// Whether a subscription ended from the upstream's side (completed or failed).
    pub fn is_terminated(&self) -> bool {
        self.stats.lock().terminated
    }

    /// How many elements it emits in all.
    pub fn elements(&self) -> u64 {
        self.config.elements
    }

    /// Requested and not yet emitted (saturating at `u64::MAX` for unbounded demand).
    pub(crate) fn outstanding(&self) -> u64 {
        let s = self.stats.lock();
        if s.requested == u64::MAX {
            u64::MAX
        } else {
            s.requested - s.emitted.min(s.requested)
        }
    }
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field("elements", &self.config.elements)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Publisher for Upstream {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, subscriber: S) {
        self.stats.lock().subscriptions += 1;
        let limit = match &self.config.fail_after {
            Some((k, _)) => *k,
            None => self.config.elements,
        };
        let end = match &self.config.fail_after {
            Some((_, error)) => Some(Err(error.clone())),
            None if self.config.complete => Some(Ok(())),
            None => None,
        };
        Engine::start(
            Counting {
                next: 0,
                limit,
                end,
                stats: Arc::clone(&self.stats),
            },
            Recorder {
                downstream: subscriber,
                stats: Arc::clone(&self.stats),
                path: self.config.path,
            },
            EngineConfig::new(),
        );
    }
}

/// The emitting side: `0..limit`, then `end` (or nothing, for a never-completing upstream).
struct Counting {
    next: u64,
    limit: u64,
    /// How the stream ends after `limit` elements; `None`: it never does.
    end: Option<Result<(), Error>>,
    stats: Arc<Mutex<Stats>>,
}

impl Counting {
    fn end(&mut self) -> Option<Result<(), Error>> {
        if self.next < self.limit {
            return None;
        }
        let end = self.end.take()?;
        self.stats.lock().terminated = true;
        Some(end)
    }
}

impl Pull for Counting {
    type Item = u64;

    fn name(&self) -> &'static str {
        "tck upstream"
    }

    fn pull(&mut self, _demand: u64) -> Pulled<u64> {
        if self.next < self.limit {
            self.next += 1;
            return Pulled::Ready(self.next - 1);
        }
        match self.end() {
            Some(Ok(())) => Pulled::End,
            Some(Err(error)) => Pulled::Error(error),
            None => Pulled::Pending,
        }
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        self.end()
    }
}

/// Sits between the engine and the operator under test: records what the operator requests
/// and cancels, counts the elements it accepts, and on the plain path turns the engine's
/// `try_on_next` into `on_next` (an element that always uses demand).
struct Recorder<S> {
    downstream: S,
    stats: Arc<Mutex<Stats>>,
    path: SignalPath,
}

impl<S: Subscriber<u64>> Subscriber<u64> for Recorder<S> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        self.downstream.on_subscribe(Arc::new(Recording {
            upstream: subscription,
            stats: Arc::clone(&self.stats),
        }));
    }

    fn on_next(&mut self, item: u64) {
        self.stats.lock().emitted += 1;
        self.downstream.on_next(item);
    }

    fn try_on_next(&mut self, item: u64) -> bool {
        if self.path == SignalPath::Plain {
            self.on_next(item);
            return true;
        }
        let accepted = self.downstream.try_on_next(item);
        if accepted {
            self.stats.lock().emitted += 1;
        }
        accepted
    }

    fn on_error(&mut self, error: Error) {
        self.downstream.on_error(error);
    }

    fn on_complete(&mut self) {
        self.downstream.on_complete();
    }
}

/// The subscription the operator under test holds: records, then forwards to the engine.
struct Recording {
    upstream: Arc<dyn Subscription>,
    stats: Arc<Mutex<Stats>>,
}

impl Subscription for Recording {
    fn request(&self, n: u64) {
        {
            let mut stats = self.stats.lock();
            if stats.requests.len() < 1000 {
                stats.requests.push(n);
            }
            if n == 0 {
                stats.zero_requested = true;
            } else {
                stats.requested = add_cap(stats.requested, n);
            }
        }
        self.upstream.request(n);
    }

    fn cancel(&self) {
        self.stats.lock().cancelled = true;
        self.upstream.cancel();
    }
}
