//! Stale region files (PROTOCOL §7.8, as amended by PROTOCOL-LOOKUP
//! §19.9 item 4): recognising a file whose owner is gone, and sweeping a run
//! directory of them.
//!
//! Everything is done relative to a descriptor of the run directory
//! (`statat`, `openat` with `O_NOFOLLOW`, `unlinkat`), and the device and
//! inode examined are compared with what the name points to right before the
//! unlink, so a file swapped in meanwhile is never removed by mistake.

use std::ffi::OsStr;
use std::io;
use std::path::Path;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, CWD};
use rustix::io::Errno;

use super::layout::{
    pread_header, OFF_MAGIC, OFF_OWNER_GENERATION, OFF_OWNER_PID, SHM_HEADER_LEN, SHM_MAGIC,
};
use super::owner::{owner_is_live, ChangeTime};
use crate::bytes::get_u32;
use crate::transport::Endpoint;

/// Result of [`stale_check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleVerdict {
    /// Nothing at the path (or it vanished while being checked).
    Absent,
    /// A region owned by a live process: left alone.
    Live,
    /// A stale region (or something that is not a region): removed.
    Removed,
    /// Could not be examined or removed (no descriptor left, the entry was
    /// replaced while being checked, removal failed): left alone.
    Kept,
}

/// Device and inode: what an entry is, as opposed to what it is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    dir: bool,
}

impl FileId {
    // The field types of `Stat` differ between targets.
    #[allow(clippy::unnecessary_cast)]
    fn of(st: &Stat) -> FileId {
        FileId {
            // Lossless on every Linux target (u64 or a narrower unsigned).
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            dir: FileType::from_raw_mode(st.st_mode) == FileType::Directory,
        }
    }
}

/// Descriptor exhaustion: the only reason to keep an entry we could not
/// examine.
fn out_of_descriptors(e: Errno) -> bool {
    e == Errno::MFILE || e == Errno::NFILE
}

/// Unlinks `name` if it still is the entry `id` examined before.
fn remove(dir: BorrowedFd<'_>, name: &OsStr, id: FileId) -> StaleVerdict {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileId::of(&st) == id => {}
        Ok(_) => return StaleVerdict::Kept,
        Err(Errno::NOENT) => return StaleVerdict::Absent,
        Err(_) => return StaleVerdict::Kept,
    }
    let flags = if id.dir {
        AtFlags::REMOVEDIR
    } else {
        AtFlags::empty()
    };
    match rustix::fs::unlinkat(dir, name, flags) {
        Ok(()) => StaleVerdict::Removed,
        Err(Errno::NOENT) => StaleVerdict::Absent,
        Err(_) => StaleVerdict::Kept,
    }
}

/// [`stale_check`] of the entry `name` of the directory `dir`.
fn check_at(dir: BorrowedFd<'_>, name: &OsStr) -> StaleVerdict {
    let st = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return StaleVerdict::Absent,
        Err(_) => return StaleVerdict::Kept,
    };
    let id = FileId::of(&st);
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile
        || st.st_size < i64::from(SHM_HEADER_LEN)
    {
        return remove(dir, name, id);
    }
    // O_NONBLOCK: should a FIFO be swapped in, opening it must not block.
    let fd = match rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return StaleVerdict::Absent,
        Err(e) if out_of_descriptors(e) => return StaleVerdict::Kept,
        // Unreadable, or replaced by a symlink since the stat: not a region
        // anyone can use.
        Err(_) => return remove(dir, name, id),
    };
    let st = match rustix::fs::fstat(&fd) {
        Ok(st) => st,
        Err(_) => return StaleVerdict::Kept,
    };
    let id = FileId::of(&st);
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return remove(dir, name, id);
    }
    let header = match pread_header(fd.as_fd()) {
        Ok(Some(h)) => h,
        // Shrunk below the header since the stat: as if < 64 bytes.
        Ok(None) | Err(_) => return remove(dir, name, id),
    };
    if get_u32(&header, OFF_MAGIC) != SHM_MAGIC {
        return remove(dir, name, id);
    }
    let pid = get_u32(&header, OFF_OWNER_PID) as i32;
    let generation = get_u32(&header, OFF_OWNER_GENERATION);
    // The field types of `Stat` differ between targets.
    #[allow(clippy::useless_conversion)]
    let ctime = ChangeTime {
        secs: i64::from(st.st_ctime),
        nanos: u32::try_from(st.st_ctime_nsec).unwrap_or(0),
    };
    if owner_is_live(pid, generation, ctime) {
        StaleVerdict::Live
    } else {
        remove(dir, name, id)
    }
}

fn open_dir(dir: &Path) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(
        CWD,
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Examines the entry at `path` and removes it unless it is a region whose
/// owner still runs (PROTOCOL §7.8 with the rules of PROTOCOL-LOOKUP §19.9
/// item 4: liveness decides, not permissions):
///
/// * nothing there → [`StaleVerdict::Absent`];
/// * a symlink (never followed), a directory (removed only if empty), a
///   FIFO, socket or device, a file shorter than 64 bytes, a file we cannot
///   open for reading, or one whose magic is not "NSHM" → removed;
/// * the owner recorded in the header still runs → [`StaleVerdict::Live`].
///   "Runs" compares the pid *and* the generation: a process that merely
///   reuses the pid is not the owner (see [`process_generation`]);
///   otherwise removed;
/// * no descriptor left (`EMFILE`/`ENFILE`), the directory cannot be opened,
///   or the entry was replaced while being examined → [`StaleVerdict::Kept`].
///
/// The header is read with `pread` rather than through a mapping: the same
/// bytes, without the risk of `SIGBUS` if the file is truncated concurrently.
///
/// [`process_generation`]: super::process_generation
pub fn stale_check(path: &Path) -> StaleVerdict {
    let name = match path.file_name() {
        Some(n) => n,
        None => return StaleVerdict::Kept,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match open_dir(dir) {
        Ok(dirfd) => check_at(dirfd.as_fd(), name),
        Err(Errno::NOENT) | Err(Errno::NOTDIR) => StaleVerdict::Absent,
        Err(_) => StaleVerdict::Kept,
    }
}

/// Runs [`stale_check`] on every region file of `endpoint` in its run
/// directory (`{service}-{16 lowercase hex digits}.ipcshm`, see
/// [`Endpoint::region_session_id`]) and returns how many were removed. Other
/// entries are not touched. Fails only if the directory cannot be opened or
/// read.
pub fn sweep_stale(endpoint: &Endpoint) -> io::Result<usize> {
    let dirfd = open_dir(endpoint.run_dir())?;
    let mut removed = 0;
    for entry in std::fs::read_dir(endpoint.run_dir())? {
        let entry = match entry {
            Ok(e) => e,
            Err(_) => continue,
        };
        let name = entry.file_name();
        if endpoint.region_session_id(&name).is_some()
            && check_at(dirfd.as_fd(), &name) == StaleVerdict::Removed
        {
            removed += 1;
        }
    }
    Ok(removed)
}
