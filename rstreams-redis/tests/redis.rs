//! rstreams-redis against a real redis-server (see `support`).

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rstreams_core::{source, Publisher, Subscriber, Subscription};
use rstreams_redis::{redis, Delivery, Entry, StreamSink, StreamSource};
use rstreams_tck::TestSubscriber;
use rstreams_test_servers::{eventually, unique};
use support::{add_entries, pending, Server};

const WITHIN: Duration = Duration::from_secs(10);

#[test]
fn demand_reaches_the_broker_as_the_xreadgroup_count() {
    let server = Server::start();
    let mut conn = server.conn();
    let (stream, group) = (unique("demand"), unique("g"));
    add_entries(&mut conn, &stream, 50);

    let handle = TestSubscriber::<Delivery<Entry>>::new(0);
    StreamSource::group(server.client(), &stream, &group, "c1")
        .max_unacked(100)
        .subscribe(handle.clone());
    handle.request(5);
    eventually(WITHIN, "5 deliveries arrive", || handle.untaken() == 5);
    thread::sleep(Duration::from_millis(300)); // time for any over-read to show
    handle.assert_no_error();
    assert_eq!(handle.untaken(), 5, "exactly the demand is delivered");
    assert_eq!(
        pending(&mut conn, &stream, &group),
        5,
        "exactly the demand was read"
    );

    handle.request(3);
    eventually(WITHIN, "3 more arrive", || handle.untaken() == 8);
    thread::sleep(Duration::from_millis(300));
    assert_eq!(handle.untaken(), 8);
    assert_eq!(pending(&mut conn, &stream, &group), 8);
    handle.cancel();
}

#[test]
fn max_unacked_withholds_demand_until_a_delivery_is_acked() {
    let server = Server::start();
    let mut conn = server.conn();
    let (stream, group) = (unique("bound"), unique("g"));
    add_entries(&mut conn, &stream, 20);

    let handle = TestSubscriber::<Delivery<Entry>>::new(0);
    StreamSource::group(server.client(), &stream, &group, "c1")
        .max_unacked(3)
        .subscribe(handle.clone());
    handle.request(10);
    eventually(WITHIN, "3 deliveries arrive", || handle.untaken() == 3);
    thread::sleep(Duration::from_millis(300));
    handle.assert_no_error();
    assert_eq!(
        handle.untaken(),
        3,
        "no more than max_unacked while none is acked"
    );
    assert_eq!(
        pending(&mut conn, &stream, &group),
        3,
        "the broker saw at most max_unacked"
    );

    let mut held = handle.take_values();
    assert!(held.remove(0).ack().unwrap());
    eventually(WITHIN, "one more arrives after an ack", || {
        handle.untaken() == 1
    });
    thread::sleep(Duration::from_millis(300));
    assert_eq!(handle.untaken(), 1);
    assert_eq!(pending(&mut conn, &stream, &group), 3);

    // Dropping a delivery is not an ack, but it frees its slot: the entry stays pending.
    drop(held.remove(0));
    eventually(WITHIN, "one more arrives after a drop", || {
        handle.untaken() == 2
    });
    assert_eq!(
        pending(&mut conn, &stream, &group),
        4,
        "the dropped one is still pending"
    );
    handle.cancel();
}

#[test]
fn ack_removes_the_entry_from_the_pending_list() {
    let server = Server::start();
    let mut conn = server.conn();
    let (stream, group) = (unique("ack"), unique("g"));
    let ids = add_entries(&mut conn, &stream, 4);

    let handle = TestSubscriber::<Delivery<Entry>>::new(0);
    StreamSource::group(server.client(), &stream, &group, "c1").subscribe(handle.clone());
    handle.request(4);
    eventually(WITHIN, "4 deliveries arrive", || handle.untaken() == 4);
    assert_eq!(
        pending(&mut conn, &stream, &group),
        4,
        "read, not acked: pending"
    );

    let deliveries = handle.take_values();
    let got: Vec<&str> = deliveries.iter().map(|d| d.id()).collect();
    assert_eq!(
        got,
        ids.iter().map(String::as_str).collect::<Vec<_>>(),
        "in stream order"
    );
    assert!(deliveries.iter().all(|d| d.delivery_count() == 1));
    assert_eq!(deliveries[2].value.get_str("n"), Some("2"));
    let mut left = 4;
    for delivery in deliveries {
        assert!(delivery.ack().unwrap(), "the ack removed a pending entry");
        left -= 1;
        assert_eq!(pending(&mut conn, &stream, &group), left);
    }
    handle.cancel();
}

#[test]
fn a_consumer_that_crashes_without_acking_has_its_entries_redelivered_to_another_after_the_lease() {
    let server = Server::start();
    let mut conn = server.conn();
    let (stream, group) = (unique("crash"), unique("g"));
    let ids = add_entries(&mut conn, &stream, 3);
    let lease = Duration::from_millis(300);

    // The first consumer reads all three and "crashes": its subscription is dropped and
    // its deliveries with it, none acked.
    let first = TestSubscriber::<Delivery<Entry>>::new(0);
    StreamSource::group(server.client(), &stream, &group, "first")
        .lease(lease)
        .subscribe(first.clone());
    first.request(3);
    eventually(WITHIN, "the first consumer gets 3", || first.untaken() == 3);
    first.cancel();
    drop(first.take_values());
    assert_eq!(
        pending(&mut conn, &stream, &group),
        3,
        "dropping is not an ack"
    );

    // A second consumer of the group claims them once the lease has passed.
    let second = TestSubscriber::<Delivery<Entry>>::new(0);
    StreamSource::group(server.client(), &stream, &group, "second")
        .lease(lease)
        .subscribe(second.clone());
    second.request(10);
    eventually(WITHIN, "the second consumer gets the 3 back", || {
        second.untaken() == 3
    });
    second.assert_no_error();
    let mut redelivered = second.take_values();
    redelivered.sort_by(|a, b| a.id().cmp(b.id()));
    let got: Vec<String> = redelivered.iter().map(|d| d.id().to_owned()).collect();
    assert_eq!(got, ids);
    for delivery in redelivered {
        assert_eq!(
            delivery.delivery_count(),
            2,
            "claimed: delivered a second time"
        );
        assert_eq!(delivery.value.fields.len(), 1, "with its fields");
        assert!(delivery.ack().unwrap());
    }
    assert_eq!(pending(&mut conn, &stream, &group), 0);
    second.cancel();
}

/// Acks every delivery after a short pause, recording the ids it acked.
struct Worker {
    acked: Arc<Mutex<Vec<String>>>,
    subscription: Option<Arc<dyn Subscription>>,
}

impl Subscriber<Delivery<Entry>> for Worker {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        subscription.request(2);
        self.subscription = Some(subscription);
    }
    fn on_next(&mut self, delivery: Delivery<Entry>) {
        thread::sleep(Duration::from_millis(2));
        let id = delivery.id().to_owned();
        assert!(delivery.ack().unwrap(), "acked once");
        self.acked.lock().unwrap().push(id);
        if let Some(s) = &self.subscription {
            s.request(1);
        }
    }
    fn on_error(&mut self, error: rstreams_core::Error) {
        panic!("the stream failed: {error}");
    }
    fn on_complete(&mut self) {}
}

#[test]
fn two_consumers_in_one_group_share_the_stream_and_each_entry_is_acked_once() {
    let server = Server::start();
    let mut conn = server.conn();
    let (stream, group) = (unique("share"), unique("g"));
    let acked_a = Arc::new(Mutex::new(Vec::new()));
    let acked_b = Arc::new(Mutex::new(Vec::new()));
    for (name, acked) in [("a", &acked_a), ("b", &acked_b)] {
        StreamSource::group(server.client(), &stream, &group, name)
            .max_unacked(2)
            .subscribe(Worker {
                acked: Arc::clone(acked),
                subscription: None,
            });
    }
    let ids = add_entries(&mut conn, &stream, 100);
    eventually(WITHIN, "all 100 are acked", || {
        acked_a.lock().unwrap().len() + acked_b.lock().unwrap().len() >= 100
    });
    thread::sleep(Duration::from_millis(200));
    let a = acked_a.lock().unwrap().clone();
    let b = acked_b.lock().unwrap().clone();
    assert_eq!(a.len() + b.len(), 100, "no entry twice");
    assert!(
        !a.is_empty() && !b.is_empty(),
        "both consumers got some: {} / {}",
        a.len(),
        b.len()
    );
    let all: HashSet<String> = a.into_iter().chain(b).collect();
    assert_eq!(
        all,
        ids.into_iter().collect::<HashSet<_>>(),
        "every entry, once"
    );
    assert_eq!(pending(&mut conn, &stream, &group), 0);
}

/// A hand-driven upstream: records what the sink requests.
struct Manual {
    requested: Arc<AtomicU64>,
}

impl Subscription for Manual {
    fn request(&self, n: u64) {
        self.requested.fetch_add(n, Ordering::SeqCst);
    }
    fn cancel(&self) {}
}

#[test]
fn the_sink_writes_every_element_with_bounded_in_flight() {
    let server = Server::start();
    let mut conn = server.conn();
    let stream = unique("sink");
    let mut sink = StreamSink::new(server.client(), &stream).in_flight(4);
    let handle = sink.handle();
    let requested = Arc::new(AtomicU64::new(0));
    Subscriber::<Vec<(&str, u64)>>::on_subscribe(
        &mut sink,
        Arc::new(Manual {
            requested: Arc::clone(&requested),
        }),
    );
    assert_eq!(
        requested.load(Ordering::SeqCst),
        4,
        "asks for in_flight at first"
    );

    let total = 40;
    let mut sent = 0;
    while sent < total {
        // Never more than requested: the sink's demand is the bound.
        let allowed = requested.load(Ordering::SeqCst);
        if sent < allowed {
            sink.on_next(vec![("n", sent)]);
            sent += 1;
        } else {
            thread::sleep(Duration::from_millis(1));
        }
        assert!(
            requested.load(Ordering::SeqCst) <= handle.written() + 4,
            "never more than 4 requested beyond what is written"
        );
    }
    Subscriber::<Vec<(&str, u64)>>::on_complete(&mut sink);
    drop(sink);
    assert_eq!(handle.wait().unwrap(), total);
    let len: u64 = redis::cmd("XLEN").arg(&stream).query(&mut conn).unwrap();
    assert_eq!(len, total);
}

#[test]
fn the_sink_writes_a_whole_publisher_and_trims_with_maxlen() {
    let server = Server::start();
    let mut conn = server.conn();
    let stream = unique("sink-pub");
    let sink = StreamSink::new(server.client(), &stream).in_flight(8);
    let handle = sink.handle();
    let items: Vec<Vec<(&str, String)>> = (0..200).map(|i| vec![("n", i.to_string())]).collect();
    source::from_iter(items).subscribe(sink);
    assert_eq!(handle.wait().unwrap(), 200);
    let len: u64 = redis::cmd("XLEN").arg(&stream).query(&mut conn).unwrap();
    assert_eq!(len, 200);

    let trimmed = unique("sink-trim");
    let sink = StreamSink::new(server.client(), &trimmed).max_len(10);
    let handle = sink.handle();
    let items: Vec<Vec<(&str, String)>> = (0..500).map(|i| vec![("n", i.to_string())]).collect();
    source::from_iter(items).subscribe(sink);
    assert_eq!(handle.wait().unwrap(), 500);
    let len: u64 = redis::cmd("XLEN").arg(&trimmed).query(&mut conn).unwrap();
    assert!(len < 500, "MAXLEN ~ trimmed the stream (XLEN {len})");
}

#[test]
fn cancel_stops_the_fetcher_and_reads_nothing_more() {
    let server = Server::start();
    let mut conn = server.conn();
    let (stream, group) = (unique("cancel"), unique("g"));
    let handle = TestSubscriber::<Delivery<Entry>>::new(0);
    StreamSource::group(server.client(), &stream, &group, "c1")
        .block(Duration::from_millis(50))
        .subscribe(handle.clone());
    handle.request(100);
    thread::sleep(Duration::from_millis(200)); // the fetcher is blocked in XREADGROUP
    handle.cancel();
    thread::sleep(Duration::from_millis(300)); // more than one BLOCK: it has stopped
    add_entries(&mut conn, &stream, 5);
    thread::sleep(Duration::from_millis(300));
    assert_eq!(handle.untaken(), 0);
    assert_eq!(
        pending(&mut conn, &stream, &group),
        0,
        "nothing read after cancel"
    );
}
