//! The edge: admission against the pipeline's demand, the publisher of jobs, permits and
//! answers.
//!
//! The jobs' subscription is a [`Pull`] on the [`Engine`], as every source's is; the edge adds
//! only admission. It is not built on `source::emitter`, the project's other hot source: an
//! emitter queues up to its capacity whatever the demand (at least one element), so a request
//! offered to a stalled pipeline would wait in it instead of being refused. The edge reads the
//! demand instead, the way the Redis source does: each `pull(left)` records what is left, and
//! a request is admitted only against that.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use rstreams_core::support::{Engine, EngineConfig, Pull, Pulled};
use rstreams_core::sync::{AtomicUsize, Mutex, Ordering};
use rstreams_core::{source, Error, Publisher, Subscriber};
use tokio::sync::oneshot;

use crate::client::ClientKey;
use crate::job::{Job, Ledger, Outcome, Reply, Settled};
use crate::rejection::{Reason, Rejection, RetryAfter};

/// How an [`Edge`] admits requests: its bound on jobs in flight, the `Retry-After` it tells
/// refused clients, and an optional per-client bound.
///
/// ```
/// use rstreams_http::{ClientKey, Edge, EdgeConfig, RetryAfter};
///
/// let config = EdgeConfig::new(64)
///     .retry_after(RetryAfter::spread(1, 3))
///     .per_client(ClientKey::header("x-api-key"), 4);
/// let (edge, jobs) = Edge::<Vec<u8>, String>::with_config(config);
/// # drop((edge, jobs));
/// ```
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    max_in_flight: usize,
    retry_after: RetryAfter,
    per_client: Option<(ClientKey, usize)>,
}

impl EdgeConfig {
    /// At most `max_in_flight` requests admitted and not yet answered (permits and jobs; see
    /// [`Edge`]), `Retry-After: 1`, no per-client bound. `usize::MAX` leaves the pipeline's
    /// demand as the only bound.
    ///
    /// # Panics
    ///
    /// When `max_in_flight` is 0 (valid range `1..=usize::MAX`).
    pub fn new(max_in_flight: usize) -> Self {
        assert!(
            max_in_flight > 0,
            "EdgeConfig::new: max_in_flight must be at least 1 (valid range 1..=usize::MAX), got 0"
        );
        EdgeConfig {
            max_in_flight,
            retry_after: RetryAfter::default(),
            per_client: None,
        }
    }

    /// The `Retry-After` of every 503 and 429 (see [`RetryAfter`] for how it is chosen).
    pub fn retry_after(mut self, retry_after: RetryAfter) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// At most `limit` requests in flight per client, the client told apart by `key`: a
    /// request beyond it is answered 429 at once, while other clients are still served.
    ///
    /// # Panics
    ///
    /// When `limit` is 0 (valid range `1..=usize::MAX`).
    pub fn per_client(mut self, key: ClientKey, limit: usize) -> Self {
        assert!(
            limit > 0,
            "EdgeConfig::per_client: limit must be at least 1 (valid range 1..=usize::MAX), got 0"
        );
        self.per_client = Some((key, limit));
        self
    }
}

/// The request side of an HTTP edge: admits requests against the pipeline's demand and hands
/// their work to it as [`Job`]s; made with [`Edge::new`] together with the [`Jobs`] publisher
/// the pipeline subscribes to.
///
/// # Admission
///
/// A request is admitted when, at that moment, all of these hold; otherwise it is refused at
/// once, and nothing is queued:
///
/// 1. the pipeline's subscription is live (not cancelled, failed or completed), else 503
///    ([`Reason::Closed`]);
/// 2. with a per-client bound, its client has fewer than `limit` requests in flight, else
///    **429** ([`Reason::ClientLimit`]);
/// 3. fewer than `max_in_flight` requests are in flight, else 503 ([`Reason::InFlightFull`]);
/// 4. the pipeline has demand left: the requests admitted and not yet delivered to it are
///    fewer than its outstanding `request(n)`, else 503 ([`Reason::NoDemand`]).
///
/// "In flight" counts a request from its admission until the pipeline answers it (or drops
/// it): a [`Permit`] whose value is not sent yet, a job waiting in the edge, and a job
/// anywhere in the pipeline. The only place a job waits in the edge itself is the hand-over
/// to a subscriber that asked for it, so the edge holds at most the pipeline's demand;
/// whatever the pipeline requests ahead (a `publish_on` prefetch) is its own, declared bound.
///
/// # Threads
///
/// A job is delivered to the pipeline on the thread that finds its subscriber idle: the
/// request's (a tokio worker) when demand is outstanding, otherwise the thread that calls
/// `request`. Put `publish_on` first in the pipeline so that the work leaves the server's
/// threads.
///
/// # Closing
///
/// [`complete`](Self::complete), or dropping the last `Edge` handle, completes the stream of
/// jobs once the queued ones were delivered; later requests are refused 503.
pub struct Edge<T, R> {
    shared: Arc<Shared<T, R>>,
}

/// The jobs of an [`Edge`], as the publisher a pipeline subscribes to.
///
/// **Unicast**: one subscription over its life; a second subscriber gets `on_subscribe` then
/// `on_error` naming §1.9. Before it subscribes, and after its subscription ends, the edge
/// refuses every request 503.
///
/// # Backpressure
///
/// Delivers at most what was requested (§1.1): a job exists only because a request was
/// admitted against the outstanding demand. A subscriber that stops requesting makes the edge
/// refuse new requests at once.
///
/// # Cancel and errors
///
/// When the subscription ends (cancel, or a stage downstream failing, which cancels it), jobs
/// still waiting in the edge are answered 503 ([`Reason::Closed`]) and later requests are
/// refused 503. Jobs the pipeline already holds are answered however the pipeline ends with
/// them: a job dropped unanswered answers 500.
#[must_use = "publishers do nothing until subscribed"]
pub struct Jobs<T, R> {
    shared: Arc<Shared<T, R>>,
}

/// One admitted request's place in the edge, before its value is sent: the result of
/// [`Edge::try_admit`] / [`Edge::admit`], and an axum extractor.
///
/// As an extractor it runs before the body is read (axum runs `FromRequestParts` extractors
/// first), so a refused request costs no body: its rejection is the response. The edge comes
/// from the router's state (`Edge<T, R>: FromRef<S>`); the client key from the request's head
/// when the edge has a per-client bound.
///
/// It holds one unit of the pipeline's demand and one in-flight slot until it is sent or
/// dropped; dropping it unsent gives both back.
///
/// ```
/// use axum::body::Bytes;
/// use axum::{routing::post, Router};
/// use rstreams_http::{Edge, Permit, Rejection};
///
/// async fn work(permit: Permit<Bytes, String>, body: Bytes) -> Result<String, Rejection> {
///     permit.send(body).await
/// }
///
/// let (edge, jobs) = Edge::<Bytes, String>::new(64);
/// let app: Router = Router::new().route("/work", post(work)).with_state(edge);
/// # drop((app, jobs));
/// ```
pub struct Permit<T, R> {
    shared: Arc<Shared<T, R>>,
    /// The request's client key: counted against the per-client bound when the edge has one
    /// (and released by whoever ends the permit), otherwise only a label. Moved into the
    /// job's reply when the value is sent.
    client: Option<Box<str>>,
    /// The value was sent (or refused at sending): nothing to give back on drop.
    sent: bool,
}

/// A request's answer: the pipeline's reply, or the [`Rejection`] that replaces it. A future
/// (on any executor); `Result<R, Rejection>` is an axum response when `R` is one.
///
/// Dropping it (the client went away) does not withdraw the job: the pipeline still gets or
/// keeps it, and can see [`Job::is_abandoned`].
#[must_use = "the answer is the request's response"]
pub struct Answer<R> {
    /// Refused, waiting for the pipeline, or returned.
    state: AnswerState<R>,
}

enum AnswerState<R> {
    /// Refused before reaching the pipeline.
    Refused(Rejection),
    /// Waiting for the pipeline.
    Waiting(oneshot::Receiver<Outcome<R>>),
    /// Returned `Ready`.
    Done,
}

/// What an edge has done with the requests offered to it, as one consistent snapshot
/// ([`Edge::stats`]). At every snapshot:
///
/// - `offered == accepted + overloaded + client_limited + withdrawn + reserved`;
/// - `accepted == replied + shed + dropped + in_flight`;
/// - `queued <= demand`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct EdgeStats {
    /// Admission decisions made ([`Edge::try_admit`], [`Edge::admit`], the extractor, the
    /// `offer` methods).
    pub offered: u64,
    /// Requests whose job was handed to the edge's queue for the pipeline.
    pub accepted: u64,
    /// Requests answered 503 without reaching the pipeline: no demand, the in-flight bound,
    /// or the subscription not live (at admission or when the permit was sent).
    pub overloaded: u64,
    /// Requests answered 429: their client's bound was reached.
    pub client_limited: u64,
    /// Permits dropped without sending a value (the body never arrived, the handler failed).
    pub withdrawn: u64,
    /// Permits granted and not yet sent or dropped.
    pub reserved: usize,
    /// Jobs handed to the pipeline's subscriber.
    pub delivered: u64,
    /// Jobs answered with the pipeline's reply.
    pub replied: u64,
    /// Jobs answered 503 after acceptance: shed by the pipeline ([`Job::shed`]), or still in
    /// the edge when the subscription ended.
    pub shed: u64,
    /// Jobs dropped unanswered by the pipeline (answered 500).
    pub dropped: u64,
    /// Jobs accepted and not answered yet.
    pub in_flight: usize,
    /// Jobs waiting in the edge for the subscriber to take them.
    pub queued: usize,
    /// The pipeline's outstanding demand as the edge last saw it.
    pub demand: u64,
}

struct Shared<T, R> {
    // The configuration, fixed when the edge is built.
    max_in_flight: usize,
    retry_after: RetryAfter,
    per_client: Option<(ClientKey, usize)>,
    /// Everything that changes, under one lock: an admission decision reads the demand, the
    /// queue, the reservations and the in-flight counts together.
    state: Mutex<State<T, R>>,
    /// Live `Edge` handles; the one that takes it to 0 completes the stream. An atomic, not a
    /// field of `state`: the extractor clones and drops a handle per request.
    handles: AtomicUsize,
}

struct State<T, R> {
    /// Accepted jobs the subscriber has not taken yet, oldest first. Admission keeps
    /// `queue.len() + reserved <= demand`.
    queue: VecDeque<Job<T, R>>,
    /// The subscriber's demand not yet met, as the pull last saw it: every `pull(left)` sets
    /// it, to `left − 1` when it hands out a job (so met demand reads 0) and to `left` when it
    /// has none; 0 before the subscription and after its end. It may lag a `request` by one
    /// pass of the drain loop (then it is low, and admission errs towards refusing).
    demand: u64,
    /// Permits granted and not sent or dropped: each holds one unit of `demand`.
    reserved: usize,
    /// Permits plus accepted jobs not answered: what `max_in_flight` bounds.
    held: usize,
    /// Per client key, its permits plus unanswered jobs (only with a per-client bound). A key
    /// is removed when its count returns to 0, so at most `max_in_flight` keys are kept.
    clients: HashMap<Box<str>, usize>,
    end: End,
    /// The one subscription was made, or the publisher was dropped unsubscribed.
    subscribed: bool,
    /// The subscription's pull is alive (from subscribe until the engine drops it).
    consumer_live: bool,
    /// Runs the subscription's drain loop; `Some` while the subscription is live.
    drain: Option<Arc<dyn Wake>>,
    /// Answers given a `Retry-After` so far: the index into [`RetryAfter::nth`].
    refusals: u64,
    counts: Counts,
}

/// The monotonic counts of [`EdgeStats`], kept under the state lock so that a snapshot is
/// consistent.
#[derive(Default)]
struct Counts {
    offered: u64,
    accepted: u64,
    overloaded: u64,
    client_limited: u64,
    withdrawn: u64,
    delivered: u64,
    replied: u64,
    shed: u64,
    dropped: u64,
}

/// How the stream of jobs stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Admitting.
    Open,
    /// Closed by the edge ([`Edge::complete`], last handle dropped): queued jobs are still
    /// delivered, then the stream completes.
    Completed,
    /// The subscription ended, or the publisher was dropped unsubscribed: nobody will take a
    /// job any more.
    Cancelled,
}

/// Runs the subscription's drain loop (type-erased over its subscriber).
trait Wake: Send + Sync {
    fn wake(&self);
}

impl<T, R, S> Wake for Engine<JobsPull<T, R>, S>
where
    T: Send + 'static,
    R: Send + 'static,
    S: Subscriber<Job<T, R>> + 'static,
{
    fn wake(&self) {
        Engine::wake(self)
    }
}

impl<T, R> State<T, R> {
    fn next_retry_after(&mut self, policy: RetryAfter) -> Option<u32> {
        let n = self.refusals;
        self.refusals += 1;
        Some(policy.nth(n))
    }

    /// Gives back a permit's or a job's in-flight slots.
    fn release(&mut self, client: Option<&str>) {
        self.held -= 1;
        if let Some(key) = client {
            if let Some(count) = self.clients.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    self.clients.remove(key);
                }
            }
        }
    }

    fn answered(&self) -> u64 {
        self.counts.replied + self.counts.shed + self.counts.dropped
    }
}

impl<T: Send + 'static, R: Send + 'static> Shared<T, R> {
    fn admit(self: &Arc<Self>, client: Option<String>) -> Result<Permit<T, R>, Rejection> {
        let mut st = self.state.lock();
        st.counts.offered += 1;
        let refuse = |st: &mut State<T, R>, reason: Reason| {
            let retry_after = st.next_retry_after(self.retry_after);
            match reason {
                Reason::ClientLimit => st.counts.client_limited += 1,
                _ => st.counts.overloaded += 1,
            }
            Err(Rejection::new(reason, retry_after))
        };
        if st.end != End::Open {
            return refuse(&mut st, Reason::Closed);
        }
        // The per-client count is kept only with a per-client bound.
        let client = match (&self.per_client, client) {
            (Some((_, limit)), Some(key)) => {
                if st.clients.get(key.as_str()).copied().unwrap_or(0) >= *limit {
                    return refuse(&mut st, Reason::ClientLimit);
                }
                Some(key.into_boxed_str())
            }
            (None, key) => key.map(String::into_boxed_str),
            (Some(_), None) => None,
        };
        if st.held >= self.max_in_flight {
            return refuse(&mut st, Reason::InFlightFull);
        }
        if (st.queue.len() + st.reserved) as u64 >= st.demand {
            return refuse(&mut st, Reason::NoDemand);
        }
        st.held += 1;
        st.reserved += 1;
        if let (Some(_), Some(key)) = (&self.per_client, &client) {
            *st.clients.entry(key.clone()).or_insert(0) += 1;
        }
        drop(st);
        // A key is counted exactly when the edge has a per-client bound; without one it is only
        // a label for `Job::client`, and `release` ignores it the same way.
        Ok(Permit {
            shared: Arc::clone(self),
            client,
            sent: false,
        })
    }

    /// Ends the stream (if it is open) and wakes the drain so that it signals the end.
    fn complete(&self) -> bool {
        let mut st = self.state.lock();
        if st.end != End::Open {
            return false;
        }
        st.end = End::Completed;
        let drain = st.drain.clone();
        drop(st);
        if let Some(drain) = drain {
            drain.wake();
        }
        true
    }

    fn stats(&self) -> EdgeStats {
        let st = self.state.lock();
        let c = &st.counts;
        EdgeStats {
            offered: c.offered,
            accepted: c.accepted,
            overloaded: c.overloaded,
            client_limited: c.client_limited,
            withdrawn: c.withdrawn,
            reserved: st.reserved,
            delivered: c.delivered,
            replied: c.replied,
            shed: c.shed,
            dropped: c.dropped,
            in_flight: (c.accepted - st.answered()) as usize,
            queued: st.queue.len(),
            demand: st.demand,
        }
    }
}

impl<T: Send + 'static, R: Send + 'static> Ledger for Shared<T, R> {
    fn settle(&self, client: Option<&str>, how: Settled) -> Option<u32> {
        let mut st = self.state.lock();
        st.release(self.per_client.as_ref().and(client));
        match how {
            Settled::Replied => {
                st.counts.replied += 1;
                None
            }
            Settled::Shed | Settled::Closed => {
                st.counts.shed += 1;
                st.next_retry_after(self.retry_after)
            }
            Settled::Dropped => {
                st.counts.dropped += 1;
                None
            }
        }
    }
}

impl<T: Send + 'static, R: Send + 'static> Edge<T, R> {
    /// An edge admitting at most `max_in_flight` requests at a time, with the defaults of
    /// [`EdgeConfig::new`], and the publisher of its jobs.
    ///
    /// # Panics
    ///
    /// When `max_in_flight` is 0 (valid range `1..=usize::MAX`).
    pub fn new(max_in_flight: usize) -> (Self, Jobs<T, R>) {
        Self::with_config(EdgeConfig::new(max_in_flight))
    }

    /// An edge configured by `config`, and the publisher of its jobs.
    pub fn with_config(config: EdgeConfig) -> (Self, Jobs<T, R>) {
        let shared = Arc::new(Shared {
            max_in_flight: config.max_in_flight,
            retry_after: config.retry_after,
            per_client: config.per_client,
            handles: AtomicUsize::new(1),
            state: Mutex::new(State {
                queue: VecDeque::new(),
                demand: 0,
                reserved: 0,
                held: 0,
                clients: HashMap::new(),
                end: End::Open,
                subscribed: false,
                consumer_live: false,
                drain: None,
                refusals: 0,
                counts: Counts::default(),
            }),
        });
        (
            Edge {
                shared: Arc::clone(&shared),
            },
            Jobs { shared },
        )
    }

    /// Decides admission for a request of `client` (see [`Edge`]): a [`Permit`] to send its
    /// value with, or the [`Rejection`] to answer at once. `client` counts against the
    /// per-client bound when the edge has one.
    pub fn try_admit(&self, client: Option<&str>) -> Result<Permit<T, R>, Rejection> {
        self.shared.admit(client.map(str::to_owned))
    }

    /// [`try_admit`](Self::try_admit) for the request with head `parts`, its client told by
    /// the edge's [`ClientKey`] (none without a per-client bound). This is what the
    /// [`Permit`] extractor does.
    pub fn admit(&self, parts: &Parts) -> Result<Permit<T, R>, Rejection> {
        let client = self
            .shared
            .per_client
            .as_ref()
            .and_then(|(k, _)| k.key(parts));
        self.shared.admit(client)
    }

    /// Admits and sends `value` in one step: the answer is the pipeline's reply, or the
    /// rejection (already decided when this returns, see [`Answer::refused_with`]).
    pub fn offer(&self, value: T) -> Answer<R> {
        match self.try_admit(None) {
            Ok(permit) => permit.send(value),
            Err(rejection) => Answer::refused(rejection),
        }
    }

    /// [`offer`](Self::offer) on behalf of `client`, counted against the per-client bound.
    pub fn offer_from(&self, client: &str, value: T) -> Answer<R> {
        match self.try_admit(Some(client)) {
            Ok(permit) => permit.send(value),
            Err(rejection) => Answer::refused(rejection),
        }
    }

    /// Stops admitting (every later request is refused 503) and completes the stream of jobs
    /// once the queued ones were delivered. Returns `false` if the stream had ended already.
    pub fn complete(&self) -> bool {
        self.shared.complete()
    }

    /// Whether the edge no longer admits anything: completed, or its subscription ended.
    pub fn is_closed(&self) -> bool {
        self.shared.state.lock().end != End::Open
    }

    /// A consistent snapshot of the counts.
    pub fn stats(&self) -> EdgeStats {
        self.shared.stats()
    }

    /// The bound on requests in flight.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight
    }
}

impl<T, R> Clone for Edge<T, R> {
    fn clone(&self) -> Self {
        // Relaxed: a new handle is made from a live one, which keeps the count above 0.
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        Edge {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T, R> Drop for Edge<T, R> {
    fn drop(&mut self) {
        // AcqRel: the last handle's drop sees every other handle's use of the edge.
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let mut st = self.shared.state.lock();
        if st.end != End::Open {
            return;
        }
        st.end = End::Completed;
        let drain = st.drain.clone();
        drop(st);
        if let Some(drain) = drain {
            drain.wake();
        }
    }
}

impl<T, R> fmt::Debug for Edge<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.state.lock();
        f.debug_struct("Edge")
            .field("max_in_flight", &self.shared.max_in_flight)
            .field("retry_after", &self.shared.retry_after)
            .field("per_client", &self.shared.per_client)
            .field("end", &st.end)
            .field("demand", &st.demand)
            .field("held", &st.held)
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static, R: Send + 'static> Permit<T, R> {
    /// Sends the request's value to the pipeline and returns its answer.
    ///
    /// The job waits in the edge only until the subscriber takes it (demand was reserved for
    /// it at admission). If the subscription ended since the admission, the answer is a 503
    /// ([`Reason::Closed`]) at once.
    pub fn send(mut self, value: T) -> Answer<R> {
        self.sent = true;
        let client = self.client.take();
        let mut st = self.shared.state.lock();
        st.reserved -= 1;
        if st.end != End::Open {
            st.release(self.shared.per_client.as_ref().and(client.as_deref()));
            st.counts.overloaded += 1;
            let retry_after = st.next_retry_after(self.shared.retry_after);
            return Answer::refused(Rejection::new(Reason::Closed, retry_after));
        }
        st.counts.accepted += 1;
        let (tx, rx) = oneshot::channel();
        let ledger: Arc<dyn Ledger> = self.shared.clone();
        st.queue.push_back(Job {
            value,
            reply: Reply::new(ledger, client, tx),
        });
        let drain = st.drain.clone();
        drop(st);
        if let Some(drain) = drain {
            drain.wake();
        }
        Answer {
            state: AnswerState::Waiting(rx),
        }
    }

    /// The client's key, when the request had one.
    pub fn client(&self) -> Option<&str> {
        self.client.as_deref()
    }
}

impl<T, R> Drop for Permit<T, R> {
    fn drop(&mut self) {
        if self.sent {
            return;
        }
        let mut st = self.shared.state.lock();
        st.reserved -= 1;
        st.counts.withdrawn += 1;
        let client = self.client.take();
        st.release(self.shared.per_client.as_ref().and(client.as_deref()));
    }
}

impl<T, R> fmt::Debug for Permit<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("client", &self.client)
            .field("sent", &self.sent)
            .finish()
    }
}

impl<T, R, S> FromRequestParts<S> for Permit<T, R>
where
    T: Send + 'static,
    R: Send + 'static,
    S: Send + Sync,
    Edge<T, R>: FromRef<S>,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Edge::<T, R>::from_ref(state).admit(parts)
    }
}

impl<R> Answer<R> {
    fn refused(rejection: Rejection) -> Self {
        Answer {
            state: AnswerState::Refused(rejection),
        }
    }

    /// The rejection, when the request was refused without reaching the pipeline (decided
    /// when the answer was made).
    pub fn refused_with(&self) -> Option<&Rejection> {
        match &self.state {
            AnswerState::Refused(rejection) => Some(rejection),
            _ => None,
        }
    }
}

impl<R> Future for Answer<R> {
    type Output = Result<R, Rejection>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let outcome = match &mut this.state {
            AnswerState::Refused(_) => {
                let AnswerState::Refused(rejection) =
                    std::mem::replace(&mut this.state, AnswerState::Done)
                else {
                    unreachable!()
                };
                return Poll::Ready(Err(rejection));
            }
            AnswerState::Waiting(rx) => match Pin::new(rx).poll(cx) {
                Poll::Pending => return Poll::Pending,
                // The reply was dropped unanswered: the pipeline lost the job.
                Poll::Ready(received) => {
                    received.unwrap_or_else(|_| Err(Rejection::new(Reason::Dropped, None)))
                }
            },
            AnswerState::Done => panic!("Answer polled after it returned Ready"),
        };
        this.state = AnswerState::Done;
        Poll::Ready(outcome)
    }
}

impl<R> fmt::Debug for Answer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            AnswerState::Refused(r) => format!("Refused({r})"),
            AnswerState::Waiting(_) => "Waiting".to_string(),
            AnswerState::Done => "Done".to_string(),
        };
        f.debug_struct("Answer").field("state", &state).finish()
    }
}

impl<T, R> Jobs<T, R> {
    /// A consistent snapshot of the edge's counts (see [`Edge::stats`]).
    pub fn stats(&self) -> EdgeStats
    where
        T: Send + 'static,
        R: Send + 'static,
    {
        self.shared.stats()
    }
}

impl<T: Send + 'static, R: Send + 'static> Publisher for Jobs<T, R> {
    type Item = Job<T, R>;

    fn subscribe<S: Subscriber<Job<T, R>> + 'static>(&self, subscriber: S) {
        {
            let mut st = self.shared.state.lock();
            if st.subscribed {
                drop(st);
                let error = Error::protocol(
                    "1.9",
                    "http edge: the jobs publisher is unicast and already has its subscriber; \
                     this subscription was rejected",
                )
                .in_stage("http edge");
                source::fail(error).subscribe(subscriber);
                return;
            }
            st.subscribed = true;
            st.consumer_live = true;
        }
        let engine = Engine::start(
            JobsPull {
                shared: Arc::clone(&self.shared),
            },
            subscriber,
            EngineConfig::new(),
        );
        let mut st = self.shared.state.lock();
        if st.consumer_live {
            st.drain = Some(engine.clone() as Arc<dyn Wake>);
            drop(st);
            engine.wake();
        }
    }
}

impl<T, R> Drop for Jobs<T, R> {
    fn drop(&mut self) {
        let mut st = self.shared.state.lock();
        if !st.subscribed {
            // Nobody can ever take a job: refuse from now on. (Nothing is queued: there was
            // never any demand.)
            st.subscribed = true;
            st.end = End::Cancelled;
        }
    }
}

impl<T, R> fmt::Debug for Jobs<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.state.lock();
        f.debug_struct("Jobs")
            .field("subscribed", &st.subscribed)
            .field("end", &st.end)
            .finish_non_exhaustive()
    }
}

/// The subscription's source side: hands queued jobs out inside the engine's drain loop and
/// tells the edge the demand left.
struct JobsPull<T, R> {
    shared: Arc<Shared<T, R>>,
}

impl<T: Send + 'static, R: Send + 'static> Pull for JobsPull<T, R> {
    type Item = Job<T, R>;

    fn name(&self) -> &'static str {
        "http edge"
    }

    fn pull(&mut self, demand: u64) -> Pulled<Job<T, R>> {
        let mut st = self.shared.state.lock();
        match st.queue.pop_front() {
            Some(job) => {
                st.demand = demand - 1;
                st.counts.delivered += 1;
                Pulled::Ready(job)
            }
            None if st.end == End::Open => {
                st.demand = demand;
                Pulled::Pending
            }
            None => {
                st.demand = 0;
                Pulled::End
            }
        }
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        let st = self.shared.state.lock();
        (st.end != End::Open && st.queue.is_empty()).then_some(Ok(()))
    }
}

impl<T, R> Drop for JobsPull<T, R> {
    /// The subscription ended (completion, cancel, `request(0)`, a panicking subscriber) and
    /// the engine released its source side: refuse from now on, and answer the jobs still
    /// waiting here 503.
    fn drop(&mut self) {
        let mut st = self.shared.state.lock();
        st.consumer_live = false;
        st.demand = 0;
        if st.end == End::Open {
            st.end = End::Cancelled;
        }
        let released = st.drain.take();
        let waiting: Vec<Job<T, R>> = st.queue.drain(..).collect();
        drop(st);
        // Outside the lock: answering settles the job, which takes the lock.
        for job in waiting {
            job.reply.close();
        }
        drop(released);
    }
}
