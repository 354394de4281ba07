//! Reading what the apps lookup needs about one process from `/proc`.
//!
//! Three files are read per process, in this order, each with one `open` and
//! a few `read`s into buffers that a [`ProcReader`] keeps between calls:
//!
//! | file | what is taken |
//! |---|---|
//! | `PID/stat` | comm (field 2), ppid (field 4), start time (field 22, clock ticks since boot) |
//! | `PID/status` | effective uid: the second number of the `Uid:` line |
//! | `PID/cgroup` | one path per hierarchy of interest, see [`CgroupLines`] |
//!
//! # Parsing rules
//!
//! * `stat`: the comm is everything between the first `(` and the **last**
//!   `)`, so a comm containing spaces, parentheses or even a newline parses
//!   correctly; the remaining fields are split on ASCII white space after
//!   that `)`. Numbers must be plain decimal digits that fit the field
//!   (ppid u32, start time u64).
//! * comm is cut to at most [`COMM_MAX`] bytes by [`truncate_comm`]. An
//!   empty comm, or one containing a NUL byte, cannot be sent as a known
//!   process and makes the file malformed.
//! * `status`: only lines ending in a newline count; the first one starting
//!   with `Uid:` must have at least two decimal numbers.
//! * `cgroup`: lines `ID:CONTROLLERS:PATH`, split at the first two colons
//!   (paths may contain colons). Lines whose PATH does not start with `/`,
//!   or that are otherwise malformed, are skipped; the first line for each
//!   hierarchy wins.
//!
//! `stat` and `cgroup` larger than [`FILE_LIMIT`] bytes are malformed;
//! `status` is read up to that many bytes (the `Uid:` line comes early).
//!
//! # Errors
//!
//! Every failure is a [`ProcError`]. A process that does not exist, or that
//! exits while being read (`ENOENT` or `ESRCH` from any of the three files),
//! is [`ProcError::Gone`]. The reader never panics on file contents.
//!
//! The three files are read one after the other, not atomically: a process
//! that exits and whose pid is reused in between could mix two processes'
//! facts. pid reuse needs the kernel to cycle through the whole pid space,
//! so this is accepted.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::cgroups_source::HierarchyKind;

/// Longest comm sent, in bytes (the kernel's `TASK_COMM_LEN` − 1).
pub const COMM_MAX: usize = 15;

/// Largest `stat` or `cgroup` file accepted, and how much of `status` is
/// read.
pub const FILE_LIMIT: usize = 256 * 1024;

/// `ESRCH`: reading a file of a task that has exited (the same number on
/// every Linux architecture).
const ESRCH: i32 = 3;

/// Why a process could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcError {
    /// The process does not exist or exited while being read.
    #[error("process {pid} does not exist")]
    Gone {
        /// The process.
        pid: u32,
    },
    /// A file does not have the expected shape (or is too large).
    #[error("{file} of process {pid} is malformed")]
    Malformed {
        /// The process.
        pid: u32,
        /// `stat`, `status` or `cgroup`.
        file: &'static str,
    },
    /// A file could not be read for another reason (permissions, I/O).
    #[error("cannot read {file} of process {pid}")]
    Io {
        /// The process.
        pid: u32,
        /// `stat`, `status` or `cgroup`.
        file: &'static str,
        /// The underlying error.
        source: io::Error,
    },
}

/// The fields of `/proc/PID/stat` the apps lookup uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFields<'a> {
    /// The comm, untruncated, as between the parentheses.
    pub comm: &'a [u8],
    /// Field 4.
    pub ppid: u32,
    /// Field 22: start time in clock ticks after boot.
    pub starttime: u64,
}

/// Strict decimal: one or more ASCII digits, no sign, no overflow.
fn parse_decimal(field: &[u8]) -> Option<u64> {
    if field.is_empty() {
        return None;
    }
    field.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// Parses the contents of `/proc/PID/stat`; `None` if malformed (see the
/// [module documentation](self)).
pub fn parse_stat(text: &[u8]) -> Option<StatFields<'_>> {
    let open = text.iter().position(|&b| b == b'(')?;
    let close = text.iter().rposition(|&b| b == b')')?;
    if close <= open {
        return None;
    }
    let comm = &text[open + 1..close];
    let mut fields = text[close + 1..]
        .split(u8::is_ascii_whitespace)
        .filter(|f| !f.is_empty());
    // fields[0] is field 3 (state); ppid is field 4, starttime field 22.
    let ppid = fields.nth(1).and_then(parse_decimal)?;
    let starttime = fields.nth(17).and_then(parse_decimal)?;
    Some(StatFields {
        comm,
        ppid: u32::try_from(ppid).ok()?,
        starttime,
    })
}

/// The effective uid from the contents of `/proc/PID/status`; `None` if
/// there is no complete `Uid:` line with two decimal numbers.
pub fn parse_status_euid(text: &[u8]) -> Option<u32> {
    let complete = &text[..text.iter().rposition(|&b| b == b'\n')? + 1];
    let line = complete
        .split(|&b| b == b'\n')
        .find(|l| l.starts_with(b"Uid:"))?;
    let mut numbers = line[4..]
        .split(u8::is_ascii_whitespace)
        .filter(|f| !f.is_empty());
    let euid = numbers.nth(1).and_then(parse_decimal)?;
    u32::try_from(euid).ok()
}

/// `comm` cut to at most [`COMM_MAX`] bytes. A comm that is valid UTF-8 is
/// cut at a character boundary, so it stays valid UTF-8; any other comm is
/// cut at exactly [`COMM_MAX`] bytes.
pub fn truncate_comm(comm: &[u8]) -> &[u8] {
    if comm.len() <= COMM_MAX {
        return comm;
    }
    let mut cut = COMM_MAX;
    if let Ok(text) = std::str::from_utf8(comm) {
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
    }
    &comm[..cut]
}

/// The paths a `/proc/PID/cgroup` file gives for each hierarchy of
/// interest: the `0::PATH` line ([`HierarchyKind::Unified`]) and the v1
/// lines whose controller list names `cpuacct`, `blkio`, `memory` or
/// `name=systemd` (one line can serve several, e.g. `4:cpu,cpuacct:/x`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CgroupLines<'a> {
    paths: [Option<&'a [u8]>; 5],
}

impl<'a> CgroupLines<'a> {
    /// The path for `kind`, exactly as the kernel wrote it (starts with
    /// `/`).
    pub fn get(&self, kind: HierarchyKind) -> Option<&'a [u8]> {
        self.paths[kind.index()]
    }

    /// Whether no hierarchy of interest was found.
    pub fn is_empty(&self) -> bool {
        self.paths.iter().all(Option::is_none)
    }

    fn set(&mut self, kind: HierarchyKind, path: &'a [u8]) {
        self.paths[kind.index()].get_or_insert(path);
    }
}

/// Parses the contents of `/proc/PID/cgroup` (see [`CgroupLines`] and the
/// [module documentation](self)).
pub fn parse_cgroup(text: &[u8]) -> CgroupLines<'_> {
    let mut lines = CgroupLines::default();
    for line in text.split(|&b| b == b'\n') {
        let mut parts = line.splitn(3, |&b| b == b':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if parse_decimal(id).is_none() || !path.starts_with(b"/") || path.contains(&0) {
            continue;
        }
        if controllers.is_empty() {
            if id == b"0" {
                lines.set(HierarchyKind::Unified, path);
            }
            continue;
        }
        for controller in controllers.split(|&b| b == b',') {
            let kind = match controller {
                b"cpuacct" => HierarchyKind::Cpuacct,
                b"blkio" => HierarchyKind::Blkio,
                b"memory" => HierarchyKind::Memory,
                b"name=systemd" => HierarchyKind::NameSystemd,
                _ => continue,
            };
            lines.set(kind, path);
        }
    }
    lines
}

/// Everything read about one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessFacts<'a> {
    /// Parent pid (`stat` field 4).
    pub ppid: u32,
    /// Effective uid.
    pub uid: u32,
    /// Start time in clock ticks after boot (`stat` field 22).
    pub starttime: u64,
    /// comm, 1 to [`COMM_MAX`] bytes, no NUL.
    pub comm: &'a [u8],
    /// cgroup paths per hierarchy.
    pub cgroups: CgroupLines<'a>,
}

/// Reads processes under one proc root, reusing its buffers.
#[derive(Debug)]
pub struct ProcReader {
    root: PathBuf,
    path: Vec<u8>,
    stat: Vec<u8>,
    status: Vec<u8>,
    cgroup: Vec<u8>,
}

impl ProcReader {
    /// A reader of the proc filesystem mounted at `root` (normally
    /// `/proc`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            path: Vec::with_capacity(64),
            stat: Vec::with_capacity(512),
            status: Vec::with_capacity(2048),
            cgroup: Vec::with_capacity(512),
        }
    }

    /// The proc root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads `stat`, `status` and `cgroup` of process `pid`.
    ///
    /// # Errors
    ///
    /// See [`ProcError`].
    pub fn read(&mut self, pid: u32) -> Result<ProcessFacts<'_>, ProcError> {
        self.path.clear();
        self.path
            .extend_from_slice(self.root.as_os_str().as_bytes());
        // Writing into a Vec cannot fail.
        let _ = write!(self.path, "/{pid}/");
        let dir_len = self.path.len();

        let mut read = |file: &'static str, buf: &mut Vec<u8>| -> Result<bool, ProcError> {
            self.path.truncate(dir_len);
            self.path.extend_from_slice(file.as_bytes());
            let path = Path::new(std::ffi::OsStr::from_bytes(&self.path));
            read_limited(path, buf).map_err(|source| {
                if source.kind() == io::ErrorKind::NotFound || source.raw_os_error() == Some(ESRCH)
                {
                    ProcError::Gone { pid }
                } else {
                    ProcError::Io { pid, file, source }
                }
            })
        };
        let malformed = |file| ProcError::Malformed { pid, file };

        let stat_complete = read("stat", &mut self.stat)?;
        // Only the start of `status` matters; a longer file is fine.
        read("status", &mut self.status)?;
        let cgroup_complete = read("cgroup", &mut self.cgroup)?;

        let stat = parse_stat(&self.stat)
            .filter(|_| stat_complete)
            .ok_or_else(|| malformed("stat"))?;
        let comm = truncate_comm(stat.comm);
        if comm.is_empty() || comm.contains(&0) {
            return Err(malformed("stat"));
        }
        let uid = parse_status_euid(&self.status).ok_or_else(|| malformed("status"))?;
        if !cgroup_complete {
            return Err(malformed("cgroup"));
        }
        Ok(ProcessFacts {
            ppid: stat.ppid,
            uid,
            starttime: stat.starttime,
            comm,
            cgroups: parse_cgroup(&self.cgroup),
        })
    }
}

/// Reads at most [`FILE_LIMIT`] + 1 bytes of `path` into `buf`; `true` if
/// that was the whole file.
fn read_limited(path: &Path, buf: &mut Vec<u8>) -> io::Result<bool> {
    buf.clear();
    let file = File::open(path)?;
    file.take(FILE_LIMIT as u64 + 1).read_to_end(buf)?;
    Ok(buf.len() <= FILE_LIMIT)
}
