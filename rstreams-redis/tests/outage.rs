//! rstreams-redis when the broker goes away or slows down: a real redis-server that the test
//! kills (by PID) and starts again on the same port with the same append-only file, or pauses
//! with `CLIENT PAUSE ... WRITE`.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rstreams_core::{Publisher, Subscriber, Subscription};
use rstreams_redis::{redis, Delivery, Entry, Reconnect, StreamSink, StreamSource};
use rstreams_tck::TestSubscriber;
use rstreams_test_servers::{eventually, unique};
use support::{add_entries, pending, Server};

const WITHIN: Duration = Duration::from_secs(30);

/// Quick reconnection for tests: 20 ms doubling to 500 ms, enough attempts for a restart.
fn quick(attempts: u32) -> Reconnect {
    Reconnect::exponential(Duration::from_millis(20), Duration::from_millis(500))
        .max_attempts(attempts)
}

/// Processes each delivery (records its id, pauses a little), then acks it; an ack that fails
/// is recorded and the delivery comes back after the lease. The delivery that arrives when
/// `hold_at` have been processed waits (before its ack) until `gate` opens.
struct Worker {
    processed: Arc<Mutex<Vec<String>>>,
    /// The id and the error of each ack that failed.
    ack_errors: Arc<Mutex<Vec<(String, String)>>>,
    error: Arc<Mutex<Option<rstreams_core::Error>>>,
    subscription: Option<Arc<dyn Subscription>>,
    hold_at: usize,
    gate: Arc<AtomicBool>,
}

impl Subscriber<Delivery<Entry>> for Worker {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        subscription.request(4);
        self.subscription = Some(subscription);
    }
    fn on_next(&mut self, delivery: Delivery<Entry>) {
        thread::sleep(Duration::from_millis(3));
        if self.processed.lock().unwrap().len() == self.hold_at {
            while !self.gate.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(1));
            }
        }
        let id = delivery.id().to_owned();
        self.processed.lock().unwrap().push(id.clone());
        if let Err(e) = delivery.ack() {
            self.ack_errors.lock().unwrap().push((id, e.to_string()));
        }
        if let Some(s) = &self.subscription {
            s.request(1);
        }
    }
    fn on_error(&mut self, error: rstreams_core::Error) {
        *self.error.lock().unwrap() = Some(error);
    }
    fn on_complete(&mut self) {}
}

#[test]
fn the_source_reconnects_after_a_server_restart_and_every_entry_is_processed_at_least_once() {
    let mut server = Server::start_own(true);
    let (stream, group) = (unique("restart"), unique("g"));
    let before = add_entries(&mut server.conn(), &stream, 100);

    let processed = Arc::new(Mutex::new(Vec::new()));
    let ack_errors = Arc::new(Mutex::new(Vec::new()));
    let error = Arc::new(Mutex::new(None));
    let gate = Arc::new(AtomicBool::new(false));
    StreamSource::group(server.client(), &stream, &group, "c1")
        .max_unacked(8)
        .lease(Duration::from_millis(500))
        .block(Duration::from_millis(50))
        .reconnect(quick(40))
        .subscribe(Worker {
            processed: Arc::clone(&processed),
            ack_errors: Arc::clone(&ack_errors),
            error: Arc::clone(&error),
            subscription: None,
            hold_at: 30,
            gate: Arc::clone(&gate),
        });
    // The worker holds its 31st delivery: the stream is mid-way, deliveries are held unacked.
    eventually(WITHIN, "30 entries are processed", || {
        processed.lock().unwrap().len() >= 30
    });
    thread::sleep(Duration::from_millis(100)); // the fetcher reads ahead and blocks in a read

    // The server dies (SIGKILL) ...
    server.kill();
    gate.store(true, Ordering::SeqCst);
    // ... the held delivery's ack fails: it is not acked, the error says so ...
    eventually(WITHIN, "an ack fails during the outage", || {
        !ack_errors.lock().unwrap().is_empty()
    });
    thread::sleep(Duration::from_millis(200)); // the fetcher's reconnections are refused
                                               // ... and the server comes back on the same port with its append-only file (synced on
                                               // every write: what it acknowledged survives).
    server.start_again();
    let after = add_entries(&mut server.conn(), &stream, 100);

    let all: HashSet<String> = before.iter().chain(&after).cloned().collect();
    eventually(
        WITHIN,
        "every entry is processed and acked after the restart",
        || {
            let seen: HashSet<String> = processed.lock().unwrap().iter().cloned().collect();
            all.is_subset(&seen) && pending(&mut server.conn(), &stream, &group) == 0
        },
    );
    if let Some(e) = error.lock().unwrap().as_ref() {
        panic!("the source reported {e} although the server came back");
    }
    let processed = processed.lock().unwrap().clone();
    let seen: HashSet<&String> = processed.iter().collect();
    for id in &all {
        assert!(
            seen.contains(id),
            "entry {id} was never processed: lost across the restart"
        );
    }
    // At least once: a delivery whose ack failed during the outage came back after the lease.
    eprintln!(
        "restart: {} entries, {} processings ({} duplicates), {} acks failed during the outage",
        all.len(),
        processed.len(),
        processed.len() - seen.len(),
        ack_errors.lock().unwrap().len()
    );
    for (id, message) in ack_errors.lock().unwrap().iter() {
        assert!(
            message.contains(&stream) && message.contains("stays pending"),
            "a failed ack names the stream and says what happens: {message}"
        );
        let times = processed.iter().filter(|p| *p == id).count();
        assert!(
            times >= 2,
            "{id}, whose ack failed, came back after the lease and was processed again ({times})"
        );
    }
}

#[test]
fn the_source_reports_a_server_that_stays_down_naming_the_stream_after_its_attempts() {
    let mut server = Server::start_own(false);
    let (stream, group) = (unique("down"), unique("g"));
    add_entries(&mut server.conn(), &stream, 1);
    let handle = TestSubscriber::<Delivery<Entry>>::new(0);
    StreamSource::group(server.client(), &stream, &group, "c1")
        .block(Duration::from_millis(20))
        .reconnect(quick(3))
        .subscribe(handle.clone());
    handle.request(10);
    eventually(WITHIN, "the first entry arrives", || handle.untaken() == 1);
    server.kill();
    eventually(WITHIN, "the source reports the outage", || {
        handle.error().is_some()
    });
    let message = handle.error().unwrap().to_string();
    assert!(
        message.contains(&stream) && message.contains(&group),
        "the error names the stream and the group: {message}"
    );
    assert!(
        message.contains("gave up after 3 reconnection attempts"),
        "the error says how many attempts were made: {message}"
    );
    assert!(
        message.contains("redis stream source"),
        "the error names the stage: {message}"
    );
}

#[test]
fn with_reconnect_never_the_first_connection_error_is_reported() {
    let mut server = Server::start_own(false);
    let (stream, group) = (unique("never"), unique("g"));
    let handle = TestSubscriber::<Delivery<Entry>>::new(0);
    StreamSource::group(server.client(), &stream, &group, "c1")
        .block(Duration::from_millis(20))
        .reconnect(Reconnect::never())
        .subscribe(handle.clone());
    handle.request(10);
    eventually(WITHIN, "the group exists", || {
        redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(&stream)
            .query::<redis::Value>(&mut server.conn())
            .is_ok()
    });
    server.kill();
    eventually(WITHIN, "the source reports the broken connection", || {
        handle.error().is_some()
    });
    let message = handle.error().unwrap().to_string();
    assert!(
        message.contains("gave up after 0 reconnection attempts"),
        "{message}"
    );
}

#[test]
fn rule_1_4_a_source_that_cannot_connect_signals_on_error_without_any_demand() {
    let mut server = Server::start_own(false);
    let client = server.client();
    server.kill();
    let handle = TestSubscriber::<Delivery<Entry>>::new(0);
    StreamSource::group(client, unique("down"), unique("g"), "c1")
        .reconnect(Reconnect::never())
        .subscribe(handle.clone());
    // No request at all: the failure is not held back until demand arrives.
    eventually(WITHIN, "the source reports the refused connection", || {
        handle.error().is_some()
    });
    let message = handle.error().unwrap().to_string();
    assert!(message.contains("redis stream source"), "{message}");
}

/// A hand-driven upstream: records what the sink requests and whether it cancelled.
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

/// A sink subscribed to a [`Manual`] upstream, and the counters the test drives it by.
struct Driven {
    sink: StreamSink,
    requested: Arc<AtomicU64>,
    cancelled: Arc<AtomicBool>,
    sent: u64,
    in_flight: u64,
}

type Element = Vec<(&'static str, u64)>;

impl Driven {
    fn new(sink: StreamSink, in_flight: u64) -> Self {
        let mut sink = sink.in_flight(in_flight);
        let requested = Arc::new(AtomicU64::new(0));
        let cancelled = Arc::new(AtomicBool::new(false));
        Subscriber::<Element>::on_subscribe(
            &mut sink,
            Arc::new(Manual {
                requested: Arc::clone(&requested),
                cancelled: Arc::clone(&cancelled),
            }),
        );
        Driven {
            sink,
            requested,
            cancelled,
            sent: 0,
            in_flight,
        }
    }

    /// Sends elements `n = sent, sent+1, ...` as fast as the sink's demand allows, never more,
    /// up to `target` in total or until `deadline`.
    fn push(&mut self, target: u64, deadline: Instant) {
        while self.sent < target && Instant::now() < deadline {
            if self.sent < self.requested.load(Ordering::SeqCst) {
                self.sink.on_next(vec![("n", self.sent)]);
                self.sent += 1;
            } else {
                thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

/// The `n` field of every entry of `stream`, with how many entries carry it.
fn written_numbers(conn: &mut redis::Connection, stream: &str) -> BTreeMap<u64, u64> {
    let entries: redis::Value = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query(conn)
        .unwrap();
    let redis::Value::Array(entries) = entries else {
        panic!("unexpected XRANGE reply {entries:?}")
    };
    let mut counts = BTreeMap::new();
    for entry in entries {
        let redis::Value::Array(parts) = entry else {
            panic!("unexpected entry {entry:?}")
        };
        let redis::Value::Array(fields) = &parts[1] else {
            panic!("unexpected fields {:?}", parts[1])
        };
        let redis::Value::BulkString(n) = &fields[1] else {
            panic!("unexpected value {:?}", fields[1])
        };
        let n: u64 = std::str::from_utf8(n).unwrap().parse().unwrap();
        *counts.entry(n).or_insert(0) += 1;
    }
    counts
}

#[test]
fn the_sink_writes_through_a_server_restart_and_loses_nothing() {
    let mut server = Server::start_own(true);
    let stream = unique("sink-restart");
    let sink = StreamSink::new(server.client(), &stream).reconnect(quick(40));
    let handle = sink.handle();
    let mut driven = Driven::new(sink, 4);
    let total = 300;

    driven.push(100, Instant::now() + WITHIN);
    assert_eq!(driven.sent, 100);
    server.kill();
    // During the outage the sink's writes fail and it asks for nothing more: the upstream
    // can send at most the in-flight bound beyond what was written.
    driven.push(total, Instant::now() + Duration::from_millis(300));
    let requested = driven.requested.load(Ordering::SeqCst);
    assert!(
        requested <= handle.written() + driven.in_flight,
        "§3.17: requested {requested} with {} written: the bound holds during the outage",
        handle.written()
    );
    server.start_again();
    driven.push(total, Instant::now() + WITHIN);
    assert_eq!(
        driven.sent, total,
        "the sink asked for the rest after the restart"
    );
    Subscriber::<Element>::on_complete(&mut driven.sink);
    assert_eq!(handle.wait().unwrap(), total);
    assert!(!driven.cancelled.load(Ordering::SeqCst));

    let counts = written_numbers(&mut server.conn(), &stream);
    let missing: Vec<u64> = (0..total).filter(|n| !counts.contains_key(n)).collect();
    assert!(missing.is_empty(), "lost across the restart: {missing:?}");
    assert_eq!(counts.len() as u64, total, "nothing but what was sent");
    let duplicates: u64 = counts.values().map(|c| c - 1).sum();
    // At least once: a write cut off after the server executed it is written again.
    assert!(
        duplicates <= driven.in_flight,
        "at most the writes in flight at the kill can be written twice ({duplicates})"
    );
}

#[test]
fn the_sink_reports_a_server_that_stays_down_naming_the_stream_and_cancels_its_upstream() {
    let mut server = Server::start_own(false);
    let stream = unique("sink-down");
    let sink = StreamSink::new(server.client(), &stream).reconnect(quick(3));
    let handle = sink.handle();
    let mut driven = Driven::new(sink, 2);
    driven.push(2, Instant::now() + WITHIN);
    eventually(WITHIN, "the first writes land", || handle.written() == 2);
    server.kill();
    driven.push(3, Instant::now() + WITHIN);
    let error = handle.wait().expect_err("the write cannot succeed");
    let message = error.to_string();
    assert!(
        message.contains(&stream) && message.contains("gave up after 3 reconnection attempts"),
        "the error names the stream and the attempts: {message}"
    );
    assert!(
        driven.cancelled.load(Ordering::SeqCst),
        "the upstream is cancelled"
    );
    assert_eq!(handle.written(), 2);
}

#[test]
fn a_paused_broker_stops_the_sinks_requests_and_everything_lands_after_the_pause() {
    // Its own server: CLIENT PAUSE stops every writer of the server.
    let server = Server::start_own(false);
    let stream = unique("sink-pause");
    let sink = StreamSink::new(server.client(), &stream);
    let handle = sink.handle();
    let in_flight = 8;
    let mut driven = Driven::new(sink, in_flight);
    let total = 2_000;

    driven.push(100, Instant::now() + WITHIN);
    eventually(WITHIN, "the first 100 land", || handle.written() == 100);

    // The broker stops taking writes (until told otherwise) ...
    let mut admin = server.conn();
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(600_000)
        .arg("WRITE")
        .query(&mut admin)
        .unwrap();
    // ... and the upstream, sending as fast as the sink asks, is held at the bound.
    driven.push(total, Instant::now() + Duration::from_millis(300));
    let (sent, written) = (driven.sent, handle.written());
    assert!(
        sent <= written + in_flight,
        "§3.17: {sent} sent with {written} written: at most in_flight beyond the writes"
    );
    driven.push(total, Instant::now() + Duration::from_millis(300));
    assert_eq!(
        driven.sent, sent,
        "nothing more is requested while the broker is paused"
    );
    assert_eq!(
        handle.written(),
        written,
        "nothing is written during the pause"
    );
    let len: u64 = redis::cmd("XLEN").arg(&stream).query(&mut admin).unwrap();
    assert_eq!(len, written, "the broker has what the sink counted");

    let _: () = redis::cmd("CLIENT")
        .arg("UNPAUSE")
        .query(&mut admin)
        .unwrap();
    driven.push(total, Instant::now() + WITHIN);
    assert_eq!(driven.sent, total);
    Subscriber::<Element>::on_complete(&mut driven.sink);
    assert_eq!(handle.wait().unwrap(), total);
    let len: u64 = redis::cmd("XLEN").arg(&stream).query(&mut admin).unwrap();
    assert_eq!(len, total, "everything lands after the pause");
}
