//! The layout of a region file (PROTOCOL §7.3), version 3.
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

use std::path::Path;

use super::error::{BadSizeReason, NotReadyReason, ShmError};
use crate::bytes::{align64_u64, get_u32};

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

pub(super) const HEADER_LEN: usize = SHM_HEADER_LEN as usize;

// Offsets of the header fields (PROTOCOL §7.3).
pub(super) const OFF_MAGIC: usize = 0;
pub(super) const OFF_VERSION: usize = 4;
pub(super) const OFF_HEADER_LEN: usize = 6;
pub(super) const OFF_OWNER_PID: usize = 8;
pub(super) const OFF_OWNER_GENERATION: usize = 12;
pub(super) const OFF_REQUEST_OFFSET: usize = 16;
pub(super) const OFF_REQUEST_CAPACITY: usize = 20;
pub(super) const OFF_RESPONSE_OFFSET: usize = 24;
pub(super) const OFF_RESPONSE_CAPACITY: usize = 28;
pub(super) const OFF_REQ_SEQ: usize = 32;
pub(super) const OFF_RESP_SEQ: usize = 40;
pub(super) const OFF_REQ_LEN: usize = 48;
pub(super) const OFF_RESP_LEN: usize = 52;
pub(super) const OFF_REQ_SIGNAL: usize = 56;
pub(super) const OFF_RESP_SIGNAL: usize = 60;

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

    pub(super) fn from_header(h: &[u8; 32]) -> Self {
        RegionLayout {
            request_offset: get_u32(h, OFF_REQUEST_OFFSET),
            request_capacity: get_u32(h, OFF_REQUEST_CAPACITY),
            response_offset: get_u32(h, OFF_RESPONSE_OFFSET),
            response_capacity: get_u32(h, OFF_RESPONSE_CAPACITY),
        }
    }

    /// Attach checks 4–6 of PROTOCOL §7.5, in order.
    pub(super) fn validate(&self, path: &Path, file_size: u64) -> Result<(), ShmError> {
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

/// Offsets of one direction's area and synchronisation words.
#[derive(Debug, Clone, Copy)]
pub(super) struct Area {
    pub(super) offset: usize,
    pub(super) capacity: u32,
    pub(super) seq: usize,
    pub(super) len: usize,
    pub(super) signal: usize,
}

impl Area {
    pub(super) fn request(layout: &RegionLayout) -> Self {
        Area {
            offset: layout.request_offset as usize,
            capacity: layout.request_capacity,
            seq: OFF_REQ_SEQ,
            len: OFF_REQ_LEN,
            signal: OFF_REQ_SIGNAL,
        }
    }

    pub(super) fn response(layout: &RegionLayout) -> Self {
        Area {
            offset: layout.response_offset as usize,
            capacity: layout.response_capacity,
            seq: OFF_RESP_SEQ,
            len: OFF_RESP_LEN,
            signal: OFF_RESP_SIGNAL,
        }
    }
}

/// Reads the 64-byte header with `pread` (no mapping, so a hole or a file
/// truncated meanwhile cannot fault). `Ok(None)` if the file ends first.
pub(super) fn pread_header(
    fd: rustix::fd::BorrowedFd<'_>,
) -> Result<Option<[u8; HEADER_LEN]>, rustix::io::Errno> {
    let mut header = [0u8; HEADER_LEN];
    let mut done = 0;
    while done < HEADER_LEN {
        match rustix::io::pread(fd, &mut header[done..], done as u64) {
            Ok(0) => return Ok(None),
            Ok(n) => done += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Some(header))
}

/// `owner_generation` per PROTOCOL §7.3: low 32 bits of
/// `tv_sec XOR (tv_nsec >> 10)` of CLOCK_MONOTONIC, never 0. Used only when
/// `/proc` cannot give the process's start time (see `owner.rs`).
pub(super) fn monotonic_generation() -> u32 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    // Truncation to the low 32 bits is the definition.
    let g = ((ts.tv_sec as u64) ^ ((ts.tv_nsec as u64) >> 10)) as u32;
    if g == 0 {
        1
    } else {
        g
    }
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
    fn generation_is_never_zero() {
        assert_ne!(monotonic_generation(), 0);
    }
}
