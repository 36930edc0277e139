//! Sinks: subscribers that end a pipeline.
//!
//! - [`for_each`] / [`LambdaSubscriber`]: closures for each signal, a configurable request
//!   batch, and a [`SubscriberHandle`] to cancel or wait for the end.
//! - [`collect`]: subscribes and blocks until the stream ends, returning every element or the
//!   error. Waiting parks the thread; it does not spin.

mod lambda;

pub use lambda::{for_each, LambdaSubscriber, SubscriberHandle};

use std::sync::Arc;

use crate::sync::Mutex;

use crate::{Error, Publisher};

/// Subscribes to `publisher` with unbounded demand and blocks until it ends: every element in
/// order, or the error it failed with.
///
/// Do not call it on a thread that the publisher needs in order to make progress (a
/// single-threaded scheduler's only thread): it would wait forever.
///
/// ```
/// use rstreams_core::{sink, source};
/// assert_eq!(sink::collect(&source::range(0, 3)).unwrap(), vec![0, 1, 2]);
/// ```
pub fn collect<P>(publisher: &P) -> Result<Vec<P::Item>, Error>
where
    P: Publisher + ?Sized,
    P::Item: Send + 'static,
{
    let items = Arc::new(Mutex::new(Vec::new()));
    let sink = {
        let items = Arc::clone(&items);
        for_each(move |item| items.lock().push(item))
    };
    let handle = sink.handle();
    publisher.subscribe(sink);
    handle.wait()?;
    let mut items = items.lock();
    Ok(std::mem::take(&mut *items))
}
