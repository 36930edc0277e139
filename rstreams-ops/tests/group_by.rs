//! group_by(key, max_groups): groups as publishers with their own demand; a group nobody
//! consumes never hangs the pipeline silently: it holds at most group_buffer elements, then the
//! overflow policy applies (by default an error naming the group); max_groups likewise.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use common::*;
use rstreams_core::{sink, source, Error, ErrorKind, Publisher, Subscriber, Subscription};
use rstreams_ops::{Group, Overflow, PublisherExt};
use rstreams_tck::{TestPublisher, TestSubscriber};

type Groups = TestSubscriber<Group<u32, u32>>;

/// `input.group_by(x % modulo)` with the groups kept by the returned probe.
fn groups(input: &TestPublisher<u32>, modulo: u32, max: usize, demand: u64) -> Groups {
    let outer = TestSubscriber::new(demand);
    input
        .clone()
        .group_by(move |x| x % modulo, max)
        .subscribe(outer.clone());
    outer
}

fn open(outer: &Groups, i: usize, demand: u64) -> TestSubscriber<u32> {
    let probe = TestSubscriber::new(demand);
    outer.values()[i].subscribe(probe.clone());
    probe
}

#[test]
fn each_group_gets_the_elements_with_its_key_in_order() {
    let by_residue = source::range(0, 30).group_by(|x| x % 3, 3).flat_map(
        |g| {
            let key = *g.key();
            g.collect_vec().map(move |v| (key, v))
        },
        3,
        1,
    );
    let mut all = sink::collect(&by_residue).unwrap();
    all.sort();
    assert_eq!(all.len(), 3);
    for (key, values) in all {
        assert_eq!(values, (0..30).filter(|x| x % 3 == key).collect::<Vec<_>>());
    }
}

#[test]
fn a_group_is_emitted_with_its_first_element_as_the_outer_stream_demands() {
    let input = TestPublisher::<u32>::new();
    let outer = groups(&input, 2, 4, 1);
    assert_eq!(
        input.requested(),
        64,
        "the demand for a group asks for a batch"
    );
    input.emit(0);
    input.emit(1); // a second group: no demand for it yet
    assert_eq!(outer.count(), 1);
    assert_eq!(*outer.values()[0].key(), 0);
    outer.request(1);
    assert_eq!(outer.count(), 2);
    assert_eq!(*outer.values()[1].key(), 1);
    outer.assert_no_violations();
}

#[test]
fn without_demand_for_a_group_nothing_is_requested() {
    let input = TestPublisher::<u32>::new();
    let _outer = groups(&input, 2, 4, 0);
    assert_eq!(input.requested(), 0);
}

#[test]
fn each_group_has_its_own_demand() {
    let input = TestPublisher::<u32>::new();
    let outer = groups(&input, 2, 4, 2);
    for i in 0..6 {
        input.emit(i);
    }
    let evens = open(&outer, 0, 1);
    let odds = open(&outer, 1, 0);
    evens.assert_values(&[0]);
    assert_eq!(odds.count(), 0, "§1.1: its own demand");
    odds.request(2);
    odds.assert_values(&[1, 3]);
    evens.request(5);
    evens.assert_values(&[0, 2, 4]);
    evens.assert_no_violations();
    odds.assert_no_violations();
}

#[test]
fn the_upstream_follows_the_consumers_and_a_group_not_consumed_does_not_hold_the_others_back() {
    let input = TestPublisher::<u32>::new();
    let outer = TestSubscriber::new(2);
    input
        .clone()
        .group_by(|x| x % 2, 2)
        .group_buffer(8)
        .subscribe(outer.clone());
    input.emit(0);
    input.emit(1);
    let evens = open(&outer, 0, u64::MAX);
    // The odd group is emitted but not subscribed: its elements wait in its buffer while the
    // even group's subscriber keeps asking.
    for i in 2..16 {
        input.emit(i);
    }
    assert!(
        input.requested() > 16,
        "the even group's demand still reaches the upstream"
    );
    assert_eq!(evens.count(), 8);
    assert!(
        !outer.is_terminated(),
        "the odd group holds 8: within its buffer"
    );
    // Once nobody waits, nothing more is asked.
    evens.cancel();
    let requested = input.requested();
    while input.try_emit(100).is_ok() {}
    assert_eq!(input.requested(), requested);
}

#[test]
fn a_group_nobody_consumes_fails_the_stream_naming_the_group_instead_of_hanging() {
    let input = TestPublisher::<u32>::new();
    let outer = TestSubscriber::new(2);
    input
        .clone()
        .group_by(|x| x % 2, 2)
        .group_buffer(4)
        .subscribe(outer.clone());
    let evens_probe = TestSubscriber::new(u64::MAX);
    let mut sent = 0;
    while input.try_emit(sent).is_ok() {
        if sent == 0 {
            outer.values()[0].subscribe(evens_probe.clone());
        }
        sent += 1;
    }
    // Odd elements: the group of 1 was emitted but never subscribed.
    let error = outer.error().expect("the stream fails");
    assert_eq!(error.kind(), ErrorKind::Overflow);
    assert_eq!(error.stage(), Some("group_by"));
    let message = error.to_string();
    assert!(message.contains("group `1`"), "{message}");
    assert!(message.contains("no subscriber"), "{message}");
    assert_eq!(
        evens_probe.error().unwrap().to_string(),
        message,
        "every group hears of it"
    );
    assert!(input.is_cancelled());
    assert_eq!(sent, 10, "the fifth odd element (9) found its group full");
}

#[test]
fn a_group_the_downstream_never_asked_for_fails_the_stream_saying_so() {
    // The classic hang: a flat_map that subscribes fewer groups than there are keys.
    let out = TestSubscriber::new(u64::MAX);
    source::range(0, 10_000)
        .group_by(|x| x % 3, 3)
        .group_buffer(16)
        .flat_map(|g| g, 2, 8)
        .subscribe(out.clone());
    assert!(out.await_terminal(WAIT), "no silent hang");
    let message = out.error().expect("an error names the group").to_string();
    assert!(message.contains("group `2`"), "{message}");
    assert!(message.contains("not emitted yet"), "{message}");
}

#[test]
fn a_new_key_beyond_max_groups_fails_the_stream_naming_the_key() {
    let input = TestPublisher::<u32>::new();
    let outer = groups(&input, 10, 2, 10);
    input.emit(0);
    input.emit(1);
    input.emit(2);
    let error = outer.error().expect("max_groups hit");
    assert_eq!(error.kind(), ErrorKind::Overflow);
    assert!(error.to_string().contains("key `2`"), "{error}");
    assert!(error.to_string().contains("max_groups 2"), "{error}");
    assert!(input.is_cancelled());
}

#[test]
fn under_a_dropping_policy_a_full_group_and_a_key_beyond_max_groups_drop_and_count() {
    let input = TestPublisher::<u32>::new();
    let stage = input
        .clone()
        .group_by(|x| x % 10, 1)
        .group_buffer(2)
        .overflow(Overflow::DropIncoming);
    let dropped = stage.dropped();
    let outer = TestSubscriber::new(10);
    stage.subscribe(outer.clone());
    for i in [0, 10, 20, 1, 30] {
        input.emit(i); // 20 and 30: the group is full; 1: a second group, max_groups 1
    }
    assert_eq!(dropped.count(), 3);
    let zeros = open(&outer, 0, 10);
    zeros.assert_values(&[0, 10]);
    assert!(!outer.is_terminated());
}

#[test]
fn evict_oldest_keeps_the_newest_elements_of_a_full_group() {
    let input = TestPublisher::<u32>::new();
    let stage = input
        .clone()
        .group_by(|_| 0u32, 1)
        .group_buffer(3)
        .overflow(Overflow::EvictOldest);
    let dropped = stage.dropped();
    let outer = TestSubscriber::new(u64::MAX); // waits for more groups: the upstream is asked
    stage.subscribe(outer.clone());
    for i in 0..10 {
        input.emit(i);
    }
    let all = open(&outer, 0, 10);
    all.assert_values(&[7, 8, 9]);
    assert_eq!(dropped.count(), 7);
}

/// An outer subscriber that subscribes `keep` to the group with key `key` and drops the
/// others.
struct Choosy {
    key: u32,
    keep: TestSubscriber<u32>,
}

impl Subscriber<Group<u32, u32>> for Choosy {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        s.request(u64::MAX);
    }
    fn on_next(&mut self, group: Group<u32, u32>) {
        if *group.key() == self.key {
            group.subscribe(self.keep.clone());
        }
    }
    fn on_error(&mut self, _: Error) {}
    fn on_complete(&mut self) {}
}

#[test]
fn an_outer_subscriber_that_drops_the_groups_it_does_not_want_gets_its_group_in_full() {
    let evens = TestSubscriber::new(u64::MAX);
    source::range(0, 10_000)
        .map(|x| x as u32)
        .group_by(|x| x % 2, 2)
        .subscribe(Choosy {
            key: 0,
            keep: evens.clone(),
        });
    assert!(evens.await_terminal(WAIT));
    assert!(evens.is_complete());
    assert!(evens.values().into_iter().eq((0..10_000).step_by(2)));
}

#[test]
fn the_elements_of_a_dropped_group_are_counted_and_a_later_element_opens_a_new_group() {
    let input = TestPublisher::<u32>::new();
    let stage = input.clone().group_by(|x| x % 2, 2);
    let dropped = stage.dropped();
    let evens = TestSubscriber::new(u64::MAX);
    let seen_keys = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen_keys);
    let keep = evens.clone();
    stage.subscribe(rstreams_core::sink::for_each(
        move |group: Group<u32, u32>| {
            log.lock().unwrap().push(*group.key());
            if *group.key() == 0 {
                group.subscribe(keep.clone());
            }
        },
    ));
    input.emit(1); // group 1 opens and is dropped at once
    input.emit(0);
    input.emit(3); // group 1 again: a new group, dropped again
    input.emit(2);
    evens.assert_values(&[0, 2]);
    assert_eq!(*seen_keys.lock().unwrap(), vec![1, 0, 1]);
    assert_eq!(dropped.count(), 2);
}

#[test]
fn a_second_subscriber_of_a_group_is_rejected_naming_rule_1_9() {
    let input = TestPublisher::<u32>::new();
    let outer = groups(&input, 2, 2, 1);
    input.emit(0);
    let _first = open(&outer, 0, 1);
    let second = open(&outer, 0, 1);
    let error = second.error().expect("rejected");
    assert_eq!(error.rule(), Some("1.9"), "{error}");
    assert!(error.to_string().contains("group `0`"), "{error}");
}

#[test]
fn rule_4_2_an_upstream_error_reaches_the_outer_stream_and_every_group_at_once() {
    let input = TestPublisher::<u32>::new();
    let outer = groups(&input, 2, 2, 2);
    input.emit(0);
    input.emit(1);
    let evens = open(&outer, 0, 0);
    input.fail(Error::msg("broken"));
    assert_eq!(outer.error().unwrap().to_string(), "broken");
    assert_eq!(evens.error().unwrap().to_string(), "broken");
    let odds = open(&outer, 1, 0); // subscribed after: the error at once
    assert_eq!(odds.error().unwrap().to_string(), "broken");
    let probe = TestSubscriber::<Group<u64, u64>>::new(1);
    source::fail::<u64>(Error::msg("none"))
        .group_by(|x| *x, 1)
        .subscribe(probe.clone());
    assert_eq!(probe.error().unwrap().to_string(), "none");
}

#[test]
fn on_completion_each_group_completes_after_its_elements_and_the_outer_after_the_last_group() {
    let input = TestPublisher::<u32>::new();
    let outer = groups(&input, 2, 2, 1);
    input.emit(0);
    input.emit(1);
    input.complete();
    assert!(!outer.is_terminated(), "a group is still to be emitted");
    let evens = open(&outer, 0, 0);
    assert!(!evens.is_terminated());
    evens.request(1);
    evens.assert_values(&[0]);
    assert!(evens.is_complete());
    outer.request(1);
    assert!(outer.is_complete());
    let odds = open(&outer, 1, 1);
    odds.assert_values(&[1]);
    assert!(odds.is_complete());
    let empty = TestSubscriber::<Group<u64, u64>>::new(1);
    source::range(0, 0)
        .group_by(|x| *x, 1)
        .subscribe(empty.clone());
    assert!(empty.is_complete());
}

#[test]
fn a_panic_in_the_key_function_cancels_the_upstream_and_fails_everything() {
    let input = TestPublisher::<u32>::new();
    let outer = TestSubscriber::new(1);
    input
        .clone()
        .group_by(|x| if *x == 1 { panic!("bad key") } else { *x }, 4)
        .subscribe(outer.clone());
    input.emit(0);
    let zero = open(&outer, 0, 1);
    input.emit(1);
    assert!(input.is_cancelled());
    assert_panic_error(&outer.error().unwrap(), "group_by", "bad key");
    assert_panic_error(&zero.error().unwrap(), "group_by", "bad key");
}

#[test]
fn rule_3_12_cancelling_the_outer_stream_cancels_the_upstream_once_no_group_is_left() {
    let input = TestPublisher::<u32>::new();
    let outer = groups(&input, 2, 2, 1);
    outer.cancel();
    assert!(input.is_cancelled(), "no group: at once");

    let input = TestPublisher::<u32>::new();
    let outer = groups(&input, 2, 2, 1);
    input.emit(0);
    let evens = open(&outer, 0, u64::MAX);
    outer.cancel();
    assert!(!input.is_cancelled(), "a group is still consumed");
    input.emit(2);
    input.emit(1); // no group can open any more: dropped
    evens.assert_values(&[0, 2]);
    evens.cancel();
    assert!(input.is_cancelled());
}

#[test]
fn rule_3_13_the_outer_and_a_groups_subscriber_are_released_on_cancel() {
    let input = TestPublisher::<u32>::new();
    let outer = TestSubscriber::new(1);
    let (subscriber, weak_outer) = track(outer.clone());
    input.clone().group_by(|x| x % 2, 2).subscribe(subscriber);
    input.emit(0);
    let evens = TestSubscriber::new(1);
    let (inner, weak_evens) = track(evens.clone());
    outer.values()[0].subscribe(inner);
    evens.cancel();
    outer.cancel();
    assert!(released(&weak_evens));
    assert!(released(&weak_outer));
    assert!(input.is_cancelled());
}

#[test]
fn rule_3_9_request_zero_fails_the_stream_it_was_made_on() {
    let input = TestPublisher::<u32>::new();
    let outer = groups(&input, 2, 2, 0);
    outer.request(0);
    assert_eq!(outer.error().unwrap().rule(), Some("3.9"));
    assert_eq!(outer.error().unwrap().stage(), Some("group_by"));
}

#[test]
fn rule_1_1_an_upstream_that_ignores_demand_is_cancelled_and_everything_fails() {
    let upstream = Manual::<u64>::new();
    let outer = TestSubscriber::<Group<u64, u64>>::new(0);
    upstream
        .clone()
        .group_by(|x| *x, 4)
        .subscribe(outer.clone());
    upstream.next(0); // nothing was requested: no group was asked for
    assert!(upstream.is_cancelled());
    assert_eq!(outer.error().unwrap().rule(), Some("1.1"));
}

#[test]
fn a_max_groups_or_group_buffer_of_zero_is_rejected_when_built_naming_the_argument() {
    for (build, what) in [
        (
            Box::new(|| drop(source::range(0, 3).group_by(|x| *x, 0))) as Box<dyn Fn()>,
            "group_by: max_groups",
        ),
        (
            Box::new(|| drop(source::range(0, 3).group_by(|x| *x, 1).group_buffer(0))),
            "group_by: group_buffer",
        ),
    ] {
        let panic = catch_unwind(AssertUnwindSafe(build)).unwrap_err();
        let message = panic.downcast_ref::<&str>().copied().unwrap_or_default();
        assert!(message.contains(what), "{message}");
        assert!(message.contains("valid range 1..=usize::MAX"), "{message}");
    }
}
