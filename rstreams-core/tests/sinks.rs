//! The sinks: `for_each` / `LambdaSubscriber` and blocking `collect`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rstreams_core::scheduler::ThreadPool;
use rstreams_core::{sink, source, Error, ErrorKind, Publisher, Subscriber, Subscription};

/// A sink that counts the elements it receives, and the count.
fn counting_sink() -> (
    sink::LambdaSubscriber<u64, impl FnMut(u64) + Send + 'static>,
    Arc<AtomicU64>,
) {
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    let s = sink::for_each(move |_: u64| {
        c.fetch_add(1, Ordering::SeqCst);
    });
    (s, count)
}

/// Records every request a subscriber makes of its upstream.
struct RecordRequests<P> {
    inner: P,
    requests: Arc<Mutex<Vec<u64>>>,
}

impl<P: Publisher> Publisher for RecordRequests<P>
where
    P::Item: 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        struct Spy<S> {
            inner: S,
            requests: Arc<Mutex<Vec<u64>>>,
        }
        struct SpySub {
            inner: Arc<dyn Subscription>,
            requests: Arc<Mutex<Vec<u64>>>,
        }
        impl Subscription for SpySub {
            fn request(&self, n: u64) {
                self.requests.lock().unwrap().push(n);
                self.inner.request(n)
            }
            fn cancel(&self) {
                self.inner.cancel()
            }
        }
        impl<T, S: Subscriber<T>> Subscriber<T> for Spy<S> {
            fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
                let spy = SpySub {
                    inner: s,
                    requests: self.requests.clone(),
                };
                self.inner.on_subscribe(Arc::new(spy))
            }
            fn on_next(&mut self, item: T) {
                self.inner.on_next(item)
            }
            fn on_error(&mut self, e: Error) {
                self.inner.on_error(e)
            }
            fn on_complete(&mut self) {
                self.inner.on_complete()
            }
        }
        self.inner.subscribe(Spy {
            inner: subscriber,
            requests: self.requests.clone(),
        })
    }
}

#[test]
fn for_each_with_a_batch_keeps_at_most_a_batch_outstanding() {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let p = RecordRequests {
        inner: source::range(0, 100),
        requests: requests.clone(),
    };
    let sum = Arc::new(AtomicU64::new(0));
    let s = sum.clone();
    let subscriber = sink::for_each(move |x: u64| {
        s.fetch_add(x, Ordering::Relaxed);
    })
    .batch(8);
    let handle = subscriber.handle();
    p.subscribe(subscriber);
    handle.wait().unwrap();
    assert_eq!(sum.load(Ordering::Relaxed), 4950);
    let requests = requests.lock().unwrap();
    assert_eq!(requests[0], 8);
    // Replenished with 6 (= 8 - 8/4) each time 6 arrived: outstanding never exceeds 8.
    assert!(requests[1..].iter().all(|&n| n == 6), "{requests:?}");
}

#[test]
fn for_each_replenishes_exactly_every_three_quarters_of_a_batch() {
    // (batch, what it requests again, elements): the first request is the batch, then one
    // replenish per `again` elements received, never one more or one early.
    for (batch, again, n) in [(1, 1, 100), (4, 3, 100), (8, 6, 96), (256, 192, 1000)] {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let p = RecordRequests {
            inner: source::range(0, n),
            requests: requests.clone(),
        };
        let count = Arc::new(AtomicU64::new(0));
        let c = count.clone();
        let subscriber = sink::for_each(move |_: u64| {
            c.fetch_add(1, Ordering::Relaxed);
        })
        .batch(batch);
        let handle = subscriber.handle();
        p.subscribe(subscriber);
        handle.wait().unwrap();
        assert_eq!(count.load(Ordering::Relaxed), n, "batch {batch}");
        let mut expected = vec![batch];
        expected.extend(std::iter::repeat_n(again, (n / again) as usize));
        assert_eq!(*requests.lock().unwrap(), expected, "batch {batch}");
    }
}

#[test]
fn for_each_by_default_requests_unbounded_once() {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let p = RecordRequests {
        inner: source::range(0, 1000),
        requests: requests.clone(),
    };
    let s = sink::for_each(|_: u64| {});
    let h = s.handle();
    p.subscribe(s);
    h.wait().unwrap();
    assert_eq!(*requests.lock().unwrap(), vec![u64::MAX]);
}

#[test]
fn on_error_and_on_complete_closures_run_once() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (a, b) = (log.clone(), log.clone());
    let s = sink::for_each(|_: u64| {})
        .on_error(move |e| a.lock().unwrap().push(format!("error {e}")))
        .on_complete(move || b.lock().unwrap().push("complete".into()));
    let h = s.handle();
    source::fail::<u64>(Error::msg("boom")).subscribe(s);
    assert_eq!(h.wait().unwrap_err().to_string(), "boom");
    assert_eq!(*log.lock().unwrap(), vec!["error boom".to_string()]);
}

#[test]
fn a_panic_in_on_next_cancels_upstream_and_ends_the_handle_with_the_error() {
    let seen = Arc::new(AtomicU64::new(0));
    let s2 = seen.clone();
    let s = sink::for_each(move |x: u64| {
        s2.fetch_add(1, Ordering::SeqCst);
        if x == 3 {
            panic!("bad element {x}");
        }
    });
    let h = s.handle();
    source::range(0, 1_000).subscribe(s);
    let error = h.wait().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Panic);
    assert!(error.to_string().contains("bad element 3"));
    assert_eq!(seen.load(Ordering::SeqCst), 4, "no element after the panic");
}

#[test]
fn the_handle_cancels_a_running_subscription_from_another_thread() {
    let pool = ThreadPool::new(1);
    let (s, count) = counting_sink();
    let h = s.handle();
    source::interval(Duration::from_millis(1), pool).subscribe(s);
    while count.load(Ordering::SeqCst) < 3 {
        std::thread::yield_now();
    }
    h.cancel();
    assert!(matches!(
        h.wait_timeout(Duration::from_secs(5)),
        Some(Ok(()))
    ));
    let after = count.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(20));
    assert!(
        count.load(Ordering::SeqCst) <= after + 1,
        "signals stopped after cancel (§3.12)"
    );
}

#[test]
fn a_handle_cancelled_before_subscribing_cancels_on_arrival() {
    let (s, count) = counting_sink();
    let h = s.handle();
    h.cancel();
    source::range(0, 10).subscribe(s);
    assert_eq!(count.load(Ordering::SeqCst), 0);
    assert!(h.is_done());
}

#[test]
fn wait_timeout_gives_up_on_a_stream_that_never_ends() {
    let s = sink::for_each(|_: u64| {});
    let h = s.handle();
    source::never::<u64>().subscribe(s);
    assert!(h.wait_timeout(Duration::from_millis(20)).is_none());
    h.cancel();
}

#[test]
fn collect_returns_the_error_of_a_failed_stream() {
    let error = sink::collect(&source::fail::<u8>(Error::msg("gone"))).unwrap_err();
    assert_eq!(error.to_string(), "gone");
}

/// Subscribes to the inner publisher on a new thread, so the stream ends on another thread.
struct OnThread<P>(P);

impl<P: Publisher + Clone + Send + 'static> Publisher for OnThread<P>
where
    P::Item: 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        let inner = self.0.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            inner.subscribe(subscriber)
        });
    }
}

#[test]
fn collect_blocks_until_a_stream_on_another_thread_ends() {
    let all = sink::collect(&OnThread(source::range(0, 1_000))).unwrap();
    assert!(all.into_iter().eq(0..1_000));
    let error = sink::collect(&OnThread(source::fail::<u8>(Error::msg("late")))).unwrap_err();
    assert_eq!(error.to_string(), "late");
}

#[test]
fn wait_timeout_of_duration_max_waits_for_the_end() {
    // Ended already.
    let subscriber = sink::for_each(|_: u64| {});
    let handle = subscriber.handle();
    source::range(0, 3).subscribe(subscriber);
    assert!(matches!(handle.wait_timeout(Duration::MAX), Some(Ok(()))));
    // Ends later, on another thread.
    let subscriber = sink::for_each(|_: u64| {});
    let handle = subscriber.handle();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let emitter = std::thread::spawn(move || {
        wait.recv().unwrap();
        source::range(0, 3).subscribe(subscriber);
    });
    go.send(()).unwrap();
    assert!(matches!(handle.wait_timeout(Duration::MAX), Some(Ok(()))));
    emitter.join().unwrap();
}

/// A rogue publisher: signals `on_next(1)`, its terminal signal, then `on_next(2)` (§1.7).
struct SignalsAfterItsEnd {
    fail: bool,
}

impl Publisher for SignalsAfterItsEnd {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
        subscriber.on_subscribe(Arc::new(rstreams_core::NoopSubscription));
        subscriber.on_next(1);
        if self.fail {
            subscriber.on_error(Error::msg("boom"));
        } else {
            subscriber.on_complete();
        }
        subscriber.on_next(2);
        subscriber.on_complete();
    }
}

#[test]
fn for_each_never_calls_its_closures_after_the_end_whatever_its_batch() {
    // §1.7 from a rogue upstream, on both paths of on_next (unbounded, and counting a batch).
    for batch in [u64::MAX, 1, 4] {
        for fail in [false, true] {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let ends = Arc::new(AtomicU64::new(0));
            let (s, e1, e2) = (seen.clone(), ends.clone(), ends.clone());
            let subscriber = sink::for_each(move |x: u64| s.lock().unwrap().push(x))
                .on_complete(move || {
                    e1.fetch_add(1, Ordering::SeqCst);
                })
                .on_error(move |_| {
                    e2.fetch_add(1, Ordering::SeqCst);
                })
                .batch(batch);
            let handle = subscriber.handle();
            SignalsAfterItsEnd { fail }.subscribe(subscriber);
            assert_eq!(handle.wait().is_err(), fail);
            assert_eq!(*seen.lock().unwrap(), vec![1], "batch {batch}: §1.7");
            assert_eq!(
                ends.load(Ordering::SeqCst),
                1,
                "batch {batch}: one terminal"
            );
        }
    }
}

#[test]
fn run_returns_once_a_stream_on_another_thread_has_ended() {
    let seen = Arc::new(AtomicU64::new(0));
    let s = seen.clone();
    let end = sink::for_each(move |x: u64| {
        s.fetch_add(x, Ordering::SeqCst);
    })
    .batch(7)
    .run(&OnThread(source::range(0, 1_000)));
    assert!(end.is_ok());
    assert_eq!(
        seen.load(Ordering::SeqCst),
        999 * 1_000 / 2,
        "every element"
    );
    let end = sink::for_each(|_: u8| {}).run(&OnThread(source::fail::<u8>(Error::msg("late"))));
    assert_eq!(end.unwrap_err().to_string(), "late");
}

#[test]
fn run_returns_the_error_of_a_panic_in_on_next() {
    let end = sink::for_each(|x: u64| assert!(x < 3, "bad element {x}")).run(&source::range(0, 10));
    let error = end.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Panic);
    assert!(error.to_string().contains("bad element 3"));
}

/// Subscribes every subscriber it is given, then drops it without an end: breaks §1.4.
struct Loses;

impl Publisher for Loses {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
        subscriber.on_subscribe(Arc::new(rstreams_core::NoopSubscription));
        drop(subscriber);
    }
}

#[test]
fn run_and_the_handle_end_with_a_1_4_error_when_the_publisher_drops_the_sink() {
    let end = sink::for_each(|_: u64| {}).run(&Loses);
    let error = end.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Protocol);
    assert_eq!(error.rule(), Some("1.4"));

    let s = sink::for_each(|_: u64| {});
    let h = s.handle();
    std::thread::spawn(move || Loses.subscribe(s))
        .join()
        .unwrap();
    let error = h.wait().unwrap_err();
    assert_eq!(
        error.rule(),
        Some("1.4"),
        "the handle does not wait forever"
    );
}

#[test]
fn run_after_a_handle_cancelled_returns_ok_without_an_element() {
    let (s, count) = counting_sink();
    s.handle().cancel();
    assert!(s.run(&source::range(0, 10)).is_ok());
    assert_eq!(count.load(Ordering::SeqCst), 0);
}

#[test]
fn run_returns_ok_once_a_handle_cancels_it_from_another_thread() {
    let pool = ThreadPool::new(1);
    let (s, count) = counting_sink();
    let h = s.handle();
    let cancel = {
        let count = count.clone();
        std::thread::spawn(move || {
            while count.load(Ordering::SeqCst) < 3 {
                std::thread::yield_now();
            }
            h.cancel();
        })
    };
    // interval on the pool: only the cancel (and the engine releasing the sink, §3.13) ends it.
    assert!(s
        .run(&source::interval(Duration::from_millis(1), pool))
        .is_ok());
    cancel.join().unwrap();
}

#[test]
fn a_run_inside_another_runs_on_next_ends_on_its_own() {
    let inner_sums = Arc::new(Mutex::new(Vec::new()));
    let sums = inner_sums.clone();
    sink::for_each(move |x: u64| {
        let total = Arc::new(AtomicU64::new(0));
        let t = total.clone();
        sink::for_each(move |y: u64| {
            t.fetch_add(y, Ordering::SeqCst);
        })
        .run(&source::range(0, x))
        .unwrap();
        sums.lock().unwrap().push(total.load(Ordering::SeqCst));
    })
    .run(&source::range(1, 4))
    .unwrap();
    assert_eq!(*inner_sums.lock().unwrap(), vec![0, 1, 3, 6]);
}

/// Keeps every subscriber it is given (after `on_subscribe`) and never ends nor drops it: a
/// publisher that releases a cancelled subscriber lazily (§3.13 says "eventually").
#[derive(Clone, Default)]
struct Hoards(Arc<Mutex<Vec<Box<dyn Send>>>>);

impl Publisher for Hoards {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
        subscriber.on_subscribe(Arc::new(rstreams_core::NoopSubscription));
        self.0.lock().unwrap().push(Box::new(subscriber));
    }
}

#[test]
fn a_handles_cancel_ends_run_at_once_even_if_the_publisher_keeps_the_sink() {
    let (s, _) = counting_sink();
    let h = s.handle();
    let cancel = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        h.cancel();
    });
    let hoards = Hoards::default();
    assert!(s.run(&hoards).is_ok(), "cancelled: Ok, without a drop");
    cancel.join().unwrap();
    assert_eq!(hoards.0.lock().unwrap().len(), 1, "still held");
}

/// Subscribes, lets the test cancel through a handle, then signals an error in flight.
struct FailsAfterTheHandleCancelled(Arc<Mutex<Option<sink::SubscriberHandle>>>);

impl Publisher for FailsAfterTheHandleCancelled {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut subscriber: S) {
        subscriber.on_subscribe(Arc::new(rstreams_core::NoopSubscription));
        if let Some(h) = self.0.lock().unwrap().take() {
            h.cancel();
        }
        subscriber.on_error(Error::msg("in flight"));
    }
}

#[test]
fn run_and_the_handle_report_the_same_end_when_a_cancel_and_an_error_cross() {
    let s = sink::for_each(|_: u64| {});
    let h = s.handle();
    let slot = Arc::new(Mutex::new(Some(h.clone())));
    let end = s.run(&FailsAfterTheHandleCancelled(slot));
    assert!(end.is_ok(), "the cancel came first");
    assert!(h.wait().is_ok());
}

#[test]
fn a_sink_dropped_before_it_was_subscribed_ends_its_handle_with_a_1_9_error() {
    let s = sink::for_each(|_: u64| {});
    let h = s.handle();
    drop(s);
    let error = h.wait().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Protocol);
    assert_eq!(error.rule(), Some("1.9"));
}

/// Drops the subscriber and then panics in `subscribe`.
struct PanicsInSubscribe;

impl Publisher for PanicsInSubscribe {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, subscriber: S) {
        drop(subscriber);
        panic!("subscribe failed");
    }
}

#[test]
fn a_publisher_that_panics_in_subscribe_panics_run_and_the_next_run_works() {
    let panicked = std::panic::catch_unwind(|| sink::for_each(|_: u64| {}).run(&PanicsInSubscribe));
    assert!(panicked.is_err(), "the panic goes on to run's caller");
    assert!(sink::for_each(|_: u64| {})
        .run(&source::range(0, 3))
        .is_ok());
}

#[test]
fn run_returns_the_error_of_a_panic_in_on_complete() {
    let end = sink::for_each(|_: u64| {})
        .on_complete(|| panic!("no end for you"))
        .run(&source::range(0, 3));
    let error = end.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Panic);
    assert!(error.to_string().contains("no end for you"));
}
