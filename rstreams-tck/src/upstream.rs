//! [`Upstream`]: the kit's instrumented source for operator checks.

use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;
use rstreams_core::support::{add_cap, Demand, DrainCell};
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// The source an operator under test is applied to: it emits `0, 1, 2, …` as demand allows, and
/// records every request and cancel it receives.
///
/// It can be told to fail (after a number of elements, without waiting for demand) or to never
/// complete. Emission is synchronous, inside `request`, through the same drain loop as every
/// rstreams source, and uses the conditional path ([`Subscriber::try_on_next`]), so a filtering
/// operator's fast path is exercised.
///
/// ```
/// use rstreams_core::{sink, Publisher};
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
}

/// What an [`Upstream`] has seen, over all its subscriptions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamStats {
    /// How many times it was subscribed.
    pub subscriptions: u64,
    /// The demand requested in total (saturating; `u64::MAX` = unbounded).
    pub requested: u64,
    /// The elements emitted and accepted (an element refused through `try_on_next` does not
    /// use demand and is not counted).
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
        let sub = Arc::new(UpstreamSubscription {
            config: self.config.clone(),
            stats: Arc::clone(&self.stats),
            demand: Demand::new(),
            control: Mutex::new(Control::default()),
            cell: DrainCell::new(None),
        });
        let mut entered = sub
            .cell
            .enter()
            .expect("a new subscription is not draining");
        let state = entered.get().insert(Emitting {
            subscriber,
            next: 0,
        });
        state.subscriber.on_subscribe(sub.clone());
        entered.drain(|slot| sub.pass(slot));
    }
}

#[derive(Default)]
struct Control {
    cancelled: bool,
    zero: bool,
}

struct Emitting<S> {
    subscriber: S,
    next: u64,
}

struct UpstreamSubscription<S> {
    config: Config,
    stats: Arc<Mutex<Stats>>,
    demand: Demand,
    control: Mutex<Control>,
    cell: DrainCell<Option<Emitting<S>>>,
}

impl<S: Subscriber<u64>> UpstreamSubscription<S> {
    fn pass(&self, slot: &mut Option<Emitting<S>>) {
        let Some(state) = slot.as_mut() else { return };
        let control = std::mem::take(&mut *self.control.lock());
        if control.cancelled {
            *slot = None;
            return;
        }
        if control.zero {
            let mut done = slot.take().expect("checked");
            done.subscriber
                .on_error(Error::request_zero().in_stage("tck upstream"));
            return;
        }
        let limit = match &self.config.fail_after {
            Some((k, _)) => *k,
            None => self.config.elements,
        };
        let mut requested = self.demand.get();
        let mut emitted = 0;
        loop {
            while emitted < requested && state.next < limit {
                if self.control.lock().cancelled {
                    self.demand.produced(emitted);
                    self.stats.lock().emitted += emitted;
                    *slot = None;
                    return;
                }
                let value = state.next;
                state.next += 1;
                if state.subscriber.try_on_next(value) {
                    emitted += 1;
                }
            }
            self.stats.lock().emitted += emitted;
            requested = self.demand.produced(emitted);
            emitted = 0;
            if state.next >= limit || requested == 0 {
                break;
            }
        }
        if state.next >= limit {
            if let Some((_, error)) = &self.config.fail_after {
                let error = error.clone();
                let mut done = slot.take().expect("checked");
                self.stats.lock().terminated = true;
                done.subscriber.on_error(error);
            } else if self.config.complete {
                let mut done = slot.take().expect("checked");
                self.stats.lock().terminated = true;
                done.subscriber.on_complete();
            }
        }
    }
}

impl<S: Subscriber<u64>> Subscription for UpstreamSubscription<S> {
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
        if n == 0 {
            self.control.lock().zero = true;
        } else {
            self.demand.add(n);
        }
        self.cell.drain(|slot| self.pass(slot));
    }

    fn cancel(&self) {
        self.stats.lock().cancelled = true;
        self.control.lock().cancelled = true;
        self.cell.drain(|slot| self.pass(slot));
    }
}
