//! librdkafka's mock cluster for the tests.
//!
//! No Kafka broker can be installed where these tests run, so they drive the real client
//! library against its in-process mock cluster (`rdkafka::mocking::MockCluster`): consumer
//! groups with rebalancing, offset commits, produce, fetch and injected errors.

#![allow(dead_code)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rstreams_kafka::rdkafka::config::ClientConfig;
use rstreams_kafka::rdkafka::consumer::{BaseConsumer, Consumer};
use rstreams_kafka::rdkafka::mocking::MockCluster;
use rstreams_kafka::rdkafka::producer::{
    BaseRecord, DefaultProducerContext, Producer, ThreadedProducer,
};
use rstreams_kafka::rdkafka::{Offset, TopicPartitionList};

use rstreams_test_servers::unique;

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
