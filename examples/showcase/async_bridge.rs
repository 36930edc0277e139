//! From a `futures::Stream` into an rstreams pipeline and back out into async code, on tokio.
//!
//! A tokio task produces readings into a bounded tokio channel; the channel's receiver, as a
//! `Stream`, becomes a publisher (`from_stream`: polled only as demand allows); the pipeline
//! filters, batches and hops to a thread pool; `into_stream(prefetch)` turns it back into a
//! `Stream` that async code consumes with `.next().await`, and `for_each_async` consumes a
//! second run with bounded concurrency.
//!
//! Run: `cargo run --release -p rstreams-showcase --example async_bridge` (optionally a count:
//! `-- 2000`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use rstreams::bridge::defer_stream;
use rstreams::prelude::*; // the operator and bridge traits, next to futures' own imports
use rstreams::scheduler::ThreadPool;

fn main() {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let handle = runtime.handle().clone();
    let pool = ThreadPool::with_name(1, "pipeline");
    let produced = Arc::new(AtomicU64::new(0));

    // A publisher made of a fresh tokio channel stream per subscription; the producing task
    // waits on the bounded channel, so it runs only as far as the pipeline's demand lets it.
    let p = produced.clone();
    let readings = defer_stream(move || {
        let (tx, rx) = tokio::sync::mpsc::channel::<u64>(64);
        let p = p.clone();
        handle.spawn(async move {
            for i in 0..count {
                if tx.send(i).await.is_err() {
                    break; // the subscription was cancelled
                }
                p.fetch_add(1, Ordering::Relaxed);
            }
        });
        tokio_stream_of(rx)
    });

    let pipeline = readings
        .filter(|x| x % 3 != 0)
        .buffer(100)
        .publish_on(pool.clone(), 16);

    runtime.block_on(async {
        // Back into async code: a Stream whose polling is the demand (prefetch 8 batches).
        let started = Instant::now();
        let mut batches = pipeline.clone().into_stream(8);
        let (mut elements, mut n_batches) = (0u64, 0u64);
        while let Some(batch) = batches.next().await {
            let batch = batch.expect("the pipeline failed");
            elements += batch.len() as u64;
            n_batches += 1;
        }
        println!("async_bridge: tokio channel -> from_stream -> filter -> buffer(100) -> publish_on -> into_stream(8)");
        println!("  produced by the tokio task  {:>10}", produced.load(Ordering::Relaxed));
        println!("  received in async code      {elements:>10} in {n_batches} batches");
        println!("  in {:?}", started.elapsed());
        let expected = (0..count).filter(|x| x % 3 != 0).count() as u64;
        assert_eq!(elements, expected, "every kept element arrived once");

        // The same pipeline again, consumed by an async closure, at most 4 batches at once.
        let seen = Arc::new(AtomicU64::new(0));
        let s = seen.clone();
        pipeline
            .for_each_async(
                move |batch: Vec<u64>| {
                    let s = s.clone();
                    async move {
                        tokio::task::yield_now().await;
                        s.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    }
                },
                4,
            )
            .await
            .expect("the pipeline failed");
        println!("  for_each_async (concurrency 4) saw {} elements", seen.load(Ordering::Relaxed));
        assert_eq!(seen.load(Ordering::Relaxed), expected);
    });
}

/// tokio's receiver as a `futures::Stream` (without the tokio-stream crate).
fn tokio_stream_of(rx: tokio::sync::mpsc::Receiver<u64>) -> impl futures::Stream<Item = u64> {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
}
