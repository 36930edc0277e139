//! `defer(f)`: a publisher made anew for each subscriber.

use std::fmt;

use super::fail::end_at_once;
use crate::support::catch_panic;
use crate::{Publisher, Subscriber};

/// Calls `f` for each subscription and subscribes to the publisher it returns: for sources
/// whose state must be fresh per subscriber, or that should only be built once someone
/// subscribes.
///
/// A panic in `f` fails that subscription (`on_subscribe`, then `on_error`).
///
/// ```
/// use rstreams::{sink, source};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// let calls = AtomicU64::new(0);
/// let fresh = source::defer(move || source::just(calls.fetch_add(1, Ordering::SeqCst)));
/// assert_eq!(sink::collect(&fresh).unwrap(), vec![0]);
/// assert_eq!(sink::collect(&fresh).unwrap(), vec![1]);
/// ```
pub fn defer<F, P>(f: F) -> Defer<F>
where
    F: Fn() -> P,
    P: Publisher,
{
    Defer { f }
}

/// The publisher returned by [`defer`].
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct Defer<F> {
    f: F,
}

impl<F> fmt::Debug for Defer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Defer { .. }")
    }
}

impl<F, P> Publisher for Defer<F>
where
    F: Fn() -> P,
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        match catch_panic("defer factory", || (self.f)()) {
            Ok(publisher) => publisher.subscribe(subscriber),
            Err(error) => {
                end_at_once(subscriber, Err(error));
            }
        }
    }
}
