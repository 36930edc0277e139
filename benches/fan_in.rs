//! Fan-in and fan-out: a merge of 8 sources against futures' select_all and crossbeam with 8
//! producer threads; flat_map and concat_map (each element to 10) against futures' flat_map
//! and flatten_unordered.
//!
//! Every arm ends in the lightest consumer, which only adds the element (`consumer.rs`).
//!
//! `cargo bench -p rstreams-benches --bench fan_in`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::executor::block_on;
use futures::{future, stream, StreamExt};
use rstreams::ops::{merge_all, PublisherExt};
use rstreams::{source, Publisher};

#[path = "consumer.rs"]
mod consumer;

const N: u64 = 2_000_000;

fn drain<P: Publisher<Item = u64>>(publisher: P) {
    consumer::sum_sink().run(&publisher).unwrap();
}

fn merge8(c: &mut Criterion) {
    let per = N / 8;
    let mut g = c.benchmark_group("merge_8_sources");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    g.bench_function("rstreams_merge_all", |b| {
        b.iter(|| {
            drain(merge_all(
                (0..8).map(|k| source::range(k * per, per)).collect(),
                256,
            ))
        })
    });
    g.bench_function("futures_select_all", |b| {
        b.iter(|| {
            block_on(
                stream::select_all((0..8).map(|k| stream::iter(k * per..(k + 1) * per)))
                    .fold(0u64, |acc, x| future::ready(acc.wrapping_add(x))),
            )
        })
    });
    g.bench_function("crossbeam_8_producers", |b| {
        b.iter(|| {
            let (tx, rx) = crossbeam_channel::bounded(256);
            let producers: Vec<_> = (0..8)
                .map(|k| {
                    let tx = tx.clone();
                    std::thread::spawn(move || {
                        for i in k * per..(k + 1) * per {
                            tx.send(i).unwrap();
                        }
                    })
                })
                .collect();
            drop(tx);
            let sum = consumer::sum_all(rx);
            for p in producers {
                p.join().unwrap();
            }
            sum
        })
    });
    g.finish();
}

fn flat_map10(c: &mut Criterion) {
    let outer = N / 10;
    let mut g = c.benchmark_group("flat_map_x10");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    g.bench_function("rstreams_flat_map_8_32", |b| {
        b.iter(|| {
            drain(source::range(0, outer).flat_map(|x| source::range(black_box(x) * 10, 10), 8, 32))
        })
    });
    g.bench_function("rstreams_concat_map_32", |b| {
        b.iter(|| {
            drain(source::range(0, outer).concat_map(|x| source::range(black_box(x) * 10, 10), 32))
        })
    });
    g.bench_function("futures_flat_map", |b| {
        b.iter(|| {
            block_on(
                stream::iter(0..outer)
                    .flat_map(|x| stream::iter(black_box(x) * 10..x * 10 + 10))
                    .fold(0u64, |acc, x| future::ready(acc.wrapping_add(x))),
            )
        })
    });
    g.bench_function("futures_flatten_unordered_8", |b| {
        b.iter(|| {
            block_on(
                stream::iter(0..outer)
                    .map(|x| stream::iter(black_box(x) * 10..x * 10 + 10))
                    .flatten_unordered(8)
                    .fold(0u64, |acc, x| future::ready(acc.wrapping_add(x))),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, merge8, flat_map10);
criterion_main!(benches);
