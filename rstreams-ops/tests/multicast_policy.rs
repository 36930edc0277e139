//! The named multicast policy for a slow subscriber: `SlowSubscriber::DropOldest { buffer }` on
//! `share`, `publish` and `replay`. The fastest subscriber sets the pace, a lagging one loses its
//! oldest elements (a gap, no error), and every element it missed is counted in `dropped()`.
//! The default, `HoldBack`, is pinned by tests/share.rs, publish.rs and replay.rs; a few
//! contrasts are repeated here.

mod common;

use std::thread;

use common::*;
use proptest::prelude::*;
use rstreams_core::{source, Publisher};
use rstreams_ops::{PublisherExt, SlowSubscriber};
use rstreams_tck::{TestPublisher, TestSubscriber};

const DROP_0: SlowSubscriber = SlowSubscriber::DropOldest { buffer: 0 };
const DROP_4: SlowSubscriber = SlowSubscriber::DropOldest { buffer: 4 };

fn strictly_increasing(values: &[u64]) -> bool {
    values.windows(2).all(|w| w[0] < w[1])
}

#[test]
fn the_default_policy_is_to_hold_back() {
    assert_eq!(SlowSubscriber::default(), SlowSubscriber::HoldBack);
    let input = TestPublisher::<u64>::new();
    let shared = input
        .clone()
        .share()
        .slow_subscriber(SlowSubscriber::HoldBack);
    let (fast, stalled) = (TestSubscriber::new(10), TestSubscriber::new(0));
    shared.subscribe(fast.clone());
    shared.subscribe(stalled.clone());
    for i in 0..10 {
        input.emit(i);
    }
    fast.request(10);
    assert_eq!(
        input.requested(),
        10,
        "HoldBack: the stalled subscriber holds the fast one back"
    );
    assert_eq!(shared.dropped().count(), 0, "HoldBack drops nothing");
}

#[test]
fn a_stalled_subscriber_does_not_hold_back_the_fast_one_and_receives_only_what_fit() {
    let input = TestPublisher::<u64>::new();
    let shared = input.clone().share().slow_subscriber(DROP_4);
    let (fast, stalled) = (TestSubscriber::new(u64::MAX), TestSubscriber::new(0));
    shared.subscribe(fast.clone());
    shared.subscribe(stalled.clone());
    for i in 0..1_000 {
        // try_emit fails beyond the requested: the upstream was never held back.
        assert!(
            input.try_emit(i).is_ok(),
            "element {i}: the stalled subscriber held the upstream back (requested {})",
            input.requested()
        );
    }
    fast.assert_values(&(0..1_000).collect::<Vec<_>>());
    assert_eq!(stalled.count(), 0, "§1.1: nothing without demand");
    assert_eq!(
        shared.dropped().count(),
        996,
        "every element but the newest 4 was dropped for the stalled subscriber, and counted once"
    );
    stalled.request(100);
    stalled.assert_values(&[996, 997, 998, 999]);
    input.emit(1_000);
    stalled.assert_values(&[996, 997, 998, 999, 1_000]);
    fast.assert_no_violations();
    stalled.assert_no_violations();
}

#[test]
fn with_no_buffer_a_subscriber_receives_exactly_what_it_demanded_and_the_rest_is_counted() {
    let input = TestPublisher::<u64>::new();
    let shared = input.clone().share().slow_subscriber(DROP_0);
    let (fast, slow) = (TestSubscriber::new(u64::MAX), TestSubscriber::new(3));
    shared.subscribe(fast.clone());
    shared.subscribe(slow.clone());
    for i in 0..20 {
        input.emit(i);
    }
    slow.assert_values(&[0, 1, 2]);
    assert_eq!(shared.dropped().count(), 17, "it missed 3..20");
    slow.request(2);
    assert_eq!(
        slow.count(),
        3,
        "nothing is kept for it: the gap stays a gap"
    );
    input.emit(20);
    input.emit(21);
    input.emit(22);
    slow.assert_values(&[0, 1, 2, 20, 21]);
    assert_eq!(shared.dropped().count(), 18);
    fast.assert_values(&(0..23).collect::<Vec<_>>());
}

#[test]
fn upstream_demand_follows_the_fastest_subscriber_within_256_of_it() {
    let input = TestPublisher::<u64>::new();
    let shared = input.clone().share().slow_subscriber(DROP_0);
    let (a, b) = (TestSubscriber::new(5), TestSubscriber::new(2));
    shared.subscribe(a.clone());
    shared.subscribe(b.clone());
    assert_eq!(input.requested(), 5, "the larger of the two demands");
    b.request(10);
    assert_eq!(input.requested(), 12, "now b is the fastest");
    a.request(u64::MAX);
    assert_eq!(
        input.requested(),
        256,
        "unbounded demand: at most 256 ahead of the subscriber's position"
    );
}

#[test]
fn a_lagging_subscriber_receives_the_completion_after_what_it_holds() {
    let shared = source::range(0, 100).publish().slow_subscriber(DROP_4);
    let (fast, stalled) = (TestSubscriber::new(u64::MAX), TestSubscriber::new(0));
    shared.subscribe(fast.clone());
    shared.subscribe(stalled.clone());
    let connection = shared.connect();
    assert!(fast.is_complete());
    assert!(!connection.is_connected(), "the source has ended");
    assert!(
        !stalled.is_complete(),
        "the end waits behind the elements it holds"
    );
    stalled.request(2);
    stalled.assert_values(&[96, 97]);
    stalled.request(2);
    stalled.assert_values(&[96, 97, 98, 99]);
    assert!(stalled.is_complete());
    assert!(stalled.error().is_none(), "a gap is not an error");
    assert_eq!(shared.dropped().count(), 96);
}

#[test]
fn an_upstream_error_reaches_a_lagging_subscriber_after_what_it_holds() {
    let input = TestPublisher::<u64>::new();
    let shared = input.clone().share().slow_subscriber(DROP_0);
    let (fast, stalled) = (TestSubscriber::new(u64::MAX), TestSubscriber::new(0));
    shared.subscribe(fast.clone());
    shared.subscribe(stalled.clone());
    input.emit(1);
    input.fail(rstreams_core::Error::msg("boom"));
    assert!(fast.error().is_some());
    assert!(
        stalled.error().is_some(),
        "with nothing held, the error goes out at once"
    );
    assert_eq!(stalled.count(), 0);
    assert_eq!(shared.dropped().count(), 1);
}

#[test]
fn replay_with_drop_oldest_keeps_its_n_for_late_subscribers_and_a_stalled_one_holds_no_one_back() {
    let input = TestPublisher::<u64>::new();
    let recent = input.clone().replay(3).slow_subscriber(DROP_0);
    let (fast, stalled) = (TestSubscriber::new(u64::MAX), TestSubscriber::new(0));
    recent.subscribe(fast.clone());
    recent.subscribe(stalled.clone());
    recent.connect();
    for i in 0..50 {
        assert!(input.try_emit(i).is_ok(), "element {i}: held back");
    }
    assert_eq!(recent.dropped().count(), 50, "the stalled one had no room");
    // A late subscriber starts with the kept three and, under DropOldest, is not waited for.
    let late = TestSubscriber::new(0);
    recent.subscribe(late.clone());
    assert!(input.try_emit(50).is_ok(), "the late one holds no one back");
    // It held 47, 48, 49 and now 50, with no demand and no buffer: all four dropped for it
    // (and 50 for the stalled one).
    assert_eq!(recent.dropped().count(), 55);
    late.request(10);
    assert_eq!(late.count(), 0, "nothing was kept for it");
    input.emit(51);
    late.assert_values(&[51]);
    fast.assert_values(&(0..52).collect::<Vec<_>>());
}

#[test]
fn replay_with_a_buffer_lets_a_late_subscriber_take_the_kept_elements_and_then_the_newest() {
    let input = TestPublisher::<u64>::new();
    let recent = input
        .clone()
        .replay(3)
        .slow_subscriber(SlowSubscriber::DropOldest { buffer: 3 });
    let fast = TestSubscriber::new(u64::MAX);
    recent.subscribe(fast.clone());
    recent.connect();
    for i in 0..10 {
        input.emit(i);
    }
    let late = TestSubscriber::new(1);
    recent.subscribe(late.clone());
    late.assert_values(&[7]);
    for i in 10..13 {
        input.emit(i);
    }
    // It held 8, 9 and then 10, 11, 12 arrived with room for 3: 8 and 9 were dropped.
    late.request(10);
    late.assert_values(&[7, 10, 11, 12]);
    assert_eq!(recent.dropped().count(), 2);
}

#[test]
fn a_late_subscriber_joins_the_live_stream_and_its_misses_are_counted_from_then_on() {
    let input = TestPublisher::<u64>::new();
    let shared = input.clone().share().slow_subscriber(DROP_0);
    let fast = TestSubscriber::new(u64::MAX);
    shared.subscribe(fast.clone());
    for i in 0..10 {
        input.emit(i);
    }
    assert_eq!(shared.dropped().count(), 0, "nobody lagged");
    let late = TestSubscriber::new(1);
    shared.subscribe(late.clone());
    input.emit(10);
    input.emit(11);
    late.assert_values(&[10]);
    assert_eq!(shared.dropped().count(), 1, "11 only: 0..10 came before it");
}

#[test]
fn rule_3_12_when_the_last_subscriber_of_share_cancels_the_source_is_cancelled() {
    let input = TestPublisher::<u64>::new();
    let shared = input.clone().share().slow_subscriber(DROP_4);
    let (fast, stalled) = (TestSubscriber::new(u64::MAX), TestSubscriber::new(0));
    let (sub_fast, weak_fast) = track(fast.clone());
    let (sub_stalled, weak_stalled) = track(stalled.clone());
    shared.subscribe(sub_fast);
    shared.subscribe(sub_stalled);
    input.emit(1);
    fast.cancel();
    assert!(!input.is_cancelled(), "one subscriber is left");
    assert_eq!(
        input.requested(),
        256,
        "what was requested for the fast one stays requested"
    );
    input.emit(2);
    stalled.cancel();
    assert!(input.is_cancelled(), "§3.12: the last one left");
    assert_eq!(shared.subscribers(), 0);
    assert_released(&weak_fast, "§3.13: the fast subscriber");
    assert_released(&weak_stalled, "§3.13: the stalled subscriber");
    // The next subscriber reconnects; the count goes on over connections.
    let next = TestSubscriber::new(0);
    shared.subscribe(next.clone());
    assert_eq!(shared.dropped().count(), 0);
}

#[test]
fn when_the_last_subscriber_of_publish_cancels_the_connection_stays_and_requests_nothing_more() {
    let input = TestPublisher::<u64>::new();
    let hot = input.clone().publish().slow_subscriber(DROP_0);
    let (fast, stalled) = (TestSubscriber::new(3), TestSubscriber::new(0));
    hot.subscribe(fast.clone());
    hot.subscribe(stalled.clone());
    let connection = hot.connect();
    assert_eq!(input.requested(), 3);
    input.emit(0);
    fast.cancel();
    stalled.cancel();
    assert!(
        !input.is_cancelled(),
        "a connection ends by disconnect only"
    );
    assert!(connection.is_connected());
    input.emit(1);
    input.emit(2);
    assert_eq!(input.requested(), 3, "nothing more without a subscriber");
    assert_eq!(
        hot.dropped().count(),
        1,
        "elements arriving with no subscriber are not drops"
    );
    connection.disconnect();
    assert!(input.is_cancelled());
}

#[test]
fn rule_3_9_request_zero_fails_the_lagging_subscriber_only() {
    let input = TestPublisher::<u64>::new();
    let shared = input.clone().share().slow_subscriber(DROP_0);
    let (fast, stalled) = (TestSubscriber::new(u64::MAX), TestSubscriber::new(0));
    shared.subscribe(fast.clone());
    shared.subscribe(stalled.clone());
    input.emit(0);
    stalled.request(0);
    assert!(stalled.error().is_some(), "§3.9: request(0) fails it");
    input.emit(1);
    fast.assert_values(&[0, 1]);
    assert!(fast.error().is_none());
    assert!(!input.is_cancelled());
}

#[test]
fn the_drop_count_is_shared_by_clones() {
    let input = TestPublisher::<u64>::new();
    let shared = input.clone().share().slow_subscriber(DROP_0);
    let other = shared.clone();
    shared.subscribe(TestSubscriber::<u64>::new(u64::MAX));
    other.subscribe(TestSubscriber::<u64>::new(0));
    input.emit(0);
    assert_eq!(shared.dropped().count(), 1);
    assert_eq!(other.dropped().count(), 1);
    assert!(format!("{other:?}").contains("DropOldest"));
}

#[test]
fn with_a_subscriber_on_another_thread_every_element_is_either_received_or_counted_once() {
    // The fast subscriber takes everything as it arrives; the slow one requests one at a time
    // from a thread of its own. Whatever the interleaving: the slow one's elements are in
    // order, and they plus the drop count make up the whole stream exactly.
    const N: u64 = 20_000;
    for _round in 0..5 {
        let shared = source::range(0, N)
            .subscribe_on(rstreams_core::scheduler::ThreadPool::new(1))
            .publish()
            .slow_subscriber(DROP_4);
        let (fast, slow) = (TestSubscriber::new(u64::MAX), TestSubscriber::new(1));
        shared.subscribe(slow.clone());
        shared.subscribe(fast.clone());
        shared.connect(); // both are there from the first element on
        let requester = {
            let slow = slow.clone();
            thread::spawn(move || {
                while !slow.is_terminated() {
                    slow.request(1);
                    thread::yield_now();
                }
            })
        };
        assert!(fast.await_terminal(WAIT) && slow.await_terminal(WAIT));
        requester.join().unwrap();
        assert_eq!(fast.count() as u64, N, "the fast one lost nothing");
        let got = slow.values();
        assert!(strictly_increasing(&got), "in order, no duplicate");
        assert_eq!(
            got.len() as u64 + shared.dropped().count(),
            N,
            "received {} + dropped {} must be every element exactly once",
            got.len(),
            shared.dropped().count()
        );
        slow.assert_no_violations();
        fast.assert_no_violations();
    }
}

/// Asserts that `weak`'s subscriber was dropped.
fn assert_released(weak: &std::sync::Weak<()>, what: &str) {
    assert!(
        rstreams_tck::await_released(weak, WAIT),
        "{what} was not released"
    );
}

/// One step of a generated schedule against a `share` under `DropOldest`.
#[derive(Debug, Clone)]
enum Op {
    /// Subscriber `0` requests `1`.
    Request(usize, u64),
    /// The source emits the next element, if anyone asked for it.
    Emit,
}

fn op(members: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..members, 1u64..6).prop_map(|(m, n)| Op::Request(m, n)),
        Just(Op::Emit),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Whatever the demand schedule: each subscriber receives an increasing part of the
    /// elements, never more than it asked for; the upstream is asked for no more than the
    /// fastest subscriber wants (beyond what was emitted, its outstanding demand); and once everything is drained, what the subscribers
    /// received plus what was dropped is every element for every subscriber, exactly.
    #[test]
    fn every_element_is_received_or_counted_once_per_subscriber_whatever_the_schedule(
        buffer in 0usize..4,
        ops in proptest::collection::vec(op(3), 0..60),
    ) {
        let input = TestPublisher::<u64>::new();
        let shared = input.clone().share().slow_subscriber(SlowSubscriber::DropOldest { buffer });
        let members: Vec<TestSubscriber<u64>> = (0..3).map(|_| TestSubscriber::new(0)).collect();
        for m in &members {
            shared.subscribe(m.clone());
        }
        let mut requested = [0u64; 3];
        let mut emitted = 0u64;
        for step in &ops {
            match *step {
                Op::Request(m, n) => {
                    members[m].request(n);
                    requested[m] += n;
                }
                Op::Emit => {
                    let wanted = members
                        .iter()
                        .enumerate()
                        .any(|(m, sub)| requested[m] > sub.count() as u64);
                    if input.try_emit(emitted).is_ok() {
                        emitted += 1;
                    } else {
                        prop_assert!(
                            !wanted,
                            "a subscriber with outstanding demand was held back by the others"
                        );
                    }
                }
            }
            // Upstream demand follows the fastest: beyond what was emitted, never more than
            // the largest outstanding demand (a dropped element uses none).
            let outstanding = members
                .iter()
                .enumerate()
                .map(|(m, sub)| requested[m] - sub.count() as u64)
                .max()
                .unwrap_or(0);
            prop_assert!(
                input.requested() <= emitted + outstanding,
                "upstream asked for {} with {emitted} emitted and at most {outstanding} outstanding",
                input.requested()
            );
            for (m, sub) in members.iter().enumerate() {
                prop_assert!(sub.count() as u64 <= requested[m], "§1.1");
            }
        }
        input.complete();
        for m in &members {
            m.request(u64::MAX);
            prop_assert!(m.is_complete());
            let got = m.values();
            prop_assert!(strictly_increasing(&got) && got.iter().all(|x| *x < emitted));
            m.assert_no_violations();
        }
        let received: u64 = members.iter().map(|m| m.count() as u64).sum();
        prop_assert_eq!(received + shared.dropped().count(), 3 * emitted);
    }
}
