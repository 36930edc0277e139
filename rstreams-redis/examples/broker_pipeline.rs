//! A pipeline spread over processes, joined by a Redis consumer group: the shape of a pipeline
//! spread over machines.
//!
//! Run: `cargo run --release -p rstreams-redis --example broker_pipeline` (20 000 orders).
//! For CI: `-- --small` (2 000 orders), or give the number: `-- 50000`.
//!
//! It needs a Redis server: the one at `RSTREAMS_REDIS_URL` if set
//! (`RSTREAMS_REDIS_URL=redis://127.0.0.1:6379`), otherwise it starts its own `redis-server`
//! from `PATH` on a free loopback port and stops it (by PID) at the end. Without either it says
//! so and exits with status 1.
//!
//! The example re-executes its own binary (`std::env::current_exe()`) in three roles:
//!
//! - **two workers**, `worker-a` and `worker-b`: each a [`StreamSource::group`] subscription,
//!   a different consumer of one group on the orders stream. Each delivery is processed
//!   *idempotently* — recorded with `HINCRBY processed <order> 1`, so the set of keys says
//!   what was processed and the counts say how often — and then acked. A worker reads at most
//!   `max_unacked` ahead; its demand is the broker's `XREADGROUP COUNT`.
//! - **a producer**: writes the orders with a [`StreamSink`] (bounded in flight).
//! - **the parent**: starts the workers, then the producer; once `worker-b` has done a tenth
//!   of the work it **kills it** (SIGKILL: no ack, no goodbye), noting which entries it held
//!   unacked. Those stay in the group's pending list; after the lease (1 s) `worker-a` claims
//!   them with `XAUTOCLAIM` and processes them (their delivery count is 2).
//!
//! The parent then checks — and exits with status 1 if any check fails — that every order was
//! processed at least once (duplicates are counted and reported: delivery is at least once),
//! that both workers did work, that nothing is left pending, and that the entries the killed
//! worker held were redelivered to the survivor.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rstreams_core::{sink, source, Publisher};
use rstreams_redis::redis::{self, Connection, Value};
use rstreams_redis::{Delivery, Entry, StreamSink, StreamSource};

const GROUP: &str = "billing";
const LEASE: Duration = Duration::from_secs(1);
const MAX_UNACKED: u64 = 32;
/// The work each delivery stands for.
const WORK: Duration = Duration::from_micros(300);
/// How long the whole run may take before the parent gives up.
const DEADLINE: Duration = Duration::from_secs(120);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("producer") => producer(&args[1..]),
        Some("worker") => worker(&args[1..]),
        _ => parent(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("broker_pipeline: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The keys of one run (unique, so that runs against a shared server do not meet).
struct Keys {
    stream: String,
    processed: String,
    by_worker: String,
    redelivered: String,
    stop: String,
}

impl Keys {
    fn new(run: &str) -> Self {
        Keys {
            stream: format!("{run}:orders"),
            processed: format!("{run}:processed"),
            by_worker: format!("{run}:by-worker"),
            redelivered: format!("{run}:redelivered"),
            stop: format!("{run}:stop"),
        }
    }
}

fn connect(url: &str) -> Result<(redis::Client, Connection), String> {
    let client = redis::Client::open(url).map_err(|e| format!("bad url {url}: {e}"))?;
    let conn = client
        .get_connection()
        .map_err(|e| format!("connecting to {url}: {e}"))?;
    Ok((client, conn))
}

// ---------------------------------------------------------------------------------------
// The producer: `producer URL RUN N`.

fn producer(args: &[String]) -> Result<(), String> {
    let [url, run, n] = args else {
        return Err("usage: producer URL RUN N".into());
    };
    let n: u64 = n.parse().map_err(|e| format!("N: {e}"))?;
    let keys = Keys::new(run);
    let (client, _) = connect(url)?;
    let sink = StreamSink::new(client, &keys.stream).in_flight(32);
    let handle = sink.handle();
    let orders = (0..n).map(|i| vec![("order", i.to_string()), ("amount", (i % 97).to_string())]);
    source::from_iter(orders.collect::<Vec<_>>()).subscribe(sink);
    let written = handle.wait().map_err(|e| format!("producer: {e}"))?;
    println!("producer: wrote {written} orders to {}", keys.stream);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// A worker: `worker URL RUN NAME`.

fn worker(args: &[String]) -> Result<(), String> {
    let [url, run, name] = args else {
        return Err("usage: worker URL RUN NAME".into());
    };
    let keys = Keys::new(run);
    let (client, mut control) = connect(url)?;
    let (_, mut results) = connect(url)?;
    let me = name.clone();
    let (processed, by_worker, redelivered) = (
        keys.processed.clone(),
        keys.by_worker.clone(),
        keys.redelivered.clone(),
    );
    let subscriber = sink::for_each(move |delivery: Delivery<Entry>| {
        let order = delivery.value.get_str("order").unwrap_or("?").to_owned();
        thread::sleep(WORK);
        // Idempotent: the key records that the order was processed, however often.
        let mut record = redis::pipe();
        record
            .cmd("HINCRBY")
            .arg(&processed)
            .arg(&order)
            .arg(1)
            .ignore()
            .cmd("HINCRBY")
            .arg(&by_worker)
            .arg(&me)
            .arg(1)
            .ignore();
        if delivery.delivery_count() > 1 {
            record
                .cmd("HINCRBY")
                .arg(&redelivered)
                .arg(&me)
                .arg(1)
                .ignore();
        }
        record
            .query::<()>(&mut results)
            .expect("recording the result");
        // Acked once processed: a crash before this line makes the order come back.
        delivery.ack().expect("acking");
    })
    .batch(16);
    let handle = subscriber.handle();
    StreamSource::group(client, &keys.stream, GROUP, name)
        .max_unacked(MAX_UNACKED)
        .lease(LEASE)
        .subscribe(subscriber);
    loop {
        if let Some(ended) = handle.wait_timeout(Duration::from_millis(50)) {
            return Err(format!("{name}: the stream ended: {ended:?}"));
        }
        let stop: bool = redis::cmd("EXISTS")
            .arg(&keys.stop)
            .query(&mut control)
            .map_err(|e| format!("{name}: {e}"))?;
        if stop {
            handle.cancel();
            return Ok(());
        }
    }
}

// ---------------------------------------------------------------------------------------
// The parent.

/// Child processes, killed (by PID) if still running when dropped.
struct Children(Vec<(String, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Children {
    fn spawn(&mut self, name: &str, args: &[&str]) -> Result<(), String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let child = Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {name}: {e}"))?;
        self.0.push((name.to_owned(), child));
        Ok(())
    }

    fn get(&mut self, name: &str) -> &mut Child {
        &mut self
            .0
            .iter_mut()
            .find(|(n, _)| n == name)
            .expect("a child of that name")
            .1
    }

    /// Waits for `name` to exit, at most `within`; whether it exited with success.
    fn wait(&mut self, name: &str, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        let child = self.get(name);
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("{name} exited with {status}")),
                Ok(None) if Instant::now() > deadline => {
                    return Err(format!("{name} did not exit within {within:?}"))
                }
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(format!("waiting for {name}: {e}")),
            }
        }
    }
}

/// A redis-server started here, stopped by PID when dropped.
struct OwnServer {
    child: Child,
    dir: PathBuf,
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The URL of `RSTREAMS_REDIS_URL`, or of a redis-server started from `PATH`.
fn server() -> Result<(String, Option<OwnServer>), String> {
    if let Ok(url) = std::env::var("RSTREAMS_REDIS_URL") {
        return Ok((url, None));
    }
    let binary = std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("redis-server"))
                .find(|candidate| candidate.is_file())
        })
        .ok_or(
            "this example needs a Redis server: install redis-server so that it is on PATH \
             (Debian/Ubuntu: `apt-get install -y redis-server`; macOS: `brew install redis`), \
             or set RSTREAMS_REDIS_URL=redis://HOST:PORT",
        )?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))?;
    let dir = std::env::temp_dir().join(format!("rstreams-broker-pipeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let child = Command::new(&binary)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(&dir)
        .arg("--logfile")
        .arg(dir.join("redis.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", binary.display()))?;
    let own = OwnServer { child, dir };
    let url = format!("redis://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while connect(&url)
        .and_then(|(_, mut c)| {
            redis::cmd("PING")
                .query::<String>(&mut c)
                .map_err(|e| e.to_string())
        })
        .is_err()
    {
        if Instant::now() > deadline {
            return Err(format!("the redis-server at {url} does not answer PING"));
        }
        thread::sleep(Duration::from_millis(20));
    }
    println!("started redis-server on {url} (pid {})", own.child.id());
    Ok((url, Some(own)))
}

fn hash(conn: &mut Connection, key: &str) -> Result<HashMap<String, u64>, String> {
    redis::cmd("HGETALL")
        .arg(key)
        .query(conn)
        .map_err(|e| format!("HGETALL {key}: {e}"))
}

/// The entries pending in the group (for one consumer, or all), by id.
fn pending_ids(
    conn: &mut Connection,
    keys: &Keys,
    consumer: Option<&str>,
) -> Result<Vec<String>, String> {
    let mut cmd = redis::cmd("XPENDING");
    cmd.arg(&keys.stream)
        .arg(GROUP)
        .arg("-")
        .arg("+")
        .arg(1_000_000);
    if let Some(consumer) = consumer {
        cmd.arg(consumer);
    }
    let reply: Value = cmd.query(conn).map_err(|e| format!("XPENDING: {e}"))?;
    let Value::Array(rows) = reply else {
        return Err(format!("unexpected XPENDING reply {reply:?}"));
    };
    rows.into_iter()
        .map(|row| match row {
            Value::Array(parts) => match parts.first() {
                Some(Value::BulkString(id)) => Ok(String::from_utf8_lossy(id).into_owned()),
                other => Err(format!("unexpected XPENDING row {other:?}")),
            },
            other => Err(format!("unexpected XPENDING row {other:?}")),
        })
        .collect()
}

fn wait_until(
    what: &str,
    deadline: Instant,
    mut check: impl FnMut() -> Result<bool, String>,
) -> Result<(), String> {
    while !check()? {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting until {what}"));
        }
        thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

fn parent(args: &[String]) -> Result<(), String> {
    let n: u64 = match args.first().map(String::as_str) {
        None => 20_000,
        Some("--small") => 2_000,
        Some(number) => number
            .parse()
            .map_err(|_| "usage: broker_pipeline [--small | NUMBER_OF_ORDERS]".to_owned())?,
    };
    if n < 100 {
        return Err(format!("at least 100 orders, got {n}"));
    }
    let started = Instant::now();
    let deadline = started + DEADLINE;
    let (url, _own) = server()?;
    let (_, mut conn) = connect(&url)?;
    let run = format!("rstreams-example-{}-{}", std::process::id(), {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    });
    let keys = Keys::new(&run);

    let mut children = Children(Vec::new());
    children.spawn("worker-a", &["worker", &url, &run, "worker-a"])?;
    children.spawn("worker-b", &["worker", &url, &run, "worker-b"])?;
    children.spawn("producer", &["producer", &url, &run, &n.to_string()])?;

    // worker-b crashes once it has done a tenth of the work.
    wait_until("worker-b has processed a tenth", deadline, || {
        Ok(hash(&mut conn, &keys.by_worker)?
            .get("worker-b")
            .is_some_and(|&done| done >= n / 10))
    })?;
    let crashed = children.get("worker-b");
    crashed
        .kill()
        .map_err(|e| format!("killing worker-b: {e}"))?;
    crashed
        .wait()
        .map_err(|e| format!("reaping worker-b: {e}"))?;
    let held = pending_ids(&mut conn, &keys, Some("worker-b"))?;
    println!(
        "killed worker-b (SIGKILL) after {:.2?}: it held {} entries unacked",
        started.elapsed(),
        held.len()
    );

    children.wait("producer", DEADLINE)?;
    wait_until(
        "every order is processed and nothing is pending",
        deadline,
        || {
            let done = redis::cmd("HLEN")
                .arg(&keys.processed)
                .query::<u64>(&mut conn)
                .map_err(|e| e.to_string())?;
            Ok(done == n && pending_ids(&mut conn, &keys, None)?.is_empty())
        },
    )?;
    redis::cmd("SET")
        .arg(&keys.stop)
        .arg(1)
        .query::<()>(&mut conn)
        .map_err(|e| format!("SET stop: {e}"))?;
    children.wait("worker-a", Duration::from_secs(10))?;
    let elapsed = started.elapsed();

    // The account.
    let processed = hash(&mut conn, &keys.processed)?;
    let by_worker = hash(&mut conn, &keys.by_worker)?;
    let redelivered = hash(&mut conn, &keys.redelivered)?;
    let missing: Vec<u64> = (0..n)
        .filter(|i| !processed.contains_key(&i.to_string()))
        .collect();
    let total: u64 = processed.values().sum();
    let duplicates = total.saturating_sub(processed.len() as u64);
    let count = |m: &HashMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    println!("orders:               {n}");
    println!("processed (distinct): {}", processed.len());
    println!("processings:          {total} ({duplicates} duplicates, at least once)");
    println!(
        "worker-a:             {} processed, {} of them redelivered",
        count(&by_worker, "worker-a"),
        count(&redelivered, "worker-a")
    );
    println!(
        "worker-b:             {} processed before it was killed",
        count(&by_worker, "worker-b")
    );
    println!("time:                 {elapsed:.2?}");

    let mut failures = Vec::new();
    if !missing.is_empty() {
        failures.push(format!(
            "{} orders never processed, first {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        ));
    }
    if processed.len() as u64 != n {
        failures.push(format!(
            "{} distinct orders processed, {n} written",
            processed.len()
        ));
    }
    for name in ["worker-a", "worker-b"] {
        if count(&by_worker, name) == 0 {
            failures.push(format!("{name} did no work"));
        }
    }
    if count(&redelivered, "worker-a") < held.len() as u64 {
        failures.push(format!(
            "worker-b held {} entries unacked but worker-a had only {} redelivered",
            held.len(),
            count(&redelivered, "worker-a")
        ));
    }
    // Leave a shared server as it was found.
    let _: Result<(), _> = redis::cmd("DEL")
        .arg(&keys.stream)
        .arg(&keys.processed)
        .arg(&keys.by_worker)
        .arg(&keys.redelivered)
        .arg(&keys.stop)
        .query(&mut conn);
    if failures.is_empty() {
        println!(
            "ok: every order processed at least once, both workers worked, the crashed worker's {} entries were claimed by the other after the lease",
            held.len()
        );
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}
