//! `using(open, use, close)`: a resource opened per subscription and closed exactly once,
//! however the subscription ends.

use std::fmt;
use std::sync::Arc;

use super::fail::end_at_once;
use crate::support::{catch_panic, Link};
use crate::sync::Mutex;
use crate::{Error, Publisher, Subscriber, Subscription};

/// For each subscription: opens a resource with `open`, emits what the publisher `use_` makes
/// from it emits, and closes the resource with `close` **exactly once** — on completion and on
/// error (before the terminal signal goes downstream), on cancel, and if the subscriber is
/// dropped without either (a panicking downstream).
///
/// # Backpressure
///
/// Passes demand through to the publisher `use_` returns: what the downstream requests is
/// requested from it.
///
/// # Errors
///
/// An `Err` from `open` fails the subscription (`on_subscribe`, then `on_error`) with nothing to
/// close. A panic in `open` or `use_` fails it too (the resource, if opened, is closed). A
/// panic in `close` after completion turns the completion into that error; after an error or a
/// cancel it is swallowed (the stream already ended; there is no one left to tell).
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use rstreams::{sink, source, Error};
///
/// let open_files = Arc::new(AtomicU32::new(0));
/// let (opened, closed) = (open_files.clone(), open_files.clone());
/// let lines = source::using(
///     move || {
///         opened.fetch_add(1, Ordering::SeqCst);
///         Ok::<_, Error>(vec!["a".to_string(), "b".to_string()]) // stands in for a file
///     },
///     |file: &Vec<String>| source::from_iter(file.clone()),
///     move |_file| {
///         closed.fetch_sub(1, Ordering::SeqCst);
///     },
/// );
/// assert_eq!(sink::collect(&lines).unwrap(), vec!["a", "b"]);
/// assert_eq!(open_files.load(Ordering::SeqCst), 0, "closed after use");
/// ```
pub fn using<O, U, C, R, E, P>(open: O, use_: U, close: C) -> Using<O, U, C>
where
    O: Fn() -> Result<R, E>,
    E: Into<Error>,
    U: Fn(&R) -> P,
    P: Publisher,
    C: Fn(R) + Send + Sync + 'static,
    R: Send + 'static,
{
    Using {
        open,
        use_,
        close: Arc::new(close),
    }
}

/// The publisher returned by [`using`].
#[must_use = "publishers do nothing until subscribed"]
pub struct Using<O, U, C> {
    open: O,
    use_: U,
    close: Arc<C>,
}

impl<O: Clone, U: Clone, C> Clone for Using<O, U, C> {
    fn clone(&self) -> Self {
        Using {
            open: self.open.clone(),
            use_: self.use_.clone(),
            close: Arc::clone(&self.close),
        }
    }
}

impl<O, U, C> fmt::Debug for Using<O, U, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Using { .. }")
    }
}

impl<O, U, C, R, E, P> Publisher for Using<O, U, C>
where
    O: Fn() -> Result<R, E>,
    E: Into<Error>,
    U: Fn(&R) -> P,
    P: Publisher,
    P::Item: Send + 'static,
    C: Fn(R) + Send + Sync + 'static,
    R: Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        let resource = match catch_panic("using open", || (self.open)()) {
            Ok(Ok(resource)) => resource,
            Ok(Err(error)) => return fail(subscriber, error.into()),
            Err(error) => return fail(subscriber, error),
        };
        let publisher = match catch_panic("using use", || (self.use_)(&resource)) {
            Ok(publisher) => publisher,
            Err(error) => {
                let _ = catch_panic("using close", || (self.close)(resource));
                return fail(subscriber, error);
            }
        };
        let closer = Arc::new(Closer {
            resource: Mutex::new(Some(resource)),
            close: Arc::clone(&self.close) as Arc<dyn Fn(R) + Send + Sync>,
        });
        publisher.subscribe(UsingSubscriber {
            downstream: subscriber,
            closer,
            link: Link::new(),
        });
    }
}

fn fail<T: Send + 'static, S: Subscriber<T> + 'static>(subscriber: S, error: Error) {
    end_at_once(subscriber, Err(error.in_stage("using")));
}

/// The resource of one subscription and how to close it, once.
struct Closer<R> {
    /// `None` once closed.
    resource: Mutex<Option<R>>,
    close: Arc<dyn Fn(R) + Send + Sync>,
}

impl<R> Closer<R> {
    /// Closes the resource if it is still open; a panic in `close` comes back as an error.
    fn close(&self) -> Result<(), Error> {
        let resource = self.resource.lock().take();
        match resource {
            Some(resource) => catch_panic("using close", || (self.close)(resource)),
            None => Ok(()),
        }
    }
}

/// Passes the used publisher's signals on, closing the resource at the end.
struct UsingSubscriber<S, R> {
    downstream: S,
    closer: Arc<Closer<R>>,
    /// §2.5 and §1.7: one subscription, one terminal signal, nothing after it.
    link: Link,
}

impl<T, S, R> Subscriber<T> for UsingSubscriber<S, R>
where
    S: Subscriber<T>,
    R: Send + 'static,
{
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if let Some(upstream) = self.link.accept(subscription) {
            self.downstream.on_subscribe(Arc::new(UsingSubscription {
                upstream,
                closer: Arc::clone(&self.closer),
            }));
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if !self.link.is_done() {
            self.downstream.on_next(item);
        }
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        if self.link.is_done() {
            return true;
        }
        self.downstream.try_on_next(item)
    }

    fn on_error(&mut self, error: Error) {
        if self.link.finish() {
            let _ = self.closer.close(); // the stream failed already: nothing more to tell
            self.downstream.on_error(error);
        }
    }

    fn on_complete(&mut self) {
        if self.link.finish() {
            match self.closer.close() {
                Ok(()) => self.downstream.on_complete(),
                Err(error) => self.downstream.on_error(error.in_stage("using")),
            }
        }
    }
}

impl<S, R> Drop for UsingSubscriber<S, R> {
    /// The upstream released this subscriber without a terminal signal (a cancel, a panicking
    /// downstream): the resource is closed now if it was not already.
    fn drop(&mut self) {
        let _ = self.closer.close();
    }
}

/// The downstream's subscription: forwards, and closes the resource on cancel.
struct UsingSubscription<R> {
    upstream: Arc<dyn Subscription>,
    closer: Arc<Closer<R>>,
}

impl<R: Send + 'static> Subscription for UsingSubscription<R> {
    fn request(&self, n: u64) {
        self.upstream.request(n);
    }

    fn cancel(&self) {
        self.upstream.cancel();
        let _ = self.closer.close(); // cancelled: no one to tell of a failing close
    }
}
