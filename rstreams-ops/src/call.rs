//! `call(service, max_in_flight)`: each element through a tower `Service`, requested upstream
//! only while the service is ready.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use rstreams_core::sync::Mutex;
use rstreams_core::{Error, NoopSubscription, Publisher, Subscriber};
use tower_service::Service;

use crate::in_flight::{self, Caller};

/// The error type tower's middleware fails with (`tower::BoxError`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The publisher returned by [`call`](crate::PublisherExt::call).
///
/// `R` is where a failed call goes: [`FailStream`] (the default: the stream fails) or an
/// [`OnFailure`] route set with [`on_failure`](Call::on_failure).
#[must_use = "publishers do nothing until subscribed"]
pub struct Call<P, S, R = FailStream> {
    source: P,
    /// The service, while no subscription holds it.
    service: Arc<Mutex<Option<S>>>,
    max_in_flight: usize,
    ordered: bool,
    route: Arc<R>,
}

impl<P, S> Call<P, S, FailStream> {
    pub(crate) fn new(source: P, service: S, max_in_flight: usize) -> Self {
        assert!(
            max_in_flight > 0,
            "call: max_in_flight must be at least 1 (got 0; valid range 1..=usize::MAX): \
             no element could ever be called"
        );
        Call {
            source,
            service: Arc::new(Mutex::new(Some(service))),
            max_in_flight,
            ordered: true,
            route: Arc::new(FailStream),
        }
    }

    /// Hands each failed call to `route` with its element, and keeps the stream going: the
    /// element's slot is freed and nothing goes downstream for it. Nothing is dropped
    /// silently: every element either has its response downstream or went through `route`
    /// (a dead-letter queue, a retry later, a count), exactly once.
    ///
    /// The element must be kept until its call completed, so it is cloned before the call
    /// (`T: Clone`); the service gets the original. `route` runs in the stage's drain loop;
    /// a panic in it cancels the upstream and fails the stream with an error of kind
    /// [`ErrorKind::Panic`](rstreams_core::ErrorKind::Panic) in stage `call`.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use rstreams::{sink, source, Error};
    /// use rstreams::ops::PublisherExt;
    ///
    /// let dead_letters = Arc::new(Mutex::new(Vec::new()));
    /// let dl = dead_letters.clone();
    /// let odd_only = tower::service_fn(|x: u64| async move {
    ///     if x % 2 == 1 { Ok(x * 10) } else { Err(Error::msg(format!("{x} is even"))) }
    /// });
    /// let out = source::range(0, 5)
    ///     .call(odd_only, 2)
    ///     .on_failure(move |x, error: Error| dl.lock().unwrap().push((x, error.to_string())));
    /// assert_eq!(sink::collect(&out).unwrap(), vec![10, 30]);
    /// assert_eq!(dead_letters.lock().unwrap().len(), 3); // 0, 2 and 4
    /// ```
    pub fn on_failure<F>(self, route: F) -> Call<P, S, OnFailure<F>> {
        Call {
            source: self.source,
            service: self.service,
            max_in_flight: self.max_in_flight,
            ordered: self.ordered,
            route: Arc::new(OnFailure(route)),
        }
    }
}

impl<P, S, R> Call<P, S, R> {
    /// Emits the responses as the calls complete, instead of in the order of the elements: a
    /// slow call does not hold back the responses of faster ones.
    pub fn unordered(mut self) -> Self {
        self.ordered = false;
        self
    }
}

impl<P: Clone, S, R> Clone for Call<P, S, R> {
    /// The clone shares the service: one subscription of either uses it at a time.
    fn clone(&self) -> Self {
        Call {
            source: self.source.clone(),
            service: Arc::clone(&self.service),
            max_in_flight: self.max_in_flight,
            ordered: self.ordered,
            route: Arc::clone(&self.route),
        }
    }
}

impl<P: fmt::Debug, S, R> fmt::Debug for Call<P, S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("source", &self.source)
            .field("max_in_flight", &self.max_in_flight)
            .field("ordered", &self.ordered)
            .finish_non_exhaustive()
    }
}

/// Where [`call`](crate::PublisherExt::call) sends a failed call: the stream's end
/// ([`FailStream`]) or a route of the user's ([`OnFailure`]).
pub trait FailureRoute<T, E>: Send + Sync + 'static {
    /// What is kept of the element until its call completed (nothing, or the element).
    type Kept: Send + 'static;

    /// Called before the element goes to the service.
    fn keep(&self, item: &T) -> Self::Kept;

    /// The call failed with `error`. `Ok`: handled, the stream goes on. `Err`: the stream
    /// fails with it.
    fn route(&self, kept: Self::Kept, error: E) -> Result<(), Error>;
}

/// The default [`FailureRoute`]: a failed call cancels the upstream, drops the other calls in
/// flight and fails the stream with the call's error.
#[derive(Debug, Clone, Copy, Default)]
pub struct FailStream;

impl<T, E: Into<BoxError>> FailureRoute<T, E> for FailStream {
    type Kept = ();

    fn keep(&self, _item: &T) {}

    fn route(&self, _kept: (), error: E) -> Result<(), Error> {
        Err(Error::from(error.into()))
    }
}

/// The [`FailureRoute`] set with [`Call::on_failure`]: the element and the error go to the
/// closure, and the stream goes on.
#[derive(Clone, Copy)]
pub struct OnFailure<F>(F);

impl<F> fmt::Debug for OnFailure<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnFailure { .. }")
    }
}

impl<T, E, F> FailureRoute<T, E> for OnFailure<F>
where
    T: Clone + Send + 'static,
    F: Fn(T, E) + Send + Sync + 'static,
{
    type Kept = T;

    fn keep(&self, item: &T) -> T {
        item.clone()
    }

    fn route(&self, kept: T, error: E) -> Result<(), Error> {
        (self.0)(kept, error);
        Ok(())
    }
}

impl<P, S, R> Publisher for Call<P, S, R>
where
    P: Publisher,
    P::Item: Send + 'static,
    S: Service<P::Item> + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Into<BoxError> + 'static,
    R: FailureRoute<P::Item, S::Error>,
{
    type Item = S::Response;

    fn subscribe<Sub: Subscriber<S::Response> + 'static>(&self, mut subscriber: Sub) {
        let taken = self.service.lock().take();
        let Some(service) = taken else {
            // §1.9: a rejected subscription gets on_subscribe, then on_error.
            subscriber.on_subscribe(Arc::new(NoopSubscription));
            subscriber.on_error(
                Error::protocol(
                    "1.9",
                    "call: the service is in use by another subscription (a tower Service \
                     serves one subscription at a time); subscribe again once that one ended, \
                     or build a pipeline per subscriber (source::defer)",
                )
                .in_stage("call"),
            );
            return;
        };
        let caller = ServiceCaller {
            service: Some(service),
            home: Arc::clone(&self.service),
            route: Arc::clone(&self.route),
            reserved: false,
            pending: false,
            _marker: PhantomData,
        };
        in_flight::subscribe(
            &self.source,
            subscriber,
            caller,
            "call",
            self.max_in_flight,
            self.ordered,
            true,
        );
    }
}

/// A service as a [`Caller`]: room is the service's readiness, one reservation at a time.
struct ServiceCaller<S, R, T> {
    /// Taken from the publisher for this subscription; given back when it ends.
    service: Option<S>,
    home: Arc<Mutex<Option<S>>>,
    route: Arc<R>,
    /// `poll_ready` said ready, and the element it is for has not arrived yet.
    reserved: bool,
    /// `poll_ready` said pending: asked again only once its waker fired.
    pending: bool,
    _marker: PhantomData<fn(T)>,
}

impl<T, S, R> Caller<T> for ServiceCaller<S, R, T>
where
    T: Send + 'static,
    S: Service<T> + Send + 'static,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Into<BoxError> + 'static,
    R: FailureRoute<T, S::Error>,
{
    type Future = S::Future;
    type Tag = R::Kept;
    type Item = S::Response;

    fn poll_room(&mut self, waker: &Waker, woken: bool) -> Poll<Result<(), Error>> {
        if self.reserved || (self.pending && !woken) {
            return Poll::Pending;
        }
        let service = self
            .service
            .as_mut()
            .expect("held until the subscription ends");
        match service.poll_ready(&mut Context::from_waker(waker)) {
            Poll::Ready(Ok(())) => {
                self.pending = false;
                self.reserved = true;
                Poll::Ready(Ok(()))
            }
            // The service is broken (tower's contract): the stream ends.
            Poll::Ready(Err(error)) => Poll::Ready(Err(Error::from(error.into()))),
            Poll::Pending => {
                self.pending = true;
                Poll::Pending
            }
        }
    }

    fn start(&mut self, item: T) -> Result<(S::Future, R::Kept), Error> {
        self.reserved = false;
        let kept = self.route.keep(&item);
        let service = self
            .service
            .as_mut()
            .expect("held until the subscription ends");
        Ok((service.call(item), kept))
    }

    fn finish(
        &mut self,
        kept: R::Kept,
        output: Result<S::Response, S::Error>,
    ) -> Result<Option<S::Response>, Error> {
        match output {
            Ok(response) => Ok(Some(response)),
            Err(error) => self.route.route(kept, error).map(|()| None),
        }
    }
}

impl<S, R, T> Drop for ServiceCaller<S, R, T> {
    /// The subscription ended (its state is dropped before its terminal signal): the service
    /// goes back to the publisher, for the next subscription (a retry's, say).
    fn drop(&mut self) {
        if let Some(service) = self.service.take() {
            *self.home.lock() = Some(service);
        }
    }
}
