//! librdkafka's mock cluster for the tests, and probes.
//!
//! No Kafka broker can be installed where these tests run, so they drive the real client
//! library against its in-process mock cluster (`rdkafka::mocking::MockCluster`): consumer
//! groups with rebalancing, offset commits, produce, fetch and injected errors.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rstreams_core::{Subscriber, Subscription};
use rstreams_kafka::rdkafka::config::ClientConfig;
use rstreams_kafka::rdkafka::consumer::{BaseConsumer, Consumer};
use rstreams_kafka::rdkafka::mocking::MockCluster;
use rstreams_kafka::rdkafka::producer::{
    BaseRecord, DefaultProducerContext, Producer, ThreadedProducer,
};
use rstreams_kafka::rdkafka::{Offset, TopicPartitionList};

pub type Mock = MockCluster<'static, DefaultProducerContext>;

/// A mock cluster of one broker with `topic` of `partitions` partitions.
pub fn cluster(topic: &str, partitions: i32) -> Mock {
    let mock = MockCluster::new(1).expect("creating the mock cluster");
    mock.create_topic(topic, partitions, 1)
        .expect("creating the topic");
    mock
}

/// Client settings for the mock cluster: fast heartbeats, so that members learn of a rebalance
/// at once. (The session timeout must stay above the mock's 3 s initial rebalance delay, or a
/// first member times out while its join is held.)
pub fn client_config(mock: &Mock) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", mock.bootstrap_servers())
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "100")
        .set("topic.metadata.refresh.interval.ms", "500");
    config
}

/// Produces `count` messages `"{i}"` (keyed `"k{i}"`) to `partition` (or any), and waits for
/// them to be written.
pub fn produce(mock: &Mock, topic: &str, partition: Option<i32>, range: std::ops::Range<u64>) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", mock.bootstrap_servers())
        .create()
        .expect("creating the test producer");
    for i in range {
        let value = i.to_string();
        let key = format!("k{i}");
        let mut record = BaseRecord::to(topic).payload(&value).key(&key);
        if let Some(p) = partition {
            record = record.partition(p);
        }
        producer.send(record).map_err(|(e, _)| e).expect("sending");
    }
    producer
        .flush(Duration::from_secs(10))
        .expect("flushing the test producer");
}

/// The offset committed for `group` on each partition of `topic` (`None`: nothing committed),
/// read from the broker by a consumer that does not join the group.
pub fn committed(mock: &Mock, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", mock.bootstrap_servers())
        .set("group.id", group)
        .create()
        .expect("creating the offset reader");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_range(topic, 0, partitions - 1);
    let got = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("reading committed offsets");
    (0..partitions)
        .map(|p| match got.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => Some(o),
            _ => None,
        })
        .collect()
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Waits until `check` holds, failing the test after `within`.
pub fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A subscriber that keeps what it receives and hands its subscription to the test.
pub struct Probe<T> {
    received: Arc<Mutex<Vec<T>>>,
    subscription: Arc<Mutex<Option<Arc<dyn Subscription>>>>,
    error: Arc<Mutex<Option<rstreams_core::Error>>>,
}

/// The test's side of a [`Probe`].
pub struct ProbeHandle<T> {
    received: Arc<Mutex<Vec<T>>>,
    subscription: Arc<Mutex<Option<Arc<dyn Subscription>>>>,
    error: Arc<Mutex<Option<rstreams_core::Error>>>,
}

pub fn probe<T>() -> (Probe<T>, ProbeHandle<T>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let subscription = Arc::new(Mutex::new(None));
    let error = Arc::new(Mutex::new(None));
    (
        Probe {
            received: Arc::clone(&received),
            subscription: Arc::clone(&subscription),
            error: Arc::clone(&error),
        },
        ProbeHandle {
            received,
            subscription,
            error,
        },
    )
}

impl<T> ProbeHandle<T> {
    pub fn request(&self, n: u64) {
        let s = self
            .subscription
            .lock()
            .unwrap()
            .clone()
            .expect("subscribed");
        s.request(n);
    }

    pub fn cancel(&self) {
        let s = self.subscription.lock().unwrap().take();
        if let Some(s) = s {
            s.cancel();
        }
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    pub fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.received.lock().unwrap())
    }

    /// The stream's error, if it failed.
    pub fn error(&self) -> Option<String> {
        self.error.lock().unwrap().as_ref().map(ToString::to_string)
    }

    pub fn assert_no_error(&self) {
        if let Some(e) = self.error.lock().unwrap().as_ref() {
            panic!("the stream failed: {e}");
        }
    }
}

impl<T: Send> Subscriber<T> for Probe<T> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        *self.subscription.lock().unwrap() = Some(subscription);
    }
    fn on_next(&mut self, item: T) {
        self.received.lock().unwrap().push(item);
    }
    fn on_error(&mut self, error: rstreams_core::Error) {
        *self.error.lock().unwrap() = Some(error);
    }
    fn on_complete(&mut self) {}
}

/// Reads every message of `topic` from the beginning with a plain consumer (assigned, not a
/// group member), until
/// `count` arrived: value → how many times.
pub fn read_back(mock: &Mock, topic: &str, partitions: i32, count: usize) -> HashMap<String, u32> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", mock.bootstrap_servers())
        .set("group.id", unique("reader")) // assign needs one; it never joins or commits
        .set("enable.auto.commit", "false")
        .create()
        .expect("creating the reader");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).expect("assigning");
    let mut seen = HashMap::new();
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while got < count {
        assert!(Instant::now() < deadline, "read back {got} of {count}");
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            use rstreams_kafka::rdkafka::message::Message;
            let message = message.expect("reading back");
            let value = String::from_utf8(message.payload().unwrap_or_default().to_vec()).unwrap();
            *seen.entry(value).or_insert(0) += 1;
            got += 1;
        }
    }
    seen
}
