//! The main example: a source far faster than its consumer, through buffer → flat_map with
//! bounded concurrency → throttle → sink, watched the way you would watch it in production:
//! named stages in a registry, and a stall detector.
//!
//! Run: `cargo run --release --example pipeline` (200 000 readings at 100 000/s: about 2 s).
//! For CI: `cargo run --release --example pipeline -- --small` (20 000 readings, about 0.2 s),
//! or give the number of readings: `-- 50000`.
//!
//! The stages:
//!
//! 1. **source**: pseudo-readings read line by line from a file the example writes first
//!    (`try_from_iter_once` over `BufReader::lines()`: an I/O error would end the stream with
//!    it), parsed, and deduplicated consecutively (`distinct_until_changed`). On its own it runs
//!    at millions of lines per second (measured first, below).
//! 2. **`buffer(100)`**: batches of 100.
//! 3. **`flat_map(.., 4, 32)`**: each batch is processed on a 2-thread pool, at most 4
//!    batches at once, 32 elements prefetched from each.
//! 4. **`throttle(1000 per 10 ms)`**: the consumer's rate, 100 000 elements/s (shaping:
//!    it asks upstream only for what its token bucket allows, so it queues nothing).
//! 5. **sink**: `for_each`, requesting 256 at a time.
//!
//! Nothing in the chain asks for more than it can hold, so the source is slowed to the
//! throttle's pace instead of filling a queue: it never runs more than 4 batches ahead of the
//! sink.
//!
//! What you see is rstreams' own observability (`rstreams::observe`), not counters written for
//! the example: `.name("source")` after a stage is a pass-through point that counts what passes
//! it (elements, demand, outstanding demand, state) in a `Registry`; `.observe_segment` around
//! the throttle also counts what entered it, so the registry knows what the throttle holds; a
//! `StallDetector` scans the registry for stages with outstanding demand and no signal. The
//! example reads the registry while the pipeline runs (the source's lead over the sink, what
//! the throttle holds) and when it ended (every stage's totals), and exits with status 1 if an
//! element is lost, the checksum differs, a stage held more than its declared bound, a stall was
//! reported, or the throttle let more through than its rate.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rstreams::observe::{ObserveExt, Registry, Stage, StageState, StallDetector};
use rstreams::ops::{PublisherExt, ThrottleMode};
use rstreams::scheduler::ThreadPool;
use rstreams::{sink, source, Publisher};

const BATCH: usize = 100;
const CONCURRENCY: usize = 4;
const PREFETCH: usize = 32;
const RATE_ELEMENTS: u64 = 1_000; // per RATE_PERIOD: 100 000 elements/s
const RATE_PERIOD: Duration = Duration::from_millis(10);
const BURST: u64 = 1_000;
const SINK_BATCH: u64 = 256;
/// A stage with outstanding demand and no signal for this long is reported as stalled. Far
/// above any gap of a healthy run, even on a loaded machine.
const STALL_AFTER: Duration = Duration::from_secs(2);
/// How often the example samples the registry while the pipeline runs.
const SAMPLE_EVERY: Duration = Duration::from_millis(1);

/// A deterministic pseudo-reading.
fn reading(i: u64) -> u64 {
    (i * 7919) % 1_000
}

/// The work done on each reading inside `flat_map`.
fn enrich(r: u64) -> u64 {
    r * 3 + 1
}

/// Writes readings `0..n`, one per line, to a file of its own in the temporary directory.
fn write_readings(n: u64) -> std::io::Result<PathBuf> {
    let path = std::env::temp_dir().join(format!("rstreams-pipeline-{}.txt", std::process::id()));
    let mut out = BufWriter::new(File::create(&path)?);
    for i in 0..n {
        writeln!(out, "{}", reading(i))?;
    }
    out.flush()?;
    Ok(path)
}

/// The readings of `path`, one per line: an I/O error ends the stream with it, a line that is not
/// a number fails it (`try_map`'s `Err`). Consecutive equal readings are collapsed: the
/// generator never repeats one, so none are, and the counts below stay exact.
fn read_readings(path: &Path) -> std::io::Result<impl Publisher<Item = u64>> {
    let lines = BufReader::new(File::open(path)?).lines();
    Ok(source::try_from_iter_once(lines)
        .try_map(|line: String| line.trim().parse::<u64>().map_err(rstreams::Error::new))
        .distinct_until_changed())
}

fn count_arg() -> u64 {
    match std::env::args().nth(1).as_deref() {
        None => 200_000,
        Some("--small") => 20_000,
        Some(n) => n.parse().unwrap_or_else(|_| {
            eprintln!("usage: pipeline [--small | NUMBER_OF_READINGS]");
            std::process::exit(2);
        }),
    }
}

/// The items that passed the named point `name` so far (0 before it was subscribed).
fn items(registry: &Registry, name: &str) -> u64 {
    registry.stage(name).iter().map(|s| s.items).sum()
}

fn main() {
    let n = count_arg();
    let path = write_readings(n).expect("writing the readings file");

    // The source on its own, with unbounded demand: how fast it could go.
    let started = Instant::now();
    let alone = sink::collect(&read_readings(&path).expect("opening the readings file"))
        .expect("the source alone failed");
    let raw_elapsed = started.elapsed();
    assert_eq!(alone.len() as u64, n);

    // The pipeline, with a named point after each stage, all in one registry.
    let registry = Registry::new();
    let stage = |name: &str| Stage::new(name).registry(&registry);
    let workers = ThreadPool::with_name(2, "worker");
    let pipeline = read_readings(&path)
        .expect("opening the readings file")
        .observe(stage("source"))
        .buffer(BATCH)
        .observe(stage("buffer"))
        .flat_map(
            move |batch: Vec<u64>| {
                source::from_iter(batch)
                    .map(enrich)
                    .subscribe_on(workers.clone())
            },
            CONCURRENCY,
            PREFETCH,
        )
        .observe(stage("flat_map"))
        // A segment: counts what enters the throttle and what leaves it.
        .observe_segment(stage("throttle"), |entry| {
            entry.throttle(RATE_ELEMENTS, RATE_PERIOD, BURST, ThrottleMode::Shaping)
        });

    // Stalls are reported as they happen, once each, from the detector's own thread.
    let watch = StallDetector::new(STALL_AFTER)
        .registry(&registry)
        .on_stall(|stall| eprintln!("pipeline: {stall}"))
        .start();

    let sum = Arc::new(AtomicU64::new(0));
    let s = sum.clone();
    let consumer = sink::for_each(move |x: u64| {
        s.fetch_add(x, Ordering::Relaxed);
    })
    .batch(SINK_BATCH);
    let handle = consumer.handle();

    // While it runs, sample the registry: how far the source is ahead of the sink, and what
    // the throttle holds. The upstream figure is read first, so a sample never overstates.
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (registry, done) = (registry.clone(), done.clone());
        std::thread::spawn(move || {
            let (mut max_ahead, mut max_in_throttle) = (0, 0);
            while !done.load(Ordering::Acquire) {
                let source_out = items(&registry, "source");
                let at_sink = items(&registry, "throttle");
                max_ahead = max_ahead.max(source_out.saturating_sub(at_sink));
                let in_throttle = registry
                    .stage("throttle")
                    .iter()
                    .filter_map(|s| s.in_flight)
                    .max();
                max_in_throttle = max_in_throttle.max(in_throttle.unwrap_or(0));
                std::thread::sleep(SAMPLE_EVERY);
            }
            (max_ahead, max_in_throttle)
        })
    };

    let started = Instant::now();
    pipeline.subscribe(consumer);
    let result = handle.wait();
    let elapsed = started.elapsed();
    done.store(true, Ordering::Release);
    let (max_ahead, max_in_throttle) = sampler.join().expect("the sampler panicked");
    let stalls = watch.stalled();
    watch.stop();
    let _ = std::fs::remove_file(&path);
    if let Err(e) = result {
        eprintln!("pipeline: FAILED: the stream ended with an error: {e}");
        std::process::exit(1);
    }

    let rate = RATE_ELEMENTS as f64 / RATE_PERIOD.as_secs_f64();
    let expected_sum: u64 = (0..n).map(|i| enrich(reading(i))).sum();
    let at_sink = items(&registry, "throttle");
    println!(
        "pipeline: file lines -> parse -> distinct_until_changed -> buffer({BATCH}) -> flat_map({CONCURRENCY} at once on a 2-thread pool, prefetch {PREFETCH}) \
         -> throttle({RATE_ELEMENTS} per {RATE_PERIOD:?}) -> for_each(batch {SINK_BATCH})"
    );
    println!(
        "  the source alone (reading the file, unbounded demand): {n} readings in {:.1} ms = {:.1} M/s",
        raw_elapsed.as_secs_f64() * 1e3,
        n as f64 / raw_elapsed.as_secs_f64() / 1e6
    );
    println!(
        "  through the pipeline:                {at_sink} readings in {:.2} s = {:.1} k/s at the sink (throttle: {:.0} k/s)",
        elapsed.as_secs_f64(),
        at_sink as f64 / elapsed.as_secs_f64() / 1e3,
        rate / 1e3
    );
    println!();
    println!(
        "  the registry, once the stream completed (one row per named point, after its stage):"
    );
    println!(
        "  {:<10} {:>8} {:>20} {:>12} {:>10}",
        "stage", "items", "requested of it", "outstanding", "state"
    );
    // In the pipeline's order (the registry lists subscriptions in the order they registered).
    let stages = ["source", "buffer", "flat_map", "throttle"];
    let snapshot: Vec<_> = stages
        .iter()
        .flat_map(|name| registry.stage(name))
        .collect();
    let demand = |d: u64| match d {
        u64::MAX => "unbounded".to_string(),
        d => d.to_string(),
    };
    for s in &snapshot {
        println!(
            "  {:<10} {:>8} {:>20} {:>12} {:>10}",
            s.name,
            s.items,
            demand(s.requested),
            demand(s.outstanding),
            s.state.as_str()
        );
    }
    println!(
        "  buffer's items are batches of {BATCH}; the throttle is a segment: {} entered it.",
        snapshot.iter().find_map(|s| s.entered).unwrap_or(0)
    );
    println!();
    println!(
        "  sampled every {SAMPLE_EVERY:?} while it ran: the source ahead of the sink by at most {max_ahead} readings \
         (bound: {CONCURRENCY} batches of {BATCH} = {}); the throttle held at most {max_in_throttle} \
         (it queues nothing: 1 in transit)",
        CONCURRENCY * BATCH
    );
    println!(
        "  stalls reported (no signal for {STALL_AFTER:?} with demand outstanding): {}",
        stalls.len()
    );
    println!(
        "  checksum at the sink: {} (expected {expected_sum})",
        sum.load(Ordering::Relaxed)
    );

    // The example's own assertions: nothing lost, everything bounded as declared.
    let mut failures = Vec::new();
    let batches = n.div_ceil(BATCH as u64);
    let expected = [
        ("source", n),
        ("buffer", batches),
        ("flat_map", n),
        ("throttle", n),
    ];
    for (name, count) in expected {
        let got = items(&registry, name);
        if got != count {
            failures.push(format!(
                "stage `{name}` let {got} through, expected {count}"
            ));
        }
    }
    if snapshot.len() != expected.len() || snapshot.iter().any(|s| s.state != StageState::Completed)
    {
        failures.push(format!(
            "every named point should have completed: {snapshot:?}"
        ));
    }
    if sum.load(Ordering::Relaxed) != expected_sum {
        failures.push("the checksum differs".to_string());
    }
    if max_ahead > (CONCURRENCY * BATCH) as u64 {
        failures.push("the source ran further ahead than flat_map's batches".to_string());
    }
    if max_in_throttle > 1 {
        failures.push(format!(
            "the throttle held {max_in_throttle} elements at once"
        ));
    }
    if !stalls.is_empty() {
        failures.push(format!("{} stall(s) reported", stalls.len()));
    }
    // The throttle's guarantee: by time t, at most burst + elements x floor(t / per) have
    // passed. Its clock started after `started`, so `elapsed` only makes the bound looser.
    let periods = (elapsed.as_nanos() / RATE_PERIOD.as_nanos()) as u64;
    let allowed_by_throttle = BURST + RATE_ELEMENTS * periods;
    if at_sink > allowed_by_throttle {
        failures.push(format!(
            "the throttle let {at_sink} through in {elapsed:?}, more than burst + rate x time = {allowed_by_throttle}"
        ));
    }
    if !failures.is_empty() {
        for f in failures {
            eprintln!("pipeline: FAILED: {f}");
        }
        std::process::exit(1);
    }
}
