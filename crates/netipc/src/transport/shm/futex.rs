//! Shared futex wait/wake on a word in a mapping shared between processes.
//!
//! These are the *shared* operations (`FUTEX_WAIT` = 0 and `FUTEX_WAKE` = 1,
//! without `FUTEX_PRIVATE_FLAG`): the kernel keys the futex by the backing
//! file page, so a waiter in one process is woken by a waker in another
//! process that maps the same file. The reference peers use exactly these
//! operations, so a Rust waiter is woken by a C waker and vice versa.

use std::io;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use rustix::io::Errno;
use rustix::thread::futex;

/// How a [`wait`] ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The thread slept and was woken (by [`wake`] or spuriously). The caller
    /// must re-check its condition.
    Woken,
    /// The word no longer held `expected` when the kernel checked it
    /// (`EAGAIN`): something changed in between, re-check the condition.
    ValueChanged,
    /// The timeout expired (`ETIMEDOUT`).
    TimedOut,
    /// A signal interrupted the wait (`EINTR`).
    Interrupted,
}

/// Longest relative timeout handed to the kernel in one call (about 31 years);
/// longer requests are clamped.
const MAX_TIMEOUT_SECS: u64 = 1 << 30;

fn to_timespec(d: Duration) -> futex::Timespec {
    let secs = d.as_secs().min(MAX_TIMEOUT_SECS);
    futex::Timespec {
        // Lossless: clamped to 2^30 above.
        tv_sec: secs as futex::Secs,
        // Lossless: sub-second nanoseconds are < 10^9.
        tv_nsec: d.subsec_nanos() as futex::Nsecs,
    }
}

/// `futex(word, FUTEX_WAIT, expected, timeout)`: sleeps while `*word ==
/// expected`, until woken, until `timeout` (relative, `None` = forever)
/// expires, or until a signal arrives.
///
/// Errors other than `EAGAIN`, `ETIMEDOUT` and `EINTR` (which are mapped to
/// [`WaitOutcome`]s) are returned as I/O errors.
pub fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> io::Result<WaitOutcome> {
    let ts = timeout.map(to_timespec);
    match futex::wait(word, futex::Flags::empty(), expected, ts.as_ref()) {
        Ok(()) => Ok(WaitOutcome::Woken),
        Err(Errno::AGAIN) => Ok(WaitOutcome::ValueChanged),
        Err(Errno::TIMEDOUT) => Ok(WaitOutcome::TimedOut),
        Err(Errno::INTR) => Ok(WaitOutcome::Interrupted),
        Err(e) => Err(e.into()),
    }
}

/// `futex(word, FUTEX_WAKE, n)`: wakes up to `n` waiters sleeping on `word`
/// in any process; returns how many were woken.
pub fn wake(word: &AtomicU32, n: u32) -> io::Result<usize> {
    futex::wake(word, futex::Flags::empty(), n).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deadline::Deadline;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn value_mismatch_returns_immediately() {
        let w = AtomicU32::new(5);
        assert_eq!(wait(&w, 4, None).unwrap(), WaitOutcome::ValueChanged);
    }

    #[test]
    fn timeout_expires() {
        let w = AtomicU32::new(0);
        let t0 = Instant::now();
        let r = wait(&w, 0, Some(Duration::from_millis(20))).unwrap();
        assert_eq!(r, WaitOutcome::TimedOut);
        assert!(t0.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn zero_timeout_times_out() {
        let w = AtomicU32::new(0);
        assert_eq!(
            wait(&w, 0, Some(Duration::ZERO)).unwrap(),
            WaitOutcome::TimedOut
        );
    }

    #[test]
    fn huge_timeout_is_accepted() {
        let w = AtomicU32::new(1);
        // Value differs, so this returns at once; the point is that the
        // clamped timespec is valid.
        assert_eq!(
            wait(&w, 0, Some(Duration::MAX)).unwrap(),
            WaitOutcome::ValueChanged
        );
    }

    #[test]
    fn wake_without_waiters_wakes_nobody() {
        let w = AtomicU32::new(0);
        assert_eq!(wake(&w, 1).unwrap(), 0);
    }

    #[test]
    fn wake_reaches_a_waiter() {
        let w = Arc::new(AtomicU32::new(0));
        let w2 = Arc::clone(&w);
        let t = std::thread::spawn(move || {
            // Loop as a real caller would: re-check the word after each return.
            let deadline = Deadline::after(Duration::from_secs(20));
            while w2.load(Ordering::Acquire) == 0 {
                assert!(!deadline.expired(), "never woken");
                wait(&w2, 0, deadline.remaining()).unwrap();
            }
        });
        std::thread::sleep(Duration::from_millis(20));
        w.store(1, Ordering::Release);
        wake(&w, 1).unwrap();
        t.join().unwrap();
    }
}
