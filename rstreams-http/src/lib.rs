//! An HTTP edge for rstreams (axum): each request's work is offered into a pipeline as a
//! [`Job`], admitted only against the pipeline's demand, and refused at once — 503, or 429 for
//! a client over its own bound, with `Retry-After` — instead of queued.
//!
//! | | what the edge does |
//! |---|---|
//! | admission | a request is admitted when the pipeline has outstanding demand (`request(n)` not yet met by jobs delivered or reserved), fewer than `max_in_flight` requests are in flight, and its client is under its per-client bound; otherwise it is refused **at once**. No queue grows anywhere: the edge holds at most the demand the pipeline asked for ([`Edge`], "Admission") |
//! | 503 | the *server* cannot take it: no demand ([`Reason::NoDemand`]), `max_in_flight` reached ([`Reason::InFlightFull`]), the pipeline not running ([`Reason::Closed`]), or the pipeline shed the job ([`Job::shed`], [`Reason::Shed`]) |
//! | 429 | the *client* has `limit` requests in flight already ([`EdgeConfig::per_client`], keyed by a [`ClientKey`]: a header, the peer address, any function of the request head); other clients are still served |
//! | `Retry-After` | on every 503 and 429, in whole seconds: [`RetryAfter::seconds`] (1 by default) or [`RetryAfter::spread`] (consecutive refusals walk through a range, so refused clients do not return in one wave). A configured value, not a prediction: see [`RetryAfter`] |
//! | reply | the pipeline answers with [`Job::reply`] (or [`Reply::send`]): the request gets the reply as its response (`R: IntoResponse`) |
//! | job dropped | a job dropped without a reply (filtered, lost in an error, a panic) answers **500**; the client never hangs |
//! | cancel, failure | when the pipeline's subscription ends, jobs still waiting in the edge answer 503 ([`Reason::Closed`], safe to retry) and every later request is refused 503; jobs the pipeline holds are answered (or dropped: 500) by it |
//! | client gone | the job stays in the pipeline, which can check [`Job::is_abandoned`] and skip the work |
//! | closing | [`Edge::complete`], or dropping the last [`Edge`] (the router), completes the jobs' stream once the waiting ones were delivered |
//!
//! The edge is two handles: an [`Edge`] on the request side (a clonable handle, the router's
//! state; [`Permit`] is its axum extractor, decided before the body is read) and [`Jobs`],
//! the publisher the pipeline subscribes to. Its subscription is built on rstreams' engine
//! (`rstreams_core::support`), so demand, `request(0)`, cancel and the drain loop are the
//! same as every other source's: the edge only reads the demand the engine hands its pull.
//! [`Edge::stats`] accounts for every request ([`EdgeStats`]).
//!
//! # Serving
//!
//! ```no_run
//! use std::net::SocketAddr;
//!
//! use axum::{routing::post, Router};
//! use rstreams::scheduler::ThreadPool;
//! use rstreams::{sink, Publisher};
//! use rstreams_http::{ClientKey, Edge, EdgeConfig, Job, Permit, Rejection, RetryAfter};
//! use rstreams::ops::PublisherExt;
//!
//! /// Admission runs first (the extractor), then the body is read and sent to the pipeline.
//! async fn resize(permit: Permit<Vec<u8>, String>, body: axum::body::Bytes) -> Result<String, Rejection> {
//!     permit.send(body.to_vec()).await
//! }
//!
//! #[tokio::main]
//! async fn main() {
//!     let config = EdgeConfig::new(64)
//!         .retry_after(RetryAfter::spread(1, 4))
//!         .per_client(ClientKey::header("x-api-key"), 8);
//!     let (edge, jobs) = Edge::<Vec<u8>, String>::with_config(config);
//!
//!     // The pipeline: off the server's threads at once, 16 jobs requested ahead, 4 workers.
//!     jobs.publish_on(ThreadPool::new(4), 16)
//!         .subscribe(sink::for_each(|job: Job<Vec<u8>, String>| {
//!             job.reply_with(|image| format!("{} bytes", image.len()));
//!         }));
//!
//!     let app = Router::new().route("/resize", post(resize)).with_state(edge);
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.unwrap();
//!     axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
//!         .await
//!         .unwrap();
//! }
//! ```
//!
//! # Without a server
//!
//! [`Edge::offer`] is the same admission for any caller; its [`Answer`] is a future.
//!
//! ```
//! use axum::http::StatusCode;
//! use rstreams::{sink, Publisher};
//! use rstreams_http::{Edge, Job, Reason};
//! # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//!
//! let (edge, jobs) = Edge::<u32, u32>::new(8);
//! // A pipeline that asks for two jobs at a time.
//! jobs.subscribe(sink::for_each(|job: Job<u32, u32>| {
//!     job.reply_with(|x| x * 2);
//! }).batch(2));
//! assert_eq!(rt.block_on(edge.offer(21)), Ok(42));
//!
//! // A pipeline with no demand at all refuses at once: nothing waits.
//! let (idle, _jobs) = Edge::<u32, u32>::new(8);
//! let refused = rt.block_on(idle.offer(1)).unwrap_err();
//! assert_eq!(refused.reason(), Reason::NoDemand);
//! assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
//! assert_eq!(refused.retry_after(), Some(std::time::Duration::from_secs(1)));
//! ```

#![warn(clippy::disallowed_types)] // shared state goes through rstreams_core::sync (clippy.toml)

mod client;
mod edge;
mod job;
mod rejection;

pub use client::ClientKey;
pub use edge::{Answer, Edge, EdgeConfig, EdgeStats, Jobs, Permit};
pub use job::{Job, Reply};
pub use rejection::{Reason, Rejection, RetryAfter};
