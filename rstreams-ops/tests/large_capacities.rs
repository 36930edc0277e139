//! Declared capacities are bounds, not allocations: a stage built with a huge prefetch or size
//! subscribes and runs, allocating only for what it holds.

use std::time::Duration;

use rstreams_core::scheduler::ThreadPool;
use rstreams_core::{sink, source};
use rstreams_ops::PublisherExt;

#[test]
fn publish_on_with_a_prefetch_of_usize_max_subscribes_and_delivers() {
    let p = source::range(0, 1_000).publish_on(ThreadPool::new(1), usize::MAX);
    assert_eq!(sink::collect(&p).unwrap(), (0..1_000).collect::<Vec<u64>>());
}

#[test]
fn flat_map_with_a_prefetch_of_usize_max_subscribes_and_delivers() {
    let p = source::range(0, 10).flat_map(|x| source::range(x * 10, 10), 4, usize::MAX);
    let mut all = sink::collect(&p).unwrap();
    all.sort_unstable();
    assert_eq!(all, (0..100).collect::<Vec<u64>>());
}

#[test]
fn merge_all_with_a_prefetch_of_usize_max_subscribes_and_delivers() {
    let p = rstreams_ops::merge_all(vec![source::range(0, 5), source::range(5, 5)], usize::MAX);
    let mut all = sink::collect(&p).unwrap();
    all.sort_unstable();
    assert_eq!(all, (0..10).collect::<Vec<u64>>());
}

#[test]
fn buffer_timeout_with_a_size_of_usize_max_collects_everything_into_one_batch() {
    let p = source::range(0, 100).buffer_timeout(usize::MAX, Duration::from_secs(3600));
    assert_eq!(
        sink::collect(&p).unwrap(),
        vec![(0..100).collect::<Vec<u64>>()]
    );
}

#[test]
fn buffer_timeout_with_a_size_of_2_pow_40_does_not_try_to_allocate_it() {
    let p = source::range(0, 3).buffer_timeout(1 << 40, Duration::from_secs(3600));
    assert_eq!(sink::collect(&p).unwrap(), vec![vec![0, 1, 2]]);
}
