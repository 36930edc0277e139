//! Peak memory of a fast producer feeding a slow consumer, for one size per process (peak RSS
//! only grows): `cargo bench -p rstreams-benches --bench memory -- <elements> <rstreams|unbounded_channel>`.
//!
//! rstreams: `range → subscribe_on → publish_on(256) → slow sink`: the producer is held back by
//! demand, so memory should not depend on the number of elements. unbounded_channel: the same
//! producer and consumer around `std::sync::mpsc::channel()`: the queue grows with the
//! backlog. Prints one line: `elements=<n> mode=<m> peak_rss_kib=<k>` (Linux: VmHWM from
//! /proc/self/status).

use std::hint::black_box;
use std::sync::mpsc;

use rstreams::ops::PublisherExt;
use rstreams::scheduler::ThreadPool;
use rstreams::{sink, source, Publisher};

/// About 10× the producer's cost per element.
fn slow_work(x: u64) {
    for _ in 0..64 {
        std::hint::spin_loop();
    }
    black_box(x);
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    // criterion-style harness arguments (--bench) are ignored; the first number is the size.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(200_000);
    let mode = args
        .iter()
        .find(|a| *a == "rstreams" || *a == "unbounded_channel")
        .cloned()
        .unwrap_or_else(|| "rstreams".into());
    match mode.as_str() {
        "rstreams" => {
            let producer = ThreadPool::new(1);
            let consumer = ThreadPool::new(1);
            let s = sink::for_each(slow_work);
            let done = s.handle();
            source::range(0, n)
                .subscribe_on(producer)
                .publish_on(consumer, 256)
                .subscribe(s);
            done.wait().unwrap();
        }
        _ => {
            let (tx, rx) = mpsc::channel();
            let t = std::thread::spawn(move || {
                for i in 0..n {
                    tx.send(i).unwrap();
                }
            });
            for x in rx {
                slow_work(x);
            }
            t.join().unwrap();
        }
    }
    match peak_rss_kib() {
        Some(k) => println!("elements={n} mode={mode} peak_rss_kib={k}"),
        None => println!("elements={n} mode={mode} peak_rss_kib=unavailable"),
    }
}
