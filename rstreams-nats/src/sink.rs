//! [`PublishSink`]: a subscriber that publishes each element to JetStream and waits for the
//! server's publish acks, with a bounded number outstanding.

use std::fmt;
use std::future::IntoFuture;
use std::sync::Arc;

use async_nats::jetstream::{self, context::PublishAckFuture};
use async_nats::ConnectOptions;
use bytes::Bytes;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use rstreams_core::support::{Outbox, OutboxWriter, Written};
use rstreams_core::{Error, Subscriber, Subscription};
use tokio::sync::Notify;

use crate::conn::Options;

const STAGE: &str = "nats publish sink";

/// A publish's ack, as awaited.
type AckFuture = <PublishAckFuture as IntoFuture>::IntoFuture;

/// A subscriber that publishes each element to the subject `subject` with a JetStream publish
/// and counts it written once the server's publish ack says a stream stored it.
///
/// An element is anything that converts into a payload ([`Bytes`], `Vec<u8>`, `String`,
/// `&'static str`).
///
/// # Backpressure: bounded outstanding acks
///
/// The publishes run on a writer thread with its own connection. The sink requests
/// [`in_flight`](Self::in_flight) elements at first and one more each time a publish is acked
/// by the server, so at most that many elements are received and not yet acked (queued,
/// published and awaiting their ack). An upstream that sends more than it was asked for fails
/// the sink (§1.1).
///
/// # Errors and completion
///
/// A publish the server does not ack — no stream captures the subject, the ack times out, the
/// connection is closed — is never dropped silently: the sink cancels its upstream and
/// [`SinkHandle::wait`] returns that error, naming the subject. Nothing is retried (a retried
/// publish could be stored twice): the count of acked elements tells where to resume. After the
/// upstream completes and every received element is acked, `wait` returns how many were
/// written; an upstream error is returned after the elements received before it are acked.
///
/// ```no_run
/// use rstreams::{source, Publisher};
/// use rstreams_nats::PublishSink;
///
/// let sink = PublishSink::new("nats://127.0.0.1:4222", "readings.eu").in_flight(32);
/// let handle = sink.handle();
/// source::from_iter((0..100).map(|i| i.to_string())).subscribe(sink);
/// assert_eq!(handle.wait().unwrap(), 100);
/// ```
pub struct PublishSink {
    url: String,
    options: Options,
    subject: String,
    in_flight: u64,
    /// The queue to the writer thread, the in-flight bound, the outcome: support's outbox.
    outbox: Outbox<Bytes>,
    /// Wakes the writer's async wait (an element queued, the upstream ended, the sink
    /// dropped); keeps a permit if the writer is not waiting yet. The outbox notifies it.
    work: Arc<Notify>,
}

impl fmt::Debug for PublishSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublishSink")
            .field("url", &self.url)
            .field("subject", &self.subject)
            .field("in_flight", &self.in_flight)
            .finish()
    }
}

impl PublishSink {
    /// A sink publishing to `subject` on the server at `url`; [`in_flight`](Self::in_flight)
    /// 16. A stream must capture `subject`, or every publish fails.
    ///
    /// ```
    /// let sink = rstreams_nats::PublishSink::new("nats://127.0.0.1:4222", "events");
    /// assert_eq!(sink.handle().written(), 0); // building connects to nothing
    /// ```
    pub fn new(url: impl Into<String>, subject: impl Into<String>) -> Self {
        let work = Arc::new(Notify::new());
        let notify = Arc::clone(&work);
        PublishSink {
            url: url.into(),
            options: Arc::new(ConnectOptions::new),
            subject: subject.into(),
            in_flight: 16,
            outbox: Outbox::on_work(STAGE, move || notify.notify_one()),
            work,
        }
    }

    /// At most `n` elements received and not yet acked by the server (the sink's demand).
    ///
    /// # Panics
    ///
    /// If `n` is not in `1..=65536`.
    ///
    /// ```
    /// let sink = rstreams_nats::PublishSink::new("nats://127.0.0.1:4222", "events").in_flight(4);
    /// # let _ = sink;
    /// ```
    ///
    /// ```should_panic
    /// // panics: "in_flight must be in 1..=65536 (got 0)"
    /// let _ = rstreams_nats::PublishSink::new("nats://127.0.0.1:4222", "events").in_flight(0);
    /// ```
    pub fn in_flight(mut self, n: u64) -> Self {
        assert!(
            (1..=65_536).contains(&n),
            "in_flight must be in 1..=65536 (got {n})"
        );
        self.in_flight = n;
        self
    }

    /// How the writer's connection is made: credentials, TLS, a client name, the reconnect
    /// policy.
    ///
    /// ```
    /// let sink = rstreams_nats::PublishSink::new("nats://127.0.0.1:4222", "events")
    ///     .connect_options(|| async_nats::ConnectOptions::new().name("ingest"));
    /// # let _ = sink;
    /// ```
    pub fn connect_options(
        mut self,
        options: impl Fn() -> ConnectOptions + Send + Sync + 'static,
    ) -> Self {
        self.options = Arc::new(options);
        self
    }

    /// A handle to wait for the end of the publishes and read their count.
    ///
    /// ```
    /// let sink = rstreams_nats::PublishSink::new("nats://127.0.0.1:4222", "events");
    /// let handle = sink.handle();
    /// assert_eq!(handle.written(), 0);
    /// ```
    pub fn handle(&self) -> SinkHandle {
        self.outbox.handle()
    }
}

/// Waits for a [`PublishSink`]'s publishes.
///
/// It is support's [`Written`]: [`written`](Written::written) counts what the server
/// confirmed, [`wait`](Written::wait) blocks until the writer has stopped and returns that
/// count or the first failure (a write's, naming the target; the upstream's; §1.1).
///
/// ```
/// let sink = rstreams_nats::PublishSink::new("nats://127.0.0.1:4222", "events");
/// let handle = sink.handle();
/// drop(sink); // never subscribed: nothing to wait for
/// assert_eq!(handle.wait().unwrap(), 0);
/// ```
pub type SinkHandle = Written;

impl<T: Into<Bytes>> Subscriber<T> for PublishSink {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        let writer = Writer {
            url: self.url.clone(),
            options: Arc::clone(&self.options),
            subject: self.subject.clone(),
            work: Arc::clone(&self.work),
        };
        self.outbox.subscribe(
            subscription,
            self.in_flight,
            format!("rstreams-nats sink {}", self.subject),
            move |outbox| writer.write(outbox),
        );
    }

    fn on_next(&mut self, item: T) {
        self.outbox.offer(item.into());
    }

    fn on_error(&mut self, error: Error) {
        self.outbox.fail(error);
    }

    fn on_complete(&mut self) {
        self.outbox.complete();
    }
}

/// The writer thread's side.
struct Writer {
    url: String,
    options: Options,
    subject: String,
    work: Arc<Notify>,
}

/// What one step of the writer ended with.
enum Step {
    /// This many publishes were acked: request as many more.
    Acked(u64),
    /// Everything received is acked and the upstream has ended (or the sink failed).
    Done,
}

impl Writer {
    /// Publishes until done; the requests go out between runtime steps, on this thread, so
    /// that an upstream's drain loop never runs inside the runtime.
    fn write(&self, outbox: &OutboxWriter<Bytes>) -> Result<(), Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::new(e).context("starting the writer's runtime"))?;
        let client = runtime
            .block_on((self.options)().connect(self.url.as_str()))
            .map_err(|e| Error::new(e).context(format!("connecting to {}", self.url)))?;
        // A context spawns its own task (the acker): make it inside the runtime.
        let js = runtime.block_on(async { jetstream::new(client) });
        let mut acks: FuturesUnordered<AckFuture> = FuturesUnordered::new();
        loop {
            match runtime.block_on(self.step(outbox, &js, &mut acks))? {
                Step::Acked(n) => outbox.written(n),
                Step::Done => return Ok(()),
            }
        }
    }

    fn publish_error(&self, error: impl fmt::Display) -> Error {
        Error::msg(format!("publishing to {}: {error}", self.subject))
    }

    /// Publishes what is queued, then waits for acks or more work; returns after some acks.
    async fn step(
        &self,
        outbox: &OutboxWriter<Bytes>,
        js: &jetstream::Context,
        acks: &mut FuturesUnordered<AckFuture>,
    ) -> Result<Step, Error> {
        loop {
            // An upstream error or a §1.1 violation ends the upstream, not the writes: what was
            // received before it is still published.
            let (batch, done) = outbox.take();
            for payload in batch {
                let ack = js
                    .publish(self.subject.clone(), payload)
                    .await
                    .map_err(|e| self.publish_error(e))?;
                acks.push(ack.into_future());
            }
            let mut acked = 0;
            // Collect what is acked already, without waiting.
            while let Some(Some(ack)) = futures_util::FutureExt::now_or_never(acks.next()) {
                ack.map_err(|e| self.publish_error(e))?;
                acked += 1;
            }
            if acked > 0 {
                return Ok(Step::Acked(acked));
            }
            // Nothing is queued after the end: `done` with the batch taken means all was taken.
            if acks.is_empty() && done {
                return Ok(Step::Done);
            }
            tokio::select! {
                () = self.work.notified() => {}
                Some(ack) = acks.next(), if !acks.is_empty() => {
                    ack.map_err(|e| self.publish_error(e))?;
                    return Ok(Step::Acked(1));
                }
            }
        }
    }
}
