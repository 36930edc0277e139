//! `throttle(elements, per, burst, mode)`: a token bucket on the stream's rate.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rstreams_core::scheduler::{deadline, Scheduler, Task, TaskHandle, Worker};
use rstreams_core::support::Link;
use rstreams_core::support::{add_cap, UpstreamSlot, UNBOUNDED};
use rstreams_core::sync::Mutex;
use rstreams_core::{Error, Publisher, Subscriber, Subscription};

/// What [`throttle`](crate::PublisherExt::throttle) does when elements come faster than the
/// rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ThrottleMode {
    /// Delays: asks the upstream only for as many elements as the bucket has tokens, so the
    /// excess waits upstream (nothing is queued here) and every element eventually goes out.
    Shaping,
    /// Fails: passes demand through and fails the stream with an error of kind
    /// [`ErrorKind::Overflow`](rstreams_core::ErrorKind::Overflow) when an element arrives with
    /// no token left.
    Enforcing,
}

/// The publisher returned by [`throttle`](crate::PublisherExt::throttle).
#[must_use = "publishers do nothing until subscribed"]
pub struct Throttle<P, S> {
    source: P,
    rate: Rate,
    mode: ThrottleMode,
    scheduler: S,
}

/// `elements` tokens every `per`, at most `burst` saved up.
#[derive(Debug, Clone, Copy)]
struct Rate {
    elements: u64,
    per: Duration,
    burst: u64,
}

impl Rate {
    /// Refills `tokens` for the time since `last`, advancing `last` by whole periods.
    fn refill(&self, tokens: &mut u64, last: &mut Instant, now: Instant) {
        let elapsed = now.saturating_duration_since(*last);
        let periods = (elapsed.as_nanos() / self.per.as_nanos()) as u64;
        if periods > 0 {
            *tokens = add_cap(*tokens, periods.saturating_mul(self.elements)).min(self.burst);
            *last += self.per * periods.min(u32::MAX as u64) as u32;
        }
    }
}

impl<P, S> Throttle<P, S> {
    pub(crate) fn new(
        source: P,
        elements: u64,
        per: Duration,
        burst: u64,
        mode: ThrottleMode,
        scheduler: S,
    ) -> Self {
        assert!(
            elements > 0,
            "throttle: elements must be at least 1 per period (got 0)"
        );
        assert!(
            !per.is_zero(),
            "throttle: per must be a positive duration (got 0)"
        );
        assert!(burst > 0, "throttle: burst must be at least 1 (got 0)");
        Throttle {
            source,
            rate: Rate {
                elements,
                per,
                burst,
            },
            mode,
            scheduler,
        }
    }
}

impl<P: Clone, S: Clone> Clone for Throttle<P, S> {
    fn clone(&self) -> Self {
        Throttle {
            source: self.source.clone(),
            rate: self.rate,
            mode: self.mode,
            scheduler: self.scheduler.clone(),
        }
    }
}

impl<P: fmt::Debug, S> fmt::Debug for Throttle<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("source", &self.source)
            .field("elements", &self.rate.elements)
            .field("per", &self.rate.per)
            .field("burst", &self.rate.burst)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl<P, Sch> Publisher for Throttle<P, Sch>
where
    P: Publisher,
    Sch: Scheduler,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        let worker = self.scheduler.worker();
        let now = worker.now();
        match self.mode {
            ThrottleMode::Shaping => {
                let shaper = Arc::new(Shaper {
                    rate: self.rate,
                    upstream: UpstreamSlot::new(),
                    bucket: Mutex::new(Bucket {
                        tokens: self.rate.burst,
                        last: now,
                        wanted: 0,
                        granted: 0,
                        timer: None,
                        ended: false,
                    }),
                    worker,
                });
                self.source.subscribe(ShapingInlet {
                    downstream: subscriber,
                    shaper,
                    link: Link::new(),
                });
            }
            ThrottleMode::Enforcing => self.source.subscribe(Enforcer {
                downstream: subscriber,
                rate: self.rate,
                tokens: self.rate.burst,
                last: now,
                worker,
                link: Link::new(),
            }),
        }
    }
}

// ===== shaping =====

/// The bucket and the downstream's subscription.
struct Shaper {
    rate: Rate,
    upstream: UpstreamSlot,
    bucket: Mutex<Bucket>,
    worker: Arc<dyn Worker>,
}

struct Bucket {
    tokens: u64,
    last: Instant,
    /// Demand the downstream requested in total (saturating).
    wanted: u64,
    /// Demand passed upstream in total: never more than `wanted`, never faster than the rate.
    granted: u64,
    /// The refill timer, while one is scheduled.
    timer: Option<TaskHandle>,
    ended: bool,
}

impl Shaper {
    /// Passes upstream as much of the outstanding downstream demand as the bucket allows, and
    /// schedules a refill when demand is left over.
    fn top_up(self: &Arc<Self>) {
        let grant = {
            let mut b = self.bucket.lock();
            if b.ended {
                return;
            }
            let now = self.worker.now();
            let Bucket { tokens, last, .. } = &mut *b;
            self.rate.refill(tokens, last, now);
            let outstanding = if b.wanted == UNBOUNDED {
                UNBOUNDED
            } else {
                b.wanted - b.granted
            };
            let grant = outstanding.min(b.tokens);
            b.tokens -= grant;
            b.granted = add_cap(b.granted, grant);
            let left = outstanding - grant;
            if left > 0 && b.timer.is_none() {
                let due = deadline(b.last, self.rate.per);
                let me: Weak<Shaper> = Arc::downgrade(self);
                b.timer = Some(self.worker.schedule_after(
                    due.saturating_duration_since(now),
                    Task::new(move || {
                        if let Some(me) = me.upgrade() {
                            me.bucket.lock().timer = None;
                            me.top_up();
                        }
                    }),
                ));
            }
            grant
        };
        if grant > 0 {
            self.upstream.request(grant);
        }
    }

    fn end(&self) {
        let mut b = self.bucket.lock();
        b.ended = true;
        if let Some(t) = b.timer.take() {
            t.cancel();
        }
    }
}

/// The downstream's subscription: requests go through the bucket.
struct ShapedSubscription(Arc<Shaper>);

impl Subscription for ShapedSubscription {
    fn request(&self, n: u64) {
        if n == 0 {
            // §3.9 is the upstream's to signal.
            self.0.upstream.request(0);
            return;
        }
        {
            let mut b = self.0.bucket.lock();
            b.wanted = add_cap(b.wanted, n);
        }
        self.0.top_up();
    }

    fn cancel(&self) {
        self.0.end();
        self.0.upstream.cancel();
    }
}

/// The subscriber given to the upstream: everything it receives was granted, so it passes
/// straight through. Its [`Link`] keeps the protocol for the downstream: a second subscription
/// is cancelled, not passed on (§2.5), and nothing is passed on after a terminal signal (§1.7).
struct ShapingInlet<S> {
    downstream: S,
    shaper: Arc<Shaper>,
    link: Link,
}

impl<S> ShapingInlet<S> {
    /// Stops the refills and releases the upstream, which is done (§1.6). Returns `false` when
    /// the stream had ended already, so nothing is signalled twice.
    fn finish(&mut self) -> bool {
        if !self.link.finish() {
            return false;
        }
        self.shaper.end();
        self.shaper.upstream.clear();
        true
    }
}

impl<T, S: Subscriber<T>> Subscriber<T> for ShapingInlet<S> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if let Some(subscription) = self.link.accept(subscription) {
            if self.shaper.upstream.set(subscription) {
                self.downstream
                    .on_subscribe(Arc::new(ShapedSubscription(Arc::clone(&self.shaper))));
            }
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if self.link.is_done() {
            return;
        }
        // Granted demand never exceeds the downstream's: a rejected element (filter) is made
        // up for by the downstream's own request, which goes through the bucket again.
        self.downstream.on_next(item);
    }

    fn on_error(&mut self, error: Error) {
        if self.finish() {
            self.downstream.on_error(error);
        }
    }

    fn on_complete(&mut self) {
        if self.finish() {
            self.downstream.on_complete();
        }
    }
}

// ===== enforcing =====

/// Passes demand through and takes a token per element; none left fails the stream.
struct Enforcer<S> {
    downstream: S,
    rate: Rate,
    tokens: u64,
    last: Instant,
    worker: Arc<dyn Worker>,
    link: Link,
}

impl<T, S: Subscriber<T>> Subscriber<T> for Enforcer<S> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if let Some(subscription) = self.link.accept(subscription) {
            self.downstream.on_subscribe(subscription);
        }
    }

    fn on_next(&mut self, item: T) {
        if self.link.is_done() {
            return;
        }
        // Refilled before every element, not only when the bucket is empty: tokens left from
        // before an idle spell are part of the bucket, which never holds more than `burst`.
        self.rate
            .refill(&mut self.tokens, &mut self.last, self.worker.now());
        if self.tokens == 0 {
            self.link.fail();
            let r = self.rate;
            self.downstream.on_error(
                Error::overflow(format!(
                    "rate exceeded: more than {} per {:?} (burst {}) in enforcing mode",
                    r.elements, r.per, r.burst
                ))
                .in_stage("throttle"),
            );
            return;
        }
        self.tokens -= 1;
        self.downstream.on_next(item);
    }

    fn on_error(&mut self, error: Error) {
        if self.link.finish() {
            self.downstream.on_error(error);
        }
    }

    fn on_complete(&mut self) {
        if self.link.finish() {
            self.downstream.on_complete();
        }
    }
}
