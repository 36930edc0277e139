//! Redis Streams for rstreams: a consumer-group source whose demand is the broker's flow
//! control, with acknowledgement as a capability of each element, and an `XADD` sink.
//!
//! | | what rstreams does | on the broker |
//! |---|---|---|
//! | demand | `request(n)` on a [`StreamSource`] subscription | `XREADGROUP GROUP g c COUNT k BLOCK t STREAMS s >` with `k` = min(outstanding demand − buffered, [`max_unacked`](StreamSource::max_unacked) − held); at zero demand nothing is read |
//! | unacked bound | at most `max_unacked` deliveries read and not settled | demand is withheld: the pending list of this consumer stops growing |
//! | ack | [`Delivery::ack`], when *you* are done with the element (never `on_next` returning, never a drop) | `XACK s g id`: the entry leaves the pending list |
//! | nack / drop | [`Delivery::nack`], or dropping a [`Delivery`] unacked | nothing is sent: the entry stays pending and is redelivered after the lease |
//! | lease, reclaim | entries pending longer than [`lease`](StreamSource::lease) are delivered again, with [`delivery_count`](Delivery::delivery_count) + 1 | `XAUTOCLAIM s g c lease cursor COUNT k` (bounded by the same demand), count read with `XPENDING` |
//! | crash, cancel | a consumer that dies or cancels with unacked deliveries acks none of them | they stay pending; after the lease any consumer of the group claims and receives them |
//! | writes | [`StreamSink`] requests [`in_flight`](StreamSink::in_flight), one more per completed write | `XADD s [MAXLEN ~ n] * field value ...` |
//!
//! # Delivery guarantee: at least once
//!
//! An entry is delivered **at least once**, never exactly once. Anything that stops between
//! reading an entry and acking it — a crash, a cancel, a panic, a dropped delivery, an ack that
//! fails on the network, processing that outlasts the lease — makes the entry come back,
//! possibly to another consumer of the group. So:
//!
//! - **make processing idempotent** (an upsert keyed by the entry id, a dedup table, a
//!   conditional write), because duplicates will happen;
//! - **choose the lease longer than the worst processing time**: an entry whose lease expires
//!   while it is being processed is claimed by another consumer and processed twice (and the
//!   first holder's ack acks it for the whole group);
//! - **deal with poison messages by their [`delivery_count`](Delivery::delivery_count)**: an
//!   entry that fails every time comes back forever. Past a count of your choosing, park it (a
//!   dead-letter stream: [`StreamSink`] or a plain `XADD`) and ack it.
//!
//! Server durability is separate: without AOF (`appendonly yes`, `appendfsync always` to be
//! strict) a *server* crash loses entries whatever the consumers do.
//!
//! # Threads and connections
//!
//! Each source subscription runs one fetcher thread with two connections (blocking reads and
//! claims on one, acks on the other; a connection in `BLOCK` serves nothing else). The fetcher
//! waits for demand, reads with a short `BLOCK` ([`block`](StreamSource::block), 100 ms by
//! default) so that a cancel is noticed promptly, and wakes the subscription when entries
//! arrive. The sink runs one writer thread with one connection.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use rstreams_core::{sink, Publisher};
//! use rstreams_redis::{Delivery, Entry, StreamSource};
//!
//! let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
//! let source = StreamSource::group(client, "orders", "billing", "worker-1")
//!     .max_unacked(32)
//!     .lease(Duration::from_secs(60));
//! source.subscribe(sink::for_each(|delivery: Delivery<Entry>| {
//!     if delivery.delivery_count() > 5 {
//!         eprintln!("giving up on {}", delivery.id());
//!     } else {
//!         // process delivery.value (idempotently) ...
//!     }
//!     delivery.ack().unwrap();
//! }));
//! ```
//!
//! # Tests
//!
//! The tests run against a real `redis-server`: the one at `RSTREAMS_REDIS_URL` if set
//! (`RSTREAMS_REDIS_URL=redis://127.0.0.1:6379 cargo test -p rstreams-redis`), otherwise one
//! they start from `PATH` on a free loopback port.

#![warn(clippy::disallowed_types)] // shared state goes through rstreams_core::sync (clippy.toml)

mod delivery;
mod reconnect;
mod sink;
mod source;
mod wire;

pub use delivery::{Delivery, Entry};
pub use reconnect::Reconnect;
pub use sink::{SinkHandle, StreamSink};
pub use source::StreamSource;

/// The `redis` crate this one is built on, for [`redis::Client`].
///
/// ```
/// let client = rstreams_redis::redis::Client::open("redis://127.0.0.1:6379");
/// assert!(client.is_ok()); // opening does not connect
/// ```
pub use redis;
