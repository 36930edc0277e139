//! [`Delivery`], the element a [`KafkaSource`](crate::KafkaSource) emits.

use std::fmt;
use std::sync::Arc;

use crate::ledger::Acked;
use crate::source::Shared;

/// A message read from a Kafka partition, with the capability to acknowledge it.
///
/// The value is the message's payload (`None` for a tombstone, a message with a null value).
/// Returning from `on_next` acks nothing; neither does dropping a delivery. An unacked delivery
/// holds back the commit of its partition: the committed offset stays at the first unacked
/// offset, so every later message of the partition comes back after a restart or a rebalance,
/// acked or not. **Ack the messages you skip** (a filter, a message you decided to park in a
/// dead-letter topic); a delivery dropped unacked also keeps its slot under
/// [`max_unacked`](crate::KafkaSource::max_unacked) until its partition is revoked or the
/// subscription ends.
///
/// [`map`](Self::map) decodes the value and keeps the ack handle, so the decoded element can
/// still be acked downstream.
///
/// Kafka keeps no delivery count: a message delivered again (after a crash, a cancel with
/// unacked deliveries, a rebalance) looks like a first delivery. Poison messages must be
/// recognised by the application (a retry counter of its own, or park the message in a
/// dead-letter topic with a [`KafkaSink`](crate::KafkaSink) and ack it).
///
/// ```no_run
/// use rstreams::{sink, Publisher};
/// use rstreams_kafka::{rdkafka::ClientConfig, Delivery, KafkaSource};
///
/// let mut config = ClientConfig::new();
/// config.set("bootstrap.servers", "127.0.0.1:9092");
/// let source = KafkaSource::group(config, "billing", ["orders"]);
/// source.subscribe(sink::for_each(|delivery: Delivery<Option<Vec<u8>>>| {
///     let text = delivery.map(|v| String::from_utf8_lossy(&v.unwrap_or_default()).into_owned());
///     println!("{}/{}@{}: {}", text.topic(), text.partition(), text.offset(), text.value);
///     let _ = text.ack();
/// }));
/// ```
pub struct Delivery<T> {
    /// The delivered value.
    pub value: T,
    ticket: Ticket,
}

/// The non-generic part of a delivery: where it came from and whose ledger acks it.
struct Ticket {
    topic: Arc<str>,
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    timestamp: Option<i64>,
    /// The assignment of the partition it was fetched in (see the ledger).
    epoch: u64,
    shared: Arc<Shared>,
}

impl<T: fmt::Debug> fmt::Debug for Delivery<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("value", &self.value)
            .field("topic", &self.ticket.topic)
            .field("partition", &self.ticket.partition)
            .field("offset", &self.ticket.offset)
            .field("key", &self.ticket.key)
            .finish()
    }
}

/// What the fetcher knows of a message when it makes its delivery.
pub(crate) struct Fetched {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) payload: Option<Vec<u8>>,
    pub(crate) timestamp: Option<i64>,
}

impl Delivery<Option<Vec<u8>>> {
    /// A delivery of `message`, fetched in assignment `epoch` of its partition.
    pub(crate) fn new(message: Fetched, epoch: u64, shared: &Arc<Shared>) -> Self {
        Delivery {
            value: message.payload,
            ticket: Ticket {
                topic: message.topic,
                partition: message.partition,
                offset: message.offset,
                key: message.key,
                timestamp: message.timestamp,
                epoch,
                shared: Arc::clone(shared),
            },
        }
    }
}

impl<T> Delivery<T> {
    /// The topic the message was read from.
    ///
    /// ```no_run
    /// # fn f(delivery: rstreams_kafka::Delivery<Option<Vec<u8>>>) {
    /// println!("{}", delivery.topic());
    /// # }
    /// ```
    pub fn topic(&self) -> &str {
        &self.ticket.topic
    }

    /// The partition the message was read from.
    ///
    /// ```no_run
    /// # fn f(delivery: rstreams_kafka::Delivery<Option<Vec<u8>>>) {
    /// assert!(delivery.partition() >= 0);
    /// # }
    /// ```
    pub fn partition(&self) -> i32 {
        self.ticket.partition
    }

    /// The message's offset in its partition.
    ///
    /// ```no_run
    /// # fn f(delivery: rstreams_kafka::Delivery<Option<Vec<u8>>>) {
    /// assert!(delivery.offset() >= 0);
    /// # }
    /// ```
    pub fn offset(&self) -> i64 {
        self.ticket.offset
    }

    /// The message's key, if it has one.
    ///
    /// ```no_run
    /// # fn f(delivery: rstreams_kafka::Delivery<Option<Vec<u8>>>) {
    /// let key = delivery.key().map(String::from_utf8_lossy);
    /// # let _ = key;
    /// # }
    /// ```
    pub fn key(&self) -> Option<&[u8]> {
        self.ticket.key.as_deref()
    }

    /// The message's timestamp in milliseconds since the Unix epoch, if it has one.
    ///
    /// ```no_run
    /// # fn f(delivery: rstreams_kafka::Delivery<Option<Vec<u8>>>) {
    /// let millis = delivery.timestamp();
    /// # let _ = millis;
    /// # }
    /// ```
    pub fn timestamp(&self) -> Option<i64> {
        self.ticket.timestamp
    }

    /// Acknowledges the message: once every earlier message of its partition fetched by this
    /// subscription is acked too, the offset after it is committed for the group (the
    /// contiguous acked prefix; acks may come in any order). The commit is made by the
    /// subscription's fetcher thread within about one
    /// [`commit_interval`](crate::KafkaSource::commit_interval), and when the partition is
    /// revoked or the subscription ends.
    ///
    /// Returns what the ack did: [`Acked::Recorded`], or a no-op — [`Acked::Revoked`] when the
    /// partition was revoked by a rebalance after the message was fetched,
    /// [`Acked::Closed`] when the subscription has ended. After a no-op the message will be
    /// delivered again (to this consumer or another): at least once, never exactly once.
    ///
    /// ```no_run
    /// # fn f(delivery: rstreams_kafka::Delivery<Option<Vec<u8>>>) {
    /// use rstreams_kafka::Acked;
    ///
    /// match delivery.ack() {
    ///     Acked::Recorded => {}
    ///     other => eprintln!("not committed ({other:?}): it will come back"),
    /// }
    /// # }
    /// ```
    pub fn ack(self) -> Acked {
        let t = &self.ticket;
        let tp = (String::from(&*t.topic), t.partition);
        t.shared.ack(&tp, t.offset, t.epoch)
    }

    /// The same delivery with its value replaced by `f(value)`: decode a payload into a type of
    /// yours and keep the ack handle.
    ///
    /// ```no_run
    /// # fn f(delivery: rstreams_kafka::Delivery<Option<Vec<u8>>>) {
    /// let text = delivery.map(|v| v.map(|b| String::from_utf8_lossy(&b).into_owned()));
    /// let _ = text.ack();
    /// # }
    /// ```
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Delivery<U> {
        let Delivery { value, ticket } = self;
        Delivery {
            value: f(value),
            ticket,
        }
    }

    /// The value, giving up the delivery without acking it (its partition's commit stays
    /// before it; see [`Delivery`]).
    ///
    /// ```no_run
    /// # fn f(delivery: rstreams_kafka::Delivery<Option<Vec<u8>>>) {
    /// let payload = delivery.into_value(); // not acked: it comes back after a restart
    /// # let _ = payload;
    /// # }
    /// ```
    pub fn into_value(self) -> T {
        self.value
    }
}
