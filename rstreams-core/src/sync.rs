//! Synchronisation primitives, swapped for loom's under `--cfg loom`.
//!
//! Everything in this workspace's libraries that is shared between threads imports its atomics,
//! locks and condition variables from here, so that the loom models check the same code that
//! ships. Clippy's `disallowed-types` (see `clippy.toml`) rejects the std and parking_lot types
//! anywhere else in the libraries. It is not part of the public API.

#![allow(clippy::disallowed_types)] // the one place that names the underlying types

use std::time::Instant;

#[cfg(loom)]
use loom::sync::atomic as imp;
#[cfg(not(loom))]
use std::sync::atomic as imp;

pub use std::sync::atomic::Ordering;

/// An atomic integer or flag: std's normally, loom's under `--cfg loom`. A transparent wrapper
/// with `#[inline]` methods (it compiles to the type it wraps), so that the lint that keeps
/// std's atomics out of the libraries can tell the two apart.
macro_rules! atomic {
    ($(#[$doc:meta])* $name:ident, $t:ty, { $($extra:item)* }) => {
        $(#[$doc])*
        #[derive(Debug)]
        #[repr(transparent)]
        pub struct $name(imp::$name);

        impl Default for $name {
            fn default() -> Self {
                Self::new(<$t>::default())
            }
        }

        impl $name {
            /// A new atomic holding `value`.
            #[inline]
            pub fn new(value: $t) -> Self {
                Self(imp::$name::new(value))
            }
            /// Loads the value.
            #[inline]
            pub fn load(&self, order: Ordering) -> $t {
                self.0.load(order)
            }
            /// Stores `value`.
            #[inline]
            pub fn store(&self, value: $t, order: Ordering) {
                self.0.store(value, order)
            }
            /// Stores `value` and returns the previous value.
            #[inline]
            pub fn swap(&self, value: $t, order: Ordering) -> $t {
                self.0.swap(value, order)
            }
            /// Stores `new` if the value is `current`; returns the previous value.
            #[inline]
            pub fn compare_exchange(
                &self,
                current: $t,
                new: $t,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$t, $t> {
                self.0.compare_exchange(current, new, success, failure)
            }
            /// As [`compare_exchange`](Self::compare_exchange), may fail spuriously.
            #[inline]
            pub fn compare_exchange_weak(
                &self,
                current: $t,
                new: $t,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$t, $t> {
                self.0.compare_exchange_weak(current, new, success, failure)
            }
            /// Bitwise or; returns the previous value.
            #[inline]
            pub fn fetch_or(&self, value: $t, order: Ordering) -> $t {
                self.0.fetch_or(value, order)
            }
            /// Bitwise and; returns the previous value.
            #[inline]
            pub fn fetch_and(&self, value: $t, order: Ordering) -> $t {
                self.0.fetch_and(value, order)
            }
            $($extra)*
        }
    };
}

macro_rules! atomic_int {
    ($(#[$doc:meta])* $name:ident, $t:ty) => {
        atomic!($(#[$doc])* $name, $t, {
            /// Adds (wrapping); returns the previous value.
            #[inline]
            pub fn fetch_add(&self, value: $t, order: Ordering) -> $t {
                self.0.fetch_add(value, order)
            }
            /// Subtracts (wrapping); returns the previous value.
            #[inline]
            pub fn fetch_sub(&self, value: $t, order: Ordering) -> $t {
                self.0.fetch_sub(value, order)
            }
            /// Stores the maximum of the value and `value`; returns the previous value.
            #[inline]
            pub fn fetch_max(&self, value: $t, order: Ordering) -> $t {
                self.0.fetch_max(value, order)
            }
        });
    };
}

atomic!(
    /// An atomic `bool`.
    AtomicBool, bool, {}
);
atomic_int!(
    /// An atomic `u8`.
    AtomicU8, u8
);
atomic_int!(
    /// An atomic `u64`.
    AtomicU64, u64
);
atomic_int!(
    /// An atomic `usize`.
    AtomicUsize, usize
);

/// A memory fence: std's normally, loom's under `--cfg loom`.
#[inline]
pub fn fence(order: Ordering) {
    imp::fence(order)
}

/// Spins briefly: a processor hint, nothing to loom (a model must not depend on spinning).
#[inline]
pub fn spin_loop() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// A mutual-exclusion lock that never poisons.
///
/// parking_lot's lock normally; loom's under `--cfg loom` (where a poisoned lock is unwrapped,
/// since a loom model that panics has already failed).
#[derive(Debug, Default)]
pub struct Mutex<T> {
    #[cfg(not(loom))]
    inner: parking_lot::Mutex<T>,
    #[cfg(loom)]
    inner: loom::sync::Mutex<T>,
}

/// The guard of a locked [`Mutex`].
#[cfg(not(loom))]
pub type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

/// The guard of a locked [`Mutex`]. Under loom a wrapper, so that [`Condvar::wait`] can take
/// the guard through `&mut` as parking_lot's does.
#[cfg(loom)]
pub struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

#[cfg(loom)]
impl<T> std::fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MutexGuard { .. }")
    }
}

#[cfg(loom)]
impl<T> std::ops::Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_ref().expect("guard present outside a wait")
    }
}

#[cfg(loom)]
impl<T> std::ops::DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.as_mut().expect("guard present outside a wait")
    }
}

impl<T> Mutex<T> {
    /// A lock around `value`.
    pub fn new(value: T) -> Self {
        Self {
            #[cfg(not(loom))]
            inner: parking_lot::Mutex::new(value),
            #[cfg(loom)]
            inner: loom::sync::Mutex::new(value),
        }
    }

    /// Locks if no other thread holds the lock now.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        #[cfg(not(loom))]
        {
            self.inner.try_lock()
        }
        #[cfg(loom)]
        {
            self.inner.try_lock().ok().map(|g| MutexGuard(Some(g)))
        }
    }

    /// Locks, waiting for the lock if another thread holds it.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(not(loom))]
        {
            self.inner.lock()
        }
        #[cfg(loom)]
        {
            MutexGuard(Some(self.inner.lock().unwrap_or_else(|e| e.into_inner())))
        }
    }
}

/// A condition variable for [`Mutex`]: parking_lot's normally, loom's under `--cfg loom`.
#[derive(Debug, Default)]
pub struct Condvar {
    #[cfg(not(loom))]
    inner: parking_lot::Condvar,
    #[cfg(loom)]
    inner: loom::sync::Condvar,
}

impl Condvar {
    /// A condition variable nobody waits on.
    pub fn new() -> Self {
        Self::default()
    }

    /// Releases the lock behind `guard`, waits for a notification, and locks again.
    pub fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
        #[cfg(not(loom))]
        {
            self.inner.wait(guard);
        }
        #[cfg(loom)]
        {
            let held = guard.0.take().expect("guard present");
            guard.0 = Some(self.inner.wait(held).unwrap_or_else(|e| e.into_inner()));
        }
    }

    /// As [`wait`](Self::wait), giving up at `deadline`. Returns `true` when it timed out.
    pub fn wait_until<T>(&self, guard: &mut MutexGuard<'_, T>, deadline: Instant) -> bool {
        #[cfg(not(loom))]
        {
            self.inner.wait_until(guard, deadline).timed_out()
        }
        #[cfg(loom)]
        {
            let held = guard.0.take().expect("guard present");
            let timeout = deadline.saturating_duration_since(Instant::now());
            let (held, result) = self
                .inner
                .wait_timeout(held, timeout)
                .unwrap_or_else(|e| e.into_inner());
            guard.0 = Some(held);
            result.timed_out()
        }
    }

    /// Wakes one waiting thread.
    pub fn notify_one(&self) {
        self.inner.notify_one();
    }

    /// Wakes every waiting thread.
    pub fn notify_all(&self) {
        self.inner.notify_all();
    }
}
