//! `Bulkhead`: at most `max_concurrent` calls at once, shared across stages and pipelines; a
//! tower `Layer` whose `poll_ready` waits for a permit (first come, first served).

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use pin_project_lite::pin_project;
use rstreams_core::sync::{AtomicU64, Mutex, Ordering};
use rstreams_core::Error;
use tower_layer::Layer;
use tower_service::Service;

use crate::call::BoxError;

/// A limit of `max_concurrent` calls at once, shared by every clone: across the stages and
/// pipelines that hold one, whatever each one's own `max_in_flight`.
///
/// A call holds a permit from the moment it is let through until its response future
/// completes or is dropped. Waiting for a permit never blocks a thread: as a tower [`Layer`]
/// (`ServiceBuilder::new().layer(bulkhead.clone())`) its `poll_ready` is pending until a
/// permit is free, and inside [`call`](crate::PublisherExt::call) that is **withheld
/// demand**: the stage requests nothing upstream while it waits. Waiters get permits in the
/// order they started waiting (a freed permit is handed to the first one, not raced for), and
/// one that gives up (a dropped service or [`acquire`](Self::acquire) future) passes its turn
/// on. Permits are also available by hand: [`acquire`](Self::acquire) (a future),
/// [`try_acquire`](Self::try_acquire).
///
/// ```
/// use rstreams::ops::Bulkhead;
///
/// let bulkhead = Bulkhead::new(2);
/// let first = bulkhead.try_acquire().unwrap();
/// let _second = bulkhead.try_acquire().unwrap();
/// assert!(bulkhead.try_acquire().is_none());
/// drop(first);
/// assert_eq!(bulkhead.available(), 1);
/// ```
#[derive(Clone)]
pub struct Bulkhead {
    inner: Arc<Inner>,
}

struct Inner {
    max: usize,
    state: Mutex<State>,
    /// Names the waiters (each service clone, each acquire future).
    next_id: AtomicU64,
}

struct State {
    available: usize,
    /// Waiting, first come first served.
    queue: VecDeque<(u64, Waker)>,
    /// Handed a freed permit, not yet picked up.
    granted: Vec<u64>,
}

impl Bulkhead {
    /// A bulkhead of `max_concurrent` permits.
    ///
    /// # Panics
    ///
    /// When `max_concurrent` is 0 (valid range `1..=usize::MAX`): nothing could ever run.
    pub fn new(max_concurrent: usize) -> Self {
        assert!(
            max_concurrent > 0,
            "bulkhead: max_concurrent must be at least 1 (got 0; valid range 1..=usize::MAX): \
             nothing could ever run"
        );
        Bulkhead {
            inner: Arc::new(Inner {
                max: max_concurrent,
                state: Mutex::new(State {
                    available: max_concurrent,
                    queue: VecDeque::new(),
                    granted: Vec::new(),
                }),
                next_id: AtomicU64::new(0),
            }),
        }
    }

    /// The limit.
    pub fn max_concurrent(&self) -> usize {
        self.inner.max
    }

    /// Permits free now.
    pub fn available(&self) -> usize {
        self.inner.state.lock().available
    }

    /// Waiters now.
    pub fn waiting(&self) -> usize {
        let state = self.inner.state.lock();
        state.queue.len() + state.granted.len()
    }

    /// A permit now, if one is free and nobody is waiting for one.
    pub fn try_acquire(&self) -> Option<BulkheadPermit> {
        let mut state = self.inner.state.lock();
        if state.queue.is_empty() && state.available > 0 {
            state.available -= 1;
            Some(self.permit())
        } else {
            None
        }
    }

    /// A future that resolves to a permit, in turn.
    pub fn acquire(&self) -> BulkheadAcquire {
        BulkheadAcquire {
            bulkhead: self.clone(),
            id: self.next_id(),
            done: false,
        }
    }

    fn next_id(&self) -> u64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn permit(&self) -> BulkheadPermit {
        BulkheadPermit {
            bulkhead: self.clone(),
        }
    }

    fn poll_acquire(&self, id: u64, waker: &Waker) -> Poll<BulkheadPermit> {
        let mut state = self.inner.state.lock();
        if let Some(at) = state.granted.iter().position(|&g| g == id) {
            state.granted.swap_remove(at);
            return Poll::Ready(self.permit());
        }
        if let Some((_, old)) = state.queue.iter_mut().find(|(w, _)| *w == id) {
            if !old.will_wake(waker) {
                *old = waker.clone();
            }
        } else if state.available > 0 && state.queue.is_empty() {
            state.available -= 1;
            return Poll::Ready(self.permit());
        } else {
            state.queue.push_back((id, waker.clone()));
        }
        Poll::Pending
    }

    /// A permit is given back: to the first waiter, or to the pool.
    fn release(&self) {
        let waker = {
            let mut state = self.inner.state.lock();
            match state.queue.pop_front() {
                Some((id, waker)) => {
                    state.granted.push(id);
                    Some(waker)
                }
                None => {
                    state.available += 1;
                    None
                }
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The waiter `id` gave up: out of the queue, and a permit it was handed passes on.
    fn forget(&self, id: u64) {
        let passed_on = {
            let mut state = self.inner.state.lock();
            state.queue.retain(|(w, _)| *w != id);
            match state.granted.iter().position(|&g| g == id) {
                Some(at) => {
                    state.granted.swap_remove(at);
                    true
                }
                None => false,
            }
        };
        if passed_on {
            self.release();
        }
    }
}

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("max_concurrent", &self.inner.max)
            .field("available", &self.available())
            .field("waiting", &self.waiting())
            .finish()
    }
}

/// One of a [`Bulkhead`]'s permits, given back when dropped.
pub struct BulkheadPermit {
    bulkhead: Bulkhead,
}

impl Drop for BulkheadPermit {
    fn drop(&mut self) {
        self.bulkhead.release();
    }
}

impl fmt::Debug for BulkheadPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BulkheadPermit")
    }
}

/// The future returned by [`Bulkhead::acquire`]. Dropped while waiting, it gives its turn
/// (and a permit it was handed) to the next waiter.
#[must_use = "futures do nothing unless polled"]
pub struct BulkheadAcquire {
    bulkhead: Bulkhead,
    id: u64,
    done: bool,
}

impl Future for BulkheadAcquire {
    type Output = BulkheadPermit;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BulkheadPermit> {
        let permit = std::task::ready!(self.bulkhead.poll_acquire(self.id, cx.waker()));
        self.done = true;
        Poll::Ready(permit)
    }
}

impl Drop for BulkheadAcquire {
    fn drop(&mut self) {
        if !self.done {
            self.bulkhead.forget(self.id);
        }
    }
}

impl fmt::Debug for BulkheadAcquire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadAcquire")
            .field("done", &self.done)
            .finish()
    }
}

// ===== the tower layer =====

impl<S> Layer<S> for Bulkhead {
    type Service = BulkheadService<S>;

    fn layer(&self, inner: S) -> BulkheadService<S> {
        BulkheadService {
            inner,
            id: self.next_id(),
            bulkhead: self.clone(),
            permit: None,
        }
    }
}

/// The service a [`Bulkhead`] layer makes: `poll_ready` waits for a permit, and the call
/// holds it until its response future completes or is dropped.
pub struct BulkheadService<S> {
    inner: S,
    bulkhead: Bulkhead,
    /// This clone's place in the queue.
    id: u64,
    /// The permit `poll_ready` obtained, for the next call.
    permit: Option<BulkheadPermit>,
}

impl<S: Clone> Clone for BulkheadService<S> {
    /// A clone shares the bulkhead, not the permit, and waits in its own turn.
    fn clone(&self) -> Self {
        BulkheadService {
            inner: self.inner.clone(),
            id: self.bulkhead.next_id(),
            bulkhead: self.bulkhead.clone(),
            permit: None,
        }
    }
}

impl<S> Drop for BulkheadService<S> {
    fn drop(&mut self) {
        self.bulkhead.forget(self.id);
    }
}

impl<S> fmt::Debug for BulkheadService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadService")
            .field("bulkhead", &self.bulkhead)
            .field("has_permit", &self.permit.is_some())
            .finish_non_exhaustive()
    }
}

impl<S, Request> Service<Request> for BulkheadService<S>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BulkheadFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if self.permit.is_none() {
            let permit = std::task::ready!(self.bulkhead.poll_acquire(self.id, cx.waker()));
            self.permit = Some(permit);
        }
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request) -> BulkheadFuture<S::Future> {
        match self.permit.take() {
            Some(permit) => BulkheadFuture {
                inner: Some(self.inner.call(request)),
                permit: Some(permit),
            },
            None => BulkheadFuture {
                inner: None,
                permit: None,
            },
        }
    }
}

pin_project! {
    /// The response future of a [`BulkheadService`]: holds the permit until it completes.
    pub struct BulkheadFuture<F> {
        #[pin]
        inner: Option<F>,
        permit: Option<BulkheadPermit>,
    }
}

impl<F> fmt::Debug for BulkheadFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadFuture")
            .field("holds_permit", &self.permit.is_some())
            .finish_non_exhaustive()
    }
}

impl<F, T, E> Future for BulkheadFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            let error = Error::msg("bulkhead: called without a permit (poll_ready first)");
            return Poll::Ready(Err(Box::new(error)));
        };
        let output = std::task::ready!(inner.poll(cx));
        this.permit.take(); // given back as the call completes
        Poll::Ready(output.map_err(Into::into))
    }
}
