//! The visible skip of a test that cannot run in this environment.
//!
//! The test harness captures what a passing test prints, so a skip
//! written with `println!` is invisible. [`skip`] writes a line that
//! starts with [`MARKER`] straight to the process's standard error, past
//! the capture; `.ci/run` collects these lines from the output of
//! `cargo test --workspace`, lists them and counts them.

use std::io::Write;

/// The start of every skip line.
pub const MARKER: &str = "NETIPC-SKIP:";

/// Reports that `test` did not run its checks, and why. The caller returns
/// right after.
pub fn skip(test: &str, reason: &str) {
    let line = format!("{MARKER} {test}: {reason}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}
