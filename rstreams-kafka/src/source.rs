//! [`KafkaSource`]: a consumer-group member whose partitions are paused and resumed from
//! demand, and whose commits are the contiguous acked prefix of each partition.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rdkafka::config::{ClientConfig, FromClientConfigAndContext};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use rstreams_core::scheduler::{timer, Scheduler};
use rstreams_core::support::{EngineConfig, Feed, Feeder};
use rstreams_core::sync::{AtomicBool, AtomicU64, Mutex, Ordering};
use rstreams_core::{Error, Publisher, Subscriber};

use crate::delivery::{Delivery, Fetched};
use crate::ledger::{Acked, Ledger, TopicPartition};

const STAGE: &str = "kafka source";

/// The largest [`max_unacked`](KafkaSource::max_unacked).
pub const MAX_UNACKED: u64 = 1_000_000;

/// A publisher of the messages of Kafka topics, read as one member of a consumer group.
///
/// Each subscription is one consumer of the group `group` subscribed to `topics`: it gets its
/// share of their partitions from the group's rebalancing (two subscriptions, in one process
/// or in two, split the partitions between them). Every element is a [`Delivery`] whose
/// [`ack`](Delivery::ack) commits, once every earlier offset of its partition is acked, the
/// offset after it. Delivery is **at least once** (see the [crate docs](crate)).
///
/// # Backpressure
///
/// The consumer fetches only while the *window* is open: outstanding demand minus what is
/// buffered, capped by the room left under [`max_unacked`](Self::max_unacked). When it closes
/// (the downstream asked for nothing more, or too many deliveries are unacked) every assigned
/// partition is paused (`rd_kafka_pause_partitions`), and resumed when demand returns. While
/// paused the consumer keeps polling, so it stays in the group (no `max.poll.interval.ms`
/// eviction) and rebalances are served. So the source never holds more fetched-but-undelivered
/// messages than the downstream asked for. librdkafka's own prefetch queue, below the source,
/// is bounded separately by `queued.min.messages` and `queued.max.messages.kbytes` (set to
/// 1000 messages per partition and 1 MiB in all unless the configuration says otherwise); a pause
/// discards it, and a resume fetches again from the position of the last message handed over.
/// Request in batches (as the queueing operators do) rather than one at a time, or every
/// element costs a pause and a resume.
///
/// # Rebalances
///
/// When partitions are revoked, their contiguous acked prefixes are committed (synchronously,
/// before the partitions are given up), their **buffered, undelivered messages are discarded**
/// (the new owner fetches them from the committed offset; emitting them here would make two
/// consumers process the same messages concurrently), and acks of their deliveries already
/// emitted become no-ops that return [`Acked::Revoked`]. Newly assigned partitions start from
/// the group's committed offset (`auto.offset.reset`, default `earliest`, when there is none)
/// and are paused at once if the window is closed.
///
/// # Threads
///
/// Each subscription runs a fetcher thread that owns its `BaseConsumer`: it polls every
/// [`poll_interval`](Self::poll_interval) at most, pauses and resumes, runs the rebalance
/// callbacks, commits due offsets every [`commit_interval`](Self::commit_interval), and wakes
/// the subscription when a message arrives; the drain loop then delivers on a worker of
/// [`deliver_on`](Self::deliver_on) (by default the shared [`timer()`] pool), so that slow
/// processing never holds up the poll loop. On cancel the fetcher commits the acked prefix, leaves the group and
/// stops; buffered messages are not acked and go to the next owner of their partition.
///
/// # Errors
///
/// Creating the consumer or subscribing fails the stream (`on_error`). Transient errors
/// (a broker down, a connection reset) are retried by librdkafka and counted in
/// [`SourceStats::poll_errors`], as is a failed pause or resume (tried again at the next
/// poll); a fatal client error fails the stream. A failed commit is counted
/// ([`SourceStats::commit_errors`]) and retried at the next interval. A message fetched past
/// the window that cannot be rewound is delivered (one past the demand) rather than lost.
///
/// ```no_run
/// use rstreams::{sink, Publisher};
/// use rstreams_kafka::{rdkafka::ClientConfig, Delivery, KafkaSource};
///
/// let mut config = ClientConfig::new();
/// config.set("bootstrap.servers", "127.0.0.1:9092");
/// let orders = KafkaSource::group(config, "billing", ["orders"]).max_unacked(64);
/// orders.subscribe(sink::for_each(|delivery: Delivery<Option<Vec<u8>>>| {
///     println!("offset {}", delivery.offset());
///     let _ = delivery.ack();
/// }));
/// ```
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct KafkaSource {
    config: Arc<Config>,
    stats: SourceStats,
}

#[derive(Clone)]
struct Config {
    client: ClientConfig,
    group: String,
    topics: Vec<String>,
    max_unacked: u64,
    poll_interval: Duration,
    commit_interval: Duration,
    /// Where each subscription's drain loop (the downstream's `on_next`) runs.
    deliver_on: Arc<dyn Scheduler>,
}

impl fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("KafkaSource")
            .field("group", &c.group)
            .field("topics", &c.topics)
            .field("max_unacked", &c.max_unacked)
            .field("poll_interval", &c.poll_interval)
            .field("commit_interval", &c.commit_interval)
            .finish()
    }
}

impl KafkaSource {
    /// A member of the consumer group `group` reading `topics`, with the client settings of
    /// `config` (at least `bootstrap.servers`).
    ///
    /// The source sets `group.id`, `enable.auto.commit=false` (it commits acked prefixes
    /// itself) and `enable.auto.offset.store=false`, and defaults `auto.offset.reset` to
    /// `earliest`, `queued.min.messages` to 1000 and `queued.max.messages.kbytes` to 1024.
    /// Defaults: [`max_unacked`](Self::max_unacked) 1000, [`poll_interval`](Self::poll_interval)
    /// 50 ms, [`commit_interval`](Self::commit_interval) 100 ms.
    ///
    /// # Panics
    ///
    /// When `group` is empty, `topics` is empty or names an empty topic, `config` sets
    /// `enable.auto.commit` or `enable.auto.offset.store` to `true` (the source owns the
    /// commits), or `config` is rejected by librdkafka (an unknown property, a bad value): the
    /// message names the argument or property.
    ///
    /// ```
    /// use rstreams_kafka::{rdkafka::ClientConfig, KafkaSource};
    ///
    /// let mut config = ClientConfig::new();
    /// config.set("bootstrap.servers", "127.0.0.1:9092");
    /// let source = KafkaSource::group(config, "indexer", ["events"]);
    /// # let _ = source;
    /// ```
    pub fn group<I, T>(config: ClientConfig, group: impl Into<String>, topics: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let group = group.into();
        let topics: Vec<String> = topics.into_iter().map(Into::into).collect();
        assert!(
            !group.is_empty(),
            "KafkaSource::group: group must be a non-empty group id (got \"\")"
        );
        assert!(
            !topics.is_empty() && topics.iter().all(|t| !t.is_empty()),
            "KafkaSource::group: topics must name at least one topic, each non-empty (got {topics:?})"
        );
        for key in ["enable.auto.commit", "enable.auto.offset.store"] {
            assert!(
                config.get(key) != Some("true"),
                "KafkaSource::group: config sets {key}=true; it must be false (the source \
                 commits the acked prefix of each partition itself)"
            );
        }
        let mut client = config;
        client
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        for (key, value) in [
            ("auto.offset.reset", "earliest"),
            ("queued.min.messages", "1000"),
            ("queued.max.messages.kbytes", "1024"),
        ] {
            if client.get(key).is_none() {
                client.set(key, value);
            }
        }
        if let Err(error) = client.create_native_config() {
            panic!("KafkaSource::group: config is rejected by librdkafka: {error}");
        }
        KafkaSource {
            config: Arc::new(Config {
                client,
                group,
                topics,
                max_unacked: 1000,
                poll_interval: Duration::from_millis(50),
                commit_interval: Duration::from_millis(100),
                deliver_on: Arc::new(timer()),
            }),
            stats: SourceStats::default(),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Arc::make_mut(&mut self.config));
        self
    }

    /// At most `n` deliveries fetched and not acked (buffered, emitted and held, or dropped
    /// unacked), over all the subscription's partitions. When the bound is reached the
    /// partitions are paused until an ack frees room: acks lag `on_next`, and the bound keeps
    /// the commit bookkeeping (and the redelivery after a crash) bounded.
    ///
    /// # Panics
    ///
    /// If `n` is not in `1..=1_000_000` ([`MAX_UNACKED`]).
    ///
    /// ```
    /// # use rstreams_kafka::{rdkafka::ClientConfig, KafkaSource};
    /// # let mut config = ClientConfig::new();
    /// # config.set("bootstrap.servers", "127.0.0.1:9092");
    /// let source = KafkaSource::group(config, "g", ["t"]).max_unacked(64);
    /// # let _ = source;
    /// ```
    pub fn max_unacked(self, n: u64) -> Self {
        assert!(
            (1..=MAX_UNACKED).contains(&n),
            "KafkaSource::max_unacked: n must be in 1..={MAX_UNACKED} (got {n})"
        );
        self.edit(|c| c.max_unacked = n)
    }

    /// How long one poll waits for a message: it bounds how late the fetcher notices a cancel,
    /// new demand while nothing arrives, and a due commit.
    ///
    /// # Panics
    ///
    /// If `interval` is not in 1 ms..=10 s.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use rstreams_kafka::{rdkafka::ClientConfig, KafkaSource};
    /// # let mut config = ClientConfig::new();
    /// # config.set("bootstrap.servers", "127.0.0.1:9092");
    /// let source = KafkaSource::group(config, "g", ["t"]).poll_interval(Duration::from_millis(20));
    /// # let _ = source;
    /// ```
    pub fn poll_interval(self, interval: Duration) -> Self {
        assert!(
            (Duration::from_millis(1)..=Duration::from_secs(10)).contains(&interval),
            "KafkaSource::poll_interval: interval must be in 1ms..=10s (got {interval:?})"
        );
        self.edit(|c| c.poll_interval = interval)
    }

    /// How often due commits (acked prefixes that moved) are sent: at most one synchronous
    /// commit per interval, covering every partition whose prefix moved. Zero commits after
    /// every ack that moved a prefix (one round trip each).
    ///
    /// # Panics
    ///
    /// If `interval` is longer than 60 s.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use rstreams_kafka::{rdkafka::ClientConfig, KafkaSource};
    /// # let mut config = ClientConfig::new();
    /// # config.set("bootstrap.servers", "127.0.0.1:9092");
    /// let source = KafkaSource::group(config, "g", ["t"]).commit_interval(Duration::from_secs(1));
    /// # let _ = source;
    /// ```
    pub fn commit_interval(self, interval: Duration) -> Self {
        assert!(
            interval <= Duration::from_secs(60),
            "KafkaSource::commit_interval: interval must be in 0s..=60s (got {interval:?})"
        );
        self.edit(|c| c.commit_interval = interval)
    }

    /// Where the downstream's signals run: each subscription's drain loop takes a worker of
    /// `scheduler` (serial, §1.3). The default is the process-wide [`timer()`] pool, so that a
    /// slow `on_next` never holds the fetcher thread: polling, pausing, commits and rebalance
    /// callbacks (which the whole group waits for) go on meanwhile.
    /// [`Immediate`](rstreams_core::scheduler::Immediate) delivers on the fetcher thread
    /// itself (no hand-over; processing then delays the poll loop, and a subscriber that
    /// blocks longer than `max.poll.interval.ms` makes the consumer leave the group).
    ///
    /// ```
    /// # use rstreams_kafka::{rdkafka::ClientConfig, KafkaSource};
    /// # let mut config = ClientConfig::new();
    /// # config.set("bootstrap.servers", "127.0.0.1:9092");
    /// use rstreams::scheduler::ThreadPool;
    ///
    /// let source = KafkaSource::group(config, "g", ["t"]).deliver_on(ThreadPool::new(2));
    /// # let _ = source;
    /// ```
    pub fn deliver_on(self, scheduler: impl Scheduler) -> Self {
        let scheduler: Arc<dyn Scheduler> = Arc::new(scheduler);
        self.edit(|c| c.deliver_on = scheduler)
    }

    /// What this source's subscriptions are doing now (summed over its live subscriptions):
    /// buffered, unacked, assigned and paused partitions, and counters.
    ///
    /// ```
    /// # use rstreams_kafka::{rdkafka::ClientConfig, KafkaSource};
    /// # let mut config = ClientConfig::new();
    /// # config.set("bootstrap.servers", "127.0.0.1:9092");
    /// let source = KafkaSource::group(config, "g", ["t"]);
    /// let stats = source.stats();
    /// assert_eq!(stats.buffered(), 0); // not subscribed yet
    /// ```
    pub fn stats(&self) -> SourceStats {
        self.stats.clone()
    }
}

/// What the subscriptions of one [`KafkaSource`] are doing, read when asked: a handle from
/// [`KafkaSource::stats`], shared by the source's clones.
#[derive(Clone, Default)]
pub struct SourceStats {
    inner: Arc<StatsInner>,
}

#[derive(Default)]
struct StatsInner {
    /// The live subscriptions (a dead `Weak` is skipped and pruned on the next subscribe).
    live: Mutex<Vec<Weak<Shared>>>,
    /// Messages fetched (taken from the client) so far, rewound ones included.
    fetched: AtomicU64,
    /// Messages fetched past the window (raced with a pause) and rewound with a seek.
    rewound: AtomicU64,
    /// Times the assigned partitions were paused.
    pauses: AtomicU64,
    /// Times they were resumed.
    resumes: AtomicU64,
    /// Commits the broker accepted.
    commits: AtomicU64,
    /// Commits that failed (retried).
    commit_errors: AtomicU64,
    /// Non-fatal errors returned by poll (retried by the client).
    poll_errors: AtomicU64,
    /// Subscriptions whose fetcher has committed, left the group and stopped.
    closed: AtomicU64,
    /// Buffered messages discarded because their partition was revoked.
    discarded: AtomicU64,
}

impl fmt::Debug for SourceStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceStats")
            .field("buffered", &self.buffered())
            .field("unacked", &self.unacked())
            .field("assigned", &self.assigned())
            .field("paused", &self.paused())
            .field("fetched", &self.fetched())
            .finish()
    }
}

impl SourceStats {
    fn sum(&self, f: impl Fn(&Shared) -> u64) -> u64 {
        let live = self.inner.live.lock();
        live.iter().filter_map(Weak::upgrade).map(|s| f(&s)).sum()
    }

    /// Messages fetched and not yet emitted downstream (the source's buffer); never more than
    /// the outstanding demand.
    ///
    /// ```
    /// # let stats = rstreams_kafka::SourceStats::default();
    /// assert_eq!(stats.buffered(), 0);
    /// ```
    pub fn buffered(&self) -> u64 {
        self.sum(|s| s.feeder.buffered() as u64)
    }

    /// Deliveries fetched and not acked (the [`max_unacked`](KafkaSource::max_unacked) count).
    ///
    /// ```
    /// # let stats = rstreams_kafka::SourceStats::default();
    /// assert_eq!(stats.unacked(), 0);
    /// ```
    pub fn unacked(&self) -> u64 {
        self.sum(|s| s.ledger.lock().unacked())
    }

    /// Partitions assigned now.
    ///
    /// ```
    /// # let stats = rstreams_kafka::SourceStats::default();
    /// assert_eq!(stats.assigned(), 0);
    /// ```
    pub fn assigned(&self) -> u64 {
        self.sum(|s| s.assigned.load(Ordering::Acquire))
    }

    /// Assigned partitions paused now (because the window is closed).
    ///
    /// ```
    /// # let stats = rstreams_kafka::SourceStats::default();
    /// assert_eq!(stats.paused(), 0);
    /// ```
    pub fn paused(&self) -> u64 {
        self.sum(|s| {
            if s.paused.load(Ordering::Acquire) {
                s.assigned.load(Ordering::Acquire)
            } else {
                0
            }
        })
    }

    /// Messages fetched from the client so far (rewound ones included).
    ///
    /// ```
    /// # let stats = rstreams_kafka::SourceStats::default();
    /// assert_eq!(stats.fetched(), 0);
    /// ```
    pub fn fetched(&self) -> u64 {
        self.inner.fetched.load(Ordering::Acquire)
    }

    /// Messages that arrived past the window (racing a pause) and were rewound (the partition
    /// is sought back to them; they are fetched again after the resume).
    ///
    /// ```
    /// # let stats = rstreams_kafka::SourceStats::default();
    /// assert_eq!(stats.rewound(), 0);
    /// ```
    pub fn rewound(&self) -> u64 {
        self.inner.rewound.load(Ordering::Acquire)
    }

    /// How many times the partitions were paused.
    ///
    /// ```
    /// # let stats = rstreams_kafka::SourceStats::default();
    /// assert_eq!(stats.pauses(), 0);
    /// ```
    pub fn pauses(&self) -> u64 {
        self.inner.pauses.load(Ordering::Acquire)
    }

    /// How many times they were resumed.
    ///
    /// ```
    /// # let stats = rstreams_kafka::SourceStats::default();
    /// assert_eq!(stats.resumes(), 0);
    /// ```
    pub fn resumes(&self) -> u64 {
        self.inner.resumes.load(Ordering::Acquire)
    }

    /// Commits the broker accepted.
    ///
    /// ```
    /// # let stats = rstreams_kafka::SourceStats::default();
    /// assert_eq!(stats.commits(), 0);
    /// ```
    pub fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Acquire)
    }

    /// Commits that failed (each is retried at the next interval).
    ///
    /// ```
    /// # let stats = rstreams_kafka::SourceStats::default();
    /// assert_eq!(stats.commit_errors(), 0);
    /// ```
    pub fn commit_errors(&self) -> u64 {
        self.inner.commit_errors.load(Ordering::Acquire)
    }

    /// Non-fatal errors: those the consumer reported (a broker down, a connection reset),
    /// which librdkafka retries, and failed pauses or resumes, which the fetcher retries.
    ///
    /// ```
    /// # let stats = rstreams_kafka::SourceStats::default();
    /// assert_eq!(stats.poll_errors(), 0);
    /// ```
    pub fn poll_errors(&self) -> u64 {
        self.inner.poll_errors.load(Ordering::Acquire)
    }

    /// Buffered (fetched, not yet emitted) messages discarded because a rebalance revoked
    /// their partition: the partition's new owner fetches them from the committed offset.
    ///
    /// ```
    /// # let stats = rstreams_kafka::SourceStats::default();
    /// assert_eq!(stats.discarded(), 0);
    /// ```
    pub fn discarded(&self) -> u64 {
        self.inner.discarded.load(Ordering::Acquire)
    }

    /// Subscriptions that have ended and whose consumer has committed its acked prefix, left
    /// the group and stopped (acks of their deliveries now return [`Acked::Closed`]).
    ///
    /// ```
    /// # let stats = rstreams_kafka::SourceStats::default();
    /// assert_eq!(stats.closed(), 0);
    /// ```
    pub fn closed(&self) -> u64 {
        self.inner.closed.load(Ordering::Acquire)
    }
}

impl Publisher for KafkaSource {
    type Item = Delivery<Option<Vec<u8>>>;

    fn subscribe<S: Subscriber<Self::Item> + 'static>(&self, subscriber: S) {
        // The demand, the buffer, the end and cancel: support's feed. The unacked bound is
        // the ledger's (acks go through it), applied in `Shared::window`.
        let worker = self.config.deliver_on.worker();
        let feeder = Feed::new(STAGE).start(subscriber, EngineConfig::new().on(worker));
        let shared = Arc::new(Shared {
            feeder: feeder.clone(),
            ledger: Mutex::new(Ledger::default()),
            paused: AtomicBool::new(false),
            assigned: AtomicU64::new(0),
            resync: AtomicBool::new(false),
            max_unacked: self.config.max_unacked,
            stats: Arc::clone(&self.stats.inner),
        });
        {
            let mut live = self.stats.inner.live.lock();
            live.retain(|w| w.strong_count() > 0);
            live.push(Arc::downgrade(&shared));
        }
        let config = Arc::clone(&self.config);
        feeder.spawn(format!("rstreams-kafka {}", config.group), move |_| {
            fetch(&config, &shared);
            Ok(())
        });
    }
}

/// What the fetcher thread, the subscription and the deliveries share.
pub(crate) struct Shared {
    /// The fetcher's side of the subscription: demand, buffer, end, cancel.
    feeder: Feeder<Delivery<Option<Vec<u8>>>>,
    /// The commit bookkeeping; deliveries ack into it.
    ledger: Mutex<Ledger>,
    /// The assigned partitions are paused (the window was closed when last checked); set
    /// only by the fetcher thread, read by the stats.
    paused: AtomicBool,
    /// How many partitions are assigned now; set only by the fetcher thread.
    assigned: AtomicU64,
    /// Pausing or resuming new partitions failed in the rebalance callback: the loop sets the
    /// whole assignment again.
    resync: AtomicBool,
    max_unacked: u64,
    stats: Arc<StatsInner>,
}

impl Shared {
    /// An ack of a delivery (see [`Delivery::ack`]).
    pub(crate) fn ack(&self, tp: &TopicPartition, offset: i64, epoch: u64) -> Acked {
        self.ledger.lock().ack(tp, offset, epoch)
    }

    /// How many more messages may be fetched now: outstanding demand beyond the buffer, capped
    /// by the room under `max_unacked`.
    fn window(&self) -> u64 {
        // 0 once the subscription (or the feed) has ended.
        let want = self.feeder.window();
        if want == 0 {
            return 0;
        }
        let room = self
            .max_unacked
            .saturating_sub(self.ledger.lock().unacked());
        want.min(room)
    }
}

/// The consumer's context: runs the rebalance callbacks on the fetcher thread (inside poll).
struct FetchContext {
    shared: Arc<Shared>,
}

impl ClientContext for FetchContext {}

impl ConsumerContext for FetchContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(revoked) = rebalance {
            revoke(consumer, &self.shared, revoked);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(assigned) = rebalance {
            assign(consumer, &self.shared, assigned);
        }
    }
}

fn partitions(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

/// Partitions were revoked: commit their acked prefixes, discard their buffered messages, and
/// make acks of their deliveries no-ops.
fn revoke(consumer: &BaseConsumer<FetchContext>, shared: &Shared, revoked: &TopicPartitionList) {
    let revoked = partitions(revoked);
    let mut due = TopicPartitionList::new();
    {
        let mut ledger = shared.ledger.lock();
        for tp in &revoked {
            if let Some(offset) = ledger.revoke(tp) {
                let _ = due.add_partition_offset(&tp.0, tp.1, Offset::Offset(offset));
            }
        }
    }
    if due.count() > 0 {
        let counter = match consumer.commit(&due, CommitMode::Sync) {
            Ok(()) => &shared.stats.commits,
            Err(_) => &shared.stats.commit_errors,
        };
        counter.fetch_add(1, Ordering::AcqRel);
    }
    // Not acked, and no longer ours: the new owner fetches them.
    let discarded = shared.feeder.discard(|d| {
        revoked
            .iter()
            .any(|(t, p)| d.topic() == t && d.partition() == *p)
    });
    shared
        .stats
        .discarded
        .fetch_add(discarded as u64, Ordering::AcqRel);
    let left = shared
        .assigned
        .load(Ordering::Acquire)
        .saturating_sub(revoked.len() as u64);
    shared.assigned.store(left, Ordering::Release);
}

/// Partitions were assigned: start their bookkeeping, and pause or resume them as the window
/// says. Both, explicitly: librdkafka keeps a partition's pause across a revoke, so a
/// partition paused before a rebalance and assigned again would otherwise stay paused.
fn assign(consumer: &BaseConsumer<FetchContext>, shared: &Shared, assigned: &TopicPartitionList) {
    {
        let mut ledger = shared.ledger.lock();
        for tp in partitions(assigned) {
            ledger.assign(tp);
        }
    }
    let set = if shared.paused.load(Ordering::Acquire) {
        consumer.pause(assigned)
    } else {
        consumer.resume(assigned)
    };
    if set.is_err() {
        // The loop pauses or resumes the whole assignment again next round.
        shared.resync.store(true, Ordering::Release);
    }
    shared
        .assigned
        .fetch_add(assigned.count() as u64, Ordering::AcqRel);
}

fn kafka_error(what: &str, error: KafkaError) -> Error {
    Error::new(error).context(what).in_stage(STAGE)
}

/// The fetcher thread: polls as the window allows until cancelled or failed.
fn fetch(config: &Arc<Config>, shared: &Arc<Shared>) {
    let ended = fetch_loop(config, shared);
    // Acks from now on are no-ops (also when the consumer could not even be created).
    drop(shared.ledger.lock().close());
    shared.stats.closed.fetch_add(1, Ordering::AcqRel);
    if let Err(error) = ended {
        // At once, without waiting for demand (§1.4), dropping the buffer: its consumer is
        // gone, so buffered deliveries could not be acked any more.
        shared.feeder.abort(error);
    }
}

fn fetch_loop(config: &Arc<Config>, shared: &Arc<Shared>) -> Result<(), Error> {
    let c = &**config;
    let context = FetchContext {
        shared: Arc::clone(shared),
    };
    let consumer: BaseConsumer<FetchContext> =
        BaseConsumer::from_config_and_context(&c.client, context)
            .map_err(|e| kafka_error("creating the consumer", e))?;
    let topics: Vec<&str> = c.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|e| kafka_error("subscribing", e))?;
    let result = run(c, &consumer, shared);
    // Commit what was acked, then close (leaving the group) as the consumer is dropped.
    let due = shared.ledger.lock().close();
    commit(&consumer, shared, due);
    drop(consumer);
    result
}

fn run(
    c: &Config,
    consumer: &BaseConsumer<FetchContext>,
    shared: &Arc<Shared>,
) -> Result<(), Error> {
    let mut last_commit = Instant::now();
    loop {
        if shared.feeder.is_cancelled() {
            return Ok(());
        }
        let window = shared.window();
        let pause = window == 0;
        let resync = shared.resync.swap(false, Ordering::AcqRel);
        if resync || pause != shared.paused.load(Ordering::Acquire) {
            let set = consumer.assignment().and_then(|assignment| {
                if pause {
                    consumer.pause(&assignment)
                } else {
                    consumer.resume(&assignment)
                }
            });
            match set {
                Ok(()) => {
                    let counter = if pause {
                        &shared.stats.pauses
                    } else {
                        &shared.stats.resumes
                    };
                    counter.fetch_add(1, Ordering::AcqRel);
                    shared.paused.store(pause, Ordering::Release);
                }
                // Tried again next round (a message fetched past the window meanwhile is
                // rewound below).
                Err(_) => {
                    shared.stats.poll_errors.fetch_add(1, Ordering::AcqRel);
                    shared.resync.store(true, Ordering::Release);
                }
            }
        }
        match consumer.poll(c.poll_interval) {
            None => {}
            Some(Ok(message)) => {
                shared.stats.fetched.fetch_add(1, Ordering::AcqRel);
                let tp = (message.topic().to_owned(), message.partition());
                let offset = message.offset();
                // The window can only have grown since it was read (only this thread fills
                // the buffer and the ledger); a message past it raced the pause: rewind.
                if shared.window() == 0 {
                    let rewind = Offset::Offset(offset);
                    if consumer
                        .seek(&tp.0, tp.1, rewind, Duration::from_secs(10))
                        .is_ok()
                    {
                        drop(message);
                        shared.stats.rewound.fetch_add(1, Ordering::AcqRel);
                        continue;
                    }
                    // Not rewound: deliver it (one past the demand) rather than lose it.
                }
                let Some(epoch) = shared.ledger.lock().fetched(&tp, offset) else {
                    continue; // not assigned to us (any more): the owner fetches it
                };
                let fetched = Fetched {
                    topic: Arc::from(message.topic()),
                    partition: tp.1,
                    offset,
                    key: message.key().map(<[u8]>::to_vec),
                    payload: message.payload().map(<[u8]>::to_vec),
                    timestamp: message.timestamp().to_millis(),
                };
                drop(message);
                let delivery = Delivery::new(fetched, epoch, shared);
                // Refused after cancel: not acked, redelivered to the partition's next owner.
                if !shared.feeder.push(delivery) {
                    return Ok(());
                }
            }
            Some(Err(KafkaError::MessageConsumptionFatal(code))) => {
                return Err(kafka_error(
                    "consuming",
                    KafkaError::MessageConsumptionFatal(code),
                ));
            }
            Some(Err(_)) => {
                if let Some((code, reason)) = consumer.client().fatal_error() {
                    return Err(Error::msg(format!("fatal client error {code:?}: {reason}"))
                        .in_stage(STAGE));
                }
                shared.stats.poll_errors.fetch_add(1, Ordering::AcqRel);
            }
        }
        if last_commit.elapsed() >= c.commit_interval {
            let due = shared.ledger.lock().due();
            commit(consumer, shared, due);
            last_commit = Instant::now();
        }
    }
}

/// Commits `due` synchronously and records what the broker accepted.
fn commit(
    consumer: &BaseConsumer<FetchContext>,
    shared: &Shared,
    due: Vec<(TopicPartition, i64, u64)>,
) {
    if due.is_empty() {
        return;
    }
    let mut tpl = TopicPartitionList::new();
    for (tp, offset, _) in &due {
        let _ = tpl.add_partition_offset(&tp.0, tp.1, Offset::Offset(*offset));
    }
    match consumer.commit(&tpl, CommitMode::Sync) {
        Ok(()) => {
            let mut ledger = shared.ledger.lock();
            for (tp, offset, epoch) in &due {
                ledger.committed(tp, *offset, *epoch);
            }
            drop(ledger);
            shared.stats.commits.fetch_add(1, Ordering::AcqRel);
        }
        Err(_) => {
            shared.stats.commit_errors.fetch_add(1, Ordering::AcqRel);
        }
    }
}
