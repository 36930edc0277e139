//! filter_map, take_while, skip_while, distinct (bounded and not), distinct_until_changed,
//! reduce, fold, count, first, last, take_last, skip_last, collect_vec, start_with,
//! switch_if_empty, default_if_empty: partial demand, errors, completion, cancel, panics.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use rstreams_core::{sink, source, Error, ErrorKind, Publisher};
use rstreams_ops::PublisherExt;
use rstreams_tck::{TestSubscriber, Upstream};

// ----- pass-through filters keep the protocol (the shared suite) -----

#[test]
fn filter_map_keeps_the_protocol() {
    zero_demand_emits_nothing(|n| source::range(0, n).filter_map(Some));
    partial_demand_is_exact(|n| source::range(0, n).filter_map(Some));
    reentrant_request_one_from_on_next_runs_to_completion(|n| source::range(0, n).filter_map(Some));
    concurrent_requests_deliver_everything_once_in_order(|n| source::range(0, n).filter_map(Some));
    request_zero_fails_the_stream_with_rule_3_9(|n| source::range(0, n).filter_map(Some));
    upstream_error_passes_through_without_demand(|up| up.filter_map(Some));
}

#[test]
fn take_while_skip_while_and_distinct_keep_the_protocol() {
    partial_demand_is_exact(|n| source::range(0, n).take_while(|_| true));
    partial_demand_is_exact(|n| source::range(0, n).skip_while(|_| false));
    partial_demand_is_exact(|n| source::range(0, n).distinct());
    partial_demand_is_exact(|n| source::range(0, n).distinct_until_changed());
    reentrant_request_one_from_on_next_runs_to_completion(|n| source::range(0, n).distinct());
    concurrent_requests_deliver_everything_once_in_order(|n| {
        source::range(0, n).skip_while(|_| false)
    });
}

/// Passes its upstream's signals on through the plain `on_next` only (no conditional path), as a
/// third-party publisher would.
struct PlainPath<P>(P);

struct PlainSubscriber<S>(S);

impl<P: Publisher> Publisher for PlainPath<P> {
    type Item = P::Item;
    fn subscribe<S: rstreams_core::Subscriber<P::Item> + 'static>(&self, subscriber: S) {
        self.0.subscribe(PlainSubscriber(subscriber));
    }
}

impl<T, S: rstreams_core::Subscriber<T>> rstreams_core::Subscriber<T> for PlainSubscriber<S> {
    fn on_subscribe(&mut self, s: Arc<dyn rstreams_core::Subscription>) {
        self.0.on_subscribe(s);
    }
    fn on_next(&mut self, item: T) {
        self.0.on_next(item);
    }
    fn try_on_next(&mut self, item: T) -> bool {
        self.0.on_next(item);
        true
    }
    fn on_error(&mut self, e: Error) {
        self.0.on_error(e);
    }
    fn on_complete(&mut self) {
        self.0.on_complete();
    }
}

#[test]
fn filters_dropping_on_the_plain_path_ask_for_replacements() {
    // On the plain path there is no `false` to hand back: each dropped element must be
    // replaced by a request(1), or the stream stalls short of the demand.
    let probe = TestSubscriber::new(3);
    PlainPath(source::range(0, 10))
        .filter_map(|x| (x % 2 == 0).then_some(x))
        .subscribe(probe.clone());
    probe.assert_values(&[0, 2, 4]);
    let probe = TestSubscriber::new(3);
    PlainPath(source::from_iter([1, 1, 2, 2, 3]))
        .distinct_until_changed()
        .subscribe(probe.clone());
    probe.assert_values(&[1, 2, 3]);
    let probe = TestSubscriber::new(2);
    PlainPath(source::range(0, 10))
        .skip_while(|x| *x < 5)
        .subscribe(probe.clone());
    probe.assert_values(&[5, 6]);
}

#[test]
fn take_while_completes_at_the_first_rejected_element_and_cancels_the_upstream() {
    let up = Upstream::emitting(100);
    let probe = TestSubscriber::new(u64::MAX);
    up.clone().take_while(|x| *x < 3).subscribe(probe.clone());
    probe.assert_values(&[0, 1, 2]);
    assert!(probe.is_complete());
    assert!(up.is_cancelled());
}

#[test]
fn a_panic_in_take_whiles_predicate_fails_the_stream_and_cancels_the_upstream() {
    let up = Upstream::emitting(10);
    let probe = TestSubscriber::new(u64::MAX);
    up.clone()
        .take_while(|x| {
            if *x == 2 {
                panic!("predicate bug")
            } else {
                true
            }
        })
        .subscribe(probe.clone());
    assert_eq!(probe.values(), vec![0, 1]);
    assert_eq!(probe.error().map(|e| e.kind()), Some(ErrorKind::Panic));
    assert!(up.is_cancelled());
}

#[test]
fn skip_while_stops_asking_the_predicate_once_it_failed() {
    let asked = Arc::new(AtomicUsize::new(0));
    let a = Arc::clone(&asked);
    let rest = source::from_iter([1, 5, 1, 1]).skip_while(move |x| {
        a.fetch_add(1, Ordering::SeqCst);
        *x < 3
    });
    assert_eq!(sink::collect(&rest).unwrap(), vec![5, 1, 1]);
    assert_eq!(asked.load(Ordering::SeqCst), 2);
}

#[test]
fn distinct_bounded_forgets_the_oldest_key_first() {
    let p = source::from_iter([1, 2, 3, 1, 3]).distinct_bounded(2);
    // Keys remembered after 1, 2, 3: {2, 3}; so 1 passes again, 3 does not.
    assert_eq!(sink::collect(&p).unwrap(), vec![1, 2, 3, 1]);
}

#[test]
#[should_panic(expected = "max_keys must be at least 1")]
fn distinct_bounded_rejects_zero_keys_when_built() {
    let _ = source::range(0, 3).distinct_bounded(0);
}

#[test]
fn each_subscription_of_distinct_has_its_own_set() {
    let p = source::from_iter([1, 1, 2]).distinct();
    assert_eq!(sink::collect(&p).unwrap(), vec![1, 2]);
    assert_eq!(sink::collect(&p).unwrap(), vec![1, 2]);
}

// ----- aggregates -----

#[test]
fn reduce_waits_for_demand_before_emitting_its_one_element() {
    let probe = TestSubscriber::new(0);
    source::range(1, 4)
        .reduce(|a, b| a + b)
        .subscribe(probe.clone());
    assert!(probe.values().is_empty(), "no demand, no element");
    assert!(!probe.is_terminated(), "the element is owed first");
    probe.request(1);
    probe.assert_values(&[10]);
    assert!(probe.is_complete());
}

#[test]
fn reduce_of_an_empty_stream_completes_without_emitting_and_without_demand() {
    let probe = TestSubscriber::new(0);
    source::empty::<u64>()
        .reduce(|a, b| a + b)
        .subscribe(probe.clone());
    assert!(probe.is_complete());
    assert!(probe.values().is_empty());
}

#[test]
fn an_upstream_error_reaches_an_aggregate_downstream_without_demand() {
    let probe = TestSubscriber::new(0);
    Upstream::failing_after(3, Error::msg("broke"))
        .count()
        .subscribe(probe.clone());
    assert_eq!(probe.error().map(|e| e.to_string()), Some("broke".into()));
    assert!(probe.values().is_empty());
}

#[test]
fn a_panic_in_folds_closure_cancels_the_upstream_and_fails_the_stream() {
    let up = Upstream::never_completing(100);
    let probe = TestSubscriber::new(1);
    up.clone()
        .fold(
            0u64,
            |acc, x| if x == 5 { panic!("fold bug") } else { acc + x },
        )
        .subscribe(probe.clone());
    assert_eq!(probe.error().map(|e| e.kind()), Some(ErrorKind::Panic));
    assert!(up.is_cancelled());
}

#[test]
fn fold_starts_each_subscription_from_its_initial_value() {
    let p = source::range(1, 3).fold(Vec::new(), |mut v, x| {
        v.push(x);
        v
    });
    assert_eq!(sink::collect(&p).unwrap(), vec![vec![1, 2, 3]]);
    assert_eq!(sink::collect(&p).unwrap(), vec![vec![1, 2, 3]]);
}

#[test]
fn count_counts_and_first_asks_for_one_and_cancels() {
    assert_eq!(
        sink::collect(&source::range(0, 1000).count()).unwrap(),
        vec![1000]
    );
    let up = Upstream::never_completing(100);
    let probe = TestSubscriber::new(1);
    up.clone().first().subscribe(probe.clone());
    probe.assert_values(&[0]);
    assert!(probe.is_complete());
    assert_eq!(up.stats().requests, vec![1], "first asks for one element");
    assert!(up.is_cancelled());
}

#[test]
fn first_and_last_of_an_empty_stream_complete_empty() {
    assert!(sink::collect(&source::empty::<u64>().first())
        .unwrap()
        .is_empty());
    assert!(sink::collect(&source::empty::<u64>().last())
        .unwrap()
        .is_empty());
}

#[test]
fn take_last_emits_its_elements_under_partial_demand() {
    let probe = TestSubscriber::new(1);
    source::range(0, 10).take_last(3).subscribe(probe.clone());
    probe.assert_values(&[7]);
    assert!(!probe.is_terminated());
    probe.request(5);
    probe.assert_values(&[7, 8, 9]);
    assert!(probe.is_complete());
}

#[test]
fn take_last_zero_completes_without_emitting() {
    assert!(sink::collect(&source::range(0, 10).take_last(0))
        .unwrap()
        .is_empty());
}

#[test]
fn collect_vec_emits_one_vec_and_an_empty_one_for_an_empty_stream() {
    assert_eq!(
        sink::collect(&source::range(0, 3).collect_vec()).unwrap(),
        vec![vec![0, 1, 2]]
    );
    assert_eq!(
        sink::collect(&source::empty::<u64>().collect_vec()).unwrap(),
        vec![Vec::<u64>::new()]
    );
}

#[test]
fn skip_last_asks_for_n_ahead_and_holds_no_more() {
    let up = Upstream::emitting(10);
    let probe = TestSubscriber::new(0);
    up.clone().skip_last(3).subscribe(probe.clone());
    assert_eq!(up.requested(), 3, "the window, asked once");
    probe.request(2);
    probe.assert_values(&[0, 1]);
    assert_eq!(up.requested(), 5);
    probe.request(u64::MAX);
    assert_eq!(probe.values(), (0..7).collect::<Vec<_>>());
    assert!(probe.is_complete());
}

// ----- fallbacks -----

#[test]
fn start_with_emits_its_items_first_and_subscribes_the_upstream_after_them() {
    let up = Upstream::emitting(2);
    let probe = TestSubscriber::new(1);
    up.clone()
        .start_with([100u64, 101])
        .subscribe(probe.clone());
    probe.assert_values(&[100]);
    assert_eq!(
        up.stats().subscriptions,
        0,
        "not before the items are consumed"
    );
    probe.request(3);
    probe.assert_values(&[100, 101, 0, 1]);
    assert!(probe.is_complete());
}

#[test]
fn switch_if_empty_passes_a_non_empty_stream_unchanged() {
    let other = Upstream::emitting(5);
    let p = source::range(0, 3).switch_if_empty(other.clone());
    assert_eq!(sink::collect(&p).unwrap(), vec![0, 1, 2]);
    assert_eq!(other.stats().subscriptions, 0);
}

#[test]
fn switch_if_empty_carries_the_outstanding_demand_to_the_other_publisher() {
    let other = Upstream::emitting(10);
    let probe = TestSubscriber::new(4);
    source::empty::<u64>()
        .switch_if_empty(other.clone())
        .subscribe(probe.clone());
    assert_eq!(other.requested(), 4);
    probe.assert_values(&[0, 1, 2, 3]);
}

#[test]
fn an_error_is_not_empty_switch_if_empty_passes_it_on() {
    let other = Upstream::emitting(3);
    let p = source::fail::<u64>(Error::msg("boom")).switch_if_empty(other.clone());
    assert_eq!(sink::collect(&p).unwrap_err().to_string(), "boom");
    assert_eq!(other.stats().subscriptions, 0);
}

#[test]
fn default_if_empty_emits_its_item_only_when_asked() {
    let probe = TestSubscriber::new(0);
    source::empty::<u64>()
        .default_if_empty(7)
        .subscribe(probe.clone());
    assert!(probe.values().is_empty());
    probe.request(1);
    probe.assert_values(&[7]);
    assert!(probe.is_complete());
}

#[test]
fn cancel_through_switch_if_empty_reaches_the_active_publisher() {
    let first = Upstream::never_completing(0);
    let probe = TestSubscriber::new(1);
    first
        .clone()
        .switch_if_empty(source::range(0, 3))
        .subscribe(probe.clone());
    probe.cancel();
    assert!(first.is_cancelled());
}
