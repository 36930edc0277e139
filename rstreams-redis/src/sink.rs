//! [`StreamSink`]: a subscriber that appends each element to a stream with `XADD`.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::thread;

use redis::{Client, Cmd, ToRedisArgs};
use rstreams_core::sync::{Condvar, Mutex};
use rstreams_core::{Error, Subscriber, Subscription};

const STAGE: &str = "redis stream sink";

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
/// # Completion
///
/// [`handle`](Self::handle) gives a [`SinkHandle`] to wait on: after the upstream completes
/// and every received element is written it returns how many were written. A failed write
/// cancels the upstream and the handle returns the error; an upstream error is returned after
/// the elements received before it are written.
///
/// ```no_run
/// use rstreams_core::{source, Publisher};
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
    shared: Arc<SinkShared>,
    subscribed: bool,
}

impl fmt::Debug for StreamSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamSink")
            .field("stream", &self.stream)
            .field("max_len", &self.max_len)
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
    /// Received, not yet taken by the writer.
    queue: VecDeque<Cmd>,
    /// Received and not yet written (queued or being written).
    unwritten: u64,
    written: u64,
    /// The upstream's terminal signal arrived (or the sink was dropped).
    upstream_done: bool,
    /// What the handle returns as the failure, if any.
    error: Option<Error>,
    /// The writer has stopped.
    finished: bool,
}

impl StreamSink {
    /// A sink appending to `stream` through `client`; [`in_flight`](Self::in_flight) 16.
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
            shared: Arc::new(SinkShared {
                state: Mutex::new(SinkState::default()),
                signal: Condvar::new(),
            }),
            subscribed: false,
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

    /// A handle to wait for the end of the writes and read their count.
    ///
    /// ```no_run
    /// # let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    /// let sink = rstreams_redis::StreamSink::new(client, "events");
    /// let handle = sink.handle();
    /// assert_eq!(handle.written(), 0);
    /// ```
    pub fn handle(&self) -> SinkHandle {
        SinkHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    fn fail(&self, error: Error) {
        let mut state = self.shared.state.lock();
        if state.error.is_none() {
            state.error = Some(error);
        }
        state.upstream_done = true;
        drop(state);
        self.shared.signal.notify_all();
    }
}

impl Drop for StreamSink {
    fn drop(&mut self) {
        let mut state = self.shared.state.lock();
        if !state.upstream_done {
            state.upstream_done = true;
            if state.error.is_none() && self.subscribed {
                state.error =
                    Some(Error::msg("dropped before the upstream completed").in_stage(STAGE));
            }
        }
        if !self.subscribed {
            state.finished = true;
        }
        drop(state);
        self.shared.signal.notify_all();
    }
}

/// Waits for a [`StreamSink`]'s writes.
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
#[derive(Clone)]
pub struct SinkHandle {
    shared: Arc<SinkShared>,
}

impl fmt::Debug for SinkHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkHandle")
            .field("written", &self.written())
            .finish()
    }
}

impl SinkHandle {
    /// How many elements have been written so far.
    ///
    /// ```no_run
    /// # let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    /// # let handle = rstreams_redis::StreamSink::new(client, "events").handle();
    /// println!("{} written", handle.written());
    /// ```
    pub fn written(&self) -> u64 {
        self.shared.state.lock().written
    }

    /// Blocks until the upstream has ended and the writer has stopped; returns the number of
    /// elements written.
    ///
    /// # Errors
    ///
    /// The first failed write, or the upstream's error.
    ///
    /// ```no_run
    /// # let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    /// # let handle = rstreams_redis::StreamSink::new(client, "events").handle();
    /// let written = handle.wait().unwrap();
    /// # let _ = written;
    /// ```
    pub fn wait(&self) -> Result<u64, Error> {
        let mut state = self.shared.state.lock();
        while !state.finished {
            self.shared.signal.wait(&mut state);
        }
        match state.error.clone() {
            Some(error) => Err(error),
            None => Ok(state.written),
        }
    }
}

impl<T, K, V> Subscriber<T> for StreamSink
where
    T: IntoIterator<Item = (K, V)>,
    K: ToRedisArgs,
    V: ToRedisArgs,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if self.subscribed {
            subscription.cancel(); // §2.5
            return;
        }
        self.subscribed = true;
        let shared = Arc::clone(&self.shared);
        let client = self.client.clone();
        let writer_subscription = Arc::clone(&subscription);
        let spawned = thread::Builder::new()
            .name(format!("rstreams-redis sink {}", self.stream))
            .spawn(move || write(&client, &shared, &*writer_subscription));
        match spawned {
            Ok(_) => subscription.request(self.in_flight),
            Err(error) => {
                subscription.cancel();
                self.fail(
                    Error::new(error)
                        .context("starting the writer thread")
                        .in_stage(STAGE),
                );
                let mut state = self.shared.state.lock();
                state.finished = true;
                drop(state);
                self.shared.signal.notify_all();
            }
        }
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
        let mut state = self.shared.state.lock();
        if state.upstream_done {
            return; // after a failure: §2.8, demand already in flight
        }
        if state.unwritten >= self.in_flight {
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
        state.unwritten += 1;
        state.queue.push_back(cmd);
        drop(state);
        self.shared.signal.notify_all();
    }

    fn on_error(&mut self, error: Error) {
        self.fail(error);
    }

    fn on_complete(&mut self) {
        self.shared.state.lock().upstream_done = true;
        self.shared.signal.notify_all();
    }
}

/// The writer thread: writes what is queued, one more request per completed write.
fn write(client: &Client, shared: &SinkShared, subscription: &dyn Subscription) {
    let mut conn = match client.get_connection() {
        Ok(conn) => Some(conn),
        Err(e) => {
            subscription.cancel();
            let mut state = shared.state.lock();
            state
                .error
                .get_or_insert(Error::new(e).context("connecting").in_stage(STAGE));
            None
        }
    };
    loop {
        let mut state = shared.state.lock();
        let cmd = loop {
            if state.error.is_some() && state.queue.is_empty() || conn.is_none() {
                break None;
            }
            if let Some(cmd) = state.queue.pop_front() {
                break Some(cmd);
            }
            if state.upstream_done {
                break None;
            }
            shared.signal.wait(&mut state);
        };
        let Some(cmd) = cmd else {
            state.finished = true;
            drop(state);
            shared.signal.notify_all();
            return;
        };
        drop(state);
        let Some(connection) = conn.as_mut() else {
            continue;
        };
        let written: Result<String, _> = cmd.query(connection);
        let mut state = shared.state.lock();
        state.unwritten -= 1;
        match written {
            Ok(_) => {
                state.written += 1;
                let more = !state.upstream_done;
                drop(state);
                shared.signal.notify_all();
                if more {
                    subscription.request(1);
                }
            }
            Err(e) => {
                state.queue.clear();
                if state.error.is_none() {
                    state.error = Some(Error::new(e).context("XADD").in_stage(STAGE));
                }
                let cancel = !state.upstream_done;
                state.upstream_done = true;
                drop(state);
                if cancel {
                    subscription.cancel();
                }
            }
        }
    }
}
