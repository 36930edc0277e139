//! [`ProcessorVerification`]: checks an identity processor on both sides (§4.1).

use std::fmt;
use std::sync::Arc;

use rstreams_core::{Publisher, Subscriber};

use crate::env::Timeouts;
use crate::report::Report;
use crate::{
    OperatorVerification, PublisherVerification, SubscriberVerification, TestSubscriber, Upstream,
};

/// Verifies an identity processor: a cloneable handle that is both a `Subscriber<u64>` and a
/// `Publisher<Item = u64>` and passes elements through unchanged (§4.1).
///
/// Three suites run on it, and their checks are reported together:
/// - as a **publisher**, fed by an [`Upstream`] of `elements` ([`PublisherVerification`]);
/// - as a **subscriber**, with an unbounded downstream attached so that it has a reason to
///   request ([`SubscriberVerification`]);
/// - as an **operator** over its upstream ([`OperatorVerification`]): errors and completion
///   pass through at once (§4.2), cancel reaches upstream, demand stays bounded.
///
/// `ProcessorVerification::new(|| MyProcessor::new()).prefetch_bound(16).run()`; the kit's own
/// tests (`tests/compliant.rs`, `tests/must_fail.rs`) hold a correct identity processor and
/// one that swallows errors.
pub struct ProcessorVerification<P> {
    make: Arc<dyn Fn() -> P + Send + Sync>,
    prefetch: Option<u64>,
    timeouts: Timeouts,
}

impl<P> fmt::Debug for ProcessorVerification<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessorVerification")
            .field("prefetch_bound", &self.prefetch)
            .field("timeouts", &self.timeouts)
            .finish()
    }
}

impl<P> ProcessorVerification<P>
where
    P: Subscriber<u64> + Publisher<Item = u64> + Clone + 'static,
{
    /// Verifies the processors `make` returns.
    pub fn new(make: impl Fn() -> P + Send + Sync + 'static) -> Self {
        ProcessorVerification {
            make: Arc::new(make),
            prefetch: None,
            timeouts: Timeouts::from_env(),
        }
    }

    /// How far ahead of downstream demand the processor may request from upstream (see
    /// [`OperatorVerification::prefetch_bound`]).
    pub fn prefetch_bound(mut self, k: u64) -> Self {
        self.prefetch = Some(k);
        self
    }

    /// Replaces the timeouts read from the environment.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Runs every check of the three suites.
    pub fn run(&self) -> Report {
        self.report(None)
    }

    /// Runs the check named `name` only.
    ///
    /// # Panics
    ///
    /// When no suite has a check of that name.
    pub fn run_check(&self, name: &str) -> Report {
        self.report(Some(name))
    }

    fn report(&self, only: Option<&str>) -> Report {
        let make = Arc::clone(&self.make);
        let publisher = PublisherVerification::new(move |n| {
            let p = make();
            Upstream::emitting(n).subscribe(p.clone());
            p
        })
        .timeouts(self.timeouts);
        let make = Arc::clone(&self.make);
        let subscriber = SubscriberVerification::new(move || {
            let p = make();
            p.subscribe(TestSubscriber::<u64>::new(u64::MAX));
            p
        })
        .timeouts(self.timeouts);
        let make = Arc::clone(&self.make);
        let mut operator = OperatorVerification::new(move |up: Upstream| {
            let p = make();
            up.subscribe(p.clone());
            p
        })
        .timeouts(self.timeouts);
        if let Some(k) = self.prefetch {
            operator = operator.prefetch_bound(k);
        }
        let has = |names: &[&str]| only.is_none_or(|o| names.contains(&o));
        let mut parts = Vec::new();
        if has(&PublisherVerification::<u64>::check_names()) {
            parts.push(only.map_or_else(|| publisher.run(), |o| publisher.run_check(o)));
        }
        if has(&SubscriberVerification::<P>::check_names()) {
            parts.push(only.map_or_else(|| subscriber.run(), |o| subscriber.run_check(o)));
        }
        if has(&OperatorVerification::<u64>::check_names()) {
            parts.push(only.map_or_else(|| operator.run(), |o| operator.run_check(o)));
        }
        assert!(
            !parts.is_empty(),
            "no check named {:?}",
            only.unwrap_or_default()
        );
        let mut checks = Vec::new();
        let mut not_checked: Vec<&'static str> = Vec::new();
        for part in parts {
            checks.extend(part.checks);
            for id in part.not_checked {
                if !not_checked.contains(&id) {
                    not_checked.push(id);
                }
            }
        }
        // Both sides together cover §4.1.
        not_checked.retain(|id| *id != "4.1");
        Report {
            subject: "processor".into(),
            checks,
            not_checked,
        }
    }
}
