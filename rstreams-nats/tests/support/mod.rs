//! A real nats-server with JetStream for the tests: the one at `RSTREAMS_NATS_URL`, or one
//! started here.
//!
//! Never a mock, and never a silent pass: without a server the tests fail, saying how to get
//! one.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use rstreams_nats::async_nats;
use rstreams_nats::async_nats::jetstream::{self, consumer, stream};
use rstreams_test_servers::{wait_ready, Binary, ServerProcess};

const NATS: Binary = Binary {
    name: "nats-server",
    apt_package: "nats-server",
    how_to_get: "these tests need a real NATS server with JetStream: install nats-server \
                 (Debian/Ubuntu: `apt-get install -y nats-server`; macOS: `brew install \
                 nats-server`) so that it is on PATH, or start one by hand (`nats-server -js`) \
                 and set RSTREAMS_NATS_URL=nats://127.0.0.1:4222",
    // Debian installs it in /usr/sbin, which is not on every user's PATH.
    also_in: &["/usr/sbin"],
};

/// A nats-server for one test; stopped (by PID) when dropped, if this fixture started it.
///
/// Keep it on the test's stack: its drop stops the server. What closures need (to create
/// streams, publish, read consumer info) is its [`Admin`], shared with [`Server::admin`].
pub struct Server {
    pub url: String,
    /// The process started here (`None` for `RSTREAMS_NATS_URL`).
    process: Option<ServerProcess>,
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
            Ok(url) => Server::connect(url, None),
            Err(_) => Server::start_own(),
        }
    }

    /// A server started here, whatever `RSTREAMS_NATS_URL` says (for a test that restarts it).
    pub fn start_own() -> Server {
        let process = ServerProcess::spawn(&NATS, |port, dir| {
            vec![
                "-js".into(),
                "-a".into(),
                "127.0.0.1".into(),
                "-p".into(),
                port.to_string().into(),
                "-sd".into(),
                dir.into(),
                "-l".into(),
                dir.join("nats.log").into(),
            ]
        });
        Server::connect(
            format!("nats://127.0.0.1:{}", process.port()),
            Some(process),
        )
    }

    /// Connects to the server at `url` once it answers with JetStream enabled (a process
    /// started here is killed by its drop if it does not within 10 s).
    fn connect(url: String, process: Option<ServerProcess>) -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("the tests' runtime");
        let what = format!("nats-server at {url} (with JetStream enabled)");
        let js = wait_ready(&what, Duration::from_secs(10), || {
            runtime.block_on(async {
                let client = async_nats::connect(url.as_str()).await?;
                // JetStream is enabled and answers (the raw API: async-nats's typed account
                // info wants fields that 2.9 servers do not send).
                let info = client.request("$JS.API.INFO", "".into()).await?;
                let info = String::from_utf8_lossy(&info.payload).into_owned();
                if !info.contains("account_info_response") || info.contains("\"error\"") {
                    return Err(format!("JetStream is not ready: {info}").into());
                }
                Ok::<_, async_nats::Error>(jetstream::new(client))
            })
        });
        Server {
            url: url.clone(),
            process,
            admin: Arc::new(Admin { url, runtime, js }),
        }
    }

    /// The server's client, for closures that outlive a borrow of the server.
    pub fn admin(&self) -> Arc<Admin> {
        Arc::clone(&self.admin)
    }

    /// Stops the server (SIGKILL: a crash) and starts it again on the same port and store.
    pub fn restart(&mut self) {
        self.process
            .as_mut()
            .expect("restart needs a server started here")
            .restart();
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
