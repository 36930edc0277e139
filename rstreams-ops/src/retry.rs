//! `retry(policy)`: resubscribes the upstream after an error, on the support [`Arbiter`] (the
//! outstanding demand carries over), with the delay in a [`TimerSlot`] and resubscriptions
//! trampolined as `concat` moves between its sources.

use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rstreams_core::scheduler::{Scheduler, Worker};
use rstreams_core::support::{Arbiter, Drain, TimerSlot};
use rstreams_core::sync::Mutex;
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

use crate::RetryPolicy;

/// Names the stage in errors.
const NAME: &str = "retry";

/// The publisher returned by [`PublisherExt::retry`](crate::PublisherExt::retry).
#[must_use = "publishers do nothing until subscribed"]
pub struct Retry<P> {
    source: Arc<P>,
    policy: RetryPolicy,
}

impl<P> Retry<P> {
    pub(crate) fn new(source: P, policy: RetryPolicy) -> Self {
        Retry {
            source: Arc::new(source),
            policy,
        }
    }
}

impl<P> Clone for Retry<P> {
    fn clone(&self) -> Self {
        Retry {
            source: Arc::clone(&self.source),
            policy: self.policy.clone(),
        }
    }
}

impl<P: fmt::Debug> fmt::Debug for Retry<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("source", &self.source)
            .field("policy", &self.policy)
            .finish()
    }
}

impl<P> Publisher for Retry<P>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, mut subscriber: S) {
        // A clock only when something needs one: `immediate()` without a time limit runs on
        // no scheduler at all.
        let clock =
            (!self.policy.is_immediate() || self.policy.elapsed_limit().is_some()).then(|| {
                let scheduler = self.policy.scheduler();
                (scheduler.worker(), scheduler)
            });
        let chain = Arc::new(Chain {
            source: Arc::clone(&self.source),
            policy: self.policy.clone(),
            clock,
            arbiter: Arbiter::new(),
            hops: Drain::new(),
            next: Mutex::new(None),
            parked: Mutex::new(None),
            timer: TimerSlot::new(),
        });
        let subscription: Arc<dyn Subscription> = Arc::new(RetrySubscription(Arc::clone(&chain)));
        if let Err(payload) =
            catch_unwind(AssertUnwindSafe(|| subscriber.on_subscribe(subscription)))
        {
            chain.stop(); // §2.13: treated as a cancel
            resume_unwind(payload);
        }
        chain.hand_over(Attempt {
            downstream: Some(subscriber),
            produced: 0,
            attempt: 1,
            first_failure: None,
            delivered: false,
            subscribed: false,
            chain: Arc::clone(&chain),
        });
    }
}

/// A deferred step: subscribing the next attempt (it owns the downstream).
type Step = Box<dyn FnOnce() + Send>;

/// What the attempts of one subscription share.
struct Chain<P> {
    source: Arc<P>,
    policy: RetryPolicy,
    /// The worker that runs the delays, and the scheduler whose clock `max_elapsed` reads.
    clock: Option<(Arc<dyn Worker>, Arc<dyn Scheduler>)>,
    /// The downstream's demand, carried from each subscription to the next.
    arbiter: Arbiter,
    /// Resubscriptions run as a loop: whoever takes the counter from zero subscribes; an
    /// attempt that fails during that subscribe only records the next one.
    hops: Drain,
    /// The attempt to subscribe next, handed over by the one that failed.
    next: Mutex<Option<Step>>,
    /// The attempt waiting for its delay; dropped (with the downstream) on cancel.
    parked: Mutex<Option<Step>>,
    /// The delay.
    timer: TimerSlot,
}

impl<P> Chain<P> {
    /// Subscribes `step`, then any step handed over meanwhile, in a loop.
    fn run(&self, step: Step) {
        *self.next.lock() = Some(step);
        self.hops.run(|| {
            let next = self.next.lock().take();
            if let Some(start) = next {
                start();
            }
        });
    }

    /// The downstream cancelled: cancels the upstream, the delay, and drops a parked attempt.
    fn stop(&self) {
        self.arbiter.cancel();
        self.timer.cancel();
        let parked = self.parked.lock().take();
        drop(parked); // releases the downstream (§3.13), outside the lock
    }
}

impl<P> Chain<P>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: 'static,
{
    fn hand_over<S: Subscriber<P::Item> + 'static>(&self, attempt: Attempt<P, S>) {
        self.run(Box::new(move || attempt.start()));
    }

    /// Subscribes `attempt` after `delay`, unless the downstream cancels first.
    fn park<S: Subscriber<P::Item> + 'static>(
        self: &Arc<Self>,
        attempt: Attempt<P, S>,
        worker: &Arc<dyn Worker>,
        delay: Duration,
    ) {
        *self.parked.lock() = Some(Box::new(move || attempt.start()));
        let chain: Weak<Self> = Arc::downgrade(self);
        self.timer.arm(worker, delay, move |generation| {
            let Some(chain) = chain.upgrade() else {
                return;
            };
            if chain.timer.fire(generation) {
                let parked = chain.parked.lock().take();
                if let Some(start) = parked {
                    chain.run(start);
                }
            }
        });
        if self.arbiter.is_cancelled() {
            self.stop(); // a cancel that raced with parking
        }
    }
}

/// The downstream's subscription: the arbiter's, with a cancel that also stops a pending delay.
struct RetrySubscription<P>(Arc<Chain<P>>);

impl<P: Send + Sync> Subscription for RetrySubscription<P> {
    fn request(&self, n: u64) {
        let chain = &self.0;
        chain.arbiter.request(n);
        if n == 0 {
            // §3.9 during a delay: the next subscription starts now and hears of it at once
            // (the arbiter sends it request(0)), so the error is not held back by the delay.
            chain.timer.cancel();
            let parked = chain.parked.lock().take();
            if let Some(start) = parked {
                chain.run(start);
            }
        }
    }

    fn cancel(&self) {
        self.0.stop();
    }
}

/// The subscriber given to one subscription of the source: passes its signals on, counts what
/// it delivered, and on an error decides whether and when the next attempt subscribes.
struct Attempt<P, S> {
    /// `None` once handed over or ended: later signals are ignored (§1.7).
    downstream: Option<S>,
    /// Elements delivered by every attempt so far (for the arbiter's carry-over).
    produced: u64,
    /// Which subscription of the current run of failures this is, from 1.
    attempt: u32,
    /// When the current run of failures began (read only with `max_elapsed`).
    first_failure: Option<Instant>,
    /// This subscription delivered an element: the run of failures starts again.
    delivered: bool,
    /// §2.5: a second `on_subscribe` is cancelled.
    subscribed: bool,
    chain: Arc<Chain<P>>,
}

impl<P, S> Attempt<P, S>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: 'static,
    S: Subscriber<P::Item> + 'static,
{
    fn start(self) {
        if self.chain.arbiter.is_cancelled() {
            return; // §3.13: the downstream is dropped with this attempt
        }
        let source = Arc::clone(&self.chain.source);
        source.subscribe(self);
    }

    /// The failure of this attempt: retry (now or after the delay) or give up.
    fn failed(&mut self, mut downstream: S, error: Error) {
        let chain = &self.chain;
        let policy = &chain.policy;
        // A request(0) error is the downstream's own fault: never retried (§3.9).
        if chain.arbiter.is_bad_request() {
            return downstream.on_error(error);
        }
        match policy.retries(&error) {
            Ok(true) => {}
            Ok(false) => return downstream.on_error(error),
            Err(panicked) => return downstream.on_error(panicked.in_stage(NAME)),
        }
        // An element delivered starts the count (and the backoff) again.
        let attempts = if self.delivered { 1 } else { self.attempt };
        if attempts >= policy.attempts() {
            return downstream.on_error(error.context(gave_up(attempts)));
        }
        let delay = policy.delay(attempts);
        let now = chain.clock.as_ref().map(|(_, scheduler)| scheduler.now());
        let first_failure = if self.delivered {
            now
        } else {
            self.first_failure.or(now)
        };
        // The time the retry would start: `None` beyond what the clock can represent (such a
        // delay never ends; give up rather than wait forever).
        let resume_at = now.map(|now| now.checked_add(delay));
        if matches!(resume_at, Some(None)) {
            return downstream.on_error(error.context(format!(
                "{}; the next delay ({delay:?}) never ends",
                gave_up(attempts)
            )));
        }
        if let (Some(limit), Some(Some(at)), Some(start)) =
            (policy.elapsed_limit(), resume_at, first_failure)
        {
            if at.saturating_duration_since(start) > limit {
                return downstream.on_error(
                    error.context(format!("{} (max_elapsed {limit:?})", gave_up(attempts))),
                );
            }
        }
        let next = Attempt {
            downstream: Some(downstream),
            produced: self.produced,
            attempt: attempts.saturating_add(1),
            first_failure,
            delivered: false,
            subscribed: false,
            chain: Arc::clone(chain),
        };
        match &chain.clock {
            Some((worker, _)) if !delay.is_zero() => chain.park(next, worker, delay),
            _ => chain.hand_over(next),
        }
    }
}

fn gave_up(attempts: u32) -> String {
    let s = if attempts == 1 { "" } else { "s" };
    format!("gave up after {attempts} attempt{s}")
}

impl<P, S> Subscriber<P::Item> for Attempt<P, S>
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
        // Asks the new subscription for exactly what is outstanding; cancels it instead if
        // the downstream cancelled meanwhile.
        self.chain.arbiter.switch_to(subscription, self.produced);
    }

    #[inline]
    fn on_next(&mut self, item: P::Item) {
        if let Some(downstream) = self.downstream.as_mut() {
            self.produced += 1;
            self.delivered = true;
            downstream.on_next(item);
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: P::Item) -> bool {
        match self.downstream.as_mut() {
            Some(downstream) => {
                let used = downstream.try_on_next(item);
                self.produced += used as u64;
                self.delivered |= used;
                used
            }
            None => true,
        }
    }

    fn on_error(&mut self, error: Error) {
        let Some(downstream) = self.downstream.take() else {
            return;
        };
        self.chain.arbiter.clear();
        if self.chain.arbiter.is_cancelled() {
            return; // nobody is listening; the downstream is dropped here (§3.13)
        }
        self.failed(downstream, error);
    }

    fn on_complete(&mut self) {
        if let Some(mut downstream) = self.downstream.take() {
            self.chain.arbiter.clear();
            downstream.on_complete();
        }
    }
}
