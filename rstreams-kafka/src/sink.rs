//! [`KafkaSink`]: a subscriber that produces each element to a topic, with bounded in-flight.

use std::fmt;
use std::sync::Arc;
use std::thread;

use rdkafka::config::{ClientConfig, FromClientConfigAndContext};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::util::Timeout;
use rdkafka::ClientContext;
use rstreams_core::sync::{Condvar, Mutex};
use rstreams_core::{Error, Subscriber, Subscription};

const STAGE: &str = "kafka sink";

/// The largest [`in_flight`](KafkaSink::in_flight) (librdkafka's default
/// `queue.buffering.max.messages`).
pub const MAX_IN_FLIGHT: u64 = 100_000;

/// One message to produce: a value (`None`: a tombstone), an optional key (which picks the
/// partition, so messages with one key stay in order) and an optional explicit partition.
///
/// ```
/// use rstreams_kafka::Record;
///
/// let record = Record::new("hello").key("greeting");
/// assert_eq!(record.value.as_deref(), Some(&b"hello"[..]));
/// assert_eq!(record.key.as_deref(), Some(&b"greeting"[..]));
/// let from_pair: Record = ("k", "v").into();
/// assert_eq!(from_pair.key.as_deref(), Some(&b"k"[..]));
/// assert!(Record::tombstone("gone").value.is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The key, if any.
    pub key: Option<Vec<u8>>,
    /// The value; `None` produces a tombstone.
    pub value: Option<Vec<u8>>,
    /// The partition, if not left to the partitioner.
    pub partition: Option<i32>,
}

impl Record {
    /// A record with this value, no key, any partition.
    ///
    /// ```
    /// let record = rstreams_kafka::Record::new(vec![1, 2, 3]);
    /// assert!(record.key.is_none());
    /// ```
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        Record {
            key: None,
            value: Some(value.into()),
            partition: None,
        }
    }

    /// A tombstone (a null value) for `key`: deletes the key in a compacted topic.
    ///
    /// ```
    /// let record = rstreams_kafka::Record::tombstone("user-7");
    /// assert!(record.value.is_none());
    /// ```
    pub fn tombstone(key: impl Into<Vec<u8>>) -> Self {
        Record {
            key: Some(key.into()),
            value: None,
            partition: None,
        }
    }

    /// The same record with this key.
    ///
    /// ```
    /// let record = rstreams_kafka::Record::new("v").key("k");
    /// assert_eq!(record.key.as_deref(), Some(&b"k"[..]));
    /// ```
    pub fn key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// The same record, sent to this partition.
    ///
    /// ```
    /// let record = rstreams_kafka::Record::new("v").partition(2);
    /// assert_eq!(record.partition, Some(2));
    /// ```
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }
}

impl From<Vec<u8>> for Record {
    fn from(value: Vec<u8>) -> Self {
        Record::new(value)
    }
}

impl From<String> for Record {
    fn from(value: String) -> Self {
        Record::new(value)
    }
}

impl From<&str> for Record {
    fn from(value: &str) -> Self {
        Record::new(value)
    }
}

impl<K: Into<Vec<u8>>, V: Into<Vec<u8>>> From<(K, V)> for Record {
    fn from((key, value): (K, V)) -> Self {
        Record::new(value).key(key)
    }
}

/// A subscriber that produces each element (anything `Into<`[`Record`]`>`) to the topic
/// `topic`.
///
/// # Backpressure: bounded in flight
///
/// The sink requests [`in_flight`](Self::in_flight) elements at first and one more for each
/// delivery report that says a message was written (acknowledged by the broker as the
/// producer's `acks` setting asks; `all` by default), so at most that many elements are
/// received and not yet confirmed. librdkafka batches and retries them (`linger.ms`,
/// `retries`, `delivery.timeout.ms`); an upstream that sends more than it was asked for fails
/// the sink (§1.1).
///
/// # Errors
///
/// A message that cannot be delivered (its retries exhausted, a non-retriable broker error,
/// the producer's queue refused it) is never dropped silently: the sink cancels its upstream
/// and [`SinkHandle::wait`] returns the error, naming the topic and partition. The other
/// messages in flight still get their reports. An upstream error is returned after the
/// messages received before it are reported.
///
/// # Threads
///
/// librdkafka's producer runs its own threads; delivery reports are served by a polling
/// thread (`ThreadedProducer`), which also makes the sink's requests. When the sink is dropped
/// (after its upstream ended), a short-lived thread waits for the messages still in flight and
/// closes the producer.
///
/// ```no_run
/// use rstreams::{source, Publisher};
/// use rstreams_kafka::{rdkafka::ClientConfig, KafkaSink, Record};
///
/// let mut config = ClientConfig::new();
/// config.set("bootstrap.servers", "127.0.0.1:9092");
/// let sink = KafkaSink::new(config, "readings").in_flight(64);
/// let handle = sink.handle();
/// let readings: Vec<Record> = (0..100).map(|i| Record::new(i.to_string()).key("sensor-1")).collect();
/// source::from_iter(readings).subscribe(sink);
/// assert_eq!(handle.wait().unwrap(), 100);
/// ```
pub struct KafkaSink {
    config: ClientConfig,
    topic: String,
    in_flight: u64,
    shared: Arc<SinkShared>,
    producer: Option<ThreadedProducer<SinkContext>>,
    subscribed: bool,
}

impl fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSink")
            .field("topic", &self.topic)
            .field("in_flight", &self.in_flight)
            .finish()
    }
}

struct SinkShared {
    state: Mutex<SinkState>,
    signal: Condvar,
}

#[derive(Default)]
struct SinkState {
    /// The upstream's subscription, while more may be requested from it.
    subscription: Option<Arc<dyn Subscription>>,
    /// Sent to the producer and not yet reported.
    in_flight: u64,
    /// Reported delivered.
    delivered: u64,
    /// The upstream's terminal signal arrived, or the sink failed or was dropped: nothing more
    /// is requested.
    upstream_done: bool,
    /// What the handle returns as the failure, if any.
    error: Option<Error>,
    /// Upstream done and every message sent was reported: the handle returns.
    finished: bool,
}

impl SinkState {
    fn check_finished(&mut self) {
        if self.upstream_done && self.in_flight == 0 {
            self.finished = true;
        }
    }
}

impl KafkaSink {
    /// A sink producing to `topic` with the client settings of `config` (at least
    /// `bootstrap.servers`); [`in_flight`](Self::in_flight) 64.
    ///
    /// # Panics
    ///
    /// When `topic` is empty, or `config` is rejected by librdkafka (an unknown property, a
    /// bad value); the message names it.
    ///
    /// ```
    /// use rstreams_kafka::{rdkafka::ClientConfig, KafkaSink};
    ///
    /// let mut config = ClientConfig::new();
    /// config.set("bootstrap.servers", "127.0.0.1:9092");
    /// let sink = KafkaSink::new(config, "events");
    /// # let _ = sink;
    /// ```
    pub fn new(config: ClientConfig, topic: impl Into<String>) -> Self {
        let topic = topic.into();
        assert!(
            !topic.is_empty(),
            "KafkaSink::new: topic must be a non-empty topic name (got \"\")"
        );
        if let Err(error) = config.create_native_config() {
            panic!("KafkaSink::new: config is rejected by librdkafka: {error}");
        }
        KafkaSink {
            config,
            topic,
            in_flight: 64,
            shared: Arc::new(SinkShared {
                state: Mutex::new(SinkState::default()),
                signal: Condvar::new(),
            }),
            producer: None,
            subscribed: false,
        }
    }

    /// At most `n` elements received and not yet reported delivered (the sink's demand).
    ///
    /// # Panics
    ///
    /// If `n` is not in `1..=100_000` ([`MAX_IN_FLIGHT`]).
    ///
    /// ```
    /// # let mut config = rstreams_kafka::rdkafka::ClientConfig::new();
    /// # config.set("bootstrap.servers", "127.0.0.1:9092");
    /// let sink = rstreams_kafka::KafkaSink::new(config, "events").in_flight(8);
    /// # let _ = sink;
    /// ```
    pub fn in_flight(mut self, n: u64) -> Self {
        assert!(
            (1..=MAX_IN_FLIGHT).contains(&n),
            "KafkaSink::in_flight: n must be in 1..={MAX_IN_FLIGHT} (got {n})"
        );
        self.in_flight = n;
        self
    }

    /// A handle to wait for the end of the writes and read their count.
    ///
    /// ```
    /// # let mut config = rstreams_kafka::rdkafka::ClientConfig::new();
    /// # config.set("bootstrap.servers", "127.0.0.1:9092");
    /// let sink = rstreams_kafka::KafkaSink::new(config, "events");
    /// let handle = sink.handle();
    /// assert_eq!(handle.delivered(), 0);
    /// ```
    pub fn handle(&self) -> SinkHandle {
        SinkHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Records `error` (the first one wins), stops requesting, and cancels the upstream.
    fn fail(&self, error: Error) {
        let subscription = {
            let mut state = self.shared.state.lock();
            if state.error.is_none() {
                state.error = Some(error);
            }
            state.upstream_done = true;
            state.check_finished();
            state.subscription.take()
        };
        self.shared.signal.notify_all();
        if let Some(subscription) = subscription {
            subscription.cancel();
        }
    }
}

impl Drop for KafkaSink {
    fn drop(&mut self) {
        {
            let mut state = self.shared.state.lock();
            if !state.upstream_done {
                state.upstream_done = true;
                if state.error.is_none() && self.subscribed {
                    state.error =
                        Some(Error::msg("dropped before the upstream completed").in_stage(STAGE));
                }
            }
            state.subscription = None;
            state.check_finished();
        }
        self.shared.signal.notify_all();
        if let Some(producer) = self.producer.take() {
            // Not here: this may be the producer's own polling thread (a synchronous upstream
            // completes inside a request made by a delivery report), which cannot join itself,
            // and dropping a producer purges what is in flight. Wait for it elsewhere.
            let closing = thread::Builder::new()
                .name(format!("rstreams-kafka sink close {}", self.topic))
                .spawn(move || {
                    let _ = producer.flush(Timeout::Never);
                    drop(producer);
                });
            if closing.is_err() {
                // No thread: the reports still in flight are lost with the producer; say so.
                let mut state = self.shared.state.lock();
                if state.in_flight > 0 && state.error.is_none() {
                    state.error = Some(
                        Error::msg("could not start the thread that waits for delivery reports")
                            .in_stage(STAGE),
                    );
                }
                state.in_flight = 0;
                state.check_finished();
                drop(state);
                self.shared.signal.notify_all();
            }
        }
    }
}

/// Waits for a [`KafkaSink`]'s deliveries.
///
/// ```
/// # let mut config = rstreams_kafka::rdkafka::ClientConfig::new();
/// # config.set("bootstrap.servers", "127.0.0.1:9092");
/// let sink = rstreams_kafka::KafkaSink::new(config, "events");
/// let handle = sink.handle();
/// drop(sink); // never subscribed: nothing to wait for
/// assert_eq!(handle.wait().unwrap(), 0);
/// ```
#[derive(Clone)]
pub struct SinkHandle {
    shared: Arc<SinkShared>,
}

impl fmt::Debug for SinkHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkHandle")
            .field("delivered", &self.delivered())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

impl SinkHandle {
    /// How many messages were reported delivered so far.
    ///
    /// ```
    /// # let mut config = rstreams_kafka::rdkafka::ClientConfig::new();
    /// # config.set("bootstrap.servers", "127.0.0.1:9092");
    /// # let handle = rstreams_kafka::KafkaSink::new(config, "events").handle();
    /// println!("{} delivered", handle.delivered());
    /// ```
    pub fn delivered(&self) -> u64 {
        self.shared.state.lock().delivered
    }

    /// How many messages are sent and not yet reported (never more than
    /// [`in_flight`](KafkaSink::in_flight)).
    ///
    /// ```
    /// # let mut config = rstreams_kafka::rdkafka::ClientConfig::new();
    /// # config.set("bootstrap.servers", "127.0.0.1:9092");
    /// # let handle = rstreams_kafka::KafkaSink::new(config, "events").handle();
    /// assert_eq!(handle.in_flight(), 0);
    /// ```
    pub fn in_flight(&self) -> u64 {
        self.shared.state.lock().in_flight
    }

    /// Blocks until the upstream has ended (or the sink failed or was dropped) and every
    /// message sent was reported; returns the number delivered.
    ///
    /// # Errors
    ///
    /// The first failed delivery (naming the topic and partition), or the upstream's error.
    ///
    /// ```no_run
    /// # let mut config = rstreams_kafka::rdkafka::ClientConfig::new();
    /// # let handle = rstreams_kafka::KafkaSink::new(config, "events").handle();
    /// let delivered = handle.wait().unwrap();
    /// # let _ = delivered;
    /// ```
    pub fn wait(&self) -> Result<u64, Error> {
        let mut state = self.shared.state.lock();
        while !state.finished {
            self.shared.signal.wait(&mut state);
        }
        match state.error.clone() {
            Some(error) => Err(error),
            None => Ok(state.delivered),
        }
    }
}

/// The producer's context: delivery reports, on the producer's polling thread.
struct SinkContext {
    shared: Arc<SinkShared>,
    topic: String,
}

impl ClientContext for SinkContext {}

impl ProducerContext for SinkContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let mut state = self.shared.state.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        let mut request = None;
        let mut cancel = None;
        match result {
            Ok(_) => {
                state.delivered += 1;
                if !state.upstream_done {
                    request = state.subscription.clone();
                }
            }
            Err((error, message)) => {
                if state.error.is_none() {
                    state.error = Some(
                        Error::new(error.clone())
                            .context(format!(
                                "delivering a message to topic {} (partition {})",
                                self.topic,
                                message.partition()
                            ))
                            .in_stage(STAGE),
                    );
                }
                state.upstream_done = true;
                cancel = state.subscription.take();
            }
        }
        state.check_finished();
        drop(state);
        self.shared.signal.notify_all();
        if let Some(subscription) = request {
            subscription.request(1);
        }
        if let Some(subscription) = cancel {
            subscription.cancel();
        }
    }
}

impl<T: Into<Record>> Subscriber<T> for KafkaSink {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if self.subscribed {
            subscription.cancel(); // §2.5
            return;
        }
        self.subscribed = true;
        let context = SinkContext {
            shared: Arc::clone(&self.shared),
            topic: self.topic.clone(),
        };
        match ThreadedProducer::from_config_and_context(&self.config, context) {
            Ok(producer) => {
                self.producer = Some(producer);
                self.shared.state.lock().subscription = Some(Arc::clone(&subscription));
                subscription.request(self.in_flight);
            }
            Err(error) => {
                subscription.cancel();
                self.fail(
                    Error::new(error)
                        .context("creating the producer")
                        .in_stage(STAGE),
                );
            }
        }
    }

    fn on_next(&mut self, item: T) {
        let record: Record = item.into();
        {
            let mut state = self.shared.state.lock();
            if state.upstream_done {
                return; // after a failure: §2.8, demand already in flight
            }
            if state.in_flight >= self.in_flight {
                drop(state);
                self.fail(
                    Error::protocol(
                        "1.1",
                        format!(
                            "more elements than requested (in flight: {})",
                            self.in_flight
                        ),
                    )
                    .in_stage(STAGE),
                );
                return;
            }
            state.in_flight += 1;
        }
        let Some(producer) = self.producer.as_ref() else {
            return;
        };
        let mut base: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.topic);
        if let Some(key) = record.key.as_deref() {
            base = base.key(key);
        }
        if let Some(value) = record.value.as_deref() {
            base = base.payload(value);
        }
        if let Some(partition) = record.partition {
            base = base.partition(partition);
        }
        if let Err((error, _)) = producer.send(base) {
            {
                let mut state = self.shared.state.lock();
                state.in_flight -= 1;
            }
            self.fail(
                Error::new(error)
                    .context(format!("producing a message to topic {}", self.topic))
                    .in_stage(STAGE),
            );
        }
    }

    fn on_error(&mut self, error: Error) {
        let mut state = self.shared.state.lock();
        if state.error.is_none() {
            state.error = Some(error);
        }
        state.upstream_done = true;
        state.subscription = None;
        state.check_finished();
        drop(state);
        self.shared.signal.notify_all();
    }

    fn on_complete(&mut self) {
        let mut state = self.shared.state.lock();
        state.upstream_done = true;
        state.subscription = None;
        state.check_finished();
        drop(state);
        self.shared.signal.notify_all();
    }
}
