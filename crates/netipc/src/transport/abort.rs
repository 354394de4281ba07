//! [`AbortHandle`]: a sticky, cross-thread abort of a client's blocked
//! waits (PROTOCOL-LOOKUP §19.8).
//!
//! The handle is a flag plus an `eventfd`. `abort()` sets the flag and makes
//! the eventfd readable; every socket wait of a client session polls the
//! socket together with the eventfd, so a blocked receive, send, connect or
//! handshake returns at once. Shared-memory waits cannot include a
//! descriptor (they sleep on a futex) and look at the flag between their
//! slices of at most 50 ms. The flag stays set, and every wait fails at
//! once, until `clear()`.

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustix::event::{eventfd, poll, EventfdFlags, PollFd, PollFlags, Timespec};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;

use crate::deadline::Deadline;

/// Longest poll of a wait whose handle has no eventfd (creating it failed,
/// for example at the descriptor limit): the flag is looked at this often.
const FLAG_SLICE: Duration = Duration::from_millis(20);

/// Aborts the calls of one client context from any thread.
///
/// `Send + Sync + Clone`: clones share one flag. [`AbortHandle::abort`]
/// makes a call blocked in that context return
/// [`CallError::Aborted`](crate::service::CallError::Aborted) promptly (a
/// socket wait is woken at once; a shared-memory wait notices within 50 ms)
/// and makes every later call fail at once with `Aborted`, without I/O,
/// until [`AbortHandle::clear`]. While aborted, `refresh()` does not
/// connect either.
///
/// Get one from [`Client::abort_handle`](crate::service::Client::abort_handle)
/// or [`CgroupsCache::abort_handle`](crate::cache::CgroupsCache::abort_handle).
///
/// `abort()` does not allocate or take a lock: it stores the flag and
/// writes 8 bytes to an eventfd.
#[derive(Clone)]
pub struct AbortHandle {
    state: Arc<AbortState>,
}

struct AbortState {
    aborted: AtomicBool,
    /// Readable while an abort is pending; `None` if it could not be
    /// created (waits then look at the flag every `FLAG_SLICE`).
    wake: Option<OwnedFd>,
}

impl std::fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AbortHandle")
            .field("aborted", &self.is_aborted())
            .finish()
    }
}

impl Default for AbortHandle {
    fn default() -> Self {
        AbortHandle::new()
    }
}

impl AbortHandle {
    /// A handle that is not aborted. Creates its eventfd (close-on-exec,
    /// non-blocking); if that fails the handle still works, with waits
    /// looking at the flag every 20 ms instead of being woken.
    pub fn new() -> AbortHandle {
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK).ok();
        AbortHandle {
            state: Arc::new(AbortState {
                aborted: AtomicBool::new(false),
                wake,
            }),
        }
    }

    /// Aborts: a blocked call returns `Aborted`, and every call fails at
    /// once until [`AbortHandle::clear`].
    pub fn abort(&self) {
        self.state.aborted.store(true, Ordering::SeqCst);
        if let Some(fd) = &self.state.wake {
            // EAGAIN only when the counter is near overflow: it is readable
            // then anyway.
            let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
        }
    }

    /// Ends the abort: calls work again (a session an abort broke is
    /// reconnected by the next `refresh()`).
    pub fn clear(&self) {
        // Drain first, then clear the flag: an abort racing with this
        // leaves at worst a readable eventfd with the flag clear, which a
        // waiter drains and ignores.
        self.drain();
        self.state.aborted.store(false, Ordering::SeqCst);
    }

    /// True while aborted.
    pub fn is_aborted(&self) -> bool {
        self.state.aborted.load(Ordering::SeqCst)
    }

    fn drain(&self) {
        if let Some(fd) = &self.state.wake {
            let mut buf = [0u8; 8];
            let _ = rustix::io::read(fd, &mut buf);
        }
    }
}

/// What ended a [`wait_fd`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Woken {
    /// The descriptor reported one of the events (or an error / hang-up).
    Ready,
    /// The deadline passed.
    TimedOut,
    /// The abort handle was (or already is) aborted.
    Aborted,
}

/// Waits until `fd` reports one of `events` (or POLLHUP / POLLERR), the
/// deadline passes, or `abort` is aborted. EINTR resumes with the time
/// left. Without an abort handle this is a plain `poll`.
pub(crate) fn wait_fd(
    fd: BorrowedFd<'_>,
    events: PollFlags,
    wait: &Deadline,
    abort: Option<&AbortHandle>,
) -> Result<Woken, Errno> {
    loop {
        if abort.map_or(false, AbortHandle::is_aborted) {
            return Ok(Woken::Aborted);
        }
        let left = wait.remaining();
        if left.map_or(false, |d| d.is_zero()) {
            return Ok(Woken::TimedOut);
        }
        let wake = abort.and_then(|a| a.state.wake.as_ref());
        // Without a wake-up descriptor, look at the flag every FLAG_SLICE.
        let left = match (abort, wake) {
            (Some(_), None) => Some(left.map_or(FLAG_SLICE, |d| d.min(FLAG_SLICE))),
            _ => left,
        };
        // A timeout too large for a Timespec waits forever.
        let ts = left.and_then(|d| Timespec::try_from(d).ok());
        let mut fds = [
            PollFd::from_borrowed_fd(fd, events),
            PollFd::from_borrowed_fd(
                wake.map_or(fd, |w| w.as_fd()),
                if wake.is_some() {
                    PollFlags::IN
                } else {
                    PollFlags::empty()
                },
            ),
        ];
        let n = if wake.is_some() { 2 } else { 1 };
        match poll(&mut fds[..n], ts.as_ref()) {
            Ok(0) | Err(Errno::INTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(e),
        }
        if !fds[0].revents().is_empty() {
            // Prefer the abort if both are ready: the caller asked to stop.
            if abort.map_or(false, AbortHandle::is_aborted) {
                return Ok(Woken::Aborted);
            }
            return Ok(Woken::Ready);
        }
        if n == 2 && !fds[1].revents().is_empty() {
            match abort {
                Some(a) if a.is_aborted() => return Ok(Woken::Aborted),
                // Left over from an abort that was cleared meanwhile.
                Some(a) => a.drain(),
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
    use std::time::Instant;

    fn pair() -> (OwnedFd, OwnedFd) {
        socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap()
    }

    #[test]
    fn abort_wakes_a_waiter_and_sticks_until_cleared() {
        let (a, _b) = pair();
        let handle = AbortHandle::new();
        let remote = handle.clone();
        let t = std::thread::spawn(move || {
            // Wait until the main thread is (very likely) blocked; the
            // outcome does not depend on it.
            std::thread::sleep(Duration::from_millis(20));
            remote.abort();
        });
        let wait = Deadline::after(Duration::from_secs(60));
        let got = wait_fd(a.as_fd(), PollFlags::IN, &wait, Some(&handle)).unwrap();
        t.join().unwrap();
        assert_eq!(got, Woken::Aborted);
        assert!(handle.is_aborted());
        // Sticky: the next wait fails at once.
        let got = wait_fd(a.as_fd(), PollFlags::IN, &wait, Some(&handle)).unwrap();
        assert_eq!(got, Woken::Aborted);
        handle.clear();
        assert!(!handle.is_aborted());
        let short = Deadline::after(Duration::from_millis(10));
        let got = wait_fd(a.as_fd(), PollFlags::IN, &short, Some(&handle)).unwrap();
        assert_eq!(got, Woken::TimedOut);
    }

    #[test]
    fn a_cleared_leftover_wake_up_is_ignored() {
        let (a, b) = pair();
        let handle = AbortHandle::new();
        // An abort whose clear lost the race: eventfd readable, flag clear.
        handle.abort();
        handle.state.aborted.store(false, Ordering::SeqCst);
        rustix::net::send(&b, b"x", rustix::net::SendFlags::empty()).unwrap();
        let wait = Deadline::after(Duration::from_secs(60));
        let got = wait_fd(a.as_fd(), PollFlags::IN, &wait, Some(&handle)).unwrap();
        assert_eq!(got, Woken::Ready);
    }

    #[test]
    fn readiness_and_timeout_without_a_handle() {
        let (a, b) = pair();
        let start = Instant::now();
        let wait = Deadline::after(Duration::from_millis(20));
        assert_eq!(
            wait_fd(a.as_fd(), PollFlags::IN, &wait, None).unwrap(),
            Woken::TimedOut
        );
        assert!(start.elapsed() >= Duration::from_millis(20));
        rustix::net::send(&b, b"x", rustix::net::SendFlags::empty()).unwrap();
        let wait = Deadline::after(Duration::from_secs(60));
        assert_eq!(
            wait_fd(a.as_fd(), PollFlags::IN, &wait, None).unwrap(),
            Woken::Ready
        );
    }
}
