//! `.guard(stage)`: a protocol checker between a stage and its downstream.

use std::fmt;
use std::sync::Arc;

use rstreams_core::support::{Demand, UpstreamSlot};
use rstreams_core::sync::Mutex;
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// How many violations a [`Violations`] log keeps (it counts them all).
const KEPT: usize = 16;

/// The publisher returned by [`ObserveExt::guard`](crate::ObserveExt::guard): its source's
/// signals, checked against the protocol on their way down.
///
/// A violation by the source (the stage above the guard) is turned into
/// `on_error(Error::protocol(rule, "stage `name` …").in_stage(name))` downstream, and the
/// source is cancelled:
///
/// | violation | rule |
/// |---|---|
/// | `on_next` beyond the demand the downstream requested (also through `try_on_next`) | §1.1 |
/// | `on_next`, `on_error` or `on_complete` before `on_subscribe` (the downstream then gets `on_subscribe` first, and the late subscription is cancelled when it comes) | §1.9 |
/// | a signal after `on_complete` / `on_error` | §1.7 |
///
/// A signal after a terminal signal cannot be reported downstream, which has had its terminal
/// signal (a second one would break §1.7 in turn): it is dropped and recorded in
/// [`violations`](Self::violations). There is nothing left to cancel: the guard released the
/// source's subscription at its terminal signal (§1.6). Every violation, reported downstream
/// or not, is recorded there.
///
/// # Backpressure
///
/// Pass-through: `request(n)` is added to the guard's ledger and forwarded as `request(n)`;
/// cancel is forwarded. Correct signals pass unchanged and at once, and `try_on_next` is
/// forwarded, so a filter below keeps its fast path.
///
/// # Cost, and why it is always available
///
/// Per element the guard compares its local delivered count with the demand it last read, and
/// reads the shared demand (one atomic load) only when that is used up: no lock, no
/// allocation, no atomic read-modify-write. Per request: one saturating add and one
/// uncontended lock. That is cheap enough to keep in release builds around stages you do not
/// trust (a hand-written operator, a bridge to another library), so it is not behind a cargo
/// feature; it is opt-in per stage. To check only in debug builds, guard the stage only when
/// `cfg!(debug_assertions)` holds and box both branches with `.boxed()`.
///
/// ```
/// use rstreams::{sink, source};
/// use rstreams::observe::ObserveExt;
///
/// let checked = source::range(0, 3).guard("numbers");
/// assert_eq!(sink::collect(&checked).unwrap(), vec![0, 1, 2]);
/// assert_eq!(checked.violations().count(), 0);
/// ```
#[must_use = "publishers do nothing until subscribed"]
pub struct Guard<P> {
    source: P,
    stage: Arc<str>,
    violations: Violations,
}

impl<P> Guard<P> {
    pub(crate) fn new(source: P, stage: Arc<str>) -> Self {
        Guard {
            source,
            stage,
            violations: Violations::default(),
        }
    }

    /// The violations this guard has seen, over all its subscriptions (and its clones').
    ///
    /// ```
    /// use rstreams::{sink, source};
    /// use rstreams::observe::ObserveExt;
    ///
    /// let checked = source::range(0, 3).guard("numbers");
    /// let violations = checked.violations();
    /// sink::collect(&checked).unwrap();
    /// assert!(violations.is_empty());
    /// ```
    pub fn violations(&self) -> Violations {
        self.violations.clone()
    }

    /// The name of the guarded stage.
    ///
    /// ```
    /// use rstreams::source;
    /// use rstreams::observe::ObserveExt;
    /// assert_eq!(source::range(0, 3).guard("numbers").stage_name(), "numbers");
    /// ```
    pub fn stage_name(&self) -> &str {
        &self.stage
    }
}

impl<P: Clone> Clone for Guard<P> {
    /// A clone checks the same stage and shares the violation log.
    fn clone(&self) -> Self {
        Guard {
            source: self.source.clone(),
            stage: Arc::clone(&self.stage),
            violations: self.violations.clone(),
        }
    }
}

impl<P: fmt::Debug> fmt::Debug for Guard<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("stage", &self.stage)
            .field("violations", &self.violations.count())
            .field("source", &self.source)
            .finish()
    }
}

impl<P: Publisher> Publisher for Guard<P> {
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.source.subscribe(GuardSubscriber {
            downstream: subscriber,
            link: Arc::new(GuardLink {
                requested: Demand::new(),
                upstream: UpstreamSlot::new(),
            }),
            stage: Arc::clone(&self.stage),
            violations: self.violations.clone(),
            phase: Phase::Waiting,
            delivered: 0,
            known_requested: 0,
        });
    }
}

/// The log of protocol violations a [`Guard`] has seen: all counted, the first 16 kept.
///
/// ```
/// use rstreams::{sink, source};
/// use rstreams::observe::ObserveExt;
///
/// let violations = source::range(0, 1).guard("one").violations();
/// assert_eq!(violations.count(), 0);
/// assert!(violations.errors().is_empty());
/// ```
#[derive(Clone, Default)]
pub struct Violations {
    log: Arc<Mutex<Log>>,
}

#[derive(Default)]
struct Log {
    count: u64,
    kept: Vec<Error>,
}

impl Violations {
    /// How many violations were seen.
    ///
    /// ```
    /// use rstreams::source;
    /// use rstreams::observe::ObserveExt;
    /// assert_eq!(source::range(0, 1).guard("one").violations().count(), 0);
    /// ```
    pub fn count(&self) -> u64 {
        self.log.lock().count
    }

    /// Whether none was seen.
    ///
    /// ```
    /// use rstreams::source;
    /// use rstreams::observe::ObserveExt;
    /// assert!(source::range(0, 1).guard("one").violations().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// The first violations seen (at most 16), in order, each naming its rule
    /// ([`Error::rule`]) and the stage ([`Error::stage`]).
    ///
    /// ```
    /// use rstreams::source;
    /// use rstreams::observe::ObserveExt;
    /// assert!(source::range(0, 1).guard("one").violations().errors().is_empty());
    /// ```
    pub fn errors(&self) -> Vec<Error> {
        self.log.lock().kept.clone()
    }

    fn record(&self, error: &Error) {
        let mut log = self.log.lock();
        log.count += 1;
        if log.kept.len() < KEPT {
            log.kept.push(error.clone());
        }
    }
}

impl fmt::Debug for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let log = self.log.lock();
        f.debug_struct("Violations")
            .field("count", &log.count)
            .field("errors", &log.kept)
            .finish()
    }
}

/// The subscription the guard gives its downstream: a demand ledger in front of the upstream.
struct GuardLink {
    /// Everything the downstream requested, summed with saturation; never decremented.
    requested: Demand,
    upstream: UpstreamSlot,
}

impl Subscription for GuardLink {
    fn request(&self, n: u64) {
        // Into the ledger before the upstream hears of it: an upstream that emits from inside
        // `request` finds the demand there.
        self.requested.add(n);
        self.upstream.request(n);
    }

    fn cancel(&self) {
        self.upstream.cancel();
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No `on_subscribe` yet.
    Waiting,
    /// Subscribed, signals pass.
    Active,
    /// The upstream ended with this signal; anything after it breaks §1.7.
    Ended(&'static str),
    /// The guard failed the stream; the upstream is cancelled and may still signal (§2.8).
    Failed,
}

struct GuardSubscriber<S> {
    downstream: S,
    link: Arc<GuardLink>,
    stage: Arc<str>,
    violations: Violations,
    phase: Phase,
    /// Elements that used a unit of demand, counted here, on the signalling side.
    delivered: u64,
    /// The ledger as last read: while `delivered` is below it, no atomic is read.
    known_requested: u64,
}

impl<S> GuardSubscriber<S> {
    /// Whether one more element fits in the demand.
    #[inline]
    fn has_demand(&mut self) -> bool {
        if self.delivered < self.known_requested {
            return true;
        }
        // u64::MAX is unbounded: `delivered` never reaches it.
        self.known_requested = self.link.requested.get();
        self.delivered < self.known_requested
    }

    fn error(&self, rule: &'static str, what: impl fmt::Display) -> Error {
        Error::protocol(rule, format_args!("stage `{}` {what}", self.stage))
            .in_stage(self.stage.to_string())
    }

    /// Fails the stream downstream with `error` and cancels the upstream.
    fn fail<T>(&mut self, error: Error)
    where
        S: Subscriber<T>,
    {
        self.violations.record(&error);
        self.phase = Phase::Failed;
        self.link.upstream.cancel();
        self.downstream.on_error(error);
    }

    /// A signal before `on_subscribe` (§1.9): the downstream gets its `on_subscribe`, then
    /// the error; the subscription, when it comes, is cancelled.
    fn before_subscribe<T>(&mut self, signal: impl fmt::Display)
    where
        S: Subscriber<T>,
    {
        let error = self.error(
            "1.9",
            format_args!("signalled {signal} before on_subscribe"),
        );
        self.downstream
            .on_subscribe(Arc::clone(&self.link) as Arc<dyn Subscription>);
        self.fail(error);
    }

    /// A signal after the upstream's terminal signal (§1.7): recorded, not signalled (the
    /// upstream's subscription was released at its terminal signal).
    fn after_end(&mut self, signal: &str, ended: &str) {
        let error = self.error("1.7", format_args!("signalled {signal} after {ended}"));
        self.violations.record(&error);
    }

    fn beyond_demand<T>(&mut self)
    where
        S: Subscriber<T>,
    {
        let error = self.error(
            "1.1",
            format_args!(
                "signalled on_next #{} beyond the demand: {} requested in total",
                self.delivered + 1,
                self.known_requested
            ),
        );
        self.fail(error);
    }
}

impl<T, S: Subscriber<T>> Subscriber<T> for GuardSubscriber<S> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        match self.phase {
            Phase::Waiting => {
                self.phase = Phase::Active;
                self.link.upstream.set(subscription);
                self.downstream
                    .on_subscribe(Arc::clone(&self.link) as Arc<dyn Subscription>);
            }
            // §2.5: a second subscription is cancelled; after a failure before it, the late
            // first one is too.
            _ => subscription.cancel(),
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        match self.phase {
            Phase::Active => {
                if self.has_demand() {
                    self.delivered += 1;
                    self.downstream.on_next(item);
                } else {
                    self.beyond_demand();
                }
            }
            Phase::Waiting => self.before_subscribe("on_next"),
            Phase::Ended(ended) => self.after_end("on_next", ended),
            Phase::Failed => {}
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        match self.phase {
            Phase::Active => {
                if self.has_demand() {
                    let used = self.downstream.try_on_next(item);
                    if used {
                        self.delivered += 1;
                    }
                    used
                } else {
                    self.beyond_demand();
                    true
                }
            }
            Phase::Waiting => {
                self.before_subscribe("on_next");
                true
            }
            Phase::Ended(ended) => {
                self.after_end("on_next", ended);
                true
            }
            Phase::Failed => true,
        }
    }

    fn on_error(&mut self, error: Error) {
        match self.phase {
            Phase::Active => {
                self.phase = Phase::Ended("on_error");
                self.link.upstream.clear();
                self.downstream.on_error(error);
            }
            Phase::Waiting => self.before_subscribe(format_args!("on_error ({error})")),
            Phase::Ended(ended) => self.after_end("on_error", ended),
            Phase::Failed => {}
        }
    }

    fn on_complete(&mut self) {
        match self.phase {
            Phase::Active => {
                self.phase = Phase::Ended("on_complete");
                self.link.upstream.clear();
                self.downstream.on_complete();
            }
            Phase::Waiting => self.before_subscribe("on_complete"),
            Phase::Ended(ended) => self.after_end("on_complete", ended),
            Phase::Failed => {}
        }
    }
}
