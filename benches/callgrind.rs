//! Deterministic cost per element: one case per run, `n` elements (or subscriptions), for
//! `benches/callgrind.sh` to run under `valgrind --tool=callgrind` at two sizes and divide the
//! difference in instructions by the difference in elements (so the fixed costs of the process,
//! the pipeline's setup and valgrind itself cancel out).
//!
//! Every arm does the same work: the source's number goes through one `black_box` in the `map`
//! closure (so the compiler cannot fold the loop away), and the consumer only adds the element
//! to a sum that is black-boxed once at the end. No arm pays an extra `black_box` per element.
//!
//! `cargo build --release -p rstreams-benches --example callgrind`, then
//! `target/release/examples/callgrind <case> <n>`; `callgrind --list` names the cases. The
//! binary also counts heap allocations (a counting global allocator) and prints them on stderr.
//!
//! Subscribing is measured twice: from `empty()` (`subscribe_5_ops_*`), which ends without an
//! engine, and from `range(0, 0)` (`subscribe_5_ops_range`, `_futures_range`), which starts one
//! as every source with elements does.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::executor::block_on;
use futures::{future, stream, StreamExt};
use rstreams::ops::{merge_all, PublisherExt};
use rstreams::{sink, source, Publisher};

/// Counts allocations, so that a run also reports allocations per element / subscription.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation goes there).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `dealloc`; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The lightest consumer: adds the element, nothing else. The sum is black-boxed once, when
/// the sink (and this with it) is dropped at the end of the stream.
struct Sum(u64);

impl Drop for Sum {
    fn drop(&mut self) {
        black_box(self.0);
    }
}

/// Runs `publisher` into the lightest consumer, requesting `batch` at a time.
fn drain<P: Publisher<Item = u64>>(publisher: P, batch: u64) {
    let mut sum = Sum(0);
    sink::for_each(move |x: u64| sum.0 = sum.0.wrapping_add(x))
        .batch(batch)
        .run(&publisher)
        .unwrap();
}

/// Subscribes `source → map → filter → map → filter → take(10)` into the lightest consumer.
fn five_ops_rstreams<P>(source: P)
where
    P: Publisher<Item = u64> + Send + Sync + 'static,
{
    drain(
        source
            .map(|x| x + 1)
            .filter(|x| x % 2 == 0)
            .map(|x| x * 2)
            .filter(|x| x % 3 == 0)
            .take(10),
        u64::MAX,
    )
}

/// The same chain on a futures stream, folded into a sum.
fn five_ops_futures(source: impl futures::Stream<Item = u64>) {
    black_box(block_on(
        source
            .map(|x| x + 1)
            .filter(|x| future::ready(x % 2 == 0))
            .map(|x| x * 2)
            .filter(|x| future::ready(x % 3 == 0))
            .take(10)
            .fold(0u64, |acc, x| future::ready(acc.wrapping_add(x))),
    ));
}

/// (name, unit, what it runs for `n`)
type Case = (&'static str, &'static str, fn(u64));

const CASES: &[Case] = &[
    ("sync_loop", "element", |n| {
        let mut sum = 0u64;
        for i in 0..n {
            let x = black_box(i) * 3;
            if x % 2 == 0 {
                sum = sum.wrapping_add(x);
            }
        }
        black_box(sum);
    }),
    ("sync_rstreams", "element", |n| {
        drain(
            source::range(0, n)
                .map(|i| black_box(i) * 3)
                .filter(|x| x % 2 == 0),
            u64::MAX,
        )
    }),
    ("sync_rstreams_request_256", "element", |n| {
        drain(
            source::range(0, n)
                .map(|i| black_box(i) * 3)
                .filter(|x| x % 2 == 0),
            256,
        )
    }),
    // The same chain with the filter's divisor captured from a variable (as most closures
    // capture something): the closure is shared behind an `Arc`, and the division is a real
    // one, in both arms.
    ("sync_loop_captured", "element", |n| {
        let keep = black_box(2u64);
        let mut sum = 0u64;
        for i in 0..n {
            let x = black_box(i) * 3;
            if x % keep == 0 {
                sum = sum.wrapping_add(x);
            }
        }
        black_box(sum);
    }),
    ("sync_rstreams_captured", "element", |n| {
        let keep = black_box(2u64);
        drain(
            source::range(0, n)
                .map(|i| black_box(i) * 3)
                .filter(move |x| x % keep == 0),
            u64::MAX,
        )
    }),
    // Five more stateless or lightly stateful stages, each closure capturing a variable:
    // whether each stage's per-element path is inlined into the source's loop.
    ("sync_vocabulary_rstreams", "element", |n| {
        let keep = black_box(2u64);
        let limit = black_box(u64::MAX);
        let add = black_box(1u64);
        drain(
            source::range(0, n)
                .skip(1)
                .filter_map(move |x| (x % keep == 0).then_some(x * 3))
                .take_while(move |x| *x < limit)
                .scan(0u64, move |acc, x| {
                    *acc += add;
                    x ^ *acc
                })
                .try_map(move |x| if x == limit { Err("boom") } else { Ok(x) }),
            u64::MAX,
        )
    }),
    ("sync_vocabulary_loop", "element", |n| {
        let keep = black_box(2u64);
        let limit = black_box(u64::MAX);
        let add = black_box(1u64);
        let mut acc = 0u64;
        let mut sum = 0u64;
        for x in 1..n {
            if x % keep != 0 {
                continue;
            }
            let x = x * 3;
            if x >= limit {
                break;
            }
            acc += add;
            let y = x ^ acc;
            if y == limit {
                break;
            }
            sum = sum.wrapping_add(y);
        }
        black_box(sum);
    }),
    ("sync_rstreams_from_iter", "element", |n| {
        drain(
            source::from_iter(0..n)
                .map(|i| black_box(i) * 3)
                .filter(|x| x % 2 == 0),
            u64::MAX,
        )
    }),
    ("sync_futures", "element", |n| {
        black_box(block_on(
            stream::iter(0..n)
                .map(|i| black_box(i) * 3)
                .filter(|x| future::ready(x % 2 == 0))
                .fold(0u64, |acc, x| future::ready(acc.wrapping_add(x))),
        ));
    }),
    ("flat_map_loop", "element", |n| {
        let mut sum = 0u64;
        for x in 0..n / 10 {
            for y in black_box(x) * 10..x * 10 + 10 {
                sum = sum.wrapping_add(y);
            }
        }
        black_box(sum);
    }),
    ("flat_map_rstreams", "element", |n| {
        drain(
            source::range(0, n / 10).flat_map(|x| source::range(black_box(x) * 10, 10), 8, 32),
            u64::MAX,
        )
    }),
    ("flat_map_futures", "element", |n| {
        black_box(block_on(
            stream::iter(0..n / 10)
                .flat_map(|x| stream::iter(black_box(x) * 10..x * 10 + 10))
                .fold(0u64, |acc, x| future::ready(acc.wrapping_add(x))),
        ));
    }),
    ("concat_map_rstreams", "element", |n| {
        drain(
            source::range(0, n / 10).concat_map(|x| source::range(black_box(x) * 10, 10), 32),
            u64::MAX,
        )
    }),
    ("merge_8_rstreams", "element", |n| {
        let per = n / 8;
        drain(
            merge_all((0..8).map(|k| source::range(k * per, per)).collect(), 256),
            u64::MAX,
        )
    }),
    ("merge_8_futures", "element", |n| {
        let per = n / 8;
        black_box(block_on(
            stream::select_all((0..8).map(|k| stream::iter(k * per..(k + 1) * per)))
                .fold(0u64, |acc, x| future::ready(acc.wrapping_add(x))),
        ));
    }),
    ("subscribe_5_ops_rstreams", "subscription", |n| {
        for _ in 0..n {
            five_ops_rstreams(source::empty::<u64>());
        }
    }),
    ("subscribe_5_ops_range", "subscription", |n| {
        for _ in 0..n {
            five_ops_rstreams(source::range(0, 0));
        }
    }),
    // A `take` that reaches its count cancels its upstream: the engine's cancel path.
    ("subscribe_take_10_of_1000", "subscription", |n| {
        for _ in 0..n {
            drain(source::range(0, 1000).take(10), u64::MAX);
        }
    }),
    ("subscribe_5_ops_futures_range", "subscription", |n| {
        for _ in 0..n {
            five_ops_futures(stream::iter(0..0u64));
        }
    }),
    ("subscribe_5_ops_futures", "subscription", |n| {
        for _ in 0..n {
            five_ops_futures(stream::empty::<u64>());
        }
    }),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--list") {
        for (name, unit, _) in CASES {
            println!("{name} {unit}");
        }
        return;
    }
    let (Some(name), Some(n)) = (
        args.first(),
        args.get(1).and_then(|n| n.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: callgrind <case> <n> | callgrind --list");
        std::process::exit(2);
    };
    let Some((_, unit, run)) = CASES.iter().find(|(case, _, _)| case == name) else {
        eprintln!("unknown case {name}; callgrind --list names them");
        std::process::exit(2);
    };
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    run(n);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    eprintln!("case={name} n={n} unit={unit} allocations={allocations}");
}
