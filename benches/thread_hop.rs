//! A producer thread handing elements to a consumer thread through a bounded buffer of p:
//! subscribe_on + publish_on against crossbeam bounded(p), std sync_channel(p) and tokio mpsc.
//!
//! `cargo bench -p rstreams-benches --bench thread_hop`

use std::hint::black_box;
use std::sync::mpsc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rstreams::ops::PublisherExt;
use rstreams::scheduler::ThreadPool;
use rstreams::{sink, source, Publisher};

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
                let mut sum = 0u64;
                let s = sink::for_each(move |x: u64| {
                    sum = sum.wrapping_add(black_box(x));
                    black_box(sum);
                });
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
                let mut sum = 0u64;
                for x in rx {
                    sum = sum.wrapping_add(black_box(x));
                }
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
                let mut sum = 0u64;
                for x in rx {
                    sum = sum.wrapping_add(black_box(x));
                }
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
                        sum = sum.wrapping_add(black_box(x));
                    }
                    producer.await.unwrap();
                    sum
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, thread_hop);
criterion_main!(benches);
