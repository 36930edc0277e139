//! Kafka for rstreams: a consumer-group source whose demand pauses and resumes partitions, with
//! acknowledgement as a capability of each element and commits of the contiguous acked prefix,
//! and a producer sink with bounded in-flight. Built on `rdkafka` (librdkafka).
//!
//! | | what rstreams does | in Kafka |
//! |---|---|---|
//! | demand | `request(n)` on a [`KafkaSource`] subscription opens a window: outstanding demand − buffered, capped by [`max_unacked`](KafkaSource::max_unacked) − unacked | while the window is open the assigned partitions are fetched; when it closes (buffered-but-undelivered reaches the demand, or the unacked bound is full) they are **paused**, and **resumed** when demand returns. The consumer keeps polling while paused, so it stays in the group |
//! | fetch sizes | the source holds at most the outstanding demand (at most `max_unacked`) | librdkafka's own prefetch below it is bounded by `queued.min.messages` (default here 1000 per partition) and `queued.max.messages.kbytes` (1 MiB in all); a pause discards it and a resume fetches again from the last message handed over |
//! | ack | [`Delivery::ack`], when *you* are done with the element (never `on_next` returning, never a drop) | the offset after the **contiguous acked prefix** of the partition is committed (acks in any order: with offsets 0..5 fetched and 0, 2 acked the commit is 1); one synchronous commit per [`commit_interval`](KafkaSource::commit_interval) covers every partition that moved |
//! | unacked / dropped | a delivery dropped unacked stays unacked | its offset holds the partition's commit back: it and every later message come back after a restart or rebalance |
//! | rebalance | revoked partitions: acked prefix committed, **buffered messages discarded**, later acks of their deliveries answered [`Acked::Revoked`] and not committed; new partitions paused at once if the window is closed | the new owner starts from the committed offset |
//! | crash, cancel | cancel commits the acked prefix and leaves the group; a crash commits nothing more | the next owner of each partition starts at its committed offset: everything unacked (and acked after a gap) is delivered again |
//! | writes | [`KafkaSink`] requests [`in_flight`](KafkaSink::in_flight), one more per delivery report; a failed delivery cancels the upstream and is returned by [`SinkHandle::wait`], naming the topic | `produce`, with librdkafka's batching and retries |
//!
//! # Delivery guarantee: at least once
//!
//! A message is delivered **at least once**, never exactly once. Anything that stops between
//! fetching a message and committing its ack — a crash, a cancel with deliveries still
//! unacked, a rebalance, a panic, a dropped delivery, an ack of a message behind an unacked
//! one — makes it come back, possibly to another consumer of the group. So:
//!
//! - **make processing idempotent** (an upsert keyed by topic/partition/offset or by a
//!   business key, a dedup table, a conditional write), because duplicates will happen;
//! - **ack every message you are done with, skipped ones included**: an unacked message holds
//!   back its partition's commit, and everything after it is redelivered after a restart;
//! - **deal with poison messages yourself**: Kafka keeps no delivery count, so a message that
//!   fails every time comes back forever looking new. Count attempts in the application, and
//!   past a limit of your choosing produce the message to a dead-letter topic (a
//!   [`KafkaSink`]) and ack it.
//!
//! Broker durability is separate: `acks=all` (the producer's default) with a replication
//! factor of 3 and `min.insync.replicas=2` survives the loss of a broker.
//!
//! # Threads
//!
//! Each source subscription runs one fetcher thread that owns a `BaseConsumer` (polled, never
//! blocked for more than [`poll_interval`](KafkaSource::poll_interval)), and delivers on a
//! worker of [`deliver_on`](KafkaSource::deliver_on), so that processing never holds up
//! polling and rebalances; librdkafka runs its own threads underneath. The sink uses librdkafka's `ThreadedProducer`. No async runtime is
//! needed.
//!
//! ```no_run
//! use rstreams::{sink, Publisher};
//! use rstreams_kafka::{rdkafka::ClientConfig, Acked, Delivery, KafkaSource};
//!
//! let mut config = ClientConfig::new();
//! config.set("bootstrap.servers", "127.0.0.1:9092");
//! let source = KafkaSource::group(config, "billing", ["orders"]).max_unacked(256);
//! source.subscribe(sink::for_each(|delivery: Delivery<Option<Vec<u8>>>| {
//!     // process delivery.value (idempotently) ...
//!     if delivery.ack() != Acked::Recorded {
//!         // revoked by a rebalance or the subscription ended: it will be delivered again
//!     }
//! }));
//! ```
//!
//! # Building
//!
//! librdkafka 2.12.1 is compiled from the source bundled in `rdkafka-sys` (`./configure &&
//! make`): a C compiler and `make` are all it needs (no cmake, no pkg-config), since ssl,
//! sasl/gssapi, curl and zstd are off and zlib is built from the `libz-sys` crate. A cold
//! `cargo build -p rstreams-kafka` (debug, empty target directory) took 2 min 40 s wall and
//! 94 s of CPU on a 2-core machine shared with other builds (load average 8); most of it is
//! librdkafka's C build, paid once per target directory. Linking Debian's `librdkafka-dev`
//! instead (`rdkafka`'s `dynamic-linking` feature) is not possible there: `rdkafka-sys`
//! requires a system librdkafka at least as new as the bundled one, and Debian 12 ships
//! 2.0.2.
//!
//! # Tests
//!
//! No Kafka broker can be installed on the machines this crate is tested on, so the tests run
//! the real client library against **librdkafka's mock cluster** (`rdkafka::mocking`), an
//! in-process broker that speaks the protocol: consumer groups with rebalancing, offset
//! commits, produce and fetch, and injected request errors. It checks the logic — demand to
//! pause/resume, prefix commits, revocation, redelivery, bounded in-flight, failed deliveries
//! — not the behaviour of a real, replicated, remote cluster (timing, leader elections, disk).

#![warn(clippy::disallowed_types)] // shared state goes through rstreams_core::sync (clippy.toml)

mod delivery;
mod ledger;
mod sink;
mod source;

pub use delivery::Delivery;
pub use ledger::Acked;
pub use sink::{KafkaSink, Record, SinkHandle, MAX_IN_FLIGHT};
pub use source::{KafkaSource, SourceStats, MAX_UNACKED};

/// The `rdkafka` crate this one is built on, for [`rdkafka::ClientConfig`] and the mock
/// cluster.
///
/// ```
/// let mut config = rstreams_kafka::rdkafka::ClientConfig::new();
/// config.set("bootstrap.servers", "127.0.0.1:9092");
/// assert_eq!(config.get("bootstrap.servers"), Some("127.0.0.1:9092"));
/// ```
pub use rdkafka;
