//! [`StreamSink`]: a subscriber that appends each element to a stream with `XADD`.

use std::fmt;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use redis::{Client, Cmd, Connection, ToRedisArgs};
use rstreams_core::support::{Outbox, OutboxWriter, Written};
use rstreams_core::{Error, Subscriber, Subscription};

use crate::reconnect::{is_transient, Attempts, Reconnect};

const STAGE: &str = "redis stream sink";

/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A subscriber that appends each element to the stream `stream` with `XADD` (`MAXLEN ~ n`
/// when [`max_len`](Self::max_len) is set).
///
/// An element is anything that iterates over `(field, value)` pairs (a `Vec<(&str, String)>`,
/// a `HashMap`, an array of pairs); an element with no field fails the write.
///
/// # Bounded in flight
///
/// The writes run on a writer thread with its own connection. The sink requests
/// [`in_flight`](Self::in_flight) elements at first and one more each time a write completes,
/// so at most that many elements are received and not yet written. An upstream that sends more
/// than it was asked for fails the sink (§1.1).
///
/// # Reconnection, and the duplicate it may cost
///
/// A write that fails on a connection error (the server restarted, the network dropped, no
/// reply within [`response_timeout`](Self::response_timeout)) is written again on a new
/// connection, after the waits of the [`reconnect`](Self::reconnect) policy; the sink requests
/// nothing more meanwhile, so the upstream slows down to the outage and the bound above holds.
/// When the policy's attempts are used up, the sink cancels the upstream and its handle returns
/// the last error, naming the stream and the number of attempts.
///
/// `XADD ... *` is not idempotent: the server chooses the id, so a write cannot be recognised
/// when it is sent again. When the connection breaks *after* the server executed the write but
/// *before* its reply arrived, the write again adds a second entry with the same fields and a
/// later id. The sink therefore writes **at least once**: nothing received is lost (a write is
/// given up only with an error the handle reports), and an element may appear twice around a
/// connection failure. A consumer that must not see it twice dedupes on a key of the producer's
/// own in the fields (an order id, a sequence number), never on the entry id. (Resending only
/// when the command surely never left would lose the writes cut off in the other case: the
/// client cannot tell the two apart.)
///
/// # Completion
///
/// [`handle`](Self::handle) gives a [`SinkHandle`] to wait on: after the upstream completes
/// and every received element is written it returns how many were written. A write that fails
/// for good (an error other than a lost connection, or the reconnection attempts used up)
/// cancels the upstream and the handle returns the error; an upstream error is returned after
/// the elements received before it are written.
///
/// ```no_run
/// use rstreams::{source, Publisher};
/// use rstreams_redis::StreamSink;
///
/// let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
/// let sink = StreamSink::new(client, "readings").max_len(10_000).in_flight(32);
/// let handle = sink.handle();
/// let readings: Vec<Vec<(&str, String)>> =
///     (0..100).map(|i| vec![("reading", i.to_string())]).collect();
/// source::from_iter(readings).subscribe(sink);
/// assert_eq!(handle.wait().unwrap(), 100);
/// ```
pub struct StreamSink {
    client: Client,
    stream: String,
    max_len: Option<u64>,
    in_flight: u64,
    reconnect: Reconnect,
    response_timeout: Duration,
    /// The queue to the writer thread, the in-flight bound, the outcome: support's outbox.
    outbox: Outbox<Cmd>,
}

impl fmt::Debug for StreamSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamSink")
            .field("stream", &self.stream)
            .field("max_len", &self.max_len)
            .field("in_flight", &self.in_flight)
            .field("reconnect", &self.reconnect)
            .field("response_timeout", &self.response_timeout)
            .finish()
    }
}

impl StreamSink {
    /// A sink appending to `stream` through `client`; [`in_flight`](Self::in_flight) 16,
    /// [`reconnect`](Self::reconnect) `Reconnect::default()` (10 attempts, 100 ms to 5 s),
    /// [`response_timeout`](Self::response_timeout) 30 s.
    ///
    /// ```no_run
    /// let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    /// let sink = rstreams_redis::StreamSink::new(client, "events");
    /// # let _ = sink;
    /// ```
    pub fn new(client: Client, stream: impl Into<String>) -> Self {
        StreamSink {
            client,
            stream: stream.into(),
            max_len: None,
            in_flight: 16,
            reconnect: Reconnect::default(),
            response_timeout: Duration::from_secs(30),
            outbox: Outbox::new(STAGE),
        }
    }

    /// Trims the stream to about `n` entries as it writes (`XADD stream MAXLEN ~ n * ...`).
    ///
    /// ```no_run
    /// # let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    /// let sink = rstreams_redis::StreamSink::new(client, "events").max_len(1_000);
    /// # let _ = sink;
    /// ```
    pub fn max_len(mut self, n: u64) -> Self {
        self.max_len = Some(n);
        self
    }

    /// At most `n` elements received and not yet written (the sink's demand).
    ///
    /// # Panics
    ///
    /// If `n` is 0.
    ///
    /// ```no_run
    /// # let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    /// let sink = rstreams_redis::StreamSink::new(client, "events").in_flight(4);
    /// # let _ = sink;
    /// ```
    pub fn in_flight(mut self, n: u64) -> Self {
        assert!(n > 0, "in_flight must be at least 1");
        self.in_flight = n;
        self
    }

    /// How the writer gets its connection back after it breaks (see [`Reconnect`] and
    /// "Reconnection" above).
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    /// use rstreams_redis::{Reconnect, StreamSink};
    ///
    /// let sink = StreamSink::new(client, "events").reconnect(Reconnect::default().max_attempts(30));
    /// # let _ = sink;
    /// ```
    pub fn reconnect(mut self, policy: Reconnect) -> Self {
        self.reconnect = policy;
        self
    }

    /// How long a write may wait for its reply before the connection counts as broken (and the
    /// write is sent again on a new one: see "Reconnection" above). A server that is only slow
    /// — paused by `CLIENT PAUSE`, busy with a long command — answers within it and costs
    /// nothing but time; choose it longer than the slowest you expect. 30 s by default.
    ///
    /// # Panics
    ///
    /// If `timeout` is zero (valid range: above zero).
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    /// let sink = rstreams_redis::StreamSink::new(client, "events")
    ///     .response_timeout(Duration::from_secs(5));
    /// # let _ = sink;
    /// ```
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        assert!(
            !timeout.is_zero(),
            "StreamSink::response_timeout: timeout must be above zero (valid range: 1ns..=Duration::MAX), got 0"
        );
        self.response_timeout = timeout;
        self
    }

    /// A handle to wait for the end of the writes and read their count.
    ///
    /// ```no_run
    /// # let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    /// let sink = rstreams_redis::StreamSink::new(client, "events");
    /// let handle = sink.handle();
    /// assert_eq!(handle.written(), 0);
    /// ```
    pub fn handle(&self) -> SinkHandle {
        self.outbox.handle()
    }
}

/// Waits for a [`StreamSink`]'s writes.
///
/// It is support's [`Written`]: [`written`](Written::written) counts what the server
/// confirmed, [`wait`](Written::wait) blocks until the writer has stopped and returns that
/// count or the first failure (a write's, naming the target; the upstream's; §1.1).
///
/// ```no_run
/// # let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
/// let sink = rstreams_redis::StreamSink::new(client, "events");
/// let handle = sink.handle();
/// // ... subscribe `sink` to a publisher ...
/// # drop(sink);
/// let written = handle.wait();
/// # let _ = written;
/// ```
pub type SinkHandle = Written;

impl<T, K, V> Subscriber<T> for StreamSink
where
    T: IntoIterator<Item = (K, V)>,
    K: ToRedisArgs,
    V: ToRedisArgs,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        let writer = Writer {
            client: self.client.clone(),
            stream: self.stream.clone(),
            reconnect: self.reconnect,
            response_timeout: self.response_timeout,
        };
        self.outbox.subscribe(
            subscription,
            self.in_flight,
            format!("rstreams-redis sink {}", self.stream),
            move |outbox| writer.run(outbox),
        );
    }

    fn on_next(&mut self, item: T) {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&self.stream);
        if let Some(n) = self.max_len {
            cmd.arg("MAXLEN").arg("~").arg(n);
        }
        cmd.arg("*");
        for (k, v) in item {
            cmd.arg(k).arg(v);
        }
        self.outbox.offer(cmd);
    }

    fn on_error(&mut self, error: Error) {
        self.outbox.fail(error);
    }

    fn on_complete(&mut self) {
        self.outbox.complete();
    }
}

/// The writer thread's side of a sink.
struct Writer {
    client: Client,
    stream: String,
    reconnect: Reconnect,
    response_timeout: Duration,
}

impl Writer {
    /// Writes what is queued, one more request per completed write, until the upstream has
    /// ended and the queue is empty, or a write fails for good.
    /// Writes what the outbox hands over, one at a time, until the upstream has ended and
    /// everything received is written, or a write fails for good.
    fn run(&self, outbox: &OutboxWriter<Cmd>) -> Result<(), Error> {
        let mut attempts = Attempts::new(self.reconnect);
        // The connection: `None` before the first write and after one broke.
        let mut conn: Option<Connection> = None;
        while let Some(cmd) = outbox.next() {
            self.write(&cmd, &mut conn, &mut attempts)?;
            outbox.written(1);
        }
        Ok(())
    }

    fn write(
        &self,
        cmd: &Cmd,
        conn: &mut Option<Connection>,
        attempts: &mut Attempts,
    ) -> Result<(), Error> {
        loop {
            let live = match conn {
                Some(live) => live,
                None => match self.connect() {
                    Ok(fresh) => conn.insert(fresh),
                    Err((what, e)) => {
                        self.wait_or_give_up(what, e, attempts)?;
                        continue;
                    }
                },
            };
            match cmd.query::<String>(live) {
                Ok(_) => {
                    attempts.succeeded();
                    return Ok(());
                }
                Err(e) => {
                    if is_transient(&e) {
                        *conn = None;
                    }
                    self.wait_or_give_up("XADD", e, attempts)?;
                }
            }
        }
    }

    /// After a failed command: waits before the next attempt when the error is a connection
    /// error and the policy allows one more; otherwise the error to report.
    fn wait_or_give_up(
        &self,
        what: &str,
        error: redis::RedisError,
        attempts: &mut Attempts,
    ) -> Result<(), Error> {
        if !is_transient(&error) {
            return Err(Error::new(error)
                .context(format!("{what} on stream {:?}", self.stream))
                .in_stage(STAGE));
        }
        match attempts.failed() {
            Some(delay) => {
                thread::sleep(delay);
                Ok(())
            }
            None => Err(Error::new(error)
                .context(format!(
                    "{what} on stream {:?}; gave up after {} reconnection attempts",
                    self.stream,
                    attempts.count()
                ))
                .in_stage(STAGE)),
        }
    }

    fn connect(&self) -> Result<Connection, (&'static str, redis::RedisError)> {
        let conn = self
            .client
            .get_connection_with_timeout(CONNECT_TIMEOUT)
            .map_err(|e| ("connecting", e))?;
        conn.set_read_timeout(Some(self.response_timeout))
            .map_err(|e| ("setting the response timeout", e))?;
        Ok(conn)
    }
}
