//! `combine_latest(other, f)`: `f` of both inputs' latest elements, each time either emits.

use std::fmt;
use std::sync::Arc;

use rstreams_core::support::{catch_panic, Pull, Pulled};
use rstreams_core::{Error, Publisher, Subscriber};

use crate::zip::{subscribe_two, Side};

const STAGE: &str = "combine_latest";

/// The publisher returned by [`combine_latest`](crate::PublisherExt::combine_latest).
#[must_use = "publishers do nothing until subscribed"]
pub struct CombineLatest<P, Q, F> {
    source: P,
    other: Q,
    f: Arc<F>,
}

impl<P, Q, F> CombineLatest<P, Q, F> {
    pub(crate) fn new(source: P, other: Q, f: F) -> Self {
        CombineLatest {
            source,
            other,
            f: Arc::new(f),
        }
    }
}

impl<P: Clone, Q: Clone, F> Clone for CombineLatest<P, Q, F> {
    fn clone(&self) -> Self {
        CombineLatest {
            source: self.source.clone(),
            other: self.other.clone(),
            f: Arc::clone(&self.f),
        }
    }
}

impl<P: fmt::Debug, Q: fmt::Debug, F> fmt::Debug for CombineLatest<P, Q, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CombineLatest")
            .field("source", &self.source)
            .field("other", &self.other)
            .finish_non_exhaustive()
    }
}

impl<P, Q, F, C> Publisher for CombineLatest<P, Q, F>
where
    P: Publisher,
    P::Item: Send + 'static,
    Q: Publisher,
    Q::Item: Send + 'static,
    F: Fn(&P::Item, &Q::Item) -> C + Send + Sync + 'static,
    C: Send + 'static,
{
    type Item = C;

    fn subscribe<S: Subscriber<C> + 'static>(&self, subscriber: S) {
        subscribe_two(
            STAGE,
            &self.source,
            &self.other,
            |left, right| Latest {
                left,
                right,
                latest_left: None,
                latest_right: None,
                right_first: false,
                f: Arc::clone(&self.f),
            },
            subscriber,
        );
    }
}

/// The downstream's side: takes the inputs' elements in turn, keeps the latest of each, and
/// emits `f` of both for every element taken once both have one.
struct Latest<A, B, F> {
    left: Side<A>,
    right: Side<B>,
    latest_left: Option<A>,
    latest_right: Option<B>,
    /// Which input is tried first for the next element: they take turns, so a fast input does
    /// not starve a slow one.
    right_first: bool,
    f: Arc<F>,
}

/// What one input gave.
enum Took {
    /// An element, now the input's latest.
    Element,
    /// Nothing now (pending, or ended and drained).
    Nothing,
    Failed(Error),
}

fn take<T>(side: &mut Side<T>, latest: &mut Option<T>) -> Took {
    match side.pull() {
        Pulled::Ready(item) => {
            *latest = Some(item);
            Took::Element
        }
        Pulled::Pending | Pulled::End => Took::Nothing,
        Pulled::Error(error) => Took::Failed(error),
    }
}

impl<A, B, F> Latest<A, B, F> {
    /// Ends the stage: both inputs are cancelled (one that ended is left alone) and what they
    /// queued is dropped.
    fn stop(&mut self) {
        self.left.inbox.discard();
        self.right.inbox.discard();
        self.latest_left = None;
        self.latest_right = None;
    }

    fn finish<C>(&mut self, end: Result<(), Error>) -> Pulled<C> {
        self.stop();
        match end {
            Ok(()) => Pulled::End,
            Err(error) => Pulled::Error(error),
        }
    }
}

impl<A, B, F, C> Pull for Latest<A, B, F>
where
    A: Send + 'static,
    B: Send + 'static,
    F: Fn(&A, &B) -> C + Send + Sync + 'static,
    C: Send + 'static,
{
    type Item = C;

    fn name(&self) -> &'static str {
        STAGE
    }

    fn pull(&mut self, _demand: u64) -> Pulled<C> {
        loop {
            let mut took = false;
            for turn in 0..2 {
                let from_right = self.right_first ^ (turn == 1);
                let got = if from_right {
                    take(&mut self.right, &mut self.latest_right)
                } else {
                    take(&mut self.left, &mut self.latest_left)
                };
                match got {
                    Took::Element => {
                        self.right_first = !from_right;
                        took = true;
                        break;
                    }
                    Took::Nothing => {}
                    Took::Failed(error) => return self.finish(Err(error)),
                }
            }
            if !took {
                break;
            }
            // An element taken before the other input ever emitted only becomes the latest.
            if let (Some(a), Some(b)) = (&self.latest_left, &self.latest_right) {
                return match catch_panic("closure", || (self.f)(a, b)) {
                    Ok(combined) => Pulled::Ready(combined),
                    Err(error) => self.finish(Err(error.in_stage(STAGE))),
                };
            }
        }
        match self.poll_end() {
            Some(Ok(())) => Pulled::End,
            Some(Err(error)) => Pulled::Error(error),
            None => Pulled::Pending,
        }
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        // An input's end is `Some` once it ended and everything it sent was taken.
        let left = self.left.poll_end();
        let right = self.right.poll_end();
        let end = match (left, right) {
            (Some(Err(error)), _) | (_, Some(Err(error))) => Err(error),
            (left, right) => {
                let (left, right) = (left.is_some(), right.is_some());
                // Both ended, or one did without ever emitting: nothing more can be combined.
                let over = (left && (right || self.latest_left.is_none()))
                    || (right && self.latest_right.is_none());
                if !over {
                    return None;
                }
                Ok(())
            }
        };
        self.stop();
        Some(end)
    }
}

impl<A, B, F> Drop for Latest<A, B, F> {
    /// However the subscription ended: both inputs cancelled, queued elements dropped.
    fn drop(&mut self) {
        self.left.inbox.discard();
        self.right.inbox.discard();
    }
}
