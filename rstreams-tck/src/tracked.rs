//! [`track`]: see when a publisher lets go of its subscriber (§3.13).

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rstreams_core::{Error, Subscriber, Subscription};

/// Wraps `subscriber` so that a test can see, through the returned `Weak`, when the publisher
/// it is given to has dropped it (after cancel, §3.13, or after the end, §1.6).
///
/// ```
/// use rstreams::{source, Publisher};
/// use rstreams_tck::{await_released, track, TestSubscriber};
/// use std::time::Duration;
///
/// let probe = TestSubscriber::<u64>::new(1);
/// let (subscriber, weak) = track(probe.clone());
/// source::range(0, 10).subscribe(subscriber);
/// assert!(weak.upgrade().is_some(), "still subscribed");
/// probe.cancel();
/// assert!(await_released(&weak, Duration::from_secs(1)));
/// ```
pub fn track<S>(subscriber: S) -> (Tracked<S>, Weak<()>) {
    let token = Arc::new(());
    let weak = Arc::downgrade(&token);
    (
        Tracked {
            inner: subscriber,
            _token: token,
        },
        weak,
    )
}

/// Waits (polling, bounded by `timeout`) until `weak` is dead; whether it is.
pub fn await_released(weak: &Weak<()>, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while weak.strong_count() > 0 {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    true
}

/// A subscriber that forwards every signal (the conditional path included) and holds the
/// token behind a [`track`] `Weak`.
pub struct Tracked<S> {
    inner: S,
    _token: Arc<()>,
}

impl<S> fmt::Debug for Tracked<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tracked { .. }")
    }
}

impl<T, S: Subscriber<T>> Subscriber<T> for Tracked<S> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        self.inner.on_subscribe(subscription)
    }
    fn on_next(&mut self, item: T) {
        self.inner.on_next(item)
    }
    fn on_error(&mut self, error: Error) {
        self.inner.on_error(error)
    }
    fn on_complete(&mut self) {
        self.inner.on_complete()
    }
    fn try_on_next(&mut self, item: T) -> bool {
        self.inner.try_on_next(item)
    }
}
