//! Every source and sink of rstreams-core through the compliance kit, one `#[test]` per rule.

use rstreams_core::sink::{self, LambdaSubscriber};
use rstreams_core::{source, Error, Publisher};
use rstreams_tck::{publisher_tck, subscriber_tck, PublisherVerification, SubscriberVerification};

fn failed() -> source::Fail<u64> {
    source::fail(Error::msg("tck: failed publisher"))
}

publisher_tck!(
    range,
    PublisherVerification::new(|n| source::range(0, n)).failed_publisher(failed)
);

publisher_tck!(
    from_iter,
    PublisherVerification::new(|n| source::from_iter(0..n)).failed_publisher(failed)
);

publisher_tck!(
    defer,
    PublisherVerification::new(|n| source::defer(move || source::range(0, n)))
);

publisher_tck!(
    boxed,
    PublisherVerification::new(|n| source::range(0, n).boxed())
);

// The factory must emit exactly `n`: `just` serves n = 1, `empty` n = 0.
publisher_tck!(
    just,
    PublisherVerification::new(|n| match n {
        0 => source::empty::<u64>().boxed(),
        _ => source::just(7u64).boxed(),
    })
    .max_elements(1)
);

publisher_tck!(
    empty,
    PublisherVerification::new(|_| source::empty::<u64>()).max_elements(0)
);

fn for_each() -> LambdaSubscriber<u64, fn(u64)> {
    sink::for_each(|_| {})
}

subscriber_tck!(for_each_unbounded, SubscriberVerification::new(for_each));

subscriber_tck!(
    for_each_in_batches,
    SubscriberVerification::new(|| for_each().batch(4)).trigger_cancel(|s| s.handle().cancel())
);

publisher_tck!(
    from_iter_once,
    // Single use: the verification makes a fresh one per check (`defer`).
    PublisherVerification::new(|n| source::defer(move || source::from_iter_once(0..n)))
        .failed_publisher(failed)
);

publisher_tck!(
    try_from_iter,
    PublisherVerification::new(|n| source::try_from_iter((0..n).map(Ok::<u64, Error>)))
        .failed_publisher(|| source::try_from_iter(vec![Err::<u64, _>(Error::msg("tck: bad"))]))
);

publisher_tck!(
    generate,
    PublisherVerification::new(|n| source::generate(0u64, move |i| {
        let value = *i;
        *i += 1;
        (value < n).then_some(value)
    }))
);

publisher_tck!(
    unfold,
    PublisherVerification::new(|n| source::unfold(0u64, move |i| (i < n).then_some((i, i + 1))))
);

publisher_tck!(
    using,
    PublisherVerification::new(|n| source::using(
        move || Ok::<_, Error>(n),
        |count: &u64| source::range(0, *count),
        |_| {}
    ))
    .failed_publisher(|| source::using(
        || Err::<u64, _>(Error::msg("tck: cannot open")),
        |count: &u64| source::range(0, *count),
        |_| {}
    ))
);

publisher_tck!(
    try_from_iter_once,
    PublisherVerification::new(|n| {
        source::defer(move || source::try_from_iter_once((0..n).map(Ok::<u64, Error>)))
    })
    .failed_publisher(|| {
        source::defer(|| source::try_from_iter_once(vec![Err::<u64, _>(Error::msg("tck: bad"))]))
    })
);
