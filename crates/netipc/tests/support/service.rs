//! Test tokens, endpoints and the files of a run directory.

use std::path::{Path, PathBuf};
use std::process::Child;

use netipc::auth::AuthToken;
use netipc::service::Endpoint;

pub const TOKEN: AuthToken = AuthToken::new(0x5EED_0000_0000_0001);

/// A token other than [`TOKEN`].
pub const WRONG_TOKEN: AuthToken = AuthToken::new(0x5EED_0000_0000_0001 ^ 1);

/// The endpoint `{dir}/{service}.sock`.
pub fn ep(dir: impl AsRef<Path>, service: &str) -> Endpoint {
    Endpoint::new(dir, service).expect("valid test endpoint")
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
