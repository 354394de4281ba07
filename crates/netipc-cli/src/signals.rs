//! Stopping on SIGINT, SIGTERM and SIGHUP without `unsafe` in this crate.
//!
//! [`StopFlag::install`] registers, through `signal-hook`, handlers that
//! only set an atomic flag; long-running commands poll it between short
//! sleeps and then shut down in an orderly way. A second signal after the
//! first one ends the process at once (exit 130), in case the orderly
//! shutdown hangs.
//!
//! SIGHUP (the controlling terminal closed) stops the same way as SIGTERM:
//! the provider removes its socket and shared-memory files and exits 0,
//! instead of dying with the default action and leaving them behind.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// Longest single sleep while waiting, so a signal is noticed promptly.
const SLICE: Duration = Duration::from_millis(20);

/// Set once SIGINT, SIGTERM or SIGHUP has arrived.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// A flag set by SIGINT, SIGTERM and SIGHUP.
    ///
    /// # Errors
    ///
    /// If a handler cannot be installed.
    pub fn install() -> io::Result<Self> {
        let flag = Arc::new(AtomicBool::new(false));
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            // Registered first, so it sees the flag as it was before this
            // signal: armed only by an earlier one.
            signal_hook::flag::register_conditional_shutdown(sig, 130, flag.clone())?;
            signal_hook::flag::register(sig, flag.clone())?;
        }
        Ok(StopFlag(flag))
    }

    /// A flag no signal sets (for tests and embedding); [`StopFlag::set`]
    /// sets it.
    pub fn manual() -> Self {
        StopFlag::default()
    }

    /// Sets the flag.
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was requested.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Sleeps for `d` or until a stop is requested; returns whether it was.
    pub fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        loop {
            if self.is_set() {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            std::thread::sleep(left.min(SLICE));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_returns_early_when_set() {
        let flag = StopFlag::manual();
        assert!(!flag.sleep(Duration::from_millis(1)));
        let other = flag.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            other.set();
        });
        let started = Instant::now();
        assert!(flag.sleep(Duration::from_secs(10)));
        assert!(started.elapsed() < Duration::from_secs(5));
        t.join().unwrap();
    }
}
