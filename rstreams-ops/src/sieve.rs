//! The subscriber of every filtering stage (`filter`, `skip_while`, `distinct`,
//! `distinct_bounded`, `distinct_until_changed`): one copy of the signal handling, both paths,
//! for all of them; each brings only its decision ([`Keep`]), with state of its own if it needs
//! some.

use std::sync::Arc;

use rstreams_core::support::{catch_panic, Link};
use rstreams_core::{Error, Subscriber, Subscription};

/// A filtering decision with state of its own, made fresh for each subscription.
pub(crate) trait Keep<T>: Send {
    /// Names the stage in errors.
    const NAME: &'static str;
    /// Whether `item` goes on. May panic (user code): the stream then fails.
    fn keep(&mut self, item: &T) -> bool;
}

/// Passes on the elements its [`Keep`] accepts; a dropped element costs no `request(1)` on the
/// conditional path (`try_on_next` returns `false`) and one on the plain path.
pub(crate) struct Sieve<S, K> {
    downstream: S,
    keep: K,
    /// §2.5 / §1.7 guard, and the upstream to ask for a replacement of a dropped element.
    link: Link,
}

impl<S, K> Sieve<S, K> {
    pub(crate) fn new(downstream: S, keep: K) -> Self {
        Sieve {
            downstream,
            keep,
            link: Link::new(),
        }
    }

    /// `Some(keep)`, or `None` when the decision panicked (the stream has failed).
    #[inline(always)]
    fn decide<T>(&mut self, item: &T) -> Option<bool>
    where
        S: Subscriber<T>,
        K: Keep<T>,
    {
        let keep = &mut self.keep;
        match catch_panic("predicate", || keep.keep(item)) {
            Ok(decision) => Some(decision),
            Err(error) => {
                if self.link.fail() {
                    self.downstream.on_error(error.in_stage(K::NAME));
                }
                None
            }
        }
    }
}

impl<T, S, K> Subscriber<T> for Sieve<S, K>
where
    S: Subscriber<T>,
    K: Keep<T>,
{
    rstreams_core::forward_wanted!(downstream);

    #[inline]
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        if let Some(subscription) = self.link.accept(subscription) {
            self.downstream.on_subscribe(subscription);
        }
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        if self.link.is_done() {
            return;
        }
        match self.decide(&item) {
            Some(true) => self.downstream.on_next(item),
            Some(false) => self.link.request(1),
            None => {}
        }
    }

    #[inline(always)]
    fn try_on_next(&mut self, item: T) -> bool {
        if self.link.is_done() {
            return true;
        }
        match self.decide(&item) {
            Some(true) => self.downstream.try_on_next(item),
            Some(false) => false,
            None => true,
        }
    }

    fn on_error(&mut self, error: Error) {
        if self.link.finish() {
            self.downstream.on_error(error);
        }
    }

    #[inline]
    fn on_complete(&mut self) {
        if self.link.finish() {
            self.downstream.on_complete();
        }
    }
}
