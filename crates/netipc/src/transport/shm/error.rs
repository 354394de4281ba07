//! The errors of the shared-memory transport and the reasons an attach
//! refuses a region.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::layout::RegionLayout;

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
    /// An area is smaller than the negotiated payload limit (plus the
    /// 32-byte outer header) needs.
    AreaTooSmall,
}

impl fmt::Display for BadSizeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BadSizeReason::Misaligned => "an offset or capacity is not a multiple of 64",
            BadSizeReason::Overflow => "request_offset + request_capacity overflows 32 bits",
            BadSizeReason::Overlap => "the response area overlaps the request area",
            BadSizeReason::FileTooSmall => "the file is smaller than the areas it declares",
            BadSizeReason::AreaTooSmall => "an area is smaller than the negotiated limit needs",
        })
    }
}

/// Errors of the shared-memory transport.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShmError {
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
    /// The region's backing store could not be allocated (`fallocate`
    /// failed: full file system, quota, file size limit, or a file system
    /// without `fallocate`). The new file has been removed; no sparse file is
    /// ever used instead, because touching an unbacked page of a shared
    /// mapping kills the process with `SIGBUS`.
    #[error("cannot allocate {size} bytes for shared-memory region {}", path.display())]
    Allocate {
        /// The region file (already removed again).
        path: PathBuf,
        /// The region size that was requested.
        size: u64,
        /// The error `fallocate` returned.
        #[source]
        source: io::Error,
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
    /// A sequence number in the region is neither the last value this side
    /// saw nor the next one: the peer (or someone else who can write the
    /// file) scribbled it. The session must end; nothing was consumed.
    #[error("shared-memory {word} holds {found}, not a valid next value (expected {expected})")]
    SequenceCorrupt {
        /// `"req_seq"` or `"resp_seq"`.
        word: &'static str,
        /// The value the next publication must produce (for our own word:
        /// the value we last published).
        expected: u64,
        /// The value found.
        found: u64,
    },
    /// The session's control socket reports that the peer hung up (checked
    /// by `ShmRegion::recv_watching`).
    #[error("the peer closed the session's control socket")]
    PeerGone,
    /// No message arrived within the timeout. The slot was not consumed: a
    /// later `recv` still returns the message when it comes.
    #[error("no shared-memory message within {timeout:?}")]
    Timeout {
        /// The timeout that expired.
        timeout: Duration,
    },
}

pub(super) fn io_err(op: &'static str, path: &Path, source: impl Into<io::Error>) -> ShmError {
    ShmError::Io {
        op,
        path: path.to_owned(),
        source: source.into(),
    }
}
