//! [`StreamSource`]: a consumer of a Redis consumer group whose demand is `XREADGROUP COUNT`.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::{Client, Connection, Value};
use rstreams_core::support::{EngineConfig, Feed, Feeder};
use rstreams_core::{Error, Publisher, Subscriber};

use crate::delivery::{Acker, Delivery, Entry};
use crate::reconnect::{is_transient, Attempts, Reconnect};
use crate::wire;

/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

const STAGE: &str = "redis stream source";

/// A publisher of the entries of a Redis stream, read as one consumer of a consumer group.
///
/// Each subscription is the consumer `consumer` of the group `group` on the stream `stream`:
/// it reads with `XREADGROUP GROUP group consumer COUNT n BLOCK t STREAMS stream >`, where `n`
/// is the outstanding demand minus what is already buffered, capped by the room left under
/// [`max_unacked`](Self::max_unacked). At zero demand (or a full unacked bound) nothing is
/// read. The group is created (at the start of the stream, `XGROUP CREATE stream group 0
/// MKSTREAM`) if it is missing.
///
/// Every element is a [`Delivery`] that stays in the group's pending entries list until
/// [`Delivery::ack`]: delivery is **at least once** (see the [crate docs](crate)).
///
/// Entries pending longer than the [`lease`](Self::lease) — a crashed consumer's, a
/// [`nack`](Delivery::nack)ed one, this consumer's own after a restart — are taken over with
/// `XAUTOCLAIM` (bounded by the same demand) and delivered again, with their
/// [`delivery_count`](Delivery::delivery_count).
///
/// # Threads
///
/// The blocking reads run on a dedicated fetcher thread per subscription (one connection for
/// reads and claims, one for acks). The thread waits for demand, reads, buffers what it got
/// and wakes the subscription, whose drain loop then delivers on that thread (or on a
/// requester's). `cancel` stops it within one [`block`](Self::block) timeout. Entries buffered
/// but not yet delivered when the subscription ends are not acked: they stay pending and are
/// reclaimed after the lease.
///
/// ```no_run
/// use std::time::Duration;
///
/// use rstreams::{sink, Publisher};
/// use rstreams_redis::{Delivery, Entry, StreamSource};
///
/// let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
/// let orders = StreamSource::group(client, "orders", "billing", "worker-1")
///     .max_unacked(64)
///     .lease(Duration::from_secs(60));
/// orders.subscribe(sink::for_each(|delivery: Delivery<Entry>| {
///     println!("{:?}", delivery.value.get_str("amount"));
///     delivery.ack().unwrap();
/// }));
/// ```
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct StreamSource {
    config: Arc<Config>,
}

struct Config {
    client: Client,
    stream: String,
    group: String,
    consumer: String,
    max_unacked: u64,
    lease: Duration,
    block: Duration,
    reconnect: Reconnect,
}

impl fmt::Debug for StreamSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("StreamSource")
            .field("stream", &c.stream)
            .field("group", &c.group)
            .field("consumer", &c.consumer)
            .field("max_unacked", &c.max_unacked)
            .field("lease", &c.lease)
            .field("block", &c.block)
            .field("reconnect", &c.reconnect)
            .finish()
    }
}

impl StreamSource {
    /// The consumer `consumer` of the group `group` on `stream`, through `client`.
    ///
    /// Defaults: [`max_unacked`](Self::max_unacked) 256, [`lease`](Self::lease) 30 s,
    /// [`block`](Self::block) 100 ms, [`reconnect`](Self::reconnect)
    /// `Reconnect::default()` (10 attempts, 100 ms to 5 s).
    ///
    /// ```no_run
    /// use rstreams_redis::StreamSource;
    ///
    /// let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    /// let source = StreamSource::group(client, "events", "indexer", "indexer-a");
    /// # let _ = source;
    /// ```
    pub fn group(
        client: Client,
        stream: impl Into<String>,
        group: impl Into<String>,
        consumer: impl Into<String>,
    ) -> Self {
        StreamSource {
            config: Arc::new(Config {
                client,
                stream: stream.into(),
                group: group.into(),
                consumer: consumer.into(),
                max_unacked: 256,
                lease: Duration::from_secs(30),
                block: Duration::from_millis(100),
                reconnect: Reconnect::default(),
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Config)) -> Self {
        match Arc::get_mut(&mut self.config) {
            Some(config) => f(config),
            None => {
                let c = &self.config;
                let mut copy = Config {
                    client: c.client.clone(),
                    stream: c.stream.clone(),
                    group: c.group.clone(),
                    consumer: c.consumer.clone(),
                    max_unacked: c.max_unacked,
                    lease: c.lease,
                    block: c.block,
                    reconnect: c.reconnect,
                };
                f(&mut copy);
                self.config = Arc::new(copy);
            }
        }
        self
    }

    /// At most `n` deliveries held at once: read (buffered or emitted) and neither
    /// [`ack`](Delivery::ack)ed, [`nack`](Delivery::nack)ed nor dropped. When the bound is
    /// reached, demand is withheld from the broker until a delivery is settled. Demand alone
    /// does not bound the pending list: acks lag `on_next`.
    ///
    /// # Panics
    ///
    /// If `n` is 0.
    ///
    /// ```no_run
    /// # let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    /// let source = rstreams_redis::StreamSource::group(client, "s", "g", "c").max_unacked(10);
    /// # let _ = source;
    /// ```
    pub fn max_unacked(self, n: u64) -> Self {
        assert!(n > 0, "max_unacked must be at least 1");
        self.edit(|c| c.max_unacked = n)
    }

    /// How long an entry may stay pending (read, not acked) before any consumer of the group
    /// may claim it with `XAUTOCLAIM` and deliver it again. Make it longer than the worst
    /// processing time: an entry claimed while its first holder still works on it is processed
    /// twice (and the first holder's ack acks it for the group).
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    /// let source = rstreams_redis::StreamSource::group(client, "s", "g", "c")
    ///     .lease(Duration::from_secs(120));
    /// # let _ = source;
    /// ```
    pub fn lease(self, lease: Duration) -> Self {
        self.edit(|c| c.lease = lease)
    }

    /// The `BLOCK` timeout of each read: how long the fetcher waits for new entries before
    /// checking for cancel and for entries to reclaim. It bounds how late a cancel is noticed.
    /// At least 1 ms.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    /// let source = rstreams_redis::StreamSource::group(client, "s", "g", "c")
    ///     .block(Duration::from_millis(50));
    /// # let _ = source;
    /// ```
    pub fn block(self, block: Duration) -> Self {
        self.edit(|c| c.block = block.max(Duration::from_millis(1)))
    }

    /// How the fetcher gets its connection back after it breaks (see [`Reconnect`]).
    ///
    /// On a connection error (a server restart, a dropped network, a read that outlived
    /// `block` + 10 s) the fetcher waits as the policy says, connects again, creates the group
    /// again if the server lost it (`XGROUP CREATE ... 0 MKSTREAM`, a no-op when it exists),
    /// restarts its `XAUTOCLAIM` scan and goes on reading. The subscription sees nothing but a
    /// pause: demand, buffered deliveries and held deliveries are untouched. Entries whose read
    /// was cut off (the server recorded them as delivered to this consumer, the reply never
    /// arrived) stay pending and are claimed again after the [lease](Self::lease) — at least
    /// once, nothing lost as long as the server kept its data (AOF, see the
    /// [crate docs](crate)).
    ///
    /// When the policy's attempts are used up, the subscription fails with `on_error`, naming
    /// the stream, group and consumer, the number of attempts and the last error.
    ///
    /// Acks during the outage fail and return the error: see [`Delivery::ack`].
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    /// use rstreams_redis::{Reconnect, StreamSource};
    ///
    /// let source = StreamSource::group(client, "s", "g", "c").reconnect(
    ///     Reconnect::exponential(Duration::from_millis(200), Duration::from_secs(10))
    ///         .max_attempts(20),
    /// );
    /// # let _ = source;
    /// ```
    pub fn reconnect(self, policy: Reconnect) -> Self {
        self.edit(|c| c.reconnect = policy)
    }
}

impl Publisher for StreamSource {
    type Item = Delivery<Entry>;

    fn subscribe<S: Subscriber<Delivery<Entry>> + 'static>(&self, subscriber: S) {
        // The demand, the buffer, the unacked bound and cancel: support's feed. Entries
        // buffered when the subscription ends are dropped unacked: they stay pending, to be
        // reclaimed after the lease.
        let feeder = Feed::new(STAGE)
            .max_held(self.config.max_unacked)
            .start(subscriber, EngineConfig::new());
        let config = Arc::clone(&self.config);
        feeder.spawn(
            format!("rstreams-redis {}", config.consumer),
            move |feeder| fetch_loop(&config, feeder),
        );
    }
}

fn redis_error(what: &str, error: redis::RedisError) -> Error {
    Error::new(error).context(what).in_stage(STAGE)
}

/// Why a round of the fetcher failed: a Redis error (retried when it is a connection error),
/// or anything else (reported at once).
enum Failure {
    Redis(&'static str, redis::RedisError),
    Other(Error),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::Other(error)
    }
}

fn redis_failure(what: &'static str) -> impl FnOnce(redis::RedisError) -> Failure {
    move |e| Failure::Redis(what, e)
}

/// A new reading connection: read timeout set, group created if missing.
fn connect(c: &Config) -> Result<Connection, Failure> {
    let mut conn = c
        .client
        .get_connection_with_timeout(CONNECT_TIMEOUT)
        .map_err(redis_failure("connecting"))?;
    // The sync connection has no response timeout by default; keep one well above BLOCK so
    // that a dead server breaks the connection (and reconnection starts) instead of hanging
    // the thread.
    conn.set_read_timeout(Some(c.block + Duration::from_secs(10)))
        .map_err(redis_failure("setting the read timeout"))?;
    create_group(&mut conn, c)?;
    Ok(conn)
}

/// The fetcher thread: reads as the demand allows until cancelled or failed.
fn fetch_loop(config: &Arc<Config>, feeder: &Feeder<Delivery<Entry>>) -> Result<(), Error> {
    let c = &**config;
    let acker = Arc::new(Acker::new(
        c.client.clone(),
        c.stream.clone(),
        c.group.clone(),
        feeder.unsettled(),
    ));
    let mut attempts = Attempts::new(c.reconnect);
    // The reading connection: `None` before the first connection and after one broke.
    let mut conn: Option<Connection> = None;

    let mut last_claim: Option<Instant> = None;
    let mut cursor = String::from("0-0");
    loop {
        let round = match conn.as_mut() {
            Some(live) => {
                let Some(n) = feeder.wait_for_demand() else {
                    return Ok(());
                };
                read_round(live, c, &acker, n, &mut cursor, &mut last_claim).map(Some)
            }
            // Connect (and create the group) before waiting for demand, so that a server that
            // cannot be reached is reported to a subscriber that has requested nothing (§1.4).
            None if feeder.is_cancelled() => return Ok(()),
            None => connect(c).map(|fresh| {
                conn = Some(fresh);
                None
            }),
        };
        let got = match round {
            // Only a read that succeeded ends a run of failures: a server that accepts
            // connections but fails every read still runs out of attempts.
            Ok(Some(got)) => {
                attempts.succeeded();
                got
            }
            Ok(None) => continue, // connected: read on the next round
            Err(Failure::Redis(what, e)) if is_transient(&e) => {
                conn = None;
                // Start the pending scan again on the new connection.
                cursor = String::from("0-0");
                last_claim = None;
                match attempts.failed() {
                    Some(delay) => {
                        if !feeder.pause(delay) {
                            return Ok(()); // cancelled while waiting
                        }
                        continue;
                    }
                    None => return Err(give_up(c, attempts.count(), what, e)),
                }
            }
            Err(Failure::Redis(what, e)) => return Err(redis_error(what, e)),
            Err(Failure::Other(error)) => return Err(error),
        };
        if got.is_empty() {
            continue;
        }
        // Refused after cancel: dropped unacked, pending, reclaimable after the lease.
        if !feeder.push_batch(got) {
            return Ok(());
        }
    }
}

/// The error when reconnection gives up: the stream, the attempts, the last error.
fn give_up(c: &Config, attempts: u32, what: &str, error: redis::RedisError) -> Error {
    Error::new(error)
        .context(format!(
            "{what} on stream {:?} (group {:?}, consumer {:?}); gave up after {attempts} reconnection attempts",
            c.stream, c.group, c.consumer
        ))
        .in_stage(STAGE)
}

/// One round: reclaim what outlived the lease (every `claim_every`), otherwise read new
/// entries; up to `n`.
fn read_round(
    conn: &mut Connection,
    c: &Config,
    acker: &Arc<Acker>,
    n: u64,
    cursor: &mut String,
    last_claim: &mut Option<Instant>,
) -> Result<Vec<Delivery<Entry>>, Failure> {
    let claim_every = (c.lease / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
    let mut got: Vec<Delivery<Entry>> = Vec::new();
    if last_claim.is_none_or(|t| t.elapsed() >= claim_every) {
        *last_claim = Some(Instant::now());
        let (next, claimed) = autoclaim(conn, c, cursor, n)?;
        if next != "0-0" {
            *last_claim = None; // more to scan: go on next round
        }
        *cursor = next;
        for (entry, count) in claimed {
            got.push(Delivery::new(entry, count, acker));
        }
    }
    if got.is_empty() {
        for entry in read_group(conn, c, n)? {
            got.push(Delivery::new(entry, 1, acker));
        }
    }
    Ok(got)
}

fn create_group(conn: &mut Connection, c: &Config) -> Result<(), Failure> {
    let created: Result<Value, _> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&c.stream)
        .arg(&c.group)
        .arg("0")
        .arg("MKSTREAM")
        .query(conn);
    match created {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        Err(e) => Err(Failure::Redis("XGROUP CREATE", e)),
    }
}

/// `XREADGROUP ... COUNT n BLOCK t STREAMS s >`: up to `n` new entries, or none after `t`.
fn read_group(conn: &mut Connection, c: &Config, n: u64) -> Result<Vec<Entry>, Failure> {
    let reply: Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(&c.group)
        .arg(&c.consumer)
        .arg("COUNT")
        .arg(n)
        .arg("BLOCK")
        .arg(c.block.as_millis() as u64)
        .arg("STREAMS")
        .arg(&c.stream)
        .arg(">")
        .query(conn)
        .map_err(redis_failure("XREADGROUP"))?;
    let entries = wire::read_reply(reply).map_err(|m| Error::msg(m).in_stage(STAGE))?;
    if entries.len() as u64 > n {
        // Over-delivery is a protocol error, never a bigger buffer.
        return Err(Failure::Other(
            Error::protocol(
                "1.1",
                format!("XREADGROUP COUNT {n} returned {} entries", entries.len()),
            )
            .in_stage(STAGE),
        ));
    }
    Ok(entries)
}

/// `XAUTOCLAIM s g c lease cursor COUNT n`, then the delivery count of each claimed entry
/// (`XPENDING s g id id 1`). Returns the next cursor and the claimed entries.
fn autoclaim(
    conn: &mut Connection,
    c: &Config,
    cursor: &str,
    n: u64,
) -> Result<(String, Vec<(Entry, u64)>), Failure> {
    let reply: Value = redis::cmd("XAUTOCLAIM")
        .arg(&c.stream)
        .arg(&c.group)
        .arg(&c.consumer)
        .arg(c.lease.as_millis() as u64)
        .arg(cursor)
        .arg("COUNT")
        .arg(n)
        .query(conn)
        .map_err(redis_failure("XAUTOCLAIM"))?;
    let (next, entries) =
        wire::autoclaim_reply(reply).map_err(|m| Error::msg(m).in_stage(STAGE))?;
    if entries.is_empty() {
        return Ok((next, Vec::new()));
    }
    let mut pipe = redis::pipe();
    for entry in &entries {
        pipe.cmd("XPENDING")
            .arg(&c.stream)
            .arg(&c.group)
            .arg(&entry.id)
            .arg(&entry.id)
            .arg(1);
    }
    let counts: Vec<Value> = pipe.query(conn).map_err(redis_failure("XPENDING"))?;
    let mut claimed = Vec::with_capacity(entries.len());
    for (entry, pending) in entries.into_iter().zip(counts) {
        // Acked meanwhile (by its first holder): nothing to deliver.
        if let Some(count) = wire::pending_count(pending) {
            claimed.push((entry, count));
        }
    }
    Ok((next, claimed))
}
