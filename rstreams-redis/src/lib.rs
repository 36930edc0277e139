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
//! | slow broker | the sink's writes take longer, so it requests more later: the upstream slows to the broker's pace, at most `in_flight` elements held | `XADD` replies arrive late (a busy server, `CLIENT PAUSE ... WRITE`) |
//! | connection lost (server restart, network) | source and sink [`reconnect`](StreamSource::reconnect) with exponential backoff and jitter ([`Reconnect`]); the subscription only sees a pause; after the policy's attempts the last error is reported (`on_error` / the [`SinkHandle`]) naming the stream | new connection, `XGROUP CREATE ... MKSTREAM` again (a no-op if the group survived), `XAUTOCLAIM` scan from the start; cut-off reads stay pending, claimed after the lease; a cut-off `XADD` is sent again (may duplicate: [at least once](StreamSink#reconnection-and-the-duplicate-it-may-cost)) |
//! | ack during an outage | [`Delivery::ack`] retries once on a fresh connection, then returns the error | the entry stays pending and is redelivered after the lease |
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
//! strict) a *server* crash loses entries whatever the consumers do. With it, a restarted
//! server has the stream, the group and its pending entries back, and the source and the sink
//! carry on through the restart ([`Reconnect`]): every entry written before or after it is
//! processed at least once.
//!
//! # Across processes and machines
//!
//! The consumers of one group can run anywhere: the example `broker_pipeline`
//! (`cargo run -p rstreams-redis --example broker_pipeline -- --small`) runs a producer and two
//! worker processes on one group, kills one worker mid-way, and checks that the other claims
//! its unacked entries after the lease and that every entry was processed.
//!
//! # Threads and connections
//!
//! Each source subscription runs one fetcher thread with two connections (blocking reads and
//! claims on one, acks on the other, opened at the first ack; a connection in `BLOCK` serves
//! nothing else). Either is opened again when it breaks (see [`Reconnect`]). The fetcher
//! waits for demand, reads with a short `BLOCK` ([`block`](StreamSource::block), 100 ms by
//! default) so that a cancel is noticed promptly, and wakes the subscription when entries
//! arrive. The sink runs one writer thread with one connection.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use rstreams::{sink, Publisher};
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
//! they start from `PATH` on a free loopback port. Without a server they fail, saying how to
//! get one; they never pass by skipping. `tests/redis.rs` covers demand, the unacked bound,
//! acks, crash and reclaim, two consumers and the sink. `tests/outage.rs` always starts its
//! own servers (from `PATH`, even when `RSTREAMS_REDIS_URL` is set), because it kills them
//! (SIGKILL, by PID) and starts them again on the same port with their append-only file
//! (`appendfsync always`): the source and the sink go on through a restart with nothing lost,
//! a server that stays down is reported with the stream and the attempts, and a broker paused
//! with `CLIENT PAUSE ... WRITE` holds the sink's upstream at `in_flight` until everything
//! lands after `CLIENT UNPAUSE`.

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
