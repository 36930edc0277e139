//! The one error type that travels through `on_error`.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// What kind of failure an [`Error`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A failure of the data source or of user code that returned an error.
    Other,
    /// A breach of the Reactive Streams protocol; [`Error::rule`] names the rule.
    Protocol,
    /// A panic caught in user code (a closure, an iterator); the stream failed instead of the
    /// thread unwinding.
    Panic,
    /// More elements arrived than a bounded stage could hold, and its policy is to fail.
    Overflow,
    /// Something took longer than allowed: outstanding demand went unmet for a `timeout`'s
    /// duration, a call did not complete in time.
    Timeout,
}

/// The error signalled through [`Subscriber::on_error`](crate::Subscriber::on_error).
///
/// Cheap to clone (one reference count), `Send + Sync`, and a [`std::error::Error`]. It says
/// what happened, optionally in which stage, and for protocol violations which rule of the
/// Reactive Streams specification was broken:
///
/// ```
/// use rstreams::{Error, ErrorKind};
///
/// let e = Error::protocol("3.9", "request(n) requires n > 0");
/// assert_eq!(e.to_string(), "§3.9: request(n) requires n > 0");
/// assert_eq!(e.rule(), Some("3.9"));
/// assert_eq!(e.kind(), ErrorKind::Protocol);
///
/// let io = std::io::Error::other("disk full");
/// let e = Error::new(io).in_stage("writer");
/// assert_eq!(e.to_string(), "in stage `writer`: disk full");
/// assert!(e.downcast_ref::<std::io::Error>().is_some());
/// ```
#[derive(Clone)]
pub struct Error {
    inner: Arc<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: Cow<'static, str>,
    rule: Option<&'static str>,
    stage: Option<Cow<'static, str>>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// An error with a message only.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self::build(
            ErrorKind::Other,
            Cow::Owned(message.to_string()),
            None,
            None,
        )
    }

    /// Wraps another error. `Display` shows the wrapped error's message; the wrapped error is
    /// reachable through [`get_ref`](Self::get_ref) and [`downcast_ref`](Self::downcast_ref),
    /// and its own `source()` chain continues through [`std::error::Error::source`].
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        let message = Cow::Owned(error.to_string());
        Self::build(ErrorKind::Other, message, None, Some(Box::new(error)))
    }

    /// A violation of rule `rule` of the Reactive Streams specification (for example `"3.9"`).
    /// The message is shown as `§3.9: message`.
    pub fn protocol(rule: &'static str, message: impl fmt::Display) -> Self {
        Self::build(
            ErrorKind::Protocol,
            Cow::Owned(message.to_string()),
            Some(rule),
            None,
        )
    }

    /// The error signalled for `request(0)`, as §3.9 requires.
    pub fn request_zero() -> Self {
        Self::build(
            ErrorKind::Protocol,
            Cow::Borrowed("request(n) requires n > 0"),
            Some("3.9"),
            None,
        )
    }

    /// A panic caught in user code, with the panic's message when it carried a string.
    pub fn from_panic(payload: Box<dyn Any + Send>, what: &str) -> Self {
        let text = panic_message(payload.as_ref());
        Self::build(
            ErrorKind::Panic,
            Cow::Owned(format!("{what} panicked: {text}")),
            None,
            None,
        )
    }

    /// A bounded stage overflowed and its policy is to fail the stream.
    pub fn overflow(message: impl fmt::Display) -> Self {
        Self::build(
            ErrorKind::Overflow,
            Cow::Owned(message.to_string()),
            None,
            None,
        )
    }

    /// Something took longer than allowed (a `timeout` stage, a call's deadline).
    ///
    /// ```
    /// use rstreams::{Error, ErrorKind};
    /// let e = Error::timeout("no element within 5s of demand").in_stage("timeout");
    /// assert_eq!(e.kind(), ErrorKind::Timeout);
    /// ```
    pub fn timeout(message: impl fmt::Display) -> Self {
        Self::build(
            ErrorKind::Timeout,
            Cow::Owned(message.to_string()),
            None,
            None,
        )
    }

    /// The same failure with `context` put in front of its message: kind, rule and stage are
    /// kept, and the original stays reachable (`get_ref`, `downcast_ref`, `source()` look
    /// through it). For a stage that reports an upstream's error with what it did about it
    /// ("gave up after 5 attempts").
    ///
    /// ```
    /// use rstreams::{Error, ErrorKind};
    ///
    /// let io = std::io::Error::other("connection reset");
    /// let e = Error::new(io).context("gave up after 3 attempts");
    /// assert_eq!(e.to_string(), "gave up after 3 attempts: connection reset");
    /// assert_eq!(e.kind(), ErrorKind::Other);
    /// assert!(e.downcast_ref::<std::io::Error>().is_some());
    ///
    /// let t = Error::timeout("no answer").context("gave up after 2 attempts");
    /// assert_eq!(t.kind(), ErrorKind::Timeout);
    /// ```
    pub fn context(self, context: impl fmt::Display) -> Self {
        let message = Cow::Owned(format!("{context}: {}", self.inner.message));
        Error {
            inner: Arc::new(Inner {
                kind: self.inner.kind,
                message,
                rule: self.inner.rule,
                stage: self.inner.stage.clone(),
                source: Some(Box::new(self)),
            }),
        }
    }

    fn build(
        kind: ErrorKind,
        message: Cow<'static, str>,
        rule: Option<&'static str>,
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Error {
            inner: Arc::new(Inner {
                kind,
                message,
                rule,
                stage: None,
                source,
            }),
        }
    }

    /// Names the stage the error arose in, unless a stage is named already (the innermost
    /// stage, where the failure happened, wins).
    pub fn in_stage(self, stage: impl Into<Cow<'static, str>>) -> Self {
        if self.inner.stage.is_some() {
            return self;
        }
        let stage = Some(stage.into());
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.stage = stage;
                Error {
                    inner: Arc::new(inner),
                }
            }
            Err(shared) => {
                // Another clone exists: copy the parts, keep the source reachable through
                // the shared original.
                Error {
                    inner: Arc::new(Inner {
                        kind: shared.kind,
                        message: shared.message.clone(),
                        rule: shared.rule,
                        stage,
                        source: Some(Box::new(Error { inner: shared })),
                    }),
                }
            }
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The rule of the specification this error reports a violation of (`"3.9"`), if any.
    pub fn rule(&self) -> Option<&'static str> {
        self.inner.rule
    }

    /// The stage this error arose in, if one was named with [`in_stage`](Self::in_stage).
    pub fn stage(&self) -> Option<&str> {
        self.inner.stage.as_deref()
    }

    /// The message, without stage or rule prefix.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The wrapped error, when this error was made with [`Error::new`].
    pub fn get_ref(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        let source = self.inner.source.as_deref()?;
        // An error re-labelled by `in_stage` while shared wraps its original; look through it.
        match source.downcast_ref::<Error>() {
            Some(original) => original.get_ref(),
            None => Some(source),
        }
    }

    /// The wrapped error as `E`, when this error was made with [`Error::new`] from an `E`.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.get_ref()?.downcast_ref::<E>()
    }
}

/// A boxed error (tower's `BoxError`, what `?` makes of any error) becomes an error of kind
/// [`Other`](ErrorKind::Other) that wraps it: [`Error::downcast_ref`] finds the original. A
/// boxed [`Error`] is unboxed as it was.
///
/// ```
/// use rstreams::{Error, ErrorKind};
///
/// let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(std::io::Error::other("refused"));
/// let error = Error::from(boxed);
/// assert_eq!(error.kind(), ErrorKind::Other);
/// assert_eq!(error.to_string(), "refused");
/// assert!(error.downcast_ref::<std::io::Error>().is_some());
///
/// let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(Error::timeout("too slow"));
/// assert_eq!(Error::from(boxed).kind(), ErrorKind::Timeout);
/// ```
impl From<Box<dyn std::error::Error + Send + Sync + 'static>> for Error {
    fn from(boxed: Box<dyn std::error::Error + Send + Sync + 'static>) -> Self {
        match boxed.downcast::<Error>() {
            Ok(error) => *error,
            Err(other) => {
                let message = Cow::Owned(other.to_string());
                Error::build(ErrorKind::Other, message, None, Some(other))
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(stage) = &self.inner.stage {
            write!(f, "in stage `{stage}`: ")?;
        }
        if let Some(rule) = self.inner.rule {
            write!(f, "§{rule}: ")?;
        }
        f.write_str(&self.inner.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind)
            .field("message", &self.inner.message);
        if let Some(rule) = self.inner.rule {
            d.field("rule", &rule);
        }
        if let Some(stage) = &self.inner.stage {
            d.field("stage", stage);
        }
        if let Some(source) = self.get_ref() {
            d.field("source", &source);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // Like io::Error: the wrapped error is shown by Display, so the chain continues with
        // what *it* wraps.
        self.get_ref()?.source()
    }
}

/// The text of a panic payload: the `&str` or `String` it carried, or a placeholder.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "a non-string panic payload"
    }
}

/// Conversions for the `E: Into<Error>` bounds of fallible sources and calls
/// (`try_from_iter`, `try_map_async`): the common error types convert as they are. (A blanket
/// conversion from every `std::error::Error` cannot exist, since `Error` is one itself; other
/// types go through [`Error::new`].)
impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Self {
        Error::new(error)
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error::msg(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Error::msg(message)
    }
}

impl From<std::convert::Infallible> for Error {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_errors_name_their_rule() {
        let e = Error::request_zero();
        assert_eq!(e.to_string(), "§3.9: request(n) requires n > 0");
        assert_eq!(e.rule(), Some("3.9"));
    }

    #[test]
    fn the_innermost_stage_wins() {
        let e = Error::msg("boom").in_stage("parse").in_stage("outer");
        assert_eq!(e.stage(), Some("parse"));
        assert_eq!(e.to_string(), "in stage `parse`: boom");
    }

    #[test]
    fn a_shared_error_keeps_its_source_when_staged() {
        let io = std::io::Error::other("disk full");
        let original = Error::new(io);
        let staged = original.clone().in_stage("writer");
        assert_eq!(staged.to_string(), "in stage `writer`: disk full");
        assert!(staged.downcast_ref::<std::io::Error>().is_some());
        assert_eq!(original.stage(), None);
    }

    #[test]
    fn panics_become_errors_with_their_message() {
        let payload = std::panic::catch_unwind(|| panic!("bad input {}", 7)).unwrap_err();
        let e = Error::from_panic(payload, "map closure");
        assert_eq!(e.kind(), ErrorKind::Panic);
        assert_eq!(e.to_string(), "map closure panicked: bad input 7");
    }

    #[test]
    fn context_keeps_kind_rule_stage_and_the_original() {
        let original = Error::protocol("1.1", "too many").in_stage("source");
        let e = original.clone().context("gave up after 2 attempts");
        assert_eq!(
            e.to_string(),
            "in stage `source`: §1.1: gave up after 2 attempts: too many"
        );
        assert_eq!(e.kind(), ErrorKind::Protocol);
        assert_eq!(e.rule(), Some("1.1"));
        assert_eq!(e.stage(), Some("source"));
        assert_eq!(e.message(), "gave up after 2 attempts: too many");
        assert_eq!(original.message(), "too many");
    }

    #[test]
    fn errors_are_send_sync_and_cheap_to_clone() {
        fn assert_traits<T: Send + Sync + Clone + std::error::Error + 'static>() {}
        assert_traits::<Error>();
    }
}
