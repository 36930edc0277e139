//! Synchronous chains, against a plain loop (the limit) and futures::stream under block_on:
//! range → map → filter → sum, with half and with one in ten kept; the overhead of buffer(100)
//! and of throttle at an unreachable rate; and the cost of setting up a subscription.
//!
//! Every arm does the same work: one `black_box` on the source's number inside `map` (so the
//! compiler cannot fold the loop), and the lightest consumer, which only adds the element
//! (`consumer.rs`; the sum is black-boxed once, at the end).
//!
//! `cargo bench -p rstreams-benches --bench sync_pipeline`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::executor::block_on;
use futures::{future, stream, StreamExt};
use rstreams::ops::{PublisherExt, ThrottleMode};
use rstreams::{sink, source, Publisher};

#[path = "consumer.rs"]
mod consumer;

const N: u64 = 10_000_000;

/// Runs `publisher` to completion into the lightest consumer (it only adds the element),
/// requesting `batch` at a time (u64::MAX: unbounded).
fn drain<P: Publisher<Item = u64>>(publisher: P, batch: u64) {
    consumer::sum_sink().batch(batch).run(&publisher).unwrap();
}

fn pipeline(c: &mut Criterion, name: &str, keep_one_in: u64) {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(N));
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    g.bench_function("plain_loop", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for i in 0..N {
                let x = black_box(i) * 3;
                if x % keep_one_in == 0 {
                    sum = sum.wrapping_add(x);
                }
            }
            black_box(sum)
        })
    });
    g.bench_function("futures_stream", |b| {
        b.iter(|| {
            block_on(
                stream::iter(0..N)
                    .map(|i| black_box(i) * 3)
                    .filter(|x| future::ready(x % keep_one_in == 0))
                    .fold(0u64, |acc, x| future::ready(acc.wrapping_add(x))),
            )
        })
    });
    for (label, batch) in [
        ("rstreams_unbounded", u64::MAX),
        ("rstreams_request_256", 256),
    ] {
        g.bench_function(label, |b| {
            b.iter(|| {
                drain(
                    source::range(0, N)
                        .map(|i| black_box(i) * 3)
                        .filter(move |x| x % keep_one_in == 0),
                    batch,
                )
            })
        });
    }
    g.finish();
}

fn map_filter_sum(c: &mut Criterion) {
    pipeline(c, "sync_pipeline", 2);
}

fn filter_heavy(c: &mut Criterion) {
    pipeline(c, "filter_heavy", 10);
}

fn stage_overhead(c: &mut Criterion) {
    const M: u64 = 2_000_000;
    let mut g = c.benchmark_group("stage_overhead");
    g.throughput(Throughput::Elements(M));
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.bench_function("without", |b| {
        b.iter(|| drain(source::range(0, M).map(|x| black_box(x) + 1), u64::MAX))
    });
    g.bench_function("buffer_100", |b| {
        b.iter(|| {
            let mut count = consumer::Sum(0);
            let s = sink::for_each(move |batch: Vec<u64>| {
                for x in batch {
                    count.0 = count.0.wrapping_add(x);
                }
            });
            let done = s.handle();
            source::range(0, M)
                .map(|x| black_box(x) + 1)
                .buffer(100)
                .subscribe(s);
            done.wait().unwrap();
        })
    });
    g.bench_function("throttle_unreachable_rate", |b| {
        b.iter(|| {
            drain(
                source::range(0, M).map(|x| black_box(x) + 1).throttle(
                    u64::MAX / 4,
                    Duration::from_secs(1),
                    u64::MAX / 4,
                    ThrottleMode::Shaping,
                ),
                u64::MAX,
            )
        })
    });
    g.finish();
}

fn setup(c: &mut Criterion) {
    let mut g = c.benchmark_group("subscription_setup");
    g.sample_size(30);
    g.bench_function(BenchmarkId::new("rstreams", "empty_5_ops"), |b| {
        b.iter(|| {
            drain(
                source::empty::<u64>()
                    .map(|x| x + 1)
                    .filter(|x| x % 2 == 0)
                    .map(|x| x * 2)
                    .filter(|x| x % 3 == 0)
                    .take(10),
                u64::MAX,
            )
        })
    });
    g.bench_function(BenchmarkId::new("futures_stream", "empty_5_ops"), |b| {
        b.iter(|| {
            block_on(
                stream::empty::<u64>()
                    .map(|x| x + 1)
                    .filter(|x| future::ready(x % 2 == 0))
                    .map(|x| x * 2)
                    .filter(|x| future::ready(x % 3 == 0))
                    .take(10)
                    .fold(0u64, |acc, x| future::ready(acc.wrapping_add(x))),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, map_filter_sum, filter_heavy, stage_overhead, setup);
criterion_main!(benches);
