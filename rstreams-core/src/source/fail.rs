//! `fail(error)` and `never()`: sources that emit nothing.

use std::fmt;
use std::marker::PhantomData;

use super::start;
use crate::support::{Pull, Pulled};
use crate::{Error, Publisher, Subscriber};

/// Signals `on_subscribe`, then `on_error(error)` at once, without emitting (§1.4, §1.9).
///
/// ```
/// use rstreams::{sink, source, Error};
/// let err = sink::collect(&source::fail::<u8>(Error::msg("no data"))).unwrap_err();
/// assert_eq!(err.to_string(), "no data");
/// ```
pub fn fail<T: Send + 'static>(error: Error) -> Fail<T> {
    Fail {
        error,
        _item: PhantomData,
    }
}

/// The publisher returned by [`fail`].
#[must_use = "publishers do nothing until subscribed"]
pub struct Fail<T> {
    error: Error,
    _item: PhantomData<fn() -> T>,
}

impl<T> Clone for Fail<T> {
    fn clone(&self) -> Self {
        Fail {
            error: self.error.clone(),
            _item: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Fail<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fail").field("error", &self.error).finish()
    }
}

impl<T: Send + 'static> Publisher for Fail<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + 'static>(&self, subscriber: S) {
        start(Terminal::<T>::fail(self.error.clone()), subscriber);
    }
}

/// A source with no elements that ends at once, with completion or an error.
pub(crate) struct Terminal<T> {
    error: Option<Error>,
    _item: PhantomData<fn() -> T>,
}

impl<T> Terminal<T> {
    pub(crate) fn complete() -> Self {
        Terminal {
            error: None,
            _item: PhantomData,
        }
    }
    pub(crate) fn fail(error: Error) -> Self {
        Terminal {
            error: Some(error),
            _item: PhantomData,
        }
    }
}

impl<T: Send + 'static> Pull for Terminal<T> {
    type Item = T;
    fn name(&self) -> &'static str {
        "terminal source"
    }
    fn pull(&mut self, _demand: u64) -> Pulled<T> {
        match self.error.take() {
            Some(e) => Pulled::Error(e),
            None => Pulled::End,
        }
    }
    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        Some(match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        })
    }
}

/// Signals `on_subscribe` and nothing else, ever: for tests of timeouts and cancellation.
///
/// Its subscription still keeps the rules: `request(0)` fails the stream (§3.9) and `cancel`
/// releases the subscriber (§3.13).
pub fn never<T: Send + 'static>() -> Never<T> {
    Never { _item: PhantomData }
}

/// The publisher returned by [`never()`].
#[must_use = "publishers do nothing until subscribed"]
pub struct Never<T> {
    _item: PhantomData<fn() -> T>,
}

impl<T> Clone for Never<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Never<T> {}

impl<T> fmt::Debug for Never<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Never")
    }
}

impl<T: Send + 'static> Publisher for Never<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + 'static>(&self, subscriber: S) {
        start(NeverPull::<T>(PhantomData), subscriber);
    }
}

struct NeverPull<T>(PhantomData<fn() -> T>);

impl<T: Send + 'static> Pull for NeverPull<T> {
    type Item = T;
    fn name(&self) -> &'static str {
        "never"
    }
    fn pull(&mut self, _demand: u64) -> Pulled<T> {
        Pulled::Pending
    }
}
