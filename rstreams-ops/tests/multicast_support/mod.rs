//! A processor made of a multicast operator, for the kit's `ProcessorVerification`: the kit
//! subscribes the [`Relay`] to its upstream and subscribers to it; the relay hands the
//! upstream's signals to the operator's own upstream subscriber (what `connect`, or `share`'s
//! first subscriber, subscribed to a [`Feed`]), whichever comes first.

#![allow(dead_code)] // each test file uses its own subset

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use rstreams_core::{BoxPublisher, Error, Publisher, Subscriber, Subscription};
use rstreams_ops::Connection;

enum Signal<T> {
    Subscribe(Arc<dyn Subscription>),
    Next(T),
    End(Option<Error>),
}

fn deliver<T>(to: &mut dyn Subscriber<T>, signal: Signal<T>) {
    match signal {
        Signal::Subscribe(s) => to.on_subscribe(s),
        Signal::Next(x) => to.on_next(x),
        Signal::End(None) => to.on_complete(),
        Signal::End(Some(e)) => to.on_error(e),
    }
}

struct Slot<T> {
    /// The operator's upstream subscriber, once it subscribed the feed and caught up.
    inlet: Option<Box<dyn Subscriber<T>>>,
    /// Signals from the kit's upstream that came before it.
    pending: VecDeque<Signal<T>>,
}

/// The source a multicast operator is built on: what subscribes it receives the relay's
/// signals.
pub struct Feed<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

impl<T> Clone for Feed<T> {
    /// The same feed: whichever subscribes it (one connection at a time) receives the signals.
    fn clone(&self) -> Self {
        Feed {
            slot: Arc::clone(&self.slot),
        }
    }
}

impl<T: Send + 'static> Publisher for Feed<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + 'static>(&self, subscriber: S) {
        let mut inlet: Box<dyn Subscriber<T>> = Box::new(subscriber);
        loop {
            let next = {
                let mut slot = self.slot.lock().unwrap();
                match slot.pending.pop_front() {
                    Some(signal) => signal,
                    None => {
                        slot.inlet = Some(inlet);
                        return;
                    }
                }
            };
            deliver(&mut *inlet, next);
        }
    }
}

/// The processor: a subscriber for the kit's upstream, and the multicast publisher.
pub struct Relay<T> {
    slot: Arc<Mutex<Slot<T>>>,
    inlet: Option<Box<dyn Subscriber<T>>>,
    out: BoxPublisher<T>,
    /// For a connectable multicast (`publish`, `replay`): connects it.
    connect: Option<Arc<dyn Fn() -> Connection + Send + Sync>>,
}

/// A relay whose publisher is `make(feed)`.
pub fn relay<T, Q>(make: impl FnOnce(Feed<T>) -> Q) -> Relay<T>
where
    T: Send + 'static,
    Q: Publisher<Item = T> + Send + Sync + 'static,
{
    let slot = Arc::new(Mutex::new(Slot {
        inlet: None,
        pending: VecDeque::new(),
    }));
    let out = make(Feed {
        slot: Arc::clone(&slot),
    })
    .boxed();
    Relay {
        slot,
        inlet: None,
        out,
        connect: None,
    }
}

/// A relay whose publisher is the connectable `make(feed)`, which [`Relay::connect`]
/// connects with `connect` (the kit's `ProcessorVerification::connectable`).
pub fn connectable_relay<T, Q>(
    make: impl FnOnce(Feed<T>) -> Q,
    connect: impl Fn(&Q) -> Connection + Send + Sync + 'static,
) -> Relay<T>
where
    T: Send + 'static,
    Q: Publisher<Item = T> + Clone + Send + Sync + 'static,
{
    let slot = Arc::new(Mutex::new(Slot {
        inlet: None,
        pending: VecDeque::new(),
    }));
    let multicast = make(Feed {
        slot: Arc::clone(&slot),
    });
    let out = multicast.clone().boxed();
    Relay {
        slot,
        inlet: None,
        out,
        connect: Some(Arc::new(move || connect(&multicast))),
    }
}

impl<T> Clone for Relay<T> {
    fn clone(&self) -> Self {
        Relay {
            slot: Arc::clone(&self.slot),
            inlet: None,
            out: self.out.clone(),
            connect: self.connect.clone(),
        }
    }
}

impl<T: Send + 'static> Relay<T> {
    /// Connects a relay made by [`connectable_relay`]; returns what ends the connection.
    pub fn connect(&self) -> impl FnOnce() + Send + 'static {
        let connection = (self.connect.as_ref().expect("a connectable relay"))();
        move || connection.disconnect()
    }

    fn signal(&mut self, signal: Signal<T>) {
        if self.inlet.is_none() {
            let mut slot = self.slot.lock().unwrap();
            match slot.inlet.take() {
                Some(inlet) => self.inlet = Some(inlet),
                None => {
                    slot.pending.push_back(signal);
                    return;
                }
            }
        }
        deliver(&mut **self.inlet.as_mut().expect("taken above"), signal);
    }
}

impl<T: Send + 'static> Subscriber<T> for Relay<T> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        self.signal(Signal::Subscribe(subscription))
    }
    fn on_next(&mut self, item: T) {
        self.signal(Signal::Next(item))
    }
    fn on_error(&mut self, error: Error) {
        self.signal(Signal::End(Some(error)))
    }
    fn on_complete(&mut self) {
        self.signal(Signal::End(None))
    }
}

impl<T: 'static> Publisher for Relay<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + 'static>(&self, subscriber: S) {
        self.out.subscribe(subscriber)
    }
}
