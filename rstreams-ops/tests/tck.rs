//! The operator suite of the compliance kit, one line per operator: both sides of each
//! operator checked against the kit's instrumented upstream, under generated demand schedules.

use rstreams_ops::{ErrorMode, Overflow, PublisherExt};
use rstreams_tck::{OperatorVerification, Upstream};

#[test]
fn map_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.map(|x| x * 2))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

#[test]
fn filter_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.filter(|x| x % 3 != 1))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

#[test]
fn take_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.take(7))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

#[test]
fn skip_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.skip(3))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

#[test]
fn scan_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| {
        up.scan(0u64, |sum, x| {
            *sum += x;
            *sum
        })
    })
    .prefetch_bound(0)
    .run()
    .assert_compliant();
}

#[test]
fn buffer_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.buffer(3))
        .demand_ratio(3)
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

#[test]
fn limit_rate_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.limit_rate(8, 3))
        .prefetch_bound(8)
        .run()
        .assert_compliant();
}

// The overload operators request unbounded demand upstream by design: no prefetch bound.
// Those that drop or evict elements when downstream is slow are declared lossy(): their output
// is a part of what unbounded demand gets, never a duplicate or a made-up element.

#[test]
fn on_backpressure_buffer_is_a_compliant_operator() {
    // Room for everything the kit emits: the output does not depend on the demand schedule.
    OperatorVerification::new(|up: Upstream| up.on_backpressure_buffer(1 << 16, Overflow::Fail))
        .run()
        .assert_compliant();
}

#[test]
fn on_backpressure_buffer_with_immediate_errors_is_a_compliant_operator() {
    // An error overtakes the queued elements: how many arrive before it depends on the demand.
    OperatorVerification::new(|up: Upstream| {
        up.on_backpressure_buffer(1 << 16, Overflow::Fail)
            .error_mode(ErrorMode::Immediate)
    })
    .nondeterministic()
    .run()
    .assert_compliant();
}

#[test]
fn on_backpressure_buffer_evicting_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.on_backpressure_buffer(4, Overflow::EvictOldest))
        .lossy()
        .run()
        .assert_compliant();
}

#[test]
fn on_backpressure_drop_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.on_backpressure_drop())
        .lossy()
        .run()
        .assert_compliant();
}

#[test]
fn on_backpressure_latest_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.on_backpressure_latest())
        .lossy()
        .run()
        .assert_compliant();
}

#[test]
fn publish_on_is_a_compliant_operator() {
    let pool = rstreams_core::scheduler::ThreadPool::new(2);
    OperatorVerification::new(move |up: Upstream| up.publish_on(pool.clone(), 8))
        .prefetch_bound(8)
        .run()
        .assert_compliant();
}

#[test]
fn subscribe_on_is_a_compliant_operator() {
    let pool = rstreams_core::scheduler::ThreadPool::new(2);
    OperatorVerification::new(move |up: Upstream| up.subscribe_on(pool.clone()))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

#[test]
fn flat_map_is_a_compliant_operator() {
    // Outer demand is max_concurrency whatever the downstream asks: that is its prefetch.
    OperatorVerification::new(|up: Upstream| {
        up.flat_map(|x| rstreams_core::source::range(x * 10, 3), 4, 8)
    })
    .prefetch_bound(4)
    .nondeterministic()
    .run()
    .assert_compliant();
    OperatorVerification::new(|up: Upstream| up.flat_map(rstreams_core::source::just, 1, 8))
        .prefetch_bound(1)
        .run()
        .assert_compliant();
}

#[test]
fn merge_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.merge(rstreams_core::source::range(1_000, 5)))
        .prefetch_bound(32)
        .nondeterministic()
        .run()
        .assert_compliant();
}

#[test]
fn concat_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.concat(rstreams_core::source::range(1_000, 5)))
        .prefetch_bound(32)
        .run()
        .assert_compliant();
}

#[test]
fn throttle_is_a_compliant_operator() {
    use rstreams_core::scheduler::VirtualTime;
    use rstreams_ops::ThrottleMode;
    use std::time::Duration;
    let vt = VirtualTime::new();
    let clock = vt.clone();
    OperatorVerification::new(move |up: Upstream| {
        up.throttle_on(
            4,
            Duration::from_millis(10),
            4,
            ThrottleMode::Shaping,
            clock.clone(),
        )
    })
    .virtual_time(vt, Duration::from_millis(10))
    .prefetch_bound(0)
    .run()
    .assert_compliant();
}

#[test]
fn buffer_timeout_is_a_compliant_operator() {
    use rstreams_core::scheduler::VirtualTime;
    use std::time::Duration;
    let vt = VirtualTime::new();
    let clock = vt.clone();
    OperatorVerification::new(move |up: Upstream| {
        up.buffer_timeout_on(3, Duration::from_millis(10), clock.clone())
    })
    .virtual_time(vt, Duration::from_millis(5))
    .demand_ratio(3)
    .prefetch_bound(3)
    .nondeterministic()
    .run()
    .assert_compliant();
}

// ===== the vocabulary: filtering, aggregates, fallbacks =====

#[test]
fn try_map_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.try_map(|x| Ok::<_, rstreams_core::Error>(x * 2)))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

#[test]
fn filter_map_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.filter_map(|x| (x % 3 != 1).then_some(x * 2)))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

#[test]
fn take_while_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.take_while(|x| *x < 7))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

#[test]
fn skip_while_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.skip_while(|x| *x < 3))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

#[test]
fn distinct_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.map(|x| x / 2).distinct())
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

#[test]
fn distinct_bounded_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.map(|x| x % 5).distinct_bounded(2))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

#[test]
fn distinct_until_changed_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.map(|x| x / 3).distinct_until_changed())
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

#[test]
fn skip_last_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.skip_last(2))
        .prefetch_bound(2)
        .run()
        .assert_compliant();
}

// Aggregates request everything upstream by design (they hold one value, or `n` for
// take_last): no prefetch bound.

#[test]
fn reduce_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.reduce(|a, b| a.wrapping_add(b)))
        .run()
        .assert_compliant();
}

#[test]
fn fold_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.fold(1u64, |a, b| a.wrapping_mul(b + 1)))
        .run()
        .assert_compliant();
}

#[test]
fn count_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.count())
        .run()
        .assert_compliant();
}

#[test]
fn first_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.first())
        .run()
        .assert_compliant();
}

#[test]
fn last_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.last())
        .run()
        .assert_compliant();
}

#[test]
fn take_last_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.take_last(3))
        .run()
        .assert_compliant();
}

#[test]
fn collect_vec_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.collect_vec())
        .run()
        .assert_compliant();
}

// start_with is `concat` with the prefix first: the kit's upstream, second in line, is subscribed
// only once the prefix was consumed (as in Reactor). The kit drives demand until it is
// (`subscribes_upstream_on_demand`) before the checks that need it, and checks that a cancel
// before then leaves it unsubscribed.

#[test]
fn start_with_is_a_compliant_operator_that_subscribes_its_upstream_on_demand() {
    OperatorVerification::new(|up: Upstream| up.start_with(vec![100, 101, 102]))
        .subscribes_upstream_on_demand()
        .prefetch_bound(0)
        .run()
        .assert_compliant();
    OperatorVerification::new(|up: Upstream| up.start_with(Vec::<u64>::new()))
        .subscribes_upstream_on_demand()
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

#[test]
fn switch_if_empty_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| {
        up.switch_if_empty(rstreams_core::source::range(50, 3))
    })
    .prefetch_bound(0)
    .run()
    .assert_compliant();
}

#[test]
fn default_if_empty_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.default_if_empty(99))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

// Asynchronous calls: upstream demand is the free slots, max_in_flight ahead of the downstream.

#[test]
fn map_async_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.map_async(4, |x| std::future::ready(x * 2)))
        .prefetch_bound(4)
        .run()
        .assert_compliant();
    OperatorVerification::new(|up: Upstream| up.map_async_unordered(3, |x| async move { x + 1 }))
        .prefetch_bound(3)
        .run()
        .assert_compliant();
    OperatorVerification::new(|up: Upstream| {
        up.try_map_async(2, |x| std::future::ready(Ok::<_, rstreams_core::Error>(x)))
    })
    .prefetch_bound(2)
    .run()
    .assert_compliant();
}

#[cfg(feature = "tower")]
#[test]
fn call_is_a_compliant_operator() {
    // A ready service: one element requested per readiness, at most one ahead of the calls.
    OperatorVerification::new(|up: Upstream| {
        up.call(
            tower::service_fn(|x: u64| std::future::ready(Ok::<_, rstreams_core::Error>(x * 3))),
            4,
        )
    })
    .prefetch_bound(4)
    .run()
    .assert_compliant();
}

// ===== errors, retry, timeout, hooks =====

#[test]
fn on_error_resume_is_a_compliant_operator() {
    // The fallback fails in its turn, so an upstream error still ends the stream (§4.2 check);
    // the switch itself is exercised by every check whose upstream fails.
    OperatorVerification::new(|up: Upstream| {
        up.on_error_resume(|e| rstreams_core::source::fail(e.context("resumed")))
    })
    .prefetch_bound(0)
    .run()
    .assert_compliant();
}

#[test]
fn on_error_return_is_a_compliant_operator() {
    // An upstream error becomes one last element, which waits for demand: the kit's check that
    // an error reaches a downstream without demand (§4.2) does not apply to an operator that
    // turns errors into elements. Every other check runs; the tests in errors.rs pin that the
    // last element goes out at the next request, then completion.
    let skipped = "op_rule_4_2_upstream_error_reaches_downstream_without_demand";
    for check in OperatorVerification::<u64>::check_names() {
        if check == skipped {
            continue;
        }
        OperatorVerification::new(|up: Upstream| up.on_error_return(|_| u64::MAX))
            .prefetch_bound(0)
            .run_check(check)
            .assert_compliant();
    }
}

#[test]
fn map_err_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.map_err(|e| e.context("mapped")))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

#[test]
fn retry_is_a_compliant_operator() {
    use rstreams_ops::RetryPolicy;
    OperatorVerification::new(|up: Upstream| up.retry(RetryPolicy::immediate().max_attempts(3)))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

#[test]
fn retry_with_a_backoff_on_virtual_time_is_a_compliant_operator() {
    use rstreams_core::scheduler::VirtualTime;
    use rstreams_ops::RetryPolicy;
    use std::time::Duration;
    let vt = VirtualTime::new();
    let clock = vt.clone();
    OperatorVerification::new(move |up: Upstream| {
        up.retry(
            RetryPolicy::exponential(Duration::from_millis(1), Duration::from_millis(8))
                .max_attempts(3)
                .seed(7)
                .on(clock.clone()),
        )
    })
    .virtual_time(vt, Duration::from_millis(5))
    .prefetch_bound(0)
    .run()
    .assert_compliant();
}

#[test]
fn timeout_is_a_compliant_operator() {
    use rstreams_core::scheduler::VirtualTime;
    use std::time::Duration;
    let vt = VirtualTime::new();
    let clock = vt.clone();
    OperatorVerification::new(move |up: Upstream| {
        up.timeout_on(Duration::from_secs(60), clock.clone())
    })
    .virtual_time(vt, Duration::from_millis(5))
    .prefetch_bound(0)
    .run()
    .assert_compliant();
}

#[test]
fn timeout_or_is_a_compliant_operator() {
    use rstreams_core::scheduler::VirtualTime;
    use std::time::Duration;
    let vt = VirtualTime::new();
    let clock = vt.clone();
    OperatorVerification::new(move |up: Upstream| {
        up.timeout_or_on(
            Duration::from_secs(60),
            rstreams_core::source::range(1_000, 5),
            clock.clone(),
        )
    })
    .virtual_time(vt, Duration::from_millis(5))
    .prefetch_bound(0)
    .run()
    .assert_compliant();
}

#[test]
fn inspect_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.inspect(|_| {}))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

#[test]
fn on_request_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.on_request(|_| {}))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

#[test]
fn on_cancel_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.on_cancel(|| {}))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

#[test]
fn on_terminate_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.on_terminate(|_| {}))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

#[test]
fn finally_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.finally(|| {}))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

// ===== time, multicast, grouping =====

// debounce and sample request unbounded demand by design and keep the newest element: lossy,
// no prefetch bound. Their timers run on the kit's virtual clock.

#[test]
fn debounce_is_a_compliant_operator() {
    use rstreams_core::scheduler::VirtualTime;
    use std::time::Duration;
    let vt = VirtualTime::new();
    let clock = vt.clone();
    OperatorVerification::new(move |up: Upstream| {
        up.debounce_on(Duration::from_millis(10), clock.clone())
    })
    .virtual_time(vt, Duration::from_millis(5))
    .lossy()
    .run()
    .assert_compliant();
}

#[test]
fn sample_is_a_compliant_operator() {
    use rstreams_core::scheduler::VirtualTime;
    use std::time::Duration;
    let vt = VirtualTime::new();
    let clock = vt.clone();
    OperatorVerification::new(move |up: Upstream| {
        up.sample_on(Duration::from_millis(10), clock.clone())
    })
    .virtual_time(vt, Duration::from_millis(5))
    .lossy()
    .run()
    .assert_compliant();
}

#[test]
fn delay_is_a_compliant_operator() {
    use rstreams_core::scheduler::VirtualTime;
    use std::time::Duration;
    let vt = VirtualTime::new();
    let clock = vt.clone();
    // Requested only against the downstream's demand: no prefetch.
    OperatorVerification::new(move |up: Upstream| {
        up.delay_on(Duration::from_millis(10), clock.clone())
    })
    .virtual_time(vt, Duration::from_millis(5))
    .prefetch_bound(0)
    .run()
    .assert_compliant();
}

#[test]
fn conflate_is_a_compliant_operator() {
    // Unbounded upstream demand by design; the output depends on the demand schedule (what
    // was combined), so K.1 cannot compare it: the combining function keeps the first of
    // what it combines, making the output a part of the input.
    OperatorVerification::new(|up: Upstream| up.conflate(|first, _| first))
        .lossy()
        .run()
        .assert_compliant();
}

// Multicast: one subscriber sees an operator whose demand passes through (the slowest of one);
// two subscribers are checked by ProcessorVerification through a relay that feeds the
// operator from the kit's upstream (tests/multicast_support).

#[path = "multicast_support/mod.rs"]
mod multicast_support;

#[test]
fn share_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.share())
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

#[test]
fn share_is_a_compliant_multicast_processor_where_the_slowest_holds_back_the_others() {
    use rstreams_tck::{Multicast, ProcessorVerification};
    ProcessorVerification::new(|| multicast_support::relay(|feed| feed.share()))
        .prefetch_bound(0)
        .multicast(Multicast::SlowestHoldsBack)
        .run()
        .assert_compliant();
}

// The named policy that drops for a slow subscriber: with one subscriber nothing lags, and the
// demand passes through; the output is declared lossy() all the same, as drops are by design.
// With two, the kit holds it to Multicast::DropsForSlow: the faster subscriber is not held
// back, and each sees an increasing part of the elements.

#[test]
fn share_dropping_for_a_slow_subscriber_is_a_compliant_operator() {
    use rstreams_ops::SlowSubscriber;
    for buffer in [0, 4] {
        OperatorVerification::new(move |up: Upstream| {
            up.share()
                .slow_subscriber(SlowSubscriber::DropOldest { buffer })
        })
        .prefetch_bound(0)
        .lossy()
        .run()
        .assert_compliant();
    }
}

#[test]
fn share_dropping_for_a_slow_subscriber_is_a_compliant_multicast_processor_that_drops_for_the_slow()
{
    use rstreams_ops::SlowSubscriber;
    use rstreams_tck::{Multicast, ProcessorVerification};
    for buffer in [0, 4] {
        ProcessorVerification::new(move || {
            multicast_support::relay(|feed| {
                feed.share()
                    .slow_subscriber(SlowSubscriber::DropOldest { buffer })
            })
        })
        .prefetch_bound(0)
        .multicast(Multicast::DropsForSlow)
        .run()
        .assert_compliant();
    }
}

// A connectable multicast subscribes its upstream at connect(), and keeps its connection when
// its subscribers leave: only the connection's end (a disconnect) cancels the upstream. The kit
// verifies it as such (`connectable`): it connects after its probe subscribed, and where a
// cancel must reach upstream (§3.12) it cancels, then ends the connection.

/// What ends a connection, for the kit.
fn disconnecting(connection: rstreams_ops::Connection) -> impl FnOnce() + Send + 'static {
    move || connection.disconnect()
}

#[test]
fn publish_is_a_compliant_operator_that_subscribes_its_upstream_at_connect() {
    use rstreams_ops::SlowSubscriber;
    OperatorVerification::connectable(|up: Upstream| up.publish(), |p| disconnecting(p.connect()))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
    OperatorVerification::connectable(
        |up: Upstream| {
            up.publish()
                .slow_subscriber(SlowSubscriber::DropOldest { buffer: 2 })
        },
        |p| disconnecting(p.connect()),
    )
    .prefetch_bound(0)
    .lossy()
    .run()
    .assert_compliant();
}

#[test]
fn replay_is_a_compliant_operator_that_subscribes_its_upstream_at_connect() {
    use rstreams_ops::SlowSubscriber;
    OperatorVerification::connectable(|up: Upstream| up.replay(4), |p| disconnecting(p.connect()))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
    OperatorVerification::connectable(
        |up: Upstream| {
            up.replay(4)
                .slow_subscriber(SlowSubscriber::DropOldest { buffer: 2 })
        },
        |p| disconnecting(p.connect()),
    )
    .prefetch_bound(0)
    .lossy()
    .run()
    .assert_compliant();
}

#[test]
fn publish_is_a_compliant_multicast_processor_where_the_slowest_holds_back_the_others() {
    use rstreams_tck::{Multicast, ProcessorVerification};
    ProcessorVerification::new(|| {
        multicast_support::connectable_relay(|feed| feed.publish(), |p| p.connect())
    })
    .connectable(|relay| relay.connect())
    .prefetch_bound(0)
    .multicast(Multicast::SlowestHoldsBack)
    .run()
    .assert_compliant();
}

#[test]
fn replay_is_a_compliant_multicast_processor_where_the_slowest_holds_back_the_others() {
    use rstreams_tck::{Multicast, ProcessorVerification};
    ProcessorVerification::new(|| {
        multicast_support::connectable_relay(|feed| feed.replay(4), |p| p.connect())
    })
    .connectable(|relay| relay.connect())
    .prefetch_bound(0)
    .multicast(Multicast::SlowestHoldsBack)
    .run()
    .assert_compliant();
}

#[test]
fn publish_and_replay_dropping_for_a_slow_subscriber_are_compliant_multicast_processors_that_drop_for_the_slow(
) {
    use rstreams_ops::SlowSubscriber;
    use rstreams_tck::{Multicast, ProcessorVerification};
    let policy = SlowSubscriber::DropOldest { buffer: 0 };
    ProcessorVerification::new(move || {
        multicast_support::connectable_relay(
            move |feed| feed.publish().slow_subscriber(policy),
            |p| p.connect(),
        )
    })
    .connectable(|relay| relay.connect())
    .prefetch_bound(0)
    .multicast(Multicast::DropsForSlow)
    .run()
    .assert_compliant();
    ProcessorVerification::new(move || {
        multicast_support::connectable_relay(
            move |feed| feed.replay(4).slow_subscriber(policy),
            |p| p.connect(),
        )
    })
    .connectable(|relay| relay.connect())
    .prefetch_bound(0)
    .multicast(Multicast::DropsForSlow)
    .run()
    .assert_compliant();
}

// Windows are publishers: the kit checks a window stage flattened back into its elements by a
// flat_map that subscribes one window at a time (prefetch 8). The window's subscriber drives
// the upstream; the flat_map asks for the next window (one opening element) whatever its
// downstream's demand: that is the prefetch.

#[test]
fn window_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.window(3).flat_map(|w| w, 1, 8))
        .prefetch_bound(1)
        .run()
        .assert_compliant();
}

#[test]
fn window_timeout_is_a_compliant_operator() {
    use rstreams_core::scheduler::VirtualTime;
    use std::time::Duration;
    let vt = VirtualTime::new();
    let clock = vt.clone();
    OperatorVerification::new(move |up: Upstream| {
        up.window_timeout_on(3, Duration::from_millis(10), clock.clone())
            .flat_map(|w| w, 1, 8)
    })
    .virtual_time(vt, Duration::from_millis(5))
    .prefetch_bound(1)
    .run()
    .assert_compliant();
}

// group_by emits groups: the kit checks it flattened by a flat_map that subscribes every
// group (max_concurrency = the number of keys). The stage asks for a batch of 64 whenever
// nothing is outstanding and a group or the outer stream waits: that is the prefetch. Groups
// interleave: nondeterministic order.

#[test]
fn group_by_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.group_by(|x| x % 3, 3).flat_map(|g| g, 3, 8))
        .prefetch_bound(64)
        .nondeterministic()
        .run()
        .assert_compliant();
}

// ===== combining =====
// Two-input operators: the kit's upstream is one input, a `source::range`, `just` or `never`
// the other.

#[test]
fn zip_is_a_compliant_operator() {
    // Each side is asked for 32 ahead of the pairs, whatever the downstream asks.
    OperatorVerification::new(|up: Upstream| up.zip(rstreams_core::source::range(1_000, 100)))
        .prefetch_bound(32)
        .run()
        .assert_compliant();
    OperatorVerification::new(|up: Upstream| {
        rstreams_core::source::range(1_000, 100).zip_with(up, |a, b| a + b)
    })
    .prefetch_bound(32)
    .run()
    .assert_compliant();
}

#[test]
fn combine_latest_is_a_compliant_operator() {
    // `other` emits once, before the kit's first element is taken: each element combines with
    // it, whatever the schedule.
    OperatorVerification::new(|up: Upstream| {
        up.combine_latest(rstreams_core::source::range(1_000, 1), |a, b| a + b)
    })
    .prefetch_bound(32)
    .run()
    .assert_compliant();
    OperatorVerification::new(|up: Upstream| {
        rstreams_core::source::range(1_000, 1).combine_latest(up, |a, b| a + b)
    })
    .prefetch_bound(32)
    .run()
    .assert_compliant();
}

#[test]
fn with_latest_from_is_a_compliant_operator() {
    // The upstream's demand passes through (the kit's upstream drives) ...
    OperatorVerification::new(|up: Upstream| {
        up.with_latest_from(rstreams_core::source::range(1_000, 1), |a, b| a + b)
    })
    .prefetch_bound(0)
    .run()
    .assert_compliant();
    // ... and `other` is asked for everything (the kit's upstream is `other`).
    OperatorVerification::new(|up: Upstream| {
        rstreams_core::source::range(0, 5).with_latest_from(up, |a, b| a + b)
    })
    .run()
    .assert_compliant();
}

#[test]
fn concat_map_is_a_compliant_operator() {
    // The outer is prefetched; the inners' demand is the downstream's.
    OperatorVerification::new(|up: Upstream| {
        up.concat_map(|x| rstreams_core::source::range(x * 10, 3), 4)
    })
    .prefetch_bound(4)
    .run()
    .assert_compliant();
    OperatorVerification::new(|up: Upstream| up.concat_map(rstreams_core::source::just, 1))
        .prefetch_bound(1)
        .run()
        .assert_compliant();
}

#[test]
fn switch_map_is_a_compliant_operator() {
    // The outer is asked for everything by design; an inner switched away from before the
    // downstream asked for its elements loses them: its output is a part of unbounded
    // demand's, never a duplicate.
    OperatorVerification::new(|up: Upstream| {
        up.switch_map(|x| rstreams_core::source::range(x * 10, 3))
    })
    .lossy()
    .run()
    .assert_compliant();
}

#[test]
fn take_until_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.take_until(rstreams_core::source::never::<()>()))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
    // The kit's upstream as `other`: asked for one element, whose arrival ends the stream.
    OperatorVerification::new(|up: Upstream| rstreams_core::source::range(0, 50).take_until(up))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

#[test]
fn merge_delay_error_is_a_compliant_operator() {
    // Beside an empty source: every check.
    OperatorVerification::new(|up: Upstream| {
        up.merge_delay_error(rstreams_core::source::range(1_000, 0))
    })
    .prefetch_bound(32)
    .nondeterministic()
    .run()
    .assert_compliant();
    // Beside a source with elements, an upstream error waits by design until they were
    // delivered, which takes demand: every check but the one that an error needs none (§4.2,
    // which the line above runs).
    let beside_elements = OperatorVerification::new(|up: Upstream| {
        up.merge_delay_error(rstreams_core::source::range(1_000, 5))
    })
    .prefetch_bound(32)
    .nondeterministic();
    for check in OperatorVerification::<u64>::check_names() {
        if check != "op_rule_4_2_upstream_error_reaches_downstream_without_demand" {
            beside_elements.run_check(check).assert_compliant();
        }
    }
}

#[test]
fn buffer_skip_is_a_compliant_operator() {
    // Overlapping: n vectors of 3 starting every 2 take 3 + (n - 1) × 2 elements, that is
    // 2 per vector plus 1 ahead.
    OperatorVerification::new(|up: Upstream| up.buffer_skip(3, 2))
        .demand_ratio(2)
        .prefetch_bound(1)
        .run()
        .assert_compliant();
    // With gaps: 2 of every 3 elements, 3 per vector.
    OperatorVerification::new(|up: Upstream| up.buffer_skip(2, 3))
        .demand_ratio(3)
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

/// `take` below a source passes the source's subscription through (the source's engine asks
/// the chain what it still wants); the publisher suite checks that arrangement, with stages
/// that forward the question between them, and `take` cutting a longer source to `n`.
mod take_below_a_source {
    use rstreams_core::{source, Error};
    use rstreams_ops::PublisherExt;
    use rstreams_tck::{publisher_tck, PublisherVerification};

    publisher_tck!(
        cut_to_n,
        PublisherVerification::new(|n| source::range(0, n.saturating_mul(2).max(1)).take(n))
            .failed_publisher(|| source::fail::<u64>(Error::msg("tck: failed")).take(3))
    );

    publisher_tck!(
        through_forwarding_stages,
        PublisherVerification::new(|n| source::range(0, u64::MAX)
            .map(|x| x + 1)
            .filter(|x| x % 2 == 0)
            .inspect(|_| {})
            .take(n)
            .take(n.saturating_add(1)))
    );
}
