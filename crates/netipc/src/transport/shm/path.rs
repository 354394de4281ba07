//! Region file names: `{run_dir}/{service}-{session_id:016x}.ipcshm`, the
//! service-name rule and the path-length limit.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::error::ShmError;

/// Paths of region files must be shorter than this many bytes.
pub const MAX_PATH_LEN: usize = 256;
/// File name suffix of region files.
pub const REGION_SUFFIX: &str = ".ipcshm";

pub(super) fn check_path_len(path: &Path) -> Result<(), ShmError> {
    let len = path.as_os_str().len();
    if len >= MAX_PATH_LEN {
        return Err(ShmError::PathTooLong {
            path: path.to_owned(),
            len,
        });
    }
    Ok(())
}

fn valid_service_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `{run_dir}/{service}-{session_id:016x}.ipcshm`.
///
/// Fails if `service` is not a valid service name (non-empty, not `.`/`..`,
/// only `A-Z a-z 0-9 . _ -`) or the path is 256 bytes or longer.
pub fn region_path(run_dir: &Path, service: &str, session_id: u64) -> Result<PathBuf, ShmError> {
    if !valid_service_name(service) {
        return Err(ShmError::InvalidServiceName {
            name: service.to_owned(),
        });
    }
    let path = run_dir.join(format!("{service}-{session_id:016x}{REGION_SUFFIX}"));
    check_path_len(&path)?;
    Ok(path)
}

/// Whether `name` is `{service}-{16 lowercase hex digits}.ipcshm`.
pub(super) fn is_region_name(name: &OsStr, service: &str) -> bool {
    let name = name.as_bytes();
    let id = name
        .strip_prefix(service.as_bytes())
        .and_then(|r| r.strip_prefix(b"-"))
        .and_then(|r| r.strip_suffix(REGION_SUFFIX.as_bytes()));
    let id = match id {
        Some(id) => id,
        None => return false,
    };
    id.len() == 16 && id.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        let ok = |n: &str, s: &str| is_region_name(OsStr::new(n), s);
        assert!(ok("svc-0000000000000001.ipcshm", "svc"));
        assert!(ok("a-b-00000000deadbeef.ipcshm", "a-b"));
        assert!(!ok("a-b-00000000deadbeef.ipcshm", "a"));
        assert!(!ok("svc-000000000000001.ipcshm", "svc"));
        assert!(!ok("svc-00000000000000012.ipcshm", "svc"));
        assert!(!ok("svc-000000000000000A.ipcshm", "svc"));
        assert!(!ok("svc-0000000000000001.ipcshm.bak", "svc"));
        assert!(!ok("svc0000000000000001.ipcshm", "svc"));
        assert!(!ok("svc.sock", "svc"));
        assert!(!ok("other-0000000000000001.ipcshm", "svc"));
    }

    #[test]
    fn service_names() {
        assert!(valid_service_name("cgroups-snapshot"));
        assert!(valid_service_name("a.b_C-9"));
        for bad in ["", ".", "..", "a/b", "a b", "ä", "a\0b"] {
            assert!(!valid_service_name(bad), "{bad:?}");
        }
    }
}
