//! A soak: millions of elements through every operator and the bridges, with a slow consumer,
//! checking that neither resident memory nor pending timers grow with the number of elements
//! or batches.
//!
//! Run: `cargo run --release --example soak` (about 4 M elements per case). For CI:
//! `cargo run --release --example soak -- --small` (250 000 per case).
//!
//! Each case runs twice on the same pipeline shape: once with `n` elements (which also warms
//! the allocator up), then with `4 n`. A stage that keeps anything per element (a leak, a queue
//! that is never trimmed, a timer left behind per batch) grows by at least `3 n` × that many
//! bytes between the two runs; a correct one stays flat, since its memory is bounded by its
//! declared prefetch. The consumer is slow on purpose and on a thread of its own (behind
//! `publish_on(consumer, 64)`): it asks for 64 elements at a time and does a little work on
//! each, so every queue in the pipeline fills up. The overload operators get a producer on a
//! thread of its own too, faster than the consumer; what they drop is counted, and delivered
//! plus dropped must be every element.
//!
//! Resident memory is `VmRSS` from `/proc/self/status` (where `/proc` is absent the memory
//! check is skipped and the output says so). Pending timers are counted on a `VirtualTime`
//! clock that drives the time-based stages. The example exits with status 1 when any case
//! grows beyond the allowance, delivers a wrong count, or leaves timers behind.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rstreams::bridge::{from_stream, PublisherFuturesExt};
use rstreams::ops::{merge_all, Overflow, PublisherExt, ThrottleMode};
use rstreams::scheduler::{ThreadPool, VirtualTime};
use rstreams::support::Dropped;
use rstreams::{sink, source, BoxPublisher, Publisher};

/// How much resident memory a case may gain between its `n` and `4 n` runs: a stage that keeps
/// 6 bytes or more per element exceeds it even at CI size (3 × 250 000 extra elements).
const ALLOWANCE: u64 = 4 << 20;

/// The resident set size of this process, in bytes.
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Consumes `publisher` slowly, on a thread of its own behind `publish_on(consumer, 64)`: 64 at
/// a time, a little work per element. Returns how many elements arrived.
fn consume<P>(publisher: P, consumer: &ThreadPool) -> u64
where
    P: Publisher + Send + Sync + 'static,
    P::Item: Send + 'static,
{
    let publisher = publisher.publish_on(consumer.clone(), 64);
    let count = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&count);
    let mut work = 0u64;
    let subscriber = sink::for_each(move |_item: P::Item| {
        // A little work per element: the consumer is the slow side.
        for i in 0..16u64 {
            work = std::hint::black_box(work.wrapping_mul(31).wrapping_add(i));
        }
        seen.fetch_add(1, Ordering::Relaxed);
    })
    .batch(64);
    let done = subscriber.handle();
    publisher.subscribe(subscriber);
    done.wait().expect("the soak pipeline failed");
    count.load(Ordering::Relaxed)
}

/// One case: a pipeline over `range(0, n)`, the drop count of a stage that drops by design (if
/// any), and how many elements reach the consumer for `n` (for a dropping stage: delivered plus
/// dropped).
struct Case {
    name: &'static str,
    build: Box<dyn Fn(u64) -> Built>,
    expected: fn(u64) -> u64,
}

/// A case's pipeline, and the drop count of its stage that drops by design, if any.
type Built = (BoxPublisher<u64>, Option<Dropped>);

/// A case without drops.
fn lossless(p: impl Publisher<Item = u64> + Send + Sync + 'static) -> Built {
    (p.boxed(), None)
}

fn same(n: u64) -> u64 {
    n
}

fn cases(pool: &ThreadPool) -> Vec<Case> {
    let (p, q) = (pool.clone(), pool.clone());
    let (d1, d2, d3) = (pool.clone(), pool.clone(), pool.clone());
    vec![
        Case {
            name: "map / filter / scan",
            build: Box::new(|n| {
                lossless(
                    source::range(0, n)
                        .map(|x| x * 2)
                        .filter(|x| x % 4 == 0)
                        .scan(0u64, |acc, x| {
                            *acc = acc.wrapping_add(x);
                            *acc
                        }),
                )
            }),
            expected: |n| n / 2,
        },
        Case {
            name: "take / skip",
            build: Box::new(|n| lossless(source::range(0, n + 10).skip(10).take(n))),
            expected: same,
        },
        Case {
            name: "buffer(100), flattened",
            build: Box::new(|n| {
                lossless(
                    source::range(0, n)
                        .buffer(100)
                        .flat_map(source::from_iter, 1, 128),
                )
            }),
            expected: same,
        },
        Case {
            name: "limit_rate(256, 64)",
            build: Box::new(|n| lossless(source::range(0, n).limit_rate(256, 64))),
            expected: same,
        },
        Case {
            name: "publish_on(pool, 256)",
            build: Box::new(move |n| lossless(source::range(0, n).publish_on(p.clone(), 256))),
            expected: same,
        },
        Case {
            name: "subscribe_on(pool)",
            build: Box::new(move |n| lossless(source::range(0, n).subscribe_on(q.clone()))),
            expected: same,
        },
        Case {
            name: "flat_map(range(100), 8, 32)",
            build: Box::new(|n| {
                lossless(source::range(0, n / 100).flat_map(|x| source::range(x * 100, 100), 8, 32))
            }),
            expected: |n| n / 100 * 100,
        },
        Case {
            name: "merge of 8 sources",
            build: Box::new(|n| {
                lossless(merge_all(
                    (0..8).map(|k| source::range(k * n, n / 8)).collect(),
                    32,
                ))
            }),
            expected: |n| n / 8 * 8,
        },
        Case {
            name: "concat of 1000 sources",
            build: Box::new(|n| {
                let mut chain = source::range(0, n / 1000).concat(source::range(0, n / 1000));
                for _ in 2..1000 {
                    chain = chain.concat(source::range(0, n / 1000));
                }
                lossless(chain)
            }),
            expected: |n| n / 1000 * 1000,
        },
        Case {
            name: "throttle (enforcing, unreachable rate)",
            build: Box::new(|n| {
                lossless(source::range(0, n).throttle(
                    u64::MAX / 2,
                    Duration::from_secs(1),
                    1 << 40,
                    ThrottleMode::Enforcing,
                ))
            }),
            expected: same,
        },
        Case {
            name: "into_stream(64) / from_stream",
            build: Box::new(|n| {
                lossless(from_stream(source::range(0, n).into_stream(64)).map(|r| r.unwrap()))
            }),
            expected: same,
        },
        // A producer on its own thread, faster than the consumer: the overload operators drop
        // by design, and every drop is counted.
        Case {
            name: "fast producer, on_backpressure_buffer(1024)",
            build: Box::new(move |n| {
                let stage = source::range(0, n)
                    .subscribe_on(d1.clone())
                    .on_backpressure_buffer(1024, Overflow::DropIncoming);
                let dropped = stage.dropped();
                (stage.boxed(), Some(dropped))
            }),
            expected: same,
        },
        Case {
            name: "fast producer, on_backpressure_drop",
            build: Box::new(move |n| {
                let stage = source::range(0, n)
                    .subscribe_on(d2.clone())
                    .on_backpressure_drop();
                let dropped = stage.dropped();
                (stage.boxed(), Some(dropped))
            }),
            expected: same,
        },
        Case {
            name: "fast producer, on_backpressure_latest",
            build: Box::new(move |n| {
                let stage = source::range(0, n)
                    .subscribe_on(d3.clone())
                    .on_backpressure_latest();
                let dropped = stage.dropped();
                (stage.boxed(), Some(dropped))
            }),
            expected: same,
        },
    ]
}

fn main() -> ExitCode {
    let small = std::env::args().any(|a| a == "--small");
    let n: u64 = if small { 250_000 } else { 4_000_000 };
    let pool = ThreadPool::with_name(2, "soak");
    let consumer = ThreadPool::with_name(1, "consumer");
    let mut failed = false;
    let measured = rss_bytes().is_some();
    if !measured {
        println!("note: /proc/self/status is not readable here; memory is not checked");
    }
    println!(
        "{:<42} {:>10} {:>12} {:>12} {:>10}",
        "case", "elements", "rss n", "rss 4n", "growth"
    );
    for case in cases(&pool) {
        let mut rss = [0u64; 2];
        for (k, size) in [n, 4 * n].into_iter().enumerate() {
            let (publisher, dropped) = (case.build)(size);
            let delivered = consume(publisher, &consumer) + dropped.map_or(0, |d| d.count());
            if delivered != (case.expected)(size) {
                println!(
                    "FAIL {}: delivered {delivered}, expected {}",
                    case.name,
                    (case.expected)(size)
                );
                failed = true;
            }
            rss[k] = rss_bytes().unwrap_or(0);
        }
        let growth = rss[1].saturating_sub(rss[0]);
        let verdict = if measured && growth > ALLOWANCE {
            failed = true;
            "GROWS"
        } else {
            "ok"
        };
        println!(
            "{:<42} {:>10} {:>11}K {:>11}K {:>9}K {verdict}",
            case.name,
            4 * n,
            rss[0] / 1024,
            rss[1] / 1024,
            growth / 1024
        );
    }

    // Timers: buffer_timeout arms one per batch and cancels it when the batch fills. On a
    // virtual clock, after many full batches, no more than a few timers may be pending.
    let clock = VirtualTime::new();
    let batches = n / 10;
    let delivered = consume(
        source::range(0, batches * 10)
            .buffer_timeout_on(10, Duration::from_secs(3600), clock.clone())
            .flat_map(source::from_iter, 1, 32),
        &consumer,
    );
    let pending = clock.pending();
    println!(
        "{:<42} {:>10} batches, {delivered} elements, {pending} timers pending",
        "buffer_timeout(10, 1h) on virtual time", batches
    );
    if delivered != batches * 10 || pending > 2 {
        println!("FAIL buffer_timeout: {pending} timers left pending after {batches} full batches");
        failed = true;
    }
    // The same on the default timer (a real clock thread), with resident memory too.
    let before = rss_bytes().unwrap_or(0);
    let delivered = consume(
        source::range(0, batches * 10)
            .buffer_timeout(10, Duration::from_secs(3600))
            .flat_map(source::from_iter, 1, 32),
        &consumer,
    );
    let pending = rstreams::scheduler::timer().pending_timers();
    let growth = rss_bytes().unwrap_or(0).saturating_sub(before);
    println!(
        "{:<42} {:>10} batches, {delivered} elements, {pending} timers pending, {}K grown",
        "buffer_timeout(10, 1h) on the default timer",
        batches,
        growth / 1024
    );
    if delivered != batches * 10 || pending > 2 || (measured && growth > ALLOWANCE) {
        println!("FAIL buffer_timeout on the default timer: {pending} timers left pending");
        failed = true;
    }

    if failed {
        println!("soak: FAILED");
        ExitCode::FAILURE
    } else {
        println!("soak: ok — memory and timers stay flat as the element count grows 4x");
        ExitCode::SUCCESS
    }
}
