//! [`Verification`]: the one builder behind every verification. What differs between a
//! publisher, an operator, a subscriber and a processor is its [`Suite`] of checks; naming,
//! timeouts, the number of generated schedules, shrinking and running are the same for all.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::check::{not_checked, run_checks, CheckDef, Settings};
use crate::env::Timeouts;
use crate::report::Report;

/// A verification: a [`Suite`] of checks and how to run them.
///
/// It is spelled through its aliases, each with its own constructor and options:
/// [`PublisherVerification`](crate::PublisherVerification),
/// [`OperatorVerification`](crate::OperatorVerification),
/// [`SubscriberVerification`](crate::SubscriberVerification) and
/// [`ProcessorVerification`](crate::ProcessorVerification). The options they share are here.
///
/// ```
/// use std::time::Duration;
///
/// use rstreams::source;
/// use rstreams_tck::PublisherVerification;
///
/// let report = PublisherVerification::new(|n| source::range(0, n))
///     .name("range")                                // names the report
///     .cases(16)                                    // generated schedules per generated check
///     .shrink_time(Duration::from_millis(100))      // shrinking budget of a failing one
///     .run();
/// assert!(report.is_compliant(), "{report}");
/// assert!(report.to_string().starts_with("rstreams TCK: publisher `range`"));
/// ```
pub struct Verification<S> {
    pub(crate) suite: Arc<S>,
    pub(crate) settings: Settings,
}

/// What a [`Verification`] checks: a publisher, an operator, a subscriber or a processor. The
/// kit's own; not implemented outside it.
///
/// ```
/// use rstreams_tck::{PublisherSuite, Suite};
///
/// fn checks<S: Suite>() -> usize {
///     rstreams_tck::Verification::<S>::check_names().len()
/// }
/// assert!(checks::<PublisherSuite<u64>>() > 20);
/// ```
pub trait Suite: sealed::Sealed + Send + Sync + Sized + 'static {}

impl<S: sealed::Sealed + Send + Sync + Sized + 'static> Suite for S {}

pub(crate) mod sealed {
    use super::*;

    /// The workings of a [`Suite`], private to the kit.
    pub trait Sealed: Send + Sync + Sized + 'static {
        /// What is verified, for the report ("publisher").
        const SUBJECT: &'static str;

        /// The checks, in the order they are reported.
        fn defs() -> Vec<CheckDef<Self>>;

        /// The sections whose rules no check covers are listed as not checked; the rules
        /// every check covers (its calls are guarded).
        fn coverage() -> (&'static [&'static str], &'static [&'static str]) {
            (&[], &[])
        }

        /// The names of the checks.
        fn names() -> Vec<&'static str> {
            Self::defs().iter().map(|d| d.name).collect()
        }

        /// Runs the checks (all, or the one named `only`).
        fn report(suite: &Arc<Self>, settings: &Settings, only: Option<&str>) -> Report {
            run_suite(suite, settings, only)
        }

        /// The suite's options, for `Debug`.
        fn describe(&self, f: &mut fmt::DebugStruct<'_, '_>);
    }
}

/// Runs the checks of a suite and accounts for the rules they do not cover.
pub(crate) fn run_suite<S: sealed::Sealed>(
    suite: &Arc<S>,
    settings: &Settings,
    only: Option<&str>,
) -> Report {
    let defs = S::defs();
    let checks = run_checks(suite, &defs, settings, only);
    let (sections, always) = S::coverage();
    let mut covered: Vec<&str> = defs.iter().map(|d| d.rule).collect();
    covered.extend(always);
    Report {
        subject: subject(S::SUBJECT, settings),
        checks,
        not_checked: not_checked(sections, &covered),
    }
}

/// "publisher", or "publisher `name`" for a named verification.
pub(crate) fn subject(what: &str, settings: &Settings) -> String {
    match &settings.name {
        Some(name) => format!("{what} `{name}`"),
        None => what.to_owned(),
    }
}

impl<S> Verification<S> {
    pub(crate) fn with(suite: S) -> Self {
        Verification {
            suite: Arc::new(suite),
            settings: Settings::from_env(),
        }
    }

    pub(crate) fn suite_mut(&mut self) -> &mut S {
        Arc::get_mut(&mut self.suite).expect("configured before running")
    }
}

impl<S: Suite> Verification<S> {
    /// Names what is verified, in the report's first line ("publisher `range`").
    ///
    /// ```
    /// use rstreams::source;
    /// use rstreams_tck::PublisherVerification;
    ///
    /// let report = PublisherVerification::new(|n| source::range(0, n))
    ///     .name("range")
    ///     .run_check("rule_1_1_emits_no_more_than_requested");
    /// assert!(report.to_string().starts_with("rstreams TCK: publisher `range`:"));
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.settings.name = Some(name.into());
        self
    }

    /// Replaces the timeouts read from the environment.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use rstreams::source;
    /// use rstreams_tck::{PublisherVerification, Timeouts};
    ///
    /// PublisherVerification::new(|n| source::range(0, n))
    ///     .timeouts(Timeouts {
    ///         signal: Duration::from_millis(300),
    ///         quiet: Duration::from_millis(5),
    ///         check: Duration::from_secs(3),
    ///     })
    ///     .run()
    ///     .assert_compliant();
    /// ```
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.settings.timeouts = timeouts;
        self
    }

    /// How many schedules each generated check tries (otherwise `PROPTEST_CASES`, or 32).
    ///
    /// ```
    /// use rstreams::source;
    /// use rstreams_tck::PublisherVerification;
    ///
    /// PublisherVerification::new(|n| source::range(0, n))
    ///     .cases(8)
    ///     .run_check("rule_3_8_generated_demand_schedules")
    ///     .assert_compliant();
    /// ```
    pub fn cases(mut self, cases: u32) -> Self {
        self.settings.cases = Some(cases.max(1));
        self
    }

    /// How long a failing generated check may spend shrinking its schedule to a minimal one
    /// (otherwise `RSTREAMS_TCK_SHRINK_MS`, or 250 ms). The default reports a failure within
    /// about a second; give more for a smaller schedule.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use rstreams::source;
    /// use rstreams_tck::PublisherVerification;
    ///
    /// let v = PublisherVerification::new(|n| source::range(0, n)).shrink_time(Duration::from_secs(5));
    /// assert!(format!("{v:?}").contains("shrink_time: 5s"));
    /// ```
    pub fn shrink_time(mut self, budget: Duration) -> Self {
        self.settings.shrink = Some(budget);
        self
    }

    /// Runs every check.
    ///
    /// ```
    /// use rstreams::source;
    /// use rstreams_tck::PublisherVerification;
    ///
    /// let report = PublisherVerification::new(|n| source::range(0, n)).run();
    /// assert!(report.is_compliant(), "{report}");
    /// assert!(report.failed_rules().is_empty());
    /// ```
    pub fn run(&self) -> Report {
        S::report(&self.suite, &self.settings, None)
    }

    /// Runs the check named `name` only (see [`check_names`](Self::check_names)).
    ///
    /// # Panics
    ///
    /// When no check has that name.
    ///
    /// ```
    /// use rstreams::source;
    /// use rstreams_tck::PublisherVerification;
    ///
    /// let report = PublisherVerification::new(|n| source::range(0, n))
    ///     .run_check("rule_3_9_request_zero_signals_error");
    /// assert_eq!(report.checks().len(), 1);
    /// ```
    pub fn run_check(&self, name: &str) -> Report {
        S::report(&self.suite, &self.settings, Some(name))
    }

    /// The names of the checks, in the order they are reported.
    ///
    /// ```
    /// use rstreams_tck::OperatorVerification;
    ///
    /// let names = OperatorVerification::<u64>::check_names();
    /// assert_eq!(names[0], "op_rule_1_1_never_emits_more_than_downstream_demand");
    /// ```
    pub fn check_names() -> Vec<&'static str> {
        S::names()
    }
}

impl<S: Suite> fmt::Debug for Verification<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct(S::SUBJECT);
        d.field("name", &self.settings.name);
        self.suite.describe(&mut d);
        d.field("timeouts", &self.settings.timeouts)
            .field("cases", &self.settings.cases())
            .field("shrink_time", &self.settings.shrink_time())
            .finish()
    }
}

/// `Debug` for a suite: its options.
macro_rules! suite_debug {
    ($($suite:ident<$p:ident>),*) => {$(
        impl<$p> fmt::Debug for crate::$suite<$p>
        where
            crate::$suite<$p>: sealed::Sealed,
        {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut d = f.debug_struct(stringify!($suite));
                sealed::Sealed::describe(self, &mut d);
                d.finish()
            }
        }
    )*};
}

suite_debug!(
    PublisherSuite<T>,
    OperatorSuite<T>,
    SubscriberSuite<S>,
    ProcessorSuite<P>
);
