//! A producer thread handing elements to a consumer thread through a bounded buffer of p:
//! subscribe_on + publish_on against crossbeam bounded(p), std sync_channel(p) and tokio mpsc.
//!
//! Every arm ends in the lightest consumer, which only adds the element (`consumer.rs`).
//!
//! `cargo bench -p rstreams-benches --bench thread_hop`

use std::hint::black_box;
use std::sync::mpsc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rstreams::ops::PublisherExt;
use rstreams::scheduler::ThreadPool;
use rstreams::{source, Publisher};

#[path = "consumer.rs"]
mod consumer;

const N: u64 = 1_000_000;

fn thread_hop(c: &mut Criterion) {
    let mut g = c.benchmark_group("thread_hop");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    let producer = ThreadPool::with_name(1, "bench-producer");
    let consumer = ThreadPool::with_name(1, "bench-consumer");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    for p in [16usize, 256, 1024] {
        g.bench_with_input(BenchmarkId::new("rstreams", p), &p, |b, &p| {
            b.iter(|| {
                let s = consumer::sum_sink();
                let done = s.handle();
                source::range(0, N)
                    .subscribe_on(producer.clone())
                    .publish_on(consumer.clone(), p)
                    .subscribe(s);
                done.wait().unwrap();
            })
        });
        g.bench_with_input(BenchmarkId::new("crossbeam_bounded", p), &p, |b, &p| {
            b.iter(|| {
                let (tx, rx) = crossbeam_channel::bounded(p);
                let t = std::thread::spawn(move || {
                    for i in 0..N {
                        tx.send(i).unwrap();
                    }
                });
                let sum = consumer::sum_all(rx);
                t.join().unwrap();
                sum
            })
        });
        g.bench_with_input(BenchmarkId::new("std_sync_channel", p), &p, |b, &p| {
            b.iter(|| {
                let (tx, rx) = mpsc::sync_channel(p);
                let t = std::thread::spawn(move || {
                    for i in 0..N {
                        tx.send(i).unwrap();
                    }
                });
                let sum = consumer::sum_all(rx);
                t.join().unwrap();
                sum
            })
        });
        g.bench_with_input(BenchmarkId::new("tokio_mpsc", p), &p, |b, &p| {
            b.iter(|| {
                runtime.block_on(async {
                    let (tx, mut rx) = tokio::sync::mpsc::channel(p);
                    let producer = tokio::spawn(async move {
                        for i in 0..N {
                            tx.send(i).await.unwrap();
                        }
                    });
                    let mut sum = 0u64;
                    while let Some(x) = rx.recv().await {
                        sum = sum.wrapping_add(x);
                    }
                    producer.await.unwrap();
                    black_box(sum)
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, thread_hop);
criterion_main!(benches);
