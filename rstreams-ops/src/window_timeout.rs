//! `window_timeout(size, timeout)`: windows of at most `size` elements that also close
//! `timeout` after they opened; the stage is `window`'s, with a timer.

use std::fmt;
use std::time::Duration;

use rstreams_core::scheduler::Scheduler;
use rstreams_core::support::Dropped;
use rstreams_core::{Publisher, Subscriber};

use crate::window::{self, Pane, Setup};

/// The publisher returned by [`window_timeout`](crate::PublisherExt::window_timeout) and
/// [`window_timeout_on`](crate::PublisherExt::window_timeout_on).
#[must_use = "publishers do nothing until subscribed"]
pub struct WindowTimeout<P, S> {
    source: P,
    size: u64,
    timeout: Duration,
    scheduler: S,
    dropped: Dropped,
}

impl<P, S> WindowTimeout<P, S> {
    pub(crate) fn new(source: P, size: usize, timeout: Duration, scheduler: S) -> Self {
        assert!(
            size > 0,
            "window_timeout: size must be at least 1 (got 0; valid range 1..=usize::MAX): a window that holds nothing never ends"
        );
        assert!(
            !timeout.is_zero(),
            "window_timeout: timeout must be a positive duration (got 0; valid range 1ns..=Duration::MAX, where Duration::MAX means never)"
        );
        WindowTimeout {
            source,
            size: size as u64,
            timeout,
            scheduler,
            dropped: Dropped::new(),
        }
    }

    /// The count of elements no subscriber took, as [`Window::dropped`](crate::Window::dropped).
    pub fn dropped(&self) -> Dropped {
        self.dropped.clone()
    }
}

impl<P: Clone, S: Clone> Clone for WindowTimeout<P, S> {
    /// A clone shares the [`Dropped`] count.
    fn clone(&self) -> Self {
        WindowTimeout {
            source: self.source.clone(),
            size: self.size,
            timeout: self.timeout,
            scheduler: self.scheduler.clone(),
            dropped: self.dropped.clone(),
        }
    }
}

impl<P: fmt::Debug, S> fmt::Debug for WindowTimeout<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WindowTimeout")
            .field("source", &self.source)
            .field("size", &self.size)
            .field("timeout", &self.timeout)
            .field("dropped", &self.dropped.count())
            .finish_non_exhaustive()
    }
}

impl<P, Sch> Publisher for WindowTimeout<P, Sch>
where
    P: Publisher,
    P::Item: Send + 'static,
    Sch: Scheduler,
{
    type Item = Pane<P::Item>;

    fn subscribe<S: Subscriber<Pane<P::Item>> + 'static>(&self, subscriber: S) {
        window::subscribe(
            &self.source,
            subscriber,
            Setup {
                name: "window_timeout",
                size: self.size,
                timeout: Some((self.timeout, self.scheduler.worker())),
                dropped: self.dropped.clone(),
            },
        );
    }
}
