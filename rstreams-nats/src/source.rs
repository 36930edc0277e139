//! [`PullSource`]: a subscription of a JetStream durable pull consumer whose demand is the
//! pull batch.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use async_nats::ConnectOptions;
use futures_util::StreamExt;
use rstreams_core::support::{EngineConfig, Feed, Feeder};
use rstreams_core::{Error, Publisher, Subscriber};
use tokio::sync::Notify;

use crate::conn::{Conn, Options};
use crate::delivery::{Delivery, Message};

const STAGE: &str = "nats pull source";

/// Consecutive failed pulls (a pull request that could not be sent, an error status from the
/// server) after which the stream fails. A success in between starts the count again.
const MAX_PULL_FAILURES: u32 = 10;

/// A publisher of the messages of a JetStream stream, pulled through a durable pull consumer.
///
/// Each subscription pulls from the consumer `consumer` of the stream `stream` (created if
/// missing, with explicit acks, [`ack_wait`](Self::ack_wait) and
/// [`max_ack_pending`](Self::max_ack_pending); the stream itself must exist). Its demand is the
/// pull batch: it sends a pull request for `n` messages, where `n` is the outstanding demand
/// minus what is already buffered, capped by the room left under `max_ack_pending` and by
/// [`max_batch`](Self::max_batch). At zero demand (or a full bound) no pull is outstanding and
/// the server delivers nothing. Several subscriptions of one durable consumer, in this process
/// or others, share its messages: each message goes to one of them.
///
/// Every element is a [`Delivery`] that stays pending on the consumer until it is acked:
/// delivery is **at least once** (see the [crate docs](crate)).
///
/// # Threads
///
/// Each subscription has a fetcher thread and a connection whose runtime has one worker thread
/// (see the crate docs, "Threads and connections"). The fetcher waits for demand, sends a pull
/// request, buffers what arrives and wakes the subscription, whose drain loop then delivers on
/// that thread (or on a requester's). `cancel` stops it at once; messages buffered but not yet
/// delivered, and any the server still sends to the abandoned pull, are not acked: the server
/// delivers them again after `ack_wait`.
///
/// # Errors
///
/// The stream fails (`on_error`) when the connection cannot be made at first, the stream does
/// not exist, the consumer cannot be created or read, or 10 pulls in a row fail (a pull
/// request that cannot be sent, an error status from the server such as a deleted consumer).
/// A broken connection afterwards is not an error: async-nats reconnects by itself and the
/// next pull goes out on the new connection.
///
/// ```no_run
/// use std::time::Duration;
///
/// use rstreams::{sink, Publisher};
/// use rstreams_nats::{Delivery, Message, PullSource};
///
/// let orders = PullSource::durable("nats://127.0.0.1:4222", "ORDERS", "billing")
///     .max_ack_pending(64)
///     .ack_wait(Duration::from_secs(60));
/// orders.subscribe(sink::for_each(|delivery: Delivery<Message>| {
///     println!("{:?}", delivery.value.payload_str());
///     delivery.ack().unwrap();
/// }));
/// ```
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct PullSource {
    config: Arc<Config>,
}

#[derive(Clone)]
struct Config {
    url: String,
    options: Options,
    stream: String,
    consumer: String,
    filter_subject: Option<String>,
    max_ack_pending: u64,
    max_batch: u64,
    ack_wait: Duration,
    expires: Duration,
}

impl fmt::Debug for PullSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("PullSource")
            .field("url", &c.url)
            .field("stream", &c.stream)
            .field("consumer", &c.consumer)
            .field("filter_subject", &c.filter_subject)
            .field("max_ack_pending", &c.max_ack_pending)
            .field("max_batch", &c.max_batch)
            .field("ack_wait", &c.ack_wait)
            .field("expires", &c.expires)
            .finish()
    }
}

/// The largest `max_ack_pending` the server takes (a signed 64-bit field).
const MAX_ACK_PENDING: u64 = i64::MAX as u64;

impl PullSource {
    /// The durable pull consumer `consumer` of the stream `stream`, on the server at `url`
    /// (`nats://host:port`, or several separated by commas).
    ///
    /// Defaults: [`max_ack_pending`](Self::max_ack_pending) 256,
    /// [`max_batch`](Self::max_batch) 256, [`ack_wait`](Self::ack_wait) 30 s,
    /// [`expires`](Self::expires) 1 s, no [`filter_subject`](Self::filter_subject), default
    /// [connect options](Self::connect_options).
    ///
    /// ```
    /// use rstreams_nats::PullSource;
    ///
    /// let source = PullSource::durable("nats://127.0.0.1:4222", "EVENTS", "indexer");
    /// # let _ = source; // building connects to nothing: a subscription does
    /// ```
    pub fn durable(
        url: impl Into<String>,
        stream: impl Into<String>,
        consumer: impl Into<String>,
    ) -> Self {
        PullSource {
            config: Arc::new(Config {
                url: url.into(),
                options: Arc::new(ConnectOptions::new),
                stream: stream.into(),
                consumer: consumer.into(),
                filter_subject: None,
                max_ack_pending: 256,
                max_batch: 256,
                ack_wait: Duration::from_secs(30),
                expires: Duration::from_secs(1),
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Arc::make_mut(&mut self.config));
        self
    }

    /// At most `n` deliveries held at once by a subscription: pulled (buffered or emitted)
    /// and neither acked, nak'ed, termed nor dropped. When the bound is reached no pull is
    /// sent until a delivery is settled: demand alone does not bound the unacked messages,
    /// since acks lag `on_next`. It is also the consumer's server-side `max_ack_pending` when
    /// this source creates the consumer (shared by all its subscriptions).
    ///
    /// # Panics
    ///
    /// If `n` is not in `1..=i64::MAX`.
    ///
    /// ```
    /// let source = rstreams_nats::PullSource::durable("nats://127.0.0.1:4222", "S", "c")
    ///     .max_ack_pending(10);
    /// # let _ = source;
    /// ```
    ///
    /// ```should_panic
    /// // panics: "max_ack_pending must be in 1..=9223372036854775807 (got 0)"
    /// let _ = rstreams_nats::PullSource::durable("nats://127.0.0.1:4222", "S", "c")
    ///     .max_ack_pending(0);
    /// ```
    pub fn max_ack_pending(self, n: u64) -> Self {
        assert!(
            (1..=MAX_ACK_PENDING).contains(&n),
            "max_ack_pending must be in 1..={MAX_ACK_PENDING} (got {n})"
        );
        self.edit(|c| c.max_ack_pending = n)
    }

    /// At most `n` messages asked for in one pull request (a larger demand is served by
    /// several pulls).
    ///
    /// # Panics
    ///
    /// If `n` is not in `1..=1_000_000`.
    ///
    /// ```
    /// let source = rstreams_nats::PullSource::durable("nats://127.0.0.1:4222", "S", "c")
    ///     .max_batch(32);
    /// # let _ = source;
    /// ```
    pub fn max_batch(self, n: u64) -> Self {
        assert!(
            (1..=1_000_000).contains(&n),
            "max_batch must be in 1..=1000000 (got {n})"
        );
        self.edit(|c| c.max_batch = n)
    }

    /// How long the server waits for a delivery's ack before delivering it again (to any
    /// subscription of the consumer), when this source creates the consumer. Make it longer
    /// than the worst processing time, or call [`Delivery::in_progress`] while working.
    ///
    /// # Panics
    ///
    /// If `ack_wait` is shorter than 1 ms.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let source = rstreams_nats::PullSource::durable("nats://127.0.0.1:4222", "S", "c")
    ///     .ack_wait(Duration::from_secs(120));
    /// # let _ = source;
    /// ```
    pub fn ack_wait(self, ack_wait: Duration) -> Self {
        assert!(
            ack_wait >= Duration::from_millis(1),
            "ack_wait must be at least 1 ms (got {ack_wait:?})"
        );
        self.edit(|c| c.ack_wait = ack_wait)
    }

    /// How long one pull request waits on the server for messages before it expires and the
    /// next is sent. Short enough that a pull lost with a broken connection is replaced soon
    /// (the client gives up on it 5 s after it should have expired).
    ///
    /// # Panics
    ///
    /// If `expires` is not in 10 ms ..= 1 h.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let source = rstreams_nats::PullSource::durable("nats://127.0.0.1:4222", "S", "c")
    ///     .expires(Duration::from_millis(500));
    /// # let _ = source;
    /// ```
    pub fn expires(self, expires: Duration) -> Self {
        assert!(
            (Duration::from_millis(10)..=Duration::from_secs(3600)).contains(&expires),
            "expires must be in 10ms..=1h (got {expires:?})"
        );
        self.edit(|c| c.expires = expires)
    }

    /// Only messages whose subject matches `subject` (wildcards allowed), when this source
    /// creates the consumer.
    ///
    /// ```
    /// let source = rstreams_nats::PullSource::durable("nats://127.0.0.1:4222", "S", "c")
    ///     .filter_subject("orders.eu.>");
    /// # let _ = source;
    /// ```
    pub fn filter_subject(self, subject: impl Into<String>) -> Self {
        let subject = subject.into();
        self.edit(|c| c.filter_subject = Some(subject))
    }

    /// How each subscription's connection is made: credentials, TLS, a client name, the
    /// reconnect policy. Called once per subscription.
    ///
    /// ```
    /// let source = rstreams_nats::PullSource::durable("nats://127.0.0.1:4222", "S", "c")
    ///     .connect_options(|| async_nats::ConnectOptions::new().name("billing"));
    /// # let _ = source;
    /// ```
    pub fn connect_options(
        self,
        options: impl Fn() -> ConnectOptions + Send + Sync + 'static,
    ) -> Self {
        let options: Options = Arc::new(options);
        self.edit(|c| c.options = options)
    }
}

impl Publisher for PullSource {
    type Item = Delivery<Message>;

    fn subscribe<S: Subscriber<Delivery<Message>> + 'static>(&self, subscriber: S) {
        // Wakes the fetcher out of its wait for the next message when the subscription ends
        // (the feed wakes its own waits).
        let cancel = Arc::new(Notify::new());
        let on_cancel = Arc::clone(&cancel);
        // The demand, the buffer, the ack-pending bound and cancel: support's feed. Messages
        // buffered when the subscription ends are dropped unacked: the server redelivers them
        // after ack_wait.
        let feeder = Feed::new(STAGE)
            .max_held(self.config.max_ack_pending)
            .on_cancel(move || on_cancel.notify_one())
            .start(subscriber, EngineConfig::new());
        let config = Arc::clone(&self.config);
        feeder.spawn(
            format!("rstreams-nats {}", config.consumer),
            move |feeder| fetch_loop(&config, feeder, &cancel),
        );
    }
}

/// The consumer, created if missing.
async fn open_consumer(
    client: async_nats::Client,
    c: Config,
) -> Result<consumer::Consumer<consumer::pull::Config>, Error> {
    let js = jetstream::new(client);
    let stream = js
        .get_stream(&c.stream)
        .await
        .map_err(|e| Error::new(e).context(format!("opening the stream {}", c.stream)))?;
    stream
        .get_or_create_consumer(
            &c.consumer,
            consumer::pull::Config {
                durable_name: Some(c.consumer.clone()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: c.ack_wait,
                max_ack_pending: c.max_ack_pending as i64,
                filter_subject: c.filter_subject.clone().unwrap_or_default(),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| {
            Error::new(e).context(format!(
                "opening the consumer {} of the stream {}",
                c.consumer, c.stream
            ))
        })
}

/// The fetcher thread: pulls as the demand allows until cancelled or failed.
fn fetch_loop(
    config: &Arc<Config>,
    feeder: &Feeder<Delivery<Message>>,
    cancel: &Notify,
) -> Result<(), Error> {
    let c = &**config;
    let conn = Conn::open(&c.url, &c.options, &format!("rstreams-nats {}", c.consumer))?;
    let consumer = conn.run(open_consumer(conn.client().clone(), c.clone()))?;

    let unsettled = feeder.unsettled();
    let mut failures = 0;
    loop {
        let Some(n) = feeder.wait_for_demand() else {
            return Ok(());
        };
        let n = n.min(c.max_batch);
        // One pull request for n: the server sends at most n (fewer under its own
        // max_ack_pending), and the batch ends after n or when the request expires.
        let pulled = conn.block_on(
            consumer
                .batch()
                .max_messages(n as usize)
                .expires(c.expires)
                .messages(),
        );
        let failure = match pulled {
            Err(e) => Some(Error::new(e)),
            Ok(mut batch) => loop {
                let next = conn.block_on(async {
                    tokio::select! {
                        next = batch.next() => Some(next),
                        () = cancel.notified() => None,
                    }
                });
                let message = match next {
                    None => return Ok(()), // cancelled
                    Some(None) => break None,
                    Some(Some(Err(e))) => break Some(Error::msg(e)),
                    Some(Some(Ok(message))) => message,
                };
                failures = 0;
                let delivery = Delivery::new(message, &conn, &unsettled)?;
                // Refused after cancel: dropped unacked, redelivered after ack_wait.
                if !feeder.push(delivery) {
                    return Ok(());
                }
            },
        };
        if let Some(error) = failure {
            failures += 1;
            if failures >= MAX_PULL_FAILURES {
                return Err(error.context(format!(
                    "pulling from the consumer {} of the stream {} ({failures} failures in a row)",
                    c.consumer, c.stream
                )));
            }
            // Back off (50 ms, doubling, at most 2 s), still noticing a cancel.
            let pause = Duration::from_millis(50 << failures.min(6)).min(Duration::from_secs(2));
            if !feeder.pause(pause) {
                return Ok(()); // cancelled while waiting
            }
        }
    }
}
