//! Fixtures shared by the unit tests of `support`.

use crate::sync::{AtomicU64, AtomicUsize, Ordering};
use crate::Subscription;

/// An upstream subscription that records what it is asked.
#[derive(Default)]
pub(crate) struct Recording {
    /// Everything requested (wrapping; the tests stay far from overflow).
    pub(crate) requested: AtomicU64,
    /// How many `request(0)` calls arrived.
    pub(crate) zero_requests: AtomicUsize,
    /// How many `cancel` calls arrived.
    pub(crate) cancels: AtomicUsize,
}

impl Subscription for Recording {
    fn request(&self, n: u64) {
        if n == 0 {
            self.zero_requests.fetch_add(1, Ordering::SeqCst);
        }
        self.requested.fetch_add(n, Ordering::SeqCst);
    }
    fn cancel(&self) {
        self.cancels.fetch_add(1, Ordering::SeqCst);
    }
}
