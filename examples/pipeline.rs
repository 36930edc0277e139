//! The main example: a source far faster than its consumer, through buffer → flat_map with
//! bounded concurrency → throttle → sink, with a per-stage account of what went in, what came
//! out, and how much each stage held.
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
//! sink. Every number printed is counted: a `map` after each stage counts what leaves it, and
//! "max held" (a stage's input minus its output) is sampled in the sink at every element. The
//! example exits with status 1 if an element is lost, the checksum differs, or a stage held
//! more than its declared bound.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
/// a number fails it (a panic in `map` becomes `on_error`). Consecutive equal readings are
/// collapsed: the generator never repeats one, so none are, and the counts below stay exact.
fn read_readings(path: &Path) -> std::io::Result<impl Publisher<Item = u64>> {
    let lines = BufReader::new(File::open(path)?).lines();
    Ok(source::try_from_iter_once(lines)
        .map(|line: String| line.trim().parse::<u64>().expect("one reading per line"))
        .distinct_until_changed())
}

/// What each stage let out, counted by a `map` right after it.
#[derive(Default)]
struct Counts {
    source_out: AtomicU64,
    buffer_out_batches: AtomicU64,
    buffer_out_elements: AtomicU64,
    /// Elements the inner publishers of `flat_map` emitted into its queues.
    inners_out: AtomicU64,
    flat_map_out: AtomicU64,
    sink_in: AtomicU64,
    sink_sum: AtomicU64,
    // Sampled in the sink at every element: the most each stage held at once.
    max_buffer_held: AtomicU64,
    max_flat_map_queued: AtomicU64,
    max_throttle_held: AtomicU64,
    max_source_ahead: AtomicU64,
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

fn main() {
    let n = count_arg();
    let path = write_readings(n).expect("writing the readings file");

    // The source on its own, with unbounded demand: how fast it could go.
    let raw_sum = Arc::new(AtomicU64::new(0));
    let s = raw_sum.clone();
    let alone = sink::for_each(move |r: u64| {
        s.fetch_add(r, Ordering::Relaxed);
    });
    let done = alone.handle();
    let started = Instant::now();
    read_readings(&path)
        .expect("opening the readings file")
        .subscribe(alone);
    done.wait().expect("the source alone failed");
    let raw_elapsed = started.elapsed();

    // The pipeline.
    let c = Arc::new(Counts::default());
    let workers = ThreadPool::with_name(2, "worker");

    let readings = {
        let c = c.clone();
        read_readings(&path)
            .expect("opening the readings file")
            .map(move |r| {
                c.source_out.fetch_add(1, Ordering::Relaxed);
                r
            })
    };
    let batched = {
        let c = c.clone();
        readings.buffer(BATCH).map(move |batch: Vec<u64>| {
            c.buffer_out_batches.fetch_add(1, Ordering::Relaxed);
            c.buffer_out_elements
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            batch
        })
    };
    let processed = {
        let c = c.clone();
        let (c2, workers) = (c.clone(), workers.clone());
        batched
            .flat_map(
                move |batch: Vec<u64>| {
                    let c = c2.clone();
                    source::from_iter(batch)
                        .map(move |r| {
                            c.inners_out.fetch_add(1, Ordering::Relaxed);
                            enrich(r)
                        })
                        .subscribe_on(workers.clone())
                },
                CONCURRENCY,
                PREFETCH,
            )
            .map(move |x| {
                c.flat_map_out.fetch_add(1, Ordering::Relaxed);
                x
            })
    };
    let paced = processed.throttle(RATE_ELEMENTS, RATE_PERIOD, BURST, ThrottleMode::Shaping);

    let sink = {
        let c = c.clone();
        sink::for_each(move |x: u64| {
            let received = c.sink_in.fetch_add(1, Ordering::Relaxed) + 1;
            c.sink_sum.fetch_add(x, Ordering::Relaxed);
            // Sample what each stage holds right now: its input minus its output.
            let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
            let flat_out = load(&c.flat_map_out);
            let buffer_held = load(&c.source_out).saturating_sub(load(&c.buffer_out_elements));
            let queued = load(&c.inners_out).saturating_sub(flat_out);
            let throttle_held = flat_out.saturating_sub(received);
            let ahead = load(&c.source_out).saturating_sub(received);
            c.max_buffer_held.fetch_max(buffer_held, Ordering::Relaxed);
            c.max_flat_map_queued.fetch_max(queued, Ordering::Relaxed);
            c.max_throttle_held
                .fetch_max(throttle_held, Ordering::Relaxed);
            c.max_source_ahead.fetch_max(ahead, Ordering::Relaxed);
        })
        .batch(SINK_BATCH)
    };
    let handle = sink.handle();
    let started = Instant::now();
    paced.subscribe(sink);
    let result = handle.wait();
    let elapsed = started.elapsed();
    let _ = std::fs::remove_file(&path);
    if let Err(e) = result {
        eprintln!("pipeline: FAILED: the stream ended with an error: {e}");
        std::process::exit(1);
    }

    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let source_out = get(&c.source_out);
    let batches = get(&c.buffer_out_batches);
    let buffer_out = get(&c.buffer_out_elements);
    let flat_out = get(&c.flat_map_out);
    let sink_in = get(&c.sink_in);
    let rate = RATE_ELEMENTS as f64 / RATE_PERIOD.as_secs_f64();
    let expected_sum: u64 = (0..n).map(|i| enrich(reading(i))).sum();

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
        "  through the pipeline:                {sink_in} readings in {:.2} s = {:.1} k/s at the sink (throttle: {:.0} k/s)",
        elapsed.as_secs_f64(),
        sink_in as f64 / elapsed.as_secs_f64() / 1e3,
        rate / 1e3
    );
    println!();
    let row = |cells: [String; 6]| {
        let [stage, input, output, lost, held, bound] = cells;
        println!("  {stage:<20} {input:>14} {output:>16} {lost:>5} {held:>9} {bound:>6}");
    };
    let dash = || "-".to_string();
    row([
        "stage".into(),
        "in".into(),
        "out".into(),
        "lost".into(),
        "max held".into(),
        "bound".into(),
    ]);
    row([
        "source".into(),
        dash(),
        format!("{source_out} el."),
        dash(),
        dash(),
        dash(),
    ]);
    row([
        format!("buffer({BATCH})"),
        format!("{source_out} el."),
        format!("{batches} batches"),
        (source_out - buffer_out.min(source_out)).to_string(),
        get(&c.max_buffer_held).to_string(),
        (BATCH - 1).to_string(),
    ]);
    row([
        format!("flat_map({CONCURRENCY}, {PREFETCH})"),
        format!("{buffer_out} el."),
        format!("{flat_out} el."),
        (buffer_out - flat_out.min(buffer_out)).to_string(),
        get(&c.max_flat_map_queued).to_string(),
        (CONCURRENCY * PREFETCH).to_string(),
    ]);
    row([
        "throttle (shaping)".into(),
        format!("{flat_out} el."),
        format!("{sink_in} el."),
        (flat_out - sink_in.min(flat_out)).to_string(),
        get(&c.max_throttle_held).to_string(),
        "0".into(),
    ]);
    row([
        format!("sink (batch {SINK_BATCH})"),
        format!("{sink_in} el."),
        dash(),
        dash(),
        dash(),
        dash(),
    ]);
    println!();
    println!("  flat_map took its {buffer_out} elements in {batches} batches.");
    println!("  lost     = in - out, in elements, once the stream completed.");
    println!("  max held = in - out, sampled in the sink at every element: buffer's partial batch");
    println!(
        "             (the source fills each batch within one request, so the sink never sees"
    );
    println!("             one half full), flat_map's inner queues, throttle's nothing (it shapes");
    println!(
        "             demand instead of queueing). bound = what the operators' arguments allow."
    );
    println!(
        "  the source ran at most {} readings ahead of the sink (bound: {CONCURRENCY} batches of {BATCH} = {}), \
         with {n} to produce.",
        get(&c.max_source_ahead),
        CONCURRENCY * BATCH
    );
    println!(
        "  checksum at the sink: {} (expected {expected_sum})",
        get(&c.sink_sum)
    );

    // The example's own assertions: nothing lost, everything bounded as declared.
    // The throttle's guarantee: by time t, at most burst + elements x floor(t / per) have
    // passed. Its clock started after `started`, so `elapsed` only makes the bound looser.
    let periods = (elapsed.as_nanos() / RATE_PERIOD.as_nanos()) as u64;
    let allowed_by_throttle = BURST + RATE_ELEMENTS * periods;
    let mut failures = Vec::new();
    if source_out != n || buffer_out != n || flat_out != n || sink_in != n {
        failures.push(format!(
            "elements lost: {n} readings, {source_out} out of the source, {buffer_out} out of buffer, \
             {flat_out} out of flat_map, {sink_in} at the sink"
        ));
    }
    if get(&c.sink_sum) != expected_sum {
        failures.push("the checksum differs".to_string());
    }
    if get(&c.max_buffer_held) > (BATCH - 1) as u64 {
        failures.push("buffer held more than a partial batch".to_string());
    }
    if get(&c.max_flat_map_queued) > (CONCURRENCY * PREFETCH) as u64 {
        failures.push("flat_map queued more than max_concurrency x prefetch".to_string());
    }
    if get(&c.max_source_ahead) > (CONCURRENCY * BATCH) as u64 {
        failures.push("the source ran further ahead than flat_map's batches".to_string());
    }
    if sink_in > allowed_by_throttle {
        failures.push(format!(
            "the throttle let {sink_in} through in {elapsed:?}, more than burst + rate x time = {allowed_by_throttle}"
        ));
    }
    if !failures.is_empty() {
        for f in failures {
            eprintln!("pipeline: FAILED: {f}");
        }
        std::process::exit(1);
    }
}
