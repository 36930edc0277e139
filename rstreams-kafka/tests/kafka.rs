//! rstreams-kafka against librdkafka's mock cluster (see `support`).

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rstreams_core::{source, Publisher, Subscriber, Subscription};
use rstreams_kafka::rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rstreams_kafka::{Acked, Delivery, KafkaSink, KafkaSource, Record};
use rstreams_tck::TestSubscriber;
use rstreams_test_servers::{eventually, unique};
use support::{client_config, cluster, committed, produce, read_back};

const WITHIN: Duration = Duration::from_secs(20);

type Msg = Delivery<Option<Vec<u8>>>;

fn text(delivery: &Msg) -> String {
    String::from_utf8(delivery.value.clone().unwrap_or_default()).unwrap()
}

#[test]
fn demand_reaches_the_broker_as_paused_partitions_and_nothing_is_fetched_beyond_it() {
    let topic = unique("demand");
    let group = unique("g");
    let mock = cluster(&topic, 2);
    produce(&mock, &topic, None, 0..200);

    let source = KafkaSource::group(client_config(&mock), &group, [&topic]);
    let stats = source.stats();
    let handle = TestSubscriber::<Msg>::new(0);
    source.subscribe(handle.clone());
    eventually(
        WITHIN,
        "both partitions are assigned and paused (no demand yet)",
        || stats.assigned() == 2 && stats.paused() == 2,
    );
    assert_eq!(stats.fetched(), 0, "no demand: nothing fetched");

    handle.request(5);
    eventually(WITHIN, "5 deliveries arrive", || handle.untaken() == 5);
    eventually(WITHIN, "the demand is met: partitions paused again", || {
        stats.paused() == 2
    });
    thread::sleep(Duration::from_millis(300)); // time for any over-fetch to show
    handle.assert_no_error();
    assert_eq!(handle.untaken(), 5, "exactly the demand is delivered");
    assert_eq!(
        stats.fetched() - stats.rewound(),
        5,
        "exactly the demand was taken from the client (rewound: {})",
        stats.rewound()
    );
    assert_eq!(stats.buffered(), 0);
    assert_eq!(stats.unacked(), 5);

    // Acked, the five are committed; the group's committed offsets trail what was fetched by
    // nothing: the consumer did not run ahead.
    for delivery in handle.take_values() {
        assert_eq!(delivery.ack(), Acked::Recorded);
    }
    eventually(WITHIN, "the 5 acks are committed", || {
        committed(&mock, &group, &topic, 2)
            .iter()
            .flatten()
            .sum::<i64>()
            == 5
    });

    handle.request(10);
    eventually(WITHIN, "10 more arrive", || handle.untaken() == 10);
    eventually(WITHIN, "paused again", || stats.paused() == 2);
    thread::sleep(Duration::from_millis(300));
    assert_eq!(handle.untaken(), 10);
    assert_eq!(stats.fetched() - stats.rewound(), 15);
    assert!(stats.pauses() >= 2 && stats.resumes() >= 2, "{stats:?}");
    handle.cancel();
}

/// Requests `window` at first and one more after each slow `on_next` until it has processed
/// `stop_after`; acks everything.
struct Slow {
    window: u64,
    stop_after: u64,
    error: Arc<Mutex<Option<String>>>,
    received: Arc<AtomicU64>,
    subscription: Option<Arc<dyn Subscription>>,
}

impl Subscriber<Msg> for Slow {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        subscription.request(self.window);
        self.subscription = Some(subscription);
    }
    fn on_next(&mut self, delivery: Msg) {
        thread::sleep(Duration::from_millis(5));
        assert_eq!(delivery.ack(), Acked::Recorded);
        let received = self.received.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(s) = self
            .subscription
            .as_ref()
            .filter(|_| received < self.stop_after)
        {
            s.request(1);
        }
    }
    fn on_error(&mut self, error: rstreams_core::Error) {
        *self.error.lock().unwrap() = Some(error.to_string());
    }
    fn on_complete(&mut self) {}
}

#[test]
fn a_slow_consumer_never_has_more_fetched_and_undelivered_than_its_outstanding_demand() {
    let topic = unique("slow");
    let group = unique("g");
    let mock = cluster(&topic, 1);
    produce(&mock, &topic, Some(0), 0..300);

    let window = 10;
    let source = KafkaSource::group(client_config(&mock), &group, [&topic]);
    let stats = source.stats();
    let received = Arc::new(AtomicU64::new(0));
    let error = Arc::new(Mutex::new(None));
    source.subscribe(Slow {
        window,
        stop_after: 100,
        error: Arc::clone(&error),
        received: Arc::clone(&received),
        subscription: None,
    });
    let mut max_ahead = 0;
    let mut samples = 0;
    let deadline = std::time::Instant::now() + WITHIN;
    while received.load(Ordering::SeqCst) < 100 {
        assert!(std::time::Instant::now() < deadline, "timed out: {stats:?}");
        assert_eq!(*error.lock().unwrap(), None, "the stream failed");
        // Read `received` first: fetched can only grow meanwhile, so this over-estimates.
        let got = received.load(Ordering::SeqCst);
        let buffered = stats.buffered();
        let ahead = (stats.fetched() - stats.rewound()).saturating_sub(got);
        assert!(buffered <= window, "buffered {buffered} > demand {window}");
        // In hand: at most the window, plus the one being processed in on_next.
        assert!(
            ahead <= window + 1,
            "{ahead} fetched and not processed > {window} + 1"
        );
        max_ahead = max_ahead.max(ahead);
        samples += 1;
        thread::sleep(Duration::from_millis(2));
    }
    assert!(samples > 10);
    assert!(
        max_ahead > 0,
        "the consumer was observed with messages in hand"
    );

    // It stopped asking: what it still had demand for arrives, then the partition is paused,
    // and the group's committed offset catches up with everything that was fetched.
    eventually(WITHIN, "paused with nothing buffered", || {
        stats.paused() == 1 && stats.buffered() == 0 && stats.unacked() == 0
    });
    thread::sleep(Duration::from_millis(300));
    let processed = received.load(Ordering::SeqCst);
    assert!(processed < 100 + window, "at most the demand: {processed}");
    assert_eq!(
        stats.fetched() - stats.rewound(),
        processed,
        "nothing fetched ahead of demand"
    );
    eventually(
        WITHIN,
        "the committed offset reaches everything fetched",
        || committed(&mock, &group, &topic, 1) == vec![Some(processed as i64)],
    );
}

#[test]
fn max_unacked_pauses_the_partitions_until_a_delivery_is_acked() {
    let topic = unique("unacked");
    let group = unique("g");
    let mock = cluster(&topic, 1);
    produce(&mock, &topic, Some(0), 0..50);

    let source = KafkaSource::group(client_config(&mock), &group, [&topic]).max_unacked(4);
    let stats = source.stats();
    let handle = TestSubscriber::<Msg>::new(0);
    source.subscribe(handle.clone());
    handle.request(100);
    eventually(WITHIN, "4 deliveries arrive", || handle.untaken() == 4);
    eventually(WITHIN, "paused at the bound", || stats.paused() == 1);
    thread::sleep(Duration::from_millis(300));
    assert_eq!(
        handle.untaken(),
        4,
        "no more than max_unacked while none is acked"
    );

    let mut held = handle.take_values();
    assert_eq!(held.remove(0).ack(), Acked::Recorded);
    eventually(WITHIN, "one more after an ack", || handle.untaken() == 1);
    thread::sleep(Duration::from_millis(300));
    assert_eq!(handle.untaken(), 1);

    // Dropping is not an ack: the slot stays taken.
    drop(held.remove(0));
    thread::sleep(Duration::from_millis(300));
    assert_eq!(
        handle.untaken(),
        1,
        "a dropped delivery does not free its slot"
    );
    assert_eq!(stats.unacked(), 4);
    handle.cancel();
}

#[test]
fn out_of_order_acks_commit_only_the_contiguous_acked_prefix() {
    let topic = unique("order");
    let group = unique("g");
    let mock = cluster(&topic, 1);
    produce(&mock, &topic, Some(0), 0..5);

    let source = KafkaSource::group(client_config(&mock), &group, [&topic])
        .commit_interval(Duration::from_millis(20));
    let stats = source.stats();
    let handle = TestSubscriber::<Msg>::new(0);
    source.subscribe(handle.clone());
    handle.request(5);
    eventually(WITHIN, "5 deliveries arrive", || handle.untaken() == 5);
    let mut by_offset: HashMap<i64, Msg> = handle
        .take_values()
        .into_iter()
        .map(|d| (d.offset(), d))
        .collect();
    assert_eq!(by_offset.len(), 5);
    assert_eq!(text(&by_offset[&3]), "3");

    assert_eq!(by_offset.remove(&2).unwrap().ack(), Acked::Recorded);
    thread::sleep(Duration::from_millis(300));
    assert_eq!(
        committed(&mock, &group, &topic, 1),
        vec![None],
        "offset 0 unacked: nothing to commit"
    );

    assert_eq!(by_offset.remove(&0).unwrap().ack(), Acked::Recorded);
    eventually(WITHIN, "the prefix [0] is committed", || {
        committed(&mock, &group, &topic, 1) == vec![Some(1)]
    });
    thread::sleep(Duration::from_millis(300));
    assert_eq!(
        committed(&mock, &group, &topic, 1),
        vec![Some(1)],
        "exactly 1: the ack of 2 waits behind 1"
    );

    assert_eq!(by_offset.remove(&1).unwrap().ack(), Acked::Recorded);
    eventually(WITHIN, "the prefix [0, 1, 2] is committed", || {
        committed(&mock, &group, &topic, 1) == vec![Some(3)]
    });
    thread::sleep(Duration::from_millis(300));
    assert_eq!(
        committed(&mock, &group, &topic, 1),
        vec![Some(3)],
        "exactly 3"
    );
    assert!(stats.commits() >= 2);
    handle.cancel();
}

#[test]
fn a_consumer_cancelled_with_unacked_deliveries_has_them_redelivered_to_the_next_one() {
    let topic = unique("crash");
    let group = unique("g");
    let mock = cluster(&topic, 1);
    produce(&mock, &topic, Some(0), 0..10);

    // The first consumer gets all ten, acks 0, 1, 2 and 5, and "crashes": it cancels and drops
    // the others unacked, except 9, which it still holds.
    let first = KafkaSource::group(client_config(&mock), &group, [&topic]);
    let first_stats = first.stats();
    let handle = TestSubscriber::<Msg>::new(0);
    first.subscribe(handle.clone());
    handle.request(10);
    eventually(WITHIN, "the first consumer gets 10", || {
        handle.untaken() == 10
    });
    let mut processed: Vec<i64> = Vec::new();
    let mut held = None;
    for delivery in handle.take_values() {
        if [0, 1, 2, 5].contains(&delivery.offset()) {
            processed.push(delivery.offset());
            assert_eq!(delivery.ack(), Acked::Recorded);
        } else if delivery.offset() == 9 {
            held = Some(delivery);
        } // the others are dropped here, unacked
    }
    handle.cancel();
    eventually(WITHIN, "the first consumer has closed", || {
        first_stats.closed() == 1
    });
    assert_eq!(
        committed(&mock, &group, &topic, 1),
        vec![Some(3)],
        "the acked prefix is committed when the consumer closes"
    );
    assert_eq!(
        held.unwrap().ack(),
        Acked::Closed,
        "an ack after the subscription ended is a no-op"
    );

    // A new consumer of the group starts at the committed offset: 3..10 come again.
    let second = KafkaSource::group(client_config(&mock), &group, [&topic]);
    let handle = TestSubscriber::<Msg>::new(0);
    second.subscribe(handle.clone());
    handle.request(100);
    eventually(WITHIN, "the second consumer gets 7", || {
        handle.untaken() == 7
    });
    thread::sleep(Duration::from_millis(300));
    handle.assert_no_error();
    assert_eq!(
        handle.untaken(),
        7,
        "from the committed offset, nothing more"
    );
    for delivery in handle.take_values() {
        processed.push(delivery.offset());
        assert_eq!(delivery.ack(), Acked::Recorded);
    }
    let distinct: HashSet<i64> = processed.iter().copied().collect();
    assert_eq!(distinct, (0..10).collect(), "none lost");
    let duplicates = processed.len() - distinct.len();
    assert_eq!(
        duplicates, 1,
        "offset 5 was acked behind a gap: processed twice"
    );
    eventually(WITHIN, "everything committed", || {
        committed(&mock, &group, &topic, 1) == vec![Some(10)]
    });
    handle.cancel();
}

#[test]
fn two_consumers_share_the_partitions_and_a_revoked_partitions_late_ack_is_not_committed() {
    let topic = unique("rebalance");
    let group = unique("g");
    let partitions = 4;
    let mock = cluster(&topic, partitions);

    let a = KafkaSource::group(client_config(&mock), &group, [&topic]);
    let a_stats = a.stats();
    let a_handle = TestSubscriber::<Msg>::new(0);
    a.subscribe(a_handle.clone());
    a_handle.request(u64::MAX);
    eventually(WITHIN, "a holds all 4 partitions", || {
        a_stats.assigned() == 4
    });
    for p in 0..partitions {
        produce(&mock, &topic, Some(p), (p as u64)..(p as u64 + 1));
    }
    eventually(WITHIN, "a gets one message per partition", || {
        a_handle.untaken() == 4
    });
    let early = a_handle.take_values(); // held unacked across the rebalance

    let b = KafkaSource::group(client_config(&mock), &group, [&topic]);
    let b_stats = b.stats();
    let b_handle = TestSubscriber::<Msg>::new(0);
    b.subscribe(b_handle.clone());
    b_handle.request(u64::MAX);
    eventually(WITHIN, "the partitions are split 2 / 2", || {
        a_stats.assigned() == 2 && b_stats.assigned() == 2
    });

    // a's deliveries were fetched before the rebalance revoked their partitions.
    for delivery in early {
        assert_eq!(
            delivery.ack(),
            Acked::Revoked,
            "§ rebalance: a late ack is a no-op"
        );
    }
    thread::sleep(Duration::from_millis(300));
    assert_eq!(
        committed(&mock, &group, &topic, partitions),
        vec![None; partitions as usize],
        "nothing committed for the revoked partitions' late acks"
    );

    // Scale-out: the four come again (from the uncommitted offsets) and 200 more are shared.
    // Each message is acked with effect exactly once. (Should the group rebalance once more,
    // its late acks are answered `Revoked` and those messages come again: still once each.)
    produce(&mock, &topic, None, 100..300);
    let acked: Arc<Mutex<Vec<(i32, i64, char)>>> = Arc::new(Mutex::new(Vec::new()));
    let mut late = 0;
    eventually(WITHIN, "all 204 are acked", || {
        for (name, handle) in [('a', &a_handle), ('b', &b_handle)] {
            for delivery in handle.take_values() {
                let key = (delivery.partition(), delivery.offset(), name);
                match delivery.ack() {
                    Acked::Recorded => acked.lock().unwrap().push(key),
                    Acked::Revoked => late += 1,
                    Acked::Closed => panic!("the subscription is live"),
                }
            }
        }
        acked.lock().unwrap().len() >= 204
    });
    thread::sleep(Duration::from_millis(300));
    for handle in [&a_handle, &b_handle] {
        handle.assert_no_error();
        assert_eq!(
            handle.untaken(),
            0,
            "nothing more after every message was acked once"
        );
    }
    let acked = acked.lock().unwrap().clone();
    let distinct: HashSet<(i32, i64)> = acked.iter().map(|(p, o, _)| (*p, *o)).collect();
    assert_eq!(
        acked.len(),
        204,
        "each message acked with effect once ({late} late acks)"
    );
    assert_eq!(distinct.len(), 204, "no message twice");
    let by_a = acked.iter().filter(|(_, _, c)| *c == 'a').count();
    assert!(
        by_a > 0 && by_a < 204,
        "both consumers processed some (a: {by_a})"
    );
    eventually(WITHIN, "every partition committed to its end", || {
        committed(&mock, &group, &topic, partitions)
            .iter()
            .flatten()
            .sum::<i64>()
            == 204
    });
    a_handle.cancel();
    b_handle.cancel();
}

/// Requests 8; blocks in its first `on_next` until released, then asks for everything. Keeps
/// what it receives for the test to ack.
struct Gate {
    release: std::sync::mpsc::Receiver<()>,
    error: Arc<Mutex<Option<String>>>,
    received: Arc<Mutex<Vec<Msg>>>,
    subscription: Option<Arc<dyn Subscription>>,
    first: bool,
}

impl Subscriber<Msg> for Gate {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        subscription.request(8);
        self.subscription = Some(subscription);
    }
    fn on_next(&mut self, delivery: Msg) {
        self.received.lock().unwrap().push(delivery);
        if std::mem::take(&mut self.first) {
            self.release.recv().expect("released");
            if let Some(s) = &self.subscription {
                s.request(u64::MAX);
            }
        }
    }
    fn on_error(&mut self, error: rstreams_core::Error) {
        *self.error.lock().unwrap() = Some(error.to_string());
    }
    fn on_complete(&mut self) {}
}

#[test]
fn buffered_messages_of_revoked_partitions_are_discarded_and_redelivered_by_the_new_owner() {
    let topic = unique("discard");
    let group = unique("g");
    let mock = cluster(&topic, 2);
    produce(&mock, &topic, Some(0), 0..10);
    produce(&mock, &topic, Some(1), 10..20);

    // a's subscriber is stuck in its first on_next: 7 more are fetched for its demand and wait
    // in the source's buffer.
    let a = KafkaSource::group(client_config(&mock), &group, [&topic]);
    let a_stats = a.stats();
    let (release, gate) = std::sync::mpsc::channel();
    let a_received = Arc::new(Mutex::new(Vec::new()));
    let a_error = Arc::new(Mutex::new(None));
    a.subscribe(Gate {
        release: gate,
        error: Arc::clone(&a_error),
        received: Arc::clone(&a_received),
        subscription: None,
        first: true,
    });
    eventually(
        WITHIN,
        "7 buffered behind the stuck on_next, partitions paused",
        || a_stats.buffered() == 7 && a_stats.paused() == 2,
    );

    // b joins: the rebalance is served although a's subscriber is stuck (delivery runs on a
    // worker, not on the fetcher thread), and a's buffered messages are discarded.
    let b = KafkaSource::group(client_config(&mock), &group, [&topic]);
    let b_stats = b.stats();
    let b_handle = TestSubscriber::<Msg>::new(0);
    b.subscribe(b_handle.clone());
    b_handle.request(u64::MAX);
    eventually(WITHIN, "one partition each, a's buffer discarded", || {
        a_stats.assigned() == 1 && b_stats.assigned() == 1 && a_stats.discarded() >= 7
    });
    release.send(()).unwrap();

    let stuck = a_received.lock().unwrap().remove(0);
    assert_eq!(stuck.ack(), Acked::Revoked, "fetched before the rebalance");
    let mut acked: Vec<(i32, i64)> = Vec::new();
    let mut late = 0;
    let deadline = std::time::Instant::now() + WITHIN;
    while acked.len() < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out with {} acked ({late} late): {acked:?}; a {a_stats:?}, b {b_stats:?}",
            acked.len()
        );
        assert_eq!(*a_error.lock().unwrap(), None, "a's stream failed");
        let mut batch: Vec<Msg> = std::mem::take(&mut *a_received.lock().unwrap());
        batch.extend(b_handle.take_values());
        for delivery in batch {
            let key = (delivery.partition(), delivery.offset());
            match delivery.ack() {
                Acked::Recorded => acked.push(key),
                Acked::Revoked => late += 1,
                Acked::Closed => panic!("the subscription is live"),
            }
        }
        thread::sleep(Duration::from_millis(10));
    }
    let distinct: HashSet<(i32, i64)> = acked.iter().copied().collect();
    assert_eq!(
        acked.len(),
        20,
        "each acked with effect once ({late} late acks)"
    );
    assert_eq!(distinct.len(), 20, "none lost");
    b_handle.assert_no_error();
    b_handle.cancel();
}

/// A hand-driven upstream: records what the sink requests, and whether it cancelled.
struct Manual {
    requested: Arc<AtomicU64>,
    cancelled: Arc<AtomicBool>,
}

impl Subscription for Manual {
    fn request(&self, n: u64) {
        self.requested.fetch_add(n, Ordering::SeqCst);
    }
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }
}

#[test]
fn the_sink_keeps_in_flight_bounded_and_every_message_lands() {
    let topic = unique("sink");
    let mock = cluster(&topic, 3);
    let mut sink = KafkaSink::new(client_config(&mock), &topic).in_flight(4);
    let handle = sink.handle();
    let requested = Arc::new(AtomicU64::new(0));
    Subscriber::<Record>::on_subscribe(
        &mut sink,
        Arc::new(Manual {
            requested: Arc::clone(&requested),
            cancelled: Arc::new(AtomicBool::new(false)),
        }),
    );
    assert_eq!(
        requested.load(Ordering::SeqCst),
        4,
        "asks for in_flight at first"
    );

    let total = 60;
    let mut sent = 0;
    while sent < total {
        let allowed = requested.load(Ordering::SeqCst);
        if sent < allowed {
            sink.on_next(Record::new(sent.to_string()).key(format!("k{}", sent % 7)));
            sent += 1;
        } else {
            thread::sleep(Duration::from_millis(1));
        }
        assert!(handle.in_flight() <= 4, "at most in_flight unreported");
        assert!(
            requested.load(Ordering::SeqCst) <= handle.delivered() + 4,
            "never more than 4 requested beyond what was delivered"
        );
    }
    Subscriber::<Record>::on_complete(&mut sink);
    drop(sink);
    assert_eq!(handle.wait().unwrap(), total);
    let seen = read_back(&mock, &topic, 3, total as usize);
    let expected: HashMap<String, u32> = (0..total).map(|i| (i.to_string(), 1)).collect();
    assert_eq!(seen, expected, "every message landed once");
}

#[test]
fn the_sink_produces_a_whole_publisher() {
    let topic = unique("sink-pub");
    let mock = cluster(&topic, 2);
    let sink = KafkaSink::new(client_config(&mock), &topic).in_flight(8);
    let handle = sink.handle();
    let items: Vec<(String, String)> = (0..300).map(|i| (format!("k{i}"), i.to_string())).collect();
    source::from_iter(items).subscribe(sink);
    assert_eq!(handle.wait().unwrap(), 300);
    assert_eq!(read_back(&mock, &topic, 2, 300).len(), 300);
}

#[test]
fn a_failed_delivery_is_reported_naming_the_topic_and_cancels_the_upstream() {
    let topic = unique("sink-fail");
    let mock = cluster(&topic, 1);
    mock.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED; 20],
    );
    let mut sink = KafkaSink::new(client_config(&mock), &topic).in_flight(2);
    let handle = sink.handle();
    let requested = Arc::new(AtomicU64::new(0));
    let cancelled = Arc::new(AtomicBool::new(false));
    Subscriber::<Record>::on_subscribe(
        &mut sink,
        Arc::new(Manual {
            requested: Arc::clone(&requested),
            cancelled: Arc::clone(&cancelled),
        }),
    );
    sink.on_next(Record::new("a"));
    sink.on_next(Record::new("b"));
    eventually(WITHIN, "the failure cancels the upstream", || {
        cancelled.load(Ordering::SeqCst)
    });
    drop(sink);
    let error = handle.wait().expect_err("the failed delivery is reported");
    let message = error.to_string();
    assert!(message.contains(&topic), "names the topic: {message}");
    assert!(
        message.to_lowercase().contains("authoriz"),
        "says why: {message}"
    );
    assert_eq!(
        requested.load(Ordering::SeqCst),
        2,
        "nothing more requested after a failure"
    );
}

fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let payload = std::panic::catch_unwind(f).expect_err("the call panics");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn bad_arguments_fail_when_the_stage_is_built_naming_the_argument_and_its_range() {
    let config = || {
        let mut c = rstreams_kafka::rdkafka::ClientConfig::new();
        c.set("bootstrap.servers", "127.0.0.1:1");
        c
    };
    let m = panic_message(|| drop(KafkaSource::group(config(), "g", ["t"]).max_unacked(0)));
    assert!(
        m.contains("max_unacked") && m.contains("1..=1000000") && m.contains("got 0"),
        "{m}"
    );
    let m = panic_message(|| drop(KafkaSource::group(config(), "g", ["t"]).max_unacked(1_000_001)));
    assert!(
        m.contains("max_unacked") && m.contains("got 1000001"),
        "{m}"
    );
    let m = panic_message(|| {
        drop(KafkaSource::group(config(), "g", ["t"]).poll_interval(Duration::ZERO))
    });
    assert!(
        m.contains("poll_interval") && m.contains("1ms..=10s"),
        "{m}"
    );
    let m = panic_message(|| {
        drop(KafkaSource::group(config(), "g", ["t"]).commit_interval(Duration::from_secs(61)))
    });
    assert!(
        m.contains("commit_interval") && m.contains("0s..=60s"),
        "{m}"
    );
    let m = panic_message(|| drop(KafkaSource::group(config(), "", ["t"])));
    assert!(m.contains("group must be a non-empty"), "{m}");
    let m = panic_message(|| drop(KafkaSource::group(config(), "g", Vec::<String>::new())));
    assert!(m.contains("topics must name at least one topic"), "{m}");
    let m = panic_message(|| {
        let mut c = config();
        c.set("enable.auto.commit", "true");
        drop(KafkaSource::group(c, "g", ["t"]))
    });
    assert!(
        m.contains("enable.auto.commit=true") && m.contains("must be false"),
        "{m}"
    );
    let m = panic_message(|| {
        let mut c = config();
        c.set("no.such.property", "1");
        drop(KafkaSource::group(c, "g", ["t"]))
    });
    assert!(m.contains("no.such.property"), "{m}");
    let m = panic_message(|| drop(KafkaSink::new(config(), "t").in_flight(0)));
    assert!(
        m.contains("in_flight") && m.contains("1..=100000") && m.contains("got 0"),
        "{m}"
    );
    let m = panic_message(|| drop(KafkaSink::new(config(), "")));
    assert!(m.contains("topic must be a non-empty"), "{m}");
}

#[test]
fn a_consumer_that_cannot_be_created_fails_the_stream_without_waiting_for_demand() {
    let mut config = rstreams_kafka::rdkafka::ClientConfig::new();
    config
        .set("bootstrap.servers", "127.0.0.1:1")
        .set("partition.assignment.strategy", "no-such-assignor");
    let source = KafkaSource::group(config, unique("g"), ["t"]);
    let stats = source.stats();
    let handle = TestSubscriber::<Msg>::new(0);
    source.subscribe(handle.clone());
    eventually(WITHIN, "the fetcher has stopped", || stats.closed() == 1);
    eventually(WITHIN, "the error is signalled, with no demand", || {
        handle.error().is_some()
    });
    let message = handle.error().unwrap().to_string();
    assert!(message.contains("creating the consumer"), "{message}");
    assert!(
        message.contains("kafka source"),
        "names the stage: {message}"
    );
}
