//! The compliance kit on the stages of this crate: each is a compliant operator that asks
//! nothing beyond its downstream's demand.

use rstreams_observe::{ObserveExt, Registry, Stage};
use rstreams_ops::PublisherExt;
use rstreams_tck::{OperatorVerification, Upstream};

#[test]
fn a_named_point_is_a_compliant_operator() {
    let registry = Registry::new();
    let r = registry.clone();
    OperatorVerification::new(move |up: Upstream| up.observe(Stage::new("tck").registry(&r)))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
    // The kit's subscriptions went through the named point and were counted.
    let totals = &registry.totals()[0];
    assert!(
        totals.items > 0 && totals.completed > 0 && totals.failed > 0 && totals.cancelled > 0,
        "{totals:?}"
    );
}

#[test]
fn a_named_point_on_the_global_registry_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.name("tck-global"))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

#[test]
fn a_segment_is_a_compliant_operator() {
    let registry = Registry::new();
    OperatorVerification::new(move |up: Upstream| {
        up.observe_segment(Stage::new("tck-segment").registry(&registry), |entry| {
            entry.map(|x| x * 2)
        })
    })
    .prefetch_bound(0)
    .run()
    .assert_compliant();
}

#[test]
fn the_guard_is_a_compliant_operator() {
    OperatorVerification::new(|up: Upstream| up.guard("tck-guard"))
        .prefetch_bound(0)
        .run()
        .assert_compliant();
}

#[test]
fn a_guarded_named_filter_is_a_compliant_operator() {
    let registry = Registry::new();
    OperatorVerification::new(move |up: Upstream| {
        up.guard("source")
            .observe(Stage::new("source").registry(&registry))
            .filter(|x| x % 3 != 0)
            .guard("filter")
    })
    .prefetch_bound(0)
    .run()
    .assert_compliant();
}
