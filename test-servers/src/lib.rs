//! Test fixtures for the rstreams connectors' integration tests: a real server process (found
//! on `PATH` or installed with `apt-get` when running as root) on a free loopback port, stopped
//! by PID when dropped; names no other test uses; waiting until a condition holds.
//!
//! Never a mock, and never a silent pass: a test that needs a server the machine does not have
//! fails, saying how to install it ([`Binary::find_or_install`]).
//!
//! Each connector's `tests/support` keeps what is specific to its server (the client, the
//! readiness check, the arguments, an external server's URL from the environment) and builds
//! on [`ServerProcess`]:
//!
//! ```
//! use rstreams_test_servers::{eventually, unique, Binary, ServerProcess};
//! use std::time::Duration;
//!
//! // A stand-in server that every machine has: `sleep` (a real fixture names redis-server or
//! // nats-server and checks that it answers on its port).
//! const SLEEP: Binary = Binary {
//!     name: "sleep",
//!     apt_package: "coreutils",
//!     how_to_get: "install coreutils",
//!     also_in: &[],
//! };
//! let (mut server, ready) = ServerProcess::start(
//!     &SLEEP,
//!     |_port, _dir| vec!["30".into()],
//!     Duration::from_secs(5),
//!     |server| if server.is_running() { Ok("up") } else { Err("not yet") },
//! );
//! assert_eq!(ready, "up");
//! assert!(server.dir().is_dir(), "a scratch directory of its own");
//! server.kill();
//! assert!(!server.is_running());
//! server.respawn(); // same port, same directory
//! eventually(Duration::from_secs(5), "it runs again", || server.is_running());
//! server.restart(); // a crash and a start, at once
//! assert!(server.is_running());
//! assert!(unique("stream").starts_with("stream-"));
//! drop(server); // killed by PID, its directory removed
//! ```

use std::ffi::OsString;
use std::fmt;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A server program the tests run: where to find it and how to get it.
#[derive(Debug, Clone, Copy)]
pub struct Binary {
    /// The executable's file name, looked up on `PATH` (`"redis-server"`).
    pub name: &'static str,
    /// The Debian/Ubuntu package that installs it (`"redis-server"`).
    pub apt_package: &'static str,
    /// What the panic says when it cannot be found or installed: that the tests need it, how
    /// to install it, or how to point the tests at a server started by hand.
    pub how_to_get: &'static str,
    /// Directories searched after `PATH` (Debian puts some servers in `/usr/sbin`, which is not
    /// on every user's `PATH`).
    pub also_in: &'static [&'static str],
}

impl Binary {
    /// The executable on `PATH` (or in [`also_in`](Self::also_in)), if there is one.
    pub fn find(&self) -> Option<PathBuf> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(self.also_in.iter().map(PathBuf::from))
            .map(|dir| dir.join(self.name))
            .find(|candidate| candidate.is_file())
    }

    /// The executable; installed with `apt-get` (after `apt-get update`) when it is missing
    /// and the tests run as root. One install at a time in this process.
    ///
    /// # Panics
    ///
    /// When it is still missing: the message names the package and says
    /// [`how_to_get`](Self::how_to_get) it. A test that needs a server never passes without
    /// one.
    pub fn find_or_install(&self) -> PathBuf {
        static INSTALL: Mutex<()> = Mutex::new(());
        let _one_at_a_time = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = self.find() {
            return found;
        }
        if running_as_root() {
            let _ = Command::new("apt-get").arg("update").status();
            let _ = Command::new("apt-get")
                .args(["install", "-y", self.apt_package])
                .status();
        }
        self.find().unwrap_or_else(|| {
            panic!(
                "{how} ({name} is not on PATH, and `apt-get install -y {package}` did not \
                 install it{root})",
                how = self.how_to_get,
                name = self.name,
                package = self.apt_package,
                root = if running_as_root() {
                    ""
                } else {
                    ": not running as root"
                },
            )
        })
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The command-line arguments of a server, given its port and scratch directory.
type Args = Box<dyn Fn(u16, &Path) -> Vec<OsString> + Send + Sync>;

/// A server process for one test, on a loopback port of its own, with a scratch directory of
/// its own; killed by PID (and its directory removed) when dropped, also when the test fails.
///
/// It can be killed and started again on the same port and directory, for tests of outages
/// and restarts.
pub struct ServerProcess {
    binary: PathBuf,
    port: u16,
    dir: PathBuf,
    args: Args,
    /// The running process; `None` after [`kill`](Self::kill) until
    /// [`respawn`](Self::respawn).
    child: Option<Child>,
}

impl ServerProcess {
    /// Starts `binary` (finding or installing it) on a free loopback port with the arguments
    /// `args(port, dir)`, and waits up to `within` until `ready` returns `Ok` (polled every
    /// 20 ms); returns the process and what `ready` returned (a client, say).
    ///
    /// # Panics
    ///
    /// If the binary cannot be found or installed, cannot be started, or is not ready within
    /// `within` (the message has `ready`'s last error); the process is killed first.
    pub fn start<R, E: fmt::Display>(
        binary: &Binary,
        args: impl Fn(u16, &Path) -> Vec<OsString> + Send + Sync + 'static,
        within: Duration,
        mut ready: impl FnMut(&mut ServerProcess) -> Result<R, E>,
    ) -> (ServerProcess, R) {
        let mut server = ServerProcess::spawn(binary, args);
        let what = format!("{} on port {}", binary.name, server.port);
        let answer = wait_ready(&what, within, || ready(&mut server));
        (server, answer)
    }

    /// Starts `binary` like [`start`](Self::start) but returns at once, without waiting for it
    /// to be ready (the caller does, with [`wait_ready`]).
    pub fn spawn(
        binary: &Binary,
        args: impl Fn(u16, &Path) -> Vec<OsString> + Send + Sync + 'static,
    ) -> ServerProcess {
        let path = binary.find_or_install();
        let dir = std::env::temp_dir().join(unique(&format!("rstreams-{}", binary.name)));
        std::fs::create_dir_all(&dir).expect("creating the server's scratch directory");
        let mut server = ServerProcess {
            binary: path,
            port: free_port(),
            dir,
            args: Box::new(args),
            child: None,
        };
        server.respawn();
        server
    }

    /// The loopback port it listens on (the same after a [`respawn`](Self::respawn)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its scratch directory (data, logs), removed when it is dropped.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the process is running: started and neither killed nor exited.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the process (SIGKILL, by PID: a crash, no clean shutdown) and waits for it to
    /// exit.
    ///
    /// # Panics
    ///
    /// If it is not running (killed already).
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("a running server");
        child.kill().expect("killing the server");
        child.wait().expect("reaping the server");
    }

    /// Starts the process again, after [`kill`](Self::kill), on the same port with the same
    /// directory and arguments; does not wait for it to be ready.
    ///
    /// # Panics
    ///
    /// If it is running (kill it first), or cannot be started.
    pub fn respawn(&mut self) {
        assert!(self.child.is_none(), "the server is running: kill it first");
        let child = Command::new(&self.binary)
            .args((self.args)(self.port, &self.dir))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.binary.display()));
        self.child = Some(child);
    }
}

impl ServerProcess {
    /// Kills the process if it was started (SIGKILL, by PID: a crash; also when it has exited
    /// by itself) and starts it again at once, on the same port with the same directory and
    /// arguments; does not wait for it to be ready.
    ///
    /// # Panics
    ///
    /// If it cannot be started again.
    pub fn restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.respawn();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl fmt::Debug for ServerProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerProcess")
            .field("binary", &self.binary)
            .field("port", &self.port)
            .field("dir", &self.dir)
            .field("pid", &self.child.as_ref().map(Child::id))
            .finish()
    }
}

/// Calls `ready` every 20 ms until it returns `Ok`, and returns that value.
///
/// # Panics
///
/// After `within`, with `what` and `ready`'s last error.
pub fn wait_ready<R, E: fmt::Display>(
    what: &str,
    within: Duration,
    mut ready: impl FnMut() -> Result<R, E>,
) -> R {
    let deadline = Instant::now() + within;
    loop {
        match ready() {
            Ok(answer) => return answer,
            Err(e) if Instant::now() > deadline => {
                panic!("{what} is not ready after {within:?}: {e}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// A loopback port that was free a moment ago (the OS picked it).
///
/// # Panics
///
/// If no loopback port can be bound.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("finding a free loopback port")
}

/// A name no other test (and no earlier run against a server started by hand) uses:
/// `{prefix}-{pid}-{nanoseconds}-{counter}`, letters, digits and dashes when `prefix` is.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Waits until `check` holds (polled every 10 ms).
///
/// # Panics
///
/// After `within`: "timed out waiting until {what}".
pub fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_differ_and_keep_the_prefix() {
        let (a, b) = (unique("s"), unique("s"));
        assert_ne!(a, b);
        assert!(a.starts_with("s-") && b.starts_with("s-"));
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }

    #[test]
    fn eventually_returns_once_the_check_holds() {
        let mut calls = 0;
        eventually(Duration::from_secs(5), "the third call", || {
            calls += 1;
            calls == 3
        });
        assert_eq!(calls, 3);
    }

    #[test]
    #[should_panic(expected = "timed out waiting until never")]
    fn eventually_panics_naming_what_it_waited_for() {
        eventually(Duration::from_millis(30), "never", || false);
    }

    #[test]
    #[should_panic(expected = "not ready after")]
    fn wait_ready_panics_with_the_last_error() {
        wait_ready::<(), _>("nothing", Duration::from_millis(30), || Err("refused"));
    }

    #[test]
    fn a_binary_that_is_not_installed_is_not_found() {
        let missing = Binary {
            name: "rstreams-no-such-server",
            apt_package: "rstreams-no-such-server",
            how_to_get: "it does not exist",
            also_in: &["/nonexistent"],
        };
        assert_eq!(missing.find(), None);
    }

    #[test]
    fn a_free_port_can_be_bound() {
        let port = free_port();
        assert!(TcpListener::bind(("127.0.0.1", port)).is_ok());
    }
}
