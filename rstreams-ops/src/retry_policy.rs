//! [`RetryPolicy`] and [`Jitter`]: when [`retry`](crate::PublisherExt::retry) resubscribes, and
//! when it gives up. Pure: each delay is computed from the attempt number and a random draw,
//! so every piece of it is testable without a clock.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use rstreams_core::scheduler::{timer, Scheduler};
use rstreams_core::sync::Mutex;
use rstreams_core::Error;

/// How a backoff delay is randomised, so that clients that failed together do not retry
/// together. Applied after the delay is capped at the policy's maximum, so it never exceeds
/// that maximum and clients at the cap stay spread out instead of all waiting exactly the
/// maximum.
///
/// With `d` the capped delay and `r` a draw from `[0, 1)`:
///
/// | jitter | delay |
/// |---|---|
/// | `Full` (the default) | `d × r`: anywhere in `[0, d)` |
/// | `Equal` | `d/2 + d/2 × r`: in `[d/2, d)` |
/// | `None` | `d` exactly |
///
/// Full jitter does the least work in total when many clients compete (see the measurement in
/// the README, "Retry and jitter"); equal jitter keeps a minimum wait of half the delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jitter {
    /// A delay drawn from `[0, d)`.
    #[default]
    Full,
    /// Half the delay, plus a draw from `[0, d/2)`.
    Equal,
    /// The delay as computed: clients that failed together retry together.
    None,
}

impl Jitter {
    /// Applies the jitter to the (capped) delay `d` with the draw `r` in `[0, 1)` (a value
    /// outside is clamped into it; NaN counts as 0). Never more than `d`.
    ///
    /// ```
    /// use rstreams::ops::Jitter;
    /// use std::time::Duration;
    ///
    /// let d = Duration::from_secs(8);
    /// assert_eq!(Jitter::Full.apply(d, 0.25), Duration::from_secs(2));
    /// assert_eq!(Jitter::Equal.apply(d, 0.25), Duration::from_secs(5));
    /// assert_eq!(Jitter::None.apply(d, 0.25), d);
    /// assert!(Jitter::Full.apply(Duration::MAX, 0.999_999) <= Duration::MAX); // no overflow
    /// ```
    pub fn apply(self, d: Duration, r: f64) -> Duration {
        let r = if r.is_nan() { 0.0 } else { r.clamp(0.0, 1.0) };
        let scale = |span: Duration| {
            // f64 rounding may land a hair above `span`: clamp back.
            Duration::try_from_secs_f64(span.as_secs_f64() * r)
                .unwrap_or(span)
                .min(span)
        };
        match self {
            Jitter::Full => scale(d),
            Jitter::Equal => {
                let half = d / 2;
                // `d - half` is the upper half (one nanosecond more than `half` for odd `d`).
                half + scale(d - half)
            }
            Jitter::None => d,
        }
    }
}

/// The base delay before the `n`-th retry, before the cap and jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backoff {
    /// `initial × 2^(n-1)`, capped at `max`.
    Exponential { initial: Duration, max: Duration },
    /// The same delay before every retry.
    Fixed(Duration),
}

/// A shared source of draws in `[0, 1)`.
type Random = Arc<dyn Fn() -> f64 + Send + Sync>;
/// Which errors are retried.
type RetryIf = Arc<dyn Fn(&Error) -> bool + Send + Sync>;

/// When [`retry`](crate::PublisherExt::retry) resubscribes its upstream after an error, and
/// when it gives up.
///
/// Made with [`exponential`](Self::exponential), [`fixed`](Self::fixed) or
/// [`immediate`](Self::immediate), then refined with the builder methods. Defaults: at most 3
/// attempts (the first subscription and two retries), no time limit, [`Jitter::Full`], every
/// error retried, delays on the shared [`timer()`], random draws from a small generator seeded
/// per process.
///
/// **Attempts** count subscriptions, the first included: `max_attempts(1)` never retries,
/// `max_attempts(3)` retries twice. **An element delivered resets the count and the
/// backoff**: a long-lived stream that fails once a day starts from the first delay each time,
/// and gives up only after `max_attempts` subscriptions in a row failed without delivering
/// anything.
///
/// The delay before the `n`-th retry (`n` from 1) is `min(initial × 2^(n-1), max)` for
/// [`exponential`](Self::exponential), `delay` for [`fixed`](Self::fixed), and zero for
/// [`immediate`](Self::immediate); then [`Jitter`] is applied to it (after the cap, so it stays
/// within `max` and clients at the cap stay spread out).
///
/// ```
/// use rstreams::ops::{Jitter, RetryPolicy};
/// use std::time::Duration;
///
/// let policy = RetryPolicy::exponential(Duration::from_millis(100), Duration::from_secs(1))
///     .max_attempts(6)
///     .jitter(Jitter::None);
/// let delays: Vec<_> = (1..=5).map(|n| policy.delay(n)).collect();
/// assert_eq!(
///     delays,
///     [100, 200, 400, 800, 1000].map(Duration::from_millis).to_vec()
/// );
/// ```
#[derive(Clone)]
pub struct RetryPolicy {
    backoff: Backoff,
    max_attempts: u32,
    max_elapsed: Option<Duration>,
    jitter: Jitter,
    retry_if: Option<RetryIf>,
    scheduler: Option<Arc<dyn Scheduler>>,
    random: Random,
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("backoff", &self.backoff)
            .field("max_attempts", &self.max_attempts)
            .field("max_elapsed", &self.max_elapsed)
            .field("jitter", &self.jitter)
            .field("retry_if", &self.retry_if.is_some())
            .field("scheduler", &self.scheduler.is_some())
            .finish_non_exhaustive()
    }
}

impl RetryPolicy {
    fn with(backoff: Backoff) -> Self {
        RetryPolicy {
            backoff,
            max_attempts: 3,
            max_elapsed: None,
            jitter: Jitter::Full,
            retry_if: None,
            scheduler: None,
            random: seeded(process_seed()),
        }
    }

    /// Delays that double from `initial` up to `max`: `initial`, `2 × initial`,
    /// `4 × initial`, …, then `max`, each with [`Jitter::Full`] unless told otherwise.
    ///
    /// # Panics
    ///
    /// When `initial` is zero (valid range: above zero up to `max`), or `max` is below
    /// `initial` (valid range: `initial..=Duration::MAX`).
    pub fn exponential(initial: Duration, max: Duration) -> Self {
        assert!(
            !initial.is_zero(),
            "RetryPolicy::exponential: initial must be above zero (valid range: 1ns..=max), got 0"
        );
        assert!(
            max >= initial,
            "RetryPolicy::exponential: max must be at least initial (valid range: {initial:?}..=Duration::MAX), got {max:?}"
        );
        Self::with(Backoff::Exponential { initial, max })
    }

    /// The same `delay` before every retry, with [`Jitter::Full`] (a delay drawn from
    /// `[0, delay)`) unless told otherwise: `.jitter(Jitter::None)` waits exactly `delay`.
    /// Every `delay` is valid; zero is [`immediate`](Self::immediate).
    pub fn fixed(delay: Duration) -> Self {
        Self::with(Backoff::Fixed(delay))
    }

    /// Resubscribes at once, without a timer. Resubscriptions run in a loop, not a recursion:
    /// an upstream that fails synchronously on every subscription runs in constant stack depth.
    pub fn immediate() -> Self {
        Self::with(Backoff::Fixed(Duration::ZERO))
    }

    /// Gives up after `n` subscriptions in a row failed (the first included; counted again
    /// from 1 after an element). `1` never retries. The default is 3.
    ///
    /// # Panics
    ///
    /// When `n` is 0 (valid range: `1..=u32::MAX`).
    pub fn max_attempts(mut self, n: u32) -> Self {
        assert!(
            n > 0,
            "RetryPolicy::max_attempts: n must be at least 1 (valid range: 1..=u32::MAX; 1 never retries), got 0"
        );
        self.max_attempts = n;
        self
    }

    /// Gives up instead of scheduling a retry that would start more than `limit` after the
    /// first failure of the current run of failures (the run starts again after an element).
    /// No limit by default.
    ///
    /// # Panics
    ///
    /// When `limit` is zero (valid range: above zero up to `Duration::MAX`).
    pub fn max_elapsed(mut self, limit: Duration) -> Self {
        assert!(
            !limit.is_zero(),
            "RetryPolicy::max_elapsed: limit must be above zero (valid range: 1ns..=Duration::MAX), got 0"
        );
        self.max_elapsed = Some(limit);
        self
    }

    /// How each delay is randomised. [`Jitter::Full`] by default.
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Retries only the errors for which `predicate` returns `true`; the others pass through
    /// at once, unchanged. Every error is retried by default (except the answer to a
    /// downstream `request(0)`, never retried). A panic in `predicate` ends the stream with
    /// that panic as its error.
    pub fn retry_if<F>(mut self, predicate: F) -> Self
    where
        F: Fn(&Error) -> bool + Send + Sync + 'static,
    {
        self.retry_if = Some(Arc::new(predicate));
        self
    }

    /// Runs the delays (and reads the clock) on `scheduler`: a
    /// [`VirtualTime`](rstreams_core::scheduler::VirtualTime) in tests. By default the shared
    /// [`timer()`], taken only when a delay is due.
    pub fn on<S: Scheduler>(mut self, scheduler: S) -> Self {
        self.scheduler = Some(Arc::new(scheduler));
        self
    }

    /// Takes jitter draws from `random`, which should return values in `[0, 1)` (values
    /// outside are clamped; NaN counts as 0). Shared by every subscription of the operator.
    /// For tests that pin the jitter, or an application's own generator.
    ///
    /// ```
    /// use rstreams::ops::RetryPolicy;
    /// use std::time::Duration;
    ///
    /// let policy = RetryPolicy::fixed(Duration::from_secs(10)).random(|| 0.5);
    /// assert_eq!(policy.delay(1), Duration::from_secs(5));
    /// ```
    pub fn random<F>(mut self, random: F) -> Self
    where
        F: Fn() -> f64 + Send + Sync + 'static,
    {
        self.random = Arc::new(random);
        self
    }

    /// Takes jitter draws from the built-in generator started at `seed`: the same seed gives
    /// the same delays, in the same order. One generator is shared by every subscription of
    /// the operator (and by clones of the policy), so concurrent subscriptions still draw
    /// different delays.
    pub fn seed(mut self, seed: u64) -> Self {
        self.random = seeded(seed);
        self
    }

    /// The delay before the `n`-th retry (`n` from 1): the backoff, capped, then jittered
    /// with one draw. Takes a draw from the random source when jitter applies.
    ///
    /// ```
    /// use rstreams::ops::{Jitter, RetryPolicy};
    /// use std::time::Duration;
    ///
    /// // Full jitter at the cap: spread over [0, max), never above it.
    /// let policy = RetryPolicy::exponential(Duration::from_millis(10), Duration::from_secs(1))
    ///     .seed(7);
    /// for n in 1..200 {
    ///     assert!(policy.delay(n) <= Duration::from_secs(1));
    /// }
    /// ```
    pub fn delay(&self, n: u32) -> Duration {
        let capped = match self.backoff {
            Backoff::Fixed(delay) => delay,
            Backoff::Exponential { initial, max } => {
                // In nanoseconds as u128: exact up to the cap, saturating beyond it.
                let shift = n.saturating_sub(1);
                let doubled = if shift >= 128 {
                    u128::MAX
                } else {
                    initial.as_nanos().saturating_mul(1u128 << shift)
                };
                if doubled >= max.as_nanos() {
                    max
                } else {
                    // Below `max`, so it fits a Duration.
                    let secs = (doubled / 1_000_000_000) as u64;
                    Duration::new(secs, (doubled % 1_000_000_000) as u32)
                }
            }
        };
        if capped.is_zero() || self.jitter == Jitter::None {
            return capped;
        }
        self.jitter.apply(capped, (self.random)())
    }

    pub(crate) fn attempts(&self) -> u32 {
        self.max_attempts
    }

    pub(crate) fn elapsed_limit(&self) -> Option<Duration> {
        self.max_elapsed
    }

    /// Whether `error` may be retried (`Err`: the predicate panicked).
    pub(crate) fn retries(&self, error: &Error) -> Result<bool, Error> {
        match &self.retry_if {
            None => Ok(true),
            Some(predicate) => rstreams_core::support::catch_panic("retry_if", || predicate(error)),
        }
    }

    /// The scheduler for delays and the clock.
    pub(crate) fn scheduler(&self) -> Arc<dyn Scheduler> {
        match &self.scheduler {
            Some(scheduler) => Arc::clone(scheduler),
            None => Arc::new(timer()),
        }
    }

    /// Whether any delay may be non-zero (the clock and a timer are needed).
    pub(crate) fn is_immediate(&self) -> bool {
        self.backoff == Backoff::Fixed(Duration::ZERO)
    }
}

/// A draw source over the built-in generator, shared behind a lock.
fn seeded(seed: u64) -> Random {
    let state = Mutex::new(XorShift::new(seed));
    Arc::new(move || state.lock().next_f64())
}

/// A per-process seed from std's randomly keyed hasher: no dependency, no system call per draw.
fn process_seed() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x5eed);
    hasher.finish()
}

/// xorshift64*: a few instructions per draw, a period of 2^64 - 1, and plenty of quality for
/// spreading retries (it is not for anything secret).
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // Scrambled so that nearby seeds start far apart; never zero (a fixed point).
        let mixed = seed
            .wrapping_add(0x9E37_79B9_7F4A_7C15)
            .wrapping_mul(0xBF58_476D_1CE4_E5B9);
        XorShift(if mixed == 0 {
            0x2545_F491_4F6C_DD1D
        } else {
            mixed
        })
    }

    fn next_f64(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        let bits = x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11; // 53 bits
        bits as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_in_the_unit_interval_and_the_same_seed_repeats() {
        let mut a = XorShift::new(42);
        let mut b = XorShift::new(42);
        for _ in 0..10_000 {
            let x = a.next_f64();
            assert!((0.0..1.0).contains(&x));
            assert_eq!(x, b.next_f64());
        }
        let mean = (0..100_000).map(|_| a.next_f64()).sum::<f64>() / 100_000.0;
        assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
    }

    #[test]
    fn exponential_delays_saturate_at_huge_attempt_numbers_without_overflow() {
        let policy =
            RetryPolicy::exponential(Duration::from_secs(1), Duration::MAX).jitter(Jitter::None);
        assert_eq!(policy.delay(1), Duration::from_secs(1));
        assert_eq!(policy.delay(33), Duration::from_secs(1 << 32));
        assert_eq!(policy.delay(65), Duration::MAX); // 2^64 s does not fit: the cap
        assert_eq!(policy.delay(u32::MAX), Duration::MAX);
        let tiny = RetryPolicy::exponential(Duration::from_nanos(1), Duration::from_secs(1))
            .jitter(Jitter::None);
        assert_eq!(tiny.delay(21), Duration::from_nanos(1 << 20));
        assert_eq!(tiny.delay(31), Duration::from_secs(1)); // 2^30 ns is above the cap
    }

    #[test]
    fn jitter_is_applied_after_the_cap_so_it_never_exceeds_max_and_does_not_collapse_on_it() {
        let max = Duration::from_secs(2);
        for jitter in [Jitter::Full, Jitter::Equal] {
            let policy = RetryPolicy::exponential(Duration::from_millis(5), max)
                .jitter(jitter)
                .seed(1);
            let at_cap: Vec<Duration> = (0..1_000).map(|_| policy.delay(40)).collect();
            assert!(at_cap.iter().all(|d| *d <= max));
            let distinct: std::collections::BTreeSet<_> = at_cap.iter().collect();
            assert!(
                distinct.len() > 900,
                "{jitter:?}: clients collapse onto few delays"
            );
            if jitter == Jitter::Equal {
                assert!(at_cap.iter().all(|d| *d >= max / 2));
            }
        }
    }
}
