//! `fail(error)` and `never()`: sources that emit nothing.

use std::fmt;
use std::marker::PhantomData;

use std::sync::Arc;

use super::start;
use crate::support::{Control, Pull, Pulled, Stop};
use crate::{Error, Publisher, Subscriber, Subscription};

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
        end_at_once(subscriber, Err(self.error.clone()));
    }
}

/// Ends a subscription at once, without an engine, for a source with no elements (`empty`,
/// `fail`, a factory that failed): `on_subscribe` (§1.9), then `end` as the terminal signal
/// (completion needs no demand, §1.2) — unless the subscriber cancelled inside `on_subscribe`
/// (§3.12: nothing follows), or called `request(0)` there, which ends it with the §3.9 error
/// instead (in the name "terminal source", as every source names its own stage).
///
/// The subscriber is signalled on the caller's stack and never moved to the heap; the
/// subscription it gets records its calls in a [`Control`] (one small allocation), which is
/// read once, when `on_subscribe` returned: later calls do nothing (§3.6). A panic in the
/// subscriber unwinds to the caller of `subscribe`, as it does from an engine that starts
/// inline (§2.13).
pub(crate) fn end_at_once<T, S: Subscriber<T>>(mut subscriber: S, end: Result<(), Error>) {
    // It emits nothing, so it keeps the promise to ask `wanted` before each run of emissions
    // without asking: a `take` below passes this subscription through.
    subscriber.upstream_asks_wanted();
    let ended = Arc::new(Ended(Control::new()));
    subscriber.on_subscribe(ended.clone());
    // Read once: what the subscriber does from here on is recorded and never read, so calls
    // after the terminal signal do nothing (§3.6).
    match ended.0.stop() {
        Some(Stop::Cancelled) => {}
        Some(Stop::BadRequest) => {
            subscriber.on_error(Error::request_zero().in_stage("terminal source"));
        }
        None => match end {
            Ok(()) => subscriber.on_complete(),
            Err(error) => subscriber.on_error(error),
        },
    }
}

/// The subscription of a source that ends at once: only records `request(0)` and `cancel`
/// (in the [`Control`]'s flags; its demand stays 0, as nothing reads it), for [`end_at_once`]
/// to read after `on_subscribe`.
struct Ended(Control);

impl Subscription for Ended {
    fn request(&self, n: u64) {
        // Only `request(0)` is recorded: `end_at_once` reads the flags, never the demand (and
        // completion needs none, §1.2), so adding to it would be work for nobody.
        if n == 0 {
            self.0.request(n);
        }
    }
    fn cancel(&self) {
        self.0.cancel();
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::source::empty;
    use crate::sync::Mutex;

    /// What a subscriber that acts inside `on_subscribe` saw.
    #[derive(Default)]
    struct Seen {
        subscribed: bool,
        end: Option<Result<(), Error>>,
    }

    /// Requests `first` (if any) and cancels (if `cancel`) inside `on_subscribe`, then requests
    /// and cancels again after the subscription ended.
    struct Acting {
        seen: Arc<Mutex<Seen>>,
        first: Option<u64>,
        cancel: bool,
        subscription: Option<Arc<dyn Subscription>>,
    }

    impl Acting {
        fn subscribe_to(p: &impl Publisher<Item = u64>, first: Option<u64>, cancel: bool) -> Seen {
            let seen = Arc::new(Mutex::new(Seen::default()));
            p.subscribe(Acting {
                seen: Arc::clone(&seen),
                first,
                cancel,
                subscription: None,
            });
            let seen = std::mem::take(&mut *seen.lock());
            seen
        }
    }

    impl Subscriber<u64> for Acting {
        fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
            self.seen.lock().subscribed = true;
            if let Some(n) = self.first {
                s.request(n);
            }
            if self.cancel {
                s.cancel();
            }
            self.subscription = Some(s);
        }
        fn on_next(&mut self, _: u64) {
            panic!("§1.1: a source with no elements emitted one");
        }
        fn on_error(&mut self, error: Error) {
            assert!(self.seen.lock().end.is_none(), "§1.7: one terminal signal");
            self.seen.lock().end = Some(Err(error));
            // §3.6: calls after the end do nothing (and must not signal again).
            let s = self.subscription.take().expect("subscribed first (§1.9)");
            s.request(0);
            s.cancel();
        }
        fn on_complete(&mut self) {
            assert!(self.seen.lock().end.is_none(), "§1.7: one terminal signal");
            self.seen.lock().end = Some(Ok(()));
            let s = self.subscription.take().expect("subscribed first (§1.9)");
            s.request(0);
            s.cancel();
        }
    }

    #[test]
    fn empty_subscribes_then_completes_without_demand_and_ignores_calls_after_the_end() {
        for first in [None, Some(1), Some(u64::MAX)] {
            let seen = Acting::subscribe_to(&empty::<u64>(), first, false);
            assert!(seen.subscribed, "§1.9");
            assert!(matches!(seen.end, Some(Ok(()))), "§1.2: completes at once");
        }
    }

    #[test]
    fn empty_and_fail_send_no_terminal_signal_after_a_cancel_inside_on_subscribe() {
        let seen = Acting::subscribe_to(&empty::<u64>(), Some(3), true);
        assert!(seen.subscribed && seen.end.is_none(), "§3.12: cancelled");
        let seen = Acting::subscribe_to(&fail::<u64>(Error::msg("down")), None, true);
        assert!(seen.subscribed && seen.end.is_none(), "§3.12: cancelled");
    }

    #[test]
    fn a_request_zero_inside_on_subscribe_fails_empty_and_fail_naming_3_9() {
        for p in [empty::<u64>().boxed(), fail(Error::msg("down")).boxed()] {
            let seen = Acting::subscribe_to(&p, Some(0), false);
            let Some(Err(error)) = seen.end else {
                panic!("§3.9: the stream fails")
            };
            assert_eq!(error.rule(), Some("3.9"), "{error}");
        }
    }

    #[test]
    fn fail_subscribes_then_fails_with_its_error_and_releases_the_subscriber() {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let acting = Acting {
            seen: Arc::clone(&seen),
            first: None,
            cancel: false,
            subscription: None,
        };
        fail::<u64>(Error::msg("down")).subscribe(acting);
        assert_eq!(
            Arc::strong_count(&seen),
            1,
            "§3.13: the subscriber is dropped"
        );
        let seen = seen.lock();
        assert!(seen.subscribed);
        let Some(Err(error)) = &seen.end else {
            panic!("fails")
        };
        assert_eq!(error.to_string(), "down");
    }
}
