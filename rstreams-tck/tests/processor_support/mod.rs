//! An identity processor for the kit's self-tests: correct, or with one defect.
#![allow(dead_code)] // each test file uses one of the two constructors

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use rstreams_core::support::{DrainCell, UpstreamSlot};
use rstreams_core::{Error, NoopSubscription, Publisher, Subscriber, Subscription};

/// A unicast identity processor: downstream demand goes upstream as it is (no prefetch);
/// elements and the end pass through a queue drained by one loop.
#[derive(Clone)]
pub struct Identity {
    inner: Arc<Inner>,
}

struct Inner {
    swallow_errors: bool,
    upstream: UpstreamSlot,
    queue: Mutex<VecDeque<u64>>,
    end: Mutex<Option<Option<Error>>>,
    incoming: Mutex<Option<Box<dyn Subscriber<u64>>>>,
    taken: AtomicBool,
    cancelled: AtomicBool,
    down: DrainCell<Option<Box<dyn Subscriber<u64>>>>,
}

impl Identity {
    pub fn new() -> Self {
        Self::with(false)
    }

    /// A processor that drops `on_error` instead of passing it on (breaks §4.2).
    pub fn swallowing_errors() -> Self {
        Self::with(true)
    }

    fn with(swallow_errors: bool) -> Self {
        Identity {
            inner: Arc::new(Inner {
                swallow_errors,
                upstream: UpstreamSlot::new(),
                queue: Mutex::new(VecDeque::new()),
                end: Mutex::new(None),
                incoming: Mutex::new(None),
                taken: AtomicBool::new(false),
                cancelled: AtomicBool::new(false),
                down: DrainCell::new(None),
            }),
        }
    }
}

impl Inner {
    fn drain(&self) {
        self.down.drain(|down| {
            if down.is_none() {
                *down = self.incoming.lock().take();
            }
            let Some(d) = down.as_mut() else { return };
            if self.cancelled.load(Ordering::Acquire) {
                self.queue.lock().clear();
                *down = None;
                return;
            }
            loop {
                if self.cancelled.load(Ordering::Acquire) {
                    self.queue.lock().clear();
                    *down = None;
                    return;
                }
                let next = self.queue.lock().pop_front();
                match next {
                    Some(x) => d.on_next(x),
                    None => break,
                }
            }
            let end = self.end.lock().take();
            match end {
                Some(Some(e)) => d.on_error(e),
                Some(None) => d.on_complete(),
                None => return,
            }
            *down = None;
        });
    }
}

impl Subscriber<u64> for Identity {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        self.inner.upstream.set(s);
    }
    fn on_next(&mut self, x: u64) {
        self.inner.queue.lock().push_back(x);
        self.inner.drain();
    }
    fn on_error(&mut self, e: Error) {
        if self.inner.swallow_errors {
            return;
        }
        *self.inner.end.lock() = Some(Some(e));
        self.inner.drain();
    }
    fn on_complete(&mut self) {
        *self.inner.end.lock() = Some(None);
        self.inner.drain();
    }
}

struct Downstream(Arc<Inner>);

impl Subscription for Downstream {
    fn request(&self, n: u64) {
        self.0.upstream.request(n);
    }
    fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::Release);
        self.0.upstream.cancel();
        self.0.drain();
    }
}

impl Publisher for Identity {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, mut s: S) {
        if self.inner.taken.swap(true, Ordering::AcqRel) {
            s.on_subscribe(Arc::new(NoopSubscription));
            s.on_error(Error::protocol(
                "1.9",
                "this processor serves one subscriber",
            ));
            return;
        }
        s.on_subscribe(Arc::new(Downstream(Arc::clone(&self.inner))));
        *self.inner.incoming.lock() = Some(Box::new(s));
        self.inner.drain();
    }
}
