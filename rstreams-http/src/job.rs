//! What the pipeline receives: a job, and the capability to answer it.

use std::fmt;
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::rejection::{Reason, Rejection};

/// How a job left the pipeline's hands, as its [`Reply`] reports it to the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Answered with the pipeline's reply.
    Replied,
    /// Answered 503 on the pipeline's decision ([`Job::shed`]).
    Shed,
    /// Answered 503 because the subscription ended while the job waited in the edge.
    Closed,
    /// Dropped unreplied: answered 500.
    Dropped,
}

/// The edge's side of a reply: frees the job's in-flight slots and counts how it ended.
pub(crate) trait Ledger: Send + Sync {
    /// Records that the job of `client` was settled `how` and frees its slots. Returns the
    /// `Retry-After` seconds for an answer that is a 503 (`Shed`, `Closed`).
    fn settle(&self, client: Option<&str>, how: Settled) -> Option<u32>;
}

/// The answer already sent, or the reason none will be.
pub(crate) type Outcome<R> = Result<R, Rejection>;

/// A request's work, offered by the edge to the pipeline: the [`value`](Self::value) to work
/// on, and the capability to answer the waiting request ([`reply`](Self::reply),
/// [`shed`](Self::shed)).
///
/// Answering is the job's capability, never a side effect of `on_next`: a stage may carry the
/// job anywhere (across `publish_on`, into `map_async`) and answer when the work is done.
/// A job dropped unanswered answers its request **500** (the pipeline took it and lost it) —
/// the client never hangs. Whichever way it is answered, the job's slots in the edge's
/// in-flight bounds are freed first, so a client that sends its next request as soon as it has
/// the answer finds its slot free.
///
/// ```
/// use rstreams::{sink, Publisher};
/// use rstreams_http::{Edge, Job};
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
///
/// let (edge, jobs) = Edge::<String, usize>::new(4);
/// jobs.subscribe(sink::for_each(|job: Job<String, usize>| {
///     let length = job.value.len();
///     job.reply(length);
/// }).batch(4));
/// let answer = edge.offer("hello".to_string());
/// assert_eq!(rt.block_on(answer).unwrap(), 5);
/// ```
pub struct Job<T, R> {
    /// What the request brought (the body, or what the handler built from it).
    pub value: T,
    /// The capability to answer; dropping it unanswered answers 500.
    pub(crate) reply: Reply<R>,
}

impl<T, R> Job<T, R> {
    /// Answers the request with `reply`. Returns `false` if the client had gone (its request
    /// was cancelled, the connection closed): the reply is dropped.
    pub fn reply(self, reply: R) -> bool {
        self.reply.send(reply)
    }

    /// Answers the request with `f(value)`: `job.reply_with(|v| v * 2)` where
    /// `job.reply(job.value * 2)` would not compile (the call moves `job` before its argument
    /// is read). A panic in `f` drops the reply: the request is answered 500. Returns `false`
    /// if the client had gone.
    pub fn reply_with(self, f: impl FnOnce(T) -> R) -> bool {
        let (value, reply) = self.into_parts();
        reply.send(f(value))
    }

    /// Answers the request 503 with `Retry-After`: for a pipeline that sheds work on its own
    /// terms (an `on_backpressure_drop_with` callback, a deadline that passed). Returns `false`
    /// if the client had gone.
    pub fn shed(self) -> bool {
        self.reply.shed()
    }

    /// Splits the job into its value and its [`Reply`], to answer after the value was consumed.
    pub fn into_parts(self) -> (T, Reply<R>) {
        (self.value, self.reply)
    }

    /// Whether the client has gone: answering is useless, and the work may be skipped.
    pub fn is_abandoned(&self) -> bool {
        self.reply.is_abandoned()
    }

    /// The client's key, when the edge has a per-client bound and the request had one.
    pub fn client(&self) -> Option<&str> {
        self.reply.client()
    }
}

impl<T: fmt::Debug, R> fmt::Debug for Job<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("value", &self.value)
            .field("client", &self.reply.client())
            .finish_non_exhaustive()
    }
}

/// The capability to answer one request, taken from a [`Job`] with [`Job::into_parts`].
///
/// Dropping it unanswered answers the request 500.
pub struct Reply<R> {
    /// The edge, told once how the job ended (which frees its in-flight slots).
    ledger: Arc<dyn Ledger>,
    /// The request's client key (counted against the per-client bound when the edge has one).
    client: Option<Box<str>>,
    /// `Some` until the request is answered; the receiver is the request's [`Answer`](crate::Answer).
    tx: Option<oneshot::Sender<Outcome<R>>>,
}

impl<R> Reply<R> {
    pub(crate) fn new(
        ledger: Arc<dyn Ledger>,
        client: Option<Box<str>>,
        tx: oneshot::Sender<Outcome<R>>,
    ) -> Self {
        Reply {
            ledger,
            client,
            tx: Some(tx),
        }
    }

    /// Answers the request with `reply`; `false` if the client had gone.
    pub fn send(mut self, reply: R) -> bool {
        let tx = self.tx.take().expect("a reply is answered once");
        // Free the slots first: the client may send its next request the moment it has this.
        self.ledger.settle(self.client.as_deref(), Settled::Replied);
        tx.send(Ok(reply)).is_ok()
    }

    /// Answers the request 503 with `Retry-After`; `false` if the client had gone.
    pub fn shed(self) -> bool {
        self.refuse(Settled::Shed, Reason::Shed)
    }

    /// The subscription ended while the job waited in the edge: 503, safe to retry.
    pub(crate) fn close(self) -> bool {
        self.refuse(Settled::Closed, Reason::Closed)
    }

    fn refuse(mut self, how: Settled, reason: Reason) -> bool {
        let tx = self.tx.take().expect("a reply is answered once");
        let retry_after = self.ledger.settle(self.client.as_deref(), how);
        tx.send(Err(Rejection::new(reason, retry_after))).is_ok()
    }

    /// Whether the client has gone.
    pub fn is_abandoned(&self) -> bool {
        self.tx.as_ref().is_none_or(|tx| tx.is_closed())
    }

    /// The client's key, when the edge has a per-client bound and the request had one.
    pub fn client(&self) -> Option<&str> {
        self.client.as_deref()
    }
}

impl<R> Drop for Reply<R> {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            self.ledger.settle(self.client.as_deref(), Settled::Dropped);
            drop(tx); // the request's answer sees the channel closed: 500
        }
    }
}

impl<R> fmt::Debug for Reply<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply")
            .field("client", &self.client)
            .field("answered", &self.tx.is_none())
            .finish()
    }
}
