//! [`Reconnect`]: how the source and the sink get a broken connection back, and when they give
//! up and report it.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use redis::RedisError;

/// How a [`StreamSource`](crate::StreamSource) or a [`StreamSink`](crate::StreamSink) reconnects
/// after its connection breaks (the server restarted, the network dropped, a read timed out),
/// and when it gives up.
///
/// After a connection error the stage waits, opens a new connection and carries on where it
/// was: the source reads again (creating its group again if the server lost it), the sink
/// writes the element whose write failed again. The waits grow exponentially:
/// `min(initial × 2^(n-1), max)` before the `n`-th attempt, with full jitter (a delay drawn
/// from `[0, d)`, so that clients that lost the same server do not all come back at the same
/// instant) unless [`jitter(false)`](Self::jitter).
///
/// **Attempts** count the failures in a row since the last read (source) or write (sink)
/// that succeeded; such a success starts the count again from zero (opening a connection does
/// not: a server that accepts connections but fails every command still runs out of
/// attempts). After
/// [`max_attempts`](Self::max_attempts) failures in a row the stage stops and reports the last
/// error (the source through `on_error`, the sink through its
/// [`SinkHandle`](crate::SinkHandle)), naming the stream and the number of attempts. It never
/// loops silently for ever unless you ask for it with [`unlimited`](Self::unlimited).
///
/// Only connection errors are retried: I/O errors (refused, reset, broken pipe, end of file,
/// timeouts) and the server's transient answers `LOADING` (a restarted server still reading its
/// data), `MASTERDOWN` and `TRYAGAIN`. Any other error (a wrong type, a bad argument, a refused
/// authentication) is reported at once.
///
/// The default is `Reconnect::exponential(100 ms, 5 s).max_attempts(10)`: about 26 s of waits
/// without jitter, half that on average with it.
///
/// ```
/// use std::time::Duration;
///
/// use rstreams_redis::Reconnect;
///
/// let policy = Reconnect::exponential(Duration::from_millis(100), Duration::from_secs(1))
///     .max_attempts(6)
///     .jitter(false);
/// let delays: Vec<_> = (1..=5).map(|n| policy.delay(n)).collect();
/// assert_eq!(
///     delays,
///     [100, 200, 400, 800, 1000].map(Duration::from_millis).to_vec()
/// );
/// assert_eq!(policy.attempts(), Some(6));
/// assert_eq!(Reconnect::never().attempts(), Some(0));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Reconnect {
    initial: Duration,
    max: Duration,
    /// `Some(n)`: give up after `n` failed attempts in a row (`Some(0)`: never reconnect);
    /// `None`: never give up.
    attempts: Option<u32>,
    /// Whether each delay is drawn from `[0, d)` (true) or is `d` exactly.
    jitter: bool,
}

impl fmt::Debug for Reconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reconnect")
            .field("initial", &self.initial)
            .field("max", &self.max)
            .field("max_attempts", &self.attempts)
            .field("jitter", &self.jitter)
            .finish()
    }
}

impl Default for Reconnect {
    /// `Reconnect::exponential(100 ms, 5 s).max_attempts(10)`, with jitter.
    fn default() -> Self {
        Reconnect::exponential(Duration::from_millis(100), Duration::from_secs(5)).max_attempts(10)
    }
}

impl Reconnect {
    /// Waits that double from `initial` up to `max`, with full jitter; 10 attempts unless told
    /// otherwise.
    ///
    /// # Panics
    ///
    /// When `initial` is zero (valid range: above zero up to `max`), or `max` is below
    /// `initial` (valid range: `initial..=Duration::MAX`).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let policy = rstreams_redis::Reconnect::exponential(
    ///     Duration::from_millis(50),
    ///     Duration::from_secs(2),
    /// );
    /// assert!(policy.delay(100) <= Duration::from_secs(2)); // capped, jittered below the cap
    /// ```
    pub fn exponential(initial: Duration, max: Duration) -> Self {
        assert!(
            !initial.is_zero(),
            "Reconnect::exponential: initial must be above zero (valid range: 1ns..=max), got 0"
        );
        assert!(
            max >= initial,
            "Reconnect::exponential: max must be at least initial (valid range: {initial:?}..=Duration::MAX), got {max:?}"
        );
        Reconnect {
            initial,
            max,
            attempts: Some(10),
            jitter: true,
        }
    }

    /// No reconnection: the first connection error is reported (`attempts()` is `Some(0)`).
    ///
    /// ```
    /// assert_eq!(rstreams_redis::Reconnect::never().attempts(), Some(0));
    /// ```
    pub fn never() -> Self {
        Reconnect {
            attempts: Some(0),
            ..Reconnect::default()
        }
    }

    /// Gives up after `n` failed connection attempts in a row (counted from zero again after a
    /// command succeeds), reporting the last error.
    ///
    /// # Panics
    ///
    /// When `n` is 0 (valid range: `1..=u32::MAX`; [`never`](Self::never) is the policy
    /// without reconnection).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let policy = rstreams_redis::Reconnect::default().max_attempts(3);
    /// assert_eq!(policy.attempts(), Some(3));
    /// ```
    pub fn max_attempts(mut self, n: u32) -> Self {
        assert!(
            n > 0,
            "Reconnect::max_attempts: n must be at least 1 (valid range: 1..=u32::MAX; Reconnect::never() does not reconnect), got 0"
        );
        self.attempts = Some(n);
        self
    }

    /// Never gives up: reconnects for as long as it takes. The stage then waits silently for a
    /// server that may never come back; choose it only where something else watches (a stall
    /// detector, a health check).
    ///
    /// ```
    /// assert_eq!(rstreams_redis::Reconnect::default().unlimited().attempts(), None);
    /// ```
    pub fn unlimited(mut self) -> Self {
        self.attempts = None;
        self
    }

    /// Whether each wait is drawn from `[0, d)` (`true`, the default) or is `d` exactly.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let policy = rstreams_redis::Reconnect::exponential(
    ///     Duration::from_millis(10),
    ///     Duration::from_millis(40),
    /// )
    /// .jitter(false);
    /// assert_eq!(policy.delay(3), Duration::from_millis(40));
    /// ```
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// How many failed attempts in a row are allowed before giving up (`None`: unlimited).
    ///
    /// ```
    /// assert_eq!(rstreams_redis::Reconnect::default().attempts(), Some(10));
    /// ```
    pub fn attempts(&self) -> Option<u32> {
        self.attempts
    }

    /// The wait before the `n`-th attempt (`n` from 1): `min(initial × 2^(n-1), max)`, then
    /// jittered with a fresh draw when jitter is on.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let policy = rstreams_redis::Reconnect::default();
    /// for n in 1..100 {
    ///     assert!(policy.delay(n) <= Duration::from_secs(5));
    /// }
    /// ```
    pub fn delay(&self, n: u32) -> Duration {
        self.delay_with(n, draw())
    }

    fn delay_with(&self, n: u32, r: f64) -> Duration {
        let shift = n.saturating_sub(1);
        let doubled = if shift >= 64 {
            u128::MAX
        } else {
            self.initial.as_nanos().saturating_mul(1u128 << shift)
        };
        let capped = if doubled >= self.max.as_nanos() {
            self.max
        } else {
            // Below `max`, so it fits a Duration.
            Duration::new(
                (doubled / 1_000_000_000) as u64,
                (doubled % 1_000_000_000) as u32,
            )
        };
        if !self.jitter {
            return capped;
        }
        Duration::try_from_secs_f64(capped.as_secs_f64() * r.clamp(0.0, 1.0))
            .unwrap_or(capped)
            .min(capped)
    }
}

/// A draw in `[0, 1)` from a freshly keyed std hasher (random per call, no dependency; it is
/// for spreading reconnections, nothing secret).
fn draw() -> f64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0x5eed);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether `error` is worth a new connection: the connection broke, timed out, or the server
/// said it will be ready soon.
pub(crate) fn is_transient(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_timeout()
        || matches!(error.code(), Some("LOADING" | "MASTERDOWN" | "TRYAGAIN"))
}

/// The failures in a row of one connection, against a [`Reconnect`] policy.
pub(crate) struct Attempts {
    policy: Reconnect,
    /// Connection failures since the last command that succeeded.
    failed: u32,
}

impl Attempts {
    pub(crate) fn new(policy: Reconnect) -> Self {
        Attempts { policy, failed: 0 }
    }

    /// A command succeeded: the next failure is the first again.
    pub(crate) fn succeeded(&mut self) {
        self.failed = 0;
    }

    /// Records one more failure; returns the wait before the next attempt, or `None` when the
    /// policy's attempts are used up.
    pub(crate) fn failed(&mut self) -> Option<Duration> {
        self.failed = self.failed.saturating_add(1);
        match self.policy.attempts {
            Some(limit) if self.failed > limit => None,
            _ => Some(self.policy.delay(self.failed)),
        }
    }

    /// How many attempts were made in this run of failures (for the final error message).
    pub(crate) fn count(&self) -> u32 {
        self.failed.saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_jitter_stays_below_it() {
        let policy = Reconnect::exponential(Duration::from_millis(10), Duration::from_millis(100));
        assert_eq!(policy.delay_with(1, 0.5), Duration::from_millis(5));
        assert_eq!(policy.delay_with(4, 1.0), Duration::from_millis(80));
        assert_eq!(policy.delay_with(5, 1.0), Duration::from_millis(100));
        assert_eq!(policy.delay_with(u32::MAX, 0.0), Duration::ZERO);
        for n in 1..200 {
            let d = policy.delay(n);
            assert!(d <= Duration::from_millis(100), "{d:?}");
        }
    }

    #[test]
    fn attempts_are_used_up_after_max_attempts_failures_in_a_row_and_reset_by_a_success() {
        let policy = Reconnect::exponential(Duration::from_millis(1), Duration::from_millis(1))
            .max_attempts(2);
        let mut attempts = Attempts::new(policy);
        assert!(attempts.failed().is_some());
        assert!(attempts.failed().is_some());
        assert!(attempts.failed().is_none(), "the third failure gives up");
        assert_eq!(attempts.count(), 2);
        attempts.succeeded();
        assert!(
            attempts.failed().is_some(),
            "a success starts the count again"
        );

        let mut never = Attempts::new(Reconnect::never());
        assert!(never.failed().is_none());
        assert_eq!(never.count(), 0);

        let mut forever = Attempts::new(Reconnect::default().unlimited());
        for _ in 0..1000 {
            assert!(forever.failed().is_some());
        }
    }

    #[test]
    #[should_panic(expected = "valid range: 1..=u32::MAX")]
    fn zero_attempts_is_rejected_when_the_policy_is_built() {
        let _ = Reconnect::default().max_attempts(0);
    }

    #[test]
    #[should_panic(expected = "initial must be above zero")]
    fn a_zero_initial_delay_is_rejected_when_the_policy_is_built() {
        let _ = Reconnect::exponential(Duration::ZERO, Duration::from_secs(1));
    }
}
