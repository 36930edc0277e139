//! `on_error_return(f)`: on an upstream error, one last element made from it, then completion;
//! the switch of [`on_error_resume`](crate::PublisherExt::on_error_resume), to a one-element
//! source on the support engine.

use std::fmt;
use std::sync::Arc;

use rstreams_core::support::{catch_panic, Engine, EngineConfig, Pull, Pulled};
use rstreams_core::{Error, Publisher, Subscriber};

use crate::on_error_resume::subscribe_resuming;

/// Names the stage in errors.
const NAME: &str = "on_error_return";

/// The publisher returned by
/// [`PublisherExt::on_error_return`](crate::PublisherExt::on_error_return).
#[must_use = "publishers do nothing until subscribed"]
pub struct OnErrorReturn<P, F> {
    source: P,
    f: Arc<F>,
}

impl<P, F> OnErrorReturn<P, F> {
    pub(crate) fn new(source: P, f: F) -> Self {
        OnErrorReturn {
            source,
            f: Arc::new(f),
        }
    }
}

impl<P: Clone, F> Clone for OnErrorReturn<P, F> {
    fn clone(&self) -> Self {
        OnErrorReturn {
            source: self.source.clone(),
            f: Arc::clone(&self.f),
        }
    }
}

impl<P: fmt::Debug, F> fmt::Debug for OnErrorReturn<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnErrorReturn")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<P, F> Publisher for OnErrorReturn<P, F>
where
    P: Publisher,
    P::Item: Send + 'static,
    F: Fn(Error) -> P::Item + Send + Sync + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        let f = Arc::clone(&self.f);
        subscribe_resuming(&self.source, subscriber, move |error, fallback| {
            match catch_panic(NAME, || f(error)) {
                // The last element goes out when the outstanding demand allows, then the end.
                Ok(last) => {
                    Engine::start(Last(Some(last)), fallback, EngineConfig::new());
                }
                Err(panicked) => fallback.fail(panicked.in_stage(NAME)),
            }
        });
    }
}

/// One element, then the end.
struct Last<T>(Option<T>);

impl<T: Send + 'static> Pull for Last<T> {
    type Item = T;

    fn name(&self) -> &'static str {
        NAME
    }

    fn pull(&mut self, _demand: u64) -> Pulled<T> {
        match self.0.take() {
            Some(last) => Pulled::Ready(last),
            None => Pulled::End,
        }
    }

    fn poll_end(&mut self) -> Option<Result<(), Error>> {
        self.0.is_none().then_some(Ok(()))
    }
}
