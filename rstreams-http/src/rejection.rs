//! Why a request was not answered by the pipeline, and how that becomes a response.

use std::fmt;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use axum::response::IntoResponse;

/// How long a refused client is told to wait (`Retry-After`, in whole seconds, as HTTP
/// defines it): one fixed value, or values spread evenly over a range.
///
/// An edge cannot know when demand will come back (a stalled pipeline gives no hint, and an
/// estimate from the recent drain rate is wrong exactly then), so the value is the operator's
/// choice, not a prediction. [`spread`](Self::spread) keeps refused clients from coming back
/// in one wave: the edge counts its refusals, and refusal number `n` (from 0) is told
/// `min + n mod (max − min + 1)` seconds, so consecutive refusals walk through the range and
/// any `max − min + 1` of them cover it evenly. It is deterministic (no random source), so
/// tests can assert it.
///
/// ```
/// use rstreams_http::RetryAfter;
///
/// assert_eq!(RetryAfter::default(), RetryAfter::seconds(1));
/// let spread = RetryAfter::spread(2, 4);
/// let told: Vec<u32> = (0..5).map(|n| spread.nth(n)).collect();
/// assert_eq!(told, vec![2, 3, 4, 2, 3]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetryAfter {
    min: u32,
    max: u32,
}

impl RetryAfter {
    /// Always `seconds`.
    ///
    /// # Panics
    ///
    /// When `seconds` is 0: `Retry-After: 0` invites an immediate retry, the storm the header
    /// is there to prevent. Valid range `1..=u32::MAX`.
    pub fn seconds(seconds: u32) -> Self {
        assert!(
            seconds > 0,
            "RetryAfter::seconds: seconds must be at least 1 (valid range 1..=u32::MAX), got 0"
        );
        RetryAfter {
            min: seconds,
            max: seconds,
        }
    }

    /// From `min` to `max` seconds (both included), spread over consecutive refusals.
    ///
    /// # Panics
    ///
    /// When `min` is 0 (valid range `1..=max`) or `max < min`.
    pub fn spread(min: u32, max: u32) -> Self {
        assert!(
            min > 0,
            "RetryAfter::spread: min must be at least 1 (valid range 1..=max), got 0"
        );
        assert!(
            max >= min,
            "RetryAfter::spread: max must be at least min (valid range {min}..=u32::MAX), got {max}"
        );
        RetryAfter { min, max }
    }

    /// The seconds told to refusal number `n` (counted from 0 by the edge).
    pub fn nth(&self, n: u64) -> u32 {
        let span = u64::from(self.max - self.min) + 1;
        self.min + (n % span) as u32
    }
}

impl Default for RetryAfter {
    /// One second.
    fn default() -> Self {
        RetryAfter::seconds(1)
    }
}

/// Why a request got no reply from the pipeline; each reason has one status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// 503: the pipeline had no outstanding demand left for another job (or had not subscribed
    /// yet). Decided at once; nothing was queued.
    NoDemand,
    /// 503: the edge's `max_in_flight` jobs were admitted and not answered yet.
    InFlightFull,
    /// 429: this client already had its per-client limit of jobs in flight.
    ClientLimit,
    /// 503: the pipeline's subscription has ended (cancelled, failed, or completed because the
    /// edge was closed), or it ended while the job waited in the edge for delivery. The job
    /// never reached the pipeline, so retrying it is safe.
    Closed,
    /// 503: the pipeline took the job and shed it on purpose ([`Job::shed`](crate::Job::shed)).
    Shed,
    /// 500: the pipeline took the job and dropped it without a reply (a stage filtered it, an
    /// error or a cancel discarded it, a panic unwound through it). The job may have been
    /// partly processed, so this is an error, not an invitation to retry.
    Dropped,
}

impl Reason {
    /// The status code the reason is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            Reason::ClientLimit => StatusCode::TOO_MANY_REQUESTS,
            Reason::Dropped => StatusCode::INTERNAL_SERVER_ERROR,
            Reason::NoDemand | Reason::InFlightFull | Reason::Closed | Reason::Shed => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::NoDemand => "overloaded: the pipeline has no demand for another job",
            Reason::InFlightFull => "overloaded: the edge's bound on jobs in flight is reached",
            Reason::ClientLimit => "too many requests in flight from this client",
            Reason::Closed => "unavailable: the pipeline is not running",
            Reason::Shed => "overloaded: the pipeline shed the job",
            Reason::Dropped => "the pipeline dropped the job without a reply",
        })
    }
}

/// A request the pipeline did not answer: refused at admission (503, 429), shed or closed
/// after it (503), or dropped unreplied (500).
///
/// It is an axum response: the status of its [`Reason`], a `Retry-After` header (whole
/// seconds, from the edge's [`RetryAfter`]) on every 503 and 429, and the reason as a short
/// plain-text body.
///
/// ```
/// use axum::http::StatusCode;
/// use axum::response::IntoResponse;
/// use rstreams_http::{Edge, Job, Reason};
///
/// // Nothing subscribed to the jobs: no demand, so the offer is refused at once.
/// let (edge, _jobs) = Edge::<u32, u32>::new(8);
/// let refused = edge.try_admit(None).unwrap_err();
/// assert_eq!(refused.reason(), Reason::NoDemand);
/// let response = refused.into_response();
/// assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
/// assert_eq!(response.headers()["retry-after"], "1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    reason: Reason,
    /// Whole seconds for `Retry-After`; `None` for a 500.
    retry_after: Option<u32>,
}

impl Rejection {
    pub(crate) fn new(reason: Reason, retry_after: Option<u32>) -> Self {
        Rejection {
            reason,
            retry_after,
        }
    }

    /// Why.
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// The status code of the response.
    pub fn status(&self) -> StatusCode {
        self.reason.status()
    }

    /// The `Retry-After` of the response (whole seconds); `None` for a 500.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after.map(|s| Duration::from_secs(u64::from(s)))
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.retry_after {
            Some(s) => write!(f, "{}; retry after {s} s", self.reason),
            None => fmt::Display::fmt(&self.reason, f),
        }
    }
}

impl std::error::Error for Rejection {}

impl IntoResponse for Rejection {
    fn into_response(self) -> axum::response::Response {
        let mut response = Response::new(Body::from(self.to_string()));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
