//! Waiting with a deadline, and generous "returned in time" checks. Nothing
//! here measures speed: the bounds only catch hangs.

use std::time::{Duration, Instant};

/// Generous slack for "returned within the timeout" checks.
pub const SLACK: Duration = Duration::from_secs(3);

/// Asserts that `f` ran for no longer than `limit` plus [`SLACK`].
pub fn assert_within<T>(limit: Duration, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    assert!(
        took <= limit + SLACK,
        "took {took:?}, expected at most {limit:?} plus slack"
    );
    out
}

/// Polls `cond` every 5 ms until it holds or `timeout` passes; checks it
/// once more at the deadline.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return cond();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
