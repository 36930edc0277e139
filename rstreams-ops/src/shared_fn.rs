//! [`SharedFn`]: how a stage shares its closure between the publisher, its clones and every
//! subscription they make (`map`, `filter`, `filter_map`, `inspect`, `scan`).

use std::ops::Deref;
use std::sync::Arc;

/// A closure shared by a publisher, its clones and every subscription they make.
///
/// A closure that captures nothing (zero-sized, nothing to drop; `|x| x + 1`) is shared as a
/// `&'static`: leaking a zero-sized box allocates nothing and drops nothing, so building and
/// subscribing such a stage costs no allocation and no reference count. Any other closure is
/// shared behind an `Arc`.
pub(crate) enum SharedFn<F: 'static> {
    /// Zero-sized with no drop glue: a reference to a value that needs no storage.
    Free(&'static F),
    /// Anything else: counted, dropped with its last holder.
    Counted(Arc<F>),
}

impl<F: 'static> SharedFn<F> {
    pub(crate) fn new(f: F) -> Self {
        if std::mem::size_of::<F>() == 0 && !std::mem::needs_drop::<F>() {
            SharedFn::Free(Box::leak(Box::new(f)))
        } else {
            SharedFn::Counted(Arc::new(f))
        }
    }
}

impl<F: 'static> Clone for SharedFn<F> {
    #[inline]
    fn clone(&self) -> Self {
        match self {
            SharedFn::Free(f) => SharedFn::Free(f),
            SharedFn::Counted(f) => SharedFn::Counted(Arc::clone(f)),
        }
    }
}

impl<F: 'static> Deref for SharedFn<F> {
    type Target = F;
    #[inline]
    fn deref(&self) -> &F {
        match self {
            SharedFn::Free(f) => f,
            SharedFn::Counted(f) => f,
        }
    }
}
