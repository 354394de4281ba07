//! Errors of Windows shared memory.

#![forbid(unsafe_code)]

/// A failure to create, attach or use a Windows shared-memory region.
#[derive(Debug, thiserror::Error)]
pub enum ShmError {
    /// Only 0x02 (HYBRID) and 0x04 (BUSYWAIT) have regions.
    #[error("profile {0:#x} has no shared-memory region on Windows")]
    InvalidProfile(u32),
    /// An object name would reach 256 characters (service name longer than
    /// 193 characters).
    #[error("the shared-memory object names would be too long")]
    NameTooLong,
    /// The requested capacities do not fit a `u32` region.
    #[error("areas of {request} and {response} bytes do not fit a region")]
    TooLarge {
        /// Requested request-area bytes.
        request: u32,
        /// Requested response-area bytes.
        response: u32,
    },
    /// An object with this name already exists (a client of an earlier
    /// server still holds it, or another process made it); it is never
    /// reused.
    #[error("{object} {name} already exists")]
    AlreadyExists {
        /// `"section"` or `"event"`.
        object: &'static str,
        /// Its name.
        name: String,
    },
    /// Creating, opening or mapping an object failed.
    #[error("{op} {name}: {source}")]
    Os {
        /// The Win32 call.
        op: &'static str,
        /// The object's name.
        name: String,
        /// The Win32 error.
        #[source]
        source: std::io::Error,
    },
    /// The section does not start with the region magic.
    #[error("bad region magic {0:#010x}")]
    BadMagic(u32),
    /// The region has another layout version.
    #[error("region version {0}, expected 3")]
    BadVersion(u32),
    /// The header's fields are inconsistent.
    #[error("bad region header: {0}")]
    BadHeader(&'static str),
    /// The region is for another profile than the one selected.
    #[error("region profile {found}, expected {expected}")]
    BadProfile {
        /// Profile in the header.
        found: u32,
        /// Profile selected by the handshake.
        expected: u32,
    },
    /// The mapped view is smaller than the header says the region is.
    #[error("region view of {size} bytes, the header needs {needed}")]
    TooSmall {
        /// Bytes mapped.
        size: usize,
        /// Bytes the layout needs.
        needed: usize,
    },
    /// Local refusal: the message is empty or larger than the area (or than
    /// `i32::MAX`); nothing was published.
    #[error("message of {len} bytes does not fit the {capacity}-byte area")]
    MessageTooLarge {
        /// Message bytes (header included).
        len: usize,
        /// Usable area bytes.
        capacity: usize,
    },
    /// The peer published a message of length 0.
    #[error("the peer published an empty message")]
    EmptyMessage,
    /// The peer published a negative length or one larger than allowed.
    #[error("the peer published a message of {len} bytes; at most {max} are allowed")]
    BadLength {
        /// The published length.
        len: i32,
        /// The largest acceptable.
        max: usize,
    },
    /// The peer changed the sequence number or length while the message was
    /// being copied (it published without waiting for the answer).
    #[error("the peer rewrote the message while it was being read")]
    Torn,
    /// Local refusal: a message is already published and unanswered.
    #[error("a message is already in flight in this direction")]
    Busy,
    /// Nothing arrived before the timeout; the region is still usable.
    #[error("timed out waiting for the peer")]
    Timeout,
    /// The peer closed its side of the region.
    #[error("the peer closed the region")]
    PeerClosed,
}

impl ShmError {
    pub(super) fn os(op: &'static str, name: &str, code: u32) -> ShmError {
        ShmError::Os {
            op,
            name: name.to_owned(),
            source: super::super::sys::os_error(code),
        }
    }
}
