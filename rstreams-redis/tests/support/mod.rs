//! A real redis-server for the tests: the one at `RSTREAMS_REDIS_URL`, or one started here.
//!
//! Never a mock, and never a silent pass: without a server the tests fail, saying how to get
//! one.

#![allow(dead_code)]

use std::ffi::OsString;
use std::time::Duration;

use rstreams_redis::redis;
use rstreams_test_servers::{wait_ready, Binary, ServerProcess};

const REDIS: Binary = Binary {
    name: "redis-server",
    apt_package: "redis-server",
    how_to_get: "these tests need a real Redis: install redis-server (Debian/Ubuntu: \
                 `apt-get install -y redis-server`; macOS: `brew install redis`) so that it is \
                 on PATH, or start one by hand and set RSTREAMS_REDIS_URL=redis://127.0.0.1:6379",
    also_in: &[],
};

/// A redis-server for one test; stopped (by PID) when dropped, if this fixture started it.
pub struct Server {
    pub url: String,
    /// The process started here; `None` for the server at `RSTREAMS_REDIS_URL`.
    process: Option<ServerProcess>,
}

impl Server {
    /// The server at `RSTREAMS_REDIS_URL`, or one started here without persistence.
    pub fn start() -> Server {
        if let Ok(url) = std::env::var("RSTREAMS_REDIS_URL") {
            wait_for_ping(&url, Duration::from_secs(5));
            return Server { url, process: None };
        }
        Server::start_own(false)
    }

    /// A server started here (even when `RSTREAMS_REDIS_URL` is set: the test stops and
    /// restarts it), with an append-only file synced on every write when `persistent`, so that
    /// what it acknowledged survives a kill.
    pub fn start_own(persistent: bool) -> Server {
        let args = move |port: u16, dir: &std::path::Path| {
            let mut args: Vec<OsString> = ["--port", &port.to_string(), "--bind", "127.0.0.1"]
                .into_iter()
                .chain(["--save", ""])
                .map(OsString::from)
                .collect();
            let persistence = if persistent {
                ["--appendonly", "yes", "--appendfsync", "always"].as_slice()
            } else {
                ["--appendonly", "no"].as_slice()
            };
            args.extend(persistence.iter().map(OsString::from));
            args.extend([
                "--dir".into(),
                dir.into(),
                "--logfile".into(),
                dir.join("redis.log").into(),
            ]);
            args
        };
        let (process, url) =
            ServerProcess::start(&REDIS, args, Duration::from_secs(10), |process| {
                let url = format!("redis://127.0.0.1:{}", process.port());
                ping(&url).map(|()| url)
            });
        Server {
            url,
            process: Some(process),
        }
    }

    /// Kills the server (SIGKILL, by PID: no clean shutdown) and waits for it to exit.
    pub fn kill(&mut self) {
        self.process
            .as_mut()
            .expect("a running server started here")
            .kill();
    }

    /// Starts the killed server again, on the same port with the same data directory.
    pub fn start_again(&mut self) {
        self.process
            .as_mut()
            .expect("only a server started by the fixture can be (re)started")
            .respawn();
        wait_for_ping(&self.url, Duration::from_secs(10));
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url.as_str()).unwrap()
    }

    pub fn conn(&self) -> redis::Connection {
        self.client().get_connection().unwrap()
    }
}

fn wait_for_ping(url: &str, within: Duration) {
    wait_ready(&format!("redis at {url}"), within, || ping(url));
}

/// Whether the server at `url` answers PING, and has loaded its data.
fn ping(url: &str) -> Result<(), String> {
    let pong = redis::Client::open(url)
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
        Ok(p) if p == "PONG" => Ok(()),
        other => Err(format!("it does not answer PING: {other:?}")),
    }
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
