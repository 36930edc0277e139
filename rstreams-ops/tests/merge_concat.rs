//! merge and concat as one operator over a list: fair from the first element, demand passed
//! through exactly by concat, and chains built in a loop that neither subscribe nor emit by
//! recursion.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rstreams_core::support::UNBOUNDED;
use rstreams_core::{sink, source, BoxPublisher, Error, Publisher, Subscriber, Subscription};
use rstreams_ops::{merge_all, MergeAll, PublisherExt};
use rstreams_tck::{TestSubscriber, Upstream};

const WAIT: Duration = Duration::from_secs(10);

/// Runs `f` on a thread with a 2 MiB stack (the default for spawned threads, stated
/// explicitly): a recursion per link of a 10 000-link chain would overflow it.
fn on_small_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn merge_with_a_long_synchronous_first_source_interleaves_from_the_first_element() {
    let merged = source::range(0, 1_000_000).merge(source::just(u64::MAX));
    let probe = TestSubscriber::<u64>::new(0);
    merged.subscribe(probe.clone());
    probe.request(64);
    let values = probe.values();
    assert_eq!(values.len(), 64);
    assert!(
        values.contains(&u64::MAX),
        "the second source's element is among the first 64: {values:?}"
    );
}

#[test]
fn merge_with_an_endless_synchronous_first_source_still_serves_the_second() {
    let endless = source::from_iter(0u64..);
    let merged = endless.merge(source::range(1_000_000_000, 3));
    let probe = TestSubscriber::<u64>::new(0);
    merged.subscribe(probe.clone());
    probe.request(100);
    let from_second = probe
        .values()
        .iter()
        .filter(|&&v| v >= 1_000_000_000)
        .count();
    assert_eq!(
        from_second, 3,
        "every element of the short source within 100"
    );
    probe.cancel();
}

#[test]
fn merge_gives_a_synchronous_source_turns_of_up_to_prefetch_and_a_subscribed_one_turns_of_one() {
    // Fused (synchronous) sources: turns of `prefetch` elements.
    let merged = merge_all(vec![source::range(0, 4), source::range(100, 4)], 2);
    assert_eq!(
        sink::collect(&merged).unwrap(),
        vec![0, 1, 100, 101, 2, 3, 102, 103]
    );
    // merge's prefetch is 32: each source in one turn.
    let merged = source::range(0, 4).merge(source::range(100, 4));
    assert_eq!(
        sink::collect(&merged).unwrap(),
        vec![0, 1, 2, 3, 100, 101, 102, 103]
    );
    // Subscribed sources (a `map` is not fused): one element from each ready source in turn.
    let merged = source::range(0, 4)
        .map(|x| x)
        .merge(source::range(100, 4).map(|x| x));
    assert_eq!(
        sink::collect(&merged).unwrap(),
        vec![0, 100, 1, 101, 2, 102, 3, 103]
    );
}

#[test]
fn flat_map_over_a_synchronous_outer_subscribes_inners_together_and_interleaves() {
    let p = source::range(0, 2).flat_map(
        |x| source::from_iter((0u64..).map(move |i| x * 1_000_000 + i)),
        2,
        8,
    );
    let probe = TestSubscriber::<u64>::new(0);
    p.subscribe(probe.clone());
    probe.request(20);
    let values = probe.values();
    assert!(values.iter().any(|&v| v < 1_000_000), "{values:?}");
    assert!(values.iter().any(|&v| v >= 1_000_000), "{values:?}");
    probe.cancel();
}

#[test]
fn a_merge_chain_of_10_000_links_built_in_a_loop_subscribes_and_emits_on_a_2_mib_thread() {
    let total = on_small_stack(|| {
        let mut merged: MergeAll<BoxPublisher<u64>> = source::just(0u64).merge(source::just(1));
        for i in 2..10_000u64 {
            merged = merged.merge(source::just(i));
        }
        let mut all = sink::collect(&merged).unwrap();
        all.sort_unstable();
        assert_eq!(all, (0..10_000).collect::<Vec<u64>>());
        all.len()
    });
    assert_eq!(total, 10_000);
}

#[test]
fn a_merge_chain_of_10_000_links_without_demand_subscribes_on_a_2_mib_thread() {
    on_small_stack(|| {
        let mut merged = source::just(0u64).merge(source::just(1));
        for i in 2..10_000u64 {
            merged = merged.merge(source::just(i));
        }
        let probe = TestSubscriber::<u64>::new(0);
        merged.subscribe(probe.clone());
        assert!(probe.values().is_empty());
        probe.cancel();
    });
}

#[test]
fn a_concat_chain_of_10_000_links_built_in_a_loop_runs_in_order_on_a_2_mib_thread() {
    on_small_stack(|| {
        let mut chain = source::just(0u64).concat(source::just(1));
        for i in 2..10_000u64 {
            chain = chain.concat(source::just(i));
        }
        assert_eq!(
            sink::collect(&chain).unwrap(),
            (0..10_000).collect::<Vec<u64>>()
        );
        // One at a time, requested from inside on_next: still no recursion per link.
        let seen = Arc::new(Mutex::new((Vec::new(), false)));
        chain.subscribe(OneMore {
            seen: Arc::clone(&seen),
            subscription: None,
        });
        let (values, complete) = &*seen.lock().unwrap();
        assert!(complete);
        assert_eq!(*values, (0..10_000).collect::<Vec<u64>>());
    });
}

/// Requests one element at a time, from inside `on_next`; records values and completion.
struct OneMore {
    seen: Arc<Mutex<(Vec<u64>, bool)>>,
    subscription: Option<Arc<dyn Subscription>>,
}

impl Subscriber<u64> for OneMore {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        self.subscription = Some(Arc::clone(&s));
        s.request(1);
    }
    fn on_next(&mut self, item: u64) {
        self.seen.lock().unwrap().0.push(item);
        if let Some(s) = &self.subscription {
            s.request(1);
        }
    }
    fn on_error(&mut self, e: Error) {
        panic!("unexpected error {e}");
    }
    fn on_complete(&mut self) {
        self.seen.lock().unwrap().1 = true;
        self.subscription = None;
    }
}

/// Requests everything and panics at the first element (§2.13: a broken subscriber).
struct Panicking;

impl Subscriber<u64> for Panicking {
    fn on_subscribe(&mut self, s: Arc<dyn Subscription>) {
        s.request(UNBOUNDED);
    }
    fn on_next(&mut self, _: u64) {
        panic!("downstream bug");
    }
    fn on_error(&mut self, _: Error) {}
    fn on_complete(&mut self) {}
}

#[test]
fn concat_passes_demand_through_exactly_and_carries_the_rest_to_the_next_source() {
    let first = Upstream::emitting(3);
    let second = Upstream::emitting(10);
    let chain = first.clone().concat(second.clone());
    let probe = TestSubscriber::<u64>::new(0);
    chain.subscribe(probe.clone());
    probe.request(5);
    assert_eq!(
        first.requested(),
        5,
        "no prefetch beyond the downstream's request"
    );
    // The first gave 3 and completed: the second is asked for exactly the 2 outstanding.
    assert_eq!(second.requested(), 2);
    assert_eq!(probe.values(), vec![0, 1, 2, 0, 1]);
    probe.request(4);
    assert_eq!(second.requested(), 6);
    assert_eq!(probe.values().len(), 9);
}

#[test]
fn concat_with_unbounded_demand_stays_unbounded_across_sources() {
    let first = Upstream::emitting(2);
    let second = Upstream::emitting(2);
    let chain = first.clone().concat(second.clone());
    assert_eq!(sink::collect(&chain).unwrap(), vec![0, 1, 0, 1]);
    assert_eq!(second.requested(), UNBOUNDED);
}

#[test]
fn rule_3_9_request_zero_through_concat_fails_the_stream_and_does_not_move_on() {
    let first = Upstream::emitting(3);
    let second = Upstream::emitting(3);
    let chain = first.clone().concat(second.clone());
    let probe = TestSubscriber::<u64>::new(0);
    chain.subscribe(probe.clone());
    probe.request(0);
    assert!(probe.await_terminal(WAIT));
    assert_eq!(
        probe.error().and_then(|e| e.rule().map(str::to_owned)),
        Some("3.9".into())
    );
    assert_eq!(second.stats().subscriptions, 0);
}

#[test]
fn cancel_through_concat_cancels_the_active_source_and_subscribes_no_other() {
    let first = Upstream::never_completing(3);
    let second = Upstream::emitting(3);
    let chain = first.clone().concat(second.clone());
    let probe = TestSubscriber::<u64>::new(1);
    chain.subscribe(probe.clone());
    probe.cancel();
    assert!(first.is_cancelled());
    assert_eq!(second.stats().subscriptions, 0);
}

#[test]
fn rule_2_13_a_panicking_downstream_behind_flat_map_cancels_the_outer_and_the_inners() {
    let outer = Upstream::never_completing(2);
    let inner = Upstream::never_completing(100);
    let inner2 = inner.clone();
    let p = outer.clone().flat_map(move |_| inner2.clone(), 2, 4);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        p.subscribe(Panicking);
    }));
    assert!(
        result.is_err(),
        "the panic reaches the caller that drove the emission"
    );
    assert!(outer.is_cancelled(), "{:?}", outer.stats());
    assert!(inner.is_cancelled(), "{:?}", inner.stats());
}
