//! [`Delivery`], the element a [`PullSource`](crate::PullSource) emits, and [`Message`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::AckKind;
use async_nats::HeaderMap;
use bytes::Bytes;
use rstreams_core::support::Unsettled;
use rstreams_core::Error;

use crate::conn::Conn;

const STAGE: &str = "nats delivery";

/// One message of a JetStream stream, as a pull consumer delivered it.
///
/// ```
/// use rstreams_nats::Message;
///
/// let message = Message::new("orders.eu", "12");
/// assert_eq!(message.subject, "orders.eu");
/// assert_eq!(&message.payload[..], b"12");
/// assert_eq!(message.payload_str(), Some("12"));
/// assert!(message.headers.is_none());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The subject it was published on.
    pub subject: String,
    /// Its payload.
    pub payload: Bytes,
    /// Its headers, if it had any.
    pub headers: Option<HeaderMap>,
}

impl Message {
    /// A message with this subject and payload and no headers.
    ///
    /// ```
    /// let message = rstreams_nats::Message::new("s", vec![1u8, 2]);
    /// assert_eq!(message.payload.len(), 2);
    /// ```
    pub fn new(subject: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Message {
            subject: subject.into(),
            payload: payload.into(),
            headers: None,
        }
    }

    /// The payload, if it is UTF-8.
    ///
    /// ```
    /// let message = rstreams_nats::Message::new("s", vec![0xffu8]);
    /// assert_eq!(message.payload_str(), None); // not UTF-8
    /// ```
    pub fn payload_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.payload).ok()
    }
}

/// A value pulled from a JetStream consumer, with the capability to acknowledge it.
///
/// The message stays pending on the consumer (counted in its `num_ack_pending`, under its
/// `max_ack_pending`) until [`ack`](Self::ack), [`nak`](Self::nak) or [`term`](Self::term).
/// Returning from `on_next` acks nothing; neither does dropping a delivery: a delivery dropped
/// unsettled sends nothing, frees its slot under
/// [`max_ack_pending`](crate::PullSource::max_ack_pending), and the server delivers the message
/// again once its [`ack_wait`](crate::PullSource::ack_wait) has passed.
///
/// [`map`](Self::map) decodes the value and keeps the ack handle, so the decoded element can
/// still be acked downstream.
///
/// ```no_run
/// use rstreams::{sink, Publisher};
/// use rstreams_nats::{Delivery, Message, PullSource};
///
/// let source = PullSource::durable("nats://127.0.0.1:4222", "ORDERS", "billing");
/// source.subscribe(sink::for_each(|delivery: Delivery<Message>| {
///     if delivery.delivery_count() > 5 {
///         // A poison message: park it somewhere, then stop its redelivery.
///         delivery.term().unwrap();
///         return;
///     }
///     let amount = delivery.map(|m| m.payload_str().and_then(|s| s.parse::<u64>().ok()));
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
    /// The message as async-nats has it: its reply subject is where acks go.
    message: jetstream::Message,
    delivery_count: u64,
    stream_sequence: u64,
    conn: Arc<Conn>,
    /// The source's count of unsettled deliveries (its `max_ack_pending` bound).
    unsettled: Unsettled,
    /// Whether the delivery has given back its slot under the bound (acked, nak'ed, termed,
    /// dropped); set once.
    settled: bool,
}

impl Ticket {
    fn settle(&mut self) {
        if !self.settled {
            self.settled = true;
            self.unsettled.release();
        }
    }

    /// Sends `kind` on the message's reply subject (queued on the connection).
    fn send(&self, kind: AckKind, what: &'static str) -> Result<(), Error> {
        let message = self.message.clone();
        self.conn
            .run(async move { message.ack_with(kind).await })
            .map_err(|e| Error::msg(e).context(what).in_stage(STAGE))
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        // Nothing sent: the server redelivers after ack_wait.
        self.settle();
    }
}

impl<T: fmt::Debug> fmt::Debug for Delivery<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("value", &self.value)
            .field("stream_sequence", &self.ticket.stream_sequence)
            .field("delivery_count", &self.ticket.delivery_count)
            .finish()
    }
}

impl Delivery<Message> {
    /// A delivery of `message`, holding one slot under the bound until settled.
    pub(crate) fn new(
        message: jetstream::Message,
        conn: &Arc<Conn>,
        unsettled: &Unsettled,
    ) -> Result<Self, Error> {
        let info = message.info().map_err(|e| {
            Error::msg(e)
                .context("reading the delivery info of a pulled message")
                .in_stage(STAGE)
        })?;
        let (delivery_count, stream_sequence) =
            (info.delivered.max(1) as u64, info.stream_sequence);
        let value = Message {
            subject: message.subject.to_string(),
            payload: message.payload.clone(),
            headers: message.headers.clone(),
        };
        unsettled.hold();
        Ok(Delivery {
            value,
            ticket: Ticket {
                message,
                delivery_count,
                stream_sequence,
                conn: Arc::clone(conn),
                unsettled: unsettled.clone(),
                settled: false,
            },
        })
    }
}

impl<T> Delivery<T> {
    /// The message's sequence number in the stream: the same on every redelivery, a key for
    /// idempotent processing.
    ///
    /// ```no_run
    /// # fn f(delivery: rstreams_nats::Delivery<rstreams_nats::Message>) {
    /// println!("stream sequence {}", delivery.stream_sequence());
    /// # }
    /// ```
    pub fn stream_sequence(&self) -> u64 {
        self.ticket.stream_sequence
    }

    /// How many times the consumer has delivered this message, this time included: 1 the
    /// first time, more after a [`nak`](Self::nak), an expired `ack_wait` or a crashed
    /// consumer (read from the message's JetStream metadata). Dead-letter poison messages on
    /// it.
    ///
    /// ```no_run
    /// # fn f(delivery: rstreams_nats::Delivery<rstreams_nats::Message>) {
    /// if delivery.delivery_count() > 3 {
    ///     // give up on it: log, park, then term
    /// }
    /// # }
    /// ```
    pub fn delivery_count(&self) -> u64 {
        self.ticket.delivery_count
    }

    /// Acknowledges the message (`+ACK`): the consumer never delivers it again. Returns once
    /// the ack is queued on the connection; the server does not confirm it (use
    /// [`ack_confirmed`](Self::ack_confirmed) to wait for that). An ack lost on the way (the
    /// connection breaks first) means a redelivery after `ack_wait`: at least once.
    ///
    /// # Errors
    ///
    /// The client's, when the ack could not be queued (the connection is closed). The message
    /// then stays pending and comes back after `ack_wait`.
    ///
    /// ```no_run
    /// # fn f(delivery: rstreams_nats::Delivery<rstreams_nats::Message>) {
    /// delivery.ack().unwrap();
    /// # }
    /// ```
    pub fn ack(mut self) -> Result<(), Error> {
        let sent = self.ticket.send(AckKind::Ack, "+ACK");
        self.ticket.settle();
        sent
    }

    /// Acknowledges the message and waits for the server to confirm it (a "double ack"): when
    /// this returns `Ok`, the server has recorded the ack. Slower (a round trip); for side
    /// effects that must not run twice once the message is known to be acked.
    ///
    /// # Errors
    ///
    /// The client's, or a timeout waiting for the confirmation (the ack may or may not have
    /// been recorded: treat the message as possibly redelivered).
    ///
    /// ```no_run
    /// # fn f(delivery: rstreams_nats::Delivery<rstreams_nats::Message>) {
    /// delivery.ack_confirmed().unwrap();
    /// # }
    /// ```
    pub fn ack_confirmed(mut self) -> Result<(), Error> {
        let message = self.ticket.message.clone();
        let confirmed = self
            .ticket
            .conn
            .run(async move { message.double_ack().await })
            .map_err(|e| Error::msg(e).context("+ACK (confirmed)").in_stage(STAGE));
        self.ticket.settle();
        confirmed
    }

    /// Gives the message back (`-NAK`): the server delivers it again at once, to the next pull
    /// of any subscription of the consumer (this one included), with a higher
    /// [`delivery_count`](Self::delivery_count). Its slot under `max_ack_pending` is freed now.
    ///
    /// # Errors
    ///
    /// As [`ack`](Self::ack); the message then comes back after `ack_wait` instead.
    ///
    /// ```no_run
    /// # fn f(delivery: rstreams_nats::Delivery<rstreams_nats::Message>) {
    /// delivery.nak().unwrap(); // try again now
    /// # }
    /// ```
    pub fn nak(mut self) -> Result<(), Error> {
        let sent = self.ticket.send(AckKind::Nak(None), "-NAK");
        self.ticket.settle();
        sent
    }

    /// [`nak`](Self::nak), but the server waits `delay` before delivering it again (a retry
    /// with back-off).
    ///
    /// # Errors
    ///
    /// As [`ack`](Self::ack).
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # fn f(delivery: rstreams_nats::Delivery<rstreams_nats::Message>) {
    /// delivery.nak_with_delay(Duration::from_secs(10)).unwrap();
    /// # }
    /// ```
    pub fn nak_with_delay(mut self, delay: Duration) -> Result<(), Error> {
        let sent = self
            .ticket
            .send(AckKind::Nak(Some(delay)), "-NAK with delay");
        self.ticket.settle();
        sent
    }

    /// Tells the server that the message is still being worked on (`+WPI`): its `ack_wait`
    /// starts again from now, so a slow element is not redelivered to another subscription
    /// meanwhile. The delivery stays unsettled; call it again before each `ack_wait` passes.
    ///
    /// # Errors
    ///
    /// As [`ack`](Self::ack).
    ///
    /// ```no_run
    /// # fn f(delivery: rstreams_nats::Delivery<rstreams_nats::Message>) {
    /// delivery.in_progress().unwrap();
    /// // ... a long piece of work ...
    /// delivery.ack().unwrap();
    /// # }
    /// ```
    pub fn in_progress(&self) -> Result<(), Error> {
        self.ticket.send(AckKind::Progress, "+WPI")
    }

    /// Stops the message's redelivery for good (`+TERM`) without processing it: for a poison
    /// message, after parking it somewhere of your choosing.
    ///
    /// # Errors
    ///
    /// As [`ack`](Self::ack).
    ///
    /// ```no_run
    /// # fn f(delivery: rstreams_nats::Delivery<rstreams_nats::Message>) {
    /// if delivery.delivery_count() > 5 {
    ///     delivery.term().unwrap();
    /// }
    /// # }
    /// ```
    pub fn term(mut self) -> Result<(), Error> {
        let sent = self.ticket.send(AckKind::Term, "+TERM");
        self.ticket.settle();
        sent
    }

    /// The same delivery with its value replaced by `f(value)`: decode a [`Message`] into a
    /// type of yours and keep the ack handle.
    ///
    /// ```no_run
    /// # fn f(delivery: rstreams_nats::Delivery<rstreams_nats::Message>) {
    /// let text = delivery.map(|m| m.payload_str().map(str::to_owned));
    /// text.ack().unwrap();
    /// # }
    /// ```
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Delivery<U> {
        let Delivery { value, ticket } = self;
        Delivery {
            value: f(value),
            ticket,
        }
    }

    /// The value, giving up the delivery unsettled: nothing is sent, and the message comes
    /// back after `ack_wait`.
    ///
    /// ```no_run
    /// # fn f(delivery: rstreams_nats::Delivery<rstreams_nats::Message>) {
    /// let message = delivery.into_value(); // not acked: it comes back after ack_wait
    /// # let _ = message;
    /// # }
    /// ```
    pub fn into_value(self) -> T {
        self.value
    }
}
