//! Timeouts, from one place, overridable by environment variables.

use std::time::Duration;

/// How long the kit waits.
///
/// - `signal`: the longest wait for an expected signal (a stall is reported after it).
///   `RSTREAMS_TCK_TIMEOUT_MS`, default 1000 ms. Waits end as soon as the signal arrives, so a
///   generous value costs nothing on a passing run.
/// - `quiet`: how long "no more signals" must hold after demand is met, to catch late
///   over-emission from asynchronous publishers. `RSTREAMS_TCK_QUIET_MS`, default 10 ms.
///   Over-emission that happens while a check runs is caught at once, without this window.
/// - `check`: the deadline of one whole check; code under test that has not returned by then
///   deadlocked or loops. `RSTREAMS_TCK_CHECK_TIMEOUT_MS`, default 10 × `signal`. A call into
///   the code under test that makes no progress (no signal, no return) for `signal` is
///   reported before that, as stuck.
///
/// ```
/// use std::time::Duration;
///
/// use rstreams_tck::Timeouts;
///
/// let t = Timeouts::from_env();
/// assert!(t.check >= t.signal);
/// let fast = Timeouts { signal: Duration::from_millis(300), ..t };
/// assert_eq!(fast.quiet, t.quiet);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// The longest wait for an expected signal.
    pub signal: Duration,
    /// The window in which no unexpected signal may arrive.
    pub quiet: Duration,
    /// The deadline of one check.
    pub check: Duration,
}

impl Timeouts {
    /// The timeouts from the environment, or the defaults.
    pub fn from_env() -> Self {
        let ms = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_millis)
                .unwrap_or(Duration::from_millis(default))
        };
        let signal = ms("RSTREAMS_TCK_TIMEOUT_MS", 1_000);
        let quiet = ms("RSTREAMS_TCK_QUIET_MS", 10);
        let check = std::env::var("RSTREAMS_TCK_CHECK_TIMEOUT_MS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_millis)
            .unwrap_or(signal * 10);
        Timeouts {
            signal,
            quiet,
            check,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::from_env()
    }
}
