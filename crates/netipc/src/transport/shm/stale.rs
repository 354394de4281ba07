//! Stale region files (PROTOCOL §7.8): recognising a file whose owner is
//! gone, and sweeping a run directory of them.

use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use rustix::fs::OFlags;
use rustix::io::Errno;

use super::layout::{
    HEADER_LEN, OFF_MAGIC, OFF_OWNER_GENERATION, OFF_OWNER_PID, SHM_HEADER_LEN, SHM_MAGIC,
};
use super::path::is_region_name;
use crate::bytes::get_u32;

/// Result of [`stale_check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleVerdict {
    /// Nothing at the path (or it vanished while being checked).
    Absent,
    /// A region owned by a live process: left alone.
    Live,
    /// A stale region: removed.
    Removed,
    /// Could not be examined (permission denied, not a regular file, removal
    /// failed): left alone.
    Kept,
}

fn remove_stale(path: &Path) -> StaleVerdict {
    match std::fs::remove_file(path) {
        Ok(()) => StaleVerdict::Removed,
        Err(e) if e.kind() == io::ErrorKind::NotFound => StaleVerdict::Absent,
        Err(_) => StaleVerdict::Kept,
    }
}

/// Examines a region file left at `path` and removes it if its owner is gone
/// (PROTOCOL §7.8):
///
/// * nothing there → [`StaleVerdict::Absent`];
/// * not a regular file (directory, symlink, …) → [`StaleVerdict::Kept`];
/// * shorter than 64 bytes → removed;
/// * cannot be opened for reading → kept (e.g. `EACCES`/`EPERM`: someone
///   else's file);
/// * magic is not "NSHM" → removed;
/// * `owner_pid > 0`, that process exists (`kill(pid, 0)` succeeds or fails
///   with `EPERM`) and `owner_generation ≠ 0` → [`StaleVerdict::Live`];
///   otherwise removed.
///
/// The first 64 bytes are read with `pread` rather than through a mapping:
/// the same bytes, without the risk of `SIGBUS` if the file is truncated
/// concurrently.
pub fn stale_check(path: &Path) -> StaleVerdict {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return StaleVerdict::Absent,
        Err(_) => return StaleVerdict::Kept,
    };
    if !meta.file_type().is_file() {
        return StaleVerdict::Kept;
    }
    if meta.len() < u64::from(SHM_HEADER_LEN) {
        return remove_stale(path);
    }
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(OFlags::NOFOLLOW.bits() as i32)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return StaleVerdict::Absent,
        Err(_) => return StaleVerdict::Kept,
    };
    let mut header = [0u8; HEADER_LEN];
    if file.read_exact_at(&mut header, 0).is_err() {
        // Shrunk below the header since the size check: as if < 64 bytes.
        return remove_stale(path);
    }
    if get_u32(&header, OFF_MAGIC) != SHM_MAGIC {
        return remove_stale(path);
    }
    let pid = get_u32(&header, OFF_OWNER_PID) as i32;
    let generation = get_u32(&header, OFF_OWNER_GENERATION);
    // Check the sign first: `Pid::from_raw` must not see negative values.
    let alive = pid > 0
        && rustix::process::Pid::from_raw(pid).map_or(false, |p| {
            matches!(
                rustix::process::test_kill_process(p),
                Ok(()) | Err(Errno::PERM)
            )
        });
    if alive && generation != 0 {
        StaleVerdict::Live
    } else {
        remove_stale(path)
    }
}

/// Runs [`stale_check`] on every `{service}-{16 hex digits}.ipcshm` entry of
/// `run_dir` (lowercase hex, as region files are named) and returns how many
/// were removed. Other entries are not touched. Fails only if the directory
/// cannot be read.
pub fn sweep_stale(run_dir: &Path, service: &str) -> io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(run_dir)? {
        let entry = match entry {
            Ok(e) => e,
            Err(_) => continue,
        };
        if is_region_name(&entry.file_name(), service)
            && stale_check(&entry.path()) == StaleVerdict::Removed
        {
            removed += 1;
        }
    }
    Ok(removed)
}
