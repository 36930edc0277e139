//! Synchronous-source fusion: `flat_map` and `merge` pull the elements of an inner that is a
//! synchronous source (`Publisher::sync_iter`) straight from its iterator, without subscribing
//! it; the protocol is unchanged.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rstreams_core::{source, BoxPublisher, ErrorKind, Publisher, Subscriber, SyncIter};
use rstreams_ops::{merge_all, PublisherExt};
use rstreams_tck::TestSubscriber;

const WAIT: Duration = Duration::from_secs(5);

/// A range that counts its subscriptions and its iterators, and may refuse to be fused.
#[derive(Clone)]
struct Counted {
    inner: source::Range,
    fusable: bool,
    subscribed: Arc<AtomicUsize>,
    fused: Arc<AtomicUsize>,
}

impl Counted {
    fn new(start: u64, count: u64, fusable: bool) -> Self {
        Counted {
            inner: source::range(start, count),
            fusable,
            subscribed: Arc::new(AtomicUsize::new(0)),
            fused: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl Publisher for Counted {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, subscriber: S) {
        self.subscribed.fetch_add(1, Ordering::SeqCst);
        self.inner.subscribe(subscriber);
    }
    fn sync_iter(&self) -> Option<SyncIter<u64>> {
        if !self.fusable {
            return None;
        }
        self.fused.fetch_add(1, Ordering::SeqCst);
        self.inner.sync_iter()
    }
}

#[test]
fn flat_map_pulls_a_synchronous_inner_without_subscribing_it() {
    let probe_inner = Counted::new(0, 3, true);
    let (subscribed, fused) = (probe_inner.subscribed.clone(), probe_inner.fused.clone());
    let p = source::range(0, 4).flat_map(
        move |x| Counted {
            inner: source::range(x * 10, 3),
            ..probe_inner.clone()
        },
        2,
        4,
    );
    let probe = TestSubscriber::new(u64::MAX);
    p.subscribe(probe.clone());
    assert!(probe.await_terminal(WAIT));
    assert!(probe.is_complete());
    let mut got = probe.values();
    got.sort();
    assert_eq!(got, vec![0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32]);
    assert_eq!(
        subscribed.load(Ordering::SeqCst),
        0,
        "fused inners are never subscribed"
    );
    assert_eq!(fused.load(Ordering::SeqCst), 4);
    assert!(probe.violations().is_empty(), "{:?}", probe.violations());
}

#[test]
fn an_inner_that_cannot_be_fused_is_subscribed_as_before() {
    let inner = Counted::new(5, 2, false);
    let subscribed = inner.subscribed.clone();
    let p = source::range(0, 3).flat_map(move |_| inner.clone(), 2, 4);
    let probe = TestSubscriber::new(u64::MAX);
    p.subscribe(probe.clone());
    assert!(probe.await_terminal(WAIT));
    assert_eq!(probe.values(), vec![5, 5, 6, 6, 5, 6]);
    assert_eq!(subscribed.load(Ordering::SeqCst), 3);
}

#[test]
fn rule_1_1_fused_inners_emit_exactly_the_demand_and_complete_without_more() {
    let p = source::range(0, 2).flat_map(|x| source::range(x * 10, 2), 2, 4);
    let probe = TestSubscriber::new(0);
    p.subscribe(probe.clone());
    for asked in 1..=4u64 {
        probe.request(1);
        assert_eq!(
            probe.count() as u64,
            asked,
            "§1.1: exactly what was requested"
        );
    }
    // The last element is out: completion needs no further demand (§1.2).
    assert!(probe.await_terminal(WAIT));
    assert!(probe.is_complete());
    // A fused inner's turn (up to `prefetch`, 4) outlasts it here: each inner in one go.
    assert_eq!(probe.values(), vec![0, 1, 10, 11]);
    assert!(probe.violations().is_empty(), "{:?}", probe.violations());
}

#[test]
fn rule_3_13_cancel_drops_an_endless_fused_inner_and_stops_at_once() {
    let made = Arc::new(AtomicUsize::new(0));
    let counter = made.clone();
    let endless = source::from_iter(std::iter::repeat_with(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        7u64
    }));
    let p = source::just(()).flat_map(move |()| endless.clone(), 1, 4);
    let probe = TestSubscriber::new(u64::MAX).cancel_after(5);
    p.subscribe(probe.clone());
    assert_eq!(
        probe.count(),
        5,
        "§3.12: nothing after the cancel inside on_next"
    );
    let after_cancel = made.load(Ordering::SeqCst);
    // At most one look-ahead beyond what was delivered; nothing runs after the cancel.
    assert!(after_cancel <= 6, "{after_cancel}");
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(made.load(Ordering::SeqCst), after_cancel);
}

#[test]
fn a_panicking_fused_inner_fails_the_stream_in_the_stage_name() {
    let p = source::range(0, 100).flat_map(
        |x| {
            source::from_iter((0..3u64).map(move |i| {
                assert!(!(x == 1 && i == 1), "inner boom");
                x * 10 + i
            }))
        },
        1,
        4,
    );
    let probe = TestSubscriber::new(u64::MAX);
    p.subscribe(probe.clone());
    assert!(probe.await_terminal(WAIT));
    let error = probe.error().expect("the inner's panic fails the stream");
    assert_eq!(error.kind(), ErrorKind::Panic, "{error}");
    assert_eq!(error.stage(), Some("flat_map"), "{error}");
    assert!(error.to_string().contains("inner boom"), "{error}");
    assert_eq!(probe.values(), vec![0, 1, 2, 10]);
}

/// An iterator whose clone panics: `from_iter`'s `sync_iter` clones it.
#[derive(Debug)]
struct CloneBoom;

impl Clone for CloneBoom {
    fn clone(&self) -> Self {
        panic!("clone boom")
    }
}

impl Iterator for CloneBoom {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        None
    }
}

#[test]
fn a_fused_inner_whose_iterator_cannot_be_made_fails_the_stream() {
    let p = source::just(()).flat_map(|()| source::from_iter(CloneBoom), 1, 4);
    let probe = TestSubscriber::new(u64::MAX);
    p.subscribe(probe.clone());
    assert!(probe.await_terminal(WAIT));
    let error = probe.error().expect("the panic fails the stream");
    assert_eq!(error.kind(), ErrorKind::Panic, "{error}");
    assert!(error.to_string().contains("clone boom"), "{error}");
}

#[test]
fn merge_fuses_its_boxed_synchronous_sources_and_gives_each_turns_of_up_to_prefetch() {
    let a = Counted::new(0, 3, true);
    let b = Counted::new(100, 3, true);
    let (sa, sb) = (a.subscribed.clone(), b.subscribed.clone());
    let probe = TestSubscriber::new(u64::MAX);
    a.clone().merge(b.clone()).subscribe(probe.clone());
    assert!(probe.await_terminal(WAIT));
    assert_eq!(
        probe.values(),
        vec![0, 1, 2, 100, 101, 102],
        "merge's prefetch (32) outlasts each source: one after the other"
    );
    assert_eq!(sa.load(Ordering::SeqCst) + sb.load(Ordering::SeqCst), 0);
    assert_eq!(a.fused.load(Ordering::SeqCst), 1);

    // Turns of `prefetch` (2) elements, in turn; the same under demand one at a time.
    for batch in [u64::MAX, 1] {
        let probe = TestSubscriber::new(0);
        merge_all(vec![source::range(0, 5), source::range(100, 3)], 2).subscribe(probe.clone());
        while !probe.is_terminated() {
            probe.request(batch);
        }
        assert_eq!(probe.values(), vec![0, 1, 100, 101, 2, 3, 102, 4]);
    }

    // Endless fused sources still share: at most a turn of 64 (the cap) in a row, however
    // large the prefetch.
    let probe = TestSubscriber::new(0);
    merge_all(
        vec![
            source::range(0, u64::MAX / 2),
            source::range(u64::MAX / 2, 10),
        ],
        1_000,
    )
    .subscribe(probe.clone());
    probe.request(200);
    let values = probe.values();
    let from_second = values.iter().filter(|&&v| v >= u64::MAX / 2).count();
    assert_eq!(from_second, 10, "{values:?}");
    assert_eq!(&values[..64], &(0..64).collect::<Vec<u64>>()[..]);
    probe.cancel();

    let probe = TestSubscriber::new(u64::MAX);
    merge_all(vec![source::range(0, 2), source::range(0, 0)], 8).subscribe(probe.clone());
    assert!(probe.await_terminal(WAIT));
    assert_eq!(probe.values(), vec![0, 1]);
}

#[test]
fn synchronous_sources_advertise_their_elements_and_others_do_not() {
    let range: Vec<u64> = source::range(u64::MAX - 1, 2)
        .sync_iter()
        .unwrap()
        .collect();
    assert_eq!(range, vec![u64::MAX - 1, u64::MAX]);
    assert_eq!(source::range(3, 0).sync_iter().unwrap().count(), 0);
    assert_eq!(
        source::just(4u8).sync_iter().unwrap().collect::<Vec<_>>(),
        vec![4]
    );
    assert_eq!(source::empty::<u8>().sync_iter().unwrap().count(), 0);
    assert!(
        source::range(0, 3).boxed().sync_iter().is_some(),
        "through BoxPublisher"
    );
    assert!(source::never::<u8>().sync_iter().is_none());
    assert!(source::range(0, 3).map(|x| x).sync_iter().is_none());
}

#[test]
fn merge_delay_error_keeps_a_fused_inners_panic_until_the_others_ended() {
    let failing = source::from_iter((0..3u64).inspect(|&i| assert!(i < 1, "fused boom")));
    let probe = TestSubscriber::new(u64::MAX);
    failing
        .merge_delay_error(source::range(10, 4))
        .subscribe(probe.clone());
    assert!(probe.await_terminal(WAIT));
    let mut got = probe.values();
    got.sort();
    assert_eq!(
        got,
        vec![0, 10, 11, 12, 13],
        "every element of the healthy inner"
    );
    let error = probe.error().expect("the delayed panic ends the stream");
    assert_eq!(error.kind(), ErrorKind::Panic, "{error}");
    assert!(error.to_string().contains("fused boom"), "{error}");
}

#[test]
fn concat_map_pulls_synchronous_inners_in_order_without_subscribing_them() {
    let template = Counted::new(0, 0, true);
    let (subscribed, fused) = (template.subscribed.clone(), template.fused.clone());
    let p = source::range(0, 5).concat_map(
        move |x| Counted {
            inner: source::range(x * 10, 3),
            ..template.clone()
        },
        2,
    );
    let probe = TestSubscriber::new(u64::MAX);
    p.subscribe(probe.clone());
    assert!(probe.await_terminal(WAIT));
    assert!(probe.is_complete());
    let expected: Vec<u64> = (0..5)
        .flat_map(|x| (0..3).map(move |i| x * 10 + i))
        .collect();
    assert_eq!(
        probe.values(),
        expected,
        "one inner after another, in order"
    );
    assert_eq!(subscribed.load(Ordering::SeqCst), 0);
    assert_eq!(fused.load(Ordering::SeqCst), 5);
}

#[test]
fn rule_1_1_concat_map_carries_demand_exactly_across_fused_and_subscribed_inners() {
    // Even inners are fused, odd ones subscribed: the demand left by a fused inner is what
    // the next subscribed one is asked for, and the other way round.
    let p = source::range(0, 6).concat_map(|x| Counted::new(x * 10, 3, x % 2 == 0), 2);
    let probe = TestSubscriber::new(0);
    p.subscribe(probe.clone());
    let mut asked = 0u64;
    for step in [1u64, 2, 4, 1, 3, 5, 2] {
        probe.request(step);
        asked += step;
        assert_eq!(
            probe.count() as u64,
            asked.min(18),
            "§1.1: exactly what was requested"
        );
    }
    assert!(probe.await_terminal(WAIT));
    assert!(probe.is_complete());
    let expected: Vec<u64> = (0..6)
        .flat_map(|x| (0..3).map(move |i| x * 10 + i))
        .collect();
    assert_eq!(probe.values(), expected);
    assert!(probe.violations().is_empty(), "{:?}", probe.violations());
}

#[test]
fn concat_map_starts_the_inner_after_a_fused_one_outside_its_loop() {
    // A fused inner ends under unbounded demand and the next is an endless synchronous source
    // that cannot be fused: started inside the engine's loop it would queue forever; started
    // after it, its elements stream one by one and the downstream's take ends it.
    let p = source::range(0, 2)
        .concat_map(
            |x| {
                if x == 0 {
                    Counted::new(100, 3, true)
                } else {
                    Counted::new(0, u64::MAX, false)
                }
            },
            1,
        )
        .take(8);
    let probe = TestSubscriber::new(u64::MAX);
    p.subscribe(probe.clone());
    assert!(probe.await_terminal(WAIT));
    assert!(probe.is_complete());
    assert_eq!(probe.values(), vec![100, 101, 102, 0, 1, 2, 3, 4]);
}

#[test]
fn a_panicking_fused_inner_fails_concat_map() {
    let p = source::range(0, 3).concat_map(
        |x| {
            source::from_iter((0..2u64).inspect(move |&i| assert!(!(x == 1 && i == 1), "seq boom")))
        },
        2,
    );
    let probe = TestSubscriber::new(u64::MAX);
    p.subscribe(probe.clone());
    assert!(probe.await_terminal(WAIT));
    let error = probe.error().expect("the inner's panic fails the stream");
    assert_eq!(error.kind(), ErrorKind::Panic, "{error}");
    assert_eq!(error.stage(), Some("concat_map"), "{error}");
    assert!(error.to_string().contains("seq boom"), "{error}");
    assert_eq!(probe.values(), vec![0, 1, 0]);
}

#[test]
fn requests_from_another_thread_drive_fused_concat_map_inners_to_the_end() {
    let p = source::range(0, 200).concat_map(|x| source::range(x * 10, 10), 4);
    let probe = TestSubscriber::new(0);
    p.subscribe(probe.clone());
    let requester = {
        let probe = probe.clone();
        std::thread::spawn(move || {
            for _ in 0..2_000 {
                probe.request(1);
            }
        })
    };
    for _ in 0..100 {
        probe.request(3);
    }
    requester.join().unwrap();
    assert!(probe.await_terminal(WAIT));
    assert!(probe.is_complete());
    assert_eq!(probe.values(), (0..2_000).collect::<Vec<u64>>());
    assert!(probe.violations().is_empty(), "{:?}", probe.violations());
}

/// An iterator that is not fused: after its first `None` it would go on with more elements.
#[derive(Clone)]
struct Resumes {
    next: u64,
    stop: u64,
}

impl Iterator for Resumes {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        let x = self.next;
        self.next += 1;
        // `None` once, at `stop`; anything after it must never be asked for.
        (x != self.stop).then_some(x)
    }
}

/// A synchronous source over a [`Resumes`]: `stop - start` elements, then its end.
struct ResumingSource {
    start: u64,
    stop: u64,
}

impl Publisher for ResumingSource {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + 'static>(&self, subscriber: S) {
        source::range(self.start, self.stop - self.start).subscribe(subscriber);
    }
    fn sync_iter(&self) -> Option<SyncIter<u64>> {
        Some(SyncIter::new(Resumes {
            next: self.start,
            stop: self.stop,
        }))
    }
}

#[test]
fn a_fused_inner_is_not_asked_again_after_its_end_in_a_bulk_run() {
    let concat = source::range(0, 3).concat_map(
        |x| ResumingSource {
            start: x * 10,
            stop: x * 10 + 3,
        },
        2,
    );
    assert_eq!(
        rstreams_core::sink::collect(&concat).unwrap(),
        vec![0, 1, 2, 10, 11, 12, 20, 21, 22]
    );
    let merged = source::range(0, 3).flat_map(
        |x| ResumingSource {
            start: x * 10,
            stop: x * 10 + 3,
        },
        3,
        4,
    );
    let mut all = rstreams_core::sink::collect(&merged).unwrap();
    all.sort_unstable();
    assert_eq!(all, vec![0, 1, 2, 10, 11, 12, 20, 21, 22]);
}

/// An inner that ended frees its slot while an endless neighbour keeps emitting (fused or
/// subscribed): the next inner is adopted and gets its turn. A slot is not held by an ended
/// inner until a whole sweep finds nothing, which an endless neighbour would never allow.
#[test]
fn an_ended_inner_frees_its_slot_while_an_endless_neighbour_emits() {
    for fusable in [true, false] {
        let probe = TestSubscriber::new(10_000);
        source::from_iter([0u64, 1, 2])
            .flat_map(
                move |k| match k {
                    0 => Counted::new(0, u64::MAX, fusable), // endless, as far as this goes
                    k => Counted::new(k * 1_000_000_000_000, 2, fusable),
                },
                2,
                4,
            )
            .subscribe(probe.clone());
        assert!(probe.await_count(10_000, WAIT));
        let values = probe.values();
        for third in [2_000_000_000_000, 2_000_000_000_001] {
            assert!(
                values.contains(&third),
                "fusable {fusable}: the third inner was never adopted: its slot stayed with the \
                 ended second"
            );
        }
        probe.cancel();
    }
}

#[test]
fn flat_map_fuses_a_synchronous_upstream_and_never_subscribes_it() {
    let outer = Counted::new(0, 5, true);
    let (subscribed, fused) = (outer.subscribed.clone(), outer.fused.clone());
    let p = outer.flat_map(|x| source::range(x * 10, 2), 2, 4);
    let probe = TestSubscriber::new(u64::MAX);
    p.subscribe(probe.clone());
    assert!(probe.await_terminal(WAIT));
    assert!(probe.is_complete());
    let mut values = probe.values();
    values.sort_unstable();
    assert_eq!(values, vec![0, 1, 10, 11, 20, 21, 30, 31, 40, 41]);
    assert_eq!(subscribed.load(Ordering::SeqCst), 0);
    assert_eq!(fused.load(Ordering::SeqCst), 1);
    probe.assert_no_violations();
}

#[test]
fn a_fused_upstream_is_pulled_only_as_inner_slots_free_and_dropped_on_cancel() {
    // Endless upstream, inners that never end: only max_concurrency elements are taken.
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let outer = source::from_iter((0u64..).inspect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    }));
    let p = outer.flat_map(|_| source::never::<u64>(), 3, 4);
    let probe = TestSubscriber::new(u64::MAX);
    p.subscribe(probe.clone());
    assert!(probe.await_subscribed(WAIT));
    probe.request(5);
    assert_eq!(pulled.load(Ordering::SeqCst), 3, "one per free slot");
    probe.cancel();
    assert_eq!(probe.count(), 0);

    // Inners that end one element in: one more upstream element per ended inner, and no
    // more than the demand needs in flight at once (max_concurrency).
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let outer = source::from_iter((0u64..).inspect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    }));
    let p = outer.flat_map(source::just, 2, 4);
    let probe = TestSubscriber::new(0);
    p.subscribe(probe.clone());
    probe.request(7);
    assert_eq!(probe.values(), (0..7).collect::<Vec<u64>>());
    let taken = pulled.load(Ordering::SeqCst);
    assert!(
        (7..=9).contains(&taken),
        "{taken} upstream elements taken for 7"
    );
    probe.cancel();
    probe.request(10); // after the cancel: nothing more is pulled (§3.6)
    assert_eq!(pulled.load(Ordering::SeqCst), taken);
    probe.assert_no_violations();
}

/// An upstream iterator that panics at its third element.
struct PanicsAtThird(u64);

impl Iterator for PanicsAtThird {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        self.0 += 1;
        assert!(self.0 < 3, "third element boom");
        Some(self.0)
    }
}

impl Clone for PanicsAtThird {
    fn clone(&self) -> Self {
        PanicsAtThird(self.0)
    }
}

#[test]
fn concat_map_fuses_a_synchronous_upstream_and_never_subscribes_it() {
    let outer = Counted::new(0, 4, true);
    let (subscribed, fused) = (outer.subscribed.clone(), outer.fused.clone());
    // Fused and subscribed inners alternate: both kinds follow a fused upstream in order.
    let p = outer.concat_map(|x| Counted::new(x * 10, 2, x % 2 == 0), 2);
    for batch in [u64::MAX, 1] {
        let probe = TestSubscriber::new(0);
        p.subscribe(probe.clone());
        while !probe.is_terminated() {
            probe.request(batch);
        }
        assert!(probe.is_complete());
        assert_eq!(probe.values(), vec![0, 1, 10, 11, 20, 21, 30, 31]);
        probe.assert_no_violations();
    }
    assert_eq!(subscribed.load(Ordering::SeqCst), 0);
    assert_eq!(
        fused.load(Ordering::SeqCst),
        2,
        "one iterator per subscription"
    );
}

#[test]
fn a_fused_concat_map_upstream_is_pulled_one_element_per_inner_and_dropped_on_cancel() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let outer = source::from_iter((0u64..).inspect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    }));
    let p = outer.concat_map(source::just, 4);
    let probe = TestSubscriber::new(0);
    p.subscribe(probe.clone());
    assert!(
        pulled.load(Ordering::SeqCst) <= 1,
        "no prefetch of a fused upstream"
    );
    probe.request(5);
    assert_eq!(probe.values(), (0..5).collect::<Vec<u64>>());
    let taken = pulled.load(Ordering::SeqCst);
    assert!(
        (5..=6).contains(&taken),
        "{taken} upstream elements taken for 5"
    );
    probe.cancel();
    probe.request(10); // after the cancel: nothing more is pulled (§3.6)
    assert_eq!(pulled.load(Ordering::SeqCst), taken);
    assert_eq!(probe.count(), 5);
    probe.assert_no_violations();
}

/// A mapper that panics from its second element on.
fn just_or_boom(x: u64) -> source::FromIter<std::iter::Once<u64>> {
    assert!(x < 1, "mapper boom");
    source::just(x)
}

/// The three ways a fused upstream fails the stream, for `flat_map` and `concat_map` alike (as
/// a `Panic` named after the stage): its iterator panics midway (the elements before go out),
/// its iterator cannot be made (the stream fails without demand), the mapper panics in the
/// stage's own loop.
fn a_fused_upstream_fails_the_stream_in<P: Publisher<Item = u64>>(
    stage: &str,
    op: impl Fn(BoxPublisher<u64>, fn(u64) -> source::FromIter<std::iter::Once<u64>>) -> P,
) {
    let probe = TestSubscriber::new(u64::MAX);
    op(source::from_iter(PanicsAtThird(0)).boxed(), source::just).subscribe(probe.clone());
    assert!(probe.await_terminal(WAIT));
    assert_eq!(
        probe.values(),
        vec![1, 2],
        "the elements before the panic went out"
    );
    let error = probe.error().expect("the panic fails the stream");
    assert_eq!(error.kind(), ErrorKind::Panic, "{error}");
    assert!(error.to_string().contains("third element boom"), "{error}");
    assert_eq!(error.stage(), Some(stage), "{error}");

    let probe = TestSubscriber::new(0);
    op(source::from_iter(CloneBoom).boxed(), source::just).subscribe(probe.clone());
    assert!(probe.await_terminal(WAIT), "fails without demand");
    let error = probe.error().expect("the panic fails the stream");
    assert!(error.to_string().contains("clone boom"), "{error}");

    let probe = TestSubscriber::new(u64::MAX);
    op(source::range(0, 3).boxed(), just_or_boom).subscribe(probe.clone());
    assert!(probe.await_terminal(WAIT));
    assert_eq!(probe.values(), vec![0]);
    let error = probe.error().expect("the panic fails the stream");
    assert!(error.to_string().contains("mapper boom"), "{error}");
    assert_eq!(error.stage(), Some(stage), "{error}");
}

#[test]
fn a_fused_upstream_whose_iterator_panics_or_cannot_be_made_fails_flat_map_and_concat_map() {
    a_fused_upstream_fails_the_stream_in("flat_map", |up, f| up.flat_map(f, 1, 4));
    a_fused_upstream_fails_the_stream_in("concat_map", |up, f| up.concat_map(f, 4));
}
