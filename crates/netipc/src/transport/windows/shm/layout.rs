//! The 128-byte region header and the area layout (PROTOCOL-WINDOWS.md
//! §4.2, §4.3). Pure arithmetic, no I/O.

#![forbid(unsafe_code)]

use super::error::ShmError;

/// `"NSWH"` read as a little-endian `u32`.
pub const MAGIC: u32 = 0x4e53_5748;
/// Region layout version.
pub const VERSION: u32 = 3;
/// Header length; the request area starts right after it.
pub const HEADER_LEN: u32 = 128;
/// Spin budget the server writes for the client.
pub const SPIN_TRIES: u32 = 1024;
/// Largest spin budget a client takes from the header (a hostile server
/// could write `u32::MAX`).
pub const MAX_SPIN_TRIES: u32 = 1 << 16;

/// Byte offsets of the header fields.
pub(super) mod off {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 4;
    pub const HEADER_LEN: usize = 8;
    pub const PROFILE: usize = 12;
    pub const REQUEST_OFFSET: usize = 16;
    pub const REQUEST_CAPACITY: usize = 20;
    pub const RESPONSE_OFFSET: usize = 24;
    pub const RESPONSE_CAPACITY: usize = 28;
    pub const SPIN_TRIES: usize = 32;
    pub const REQ_LEN: usize = 36;
    pub const RESP_LEN: usize = 40;
    pub const REQ_CLIENT_CLOSED: usize = 44;
    pub const REQ_SERVER_WAITING: usize = 48;
    pub const RESP_SERVER_CLOSED: usize = 52;
    pub const RESP_CLIENT_WAITING: usize = 56;
    pub const REQ_SEQ: usize = 64;
    pub const RESP_SEQ: usize = 72;
}

/// Where the two areas are and how large the region is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Offset of the request area (client → server); 128.
    pub request_offset: u32,
    /// Bytes of the request area (multiple of 64).
    pub request_capacity: u32,
    /// Offset of the response area (multiple of 64).
    pub response_offset: u32,
    /// Bytes of the response area (multiple of 64).
    pub response_capacity: u32,
}

/// `x` rounded up to a multiple of 64, if that fits a `u32`.
fn align64(x: u32) -> Option<u32> {
    x.checked_add(63).map(|v| v & !63)
}

impl Layout {
    /// The layout a server creates for messages of up to `request` and
    /// `response` bytes (header included): each area rounded up to 64
    /// bytes, the response area after the request area.
    pub fn for_capacities(request: u32, response: u32) -> Result<Layout, ShmError> {
        let too_large = || ShmError::TooLarge { request, response };
        let request_capacity = align64(request.max(1)).ok_or_else(too_large)?;
        let response_capacity = align64(response.max(1)).ok_or_else(too_large)?;
        let response_offset = HEADER_LEN
            .checked_add(request_capacity)
            .and_then(align64)
            .ok_or_else(too_large)?;
        let layout = Layout {
            request_offset: HEADER_LEN,
            request_capacity,
            response_offset,
            response_capacity,
        };
        layout.size().map(|_| layout).ok_or_else(too_large)
    }

    /// `response_offset + response_capacity`, if it fits a `u32`.
    pub fn size(&self) -> Option<u32> {
        self.response_offset.checked_add(self.response_capacity)
    }

    /// Checks the layout read from a region header against the attach
    /// rules (§4.4 step 5, plus HEAD's offsets ≥ 128 and the section size):
    /// all non-zero multiples of 64, offsets at or after the header, no
    /// `u32` overflow, areas in order and inside `mapped` bytes.
    pub fn validate(&self, mapped: usize) -> Result<(), ShmError> {
        let fields = [
            self.request_offset,
            self.request_capacity,
            self.response_offset,
            self.response_capacity,
        ];
        if fields.iter().any(|&v| v == 0 || v % 64 != 0) {
            return Err(ShmError::BadHeader(
                "offsets and capacities must be non-zero multiples of 64",
            ));
        }
        if self.request_offset < HEADER_LEN || self.response_offset < HEADER_LEN {
            return Err(ShmError::BadHeader("an area starts inside the header"));
        }
        let request_end = self
            .request_offset
            .checked_add(self.request_capacity)
            .ok_or(ShmError::BadHeader("the request area overflows"))?;
        if self.response_offset < request_end {
            return Err(ShmError::BadHeader(
                "the response area overlaps the request area",
            ));
        }
        let end = self
            .size()
            .ok_or(ShmError::BadHeader("the response area overflows"))?;
        if end as usize > mapped {
            return Err(ShmError::TooSmall {
                size: mapped,
                needed: end as usize,
            });
        }
        Ok(())
    }
}
