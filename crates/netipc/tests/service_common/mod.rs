//! Helpers shared by the Level 2 / Level 3 integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use netipc::auth::AuthToken;
use netipc::service::Endpoint;

pub const TOKEN: AuthToken = AuthToken::new(0x5EED_0000_0000_0001);

/// A token other than [`TOKEN`].
pub const WRONG_TOKEN: AuthToken = AuthToken::new(0x5EED_0000_0000_0001 ^ 1);

/// The endpoint `{dir}/{service}.sock`.
pub fn ep(dir: impl AsRef<Path>, service: &str) -> Endpoint {
    Endpoint::new(dir, service).expect("valid test endpoint")
}

/// Environment variable that turns a test binary into a child process.
pub const CHILD_ROLE: &str = "NETIPC_TEST_CHILD_ROLE";
/// Run directory handed to a child.
pub const CHILD_DIR: &str = "NETIPC_TEST_CHILD_DIR";
/// Service name handed to a child.
pub const CHILD_SERVICE: &str = "NETIPC_TEST_CHILD_SERVICE";

/// Re-runs the current test binary as a child process executing only the
/// test `entry`, which reads its role from the environment.
pub fn spawn_child(entry: &str, role: &str, dir: &Path, service: &str) -> Child {
    Command::new(std::env::current_exe().expect("test binary path"))
        .args(["--exact", entry, "--nocapture", "--test-threads=1"])
        .env(CHILD_ROLE, role)
        .env(CHILD_DIR, dir)
        .env(CHILD_SERVICE, service)
        .spawn()
        .expect("spawn child test process")
}

/// The role, directory and service when running as a child.
pub fn child_args() -> Option<(String, PathBuf, String)> {
    let role = std::env::var(CHILD_ROLE).ok()?;
    let dir = PathBuf::from(std::env::var(CHILD_DIR).ok()?);
    let service = std::env::var(CHILD_SERVICE).ok()?;
    Some((role, dir, service))
}

/// Polls `cond` every 5 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Files in `dir` ending in `.ipcshm`.
pub fn shm_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().map_or(false, |x| x == "ipcshm"))
                .collect()
        })
        .unwrap_or_default()
}

/// SIGKILLs a child and reaps it.
pub fn kill9(child: &mut Child) {
    child.kill().expect("SIGKILL child");
    let _ = child.wait();
}
