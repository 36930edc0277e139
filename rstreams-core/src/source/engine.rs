//! The emission engine shared by every synchronous-pull source (range, from_iter, just, empty,
//! fail, never, interval): one subscription type, one drain loop.
//!
//! A source only says how to pull its next element ([`Pull`]); the engine keeps the protocol:
//! `on_subscribe` first (§1.9), never more than the demand (§1.1), serial signals (§1.3), no
//! recursion from a re-entrant `request` (§3.3), `request(0)` fails the stream (§3.9), cancel
//! stops signals and drops the subscriber (§3.12, §3.13), a panicking source becomes `on_error`.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::support::{catch_panic, Demand, DrainCell};
use crate::sync::{AtomicUsize, Ordering};
use crate::{Error, Subscriber, Subscription};

/// What a source yields when asked for its next element.
pub(crate) enum Pulled<T> {
    /// The next element.
    Item(T),
    /// Nothing now; the source will call [`Emitter::wake`] when it has something.
    Pending,
    /// Nothing ever again; the stream ends with [`Pull::end`].
    End,
}

/// A source the engine pulls from. Its methods run inside the drain loop only, one call at a
/// time; a panic in any of them fails the stream with an error that starts with [`Pull::WHAT`].
pub(crate) trait Pull: Send + 'static {
    type Item;
    /// Names the source in error messages ("range", "from_iter iterator").
    const WHAT: &'static str;
    /// The next element, if the source has one now.
    fn next(&mut self) -> Pulled<Self::Item>;
    /// Whether the stream has ended, so that completion is signalled as soon as the last
    /// element is out, without waiting for more demand. May look one element ahead.
    fn is_done(&mut self) -> bool;
    /// How the stream ends once [`next`](Self::next) said `End`: `Ok` completes, `Err` fails.
    fn end(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

const CANCELLED: usize = 1;
const BAD_REQUEST: usize = 2;

struct Active<P, S> {
    pull: P,
    subscriber: S,
}

/// The subscription of an engine-driven source.
pub(crate) struct Emitter<P, S> {
    demand: Demand,
    flags: AtomicUsize,
    cell: DrainCell<Option<Active<P, S>>>,
}

/// How an emission run ended.
enum Step {
    /// No demand left, or the source is pending: wait for the next event.
    Idle,
    /// A flag was raised (cancel, request(0)): handle it.
    Flagged,
    /// The source ended.
    End,
    /// The source panicked.
    Failed(Error),
}

/// Subscribes `subscriber` to `pull`: calls `on_subscribe`, then emits as demand allows.
/// Returns the subscription so that a source driven by events (a timer) can wake it.
pub(crate) fn start<P, S>(pull: P, subscriber: S) -> Arc<Emitter<P, S>>
where
    P: Pull,
    S: Subscriber<P::Item> + 'static,
{
    let emitter = Arc::new(Emitter {
        demand: Demand::new(),
        flags: AtomicUsize::new(0),
        cell: DrainCell::new(None),
    });
    // Own the drain loop before on_subscribe runs, so that a request made inside it only
    // records demand; emission starts after on_subscribe has returned (§1.9, §3.3).
    let mut entered = emitter.cell.enter().expect("a new emitter is not draining");
    let active = entered.get().insert(Active { pull, subscriber });
    let subscription: Arc<dyn Subscription> = emitter.clone();
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| {
        active.subscriber.on_subscribe(subscription)
    })) {
        // §2.13: a subscriber that panics is treated as having cancelled.
        emitter.flags.fetch_or(CANCELLED, Ordering::AcqRel);
        *entered.get() = None;
        drop(entered);
        resume_unwind(payload);
    }
    entered.drain(|slot| emitter.pass(slot));
    emitter
}

impl<P, S> Emitter<P, S>
where
    P: Pull,
    S: Subscriber<P::Item>,
{
    /// Runs the drain loop: the source has something new (a timer fired).
    pub(crate) fn wake(&self) {
        self.cell.drain(|slot| self.pass(slot));
    }

    /// Whether the subscription was cancelled or has ended with an error for `request(0)`.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.flags.load(Ordering::Acquire) & CANCELLED != 0
    }

    fn pass(&self, slot: &mut Option<Active<P, S>>) {
        if slot.is_none() {
            return; // terminated or cancelled: nothing more is signalled (§1.7, §3.6)
        }
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| self.pass_inner(slot))) {
            // The subscriber panicked (§2.13): treat it as cancelled, release it, and let the
            // panic continue to whoever called into the subscription.
            self.flags.fetch_or(CANCELLED, Ordering::AcqRel);
            *slot = None;
            resume_unwind(payload);
        }
    }

    fn pass_inner(&self, slot: &mut Option<Active<P, S>>) {
        loop {
            let Some(active) = slot.as_mut() else { return };
            let flags = self.flags.load(Ordering::Acquire);
            if flags & CANCELLED != 0 {
                *slot = None; // §3.13: drop the subscriber and the source
                return;
            }
            if flags & BAD_REQUEST != 0 {
                self.flags.fetch_or(CANCELLED, Ordering::AcqRel);
                let mut done = slot.take().expect("checked above");
                done.subscriber
                    .on_error(Error::request_zero().in_stage(P::WHAT));
                return;
            }
            match self.emit(active) {
                Step::Idle => return,
                Step::Flagged => continue,
                Step::End => {
                    let mut done = slot.take().expect("checked above");
                    self.flags.fetch_or(CANCELLED, Ordering::AcqRel);
                    match catch_panic(P::WHAT, || done.pull.end()).and_then(|r| r) {
                        Ok(()) => done.subscriber.on_complete(),
                        Err(e) => done.subscriber.on_error(e),
                    }
                    return;
                }
                Step::Failed(error) => {
                    let mut done = slot.take().expect("checked above");
                    self.flags.fetch_or(CANCELLED, Ordering::AcqRel);
                    done.subscriber.on_error(error);
                    return;
                }
            }
        }
    }

    /// Emits up to the outstanding demand. The demand is read once per batch and decremented
    /// once per batch; per element there is one flag load and no read-modify-write.
    #[inline]
    fn emit(&self, active: &mut Active<P, S>) -> Step {
        let mut requested = self.demand.get();
        let mut emitted = 0u64;
        loop {
            while emitted != requested {
                if self.flags.load(Ordering::Acquire) != 0 {
                    return Step::Flagged;
                }
                let pulled = match catch_panic(P::WHAT, || active.pull.next()) {
                    Ok(pulled) => pulled,
                    Err(e) => return Step::Failed(e),
                };
                match pulled {
                    Pulled::Item(item) => {
                        if active.subscriber.try_on_next(item) {
                            emitted += 1;
                        }
                    }
                    Pulled::Pending => {
                        self.demand.produced(emitted);
                        return Step::Idle;
                    }
                    Pulled::End => return Step::End,
                }
            }
            if self.flags.load(Ordering::Acquire) != 0 {
                return Step::Flagged;
            }
            match catch_panic(P::WHAT, || active.pull.is_done()) {
                Ok(true) => return Step::End,
                Ok(false) => {}
                Err(e) => return Step::Failed(e),
            }
            requested = self.demand.produced(emitted);
            emitted = 0;
            if requested == 0 {
                return Step::Idle;
            }
        }
    }
}

impl<P, S> Subscription for Emitter<P, S>
where
    P: Pull,
    S: Subscriber<P::Item>,
{
    fn request(&self, n: u64) {
        if n == 0 {
            self.flags.fetch_or(BAD_REQUEST, Ordering::AcqRel);
        } else {
            self.demand.add(n);
        }
        self.wake();
    }

    fn cancel(&self) {
        self.flags.fetch_or(CANCELLED, Ordering::AcqRel);
        self.wake();
    }
}
