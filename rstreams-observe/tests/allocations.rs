//! A named point, a segment and a guard allocate per subscription, never per element: the
//! allocations of a pipeline do not depend on how many elements flow through it.

use rstreams_core::{sink, source, Publisher};
use rstreams_observe::{ObserveExt, Registry, Stage};
use rstreams_ops::PublisherExt;

/// Runs `range(0, elements)` through named points, a filter, a segment and a guard, on this
/// thread, and returns the allocations this thread made for it.
fn allocations_for(registry: &Registry, elements: u64) -> u64 {
    let pipeline = source::range(0, elements)
        .observe(Stage::new("source").registry(registry))
        .filter(|x| x % 3 != 0)
        .observe_segment(Stage::new("segment").registry(registry), |entry| {
            entry.map(|x| x * 2)
        })
        .guard("segment")
        .observe(Stage::new("sink").registry(registry));
    allocation_counter::measure(|| {
        let mut sum = 0u64;
        let sink = sink::for_each(move |x: u64| sum = sum.wrapping_add(x)).batch(64);
        let done = sink.handle();
        pipeline.subscribe(sink);
        done.wait().unwrap();
    })
    .count_total
}

#[test]
fn a_pipeline_of_named_points_allocates_the_same_for_ten_elements_as_for_a_hundred_thousand() {
    let registry = Registry::new().keep_ended(4);
    // Warm up: the first subscriptions fill the registry's tables.
    for _ in 0..8 {
        allocations_for(&registry, 10);
    }
    let few = allocations_for(&registry, 10);
    let many = allocations_for(&registry, 100_000);
    assert!(
        few > 0,
        "the measurement sees the per-subscription allocations"
    );
    assert_eq!(few, many, "allocations grew with the number of elements");
    let totals = registry.totals();
    let sink = totals.iter().find(|t| t.name.as_ref() == "sink").unwrap();
    assert_eq!(sink.running, 0);
}
