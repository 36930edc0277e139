//! Macros that expand a verification into one `#[test]` per rule.

/// The names of the checks each macro expands to, so a test can keep them in sync with the
/// verifications.
#[doc(hidden)]
pub const PUBLISHER_CHECKS: &[&str] = &[
    "rule_1_1_emits_no_more_than_requested",
    "rule_1_2_may_signal_fewer_than_requested_then_complete",
    "rule_1_3_signals_are_serial",
    "rule_1_4_failed_publisher_signals_on_error",
    "rule_1_5_completes_after_the_last_element",
    "rule_1_5_empty_publisher_completes",
    "rule_1_6_terminal_signal_releases_the_subscriber",
    "rule_1_7_nothing_follows_on_complete",
    "rule_1_8_cancel_under_unbounded_demand_stops_signals",
    "rule_1_9_on_subscribe_comes_first_and_once",
    "rule_1_9_failed_publisher_signals_on_subscribe_then_on_error",
    "rule_1_11_supports_several_subscribers",
    "rule_3_2_request_from_on_subscribe_and_on_next_is_allowed",
    "rule_3_3_request_from_on_next_does_not_recurse",
    "rule_3_5_cancel_from_several_threads_is_safe",
    "rule_3_6_request_after_cancel_does_nothing",
    "rule_3_7_cancel_after_cancel_does_nothing",
    "rule_3_8_demand_from_several_threads_is_never_lost",
    "rule_3_8_generated_demand_schedules",
    "rule_3_9_request_zero_signals_error",
    "rule_3_9_error_names_the_rule",
    "rule_3_12_cancel_stops_signals",
    "rule_3_13_cancel_releases_the_subscriber",
    "rule_3_17_unbounded_demand_is_supported",
    "rule_3_17_cumulative_demand_up_to_u64_max",
    "rule_3_17_demand_beyond_u64_max_is_not_an_error",
];
#[doc(hidden)]
pub const OPERATOR_CHECKS: &[&str] = &[
    "op_rule_1_1_never_emits_more_than_downstream_demand",
    "op_upstream_demand_stays_within_downstream_demand_plus_prefetch",
    "op_rule_3_8_downstream_demand_reaches_upstream",
    "op_rule_3_9_request_zero_signals_error",
    "op_rule_3_12_cancel_reaches_upstream",
    "op_rule_3_13_cancel_releases_the_downstream_subscriber",
    "op_rule_4_2_upstream_error_reaches_downstream_without_demand",
    "op_rule_1_5_upstream_completion_reaches_downstream",
    "op_output_does_not_depend_on_the_demand_schedule",
];
#[doc(hidden)]
pub const SUBSCRIBER_CHECKS: &[&str] = &[
    "rule_2_1_signals_demand_with_request",
    "rule_2_3_on_complete_does_not_call_the_subscription",
    "rule_2_3_on_error_does_not_call_the_subscription",
    "rule_2_5_a_second_subscription_is_cancelled",
    "rule_2_8_accepts_on_next_after_cancel",
    "rule_2_9_accepts_on_complete_without_request",
    "rule_2_9_accepts_on_complete_after_request",
    "rule_2_10_accepts_on_error_without_request",
    "rule_2_10_accepts_on_error_after_request",
    "rule_3_8_triggered_request_reaches_the_subscription",
];

#[doc(hidden)]
#[macro_export]
macro_rules! __tck_tests {
    ($name:ident, $verification:expr, [$($check:ident,)*]) => {
        #[allow(non_snake_case)]
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $check() {
                    let verification = $verification;
                    let report = verification.run_check(stringify!($check));
                    report.assert_compliant();
                }
            )*
        }
    };
}

/// Expands to a module `$name` with one `#[test]` per publisher check, each named after its
/// rule, so that `cargo test` lists (and filters) them one by one.
///
/// The second argument is an expression that builds the verification; it is evaluated once
/// per test.
///
/// ```
/// use rstreams::source;
/// use rstreams_tck::{publisher_tck, PublisherVerification};
///
/// // In a test file: expands to `mod range { #[test] fn rule_1_1_…() … }`.
/// publisher_tck!(range, PublisherVerification::new(|n| source::range(0, n)));
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! publisher_tck {
    ($name:ident, $verification:expr) => {
        $crate::__tck_tests!(
            $name,
            $verification,
            [
                rule_1_1_emits_no_more_than_requested,
                rule_1_2_may_signal_fewer_than_requested_then_complete,
                rule_1_3_signals_are_serial,
                rule_1_4_failed_publisher_signals_on_error,
                rule_1_5_completes_after_the_last_element,
                rule_1_5_empty_publisher_completes,
                rule_1_6_terminal_signal_releases_the_subscriber,
                rule_1_7_nothing_follows_on_complete,
                rule_1_8_cancel_under_unbounded_demand_stops_signals,
                rule_1_9_on_subscribe_comes_first_and_once,
                rule_1_9_failed_publisher_signals_on_subscribe_then_on_error,
                rule_1_11_supports_several_subscribers,
                rule_3_2_request_from_on_subscribe_and_on_next_is_allowed,
                rule_3_3_request_from_on_next_does_not_recurse,
                rule_3_5_cancel_from_several_threads_is_safe,
                rule_3_6_request_after_cancel_does_nothing,
                rule_3_7_cancel_after_cancel_does_nothing,
                rule_3_8_demand_from_several_threads_is_never_lost,
                rule_3_8_generated_demand_schedules,
                rule_3_9_request_zero_signals_error,
                rule_3_9_error_names_the_rule,
                rule_3_12_cancel_stops_signals,
                rule_3_13_cancel_releases_the_subscriber,
                rule_3_17_unbounded_demand_is_supported,
                rule_3_17_cumulative_demand_up_to_u64_max,
                rule_3_17_demand_beyond_u64_max_is_not_an_error,
            ]
        );
    };
}

/// Expands to a module `$name` with one `#[test]` per operator check, each named after its
/// rule, so that `cargo test` lists (and filters) them one by one.
///
/// The second argument is an expression that builds the verification; it is evaluated once
/// per test.
///
/// ```
/// use rstreams_tck::{operator_tck, OperatorVerification, Upstream};
///
/// // With rstreams-ops: `OperatorVerification::new(|up: Upstream| up.map(|x| x + 1))`.
/// operator_tck!(identity, OperatorVerification::new(|up: Upstream| up).prefetch_bound(0));
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! operator_tck {
    ($name:ident, $verification:expr) => {
        $crate::__tck_tests!(
            $name,
            $verification,
            [
                op_rule_1_1_never_emits_more_than_downstream_demand,
                op_upstream_demand_stays_within_downstream_demand_plus_prefetch,
                op_rule_3_8_downstream_demand_reaches_upstream,
                op_rule_3_9_request_zero_signals_error,
                op_rule_3_12_cancel_reaches_upstream,
                op_rule_3_13_cancel_releases_the_downstream_subscriber,
                op_rule_4_2_upstream_error_reaches_downstream_without_demand,
                op_rule_1_5_upstream_completion_reaches_downstream,
                op_output_does_not_depend_on_the_demand_schedule,
            ]
        );
    };
}

/// Expands to a module `$name` with one `#[test]` per subscriber check, each named after its
/// rule, so that `cargo test` lists (and filters) them one by one.
///
/// The second argument is an expression that builds the verification; it is evaluated once
/// per test.
///
/// ```
/// use rstreams::sink;
/// use rstreams_tck::{subscriber_tck, SubscriberVerification};
///
/// subscriber_tck!(for_each, SubscriberVerification::new(|| sink::for_each(|_: u64| {})));
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! subscriber_tck {
    ($name:ident, $verification:expr) => {
        $crate::__tck_tests!(
            $name,
            $verification,
            [
                rule_2_1_signals_demand_with_request,
                rule_2_3_on_complete_does_not_call_the_subscription,
                rule_2_3_on_error_does_not_call_the_subscription,
                rule_2_5_a_second_subscription_is_cancelled,
                rule_2_8_accepts_on_next_after_cancel,
                rule_2_9_accepts_on_complete_without_request,
                rule_2_9_accepts_on_complete_after_request,
                rule_2_10_accepts_on_error_without_request,
                rule_2_10_accepts_on_error_after_request,
                rule_3_8_triggered_request_reaches_the_subscription,
            ]
        );
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OperatorVerification, PublisherVerification, SubscriberVerification};
    use rstreams_core::sink::LambdaSubscriber;

    #[test]
    fn the_macros_expand_to_every_check_of_each_verification() {
        assert_eq!(
            PUBLISHER_CHECKS,
            PublisherVerification::<u64>::check_names()
        );
        assert_eq!(OPERATOR_CHECKS, OperatorVerification::<u64>::check_names());
        assert_eq!(
            SUBSCRIBER_CHECKS,
            SubscriberVerification::<LambdaSubscriber<u64, fn(u64)>>::check_names()
        );
    }
}
