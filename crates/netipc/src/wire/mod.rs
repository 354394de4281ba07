//! The envelope of protocol v1 (PROTOCOL.md §2–§5): pure bytes, no I/O.
//!
//! Every message starts with the 32-byte outer [`Header`]. Messages larger
//! than a UDS packet continue in packets that start with a [`ChunkHeader`].
//! Batch messages carry a directory of items ([`BatchBuilder`],
//! [`BatchView`]). The handshake exchanges one [`Hello`] and one
//! [`HelloAck`].
//!
//! All integers are in the host's native byte order, as the protocol says.
//! Decoders never allocate and never panic; every rejection is a
//! [`WireError`] that names the rule that failed. Decoding is strict about
//! fields the protocol requires to be zero; `docs/wire.md` lists each choice.

#![forbid(unsafe_code)]

mod batch;
mod chunk;
mod error;
mod header;
mod hello;
mod status;

pub use batch::{BatchBuilder, BatchIter, BatchView, BATCH_ENTRY_LEN};
pub use chunk::{ChunkHeader, CHUNK_HEADER_LEN, CHUNK_MAGIC};
pub use error::WireError;
pub use header::{Flags, Header, HEADER_LEN, MAGIC, VERSION};
pub use hello::{Hello, HelloAck, HELLO_ACK_LEN, HELLO_LAYOUT_VERSION, HELLO_LEN};
pub use status::{ControlOpcode, Kind, Method, Profiles, Status};

/// Hard cap on a request payload a client may propose (1 MiB).
pub const MAX_REQUEST_PAYLOAD: u32 = 1 << 20;

/// Rounds `x` up to the next multiple of 8.
#[inline]
pub const fn align8(x: usize) -> usize {
    (x + 7) & !7
}

/// Rounds `x` up to the next multiple of 64.
#[inline]
pub const fn align64(x: usize) -> usize {
    (x + 63) & !63
}

/// Reads a native-endian `u16` at `off`; the caller has checked the length.
#[inline]
pub(crate) fn get_u16(b: &[u8], off: usize) -> u16 {
    u16::from_ne_bytes([b[off], b[off + 1]])
}

/// Reads a native-endian `u32` at `off`; the caller has checked the length.
#[inline]
pub(crate) fn get_u32(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// Reads a native-endian `u64` at `off`; the caller has checked the length.
#[inline]
pub(crate) fn get_u64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_ne_bytes(a)
}

/// Writes a native-endian `u16` at `off`.
#[inline]
pub(crate) fn put_u16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_ne_bytes());
}

/// Writes a native-endian `u32` at `off`.
#[inline]
pub(crate) fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}

/// Writes a native-endian `u64` at `off`.
#[inline]
pub(crate) fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_ne_bytes());
}

/// Fails with [`WireError::Truncated`] unless `buf` holds at least `need` bytes.
#[inline]
pub(crate) fn need(what: &'static str, buf: &[u8], need: usize) -> Result<(), WireError> {
    if buf.len() < need {
        Err(WireError::Truncated {
            what,
            need,
            have: buf.len(),
        })
    } else {
        Ok(())
    }
}
