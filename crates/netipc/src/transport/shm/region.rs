//! The per-session shared-memory region: layout, create, attach, publish,
//! consume, and stale-file handling.
//!
//! # Layout (version 3)
//!
//! ```text
//! 0               64                request_offset + request_capacity
//! | header (64 B) | request area …  |pad| response area …            |
//!                 ^ request_offset      ^ response_offset
//! ```
//!
//! The 64-byte header holds the layout (plain fields, written once by the
//! server before anyone can attach) and, from byte 32 on, the
//! synchronisation words: per direction a 64-bit sequence number, a 32-bit
//! message length and a 32-bit futex word ("signal"). All integers are in
//! native byte order.
//!
//! # One publication per direction
//!
//! The client writes requests into the request area and bumps `req_seq`; the
//! server writes responses into the response area and bumps `resp_seq`. A
//! side publishes its next message only after it has consumed the peer's
//! previous one, so each area holds at most one message and needs no ring.
//!
//! See `docs/shm.md` for the full protocol description.

use rustix::fd::{AsFd, OwnedFd};
use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, Ordering};
use std::time::Duration;

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

use super::futex::{self, WaitOutcome};
use super::mapping::Mapping;
use crate::bytes::{align64_u64, get_u16, get_u32};
use crate::deadline::Deadline;
use crate::transport::wait::Waiter;

/// Region magic, "NSHM".
pub const SHM_MAGIC: u32 = 0x4e53_484d;
/// Region layout version.
pub const SHM_VERSION: u16 = 3;
/// Size of the region header in bytes.
pub const SHM_HEADER_LEN: u16 = 64;
/// Alignment of area offsets and capacities.
pub const SHM_ALIGN: u32 = 64;
/// Size of the outer message header every message starts with.
pub const MESSAGE_HEADER_LEN: usize = 32;
/// Paths of region files must be shorter than this many bytes.
pub const MAX_PATH_LEN: usize = 256;
/// File name suffix of region files.
pub const REGION_SUFFIX: &str = ".ipcshm";

const HEADER_LEN: usize = SHM_HEADER_LEN as usize;

// Offsets of the header fields (PROTOCOL §7.3).
const OFF_MAGIC: usize = 0;
const OFF_VERSION: usize = 4;
const OFF_HEADER_LEN: usize = 6;
const OFF_OWNER_PID: usize = 8;
const OFF_OWNER_GENERATION: usize = 12;
const OFF_REQUEST_OFFSET: usize = 16;
const OFF_REQUEST_CAPACITY: usize = 20;
const OFF_RESPONSE_OFFSET: usize = 24;
const OFF_RESPONSE_CAPACITY: usize = 28;
const OFF_REQ_SEQ: usize = 32;
const OFF_RESP_SEQ: usize = 40;
const OFF_REQ_LEN: usize = 48;
const OFF_RESP_LEN: usize = 52;
const OFF_REQ_SIGNAL: usize = 56;
const OFF_RESP_SIGNAL: usize = 60;

/// Which side of the session a region handle plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShmRole {
    /// Creates the region, publishes responses, consumes requests, unlinks
    /// the file on drop.
    Server,
    /// Attaches to the region, publishes requests, consumes responses, never
    /// unlinks.
    Client,
}

/// Offsets and capacities of the two message areas, as stored in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionLayout {
    /// Start of the request (client → server) area.
    pub request_offset: u32,
    /// Size of the request area.
    pub request_capacity: u32,
    /// Start of the response (server → client) area.
    pub response_offset: u32,
    /// Size of the response area.
    pub response_capacity: u32,
}

impl RegionLayout {
    /// The layout a server creates for the given payload limits:
    /// `request_capacity = align64_u64(32 + max_request_payload)`,
    /// `response_capacity = align64_u64(32 + max_response_payload)`, request area
    /// right after the header, response area at the next 64-byte boundary.
    ///
    /// Fails with [`ShmError::LimitsTooLarge`] if an offset or capacity would
    /// not fit the header's 32-bit fields.
    pub fn for_payload_limits(
        max_request_payload: u32,
        max_response_payload: u32,
    ) -> Result<Self, ShmError> {
        let header = MESSAGE_HEADER_LEN as u64;
        let request_offset = u64::from(SHM_HEADER_LEN);
        let request_capacity = align64_u64(header + u64::from(max_request_payload));
        let response_offset = align64_u64(request_offset + request_capacity);
        let response_capacity = align64_u64(header + u64::from(max_response_payload));
        let fit = |v: u64| u32::try_from(v).ok();
        match (
            fit(request_capacity),
            fit(response_offset),
            fit(response_capacity),
        ) {
            (Some(request_capacity), Some(response_offset), Some(response_capacity)) => {
                Ok(RegionLayout {
                    request_offset: SHM_HEADER_LEN.into(),
                    request_capacity,
                    response_offset,
                    response_capacity,
                })
            }
            _ => Err(ShmError::LimitsTooLarge {
                max_request_payload,
                max_response_payload,
            }),
        }
    }

    /// Total file size: end of the response area.
    pub fn region_size(&self) -> u64 {
        u64::from(self.response_offset) + u64::from(self.response_capacity)
    }

    fn from_header(h: &[u8; 32]) -> Self {
        RegionLayout {
            request_offset: get_u32(h, OFF_REQUEST_OFFSET),
            request_capacity: get_u32(h, OFF_REQUEST_CAPACITY),
            response_offset: get_u32(h, OFF_RESPONSE_OFFSET),
            response_capacity: get_u32(h, OFF_RESPONSE_CAPACITY),
        }
    }

    /// Attach checks 4–6 of PROTOCOL §7.5, in order.
    fn validate(&self, path: &Path, file_size: u64) -> Result<(), ShmError> {
        let header = u32::from(SHM_HEADER_LEN);
        let not_ready = |reason| {
            Err(ShmError::NotReady {
                path: path.to_owned(),
                reason,
            })
        };
        if self.request_offset < header {
            return not_ready(NotReadyReason::RequestOffsetInHeader);
        }
        if self.request_capacity == 0 {
            return not_ready(NotReadyReason::ZeroRequestCapacity);
        }
        if self.response_offset < header {
            return not_ready(NotReadyReason::ResponseOffsetInHeader);
        }
        if self.response_capacity == 0 {
            return not_ready(NotReadyReason::ZeroResponseCapacity);
        }
        let bad = |reason| {
            Err(ShmError::BadSize {
                path: path.to_owned(),
                reason,
                layout: *self,
                file_size,
            })
        };
        if [
            self.request_offset,
            self.request_capacity,
            self.response_offset,
            self.response_capacity,
        ]
        .iter()
        .any(|v| v % SHM_ALIGN != 0)
        {
            return bad(BadSizeReason::Misaligned);
        }
        let request_end = u64::from(self.request_offset) + u64::from(self.request_capacity);
        if request_end > u64::from(u32::MAX) {
            return bad(BadSizeReason::Overflow);
        }
        if u64::from(self.response_offset) < align64_u64(request_end) {
            return bad(BadSizeReason::Overlap);
        }
        if file_size < request_end || file_size < self.region_size() {
            return bad(BadSizeReason::FileTooSmall);
        }
        Ok(())
    }
}

/// Why an attach found the region not (yet) usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReadyReason {
    /// The file is shorter than the 64-byte header (the server may not have
    /// sized it yet).
    FileTooSmall {
        /// Size found.
        size: u64,
    },
    /// `request_offset` is below 64 (e.g. still zero).
    RequestOffsetInHeader,
    /// `request_capacity` is zero.
    ZeroRequestCapacity,
    /// `response_offset` is below 64 (e.g. still zero).
    ResponseOffsetInHeader,
    /// `response_capacity` is zero.
    ZeroResponseCapacity,
}

impl fmt::Display for NotReadyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotReadyReason::FileTooSmall { size } => {
                write!(f, "file is {size} bytes, shorter than the 64-byte header")
            }
            NotReadyReason::RequestOffsetInHeader => f.write_str("request_offset is below 64"),
            NotReadyReason::ZeroRequestCapacity => f.write_str("request_capacity is 0"),
            NotReadyReason::ResponseOffsetInHeader => f.write_str("response_offset is below 64"),
            NotReadyReason::ZeroResponseCapacity => f.write_str("response_capacity is 0"),
        }
    }
}

/// Why an attach found the region's layout inconsistent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadSizeReason {
    /// An offset or capacity is not a multiple of 64.
    Misaligned,
    /// `request_offset + request_capacity` overflows 32 bits.
    Overflow,
    /// The response area starts before the 64-byte-aligned end of the request
    /// area.
    Overlap,
    /// The file ends before one of the areas does.
    FileTooSmall,
}

impl fmt::Display for BadSizeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BadSizeReason::Misaligned => "an offset or capacity is not a multiple of 64",
            BadSizeReason::Overflow => "request_offset + request_capacity overflows 32 bits",
            BadSizeReason::Overlap => "the response area overlaps the request area",
            BadSizeReason::FileTooSmall => "the file is smaller than the areas it declares",
        })
    }
}

/// Errors of the shared-memory transport.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShmError {
    /// The service name cannot be used in a region file name.
    #[error(
        "invalid service name {name:?}: must be non-empty, not \".\" or \"..\", \
         and use only A-Z a-z 0-9 . _ -"
    )]
    InvalidServiceName {
        /// The rejected name.
        name: String,
    },
    /// The region path is 256 bytes or longer.
    #[error("shared-memory path {} is {len} bytes long; it must be shorter than 256", path.display())]
    PathTooLong {
        /// The rejected path.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
    },
    /// A system call failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done (`"create"`, `"mmap"`, `"futex wait"`, …).
        op: &'static str,
        /// The region file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The region file exists and belongs to a live process (or could not be
    /// examined), so it was left alone.
    #[error("shared-memory region {} is in use", path.display())]
    AddressInUse {
        /// The region file.
        path: PathBuf,
    },
    /// The payload limits give offsets or capacities beyond 32 bits.
    #[error(
        "payload limits {max_request_payload} (request) and {max_response_payload} (response) \
         do not fit a region layout"
    )]
    LimitsTooLarge {
        /// Requested request payload limit.
        max_request_payload: u32,
        /// Requested response payload limit.
        max_response_payload: u32,
    },
    /// The path exists but is not a regular file.
    #[error("{} is not a regular file", path.display())]
    NotRegularFile {
        /// The path.
        path: PathBuf,
    },
    /// The region is not initialised yet; attaching again later may work.
    #[error("shared-memory region {} is not ready: {reason}", path.display())]
    NotReady {
        /// The region file.
        path: PathBuf,
        /// What was missing.
        reason: NotReadyReason,
    },
    /// The header does not start with the region magic.
    #[error("shared-memory region {} has bad magic {found:#010x}", path.display())]
    BadMagic {
        /// The region file.
        path: PathBuf,
        /// The value found.
        found: u32,
    },
    /// The layout version is not 3.
    #[error("shared-memory region {} has layout version {found}, expected 3", path.display())]
    BadVersion {
        /// The region file.
        path: PathBuf,
        /// The value found.
        found: u16,
    },
    /// The header length field is not 64.
    #[error("shared-memory region {} declares a {found}-byte header, expected 64", path.display())]
    BadHeaderLen {
        /// The region file.
        path: PathBuf,
        /// The value found.
        found: u16,
    },
    /// The declared layout is inconsistent with itself or with the file.
    #[error(
        "shared-memory region {} has a bad layout ({reason}): {layout:?}, file size {file_size}",
        path.display()
    )]
    BadSize {
        /// The region file.
        path: PathBuf,
        /// Which rule failed.
        reason: BadSizeReason,
        /// The layout read from the header.
        layout: RegionLayout,
        /// The file size.
        file_size: u64,
    },
    /// A message to send (header + payload) does not fit our area.
    #[error("message of {len} bytes does not fit the {capacity}-byte shared-memory area")]
    MessageTooLarge {
        /// Message length including the 32-byte header.
        len: usize,
        /// Capacity of our area.
        capacity: u32,
    },
    /// The peer published a length of 0 or one larger than its area.
    #[error("peer published a message length of {len} for a {capacity}-byte area")]
    Corrupt {
        /// The published length.
        len: u32,
        /// Capacity of the peer's area.
        capacity: u32,
    },
    /// The peer published a message shorter than the 32-byte outer header.
    #[error("peer published a {len}-byte message, shorter than the 32-byte header")]
    ShortMessage {
        /// The published length.
        len: u32,
    },
    /// No message arrived within the timeout. The slot was not consumed: a
    /// later `recv` still returns the message when it comes.
    #[error("no shared-memory message within {timeout:?}")]
    Timeout {
        /// The timeout that expired.
        timeout: Duration,
    },
}

/// Offsets of one direction's area and synchronisation words.
#[derive(Debug, Clone, Copy)]
struct Area {
    offset: usize,
    capacity: u32,
    seq: usize,
    len: usize,
    signal: usize,
}

impl Area {
    fn request(layout: &RegionLayout) -> Self {
        Area {
            offset: layout.request_offset as usize,
            capacity: layout.request_capacity,
            seq: OFF_REQ_SEQ,
            len: OFF_REQ_LEN,
            signal: OFF_REQ_SIGNAL,
        }
    }

    fn response(layout: &RegionLayout) -> Self {
        Area {
            offset: layout.response_offset as usize,
            capacity: layout.response_capacity,
            seq: OFF_RESP_SEQ,
            len: OFF_RESP_LEN,
            signal: OFF_RESP_SIGNAL,
        }
    }
}

/// One session's shared-memory region, from the point of view of one side.
///
/// Owns the file descriptor and the mapping. [`ShmRegion::send`] publishes in
/// the side's own area, [`ShmRegion::recv`] consumes from the peer's. Dropping
/// a server handle unlinks the file; a client handle never does.
///
/// `ShmRegion` is `Send` (it may be moved to a worker thread) but not `Sync`:
/// publishing and consuming take `&mut self`, matching the protocol's single
/// publisher and single consumer per direction.
#[derive(Debug)]
pub struct ShmRegion {
    map: Mapping,
    _fd: OwnedFd,
    path: PathBuf,
    role: ShmRole,
    layout: RegionLayout,
    own: Area,
    peer: Area,
    /// Messages we have published (mirrors our seq word).
    published: u64,
    /// Peer messages we have consumed.
    consumed: u64,
}

fn io_err(op: &'static str, path: &Path, source: impl Into<io::Error>) -> ShmError {
    ShmError::Io {
        op,
        path: path.to_owned(),
        source: source.into(),
    }
}

fn check_path_len(path: &Path) -> Result<(), ShmError> {
    let len = path.as_os_str().len();
    if len >= MAX_PATH_LEN {
        return Err(ShmError::PathTooLong {
            path: path.to_owned(),
            len,
        });
    }
    Ok(())
}

/// `owner_generation` per PROTOCOL §7.3: low 32 bits of
/// `tv_sec XOR (tv_nsec >> 10)` of CLOCK_MONOTONIC, never 0.
fn owner_generation() -> u32 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    // Truncation to the low 32 bits is the definition.
    let g = ((ts.tv_sec as u64) ^ ((ts.tv_nsec as u64) >> 10)) as u32;
    if g == 0 {
        1
    } else {
        g
    }
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

/// Removes the file a failed `create` made, unless disarmed.
struct UnlinkGuard<'a>(Option<&'a Path>);

impl Drop for UnlinkGuard<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn open_exclusive(path: &Path) -> Result<OwnedFd, Errno> {
    rustix::fs::open(
        path,
        OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::from_raw_mode(0o600),
    )
}

impl ShmRegion {
    /// Creates the region file at `path` (server side) sized for the given
    /// payload limits (each area holds a 32-byte header plus that payload,
    /// rounded up to 64 bytes).
    ///
    /// Steps: `open(O_RDWR|O_CREAT|O_EXCL, 0600)` then `fchmod(0600)` (so the
    /// mode does not depend on the umask); if the file exists, the stale check
    /// runs ([`stale_check`]): a live owner gives [`ShmError::AddressInUse`],
    /// a stale file is removed and the exclusive create retried once. Then
    /// `ftruncate`, shared mapping, header, release fence. The areas are not
    /// written: a file freshly extended by `ftruncate` already reads as zeros,
    /// and leaving the pages untouched avoids committing memory for them.
    ///
    /// If anything fails after the file was created, it is removed again.
    pub fn create(
        path: impl AsRef<Path>,
        max_request_payload: u32,
        max_response_payload: u32,
    ) -> Result<Self, ShmError> {
        let path = path.as_ref();
        check_path_len(path)?;
        let layout = RegionLayout::for_payload_limits(max_request_payload, max_response_payload)?;
        let size = usize::try_from(layout.region_size()).map_err(|_| ShmError::LimitsTooLarge {
            max_request_payload,
            max_response_payload,
        })?;

        let fd = match open_exclusive(path) {
            Ok(fd) => fd,
            Err(Errno::EXIST) => match stale_check(path) {
                StaleVerdict::Live | StaleVerdict::Kept => {
                    return Err(ShmError::AddressInUse {
                        path: path.to_owned(),
                    })
                }
                StaleVerdict::Absent | StaleVerdict::Removed => match open_exclusive(path) {
                    Ok(fd) => fd,
                    Err(Errno::EXIST) => {
                        return Err(ShmError::AddressInUse {
                            path: path.to_owned(),
                        })
                    }
                    Err(e) => return Err(io_err("create", path, e)),
                },
            },
            Err(e) => return Err(io_err("create", path, e)),
        };
        let mut guard = UnlinkGuard(Some(path));

        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o600))
            .map_err(|e| io_err("fchmod", path, e))?;
        rustix::fs::ftruncate(&fd, layout.region_size())
            .map_err(|e| io_err("ftruncate", path, e))?;
        let map = Mapping::map(fd.as_fd(), size).map_err(|e| io_err("mmap", path, e))?;

        let mut header = [0u8; 32];
        let pid = rustix::process::getpid().as_raw_nonzero().get();
        header[OFF_MAGIC..OFF_MAGIC + 4].copy_from_slice(&SHM_MAGIC.to_ne_bytes());
        header[OFF_VERSION..OFF_VERSION + 2].copy_from_slice(&SHM_VERSION.to_ne_bytes());
        header[OFF_HEADER_LEN..OFF_HEADER_LEN + 2].copy_from_slice(&SHM_HEADER_LEN.to_ne_bytes());
        header[OFF_OWNER_PID..OFF_OWNER_PID + 4].copy_from_slice(&pid.to_ne_bytes());
        header[OFF_OWNER_GENERATION..OFF_OWNER_GENERATION + 4]
            .copy_from_slice(&owner_generation().to_ne_bytes());
        for (off, v) in [
            (OFF_REQUEST_OFFSET, layout.request_offset),
            (OFF_REQUEST_CAPACITY, layout.request_capacity),
            (OFF_RESPONSE_OFFSET, layout.response_offset),
            (OFF_RESPONSE_CAPACITY, layout.response_capacity),
        ] {
            header[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        }
        map.copy_in(0, &header);
        fence(Ordering::Release);

        guard.0 = None;
        Ok(ShmRegion {
            map,
            _fd: fd,
            path: path.to_owned(),
            role: ShmRole::Server,
            own: Area::response(&layout),
            peer: Area::request(&layout),
            layout,
            published: 0,
            consumed: 0,
        })
    }

    /// Attaches to an existing region (client side), following PROTOCOL §7.5:
    /// open read-write, check the size, map the whole file, then check magic,
    /// version, header length, and the layout (in that order, each with its
    /// own error). The local counters start from the current sequence numbers.
    pub fn attach(path: impl AsRef<Path>) -> Result<Self, ShmError> {
        let path = path.as_ref();
        check_path_len(path)?;
        let fd = rustix::fs::open(
            path,
            OFlags::RDWR | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        )
        .map_err(|e| io_err("open", path, e))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| io_err("fstat", path, e))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(ShmError::NotRegularFile {
                path: path.to_owned(),
            });
        }
        let file_size = u64::try_from(st.st_size).unwrap_or(0);
        if file_size < u64::from(SHM_HEADER_LEN) {
            return Err(ShmError::NotReady {
                path: path.to_owned(),
                reason: NotReadyReason::FileTooSmall { size: file_size },
            });
        }
        let map_len = usize::try_from(file_size).map_err(|_| {
            io_err(
                "mmap",
                path,
                io::Error::new(io::ErrorKind::InvalidData, "file too large to map"),
            )
        })?;
        let map = Mapping::map(fd.as_fd(), map_len).map_err(|e| io_err("mmap", path, e))?;
        fence(Ordering::Acquire);

        let header: [u8; 32] = map.read_array(0);
        let magic = get_u32(&header, OFF_MAGIC);
        if magic != SHM_MAGIC {
            return Err(ShmError::BadMagic {
                path: path.to_owned(),
                found: magic,
            });
        }
        let version = get_u16(&header, OFF_VERSION);
        if version != SHM_VERSION {
            return Err(ShmError::BadVersion {
                path: path.to_owned(),
                found: version,
            });
        }
        let header_len = get_u16(&header, OFF_HEADER_LEN);
        if header_len != SHM_HEADER_LEN {
            return Err(ShmError::BadHeaderLen {
                path: path.to_owned(),
                found: header_len,
            });
        }
        let layout = RegionLayout::from_header(&header);
        layout.validate(path, file_size)?;

        let published = map.atomic_u64(OFF_REQ_SEQ).load(Ordering::Acquire);
        let consumed = map.atomic_u64(OFF_RESP_SEQ).load(Ordering::Acquire);
        Ok(ShmRegion {
            map,
            _fd: fd,
            path: path.to_owned(),
            role: ShmRole::Client,
            own: Area::request(&layout),
            peer: Area::response(&layout),
            layout,
            published,
            consumed,
        })
    }

    /// Publishes one message, `header` followed by `payload`, in our own area
    /// (PROTOCOL §7.6): both parts are copied straight into the mapping, then
    /// the length is stored (release), the sequence number incremented
    /// (release; the publication point), the signal word incremented and one
    /// waiter woken with `FUTEX_WAKE` — on every publish, because a peer may be
    /// asleep on the signal word.
    ///
    /// The caller is responsible for the header's contents (its `payload_len`
    /// should equal `payload.len()`), and must not publish again before the
    /// peer answered: each area holds one message.
    ///
    /// Fails with [`ShmError::MessageTooLarge`] (nothing written) if the
    /// message does not fit. An [`ShmError::Io`] from the wake-up means the
    /// message *was* published but a sleeping peer may not have been woken.
    pub fn send(&mut self, header: &[u8; 32], payload: &[u8]) -> Result<(), ShmError> {
        let area = self.own;
        let len = MESSAGE_HEADER_LEN.saturating_add(payload.len());
        if len > area.capacity as usize {
            return Err(ShmError::MessageTooLarge {
                len,
                capacity: area.capacity,
            });
        }
        self.map.copy_in(area.offset, header);
        self.map.copy_in(area.offset + MESSAGE_HEADER_LEN, payload);
        // Lossless: len ≤ capacity, a u32.
        self.map
            .atomic_u32(area.len)
            .store(len as u32, Ordering::Release);
        self.map
            .atomic_u64(area.seq)
            .fetch_add(1, Ordering::Release);
        let signal = self.map.atomic_u32(area.signal);
        signal.fetch_add(1, Ordering::Release);
        self.published = self.published.wrapping_add(1);
        futex::wake(signal, 1).map_err(|e| io_err("futex wake", &self.path, e))?;
        Ok(())
    }

    /// Waits for the peer's next message and copies it into `buf` (PROTOCOL
    /// §7.7), returning its length (header included; `buf.len()` equals it).
    ///
    /// First polls the peer's sequence number as `waiter` decides, then
    /// sleeps on the peer's signal word. `timeout` (`None` = forever) counts
    /// from the end of the polling phase. On [`ShmError::Timeout`] nothing is
    /// consumed, so callers may wait in slices and check other conditions in
    /// between.
    ///
    /// Once a publication is seen, the length is read once and must satisfy
    /// `32 ≤ len ≤ capacity` of the peer's area ([`ShmError::Corrupt`] for 0
    /// or beyond the capacity, [`ShmError::ShortMessage`] below 32); the slot
    /// is consumed in all these cases. Exactly `len` bytes are copied; `buf`'s
    /// allocation is reused when large enough. The message itself (outer
    /// header) is not decoded here.
    pub fn recv(
        &mut self,
        buf: &mut Vec<u8>,
        timeout: Option<Duration>,
        waiter: &mut Waiter,
    ) -> Result<usize, ShmError> {
        let area = self.peer;
        let expected = self.consumed.wrapping_add(1);
        let seq = self.map.atomic_u64(area.seq);
        let ready = || seq.load(Ordering::Acquire) >= expected;

        if waiter.spin(|| ready().then_some(())).is_none() {
            let signal = self.map.atomic_u32(area.signal);
            // A timeout too large to represent means "forever".
            let deadline = Deadline::new(timeout);
            let result = loop {
                // Read the signal word before re-checking seq: a publication
                // after this load changes the word, so FUTEX_WAIT returns at
                // once instead of missing the wake-up.
                let observed = signal.load(Ordering::Acquire);
                if ready() {
                    break Ok(());
                }
                let remaining = deadline.remaining();
                if let (Some(timeout), Some(left)) = (deadline.timeout(), remaining) {
                    if left.is_zero() {
                        break Err(ShmError::Timeout { timeout });
                    }
                }
                match futex::wait(signal, observed, remaining) {
                    // On TimedOut the loop re-checks seq once more and then
                    // reports the timeout through the deadline check.
                    Ok(
                        WaitOutcome::Woken
                        | WaitOutcome::ValueChanged
                        | WaitOutcome::Interrupted
                        | WaitOutcome::TimedOut,
                    ) => {}
                    Err(e) => break Err(io_err("futex wait", &self.path, e)),
                }
            };
            waiter.finish_wait();
            result?;
        }

        self.consumed = expected;
        // Read the length exactly once; everything below uses this local.
        let len = self.map.atomic_u32(area.len).load(Ordering::Acquire);
        if len == 0 || len > area.capacity {
            return Err(ShmError::Corrupt {
                len,
                capacity: area.capacity,
            });
        }
        if (len as usize) < MESSAGE_HEADER_LEN {
            return Err(ShmError::ShortMessage { len });
        }
        // In bounds: len ≤ capacity, and the area was validated to lie inside
        // the mapping (attach) or was laid out by us (create).
        self.map.copy_out(area.offset, len as usize, buf);
        Ok(len as usize)
    }

    /// Capacity of the request area (client → server), header included.
    pub fn request_capacity(&self) -> u32 {
        self.layout.request_capacity
    }

    /// Capacity of the response area (server → client), header included.
    pub fn response_capacity(&self) -> u32 {
        self.layout.response_capacity
    }

    /// Largest payload this side can send (own area capacity minus the
    /// 32-byte header).
    pub fn max_send_payload(&self) -> u32 {
        self.own.capacity - MESSAGE_HEADER_LEN as u32
    }

    /// Messages published through this side's sequence number: counted from
    /// the value found at attach for a client, from 0 for a server.
    pub fn published(&self) -> u64 {
        self.published
    }

    /// Peer messages consumed (including ones rejected as corrupt), on the
    /// same basis as [`ShmRegion::published`].
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// The region's layout.
    pub fn layout(&self) -> RegionLayout {
        self.layout
    }

    /// The region file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Which side this handle plays.
    pub fn role(&self) -> ShmRole {
        self.role
    }
}

impl Drop for ShmRegion {
    /// The server removes the file (a client that still has it mapped keeps
    /// its mapping); the mapping and the descriptor are released by the
    /// fields' own drops. The client never unlinks.
    fn drop(&mut self) {
        if self.role == ShmRole::Server {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

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

/// Whether `name` is `{service}-{16 lowercase hex digits}.ipcshm`.
fn is_region_name(name: &OsStr, service: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_reference_example() {
        // C's sizing: request area for 1 MiB payloads, 64 KiB responses.
        let l = RegionLayout::for_payload_limits(1_048_576, 65_536).unwrap();
        assert_eq!(l.request_offset, 64);
        assert_eq!(l.request_capacity, 1_048_640);
        assert_eq!(l.response_offset, 1_048_704);
        assert_eq!(l.response_capacity, 65_600);
        assert_eq!(l.region_size(), 1_114_304);
    }

    #[test]
    fn layout_of_tiny_limits() {
        let l = RegionLayout::for_payload_limits(0, 1).unwrap();
        assert_eq!(l.request_capacity, 64);
        assert_eq!(l.response_offset, 128);
        assert_eq!(l.response_capacity, 64);
        assert_eq!(l.region_size(), 192);
    }

    #[test]
    fn layout_overflow_is_refused() {
        assert!(matches!(
            RegionLayout::for_payload_limits(u32::MAX, 1),
            Err(ShmError::LimitsTooLarge { .. })
        ));
        assert!(matches!(
            RegionLayout::for_payload_limits(1, u32::MAX - 16),
            Err(ShmError::LimitsTooLarge { .. })
        ));
    }

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

    #[test]
    fn region_handles_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<ShmRegion>();
    }

    #[test]
    fn generation_is_never_zero() {
        assert_ne!(owner_generation(), 0);
    }
}
