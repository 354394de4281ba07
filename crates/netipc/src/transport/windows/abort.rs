//! [`AbortHandle`] on Windows: a sticky, cross-thread abort of a client's
//! blocked waits, with the API of the Unix handle.
//!
//! The handle is a shared flag. A client session with a handle waits in
//! slices of at most 50 ms (pipe reads and shared-memory waits alike) and
//! looks at the flag between them; opening the pipe looks at it between its
//! busy-instance waits. The handshake itself is bounded by its timeout, not
//! by the flag. The flag stays set, and every wait fails at once, until
//! `clear()`.

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Longest wait of an abortable client session before it looks at the
/// flag again.
pub(super) const ABORT_SLICE: Duration = Duration::from_millis(50);

/// Aborts the calls of one client context from any thread.
///
/// `Send + Sync + Clone`: clones share one flag. [`AbortHandle::abort`]
/// makes a call blocked in that context return
/// [`CallError::Aborted`](crate::service::CallError::Aborted) within 50 ms
/// and makes every later call fail at once with `Aborted`, without I/O,
/// until [`AbortHandle::clear`]. While aborted, `refresh()` does not
/// connect either.
#[derive(Clone, Default)]
pub struct AbortHandle {
    aborted: Arc<AtomicBool>,
}

impl std::fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AbortHandle")
            .field("aborted", &self.is_aborted())
            .finish()
    }
}

impl AbortHandle {
    /// A handle that is not aborted.
    pub fn new() -> AbortHandle {
        AbortHandle::default()
    }

    /// Aborts: a blocked call returns `Aborted`, and every call fails at
    /// once until [`AbortHandle::clear`].
    pub fn abort(&self) {
        self.aborted.store(true, Ordering::SeqCst);
    }

    /// Ends the abort: calls work again.
    pub fn clear(&self) {
        self.aborted.store(false, Ordering::SeqCst);
    }

    /// True while aborted.
    pub fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::SeqCst)
    }
}
