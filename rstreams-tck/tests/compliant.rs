//! Correct implementations the kit must pass: no false alarms. Synchronous, asynchronous on
//! another thread, slow but correct, and lazy about noticing cancel.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rstreams_core::scheduler::{Scheduler, Task, ThreadPool, Worker};
use std::collections::VecDeque;

use rstreams_core::support::{Demand, DrainCell, UpstreamSlot};
use rstreams_core::{sink, source, Error, Publisher, Subscriber, Subscription};
use rstreams_tck::{
    OperatorVerification, PublisherVerification, SubscriberVerification, TestSubscriber, Upstream,
};

/// Emits `0..n` from a pool worker, never on the requesting thread; optionally slowly, and
/// optionally noticing cancel only every `cancel_every` elements.
#[derive(Clone)]
struct OnWorker {
    n: u64,
    pool: ThreadPool,
    pause: Option<Duration>,
    cancel_every: u64,
}

struct State<S> {
    subscriber: Option<S>,
    next: u64,
}

struct WorkerSubscription<S> {
    n: u64,
    pause: Option<Duration>,
    cancel_every: u64,
    demand: Demand,
    cancelled: AtomicBool,
    zero: AtomicBool,
    worker: Arc<dyn Worker>,
    cell: DrainCell<State<S>>,
}

impl<S: Subscriber<u64> + 'static> WorkerSubscription<S> {
    fn schedule(self: &Arc<Self>) {
        let me = Arc::clone(self);
        self.worker
            .schedule(Task::new(move || me.cell.drain(|st| me.pass(st))));
    }

    fn pass(&self, st: &mut State<S>) {
        let Some(s) = st.subscriber.as_mut() else {
            return;
        };
        if self.cancelled.load(Ordering::Acquire) {
            st.subscriber = None;
            return;
        }
        if self.zero.load(Ordering::Acquire) {
            let mut s = st.subscriber.take().unwrap();
            s.on_error(Error::request_zero());
            return;
        }
        let requested = self.demand.get();
        let mut emitted = 0;
        while emitted < requested && st.next < self.n {
            if emitted % self.cancel_every == 0 && self.cancelled.load(Ordering::Acquire) {
                break;
            }
            if let Some(p) = self.pause {
                std::thread::sleep(p);
            }
            s.on_next(st.next);
            st.next += 1;
            emitted += 1;
        }
        self.demand.produced(emitted);
        if self.cancelled.load(Ordering::Acquire) {
            st.subscriber = None;
        } else if st.next == self.n {
            st.subscriber.take().unwrap().on_complete();
        }
    }
}

/// The subscription handed to the subscriber: a handle on the shared state.
struct Handle<S>(Arc<WorkerSubscription<S>>);

impl<S: Subscriber<u64> + 'static> Subscription for Handle<S> {
    fn request(&self, n: u64) {
        if n == 0 {
            self.0.zero.store(true, Ordering::Release);
        } else {
            self.0.demand.add(n);
        }
        self.0.schedule();
    }
    fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::Release);
        self.0.schedule();
    }
}

impl Publisher for OnWorker {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, subscriber: S) {
        let sub = Arc::new(WorkerSubscription {
            n: self.n,
            pause: self.pause,
            cancel_every: self.cancel_every,
            demand: Demand::new(),
            cancelled: AtomicBool::new(false),
            zero: AtomicBool::new(false),
            worker: self.pool.worker(),
            cell: DrainCell::new(State {
                subscriber: None,
                next: 0,
            }),
        });
        // on_subscribe, like every signal, runs on the worker.
        let me = Arc::clone(&sub);
        let mut subscriber = Some(subscriber);
        sub.worker.schedule(Task::new(move || {
            me.cell.drain(|st| {
                if let Some(mut s) = subscriber.take() {
                    s.on_subscribe(Arc::new(Handle(Arc::clone(&me))));
                    st.subscriber = Some(s);
                }
            });
            me.cell.drain(|st| me.pass(st));
        }));
    }
}

#[test]
fn an_asynchronous_publisher_on_another_thread_passes() {
    let pool = ThreadPool::new(2);
    PublisherVerification::new(move |n| OnWorker {
        n,
        pool: pool.clone(),
        pause: None,
        cancel_every: 1,
    })
    .failed_publisher(|| source::fail::<u64>(Error::msg("down")))
    .run()
    .assert_compliant();
}

#[test]
fn a_slow_but_correct_publisher_passes() {
    let pool = ThreadPool::new(1);
    PublisherVerification::new(move |n| OnWorker {
        n,
        pool: pool.clone(),
        pause: Some(Duration::from_micros(300)),
        cancel_every: 1,
    })
    .max_elements(200)
    .run()
    .assert_compliant();
}

#[test]
fn a_publisher_that_notices_cancel_late_passes() {
    let pool = ThreadPool::new(1);
    PublisherVerification::new(move |n| OnWorker {
        n,
        pool: pool.clone(),
        pause: None,
        cancel_every: 64,
    })
    .run()
    .assert_compliant();
}

#[test]
fn the_test_subscriber_and_lambda_subscribers_pass_the_subscriber_checks() {
    SubscriberVerification::new(|| TestSubscriber::<u64>::new(1).request_on_next(1))
        .trigger_cancel(|s| s.cancel())
        .trigger_request(|s, n| s.request(n))
        .run()
        .assert_compliant();
    SubscriberVerification::new(|| sink::for_each(|_: u64| {}))
        .run()
        .assert_compliant();
    SubscriberVerification::new(|| sink::for_each(|_: u64| {}).batch(3))
        .trigger_cancel(|s| s.handle().cancel())
        .run()
        .assert_compliant();
}

#[test]
fn the_identity_operator_passes_with_no_prefetch() {
    OperatorVerification::new(|up: Upstream| up)
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

mod processor_support;

#[test]
fn an_identity_processor_passes_on_both_sides() {
    let report = rstreams_tck::ProcessorVerification::new(processor_support::Identity::new)
        .prefetch_bound(0)
        .run();
    report.assert_compliant();
    assert!(report.checks().len() > 40, "all three suites ran");
}

// ===== both signal paths =====

/// A correct filter (keeps even elements): `try_on_next` refuses a dropped element, and the
/// plain `on_next` replaces it with `request(1)`.
struct EvenFilter {
    up: Upstream,
}

struct EvenSubscriber<S> {
    down: S,
    slot: Arc<UpstreamSlot>,
}

struct Forward(Arc<UpstreamSlot>);

impl Subscription for Forward {
    fn request(&self, n: u64) {
        self.0.request(n)
    }
    fn cancel(&self) {
        self.0.cancel()
    }
}

impl<S: Subscriber<u64>> Subscriber<u64> for EvenSubscriber<S> {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        self.slot.set(s);
        self.down.on_subscribe(Arc::new(Forward(self.slot.clone())));
    }
    fn on_next(&mut self, x: u64) {
        if x.is_multiple_of(2) {
            self.down.on_next(x);
        } else {
            self.slot.request(1);
        }
    }
    fn try_on_next(&mut self, x: u64) -> bool {
        x.is_multiple_of(2) && self.down.try_on_next(x)
    }
    fn on_error(&mut self, e: Error) {
        self.down.on_error(e)
    }
    fn on_complete(&mut self) {
        self.down.on_complete()
    }
}

impl Publisher for EvenFilter {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, s: S) {
        self.up.subscribe(EvenSubscriber {
            down: s,
            slot: Arc::new(UpstreamSlot::new()),
        });
    }
}

#[test]
fn a_filter_that_replaces_dropped_elements_passes_on_both_signal_paths() {
    OperatorVerification::new(|up| EvenFilter { up })
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

// ===== K.2 at the top of the range =====

/// Asks upstream for `prefetch` at once, then for what downstream asks, with saturating
/// arithmetic: upstream's outstanding demand is downstream's plus the prefetch, and the
/// elements ahead of downstream demand wait in a queue no longer than the prefetch. Near
/// u64::MAX the upstream total saturates to unbounded while downstream's does not.
struct PrefetchAhead {
    up: Upstream,
    prefetch: u64,
}

struct Ahead<S> {
    demand: Demand,
    slot: UpstreamSlot,
    cell: DrainCell<(VecDeque<u64>, Option<S>, bool)>,
}

impl<S: Subscriber<u64>> Ahead<S> {
    fn drain(&self) {
        self.cell.drain(|(queue, down, done)| {
            let Some(d) = down.as_mut() else { return };
            let mut emitted = 0;
            while emitted < self.demand.get() {
                let Some(x) = queue.pop_front() else { break };
                d.on_next(x);
                emitted += 1;
            }
            self.demand.produced(emitted);
            if *done && queue.is_empty() {
                d.on_complete();
                *down = None;
            }
        });
    }
}

impl<S: Subscriber<u64>> Subscription for Ahead<S> {
    fn request(&self, n: u64) {
        if n == 0 {
            self.slot.cancel();
            self.cell.drain(|(queue, down, _)| {
                queue.clear();
                if let Some(mut d) = down.take() {
                    d.on_error(Error::request_zero());
                }
            });
            return;
        }
        self.demand.add(n);
        self.slot.request(n);
        self.drain();
    }
    fn cancel(&self) {
        self.slot.cancel();
        self.cell.drain(|(queue, down, _)| {
            queue.clear();
            *down = None;
        });
    }
}

struct AheadSubscriber<S>(Arc<Ahead<S>>, u64);

impl<S: Subscriber<u64> + 'static> Subscriber<u64> for AheadSubscriber<S> {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        self.0.slot.set(s);
        if self.1 > 0 {
            self.0.slot.request(self.1);
        }
    }
    fn on_next(&mut self, x: u64) {
        self.0.cell.drain(|(queue, _, _)| queue.push_back(x));
        self.0.drain();
    }
    fn on_error(&mut self, e: Error) {
        self.0.cell.drain(|(queue, down, _)| {
            queue.clear();
            if let Some(mut d) = down.take() {
                d.on_error(e.clone())
            }
        });
    }
    fn on_complete(&mut self) {
        self.0.cell.drain(|(_, _, done)| *done = true);
        self.0.drain();
    }
}

impl Publisher for PrefetchAhead {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut s: S) {
        let a = Arc::new(Ahead::<S> {
            demand: Demand::new(),
            slot: UpstreamSlot::new(),
            cell: DrainCell::new((VecDeque::new(), None, false)),
        });
        s.on_subscribe(a.clone());
        let mut s = Some(s);
        a.cell.drain(|(_, down, _)| *down = s.take());
        self.up.subscribe(AheadSubscriber(a.clone(), self.prefetch));
        a.drain();
    }
}

#[test]
fn k_2_an_operator_asking_for_demand_plus_prefetch_passes_when_the_sum_saturates() {
    // The bounded-demand check ends with downstream's total at u64::MAX - 1: this operator's
    // upstream total saturates to unbounded, which demand plus prefetch allows.
    let report = OperatorVerification::new(|up| PrefetchAhead { up, prefetch: 16 })
        .prefetch_bound(16)
        .run();
    report.assert_compliant();
    assert_eq!(
        report.outcome("op_upstream_demand_stays_within_downstream_demand_plus_prefetch"),
        Some(&rstreams_tck::Outcome::Passed)
    );
}

#[test]
fn k_1_runs_for_a_nondeterministic_operator_instead_of_being_skipped() {
    let report = OperatorVerification::new(|up: Upstream| up)
        .nondeterministic()
        .run_check("op_output_does_not_depend_on_the_demand_schedule");
    assert_eq!(
        report.outcome("op_output_does_not_depend_on_the_demand_schedule"),
        Some(&rstreams_tck::Outcome::Passed),
        "{report}"
    );
}

// ===== processors with two subscribers =====

const MULTI: [&str; 3] = [
    "proc_rule_4_1_an_element_reaches_both_subscribers",
    "proc_rule_1_1_the_slower_subscriber_holds_back_the_faster",
    "proc_rule_4_2_an_upstream_error_reaches_both_subscribers",
];

#[test]
fn rule_4_1_a_multicast_processor_passes_with_two_subscribers_the_slower_holding_back_the_faster() {
    let report = rstreams_tck::ProcessorVerification::new(processor_support::Hub::new)
        .prefetch_bound(0)
        .run();
    report.assert_compliant();
    for name in MULTI {
        assert_eq!(
            report.outcome(name),
            Some(&rstreams_tck::Outcome::Passed),
            "{report}"
        );
    }
}

#[test]
fn rule_1_11_a_unicast_processor_has_the_multi_subscriber_checks_skipped() {
    let report = rstreams_tck::ProcessorVerification::new(processor_support::Identity::new)
        .prefetch_bound(0)
        .run_check("proc_rule_4_1_an_element_reaches_both_subscribers");
    report.assert_compliant();
    assert!(
        matches!(
            report.outcome("proc_rule_4_1_an_element_reaches_both_subscribers"),
            Some(rstreams_tck::Outcome::Skipped { reason }) if reason.contains("unicast")
        ),
        "{report}"
    );
}

#[test]
fn rule_1_1_a_processor_that_buffers_for_the_slower_subscriber_passes_under_its_declared_policy() {
    let report = rstreams_tck::ProcessorVerification::new(processor_support::Hub::running_ahead)
        .multicast(rstreams_tck::Multicast::Buffered(16))
        .run_check("proc_rule_1_1_the_slower_subscriber_holds_back_the_faster");
    report.assert_compliant();
}
