//! The CGROUPS_SNAPSHOT request: four bytes, layout version and flags.

use super::{check_header, LAYOUT_VERSION, REQUEST_LEN};
use crate::bytes::read_u16;
use crate::codec::CodecError;

/// A CGROUPS_SNAPSHOT request. It has no parameters: its four bytes only
/// carry the layout version and zero flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SnapshotRequest;

impl SnapshotRequest {
    /// The request payload.
    #[inline]
    pub fn encode(&self) -> [u8; REQUEST_LEN] {
        let mut out = [0u8; REQUEST_LEN];
        out[..2].copy_from_slice(&LAYOUT_VERSION.to_ne_bytes());
        out
    }

    /// Appends the request payload to `buf`.
    #[inline]
    pub fn encode_into(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.encode());
    }

    /// Validates a request payload. Bytes after the fourth are ignored.
    ///
    /// # Errors
    ///
    /// [`CodecError::Truncated`] below 4 bytes,
    /// [`CodecError::BadLayoutVersion`] if the layout is not 1,
    /// [`CodecError::NonZeroFlags`] if the flags are not 0.
    pub fn decode(payload: &[u8]) -> Result<Self, CodecError> {
        const WHAT: &str = "snapshot request";
        let (layout, flags) = match (read_u16(payload, 0), read_u16(payload, 2)) {
            (Some(l), Some(f)) => (l, f),
            _ => {
                return Err(CodecError::Truncated {
                    what: WHAT,
                    need: REQUEST_LEN,
                    have: payload.len(),
                })
            }
        };
        check_header(WHAT, layout, flags)?;
        Ok(Self)
    }
}
