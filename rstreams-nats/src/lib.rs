//! NATS JetStream for rstreams: a durable pull-consumer source whose demand is the pull batch,
//! with acknowledgement as a capability of each element, and a JetStream publish sink.
//!
//! | | what rstreams does | on the server |
//! |---|---|---|
//! | demand | `request(n)` on a [`PullSource`] subscription | a pull request `{batch: k, expires}` on `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>` with `k` = min(outstanding demand − buffered, [`max_ack_pending`](PullSource::max_ack_pending) − held, [`max_batch`](PullSource::max_batch)); at zero demand no pull is outstanding and nothing is delivered |
//! | unacked bound | at most `max_ack_pending` deliveries pulled and not settled per subscription | demand is withheld; the consumer's own `max_ack_pending` (set when this source creates it) caps all its subscriptions together |
//! | ack | [`Delivery::ack`], when *you* are done with the element (never `on_next` returning, never a drop) | `+ACK` on the message's reply subject: it leaves the consumer's pending set ([`ack_confirmed`](Delivery::ack_confirmed) waits for the server's confirmation) |
//! | nak | [`Delivery::nak`] (or [`nak_with_delay`](Delivery::nak_with_delay)) | `-NAK`: delivered again at once (or after the delay) to the next pull, with [`delivery_count`](Delivery::delivery_count) + 1 |
//! | in progress | [`Delivery::in_progress`], for a slow element | `+WPI`: its `ack_wait` starts again |
//! | term | [`Delivery::term`], for a poison message | `+TERM`: never delivered again |
//! | drop | dropping a [`Delivery`] unsettled | nothing is sent: it is delivered again after [`ack_wait`](PullSource::ack_wait) |
//! | crash, cancel | a subscription that dies or cancels with unacked deliveries acks none of them | after `ack_wait` the server delivers them to the next pull of any subscription of the durable consumer |
//! | writes | [`PublishSink`] requests [`in_flight`](PublishSink::in_flight), one more per publish the server acks | JetStream publish; a publish without an ack (no stream for the subject, a timeout) fails the sink, naming the subject |
//!
//! # Delivery guarantee: at least once
//!
//! A message is delivered **at least once**, never exactly once. Anything that stops between
//! pulling a message and acking it — a crash, a cancel, a panic, a dropped delivery, an ack
//! lost with a broken connection, processing that outlasts `ack_wait` — makes the message come
//! back, possibly to another subscription of the consumer. So:
//!
//! - **make processing idempotent** (an upsert keyed by
//!   [`stream_sequence`](Delivery::stream_sequence), a dedup table, a conditional write),
//!   because duplicates will happen;
//! - **choose `ack_wait` longer than the worst processing time**, or call
//!   [`in_progress`](Delivery::in_progress) while working: a message whose `ack_wait` expires
//!   while it is being processed is delivered to another subscription and processed twice;
//! - **deal with poison messages by their [`delivery_count`](Delivery::delivery_count)**: a
//!   message that fails every time comes back forever (or until the consumer's `max_deliver`).
//!   Past a count of your choosing, park it (a dead-letter subject: [`PublishSink`]) and
//!   [`term`](Delivery::term) it.
//!
//! Server durability is separate: a stream with file storage (the default) survives a server
//! restart; replication needs a cluster and streams with more than one replica.
//!
//! # Threads and connections
//!
//! async-nats is an async client that needs a tokio runtime for its connection task (reads,
//! writes, pings, reconnects) and its timers. So that the connector works for users who run no
//! runtime, and never runs their code inside one, each stage owns its runtime:
//!
//! - each [`PullSource`] subscription has **one connection** on a runtime with **one worker
//!   thread** (it drives the socket and the acks), and **one fetcher thread** that waits for
//!   demand, sends the pull requests, buffers what arrives and wakes the subscription. The
//!   subscription's drain loop (your `on_next`) runs on the fetcher thread or on a requester's,
//!   always outside the runtime. The connection lives as long as the subscription or any of its
//!   deliveries, so that deliveries can be acked after a cancel; the acks block only until they
//!   are queued on the connection (they work from any thread, also from another runtime's task);
//! - the [`PublishSink`] runs one writer thread with a single-threaded runtime and one
//!   connection; it requests more from its upstream between runtime steps, on that thread.
//!
//! A broken connection is reconnected by async-nats (to the same URL, or another of the
//! servers given); a pull lost with it expires on the client side and the next pull goes out on
//! the new connection, so the source goes on where it was. Repeated pull failures fail the
//! stream; a failed publish fails the sink.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use rstreams::{sink, Publisher};
//! use rstreams_nats::{Delivery, Message, PullSource};
//!
//! let source = PullSource::durable("nats://127.0.0.1:4222", "ORDERS", "billing")
//!     .max_ack_pending(32)
//!     .ack_wait(Duration::from_secs(60));
//! source.subscribe(sink::for_each(|delivery: Delivery<Message>| {
//!     if delivery.delivery_count() > 5 {
//!         eprintln!("giving up on {}", delivery.stream_sequence());
//!         delivery.term().unwrap();
//!     } else {
//!         // process delivery.value (idempotently) ...
//!         delivery.ack().unwrap();
//!     }
//! }));
//! ```
//!
//! # Tests
//!
//! The tests run against a real `nats-server` with JetStream: the one at `RSTREAMS_NATS_URL`
//! if set (`RSTREAMS_NATS_URL=nats://127.0.0.1:4222 cargo test -p rstreams-nats`, a server
//! started with `-js`), otherwise one they start from `PATH` on a free loopback port with a
//! temporary store directory (installed with `apt-get install -y nats-server` when missing and
//! running as root). The restart test always starts its own.

#![warn(clippy::disallowed_types)] // shared state goes through rstreams_core::sync (clippy.toml)

mod conn;
mod delivery;
mod sink;
mod source;

pub use delivery::{Delivery, Message};
pub use sink::{PublishSink, SinkHandle};
pub use source::PullSource;

/// The `async-nats` crate this one is built on, for [`async_nats::ConnectOptions`] and
/// [`async_nats::HeaderMap`].
///
/// ```
/// let options = rstreams_nats::async_nats::ConnectOptions::new().name("worker");
/// # let _ = options;
/// ```
pub use async_nats;
