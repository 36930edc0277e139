//! The main example: a producer much faster than its consumer, connected with explicit demand.
//!
//! A source that could produce readings as fast as the CPU allows feeds a consumer that asks
//! for 256 at a time. The consumer never holds more than one batch of outstanding demand, so
//! memory stays flat no matter how many readings flow, and the producer only ever runs as far
//! as it was asked.
//!
//! Run: `cargo run --release --example pipeline` (optionally with a count: `-- 5000000`).
//!
//! This is the placeholder until the operator library exists; it uses the core only.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rstreams::scheduler::{Scheduler, Task, ThreadPool};
use rstreams::{sink, source, Publisher};

fn main() {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);

    // Stage 1, the producer: readings made by an iterator, lazily, only as demand allows.
    let produced = Arc::new(AtomicU64::new(0));
    let p = produced.clone();
    let readings = source::from_iter((0..count).map(move |i| {
        p.fetch_add(1, Ordering::Relaxed);
        (i * 7919) % 1_000 // a deterministic pseudo-reading
    }));

    // Stage 2, the consumer: requests 256 at a time and tracks how far the producer ever got
    // ahead of it (produced - consumed), which demand keeps at or below one batch.
    let consumed = Arc::new(AtomicU64::new(0));
    let max_ahead = Arc::new(AtomicU64::new(0));
    let sum = Arc::new(AtomicU64::new(0));
    let (c, m, s, p) = (
        consumed.clone(),
        max_ahead.clone(),
        sum.clone(),
        produced.clone(),
    );
    let consumer = sink::for_each(move |reading: u64| {
        let done = c.fetch_add(1, Ordering::Relaxed) + 1;
        let ahead = p.load(Ordering::Relaxed) - done;
        m.fetch_max(ahead, Ordering::Relaxed);
        s.fetch_add(reading, Ordering::Relaxed);
    })
    .batch(256);
    let handle = consumer.handle();

    // Run the subscription on a pool thread; the main thread waits without spinning.
    let started = Instant::now();
    let pool = ThreadPool::new(1);
    pool.schedule(Task::new(move || readings.subscribe(consumer)));
    handle.wait().expect("the pipeline failed");
    let elapsed = started.elapsed();

    println!("pipeline: from_iter -> for_each(batch 256), on a 1-thread pool");
    println!(
        "  produced          {:>12}",
        produced.load(Ordering::Relaxed)
    );
    println!(
        "  consumed          {:>12}",
        consumed.load(Ordering::Relaxed)
    );
    println!("  sum of readings   {:>12}", sum.load(Ordering::Relaxed));
    println!(
        "  producer ahead at most {} element(s) (demand bound: 256)",
        max_ahead.load(Ordering::Relaxed)
    );
    println!(
        "  {:.1} M elements/s in {:?}",
        count as f64 / elapsed.as_secs_f64() / 1e6,
        elapsed
    );
    assert_eq!(consumed.load(Ordering::Relaxed), count);
    assert!(max_ahead.load(Ordering::Relaxed) <= 256);
}
