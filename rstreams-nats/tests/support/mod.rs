//! A real nats-server with JetStream for the tests: the one at `RSTREAMS_NATS_URL`, or one
//! started here.
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
use rstreams_nats::async_nats;
use rstreams_nats::async_nats::jetstream::{self, consumer, stream};

/// A nats-server for one test; stopped (by PID) when dropped, if this fixture started it.
///
/// Keep it on the test's stack: its drop stops the server. What closures need (to create
/// streams, publish, read consumer info) is its [`Admin`], shared with [`Server::admin`].
pub struct Server {
    pub url: String,
    child: Option<Child>,
    /// The port and store directory of a server started here (`None` for `RSTREAMS_NATS_URL`).
    own: Option<(u16, PathBuf)>,
    admin: Arc<Admin>,
}

/// A client of the test's server, with its own runtime.
pub struct Admin {
    pub url: String,
    runtime: tokio::runtime::Runtime,
    js: jetstream::Context,
}

impl std::ops::Deref for Server {
    type Target = Admin;
    fn deref(&self) -> &Admin {
        &self.admin
    }
}

impl Server {
    /// The server at `RSTREAMS_NATS_URL`, or one started here.
    pub fn start() -> Server {
        match std::env::var("RSTREAMS_NATS_URL") {
            Ok(url) => Server::connect(url, None, None),
            Err(_) => Server::start_own(),
        }
    }

    /// A server started here, whatever `RSTREAMS_NATS_URL` says (for a test that restarts it).
    pub fn start_own() -> Server {
        let port = free_port();
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rstreams-nats-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("creating the server's store dir");
        let child = spawn(port, &dir);
        Server::connect(
            format!("nats://127.0.0.1:{port}"),
            Some(child),
            Some((port, dir)),
        )
    }

    fn connect(url: String, child: Option<Child>, own: Option<(u16, PathBuf)>) -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("the tests' runtime");
        let deadline = Instant::now() + Duration::from_secs(10);
        let js = loop {
            let ready = runtime.block_on(async {
                let client = async_nats::connect(url.as_str()).await?;
                // JetStream is enabled and answers (the raw API: async-nats's typed account
                // info wants fields that 2.9 servers do not send).
                let info = client.request("$JS.API.INFO", "".into()).await?;
                let info = String::from_utf8_lossy(&info.payload).into_owned();
                if !info.contains("account_info_response") || info.contains("\"error\"") {
                    return Err(format!("JetStream is not ready: {info}").into());
                }
                Ok::<_, async_nats::Error>(jetstream::new(client))
            });
            match ready {
                Ok(js) => break js,
                Err(e) if Instant::now() > deadline => {
                    if let Some(mut child) = child {
                        let _ = child.kill();
                        let _ = child.wait();
                    }
                    panic!("nats-server at {url} does not answer with JetStream enabled: {e}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        Server {
            url: url.clone(),
            child,
            own,
            admin: Arc::new(Admin { url, runtime, js }),
        }
    }

    /// The server's client, for closures that outlive a borrow of the server.
    pub fn admin(&self) -> Arc<Admin> {
        Arc::clone(&self.admin)
    }

    /// Stops the server (SIGKILL: a crash) and starts it again on the same port and store.
    pub fn restart(&mut self) {
        let (port, dir) = self
            .own
            .clone()
            .expect("restart needs a server started here");
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.child = Some(spawn(port, &dir));
    }
}

impl Admin {
    /// Runs `f` on the tests' runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// A file-storage stream named `name` capturing the subjects `name.>`.
    pub fn create_stream(&self, name: &str) {
        self.block_on(self.js.create_stream(stream::Config {
            name: name.to_owned(),
            subjects: vec![format!("{name}.>")],
            ..Default::default()
        }))
        .expect("creating the stream");
    }

    /// Publishes `"0"`, `"1"`, ... to `subject` and waits for each ack (retrying while the
    /// server restarts); returns the stream sequences.
    pub fn publish(&self, subject: &str, from: u64, count: u64) -> Vec<u64> {
        let deadline = Instant::now() + Duration::from_secs(20);
        (from..from + count)
            .map(|i| loop {
                let acked = self.block_on(async {
                    self.js
                        .publish(subject.to_owned(), i.to_string().into())
                        .await?
                        .await
                        .map_err(async_nats::Error::from)
                });
                match acked {
                    Ok(ack) => break ack.sequence,
                    Err(e) if Instant::now() > deadline => panic!("publishing to {subject}: {e}"),
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            })
            .collect()
    }

    /// The consumer as the server sees it (`None` until it exists).
    pub fn consumer_info(&self, stream: &str, consumer: &str) -> Option<consumer::Info> {
        self.block_on(async {
            let stream = self.js.get_stream(stream).await.ok()?;
            stream.consumer_info(consumer).await.ok()
        })
    }

    /// How many messages the stream holds.
    pub fn stream_messages(&self, stream: &str) -> u64 {
        self.block_on(async {
            let mut stream = self.js.get_stream(stream).await.expect("the stream");
            stream.info().await.expect("stream info").state.messages
        })
    }

    /// The payload of the message with sequence `seq` in `stream`.
    pub fn stream_payload(&self, stream: &str, seq: u64) -> String {
        self.block_on(async {
            let stream = self.js.get_stream(stream).await.expect("the stream");
            let message = stream.get_raw_message(seq).await.expect("the message");
            String::from_utf8(message.payload.to_vec()).expect("UTF-8")
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some((_, dir)) = self.own.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn spawn(port: u16, dir: &std::path::Path) -> Child {
    let binary = find_or_install();
    Command::new(binary)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string()])
        .arg("-sd")
        .arg(dir)
        .arg("-l")
        .arg(dir.join("nats.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting nats-server")
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    // Debian installs it in /usr/sbin, which is not on every user's PATH.
    dirs.push(PathBuf::from("/usr/sbin"));
    dirs.into_iter()
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// nats-server from PATH; installed with apt-get when missing and running as root.
fn find_or_install() -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _once = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(found) = on_path("nats-server") {
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
            .args(["install", "-y", "nats-server"])
            .status();
    }
    on_path("nats-server").unwrap_or_else(|| {
        panic!(
            "these tests need a real NATS server with JetStream: install nats-server \
             (Debian/Ubuntu: `apt-get install -y nats-server`; macOS: `brew install nats-server`) \
             so that it is on PATH, or start one by hand (`nats-server -js`) and set \
             RSTREAMS_NATS_URL=nats://127.0.0.1:4222"
        )
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("finding a free loopback port")
}

/// A stream or consumer name no other test (or earlier run against a hand-started server)
/// uses: letters, digits and dashes only.
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
