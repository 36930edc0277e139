//! `from_iter_once` and `try_from_iter`: sources over iterators that are not re-playable, and
//! over iterators of `Result`.

use std::fmt;
use std::iter::Peekable;

use super::fail::end_at_once;
use super::start;
use crate::support::{Pull, Pulled};
use crate::sync::Mutex;
use crate::{Error, Publisher, Subscriber};

/// Emits the elements of any `IntoIterator` — a file's lines, a drained channel, a `Vec` moved
/// in — then completes. Unlike [`from_iter`](super::from_iter) the iterator need not be
/// `Clone`, so the publisher serves **one subscription**: a second subscriber gets
/// `on_subscribe`, then an error naming §1.9 that says why and what to use instead.
///
/// # Backpressure
///
/// The iterator runs inside the emission loop, one `next()` per element requested (plus one of
/// look-ahead, so that completion follows the last element without more demand). A panic in
/// the iterator fails the stream.
///
/// ```
/// use std::io::BufRead;
/// use rstreams::{sink, source};
///
/// let text = std::io::Cursor::new("first\nsecond\n");
/// let lines = source::from_iter_once(text.lines().map(Result::unwrap));
/// assert_eq!(sink::collect(&lines).unwrap(), vec!["first", "second"]);
/// // Single use: a second subscriber is rejected, naming the rule.
/// assert_eq!(sink::collect(&lines).unwrap_err().rule(), Some("1.9"));
/// ```
pub fn from_iter_once<I>(iter: I) -> FromIterOnce<I::IntoIter>
where
    I: IntoIterator,
    I::IntoIter: Send + 'static,
{
    FromIterOnce {
        iter: Mutex::new(Some(iter.into_iter())),
    }
}

/// The publisher returned by [`from_iter_once`].
#[must_use = "publishers do nothing until subscribed"]
pub struct FromIterOnce<I> {
    /// The iterator, until the one subscriber takes it.
    iter: Mutex<Option<I>>,
}

impl<I> FromIterOnce<I> {
    /// Whether the iterator is still there for a subscriber (no one has subscribed yet).
    pub fn is_available(&self) -> bool {
        self.iter.lock().is_some()
    }
}

impl<I> fmt::Debug for FromIterOnce<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromIterOnce")
            .field("available", &self.is_available())
            .finish()
    }
}

impl<I> Publisher for FromIterOnce<I>
where
    I: Iterator + Send + 'static,
    I::Item: Send + 'static,
{
    type Item = I::Item;
    fn subscribe<S: Subscriber<I::Item> + 'static>(&self, subscriber: S) {
        let taken = self.iter.lock().take();
        match taken {
            Some(iter) => {
                start(
                    Fallible {
                        iter: iter.map(Ok::<_, Error>).peekable(),
                        name: "from_iter_once iterator",
                    },
                    subscriber,
                );
            }
            None => {
                let error = Error::protocol(
                    "1.9",
                    "from_iter_once: single use, and already subscribed once (its iterator can \
                     be gone through only once); use from_iter with a Clone iterator, or \
                     defer(|| from_iter_once(..)) to make one per subscriber",
                )
                .in_stage("from_iter_once");
                end_at_once(subscriber, Err(error));
            }
        }
    }
}

/// [`try_from_iter`] for an iterator that is not `Clone` (a file's `lines()`): the `Ok` values,
/// the first `Err` ends the stream with it; one subscription, as [`from_iter_once`].
///
/// # Backpressure
///
/// One `next()` per element requested, plus one of look-ahead.
///
/// ```
/// use std::io::BufRead;
/// use rstreams::{sink, source};
///
/// let file = std::io::Cursor::new("7\n8\n"); // stands in for a BufReader<File>
/// let lines = source::try_from_iter_once(file.lines());
/// assert_eq!(sink::collect(&lines).unwrap(), vec!["7", "8"]);
/// ```
pub fn try_from_iter_once<I, T, E>(iter: I) -> TryFromIterOnce<I::IntoIter>
where
    I: IntoIterator<Item = Result<T, E>>,
    I::IntoIter: Send + 'static,
    E: Into<Error>,
{
    TryFromIterOnce {
        iter: Mutex::new(Some(iter.into_iter())),
    }
}

/// The publisher returned by [`try_from_iter_once`].
#[must_use = "publishers do nothing until subscribed"]
pub struct TryFromIterOnce<I> {
    /// The iterator, until the one subscriber takes it.
    iter: Mutex<Option<I>>,
}

impl<I> TryFromIterOnce<I> {
    /// Whether the iterator is still there for a subscriber (no one has subscribed yet).
    pub fn is_available(&self) -> bool {
        self.iter.lock().is_some()
    }
}

impl<I> fmt::Debug for TryFromIterOnce<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryFromIterOnce")
            .field("available", &self.is_available())
            .finish()
    }
}

impl<I, T, E> Publisher for TryFromIterOnce<I>
where
    I: Iterator<Item = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<Error> + Send + 'static,
{
    type Item = T;
    fn subscribe<S: Subscriber<T> + 'static>(&self, subscriber: S) {
        let taken = self.iter.lock().take();
        match taken {
            Some(iter) => {
                start(
                    Fallible {
                        iter: iter.map(|r: Result<T, E>| r.map_err(Into::into)).peekable(),
                        name: "try_from_iter_once iterator",
                    },
                    subscriber,
                );
            }
            None => {
                let error = Error::protocol(
                    "1.9",
                    "try_from_iter_once: single use, and already subscribed once; use \
                     defer(|| try_from_iter_once(..)) to make one per subscriber",
                )
                .in_stage("try_from_iter_once");
                end_at_once(subscriber, Err(error));
            }
        }
    }
}

/// Emits the `Ok` values of an iterator of `Result`s; the first `Err` ends the stream with
/// that error (at once, without waiting for demand), and nothing after it is read. Like
/// [`from_iter`](super::from_iter), the iterator is cloned per subscription.
///
/// # Backpressure
///
/// One `next()` per element requested, plus one of look-ahead: an `Err` right after the last
/// requested element is signalled without more demand (§1.4: errors need no demand).
///
/// ```
/// use rstreams::{sink, source};
///
/// let parsed = source::try_from_iter(vec![Ok(1), Ok(2), Err("bad input")]);
/// let error = sink::collect(&parsed).unwrap_err();
/// assert_eq!(error.to_string(), "bad input");
/// ```
pub fn try_from_iter<I, T, E>(iter: I) -> TryFromIter<I::IntoIter>
where
    I: IntoIterator<Item = Result<T, E>>,
    I::IntoIter: Clone,
    E: Into<Error>,
{
    TryFromIter {
        iter: iter.into_iter(),
    }
}

/// The publisher returned by [`try_from_iter`].
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct TryFromIter<I> {
    iter: I,
}

impl<I> fmt::Debug for TryFromIter<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TryFromIter { .. }")
    }
}

impl<I, T, E> Publisher for TryFromIter<I>
where
    I: Iterator<Item = Result<T, E>> + Clone + Send + 'static,
    T: Send + 'static,
    E: Into<Error> + Send + 'static,
{
    type Item = T;
    fn subscribe<S: Subscriber<T> + 'static>(&self, subscriber: S) {
        match crate::support::catch_panic("try_from_iter iterator clone", || self.iter.clone()) {
            Ok(iter) => {
                start(
                    Fallible {
                        iter: iter.map(|r: Result<T, E>| r.map_err(Into::into)).peekable(),
                        name: "try_from_iter iterator",
                    },
                    subscriber,
                );
            }
            Err(error) => {
                end_at_once(subscriber, Err(error.in_stage("try_from_iter")));
            }
        }
    }
}

/// An iterator of `Result`s as a [`Pull`]: `Ok` values are emitted, the first `Err` ends it.
struct Fallible<I: Iterator> {
    iter: Peekable<I>,
    name: &'static str,
}

impl<I, T> Pull for Fallible<I>
where
    I: Iterator<Item = Result<T, Error>> + Send + 'static,
    T: Send + 'static,
{
    type Item = T;

    fn name(&self) -> &'static str {
        self.name
    }

    #[inline]
    fn pull(&mut self, _demand: u64) -> Pulled<T> {
        match self.iter.next() {
            Some(Ok(item)) => Pulled::Ready(item),
            Some(Err(error)) => Pulled::Error(error),
            None => Pulled::End,
        }
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        match self.iter.peek() {
            None => Some(Ok(())),
            Some(Err(_)) => match self.iter.next() {
                Some(Err(error)) => Some(Err(error)),
                _ => None,
            },
            Some(Ok(_)) => None,
        }
    }
}
