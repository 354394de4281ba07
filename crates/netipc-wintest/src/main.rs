//! The Windows test suite of netipc, as one console program.
//!
//! `netipc-wintest [FILTER]` runs every test whose name contains FILTER and
//! prints one line per test and a final `N passed, N failed` line; the exit
//! status is 1 when a test failed. The program also serves as the peer
//! process of the two-process tests (`netipc-wintest child ROLE ARGS…`).
//!
//! Built for x86_64-pc-windows-gnu and run under wine by `.ci/windows`; on
//! other platforms it only says so.

#[cfg(windows)]
mod child;
#[cfg(windows)]
mod harness;
#[cfg(windows)]
mod hostile;
#[cfg(windows)]
mod level2;
#[cfg(windows)]
mod pipe;
#[cfg(windows)]
mod process;
#[cfg(windows)]
mod session_server;
#[cfg(windows)]
mod shm;
#[cfg(windows)]
mod support;

#[cfg(windows)]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("child") {
        std::process::exit(child::run(&args[1..]));
    }
    let filter = args.first().cloned().unwrap_or_default();
    let mut tests = Vec::new();
    tests.extend_from_slice(pipe::TESTS);
    tests.extend_from_slice(hostile::TESTS);
    tests.extend_from_slice(shm::TESTS);
    tests.extend_from_slice(level2::TESTS);
    tests.extend_from_slice(process::TESTS);
    std::process::exit(harness::run(&tests, &filter));
}

#[cfg(not(windows))]
fn main() {
    eprintln!(
        "netipc-wintest is a Windows program; build it for x86_64-pc-windows-gnu (see .ci/windows)"
    );
    std::process::exit(2);
}
