//! A real redis-server for the tests: the one at `RSTREAMS_REDIS_URL`, or one started here.
//!
//! Never a mock, and never a silent pass: without a server the tests fail, saying how to get
//! one.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rstreams_core::{Subscriber, Subscription};
use rstreams_redis::redis;

/// A redis-server for one test; stopped (by PID) when dropped, if this fixture started it.
pub struct Server {
    pub url: String,
    child: Option<Child>,
    dir: Option<PathBuf>,
    /// How to start it again (`restart`): the binary, the port, whether it persists.
    binary: Option<PathBuf>,
    port: u16,
    persistent: bool,
}

impl Server {
    /// The server at `RSTREAMS_REDIS_URL`, or one started here without persistence.
    pub fn start() -> Server {
        if let Ok(url) = std::env::var("RSTREAMS_REDIS_URL") {
            let server = Server {
                url,
                child: None,
                dir: None,
                binary: None,
                port: 0,
                persistent: false,
            };
            server.wait_for_ping(Duration::from_secs(5));
            return server;
        }
        Server::start_own(false)
    }

    /// A server started here (even when `RSTREAMS_REDIS_URL` is set: the test stops and
    /// restarts it), with an append-only file synced on every write when `persistent`, so that
    /// what it acknowledged survives a kill.
    pub fn start_own(persistent: bool) -> Server {
        let binary = find_or_install();
        let port = free_port();
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rstreams-redis-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("creating the server's temp dir");
        let mut server = Server {
            url: format!("redis://127.0.0.1:{port}"),
            child: None,
            dir: Some(dir),
            binary: Some(binary),
            port,
            persistent,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let (Some(binary), Some(dir)) = (&self.binary, &self.dir) else {
            panic!("only a server started by the fixture can be (re)started");
        };
        let mut command = Command::new(binary);
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", ""]);
        if self.persistent {
            command.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        let child = command
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting redis-server");
        self.child = Some(child);
        self.wait_for_ping(Duration::from_secs(10));
    }

    /// Kills the server (SIGKILL, by PID: no clean shutdown) and waits for it to exit.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("a running server started here");
        child.kill().expect("killing redis-server");
        child.wait().expect("reaping redis-server");
    }

    /// Starts the killed server again, on the same port with the same data directory.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "kill it first");
        self.spawn();
    }

    fn wait_for_ping(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let pong = redis::Client::open(self.url.as_str())
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c).map(|p| (p, c)))
                // PING is answered while a restarted server still loads its data; EXISTS is not
                // (LOADING): wait for both.
                .and_then(|(p, mut c)| {
                    redis::cmd("EXISTS")
                        .arg("rstreams-ready")
                        .query::<u64>(&mut c)
                        .map(|_| p)
                });
            match pong {
                Ok(p) if p == "PONG" => return,
                other if Instant::now() > deadline => {
                    panic!("redis at {} does not answer PING: {other:?}", self.url)
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url.as_str()).unwrap()
    }

    pub fn conn(&self) -> redis::Connection {
        self.client().get_connection().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// redis-server from PATH; installed with apt-get when missing and running as root.
fn find_or_install() -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _once = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(found) = on_path("redis-server") {
        return found;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if root {
        let _ = Command::new("apt-get").arg("update").status();
        let _ = Command::new("apt-get")
            .args(["install", "-y", "redis-server"])
            .status();
    }
    on_path("redis-server").unwrap_or_else(|| {
        panic!(
            "these tests need a real Redis: install redis-server (Debian/Ubuntu: \
             `apt-get install -y redis-server`; macOS: `brew install redis`) so that it is on \
             PATH, or start one by hand and set RSTREAMS_REDIS_URL=redis://127.0.0.1:6379"
        )
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("finding a free loopback port")
}

/// A name no other test (or earlier run against a hand-started server) uses.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Waits until `check` holds, failing the test after `within`.
pub fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A subscriber that keeps what it receives and hands its subscription to the test.
pub struct Probe<T> {
    pub received: Arc<Mutex<Vec<T>>>,
    pub subscription: Arc<Mutex<Option<Arc<dyn Subscription>>>>,
    pub error: Arc<Mutex<Option<rstreams_core::Error>>>,
}

/// The test's side of a [`Probe`].
pub struct ProbeHandle<T> {
    pub received: Arc<Mutex<Vec<T>>>,
    subscription: Arc<Mutex<Option<Arc<dyn Subscription>>>>,
    pub error: Arc<Mutex<Option<rstreams_core::Error>>>,
}

pub fn probe<T>() -> (Probe<T>, ProbeHandle<T>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let subscription = Arc::new(Mutex::new(None));
    let error = Arc::new(Mutex::new(None));
    (
        Probe {
            received: Arc::clone(&received),
            subscription: Arc::clone(&subscription),
            error: Arc::clone(&error),
        },
        ProbeHandle {
            received,
            subscription,
            error,
        },
    )
}

impl<T> ProbeHandle<T> {
    pub fn request(&self, n: u64) {
        let s = self
            .subscription
            .lock()
            .unwrap()
            .clone()
            .expect("subscribed");
        s.request(n);
    }

    pub fn cancel(&self) {
        let s = self.subscription.lock().unwrap().take();
        if let Some(s) = s {
            s.cancel();
        }
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    pub fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.received.lock().unwrap())
    }

    pub fn assert_no_error(&self) {
        if let Some(e) = self.error.lock().unwrap().as_ref() {
            panic!("the stream failed: {e}");
        }
    }
}

impl<T: Send> Subscriber<T> for Probe<T> {
    fn on_subscribe(&mut self, subscription: Arc<dyn Subscription>) {
        *self.subscription.lock().unwrap() = Some(subscription);
    }
    fn on_next(&mut self, item: T) {
        self.received.lock().unwrap().push(item);
    }
    fn on_error(&mut self, error: rstreams_core::Error) {
        *self.error.lock().unwrap() = Some(error);
    }
    fn on_complete(&mut self) {}
}

/// `XADD stream * n i` for i in 0..count; returns the ids.
pub fn add_entries(conn: &mut redis::Connection, stream: &str, count: u64) -> Vec<String> {
    (0..count)
        .map(|i| {
            redis::cmd("XADD")
                .arg(stream)
                .arg("*")
                .arg("n")
                .arg(i)
                .query::<String>(conn)
                .unwrap()
        })
        .collect()
}

/// The number of entries pending in the group (XPENDING summary).
pub fn pending(conn: &mut redis::Connection, stream: &str, group: &str) -> u64 {
    let summary: redis::Value = redis::cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .query(conn)
        .unwrap();
    match summary {
        redis::Value::Array(parts) => match parts.first() {
            Some(redis::Value::Int(n)) => *n as u64,
            other => panic!("unexpected XPENDING summary {other:?}"),
        },
        other => panic!("unexpected XPENDING reply {other:?}"),
    }
}
