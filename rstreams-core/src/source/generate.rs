//! `generate` and `unfold`: sources that compute each element from a state.

use std::fmt;

use super::start;
use crate::support::{Pull, Pulled};
use crate::{Error, Publisher, Subscriber};

/// Emits what `f` makes from a mutable state, one call per element, until it returns `None`.
/// Each subscriber starts from its own clone of `state`.
///
/// # Backpressure
///
/// `f` is called for demand: one call per element requested, inside the emission loop, plus one
/// of look-ahead once the demand is met, so that the stream completes right after its last
/// element without waiting for more demand (the looked-ahead element is kept for the next
/// request). A panic in `f` fails the stream.
///
/// ```
/// use rstreams::{sink, source};
///
/// // Powers of two below 100.
/// let powers = source::generate(1u64, |x| {
///     let value = *x;
///     *x *= 2;
///     (value < 100).then_some(value)
/// });
/// assert_eq!(sink::collect(&powers).unwrap(), vec![1, 2, 4, 8, 16, 32, 64]);
/// ```
pub fn generate<S, T, F>(state: S, f: F) -> Generate<S, F>
where
    S: Clone + Send + 'static,
    F: Fn(&mut S) -> Option<T> + Clone + Send + 'static,
{
    Generate { state, f }
}

/// The publisher returned by [`generate`].
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct Generate<S, F> {
    state: S,
    f: F,
}

impl<S, F> fmt::Debug for Generate<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Generate { .. }")
    }
}

impl<S, T, F> Publisher for Generate<S, F>
where
    S: Clone + Send + 'static,
    T: Send + 'static,
    F: Fn(&mut S) -> Option<T> + Clone + Send + 'static,
{
    type Item = T;
    fn subscribe<Sub: Subscriber<T> + 'static>(&self, subscriber: Sub) {
        start(
            Generator {
                state: self.state.clone(),
                f: self.f.clone(),
                ahead: None,
            },
            subscriber,
        );
    }
}

struct Generator<S, F: GenFn<S>> {
    state: S,
    f: F,
    /// What `f` returned when called ahead by `poll_end`: `Some(Some(item))` is the next element,
    /// `Some(None)` the end.
    ahead: Option<Option<F::Item>>,
}

/// `Fn(&mut S) -> Option<T>`, with `T` named, so the look-ahead slot can hold a `T`.
trait GenFn<S> {
    type Item;
    fn generate(&self, state: &mut S) -> Option<Self::Item>;
}

impl<S, T, F: Fn(&mut S) -> Option<T>> GenFn<S> for F {
    type Item = T;
    fn generate(&self, state: &mut S) -> Option<T> {
        self(state)
    }
}

impl<S, T, F> Pull for Generator<S, F>
where
    S: Send + 'static,
    T: Send + 'static,
    F: Fn(&mut S) -> Option<T> + Send + 'static,
{
    type Item = T;

    fn name(&self) -> &'static str {
        "generate"
    }

    #[inline]
    fn pull(&mut self, _demand: u64) -> Pulled<T> {
        let next = match self.ahead.take() {
            Some(next) => next,
            None => self.f.generate(&mut self.state),
        };
        match next {
            Some(item) => Pulled::Ready(item),
            None => Pulled::End,
        }
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        let next = self
            .ahead
            .get_or_insert_with(|| self.f.generate(&mut self.state));
        next.is_none().then_some(Ok(()))
    }
}

/// Emits the elements `f` unfolds from a state: `f(state)` returns the next element and the
/// state after it, or `None` to complete. The synchronous form of `futures`' `stream::unfold`;
/// each subscriber starts from its own clone of `state`.
///
/// # Backpressure
///
/// One call of `f` per element requested, plus one of look-ahead once the demand is met, so
/// that completion follows the last element without more demand. A panic in `f` fails the
/// stream.
///
/// ```
/// use rstreams::{sink, source};
///
/// let fibonacci = source::unfold((0u64, 1u64), |(a, b)| (a < 50).then_some((a, (b, a + b))));
/// assert_eq!(sink::collect(&fibonacci).unwrap(), vec![0, 1, 1, 2, 3, 5, 8, 13, 21, 34]);
/// ```
pub fn unfold<S, T, F>(state: S, f: F) -> Unfold<S, F>
where
    S: Clone + Send + 'static,
    F: Fn(S) -> Option<(T, S)> + Clone + Send + 'static,
{
    Unfold { state, f }
}

/// The publisher returned by [`unfold`].
#[derive(Clone)]
#[must_use = "publishers do nothing until subscribed"]
pub struct Unfold<S, F> {
    state: S,
    f: F,
}

impl<S, F> fmt::Debug for Unfold<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Unfold { .. }")
    }
}

impl<S, T, F> Publisher for Unfold<S, F>
where
    S: Clone + Send + 'static,
    T: Send + 'static,
    F: Fn(S) -> Option<(T, S)> + Clone + Send + 'static,
{
    type Item = T;
    fn subscribe<Sub: Subscriber<T> + 'static>(&self, subscriber: Sub) {
        start(
            Unfolder {
                state: Some(self.state.clone()),
                f: self.f.clone(),
                ahead: None,
            },
            subscriber,
        );
    }
}

struct Unfolder<S, F: UnfoldFn<S>> {
    /// `None` once `f` returned `None` (or panicked with the state moved into it).
    state: Option<S>,
    f: F,
    /// An element `poll_end` unfolded ahead, for the next request.
    ahead: Option<F::Item>,
}

/// `Fn(S) -> Option<(T, S)>`, with `T` named, so the look-ahead slot can hold a `T`.
trait UnfoldFn<S> {
    type Item;
    fn unfold(&self, state: S) -> Option<(Self::Item, S)>;
}

impl<S, T, F: Fn(S) -> Option<(T, S)>> UnfoldFn<S> for F {
    type Item = T;
    fn unfold(&self, state: S) -> Option<(T, S)> {
        self(state)
    }
}

impl<S, F: UnfoldFn<S>> Unfolder<S, F> {
    fn step(&mut self) -> Option<F::Item> {
        let state = self.state.take()?;
        let (item, next) = self.f.unfold(state)?;
        self.state = Some(next);
        Some(item)
    }
}

impl<S, T, F> Pull for Unfolder<S, F>
where
    S: Send + 'static,
    T: Send + 'static,
    F: Fn(S) -> Option<(T, S)> + Send + 'static,
{
    type Item = T;

    fn name(&self) -> &'static str {
        "unfold"
    }

    #[inline]
    fn pull(&mut self, _demand: u64) -> Pulled<T> {
        match self.ahead.take().or_else(|| self.step()) {
            Some(item) => Pulled::Ready(item),
            None => Pulled::End,
        }
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        if self.ahead.is_none() {
            self.ahead = self.step();
        }
        (self.ahead.is_none() && self.state.is_none()).then_some(Ok(()))
    }
}
