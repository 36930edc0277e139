//! Correct implementations the kit must pass: no false alarms. Synchronous, asynchronous on
//! another thread, slow but correct, and lazy about noticing cancel.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rstreams_core::scheduler::{Scheduler, Task, ThreadPool, Worker};
use rstreams_core::support::{Demand, DrainCell};
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
