//! [`Delivery`], the element a [`StreamSource`](crate::StreamSource) emits, and [`Entry`].

use std::fmt;
use std::sync::Arc;

use std::time::Duration;

use redis::{Client, Connection};
use rstreams_core::support::Unsettled;
use rstreams_core::sync::Mutex;
use rstreams_core::Error;

use crate::reconnect::is_transient;

/// How long opening the ack connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an ack may wait for its reply.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// One entry of a Redis stream: its id and its fields, in the order they were written.
///
/// ```
/// use rstreams_redis::Entry;
///
/// let entry = Entry::new("1-0", vec![("amount".into(), b"12".to_vec())]);
/// assert_eq!(entry.id, "1-0");
/// assert_eq!(entry.get("amount"), Some(&b"12"[..]));
/// assert_eq!(entry.get_str("amount"), Some("12"));
/// assert_eq!(entry.get("missing"), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The entry's id (`1700000000000-0`).
    pub id: String,
    /// Its fields and values, in order.
    pub fields: Vec<(String, Vec<u8>)>,
}

impl Entry {
    /// An entry with this id and these fields.
    ///
    /// ```
    /// let entry = rstreams_redis::Entry::new("1-0", vec![("k".into(), b"v".to_vec())]);
    /// assert_eq!(entry.fields.len(), 1);
    /// ```
    pub fn new(id: impl Into<String>, fields: Vec<(String, Vec<u8>)>) -> Self {
        Entry {
            id: id.into(),
            fields,
        }
    }

    /// The value of the first field named `name`.
    ///
    /// ```
    /// let entry = rstreams_redis::Entry::new("1-0", vec![("k".into(), b"v".to_vec())]);
    /// assert_eq!(entry.get("k"), Some(&b"v"[..]));
    /// ```
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The value of the first field named `name`, if it is UTF-8.
    ///
    /// ```
    /// let entry = rstreams_redis::Entry::new("1-0", vec![("k".into(), vec![0xff])]);
    /// assert_eq!(entry.get_str("k"), None); // not UTF-8
    /// ```
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }
}

/// Acks for one subscription: its own connection (the fetcher's is blocked in reads), opened
/// when first needed and again after it broke.
pub(crate) struct Acker {
    client: Client,
    /// The ack connection: `None` before the first ack and after a connection error (the next
    /// ack opens a new one).
    conn: Mutex<Option<Connection>>,
    stream: String,
    group: String,
    /// The source's count of unsettled deliveries (its `max_unacked` bound).
    unsettled: Unsettled,
}

impl Acker {
    pub(crate) fn new(client: Client, stream: String, group: String, unsettled: Unsettled) -> Self {
        Acker {
            client,
            conn: Mutex::new(None),
            stream,
            group,
            unsettled,
        }
    }

    /// `XACK stream group id`, on a new connection if the last one broke. `XACK` is idempotent,
    /// so a connection error is retried once on a fresh connection (a stale connection left by
    /// a server restart fails its first command); a second failure is returned.
    fn ack(&self, id: &str) -> Result<u64, Error> {
        let mut conn = self.conn.lock();
        let mut last = None;
        for _ in 0..2 {
            if conn.is_none() {
                let opened = self
                    .client
                    .get_connection_with_timeout(CONNECT_TIMEOUT)
                    .and_then(|fresh| {
                        // A hung server fails the ack instead of blocking the caller for ever.
                        fresh.set_read_timeout(Some(ACK_TIMEOUT))?;
                        Ok(fresh)
                    });
                match opened {
                    Ok(fresh) => *conn = Some(fresh),
                    Err(e) => {
                        last = Some(e);
                        continue;
                    }
                }
            }
            let Some(c) = conn.as_mut() else { continue };
            match redis::cmd("XACK")
                .arg(&self.stream)
                .arg(&self.group)
                .arg(id)
                .query::<u64>(c)
            {
                Ok(n) => return Ok(n),
                Err(e) => {
                    let transient = is_transient(&e);
                    if transient {
                        *conn = None;
                    }
                    last = Some(e);
                    if !transient {
                        break;
                    }
                }
            }
        }
        let error = last.map_or_else(|| Error::msg("no connection"), Error::new);
        Err(error
            .context(format!(
                "XACK {id} on stream {:?} (group {:?}); the entry stays pending and comes back after the lease",
                self.stream, self.group
            ))
            .in_stage("redis delivery"))
    }
}

/// A value read from a stream, with the capability to acknowledge it.
///
/// The entry stays in the consumer group's pending entries list until [`ack`](Self::ack).
/// Returning from `on_next` acks nothing; neither does dropping a delivery: a delivery dropped
/// unacked is treated as [`nack`](Self::nack)ed (its slot under
/// [`max_unacked`](crate::StreamSource::max_unacked) is freed, the entry stays pending and is
/// delivered again after the [lease](crate::StreamSource::lease)).
///
/// [`map`](Self::map) decodes the value and keeps the ack handle, so the decoded element can
/// still be acked downstream.
///
/// ```no_run
/// use rstreams::{sink, Publisher};
/// use rstreams_redis::StreamSource;
///
/// let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
/// let source = StreamSource::group(client, "orders", "billing", "worker-1");
/// source.subscribe(sink::for_each(|delivery: rstreams_redis::Delivery<rstreams_redis::Entry>| {
///     if delivery.delivery_count() > 5 {
///         // A poison message: park it somewhere, then ack it so that it stops coming back.
///     }
///     let amount = delivery.map(|entry| entry.get_str("amount").map(str::to_owned));
///     println!("{:?}", amount.value);
///     amount.ack().unwrap();
/// }));
/// ```
pub struct Delivery<T> {
    /// The delivered value.
    pub value: T,
    ticket: Ticket,
}

/// The non-generic part of a delivery: settles it exactly once (in `Drop` if not before).
struct Ticket {
    id: String,
    delivery_count: u64,
    acker: Arc<Acker>,
    settled: bool,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.settled {
            self.settled = true;
            self.acker.unsettled.release();
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Delivery<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("value", &self.value)
            .field("id", &self.ticket.id)
            .field("delivery_count", &self.ticket.delivery_count)
            .finish()
    }
}

impl Delivery<Entry> {
    /// A delivery of `entry`, holding one slot under the bound until settled.
    pub(crate) fn new(entry: Entry, delivery_count: u64, acker: &Arc<Acker>) -> Self {
        acker.unsettled.hold();
        Delivery {
            ticket: Ticket {
                id: entry.id.clone(),
                delivery_count,
                acker: Arc::clone(acker),
                settled: false,
            },
            value: entry,
        }
    }
}

impl<T> Delivery<T> {
    /// The id of the stream entry this delivery carries.
    ///
    /// ```no_run
    /// # fn f(delivery: rstreams_redis::Delivery<rstreams_redis::Entry>) {
    /// assert_eq!(delivery.id(), delivery.value.id);
    /// # }
    /// ```
    pub fn id(&self) -> &str {
        &self.ticket.id
    }

    /// How many times the group has delivered this entry, this time included: 1 for a first
    /// read, more for an entry reclaimed after its lease (`XAUTOCLAIM` raises it; the value is
    /// read back with `XPENDING`). Dead-letter poison messages on it.
    ///
    /// ```no_run
    /// # fn f(delivery: rstreams_redis::Delivery<rstreams_redis::Entry>) {
    /// if delivery.delivery_count() > 3 {
    ///     // give up on it: log, park, then ack
    /// }
    /// # }
    /// ```
    pub fn delivery_count(&self) -> u64 {
        self.ticket.delivery_count
    }

    /// Acknowledges the entry (`XACK`): it leaves the group's pending list and is never
    /// delivered again. Returns whether this ack removed it (`false`: it was no longer pending
    /// — acked already, for instance by a consumer that claimed it after the lease).
    ///
    /// # Errors
    ///
    /// The connection's error, when the ack could not reach the server (during an outage, for
    /// instance). The entry then **is not acked**: it stays pending and is delivered again after
    /// the [lease](crate::StreamSource::lease), to this consumer or another, once the server is
    /// back; its slot under `max_unacked` is freed all the same. A connection error is retried
    /// once on a fresh connection first (`XACK` is idempotent), so a connection left stale by a
    /// server restart does not fail the first ack after it. An ack never waits for the source's
    /// [reconnection](crate::StreamSource::reconnect) backoff: it tries now and answers (within
    /// 5 s to connect and 10 s for the reply, so a hung server does not block the caller).
    ///
    /// ```no_run
    /// # fn f(delivery: rstreams_redis::Delivery<rstreams_redis::Entry>) {
    /// let removed = delivery.ack().unwrap();
    /// assert!(removed);
    /// # }
    /// ```
    pub fn ack(mut self) -> Result<bool, Error> {
        let acker = Arc::clone(&self.ticket.acker);
        let acked = acker.ack(&self.ticket.id);
        self.ticket.settled = true;
        acker.unsettled.release();
        acked.map(|n| n == 1)
    }

    /// Gives the entry back without acknowledging it: it stays in the group's pending list and
    /// is delivered again, to whichever consumer of the group claims it first (this one
    /// included), once it has been pending longer than the
    /// [lease](crate::StreamSource::lease), with a higher delivery count. Its slot under
    /// `max_unacked` is freed now. Nothing is sent to the server (Redis has no negative ack);
    /// dropping a delivery does the same.
    ///
    /// ```no_run
    /// # fn f(delivery: rstreams_redis::Delivery<rstreams_redis::Entry>) {
    /// delivery.nack(); // try again later
    /// # }
    /// ```
    pub fn nack(self) {
        drop(self);
    }

    /// The same delivery with its value replaced by `f(value)`: decode an [`Entry`] into a
    /// type of yours and keep the ack handle.
    ///
    /// ```no_run
    /// # fn f(delivery: rstreams_redis::Delivery<rstreams_redis::Entry>) {
    /// let amount = delivery.map(|e| e.get_str("amount").and_then(|a| a.parse::<u64>().ok()));
    /// amount.ack().unwrap();
    /// # }
    /// ```
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Delivery<U> {
        let Delivery { value, ticket } = self;
        Delivery {
            value: f(value),
            ticket,
        }
    }

    /// The value, giving up the delivery (as [`nack`](Self::nack) does).
    ///
    /// ```no_run
    /// # fn f(delivery: rstreams_redis::Delivery<rstreams_redis::Entry>) {
    /// let entry = delivery.into_value(); // not acked: it comes back after the lease
    /// # let _ = entry;
    /// # }
    /// ```
    pub fn into_value(self) -> T {
        self.value
    }
}
