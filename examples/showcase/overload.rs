//! The failure rstreams exists to prevent: a producer 10× faster than its consumer, once through
//! an unbounded queue and once through bounded demand, with memory and latency measured for
//! both and drawn to `overload.svg`.
//!
//! Run: `cargo run --release -p rstreams-showcase --example overload` (two runs of 2 s each).
//! For CI: `cargo run --release -p rstreams-showcase --example overload -- --small` (two runs
//! of 0.15 s). Add `--out PATH` to write the chart elsewhere than `./overload.svg`.
//!
//! The same producer (10 µs of simulated work per element: up to 100 000 elements/s) and the
//! same consumer (100 µs per element: 10 000/s) are connected twice, for the same time:
//!
//! - **A, unbounded queue**: `std::sync::mpsc::channel`, a producer thread sending as fast as
//!   it can, a consumer thread receiving. The queue grows by 90 000 elements a second, and so
//!   do memory and the time each element waits.
//! - **B, rstreams**: `from_iter(producer).subscribe_on(producer thread)
//!   .publish_on(consumer thread, 64)` into a `for_each` consumer. `publish_on` asks for 64
//!   and then for 48 more each time 48 were consumed, so the producer is asked only for what
//!   the consumer can take: memory and latency stay flat.
//!
//! The comparison is honest for a producer that can wait to be asked (a file, a database
//! cursor, a paginated API): in B it is slowed to the consumer's pace and nothing is lost. A
//! producer that cannot wait (a sensor, a socket) needs a policy instead
//! (`on_backpressure_drop`, `_latest`, `_buffer`), which keeps memory flat by dropping elements
//! and counting them.
//!
//! Memory is the process's resident set size (`VmRSS` in `/proc/self/status`) sampled every
//! 5 ms by a thread, as growth over the start of each run; where `/proc` is absent the chart
//! shows the number of elements in flight × their size instead, and the output says so. Latency
//! is, per element, the time the consumer took it minus the time the producer made it. The
//! example exits with status 1 if B ever had more elements in flight than its prefetch allows,
//! or if A's queue did not outgrow B's.

use std::error::Error as StdError;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use plotters::prelude::*;
use rstreams::ops::PublisherExt;
use rstreams::scheduler::ThreadPool;
use rstreams::{sink, source, Publisher};

const PRODUCE_COST: Duration = Duration::from_micros(10);
const CONSUME_COST: Duration = Duration::from_micros(100);
const PAYLOAD: usize = 256;
const PREFETCH: usize = 64;
const SAMPLE_EVERY: Duration = Duration::from_millis(5);

/// What flows: when it was made, and a payload that occupies memory.
struct Element {
    made: Instant,
    payload: Vec<u8>,
}

const ELEMENT_BYTES: usize = std::mem::size_of::<Element>() + PAYLOAD;

/// Simulated work of `cost` per call on average, without burning a CPU: the caller sleeps
/// whenever it is a millisecond or more ahead of its schedule. Up to 2 ms of idle time counts
/// towards the schedule (it absorbs the overshoot of `sleep`); longer idle time does not.
#[derive(Clone)]
struct Pace {
    cost: Duration,
    next: Instant,
}

impl Pace {
    fn new(cost: Duration) -> Self {
        Pace {
            cost,
            next: Instant::now(),
        }
    }

    fn work(&mut self) {
        let now = Instant::now();
        if now > self.next + Duration::from_millis(2) {
            self.next = now;
        }
        self.next += self.cost;
        let ahead = self.next.saturating_duration_since(now);
        if ahead >= Duration::from_millis(1) {
            thread::sleep(ahead);
        }
    }
}

/// The producer's work: make element number `seq`.
fn make(pace: &mut Pace, seq: u64) -> Element {
    pace.work();
    Element {
        made: Instant::now(),
        payload: vec![seq as u8; PAYLOAD],
    }
}

/// The consumer's work on one element.
fn consume(pace: &mut Pace, element: &Element) {
    let sum: u64 = element.payload.iter().map(|&b| u64::from(b)).sum();
    std::hint::black_box(sum);
    pace.work();
}

/// Counters shared by the producer, the consumer and the sampler of one run.
#[derive(Default)]
struct Live {
    produced: AtomicU64,
    consumed: AtomicU64,
}

impl Live {
    fn in_flight(&self) -> u64 {
        // Produced first: a consumption seen after it only makes the difference smaller.
        let produced = self.produced.load(Ordering::SeqCst);
        produced.saturating_sub(self.consumed.load(Ordering::SeqCst))
    }
}

/// One sample of the sampler thread.
#[derive(Clone, Copy)]
struct MemSample {
    t: f64,
    rss: Option<u64>,
    in_flight: u64,
}

/// The resident set size of this process, in bytes, from `/proc/self/status` (Linux).
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Samples memory and elements in flight every `SAMPLE_EVERY` until `stop` is set.
fn sampler(
    live: Arc<Live>,
    start: Instant,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<Vec<MemSample>> {
    thread::spawn(move || {
        let mut samples = Vec::new();
        loop {
            samples.push(MemSample {
                t: start.elapsed().as_secs_f64(),
                rss: rss_bytes(),
                in_flight: live.in_flight(),
            });
            if stop.load(Ordering::Acquire) {
                return samples;
            }
            thread::sleep(SAMPLE_EVERY);
        }
    })
}

/// What one run measured.
struct Run {
    name: &'static str,
    produced: u64,
    consumed: u64,
    /// (time since the start of the run, latency), in seconds and milliseconds.
    latencies: Vec<(f64, f64)>,
    memory: Vec<MemSample>,
}

impl Run {
    fn peak_in_flight(&self) -> u64 {
        self.memory.iter().map(|s| s.in_flight).max().unwrap_or(0)
    }

    /// Peak RSS minus RSS at the start of the run, if RSS could be read.
    fn rss_growth(&self) -> Option<u64> {
        let base = self.memory.first()?.rss?;
        let peak = self.memory.iter().filter_map(|s| s.rss).max()?;
        Some(peak.saturating_sub(base))
    }

    /// p50, p99 and max latency in milliseconds.
    fn percentiles(&self) -> (f64, f64, f64) {
        let mut l: Vec<f64> = self.latencies.iter().map(|&(_, ms)| ms).collect();
        if l.is_empty() {
            return (0.0, 0.0, 0.0);
        }
        l.sort_by(f64::total_cmp);
        let at = |q: f64| l[((l.len() - 1) as f64 * q).round() as usize];
        (at(0.50), at(0.99), l[l.len() - 1])
    }
}

/// A latency log with room for the whole run, its memory touched before the run starts, so that
/// the RSS measured during the run is the pipeline's, not the log's.
fn latency_log(duration: Duration) -> Vec<(f64, f64)> {
    let room = (duration.as_secs_f64() / CONSUME_COST.as_secs_f64() * 1.5) as usize + 1_024;
    let mut log = vec![(-1.0, -1.0); room];
    log.clear();
    log
}

/// "12.3 MiB" or "18.5 KiB".
fn bytes(n: u64) -> String {
    if n as f64 >= MIB {
        format!("{:.1} MiB", n as f64 / MIB)
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

/// A: a producer thread and a consumer thread joined by an unbounded channel.
fn run_unbounded(duration: Duration) -> Run {
    let live = Arc::new(Live::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<Element>();
    let mut latencies = latency_log(duration);
    let start = Instant::now();
    let deadline = start + duration;
    let sampling = sampler(live.clone(), start, stop.clone());

    let producer = {
        let live = live.clone();
        thread::spawn(move || {
            let mut pace = Pace::new(PRODUCE_COST);
            let mut seq = 0;
            while Instant::now() < deadline {
                let element = make(&mut pace, seq);
                live.produced.fetch_add(1, Ordering::SeqCst);
                if tx.send(element).is_err() {
                    break;
                }
                seq += 1;
            }
        })
    };
    let consumer = {
        let live = live.clone();
        thread::spawn(move || {
            let mut pace = Pace::new(CONSUME_COST);
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let Ok(element) = rx.recv_timeout(left) else {
                    break;
                };
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                live.consumed.fetch_add(1, Ordering::SeqCst);
                latencies.push((
                    (now - start).as_secs_f64(),
                    (now - element.made).as_secs_f64() * 1e3,
                ));
                consume(&mut pace, &element);
            }
            (latencies, rx) // the receiver, and the backlog in it, outlive the sampling
        })
    };
    producer.join().expect("the producer panicked");
    let (latencies, backlog) = consumer.join().expect("the consumer panicked");
    stop.store(true, Ordering::Release);
    let memory = sampling.join().expect("the sampler panicked");
    drop(backlog);
    Run {
        name: "A. unbounded mpsc",
        produced: live.produced.load(Ordering::SeqCst),
        consumed: live.consumed.load(Ordering::SeqCst),
        latencies,
        memory,
    }
}

/// B: the same producer and consumer, joined by rstreams with bounded demand.
fn run_rstreams(duration: Duration) -> Run {
    let live = Arc::new(Live::default());
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(latency_log(duration)));
    let producer_thread = ThreadPool::with_name(1, "producer");
    let consumer_thread = ThreadPool::with_name(1, "consumer");
    let start = Instant::now();
    let deadline = start + duration;
    let sampling = sampler(live.clone(), start, stop.clone());

    // The producer, as an iterator: it makes an element each time the source is asked for one.
    let producer = {
        let live = live.clone();
        let mut pace = Pace::new(PRODUCE_COST);
        let mut seq = 0;
        std::iter::from_fn(move || {
            if Instant::now() >= deadline {
                return None;
            }
            let element = make(&mut pace, seq);
            live.produced.fetch_add(1, Ordering::SeqCst);
            seq += 1;
            Some(element)
        })
    };
    let pipeline = source::from_iter(producer)
        .subscribe_on(producer_thread)
        .publish_on(consumer_thread, PREFETCH);
    let consumer = {
        let live = live.clone();
        let latencies = latencies.clone();
        let mut pace = Pace::new(CONSUME_COST);
        sink::for_each(move |element: Element| {
            let now = Instant::now();
            if now >= deadline {
                return; // the run is over; what is still queued is not consumed
            }
            live.consumed.fetch_add(1, Ordering::SeqCst);
            latencies.lock().unwrap_or_else(|e| e.into_inner()).push((
                (now - start).as_secs_f64(),
                (now - element.made).as_secs_f64() * 1e3,
            ));
            consume(&mut pace, &element);
        })
    };
    let handle = consumer.handle();
    pipeline.subscribe(consumer);
    let ended = handle.wait_timeout(duration + Duration::from_millis(100));
    handle.cancel();
    if let Some(Err(e)) = ended {
        eprintln!("overload: FAILED: the rstreams run ended with an error: {e}");
        std::process::exit(1);
    }
    stop.store(true, Ordering::Release);
    let memory = sampling.join().expect("the sampler panicked");
    let latencies = std::mem::take(&mut *latencies.lock().unwrap_or_else(|e| e.into_inner()));
    Run {
        name: "B. rstreams publish_on(64)",
        produced: live.produced.load(Ordering::SeqCst),
        consumed: live.consumed.load(Ordering::SeqCst),
        latencies,
        memory,
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// Memory of a sample for the chart, in MiB: RSS growth if known, else elements in flight ×
/// their size.
fn chart_memory(run: &Run, use_rss: bool) -> Vec<(f64, f64)> {
    let base = run.memory.first().and_then(|s| s.rss).unwrap_or(0);
    run.memory
        .iter()
        .map(|s| {
            let bytes = if use_rss {
                s.rss.unwrap_or(base).saturating_sub(base)
            } else {
                s.in_flight * ELEMENT_BYTES as u64
            };
            (s.t, bytes as f64 / MIB)
        })
        .collect()
}

/// At most about `max` points, evenly strided.
fn thin(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    let step = points.len().div_ceil(max).max(1);
    points.iter().step_by(step).copied().collect()
}

fn draw(
    path: &PathBuf,
    runs: [&Run; 2],
    use_rss: bool,
    duration: Duration,
) -> Result<(), Box<dyn StdError>> {
    let root = SVGBackend::new(path, (960, 760)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(380);
    let colors = [RED, BLUE];
    let t_max = duration.as_secs_f64();

    let memory: Vec<Vec<(f64, f64)>> = runs.iter().map(|r| chart_memory(r, use_rss)).collect();
    let latency: Vec<Vec<(f64, f64)>> = runs.iter().map(|r| thin(&r.latencies, 2_000)).collect();
    let top_of = |series: &[Vec<(f64, f64)>]| {
        series
            .iter()
            .flatten()
            .map(|&(_, y)| y)
            .fold(0.0_f64, f64::max)
            .max(1e-3)
            * 1.1
    };

    let memory_caption = if use_rss {
        "memory: resident set size above the start of the run (MiB)"
    } else {
        "memory: elements in flight x element size (MiB); /proc unavailable"
    };
    let charts = [
        (&top, memory_caption, "MiB", &memory),
        (
            &bottom,
            "latency: consumed at - produced at, per element (ms)",
            "ms",
            &latency,
        ),
    ];
    for (area, caption, unit, series) in charts {
        let mut chart = ChartBuilder::on(area)
            .caption(caption, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..t_max, 0.0..top_of(series))?;
        chart
            .configure_mesh()
            .x_desc("time since the start of the run (s)")
            .y_desc(unit)
            .draw()?;
        for ((run, points), color) in runs.iter().zip(series.iter()).zip(colors) {
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))?
                .label(run.name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

fn main() {
    let mut small = false;
    let mut out = PathBuf::from("overload.svg");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--small" => small = true,
            "--out" => match args.next() {
                Some(path) => out = PathBuf::from(path),
                None => {
                    eprintln!("usage: overload [--small] [--out PATH]");
                    std::process::exit(2);
                }
            },
            _ => {
                eprintln!("usage: overload [--small] [--out PATH]");
                std::process::exit(2);
            }
        }
    }
    let duration = if small {
        Duration::from_millis(150)
    } else {
        Duration::from_secs(2)
    };

    println!(
        "overload: a producer of up to {:.0} elements/s ({PRODUCE_COST:?} of work each) and a consumer of {:.0}/s ({CONSUME_COST:?} each),",
        1.0 / PRODUCE_COST.as_secs_f64(),
        1.0 / CONSUME_COST.as_secs_f64()
    );
    println!(
        "  elements of {ELEMENT_BYTES} B ({PAYLOAD} B payload), connected for {duration:?} in each of two ways:"
    );
    println!("  A. an unbounded std::sync::mpsc::channel between a producer thread and a consumer thread;");
    println!("  B. rstreams: from_iter(producer).subscribe_on(producer thread).publish_on(consumer thread, {PREFETCH}) -> for_each(consumer).");
    println!("  The producer can wait to be asked (like a file or a database cursor), so B slows it to the");
    println!("  consumer's pace instead of queueing it, and drops nothing: what B has left when the run is");
    println!("  stopped is what was in flight. A producer that cannot wait would need an on_backpressure_*");
    println!("  stage in B instead, which keeps memory flat by dropping elements by policy, and counts them.");

    // B first, so that A's backlog cannot inflate the memory B starts with.
    let b = run_rstreams(duration);
    let a = run_unbounded(duration);

    let use_rss = a.rss_growth().is_some() && b.rss_growth().is_some();
    println!();
    println!(
        "  {:<28} {:>9} {:>9} {:>9} {:>12} {:>16} {:>9} {:>9} {:>9}",
        "run", "produced", "consumed", "left", "RSS growth", "peak in flight", "p50", "p99", "max"
    );
    for run in [&a, &b] {
        let (p50, p99, max) = run.percentiles();
        let rss = run.rss_growth().map_or("n/a".to_string(), bytes);
        println!(
            "  {:<28} {:>9} {:>9} {:>9} {:>12} {:>16} {:>7.1}ms {:>7.1}ms {:>7.1}ms",
            run.name,
            run.produced,
            run.consumed,
            run.produced - run.consumed.min(run.produced),
            rss,
            format!(
                "{} ({})",
                run.peak_in_flight(),
                bytes(run.peak_in_flight() * ELEMENT_BYTES as u64)
            ),
            p50,
            p99,
            max
        );
    }
    println!();
    println!("  left = produced but not consumed when the run was stopped (A: the backlog in the channel).");
    if use_rss {
        println!("  RSS growth = peak VmRSS (/proc/self/status, sampled every {SAMPLE_EVERY:?}) minus VmRSS at the start of the run");
        println!(
            "  (the latency log is allocated and touched before the run, so it is not counted)."
        );
    } else {
        println!("  RSS growth: n/a, /proc/self/status is not readable here; the chart shows elements in flight x {ELEMENT_BYTES} B instead.");
    }
    println!(
        "  peak in flight = produced - consumed, sampled every {SAMPLE_EVERY:?}, and that many x {ELEMENT_BYTES} B (allocator overhead not counted)."
    );
    println!("  latency = when the consumer took the element - when the producer made it.");

    match draw(&out, [&a, &b], use_rss, duration) {
        Ok(()) => println!("  chart: {}", out.display()),
        Err(e) => {
            eprintln!("overload: FAILED: could not write {}: {e}", out.display());
            std::process::exit(1);
        }
    }

    // The example's own assertions.
    let mut failures = Vec::new();
    // publish_on keeps at most PREFETCH requested or queued; from_iter looks one element ahead.
    if b.peak_in_flight() > PREFETCH as u64 + 1 {
        failures.push(format!(
            "B had {} elements in flight, more than publish_on's prefetch {PREFETCH} + 1",
            b.peak_in_flight()
        ));
    }
    if a.peak_in_flight() <= b.peak_in_flight() {
        failures.push("A's unbounded queue did not outgrow B's bounded one".to_string());
    }
    if a.consumed == 0 || b.consumed == 0 {
        failures.push("a run consumed nothing".to_string());
    }
    if !failures.is_empty() {
        for f in failures {
            eprintln!("overload: FAILED: {f}");
        }
        std::process::exit(1);
    }
}
